/* The attestation verifier (attest/attest.h) on the three real documents in
 * tests/fixtures/nitro/ and on hostile variants of them built here with
 * libcbor: signature and chain at the documents' own time, expiry three
 * hours later, debug, nonce and pins; every malformed document refused with
 * -EBADMSG and no crash. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "attest.h"
#include "cbor-util.h"

#define HOURS3_MS (3LL * 3600 * 1000)

struct fx {
	const char *name;
	bool debug;
	uint8_t *p;
	size_t n;
	uint64_t ts;
};

static struct fx fx[] = {
	{ "blocky-2024-09-07.cbor", false, NULL, 0, 0 },
	{ "blocky-debug-2024-09-07.cbor", true, NULL, 0, 0 },
	{ "evervault-debug-2023-09-18.cbor", true, NULL, 0, 0 },
};
#define NFX (sizeof(fx) / sizeof(fx[0]))
#define BLOCKY (&fx[0])

static char why[2048];

static void load_fixtures(void)
{
	const char *top = getenv("top_srcdir");

	for (size_t i = 0; i < NFX; i++) {
		char path[4096];
		struct attest_doc d;
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/tests/fixtures/nitro/%s", top ? top : ".", fx[i].name);
		f = fopen(path, "rb");
		if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
			fprintf(stderr, "check_attest: cannot read %s\n", path);
			exit(1);
		}
		fx[i].p = malloc((size_t)n);
		if (!fx[i].p || fread(fx[i].p, 1, (size_t)n, f) != (size_t)n)
			exit(1);
		fclose(f);
		fx[i].n = (size_t)n;
		if (attest_decode(fx[i].p, fx[i].n, &d, why, sizeof(why)) != 0) {
			fprintf(stderr, "check_attest: %s: %s\n", path, why);
			exit(1);
		}
		fx[i].ts = d.timestamp_ms;
		attest_doc_release(&d);
	}
}

static struct attest_policy policy_at(const struct fx *f, int64_t delta_ms, bool allow_debug)
{
	struct attest_policy p = { 0 };

	p.at_ms = (int64_t)f->ts + delta_ms;
	p.allow_debug = allow_debug;
	return p;
}

/* attest_verify() whose document is released whatever the outcome. */
static int verify(const uint8_t *doc, size_t n, const struct attest_policy *p)
{
	struct attest_doc d;
	int r;

	why[0] = 0;
	r = attest_verify(doc, n, p, &d, why, sizeof(why));
	if (r == 0 || r == -EKEYREJECTED)
		attest_doc_release(&d);
	return r;
}

static int decode(const uint8_t *doc, size_t n)
{
	struct attest_doc d;
	int r;

	why[0] = 0;
	r = attest_decode(doc, n, &d, why, sizeof(why));
	if (r == 0)
		attest_doc_release(&d);
	else
		ck_assert_ptr_null(d.storage);
	return r;
}

/* --- building variants with libcbor -------------------------------------------------- */

static const uint8_t prot_es384[] = { 0xa1, 0x01, 0x38, 0x22 };

/* The fixture's payload, as a loaded map (the caller decrefs). */
static cbor_item_t *payload_of(const struct fx *f, uint8_t **raw, size_t *rawn)
{
	struct cbor_load_result lr;
	cbor_item_t *top = cbor_load(f->p, f->n, &lr), *pl, *m;

	ck_assert_ptr_nonnull(top);
	pl = cbor_array_handle(top)[2];
	*rawn = cbor_bytestring_length(pl);
	*raw = malloc(*rawn);
	ck_assert_ptr_nonnull(*raw);
	memcpy(*raw, cbor_bytestring_handle(pl), *rawn);
	m = cbor_load(*raw, *rawn, &lr);
	ck_assert_ptr_nonnull(m);
	cbor_decref(&top);
	return m;
}

/* [protected, unprotected, payload, signature], optionally tagged; malloc'd. */
static size_t cose(const uint8_t *prot, size_t protn, cbor_item_t *unprot, const uint8_t *pl,
		   size_t pln, const uint8_t *sig, size_t sign, int64_t tag, uint8_t **out)
{
	cbor_item_t *a = cbor_new_definite_array(4), *top = a;
	size_t cap = 0, n;

	ck_assert(cbor_array_push(a, cbor_move(cbor_build_bytestring(prot, protn))));
	ck_assert(cbor_array_push(a, unprot ? cbor_move(unprot) : cbor_move(cbor_new_definite_map(0))));
	ck_assert(cbor_array_push(a, cbor_move(cbor_build_bytestring(pl, pln))));
	ck_assert(cbor_array_push(a, cbor_move(cbor_build_bytestring(sig, sign))));
	if (tag >= 0) {
		top = cbor_build_tag((uint64_t)tag, a);
		cbor_decref(&a);
	}
	*out = NULL;
	n = cbor_serialize_alloc(top, out, &cap);
	ck_assert_uint_gt(n, 0);
	cbor_decref(&top);
	return n;
}

