/* Recursive inotify watching for the sync engine (DESIGN §6).
 *
 * libinotifytools 3.22 owns the inotify instance and reads it:
 * inotifytools_next_events(0, 1) select()s with a zero timeout, so it never
 * blocks (inotifytools_next_event(0) would: there 0 means forever). It keeps
 * what it read in a static buffer, so a dispatch drains it completely. Its
 * descriptor is a static with no getter (upstream issues #69, #206);
 * inotify_init() returns the lowest free descriptor, so we note that one just
 * before inotifytools_init() and check through /proc that it is the instance.
 *
 * Its path bookkeeping is not used. inotifytools_replace_filename() edits its
 * tree while walking it and misses entries (upstream #130; seen with 3.22.6:
 * after renaming a1 of a1/a2/.../a9, events in a9 still say a1), and
 * inotifytools_wd_from_filename() answers with the stale wd of a directory
 * removed and recreated (upstream #1). So watches are added with
 * inotify_add_watch() on its descriptor and this file keeps its own
 * wd -> path table, sorted by wd.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>

/* Declares an unrelated `struct watch` of its own; we never pass ours to it. */
#include <inotifytools/inotifytools.h>

#include "util.h"
#include "watch.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |          \
	 IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW |               \
	 IN_EXCL_UNLINK)

struct dir_watch {
	int wd;
	bool top; /* one of the subs given to watch_open */
	char *path;
};

/* An IN_MOVED_FROM waiting for its IN_MOVED_TO, or an IN_MODIFY or the
 * IN_CREATE of a file of one name waiting to see whether a write or the
 * IN_CLOSE_WRITE of the same file follows. */
struct held {
	bool set;
	uint32_t mask;
	uint32_t cookie;
	int wd;
	char name[NAME_MAX + 1];
	char rel[PATH_MAX];
};

struct watch {
	char *root;
	char **subs;
	int fd; /* libinotifytools' descriptor; it closes it */
	struct dir_watch *dirs;
	size_t ndirs, cap;
	struct held held;
	/* Directories the watch limit left unwatched, since watch_take_unwatched(). */
	size_t unwatched;
	char *first_unwatched;
};

static bool watch_in_use;

static bool at_or_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void emit(watch_cb cb, void *ud, enum watch_kind kind, bool is_dir, const char *path,
                 const char *to)
{
	struct watch_event ev = {.kind = kind, .is_dir = is_dir, .path = path, .to = to};

	if (cb)
		cb(&ev, ud);
}

static bool stat_regular(const struct watch *w, const char *rel, struct stat *st)
{
	char abs[PATH_MAX];

	return join(abs, sizeof(abs), w->root, rel) == 0 && lstat(abs, st) == 0 &&
	       S_ISREG(st->st_mode);
}

static bool exists(const struct watch *w, const char *rel)
{
	char abs[PATH_MAX];
	struct stat st;

	return join(abs, sizeof(abs), w->root, rel) == 0 && lstat(abs, &st) == 0;
}

static bool is_regular(const struct watch *w, const char *rel)
{
	struct stat st;

	return stat_regular(w, rel, &st);
}

/* --- the wd -> path table ----------------------------------------------------- */

