/* Receiving the trees the peer writes: files built from local and received
 * chunks in an anonymous temporary file and renamed into place once the
 * whole-file hash matches; metadata applied strictly in the order sent.
 *
 * What the peer can make us hold is bounded (doc/PROTOCOL.md, "Limits"):
 * operations waiting behind unfinished transfers (RX_MAX_QUEUED and
 * RX_MAX_QUEUED_BYTES, fatal), and bytes (cfg.max_store, per file ENOSPC):
 * store_held counts the files in its trees and what open transfers wrote
 * into their temporary files, rx_pending what they announced and have not
 * written yet. Nothing is reserved on the peer's word alone. Chunks are at
 * least CHUNK_MIN_SIZE but for each file's last, so bounding announced bytes
 * bounds the chunk records too. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "engine-int.h"
#include "log.h"
#include "pathsafe.h"
#include "tree.h"
#include "util.h"

static struct rx_file **rx_slot(struct engine *e, uint32_t id)
{
	struct rx_file **p = &e->rx_ids[id % ID_BUCKETS];

	while (*p && (*p)->id != id)
		p = &(*p)->hnext;
	return p;
}

static struct rx_file *rx_find(struct engine *e, uint32_t id)
{
	return *rx_slot(e, id);
}

static void rx_unlink_id(struct engine *e, struct rx_file *f)
{
	struct rx_file **p = rx_slot(e, f->id);

	if (*p == f) {
		*p = f->hnext;
		e->rx_open--;
	}
}

static void store_charge(struct engine *e, uint64_t n)
{
	e->store_held += n;
	e->stats.store_held = e->store_held;
}

/* Saturating: a local user may have changed what we counted. */
static void store_release(struct engine *e, uint64_t n)
{
	e->store_held -= MIN(n, e->store_held);
	e->stats.store_held = e->store_held;
}

/* Bytes a new announcement or append may still take. */
static uint64_t store_left(const struct engine *e)
{
	uint64_t used = e->store_held + e->rx_pending;

	return used >= e->store_max ? 0 : e->store_max - used;
}

/* Gives back what f holds of the store and drops its temporary file. */
static void rx_file_release(struct engine *e, struct rx_file *f)
{
	store_release(e, f->written);
	e->rx_pending -= MIN(f->pending, e->rx_pending);
	f->written = f->pending = 0;
	f->fd = safe_close(f->fd);
	if (f->stage[0])
		(void)unlinkat(e->stagefd, f->stage, 0);
	f->stage[0] = '\0';
}

static void rx_file_free(struct engine *e, struct rx_file *f)
{
	if (!f)
		return;
	rx_file_release(e, f);
	hash_stream_free(f->hs);
	free(f->seen);
	free(f->c);
	free(f->path);
	free(f);
}

static void rx_op_free(struct engine *e, struct rx_op *op)
{
	if (!op)
		return;
	rx_file_free(e, op->file);
	free(op->path);
	free(op->to);
	free(op);
}

void rx_reset(struct engine *e)
{
	struct rx_op *op = e->ops_head;

	while (op) {
		struct rx_op *next = op->next;
		rx_op_free(e, op);
		op = next;
	}
	e->ops_head = e->ops_tail = NULL;
	e->ops_n = e->ops_bytes = 0;
	e->rx_pending = 0;
	memset(e->rx_ids, 0, sizeof(e->rx_ids));
	e->rx_open = 0;
	e->peer_initial_done = false;
	e->summary_again = false;
	e->store_sent = e->store_refused = false;
}

bool rx_idle(const struct engine *e)
{
	return !e->ops_head;
}

/* Refuses (fatally) an operation that would make the queue too long. */
static int rx_admit(struct engine *e, uint64_t cost)
{
	if (e->ops_n >= RX_MAX_QUEUED)
		return engine_fatal(e, -ENOBUFS, NULL,
				    "more than %u operations queued behind unfinished transfers",
				    RX_MAX_QUEUED);
	if (e->ops_bytes + cost > RX_MAX_QUEUED_BYTES)
		return engine_fatal(e, -ENOBUFS, NULL,
				    "more than %u MiB of operations queued behind unfinished transfers",
				    RX_MAX_QUEUED_BYTES >> 20);
	return 0;
}

/* Appends op (admitted with rx_admit() for op->cost). */
static void rx_enqueue(struct engine *e, struct rx_op *op)
{
	op->prev = e->ops_tail;
	op->next = NULL;
	if (e->ops_tail)
		e->ops_tail->next = op;
	else
		e->ops_head = op;
	e->ops_tail = op;
	e->ops_n++;
	e->ops_bytes += op->cost;
}

/* Takes op out of the queue, wherever it is, and frees it. */
static void rx_dequeue(struct engine *e, struct rx_op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		e->ops_head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	else
		e->ops_tail = op->prev;
	e->ops_n--;
	e->ops_bytes -= op->cost;
	rx_op_free(e, op);
}

/* A new name in the staging directory (ENGINE_STAGING_DIR), never in a tree. */
static void rx_stagename(struct engine *e, char *buf, size_t n)
{
	snprintf(buf, n, "%d.%llu", (int)getpid(), (unsigned long long)++e->tmp_seq);
}

/* The new version is built in an anonymous temporary file (O_TMPFILE) in the
 * staging directory: it has no name until it is complete, and a crash leaves
 * nothing. Where the file system has no O_TMPFILE it is a named file there,
 * which a crash may leave behind: the next engine_new() removes it. Either
 * way it gets its name in a tree only at commit, by a rename. */
static int rx_tmpfile(struct engine *e, struct rx_file *f)
{
	int fd = openat(e->stagefd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), r;

	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return neg_errno();
	rx_stagename(e, f->stage, sizeof(f->stage));
	fd = openat(e->stagefd, f->stage, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = neg_errno();
		f->stage[0] = '\0';
		return r;
	}
	return fd;
}

/* Feeds the whole-file hash with the zeros of a hole, up to offset `to`. */
static void rx_hash_hole(struct rx_file *f, uint64_t to)
{
	if (f->hashed < to) {
		hash_stream_zeros(f->hs, to - f->hashed);
		f->hashed = to;
	}
}

/* Feeds the whole-file hash in order: chunk i has just been written from p
 * (or p is NULL); completed chunks after it are read back. */
