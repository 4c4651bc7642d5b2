/* CiphertextForRecipient: the BER walk over KMS's EnvelopedData and its
 * decryption with the enclave's RSA key (the contract is in cms.h).
 *
 * A reader (struct ber) is a window on the input. Entering an element gives
 * the child a window on its content: for a definite length exactly that many
 * bytes, taken from the parent at once; for an indefinite length everything
 * the parent has left, and leaving the child consumes its end-of-contents
 * octets and moves the parent past them. So no child ever reads beyond its
 * parent, and every length is compared with what remains before use. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "kms/cms.h"

#define TAG_INTEGER 0x02
#define TAG_OCTETS  0x04
#define TAG_NULL    0x05
#define TAG_OID     0x06
#define TAG_SEQ     0x30
#define TAG_SET     0x31
#define TAG_CONS    0x20
#define CTX(n)      (0x80 | (n))
#define CTXC(n)     (0xa0 | (n))

static const uint8_t OID_ENVELOPED[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const uint8_t OID_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t OID_RSAES_OAEP[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07};
static const uint8_t OID_MGF1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};
static const uint8_t OID_PSPECIFIED[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x09};
static const uint8_t OID_SHA256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t OID_AES256CBC[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a};

#define CMS_MAX_EK 1024 /* RSA-8192 */

struct ber {
	const uint8_t *p;
	size_t n;
	bool indef;
	int depth;
};

static int fail(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why && whysz) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static bool ber_at_end(const struct ber *b)
{
	if (b->indef)
		return b->n >= 2 && b->p[0] == 0 && b->p[1] == 0;
	return b->n == 0;
}

/* Reads one header: tag, then the content window into *c. A definite child
 * is consumed from b at once; an indefinite one is finished by ber_leave.
 * Only low tag numbers and at most four length octets (the input is at most
 * CMS_MAX_INPUT) are accepted. Consumes nothing on failure. */
static int ber_enter(struct ber *b, uint8_t *tag, struct ber *c)
{
	size_t hl = 2, len = 0;
	uint8_t t, l;

	if (ber_at_end(b) || b->n < 2)
		return -EBADMSG;
	t = b->p[0];
	l = b->p[1];
	if ((t & 0x1f) == 0x1f)
		return -EBADMSG;
	if (b->depth + 1 > CMS_MAX_DEPTH)
		return -ELOOP;
	if (l == 0x80) {
		if (!(t & TAG_CONS))
			return -EBADMSG;
		*tag = t;
		*c = (struct ber){b->p + 2, b->n - 2, true, b->depth + 1};
		return 0;
	}
	if (l & 0x80) {
		size_t k = l & 0x7f;

		if (k > 4 || b->n - 2 < k)
			return -EBADMSG;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | b->p[2 + i];
		hl += k;
	} else {
		len = l;
	}
	if (b->n - hl < len)
		return -EBADMSG;
	*tag = t;
	*c = (struct ber){b->p + hl, len, false, b->depth + 1};
	b->p += hl + len;
	b->n -= hl + len;
	return 0;
}

/* Ends child c of b: a definite child must be used up; an indefinite one
 * must stand on its end-of-contents octets, and b moves past them. */
static int ber_leave(struct ber *b, const struct ber *c)
{
	size_t used;

	if (!c->indef)
		return c->n == 0 ? 0 : -EBADMSG;
	if (!ber_at_end(c))
		return -EBADMSG;
	used = (size_t)(c->p + 2 - b->p);
	b->p += used;
	b->n -= used;
	return 0;
}

/* Enters an element that must carry tag want. */
static int ber_expect(struct ber *b, uint8_t want, struct ber *c)
{
	uint8_t tag;
	struct ber save = *b;
	int r = ber_enter(b, &tag, c);

	if (r < 0)
		return r;
	if (tag != want) {
		*b = save;
		return -EBADMSG;
	}
	return 0;
}

