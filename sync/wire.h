/* The bounded wire buffer: the one type every message is built in and parsed from.
 *
 * Invariants: off <= len <= cap <= max. Reads consume from `off`, writes
 * append at `len`. The buffer never grows past `max`; a put that would is
 * refused with -EMSGSIZE and writes nothing. Every get checks its bounds by
 * subtraction (never by adding an untrusted length), and a get that fails
 * consumes nothing, so a caller can retry once more bytes have arrived.
 *
 * Integers are little-endian. Byte strings carry a u32 length, text strings a
 * u16 length; text may not contain NUL.
 *
 * Errors: -EBADMSG (too few bytes, NUL in text, trailing bytes), -EMSGSIZE
 * (over a limit), -ENOMEM, -EROFS (put into a borrowed buffer).
 *
 * Ownership: wbuf_init() / wbuf_release() own the storage; wbuf_from() wraps
 * caller memory read-only and release then frees nothing. Pointers returned
 * by the _peek getters borrow the buffer and die with the next put/compact.
 */
#ifndef EFS_WIRE_H
#define EFS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WBUF_MAX_DEFAULT (16u * 1024 * 1024)

struct wbuf {
	uint8_t *d;
	size_t off, len, cap, max;
	bool borrowed;
};

void wbuf_init(struct wbuf *b, size_t max);
void wbuf_from(struct wbuf *b, const void *p, size_t n);
void wbuf_release(struct wbuf *b);
/* Forgets all content; keeps the storage. */
void wbuf_clear(struct wbuf *b);
/* Moves the unread bytes to the front so that appends reuse consumed space. */
void wbuf_compact(struct wbuf *b);

static inline size_t wbuf_len(const struct wbuf *b)
{
	return b->len - b->off;
}

static inline const uint8_t *wbuf_ptr(const struct wbuf *b)
{
	return b->d + b->off;
}

/* Makes room for n bytes at the end and returns them in *p; the bytes count
 * as written. */
int wbuf_reserve(struct wbuf *b, size_t n, uint8_t **p);
/* Drops n bytes from the end (undoes part of a reserve). */
void wbuf_truncate_end(struct wbuf *b, size_t n);

int wbuf_put(struct wbuf *b, const void *p, size_t n);
int wbuf_put_u8(struct wbuf *b, uint8_t v);
int wbuf_put_u16(struct wbuf *b, uint16_t v);
int wbuf_put_u32(struct wbuf *b, uint32_t v);
int wbuf_put_u64(struct wbuf *b, uint64_t v);
int wbuf_put_bytes(struct wbuf *b, const void *p, size_t n);
int wbuf_put_str(struct wbuf *b, const char *s);

int wbuf_get(struct wbuf *b, void *p, size_t n);
int wbuf_get_u8(struct wbuf *b, uint8_t *v);
int wbuf_get_u16(struct wbuf *b, uint16_t *v);
int wbuf_get_u32(struct wbuf *b, uint32_t *v);
int wbuf_get_u64(struct wbuf *b, uint64_t *v);
/* Length-prefixed bytes of at most maxn; *p borrows the buffer. */
int wbuf_get_bytes_peek(struct wbuf *b, const uint8_t **p, size_t *n, size_t maxn);
/* Length-prefixed text copied into out[outsz] with a terminating NUL. */
int wbuf_get_str(struct wbuf *b, char *out, size_t outsz);
/* Length-prefixed text of at most maxn bytes in a new allocation. */
int wbuf_get_strdup(struct wbuf *b, char **out, size_t maxn);
int wbuf_skip(struct wbuf *b, size_t n);
/* 0 when every byte has been consumed, -EBADMSG otherwise (trailing garbage). */
int wbuf_end(const struct wbuf *b);

/* Raw little-endian access to memory, for headers parsed in place. */
static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le64_put(uint8_t *p, uint64_t v)
{
	le32_put(p, (uint32_t)v);
	le32_put(p + 4, (uint32_t)(v >> 32));
}

#endif
