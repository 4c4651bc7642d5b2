/* Bounds for CBOR before libcbor loads it.
 *
 * libcbor allocates a definite array's or map's item table from the count in
 * its header, before it has seen the items: a 9-byte input can ask for
 * terabytes. attest_cbor_check() walks the encoding first and refuses any
 * container that declares more entries than the bytes left could hold, so
 * what cbor_load() then allocates is bounded by a small multiple of the
 * input's size. */
#ifndef EFS_ATTEST_CBOR_UTIL_H
#define EFS_ATTEST_CBOR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

/* Checks that p[n] begins with one well-formed CBOR item whose containers
 * (arrays, maps, tags) nest at most maxdepth deep and declare no more
 * entries than the remaining bytes could encode. On success *used is the
 * item's length (trailing bytes are the caller's business). 0 or -EBADMSG. */
int attest_cbor_check(const uint8_t *p, size_t n, unsigned maxdepth, size_t *used);

/* it is a definite text string equal to s. */
bool attest_cbor_text_is(const cbor_item_t *it, const char *s);
/* The value of the text key name in map m when it is there exactly once;
 * NULL otherwise (absent, or twice). */
cbor_item_t *attest_cbor_field(const cbor_item_t *m, const char *name);

#endif
