#include "config.h"

#include <stdint.h>
#include <string.h>

#include "escape.h"

/* The length (2..4) of the well-formed UTF-8 sequence at p with its code
 * point in *cp, or 0 when p does not start one (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3fu);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int cp_visible(uint32_t c)
{
	if (c < 0xa0)
		return 0; /* C1 controls */
	if (c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069))
		return 0;
	return 1;
}

/* How many bytes at p pass unchanged: 0 when p[0] must be escaped. */
static size_t clean_run(const uint8_t *p, size_t n, unsigned flags)
{
	uint32_t cp;
	size_t len;

	if (p[0] >= 0x20 && p[0] < 0x7f)
		return p[0] == '\\' ? 0 : 1;
	if ((flags & ESC_KEEP_NL) && (p[0] == '\n' || p[0] == '\t'))
		return 1;
	if (p[0] < 0x80)
		return 0;
	len = utf8_seq(p, n, &cp);
	return len && cp_visible(cp) ? len : 0;
}

size_t esc_clean_prefix(const void *in, size_t n, unsigned flags)
{
	const uint8_t *p = in;
	size_t i = 0;

	while (i < n) {
		size_t k = clean_run(p + i, n - i, flags);
		if (!k)
			break;
		i += k;
	}
	return i;
}

int esc_is_clean(const char *s)
{
	size_t n = strlen(s);

	return esc_clean_prefix(s, n, 0) == n;
}

size_t esc_buf(char *out, size_t outsz, const void *in, size_t n, unsigned flags)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = in;
	size_t i = 0, o = 0;

	if (outsz == 0)
		return 0;
	while (i < n) {
		size_t k = clean_run(p + i, n - i, flags);

		if (k) {
			if (outsz - o <= k)
				break;
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else if (p[i] == '\\') {
			if (outsz - o <= 2)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
		} else {
			if (outsz - o <= 4)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 15];
			i++;
		}
	}
	out[o] = '\0';
	return i;
}
