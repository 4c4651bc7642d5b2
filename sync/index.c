#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chunker.h"
#include "index.h"
#include "util.h"

/* The layout, sized for about a million chunks:
 *
 *   slots  open addressing (linear probing, backward-shift deletion, load at
 *          most 3/4) from a hash to the head of its chain of locations;
 *   locs   one per location, on two lists: the chain of its hash (singly
 *          linked, at most CHUNK_INDEX_MAX_LOCS long) and the list of its file
 *          (doubly linked, so a stale location is dropped in O(1));
 *   files  one per path holding locations (a record goes with its last
 *          location), the string stored once, found through chained buckets;
 *          forget and rename touch a file's own locations, or just its path;
 *   dirs   per hash of a directory path, the number of files under it, so
 *          that forget and rename of a plain file learn without scanning every
 *          file that nothing lives under it. Two directories sharing a hash
 *          only cost a needless scan. A counter stays (at zero) when its last
 *          file goes: directories are few.
 *
 * locs and files are arrays addressed by uint32 ids, stable across growth
 * (NIL: none); free ids are kept on lists threaded through `next` and `hnext`. */
#define NIL UINT32_MAX

struct slot {
	struct hash128 h;
	uint32_t head; /* first location; NIL when the slot is empty */
};

struct loc {
	struct hash128 h;
	uint64_t off;
	uint32_t len;
	uint32_t file;
	uint32_t next; /* same hash, or the free list */
	uint32_t fprev, fnext;
};

struct file {
	char *path; /* NULL when the id is free */
	uint64_t phash;
	uint32_t hnext; /* same bucket, or the free list */
	uint32_t head;  /* first location */
};

struct dir {
	uint64_t key; /* 0 when empty */
	uint32_t count;
};

struct chunk_index {
	chunk_open_fn open_fn;
	void *ud;

	struct slot *slots;
	size_t nslots; /* a power of two, or 0 */
	size_t used;

	struct loc *locs;
	uint32_t nlocs, locs_cap, loc_free;

	struct file *files;
	uint32_t nfiles, files_cap, file_free;
	uint32_t *buckets;
	uint32_t nbuckets, live_files;

	struct dir *dirs;
	size_t ndirs, dirs_used; /* ndirs: a power of two, or 0 */
	size_t scans; /* walks of the whole file table (chunk_index_scans) */

	/* The file fetched from last, kept open. */
	uint32_t fd_file;
	int fd;
};

struct chunk_index *chunk_index_new(chunk_open_fn open_fn, void *ud)
{
	struct chunk_index *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->open_fn = open_fn;
	ix->ud = ud;
	ix->loc_free = NIL;
	ix->file_free = NIL;
	ix->fd_file = NIL;
	ix->fd = -1;
	return ix;
}

void chunk_index_free(struct chunk_index *ix)
{
	if (!ix)
		return;
	safe_close(ix->fd);
	for (uint32_t i = 0; i < ix->nfiles; i++)
		free(ix->files[i].path);
	free(ix->files);
	free(ix->buckets);
	free(ix->locs);
	free(ix->slots);
	free(ix->dirs);
	free(ix);
}

static void fd_invalidate(struct chunk_index *ix, uint32_t file)
{
	if (ix->fd_file != file)
		return;
	ix->fd = safe_close(ix->fd);
	ix->fd_file = NIL;
}

/* --- hash -> slot ------------------------------------------------------------ */

static size_t slot_home(const struct chunk_index *ix, const struct hash128 *h)
{
	uint64_t k;

	memcpy(&k, h->b, sizeof(k));
	return (size_t)k & (ix->nslots - 1);
}

static struct slot *slot_find(const struct chunk_index *ix, const struct hash128 *h)
{
	if (!ix->nslots)
		return NULL;
	for (size_t i = slot_home(ix, h);; i = (i + 1) & (ix->nslots - 1)) {
		struct slot *s = &ix->slots[i];

		if (s->head == NIL)
			return NULL;
		if (hash128_eq(&s->h, h))
			return s;
	}
}

/* Returns the empty slot where h belongs; the table must have room. */
static struct slot *slot_empty_for(const struct chunk_index *ix, const struct hash128 *h)
{
	size_t i = slot_home(ix, h);

