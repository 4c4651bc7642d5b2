/* Attestation documents (attest.h): a bounded decoder on libcbor, then the
 * signature, the chain, and the policy, each refusal with its reason.
 *
 * Everything the decoder keeps is copied into one buffer twice the
 * document's size (the payload, and the fields, which lie inside it), so a
 * document costs a bounded multiple of its size. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "attest.h"
#include "cbor-util.h"
#include "util.h"

/* The only protected header accepted: {1: -35} (alg ES384). */
static const uint8_t es384_protected[] = { 0xa1, 0x01, 0x38, 0x22 };
#define SIG_LEN 96
#define COSE_SIGN1_TAG 18
#define COSE_SIGN1_TAG_BYTE 0xd2 /* tag 18 in its one-byte form */
/* How deep containers may nest: the envelope and the payload need 3; the
 * rest leaves room for an unprotected header's contents. */
#define CBOR_DEPTH 16

struct store {
	uint8_t *buf;
	size_t used, cap;
	const uint8_t *payload;
	size_t payload_n;
	uint8_t sig[SIG_LEN];
};

static const uint8_t *keep(struct store *s, const void *p, size_t n)
{
	uint8_t *d;

	if (n > s->cap - s->used)
		return NULL;
	d = s->buf + s->used;
	memcpy(d, p, n);
	s->used += n;
	return d;
}

/* A definite byte string of at most max bytes, copied into the store. */
static int get_bytes(struct store *s, const cbor_item_t *it, size_t max, bool nonempty,
		     struct attest_bytes *out)
{
	size_t n;