/* Skips one element of any shape, its indefinite pieces included. */
static int ber_skip(struct ber *b)
{
	struct ber c;
	uint8_t tag;
	int r = ber_enter(b, &tag, &c);

	if (r < 0)
		return r;
	if (!c.indef)
		return 0;
	while (!ber_at_end(&c)) {
		r = ber_skip(&c);
		if (r < 0)
			return r;
	}
	return ber_leave(b, &c);
}

static bool oid_is(const struct ber *c, const uint8_t *oid, size_t n)
{
	return c->n == n && !memcmp(c->p, oid, n);
}

#define OID_IS(c, o) oid_is((c), (o), sizeof(o))

/* A small non-negative INTEGER (a version). */
static int ber_small_int(struct ber *b, int *v)
{
	struct ber c;
	int r = ber_expect(b, TAG_INTEGER, &c);

	if (r < 0)
		return r;
	if (c.n != 1 || c.p[0] > 0x7f)
		return -EBADMSG;
	*v = c.p[0];
	return 0;
}

/* AlgorithmIdentifier { sha256, NULL or nothing }. */
static int expect_sha256(struct ber *b)
{
	struct ber a, o, nul;
	int r = ber_expect(b, TAG_SEQ, &a);

	if (r < 0)
		return r;
	r = ber_expect(&a, TAG_OID, &o);
	if (r < 0)
		return r;
	if (!OID_IS(&o, OID_SHA256))
		return -EBADMSG;
	if (!ber_at_end(&a)) {
		r = ber_expect(&a, TAG_NULL, &nul);
		if (r < 0 || nul.n != 0)
			return -EBADMSG;
	}
	return ber_leave(b, &a);
}

/* RSAES-OAEP-params (RFC 4055): hash [0] and MGF [1] must both be present
 * (their defaults are SHA-1) and SHA-256; pSource [2], when present, must be
 * pSpecified with the empty label. */
