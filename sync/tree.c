#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "pathsafe.h"
#include "tree.h"
#include "util.h"

/* A directory on the current path, with the names it held when it was read. */
struct frame {
	struct names names;
	size_t plen; /* its path is path[0, plen) */
	unsigned depth;
	int fd;      /* -1 while the walk is below it */
	dev_t dev;
	ino_t ino;
	bool long_reported;
};

struct walk {
	int rootfd;
	tree_cb cb;
	tree_skip_cb skip;
	void *ud;
	struct frame *fr;
	size_t n, cap;
	size_t prefix; /* the tree's name and '/': what path holds above the tree */
	char path[PATH_REL_MAX + 1];
};

static int add_name(void *ud, const char *name, unsigned char type)
{
	struct frame *f = ud;

	(void)type;
	return names_add(&f->names, name);
}

static int any_name(void *ud, const char *name, unsigned char type)
{
	(void)type;
	(void)name;
	*(bool *)ud = true;
	return -ECANCELED; /* one is enough */
}

static void pop(struct walk *w)
{
	struct frame *f = &w->fr[--w->n];

	safe_close(f->fd);
	names_release(&f->names);
}

/* Lists the directory open at fd (the frame owns fd from here on). */
static int push(struct walk *w, int fd, size_t plen, unsigned depth)
{
	struct frame *f;
	struct stat st;
	int r;

	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct frame *p = reallocarray(w->fr, cap, sizeof(*p));

		if (!p) {
			close(fd);
			return -ENOMEM;
		}
		w->fr = p;
		w->cap = cap;
	}
	f = &w->fr[w->n++];
	*f = (struct frame){ .plen = plen, .depth = depth, .fd = fd };
	if (fstat(fd, &st) < 0)
		return neg_errno();
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	r = io_dir_entries(fd, add_name, f);
	return r < 0 ? r : 0;
}

/* A directory whose entries would lie deeper than TREE_MAX_DEPTH: only
 * whether it holds anything matters. */
static int too_deep(struct walk *w, int fd, size_t plen)
{
	bool any = false;
	int r = io_dir_entries(fd, any_name, &any);

	if (r < 0 && r != -ECANCELED)
		return r;
	if (!any || !w->skip)
		return 0;
	w->path[plen] = '\0';
	return w->skip(w->ud, w->path, TREE_SKIP_DEEP);
}

/* Opens f's directory again after the walk came back up from below it.
 * 1 when open, 0 when it has gone or was replaced (the rest of it is
 * dropped: whoever changed it is reported by the watcher). */
static int reopen(struct walk *w, struct frame *f)
{
	struct stat st;
	int fd;

	w->path[f->plen] = '\0';
	fd = path_openat(w->rootfd, w->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0) {
		if (fd != -ENOENT && fd != -ENOTDIR && fd != -ELOOP)
			return fd;
		f->names.pos = f->names.len;
		return 0;
	}
	if (fstat(fd, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino) {
		close(fd);
		f->names.pos = f->names.len;
		return 0;
	}
	f->fd = fd;
	return 1;
}

/* Takes the next entry of the deepest directory. */
static int step(struct walk *w)
{
	struct frame *f = &w->fr[w->n - 1];
	size_t plen = f->plen, nlen;
	unsigned depth = f->depth;
	const char *name;
	struct stat st;
	int r, sub;

	if (f->names.pos == f->names.len) {
		pop(w);
		return 0;
	}
	if (f->fd < 0 && (r = reopen(w, f)) <= 0)
		return r;
	name = names_next(&f->names);
	nlen = strlen(name);
	/* Up to PATH_MAX - 1 bytes below the tree, as a user can make. */
	if (plen + 1 + nlen - w->prefix >= PATH_MAX || plen + 1 + nlen > PATH_REL_MAX) {
		if (f->long_reported || !w->skip)
			return 0;
		f->long_reported = true;
		w->path[plen] = '\0';
		return w->skip(w->ud, w->path, TREE_SKIP_LONG);
	}
	w->path[plen] = '/';
	memcpy(w->path + plen + 1, name, nlen + 1);
	if (fstatat(f->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : neg_errno(); /* ENOENT: raced with a delete */
	r = w->cb(w->ud, w->path, &st);
	if (r < 0 || !S_ISDIR(st.st_mode))
		return r;
	sub = openat(f->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0) /* deleted or replaced since the fstatat */
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : neg_errno();
	if (depth + 1 >= TREE_MAX_DEPTH) {
		r = too_deep(w, sub, plen + 1 + nlen);
		close(sub);
		return r;
	}
	f->fd = safe_close(f->fd);
	return push(w, sub, plen + 1 + nlen, depth + 1);
}

int tree_walk_skips(int rootfd, const char *rel, tree_cb cb, tree_skip_cb skip, void *ud)
{
	struct walk *w;
	size_t rlen = strlen(rel);
	unsigned depth = tree_depth(rel);
	int fd, r;

	if (rlen > PATH_REL_MAX)
		return -ENAMETOOLONG;
	fd = path_openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	*w = (struct walk){ .rootfd = rootfd, .cb = cb, .skip = skip, .ud = ud,
			    .prefix = strcspn(rel, "/") + 1 };
	memcpy(w->path, rel, rlen + 1);
	if (depth >= TREE_MAX_DEPTH) {
		r = too_deep(w, fd, rlen);
		close(fd);
	} else {
		r = push(w, fd, rlen, depth);
		while (r >= 0 && w->n > 0)
			r = step(w);
	}
	while (w->n > 0)
		pop(w);
	free(w->fr);
	free(w);
	return r < 0 ? r : 0;
}

int tree_walk(int rootfd, const char *rel, tree_cb cb, void *ud)
{
	return tree_walk_skips(rootfd, rel, cb, NULL, ud);
}
