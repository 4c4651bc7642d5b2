/* The receiver's index of chunks it already holds in its own files.
 *
 * It maps a chunk name (XXH3-128) to up to CHUNK_INDEX_MAX_LOCS locations
 * (path relative to the tree root, offset, length), so that a new file can be
 * built from local chunks plus received ones. Locations may be stale (the
 * file changed since it was indexed): every fetch re-reads and re-hashes the
 * bytes and drops a location that no longer holds the chunk, so a stale index
 * costs a transfer, never a wrong byte.
 *
 * The index never resolves a path itself: it opens files only through the
 * caller's chunk_open_fn, which decides what may be opened (the engine's
 * refuses symlinks and escapes from the tree).
 *
 * Ownership: the index owns copies of the paths it is given and at most one
 * open file descriptor (the file fetched from last), closed by forget/rename
 * of that file and by chunk_index_free(). Until then it may still refer to a
 * file since replaced by rename; its bytes are verified like any others, so
 * the caller must forget a path it replaces for its locations to go.
 * Not thread-safe.
 */
#ifndef EFS_INDEX_H
#define EFS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define CHUNK_INDEX_MAX_LOCS 4

struct chunk_index;

/* Opens `path` (relative to the tree) for reading; returns an fd or -errno. */
typedef int (*chunk_open_fn)(void *ud, const char *path);

/* Returns NULL when out of memory. */
struct chunk_index *chunk_index_new(chunk_open_fn open_fn, void *ud);
void chunk_index_free(struct chunk_index *ix);

/* Records that `path` holds chunk h at [off, off+len). At most
 * CHUNK_INDEX_MAX_LOCS locations are kept per hash; more, and a location
 * already recorded, are ignored (and return 0). -EINVAL for an empty path or
 * len 0, -ENOMEM. */
int chunk_index_add(struct chunk_index *ix, const struct hash128 *h, const char *path, uint64_t off,
		    uint32_t len);

/* Forgets every chunk location in `path` (file replaced or removed) and, for
 * a directory, in `path/...`. */
void chunk_index_forget(struct chunk_index *ix, const char *path);

/* A file or directory was renamed: locations in `from` and, for a directory,
 * in `from/...`, move to `to`. Locations recorded in `to` (and under `to/`)
 * are forgotten first, since the rename replaced whatever was there.
 * -EINVAL when one path is inside the other, -ENOMEM (the locations that
 * could not be moved are forgotten; the index stays consistent). */
int chunk_index_rename(struct chunk_index *ix, const char *from, const char *to);

/* Copies chunk h (len bytes) into buf from a recorded location, verifying it
 * by re-hashing; stale or unreadable locations are dropped (all of a file's
 * when open_fn refuses it). 0, or -ENOENT when no location holds it (also
 * when len differs), or -EMFILE, -ENFILE, -ENOMEM, -EINTR from open_fn, when
 * nothing is dropped. buf is clobbered on failure. */
int chunk_index_fetch(struct chunk_index *ix, const struct hash128 *h, uint32_t len, uint8_t *buf);

/* Chunks an existing file (via open_fn) with the chunker and records every
 * chunk, replacing what was recorded for `path` before. 0 or -errno (from
 * open_fn or read; -ENOMEM). */
int chunk_index_add_file(struct chunk_index *ix, const char *path);

/* Whether any location is recorded in `path` itself. */
bool chunk_index_has_file(const struct chunk_index *ix, const char *path);

/* Distinct hashes. */
size_t chunk_index_count(const struct chunk_index *ix);

/* Locations recorded for h (0 when unknown); not verified against the files. */
size_t chunk_index_locations(const struct chunk_index *ix, const struct hash128 *h);

/* How many times forget or rename walked every file (a directory, or a path
 * whose directory hash collides): the tests' measure of work, not of time. */
size_t chunk_index_scans(const struct chunk_index *ix);

#endif