	if (!cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return -EBADMSG;
	n = cbor_bytestring_length(it);
	if (n > max || (nonempty && n == 0))
		return -EMSGSIZE;
	out->p = keep(s, n ? cbor_bytestring_handle(it) : (const uint8_t *)"", n);
	out->n = n;
	return out->p ? 0 : -EMSGSIZE;
}

static int get_text(const cbor_item_t *it, char *out, size_t outsz)
{
	size_t n;

	if (!cbor_isa_string(it) || !cbor_string_is_definite(it))
		return -EBADMSG;
	n = cbor_string_length(it);
	if (n >= outsz || memchr(cbor_string_handle(it), 0, n))
		return -EMSGSIZE;
	memcpy(out, cbor_string_handle(it), n);
	out[n] = 0;
	return 0;
}

static bool get_uint(const cbor_item_t *it, uint64_t *v)
{
	if (!cbor_isa_uint(it))
		return false;
	*v = cbor_get_int(it);
	return true;
}

static int decode_pcrs(struct attest_doc *d, const cbor_item_t *m, char *why, size_t whysz)
{
	size_t n = cbor_isa_map(m) ? cbor_map_size(m) : 0;
	struct cbor_pair *p = cbor_isa_map(m) ? cbor_map_handle(m) : NULL;
	uint32_t seen = 0;

	if (!p)
		return err_set(why, whysz, -EBADMSG, "pcrs is not a map");
	if (n != 16 && n != 32)
		return err_set(why, whysz, -EBADMSG, "pcrs has %zu entries (16 or 32)", n);
	for (size_t i = 0; i < n; i++) {
		uint64_t k;

		if (!get_uint(p[i].key, &k) || k >= n)
			return err_set(why, whysz, -EBADMSG, "pcrs: a key is not an index below %zu", n);
		if (seen & (1u << k))
			return err_set(why, whysz, -EBADMSG, "pcrs: PCR%u twice", (unsigned)k);
		seen |= 1u << k;
		if (!cbor_isa_bytestring(p[i].value) || !cbor_bytestring_is_definite(p[i].value) ||
		    cbor_bytestring_length(p[i].value) != ATTEST_PCR_LEN)
			return err_set(why, whysz, -EBADMSG, "pcrs: PCR%u is not %d bytes", (unsigned)k,
				    ATTEST_PCR_LEN);
		memcpy(d->pcr[k], cbor_bytestring_handle(p[i].value), ATTEST_PCR_LEN);
	}
	d->npcrs = (unsigned)n;
	return 0;
}

enum field {
	F_MODULE_ID,
	F_DIGEST,
	F_TIMESTAMP,
	F_PCRS,
	F_CERTIFICATE,
	F_CABUNDLE,
	F_PUBLIC_KEY,
	F_USER_DATA,
	F_NONCE,
	F_COUNT
};
static const char *const field_names[F_COUNT] = { "module_id",   "digest",   "timestamp",
						  "pcrs",        "certificate", "cabundle",
						  "public_key",  "user_data", "nonce" };
#define F_REQUIRED ((1u << F_PUBLIC_KEY) - 1)

static int decode_optional(struct store *s, const cbor_item_t *v, struct attest_bytes *out,
			   const char *name, char *why, size_t whysz)
{
	if (cbor_is_null(v)) {
		*out = (struct attest_bytes){ 0 };
		return 0;
	}
	if (get_bytes(s, v, ATTEST_FIELD_MAX, false, out) < 0)
		return err_set(why, whysz, -EBADMSG, "%s is not a byte string of at most %d bytes or null",
			    name, ATTEST_FIELD_MAX);
	return 0;
}

static int decode_field(struct attest_doc *d, struct store *s, enum field f, const cbor_item_t *v,
			char *why, size_t whysz)
{
	switch (f) {
	case F_MODULE_ID:
		if (get_text(v, d->module_id, sizeof(d->module_id)) < 0)
			return err_set(why, whysz, -EBADMSG, "module_id is not a text of at most %d bytes",
				    ATTEST_MODULE_ID_MAX);
		return 0;
	case F_DIGEST:
		if (get_text(v, d->digest, sizeof(d->digest)) < 0)
			return err_set(why, whysz, -EBADMSG, "digest is not a short text");
		return 0;
	case F_TIMESTAMP:
		if (!get_uint(v, &d->timestamp_ms))
			return err_set(why, whysz, -EBADMSG, "timestamp is not an unsigned integer");
		return 0;
	case F_PCRS:
		return decode_pcrs(d, v, why, whysz);
	case F_CERTIFICATE:
		if (get_bytes(s, v, ATTEST_CERT_MAX, true, &d->certificate) < 0)
			return err_set(why, whysz, -EBADMSG,
				    "certificate is not a byte string of 1 to %d bytes", ATTEST_CERT_MAX);
		return 0;
	case F_CABUNDLE: {
		size_t n = cbor_isa_array(v) ? cbor_array_size(v) : 0;
		cbor_item_t **a = cbor_isa_array(v) ? cbor_array_handle(v) : NULL;

		if (!a || n == 0 || n > ATTEST_CABUNDLE_MAX)
			return err_set(why, whysz, -EBADMSG, "cabundle is not an array of 1 to %d certificates",
				    ATTEST_CABUNDLE_MAX);
		for (size_t i = 0; i < n; i++)
			if (get_bytes(s, a[i], ATTEST_CERT_MAX, true, &d->cabundle[i]) < 0)
				return err_set(why, whysz, -EBADMSG,
					    "cabundle[%zu] is not a byte string of 1 to %d bytes", i,
					    ATTEST_CERT_MAX);
		d->ncabundle = n;
		return 0;
	}
	case F_PUBLIC_KEY:
		return decode_optional(s, v, &d->public_key, "public_key", why, whysz);
	case F_USER_DATA:
		return decode_optional(s, v, &d->user_data, "user_data", why, whysz);
	case F_NONCE:
		return decode_optional(s, v, &d->nonce, "nonce", why, whysz);
	default:
		return -EBADMSG;
	}
}

static int decode_payload(struct attest_doc *d, struct store *s, char *why, size_t whysz)
{
	struct cbor_load_result lr;
	cbor_item_t *m = NULL;
	struct cbor_pair *p;
	unsigned seen = 0;
	size_t n, used = 0;
	int r = 0;

	if (attest_cbor_check(s->payload, s->payload_n, CBOR_DEPTH, &used) < 0)
		return err_set(why, whysz, -EBADMSG, "the payload is not well-formed, bounded CBOR");
	if (used != s->payload_n)
		return err_set(why, whysz, -EBADMSG, "%zu bytes after the payload's map",
			    s->payload_n - used);
	m = cbor_load(s->payload, s->payload_n, &lr);
	if (!m || lr.error.code != CBOR_ERR_NONE || lr.read != s->payload_n) {
		r = err_set(why, whysz, -EBADMSG, "the payload is not CBOR");
		goto out;
	}
	if (!cbor_isa_map(m)) {
		r = err_set(why, whysz, -EBADMSG, "the payload is not a map");
		goto out;
	}
	n = cbor_map_size(m);
	p = cbor_map_handle(m);
	for (size_t i = 0; i < n && r == 0; i++) {
		enum field f;

		for (f = 0; f < F_COUNT && !attest_cbor_text_is(p[i].key, field_names[f]); f++)
			;
		if (f == F_COUNT) {
			r = err_set(why, whysz, -EBADMSG, "the payload has an unknown key");
			break;
		}
		if (seen & (1u << f)) {
			r = err_set(why, whysz, -EBADMSG, "the payload has %s twice", field_names[f]);
			break;
		}
		seen |= 1u << f;
		r = decode_field(d, s, f, p[i].value, why, whysz);
	}
	for (enum field f = 0; r == 0 && f < F_COUNT; f++)
		if ((F_REQUIRED & (1u << f)) && !(seen & (1u << f)))
			r = err_set(why, whysz, -EBADMSG, "the payload has no %s", field_names[f]);
	if (r == 0)
		d->debug = !CRYPTO_memcmp(d->pcr[0], (uint8_t[ATTEST_PCR_LEN]){ 0 }, ATTEST_PCR_LEN) &&
			   !CRYPTO_memcmp(d->pcr[1], (uint8_t[ATTEST_PCR_LEN]){ 0 }, ATTEST_PCR_LEN) &&
			   !CRYPTO_memcmp(d->pcr[2], (uint8_t[ATTEST_PCR_LEN]){ 0 }, ATTEST_PCR_LEN);
out:
	if (m)
		cbor_decref(&m);
	return r;
}

/* The COSE_Sign1 envelope: [protected, unprotected, payload, signature]. */
static int decode_cose(struct store *s, const cbor_item_t *top, char *why, size_t whysz)
{
	cbor_item_t *inner = NULL, **a;
	const cbor_item_t *c = top;
	int r = 0;

	if (cbor_isa_tag(top)) {
		if (cbor_tag_value(top) != COSE_SIGN1_TAG)
			return err_set(why, whysz, -EBADMSG, "tag %llu is not COSE_Sign1 (18)",
				    (unsigned long long)cbor_tag_value(top));
		c = inner = cbor_tag_item(top);
	}
	if (!cbor_isa_array(c) || cbor_array_size(c) != 4) {
		r = err_set(why, whysz, -EBADMSG, "not a COSE_Sign1 array of 4");
		goto out;
	}
	a = cbor_array_handle(c);
	if (!cbor_isa_bytestring(a[0]) || !cbor_bytestring_is_definite(a[0]) ||
	    cbor_bytestring_length(a[0]) != sizeof(es384_protected) ||
	    memcmp(cbor_bytestring_handle(a[0]), es384_protected, sizeof(es384_protected)) != 0) {
		r = err_set(why, whysz, -EBADMSG, "the protected header is not {1: -35} (ES384)");
		goto out;
	}
	if (!cbor_isa_map(a[1])) {
		r = err_set(why, whysz, -EBADMSG, "the unprotected header is not a map");
		goto out;
	}
	if (!cbor_isa_bytestring(a[2]) || !cbor_bytestring_is_definite(a[2])) {
		r = err_set(why, whysz, -EBADMSG, "the payload is not a byte string");
		goto out;
	}
	s->payload_n = cbor_bytestring_length(a[2]);
	s->payload = keep(s, cbor_bytestring_handle(a[2]), s->payload_n);
	if (!s->payload) {
		r = err_set(why, whysz, -EBADMSG, "the payload is too large");
		goto out;
	}
	if (!cbor_isa_bytestring(a[3]) || !cbor_bytestring_is_definite(a[3]) ||
	    cbor_bytestring_length(a[3]) != SIG_LEN) {
		r = err_set(why, whysz, -EBADMSG, "the signature is not %d bytes (raw P-384 r||s)",
			 SIG_LEN);
		goto out;
	}
	memcpy(s->sig, cbor_bytestring_handle(a[3]), SIG_LEN);
out:
	if (inner)
		cbor_decref(&inner);
	return r;
}

static int load_cose(struct store *s, const uint8_t *p, size_t n, char *why, size_t whysz)
{
	struct cbor_load_result lr;
	cbor_item_t *top = cbor_load(p, n, &lr);
	int r;

	if (!top || lr.error.code != CBOR_ERR_NONE || lr.read != n)
		r = err_set(why, whysz, -EBADMSG, "the document is not CBOR");
	else
		r = decode_cose(s, top, why, whysz);
	if (top)
		cbor_decref(&top);
	return r;
}

void attest_doc_release(struct attest_doc *d)
{
	struct store *s = d->storage;

	if (s) {
		free(s->buf);
		free(s);
	}
	memset(d, 0, sizeof(*d));
}

int attest_decode(const uint8_t *doc, size_t n, struct attest_doc *out, char *why, size_t whysz)
{
	struct store *s;
	size_t used = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n > ATTEST_DOC_MAX)
		return err_set(why, whysz, -EBADMSG, "the document is %zu bytes (1 to %d)", n,
			    ATTEST_DOC_MAX);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->buf = malloc(2 * n))) {
		free(s);
		return err_set(why, whysz, -ENOMEM, "out of memory");
	}
	s->cap = 2 * n;
	out->storage = s;
	if (attest_cbor_check(doc, n, CBOR_DEPTH, &used) < 0)
		r = err_set(why, whysz, -EBADMSG, "the document is not well-formed, bounded CBOR");
	else if (used != n)
		r = err_set(why, whysz, -EBADMSG, "%zu bytes after the document", n - used);
	else if (doc[0] == COSE_SIGN1_TAG_BYTE)
		/* libcbor 0.8 refuses the one-byte form of tags 6 to 20, tag 18
		 * among them: the tag is taken off here. */
		r = load_cose(s, doc + 1, n - 1, why, whysz);
	else
		r = load_cose(s, doc, n, why, whysz);
	if (r == 0)
		r = decode_payload(out, s, why, whysz);
	if (r < 0)
		attest_doc_release(out);
	return r;
}

