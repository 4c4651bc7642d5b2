/* Sending the trees we write: a work queue of paths (from the initial pass,
 * the watcher or the FUSE layer) turned into chunked, pipelined transfers.
 * What the peer holds is tracked in a model (its summary, then every
 * acknowledged change), so unchanged files are never read again.
 *
 * The receiver applies operations in order, so everything sent after a
 * file it has not finished waits in its queue, which it bounds
 * (RX_MAX_QUEUED). We hear only FILE_ACKs back, so we count what we sent
 * since the oldest file still open began, and stop producing at half the
 * receiver's bound until that file is acknowledged. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-int.h"
#include "log.h"
#include "pathsafe.h"
#include "tree.h"
#include "util.h"

#define BATCH_BYTES (1u << 20) /* flush a FILE_CHUNKS batch at this much data */
#define STEP_BYTES (8u << 20)  /* file bytes read per tx_produce() call */
#define STEP_ITEMS 512         /* work items taken per tx_produce() call */

static uint64_t st_mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000u + (uint64_t)st->st_mtim.tv_nsec;
}

/* --- the model of the peer ----------------------------------------------------------- */

/* The mode the peer stores for a local file or directory: permission bits
 * only (setuid, setgid and sticky never cross), plus what a HELLO_F_READABLE
 * receiver adds. Summaries report stored modes, so comparisons use this. */
static uint32_t want_mode(const struct engine *e, const struct stat *st)
{
	return stored_mode(st->st_mode & 0777, S_ISDIR(st->st_mode),
			   e->peer_flags & HELLO_F_READABLE);
}

static struct peer_entry *model_get(struct engine *e, const char *path)
{
	return strmap_get(e->model, path);
}

/* The peer's copy of a file may not be what the entry says: the next look
 * at it compares it again (no size and mtime match), and no fingerprint
 * vouches for it. */
static void model_mark_stale(struct peer_entry *pe)
{
	pe->mtime = UINT64_MAX;
	pe->fp = false;
}

static void model_drop_below(struct engine *e, const char *prefix);
static void link_forget(struct engine *e, const char *path);
static void link_forget_below(struct engine *e, const char *prefix);

/* An operation that makes path was sent: the peer makes the directories
 * above it that it lacks (path_open_parent), and the model must hold them,
 * or a later rename or removal of one is taken for a name the peer never
 * had and the peer keeps it. A directory above may be missing from the
 * model when it was renamed away here before its own event was handled: a
 * RENAME of a/x into b/y, sent after b/y's own parent b/ was itself
 * renamed (t0610's stress run, with the kernel caching dataset/). Such
 * a directory enters stale (no mode), so a look at it sends it whole. */
static int model_made_parents(struct engine *e, const char *path)
{
	char p[PATH_REL_MAX + 1];
	struct peer_entry *pe;
	char *slash;

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return 0;
	while ((slash = strrchr(p, '/')) && (*slash = '\0', strchr(p, '/')) && !model_get(e, p)) {
		pe = calloc(1, sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		pe->kind = ENTRY_DIR;
		pe->mode = UINT32_MAX; /* no mode a directory has: looked at, it is sent */
		pe->mtime = UINT64_MAX;
		pe->gen = e->scan_gen;
		if (strmap_put(e->model, p, pe, NULL) < 0) {
			free(pe);
			return -ENOMEM;
		}
	}
	return 0;
}

static int model_set(struct engine *e, const char *path, uint8_t kind, const struct stat *st)
{
	struct peer_entry *pe = model_get(e, path);

	if (pe && pe->kind == ENTRY_DIR && kind != ENTRY_DIR) {
		model_drop_below(e, path); /* the file replaced that directory's tree */
		link_forget_below(e, path);
	}
	if (kind != ENTRY_FILE)
		link_forget(e, path);
	if (!pe) {
		int r;
		pe = calloc(1, sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		r = strmap_put(e->model, path, pe, NULL);
		if (r < 0) {
			free(pe);
			return r;
		}
	}
	pe->kind = kind;
	pe->mode = want_mode(e, st);
	pe->size = kind == ENTRY_FILE ? (uint64_t)st->st_size : 0;
	pe->mtime = st_mtime_ns(st);
	pe->dev = st->st_dev;
	pe->ino = st->st_ino;
	pe->gen = e->scan_gen;
	pe->fp = false;
	return 0;
}

/* Hashes of the first and of the last 4 KiB of the file's first `size`
 * bytes. An append is streamed only while both still match what the peer
 * acknowledged: a writer that rewrites the start or the end of the file gets
 * a whole (deduplicated) transfer instead. */
static int file_fingerprint(int fd, uint64_t size, uint64_t *head, uint64_t *tail)
{
	uint8_t buf[4096];
	size_t n = (size_t)MIN(size, (uint64_t)sizeof(buf));
	struct hash128 h;

	if (io_pread_all(fd, buf, n, 0) != (ssize_t)n)
		return -ESTALE;
	hash128_buf(buf, n, &h);
	memcpy(head, h.b, sizeof(*head));
	if (io_pread_all(fd, buf, n, (off_t)(size - n)) != (ssize_t)n)
		return -ESTALE;
	hash128_buf(buf, n, &h);
	memcpy(tail, h.b, sizeof(*tail));
	return 0;
}

static bool is_under(const char *path, const char *prefix, size_t plen)
{
	return strncmp(path, prefix, plen) == 0 && (path[plen] == '\0' || path[plen] == '/');
}

/* --- hard links: the names the peer holds of one file of ours ------------------------ */

#define NOLINK_STORED ((uintptr_t)1 << 30)
#define LINK_REFUSALS_MAX 3

/* Is path sent as a copy rather than linked (the peer refused a LINK to
 * it, and it has not been stored whole since)? */
static bool link_refused(const struct engine *e, const char *path)
{
	uintptr_t v = (uintptr_t)strmap_get(e->nolink, path);

	return v && !(v & NOLINK_STORED);
}

static void link_key(char *key, size_t n, const char *path, const struct stat *st);
static void tx_sent_op(struct engine *e, const char *path, const char *to);

/* Sends a LINK of to to src. link_sent notes it by the count of operations
 * sent (tx_ops_sent): the peer applies operations in order, so an
 * ERROR(EXDEV) about to that comes before what acknowledges a later one
 * (a FILE_ACK, a barrier) is its refusal, and none means it was linked. */
static int tx_put_link(struct engine *e, const char *src, const char *to)
{
	int r = msg_put_link(&e->out, src, to);

	if (r < 0)
		return r;
	tx_sent_op(e, src, to);
	(void)strmap_put(e->link_sent, to, (void *)(uintptr_t)e->tx_ops_sent, NULL);
	return model_made_parents(e, to);
}

/* The peer has applied the first ops operations sent, and any refusal of
 * a LINK among them has been heard. A name linked again after a refusal
 * and not refused this time counts its refusals from zero again: only a
 * peer that refuses it LINK_REFUSALS_MAX times running keeps it a copy. */
static void link_sent_heard(struct engine *e, uint64_t ops)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (strmap_count(e->link_sent) == 0)
		return;
	while (strmap_next(e->link_sent, &pos, &k, &v)) {
		if ((uintptr_t)v > ops)
			continue;
		if ((uintptr_t)strmap_get(e->nolink, k) & NOLINK_STORED)
			strmap_del(e->nolink, k);
		strmap_del(e->link_sent, k);
	}
}

void link_set_free(void *v)
{
	struct link_set *s = v;

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s);
}

/* The peer no longer holds path as a name of a file it holds others of. */
static void link_forget(struct engine *e, const char *path)
{
	char *key = strmap_get(e->link_of, path);
	struct link_set *s;

	if (!key)
		return;
	s = strmap_get(e->links, key);
	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->names[i], path) == 0) {
			free(s->names[i]);
			s->names[i] = s->names[--s->n];
			break;
		}
	if (s && s->n == 0)
		link_set_free(strmap_del(e->links, key));
	strmap_del(e->link_of, path);
	free(key);
}

/* link_forget() for path and every name below it. */
static void link_forget_below(struct engine *e, const char *prefix)
{
	size_t plen = strlen(prefix), pos = 0;
	const char *k;
	void *v;

	if (strmap_count(e->link_of) == 0)
		return;
	while (strmap_next(e->link_of, &pos, &k, &v))
		if (is_under(k, prefix, plen)) {
			char *copy = strdup(k);

			if (!copy)
				continue;
			link_forget(e, copy);
			free(copy);
		}
}

/* path joins the names the peer holds of the file key names. */
static int link_add(struct engine *e, const char *path, const char *key)
{
	struct link_set *s = strmap_get(e->links, key);
	char *name, *kcopy;
	int r;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		r = strmap_put(e->links, key, s, NULL);
		if (r < 0) {
			free(s);
			return r;
		}
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 2;
		char **nv = realloc(s->names, cap * sizeof(*nv));

		if (!nv)
			goto nomem;
		s->names = nv;
		s->cap = cap;
	}
	name = strdup(path);
	kcopy = strdup(key);
	if (!name || !kcopy || strmap_put(e->link_of, path, kcopy, NULL) < 0) {
		free(name);
		free(kcopy);
		goto nomem;
	}
	s->names[s->n++] = name;
	return 0;
nomem:
	if (s->n == 0)
		link_set_free(strmap_del(e->links, key));
	return -ENOMEM;
}

/* Does the peer hold path as one of the names of the file st? */
static bool link_is(const struct engine *e, const char *path, const struct stat *st)
{
	char key[PATH_MAX + 64];
	const char *old = strmap_get(e->link_of, path);

	if (!old)
		return false;
	link_key(key, sizeof(key), path, st);
	return strcmp(old, key) == 0;
}

/* path, a name of the file st, is what the peer holds there once what was
 * sent so far is applied. A path whose LINK the peer refused stays out. */
static int link_note(struct engine *e, const char *path, const struct stat *st)
{
	char key[PATH_MAX + 64];

	if (link_is(e, path, st))
		return 0;
	link_forget(e, path);
	if (link_refused(e, path))
		return 0;
	link_key(key, sizeof(key), path, st);
	return link_add(e, path, key);
}

/* The names at and below from are now at to (the keys stay: the tree's
 * name is the same, a rename never leaves its tree). */
static void link_rename(struct engine *e, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), pos = 0, n = 0;
	char **olds;
	const char *k;
	void *v;

	if (strmap_count(e->link_of) == 0)
		return;
	while (strmap_next(e->link_of, &pos, &k, &v))
		if (is_under(k, from, flen))
			n++;
	if (n == 0 || !(olds = calloc(n, sizeof(*olds))))
		return;
	pos = n = 0;
	while (strmap_next(e->link_of, &pos, &k, &v))
		if (is_under(k, from, flen))
			olds[n++] = strdup(k);
	for (size_t i = 0; i < n; i++) {
		char *key = olds[i] ? strdup(strmap_get(e->link_of, olds[i])) : NULL;
		char *np = olds[i] ? malloc(tlen + strlen(olds[i]) - flen + 1) : NULL;

		if (olds[i])
			link_forget(e, olds[i]);
		if (key && np) {
			memcpy(np, to, tlen);
			strcpy(np + tlen, olds[i] + flen);
			(void)link_add(e, np, key); /* out of memory: it is merely sent whole */
		}
		free(key);
		free(np);
		free(olds[i]);
	}
	free(olds);
}

/* A file's entry never has entries below it (model_set() drops them when a
 * directory becomes a file), so removing or renaming one file does not
 * look through the whole model: `rm -r` of 100,000 files stays linear. Only
 * a summary that lists entries below a file breaks this, and then the
 * entries left over are merely removed again by a later scan. */
static void model_drop_below(struct engine *e, const char *prefix)
{
	size_t plen = strlen(prefix), pos = 0;
	const char *k;
	void *v;

	while (strmap_next(e->model, &pos, &k, &v))
		if (is_under(k, prefix, plen) && k[plen] == '/')
			free(strmap_del(e->model, k));
}

/* A REMOVE of prefix is sent: a file made there later starts with no
 * refused LINK against its name. */
