/* Bounded HTTP answer buffers and wiped JSON (bodybuf.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bodybuf.h"

size_t bodybuf_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct bodybuf *b = ud;
	size_t k = size * nmemb;
	char *np;

	if (k > b->max - b->n) {
		b->too_big = true;
		return 0;
	}
	np = realloc(b->p, b->n + k + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, k);
	b->n += k;
	b->p[b->n] = '\0';
	return k;
}

void bodybuf_wipe(struct bodybuf *b)
{
	if (b->p)
		OPENSSL_cleanse(b->p, b->n);
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

void json_wipe_decref(json_t *o)
{
	const char *k;
	json_t *v;

	if (!o)
		return;
	json_object_foreach(o, k, v)
		if (json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	json_decref(o);
}
