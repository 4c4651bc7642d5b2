/* A bounded walk over a CBOR encoding (cbor-util.h): heads only, nothing
 * allocated, recursion no deeper than the caller's limit. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "cbor-util.h"

#define BREAK 0xff
#define AI_INDEFINITE 31

struct walk {
	const uint8_t *p;
	size_t n, off;
};

/* One head: major type, additional information and its argument. */
static int head(struct walk *w, unsigned *major, unsigned *ai, uint64_t *arg)
{
	size_t len;
	uint8_t ib;

	if (w->off >= w->n)
		return -EBADMSG;
	ib = w->p[w->off++];
	*major = ib >> 5;
	*ai = ib & 31;
	*arg = *ai;
	if (*ai < 24 || *ai == AI_INDEFINITE)
		return 0;
	if (*ai > 27)
		return -EBADMSG;
	len = (size_t)1 << (*ai - 24);
	if (w->n - w->off < len)
		return -EBADMSG;
	*arg = 0;
	for (size_t i = 0; i < len; i++)
		*arg = *arg << 8 | w->p[w->off++];
	return 0;
}

static size_t left(const struct walk *w)
{
	return w->n - w->off;
}

/* The chunks of an indefinite byte or text string, up to its break. */
static int chunks(struct walk *w, unsigned major)
{
	unsigned m, ai;
	uint64_t arg;

	for (;;) {
		if (w->off >= w->n)
			return -EBADMSG;
		if (w->p[w->off] == BREAK) {
			w->off++;
			return 0;
		}
		if (head(w, &m, &ai, &arg) < 0 || m != major || ai == AI_INDEFINITE ||
		    arg > left(w))
			return -EBADMSG;
		w->off += (size_t)arg;
	}
}

static int item(struct walk *w, unsigned depth)
{
	unsigned major, ai;
	uint64_t arg, entries;

	if (head(w, &major, &ai, &arg) < 0)
		return -EBADMSG;
	switch (major) {
	case 0: /* unsigned and negative integers */
	case 1:
		return ai == AI_INDEFINITE ? -EBADMSG : 0;
	case 2: /* byte and text strings */
	case 3:
		if (ai == AI_INDEFINITE)
			return chunks(w, major);
		if (arg > left(w))
			return -EBADMSG;
		w->off += (size_t)arg;
		return 0;
	case 4: /* arrays and maps */
	case 5:
		if (depth == 0)
			return -EBADMSG;
		if (ai == AI_INDEFINITE) {
			for (size_t k = 0;; k++) {
				if (w->off >= w->n)
					return -EBADMSG;
				if (w->p[w->off] == BREAK) {
					w->off++;
					return major == 5 && k % 2 ? -EBADMSG : 0;
				}
				if (item(w, depth - 1) < 0)
					return -EBADMSG;
			}
		}
		/* Each entry takes at least one byte. */
		if (arg > left(w) || (major == 5 && arg > left(w) / 2))
			return -EBADMSG;
		entries = major == 5 ? 2 * arg : arg;
		for (uint64_t k = 0; k < entries; k++)
			if (item(w, depth - 1) < 0)
				return -EBADMSG;
		return 0;
	case 6: /* a tag and its item */
		if (ai == AI_INDEFINITE || depth == 0)
			return -EBADMSG;
		return item(w, depth - 1);
	default: /* simple values and floats; a break outside an indefinite item */
		return ai == AI_INDEFINITE ? -EBADMSG : 0;
	}
}

int attest_cbor_check(const uint8_t *p, size_t n, unsigned maxdepth, size_t *used)
{
	struct walk w = { .p = p, .n = n, .off = 0 };

	if (!p || item(&w, maxdepth) < 0)
		return -EBADMSG;
	*used = w.off;
	return 0;
}

bool attest_cbor_text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);

	return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
	       memcmp(cbor_string_handle(it), s, n) == 0;
}

cbor_item_t *attest_cbor_field(const cbor_item_t *m, const char *name)
{
	struct cbor_pair *p = cbor_map_handle(m);
	cbor_item_t *v = NULL;

	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (attest_cbor_text_is(p[i].key, name)) {
			if (v)
				return NULL;
			v = p[i].value;
		}
	return v;
}
