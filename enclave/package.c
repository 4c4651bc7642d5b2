#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "package.h"
#include "util.h"

#define AAD_LEN (32 + 4 + 1)
#define NONCE_LEN 12
#define JSON_MAX_DEPTH 3 /* header { key { context { */


static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* --- base64 -------------------------------------------------------------------- */

static int b64val(unsigned char c)
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

/* Strict RFC 4648 base64: padded, no whitespace, unused bits zero, so that
 * every byte string has exactly one encoding. */
static int b64_decode(const char *s, size_t slen, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t pad = 0, n;

	if (slen == 0 || slen % 4 != 0)
		return -EINVAL;
	if (s[slen - 1] == '=')
		pad = s[slen - 2] == '=' ? 2 : 1;
	n = slen / 4 * 3 - pad;
	if (n > outcap)
		return -EINVAL;
	for (size_t i = 0, o = 0; i < slen; i += 4) {
		int v[4];
		uint32_t w;

		for (size_t k = 0; k < 4; k++) {
			bool padpos = i + 4 == slen && k >= 4 - pad;
			v[k] = padpos ? 0 : b64val((unsigned char)s[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		if (i + 4 == slen && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))))
			return -EINVAL;
		for (size_t k = 0; k < 3 && o < n; k++)
			out[o++] = (uint8_t)(w >> (16 - 8 * k));
	}
	*outlen = n;
	return 0;
}

static char *b64_encode(const uint8_t *p, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);

	if (s)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* --- header ---------------------------------------------------------------------- */

/* Bounds nesting before jansson (which recurses) sees the text. */
static bool json_depth_ok(const uint8_t *p, size_t n, int max)
{
	bool instr = false, esc = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (instr) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				instr = false;
		} else if (c == '"') {
			instr = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool digits(const char *s, size_t n, int min, int max)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= max;
}

/* "YYYY-MM-DDTHH:MM:SSZ", UTC, nothing else. */
static bool created_ok(const char *s, size_t n)
{
	return n == 20 && digits(s, 4, 0, 9999) && s[4] == '-' && digits(s + 5, 2, 1, 12) &&
	       s[7] == '-' && digits(s + 8, 2, 1, 31) && s[10] == 'T' && digits(s + 11, 2, 0, 23) &&
	       s[13] == ':' && digits(s + 14, 2, 0, 59) && s[16] == ':' &&
	       digits(s + 17, 2, 0, 60) && s[19] == 'Z';
}

/* A JSON string field as pointer and length; NULL if absent or not a string. */
static const char *str_field(json_t *o, const char *name, size_t *n)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v))
		return NULL;
	*n = json_string_length(v);
	return json_string_value(v);
}

static int only_keys(json_t *o, const char *const *names, size_t nnames, const char *what,
		     char *err, size_t errsz)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool known = false;

		for (size_t i = 0; i < nnames && !known; i++)
			known = strcmp(k, names[i]) == 0;
		if (!known)
			return err_set(err, errsz, -EINVAL, "%s: unknown field \"%.64s\"", what, k);
	}
	for (size_t i = 0; i < nnames; i++) {
		if (!json_object_get(o, names[i]))
			return err_set(err, errsz, -EINVAL, "%s: missing field \"%s\"", what,
				    names[i]);
	}
	return 0;
}

static int parse_wrapped(json_t *key, size_t min, size_t max, struct pkg_key *k, char *err,
			 size_t errsz)
{
	const char *s;
	size_t n, len = 0;

	s = str_field(key, "wrapped", &n);
	if (!s)
		return err_set(err, errsz, -EINVAL, "header: key.wrapped must be a string");
	k->wrapped = malloc(n / 4 * 3 + 1);
	if (!k->wrapped)
		return -ENOMEM;
	if (b64_decode(s, n, k->wrapped, max, &len) < 0 || len < min)
		return err_set(err, errsz, -EINVAL,
			    "header: key.wrapped must be base64 of %zu..%zu bytes", min, max);
	k->wrapped_len = len;
	return 0;
}

