/* XXH3-128 names for chunks and whole files.
 *
 * A hash128 is the canonical (big-endian) form of XXH128, the same bytes
 * xxhsum prints. xxhash is not a cryptographic hash: it names content the
 * peer already knows (DESIGN §6), it never protects a secret.
 */
#ifndef EFS_HASH_H
#define EFS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH128_LEN 16
#define HASH128_HEX_LEN 33

struct hash128 {
	uint8_t b[HASH128_LEN];
};

struct hash_stream;

void hash128_buf(const void *p, size_t n, struct hash128 *out);
/* Hashes the whole file from offset 0 (pread; the file offset is untouched).
 * *size receives the bytes hashed. */
int hash128_fd(int fd, struct hash128 *out, uint64_t *size);
char *hash128_hex(const struct hash128 *h, char out[static HASH128_HEX_LEN]);

static inline bool hash128_eq(const struct hash128 *a, const struct hash128 *b)
{
	return memcmp(a->b, b->b, HASH128_LEN) == 0;
}

/* Streaming whole-file hash; _new returns NULL when out of memory. */
struct hash_stream *hash_stream_new(void);
void hash_stream_reset(struct hash_stream *s);
void hash_stream_update(struct hash_stream *s, const void *p, size_t n);
/* The same as n zero bytes (a hole). */
void hash_stream_zeros(struct hash_stream *s, uint64_t n);
void hash_stream_digest(const struct hash_stream *s, struct hash128 *out);
void hash_stream_free(struct hash_stream *s);

#endif