/* --- verification ---------------------------------------------------------------------- */

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static X509 *der_cert(const struct attest_bytes *b)
{
	const unsigned char *q = b->p;
	X509 *x = d2i_X509(NULL, &q, (long)b->n);

	if (x && q != b->p + b->n) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* ES384 over Sig_structure = ["Signature1", protected, h'', payload]. */
static int check_signature(const struct store *s, X509 *leaf, char *why, size_t whysz)
{
	static const uint8_t head[] = { 0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1',
					0x44, 0xa1, 0x01, 0x38, 0x22, 0x40 };
	EVP_PKEY *k = X509_get0_pubkey(leaf);
	char group[32] = "";
	uint8_t *tbs = NULL, *der = NULL;
	size_t hn = 0, n;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *ctx = NULL;
	BIGNUM *r = NULL, *sv = NULL;
	int dern, ok = 0;

	if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) || strcmp(group, "secp384r1") != 0)
		return err_set(why, whysz, -EKEYREJECTED, "the signing certificate's key is not P-384");
	n = sizeof(head) + 9 + s->payload_n;
	tbs = malloc(n);
	if (!tbs)
		return err_set(why, whysz, -ENOMEM, "out of memory");
	memcpy(tbs, head, sizeof(head));
	hn = sizeof(head);
	/* The payload's byte string header, shortest form. */
	if (s->payload_n < 24) {
		tbs[hn++] = (uint8_t)(0x40 | s->payload_n);
	} else if (s->payload_n < 0x100) {
		tbs[hn++] = 0x58;
		tbs[hn++] = (uint8_t)s->payload_n;
	} else if (s->payload_n < 0x10000) {
		tbs[hn++] = 0x59;
		tbs[hn++] = (uint8_t)(s->payload_n >> 8);
		tbs[hn++] = (uint8_t)s->payload_n;
	} else {
		tbs[hn++] = 0x5a;
		for (int i = 3; i >= 0; i--)
			tbs[hn++] = (uint8_t)(s->payload_n >> (8 * i));
	}
	memcpy(tbs + hn, s->payload, s->payload_n);
	hn += s->payload_n;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(s->sig, SIG_LEN / 2, NULL);
	sv = BN_bin2bn(s->sig + SIG_LEN / 2, SIG_LEN / 2, NULL);
	if (sig && r && sv && ECDSA_SIG_set0(sig, r, sv)) {
		r = sv = NULL;
		dern = i2d_ECDSA_SIG(sig, &der);
		ctx = EVP_MD_CTX_new();
		ok = dern > 0 && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, k) == 1 &&
		     EVP_DigestVerify(ctx, der, (size_t)dern, tbs, hn) == 1;
	}
	BN_free(r);
	BN_free(sv);
	ECDSA_SIG_free(sig);
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	free(tbs);
	return ok ? 0 : err_set(why, whysz, -EKEYREJECTED, "the signature does not verify");
}