static int parse_key(json_t *key, struct pkg_key *k, char *err, size_t errsz)
{
	static const char *const kek_fields[] = { "provider", "id", "wrapped" };
	static const char *const kms_fields[] = { "provider", "id", "wrapped", "context" };
	const char *s, *ck;
	json_t *ctx, *cv;
	size_t n;
	int r;

	if (!json_is_object(key))
		return err_set(err, errsz, -EINVAL, "header: \"key\" must be an object");
	s = str_field(key, "provider", &n);
	if (!s)
		return err_set(err, errsz, -EINVAL, "header: key.provider must be a string");
	if (n >= sizeof(k->provider) || (strcmp(s, "kek") != 0 && strcmp(s, "kms") != 0))
		return err_set(err, errsz, -EPROTONOSUPPORT, "header: unknown key provider \"%.32s\"",
			    s);
	memcpy(k->provider, s, n + 1);

	if (strcmp(k->provider, "kek") == 0) {
		r = only_keys(key, kek_fields, ARRAY_SIZE(kek_fields), "header key", err, errsz);
		if (r < 0)
			return r;
		s = str_field(key, "id", &n);
		if (!s || n != KEK_ID_LEN || !is_lower_hex(s, n))
			return err_set(err, errsz, -EINVAL,
				    "header: key.id must be %d lowercase hex digits", KEK_ID_LEN);
		memcpy(k->id, s, n + 1);
		return parse_wrapped(key, KEK_WRAP_LEN(PKG_DEK_LEN), KEK_WRAP_LEN(PKG_DEK_LEN), k,
				     err, errsz);
	}

	r = only_keys(key, kms_fields, ARRAY_SIZE(kms_fields), "header key", err, errsz);
	if (r < 0)
		return r;
	s = str_field(key, "id", &n);
	if (!s || n == 0 || n >= sizeof(k->id))
		return err_set(err, errsz, -EINVAL, "header: key.id must be a string of 1..%zu bytes",
			    sizeof(k->id) - 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return err_set(err, errsz, -EINVAL, "header: key.id must be printable ASCII");
	}
	memcpy(k->id, s, n + 1);
	r = parse_wrapped(key, 1, PKG_WRAPPED_MAX, k, err, errsz);
	if (r < 0)
		return r;
	ctx = json_object_get(key, "context");
	if (!json_is_object(ctx))
		return err_set(err, errsz, -EINVAL, "header: key.context must be an object");
	json_object_foreach(ctx, ck, cv) {
		if (!json_is_string(cv))
			return err_set(err, errsz, -EINVAL,
				    "header: key.context values must be strings");
	}
	k->context_json = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS);
	return k->context_json ? 0 : -ENOMEM;
}

static int parse_fields(json_t *root, struct pkg_header *h, char *err, size_t errsz)
{
	static const char *const fields[] = { "format", "key",	       "aead",	  "segment",
					      "nonce",	"compression", "created" };
	json_t *v;
	const char *s;
	size_t n, len;
	json_int_t seg;
	int r;

	if (!json_is_object(root))
		return err_set(err, errsz, -EINVAL, "header is not a JSON object");
	/* The format first: another version's other fields mean something else. */
	v = json_object_get(root, "format");
	if (!json_is_integer(v))
		return err_set(err, errsz, -EINVAL, "header: \"format\" must be an integer");
	if (json_integer_value(v) != 1)
		return err_set(err, errsz, -EPROTONOSUPPORT, "header: unsupported format %lld",
			    (long long)json_integer_value(v));
	h->format = 1;
	r = only_keys(root, fields, ARRAY_SIZE(fields), "header", err, errsz);
	if (r < 0)
		return r;

	s = str_field(root, "aead", &n);
	if (!s)
		return err_set(err, errsz, -EINVAL, "header: \"aead\" must be a string");
	if (strcmp(s, "AES-256-GCM") != 0 || n != strlen("AES-256-GCM"))
		return err_set(err, errsz, -EPROTONOSUPPORT, "header: unsupported aead \"%.32s\"", s);

	r = parse_key(json_object_get(root, "key"), &h->key, err, errsz);
	if (r < 0)
		return r;

	v = json_object_get(root, "segment");
	seg = json_is_integer(v) ? json_integer_value(v) : 0;
	if (seg < PKG_SEGMENT_MIN || seg > PKG_SEGMENT_MAX || (seg & (seg - 1)) != 0)
		return err_set(err, errsz, -EINVAL,
			    "header: \"segment\" must be a power of two in [%u, %u]",
			    PKG_SEGMENT_MIN, PKG_SEGMENT_MAX);
	h->segment = (uint32_t)seg;

	s = str_field(root, "nonce", &n);
	if (!s || b64_decode(s, n, h->nonce, sizeof(h->nonce), &len) < 0 ||
	    len != sizeof(h->nonce))
		return err_set(err, errsz, -EINVAL, "header: \"nonce\" must be base64 of %zu bytes",
			    sizeof(h->nonce));

	s = str_field(root, "compression", &n);
	if (s && strcmp(s, "none") == 0 && n == 4)
		h->zstd = false;
	else if (s && strcmp(s, "zstd") == 0 && n == 4)
		h->zstd = true;
	else
		return err_set(err, errsz, -EINVAL,
			    "header: \"compression\" must be \"none\" or \"zstd\"");

	s = str_field(root, "created", &n);
	if (!s || !created_ok(s, n))
		return err_set(err, errsz, -EINVAL,
			    "header: \"created\" must be a UTC time YYYY-MM-DDTHH:MM:SSZ");
	memcpy(h->created, s, n + 1);
	return 0;
}

