/* The CBOR writer (cborw.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cborw.h"

static void put(struct cbw *w, const void *p, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

void cbw_head(struct cbw *w, unsigned major, uint64_t v)
{
	uint8_t h[9];
	size_t n;

	major <<= 5;
	if (v < 24) {
		h[0] = (uint8_t)(major | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(major | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(major | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffff) {
		h[0] = (uint8_t)(major | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	} else {
		h[0] = (uint8_t)(major | 27);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	put(w, h, n);
}

void cbw_uint(struct cbw *w, uint64_t v)
{
	cbw_head(w, 0, v);
}

void cbw_bytes(struct cbw *w, const void *p, size_t n)
{
	cbw_head(w, 2, n);
	put(w, p, n);
}

void cbw_text(struct cbw *w, const char *s)
{
	size_t n = strlen(s);

	cbw_head(w, 3, n);
	put(w, s, n);
}

void cbw_null(struct cbw *w)
{
	put(w, "\xf6", 1);
}

void cbw_bool(struct cbw *w, bool v)
{
	put(w, v ? "\xf5" : "\xf4", 1);
}

void cbw_opt_bytes(struct cbw *w, const void *p, size_t n)
{
	if (p)
		cbw_bytes(w, p, n);
	else
		cbw_null(w);
}

int cbw_done(const struct cbw *w, size_t *n)
{
	if (w->overflow)
		return -EMSGSIZE;
	*n = w->len;
	return 0;
}
