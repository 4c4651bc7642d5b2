#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kek.h"
#include "package.h"
#include "util.h"

#define KEK_FILE_LEN (2 * KEK_LEN + 1)
#define KEK_ID_LABEL "enclave-fs kek id v1"

static const char hexdigits[] = "0123456789abcdef";

int kek_generate(uint8_t kek[static KEK_LEN])
{
	return RAND_bytes(kek, KEK_LEN) == 1 ? 0 : -EIO;
}

int kek_write_file(const char *path, const uint8_t kek[static KEK_LEN])
{
	char buf[KEK_FILE_LEN];
	int fd, r;

	for (size_t i = 0; i < KEK_LEN; i++) {
		buf[2 * i] = hexdigits[kek[i] >> 4];
		buf[2 * i + 1] = hexdigits[kek[i] & 15];
	}
	buf[2 * KEK_LEN] = '\n';

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = neg_errno();
		goto out;
	}
	/* The umask may have cleared bits of 0600, never added any: make it exact. */
	r = fchmod(fd, 0600) < 0 ? neg_errno() : 0;
	if (r == 0)
		r = io_write_all(fd, buf, sizeof(buf));
	if (r == 0 && fsync(fd) < 0)
		r = neg_errno();
	if (close(fd) < 0 && r == 0)
		r = neg_errno();
	if (r < 0)
		unlink(path);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int kek_read_file(const char *path, uint8_t kek[static KEK_LEN], bool *loose)
{
	char buf[KEK_FILE_LEN + 1];
	uint8_t tmp[KEK_LEN];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return neg_errno();
	if (fstat(fd, &st) < 0) {
		r = neg_errno();
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size != KEK_FILE_LEN) {
		r = -EINVAL;
		goto out;
	}
	/* One byte more than expected, in case the file grew since fstat. */
	n = io_read_all(fd, buf, sizeof(buf));
	if (n < 0) {
		r = (int)n;
		goto out;
	}
	if (n != KEK_FILE_LEN || buf[2 * KEK_LEN] != '\n') {
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < KEK_LEN; i++) {
		int hi = unhex(buf[2 * i]), lo = unhex(buf[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			r = -EINVAL;
			goto out;
		}
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(kek, tmp, KEK_LEN);
	if (loose)
		*loose = (st.st_mode & 077) != 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(tmp, sizeof(tmp));
	close(fd);
	return r;
}

void kek_id(const uint8_t kek[static KEK_LEN], char id[static KEK_ID_LEN + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* Only allocation can fail here; an all-zero id then matches no header. */
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, KEK_ID_LABEL, strlen(KEK_ID_LABEL)) != 1 ||
	    EVP_DigestUpdate(ctx, kek, KEK_LEN) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		memset(md, 0, sizeof(md));
	EVP_MD_CTX_free(ctx);
	for (size_t i = 0; i < KEK_ID_LEN / 2; i++) {
		id[2 * i] = hexdigits[md[i] >> 4];
		id[2 * i + 1] = hexdigits[md[i] & 15];
	}
	id[KEK_ID_LEN] = '\0';
}

static const EVP_CIPHER *kwp_cipher(size_t keklen)
{
	switch (keklen) {
	case 16: return EVP_aes_128_wrap_pad();
	case 24: return EVP_aes_192_wrap_pad();
	case 32: return EVP_aes_256_wrap_pad();
	default: return NULL;
	}
}

static int kwp(bool enc, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
	       uint8_t *out, size_t *outlen)
{
	const EVP_CIPHER *cipher = kwp_cipher(keklen);
	EVP_CIPHER_CTX *ctx;
	int n = 0, fin = 0, r = 0;

	if (!cipher)
		return -EINVAL;
	if (enc ? inlen < 1 || inlen > KEK_WRAP_MAX_IN
		: inlen < 16 || inlen % 8 != 0 || inlen > KEK_WRAP_LEN(KEK_WRAP_MAX_IN))
		return -EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, cipher, NULL, kek, NULL, enc) != 1) {
		r = -EIO;
		goto out;
	}
	if (EVP_CipherUpdate(ctx, out, &n, in, (int)inlen) != 1) {
		/* Unwrapping checks integrity in the update call. */
		r = enc ? -EIO : -EKEYREJECTED;
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1) {
		r = enc ? -EIO : -EKEYREJECTED;
		goto out;
	}
	*outlen = (size_t)n + (size_t)fin;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int aes_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *key, size_t keylen,
		 uint8_t *out, size_t *outlen)
{
	return kwp(true, kek, keklen, key, keylen, out, outlen);
}