/* One change to a fixture's payload map. */
struct edit {
	const char *key;     /* the entry to replace (value) or drop (value NULL) */
	cbor_item_t *value;  /* owned: released here */
	const char *add_key; /* an entry added at the end */
	cbor_item_t *add_value;
	bool indefinite;     /* re-encode the map with an indefinite length */
	bool garbage;        /* a byte after the payload's map */
};

/* The fixture with its payload edited, re-encoded (its signature kept). */
static size_t rebuild(const struct fx *f, struct edit *e, uint8_t **out)
{
	uint8_t *raw, *pl = NULL;
	size_t rawn, pln, cap = 0, n;
	cbor_item_t *m = payload_of(f, &raw, &rawn), *nm;
	struct cbor_pair *p = cbor_map_handle(m);

	nm = e->indefinite ? cbor_new_indefinite_map() : cbor_new_definite_map(cbor_map_size(m) + 1);
	for (size_t i = 0; i < cbor_map_size(m); i++) {
		if (e->key && cbor_string_length(p[i].key) == strlen(e->key) &&
		    !memcmp(cbor_string_handle(p[i].key), e->key, strlen(e->key))) {
			if (e->value)
				ck_assert(cbor_map_add(nm, (struct cbor_pair){ .key = p[i].key,
										 .value = e->value }));
			continue;
		}
		ck_assert(cbor_map_add(nm, p[i]));
	}
	if (e->add_key)
		ck_assert(cbor_map_add(nm, (struct cbor_pair){
						   .key = cbor_move(cbor_build_string(e->add_key)),
						   .value = e->add_value }));
	pln = cbor_serialize_alloc(nm, &pl, &cap);
	ck_assert_uint_gt(pln, 0);
	if (e->garbage) {
		pl = realloc(pl, pln + 1);
		ck_assert_ptr_nonnull(pl);
		pl[pln++] = 0x00;
	}
	n = cose(prot_es384, sizeof(prot_es384), NULL, pl, pln, f->p + f->n - 96, 96, -1, out);
	if (e->value)
		cbor_decref(&e->value);
	if (e->add_value)
		cbor_decref(&e->add_value);
	cbor_decref(&nm);
	cbor_decref(&m);
	free(pl);
	free(raw);
	return n;
}

/* attest_decode() on the edited fixture: the return, and why mentions want. */
static void decode_edit(struct edit e, int expect, const char *want)
{
	uint8_t *doc;
	size_t n = rebuild(BLOCKY, &e, &doc);
	int r = decode(doc, n);

	ck_assert_msg(r == expect, "decode returned %d, expected %d (%s)", r, expect, why);
	if (want)
		ck_assert_msg(strstr(why, want), "reason '%s' does not mention '%s'", why, want);
	/* Whatever decoded or not, the signature no longer holds. */
	if (r == 0) {
		struct attest_policy p = policy_at(BLOCKY, 0, true);

		ck_assert_int_ne(verify(doc, n, &p), 0);
	}
	free(doc);
}

static cbor_item_t *pcrs(size_t n, bool as_array, long dup_of_last, size_t len)
{
	uint8_t z[ATTEST_PCR_LEN + 1] = { 0 };
	cbor_item_t *m = as_array ? cbor_new_definite_array(n) : cbor_new_definite_map(n);

	for (size_t i = 0; i < n; i++) {
		cbor_item_t *v = cbor_move(cbor_build_bytestring(z, len));
		uint64_t k = i + 1 == n && dup_of_last >= 0 ? (uint64_t)dup_of_last : i;

		if (as_array)
			ck_assert(cbor_array_push(m, v));
		else
			ck_assert(cbor_map_add(m, (struct cbor_pair){
							  .key = cbor_move(cbor_build_uint8((uint8_t)k)),
							  .value = v }));
	}
	return m;
}

static cbor_item_t *bytes(size_t n)
{
	uint8_t *b = calloc(1, n + 1);
	cbor_item_t *it = cbor_build_bytestring(b, n);

	free(b);
	return it;
}

/* --- the real documents -------------------------------------------------------------- */

START_TEST(fixtures_verify_at_their_time)
{
	for (size_t i = 0; i < NFX; i++) {
		struct attest_policy p = policy_at(&fx[i], 0, fx[i].debug);
		struct attest_doc d;

		ck_assert_msg(attest_verify(fx[i].p, fx[i].n, &p, &d, why, sizeof(why)) == 0, "%s: %s",
			      fx[i].name, why);
		ck_assert_int_eq(d.debug, fx[i].debug);
		ck_assert_str_eq(d.digest, "SHA384");
		ck_assert_uint_eq(d.npcrs, 16);
		ck_assert_uint_eq(d.ncabundle, 4);
		/* leaf, three intermediates, the pinned root */
		ck_assert_uint_eq(d.nsubject, 5);
		ck_assert_str_eq(d.subject[4], "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US");
		ck_assert_ptr_nonnull(strstr(d.subject[0], d.module_id));
		attest_doc_release(&d);
	}
}
END_TEST

