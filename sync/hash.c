#include "config.h"

#include <stdlib.h>
#include <xxhash.h>

#include "hash.h"
#include "util.h"

/* libxxhash's plain XXH3 entry points run its generic (SSE2) code; the
 * dispatching ones pick AVX2 or AVX-512 at run time and give the same
 * digests (check_hash compares them). */
#ifdef HAVE_XXH_DISPATCH
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define xxh128 XXH3_128bits_dispatch
#define xxh128_update XXH3_128bits_update_dispatch
#else
#define xxh128 XXH3_128bits
#define xxh128_update XXH3_128bits_update
#endif

struct hash_stream {
	XXH3_state_t *st;
};

static void hash128_from(XXH128_hash_t h, struct hash128 *out)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, HASH128_LEN);
}

void hash128_buf(const void *p, size_t n, struct hash128 *out)
{
	hash128_from(xxh128(p, n), out);
}

char *hash128_hex(const struct hash128 *h, char out[static HASH128_HEX_LEN])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < HASH128_LEN; i++) {
		out[2 * i] = digits[h->b[i] >> 4];
		out[2 * i + 1] = digits[h->b[i] & 15];
	}
	out[2 * HASH128_LEN] = '\0';
	return out;
}

struct hash_stream *hash_stream_new(void)
{
	struct hash_stream *s = malloc(sizeof(*s));

	if (!s)
		return NULL;
	s->st = XXH3_createState();
	if (!s->st) {
		free(s);
		return NULL;
	}
	XXH3_128bits_reset(s->st);
	return s;
}

void hash_stream_reset(struct hash_stream *s)
{
	XXH3_128bits_reset(s->st);
}

void hash_stream_update(struct hash_stream *s, const void *p, size_t n)
{
	(void)xxh128_update(s->st, p, n);
}

void hash_stream_zeros(struct hash_stream *s, uint64_t n)
{
	static const uint8_t zeros[64 * 1024];

	while (n > 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		(void)xxh128_update(s->st, zeros, k);
		n -= k;
	}
}

void hash_stream_digest(const struct hash_stream *s, struct hash128 *out)
{
	hash128_from(XXH3_128bits_digest(s->st), out);
}

void hash_stream_free(struct hash_stream *s)
{
	if (!s)
		return;
	XXH3_freeState(s->st);
	free(s);
}

int hash128_fd(int fd, struct hash128 *out, uint64_t *size)
{
	enum { BUFSZ = 1 << 20 };
	struct hash_stream *s = hash_stream_new();
	uint8_t *buf = malloc(BUFSZ);
	uint64_t off = 0;
	int r = 0;

	if (!s || !buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = io_pread_all(fd, buf, BUFSZ, (off_t)off);
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		hash_stream_update(s, buf, (size_t)n);
		off += (uint64_t)n;
	}
	hash_stream_digest(s, out);
	if (size)
		*size = off;
out:
	free(buf);
	hash_stream_free(s);
	return r;
}
