#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "pathsafe.h"
#include "util.h"

static atomic_bool force_fallback;
static atomic_bool no_openat2;

void path_force_fallback(bool on)
{
	atomic_store(&force_fallback, on);
}

int path_check(const char *rel)
{
	const char *p, *end;
	size_t len;

	if (!rel)
		return -EINVAL;
	len = strnlen(rel, PATH_REL_MAX + 1);
	if (len == 0)
		return -EINVAL;
	if (len > PATH_REL_MAX)
		return -ENAMETOOLONG;
	end = strchrnul(rel, '/');
	if (*end && len - (size_t)(end + 1 - rel) >= PATH_MAX)
		return -ENAMETOOLONG;
	for (p = rel;; p = end + 1) {
		end = strchrnul(p, '/');
		len = (size_t)(end - p);
		if (len == 0 || (p[0] == '.' && (len == 1 || (len == 2 && p[1] == '.'))))
			return -EINVAL;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		if (*end == '\0')
			return 0;
	}
}

static int open_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned int)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	/* openat2 refuses a mode that open would ignore. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode;
	fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	return fd < 0 ? neg_errno() : (int)fd;
}

static bool is_symlink(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

static int open_nofollow(int dfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	int r;

	if (fd >= 0)
		return fd;
	r = neg_errno();
	/* O_PATH | O_NOFOLLOW opens a symlink itself, which O_DIRECTORY then
	 * refuses with ENOTDIR. */
	if (r == -ENOTDIR && is_symlink(dfd, name))
		return -ELOOP;
	return r;
}

static int open_dir(int dfd, const char *name, int acc, bool create)
{
	int fd = open_nofollow(dfd, name, acc | O_DIRECTORY, 0);

	if (fd == -ENOENT && create) {
		if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
			return neg_errno();
		fd = open_nofollow(dfd, name, acc | O_DIRECTORY, 0);
	}
	return fd;
}

/* Opens the directory named by the first n bytes of the canonical path rel
 * (n > 0, ending at a component boundary) one component at a time. The
 * directories on the way are O_PATH (search permission is enough, as for
 * openat2); the last is opened with acc. */
static int walk_dirs(int rootfd, const char *rel, size_t n, bool create, int acc)
{
	char name[NAME_MAX + 1];
	size_t off = 0;
	int dfd = rootfd;

	while (off < n) {
		const char *p = rel + off;
		size_t len = (size_t)(strchrnul(p, '/') - p);
		int fd;

		memcpy(name, p, len);
		name[len] = '\0';
		fd = open_dir(dfd, name, off + len >= n ? acc : O_PATH, create);
		if (dfd != rootfd)
			safe_close(dfd);
		if (fd < 0)
			return fd;
		dfd = fd;
		off += len + 1;
	}
	return dfd;
}

static int open_walk(int rootfd, const char *rel, int flags, mode_t mode)
{
	const char *slash = strrchr(rel, '/');
	int dfd, fd;

	if (!slash)
		return open_nofollow(rootfd, rel, flags, mode);
	dfd = walk_dirs(rootfd, rel, (size_t)(slash - rel), false, O_PATH);
	if (dfd < 0)
		return dfd;
	fd = open_nofollow(dfd, slash + 1, flags, mode);
	safe_close(dfd);
	return fd;
}

int path_openat(int rootfd, const char *rel, int flags, mode_t mode)
{
	struct stat st;
	int fd, r;

	r = path_check(rel);
	if (r < 0)
		return r;
	fd = -ENOSYS;
	/* A path too long for one openat is walked, whatever the kernel has. */
	if (!atomic_load(&force_fallback) && !atomic_load(&no_openat2) && strlen(rel) < PATH_MAX) {
		fd = open_beneath(rootfd, rel, flags, mode);
		if (fd == -ENOSYS)
			atomic_store(&no_openat2, true);
	}
	if (fd == -ENOSYS)
		fd = open_walk(rootfd, rel, flags, mode);
	/* O_PATH | O_NOFOLLOW hands out the link itself; we never do. */
	if (fd >= 0 && (flags & O_PATH)) {
		if (fstat(fd, &st) < 0) {
			r = neg_errno();
			safe_close(fd);
			return r;
		}
		if (S_ISLNK(st.st_mode)) {
			safe_close(fd);
			return -ELOOP;
		}
	}
	return fd;
}