START_TEST(fixtures_expire_after_three_hours)
{
	for (size_t i = 0; i < NFX; i++) {
		struct attest_policy p = policy_at(&fx[i], HOURS3_MS, true);

		ck_assert_int_eq(verify(fx[i].p, fx[i].n, &p), -EKEYREJECTED);
		ck_assert_msg(strstr(why, "certificate chain: certificate has expired"), "%s", why);
		/* and before the leaf was issued */
		p = policy_at(&fx[i], -HOURS3_MS, true);
		ck_assert_int_eq(verify(fx[i].p, fx[i].n, &p), -EKEYREJECTED);
		ck_assert_msg(strstr(why, "certificate chain: certificate is not yet valid"), "%s",
			      why);
	}
}
END_TEST

START_TEST(debug_refused_unless_allowed)
{
	struct attest_doc d;

	for (size_t i = 0; i < NFX; i++) {
		struct attest_policy p = policy_at(&fx[i], 0, false);

		if (!fx[i].debug) {
			ck_assert_int_eq(verify(fx[i].p, fx[i].n, &p), 0);
			continue;
		}
		ck_assert_int_eq(attest_verify(fx[i].p, fx[i].n, &p, &d, why, sizeof(why)),
				 -EKEYREJECTED);
		ck_assert_str_eq(why, "debug document (PCR0-2 are zero)");
		/* refused, yet what it holds is there to show */
		ck_assert(d.debug);
		ck_assert_uint_eq(d.nsubject, 5);
		attest_doc_release(&d);
	}
}
END_TEST

/* Every sampled byte of the payload and of the signature, flipped: refused. */
START_TEST(flipped_bytes_refused)
{
	for (size_t i = 0; i < NFX; i++) {
		struct attest_policy p = policy_at(&fx[i], 0, true);
		uint8_t *raw, *doc = malloc(fx[i].n), *at;
		size_t rawn, off, sig = fx[i].n - 96;
		cbor_item_t *m = payload_of(&fx[i], &raw, &rawn);
		size_t tried = 0;

		cbor_decref(&m);
		at = memmem(fx[i].p, fx[i].n, raw, rawn);
		ck_assert_ptr_nonnull(at);
		off = (size_t)(at - fx[i].p);
		ck_assert_uint_eq(off + rawn, sig - 2); /* 58 60 then r||s */
		for (size_t k = 0; k < fx[i].n; k++) {
			bool in_payload = k >= off && k < off + rawn;
			bool in_sig = k >= sig;

			if (!in_payload && !in_sig)
				continue;
			if (k % 37 && k != off && k != off + rawn - 1 && k != sig && k != fx[i].n - 1)
				continue;
			memcpy(doc, fx[i].p, fx[i].n);
			doc[k] ^= 0xff;
			ck_assert_msg(verify(doc, fx[i].n, &p) < 0, "%s: byte %zu flipped verifies",
				      fx[i].name, k);
			if (in_sig)
				ck_assert_str_eq(why, "the signature does not verify");
			tried++;
		}
		ck_assert_uint_gt(tried, fx[i].n / 37);
		free(doc);
		free(raw);
	}
}
END_TEST

static uint8_t *other_root(size_t *n)
{
	EVP_PKEY *k = EVP_EC_gen("P-384");
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t *der = NULL;
	int len;

	ck_assert(k && x && name);
	ck_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					     (const unsigned char *)"aws.nitro-enclaves", -1, -1, 0));
	ck_assert(X509_set_version(x, 2));
	ck_assert(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	ck_assert(X509_set_subject_name(x, name) && X509_set_issuer_name(x, name));
	ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notBefore(x), -20000, 0, NULL));
	ck_assert_ptr_nonnull(X509_time_adj_ex(X509_getm_notAfter(x), 20000, 0, NULL));
	ck_assert(X509_set_pubkey(x, k));
	ck_assert(X509_sign(x, k, EVP_sha384()));
	len = i2d_X509(x, &der);
	ck_assert_int_gt(len, 0);
	*n = (size_t)len;
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(k);
	return der;
}

START_TEST(another_root_refused)
{
	struct attest_policy p = policy_at(BLOCKY, 0, false);
	size_t n;
	uint8_t *der = other_root(&n);

	p.root_der = der;
	p.root_der_len = n;
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	ck_assert_msg(strstr(why, "certificate chain: "), "%s", why);
	/* a root that is not a certificate */
	p.root_der_len = 10;
	ck_assert_int_lt(verify(BLOCKY->p, BLOCKY->n, &p), 0);
	OPENSSL_free(der);
}
END_TEST