static void nolink_forget_below(struct engine *e, const char *prefix)
{
	size_t plen = strlen(prefix), pos = 0;
	const char *k;
	void *v;

	if (strmap_count(e->nolink) == 0)
		return;
	while (strmap_next(e->nolink, &pos, &k, &v))
		if (is_under(k, prefix, plen))
			strmap_del(e->nolink, k);
}

/* The entries of m at and below from go to the same names below to. One
 * that cannot move (out of memory, a name too long) is dropped with
 * free_val (if not NULL). How many there were, or -ENOMEM if they could
 * not even be listed: then all stay where they were. */
static int map_move_below(struct strmap *m, const char *from, const char *to,
			  void (*free_val)(void *))
{
	size_t flen = strlen(from), pos = 0, n = 0;
	const char *k;
	char **keys;
	void *v;

	while (strmap_next(m, &pos, &k, &v))
		if (is_under(k, from, flen))
			n++;
	if (n == 0)
		return 0;
	if (!(keys = calloc(n, sizeof(*keys))))
		return -ENOMEM;
	pos = n = 0;
	while (strmap_next(m, &pos, &k, &v))
		if (is_under(k, from, flen))
			keys[n++] = strdup(k);
	for (size_t i = 0; i < n; i++) {
		char buf[PATH_REL_MAX + 1];

		if (!keys[i])
			continue;
		v = strmap_del(m, keys[i]);
		if (snprintf(buf, sizeof(buf), "%s%s", to, keys[i] + flen) < (int)sizeof(buf) &&
		    strmap_put(m, buf, v, NULL) == 0)
			v = NULL;
		if (v && free_val)
			free_val(v);
		free(keys[i]);
	}
	free(keys);
	return (int)MIN(n, (size_t)INT_MAX);
}

/* The peer's names at and below from are now at to: what was refused for
 * them goes with them (a copy stays a copy), and what was refused for the
 * files that were at to is forgotten with those files. */
static void nolink_rename(struct engine *e, const char *from, const char *to)
{
	nolink_forget_below(e, to);
	if (strmap_count(e->nolink))
		(void)map_move_below(e->nolink, from, to, NULL); /* lost: tried as links again */
}

static void model_remove(struct engine *e, const char *prefix)
{
	struct peer_entry *pe = strmap_del(e->model, prefix);
	bool file = pe && pe->kind != ENTRY_DIR;

	free(pe);
	if (file) {
		link_forget(e, prefix);
	} else {
		link_forget_below(e, prefix);
		model_drop_below(e, prefix);
	}
}

/* Transfers in flight of from (or of files below it) now end at to at the
 * peer, which applies the rename after their commit: their FILE_ACK must
 * enter the model under the new name, and a removal of the new name before
 * that must still reach the peer. */
static void inflight_rename(struct engine *e, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), pos = 0, n = 0;
	struct tx_file **moved;
	const char *k;
	void *v;

	while (strmap_next(e->inflight, &pos, &k, &v))
		if (is_under(k, from, flen))
			n++;
	if (n == 0 || !(moved = calloc(n, sizeof(*moved))))
		return;
	pos = n = 0;
	while (strmap_next(e->inflight, &pos, &k, &v))
		if (is_under(k, from, flen))
			moved[n++] = v;
	for (size_t i = 0; i < n; i++) {
		struct tx_file *f = moved[i];
		size_t rest = strlen(f->path) - flen;
		char *np = malloc(tlen + rest + 1);

		strmap_del(e->inflight, f->path);
		if (!np) {
			/* Its ACK cannot be placed: leave it out of the model. */
			f->requeue = WQ_NONE;
			continue;
		}
		memcpy(np, to, tlen);
		memcpy(np + tlen, f->path + flen, rest + 1);
		free(f->path);
		f->path = np;
		if (strmap_put(e->inflight, f->path, f, NULL) < 0)
			f->requeue = WQ_NONE;
	}
	free(moved);
}

/* A removal of prefix is sent: transfers in flight there no longer say
 * what the peer holds, so their FILE_ACK leaves the model alone. */
static void inflight_forget(struct engine *e, const char *prefix)
{
	size_t plen = strlen(prefix), pos = 0;
	const char *k;
	void *v;

	while (strmap_next(e->inflight, &pos, &k, &v))
		if (is_under(k, prefix, plen))
			strmap_del(e->inflight, k);
}

static void model_rename(struct engine *e, const char *from, const char *to)
{
	struct peer_entry *pe;

	model_remove(e, to);
	/* A transfer in flight to the target is committed, then replaced:
	 * its FILE_ACK must not describe the target. */
	inflight_forget(e, to);
	inflight_rename(e, from, to);
	link_rename(e, from, to);
	nolink_rename(e, from, to);
	pe = model_get(e, from);
	if (pe && pe->kind == ENTRY_FILE) {
		pe = strmap_del(e->model, from);
		if (strmap_put(e->model, to, pe, NULL) < 0)
			free(pe);
		return;
	}
	(void)map_move_below(e->model, from, to, free); /* left over: removed by a later scan */
}

/* Would renaming from to to put something of the model deeper than
 * TREE_MAX_DEPTH? */
static bool model_too_deep_as(struct engine *e, const char *from, const char *to)
{
	size_t flen = strlen(from), pos = 0;
	unsigned base = tree_depth(from), add = tree_depth(to);
	struct peer_entry *pe;
	const char *k;
	void *v;

	if (add > TREE_MAX_DEPTH)
		return true;
	if ((pe = model_get(e, from)) && pe->kind == ENTRY_FILE)
		return false;
	while (strmap_next(e->model, &pos, &k, &v))
		if (is_under(k, from, flen) && tree_depth(k) - base + add > TREE_MAX_DEPTH)
			return true;
	return false;
}

/* What identifies a symlink's target in the model (fp_head). */
static uint64_t target_hash(const char *target, size_t n)
{
	struct hash128 h;

	hash128_buf(target, n, &h);
	return le64_get(h.b);
}

int tx_summary_entry(struct engine *e, const struct msg_entry *m)
{
	struct strmap *model = e->recount_model ? e->recount_model : e->model;
	struct peer_entry *pe;
	int r;

	if (!engine_is_own_path(e, m->path) ||
	    (e->recount_model && !is_under(m->path, e->recount_tree, strlen(e->recount_tree))))
		return -EPERM;
	/* Never sent, so never in the model (an older peer may list it). */
	if (tree_too_deep(m->path))
		return 0;
	pe = calloc(1, sizeof(*pe));
	if (!pe)
		return -ENOMEM;
	pe->kind = m->kind;
	pe->mode = m->mode;
	pe->size = m->size;
	pe->mtime = m->mtime;
	if (m->kind == ENTRY_SYMLINK) {
		pe->fp = true;
		pe->fp_head = target_hash(m->target, m->size);
	}
	if (strmap_get(model, m->path)) {
		free(pe);
		return -EEXIST;
	}
	r = strmap_put(model, m->path, pe, NULL);
	if (r < 0)
		free(pe);
	return r;
}

/* --- failed transfers ------------------------------------------------------------------ */

static void tx_fail_free(void *v)
{
	free(v);
}

/* Notes that path failed (errnum, positive) in an attempt sent when
 * e->barrier_sent was after; the first failure arms the retry timer. */
static int tx_fail_set(struct engine *e, const char *path, int errnum, uint64_t after)
{
	struct tx_failure *f = strmap_get(e->failed, path);

	if (!f) {
		int r;

		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		if (strmap_count(e->failed) == 0) {
			e->retry_ms = RETRY_MIN_MS;
			e->retry_at = engine_now_ms() + RETRY_MIN_MS;
		}
		r = strmap_put(e->failed, path, f, NULL);
		if (r < 0) {
			free(f);
			return r;
		}
	}
	f->errnum = errnum > 0 ? errnum : EIO;
	f->after = after;
	f->stamp = ++e->fail_stamp;
	e->fail_gen++;
	return 0;
}

static void tx_fail_clear(struct engine *e, const char *path)
{
	struct tx_failure *f = strmap_del(e->failed, path);

	if (f) {
		free(f);
		e->fail_gen++;
	}
}

/* prefix and everything below it is removed. */
static void tx_fail_drop_below(struct engine *e, const char *prefix)
{
	size_t plen = strlen(prefix), pos = 0;
	const char *k;
	void *v;

	if (strmap_count(e->failed) == 0)
		return;
	while (strmap_next(e->failed, &pos, &k, &v))
		if (is_under(k, prefix, plen)) {
			free(strmap_del(e->failed, k));
			e->fail_gen++;
		}
}

/* from (a file, or a directory with failed files below) is renamed to to:
 * its failures follow it, and what failed at to is replaced. */
static void tx_fail_rename(struct engine *e, const char *from, const char *to)
{
	int r;

	if (strmap_count(e->failed) == 0 || strcmp(from, to) == 0)
		return;
	tx_fail_drop_below(e, to);
	r = map_move_below(e->failed, from, to, free);
	if (r < 0)
		tx_fail_drop_below(e, from); /* the next rescan finds them again */
	else if (r > 0)
		e->fail_gen++;
}

static bool tx_fail_quiet(const struct engine *e, const char *path)
{
	for (const char *const *t = e->cfg.barrier_quiet; t && *t; t++) {
		size_t n = strlen(*t);

		if (strncmp(path, *t, n) == 0 && path[n] == '/')
			return true;
	}
	return false;
}

/* BARRIER_ACK(seq) arrived: every FILE_ACK of a transfer sent before the
 * barrier came before it, so a failure still noted for an attempt sent
 * before the barrier is one the barrier covers. The oldest is its result. */
static int tx_barrier_result_note(struct engine *e, uint64_t seq)
{
	const struct tx_failure *best = NULL;
	const char *best_path = NULL, *k;
	struct barrier_fail *slot;
	size_t pos = 0;
	void *v;
	char *copy;

	while (strmap_next(e->failed, &pos, &k, &v)) {
		const struct tx_failure *f = v;

		if (f->after >= seq || tx_fail_quiet(e, k))
			continue;
		if (!best || f->after < best->after ||
		    (f->after == best->after && strcmp(k, best_path) < 0)) {
			best = f;
			best_path = k;
		}
	}
	if (!best)
		return 0;
	copy = strdup(best_path);
	if (!copy)
		return -ENOMEM;
	slot = &e->bar_fails[e->bar_fails_next++ % BARRIER_FAILS_KEPT];
	if (slot->path)
		e->bar_fails_lost = MAX(e->bar_fails_lost, slot->seq);
	free(slot->path);
	slot->seq = seq;
	slot->errnum = best->errnum;
	slot->path = copy;
	log_info("barrier %llu: %s is not stored by the peer (%s)", (unsigned long long)seq, copy,
		 strerror(best->errnum));
	return 0;
}

/* We could not read path to send it (err < 0): noted like a refusal, and
 * logged when it is new. */
static int tx_fail_local(struct engine *e, const char *path, int err)
{
	struct tx_failure *f = strmap_get(e->failed, path);

	if (!f || f->errnum != -err) {
		e->stats.errors++;
		log_errno(err, "%s: cannot send it", path);
	}
	return tx_fail_set(e, path, -err, e->barrier_sent);
}

int tx_retry_timeout(const struct engine *e, uint64_t now)
{
	if (e->st != ST_RUNNING || strmap_count(e->failed) == 0)
		return -1;
	if (e->retry_at <= now)
		return 0;
	return (int)MIN(e->retry_at - now, (uint64_t)INT_MAX);
}

/* A file refused for want of room that the peer's last STORE says still
 * cannot fit is not read and announced again by the timer: a STORE with
 * more room, or a barrier, tries it. The figures are the peer's word; the
 * worst a lie does is delay the retry to the next barrier. */