int path_open_parent(int rootfd, const char *rel, bool create_parents, const char **base)
{
	char dir[PATH_MAX];
	const char *slash;
	size_t n;
	int fd, r;

	r = path_check(rel);
	if (r < 0)
		return r;
	slash = strrchr(rel, '/');
	if (!slash) {
		fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return neg_errno();
		*base = rel;
		return fd;
	}
	n = (size_t)(slash - rel);
	if (n < sizeof(dir)) {
		memcpy(dir, rel, n);
		dir[n] = '\0';
		fd = path_openat(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
	} else {
		/* Too long for one openat: one component at a time. */
		fd = walk_dirs(rootfd, rel, n, false, O_RDONLY);
	}
	if (fd == -ENOENT && create_parents)
		fd = walk_dirs(rootfd, rel, n, true, O_RDONLY);
	if (fd >= 0)
		*base = slash + 1;
	return fd;
}

/* Removing a tree holds two descriptors however deep it is: the directory
 * being emptied and, for a moment, the next one. Each directory's files go
 * as it is listed and the names of its subdirectories are kept; the walk
 * goes down into each and comes back up through "..", which must lead to
 * the very directory it came from (a tree moved away meanwhile is left
 * alone rather than followed). Nothing is ever opened through a symlink,
 * and nothing on another device is entered (like rm --one-file-system). */

struct rm_frame {
	const char *name; /* in its parent: the caller's, or the parent's names */
	struct names subdirs; /* still to empty */
	dev_t dev;
	ino_t ino;
};

struct rm {
	dev_t dev;         /* the device the tree must stay on */
	uint64_t *bytes;   /* when set, sizes of the removed files are added */
	int err;           /* the first error */
	int fd;            /* the directory being listed */
	struct rm_frame *f;
};

static void rm_error(struct rm *rm, int err)
{
	if (err < 0 && err != -ENOENT && !rm->err)
		rm->err = err;
}

/* One entry of the directory being listed: a file goes now, a directory's
 * name is kept for later. */
static int rm_entry(void *ud, const char *name, unsigned char type)
{
	struct rm *rm = ud;
	struct stat st;

	if (type == DT_UNKNOWN || (type == DT_REG && rm->bytes)) {
		if (fstatat(rm->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rm_error(rm, neg_errno());
			return 0;
		}
		type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
	}
	if (type == DT_DIR)
		return names_add(&rm->f->subdirs, name);
	if (unlinkat(rm->fd, name, 0) < 0) {
		if (errno == EISDIR) /* became a directory since it was listed */
			return names_add(&rm->f->subdirs, name);
		rm_error(rm, neg_errno());
	} else if (rm->bytes && type == DT_REG && st.st_nlink < 2) {
		*rm->bytes += ST_HELD_BYTES(&st);
	}
	return 0;
}

/* Opens directory `name` of dfd for listing, if it is one on our device. */
static int rm_open(struct rm *rm, int dfd, const char *name, struct stat *st)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return neg_errno(); /* ELOOP or ENOTDIR: replaced since it was listed */
	if (fstat(fd, st) < 0) {
		int r = neg_errno();
		close(fd);
		return r;
	}
	if (st->st_dev != rm->dev) {
		close(fd);
		return -EXDEV;
	}
	return fd;
}

struct rm_stack {
	struct rm_frame *f;
	size_t n, cap;
};

/* Pushes the directory open at fd (now rm->fd) and lists it. */
static int rm_enter(struct rm *rm, struct rm_stack *s, int fd, const char *name,
		    const struct stat *st)
{
	int r;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct rm_frame *p = reallocarray(s->f, cap, sizeof(*p));

		if (!p) {
			close(fd);
			return -ENOMEM;
		}
		s->f = p;
		s->cap = cap;
	}
	rm->f = &s->f[s->n++];
	*rm->f = (struct rm_frame){ .name = name, .dev = st->st_dev, .ino = st->st_ino };
	rm->fd = fd;
	r = io_dir_entries(fd, rm_entry, rm);
	if (r == -ENOMEM)
		return r;
	rm_error(rm, r);
	return 0;
}

static int rm_tree(struct rm *rm, int dfd, const char *name)
{
	struct rm_stack s = { 0 };
	struct stat st;
	int fd, r;

	fd = rm_open(rm, dfd, name, &st);
	if (fd < 0)
		return fd;
	r = rm_enter(rm, &s, fd, name, &st);
	while (r == 0 && s.n > 0) {
		struct rm_frame *f = &s.f[s.n - 1];
		int up;

		if ((name = names_next(&f->subdirs))) {
			/* Down into the next subdirectory. */
			fd = rm_open(rm, rm->fd, name, &st);
			if (fd < 0) {
				rm_error(rm, fd);
				continue;
			}
			close(rm->fd);
			rm->fd = -1;
			r = rm_enter(rm, &s, fd, name, &st);
			continue;
		}
		/* f is as empty as it gets: back up, and remove it. */
		if (s.n == 1) {
			up = dfd;
		} else {
			const struct rm_frame *parent = &s.f[s.n - 2];

			up = openat(rm->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (up >= 0 && (fstat(up, &st) < 0 || st.st_dev != parent->dev ||
					st.st_ino != parent->ino))
				up = safe_close(up);
		}
		close(rm->fd);
		rm->fd = s.n == 1 ? -1 : up;
		if (up < 0) {
			r = -ESTALE; /* moved away while we were inside */
			break;
		}
		if (unlinkat(up, f->name, AT_REMOVEDIR) < 0)
			rm_error(rm, neg_errno());
		names_release(&f->subdirs);
		s.n--;
	}
	safe_close(rm->fd);
	while (s.n > 0)
		names_release(&s.f[--s.n].subdirs);
	free(s.f);
	return r < 0 ? r : rm->err;
}

int path_remove_tree_sized(int dfd, const char *name, uint64_t *bytes)
{
	struct stat st;
	struct rm rm = { .bytes = bytes, .fd = -1 };
	int r;

	r = path_check(name);
	if (r < 0)
		return r;
	if (strchr(name, '/'))
		return -EINVAL;
	if (fstat(dfd, &st) < 0)
		return neg_errno();
	rm.dev = st.st_dev;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, name, 0) < 0)
			return neg_errno();
		if (bytes && S_ISREG(st.st_mode) && st.st_nlink < 2)
			*bytes += ST_HELD_BYTES(&st);
		return 0;
	}
	return rm_tree(&rm, dfd, name);
}

int path_remove_tree(int dfd, const char *name)
{
	return path_remove_tree_sized(dfd, name, NULL);
}