static struct dir_watch *dir_find(const struct watch *w, int wd)
{
	size_t lo = 0, hi = w->ndirs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->dirs[mid].wd == wd)
			return &w->dirs[mid];
		if (w->dirs[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int dir_set(struct watch *w, int wd, const char *path, bool top)
{
	struct dir_watch *d = dir_find(w, wd);
	char *copy = strdup(path);
	size_t i;

	if (!copy)
		return -ENOMEM;
	if (d) {
		/* The same inode reached again, e.g. by the rescan after an overflow. */
		free(d->path);
		d->path = copy;
		d->top = top;
		return 0;
	}
	if (w->ndirs == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct dir_watch *dirs = reallocarray(w->dirs, cap, sizeof(*dirs));

		if (!dirs) {
			free(copy);
			return -ENOMEM;
		}
		w->dirs = dirs;
		w->cap = cap;
	}
	for (i = w->ndirs; i > 0 && w->dirs[i - 1].wd > wd; i--)
		w->dirs[i] = w->dirs[i - 1];
	w->dirs[i] = (struct dir_watch){.wd = wd, .top = top, .path = copy};
	w->ndirs++;
	return 0;
}

static void dir_drop(struct watch *w, struct dir_watch *d)
{
	size_t i = d - w->dirs;

	free(d->path);
	memmove(&w->dirs[i], &w->dirs[i + 1], (w->ndirs - i - 1) * sizeof(*d));
	w->ndirs--;
}

/* Forgets the watches at and under dir; rm also removes them from the kernel
 * (a directory moved out of the tree is still watched there). */
static void dirs_forget(struct watch *w, const char *dir, bool rm)
{
	size_t j = 0;

	for (size_t i = 0; i < w->ndirs; i++) {
		if (at_or_under(w->dirs[i].path, dir)) {
			if (rm)
				inotify_rm_watch(w->fd, w->dirs[i].wd);
			free(w->dirs[i].path);
		} else {
			w->dirs[j++] = w->dirs[i];
		}
	}
	w->ndirs = j;
}

/* How many watches were at or under from (they are under to now), or
 * -errno. */
static int dirs_rename(struct watch *w, const char *from, const char *to)
{
	size_t n = strlen(from);
	int found = 0;

	for (size_t i = 0; i < w->ndirs; i++) {
		char *p;

		if (!at_or_under(w->dirs[i].path, from))
			continue;
		found++;
		if (asprintf(&p, "%s%s", to, w->dirs[i].path + n) < 0)
			return -ENOMEM;
		free(w->dirs[i].path);
		w->dirs[i].path = p;
	}
	return found;
}

/* --- adding directories --------------------------------------------------------- */

/* 0 when watched, 1 when rel is gone or no longer a directory, 2 when the
 * watch limit (fs.inotify.max_user_watches) leaves it unwatched: it is still
 * listed, so what it holds now is reported, and only later changes in it
 * are missed. Failing instead would end the engine, and every restart would
 * fail the same way. */
static int watch_dir(struct watch *w, const char *rel, bool top)
{
	char abs[PATH_MAX];
	int wd, r;

	r = join(abs, sizeof(abs), w->root, rel);
	if (r < 0)
		return r;
	wd = inotify_add_watch(w->fd, abs, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		if (errno != ENOSPC)
			return neg_errno();
		if (!w->first_unwatched && !(w->first_unwatched = strdup(rel)))
			return -ENOMEM;
		w->unwatched++;
		return 2;
	}
	return dir_set(w, wd, rel, top);
}

static int push(char ***stack, size_t *n, size_t *cap, const char *rel)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		char **s = reallocarray(*stack, c, sizeof(**stack));

		if (!s)
			return -ENOMEM;
		*stack = s;
		*cap = c;
	}
	(*stack)[*n] = strdup(rel);
	if (!(*stack)[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Lists one watched directory: watches and pushes its subdirectories,
 * reporting them and its files when cb is set. */
static int list_dir(struct watch *w, const char *rel, char ***stack, size_t *n, size_t *cap,
                    watch_cb cb, void *ud)
{
	char abs[PATH_MAX], child[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int r = join(abs, sizeof(abs), w->root, rel);

	if (r < 0)
		return r;
	r = 0;
	dir = opendir(abs);
	if (!dir)
		return errno == ENOENT || errno == ENOTDIR ? 0 : neg_errno();
	while ((errno = 0, de = readdir(dir))) {
		unsigned char type = de->d_type;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISDIR(st.st_mode)   ? DT_DIR
			       : S_ISREG(st.st_mode) ? DT_REG
			       : S_ISLNK(st.st_mode) ? DT_LNK
			                             : DT_UNKNOWN;
		}
		/* Fifos, sockets and devices are never synced. */
		if (type != DT_DIR && type != DT_REG && type != DT_LNK)
			continue;
		if (join(child, sizeof(child), rel, de->d_name) < 0)
			continue;
		if (type == DT_REG) {
			emit(cb, ud, WATCH_FILE_CHANGED, false, child, NULL);
			continue;
		}
		if (type == DT_LNK) {
			emit(cb, ud, WATCH_SPECIAL, false, child, NULL);
			continue;
		}
		r = watch_dir(w, child, false);
		if (r == 1) {
			r = 0;
			continue;
		}
		if (r == 0 || r == 2)
			r = push(stack, n, cap, child);
		if (r < 0)
			break;
		emit(cb, ud, WATCH_DIR_ADDED, true, child, NULL);
	}
	if (r == 0 && errno)
		r = neg_errno();
	closedir(dir);
	return r;
}

/* Watches rel and everything under it. Each directory is watched before it
 * is listed, so whatever appears in it later raises an event and whatever
 * was there before is found by the listing. With cb set, rel and its
 * contents are reported. */
static int add_tree(struct watch *w, const char *rel, bool top, watch_cb cb, void *ud)
{
	char **stack = NULL;
	size_t n = 0, cap = 0;
	int r = watch_dir(w, rel, top);

	if (r != 0 && r != 2)
		return r;
	emit(cb, ud, WATCH_DIR_ADDED, true, rel, NULL);
	r = push(&stack, &n, &cap, rel);
	while (r == 0 && n > 0) {
		char *dir = stack[--n];

		r = list_dir(w, dir, &stack, &n, &cap, cb, ud);
		free(dir);
	}
	while (n > 0)
		free(stack[--n]);
	free(stack);
	return r;
}

/* Rebuilds the table from the disk after an overflow: directories created
 * meanwhile get their watch, those gone or moved away lose theirs. */
static int rescan(struct watch *w)
{
	struct dir_watch *old = w->dirs;
	size_t nold = w->ndirs;
	int r = 0;

	w->dirs = NULL;
	w->ndirs = w->cap = 0;
	for (char **s = w->subs; *s; s++) {
		int k = add_tree(w, *s, true, NULL, NULL);

		if (k < 0 && r == 0)
			r = k;
	}
	for (size_t i = 0; i < nold; i++) {
		if (!dir_find(w, old[i].wd))
			inotify_rm_watch(w->fd, old[i].wd);
		free(old[i].path);
	}
	free(old);
	return r;
}

/* --- events ------------------------------------------------------------------- */

static int moved_in(struct watch *w, const char *rel, bool is_dir, watch_cb cb, void *ud)
{
	if (is_dir) {
		int r = add_tree(w, rel, false, cb, ud);

		return r < 0 ? r : 0;
	}
	if (is_regular(w, rel))
		emit(cb, ud, WATCH_FILE_CHANGED, false, rel, NULL);
	else if (exists(w, rel))
		emit(cb, ud, WATCH_SPECIAL, false, rel, NULL);
	return 0;
}

static void moved_out(struct watch *w, const char *rel, bool is_dir, watch_cb cb, void *ud)
{
	if (is_dir)
		dirs_forget(w, rel, true);
	emit(cb, ud, WATCH_REMOVED, is_dir, rel, NULL);
}

static void hold(struct watch *w, const struct inotify_event *ev, const char *rel)
{
	struct held *h = &w->held;

	h->set = true;
	h->mask = ev->mask;
	h->cookie = ev->cookie;
	h->wd = ev->wd;
	snprintf(h->name, sizeof(h->name), "%s", ev->name);
	snprintf(h->rel, sizeof(h->rel), "%s", rel);
}

/* The held event turned out to stand alone. */
static void flush_held(struct watch *w, watch_cb cb, void *ud)
{
	struct held *h = &w->held;

	if (!h->set)
		return;
	h->set = false;
	if (h->mask & IN_MOVED_FROM)
		moved_out(w, h->rel, h->mask & IN_ISDIR, cb, ud);
	else if (is_regular(w, h->rel))
		emit(cb, ud, (h->mask & IN_CREATE) ? WATCH_FILE_CHANGED : WATCH_FILE_GROWING, false,
		     h->rel, NULL);
}

static int rename_pair(struct watch *w, const char *to, bool is_dir, watch_cb cb, void *ud)
{
	const char *from = w->held.rel;
	int r = 0;

	w->held.set = false;
	if (!is_dir && !is_regular(w, to)) {
		/* A symlink or special file: gone from its old name, and
		 * whatever stood under the new one is replaced. */
		emit(cb, ud, WATCH_REMOVED, false, from, NULL);
		emit(cb, ud, WATCH_SPECIAL, false, to, NULL);
		return 0;
	}
	if (is_dir)
		r = dirs_rename(w, from, to);
	emit(cb, ud, WATCH_MOVED, is_dir, from, to);
	/* A directory made and renamed before its IN_CREATE was read: the
	 * watch could not be added under the old name, so it is added (and
	 * what it holds reported) under the new one. */
	if (is_dir && r == 0)
		r = add_tree(w, to, false, cb, ud);
	return r < 0 ? r : 0;
}

/* An event on a watched directory itself: only a top-level directory's own
 * removal matters, the others are reported through their parent. */
static void self_event(struct watch *w, struct dir_watch *d, uint32_t mask, watch_cb cb, void *ud)
{
	char path[PATH_MAX];

	if (mask & IN_IGNORED) {
		dir_drop(w, d);
		return;
	}
	if (!d->top || !(mask & (IN_DELETE_SELF | IN_MOVE_SELF)))
		return;
	snprintf(path, sizeof(path), "%s", d->path);
	dirs_forget(w, path, true);
	emit(cb, ud, WATCH_REMOVED, true, path, NULL);
}

static int handle(struct watch *w, const struct inotify_event *ev, watch_cb cb, void *ud)
{
	struct held *h = &w->held;
	bool named = ev->len > 0 && ev->name[0] != '\0';
	bool is_dir = ev->mask & IN_ISDIR;
	struct dir_watch *d;
	char rel[PATH_MAX];
	int r;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* Whatever was held is covered by the caller's rescan. */
		h->set = false;
		r = rescan(w);
		emit(cb, ud, WATCH_RESCAN, false, "", NULL);
		return r;
	}
	d = dir_find(w, ev->wd);
	if (!d)
		return 0; /* a watch already forgotten */
	if (named) {
		r = join(rel, sizeof(rel), d->path, ev->name);
		if (r < 0) {
			flush_held(w, cb, ud);
			return r;
		}
	}

	if (h->set) {
		if (named && (ev->mask & IN_MOVED_TO) && (h->mask & IN_MOVED_FROM) &&
		    h->cookie == ev->cookie)
			return rename_pair(w, rel, is_dir, cb, ud);
		if (named && (h->mask & (IN_MODIFY | IN_CREATE)) &&
		    (ev->mask & (IN_MODIFY | IN_CLOSE_WRITE)) &&
		    h->wd == ev->wd && !strcmp(h->name, ev->name)) {
			h->set = false; /* closed already, or written again */
		} else {
			flush_held(w, cb, ud);
			/* Gone if it was under a directory that moved out. */
			d = dir_find(w, ev->wd);
			if (!d)
				return 0;
		}
	}

	if (!named) {
		self_event(w, d, ev->mask, cb, ud);
		return 0;
	}
	if (ev->mask & (IN_MOVED_FROM | IN_MODIFY)) {
		hold(w, ev, rel);
		return 0;
	}
	if (ev->mask & IN_MOVED_TO)
		return moved_in(w, rel, is_dir, cb, ud);
	if (ev->mask & IN_DELETE) {
		if (is_dir)
			dirs_forget(w, rel, true);
		emit(cb, ud, WATCH_REMOVED, is_dir, rel, NULL);
	} else if (ev->mask & IN_CREATE) {
		struct stat st;

		if (is_dir)
			return moved_in(w, rel, true, cb, ud);
		/* A file being written is reported when it is closed; a new hard
		 * link gets no close, so it is reported now. One name now may
		 * still be a link whose other name went before this event was
		 * read: held, it is reported unless a write or close of it
		 * follows (property test seed 995). (A file linked in from
		 * O_TMPFILE is indistinguishable from one being written and is
		 * reported at its next change.) */
		if (stat_regular(w, rel, &st)) {
			if (st.st_nlink > 1)
				emit(cb, ud, WATCH_FILE_CHANGED, false, rel, NULL);
			else
				hold(w, ev, rel);
		} else if (exists(w, rel)) {
			emit(cb, ud, WATCH_SPECIAL, false, rel, NULL);
		}
	} else if ((ev->mask & (IN_CLOSE_WRITE | IN_ATTRIB)) && !is_dir) {
		if (is_regular(w, rel))
			emit(cb, ud, WATCH_FILE_CHANGED, false, rel, NULL);
	} else if ((ev->mask & IN_ATTRIB) && is_dir) {
		emit(cb, ud, WATCH_DIR_CHANGED, true, rel, NULL);
	}
	return 0;
}

int watch_dispatch(struct watch *w, watch_cb cb, void *ud)
{
	int first_err = 0;

	/* Drain completely even after an error: events libinotifytools has read
	 * into its buffer no longer make the descriptor readable. */
	for (;;) {
		struct inotify_event *ev = inotifytools_next_events(0, 1);
		int r;

		if (!ev) {
			r = inotifytools_error();
			if (r == EINTR)
				continue;
			if (r && !first_err)
				first_err = -r;
			break;
		}
		r = handle(w, ev, cb, ud);
		if (r < 0 && !first_err)
			first_err = r;
	}
	/* An IN_MOVED_FROM still held when nothing more is pending counts as
	 * moved out. If the reader ran between the two halves of a rename, the
	 * result is REMOVED then CHANGED/DIR_ADDED instead of MOVED: still
	 * right, only less efficient. */
	flush_held(w, cb, ud);
	return first_err;
}

/* --- open and close ---------------------------------------------------------------- */

static bool valid_sub(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

/* Starts libinotifytools and finds its descriptor (see the top of the file). */
static int start_inotifytools(void)
{
	char link[64], target[64];
	ssize_t n;
	int fd, flags;

	fd = open("/", O_PATH | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	close(fd);
	if (!inotifytools_init(0, 0, 0))
		return inotifytools_error() ? -inotifytools_error() : -EIO;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0 || (target[n] = '\0', strcmp(target, "anon_inode:inotify")))
		goto fail;
	/* libinotifytools select()s on it. */
	if (fd >= FD_SETSIZE)
		goto fail;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	return fd;
fail:
	inotifytools_cleanup();
	return -EIO;
}

int watch_open(const char *root, const char *const *subs, struct watch **out)
{
	struct watch *w;
	size_t nsubs = 0;
	int r;

	*out = NULL;
	if (watch_in_use)
		return -EBUSY;
	for (; subs[nsubs]; nsubs++)
		if (!valid_sub(subs[nsubs]))
			return -EINVAL;
	if (nsubs == 0)
		return -EINVAL;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->root = realpath(root, NULL);
	if (!w->root) {
		r = neg_errno();
		goto fail;
	}
	w->subs = calloc(nsubs + 1, sizeof(*w->subs));
	if (!w->subs) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < nsubs; i++) {
		w->subs[i] = strdup(subs[i]);
		if (!w->subs[i]) {
			r = -ENOMEM;
			goto fail;
		}
	}

	r = start_inotifytools();
	if (r < 0)
		goto fail;
	w->fd = r;
	watch_in_use = true;
	for (size_t i = 0; i < nsubs; i++) {
		r = add_tree(w, w->subs[i], true, NULL, NULL);
		if (r == 1)
			r = -ENOENT;
		if (r < 0)
			goto fail;
	}
	*out = w;
	return 0;
fail:
	watch_close(w);
	return r;
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

size_t watch_take_unwatched(struct watch *w, char *first, size_t size)
{
	size_t n = w->unwatched;

	if (n && size)
		snprintf(first, size, "%s", w->first_unwatched);
	free(w->first_unwatched);
	w->first_unwatched = NULL;
	w->unwatched = 0;
	return n;
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		inotifytools_cleanup();
		watch_in_use = false;
	}
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].path);
	free(w->dirs);
	for (char **s = w->subs; s && *s; s++)
		free(*s);
	free(w->subs);
	free(w->first_unwatched);
	free(w->root);
	free(w);
}
