/* kms/cms.c: the two KMS CiphertextForRecipient samples
 * (tests/fixtures/cms/) parse to the values in their notes; every truncation
 * and hostile edits of them are refused; envelopes built here (DER, from a
 * spec with one knob per refusal) are refused for each wrong part; and a real
 * RSA-2048 key opens envelopes built with it, and refuses a wrong key, a
 * different OAEP label, bad padding, a short content key and a small out. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "kms/cms.h"

/* SPEC() sets defaults that the knobs given to it override. */
#pragma GCC diagnostic ignored "-Woverride-init"

static struct {
	const char *name;
	uint8_t *p;
	size_t n;
} fx[2] = {{"input_ber.der", NULL, 0}, {"input_ber_w_ctx.der", NULL, 0}};

static char why[256];

static void load_fixtures(void)
{
	const char *top = getenv("top_srcdir");

	for (size_t i = 0; i < 2; i++) {
		char path[4096];
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/tests/fixtures/cms/%s", top ? top : ".",
		         fx[i].name);
		f = fopen(path, "rb");
		if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
			fprintf(stderr, "check_cms: cannot read %s\n", path);
			exit(1);
		}
		fx[i].p = malloc((size_t)n);
		if (!fx[i].p || fread(fx[i].p, 1, (size_t)n, f) != (size_t)n)
			exit(1);
		fclose(f);
		fx[i].n = (size_t)n;
	}
}

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; *h; h += 2) {
		unsigned v;

		ck_assert(sscanf(h, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* cms_parse on p[n] must fail with -EBADMSG and a why mentioning want. */
static void refused(const uint8_t *p, size_t n, const char *want)
{
	struct cms_envelope e;
	int r;

	why[0] = 0;
	r = cms_parse(p, n, &e, why, sizeof(why));
	ck_assert_msg(r == -EBADMSG, "accepted (%d) where \"%s\" was wanted", r, want);
	ck_assert_msg(strstr(why, want), "why \"%s\" lacks \"%s\"", why, want);
	ck_assert_ptr_null(e.ct);
	ck_assert_uint_eq(e.ct_len, 0);
}

/* ---- a DER envelope builder: one knob per part a refusal is about ---- */

struct buf {
	uint8_t d[8192];
	size_t n;
};

static void raw(struct buf *b, const void *p, size_t n)
{
	ck_assert_uint_le(n, sizeof(b->d) - b->n);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void tlv(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	uint8_t h[4] = {tag};
	size_t hl = 1;

	if (n < 128) {
		h[hl++] = (uint8_t)n;
	} else if (n < 256) {
		h[hl++] = 0x81;
		h[hl++] = (uint8_t)n;
	} else {
		h[hl++] = 0x82;
		h[hl++] = (uint8_t)(n >> 8);
		h[hl++] = (uint8_t)n;
	}
	raw(b, h, hl);
	raw(b, p, n);
}

static void wrap(struct buf *b, uint8_t tag, const struct buf *in)
{
	tlv(b, tag, in->d, in->n);
}

static const uint8_t O_ENV[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const uint8_t O_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t O_OAEP[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07};
static const uint8_t O_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t O_MGF1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t O_PSPEC[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09};
static const uint8_t O_SHA256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t O_SHA1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const uint8_t O_AES256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};
static const uint8_t O_AES128[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02};

struct spec {
	bool ctype_data; /* ContentInfo says id-data */
	int env_version;
	bool originator; /* an originatorInfo [0] */
	int nrecip;
	bool rid_ias;  /* issuerAndSerialNumber instead of the SKI */
	bool rid_ctx1; /* rid [1] */
	size_t ski_len;
	int ktri_version;
	bool kea_rsa; /* rsaEncryption (PKCS#1 v1.5) */
	bool no_params, no_hash, hash_sha1, no_mgf, mgf_sha1, hash_null, dup_hash;
	bool label_present;
	size_t label_len;
	const uint8_t *ek;
	size_t ek_len;
	bool ek_constructed;
	size_t iv_len;
	bool aes128;
	bool inner_not_data;
	const uint8_t *ct;
	size_t ct_len;
	bool ct_pieces; /* [0] constructed, definite, two OCTET STRINGs */
	bool no_ct;
	bool unprot_attrs;
	bool dup_eci;
	const uint8_t *iv;
};

#define SPEC(...)                                                                                  \
	(struct spec)                                                                              \
	{                                                                                          \
		.env_version = 2, .nrecip = 1, .ski_len = 20, .ktri_version = 2, .ek_len = 256,    \
		.iv_len = 16, .ct_len = 48, __VA_ARGS__                                            \
	}

static void alg_sha(struct buf *b, const uint8_t *oid, size_t oidn, bool null)
{
	struct buf a = {.n = 0};

	tlv(&a, 0x06, oid, oidn);
	if (null)
		tlv(&a, 0x05, "", 0);
	wrap(b, 0x30, &a);
}

static void build(const struct spec *s, struct buf *out)
{
	static uint8_t fill[4096];
	struct buf ktri = {.n = 0}, prm = {.n = 0}, t = {.n = 0}, t2 = {.n = 0}, kea = {.n = 0};
	struct buf set = {.n = 0}, eci = {.n = 0}, env = {.n = 0}, x = {.n = 0}, ci = {.n = 0};
	uint8_t v;

	memset(fill, 0x5a, sizeof(fill));
	/* KeyTransRecipientInfo */
	v = (uint8_t)s->ktri_version;
	tlv(&ktri, 0x02, &v, 1);
	if (s->rid_ias) {
		uint8_t one = 7;

		t.n = 0;
		tlv(&t, 0x30, "", 0); /* an empty Name */
		tlv(&t, 0x02, &one, 1);
		wrap(&ktri, 0x30, &t);
	} else {
		tlv(&ktri, s->rid_ctx1 ? 0x81 : 0x80, fill, s->ski_len);
	}
	tlv(&kea, 0x06, s->kea_rsa ? O_RSA : O_OAEP, sizeof(O_OAEP));
	if (!s->no_params) {
		if (!s->no_hash) {
			t.n = 0;
			if (s->hash_sha1)
				alg_sha(&t, O_SHA1, sizeof(O_SHA1), s->hash_null);
			else
				alg_sha(&t, O_SHA256, sizeof(O_SHA256), s->hash_null);
			wrap(&prm, 0xa0, &t);
			if (s->dup_hash)
				wrap(&prm, 0xa0, &t);
		}
		if (!s->no_mgf) {
			t.n = 0;
			tlv(&t, 0x06, O_MGF1, sizeof(O_MGF1));
			if (s->mgf_sha1)
				alg_sha(&t, O_SHA1, sizeof(O_SHA1), false);
			else
				alg_sha(&t, O_SHA256, sizeof(O_SHA256), s->hash_null);
			t2.n = 0;
			wrap(&t2, 0x30, &t);
			wrap(&prm, 0xa1, &t2);
		}
		if (s->label_present) {
			t.n = 0;
			tlv(&t, 0x06, O_PSPEC, sizeof(O_PSPEC));
			tlv(&t, 0x04, fill, s->label_len);
			t2.n = 0;
			wrap(&t2, 0x30, &t);
			wrap(&prm, 0xa2, &t2);
		}
		wrap(&kea, 0x30, &prm);
	}
	wrap(&ktri, 0x30, &kea);
	if (s->ek_constructed) {
		t.n = 0;
		tlv(&t, 0x04, s->ek ? s->ek : fill, s->ek_len);
		wrap(&ktri, 0x24, &t);
	} else {
		tlv(&ktri, 0x04, s->ek ? s->ek : fill, s->ek_len);
	}
	for (int i = 0; i < s->nrecip; i++)
		wrap(&set, 0x30, &ktri);
	/* EncryptedContentInfo */
	tlv(&eci, 0x06, s->inner_not_data ? O_ENV : O_DATA, sizeof(O_DATA));
	t.n = 0;
	tlv(&t, 0x06, s->aes128 ? O_AES128 : O_AES256, sizeof(O_AES256));
	tlv(&t, 0x04, s->iv ? s->iv : fill, s->iv_len);
	wrap(&eci, 0x30, &t);
	if (s->ct_pieces) {
		t.n = 0;
		tlv(&t, 0x04, s->ct ? s->ct : fill, s->ct_len / 2);
		tlv(&t, 0x04, (s->ct ? s->ct : fill) + s->ct_len / 2, s->ct_len - s->ct_len / 2);
		wrap(&eci, 0xa0, &t);
	} else if (!s->no_ct) {
		tlv(&eci, 0x80, s->ct ? s->ct : fill, s->ct_len);
	}
	/* EnvelopedData */
	v = (uint8_t)s->env_version;
	tlv(&env, 0x02, &v, 1);
	if (s->originator)
		tlv(&env, 0xa0, "", 0);
	wrap(&env, 0x31, &set);
	wrap(&env, 0x30, &eci);
	if (s->dup_eci)
		wrap(&env, 0x30, &eci);
	if (s->unprot_attrs)
		tlv(&env, 0xa1, "", 0);
	wrap(&x, 0x30, &env);
	tlv(&ci, 0x06, s->ctype_data ? O_DATA : O_ENV, sizeof(O_ENV));
	wrap(&ci, 0xa0, &x);
	out->n = 0;
	wrap(out, 0x30, &ci);
}

static void build_refused(const struct spec s, const char *want)
{
	struct buf b;

	build(&s, &b);
	refused(b.d, b.n, want);
}

/* ---- the samples ---- */

START_TEST(samples_parse)
{
	static const struct {
		const char *iv, *ek_head, *ek_tail, *ct_head, *ct_tail;
		size_t ct_len;
	} want[2] = {
	    {"688c6d5f7f31b0fecedf09f2e7c99ac9", "a0614593", "0ab0dd", "70e5caaf", "ff19292e", 48},
	    {"e66c1172aee0f2f7be34e3afc6b0e4fe", "4a1ca122", "0a5dc5f8", NULL, NULL, 16},
	};
	uint8_t b[64];
	size_t n;

	for (size_t i = 0; i < 2; i++) {
		struct cms_envelope e;

		ck_assert_int_eq(cms_parse(fx[i].p, fx[i].n, &e, why, sizeof(why)), 0);
		ck_assert_int_eq(e.rid_is_ski, 1);
		ck_assert_uint_eq(e.rid_len, 32);
		ck_assert_ptr_eq(e.rid, fx[i].p + 33);
		n = unhex(want[i].iv, b);
		ck_assert_mem_eq(e.iv, b, n);
		ck_assert_uint_eq(e.ek_len, 256);
		ck_assert_ptr_eq(e.ek, fx[i].p + 131);
		n = unhex(want[i].ek_head, b);
		ck_assert_mem_eq(e.ek, b, n);
		n = unhex(want[i].ek_tail, b);
		ck_assert_mem_eq(e.ek + e.ek_len - n, b, n);
		ck_assert_uint_eq(e.ct_len, want[i].ct_len);
		ck_assert_ptr_nonnull(e.ct);
		if (want[i].ct_head) {
			n = unhex(want[i].ct_head, b);
			ck_assert_mem_eq(e.ct, b, n);
			n = unhex(want[i].ct_tail, b);
			ck_assert_mem_eq(e.ct + e.ct_len - n, b, n);
		} else {
			/* the primitive [0] at 431 holds the ciphertext itself */
			ck_assert_mem_eq(e.ct, fx[i].p + 433, 16);
		}
		cms_envelope_release(&e);
		ck_assert_ptr_null(e.ct);
	}
}
END_TEST

START_TEST(samples_every_truncation_refused)
{
	for (size_t i = 0; i < 2; i++)
		for (size_t n = 0; n < fx[i].n; n++) {
			struct cms_envelope e;
			int r = cms_parse(fx[i].p, n, &e, why, sizeof(why));

			ck_assert_msg(r == -EBADMSG, "%s cut to %zu: %d", fx[i].name, n, r);
			ck_assert_ptr_null(e.ct);
		}
}
END_TEST

/* A copy of sample i with bytes at off replaced, or appended (off == n). */
static void edited(size_t i, size_t off, const char *hex, const char *want)
{
	uint8_t b[1024], h[64];
	size_t hn = unhex(hex, h);

	ck_assert_uint_le(off + hn, sizeof(b));
	memcpy(b, fx[i].p, fx[i].n);
	memcpy(b + off, h, hn);
	refused(b, off + hn > fx[i].n ? off + hn : fx[i].n, want);
}

START_TEST(samples_edited_refused)
{
	uint8_t big[CMS_MAX_INPUT + 1];

	for (size_t i = 0; i < 2; i++) {
		edited(i, fx[i].n, "00", "trailing");
		edited(i, fx[i].n, "0000", "trailing");
		edited(i, fx[i].n, "3000", "trailing");
		/* contentType id-data instead of envelopedData */
		edited(i, 12, "01", "envelopedData");
		/* keyEncryptionAlgorithm rsaEncryption */
		edited(i, 77, "01", "not RSAES-OAEP");
		/* OAEP hash and MGF1 hash: sha256 -> sha384 */
		edited(i, 94, "02", "OAEP hash is not SHA-256");
		edited(i, 124, "02", "MGF1 hash is not SHA-256");
		/* aes-256-cbc -> aes-128-cbc */
		edited(i, 412, "02", "not aes-256-cbc");
		/* EnvelopedData version 3, recipient version 1 */
		edited(i, 19, "03", "version");
		edited(i, 30, "01", "version");
		/* the IV declared 15 bytes: the next header is off by one */
		edited(i, 414, "0f", "IV");
		/* the encryptedKey as a constructed OCTET STRING */
		edited(i, 127, "24", "encryptedKey");
		/* rid [1] */
		edited(i, 31, "81", "rid");
		/* huge length fields: the top SEQUENCE, the encryptedKey, the set */
		edited(i, 1, "84", "ContentInfo");
		edited(i, 128, "84ffffffff", "encryptedKey");
		edited(i, 128, "887fffffffffffffff", "encryptedKey");
		edited(i, 21, "83ffffff", "recipientInfos");
		edited(i, 21, "85", "recipientInfos");
		/* a high tag number where the OID is */
		edited(i, 2, "1f", "envelopedData");
	}
	/* the indefinite [0] of sample 0: a 15-byte piece */
	edited(0, 434, "2f", "encryptedContent");
	/* a NULL among its pieces, where its EOC was */
	edited(0, 483, "0500", "encryptedContent");
	/* the primitive [0] of sample 1 as constructed */
	edited(1, 431, "a0", "encryptedContent");
	/* more than CMS_MAX_INPUT bytes, the sample at their head */
	memset(big, 0, sizeof(big));
	memcpy(big, fx[0].p, fx[0].n);
	refused(big, sizeof(big), "more than");
}
END_TEST

/* ---- built envelopes ---- */

START_TEST(built_forms_parse)
{
	static const struct spec ok[] = {
	    SPEC(.ski_len = 20),
	    SPEC(.ski_len = 1, .hash_null = true),
	    SPEC(.ski_len = 64, .ct_len = 16),
	    SPEC(.rid_ias = true, .ktri_version = 0, .env_version = 0),
	    SPEC(.label_present = true, .label_len = 0),
	    SPEC(.ct_pieces = true, .ct_len = 64),
	    SPEC(.ek_len = 512),
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct buf b;
		struct cms_envelope e;

		build(&ok[i], &b);
		ck_assert_msg(cms_parse(b.d, b.n, &e, why, sizeof(why)) == 0, "spec %zu: %s", i,
		              why);
		ck_assert_uint_eq(e.ct_len, ok[i].ct_len);
		ck_assert_uint_eq(e.ek_len, ok[i].ek_len);
		ck_assert_int_eq(e.rid_is_ski, !ok[i].rid_ias);
		ck_assert_uint_eq(e.rid_len, ok[i].rid_ias ? 7 : ok[i].ski_len);
		cms_envelope_release(&e);
		for (size_t n = 0; n < b.n; n++)
			ck_assert_int_eq(cms_parse(b.d, n, &e, why, sizeof(why)), -EBADMSG);
	}
}
END_TEST

START_TEST(built_wrong_parts_refused)
{
	build_refused(SPEC(.ctype_data = true), "envelopedData");
	build_refused(SPEC(.env_version = 1), "EnvelopedData: version");
	build_refused(SPEC(.originator = true), "originatorInfo");
	build_refused(SPEC(.nrecip = 2), "more than one recipient");
	build_refused(SPEC(.nrecip = 0), "not a KeyTransRecipientInfo");
	build_refused(SPEC(.ktri_version = 0), "subjectKeyIdentifier");
	build_refused(SPEC(.rid_ias = true, .ktri_version = 2), "issuerAndSerialNumber");
	build_refused(SPEC(.ski_len = 0), "subjectKeyIdentifier");
	build_refused(SPEC(.ski_len = 65), "subjectKeyIdentifier");
	build_refused(SPEC(.rid_ctx1 = true), "rid");
	build_refused(SPEC(.kea_rsa = true), "not RSAES-OAEP");
	build_refused(SPEC(.no_params = true), "SHA-1");
	build_refused(SPEC(.no_hash = true), "SHA-1");
	build_refused(SPEC(.hash_sha1 = true), "OAEP hash is not SHA-256");
	build_refused(SPEC(.hash_sha1 = true, .hash_null = true), "OAEP hash is not SHA-256");
	build_refused(SPEC(.no_mgf = true), "MGF1-SHA-1");
	build_refused(SPEC(.mgf_sha1 = true), "MGF1 hash is not SHA-256");
	build_refused(SPEC(.dup_hash = true), "MGF");
	build_refused(SPEC(.label_present = true, .label_len = 2), "label is not empty");
	build_refused(SPEC(.ek_len = 0), "encryptedKey");
	build_refused(SPEC(.ek_len = 1025), "encryptedKey");
	build_refused(SPEC(.ek_constructed = true), "encryptedKey");
	build_refused(SPEC(.inner_not_data = true), "id-data");
	build_refused(SPEC(.aes128 = true), "not aes-256-cbc");
	build_refused(SPEC(.iv_len = 8), "IV is not 16 bytes");
	build_refused(SPEC(.iv_len = 0), "IV is not 16 bytes");
	build_refused(SPEC(.iv_len = 32), "IV is not 16 bytes");
	build_refused(SPEC(.ct_len = 20), "not a non-zero multiple of 16");
	build_refused(SPEC(.ct_len = 0), "not a non-zero multiple of 16");
	build_refused(SPEC(.ct_len = 47, .ct_pieces = true), "not a non-zero multiple of 16");
	build_refused(SPEC(.no_ct = true), "encryptedContent missing");
	build_refused(SPEC(.dup_eci = true), "after encryptedContentInfo");
	build_refused(SPEC(.unprot_attrs = true), "after encryptedContentInfo");
}
END_TEST

/* The sample 0 envelope up to its encryptedContent [0] (offset 431), then
 * what, then the EOCs of the three enclosing indefinite elements + ours. */
static void content_refused(const uint8_t *what, size_t n, const char *want)
{
	static uint8_t b[CMS_MAX_INPUT];
	size_t off = 431;

	ck_assert_uint_le(off + n + 8, sizeof(b));
	memcpy(b, fx[0].p, off);
	memcpy(b + off, what, n);
	memset(b + off + n, 0, 8);
	refused(b, off + n + 8, want);
}

START_TEST(nesting_bombs_refused)
{
	static uint8_t b[CMS_MAX_INPUT];
	size_t n = 0;

	/* [0] { 24 80 24 80 ... 04 10 <16> 00 00 ... }: deeper than the limit */
	b[n++] = 0xa0;
	b[n++] = 0x80;
	for (int d = 0; d < 40; d++) {
		b[n++] = 0x24;
		b[n++] = 0x80;
	}
	b[n++] = 0x04;
	b[n++] = 0x10;
	memset(b + n, 0x11, 16);
	n += 16;
	memset(b + n, 0, 2 * 40 + 2);
	n += 2 * 40 + 2;
	content_refused(b, n, "nested deeper than");
	/* the same, with no end at all: the whole rest is openings */
	n = 0;
	b[n++] = 0xa0;
	b[n++] = 0x80;
	while (n + 10 < sizeof(b) - 431) {
		b[n++] = 0x24;
		b[n++] = 0x80;
	}
	content_refused(b, n, "nested deeper than");
	/* a shallow nesting (within the limit) joins its pieces */
	{
		struct cms_envelope e;
		uint8_t s[1024];
		size_t k = 0, off = 431;

		memcpy(s, fx[0].p, off);
		k = off;
		s[k++] = 0xa0;
		s[k++] = 0x80;
		for (int d = 0; d < 3; d++) {
			s[k++] = 0x24;
			s[k++] = 0x80;
			s[k++] = 0x04;
			s[k++] = 0x10;
			memset(s + k, 0x20 + d, 16);
			k += 16;
		}
		memset(s + k, 0, 2 * 3 + 2 + 8);
		k += 2 * 3 + 2 + 8;
		ck_assert_int_eq(cms_parse(s, k, &e, why, sizeof(why)), 0);
		ck_assert_uint_eq(e.ct_len, 48);
		ck_assert_uint_eq(e.ct[0], 0x20);
		ck_assert_uint_eq(e.ct[47], 0x22);
		cms_envelope_release(&e);
	}
	/* indefinite SEQUENCEs at the top, all the way down */
	n = 0;
	while (n + 2 <= sizeof(b)) {
		b[n++] = 0x30;
		b[n++] = 0x80;
	}
	refused(b, n, "envelopedData");
	/* an indefinite primitive (not allowed by BER) */
	content_refused((const uint8_t *)"\x80\x80\x00\x00", 4, "encryptedContent");
}
END_TEST

/* ---- decryption with a real key ---- */

static EVP_PKEY *key, *other;

static void keys(void)
{
	if (!key)
		key = EVP_RSA_gen(2048);
	if (!other)
		other = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(key);
	ck_assert_ptr_nonnull(other);
}

/* Wraps cek[cekn] for k (OAEP-SHA-256 with label[labeln]) and encrypts
 * pt[ptn] under it with AES-256-CBC; flip inverts a ciphertext byte. */
static void seal(EVP_PKEY *k, const uint8_t *cek, size_t cekn, const uint8_t *label, size_t labeln,
                 const uint8_t *pt, size_t ptn, int flip, struct buf *out)
{
	static uint8_t ek[512], ct[4096 + 16];
	uint8_t iv[16], key32[32] = {0};
	size_t ekn = sizeof(ek);
	int l1, l2;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k, NULL);
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();

	ck_assert(pc && cc);
	ck_assert_int_eq(EVP_PKEY_encrypt_init(pc), 1);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()), 0);
	ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()), 0);
	if (labeln) {
		void *l = OPENSSL_memdup(label, labeln);

		ck_assert_int_gt(EVP_PKEY_CTX_set0_rsa_oaep_label(pc, l, (int)labeln), 0);
	}
	ck_assert_int_eq(EVP_PKEY_encrypt(pc, ek, &ekn, cek, cekn), 1);
	memset(iv, 0x3c, sizeof(iv));
	memcpy(key32, cek, cekn < 32 ? cekn : 32);
	ck_assert_int_eq(EVP_EncryptInit_ex(cc, EVP_aes_256_cbc(), NULL, key32, iv), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(cc, ct, &l1, pt, (int)ptn), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(cc, ct + l1, &l2), 1);
	if (flip) /* in the block before the last: the padding byte changes */
		ct[l1 + l2 - 17] ^= 0xff;
	build(&SPEC(.ek = ek, .ek_len = ekn, .iv = iv, .ct = ct, .ct_len = (size_t)(l1 + l2),
	            .ct_pieces = ptn > 40),
	      out);
	EVP_PKEY_CTX_free(pc);
	EVP_CIPHER_CTX_free(cc);
}