static bool tx_fail_cannot_fit(const struct engine *e, const char *path,
			       const struct tx_failure *f)
{
	struct stat st;
	uint64_t need;

	if (f->errnum != ENOSPC || !e->peer_store_known ||
	    fstatat(e->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	need = ST_HELD_BYTES(&st);
	return e->peer_held > e->peer_max || need > e->peer_max - e->peer_held;
}

int tx_retry(struct engine *e, uint64_t now)
{
	size_t pos = 0;
	const char *k;
	void *v;
	int r = 0;

	if (tx_retry_timeout(e, now) != 0)
		return 0;
	while (r == 0 && strmap_next(e->failed, &pos, &k, &v))
		if (!strmap_get(e->inflight, k) && !tx_fail_cannot_fit(e, k, v))
			r = tx_queue(e, WQ_CHANGED, k, NULL, 0);
	e->retry_ms = MIN(e->retry_ms * 2, (uint64_t)RETRY_MAX_MS);
	if (e->retry_ms < RETRY_MIN_MS)
		e->retry_ms = RETRY_MIN_MS;
	e->retry_at = now + e->retry_ms;
	return r;
}

/* --- the work queue -------------------------------------------------------------------- */

static void wq_free(struct wq_item *w)
{
	if (!w)
		return;
	free(w->path);
	free(w->to);
	free(w);
}

static int tx_queue_item(struct engine *e, enum wq_kind kind, const char *path, const char *to,
			 uint64_t seq, bool overlap);

int tx_queue(struct engine *e, enum wq_kind kind, const char *path, const char *to, uint64_t seq)
{
	return tx_queue_item(e, kind, path, to, seq, false);
}

static int tx_queue_item(struct engine *e, enum wq_kind kind, const char *path, const char *to,
			 uint64_t seq, bool overlap)
{
	struct wq_item *w;
	bool by_path = kind == WQ_PATH || kind == WQ_CHANGED || kind == WQ_APPEND || kind == WQ_ATTR;

	/* Work an item leads to (the entries of a directory renamed in,
	 * another look at a renamed file) belongs where that item was:
	 * ahead of the rest of the queue, so that a barrier queued after
	 * the item covers it, and started at once even if the path is in
	 * flight, if a barrier waits. It never takes over the path's
	 * pending look: later events merge into that one. */
	if (e->wq_in_item && kind != WQ_BARRIER) {
		w = calloc(1, sizeof(*w));
		if (!w || (path && !(w->path = strdup(path))) || (to && !(w->to = strdup(to)))) {
			wq_free(w);
			return -ENOMEM;
		}
		w->kind = kind;
		w->seq = seq;
		w->overlap = overlap || e->barrier_next > e->barrier_sent;
		w->names = UINT64_MAX;
		if (e->wq_follow) {
			w->next = e->wq_follow->next;
			e->wq_follow->next = w;
		} else {
			w->next = e->wq_head;
			e->wq_head = w;
		}
		if (e->wq_tail == e->wq_follow)
			e->wq_tail = w;
		e->wq_follow = w;
		return 0;
	}
	/* One pending look per path; the strongest kind wins
	 * (CHANGED > PATH > APPEND: a full look covers an append). Only
	 * while no removal or rename was queued after that look: a change
	 * merged into a look ahead of them would be undone by them (a file
	 * made again after its removal, or under a name renamed away, never
	 * reached the peer: t0610). The old look stays where it is; the
	 * new one goes after them. */
	if (by_path && (w = strmap_get(e->queued, path)) && w->names == e->wq_names) {
		/* An attribute change and an append: the look at the whole
		 * file covers both. */
		if ((kind == WQ_ATTR && w->kind == WQ_APPEND) || (kind == WQ_APPEND && w->kind == WQ_ATTR))
			w->kind = WQ_PATH;
		else if (kind == WQ_CHANGED || (kind == WQ_PATH && (w->kind == WQ_APPEND || w->kind == WQ_ATTR)))
			w->kind = kind;
		w->overlap |= overlap;
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w || (path && !(w->path = strdup(path))) || (to && !(w->to = strdup(to)))) {
		wq_free(w);
		return -ENOMEM;
	}
	w->kind = kind;
	w->seq = seq;
	w->overlap = overlap;
	w->names = e->wq_names;
	if (by_path && strmap_put(e->queued, path, w, NULL) < 0) {
		wq_free(w);
		return -ENOMEM;
	}
	if (e->wq_tail)
		e->wq_tail->next = w;
	else
		e->wq_head = w;
	e->wq_tail = w;
	if (kind == WQ_REMOVE || kind == WQ_RENAME)
		e->wq_names++;
	return 0;
}

static void wq_push_front(struct engine *e, struct wq_item *w)
{
	w->next = e->wq_head;
	e->wq_head = w;
	if (!e->wq_tail)
		e->wq_tail = w;
}

static struct wq_item *wq_pop(struct engine *e)
{
	struct wq_item *w = e->wq_head;

	if (!w)
		return NULL;
	e->wq_head = w->next;
	if (!e->wq_head)
		e->wq_tail = NULL;
	/* A later look at the path may have taken its place in queued. */
	if ((w->kind == WQ_PATH || w->kind == WQ_CHANGED || w->kind == WQ_APPEND ||
	     w->kind == WQ_ATTR) &&
	    strmap_get(e->queued, w->path) == w)
		strmap_del(e->queued, w->path);
	return w;
}

/* --- files in flight ------------------------------------------------------------------- */

static struct tx_file **tx_slot(struct engine *e, uint32_t id)
{
	struct tx_file **p = &e->tx_ids[id % ID_BUCKETS];

	while (*p && (*p)->id != id)
		p = &(*p)->hnext;
	return p;
}

static void tx_batch_free(struct engine *e, struct tx_batch *b)
{
	e->tx_held -= b->bytes;
	free(b);
}

static void tx_file_drop(struct engine *e, struct tx_file *f)
{
	struct tx_file **p = tx_slot(e, f->id);

	if (*p == f) {
		*p = f->hnext;
		e->tx_open--;
	}
	if (f->older)
		f->older->newer = f->newer;
	else if (e->tx_oldest == f)
		e->tx_oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else if (e->tx_newest == f)
		e->tx_newest = f->older;
	if (strmap_get(e->inflight, f->path) == f)
		strmap_del(e->inflight, f->path);
	while (f->head) {
		struct tx_batch *b = f->head;
		f->head = b->next;
		tx_batch_free(e, b);
	}
	safe_close(f->fd);
	free(f->path);
	free(f);
}

static void tx_cur_close(struct engine *e)
{
	struct tx_cur *c = &e->cur;

	scanner_stop(c->sc);
	if (c->batch) {
		tx_batch_free(e, c->batch);
		c->batch = NULL;
	}
	c->f = NULL;
}

void tx_reset(struct engine *e)
{
	struct wq_item *w;

	if (e->cur.f) {
		struct tx_file *f = e->cur.f;
		tx_cur_close(e);
		tx_file_drop(e, f);
	}
	for (int i = 0; i < ID_BUCKETS; i++)
		while (e->tx_ids[i])
			tx_file_drop(e, e->tx_ids[i]);
	while ((w = wq_pop(e)))
		wq_free(w);
	strmap_clear(e->appended, NULL);
	strmap_clear(e->model, free);
	strmap_clear(e->links, link_set_free);
	strmap_clear(e->link_of, free);
	strmap_clear(e->nolink, NULL);
	strmap_clear(e->link_sent, NULL);
	e->initial_seq = 0;
	/* Barriers sent again went with the queue. */
	e->barrier_redo = 0;
	e->barrier_hold = 0;
	e->barrier_seen = MAX(e->barrier_seen, e->barrier_acked);
	/* The next connection's summaries find what is still missing. */
	strmap_clear(e->failed, tx_fail_free);
	e->fail_gen++;
	e->retry_at = 0;
	e->peer_store_known = false;
	e->peer_held = e->peer_max = 0;
	if (e->recount_model)
		strmap_free(e->recount_model, free);
	e->recount_model = NULL;
	e->recount_tree = NULL;
	e->recount_due = 0;
}

bool tx_idle(const struct engine *e)
{
	return !e->cur.f && !e->wq_head && e->tx_open == 0 && !e->rescan_due && !e->recount_model;
}

/* --- producing --------------------------------------------------------------------- */

/* Counts an operation the receiver queues (see the top of the file). */
static void tx_sent_op(struct engine *e, const char *path, const char *to)
{
	e->tx_ops_sent++;
	e->tx_ops_bytes += rx_op_cost(path, to);
}

bool tx_ops_blocked(const struct engine *e)
{
	const struct tx_file *f = e->tx_oldest;

	return f && (e->tx_ops_sent - f->ops_sent >= TX_MAX_UNAPPLIED ||
		     e->tx_ops_bytes - f->ops_bytes >= TX_MAX_UNAPPLIED_BYTES);
}

static int tx_put_meta(struct engine *e, uint16_t type, const char *path, uint32_t mode,
		       uint64_t mtime)
{
	int r = msg_put_meta(&e->out, type, path, mode, mtime);

	if (r == 0)
		tx_sent_op(e, path, NULL);
	return r;
}

/* A path deeper than TREE_MAX_DEPTH is never sent (the receiver would
 * refuse it): reported once, by its ancestor at the limit. */
static void tx_report_deep(struct engine *e, const char *path)
{
	char dir[PATH_REL_MAX + 1];
	unsigned depth = 0;
	size_t n = 0;

	for (; path[n] && n < sizeof(dir) - 1; n++) {
		if (path[n] == '/' && ++depth > TREE_MAX_DEPTH)
			break;
		dir[n] = path[n];
	}
	dir[n] = '\0';
	if (strmap_get(e->skipped, dir))
		return;
	(void)strmap_put(e->skipped, dir, (void *)1, NULL);
	e->stats.errors++;
	log_error("%s: what lies below is not transferred: more than %d levels below its tree",
		  dir, TREE_MAX_DEPTH);
}

/* What a walk of our trees leaves out. */
static int tx_walk_skip(void *ud, const char *dir, enum tree_skip why)
{
	struct engine *e = ud;

	if (why == TREE_SKIP_DEEP) {
		tx_report_deep(e, dir);
		return 0;
	}
	if (!strmap_get(e->skipped, dir)) {
		(void)strmap_put(e->skipped, dir, (void *)1, NULL);
		e->stats.errors++;
		/* The reason first: the directory's name may be cut short. */
		log_error("not transferred: an entry whose path would be more than %d bytes below "
			  "its tree, in %s", PATH_MAX - 1, dir);
	}
	return 0;
}

static const char *special_kind(mode_t mode)
{
	return S_ISLNK(mode)	? "symbolic link" :
	       S_ISFIFO(mode)	? "fifo" :
	       S_ISSOCK(mode)	? "socket" :
	       S_ISCHR(mode) || S_ISBLK(mode) ? "device" :
					  "not a regular file";
}

static void report_skip(struct engine *e, const char *path, const char *why)
{
	if (strmap_get(e->skipped, path))
		return;
	(void)strmap_put(e->skipped, path, (void *)1, NULL);
	log_warn("%s: not transferred (%s)", path, why);
}

static int tx_flush_batch(struct engine *e)
{
	struct tx_cur *c = &e->cur;
	struct tx_batch *b = c->batch;
	size_t mark;
	int r;

	if (!b)
		return 0;
	r = msg_begin(&e->out, MSG_FILE_CHUNKS, &mark);
	if (r < 0)
		return r;
	if ((r = wbuf_put_u32(&e->out, c->f->id)) < 0 || (r = wbuf_put_u32(&e->out, b->first)) < 0 ||
	    (r = wbuf_put_u32(&e->out, b->count)) < 0)
		goto fail;
	for (uint32_t i = 0; i < b->count; i++)
		if ((r = msg_put_chunk(&e->out, &b->h[i], b->len[i])) < 0)
			goto fail;
	r = msg_finish(&e->out, mark);
	if (r < 0)
		return r;
	if (c->f->tail)
		c->f->tail->next = b;
	else
		c->f->head = b;
	c->f->tail = b;
	c->batch = NULL;
	return 0;
fail:
	msg_cancel(&e->out, mark);
	return r;
}

/* Records the chunk of len bytes named h that starts at file offset off. */
static int tx_emit_chunk(struct engine *e, const struct hash128 *h, size_t len, uint64_t off)
{
	struct tx_cur *c = &e->cur;
	struct tx_batch *b = c->batch;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->first = c->nchunks;
		c->batch = b;
	}
	b->h[b->count] = *h;
	b->off[b->count] = off;
	b->len[b->count] = (uint32_t)len;
	b->count++;
	b->bytes += len;
	c->nchunks++;
	e->tx_held += len;
	/* Small batches keep several in flight inside the window. */
	if (b->count == BATCH_MAX || b->bytes >= BATCH_BYTES)
		return tx_flush_batch(e);
	return 0;
}

/* A copy of the names other than path in the link set under key (the
 * peer's names of one file), for a loop that may change the set. *names is
 * NULL and *n 0 when there are none; -ENOMEM leaves what was copied to be
 * freed. */
static int link_names_copy_key(struct engine *e, const char *key, const char *path, char ***names,
			       size_t *n)
{
	const struct link_set *s = key ? strmap_get(e->links, key) : NULL;

	*names = NULL;
	*n = 0;
	if (!s)
		return 0;
	*names = calloc(s->n, sizeof(**names));
	if (!*names)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], path) != 0 && !((*names)[(*n)++] = strdup(s->names[i])))
			return -ENOMEM;
	return 0;
}

