/* The scanner: reads one file to send and cuts it into chunks.
 *
 * It turns (fd, size) into a stream of items in file order: each chunk with
 * its offset, length and XXH3-128 name; each hole of at least HOLE_MIN_SIZE
 * (found with SEEK_DATA/SEEK_HOLE; shorter ones are read as zeros); then
 * the whole file's digest, or an error. The engine turns the items into
 * FILE_CHUNKS, FILE_HOLE and FILE_END (sync/engine-tx.c).
 *
 * A scanner made with a thread reads and chunks a large file (SCAN_THREAD_MIN
 * bytes or more) on that thread, up to SCAN_AHEAD items ahead of the
 * engine, while the engine encrypts and sends what came before; smaller
 * files, and every file of a scanner without a thread, are read on the
 * caller's thread as it asks for each item. Either way the items are the
 * same.
 *
 * The scanner reads fd with pread and lseek(SEEK_DATA/SEEK_HOLE) only, and
 * never closes it. Between scanner_start() and the END or ERROR item, or
 * scanner_stop(), the caller must keep fd open and may only pread it.
 *
 * Errors: scanner_start() -ENOMEM; ERROR items carry -errno of the read, or
 * -ESTALE when the file ended before `size`.
 */
#ifndef EFS_SCANNER_H
#define EFS_SCANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"

#define SCAN_THREAD_MIN (4u << 20)
#define SCAN_AHEAD 64

enum scan_kind { SCAN_CHUNK, SCAN_HOLE, SCAN_END, SCAN_ERROR };

struct scan_item {
	enum scan_kind kind;
	uint64_t off, len;  /* CHUNK: the chunk's bytes; HOLE: the hole */
	struct hash128 h;   /* CHUNK: its name; END: the whole file's digest */
	int err;            /* ERROR: -errno */
};

struct scanner;

/* NULL when out of memory. A scanner with_thread starts its thread with the
 * first large file; if it cannot, it reads on the caller's thread. */
struct scanner *scanner_new(bool with_thread);
void scanner_free(struct scanner *s);

/* Begins fd, size bytes long; stops the file before if there was one. */
void scanner_start(struct scanner *s, int fd, uint64_t size);
/* The next item, waiting for it if the thread has not made it yet. After
 * END or ERROR the file is done: the next call gives ERROR -EINVAL. */
void scanner_next(struct scanner *s, struct scan_item *it);
/* Drops the current file; on return nothing reads its fd any more. */
void scanner_stop(struct scanner *s);
/* Whether the current file is being read on the scanner's thread. */
bool scanner_threaded(const struct scanner *s);
/* The CPU time the scanner's thread has used, in ns; 0 without one. */
uint64_t scanner_cpu_ns(const struct scanner *s);

#endif
