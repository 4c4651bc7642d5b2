/* The KMS JSON 1.1 bodies: requests built with jansson, responses decoded as
 * hostile input (see kmsjson.h). Sizes are checked before anything is
 * decoded; a decoded Plaintext only ever lives in the caller's struct or in a
 * local buffer that is cleansed before returning.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kmsjson.h"

#define B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
#define ATTDOC_MAX 65536 /* an attestation document is far smaller */

/* --- strict base64 ----------------------------------------------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int kmsjson_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outn)
{
	size_t o = 0;

	if (!outn || (n && (!s || !out)))
		return -EINVAL;
	*outn = 0;
	if (n % 4)
		return -EBADMSG;
	for (size_t i = 0; i < n; i += 4) {
		bool last = n - i == 4;
		int v[4];
		size_t pad = 0;

		for (size_t k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)s[i + k];

			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* data after padding */
				return -EBADMSG;
			v[k] = b64_val(c);
			if (v[k] < 0)
				return -EBADMSG;
		}
		/* non-canonical: the bits the padding drops must be zero */
		if ((pad == 1 && (v[2] & 0x3)) || (pad == 2 && (v[1] & 0xf)))
			return -EBADMSG;
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];

		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*outn = o;
	return 0;
}

char *kmsjson_b64_encode(const uint8_t *p, size_t n)
{
	char *s, *o;

	if ((n && !p) || n > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	s = malloc(B64_ENCODED_LEN(n) + 1);
	if (!s)
		return NULL;
	o = s;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t w = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) |
			     (left > 2 ? p[i + 2] : 0);

		*o++ = b64_alphabet[w >> 18 & 63];
		*o++ = b64_alphabet[w >> 12 & 63];
		*o++ = left > 1 ? b64_alphabet[w >> 6 & 63] : '=';
		*o++ = left > 2 ? b64_alphabet[w & 63] : '=';
	}
	*o = '\0';
	return s;
}

/* --- requests ------------------------------------------------------------------ */

static bool valid_key_id(const char *k)
{
	size_t n = k ? strnlen(k, KMSJSON_KEYID_MAX + 1) : 0;

	if (n == 0 || n > KMSJSON_KEYID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
			return false;
	return true;
}

/* The encryption context: a JSON object whose values are all strings. */
static int context_load(const char *context_json, json_t **ctx)
{
	json_t *o;
	const char *k;
	json_t *v;

	*ctx = NULL;
	if (!context_json)
		return 0;
	o = json_loads(context_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EINVAL;
	}
	json_object_foreach(o, k, v) {
		if (!json_is_string(v)) {
			json_decref(o);
			return -EINVAL;
		}
	}
	*ctx = o;
	return 0;
}

static int set_b64(json_t *o, const char *key, const uint8_t *p, size_t n)
{
	char *s = kmsjson_b64_encode(p, n);
	int r;

	if (!s)
		return -ENOMEM;
	r = json_object_set_new(o, key, json_string(s)) ? -ENOMEM : 0;
	free(s);
	return r;
}

static int dump(json_t *o, char **body, size_t *n)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (!s)
		return -ENOMEM;
	*body = s;
	if (n)
		*n = strlen(s);
	return 0;
}

int kmsjson_generate_request(const char *key_id, const char *context_json, char **body, size_t *n)
{
	json_t *o = NULL, *ctx = NULL;
	int r;

	if (!body)
		return -EINVAL;
	*body = NULL;
	if (!valid_key_id(key_id))
		return -EINVAL;
	if ((r = context_load(context_json, &ctx)) < 0)
		return r;
	o = json_object();
	r = -ENOMEM;
	if (!o || json_object_set_new(o, "KeyId", json_string(key_id)) ||
	    json_object_set_new(o, "KeySpec", json_string("AES_256")))
		goto out;
	if (ctx && json_object_set(o, "EncryptionContext", ctx))
		goto out;
	r = dump(o, body, n);
out:
	json_decref(ctx);
	json_decref(o);
	return r;
}