/* The same for the file st that path names. */
static int link_names_copy(struct engine *e, const char *path, const struct stat *st,
			   char ***names, size_t *n)
{
	char key[PATH_MAX + 64];

	link_key(key, sizeof(key), path, st);
	return link_names_copy_key(e, key, path, names, n);
}

static void link_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Another look at path, whose transfer (begun when barrier `after` was the
 * last sent) was aborted. A barrier queued since must cover it, so the look
 * goes ahead of the first queued barrier. A barrier sent since the transfer
 * began was meant to cover it too, and the peer will acknowledge it without
 * the file: that barrier (the last sent) is sent again after the look, and
 * acknowledgements from the first such barrier on are held until the peer
 * has answered the one sent again (tx_barrier_ack). */
static int tx_queue_resend(struct engine *e, const char *path, uint64_t after)
{
	struct wq_item *w, *rb = NULL, **at = &e->wq_head;
	bool redo = e->barrier_sent > after;

	while (*at && (*at)->kind != WQ_BARRIER)
		at = &(*at)->next;
	/* A barrier sent again that is still queued covers this look too. */
	if (*at && (*at)->redo)
		redo = false;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path)))
		goto nomem;
	w->kind = WQ_CHANGED;
	w->overlap = true;
	w->names = UINT64_MAX; /* never merged into: not in e->queued */
	if (redo) {
		rb = calloc(1, sizeof(*rb));
		if (!rb)
			goto nomem;
		rb->kind = WQ_BARRIER;
		rb->redo = true;
		rb->seq = e->barrier_sent;
		rb->names = UINT64_MAX;
		w->next = rb;
		rb->next = *at;
		e->barrier_redo++;
		if (!e->barrier_hold || e->barrier_hold > after + 1)
			e->barrier_hold = after + 1;
	} else {
		w->next = *at;
	}
	if (!(rb ? rb : w)->next)
		e->wq_tail = rb ? rb : w;
	*at = w;
	return 0;
nomem:
	wq_free(w);
	return -ENOMEM;
}

/* Other names of a file the model may hold wrongly: each is looked at
 * again, with the model's idea of it forgotten (tx_queue_resend, after). */
static int tx_relook_names(struct engine *e, char **names, size_t n, uint64_t after)
{
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		struct peer_entry *pe = model_get(e, names[i]);

		if (pe && pe->kind == ENTRY_FILE)
			model_mark_stale(pe);
		r = tx_queue_resend(e, names[i], after);
	}
	return r;
}

/* The other names of an aborted transfer's file were linked to it when it
 * began (link_others), and the model took them for its content: the peer
 * links them to whatever it holds under f's name, if anything. */
static int tx_abort_links(struct engine *e, struct tx_file *f)
{
	char **names;
	size_t n;
	int r = link_names_copy(e, f->path, &f->st, &names, &n);

	if (r == 0)
		r = tx_relook_names(e, names, n, f->after);
	link_names_free(names, n);
	return r;
}

/* The file changed or vanished while it was being sent: drop this transfer
 * (batches still due a WANT are drained without data) and look at the path
 * again. */
static int tx_abort(struct engine *e, struct tx_file *f, int err)
{
	int r;

	log_debug("%s: changed while sent (%s), sending again", f->path, strerror(-err));
	r = msg_put_u32(&e->out, MSG_FILE_ABORT, f->id);
	/* Not f->st.st_nlink: names linked to the file while it was in
	 * flight are in its set too. */
	if (r == 0)
		r = tx_abort_links(e, f);
	if (f == e->cur.f)
		tx_cur_close(e);
	f->ended = f->aborted = true;
	if (strmap_get(e->inflight, f->path) == f) {
		struct peer_entry *pe = model_get(e, f->path);

		strmap_del(e->inflight, f->path);
		/* The peer may hold nothing there: no LINK is made from it.
		 * (A LINK sent to it since gives it the file: it stays, but
		 * what it holds may be this transfer's file only through
		 * another name linked to it in flight, so it is not taken for
		 * the content until sent again.) */
		if (!pe || pe->kind != ENTRY_FILE)
			link_forget(e, f->path);
		else
			model_mark_stale(pe);
	}
	if (r == 0)
		r = tx_queue_resend(e, f->path, f->after);
	if (!f->head)
		tx_file_drop(e, f);
	return r;
}

/* The scanner gave the file's digest: the last batch and FILE_END go. */
static int tx_finish_cur(struct engine *e, const struct hash128 *h)
{
	struct tx_cur *c = &e->cur;
	struct tx_file *f = c->f;
	int r;

	r = tx_flush_batch(e);
	if (r < 0)
		return r;
	r = msg_put_file_end(&e->out, f->id, c->nchunks, h);
	if (r < 0)
		return r;
	if (file_fingerprint(f->fd, (uint64_t)f->st.st_size, &f->fp_head, &f->fp_tail) < 0)
		f->fp_head = f->fp_tail = 0;
	f->ended = true;
	c->f = NULL;
	if (!f->head)
		f->fd = safe_close(f->fd);
	return 0;
}

/* A hole the scanner passed over goes as FILE_HOLE, after the chunks
 * before it. */
static int tx_hole(struct engine *e, uint64_t off, uint64_t len)
{
	struct tx_cur *c = &e->cur;
	int r = tx_flush_batch(e);

	if (r == 0)
		r = msg_put_hole(&e->out, c->f->id, off, len);
	if (r < 0)
		return r;
	e->stats.hole_bytes_sent += len;
	c->f->done += len;
	engine_flow_moved(e, FLOW_TX, len);
	return 0;
}