/* What QEMU's NSM emulation signs: alg -1, zero certificates, 64 zero bytes. */
START_TEST(qemu_unsigned_refused)
{
	static const uint8_t prot_qemu[] = { 0xa1, 0x01, 0x20 };
	uint8_t zero[96] = { 0 }, *pl = NULL, *doc;
	struct attest_policy p = policy_at(BLOCKY, 0, true);
	cbor_item_t *m = cbor_new_definite_map(9), *ca = cbor_new_definite_array(1);
	size_t cap = 0, pln, n;

	ck_assert(cbor_array_push(ca, cbor_move(cbor_build_bytestring(zero, 64))));
#define ADD(k, v) ck_assert(cbor_map_add(m, (struct cbor_pair){ .key = cbor_move(cbor_build_string(k)), .value = cbor_move(v) }))
	ADD("module_id", cbor_build_string("i-qemu-enc0"));
	ADD("digest", cbor_build_string("SHA384"));
	ADD("timestamp", cbor_build_uint64(BLOCKY->ts));
	ADD("pcrs", pcrs(16, false, -1, ATTEST_PCR_LEN));
	ADD("certificate", cbor_build_bytestring(zero, 64));
	ADD("cabundle", ca);
	ADD("public_key", cbor_new_null());
	ADD("user_data", cbor_new_null());
	ADD("nonce", cbor_new_null());
#undef ADD
	pln = cbor_serialize_alloc(m, &pl, &cap);
	ck_assert_uint_gt(pln, 0);

	n = cose(prot_qemu, sizeof(prot_qemu), NULL, pl, pln, zero, 64, -1, &doc);
	ck_assert_int_eq(decode(doc, n), -EBADMSG);
	ck_assert_str_eq(why, "the protected header is not {1: -35} (ES384)");
	ck_assert_int_eq(verify(doc, n, &p), -EBADMSG);
	free(doc);

	/* the right header does not help it: 64 bytes are no P-384 signature */
	n = cose(prot_es384, sizeof(prot_es384), NULL, pl, pln, zero, 64, 18, &doc);
	ck_assert_int_eq(verify(doc, n, &p), -EBADMSG);
	ck_assert_msg(strstr(why, "signature is not 96 bytes"), "%s", why);
	free(doc);

	/* nor 96 zero bytes: the certificate is no certificate */
	n = cose(prot_es384, sizeof(prot_es384), NULL, pl, pln, zero, 96, -1, &doc);
	ck_assert_int_eq(decode(doc, n), 0);
	ck_assert_int_eq(verify(doc, n, &p), -EKEYREJECTED);
	ck_assert_str_eq(why, "the signing certificate is not a certificate");
	free(doc);
	free(pl);
	cbor_decref(&m);
}
END_TEST

START_TEST(envelope_variants)
{
	struct attest_policy p = policy_at(BLOCKY, 0, false);
	uint8_t *raw, *doc;
	size_t rawn, n;
	cbor_item_t *m = payload_of(BLOCKY, &raw, &rawn);
	const uint8_t *sig = BLOCKY->p + BLOCKY->n - 96;
	static const uint8_t prot_long[] = { 0xa1, 0x01, 0x39, 0x00, 0x22 }; /* -35, not shortest */

	cbor_decref(&m);
	/* tagged COSE_Sign1 (18): the same signature verifies */
	n = cose(prot_es384, sizeof(prot_es384), NULL, raw, rawn, sig, 96, 18, &doc);
	ck_assert_msg(verify(doc, n, &p) == 0, "%s", why);
	free(doc);
	/* an unprotected header with content is ignored */
	m = cbor_new_definite_map(1);
	ck_assert(cbor_map_add(m, (struct cbor_pair){ .key = cbor_move(cbor_build_uint8(4)),
						       .value = cbor_move(cbor_build_string("kid")) }));
	n = cose(prot_es384, sizeof(prot_es384), m, raw, rawn, sig, 96, -1, &doc);
	ck_assert_msg(verify(doc, n, &p) == 0, "%s", why);
	free(doc);
	/* tag 18 in its two-byte form; tag 17 in either form */
	{
		uint8_t *t = malloc(BLOCKY->n + 2);

		memcpy(t + 2, BLOCKY->p, BLOCKY->n);
		t[0] = 0xd8;
		t[1] = 18;
		ck_assert_msg(verify(t, BLOCKY->n + 2, &p) == 0, "%s", why);
		t[1] = 17;
		ck_assert_int_eq(decode(t, BLOCKY->n + 2), -EBADMSG);
		ck_assert_str_eq(why, "tag 17 is not COSE_Sign1 (18)");
		t[0] = t[1] = 0xd2; /* tagged twice */
		ck_assert_int_eq(decode(t, BLOCKY->n + 2), -EBADMSG);
		ck_assert_msg(verify(t + 1, BLOCKY->n + 1, &p) == 0, "%s", why);
		free(t);
	}
	n = cose(prot_es384, sizeof(prot_es384), NULL, raw, rawn, sig, 96, 17, &doc);
	ck_assert_int_eq(decode(doc, n), -EBADMSG);
	free(doc);
	/* an unprotected header that is not a map */
	n = cose(prot_es384, sizeof(prot_es384), cbor_build_uint8(0), raw, rawn, sig, 96, -1, &doc);
	ck_assert_int_eq(decode(doc, n), -EBADMSG);
	ck_assert_str_eq(why, "the unprotected header is not a map");
	free(doc);
	/* the protected header in another encoding, or empty */
	n = cose(prot_long, sizeof(prot_long), NULL, raw, rawn, sig, 96, -1, &doc);
	ck_assert_int_eq(decode(doc, n), -EBADMSG);
	free(doc);
	n = cose(prot_es384, 0, NULL, raw, rawn, sig, 96, -1, &doc);
	ck_assert_int_eq(decode(doc, n), -EBADMSG);
	free(doc);
	/* a signature of 97 bytes */
	{
		uint8_t s97[97] = { 0 };

		memcpy(s97, sig, 96);
		n = cose(prot_es384, sizeof(prot_es384), NULL, raw, rawn, s97, 97, -1, &doc);
		ck_assert_int_eq(decode(doc, n), -EBADMSG);
		free(doc);
	}
	/* not an array of 4 */
	{
		static const uint8_t three[] = { 0x83, 0x40, 0xa0, 0x40 };
		static const uint8_t map[] = { 0xa0 };

		ck_assert_int_eq(decode(three, sizeof(three)), -EBADMSG);
		ck_assert_int_eq(decode(map, sizeof(map)), -EBADMSG);
	}
	free(raw);
}
END_TEST