int kmsjson_decrypt_request(const uint8_t *blob, size_t blob_len, const char *key_id,
			    const char *context_json, const uint8_t *attdoc, size_t attdoc_len,
			    char **body, size_t *n)
{
	json_t *o = NULL, *ctx = NULL, *rcp = NULL;
	int r;

	if (!body)
		return -EINVAL;
	*body = NULL;
	if (!blob || blob_len == 0 || blob_len > KMSJSON_BLOB_MAX ||
	    (key_id && !valid_key_id(key_id)) ||
	    (attdoc && (attdoc_len == 0 || attdoc_len > ATTDOC_MAX)))
		return -EINVAL;
	if ((r = context_load(context_json, &ctx)) < 0)
		return r;
	o = json_object();
	r = -ENOMEM;
	if (!o || (r = set_b64(o, "CiphertextBlob", blob, blob_len)) < 0)
		goto out;
	r = -ENOMEM;
	if (key_id && json_object_set_new(o, "KeyId", json_string(key_id)))
		goto out;
	if (ctx && json_object_set(o, "EncryptionContext", ctx))
		goto out;
	if (attdoc) {
		rcp = json_object();
		if (!rcp ||
		    json_object_set_new(rcp, "KeyEncryptionAlgorithm",
					json_string("RSAES_OAEP_SHA_256")) ||
		    (r = set_b64(rcp, "AttestationDocument", attdoc, attdoc_len)) < 0)
			goto out;
		r = -ENOMEM;
		if (json_object_set(o, "Recipient", rcp))
			goto out;
	}
	r = dump(o, body, n);
out:
	json_decref(rcp);
	json_decref(ctx);
	json_decref(o);
	return r;
}

/* --- responses ----------------------------------------------------------------- */