	while (ix->slots[i].head != NIL)
		i = (i + 1) & (ix->nslots - 1);
	return &ix->slots[i];
}

/* Makes room for one more hash, keeping the load at most 3/4. */
static int slots_reserve(struct chunk_index *ix)
{
	struct slot *old = ix->slots;
	size_t oldn = ix->nslots, n;

	if ((ix->used + 1) * 4 <= ix->nslots * 3)
		return 0;
	n = oldn ? oldn * 2 : 1024;
	ix->slots = malloc(n * sizeof(*ix->slots));
	if (!ix->slots) {
		ix->slots = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ix->slots[i].head = NIL;
	ix->nslots = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].head != NIL)
			*slot_empty_for(ix, &old[i].h) = old[i];
	free(old);
	return 0;
}

/* Empties slot s and shifts the slots after it back so that every probe
 * sequence stays unbroken. */
static void slot_delete(struct chunk_index *ix, struct slot *s)
{
	size_t mask = ix->nslots - 1, i = (size_t)(s - ix->slots), j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (ix->slots[j].head == NIL)
			break;
		k = slot_home(ix, &ix->slots[j].h);
		/* Slot j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		ix->slots[i] = ix->slots[j];
		i = j;
	}
	ix->slots[i].head = NIL;
	ix->used--;
}

/* --- path -> file ------------------------------------------------------------ */

static uint64_t path_hash(const char *path)
{
	return XXH3_64bits(path, strlen(path));
}

static bool path_under(const char *path, const char *dir, size_t dirlen)
{
	return strncmp(path, dir, dirlen) == 0 && (path[dirlen] == '\0' || path[dirlen] == '/');
}

static uint64_t dir_key(const char *path, size_t len)
{
	uint64_t k = XXH3_64bits(path, len);

	return k ? k : 1;
}

static struct dir *dir_slot(const struct chunk_index *ix, uint64_t key)
{
	size_t i = (size_t)key & (ix->ndirs - 1);

	while (ix->dirs[i].key && ix->dirs[i].key != key)
		i = (i + 1) & (ix->ndirs - 1);
	return &ix->dirs[i];
}

/* Makes room for the directories of one more path. */
static int dirs_reserve(struct chunk_index *ix, const char *path)
{
	size_t extra = 0, oldn = ix->ndirs, n = oldn ? oldn : 64;
	struct dir *old = ix->dirs, *nd;

	for (const char *p = path; (p = strchr(p, '/')); p++)
		extra++;
	while ((ix->dirs_used + extra) * 4 > n * 3)
		n *= 2;
	if (n == oldn)
		return 0;
	nd = calloc(n, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	ix->dirs = nd;
	ix->ndirs = n;
	for (size_t i = 0; i < oldn; i++)
		if (old[i].key)
			*dir_slot(ix, old[i].key) = old[i];
	free(old);
	return 0;
}

/* Counts (add) or uncounts path in each of its directories; counting needs
 * dirs_reserve() first. */
static void dirs_count(struct chunk_index *ix, const char *path, bool add)
{
	for (const char *p = path; (p = strchr(p, '/')); p++) {
		struct dir *d = dir_slot(ix, dir_key(path, (size_t)(p - path)));

		if (!d->key) {
			d->key = dir_key(path, (size_t)(p - path));
			ix->dirs_used++;
		}
		if (add)
			d->count++;
		else
			d->count--;
	}
}

/* Whether some file may be recorded under directory path. */
static bool dirs_maybe(const struct chunk_index *ix, const char *path)
{
	return ix->ndirs && dir_slot(ix, dir_key(path, strlen(path)))->count;
}

static uint32_t file_find(const struct chunk_index *ix, const char *path)
{
	uint64_t ph;
	uint32_t id;

	if (!ix->nbuckets)
		return NIL;
	ph = path_hash(path);
	id = ix->buckets[ph & (ix->nbuckets - 1)];
	while (id != NIL && (ix->files[id].phash != ph || strcmp(ix->files[id].path, path) != 0))
		id = ix->files[id].hnext;
	return id;
}

static void bucket_link(struct chunk_index *ix, uint32_t id)
{
	uint32_t *b = &ix->buckets[ix->files[id].phash & (ix->nbuckets - 1)];

	ix->files[id].hnext = *b;
	*b = id;
}

static void bucket_unlink(struct chunk_index *ix, uint32_t id)
{
	uint32_t *p = &ix->buckets[ix->files[id].phash & (ix->nbuckets - 1)];

	while (*p != id)
		p = &ix->files[*p].hnext;
	*p = ix->files[id].hnext;
}

static int buckets_reserve(struct chunk_index *ix)
{
	uint32_t *nb, n;

	if (ix->live_files < ix->nbuckets)
		return 0;
	n = ix->nbuckets ? ix->nbuckets * 2 : 256;
	nb = malloc(n * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		nb[i] = NIL;
	free(ix->buckets);
	ix->buckets = nb;
	ix->nbuckets = n;
	for (uint32_t id = 0; id < ix->nfiles; id++)
		if (ix->files[id].path)
			bucket_link(ix, id);
	return 0;
}

/* Returns the id of the record for path, creating it; NIL when out of memory. */
static uint32_t file_get(struct chunk_index *ix, const char *path)
{
	uint32_t id = file_find(ix, path);
	char *copy;

	if (id != NIL)
		return id;
	if (buckets_reserve(ix) < 0 || dirs_reserve(ix, path) < 0)
		return NIL;
	if (ix->file_free == NIL && ix->nfiles == ix->files_cap) {
		uint32_t cap = ix->files_cap ? ix->files_cap * 2 : 64;
		struct file *nf;

		if (cap <= ix->files_cap)
			return NIL;
		nf = realloc(ix->files, cap * sizeof(*nf));
		if (!nf)
			return NIL;
		ix->files = nf;
		ix->files_cap = cap;
	}
	copy = strdup(path);
	if (!copy)
		return NIL;
	if (ix->file_free != NIL) {
		id = ix->file_free;
		ix->file_free = ix->files[id].hnext;
	} else {
		id = ix->nfiles++;
	}
	ix->files[id] = (struct file){ .path = copy, .phash = path_hash(copy), .head = NIL };
	bucket_link(ix, id);
	dirs_count(ix, copy, true);
	ix->live_files++;
	return id;
}

/* Frees the record of a file that has no locations left. */
static void file_release(struct chunk_index *ix, uint32_t id)
{
	fd_invalidate(ix, id);
	bucket_unlink(ix, id);
	dirs_count(ix, ix->files[id].path, false);
	free(ix->files[id].path);
	ix->files[id].path = NULL;
	ix->files[id].hnext = ix->file_free;
	ix->file_free = id;
	ix->live_files--;
}

/* --- locations --------------------------------------------------------------- */

static int locs_reserve(struct chunk_index *ix)
{
	uint32_t cap;
	struct loc *nl;

	if (ix->loc_free != NIL || ix->nlocs < ix->locs_cap)
		return 0;
	cap = ix->locs_cap ? ix->locs_cap * 2 : 1024;
	if (cap <= ix->locs_cap)
		return -ENOMEM;
	nl = realloc(ix->locs, (size_t)cap * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	ix->locs = nl;
	ix->locs_cap = cap;
	return 0;
}

/* Unlinks location id from its hash chain and its file, and frees it. The
 * file record stays, possibly empty. */
static void loc_drop(struct chunk_index *ix, uint32_t id)
{
	struct loc *l = &ix->locs[id];
	struct slot *s = slot_find(ix, &l->h);
	uint32_t *p = &s->head;

	while (*p != id)
		p = &ix->locs[*p].next;
	*p = l->next;
	if (s->head == NIL)
		slot_delete(ix, s);

	if (l->fprev != NIL)
		ix->locs[l->fprev].fnext = l->fnext;
	else
		ix->files[l->file].head = l->fnext;
	if (l->fnext != NIL)
		ix->locs[l->fnext].fprev = l->fprev;

	l->file = NIL;
	l->next = ix->loc_free;
	ix->loc_free = id;
}

static void file_forget(struct chunk_index *ix, uint32_t file)
{
	while (ix->files[file].head != NIL)
		loc_drop(ix, ix->files[file].head);
	file_release(ix, file);
}

int chunk_index_add(struct chunk_index *ix, const struct hash128 *h, const char *path, uint64_t off,
		    uint32_t len)
{
	struct slot *s;
	uint32_t file, id, *tail, n = 0;
	const struct loc *l;
	int r;

	if (!*path || !len || off > (uint64_t)INT64_MAX - len)
		return -EINVAL;
	s = slot_find(ix, h);
	file = file_find(ix, path);
	if (s) {
		for (tail = &s->head; *tail != NIL; tail = &ix->locs[*tail].next, n++) {
			l = &ix->locs[*tail];
			if (l->file == file && l->off == off && l->len == len)
				return 0;
		}
		if (n >= CHUNK_INDEX_MAX_LOCS)
			return 0;
	}
	r = slots_reserve(ix);
	if (r < 0)
		return r;
	r = locs_reserve(ix);
	if (r < 0)
		return r;
	file = file_get(ix, path);
	if (file == NIL)
		return -ENOMEM;

	if (ix->loc_free != NIL) {
		id = ix->loc_free;
		ix->loc_free = ix->locs[id].next;
	} else {
		id = ix->nlocs++;
	}
	ix->locs[id] = (struct loc){
		.h = *h,
		.off = off,
		.len = len,
		.file = file,
		.next = NIL,
		.fprev = NIL,
		.fnext = ix->files[file].head,
	};
	if (ix->files[file].head != NIL)
		ix->locs[ix->files[file].head].fprev = id;
	ix->files[file].head = id;

	/* The table may have grown: look the slot up again. */
	s = slot_find(ix, h);
	if (!s) {
		s = slot_empty_for(ix, h);
		s->h = *h;
		s->head = id;
		ix->used++;
		return 0;
	}
	for (tail = &s->head; *tail != NIL; tail = &ix->locs[*tail].next)
		;
	*tail = id;
	return 0;
}

void chunk_index_forget(struct chunk_index *ix, const char *path)
{
	uint32_t file = file_find(ix, path);
	size_t len = strlen(path);

	if (file != NIL)
		file_forget(ix, file);
	if (!dirs_maybe(ix, path))
		return;
	ix->scans++;
	for (uint32_t id = 0; id < ix->nfiles; id++)
		if (ix->files[id].path && path_under(ix->files[id].path, path, len))
			file_forget(ix, id);
}

/* Moves file id from `from` to `to` plus the rest of its path. */
static int file_move(struct chunk_index *ix, uint32_t id, size_t fromlen, const char *to)
{
	struct file *f = &ix->files[id];
	const char *rest = f->path + fromlen;
	size_t tolen = strlen(to);
	char *np = malloc(tolen + strlen(rest) + 1);

	if (np) {
		memcpy(np, to, tolen);
		strcpy(np + tolen, rest);
	}
	if (!np || dirs_reserve(ix, np) < 0) {
		free(np);
		file_forget(ix, id);
		return -ENOMEM;
	}
	fd_invalidate(ix, id);
	bucket_unlink(ix, id);
	dirs_count(ix, f->path, false);
	free(f->path);
	f->path = np;
	f->phash = path_hash(np);
	bucket_link(ix, id);
	dirs_count(ix, np, true);
	return 0;
}

int chunk_index_rename(struct chunk_index *ix, const char *from, const char *to)
{
	size_t fromlen = strlen(from), tolen = strlen(to);
	uint32_t file;
	int r = 0;

	if (strcmp(from, to) == 0)
		return 0;
	if (!fromlen || !tolen || path_under(to, from, fromlen) || path_under(from, to, tolen))
		return -EINVAL;
	chunk_index_forget(ix, to);

	file = file_find(ix, from);
	if (file != NIL)
		r = file_move(ix, file, fromlen, to);
	if (!dirs_maybe(ix, from))
		return r;
	ix->scans++;
	for (uint32_t id = 0; id < ix->nfiles; id++)
		if (ix->files[id].path && path_under(ix->files[id].path, from, fromlen) &&
		    file_move(ix, id, fromlen, to) < 0)
			r = -ENOMEM;
	return r;
}

size_t chunk_index_scans(const struct chunk_index *ix)
{
	return ix->scans;
}

/* --- fetch ------------------------------------------------------------------- */

static bool transient(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -EINTR;
}

static int file_fd(struct chunk_index *ix, uint32_t file)
{
	int fd;

	if (ix->fd_file == file)
		return ix->fd;
	fd_invalidate(ix, ix->fd_file);
	fd = ix->open_fn(ix->ud, ix->files[file].path);
	if (fd < 0)
		return fd;
	ix->fd = fd;
	ix->fd_file = file;
	return fd;
}

/* Whether location id still holds its chunk; buf receives the bytes. */
static bool loc_valid(const struct chunk_index *ix, uint32_t id, int fd, uint8_t *buf)
{
	const struct loc *l = &ix->locs[id];
	struct hash128 got;

	if (io_pread_all(fd, buf, l->len, (off_t)l->off) != (ssize_t)l->len)
		return false;
	hash128_buf(buf, l->len, &got);
	return hash128_eq(&got, &l->h);
}

int chunk_index_fetch(struct chunk_index *ix, const struct hash128 *h, uint32_t len, uint8_t *buf)
{
	const struct slot *s;
	uint32_t id;

	/* Each pass ends in success or drops at least one location. */
again:
	s = slot_find(ix, h);
	for (id = s ? s->head : NIL; id != NIL; id = ix->locs[id].next) {
		uint32_t file = ix->locs[id].file;
		int fd;

		if (ix->locs[id].len != len)
			continue;
		fd = file_fd(ix, file);
		if (fd < 0) {
			if (transient(fd))
				return fd;
			file_forget(ix, file);
			goto again;
		}
		if (loc_valid(ix, id, fd, buf))
			return 0;
		loc_drop(ix, id);
		if (ix->files[file].head == NIL)
			file_release(ix, file);
		goto again;
	}
	return -ENOENT;
}

int chunk_index_add_file(struct chunk_index *ix, const char *path)
{
	enum { BUFSZ = 4 * CHUNK_MAX_SIZE };
	struct chunker c = CHUNKER_INIT;
	uint8_t *buf = NULL;
	size_t have = 0, start = 0, scanned = 0;
	uint64_t base = 0; /* file offset of buf[0] */
	int fd, r = 0;

	chunk_index_forget(ix, path);
	fd = ix->open_fn(ix->ud, path);
	if (fd < 0)
		return fd;
	buf = malloc(BUFSZ);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct hash128 h;
		ssize_t n;
		bool eof;

		if (have == BUFSZ) {
			/* The unfinished chunk is shorter than CHUNK_MAX_SIZE. */
			memmove(buf, buf + start, have - start);
			base += start;
			have -= start;
			scanned -= start;
			start = 0;
		}
		n = io_read_all(fd, buf + have, BUFSZ - have);
		if (n < 0) {
			r = (int)n;
			goto out;
		}
		eof = (size_t)n < BUFSZ - have;
		have += (size_t)n;
		while (scanned < have) {
			size_t k = chunker_scan(&c, buf + scanned, have - scanned);

			if (!k) {
				scanned = have;
				break;
			}
			scanned += k;
			hash128_buf(buf + start, scanned - start, &h);
			r = chunk_index_add(ix, &h, path, base + start,
					    (uint32_t)(scanned - start));
			if (r < 0)
				goto out;
			start = scanned;
		}
		if (eof) {
			if (scanned > start) {
				hash128_buf(buf + start, scanned - start, &h);
				r = chunk_index_add(ix, &h, path, base + start,
						    (uint32_t)(scanned - start));
			}
			break;
		}
	}
out:
	free(buf);
	safe_close(fd);
	return r;
}

bool chunk_index_has_file(const struct chunk_index *ix, const char *path)
{
	return file_find(ix, path) != NIL;
}

size_t chunk_index_count(const struct chunk_index *ix)
{
	return ix->used;
}

size_t chunk_index_locations(const struct chunk_index *ix, const struct hash128 *h)
{
	const struct slot *s = slot_find(ix, h);
	size_t n = 0;

	for (uint32_t id = s ? s->head : NIL; id != NIL; id = ix->locs[id].next)
		n++;
	return n;
}