/* Takes the current file's chunks from the scanner, up to `budget` bytes. */
static int tx_step_cur(struct engine *e, size_t *budget)
{
	struct tx_cur *c = &e->cur;

	while (c->f && *budget > 0 && e->tx_held < TX_WINDOW && wbuf_len(&e->out) < OUT_HIGH_WATER) {
		struct scan_item it;
		int r;

		scanner_next(c->sc, &it);
		switch (it.kind) {
		case SCAN_CHUNK:
			*budget = *budget > it.len ? *budget - (size_t)it.len : 0;
			r = tx_emit_chunk(e, &it.h, (size_t)it.len, it.off);
			break;
		case SCAN_HOLE:
			r = tx_hole(e, it.off, it.len);
			break;
		case SCAN_END:
			return tx_finish_cur(e, &it.h);
		default:
			return tx_abort(e, c->f, it.err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int link_others(struct engine *e, const char *path, const struct stat *st);

static int tx_start_file(struct engine *e, const char *path, int fd, const struct stat *st)
{
	struct tx_cur *c = &e->cur;
	struct tx_file *f = calloc(1, sizeof(*f));
	int r;

	if (!f || !(f->path = strdup(path))) {
		free(f);
		close(fd);
		return -ENOMEM;
	}
	f->id = ++e->next_id;
	f->fd = fd;
	f->st = *st;
	f->ops_sent = e->tx_ops_sent;
	f->ops_bytes = e->tx_ops_bytes;
	f->after = e->barrier_sent;
	f->begun_ms = engine_now_ms();
	r = msg_put_file_begin(&e->out, f->id, path, st->st_mode & 07777, (uint64_t)st->st_size,
			       st_mtime_ns(st));
	if (r < 0) {
		free(f->path);
		free(f);
		close(fd);
		return r;
	}
	tx_sent_op(e, path, NULL);
	f->older = e->tx_newest;
	if (e->tx_newest)
		e->tx_newest->newer = f;
	else
		e->tx_oldest = f;
	e->tx_newest = f;
	f->hnext = e->tx_ids[f->id % ID_BUCKETS];
	e->tx_ids[f->id % ID_BUCKETS] = f;
	e->tx_open++;
	(void)strmap_put(e->inflight, path, f, NULL);
	r = model_made_parents(e, path); /* ENOMEM: fatal, f is registered */
	c->f = f;
	c->nchunks = 0;
	scanner_start(c->sc, f->fd, (uint64_t)st->st_size);
	if (r < 0)
		return r;
	/* The receiver's commit gives path an inode of its own. */
	if (st->st_nlink < 2 || link_refused(e, path)) {
		link_forget(e, path);
		return 0;
	}
	r = link_note(e, path, st);
	return r < 0 ? r : link_others(e, path, st);
}

/* path is a symlink of ours (*done set): its target, as text, is sent when
 * the peer lacks it. It is never followed; a path that goes through a
 * symlinked directory is not one of ours (*done stays false). */
static int tx_symlink(struct engine *e, const char *path, struct peer_entry *pe, bool *done)
{
	char target[WIRE_TARGET_MAX + 2];
	const char *base;
	struct tx_file *fl;
	struct stat st;
	uint64_t h;
	ssize_t n;
	int dirfd = path_open_parent(e->rootfd, path, false, &base), r;

	*done = false;
	if (dirfd < 0)
		return 0;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode)) {
		close(dirfd);
		return 0;
	}
	n = readlinkat(dirfd, base, target, sizeof(target));
	close(dirfd);
	if (n <= 0)
		return 0;
	if ((size_t)n > WIRE_TARGET_MAX) {
		report_skip(e, path, "symbolic link with a target too long");
		return 0;
	}
	*done = true;
	target[n] = '\0';
	h = target_hash(target, (size_t)n);
	/* A transfer still in flight there is committed first, then replaced;
	 * its acknowledgement must not leave a file in the model. Whether a
	 * SYMLINK the model shows went before or after its FILE_BEGIN is not
	 * known: the path is looked at again once it is acknowledged. */
	fl = strmap_get(e->inflight, path);
	if (fl)
		fl->requeue = WQ_CHANGED;
	if (pe && pe->kind == ENTRY_SYMLINK && pe->fp && pe->fp_head == h &&
	    pe->size == (uint64_t)n)
		return 0;
	r = msg_put_symlink(&e->out, path, target, st_mtime_ns(&st));
	if (r < 0)
		return r;
	tx_sent_op(e, path, target);
	r = model_made_parents(e, path);
	if (r == 0)
		r = model_set(e, path, ENTRY_SYMLINK, &st);
	if (r < 0)
		return r;
	pe = model_get(e, path);
	pe->size = (uint64_t)n;
	pe->fp = true;
	pe->fp_head = h;
	return 0;
}

/* The key of an inode among the links of one tree. */
static void link_key(char *key, size_t n, const char *path, const struct stat *st)
{
	const char *slash = strchr(path, '/');
	int tl = slash ? (int)(slash - path) : (int)strlen(path);

	snprintf(key, n, "%.*s:%llx:%llx", tl, path, (unsigned long long)st->st_dev,
		 (unsigned long long)st->st_ino);
}

/* Is path (of ours) a name of the file st? */
static bool local_same(struct engine *e, const char *path, const struct stat *st)
{
	const char *base;
	struct stat sst;
	int dirfd = path_open_parent(e->rootfd, path, false, &base);
	bool same = dirfd >= 0 && fstatat(dirfd, base, &sst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sst.st_mode) && sst.st_dev == st->st_dev && sst.st_ino == st->st_ino;

	safe_close(dirfd);
	return same;
}

/* The content of path, a file with several names, is being sent: the
 * peer's other names of it hold what it had before, and are linked to path
 * again (the receiver applies each LINK after path's commit). Sending the
 * one name and linking the rest costs one transfer, and the peer's names
 * stay one file. Names that are no longer this file leave its set: their
 * own notification (a removal, a change, a rename) follows. */
static int link_others(struct engine *e, const char *path, const struct stat *st)
{
	char **names;
	size_t n;
	int r = link_names_copy(e, path, st, &names, &n);

	for (size_t i = 0; i < n && r == 0; i++) {
		struct peer_entry *pe;

		if (!names[i] || link_refused(e, names[i]))
			continue;
		if (!local_same(e, names[i], st)) {
			/* Renamed away by a rename still queued, perhaps: the
			 * peer's copy there stays a file of its own, whose
			 * size and mtime may still match. Whoever looks at it
			 * next sends it (as a link, if it still is one). */
			link_forget(e, names[i]);
			if ((pe = model_get(e, names[i])) && pe->kind == ENTRY_FILE)
				model_mark_stale(pe);
			continue;
		}
		log_debug("%s: linked again to %s, sent anew", names[i], path);
		r = tx_put_link(e, path, names[i]);
		if (r < 0)
			break;
		r = model_set(e, names[i], ENTRY_FILE, st);
		if (r == 0 && (pe = model_get(e, names[i])))
			pe->fp = false;
	}
	link_names_free(names, n);
	return r;
}

/* Names of the file st that the peer holds but that are not known as its
 * names: a file sent while it had one name, linked to after. The watcher
 * reports only the new name, so the model is searched for the inode, once
 * the initial pass is done (it sends every name of a file itself), and
 * only while fewer names are known than the file has. How many names it
 * found, or -errno. */
/* Is k, which the peer holds as the file st, a name of it in path's tree
 * (tl: the length of the tree's name) other than path, not yet known as one? */
static bool link_unknown_name(struct engine *e, const char *k, const char *path, size_t tl,
			      const struct stat *st)
{
	return strncmp(k, path, tl) == 0 && k[tl] == '/' && strcmp(k, path) != 0 &&
	       !strmap_get(e->link_of, k) && local_same(e, k, st);
}

static int link_search(struct engine *e, const char *path, const struct stat *st)
{
	char key[PATH_MAX + 64];
	struct link_set *s;
	size_t pos = 0, tl = strcspn(path, "/");
	const char *k;
	void *v;
	int r = 0, found = 0;

	if (!e->initial_seq || e->barrier_acked < e->initial_seq)
		return 0;
	link_key(key, sizeof(key), path, st);
	s = strmap_get(e->links, key);
	if (s && s->n + (strmap_get(e->link_of, path) ? 0 : 1) >= st->st_nlink)
		return 0;
	while (r == 0 && strmap_next(e->model, &pos, &k, &v)) {
		const struct peer_entry *pe = v;

		if (pe->kind == ENTRY_FILE && pe->ino == st->st_ino && pe->dev == st->st_dev &&
		    link_unknown_name(e, k, path, tl, st)) {
			r = link_note(e, k, st);
			found++;
		}
	}
	/* A name whose transfer is still in flight is not in the model yet
	 * (linked while it was being sent: property test seed 124). */
	pos = 0;
	while (r == 0 && strmap_next(e->inflight, &pos, &k, &v)) {
		const struct tx_file *f = v;

		if (!f->aborted && f->st.st_ino == st->st_ino && f->st.st_dev == st->st_dev &&
		    link_unknown_name(e, k, path, tl, st)) {
			r = link_note(e, k, st);
			found++;
		}
	}
	return r < 0 ? r : found;
}

/* A file with several names: when another name of it in the same tree is
 * held by the peer with this content, or in flight with it, path is sent
 * as a LINK to it (*done set). Otherwise path is sent whole, and
 * tx_start_file() links the others to it. */
static int tx_hardlink(struct engine *e, const char *path, const struct stat *st, bool *done)
{
	char key[PATH_REL_MAX + 64];
	struct link_set *s;
	int found, r;

	*done = false;
	if (st->st_nlink < 2 || link_refused(e, path))
		return 0;
	found = link_search(e, path, st);
	if (found < 0)
		return found;
	link_key(key, sizeof(key), path, st);
	s = strmap_get(e->links, key);
	for (size_t i = 0; s && i < s->n; i++) {
		const char *src = s->names[i];
		struct peer_entry *spe = model_get(e, src), *pe;
		struct tx_file *sfl = strmap_get(e->inflight, src);
		bool fp = false;
		uint64_t fp_head = 0, fp_tail = 0;
		uint32_t mode;

		if (strcmp(src, path) == 0)
			continue;
		if (sfl ? sfl->aborted || sfl->st.st_size != st->st_size ||
				  st_mtime_ns(&sfl->st) != st_mtime_ns(st) :
			  !spe || spe->kind != ENTRY_FILE || spe->size != (uint64_t)st->st_size ||
				  spe->mtime != st_mtime_ns(st))
			continue;
		if (!local_same(e, src, st))
			continue;
		if (!sfl) {
			fp = spe->fp;
			fp_head = spe->fp_head;
			fp_tail = spe->fp_tail;
		}
		mode = sfl ? want_mode(e, &sfl->st) : spe->mode;
		if (found > 0) {
			/* Names found in the model may be separate files at the
			 * peer (copies sent while they were): all are linked to
			 * src, path among them. */
			char *copy = strdup(src);

			r = copy ? link_note(e, path, st) : -ENOMEM;
			if (r == 0)
				r = link_others(e, copy, st);
			free(copy);
			*done = true;
			if (r == 0 && mode != want_mode(e, st))
				r = tx_put_meta(e, MSG_SETATTR, path, st->st_mode & 07777,
						st_mtime_ns(st));
			return r;
		}
		log_debug("%s: sent as a link to %s", path, src);
		r = tx_put_link(e, src, path);
		if (r < 0)
			return r;
		*done = true;
		/* A chmod through one name: the names share the mode. */
		if (mode != want_mode(e, st)) {
			r = tx_put_meta(e, MSG_SETATTR, path, st->st_mode & 07777, st_mtime_ns(st));
			if (r < 0)
				return r;
			for (size_t j = 0; j < s->n; j++)
				if ((pe = model_get(e, s->names[j])))
					pe->mode = want_mode(e, st);
		}
		r = model_set(e, path, ENTRY_FILE, st);
		if (r < 0)
			return r;
		pe = model_get(e, path);
		pe->fp = fp;
		pe->fp_head = fp_head;
		pe->fp_tail = fp_tail;
		return link_note(e, path, st);
	}
	return 0;
}

/* The LINKs the peer refused for path were for the file that was there:
 * gone (st NULL) or replaced by st, a new file there starts afresh. */
static void nolink_gone(struct engine *e, const char *path, const struct stat *st)
{
	const struct peer_entry *pe;
	const struct tx_file *fl;

	if (!strmap_get(e->nolink, path))
		return;
	if (st) {
		dev_t dev;
		ino_t ino;

		if ((pe = model_get(e, path)) && pe->kind == ENTRY_FILE) {
			dev = pe->dev;
			ino = pe->ino;
		} else if ((fl = strmap_get(e->inflight, path))) {
			dev = fl->st.st_dev;
			ino = fl->st.st_ino;
		} else {
			return; /* not known which file was refused */
		}
		if (dev == st->st_dev && ino == st->st_ino)
			return;
	}
	strmap_del(e->nolink, path);
}

/* Does the peer hold path, or get it, as something with nothing below it?
 * Then forgetting it touches only its own entries in the maps. */
static bool tx_path_is_file(struct engine *e, const char *path)
{
	const struct peer_entry *pe = model_get(e, path);

	return pe ? pe->kind != ENTRY_DIR : strmap_get(e->inflight, path) != NULL;
}

static int tx_gone_links(struct engine *e, const char *path, const struct stat *st);

/* path is gone here: the peer removes it. A file's removal costs O(1), so
 * that `rm -r` of 100,000 files stays linear; a directory's scans what
 * the maps hold. */
static int tx_send_remove(struct engine *e, const char *path)
{
	bool file = tx_path_is_file(e, path);
	int r = tx_gone_links(e, path, NULL);

	if (r < 0)
		return r;
	model_remove(e, path);
	if (file) {
		strmap_del(e->nolink, path);
		strmap_del(e->inflight, path);
	} else {
		nolink_forget_below(e, path);
		inflight_forget(e, path);
	}
	return tx_put_meta(e, MSG_REMOVE, path, 0, 0);
}

/* path is gone here (st NULL) or names another file now (st: removed and
 * made again, or renamed over), and the peer holds other names of the file
 * it was (hard links). That file may have changed through path before, and
 * no event names the others: they are looked at again, ahead of any queued
 * barrier (which must cover them). */
static int tx_gone_links(struct engine *e, const char *path, const struct stat *st)
{
	const char *old = strmap_get(e->link_of, path);
	char key[PATH_MAX + 64], okey[PATH_MAX + 64];
	const struct peer_entry *pe;
	const struct tx_file *fl;
	char **names;
	size_t n;
	int r;

	nolink_gone(e, path, st);
	if (!old) {
		/* Sent while it had one name: names given to its file since
		 * are in the set of its inode, if the peer holds them. */
		struct stat ost = { 0 };

		if ((pe = model_get(e, path)) && pe->kind == ENTRY_FILE && pe->ino) {
			ost.st_dev = pe->dev;
			ost.st_ino = pe->ino;
		} else if ((fl = strmap_get(e->inflight, path))) {
			ost = fl->st;
		} else {
			return 0;
		}
		link_key(okey, sizeof(okey), path, &ost);
		if (!strmap_get(e->links, okey))
			return 0;
		old = okey;
	}
	if (st) {
		link_key(key, sizeof(key), path, st);
		if (strcmp(old, key) == 0)
			return 0;
	}
	r = link_names_copy_key(e, old, path, &names, &n);
	if (r == 0)
		r = tx_relook_names(e, names, n, e->barrier_sent);
	link_names_free(names, n);
	if (r == 0)
		link_forget(e, path);
	return r;
}

/* Looks at one path of ours and sends what the peer lacks of it. With
 * force (a change notification named it) the contents are always compared;
 * the peer's dedup keeps that cheap. */
static int tx_path(struct engine *e, const char *path, bool force, bool overlap)
{
	struct peer_entry *pe = model_get(e, path);
	struct tx_file *fl;
	struct stat st;
	int fd, r;

	if (tree_too_deep(path)) {
		tx_report_deep(e, path);
		return 0;
	}
	/* Looked at through O_PATH first: opening a device or fifo for reading
	 * could have effects. */
	fd = path_openat(e->rootfd, path, O_PATH | O_CLOEXEC, 0);
	if (fd == -ELOOP) {
		bool done;

		/* A file of several names may have been changed through this
		 * name before a symlink took its place. */
		r = tx_gone_links(e, path, NULL);
		if (r == 0)
			r = tx_symlink(e, path, pe, &done);
		if (r < 0 || done)
			return r;
	}
	if (fd >= 0 && fstat(fd, &st) < 0)
		fd = safe_close(fd);
	if (fd >= 0 && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		report_skip(e, path, special_kind(st.st_mode));
		fd = safe_close(fd);
	}
	if (fd < 0)
		return pe || strmap_get(e->inflight, path) ? tx_send_remove(e, path) : 0;
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		r = tx_gone_links(e, path, NULL);
		if (r < 0)
			return r;
		if (pe && pe->kind == ENTRY_DIR && pe->mode == want_mode(e, &st))
			return 0;
		r = tx_put_meta(e, MSG_MKDIR, path, st.st_mode & 07777, st_mtime_ns(&st));
		if (r == 0)
			r = model_made_parents(e, path);
		return r < 0 ? r : model_set(e, path, ENTRY_DIR, &st);
	}
	close(fd);
	fd = engine_open_read(e, path);
	if (fd < 0 && fd != -ENOENT && fd != -ENOTDIR && fd != -ELOOP)
		return tx_fail_local(e, path, fd);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		/* Replaced while we looked: its own notification follows. */
		safe_close(fd);
		return 0;
	}
	r = tx_gone_links(e, path, &st);
	if (r < 0) {
		close(fd);
		return r;
	}
	fl = strmap_get(e->inflight, path);
	if (fl && !overlap) {
		close(fd);
		if (force || fl->st.st_ino != st.st_ino || fl->st.st_size != st.st_size ||
		    st_mtime_ns(&fl->st) != st_mtime_ns(&st) || fl->st.st_mode != st.st_mode)
			fl->requeue = WQ_CHANGED;
		return 0;
	}
	if (!force && !fl && pe && pe->kind == ENTRY_FILE && pe->size == (uint64_t)st.st_size &&
	    pe->mtime == st_mtime_ns(&st)) {
		close(fd);
		/* The peer holds this content here, but perhaps as a file of
		 * its own: a copy renamed onto a name of a file with several
		 * names (property test seed 213) is linked to the others. */
		if (st.st_nlink > 1 && !link_is(e, path, &st)) {
			bool done;

			r = tx_hardlink(e, path, &st, &done);
			if (r < 0 || done)
				return r;
		}
		if (pe->mode == want_mode(e, &st))
			return 0;
		r = tx_put_meta(e, MSG_SETATTR, path, st.st_mode & 07777, st_mtime_ns(&st));
		pe->mode = want_mode(e, &st);
		return r;
	}
	if (st.st_nlink > 1) {
		bool done;

		r = tx_hardlink(e, path, &st, &done);
		if (r < 0 || done) {
			close(fd);
			return r;
		}
	}
	/* O_NONBLOCK was only for opening; reads of regular files ignore it. */
	return tx_start_file(e, path, fd, &st);
}

