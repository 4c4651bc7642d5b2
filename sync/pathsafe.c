#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
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
	len = strnlen(rel, PATH_MAX);
	if (len == 0)
		return -EINVAL;
	if (len >= PATH_MAX)
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
	if (!atomic_load(&force_fallback) && !atomic_load(&no_openat2)) {
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
	memcpy(dir, rel, n);
	dir[n] = '\0';
	fd = path_openat(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd == -ENOENT && create_parents)
		fd = walk_dirs(rootfd, rel, n, true, O_RDONLY);
	if (fd >= 0)
		*base = slash + 1;
	return fd;
}

static int remove_entry(int dfd, const char *name, dev_t dev);

/* Empties the directory open at fd (which it closes), staying on device dev. */
static int remove_children(int fd, dev_t dev)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = fdopendir(fd);
	if (!d) {
		r = neg_errno();
		safe_close(fd);
		return r;
	}
	for (;;) {
		int q;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno && !r)
				r = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		q = remove_entry(dirfd(d), de->d_name, dev);
		if (q < 0 && q != -ENOENT && !r)
			r = q;
	}
	closedir(d);
	return r;
}

static int remove_entry(int dfd, const char *name, dev_t dev)
{
	struct stat st;
	int fd, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 ? neg_errno() : 0;
	/* Like rm --one-file-system: a mount inside the tree is not ours to empty. */
	if (st.st_dev != dev)
		return -EXDEV;
	/* If name has become a symlink since the fstatat, this fails (ELOOP). */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	r = remove_children(fd, dev);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && !r)
		r = neg_errno();
	return r;
}

int path_remove_tree(int dfd, const char *name)
{
	struct stat st;
	int r;

	r = path_check(name);
	if (r < 0)
		return r;
	if (strchr(name, '/'))
		return -EINVAL;
	if (fstat(dfd, &st) < 0)
		return neg_errno();
	return remove_entry(dfd, name, st.st_dev);
}