START_TEST(truncated_refused)
{
	for (size_t i = 0; i < NFX; i++)
		for (size_t k = 0; k < fx[i].n; k++)
			ck_assert_msg(decode(fx[i].p, k) == -EBADMSG, "%s: prefix %zu decodes",
				      fx[i].name, k);
}
END_TEST

START_TEST(oversized_and_trailing_refused)
{
	size_t big = ATTEST_DOC_MAX + 1;
	uint8_t *doc = calloc(1, big);
	struct attest_policy p = policy_at(BLOCKY, 0, false);

	memcpy(doc, BLOCKY->p, BLOCKY->n);
	ck_assert_int_eq(decode(doc, big), -EBADMSG);
	ck_assert_str_eq(why, "the document is 16385 bytes (1 to 16384)");
	ck_assert_int_eq(verify(doc, big, &p), -EBADMSG);
	/* one byte of trailing garbage */
	ck_assert_int_eq(decode(doc, BLOCKY->n + 1), -EBADMSG);
	ck_assert_str_eq(why, "1 bytes after the document");
	ck_assert_int_eq(verify(doc, BLOCKY->n + 1, &p), -EBADMSG);
	/* a second document after the first */
	memcpy(doc + BLOCKY->n, BLOCKY->p, BLOCKY->n);
	ck_assert_int_eq(decode(doc, 2 * BLOCKY->n), -EBADMSG);
	ck_assert_int_eq(decode(doc, 0), -EBADMSG);
	ck_assert_int_eq(decode(NULL, 0), -EBADMSG);
	/* a payload whose byte string is larger than the limit allows */
	{
		uint8_t *pl = calloc(1, ATTEST_DOC_MAX), *d2;
		size_t n = cose(prot_es384, sizeof(prot_es384), NULL, pl, ATTEST_DOC_MAX,
				BLOCKY->p + BLOCKY->n - 96, 96, -1, &d2);

		ck_assert_int_eq(decode(d2, n), -EBADMSG);
		free(d2);
		free(pl);
	}
	free(doc);
}
END_TEST

/* Payload maps with the wrong shape: refused when decoding. */
START_TEST(payload_wrong_types)
{
	uint8_t long_id[ATTEST_MODULE_ID_MAX + 2];

	memset(long_id, 'i', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = 0;
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(16, true, -1, 48) }, -EBADMSG,
		    "pcrs is not a map");
	decode_edit((struct edit){ .key = "timestamp", .value = cbor_build_string("1725719859545") },
		    -EBADMSG, "timestamp is not an unsigned integer");
	decode_edit((struct edit){ .key = "timestamp", .value = cbor_build_negint8(1) }, -EBADMSG,
		    "timestamp");
	decode_edit((struct edit){ .key = "module_id", .value = cbor_build_string((char *)long_id) },
		    -EBADMSG, "module_id");
	decode_edit((struct edit){ .key = "module_id", .value = bytes(4) }, -EBADMSG, "module_id");
	decode_edit((struct edit){ .key = "digest", .value = cbor_build_uint8(1) }, -EBADMSG,
		    "digest");
	decode_edit((struct edit){ .key = "certificate", .value = bytes(ATTEST_CERT_MAX + 1) },
		    -EBADMSG, "certificate");
	decode_edit((struct edit){ .key = "certificate", .value = bytes(0) }, -EBADMSG,
		    "certificate");
	decode_edit((struct edit){ .key = "cabundle", .value = cbor_new_definite_array(0) },
		    -EBADMSG, "cabundle");
	decode_edit((struct edit){ .key = "cabundle", .value = bytes(10) }, -EBADMSG, "cabundle");
	{
		cbor_item_t *ca = cbor_new_definite_array(ATTEST_CABUNDLE_MAX + 1);

		for (int i = 0; i < ATTEST_CABUNDLE_MAX + 1; i++)
			ck_assert(cbor_array_push(ca, cbor_move(bytes(8))));
		decode_edit((struct edit){ .key = "cabundle", .value = ca }, -EBADMSG, "cabundle");
		ca = cbor_new_definite_array(1);
		ck_assert(cbor_array_push(ca, cbor_move(cbor_build_uint8(1))));
		decode_edit((struct edit){ .key = "cabundle", .value = ca }, -EBADMSG, "cabundle[0]");
	}
	decode_edit((struct edit){ .key = "nonce", .value = bytes(ATTEST_FIELD_MAX + 1) }, -EBADMSG,
		    "nonce");
	decode_edit((struct edit){ .key = "user_data", .value = cbor_build_string("text") },
		    -EBADMSG, "user_data");
	decode_edit((struct edit){ .key = "public_key", .value = cbor_new_definite_map(0) },
		    -EBADMSG, "public_key");
	/* the digest is decoded; verification refuses it (here already the signature) */
	decode_edit((struct edit){ .key = "digest", .value = cbor_build_string("SHA256") }, 0, NULL);
}
END_TEST