/* A file that is still being written: stream what was appended since the
 * peer acknowledged it, or send it whole if it is new to the peer. */
static int tx_append(struct engine *e, struct wq_item *w)
{
	uint8_t *buf = e->scratch[0];
	struct peer_entry *pe = model_get(e, w->path);
	struct tx_file *fl = strmap_get(e->inflight, w->path);
	uint64_t sent = 0, head, tail;
	struct stat st;
	int fd, r = 0;

	if (fl && !w->overlap) {
		if (fl->requeue != WQ_CHANGED)
			fl->requeue = WQ_APPEND;
		return 0;
	}
	if (fl)
		return tx_path(e, w->path, true, true);
	/* The peer applies an APPEND at once, but operations sent since the
	 * oldest open transfer began wait behind it there, and one of them
	 * may make this path (a rename onto it): then the file goes as a
	 * transfer, which waits its turn (property test seed 788). */
	if (!pe || pe->kind != ENTRY_FILE || pe->ino == 0 || !pe->fp ||
	    (e->tx_oldest && e->tx_ops_sent != e->tx_oldest->ops_sent))
		return tx_path(e, w->path, true, w->overlap);
	fd = engine_open_read(e, w->path);
	/* A file with several names is sent whole: its other names follow. */
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1 ||
	    st.st_ino != pe->ino ||
	    st.st_dev != pe->dev || (uint64_t)st.st_size < pe->size ||
	    file_fingerprint(fd, pe->size, &head, &tail) < 0 || head != pe->fp_head ||
	    tail != pe->fp_tail) {
		safe_close(fd);
		return tx_path(e, w->path, true, w->overlap);
	}
	while (pe->size < (uint64_t)st.st_size && sent < STEP_BYTES) {
		size_t want = (size_t)MIN((uint64_t)APPEND_MAX, (uint64_t)st.st_size - pe->size);
		ssize_t n = io_pread_all(fd, buf, want, (off_t)pe->size);

		if (n <= 0)
			break;
		r = msg_put_append(&e->out, w->path, pe->size, st_mtime_ns(&st), buf, (size_t)n);
		if (r < 0)
			break;
		pe->size += (uint64_t)n;
		pe->mtime = st_mtime_ns(&st);
		sent += (uint64_t)n;
		(void)strmap_put(e->appended, w->path, (void *)1, NULL);
		e->stats.file_bytes_sent += (uint64_t)n;
	}
	if (file_fingerprint(fd, pe->size, &pe->fp_head, &pe->fp_tail) < 0)
		pe->fp = false;
	close(fd);
	if (r == 0 && pe->size < (uint64_t)st.st_size)
		r = tx_queue(e, WQ_APPEND, w->path, NULL, 0);
	return r;
}

/* A SETATTR of path (the file st) was sent: the peer's other names of the
 * file share its inode, and so the attributes just set. */
static void link_set_attrs(struct engine *e, const char *path, const struct stat *st)
{
	char key[PATH_MAX + 64];
	const struct link_set *s;
	struct peer_entry *pe;

	link_key(key, sizeof(key), path, st);
	s = link_is(e, path, st) ? strmap_get(e->links, key) : NULL;
	for (size_t i = 0; s && i < s->n; i++)
		if ((pe = model_get(e, s->names[i])) && pe->kind == ENTRY_FILE && pe->ino == st->st_ino &&
		    pe->size == (uint64_t)st->st_size) {
			pe->mtime = st_mtime_ns(st);
			pe->mode = want_mode(e, st);
		}
}

/* Only the mode or times of a file changed (the caller saw no write): when
 * the peer holds this file's content, a SETATTR carries them, and the file
 * is not sent again (tar and cp -p set both after writing). Otherwise, or
 * when anything else differs, it is an ordinary look. */