static int rx_advance(struct engine *e, struct rx_file *f, uint32_t i, const uint8_t *p)
{
	uint8_t *buf = e->scratch[1];

	if (i != f->cursor)
		return 0;
	if (p) {
		rx_hash_hole(f, f->c[i].off);
		hash_stream_update(f->hs, p, f->c[i].len);
		f->hashed += f->c[i].len;
		f->cursor++;
	}
	while (f->cursor < f->n && f->c[f->cursor].state == RXC_DONE) {
		struct rx_chunk *c = &f->c[f->cursor];
		ssize_t n = io_pread_all(f->fd, buf, c->len, (off_t)c->off);
		if (n < 0)
			return (int)n;
		if ((size_t)n != c->len)
			return -EIO;
		rx_hash_hole(f, c->off);
		hash_stream_update(f->hs, buf, c->len);
		f->hashed += c->len;
		f->cursor++;
	}
	return 0;
}

/* The first record of chunk h (with length len) in f, or -1. With add, a
 * missing one is recorded as record i. */
static int64_t rx_seen(struct rx_file *f, const struct hash128 *h, uint32_t len, uint32_t i,
		       bool add)
{
	uint32_t mask, k;

	if (add && (uint64_t)(f->seen_n + 1) * 2 > f->seen_cap) {
		uint32_t cap = f->seen_cap ? f->seen_cap * 2 : 64;
		uint32_t *t = calloc(cap, sizeof(*t));
		if (!t)
			return -1; /* only dedup is lost */
		for (uint32_t j = 0; j < f->seen_cap; j++) {
			uint32_t v = f->seen[j];
			if (!v)
				continue;
			k = le32_get(f->c[v - 1].h.b) & (cap - 1);
			while (t[k])
				k = (k + 1) & (cap - 1);
			t[k] = v;
		}
		free(f->seen);
		f->seen = t;
		f->seen_cap = cap;
	}
	if (!f->seen_cap)
		return -1;
	mask = f->seen_cap - 1;
	for (k = le32_get(h->b) & mask; f->seen[k]; k = (k + 1) & mask) {
		const struct rx_chunk *c = &f->c[f->seen[k] - 1];
		if (c->len == len && hash128_eq(&c->h, h))
			return f->seen[k] - 1;
	}
	if (add && f->seen_n + 1 <= f->seen_cap / 2) {
		f->seen[k] = i + 1;
		f->seen_n++;
	}
	return -1;
}

/* What a FILE_ACK or ERROR says about a local refusal: fixed texts where
 * the errno alone could be mistaken, never anything read from the file. */
static const char *refusal_text(int err)
{
	switch (err) {
	case -ENOSPC: return STORE_FULL;
	case -ENAMETOOLONG: return "more levels below its tree than the receiver accepts";
	}
	return strerror(-err);
}

/* The transfer cannot succeed: from here on it only runs its course. */
static void rx_fail(struct engine *e, struct rx_file *f, int err)
{
	if (!f->err)
		f->err = err;
	rx_file_release(e, f);
}

/* Answers a failed transfer as soon as nothing is due for it any more: it
 * has ended and every chunk it wanted has arrived (an aborted one gets no
 * answer). It changed nothing, so it need not wait for its turn. */
static int rx_settle(struct engine *e, struct rx_file *f)
{
	int r = 0;

	if (!f->err || !f->ended || f->wanted)
		return 0;
	rx_unlink_id(e, f);
	if (f->err != -ECANCELED) {
		e->store_refused |= f->err == -ENOSPC;
		e->stats.errors++;
		log_errno(f->err, "%s: cannot store the received file", f->path);
		r = msg_put_ack(&e->out, f->id, f->err, refusal_text(f->err));
	}
	rx_dequeue(e, f->op);
	return r;
}

#define ZERO_BLOCK 4096u

static bool all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Writes p[0, len) at file offset off, leaving out the whole ZERO_BLOCK
 * aligned blocks of zeros (the temporary file is a hole there already).
 * With fd < 0 only counts. Returns the bytes written or a negative errno. */
static int64_t write_sparse(int fd, const uint8_t *p, uint32_t len, uint64_t off)
{
	uint64_t stored = 0;
	uint32_t run = 0, pos = 0; /* p[run, pos) is due */

	while (pos < len) {
		uint32_t n = ZERO_BLOCK - (uint32_t)((off + pos) % ZERO_BLOCK);
		if (n > len - pos)
			n = len - pos;
		if (n == ZERO_BLOCK && all_zero(p + pos, n)) {
			if (pos > run && fd >= 0) {
				int r = io_pwrite_all(fd, p + run, pos - run, (off_t)(off + run));
				if (r < 0)
					return r;
			}
			stored += pos - run;
			run = pos + n;
		}
		pos += n;
	}
	if (pos > run && fd >= 0) {
		int r = io_pwrite_all(fd, p + run, pos - run, (off_t)(off + run));
		if (r < 0)
			return r;
	}
	return (int64_t)(stored + (pos - run));
}

/* Writes a chunk into f's temporary file, moving its bytes from announced
 * to held: the bytes it stores, which is less when it holds zeros. */
static int rx_write(struct engine *e, struct rx_file *f, const uint8_t *p, uint32_t len,
		    uint64_t off)
{
	int64_t stored = write_sparse(-1, p, len, off);

	if (e->store_held + (uint64_t)stored > e->store_max)
		return -ENOSPC;
	stored = write_sparse(f->fd, p, len, off);
	if (stored < 0)
		return (int)stored;
	f->done += len;
	engine_flow_moved(e, FLOW_RX, len);
	len = (uint32_t)MIN((uint64_t)len, f->pending);
	f->pending -= len;
	e->rx_pending -= MIN((uint64_t)len, e->rx_pending);
	f->written += (uint64_t)stored;
	store_charge(e, (uint64_t)stored);
	return 0;
}