static void subject(X509 *x, char *out, size_t outsz)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	out[0] = 0;
	if (!b)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		snprintf(out, outsz, "%.*s", (int)(n < (long)outsz ? n : (long)outsz - 1), p);
	}
	BIO_free(b);
}

/* leaf <- cabundle[n-1] .. [1] <- the pinned root, at the policy's time. */
static int check_chain(struct attest_doc *d, X509 *leaf, const struct attest_policy *p, char *why,
		       size_t whysz)
{
	const uint8_t *rd = p->root_der ? p->root_der : attest_aws_root_der;
	size_t rn = p->root_der ? p->root_der_len : attest_aws_root_der_len;
	const unsigned char *q = rd;
	X509 *root = d2i_X509(NULL, &q, (long)rn);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int r = -ENOMEM;

	if (!root || !st || !ctx || !untrusted || !X509_STORE_add_cert(st, root)) {
		r = err_set(why, whysz, root ? -ENOMEM : -EINVAL, "%s",
			    root ? "out of memory" : "the trusted root is not a certificate");
		goto out;
	}
	for (size_t i = 1; i < d->ncabundle; i++) {
		X509 *x = der_cert(&d->cabundle[i]);

		if (!x || !sk_X509_push(untrusted, x)) {
			X509_free(x);
			r = err_set(why, whysz, -EKEYREJECTED, "cabundle[%zu] is not a certificate", i);
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, st, leaf, untrusted))
		goto out;
	/* At the policy's time (this sets X509_V_FLAG_USE_CHECK_TIME); the
	 * chain must end at the pinned root, and there are no CRLs. */
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)(p->at_ms / 1000));
	X509_VERIFY_PARAM_clear_flags(X509_STORE_CTX_get0_param(ctx),
				      X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_CRL_CHECK |
					      X509_V_FLAG_CRL_CHECK_ALL);
	if (X509_verify_cert(ctx) != 1) {
		int e = X509_STORE_CTX_get_error(ctx);

		r = err_set(why, whysz, -EKEYREJECTED, "certificate chain: %s (depth %d)",
			 X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
		goto out;
	}
	{
		STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
		int n = sk_X509_num(chain);

		d->nsubject = 0;
		for (int i = 0; i < n && d->nsubject < ATTEST_CABUNDLE_MAX + 2; i++)
			subject(sk_X509_value(chain, i), d->subject[d->nsubject++], ATTEST_SUBJECT_MAX);
	}
	r = 0;
out:
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(root);
	return r;
}