int pkg_header_parse(const uint8_t *buf, size_t len, struct pkg_header *h, char *err,
		     size_t errsz)
{
	const uint8_t *json;
	json_error_t jerr;
	json_t *root;
	uint32_t hlen;
	int r;

	memset(h, 0, sizeof(*h));
	if (len < PKG_MAGIC_LEN || memcmp(buf, PKG_MAGIC, PKG_MAGIC_LEN) != 0)
		return err_set(err, errsz, -ENOEXEC, "not a sealed package");
	if (len < PKG_PREFIX_LEN)
		return err_set(err, errsz, -EINVAL, "truncated header length");
	hlen = get_le32(buf + PKG_MAGIC_LEN);
	if (hlen < 1 || hlen > PKG_HEADER_MAX)
		return err_set(err, errsz, -EINVAL, "header length %u is not in 1..%u", hlen,
			    PKG_HEADER_MAX);
	if (len - PKG_PREFIX_LEN < hlen)
		return err_set(err, errsz, -EINVAL, "truncated header (%zu of %u bytes)",
			    len - PKG_PREFIX_LEN, hlen);
	json = buf + PKG_PREFIX_LEN;
	/* Exactly one object, no surrounding whitespace: a changed length never
	 * yields the same header. */
	if (json[0] != '{' || json[hlen - 1] != '}' || memchr(json, 0, hlen))
		return err_set(err, errsz, -EINVAL, "header is not a JSON object");
	if (!json_depth_ok(json, hlen, JSON_MAX_DEPTH))
		return err_set(err, errsz, -EINVAL, "header nests deeper than %d levels",
			    JSON_MAX_DEPTH);
	root = json_loadb((const char *)json, hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return err_set(err, errsz, -EINVAL, "header JSON: %.80s (byte %d)", jerr.text,
			    jerr.position);
	r = parse_fields(root, h, err, errsz);
	json_decref(root);
	if (r == 0 && EVP_Digest(json, hlen, h->digest, NULL, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	if (r < 0) {
		pkg_header_release(h);
		return r;
	}
	h->header_len = hlen;
	h->body_offset = PKG_PREFIX_LEN + hlen;
	return 0;
}

void pkg_header_release(struct pkg_header *h)
{
	if (!h)
		return;
	free(h->key.wrapped);
	free(h->key.context_json);
	memset(h, 0, sizeof(*h));
}

/* The per-segment nonce and AAD (doc/PACKAGE.md). */
static void segment_iv(const uint8_t prefix[static PKG_NONCE_PREFIX_LEN], const uint8_t digest[32],
		       uint32_t index, bool last, uint8_t nonce[static NONCE_LEN],
		       uint8_t aad[static AAD_LEN])
{
	memcpy(nonce, prefix, PKG_NONCE_PREFIX_LEN);
	put_be32(nonce + PKG_NONCE_PREFIX_LEN, index);
	memcpy(aad, digest, 32);
	put_be32(aad + 32, index);
	aad[36] = last ? 1 : 0;
}

/* --- writer ---------------------------------------------------------------------- */

struct pkg_writer {
	int fd;
	EVP_CIPHER_CTX *ctx;
	uint8_t nonce[PKG_NONCE_PREFIX_LEN];
	uint8_t digest[32];
	uint32_t segment;
	uint8_t *buf; /* segment + tag: pending plaintext, then the sealed segment */
	size_t fill;
	uint64_t index; /* segments written */
	uint64_t bytes_in;
	int error;
};

static int build_header(const struct pkg_key *key, const uint8_t nonce[PKG_NONCE_PREFIX_LEN],
			bool zstd, uint32_t segment, uint8_t **out, size_t *outlen, char *err,
			size_t errsz)
{
	char *wrapped = NULL, *nonce64 = NULL, *text = NULL;
	json_t *root = NULL, *jkey = NULL, *ctx = NULL;
	char created[32];
	struct tm tm;
	time_t now = time(NULL);
	uint8_t *buf = NULL;
	size_t n;
	int r = -ENOMEM;

	if (!gmtime_r(&now, &tm) ||
	    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return err_set(err, errsz, -EINVAL, "cannot format the current time");
	wrapped = b64_encode(key->wrapped, key->wrapped_len);
	nonce64 = b64_encode(nonce, PKG_NONCE_PREFIX_LEN);
	if (!wrapped || !nonce64)
		goto out;
	jkey = json_pack("{s:s, s:s, s:s}", "provider", key->provider, "id", key->id, "wrapped",
			 wrapped);
	if (!jkey)
		goto out;
	if (key->context_json) {
		ctx = json_loads(key->context_json, JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(ctx)) {
			r = err_set(err, errsz, -EINVAL, "key context is not a JSON object");
			goto out;
		}
		if (json_object_set(jkey, "context", ctx) < 0)
			goto out;
	}
	root = json_pack("{s:i, s:O, s:s, s:I, s:s, s:s, s:s}", "format", 1, "key", jkey, "aead",
			 "AES-256-GCM", "segment", (json_int_t)segment, "nonce", nonce64,
			 "compression", zstd ? "zstd" : "none", "created", created);
	if (!root)
		goto out;
	text = json_dumps(root, JSON_COMPACT);
	if (!text)
		goto out;
	n = strlen(text);
	if (n > PKG_HEADER_MAX) {
		r = err_set(err, errsz, -EMSGSIZE, "header of %zu bytes is over %u", n,
			 PKG_HEADER_MAX);
		goto out;
	}
	buf = malloc(PKG_PREFIX_LEN + n);
	if (!buf)
		goto out;
	memcpy(buf, PKG_MAGIC, PKG_MAGIC_LEN);
	put_le32(buf + PKG_MAGIC_LEN, (uint32_t)n);
	memcpy(buf + PKG_PREFIX_LEN, text, n);
	*out = buf;
	*outlen = PKG_PREFIX_LEN + n;
	r = 0;
out:
	json_decref(root);
	json_decref(jkey);
	json_decref(ctx);
	free(text);
	free(wrapped);
	free(nonce64);
	return r;
}

int pkg_writer_new_key(int out_fd, const struct pkg_key *key, const uint8_t dek[static PKG_DEK_LEN],
		       bool zstd, uint32_t segment, struct pkg_writer **out, char *err,
		       size_t errsz)
{
	struct pkg_writer *w;
	struct pkg_header h;
	uint8_t *hdr = NULL;
	size_t hdrlen = 0;
	int r;

	*out = NULL;
	if (segment == 0)
		segment = PKG_SEGMENT_DEFAULT;
	if (segment < PKG_SEGMENT_MIN || segment > PKG_SEGMENT_MAX || (segment & (segment - 1)))
		return err_set(err, errsz, -EINVAL,
			    "segment size %u is not a power of two in [%u, %u]", segment,
			    PKG_SEGMENT_MIN, PKG_SEGMENT_MAX);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = out_fd;
	w->segment = segment;
	if (RAND_bytes(w->nonce, sizeof(w->nonce)) != 1) {
		r = err_set(err, errsz, -EIO, "no random bytes for the nonce");
		goto fail;
	}
	r = build_header(key, w->nonce, zstd, segment, &hdr, &hdrlen, err, errsz);
	if (r < 0)
		goto fail;
	/* Never write what the reader would refuse. */
	r = pkg_header_parse(hdr, hdrlen, &h, err, errsz);
	if (r < 0)
		goto fail;
	memcpy(w->digest, h.digest, sizeof(w->digest));
	pkg_header_release(&h);

	w->buf = malloc((size_t)segment + PKG_TAG_LEN);
	w->ctx = EVP_CIPHER_CTX_new();
	if (!w->buf || !w->ctx) {
		r = -ENOMEM;
		goto fail;
	}
	if (EVP_EncryptInit_ex(w->ctx, EVP_aes_256_gcm(), NULL, dek, NULL) != 1) {
		r = err_set(err, errsz, -EIO, "AES-256-GCM initialisation failed");
		goto fail;
	}
	r = io_write_all(out_fd, hdr, hdrlen);
	if (r < 0) {
		err_set(err, errsz, r, "writing the package header: %s", strerror(-r));
		goto fail;
	}
	free(hdr);
	*out = w;
	return 0;
fail:
	free(hdr);
	pkg_writer_abort(w);
	return r;
}

int pkg_writer_new(int out_fd, const uint8_t kek[static KEK_LEN], bool zstd, uint32_t segment,
		   struct pkg_writer **out, char *err, size_t errsz)
{
	uint8_t dek[PKG_DEK_LEN], wrapped[KEK_WRAP_LEN(PKG_DEK_LEN)];
	struct pkg_key key = { .provider = "kek", .wrapped = wrapped };
	int r;

	*out = NULL;
	if (RAND_bytes(dek, sizeof(dek)) != 1)
		return err_set(err, errsz, -EIO, "no random bytes for the data key");
	kek_id(kek, key.id);
	r = kek_wrap(kek, dek, sizeof(dek), wrapped, &key.wrapped_len);
	if (r < 0)
		err_set(err, errsz, r, "wrapping the data key failed");
	else
		r = pkg_writer_new_key(out_fd, &key, dek, zstd, segment, out, err, errsz);
	OPENSSL_cleanse(dek, sizeof(dek));
	return r;
}

/* Seals len bytes at in (which may be w->buf) as the next segment and writes it. */
static int seal_segment(struct pkg_writer *w, const uint8_t *in, size_t len, bool last)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
	int outl = 0, fin = 0;

	if (w->index > UINT32_MAX)
		return -EFBIG;
	segment_iv(w->nonce, w->digest, (uint32_t)w->index, last, nonce, aad);
	if (EVP_EncryptInit_ex(w->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(w->ctx, NULL, &outl, aad, AAD_LEN) != 1)
		return -EIO;
	if (len && EVP_EncryptUpdate(w->ctx, w->buf, &outl, in, (int)len) != 1)
		return -EIO;
	if (EVP_EncryptFinal_ex(w->ctx, w->buf + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(w->ctx, EVP_CTRL_GCM_GET_TAG, PKG_TAG_LEN, w->buf + len) != 1)
		return -EIO;
	w->index++;
	return io_write_all(w->fd, w->buf, len + PKG_TAG_LEN);
}

int pkg_writer_write(struct pkg_writer *w, const void *p, size_t n)
{
	const uint8_t *in = p;
	int r = 0;

	if (w->error)
		return w->error;
	while (n > 0 && r == 0) {
		if (w->fill == w->segment) {
			/* More plaintext follows, so the buffered segment is not the last. */
			r = seal_segment(w, w->buf, w->segment, false);
			w->fill = 0;
		} else if (w->fill == 0 && n > w->segment) {
			r = seal_segment(w, in, w->segment, false);
			in += w->segment;
			n -= w->segment;
			w->bytes_in += w->segment;
		} else {
			size_t k = MIN(n, w->segment - w->fill);

			memcpy(w->buf + w->fill, in, k);
			w->fill += k;
			in += k;
			n -= k;
			w->bytes_in += k;
		}
	}
	if (r < 0)
		w->error = r;
	return r;
}

int pkg_writer_finish(struct pkg_writer *w)
{
	int r = w->error;

	if (r == 0)
		r = seal_segment(w, w->buf, w->fill, true);
	pkg_writer_abort(w);
	return r;
}

void pkg_writer_abort(struct pkg_writer *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->ctx);
	if (w->buf) {
		OPENSSL_cleanse(w->buf, (size_t)w->segment + PKG_TAG_LEN);
		free(w->buf);
	}
	OPENSSL_cleanse(w, sizeof(*w));
	free(w);
}

uint64_t pkg_writer_bytes_in(const struct pkg_writer *w)
{
	return w->bytes_in;
}

/* --- reader ---------------------------------------------------------------------- */

/* The caller's thread reads each sealed segment into a ring of buffers
 * (slots), authenticates and decrypts it into a buffer of its own, and uses
 * the plaintext (extraction: writing files); a hasher thread feeds the same
 * slots, in order, to the file's SHA-256. SHA-256 is the slowest step of an
 * open and cannot be split, so it runs beside the rest on another core. The
 * segment's bytes stay in the cache of the core that reads, decrypts and
 * writes them (decrypting what another core had just read stalled on every
 * load), and only that thread ever holds plaintext.
 *
 *   caller   SLOT_FREE   -> SLOT_LOADED  pread segment i into slot i % nslots
 *   hasher   SLOT_LOADED -> SLOT_FREE    hash it
 *
 * The caller reads a loaded slot too (decryption does not write to it).
 * The lock guards the states, hashed, hash_err and stop. The digest is
 * complete once the hasher has caught up with the last segment, which
 * pkg_reader_file_digest waits for. */
enum { SLOT_FREE, SLOT_LOADED };

struct pkg_slot {
	uint8_t *buf; /* one sealed segment */
	int state;
};

struct pkg_reader {
	int fd;
	struct pkg_header h;
	EVP_CIPHER_CTX *ctx;
	EVP_MD_CTX *md; /* the hasher's: SHA-256 of every byte of the file */
	off_t size;     /* the file size at open */
	uint64_t nseg, next;
	size_t last_len; /* plaintext bytes of the last segment */
	uint8_t *plain;  /* the plaintext of segment next - 1 */
	int error;
	char msg[128];

	struct pkg_slot *slot;
	unsigned nslots;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t hashed; /* segments the hasher is done with */
	int hash_err;
	bool stop;
	pthread_t hasher;
	bool hasher_started;
};

/* Two slots let the caller and the hasher work at once; more absorb their
 * jitter where segments are small enough for that to cost little memory. */
#define READ_SLOTS_MIN 2u
#define READ_SLOTS_MAX 4u
#define READ_RING_BYTES (4u * 1024 * 1024)

static int reader_fail(struct pkg_reader *r, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reader_fail(struct pkg_reader *r, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->error = e;
	return e;
}

/* Segment count and last length from the body size (doc/PACKAGE.md). */
static int layout(struct pkg_reader *r, char *err, size_t errsz)
{
	uint64_t body = (uint64_t)r->size - r->h.body_offset;
	uint64_t full = (uint64_t)r->h.segment + PKG_TAG_LEN;
	uint64_t n, last;

	n = body == 0 ? 1 : (body - 1) / full + 1;
	last = body - (n - 1) * full;
	if (last < PKG_TAG_LEN)
		return err_set(err, errsz, -EBADMSG, "truncated package: the last segment is short");
	if (n > 1 && last == PKG_TAG_LEN)
		return err_set(err, errsz, -EBADMSG, "malformed package: empty last segment");
	if (n > (uint64_t)UINT32_MAX + 1)
		return err_set(err, errsz, -EBADMSG, "package has too many segments");
	r->nseg = n;
	r->last_len = (size_t)(last - PKG_TAG_LEN);
	return 0;
}

static size_t sealed_len(const struct pkg_reader *r, uint64_t i)
{
	return (i + 1 == r->nseg ? r->last_len : r->h.segment) + PKG_TAG_LEN;
}

static void *hasher_main(void *p)
{
	struct pkg_reader *r = p;

	for (uint64_t i = 0; i < r->nseg; i++) {
		struct pkg_slot *s = &r->slot[i % r->nslots];
		bool ok, stop;

		pthread_mutex_lock(&r->lock);
		while (s->state != SLOT_LOADED && !r->stop)
			pthread_cond_wait(&r->cond, &r->lock);
		stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		ok = EVP_DigestUpdate(r->md, s->buf, sealed_len(r, i)) == 1;
		pthread_mutex_lock(&r->lock);
		s->state = SLOT_FREE;
		r->hashed = i + 1;
		if (!ok)
			r->hash_err = -EIO;
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		if (!ok)
			break;
	}
	return NULL;
}

int pkg_reader_open(int fd, struct key_provider *kp, struct pkg_reader **out, char *err,
		    size_t errsz)
{
	struct pkg_reader *r;
	uint8_t dek[PKG_DEK_LEN], *head = NULL;
	struct stat st;
	size_t want;
	ssize_t got;
	int e;

	*out = NULL;
	if (!kp)
		return err_set(err, errsz, -EINVAL, "no key provider");
	if (fstat(fd, &st) < 0)
		return err_set(err, errsz, neg_errno(), "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, errsz, -EINVAL, "a package must be a regular file");
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->size = st.st_size;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);

	want = (size_t)MIN((uint64_t)st.st_size, (uint64_t)PKG_PREFIX_LEN + PKG_HEADER_MAX);
	head = malloc(want ? want : 1);
	if (!head) {
		e = -ENOMEM;
		goto fail;
	}
	got = io_pread_all(fd, head, want, 0);
	if (got < 0) {
		e = err_set(err, errsz, (int)got, "read: %s", strerror((int)-got));
		goto fail;
	}
	e = pkg_header_parse(head, (size_t)got, &r->h, err, errsz);
	if (e < 0)
		goto fail;
	if (strcmp(kp->name, r->h.key.provider) != 0) {
		e = err_set(err, errsz, -EPROTONOSUPPORT, "package key provider is \"%s\", not \"%s\"",
			 r->h.key.provider, kp->name);
		goto fail;
	}
	/* Before unwrapping: a truncated package costs no KMS round trip. */
	e = layout(r, err, errsz);
	if (e < 0)
		goto fail;

	r->nslots = MIN(MAX(READ_RING_BYTES / r->h.segment, READ_SLOTS_MIN), READ_SLOTS_MAX);
	r->nslots = (unsigned)MIN((uint64_t)r->nslots, r->nseg);
	r->slot = calloc(r->nslots, sizeof(*r->slot));
	r->plain = malloc(r->h.segment);
	r->ctx = EVP_CIPHER_CTX_new();
	r->md = EVP_MD_CTX_new();
	if (!r->slot || !r->plain || !r->ctx || !r->md ||
	    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(r->md, head, r->h.body_offset) != 1) {
		e = -ENOMEM;
		goto fail;
	}
	for (unsigned k = 0; k < r->nslots; k++) {
		r->slot[k].buf = malloc((size_t)r->h.segment + PKG_TAG_LEN);
		if (!r->slot[k].buf) {
			e = -ENOMEM;
			goto fail;
		}
	}
	e = kp->unwrap(kp, &r->h.key, dek, err, errsz);
	if (e == 0 && EVP_DecryptInit_ex(r->ctx, EVP_aes_256_gcm(), NULL, dek, NULL) != 1)
		e = err_set(err, errsz, -EIO, "AES-256-GCM initialisation failed");
	OPENSSL_cleanse(dek, sizeof(dek));
	if (e < 0)
		goto fail;
	e = -pthread_create(&r->hasher, NULL, hasher_main, r);
	r->hasher_started = e == 0;
	if (e < 0) {
		err_set(err, errsz, e, "cannot start the reader's thread: %s", strerror(-e));
		goto fail;
	}
	free(head);
	*out = r;
	return 0;
fail:
	free(head);
	pkg_reader_free(r);
	return e;
}

const struct pkg_header *pkg_reader_header(const struct pkg_reader *r)
{
	return &r->h;
}

int pkg_reader_next(struct pkg_reader *r, const uint8_t **p, size_t *n)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
	bool last = r->next + 1 == r->nseg;
	size_t len = last ? r->last_len : r->h.segment;
	struct pkg_slot *s;
	off_t off;
	ssize_t got;
	struct stat st;
	int outl = 0, fin = 0, e;

	*p = NULL;
	*n = 0;
	if (r->error)
		return r->error;
	if (r->next == r->nseg)
		return 0;
	s = &r->slot[r->next % r->nslots];
	pthread_mutex_lock(&r->lock);
	while (s->state != SLOT_FREE && !r->hash_err)
		pthread_cond_wait(&r->cond, &r->lock);
	e = r->hash_err;
	pthread_mutex_unlock(&r->lock);
	if (e)
		return reader_fail(r, e, "the package's digest failed");

	off = (off_t)(r->h.body_offset + r->next * ((uint64_t)r->h.segment + PKG_TAG_LEN));
	got = io_pread_all(r->fd, s->buf, len + PKG_TAG_LEN, off);
	if (got < 0)
		return reader_fail(r, (int)got, "read: %s", strerror((int)-got));
	if ((size_t)got != len + PKG_TAG_LEN)
		return reader_fail(r, -EBADMSG, "segment %llu is short: the package shrank",
				   (unsigned long long)r->next);
	pthread_mutex_lock(&r->lock);
	s->state = SLOT_LOADED;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);

	segment_iv(r->h.nonce, r->h.digest, (uint32_t)r->next, last, nonce, aad);
	if (EVP_DecryptInit_ex(r->ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(r->ctx, NULL, &outl, aad, AAD_LEN) != 1 ||
	    (len && EVP_DecryptUpdate(r->ctx, r->plain, &outl, s->buf, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(r->ctx, EVP_CTRL_GCM_SET_TAG, PKG_TAG_LEN, s->buf + len) != 1 ||
	    EVP_DecryptFinal_ex(r->ctx, r->plain + len, &fin) != 1) {
		OPENSSL_cleanse(r->plain, len);
		return reader_fail(r, -EBADMSG, "segment %llu of %llu failed authentication",
				   (unsigned long long)r->next, (unsigned long long)r->nseg);
	}
	/* Bytes appended after open would otherwise go unnoticed. */
	if (last && (fstat(r->fd, &st) < 0 || st.st_size != r->size)) {
		OPENSSL_cleanse(r->plain, len);
		return reader_fail(r, -EBADMSG, "the package changed while it was read");
	}
	r->next++;
	*p = r->plain;
	*n = len;
	return 0;
}

int pkg_reader_file_digest(struct pkg_reader *r, uint8_t out[static 32])
{
	EVP_MD_CTX *copy;
	int ok, e;

	if (r->error || r->next != r->nseg)
		return -EAGAIN;
	pthread_mutex_lock(&r->lock);
	while (r->hashed != r->nseg && !r->hash_err)
		pthread_cond_wait(&r->cond, &r->lock);
	e = r->hash_err;
	pthread_mutex_unlock(&r->lock);
	if (e)
		return e;
	copy = EVP_MD_CTX_new();
	ok = copy && EVP_MD_CTX_copy_ex(copy, r->md) == 1 && EVP_DigestFinal_ex(copy, out, NULL) == 1;
	EVP_MD_CTX_free(copy);
	return ok ? 0 : -ENOMEM;
}

int pkg_file_digest(int fd, uint8_t out[static 32])
{
	static const size_t bufsz = 1 << 20;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t *buf = malloc(bufsz);
	off_t off = 0;
	ssize_t n;
	int r = -ENOMEM;

	if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = pread(fd, buf, bufsz, off)) > 0) {
		if (EVP_DigestUpdate(c, buf, (size_t)n) != 1)
			goto out;
		off += n;
	}
	if (n < 0) {
		r = -errno;
		goto out;
	}
	r = EVP_DigestFinal_ex(c, out, NULL) == 1 ? 0 : -EIO;
out:
	EVP_MD_CTX_free(c);
	free(buf);
	return r;
}

uint64_t pkg_reader_index(const struct pkg_reader *r)
{
	return r->next;
}

uint64_t pkg_reader_segments(const struct pkg_reader *r)
{
	return r->nseg;
}

const char *pkg_reader_errmsg(const struct pkg_reader *r)
{
	return r->msg;
}

void pkg_reader_free(struct pkg_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->hasher_started)
		pthread_join(r->hasher, NULL);
	EVP_CIPHER_CTX_free(r->ctx);
	EVP_MD_CTX_free(r->md);
	for (unsigned k = 0; r->slot && k < r->nslots; k++)
		free(r->slot[k].buf);
	free(r->slot);
	if (r->plain) {
		OPENSSL_cleanse(r->plain, r->h.segment);
		free(r->plain);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	pkg_header_release(&r->h);
	free(r);
}