static int rx_file_begin(struct engine *e, struct wbuf *b)
{
	struct msg_file_begin m;
	struct rx_file *f;
	struct rx_op *op;
	int r = msg_decode_file_begin(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_BEGIN");
	if (!engine_is_peer_path(e, m.path))
		return engine_fatal(e, -EPERM, m.path, "FILE_BEGIN outside the peer's trees");
	if (rx_find(e, m.id))
		return engine_fatal(e, -EPROTO, m.path, "FILE_BEGIN reuses open id %u", m.id);
	if (e->rx_open >= RX_MAX_OPEN)
		return engine_fatal(e, -EPROTO, m.path, "more than %d open transfers", RX_MAX_OPEN);
	r = rx_admit(e, rx_op_cost(m.path, NULL));
	if (r < 0)
		return r;

	f = calloc(1, sizeof(*f));
	op = calloc(1, sizeof(*op));
	if (!f || !op || !(f->path = strdup(m.path)) || !(f->hs = hash_stream_new())) {
		free(op);
		if (f)
			f->fd = -1;
		rx_file_free(e, f);
		return engine_fatal(e, -ENOMEM, m.path, "out of memory");
	}
	f->id = m.id;
	f->mode = m.mode;
	f->size = m.size;
	f->mtime = m.mtime;
	f->begun_ms = engine_now_ms();
	f->fd = -1;
	/* Nothing is reserved for the announced size: it is only compared with
	 * what is left, and bytes count as they are announced and written. */
	if (tree_too_deep(m.path)) {
		f->err = -ENAMETOOLONG;
	} else {
		/* Sized at once: what is never written stays a hole. */
		f->fd = rx_tmpfile(e, f);
		if (f->fd >= 0 && ftruncate(f->fd, (off_t)MIN(m.size, (uint64_t)INT64_MAX)) < 0) {
			f->err = neg_errno();
			f->fd = safe_close(f->fd);
		} else if (f->fd < 0) {
			f->err = f->fd;
			log_errno(f->err, "%s: cannot create a temporary file", m.path);
		}
	}
	/* The previous version of the file seeds the new one. */
	if (!f->err && !chunk_index_has_file(e->ix, m.path))
		(void)chunk_index_add_file(e->ix, m.path);

	f->hnext = e->rx_ids[m.id % ID_BUCKETS];
	e->rx_ids[m.id % ID_BUCKETS] = f;
	e->rx_open++;
	op->kind = RXOP_FILE;
	op->file = f;
	op->cost = rx_op_cost(m.path, NULL);
	f->op = op;
	rx_enqueue(e, op);
	return 0;
}

/* The open transfer a FILE_CHUNKS, FILE_HOLE or FILE_END names: 0 and *f,
 * or the fatal error for an unknown or ended one. */
static int rx_open(struct engine *e, uint32_t id, const char *what, struct rx_file **f)
{
	*f = rx_find(e, id);
	if (!*f || (*f)->ended)
		return engine_fatal(e, -EPROTO, NULL, "%s for %s id %u", what, *f ? "ended" : "unknown", id);
	return 0;
}

static int rx_file_chunks(struct engine *e, struct wbuf *b)
{
	uint8_t *buf = e->scratch[0];
	struct msg_chunks m;
	struct rx_file *f;
	size_t mark;
	uint64_t bytes = 0, charge = 0;
	uint32_t nwant = 0;
	bool record;
	int r = msg_decode_chunks(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_CHUNKS");
	r = rx_open(e, m.id, "FILE_CHUNKS", &f);
	if (r < 0)
		return r;
	if (m.first != f->n)
		return engine_fatal(e, -EPROTO, f->path, "FILE_CHUNKS first %u, expected %u", m.first,
				    f->n);
	/* Each data extent (between holes) may end with a short chunk. */
	if ((uint64_t)f->n + m.count > f->size / CHUNK_MIN_SIZE + 1 + f->nholes)
		return engine_fatal(e, -EBADMSG, f->path, "more chunks than the size allows");
	for (uint32_t i = 0; i < m.count; i++) {
		struct hash128 h;
		uint32_t len;

		msg_chunk_at(&m, i, &h, &len);
		bytes += len;
		/* Once holes allow short chunks anywhere, each counts as a
		 * whole minimum chunk, so records stay bounded by the store. */
		charge += f->nholes ? MAX(len, CHUNK_MIN_SIZE) : len;
		if (f->announced + bytes > f->size)
			return engine_fatal(e, -EBADMSG, f->path, "chunks exceed the announced size");
	}
	/* Announced bytes count against the store before anything is
	 * recorded, so the records of all open transfers stay within it. */
	if (!f->err && charge > store_left(e))
		rx_fail(e, f, -ENOSPC);
	record = !f->err;
	if (record && f->n + m.count > f->cap) {
		uint32_t cap = MAX(f->cap * 2, f->n + m.count);
		struct rx_chunk *c = realloc(f->c, cap * sizeof(*c));
		if (!c)
			return engine_fatal(e, -ENOMEM, f->path, "out of memory");
		f->c = c;
		f->cap = cap;
	}
	if (record) {
		f->pending += charge;
		e->rx_pending += charge;
	}

	r = msg_begin(&e->out, MSG_WANT, &mark);
	if (r < 0 || (r = wbuf_put_u32(&e->out, m.id)) < 0 ||
	    (r = wbuf_put_u32(&e->out, m.first)) < 0 || (r = wbuf_put_u32(&e->out, 0)) < 0)
		return engine_fatal(e, r, f->path, "cannot queue WANT");

	for (uint32_t i = 0; i < m.count; i++) {
		struct hash128 h;
		struct rx_chunk *c;
		uint32_t len;
		int64_t first;

		msg_chunk_at(&m, i, &h, &len);
		if (!record) {
			/* Counted only, so that FILE_END can be checked. */
			f->announced += len;
			f->n++;
			continue;
		}
		c = &f->c[f->n];
		c->h = h;
		c->len = len;
		c->off = f->announced;
		c->state = 0;
		c->dup = 0;
		f->announced += len;
		f->n++;
		f->nrec = f->n;
		if (f->err)
			continue;
		if (chunk_index_fetch(e->ix, &c->h, c->len, buf) == 0) {
			r = rx_write(e, f, buf, c->len, c->off);
			if (r == 0) {
				c->state = RXC_DONE;
				e->stats.chunks_local++;
				r = rx_advance(e, f, f->n - 1, buf);
				if (r < 0)
					rx_fail(e, f, r);
				continue;
			}
			rx_fail(e, f, r);
			continue;
		}
		/* A chunk seen before in this file is wanted only once. */
		first = rx_seen(f, &c->h, c->len, f->n - 1, true);
		if (first >= 0 && f->c[first].state == RXC_DONE) {
			ssize_t n = io_pread_all(f->fd, buf, c->len, (off_t)f->c[first].off);
			r = n < 0 ? (int)n : (size_t)n != c->len ? -EIO : 0;
			if (r == 0)
				r = rx_write(e, f, buf, c->len, c->off);
			if (r == 0) {
				c->state = RXC_DONE;
				e->stats.chunks_local++;
				r = rx_advance(e, f, f->n - 1, buf);
			}
			if (r < 0)
				rx_fail(e, f, r);
			continue;
		}
		if (first >= 0) {
			c->state = RXC_DUP;
			c->dup = f->c[first].dup;
			f->c[first].dup = f->n;
			continue;
		}
		c->state = RXC_WANTED;
		f->wanted++;
		nwant++;
		if ((r = wbuf_put_u32(&e->out, f->n - 1)) < 0) {
			msg_cancel(&e->out, mark);
			return engine_fatal(e, r, f->path, "cannot queue WANT");
		}
	}
	le32_put(e->out.d + e->out.off + mark + FRAME_HDR_LEN + 8, nwant);
	return msg_finish(&e->out, mark);
}

static int rx_file_end(struct engine *e, struct wbuf *b)
{
	struct msg_file_end m;
	struct rx_file *f;
	int r = msg_decode_file_end(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_END");
	r = rx_open(e, m.id, "FILE_END", &f);
	if (r < 0)
		return r;
	if (m.nchunks != f->n)
		return engine_fatal(e, -EBADMSG, f->path, "FILE_END says %u chunks, %u were announced",
				    m.nchunks, f->n);
	if (f->announced != f->size)
		return engine_fatal(e, -EBADMSG, f->path, "chunks add up to %llu bytes, not %llu",
				    (unsigned long long)f->announced, (unsigned long long)f->size);
	f->ended = true;
	f->end_n = m.nchunks;
	f->end_hash = m.hash;
	return rx_settle(e, f);
}

static int rx_file_abort(struct engine *e, struct wbuf *b)
{
	struct rx_file *f;
	uint32_t id;
	int r = msg_decode_u32(b, &id);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_ABORT");
	f = rx_find(e, id);
	if (!f)
		return engine_fatal(e, -EPROTO, NULL, "FILE_ABORT for unknown id %u", id);
	/* The sender expects no answer, whatever went wrong here before. */
	rx_fail(e, f, -ECANCELED);
	f->err = -ECANCELED;
	f->ended = true;
	f->wanted = 0;
	return rx_settle(e, f);
}

static int rx_data(struct engine *e, struct wbuf *b)
{
	struct msg_data m;
	struct rx_file *f;
	struct rx_chunk *c;
	struct hash128 h;
	int r = msg_decode_data(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed DATA");
	f = rx_find(e, m.id);
	if (!f)
		return engine_fatal(e, -EPROTO, NULL, "DATA for unknown id %u", m.id);
	if (m.index >= f->nrec || f->c[m.index].state != RXC_WANTED)
		return engine_fatal(e, -EPROTO, f->path, "DATA for chunk %u that was not wanted",
				    m.index);
	c = &f->c[m.index];
	if (m.len != c->len)
		return engine_fatal(e, -EBADMSG, f->path, "chunk %u has %zu bytes, announced %u",
				    m.index, m.len, c->len);
	hash128_buf(m.p, m.len, &h);
	if (!hash128_eq(&h, &c->h))
		return engine_fatal(e, -EBADMSG, f->path, "chunk %u does not match its hash",
				    m.index);
	c->state = RXC_DONE;
	f->wanted--;
	if (!f->err) {
		r = rx_write(e, f, m.p, c->len, c->off);
		/* Then every later record of the same chunk. */
		for (uint32_t d = c->dup; r == 0 && d; d = f->c[d - 1].dup) {
			r = rx_write(e, f, m.p, c->len, f->c[d - 1].off);
			if (r == 0) {
				f->c[d - 1].state = RXC_DONE;
				e->stats.chunks_local++;
			}
		}
		if (r == 0)
			r = rx_advance(e, f, m.index, m.p);
		if (r < 0)
			rx_fail(e, f, r);
	}
	return rx_settle(e, f);
}

static int rx_file_hole(struct engine *e, struct wbuf *b)
{
	struct msg_hole m;
	struct rx_file *f;
	int r = msg_decode_hole(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_HOLE");
	r = rx_open(e, m.id, "FILE_HOLE", &f);
	if (r < 0)
		return r;
	/* Holes come in order, between the chunks around them. */
	if (m.offset != f->announced)
		return engine_fatal(e, -EBADMSG, f->path, "FILE_HOLE at %llu, expected %llu",
				    (unsigned long long)m.offset, (unsigned long long)f->announced);
	if (m.len > f->size - f->announced)
		return engine_fatal(e, -EBADMSG, f->path, "FILE_HOLE beyond the announced size");
	if (f->nholes >= f->size / HOLE_MIN_SIZE)
		return engine_fatal(e, -EBADMSG, f->path, "more holes than the size allows");
	f->announced += m.len;
	f->nholes++;
	f->done += m.len;
	engine_flow_moved(e, FLOW_RX, m.len);
	return 0;
}

/* --- applying, in order ------------------------------------------------------------ */

static void rx_report(struct engine *e, int err, const char *path, const char *what)
{
	e->stats.errors++;
	log_errno(err, "%s: %s", path, what);
	(void)msg_put_error(&e->out, err, false, path, what);
}

/* Renames `tmp` (in tmpdir) over `base` (in dirfd), replacing whatever is
 * there, and adds to *freed the size of the files that replaced. */
static int rx_rename_over(int tmpdir, const char *tmp, int dirfd, const char *base,
			  uint64_t *freed)
{
	struct stat src, dst;
	bool have_dst = fstatat(dirfd, base, &dst, AT_SYMLINK_NOFOLLOW) == 0;
	/* Another name of a hard-linked file gives nothing back. */
	bool file_in_way = have_dst && S_ISREG(dst.st_mode) && dst.st_nlink < 2;
	/* Two names of one file: rename(2) would keep both, but the sender
	 * renamed two different files (it links the target ahead of the
	 * rename when it sees the file has another name there already), so
	 * the source name goes. The same name twice changes nothing. */
	bool same = have_dst && !S_ISDIR(dst.st_mode) &&
		    fstatat(tmpdir, tmp, &src, AT_SYMLINK_NOFOLLOW) == 0 &&
		    src.st_dev == dst.st_dev && src.st_ino == dst.st_ino;

	if (same) {
		struct stat d1, d2;

		if (fstat(tmpdir, &d1) < 0 || fstat(dirfd, &d2) < 0)
			return neg_errno();
		if (d1.st_dev == d2.st_dev && d1.st_ino == d2.st_ino && !strcmp(tmp, base))
			return 0;
		return unlinkat(tmpdir, tmp, 0) < 0 && errno != ENOENT ? neg_errno() : 0;
	}
	if (renameat(tmpdir, tmp, dirfd, base) == 0) {
		if (file_in_way)
			*freed += ST_HELD_BYTES(&dst);
		return 0;
	}
	if (errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR)
		return neg_errno();
	(void)path_remove_tree_sized(dirfd, base, freed);
	return renameat(tmpdir, tmp, dirfd, base) == 0 ? 0 : neg_errno();
}

static int rx_commit(struct engine *e, struct rx_file *f)
{
	struct timespec ts[2];
	struct hash128 h;
	char proc[64];
	const char *base;
	uint64_t freed = 0;
	int dirfd, r;

	rx_unlink_id(e, f);
	if (f->err == -ECANCELED)
		return 0;
	if (f->err)
		goto failed;

	r = rx_advance(e, f, f->cursor, NULL);
	if (r < 0 || f->cursor != f->n) {
		f->err = r < 0 ? r : -EIO;
		goto failed;
	}
	rx_hash_hole(f, f->size);
	hash_stream_digest(f->hs, &h);
	if (!hash128_eq(&h, &f->end_hash))
		return engine_fatal(e, -EBADMSG, f->path, "the whole-file hash does not match");

	ts[0].tv_sec = ts[1].tv_sec = (time_t)(f->mtime / 1000000000u);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(f->mtime % 1000000000u);
	/* What the file takes is what the file system allocated for it. */
	{
		struct stat st;
		if (fstat(f->fd, &st) == 0) {
			uint64_t held = ST_HELD_BYTES(&st);
			if (held > f->written)
				store_charge(e, held - f->written);
			else
				store_release(e, f->written - held);
			f->written = held;
		}
	}
	/* Setuid, setgid and sticky bits never cross. The size is exact already
	 * (set at FILE_BEGIN); mtime is set last. */
	if (fchmod(f->fd, stored_mode(f->mode & 0777, false, e->cfg.readable)) < 0 ||
	    futimens(f->fd, ts) < 0 ||
	    (e->cfg.fsync && fsync(f->fd) < 0)) {
		f->err = neg_errno();
		goto failed;
	}
	dirfd = path_open_parent(e->rootfd, f->path, true, &base);
	if (dirfd < 0) {
		f->err = dirfd;
		goto failed;
	}
	/* Named in the staging directory, then renamed into place: atomic, and
	 * a crash in between leaves it only there. */
	if (!f->stage[0]) {
		rx_stagename(e, f->stage, sizeof(f->stage));
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
		if (linkat(AT_FDCWD, proc, e->stagefd, f->stage, AT_SYMLINK_FOLLOW) < 0) {
			f->err = neg_errno();
			f->stage[0] = '\0';
			close(dirfd);
			goto failed;
		}
	}
	r = rx_rename_over(e->stagefd, f->stage, dirfd, base, &freed);
	store_release(e, freed);
	close(dirfd);
	if (r < 0) {
		f->err = r;
		goto failed;
	}
	f->stage[0] = '\0';
	/* Its bytes stay held, now as a file of the peer's tree. */
	f->written = 0;

	chunk_index_forget(e->ix, f->path);
	for (uint32_t i = 0; i < f->n; i++)
		(void)chunk_index_add(e->ix, &f->c[i].h, f->path, f->c[i].off, f->c[i].len);
	e->stats.files_received++;
	e->stats.file_bytes_received += f->size;
	engine_flow_completed(e, FLOW_RX, f->path, f->size, f->begun_ms);
	r = msg_put_ack(&e->out, f->id, 0, "");
	if (e->cfg.hooks && e->cfg.hooks->committed)
		e->cfg.hooks->committed(e->cfg.hooks_ud, f->path);
	return r;

failed:
	e->store_refused |= f->err == -ENOSPC;
	e->stats.errors++;
	log_errno(f->err, "%s: cannot store the received file", f->path);
	return msg_put_ack(&e->out, f->id, f->err, refusal_text(f->err));
}

static void rx_set_attrs(struct engine *e, int dirfd, const char *base, uint32_t mode,
			 uint64_t mtime)
{
	struct timespec ts[2] = { { (time_t)(mtime / 1000000000u), (long)(mtime % 1000000000u) },
				  { (time_t)(mtime / 1000000000u), (long)(mtime % 1000000000u) } };
	struct stat st;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode))
		return;
	(void)fchmodat(dirfd, base, stored_mode(mode & 0777, S_ISDIR(st.st_mode), e->cfg.readable), 0);
	(void)utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW);
}

/* Creates the symlink op->path -> op->to (the target, as text: never
 * resolved or checked, never followed) in the staging directory, then
 * renames it over whatever is there. */
static int rx_apply_symlink(struct engine *e, struct rx_op *op)
{
	time_t sec = (time_t)(op->mtime / 1000000000u);
	long nsec = (long)(op->mtime % 1000000000u);
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	const char *base;
	char tmp[64];
	uint64_t freed = 0;
	int dirfd = path_open_parent(e->rootfd, op->path, true, &base), r;

	if (dirfd < 0) {
		rx_report(e, dirfd, op->path, "cannot create the symbolic link");
		return 0;
	}
	rx_stagename(e, tmp, sizeof(tmp));
	if (symlinkat(op->to, e->stagefd, tmp) < 0) {
		r = neg_errno();
	} else {
		(void)utimensat(e->stagefd, tmp, ts, AT_SYMLINK_NOFOLLOW);
		r = rx_rename_over(e->stagefd, tmp, dirfd, base, &freed);
		store_release(e, freed);
		if (r < 0)
			(void)unlinkat(e->stagefd, tmp, 0);
	}
	close(dirfd);
	if (r < 0) {
		rx_report(e, r, op->path, "cannot create the symbolic link");
		return 0;
	}
	/* Whatever was there is gone, as after a REMOVE. */
	chunk_index_forget(e->ix, op->path);
	if (e->cfg.hooks && e->cfg.hooks->removed)
		e->cfg.hooks->removed(e->cfg.hooks_ud, op->path);
	return 0;
}

/* Makes op->to another name of the regular file op->path (same tree): a
 * link in the staging directory, renamed over whatever is there. When it
 * cannot, the sender is asked for op->to in full. */
static int rx_apply_link(struct engine *e, struct rx_op *op)
{
	const char *base, *tobase;
	struct stat src, dst;
	char tmp[64];
	uint64_t freed = 0;
	int dirfd = path_open_parent(e->rootfd, op->path, false, &base), todir = -1, r;

	if (dirfd < 0) {
		r = dirfd;
		goto out;
	}
	/* Only a regular file is linked: never a symlink, never a directory. */
	if (fstatat(dirfd, base, &src, AT_SYMLINK_NOFOLLOW) < 0) {
		r = neg_errno();
		goto out;
	}
	if (!S_ISREG(src.st_mode)) {
		r = -ENOENT;
		goto out;
	}
	todir = path_open_parent(e->rootfd, op->to, true, &tobase);
	if (todir < 0) {
		r = todir;
		goto out;
	}
	if (fstatat(todir, tobase, &dst, AT_SYMLINK_NOFOLLOW) == 0 && dst.st_dev == src.st_dev &&
	    dst.st_ino == src.st_ino) {
		r = 0; /* linked already */
		goto out;
	}
	rx_stagename(e, tmp, sizeof(tmp));
	if (linkat(dirfd, base, e->stagefd, tmp, 0) < 0) {
		r = neg_errno();
		goto out;
	}
	r = rx_rename_over(e->stagefd, tmp, todir, tobase, &freed);
	store_release(e, freed);
	if (r < 0)
		(void)unlinkat(e->stagefd, tmp, 0);
	if (r == 0) {
		chunk_index_forget(e->ix, op->to);
		if (e->cfg.hooks && e->cfg.hooks->committed)
			e->cfg.hooks->committed(e->cfg.hooks_ud, op->to);
	}
out:
	safe_close(dirfd);
	safe_close(todir);
	if (r < 0) {
		log_debug("link %s -> %s: %s; asking for %s", op->path, op->to, strerror(-r),
			  op->to);
		/* EXDEV, not ENOENT: the sender tells a refused LINK from a
		 * failed RENAME or APPEND of the same name. */
		(void)msg_put_error(&e->out, -EXDEV, false, op->to, "cannot link to the file");
	}
	return 0;
}

/* Tells the daemon of a new name (made) or a change in place at path. */
static void rx_hook(struct engine *e, bool made, const char *path)
{
	const struct engine_hooks *h = e->cfg.hooks;

	if (h && made && h->committed)
		h->committed(e->cfg.hooks_ud, path);
	else if (h && !made && h->updated)
		h->updated(e->cfg.hooks_ud, path);
}

static int rx_apply_meta(struct engine *e, struct rx_op *op)
{
	const char *base, *tobase;
	struct stat st;
	uint64_t freed = 0;
	int dirfd, todir, r = 0;

	/* A local refusal, like a symlink in the way: the sender stops there.
	 * (A SYMLINK's `to` is its target, text that is never resolved.) */
	if (tree_too_deep(op->path) ||
	    (op->to && op->type != MSG_SYMLINK && tree_too_deep(op->to))) {
		rx_report(e, -ENAMETOOLONG, tree_too_deep(op->path) ? op->path : op->to,
			  refusal_text(-ENAMETOOLONG));
		return 0;
	}
	switch (op->type) {
	case MSG_SYMLINK:
		return rx_apply_symlink(e, op);
	case MSG_LINK:
		return rx_apply_link(e, op);
	case MSG_MKDIR:
		dirfd = path_open_parent(e->rootfd, op->path, true, &base);
		if (dirfd < 0) {
			rx_report(e, dirfd, op->path, "cannot create the directory");
			return 0;
		}
		if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
			(void)path_remove_tree_sized(dirfd, base, &freed);
			store_release(e, freed);
		}
		r = mkdirat(dirfd, base, stored_mode(op->mode & 0777, true, e->cfg.readable)) < 0 ?
			    neg_errno() : 0;
		if (r < 0 && r != -EEXIST) {
			rx_report(e, r, op->path, "cannot create the directory");
		} else {
			rx_set_attrs(e, dirfd, base, op->mode, op->mtime);
			rx_hook(e, r == 0, op->path);
		}
		close(dirfd);
		return 0;
	case MSG_SETATTR:
		dirfd = path_open_parent(e->rootfd, op->path, false, &base);
		if (dirfd < 0 || fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    S_ISLNK(st.st_mode)) {
			r = dirfd < 0 ? dirfd : -ENOENT;
			(void)msg_put_error(&e->out, -ENOENT, false, op->path, "no such file to update");
		} else {
			rx_set_attrs(e, dirfd, base, op->mode, op->mtime);
			rx_hook(e, false, op->path);
		}
		if (dirfd >= 0)
			close(dirfd);
		return 0;
	case MSG_REMOVE:
		dirfd = path_open_parent(e->rootfd, op->path, false, &base);
		if (dirfd == -ENOENT)
			return 0;
		if (dirfd < 0) {
			rx_report(e, dirfd, op->path, "cannot remove");
			return 0;
		}
		r = path_remove_tree_sized(dirfd, base, &freed);
		store_release(e, freed);
		close(dirfd);
		if (r < 0 && r != -ENOENT)
			rx_report(e, r, op->path, "cannot remove");
		chunk_index_forget(e->ix, op->path);
		if (e->cfg.hooks && e->cfg.hooks->removed)
			e->cfg.hooks->removed(e->cfg.hooks_ud, op->path);
		return 0;
	case MSG_RENAME:
		dirfd = path_open_parent(e->rootfd, op->path, false, &base);
		todir = path_open_parent(e->rootfd, op->to, true, &tobase);
		if (dirfd >= 0 && todir >= 0) {
			r = rx_rename_over(dirfd, base, todir, tobase, &freed);
			store_release(e, freed);
		} else {
			r = dirfd < 0 ? dirfd : todir;
		}
		if (dirfd >= 0)
			close(dirfd);
		if (todir >= 0)
			close(todir);
		if (r == 0) {
			(void)chunk_index_rename(e->ix, op->path, op->to);
			if (e->cfg.hooks && e->cfg.hooks->renamed)
				e->cfg.hooks->renamed(e->cfg.hooks_ud, op->path, op->to);
		} else {
			/* The sender resends the target in full. */
			log_debug("rename %s -> %s: %s; asking for %s", op->path, op->to,
				  strerror(-r), op->to);
			(void)msg_put_error(&e->out, -ENOENT, false, op->to, "rename source missing");
		}
		return 0;
	}
	return 0;
}

/* Applies queued operations from the head while they are complete. */
static int rx_run(struct engine *e)
{
	int r = 0;

	while (e->ops_head && r >= 0) {
		struct rx_op *op = e->ops_head;

		if (op->kind == RXOP_FILE) {
			if (!op->file->ended || op->file->wanted)
				break;
			log_debug("apply FILE %s", op->file->path);
			r = rx_commit(e, op->file);
		} else if (op->kind == RXOP_META) {
			log_debug("apply %s %s%s%s", msg_type_name(op->type), op->path,
				  op->to ? " -> " : "", op->to ? op->to : "");
			r = rx_apply_meta(e, op);
		} else if (op->kind == RXOP_SUMMARY) {
			log_debug("apply SUMMARY_AGAIN %s", op->path);
			e->summary_again = false;
			r = rx_send_summary(e, op->path);
		} else {
			r = msg_put_u64(&e->out, MSG_BARRIER_ACK, op->seq);
			e->peer_initial_done = true;
		}
		rx_dequeue(e, op);
	}
	return r;
}

static int rx_meta(struct engine *e, const struct frame *f)
{
	struct msg_meta m;
	struct wbuf b = f->body;
	struct rx_op *op;
	int r;

	switch (f->type) {
	case MSG_MKDIR:
	case MSG_SETATTR: r = msg_decode_mkdir(&b, &m); break;
	case MSG_RENAME: r = msg_decode_rename(&b, &m); break;
	case MSG_SYMLINK: r = msg_decode_symlink(&b, &m); break;
	case MSG_LINK: r = msg_decode_link(&b, &m); break;
	default: r = msg_decode_remove(&b, &m); break;
	}
	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed %s", msg_type_name(f->type));
	if (!engine_is_peer_path(e, m.path) ||
	    ((f->type == MSG_RENAME || f->type == MSG_LINK) && !engine_is_peer_path(e, m.to)))
		return engine_fatal(e, -EPERM, m.path, "%s outside the peer's trees",
				    msg_type_name(f->type));
	/* The top of a tree is never removed, renamed, replaced or linked. */
	if ((f->type == MSG_REMOVE || f->type == MSG_RENAME || f->type == MSG_SYMLINK ||
	     f->type == MSG_LINK) && !strchr(m.path, '/'))
		return engine_fatal(e, -EPERM, m.path, "%s of a tree root", msg_type_name(f->type));
	if (f->type == MSG_LINK) {
		size_t tl = strcspn(m.path, "/");

		if (!strchr(m.to, '/') || strncmp(m.path, m.to, tl + 1) != 0)
			return engine_fatal(e, -EPERM, m.to, "LINK across trees");
	}

	r = rx_admit(e, rx_op_cost(m.path, m.to[0] ? m.to : NULL));
	if (r < 0)
		return r;
	op = calloc(1, sizeof(*op));
	if (!op || !(op->path = strdup(m.path)) || (m.to[0] && !(op->to = strdup(m.to)))) {
		rx_op_free(e, op);
		return engine_fatal(e, -ENOMEM, m.path, "out of memory");
	}
	op->kind = RXOP_META;
	op->type = f->type;
	op->mode = m.mode;
	op->mtime = m.mtime;
	op->cost = rx_op_cost(op->path, op->to);
	rx_enqueue(e, op);
	return 0;
}

static int rx_append(struct engine *e, const struct frame *f)
{
	struct msg_append m;
	struct wbuf b = f->body;
	struct stat st;
	struct timespec ts[2];
	int fd, r = msg_decode_append(&b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed APPEND");
	if (!engine_is_peer_path(e, m.path))
		return engine_fatal(e, -EPERM, m.path, "APPEND outside the peer's trees");
	if (tree_too_deep(m.path)) {
		rx_report(e, -ENAMETOOLONG, m.path, refusal_text(-ENAMETOOLONG));
		return 0;
	}
	/* Appends are applied at once: the sender only appends to a file whose
	 * transfer was acknowledged, and only while no operation it sent
	 * waits here behind an unfinished transfer, so nothing queued can
	 * concern it. */
	fd = path_openat(e->rootfd, m.path, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		safe_close(fd);
		return msg_put_error(&e->out, -ESTALE, false, m.path, "no such file to append to");
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != m.offset) {
		close(fd);
		return msg_put_error(&e->out, -ESTALE, false, m.path, "file differs from the sender's");
	}
	if (m.len > store_left(e)) {
		/* The file keeps what it had; the sender forgets it, and sends
		 * it whole when it looks at it next. */
		close(fd);
		e->store_refused = true;
		rx_report(e, -ENOSPC, m.path, STORE_FULL);
		return 0;
	}
	r = io_pwrite_all(fd, m.p, m.len, (off_t)m.offset);
	if (r == 0)
		store_charge(e, m.len);
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(m.mtime / 1000000000u);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(m.mtime % 1000000000u);
	if (r == 0 && futimens(fd, ts) < 0)
		r = neg_errno();
	close(fd);
	if (r < 0)
		return msg_put_error(&e->out, -ESTALE, false, m.path, strerror(-r));
	e->stats.file_bytes_received += m.len;
	rx_hook(e, false, m.path);
	return 0;
}

int rx_handle(struct engine *e, const struct frame *f)
{
	struct wbuf b = f->body;
	struct rx_op *op;
	uint64_t seq;
	int r;

	switch (f->type) {
	case MSG_FILE_BEGIN: r = rx_file_begin(e, &b); break;
	case MSG_FILE_CHUNKS: r = rx_file_chunks(e, &b); break;
	case MSG_FILE_END: r = rx_file_end(e, &b); break;
	case MSG_FILE_ABORT: r = rx_file_abort(e, &b); break;
	case MSG_DATA: r = rx_data(e, &b); break;
	case MSG_FILE_HOLE: r = rx_file_hole(e, &b); break;
	case MSG_APPEND: r = rx_append(e, f); break;
	case MSG_MKDIR:
	case MSG_RENAME:
	case MSG_REMOVE:
	case MSG_SETATTR:
	case MSG_SYMLINK:
	case MSG_LINK: r = rx_meta(e, f); break;
	case MSG_BARRIER:
		r = msg_decode_u64(&b, &seq);
		if (r < 0)
			return engine_fatal(e, r, NULL, "malformed BARRIER");
		r = rx_admit(e, rx_op_cost(NULL, NULL));
		if (r < 0)
			return r;
		op = calloc(1, sizeof(*op));
		if (!op)
			return engine_fatal(e, -ENOMEM, NULL, "out of memory");
		op->kind = RXOP_BARRIER;
		op->seq = seq;
		op->cost = rx_op_cost(NULL, NULL);
		rx_enqueue(e, op);
		break;
	case MSG_SUMMARY_AGAIN: {
		/* Answered in turn, once everything sent before it is applied.
		 * One at a time: each answer is a walk of one of the peer's trees. */
		char tree[WIRE_NAME_MAX + 1];
		const char *const *t;

		r = msg_decode_summary_again(&b, tree);
		if (r < 0)
			return engine_fatal(e, r, NULL, "malformed SUMMARY_AGAIN");
		for (t = e->peer; *t && strcmp(*t, tree) != 0; t++)
			;
		if (!*t)
			return engine_fatal(e, -EPERM, tree, "SUMMARY_AGAIN of a tree the peer does not write");
		if (e->summary_again)
			return engine_fatal(e, -EPROTO, NULL, "SUMMARY_AGAIN before the last was answered");
		r = rx_admit(e, rx_op_cost(*t, NULL));
		if (r < 0)
			return r;
		op = calloc(1, sizeof(*op));
		if (!op || !(op->path = strdup(*t))) {
			free(op);
			return engine_fatal(e, -ENOMEM, NULL, "out of memory");
		}
		op->kind = RXOP_SUMMARY;
		op->cost = rx_op_cost(*t, NULL);
		e->summary_again = true;
		rx_enqueue(e, op);
		break;
	}
	default:
		return engine_fatal(e, -EPROTO, NULL, "unexpected %s", msg_type_name(f->type));
	}
	if (r < 0)
		return r;
	r = rx_run(e);
	return r < 0 ? r : rx_store_report(e, false);
}

/* --- summary of what we hold of the peer's trees ----------------------------------- */

struct summary_ctx {
	struct engine *e;
	size_t mark;
	uint32_t in_frame, total;
	uint64_t held;
	int err;
};

static int summary_flush(struct summary_ctx *s)
{
	int r;

	if (!s->in_frame)
		return 0;
	le32_put(s->e->out.d + s->e->out.off + s->mark + FRAME_HDR_LEN, s->in_frame);
	r = msg_finish(&s->e->out, s->mark);
	s->in_frame = 0;
	return r;
}

static int summary_cb(void *ud, const char *path, const struct stat *st)
{
	struct summary_ctx *s = ud;
	uint8_t kind;
	int r;

	char target[WIRE_TARGET_MAX + 2];
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;

	if (S_ISREG(st->st_mode)) {
		kind = ENTRY_FILE;
		/* Each name of a hard-linked file counts its share. */
		s->held += ST_HELD_BYTES(st) / (st->st_nlink > 1 ? st->st_nlink : 1);
	} else if (S_ISDIR(st->st_mode)) {
		kind = ENTRY_DIR;
	} else if (S_ISLNK(st->st_mode)) {
		const char *base;
		int dirfd = path_open_parent(s->e->rootfd, path, false, &base);
		ssize_t n = dirfd < 0 ? -1 : readlinkat(dirfd, base, target, sizeof(target));

		safe_close(dirfd);
		if (n <= 0 || (size_t)n > WIRE_TARGET_MAX)
			return 0;
		target[n] = '\0';
		kind = ENTRY_SYMLINK;
	} else {
		return 0;
	}
	if (path_check(path) < 0)
		return 0;
	if (s->in_frame == 0) {
		r = msg_begin(&s->e->out, MSG_SUMMARY, &s->mark);
		if (r < 0 || (r = wbuf_put_u32(&s->e->out, 0)) < 0)
			return r;
	}
	if (kind == ENTRY_SYMLINK)
		r = msg_put_entry_symlink(&s->e->out, path, target, mtime);
	else
		r = msg_put_entry(&s->e->out, kind, path, st->st_mode & 0777,
				  kind == ENTRY_FILE ? (uint64_t)st->st_size : 0, mtime);
	if (r < 0)
		return r;
	s->in_frame++;
	s->total++;
	if (s->in_frame == SUMMARY_MAX || wbuf_len(&s->e->out) - s->mark > FRAME_MAX_BODY - 8192)
		return summary_flush(s);
	return 0;
}

/* Sends what we hold of the peer's trees, and on connecting sets the
 * store's limit: the walk is also where we learn how much of it those trees
 * already take. Asked again for one tree (SUMMARY_AGAIN), it sends what it
 * holds of that tree and leaves the store's figures as they are. */
int rx_send_summary(struct engine *e, const char *again)
{
	struct summary_ctx s = { .e = e };
	struct statvfs sv;
	int r = 0;

	for (const char *const *t = e->peer; *t && r >= 0; t++) {
		if (again && strcmp(*t, again) != 0)
			continue;
		(void)mkdirat(e->rootfd, *t, 0755);
		r = tree_walk(e->rootfd, *t, summary_cb, &s);
	}
	if (r >= 0)
		r = summary_flush(&s);
	if (r < 0) {
		if (s.in_frame)
			msg_cancel(&e->out, s.mark);
		return r;
	}
	if (again)
		return msg_put_u32(&e->out, MSG_SUMMARY_END, s.total);
	e->store_held = s.held;
	e->rx_pending = 0;
	if (e->cfg.max_store) {
		e->store_max = e->cfg.max_store;
	} else {
		uint64_t share = e->cfg.store_share ? MIN(e->cfg.store_share, 100u) : 100u, room;
		struct sysinfo si;

		if (fstatvfs(e->rootfd, &sv) < 0)
			return neg_errno();
		if (sv.f_blocks > 0)
			room = (uint64_t)sv.f_bavail * sv.f_frsize;
		else if (sysinfo(&si) == 0)
			room = (uint64_t)si.totalram * si.mem_unit;
		else
			return neg_errno();
		e->store_max = s.held + room / 100 * share + room % 100 * share / 100;
	}
	e->stats.store_held = e->store_held;
	e->stats.store_max = e->store_max;
	r = msg_put_u32(&e->out, MSG_SUMMARY_END, s.total);
	return r < 0 ? r : rx_store_report(e, true);
}

/* STORE tells the sender what we hold for it and the limit (after our
 * summary, and then as described in engine-int.h): it shows them and may
 * fail a file early that would not fit. At most one per 1/64 of the limit
 * the peer makes us take or give back, plus one per refused file that
 * changed the figures: the peer cannot make us send more than it sends. */
int rx_store_report(struct engine *e, bool force)
{
	uint64_t held = e->store_held, max = e->store_max, moved;
	int r;

	if (!force && !e->store_sent)
		return 0;
	moved = held > e->store_sent_held ? held - e->store_sent_held : e->store_sent_held - held;
	if (!force && max == e->store_sent_max && moved <= max / 64 &&
	    !(e->store_refused && moved)) {
		e->store_refused = false;
		return 0;
	}
	r = msg_put_store(&e->out, held, max);
	if (r < 0)
		return r;
	e->store_sent = true;
	e->store_refused = false;
	e->store_sent_held = held;
	e->store_sent_max = max;
	return 0;
}