static const uint8_t CEK[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(decrypt_round_trips)
{
	struct buf b;
	uint8_t pt[100], out[200];
	size_t outn = 0;

	keys();
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(0x80 + i);
	/* 32 bytes (a data key), 0, 15, 16 and 100 bytes of content */
	static const size_t lens[] = {32, 0, 15, 16, 100};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		seal(key, CEK, 32, NULL, 0, pt, lens[i], 0, &b);
		ck_assert_msg(
		    cms_decrypt(b.d, b.n, key, out, sizeof(out), &outn, why, sizeof(why)) == 0,
		    "%zu: %s", lens[i], why);
		ck_assert_uint_eq(outn, lens[i]);
		ck_assert_mem_eq(out, pt, lens[i]);
	}
	/* out exactly the size fits */
	seal(key, CEK, 32, NULL, 0, pt, 32, 0, &b);
	ck_assert_int_eq(cms_decrypt(b.d, b.n, key, out, 32, &outn, why, sizeof(why)), 0);
	ck_assert_uint_eq(outn, 32);
}
END_TEST

/* cms_decrypt must fail with want and leave out[] zero. */
static void decrypt_fails(const struct buf *b, EVP_PKEY *k, size_t outsz, int want, const char *msg)
{
	uint8_t out[200];
	size_t outn = 99;
	int r;

	memset(out, 0xee, sizeof(out));
	why[0] = 0;
	r = cms_decrypt(b->d, b->n, k, out, outsz, &outn, why, sizeof(why));
	ck_assert_msg(r == want, "%s: %d, not %d (%s)", msg, r, want, why);
	ck_assert_msg(strstr(why, msg), "why \"%s\" lacks \"%s\"", why, msg);
	ck_assert_uint_eq(outn, 0);
	ck_assert(all_zero(out, outsz));
}