static int tx_attr(struct engine *e, struct wq_item *w)
{
	struct peer_entry *pe = model_get(e, w->path);
	struct tx_file *fl = strmap_get(e->inflight, w->path);
	struct stat st;
	int r;

	/* Never sent and not being sent: its content is still to be
	 * reported (a file being written: tar sets the mode and times
	 * before closing it), and goes with these attributes then. */
	if (!pe && !fl)
		return 0;
	if (fstatat(e->rootfd, w->path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return tx_path(e, w->path, false, w->overlap);
	if (fl && !fl->aborted && st.st_ino == fl->st.st_ino && st.st_dev == fl->st.st_dev &&
	    st.st_size == fl->st.st_size) {
		/* Its transfer is in flight: the peer applies the SETATTR
		 * after committing it, and its FILE_ACK records what the
		 * peer then holds. */
		if (st_mtime_ns(&st) == st_mtime_ns(&fl->st) && st.st_mode == fl->st.st_mode)
			return 0;
		r = tx_put_meta(e, MSG_SETATTR, w->path, st.st_mode & 07777, st_mtime_ns(&st));
		if (r == 0) {
			fl->st.st_mtim = st.st_mtim;
			fl->st.st_mode = st.st_mode;
			/* Names linked to it since its transfer began are in
			 * the model with the attributes it had then (property
			 * test seed 75, mount mode). */
			link_set_attrs(e, w->path, &st);
		}
		return r;
	}
	if (fl && !w->overlap) {
		if (fl->requeue == WQ_NONE)
			fl->requeue = WQ_ATTR;
		return 0;
	}
	if (fl || !pe || pe->kind != ENTRY_FILE || pe->ino == 0 || st.st_ino != pe->ino ||
	    st.st_dev != pe->dev || (uint64_t)st.st_size != pe->size)
		return tx_path(e, w->path, false, w->overlap);
	if (pe->mtime == st_mtime_ns(&st) && pe->mode == want_mode(e, &st))
		return 0;
	r = tx_put_meta(e, MSG_SETATTR, w->path, st.st_mode & 07777, st_mtime_ns(&st));
	if (r < 0)
		return r;
	link_set_attrs(e, w->path, &st);
	pe = model_get(e, w->path);
	pe->mtime = st_mtime_ns(&st);
	pe->mode = want_mode(e, &st);
	return 0;
}

static int tree_queue_cb(void *ud, const char *path, const struct stat *st)
{
	(void)st;
	return tx_queue(ud, WQ_PATH, path, NULL, 0);
}

static bool tx_path_at_peer(struct engine *e, const char *path)
{
	return model_get(e, path) || strmap_get(e->inflight, path);
}

/* A look at a failed path (noted with stamp before it; 0: it had not
 * failed) that sent no new transfer and failed no new way found nothing
 * left to retry: the peer holds it, or it is a directory now, or went as a
 * symlink or link. r: what the look returned. */
static int tx_path_retried(struct engine *e, const char *path, uint64_t stamp, int r)
{
	struct tx_failure *f;

	if (r < 0 || !stamp || !(f = strmap_get(e->failed, path)) || f->stamp != stamp ||
	    strmap_get(e->inflight, path))
		return r;
	tx_fail_clear(e, path);
	return r;
}

/* Every tree's bit (rescan_due, recount_due). */
static uint32_t own_trees_all(const struct engine *e)
{
	uint32_t all = 0;

	for (unsigned i = 0; i < 32 && e->own[i]; i++)
		all |= UINT32_C(1) << i;
	return all;
}

/* The bit of path's tree among e->own (rescan_due, recount_due). */
static uint32_t own_tree_bit(const struct engine *e, const char *path)
{
	size_t tl = strcspn(path, "/");

	for (unsigned i = 0; i < 32 && e->own[i]; i++)
		if (strlen(e->own[i]) == tl && strncmp(e->own[i], path, tl) == 0)
			return UINT32_C(1) << i;
	return 0;
}

static int tx_item(struct engine *e, struct wq_item *w)
{
	const struct tx_failure *failed = w->path ? strmap_get(e->failed, w->path) : NULL;
	uint64_t stamp = failed ? failed->stamp : 0;
	const struct peer_entry *pe;
	struct stat st;
	int r;

	switch (w->kind) {
	case WQ_PATH:
	case WQ_CHANGED:
		r = tx_path(e, w->path, w->kind == WQ_CHANGED, w->overlap);
		return tx_path_retried(e, w->path, stamp, r);
	case WQ_APPEND:
		return tx_path_retried(e, w->path, stamp, tx_append(e, w));
	case WQ_ATTR:
		return tx_path_retried(e, w->path, stamp, tx_attr(e, w));
	case WQ_TREE:
		r = tx_path_retried(e, w->path, stamp, tx_path(e, w->path, false, false));
		if (r < 0)
			return r;
		if (fstatat(e->rootfd, w->path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			return tree_walk_skips(e->rootfd, w->path, tree_queue_cb, tx_walk_skip, e);
		return 0;
	case WQ_REMOVE:
		if (tx_path_is_file(e, w->path))
			tx_fail_clear(e, w->path);
		else
			tx_fail_drop_below(e, w->path);
		return tx_path_at_peer(e, w->path) ? tx_send_remove(e, w->path) : 0;
	case WQ_RENAME:
		tx_fail_rename(e, w->path, w->to);
		/* A rename onto itself changes nothing (a mount may report one
		 * for a directory); moving the model onto itself would lose it. */
		if (strcmp(w->path, w->to) == 0)
			return tx_queue(e, WQ_PATH, w->to, NULL, 0);
		if (!tx_path_at_peer(e, w->path)) {
			/* The peer never had the source (a short-lived temporary
			 * file, say): send the target itself. */
			return tx_queue(e, WQ_TREE, w->to, NULL, 0);
		}
		if (model_too_deep_as(e, w->path, w->to)) {
			/* The peer would hold paths it cannot be sent: it loses
			 * the source and gets what may be sent of the target. */
			model_remove(e, w->path);
			r = tx_put_meta(e, MSG_REMOVE, w->path, 0, 0);
			return r < 0 ? r : tx_queue(e, WQ_TREE, w->to, NULL, 0);
		}
		/* The file the peer holds at the target goes: its other names
		 * may have changed through the target, and no event names them. */
		r = tx_gone_links(e, w->to, NULL);
		if (r < 0)
			return r;
		model_rename(e, w->path, w->to);
		r = msg_put_rename(&e->out, w->path, w->to);
		if (r < 0)
			return r;
		tx_sent_op(e, w->path, w->to);
		r = model_made_parents(e, w->to);
		if (r < 0)
			return r;
		if ((pe = model_get(e, w->to)) && pe->kind == ENTRY_DIR)
			e->rescan_due |= own_tree_bit(e, w->to);
		/* Work on the source still in flight or queued (a transfer, a
		 * change noticed during it) is keyed by the old name and would
		 * be lost: check the new name against the model once more. */
		if (strmap_get(e->inflight, w->to))
			return tx_queue(e, WQ_CHANGED, w->to, NULL, 0);
		if (fstatat(e->rootfd, w->to, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return 0; /* gone again: its own event follows */
		return tx_queue(e, S_ISDIR(st.st_mode) ? WQ_TREE : WQ_PATH, w->to, NULL, 0);
	case WQ_BARRIER:
		log_debug("barrier %llu sent%s", (unsigned long long)w->seq, w->redo ? " again" : "");
		r = msg_put_u64(&e->out, MSG_BARRIER, w->seq);
		if (r == 0) {
			tx_sent_op(e, NULL, NULL);
			e->barrier_sent = MAX(e->barrier_sent, w->seq);
			e->barrier_ops = e->tx_ops_sent;
		}
		return r;
	case WQ_NONE:
		break;
	}
	return 0;
}

/* Asks for the peer's summary of one of our trees: sent in turn like any
 * operation, so the answer describes the peer after everything we sent
 * before it. */
static int tx_recount_ask(struct engine *e)
{
	unsigned i = (unsigned)__builtin_ctz(e->recount_due);
	int r;

	e->recount_due &= ~(UINT32_C(1) << i);
	e->recount_model = strmap_new();
	if (!e->recount_model)
		return -ENOMEM;
	e->recount_tree = e->own[i];
	r = msg_put_summary_again(&e->out, e->recount_tree);
	if (r < 0)
		return r;
	tx_sent_op(e, e->recount_tree, NULL);
	e->summary_total = e->summary_bytes = 0;
	log_debug("summary of %s asked for again", e->recount_tree);
	return 0;
}

int tx_recount(struct engine *e)
{
	const char *tree = e->recount_tree;
	size_t pos = 0;
	const char *k;
	void *v;
	int r = 0;

	/* The entries lie below the tree (tx_summary_entry), where the
	 * model now holds nothing: each is moved, or freed if it cannot be. */
	model_drop_below(e, tree);
	while (strmap_next(e->recount_model, &pos, &k, &v)) {
		int p = r < 0 ? r : strmap_put(e->model, k, v, NULL);

		if (p < 0) {
			free(v);
			r = p;
		}
	}
	strmap_free(e->recount_model, NULL);
	e->recount_model = NULL;
	e->recount_tree = NULL;
	if (r < 0)
		return r;
	/* Which of the peer's names are one file, the summary does not say:
	 * the scan notes again those it holds as we do. */
	link_forget_below(e, tree);
	strmap_clear(e->link_sent, NULL);
	e->rescan_due &= ~own_tree_bit(e, tree);
	e->stats.recounts++;
	log_debug("model of %s rebuilt from the peer's summary", tree);
	return tx_rescan(e, tree);
}

enum tx_step { TX_WAIT, TX_CUR, TX_ASK, TX_RESCAN, TX_ITEM };

/* What tx_produce() does next, leaving out the output's and the window's
 * limits: TX_WAIT when it can do nothing until the peer answers. */
static enum tx_step tx_next(const struct engine *e)
{
	bool at_barrier = e->wq_head && e->wq_head->kind == WQ_BARRIER;

	if (e->cur.f)
		return TX_CUR;
	if (e->recount_model)
		return TX_WAIT; /* the peer's summary is awaited */
	if (e->recount_due && at_barrier && (e->peer_flags & HELLO_F_SUMMARY_AGAIN) &&
	    !tx_ops_blocked(e))
		return TX_ASK;
	if (e->rescan_due && (!e->wq_head || at_barrier))
		return TX_RESCAN;
	if (!e->wq_head || e->tx_open >= TX_MAX_OPEN || tx_ops_blocked(e))
		return TX_WAIT;
	return TX_ITEM;
}

bool tx_can_produce(const struct engine *e)
{
	return e->st == ST_RUNNING && wbuf_len(&e->out) < OUT_HIGH_WATER && e->tx_held < TX_WINDOW &&
	       tx_next(e) != TX_WAIT;
}

int tx_produce(struct engine *e)
{
	size_t budget = STEP_BYTES;
	int items = STEP_ITEMS, r = 0;

	while (r >= 0 && budget > 0 && items > 0 && tx_can_produce(e)) {
		switch (tx_next(e)) {
		case TX_CUR:
			r = tx_step_cur(e, &budget);
			break;
		case TX_ASK:
			r = tx_recount_ask(e);
			break;
		case TX_RESCAN: {
			uint32_t due = e->rescan_due;

			e->rescan_due = 0;
			for (unsigned i = 0; r >= 0 && i < 32 && e->own[i]; i++)
				if (due & (UINT32_C(1) << i))
					r = tx_rescan(e, e->own[i]);
			break;
		}
		case TX_ITEM: {
			struct wq_item *w = wq_pop(e);

			e->wq_in_item = true;
			e->wq_follow = NULL;
			r = tx_item(e, w);
			e->wq_in_item = false;
			wq_free(w);
			items--;
			break;
		}
		case TX_WAIT:
			break;
		}
	}
	if (r < 0)
		return engine_fatal(e, r, NULL, "cannot send");
	return 0;
}

/* --- the initial pass and rescans ---------------------------------------------------- */

static int scan_cb(void *ud, const char *path, const struct stat *st)
{
	struct engine *e = ud;
	struct peer_entry *pe;

	if (path_check(path) < 0) {
		report_skip(e, path, "name not transferable");
		return 0;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode)) {
		report_skip(e, path, special_kind(st->st_mode));
		return 0;
	}
	pe = model_get(e, path);
	if (pe) {
		pe->gen = e->scan_gen;
		if (S_ISLNK(st->st_mode) && pe->kind == ENTRY_SYMLINK &&
		    pe->size == (uint64_t)st->st_size && pe->mtime == st_mtime_ns(st) &&
		    !strmap_get(e->inflight, path))
			return 0;
		if (S_ISDIR(st->st_mode) && pe->kind == ENTRY_DIR && pe->mode == want_mode(e, st))
			return 0;
		if (S_ISREG(st->st_mode) && pe->kind == ENTRY_FILE &&
		    pe->size == (uint64_t)st->st_size && pe->mtime == st_mtime_ns(st) &&
		    pe->mode == want_mode(e, st))
			/* Held: later names of the file may be linked to it. */
			return st->st_nlink > 1 && !strmap_get(e->inflight, path) ?
				       link_note(e, path, st) :
				       0;
	}
	return tx_queue(e, WQ_PATH, path, NULL, 0);
}

/* Queues a removal of path ahead of everything. */
static int wq_remove_front(struct engine *e, const char *path)
{
	struct wq_item *w = calloc(1, sizeof(*w));

	if (!w || !(w->path = strdup(path))) {
		wq_free(w);
		return -ENOMEM;
	}
	w->kind = WQ_REMOVE;
	wq_push_front(e, w);
	return 0;
}

/* Compares our trees with the model and queues every difference: removals
 * first (they free space and clear type changes), then the rest in
 * pre-order so directories precede their contents. */
int tx_rescan(struct engine *e, const char *only)
{
	struct wq_item *rest = e->wq_head, *rest_tail = e->wq_tail;
	size_t pos = 0, olen = only ? strlen(only) : 0;
	const char *k;
	void *v;
	int r = 0;

	e->scan_gen++;
	e->wq_head = e->wq_tail = NULL;
	for (const char *const *t = e->own; *t && r >= 0; t++) {
		if (only && strcmp(*t, only) != 0)
			continue;
		(void)mkdirat(e->rootfd, *t, 0755);
		r = tree_walk_skips(e->rootfd, *t, scan_cb, tx_walk_skip, e);
	}
	if (r < 0) {
		log_errno(r, "cannot scan %s", e->root);
		r = 0;
	}
	while (strmap_next(e->model, &pos, &k, &v)) {
		const struct peer_entry *pe = v;

		if (pe->gen != e->scan_gen && (!only || is_under(k, only, olen)) &&
		    wq_remove_front(e, k) < 0)
			return -ENOMEM;
	}
	/* A transfer in flight whose file is gone here: its FILE_ACK would
	 * put into the model a path we do not have (renamed there in flight
	 * while a newer directory of its old name was walked). */
	pos = 0;
	while (strmap_next(e->inflight, &pos, &k, &v)) {
		struct stat st;

		if ((only && !is_under(k, only, olen)) || model_get(e, k) ||
		    (fstatat(e->rootfd, k, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)))
			continue;
		if (wq_remove_front(e, k) < 0)
			return -ENOMEM;
	}
	/* Work that was already queued keeps its place after the scan. */
	if (rest) {
		if (e->wq_tail)
			e->wq_tail->next = rest;
		else
			e->wq_head = rest;
		e->wq_tail = rest_tail;
	}
	return r;
}

int tx_start(struct engine *e)
{
	int r = tx_rescan(e, NULL);

	if (r < 0)
		return r;
	return engine_barrier(e, &e->initial_seq);
}

void tx_watch_event(const struct watch_event *ev, void *ud)
{
	struct engine *e = ud;
	int r = 0;

	if (e->st != ST_RUNNING)
		return; /* the summaries on the next connection catch up */
	switch (ev->kind) {
	case WATCH_FILE_CHANGED: r = tx_queue(e, WQ_CHANGED, ev->path, NULL, 0); break;
	case WATCH_DIR_ADDED:
	case WATCH_DIR_CHANGED:
	case WATCH_SPECIAL: r = tx_queue(e, WQ_PATH, ev->path, NULL, 0); break;
	case WATCH_FILE_GROWING: r = tx_queue(e, WQ_APPEND, ev->path, NULL, 0); break;
	case WATCH_ATTR_CHANGED: r = tx_queue(e, WQ_ATTR, ev->path, NULL, 0); break;
	case WATCH_REMOVED:
		e->recount_due |= own_tree_bit(e, ev->path);
		r = tx_queue(e, WQ_REMOVE, ev->path, NULL, 0);
		break;
	case WATCH_MOVED:
		e->recount_due |= own_tree_bit(e, ev->path) | own_tree_bit(e, ev->to);
		r = tx_queue(e, WQ_RENAME, ev->path, ev->to, 0);
		break;
	case WATCH_RESCAN:
		/* A tree's name: its caller knows a change no single path
		 * describes (a file with several names was written). */
		if (ev->path && *ev->path) {
			e->recount_due |= own_tree_bit(e, ev->path);
			if (engine_rescan(e, ev->path) == 0)
				break;
		}
		log_info("change notifications overflowed: rescanning");
		e->recount_due |= own_trees_all(e);
		r = tx_rescan(e, NULL);
		break;
	}
	if (r < 0)
		log_errno(r, "cannot queue a change of %s", ev->path ? ev->path : e->root);
}

int tx_before_barrier(struct engine *e)
{
	size_t pos = 0;
	const char *k;
	void *v;
	int r = 0;

	/* Work already queued must not wait for acknowledgements either. */
	for (struct wq_item *w = e->wq_head; w; w = w->next)
		w->overlap = true;

	/* Failed files are tried once more first, so that a store freed
	 * since makes the barrier good; one in flight is being tried. */
	while (r == 0 && strmap_next(e->failed, &pos, &k, &v))
		if (!strmap_get(e->inflight, k))
			r = tx_queue_item(e, WQ_CHANGED, k, NULL, 0, true);
	pos = 0;

	while (r == 0 && strmap_next(e->inflight, &pos, &k, &v)) {
		struct tx_file *f = v;
		if (f->requeue == WQ_NONE)
			continue;
		f->requeue = WQ_NONE;
		r = tx_queue_item(e, WQ_CHANGED, k, NULL, 0, true);
	}
	pos = 0;
	while (r == 0 && strmap_next(e->appended, &pos, &k, &v))
		r = tx_queue_item(e, WQ_CHANGED, k, NULL, 0, true);
	if (r == 0)
		strmap_clear(e->appended, NULL);
	return r;
}

/* --- what the peer says about our transfers --------------------------------------------- */

/* Reads chunk j of batch b again, straight into a DATA frame. If the file
 * no longer holds those bytes, the transfer is aborted instead. */
static int tx_send_chunk(struct engine *e, struct tx_file *f, struct tx_batch *b, uint32_t j)
{
	struct hash128 h;
	size_t mark;
	uint8_t *p;
	ssize_t n;
	int r;

	r = msg_begin(&e->out, MSG_DATA, &mark);
	if (r < 0)
		return r;
	if ((r = wbuf_put_u32(&e->out, f->id)) < 0 || (r = wbuf_put_u32(&e->out, b->first + j)) < 0 ||
	    (r = wbuf_reserve(&e->out, b->len[j], &p)) < 0) {
		msg_cancel(&e->out, mark);
		return r;
	}
	n = io_pread_all(f->fd, p, b->len[j], (off_t)b->off[j]);
	if (n == (ssize_t)b->len[j])
		hash128_buf(p, b->len[j], &h);
	if (n != (ssize_t)b->len[j] || !hash128_eq(&h, &b->h[j])) {
		msg_cancel(&e->out, mark);
		return tx_abort(e, f, n < 0 ? (int)n : -ESTALE);
	}
	return msg_finish(&e->out, mark);
}

static int tx_want(struct engine *e, struct wbuf *b)
{
	struct msg_want m;
	struct tx_file *f;
	struct tx_batch *bt;
	int r = msg_decode_want(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed WANT");
	f = *tx_slot(e, m.id);
	if (!f || !f->head || f->head->first != m.first)
		return engine_fatal(e, -EPROTO, f ? f->path : NULL, "WANT for no pending batch (id %u)",
				    m.id);
	bt = f->head;
	for (uint32_t i = 0; i < m.n; i++) {
		uint32_t idx = msg_want_at(&m, i);
		if (idx - bt->first >= bt->count)
			return engine_fatal(e, -EPROTO, f->path, "WANT index %u outside its batch", idx);
	}
	/* An aborted file's batches are only drained. */
	for (uint32_t i = 0; i < m.n && !f->aborted; i++) {
		uint32_t idx = msg_want_at(&m, i);
		r = tx_send_chunk(e, f, bt, idx - bt->first);
		if (r < 0)
			return engine_fatal(e, r, f->path, "cannot queue DATA");
	}
	if (!f->aborted) {
		e->stats.chunks_sent += m.n;
		e->stats.chunks_dedup += bt->count - m.n;
		/* Wanted chunks are on their way, the others were there. */
		f->done += bt->bytes;
		engine_flow_moved(e, FLOW_TX, bt->bytes);
	}
	f->head = bt->next;
	if (!f->head)
		f->tail = NULL;
	tx_batch_free(e, bt);
	if (f->head)
		return 0;
	if (f->aborted)
		tx_file_drop(e, f);
	else if (f->ended)
		f->fd = safe_close(f->fd);
	return 0;
}

static int tx_ack(struct engine *e, struct wbuf *b)
{
	struct peer_entry *pe;
	struct msg_ack m;
	struct tx_file *f;
	int r = msg_decode_ack(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed FILE_ACK");
	f = *tx_slot(e, m.id);
	if (!f || !f->ended || f->aborted || f->head)
		return engine_fatal(e, -EPROTO, f ? f->path : NULL, "FILE_ACK for id %u out of turn",
				    m.id);
	if (m.err) {
		e->stats.errors++;
		log_error("%s: the peer could not store it: %s", f->path, m.text);
		/* Unless a removal of it was sent since, it is retried. */
		if (strmap_get(e->inflight, f->path) &&
		    (r = tx_fail_set(e, f->path, (int)MIN(m.err, INT_MAX), f->after)) < 0)
			return engine_fatal(e, r, f->path, "out of memory");
		if (strmap_get(e->inflight, f->path) == f)
			link_forget(e, f->path);
	} else if (!strmap_get(e->inflight, f->path)) {
		/* A removal of it was sent after it: the peer holds nothing
		 * there (a later transfer of the path would be in flight). */
		e->stats.files_sent++;
		e->stats.file_bytes_sent += (uint64_t)f->st.st_size;
		engine_flow_completed(e, FLOW_TX, f->path, (uint64_t)f->st.st_size, f->begun_ms);
	} else {
		e->stats.files_sent++;
		e->stats.file_bytes_sent += (uint64_t)f->st.st_size;
		engine_flow_completed(e, FLOW_TX, f->path, (uint64_t)f->st.st_size, f->begun_ms);
		r = model_set(e, f->path, ENTRY_FILE, &f->st);
		if (r < 0)
			return engine_fatal(e, r, f->path, "out of memory");
		pe = model_get(e, f->path);
		if (strmap_get(e->inflight, f->path) == f)
			strmap_del(e->appended, f->path);
		pe->fp = true;
		pe->fp_head = f->fp_head;
		pe->fp_tail = f->fp_tail;
		tx_fail_clear(e, f->path);
		/* Committed in order: what was sent before its FILE_BEGIN
		 * has been applied. */
		link_sent_heard(e, f->ops_sent);
		/* Stored whole after a refused LINK (which is most often a
		 * LINK from a name whose transfer was aborted): linked again
		 * to the file's other names, unless the peer refused too often. */
		if (link_refused(e, f->path)) {
			uintptr_t v = (uintptr_t)strmap_get(e->nolink, f->path);

			/* A file of one name now: a name given to it later is
			 * linked to it like any (property test seed 413). */
			if (f->st.st_nlink < 2)
				strmap_del(e->nolink, f->path);
			else if (v < LINK_REFUSALS_MAX &&
				 strmap_put(e->nolink, f->path, (void *)(v | NOLINK_STORED), NULL) == 0) {
				model_mark_stale(pe);
				r = tx_queue(e, WQ_PATH, f->path, NULL, 0);
				if (r < 0)
					return engine_fatal(e, r, f->path, "out of memory");
			}
		}
	}
	if (e->cfg.hooks && e->cfg.hooks->sent)
		e->cfg.hooks->sent(e->cfg.hooks_ud, f->path, m.err ? (int)MIN(m.err, INT_MAX) : 0);
	if (f->requeue != WQ_NONE && (r = tx_queue(e, f->requeue, f->path, NULL, 0)) < 0)
		return engine_fatal(e, r, f->path, "out of memory");
	tx_file_drop(e, f);
	return 0;
}

static int tx_error(struct engine *e, struct wbuf *b)
{
	struct msg_error m;
	int r = msg_decode_error(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed ERROR");
	if (m.fatal) {
		log_error("peer: %s%s%s (%s)", m.path, m.path[0] ? ": " : "", m.text,
			  strerror((int)m.err));
		e->fail = -(int)m.err;
		return -EPROTO;
	}
	if ((m.err == ENOENT || m.err == ESTALE || m.err == EXDEV) && m.path[0] &&
	    engine_is_own_path(e, m.path)) {
		log_debug("peer asks for %s again: %s", m.path, m.text);
		/* A refused LINK (EXDEV) is not tried again for that name,
		 * if a LINK went to it since the last barrier. A failed
		 * RENAME onto it (ENOENT) says nothing about linking: a LINK
		 * sent after it may already have mended it. */
		if (m.err == EXDEV && strmap_get(e->link_sent, m.path) &&
		    !link_refused(e, m.path)) {
			/* LINKs sent before the first refusal came back are
			 * one refusal: they all ran into the same missing
			 * source. */
			uintptr_t v = (uintptr_t)strmap_get(e->nolink, m.path) & ~NOLINK_STORED;

			(void)strmap_put(e->nolink, m.path, (void *)(v + 1), NULL);
		}
		model_remove(e, m.path);
		return tx_queue(e, WQ_TREE, m.path, NULL, 0);
	}
	/* An APPEND the peer had no room for: what it holds is not what we
	 * think, and the file goes whole next time it is looked at. */
	if (m.err == ENOSPC && m.path[0] && engine_is_own_path(e, m.path)) {
		model_remove(e, m.path);
		/* Any barrier not yet acknowledged may cover that APPEND. */
		if (tx_fail_set(e, m.path, ENOSPC, e->barrier_acked) < 0)
			return engine_fatal(e, -ENOMEM, m.path, "out of memory");
	}
	e->stats.errors++;
	log_error("peer: %s%s%s", m.path, m.path[0] ? ": " : "", m.text);
	return 0;
}

/* The peer's word on its store for our trees: only kept for display and
 * for an early ENOSPC, never used to size anything. More room than before
 * retries the failed set at once. */
static int tx_store(struct engine *e, struct wbuf *b)
{
	uint64_t held, max;
	int r = msg_decode_store(b, &held, &max);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed STORE");
	if (e->peer_store_known && (held < e->peer_held || max > e->peer_max) &&
	    strmap_count(e->failed)) {
		e->retry_ms = RETRY_MIN_MS;
		e->retry_at = engine_now_ms();
	}
	e->peer_store_known = true;
	e->peer_held = held;
	e->peer_max = max;
	return 0;
}

/* BARRIER_ACK(seq), seq <= barrier_next. A seq already seen is the answer
 * to a barrier sent again (tx_queue_resend); the first time, it counts
 * unless barriers sent again are still unanswered and it is at or after
 * the first they hold. Each barrier that comes to count has its result. */
static int tx_barrier_ack(struct engine *e, uint64_t seq)
{
	uint64_t from = e->barrier_acked, to;
	bool held = e->barrier_hold != 0;
	int r;

	log_debug("barrier %llu acknowledged", (unsigned long long)seq);
	if (seq > e->barrier_seen) {
		e->barrier_seen = seq;
	} else {
		if (!e->barrier_redo)
			return -EPROTO;
		e->barrier_redo--;
	}
	to = e->barrier_seen;
	if (e->barrier_redo) {
		if (to >= e->barrier_hold)
			to = e->barrier_hold - 1;
	} else {
		e->barrier_hold = 0;
	}
	if (to <= from)
		return 0;
	e->barrier_acked = to;
	/* The latest barrier sent covers every operation before it. */
	if (to >= e->barrier_sent)
		link_sent_heard(e, e->barrier_ops);
	/* Barriers released together by the end of a hold each get their
	 * result (as many as are kept); otherwise the one acknowledged. */
	from = held && !e->barrier_hold && to - from <= BARRIER_FAILS_KEPT ? from + 1 : to;
	for (uint64_t s = from; s <= to; s++) {
		r = tx_barrier_result_note(e, s);
		if (r < 0)
			return r;
	}
	return 0;
}

int tx_handle(struct engine *e, const struct frame *f)
{
	struct wbuf b = f->body;
	uint64_t seq;
	int r;

	switch (f->type) {
	case MSG_WANT: return tx_want(e, &b);
	case MSG_FILE_ACK: return tx_ack(e, &b);
	case MSG_ERROR: return tx_error(e, &b);
	case MSG_BARRIER_ACK:
		r = msg_decode_u64(&b, &seq);
		if (r < 0)
			return engine_fatal(e, r, NULL, "malformed BARRIER_ACK");
		if (seq > e->barrier_next)
			return engine_fatal(e, -EPROTO, NULL, "BARRIER_ACK %llu out of order",
					    (unsigned long long)seq);
		r = tx_barrier_ack(e, seq);
		return r < 0 ? engine_fatal(e, r, NULL, r == -EPROTO ? "BARRIER_ACK out of order" :
								    "out of memory") : 0;
	case MSG_STORE:
		return tx_store(e, &b);
	}
	return engine_fatal(e, -EPROTO, NULL, "unexpected %s", msg_type_name(f->type));
}