static int check_pins(const struct attest_doc *d, const struct attest_policy *p, char *why,
		      size_t whysz)
{
	for (size_t i = 0; i < p->npins; i++) {
		const struct attest_pin *pin = &p->pin[i];
		char got[2 * ATTEST_PCR_LEN + 1], want[2 * ATTEST_PCR_LEN + 1];
		size_t off;
		bool ok = false;

		if (pin->index >= d->npcrs)
			return err_set(why, whysz, -EKEYREJECTED, "PCR%u is not in the document",
				    pin->index);
		for (size_t j = 0; j < pin->nvalues; j++)
			ok |= !CRYPTO_memcmp(d->pcr[pin->index], pin->value[j], ATTEST_PCR_LEN);
		if (ok)
			continue;
		hex(d->pcr[pin->index], ATTEST_PCR_LEN, got);
		off = (size_t)snprintf(why, whysz, "PCR%u is %s, expected", pin->index, got);
		for (size_t j = 0; j < pin->nvalues && off < whysz; j++) {
			hex(pin->value[j], ATTEST_PCR_LEN, want);
			off += (size_t)snprintf(why + off, whysz - off, "%s %s", j ? " or" : "", want);
		}
		return -EKEYREJECTED;
	}
	return 0;
}

int attest_verify(const uint8_t *doc, size_t n, const struct attest_policy *p,
		  struct attest_doc *out, char *why, size_t whysz)
{
	X509 *leaf = NULL;
	int r = attest_decode(doc, n, out, why, whysz);