int aes_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
		   uint8_t *out, size_t *outlen)
{
	return kwp(false, kek, keklen, in, inlen, out, outlen);
}

int kek_wrap(const uint8_t kek[static KEK_LEN], const uint8_t *key, size_t keylen, uint8_t *out,
	     size_t *outlen)
{
	return kwp(true, kek, KEK_LEN, key, keylen, out, outlen);
}

int kek_unwrap(const uint8_t kek[static KEK_LEN], const uint8_t *in, size_t inlen, uint8_t *out,
	       size_t *outlen)
{
	return kwp(false, kek, KEK_LEN, in, inlen, out, outlen);
}

/* --- the "kek" provider ------------------------------------------------------ */

struct kek_entry {
	uint8_t kek[KEK_LEN];
	char id[KEK_ID_LEN + 1];
};

struct kek_provider {
	struct key_provider kp; /* first: the provider's pointer is this struct's */
	struct kek_entry *keys;
	size_t n;
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static int kek_provider_unwrap(struct key_provider *kp, const struct pkg_key *key,
			       uint8_t dek[static PKG_DEK_LEN], char *err, size_t errsz)
{
	struct kek_provider *p = (struct kek_provider *)kp;
	uint8_t out[KEK_WRAP_LEN(PKG_DEK_LEN)];
	size_t outlen = 0;
	int r;

	if (strcmp(key->provider, "kek") != 0) {
		seterr(err, errsz, "the kek provider cannot unwrap a \"%s\" key", key->provider);
		return -EPROTONOSUPPORT;
	}
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->keys[i].id, key->id) != 0)
			continue;
		if (key->wrapped_len != KEK_WRAP_LEN(PKG_DEK_LEN)) {
			seterr(err, errsz, "wrapped key has %zu bytes, expected %d",
			       key->wrapped_len, KEK_WRAP_LEN(PKG_DEK_LEN));
			return -EKEYREJECTED;
		}
		r = kek_unwrap(p->keys[i].kek, key->wrapped, key->wrapped_len, out, &outlen);
		if (r == 0 && outlen != PKG_DEK_LEN)
			r = -EKEYREJECTED;
		if (r == 0)
			memcpy(dek, out, PKG_DEK_LEN);
		else
			seterr(err, errsz, "the wrapped key does not unwrap under kek %s", key->id);
		OPENSSL_cleanse(out, sizeof(out));
		return r;
	}
	seterr(err, errsz, "no key-encryption key with id %s is loaded", key->id);
	return -ENOKEY;
}

static void kek_provider_free(struct key_provider *kp)
{
	struct kek_provider *p = (struct kek_provider *)kp;

	if (!p)
		return;
	if (p->keys) {
		OPENSSL_cleanse(p->keys, p->n * sizeof(*p->keys));
		free(p->keys);
	}
	free(p);
}

struct key_provider *kek_provider_new(void)
{
	struct kek_provider *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kp.name = "kek";
	p->kp.unwrap = kek_provider_unwrap;
	p->kp.free = kek_provider_free;
	return &p->kp;
}

int kek_provider_add(struct key_provider *kp, const uint8_t kek[static KEK_LEN])
{
	struct kek_provider *p = (struct kek_provider *)kp;
	struct kek_entry *keys;
	char id[KEK_ID_LEN + 1];

	if (!kp || kp->free != kek_provider_free)
		return -EINVAL;
	kek_id(kek, id);
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->keys[i].id, id) == 0)
			return CRYPTO_memcmp(p->keys[i].kek, kek, KEK_LEN) == 0 ? 0 : -EEXIST;
	}
	/* Not realloc: the old array holds keys and must be wiped, not just freed. */
	keys = calloc(p->n + 1, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	if (p->n) {
		memcpy(keys, p->keys, p->n * sizeof(*keys));
		OPENSSL_cleanse(p->keys, p->n * sizeof(*keys));
	}
	free(p->keys);
	p->keys = keys;
	memcpy(p->keys[p->n].kek, kek, KEK_LEN);
	memcpy(p->keys[p->n].id, id, sizeof(id));
	p->n++;
	return 0;
}
