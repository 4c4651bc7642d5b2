/* A CBOR writer for the few shapes the NSM speaks: definite-length heads,
 * byte and text strings, unsigned integers, null and booleans, in the
 * shortest encoding (as serde_cbor writes them). Appends to a caller's
 * buffer; once something did not fit, every later put is ignored and
 * cbw_done() reports -EMSGSIZE. */
#ifndef EFS_CBORW_H
#define EFS_CBORW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cbw {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static inline void cbw_init(struct cbw *w, uint8_t *p, size_t cap)
{
	*w = (struct cbw){ .p = p, .cap = cap };
}

void cbw_head(struct cbw *w, unsigned major, uint64_t v); /* major 0..7 */
void cbw_uint(struct cbw *w, uint64_t v);
void cbw_bytes(struct cbw *w, const void *p, size_t n);
void cbw_text(struct cbw *w, const char *s);
void cbw_null(struct cbw *w);
void cbw_bool(struct cbw *w, bool v);
/* Byte string or null (p == NULL). */
void cbw_opt_bytes(struct cbw *w, const void *p, size_t n);
static inline void cbw_map(struct cbw *w, size_t n) { cbw_head(w, 5, n); }
static inline void cbw_array(struct cbw *w, size_t n) { cbw_head(w, 4, n); }
/* 0 and *n the length, or -EMSGSIZE. */
int cbw_done(const struct cbw *w, size_t *n);

#endif