static int oaep_params(struct ber *b, char *why, size_t whysz)
{
	struct ber prm, h, m, ma, mo, ps, pa, po, label;
	int r;

	if (ber_expect(b, TAG_SEQ, &prm) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: OAEP parameters missing (SHA-1)");
	if (ber_expect(&prm, CTXC(0), &h) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: OAEP hash is the SHA-1 default");
	if (expect_sha256(&h) < 0 || ber_leave(&prm, &h) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: OAEP hash is not SHA-256");
	if (ber_expect(&prm, CTXC(1), &m) < 0)
		return fail(why, whysz,
		            "keyEncryptionAlgorithm: OAEP MGF is the MGF1-SHA-1 default");
	r = ber_expect(&m, TAG_SEQ, &ma);
	if (r == 0)
		r = ber_expect(&ma, TAG_OID, &mo);
	if (r < 0 || !OID_IS(&mo, OID_MGF1))
		return fail(why, whysz, "keyEncryptionAlgorithm: OAEP MGF is not MGF1");
	if (expect_sha256(&ma) < 0 || ber_leave(&m, &ma) < 0 || ber_leave(&prm, &m) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: OAEP MGF1 hash is not SHA-256");
	if (!ber_at_end(&prm)) {
		r = ber_expect(&prm, CTXC(2), &ps);
		if (r == 0)
			r = ber_expect(&ps, TAG_SEQ, &pa);
		if (r == 0)
			r = ber_expect(&pa, TAG_OID, &po);
		if (r < 0 || !OID_IS(&po, OID_PSPECIFIED))
			return fail(why, whysz,
			            "keyEncryptionAlgorithm: OAEP pSource is not pSpecified");
		if (ber_expect(&pa, TAG_OCTETS, &label) < 0 || label.n != 0 ||
		    ber_leave(&ps, &pa) < 0 || ber_leave(&prm, &ps) < 0)
			return fail(why, whysz, "keyEncryptionAlgorithm: OAEP label is not empty");
	}
	if (ber_leave(b, &prm) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: unexpected OAEP parameters");
	return 0;
}

/* KeyTransRecipientInfo, the only recipient. */
static int recipient(struct ber *set, struct cms_envelope *e, char *why, size_t whysz)
{
	struct ber ktri, rid, alg, o, ek;
	const uint8_t *rid_start;
	uint8_t tag;
	int v;

	if (ber_expect(set, TAG_SEQ, &ktri) < 0)
		return fail(why, whysz, "recipientInfos: not a KeyTransRecipientInfo");
	if (ber_small_int(&ktri, &v) < 0 || (v != 0 && v != 2))
		return fail(why, whysz, "recipient: version is not 0 or 2");
	rid_start = ktri.p;
	if (ktri.n && ktri.p[0] == CTX(0)) {
		if (ber_enter(&ktri, &tag, &rid) < 0 || rid.n < 1 || rid.n > 64 || v != 2)
			return fail(why, whysz, "recipient: bad subjectKeyIdentifier");
		e->rid = rid.p;
		e->rid_len = rid.n;
		e->rid_is_ski = 1;
	} else if (ktri.n && ktri.p[0] == TAG_SEQ) {
		if (ber_skip(&ktri) < 0 || v != 0)
			return fail(why, whysz, "recipient: bad issuerAndSerialNumber");
		e->rid = rid_start;
		e->rid_len = (size_t)(ktri.p - rid_start);
		e->rid_is_ski = 0;
	} else {
		return fail(why, whysz,
		            "recipient: rid is neither subjectKeyIdentifier nor "
		            "issuerAndSerialNumber");
	}
	if (ber_expect(&ktri, TAG_SEQ, &alg) < 0 || ber_expect(&alg, TAG_OID, &o) < 0)
		return fail(why, whysz, "recipient: keyEncryptionAlgorithm missing");
	if (!OID_IS(&o, OID_RSAES_OAEP))
		return fail(why, whysz, "keyEncryptionAlgorithm: not RSAES-OAEP");
	if (oaep_params(&alg, why, whysz) < 0)
		return -EBADMSG;
	if (ber_leave(&ktri, &alg) < 0)
		return fail(why, whysz, "keyEncryptionAlgorithm: trailing elements");
	if (ber_expect(&ktri, TAG_OCTETS, &ek) < 0 || ek.n == 0 || ek.n > CMS_MAX_EK)
		return fail(why, whysz, "recipient: bad encryptedKey");
	e->ek = ek.p;
	e->ek_len = ek.n;
	if (ber_leave(set, &ktri) < 0)
		return fail(why, whysz, "recipient: trailing elements");
	return 0;
}

/* Appends the pieces of a constructed OCTET STRING (BER) to e->ct, which has
 * room for the whole input. */
static int octet_pieces(struct ber *c, struct cms_envelope *e)
{
	while (!ber_at_end(c)) {
		struct ber piece;
		uint8_t tag;
		int r = ber_enter(c, &tag, &piece);

		if (r < 0)
			return r;
		if (tag == TAG_OCTETS) {
			memcpy(e->ct + e->ct_len, piece.p, piece.n);
			e->ct_len += piece.n;
			continue;
		}
		if (tag != (TAG_OCTETS | TAG_CONS))
			return -EBADMSG;
		r = octet_pieces(&piece, e);
		if (r < 0)
			return r;
		r = ber_leave(c, &piece);
		if (r < 0)
			return r;
	}
	return 0;
}

/* EncryptedContentInfo: id-data, aes-256-cbc with its IV, the content in
 * either [0] form. */
static int content(struct ber *env, struct cms_envelope *e, size_t n, char *why, size_t whysz)
{
	struct ber eci, o, alg, iv, ec;
	uint8_t tag;
	int r;

	if (ber_expect(env, TAG_SEQ, &eci) < 0)
		return fail(why, whysz, "encryptedContentInfo missing");
	if (ber_expect(&eci, TAG_OID, &o) < 0 || !OID_IS(&o, OID_DATA))
		return fail(why, whysz, "encryptedContentInfo: content type is not id-data");
	if (ber_expect(&eci, TAG_SEQ, &alg) < 0 || ber_expect(&alg, TAG_OID, &o) < 0)
		return fail(why, whysz, "encryptedContentInfo: contentEncryptionAlgorithm missing");
	if (!OID_IS(&o, OID_AES256CBC))
		return fail(why, whysz, "contentEncryptionAlgorithm: not aes-256-cbc");
	if (ber_expect(&alg, TAG_OCTETS, &iv) < 0 || iv.n != 16 || ber_leave(&eci, &alg) < 0)
		return fail(why, whysz, "contentEncryptionAlgorithm: IV is not 16 bytes");
	memcpy(e->iv, iv.p, 16);
	e->ct = malloc(n);
	if (!e->ct)
		return -ENOMEM;
	e->ct_len = 0;
	if (ber_enter(&eci, &tag, &ec) < 0)
		return fail(why, whysz, "encryptedContent missing");
	if (tag == CTX(0)) {
		memcpy(e->ct, ec.p, ec.n);
		e->ct_len = ec.n;
	} else if (tag == CTXC(0)) {
		r = octet_pieces(&ec, e);
		if (r == -ELOOP)
			return fail(why, whysz, "encryptedContent: nested deeper than %d",
			            CMS_MAX_DEPTH);
		if (r < 0 || ber_leave(&eci, &ec) < 0)
			return fail(why, whysz, "encryptedContent: bad OCTET STRING pieces");
	} else {
		return fail(why, whysz, "encryptedContent: not [0]");
	}
	if (e->ct_len == 0 || e->ct_len % 16)
		return fail(why, whysz,
		            "encryptedContent: %zu bytes, not a non-zero multiple of 16",
		            e->ct_len);
	if (ber_leave(env, &eci) < 0)
		return fail(why, whysz, "encryptedContentInfo: trailing elements");
	return 0;
}

static int parse(const uint8_t *in, size_t n, struct cms_envelope *e, char *why, size_t whysz)
{
	struct ber top = {in, n, false, 0}, ci, o, x, env, set;
	int v, r;

	if (ber_expect(&top, TAG_SEQ, &ci) < 0)
		return fail(why, whysz, "ContentInfo: not a SEQUENCE");
	if (ber_expect(&ci, TAG_OID, &o) < 0 || !OID_IS(&o, OID_ENVELOPED))
		return fail(why, whysz, "ContentInfo: content type is not envelopedData");
	if (ber_expect(&ci, CTXC(0), &x) < 0 || ber_expect(&x, TAG_SEQ, &env) < 0)
		return fail(why, whysz, "ContentInfo: no EnvelopedData");
	if (ber_small_int(&env, &v) < 0 || (v != 0 && v != 2))
		return fail(why, whysz, "EnvelopedData: version is not 0 or 2");
	if (ber_expect(&env, TAG_SET, &set) < 0)
		return fail(why, whysz,
		            "EnvelopedData: recipientInfos missing (originatorInfo "
		            "is not accepted)");
	r = recipient(&set, e, why, whysz);
	if (r < 0)
		return r;
	if (!ber_at_end(&set))
		return fail(why, whysz, "recipientInfos: more than one recipient");
	if (ber_leave(&env, &set) < 0)
		return fail(why, whysz, "recipientInfos: bad end");
	r = content(&env, e, n, why, whysz);
	if (r < 0)
		return r;
	if (!ber_at_end(&env))
		return fail(why, whysz,
		            "EnvelopedData: unexpected element after "
		            "encryptedContentInfo");
	if (ber_leave(&x, &env) < 0 || ber_leave(&ci, &x) < 0 || !ber_at_end(&ci) ||
	    ber_leave(&top, &ci) < 0)
		return fail(why, whysz, "ContentInfo: bad end");
	if (top.n)
		return fail(why, whysz, "%zu trailing bytes after the ContentInfo", top.n);
	return 0;
}

int cms_parse(const uint8_t *in, size_t n, struct cms_envelope *out, char *why, size_t whysz)
{
	int r;

	if (!in || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (n > CMS_MAX_INPUT)
		return fail(why, whysz, "%zu bytes, more than %d", n, CMS_MAX_INPUT);
	r = parse(in, n, out, why, whysz);
	if (r < 0)
		cms_envelope_release(out);
	return r;
}

void cms_envelope_release(struct cms_envelope *e)
{
	if (!e)
		return;
	free(e->ct);
	memset(e, 0, sizeof(*e));
}

static int rejected(char *why, size_t whysz, const char *what)
{
	ERR_clear_error();
	if (why && whysz)
		snprintf(why, whysz, "rejected: %s", what);
	return -EKEYREJECTED;
}

/* RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label): the 32-byte content key. */
static int unwrap(const struct cms_envelope *e, EVP_PKEY *rsa, uint8_t cek[static 32], char *why,
                  size_t whysz)
{
	EVP_PKEY_CTX *pc;
	uint8_t *buf;
	size_t bufn = (size_t)EVP_PKEY_get_size(rsa), got = bufn;
	int r = 0;

	if (e->ek_len != bufn)
		return rejected(why, whysz, "encryptedKey does not match the RSA key size");
	buf = OPENSSL_malloc(bufn);
	pc = EVP_PKEY_CTX_new(rsa, NULL);
	if (!buf || !pc) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_PKEY_decrypt_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) <= 0) {
		ERR_clear_error();
		r = -EINVAL;
		if (why && whysz)
			snprintf(why, whysz, "RSA-OAEP setup failed");
		goto out;
	}
	if (EVP_PKEY_decrypt(pc, buf, &got, e->ek, e->ek_len) <= 0) {
		r = rejected(why, whysz, "RSA-OAEP: the key was not wrapped for this RSA key");
		goto out;
	}
	if (got != 32) {
		r = rejected(why, whysz, "the content key is not 32 bytes");
		goto out;
	}
	memcpy(cek, buf, 32);
out:
	OPENSSL_clear_free(buf, bufn);
	EVP_PKEY_CTX_free(pc);
	return r;
}

int cms_decrypt(const uint8_t *in, size_t n, EVP_PKEY *rsa, uint8_t *out, size_t outsz,
                size_t *outn, char *why, size_t whysz)
{
	struct cms_envelope e;
	EVP_CIPHER_CTX *cc = NULL;
	uint8_t cek[32], *pt = NULL;
	size_t ptsz = 0;
	int r, l1 = 0, l2 = 0;

	if (!in || !rsa || (!out && outsz) || !outn)
		return -EINVAL;
	*outn = 0;
	if (EVP_PKEY_get_base_id(rsa) != EVP_PKEY_RSA) {
		if (why && whysz)
			snprintf(why, whysz, "not an RSA key");
		r = -EINVAL;
		goto wipe_out;
	}
	r = cms_parse(in, n, &e, why, whysz);
	if (r < 0)
		goto wipe_out;
	r = unwrap(&e, rsa, cek, why, whysz);
	if (r < 0)
		goto done;
	ptsz = e.ct_len + 16;
	pt = OPENSSL_malloc(ptsz);
	cc = EVP_CIPHER_CTX_new();
	if (!pt || !cc) {
		r = -ENOMEM;
		goto done;
	}
	if (e.ct_len > INT32_MAX ||
	    EVP_DecryptInit_ex(cc, EVP_aes_256_cbc(), NULL, cek, e.iv) <= 0 ||
	    EVP_DecryptUpdate(cc, pt, &l1, e.ct, (int)e.ct_len) <= 0 ||
	    EVP_DecryptFinal_ex(cc, pt + l1, &l2) <= 0) {
		r = rejected(why, whysz, "AES-256-CBC: bad padding (wrong key)");
		goto done;
	}
	if ((size_t)l1 + (size_t)l2 > outsz) {
		if (why && whysz)
			snprintf(why, whysz, "plaintext of %d bytes does not fit in %zu", l1 + l2,
			         outsz);
		r = -EMSGSIZE;
		goto done;
	}
	*outn = (size_t)l1 + (size_t)l2;
	if (*outn)
		memcpy(out, pt, *outn);
done:
	OPENSSL_cleanse(cek, sizeof(cek));
	OPENSSL_clear_free(pt, ptsz);
	EVP_CIPHER_CTX_free(cc);
	cms_envelope_release(&e);
wipe_out:
	if (r < 0 && out && outsz)
		OPENSSL_cleanse(out, outsz);
	return r;
}