	if (r < 0)
		return r;
	leaf = der_cert(&out->certificate);
	if (!leaf)
		r = err_set(why, whysz, -EKEYREJECTED, "the signing certificate is not a certificate");
	if (r == 0)
		r = check_signature(out->storage, leaf, why, whysz);
	if (r == 0)
		r = check_chain(out, leaf, p, why, whysz);
	if (r == 0 && strcmp(out->digest, "SHA384") != 0)
		r = err_set(why, whysz, -EKEYREJECTED, "digest %s is not SHA384", out->digest);
	if (r == 0 && out->debug && !p->allow_debug)
		r = err_set(why, whysz, -EKEYREJECTED, "debug document (PCR0-2 are zero)");
	if (r == 0 && p->nonce &&
	    (!out->nonce.p || out->nonce.n != p->nonce_len ||
	     CRYPTO_memcmp(out->nonce.p, p->nonce, p->nonce_len)))
		r = err_set(why, whysz, -EKEYREJECTED,
			 "nonce: the document is not for this connection (replayed?)");
	if (r == 0)
		r = check_pins(out, p, why, whysz);
	X509_free(leaf);
	if (r < 0 && r != -EKEYREJECTED)
		attest_doc_release(out);
	return r;
}

/* --- policy helpers -------------------------------------------------------------------- */

int attest_read_root(const char *path, uint8_t **der, size_t *n, char *why, size_t whysz)
{
	FILE *f = fopen(path, "re");
	X509 *x;
	int len;

	if (!f)
		return err_set(why, whysz, -errno, "%s: %s", path, strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return err_set(why, whysz, -EINVAL, "%s: not a PEM certificate", path);
	*der = NULL;
	len = i2d_X509(x, der);
	X509_free(x);
	if (len <= 0)
		return err_set(why, whysz, -EINVAL, "%s: not a certificate", path);
	*n = (size_t)len;
	return 0;
}

int attest_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int attest_parse_pin(const char *s, struct attest_pin *pin, char *why, size_t whysz)
{
	const char *q = s;
	unsigned idx = 0;

	memset(pin, 0, sizeof(*pin));
	if (*q < '0' || *q > '9')
		return err_set(why, whysz, -EINVAL, "expected N=HEX[,HEX...] with N a PCR index");
	while (*q >= '0' && *q <= '9') {
		idx = idx * 10 + (unsigned)(*q++ - '0');
		if (idx >= ATTEST_PCRS_MAX)
			return err_set(why, whysz, -EINVAL, "PCR index is not 0 to %d", ATTEST_PCRS_MAX - 1);
	}
	if (*q++ != '=')
		return err_set(why, whysz, -EINVAL, "expected N=HEX[,HEX...] with N a PCR index");
	pin->index = idx;
	for (;;) {
		if (pin->nvalues == ATTEST_PIN_VALUES_MAX)
			return err_set(why, whysz, -EINVAL, "at most %d values per PCR",
				    ATTEST_PIN_VALUES_MAX);
		for (int i = 0; i < ATTEST_PCR_LEN; i++) {
			int hi = attest_hexval(q[0]), lo = hi < 0 ? -1 : attest_hexval(q[1]);

			if (hi < 0 || lo < 0)
				return err_set(why, whysz, -EINVAL,
					    "a PCR value is %d hex digits (SHA-384)", 2 * ATTEST_PCR_LEN);
			pin->value[pin->nvalues][i] = (uint8_t)(hi << 4 | lo);
			q += 2;
		}
		pin->nvalues++;
		if (*q == 0)
			return 0;
		if (*q++ != ',')
			return err_set(why, whysz, -EINVAL,
				    "a PCR value is %d hex digits (SHA-384), values separated by commas",
				    2 * ATTEST_PCR_LEN);
	}
}

int attest_policy_add_pin(struct attest_policy *p, const struct attest_pin *pin, char *why,
			  size_t whysz)
{
	struct attest_pin *to = NULL;

	for (size_t i = 0; i < p->npins; i++)
		if (p->pin[i].index == pin->index)
			to = &p->pin[i];
	if (!to) {
		if (p->npins == ATTEST_PINS_MAX)
			return err_set(why, whysz, -EINVAL, "at most %d pinned PCRs", ATTEST_PINS_MAX);
		to = &p->pin[p->npins++];
		to->index = pin->index;
		to->nvalues = 0;
	}
	if (to->nvalues + pin->nvalues > ATTEST_PIN_VALUES_MAX)
		return err_set(why, whysz, -EINVAL, "at most %d values for PCR%u", ATTEST_PIN_VALUES_MAX,
			    pin->index);
	memcpy(to->value[to->nvalues], pin->value, pin->nvalues * sizeof(pin->value[0]));
	to->nvalues += pin->nvalues;
	return 0;
}
