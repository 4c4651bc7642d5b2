/* Two small things the KMS and IMDS clients share: a bounded buffer that
 * collects an HTTP answer (a libcurl write callback), and the release of a
 * parsed JSON object whose string values were secrets (jansson keeps its own
 * copies: they are wiped before they are freed). */
#ifndef EFS_BODYBUF_H
#define EFS_BODYBUF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct bodybuf {
	char *p;       /* NUL-terminated, malloc'd */
	size_t n;
	size_t max;    /* more than this: the write fails and too_big is set */
	bool too_big;
};

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct bodybuf. */
size_t bodybuf_write(char *data, size_t size, size_t nmemb, void *ud);
/* Wipes and frees the bytes; the struct can be used again. */
void bodybuf_wipe(struct bodybuf *b);

/* Wipes every string value of o (one level deep), then json_decref; NULL is fine. */
void json_wipe_decref(json_t *o);

#endif