static int why_set(char *why, size_t whysz, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int why_set(char *why, size_t whysz, int r, const char *fmt, ...)
{
	va_list ap;

	if (why && whysz) {
		va_start(ap, fmt);
		vsnprintf(why, whysz, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int load_object(const char *body, size_t n, json_t **root, char *why, size_t whysz)
{
	json_error_t e;

	*root = NULL;
	if (!body)
		return why_set(why, whysz, -EBADMSG, "no response body");
	if (n > KMSJSON_BODY_MAX)
		return why_set(why, whysz, -EBADMSG, "response body larger than %d bytes",
			       KMSJSON_BODY_MAX);
	*root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &e);
	if (!*root)
		return why_set(why, whysz, -EBADMSG, "response is not JSON (line %d column %d)",
			       e.line, e.column);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return why_set(why, whysz, -EBADMSG, "response is not a JSON object");
	}
	return 0;
}

/* A base64 field of at most max decoded bytes (at least one): *p malloc'd. */
static int get_b64(json_t *root, const char *key, size_t max, uint8_t **p, size_t *pn, char *why,
		   size_t whysz)
{
	json_t *v = json_object_get(root, key);
	const char *s;
	size_t sn;
	uint8_t *d;
	int r;

	*p = NULL;
	*pn = 0;
	if (!v)
		return why_set(why, whysz, -EBADMSG, "%s missing", key);
	if (!json_is_string(v))
		return why_set(why, whysz, -EBADMSG, "%s is not a string", key);
	s = json_string_value(v);
	sn = json_string_length(v);
	if (sn > B64_ENCODED_LEN(max))
		return why_set(why, whysz, -EBADMSG, "%s too long", key);
	if (sn == 0)
		return why_set(why, whysz, -EBADMSG, "%s empty", key);
	d = malloc(KMSJSON_B64_DECODED_MAX(sn) + 1);
	if (!d)
		return -ENOMEM;
	r = kmsjson_b64_decode(s, sn, d, pn);
	if (r < 0 || *pn > max) {
		OPENSSL_cleanse(d, KMSJSON_B64_DECODED_MAX(sn));
		free(d);
		*pn = 0;
		if (r < 0)
			return why_set(why, whysz, -EBADMSG, "%s is not valid base64", key);
		return why_set(why, whysz, -EBADMSG, "%s too long", key);
	}
	*p = d;
	return 0;
}

static int get_key_id(json_t *root, bool required, char out[static KMSJSON_KEYID_MAX + 1],
		      char *why, size_t whysz)
{
	json_t *v = json_object_get(root, "KeyId");

	out[0] = '\0';
	if (!v)
		return required ? why_set(why, whysz, -EBADMSG, "KeyId missing") : 0;
	if (!json_is_string(v))
		return why_set(why, whysz, -EBADMSG, "KeyId is not a string");
	if (json_string_length(v) != strlen(json_string_value(v)) ||
	    !valid_key_id(json_string_value(v)) ||
	    json_string_length(v) > KMSJSON_KEYID_MAX)
		return why_set(why, whysz, -EBADMSG, "KeyId empty, too long or not printable");
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

void kms_generated_release(struct kms_generated *g)
{
	if (!g)
		return;
	free(g->blob);
	OPENSSL_cleanse(g, sizeof(*g));
}

int kmsjson_parse_generate(const char *body, size_t n, struct kms_generated *out, char *why,
			   size_t whysz)
{
	json_t *root;
	uint8_t *pt = NULL;
	size_t ptn = 0;
	int r;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if ((r = load_object(body, n, &root, why, whysz)) < 0)
		return r;
	if ((r = get_key_id(root, true, out->key_id, why, whysz)) < 0)
		goto out;
	if ((r = get_b64(root, "CiphertextBlob", KMSJSON_BLOB_MAX, &out->blob, &out->blob_len, why,
			 whysz)) < 0)
		goto out;
	if ((r = get_b64(root, "Plaintext", 64, &pt, &ptn, why, whysz)) < 0)
		goto out;
	if (ptn != sizeof(out->plaintext)) {
		r = why_set(why, whysz, -EBADMSG, "Plaintext is %zu bytes, not 32", ptn);
		goto out;
	}
	memcpy(out->plaintext, pt, sizeof(out->plaintext));
out:
	if (pt) {
		OPENSSL_cleanse(pt, ptn);
		free(pt);
	}
	json_decref(root);
	if (r < 0)
		kms_generated_release(out);
	return r;
}

void kms_decrypted_release(struct kms_decrypted *d)
{
	if (!d)
		return;
	free(d->cfr);
	memset(d, 0, sizeof(*d));
}

int kmsjson_parse_decrypt(const char *body, size_t n, struct kms_decrypted *out, char *why,
			  size_t whysz)
{
	json_t *root;
	int r;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if ((r = load_object(body, n, &root, why, whysz)) < 0)
		return r;
	if (json_object_get(root, "Plaintext")) {
		r = why_set(why, whysz, -EBADMSG, "Plaintext present in an answer to a Recipient");
		goto out;
	}
	if ((r = get_key_id(root, false, out->key_id, why, whysz)) < 0)
		goto out;
	r = get_b64(root, "CiphertextForRecipient", KMSJSON_BLOB_MAX, &out->cfr, &out->cfr_len, why,
		    whysz);
out:
	json_decref(root);
	if (r < 0)
		kms_decrypted_release(out);
	return r;
}

/* --- errors -------------------------------------------------------------------- */

static const struct {
	const char *name;
	int err;
} kms_errors[] = {
	{ "AccessDeniedException", -EKEYREJECTED },
	{ "InvalidCiphertextException", -EKEYREJECTED },
	{ "IncorrectKeyException", -EKEYREJECTED },
	{ "DisabledException", -EKEYREVOKED },
	{ "KMSInvalidStateException", -EKEYREVOKED },
	{ "KeyUnavailableException", -EKEYREVOKED },
	{ "NotFoundException", -ENOKEY },
	{ "ExpiredTokenException", -EACCES },
	{ "UnrecognizedClientException", -EACCES },
	{ "InvalidSignatureException", -EACCES },
	{ "IncompleteSignature", -EACCES },
	{ "ThrottlingException", -EAGAIN },
	{ "LimitExceededException", -EAGAIN },
	{ "KMSInternalException", -EAGAIN },
	{ "DependencyTimeoutException", -EAGAIN },
};

/* Copies s[0..n) into out (size outsz), control characters as '?'. */
static void copy_clean(char *out, size_t outsz, const char *s, size_t n)
{
	size_t o = 0;

	if (!out || !outsz)
		return;
	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[o] = '\0';
}

int kmsjson_parse_error(const char *body, size_t n, long http_status, char *type, size_t typesz,
			char *msg, size_t msgsz)
{
	json_t *root = NULL, *t, *m;
	const char *name = NULL;
	size_t namen = 0;

	if (type && typesz)
		type[0] = '\0';
	if (msg && msgsz)
		msg[0] = '\0';
	if (body && n <= KMSJSON_BODY_MAX)
		root = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root)) {
		t = json_object_get(root, "__type");
		if (json_is_string(t)) {
			const char *s = json_string_value(t), *hash;

			namen = json_string_length(t);
			/* "prefix#Name", and some services add ":uri" after the name */
			if ((hash = memchr(s, '#', namen))) {
				const char *last = hash;

				size_t left;

				while ((left = namen - (size_t)(last + 1 - s)) &&
				       (hash = memchr(last + 1, '#', left)))
					last = hash;
				namen -= (size_t)(last + 1 - s);
				s = last + 1;
			}
			const char *colon = memchr(s, ':', namen);

			if (colon)
				namen = (size_t)(colon - s);
			name = s;
			copy_clean(type, typesz, name, namen);
		}
		m = json_object_get(root, "message");
		if (!json_is_string(m))
			m = json_object_get(root, "Message");
		if (json_is_string(m))
			copy_clean(msg, msgsz, json_string_value(m), json_string_length(m));
	}
	int r = 0;

	for (size_t i = 0; name && i < sizeof(kms_errors) / sizeof(kms_errors[0]); i++)
		if (strlen(kms_errors[i].name) == namen && !memcmp(kms_errors[i].name, name, namen))
			r = kms_errors[i].err;
	json_decref(root);
	if (r)
		return r;
	if (http_status >= 500 || http_status == 429)
		return -EAGAIN;
	return -EPROTO;
}