START_TEST(payload_pcrs_and_keys)
{
	/* 33 PCRs, 17, 15, keys not 0..n-1, a duplicate index, a short value */
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(33, false, -1, 48) }, -EBADMSG,
		    "pcrs has 33 entries");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(17, false, -1, 48) }, -EBADMSG,
		    "pcrs has 17 entries");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(15, false, -1, 48) }, -EBADMSG,
		    "pcrs has 15 entries");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(16, false, 16, 48) }, -EBADMSG,
		    "not an index below 16");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(16, false, 3, 48) }, -EBADMSG,
		    "PCR3 twice");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(32, false, 0, 48) }, -EBADMSG,
		    "PCR0 twice");
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(16, false, -1, 47) }, -EBADMSG,
		    "is not 48 bytes");
	/* 32 PCRs decode */
	decode_edit((struct edit){ .key = "pcrs", .value = pcrs(32, false, -1, 48) }, 0, NULL);
	/* duplicate, unknown and missing keys */
	decode_edit((struct edit){ .add_key = "digest", .add_value = cbor_build_string("SHA384") },
		    -EBADMSG, "the payload has digest twice");
	decode_edit((struct edit){ .add_key = "nonce", .add_value = cbor_new_null() }, -EBADMSG,
		    "the payload has nonce twice");
	decode_edit((struct edit){ .add_key = "extra", .add_value = cbor_new_null() }, -EBADMSG,
		    "unknown key");
	decode_edit((struct edit){ .key = "cabundle" }, -EBADMSG, "the payload has no cabundle");
	decode_edit((struct edit){ .key = "timestamp" }, -EBADMSG, "the payload has no timestamp");
	/* optional fields absent are null */
	{
		struct edit e = { .key = "nonce" };
		struct attest_doc d;
		uint8_t *doc;
		size_t n = rebuild(BLOCKY, &e, &doc);

		ck_assert_int_eq(attest_decode(doc, n, &d, why, sizeof(why)), 0);
		ck_assert_ptr_null(d.nonce.p);
		ck_assert_uint_eq(d.nonce.n, 0);
		ck_assert_uint_eq(d.user_data.n, ATTEST_FIELD_MAX);
		attest_doc_release(&d);
		free(doc);
	}
	/* an indefinite-length map decodes; trailing bytes after it do not */
	decode_edit((struct edit){ .indefinite = true }, 0, NULL);
	decode_edit((struct edit){ .garbage = true }, -EBADMSG, "1 bytes after the payload's map");
}
END_TEST