START_TEST(decrypt_refusals)
{
	struct buf b;
	uint8_t pt[64] = {7}, cek16[16] = {9};
	EVP_PKEY *ec = EVP_EC_gen("P-256");

	keys();
	seal(key, CEK, 32, NULL, 0, pt, 32, 0, &b);
	decrypt_fails(&b, other, 200, -EKEYREJECTED, "rejected");
	decrypt_fails(&b, key, 31, -EMSGSIZE, "does not fit");
	decrypt_fails(&b, key, 0, -EMSGSIZE, "does not fit");
	ck_assert_ptr_nonnull(ec);
	decrypt_fails(&b, ec, 200, -EINVAL, "not an RSA key");
	EVP_PKEY_free(ec);
	/* wrapped with a label the envelope does not name */
	seal(key, CEK, 32, (const uint8_t *)"\x01\x02", 2, pt, 32, 0, &b);
	decrypt_fails(&b, key, 200, -EKEYREJECTED, "rejected: RSA-OAEP");
	/* a 16-byte content key */
	seal(key, cek16, 16, NULL, 0, pt, 32, 0, &b);
	decrypt_fails(&b, key, 200, -EKEYREJECTED, "not 32 bytes");
	/* the last block damaged: bad padding */
	seal(key, CEK, 32, NULL, 0, pt, 32, 1, &b);
	decrypt_fails(&b, key, 200, -EKEYREJECTED, "padding");
	/* an encryptedKey not the key's size */
	{
		struct buf c;

		build(&SPEC(.ek_len = 255), &c);
		decrypt_fails(&c, key, 200, -EKEYREJECTED, "key size");
	}
	/* parse errors come through as they are */
	seal(key, CEK, 32, NULL, 0, pt, 32, 0, &b);
	for (size_t n = 0; n < b.n; n += 7) {
		struct buf c = b;

		c.n = n;
		decrypt_fails(&c, key, 200, -EBADMSG, "");
	}
	/* the samples are not for this key */
	memcpy(b.d, fx[0].p, fx[0].n);
	b.n = fx[0].n;
	decrypt_fails(&b, key, 200, -EKEYREJECTED, "rejected");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cms");
	TCase *tc = tcase_create("cms");
	SRunner *sr;
	int failed;

	load_fixtures();
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, samples_parse);
	tcase_add_test(tc, samples_every_truncation_refused);
	tcase_add_test(tc, samples_edited_refused);
	tcase_add_test(tc, built_forms_parse);
	tcase_add_test(tc, built_wrong_parts_refused);
	tcase_add_test(tc, nesting_bombs_refused);
	tcase_add_test(tc, decrypt_round_trips);
	tcase_add_test(tc, decrypt_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return failed ? 1 : 0;
}
