#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

void wbuf_init(struct wbuf *b, size_t max)
{
	*b = (struct wbuf){ .max = max };
}

void wbuf_from(struct wbuf *b, const void *p, size_t n)
{
	*b = (struct wbuf){ .d = (uint8_t *)p, .len = n, .cap = n, .max = n, .borrowed = true };
}

void wbuf_release(struct wbuf *b)
{
	if (!b->borrowed)
		free(b->d);
	*b = (struct wbuf){ 0 };
}

void wbuf_clear(struct wbuf *b)
{
	b->off = b->len = 0;
}

void wbuf_compact(struct wbuf *b)
{
	if (b->borrowed || b->off == 0)
		return;
	memmove(b->d, b->d + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

static int wbuf_grow(struct wbuf *b, size_t need)
{
	size_t unread = b->len - b->off, cap;
	uint8_t *d;

	if (b->borrowed)
		return -EROFS;
	if (b->cap - b->len >= need)
		return 0;
	if (b->max - unread < need)
		return -EMSGSIZE;
	/* Compact only when at least as much was consumed as is left, so a
	 * queue that drains slowly is not moved again and again. */
	if (b->off >= unread && b->cap - unread >= need) {
		wbuf_compact(b);
		return 0;
	}
	cap = b->cap ? b->cap : (b->max < 256 ? b->max : 256);
	while (cap - unread < need || cap - b->len < need) {
		if (cap >= b->max)
			break;
		cap = cap > b->max / 2 ? b->max : cap * 2;
	}
	d = realloc(b->d, cap);
	if (!d)
		return -ENOMEM;
	b->d = d;
	b->cap = cap;
	if (b->cap - b->len < need)
		wbuf_compact(b);
	return 0;
}

int wbuf_reserve(struct wbuf *b, size_t n, uint8_t **p)
{
	int r = wbuf_grow(b, n);
	if (r < 0)
		return r;
	*p = b->d + b->len;
	b->len += n;
	return 0;
}

void wbuf_truncate_end(struct wbuf *b, size_t n)
{
	b->len -= n > b->len - b->off ? b->len - b->off : n;
}

int wbuf_put(struct wbuf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r = wbuf_reserve(b, n, &dst);
	if (r < 0)
		return r;
	if (n)
		memcpy(dst, p, n);
	return 0;
}

int wbuf_put_u8(struct wbuf *b, uint8_t v)
{
	return wbuf_put(b, &v, 1);
}

int wbuf_put_u16(struct wbuf *b, uint16_t v)
{
	uint8_t t[2];
	le16_put(t, v);
	return wbuf_put(b, t, sizeof(t));
}

int wbuf_put_u32(struct wbuf *b, uint32_t v)
{
	uint8_t t[4];
	le32_put(t, v);
	return wbuf_put(b, t, sizeof(t));
}

int wbuf_put_u64(struct wbuf *b, uint64_t v)
{
	uint8_t t[8];
	le64_put(t, v);
	return wbuf_put(b, t, sizeof(t));
}

int wbuf_put_bytes(struct wbuf *b, const void *p, size_t n)
{
	uint8_t *dst;
	int r;

	if (n > UINT32_MAX)
		return -EMSGSIZE;
	r = wbuf_reserve(b, 4 + n, &dst);
	if (r < 0)
		return r;
	le32_put(dst, (uint32_t)n);
	if (n)
		memcpy(dst + 4, p, n);
	return 0;
}

int wbuf_put_str(struct wbuf *b, const char *s)
{
	size_t n = strlen(s);
	uint8_t *dst;
	int r;

	if (n > UINT16_MAX)
		return -EMSGSIZE;
	r = wbuf_reserve(b, 2 + n, &dst);
	if (r < 0)
		return r;
	le16_put(dst, (uint16_t)n);
	memcpy(dst + 2, s, n);
	return 0;
}

int wbuf_get(struct wbuf *b, void *p, size_t n)
{
	if (b->len - b->off < n)
		return -EBADMSG;
	if (n)
		memcpy(p, b->d + b->off, n);
	b->off += n;
	return 0;
}

int wbuf_get_u8(struct wbuf *b, uint8_t *v)
{
	return wbuf_get(b, v, 1);
}

int wbuf_get_u16(struct wbuf *b, uint16_t *v)
{
	if (b->len - b->off < 2)
		return -EBADMSG;
	*v = le16_get(b->d + b->off);
	b->off += 2;
	return 0;
}

int wbuf_get_u32(struct wbuf *b, uint32_t *v)
{
	if (b->len - b->off < 4)
		return -EBADMSG;
	*v = le32_get(b->d + b->off);
	b->off += 4;
	return 0;
}

int wbuf_get_u64(struct wbuf *b, uint64_t *v)
{
	if (b->len - b->off < 8)
		return -EBADMSG;
	*v = le64_get(b->d + b->off);
	b->off += 8;
	return 0;
}

int wbuf_get_bytes_peek(struct wbuf *b, const uint8_t **p, size_t *n, size_t maxn)
{
	size_t avail = b->len - b->off;
	uint32_t len;

	if (avail < 4)
		return -EBADMSG;
	len = le32_get(b->d + b->off);
	if (len > maxn)
		return -EMSGSIZE;
	if (avail - 4 < len)
		return -EBADMSG;
	*p = b->d + b->off + 4;
	*n = len;
	b->off += 4 + (size_t)len;
	return 0;
}

/* Validates a u16-prefixed string in place; returns its length and start. */
static int wbuf_str_peek(const struct wbuf *b, const uint8_t **s, size_t *n)
{
	size_t avail = b->len - b->off;
	uint16_t len;

	if (avail < 2)
		return -EBADMSG;
	len = le16_get(b->d + b->off);
	if (avail - 2 < len)
		return -EBADMSG;
	if (memchr(b->d + b->off + 2, '\0', len))
		return -EBADMSG;
	*s = b->d + b->off + 2;
	*n = len;
	return 0;
}

int wbuf_get_str(struct wbuf *b, char *out, size_t outsz)
{
	const uint8_t *s;
	size_t n;
	int r = wbuf_str_peek(b, &s, &n);

	if (r < 0)
		return r;
	if (outsz == 0 || n > outsz - 1)
		return -EMSGSIZE;
	memcpy(out, s, n);
	out[n] = '\0';
	b->off += 2 + n;
	return 0;
}

int wbuf_get_strdup(struct wbuf *b, char **out, size_t maxn)
{
	const uint8_t *s;
	size_t n;
	char *copy;
	int r = wbuf_str_peek(b, &s, &n);

	if (r < 0)
		return r;
	if (n > maxn)
		return -EMSGSIZE;
	copy = malloc(n + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, n);
	copy[n] = '\0';
	b->off += 2 + n;
	*out = copy;
	return 0;
}

int wbuf_skip(struct wbuf *b, size_t n)
{
	if (b->len - b->off < n)
		return -EBADMSG;
	b->off += n;
	return 0;
}

int wbuf_end(const struct wbuf *b)
{
	return b->off == b->len ? 0 : -EBADMSG;
}