/* The walk before libcbor: headers that would make it allocate without bound. */
START_TEST(cbor_bounds)
{
	static const uint8_t huge_array[] = { 0x9b, 0, 0, 0, 0x10, 0, 0, 0, 0 };
	static const uint8_t huge_map[] = { 0xbb, 0, 0, 0, 0x01, 0, 0, 0, 0 };
	static const uint8_t huge_bytes[] = { 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t map_odd[] = { 0xbf, 0x01, 0xff };
	static const uint8_t indef_unclosed[] = { 0x9f, 0x01, 0x02 };
	static const uint8_t stray_break[] = { 0x82, 0x01, 0xff };
	static const uint8_t bad_ai[] = { 0x1c };
	static const uint8_t chunk_wrong[] = { 0x5f, 0x61, 0x61, 0xff };
	static const uint8_t ok[] = { 0xbf, 0x61, 0x61, 0x5f, 0x41, 0x00, 0xff, 0xff };
	static const uint8_t map_short[] = { 0xa2, 0x01, 0x02, 0x03 };
	uint8_t deep[64];
	size_t used;

	ck_assert_int_eq(attest_cbor_check(huge_array, sizeof(huge_array), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(huge_map, sizeof(huge_map), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(huge_bytes, sizeof(huge_bytes), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(map_odd, sizeof(map_odd), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(indef_unclosed, sizeof(indef_unclosed), 16, &used),
			 -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(stray_break, sizeof(stray_break), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(bad_ai, sizeof(bad_ai), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(chunk_wrong, sizeof(chunk_wrong), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(map_short, sizeof(map_short), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(ok, sizeof(ok), 16, &used), 0);
	ck_assert_uint_eq(used, sizeof(ok));
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x00;
	ck_assert_int_eq(attest_cbor_check(deep, sizeof(deep), 16, &used), -EBADMSG);
	ck_assert_int_eq(attest_cbor_check(deep, sizeof(deep), 63, &used), 0);
	ck_assert_int_eq(decode(huge_array, sizeof(huge_array)), -EBADMSG);
	ck_assert_int_eq(decode(deep, sizeof(deep)), -EBADMSG);
	/* the fixtures pass it whole */
	for (size_t i = 0; i < NFX; i++) {
		ck_assert_int_eq(attest_cbor_check(fx[i].p, fx[i].n, 16, &used), 0);
		ck_assert_uint_eq(used, fx[i].n);
	}
}
END_TEST

START_TEST(nonce_policy)
{
	struct attest_policy p = policy_at(BLOCKY, 0, false);
	struct attest_doc d;
	uint8_t nonce[ATTEST_FIELD_MAX];

	ck_assert_int_eq(attest_decode(BLOCKY->p, BLOCKY->n, &d, why, sizeof(why)), 0);
	ck_assert_uint_eq(d.nonce.n, ATTEST_FIELD_MAX);
	memcpy(nonce, d.nonce.p, d.nonce.n);
	attest_doc_release(&d);
	p.nonce = nonce;
	p.nonce_len = sizeof(nonce);
	ck_assert_msg(verify(BLOCKY->p, BLOCKY->n, &p) == 0, "%s", why);
	nonce[500] ^= 1;
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	ck_assert_msg(strstr(why, "nonce"), "%s", why);
	nonce[500] ^= 1;
	p.nonce_len = 32; /* a prefix is not the nonce */
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	/* the evervault document: any nonce policy against its own */
	p = policy_at(&fx[2], 0, true);
	p.nonce = nonce;
	p.nonce_len = 16;
	ck_assert_int_eq(verify(fx[2].p, fx[2].n, &p), -EKEYREJECTED);
	ck_assert_msg(strstr(why, "nonce"), "%s", why);
}
END_TEST

static void pin_of(const struct fx *f, unsigned idx, struct attest_pin *pin)
{
	struct attest_doc d;

	ck_assert_int_eq(attest_decode(f->p, f->n, &d, why, sizeof(why)), 0);
	memset(pin, 0, sizeof(*pin));
	pin->index = idx;
	pin->nvalues = 1;
	memcpy(pin->value[0], d.pcr[idx], ATTEST_PCR_LEN);
	attest_doc_release(&d);
}

START_TEST(pin_policy)
{
	struct attest_policy p = policy_at(BLOCKY, 0, false);
	struct attest_pin pin, other;
	char hex[2 * ATTEST_PCR_LEN + 1];

	pin_of(BLOCKY, 0, &pin);
	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), 0);
	ck_assert_msg(verify(BLOCKY->p, BLOCKY->n, &p) == 0, "%s", why);

	/* unequal: refused, naming the index, the value and what was accepted */
	other = pin;
	other.value[0][0] ^= 0x80;
	p.npins = 0;
	ck_assert_int_eq(attest_policy_add_pin(&p, &other, why, sizeof(why)), 0);
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	for (int i = 0; i < ATTEST_PCR_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", pin.value[0][i]);
	ck_assert_msg(!strncmp(why, "PCR0 is ", 8) && strstr(why, hex) && strstr(why, "expected"),
		      "%s", why);
	for (int i = 0; i < ATTEST_PCR_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", other.value[0][i]);
	ck_assert_msg(strstr(why, hex), "%s", why);

	/* two accepted values, one matching (merged into one pin) */
	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.npins, 1);
	ck_assert_uint_eq(p.pin[0].nvalues, 2);
	ck_assert_msg(verify(BLOCKY->p, BLOCKY->n, &p) == 0, "%s", why);

	/* a second index: PCR1 matching, then PCR1 not */
	pin_of(BLOCKY, 1, &other);
	ck_assert_int_eq(attest_policy_add_pin(&p, &other, why, sizeof(why)), 0);
	ck_assert_msg(verify(BLOCKY->p, BLOCKY->n, &p) == 0, "%s", why);
	p.pin[1].value[0][47] ^= 1;
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	ck_assert_msg(!strncmp(why, "PCR1 is ", 8), "%s", why);

	/* an index the document does not have (16 PCRs) */
	p.npins = 0;
	other.index = 20;
	ck_assert_int_eq(attest_policy_add_pin(&p, &other, why, sizeof(why)), 0);
	ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), -EKEYREJECTED);
	ck_assert_str_eq(why, "PCR20 is not in the document");

	/* the pins are checked after debug: a debug document is refused for that */
	p = policy_at(&fx[1], 0, false);
	pin_of(&fx[1], 0, &pin);
	pin.value[0][0] = 1;
	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), 0);
	ck_assert_int_eq(verify(fx[1].p, fx[1].n, &p), -EKEYREJECTED);
	ck_assert_str_eq(why, "debug document (PCR0-2 are zero)");
}
END_TEST

START_TEST(pin_limits)
{
	struct attest_policy p = { 0 };
	struct attest_pin pin = { .index = 0, .nvalues = ATTEST_PIN_VALUES_MAX };

	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), 0);
	pin.nvalues = 1;
	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), -EINVAL);
	ck_assert_uint_eq(p.pin[0].nvalues, ATTEST_PIN_VALUES_MAX);
	for (unsigned i = 1; i < ATTEST_PINS_MAX; i++) {
		pin.index = i;
		ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), 0);
	}
	pin.index = ATTEST_PINS_MAX;
	ck_assert_int_eq(attest_policy_add_pin(&p, &pin, why, sizeof(why)), -EINVAL);
	ck_assert_uint_eq(p.npins, ATTEST_PINS_MAX);
}
END_TEST

