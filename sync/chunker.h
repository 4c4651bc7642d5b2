/* Content-defined chunking (FastCDC with normalized chunking, level 2).
 *
 * Both peers must cut identical data at identical points, so the gear table,
 * the masks and the sizes below are part of the protocol: changing any of
 * them changes every chunk name.
 *
 * The chunker is a pure incremental scanner in the style of casync's
 * ca_chunker: it does no I/O and no allocation, and the cut points it finds
 * are the same however the input is split across calls. A chunk is at least
 * CHUNK_MIN_SIZE and at most CHUNK_MAX_SIZE bytes, except the last chunk of
 * the input, which may be shorter. A cut depends only on the 64 bytes before
 * it and on the distance from the previous cut, so an edit disturbs the
 * chunks around it and the cuts after it resynchronize.
 *
 * Ownership: struct chunker is a plain value the caller owns; it holds no
 * pointer into the data.
 */
#ifndef EFS_CHUNKER_H
#define EFS_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_MIN_SIZE (16u * 1024)
#define CHUNK_AVG_SIZE (64u * 1024)
#define CHUNK_MAX_SIZE (256u * 1024)

struct chunker {
	uint64_t hash;
	size_t chunk_size; /* bytes already in the current chunk */
};

#define CHUNKER_INIT { 0, 0 }

void chunker_reset(struct chunker *c);

/* Scans p[0..n) as the continuation of the current chunk. Returns k in [1, n]
 * when the chunk ends after p[k-1] (the chunker is then reset for the next
 * chunk), or 0 when all n bytes belong to the current chunk. At end of input
 * whatever was scanned since the last cut is the final chunk. */
size_t chunker_scan(struct chunker *c, const void *p, size_t n);

#endif