START_TEST(parse_pin_inputs)
{
	char h[2 * ATTEST_PCR_LEN + 1], s[2048];
	struct attest_pin pin;
	static const char *const bad_fmt[] = {
		"",          "=",          "0",         "0=",       "-1=%s",       " 0=%s",
		"32=%s",     "99999999999999999999=%s", "0x0=%s",   "0=%s,",       "0=%s,,%s",
		"0=%s ",     "0=%.95s",    "0=%sa",     "0=%sab",   "0=%s;%s",     "0:%s",
		"a=%s",      "0=%.94szz",  "0==%s",     "0=%s,%s,%s,%s,%s,%s,%s,%s,%s",
	};

	for (int i = 0; i < ATTEST_PCR_LEN; i++)
		snprintf(h + 2 * i, 3, "%02x", (unsigned)(i * 7 + 1) & 0xff);
	for (size_t i = 0; i < sizeof(bad_fmt) / sizeof(bad_fmt[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(s, sizeof(s), bad_fmt[i], h, h, h, h, h, h, h, h, h);
#pragma GCC diagnostic pop
		why[0] = 0;
		ck_assert_msg(attest_parse_pin(s, &pin, why, sizeof(why)) == -EINVAL, "'%s' parsed", s);
		ck_assert_msg(why[0], "'%s': no reason", s);
	}
	snprintf(s, sizeof(s), "31=%s", h);
	ck_assert_int_eq(attest_parse_pin(s, &pin, why, sizeof(why)), 0);
	ck_assert_uint_eq(pin.index, 31);
	ck_assert_uint_eq(pin.nvalues, 1);
	ck_assert_uint_eq(pin.value[0][1], 8);
	/* upper case, eight values */
	for (char *c = h; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	snprintf(s, sizeof(s), "0=%s,%s,%s,%s,%s,%s,%s,%s", h, h, h, h, h, h, h, h);
	ck_assert_int_eq(attest_parse_pin(s, &pin, why, sizeof(why)), 0);
	ck_assert_uint_eq(pin.nvalues, ATTEST_PIN_VALUES_MAX);
	ck_assert_uint_eq(pin.value[7][47], (47 * 7 + 1) & 0xff);
}
END_TEST

START_TEST(aws_root)
{
	static const char want[] = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], path[4096];
	const char *top = getenv("top_srcdir");
	uint8_t *der = NULL;
	size_t n = 0;

	SHA256(attest_aws_root_der, attest_aws_root_der_len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ck_assert_str_eq(hex, want);
	/* the PEM beside the fixtures is the same certificate */
	snprintf(path, sizeof(path), "%s/tests/fixtures/nitro/aws-nitro-root-g1.pem",
		 top ? top : ".");
	ck_assert_msg(attest_read_root(path, &der, &n, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(n, attest_aws_root_der_len);
	ck_assert(!memcmp(der, attest_aws_root_der, n));
	OPENSSL_free(der);
	/* the same root given explicitly verifies */
	{
		struct attest_policy p = policy_at(BLOCKY, 0, false);

		p.root_der = attest_aws_root_der;
		p.root_der_len = attest_aws_root_der_len;
		ck_assert_int_eq(verify(BLOCKY->p, BLOCKY->n, &p), 0);
	}
	ck_assert_int_eq(attest_read_root("/nonexistent/root.pem", &der, &n, why, sizeof(why)),
			 -ENOENT);
	snprintf(path, sizeof(path), "%s/tests/fixtures/nitro/README.md", top ? top : ".");
	ck_assert_int_eq(attest_read_root(path, &der, &n, why, sizeof(why)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("attest");
	TCase *tc = tcase_create("attest");
	SRunner *sr;
	int failed;

	load_fixtures();
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fixtures_verify_at_their_time);
	tcase_add_test(tc, fixtures_expire_after_three_hours);
	tcase_add_test(tc, debug_refused_unless_allowed);
	tcase_add_test(tc, flipped_bytes_refused);
	tcase_add_test(tc, another_root_refused);
	tcase_add_test(tc, qemu_unsigned_refused);
	tcase_add_test(tc, envelope_variants);
	tcase_add_test(tc, truncated_refused);
	tcase_add_test(tc, oversized_and_trailing_refused);
	tcase_add_test(tc, payload_wrong_types);
	tcase_add_test(tc, payload_pcrs_and_keys);
	tcase_add_test(tc, cbor_bounds);
	tcase_add_test(tc, nonce_policy);
	tcase_add_test(tc, pin_policy);
	tcase_add_test(tc, pin_limits);
	tcase_add_test(tc, parse_pin_inputs);
	tcase_add_test(tc, aws_root);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (size_t i = 0; i < NFX; i++)
		free(fx[i].p);
	return failed ? 1 : 0;
}
