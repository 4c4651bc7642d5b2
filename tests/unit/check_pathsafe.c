/* Path safety: canonical-form checks, and resolution beneath a root that
 * refuses every symlink and never reaches outside. Each resolution test runs
 * twice: with openat2 (_i == 0) and with the forced component walk (_i == 1). */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/pathsafe.h"
#include "sync/util.h"
#include "tests/unit/prereq.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(tmpdir, sizeof(tmpdir), "%s/check_pathsafe.XXXXXX", t && *t ? t : "/tmp");
	ck_assert_int_lt(n, sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh world per test: root/ (what the peer may reach) and outside/ with
 * a file "secret" that no test may change. */
struct world {
	char dir[PATH_MAX], outside[PATH_MAX + 16];
	int root, out;
};

static void world_init(struct world *w, int fallback)
{
	int fd;

	path_force_fallback(fallback);
	snprintf(w->dir, sizeof(w->dir), "%s/w.XXXXXX", tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	snprintf(w->outside, sizeof(w->outside), "%s/outside", w->dir);
	w->root = open(w->dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(w->root, 0);
	ck_assert_int_eq(mkdirat(w->root, "root", 0755), 0);
	ck_assert_int_eq(mkdirat(w->root, "outside", 0755), 0);
	w->out = openat(w->root, "outside", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(w->out, 0);
	fd = openat(w->root, "root", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	close(w->root);
	w->root = fd;
	fd = openat(w->out, "secret", O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_write_all(fd, "secret", 6), 0);
	close(fd);
}

/* Nothing outside the root has changed: still exactly one file, "secret". */
static void world_check_outside(struct world *w)
{
	struct dirent *de;
	char buf[16];
	struct stat st;
	DIR *d;
	int fd, n = 0;

	fd = openat(w->out, "secret", O_RDONLY | O_NOFOLLOW);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_read_all(fd, buf, sizeof(buf)), 6);
	ck_assert_mem_eq(buf, "secret", 6);
	close(fd);
	ck_assert_int_eq(fstatat(w->out, "secret", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	fd = openat(w->out, ".", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	ck_assert_int_eq(n, 1);
}

static void world_release(struct world *w)
{
	close(w->root);
	close(w->out);
}

static void make_file(int dirfd, const char *name, const char *content)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_EXCL, 0644);

	ck_assert_msg(fd >= 0, "create %s", name);
	ck_assert_int_eq(io_write_all(fd, content, strlen(content)), 0);
	close(fd);
}

static void assert_same_file(int fd, int dirfd, const char *name)
{
	struct stat a, b;

	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_uint_eq(a.st_dev, b.st_dev);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
}

/* A path of exactly len bytes made of valid components. */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, 'a', len);
	for (size_t i = 200; i < len - 1; i += 201)
		p[i] = '/';
	p[len] = '\0';
	return p;
}

START_TEST(test_check_accepts)
{
	static const char *const ok[] = {
		"a", "a/b c/ü.txt", ".hidden", "a..b", "...", "..a", "a.", "a/.b/..c/...",
		"tab\there", "new\nline", "back\\slash", "-", "~",
	};
	char name[NAME_MAX + 1], *p;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		ck_assert_msg(path_check(ok[i]) == 0, "'%s' refused", ok[i]);

	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	ck_assert_int_eq(path_check(name), 0);
	p = long_path(PATH_MAX - 1);
	ck_assert_int_eq(path_check(p), 0);
	free(p);
}
END_TEST

START_TEST(test_check_rejects)
{
	static const char *const bad[] = {
		"", "/", "//", "/abs", ".", "..", "../x", "a/../b", "a/..", "a//b",
		"a/", "./a", "a/.", "a/./b", "x/../../etc/passwd",
	};
	char name[NAME_MAX + 8], *p;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(path_check(bad[i]) == -EINVAL, "'%s' accepted", bad[i]);
	ck_assert_int_eq(path_check(NULL), -EINVAL);

	memset(name, 'n', NAME_MAX + 1);
	name[NAME_MAX + 1] = '\0';
	ck_assert_int_eq(path_check(name), -ENAMETOOLONG);
	memcpy(name, "a/", 2);
	ck_assert_int_eq(path_check(name), 0);
	/* "a/" and a component of NAME_MAX, then of NAME_MAX + 1 bytes. */
	name[NAME_MAX + 1] = 'n';
	name[NAME_MAX + 2] = '\0';
	ck_assert_int_eq(path_check(name), 0);
	name[NAME_MAX + 2] = 'n';
	name[NAME_MAX + 3] = '\0';
	ck_assert_int_eq(path_check(name), -ENAMETOOLONG);

	p = long_path(PATH_REL_MAX + 1);
	ck_assert_int_eq(path_check(p), -ENAMETOOLONG);
	free(p);
}
END_TEST

/* Every entry point refuses a non-canonical path before touching anything. */
START_TEST(test_entry_points_check)
{
	struct world w;
	const char *base = NULL;

	world_init(&w, _i);
	ck_assert_int_eq(path_openat(w.root, "../outside/secret", O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(path_openat(w.root, "/etc/passwd", O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(path_openat(w.root, "", O_RDONLY, 0), -EINVAL);
	ck_assert_int_eq(path_open_parent(w.root, "../outside/new", true, &base), -EINVAL);
	ck_assert_ptr_null(base);
	ck_assert_int_eq(path_open_parent(w.root, "a//b", true, &base), -EINVAL);
	ck_assert_int_eq(path_remove_tree(w.out, ".."), -EINVAL);
	ck_assert_int_eq(path_remove_tree(w.out, "."), -EINVAL);
	ck_assert_int_eq(path_remove_tree(w.root, "../outside"), -EINVAL);
	ck_assert_int_eq(faccessat(w.root, "a", F_OK, 0), -1);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_open_plain)
{
	struct world w;
	char buf[16];
	int fd, dfd;

	world_init(&w, _i);
	ck_assert_int_eq(path_openat(w.root, "a/b c/ü.txt", O_CREAT | O_WRONLY, 0644), -ENOENT);
	ck_assert_int_eq(mkdirat(w.root, "a", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "a/b c", 0755), 0);

	fd = path_openat(w.root, "a/b c/ü.txt", O_CREAT | O_WRONLY | O_EXCL, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(io_write_all(fd, "hello", 5), 0);
	close(fd);

	fd = path_openat(w.root, "a/b c/ü.txt", O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_read_all(fd, buf, sizeof(buf)), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	assert_same_file(fd, w.root, "a/b c/ü.txt");
	close(fd);

	dfd = path_openat(w.root, "a/b c", O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(dfd, 0);
	assert_same_file(dfd, w.root, "a/b c");
	close(dfd);
	ck_assert_int_eq(path_openat(w.root, "a/b c/ü.txt/x", O_RDONLY, 0), -ENOTDIR);
	ck_assert_int_eq(path_openat(w.root, "a/b c/ü.txt", O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);

	fd = path_openat(w.root, "a/b c/ü.txt", O_PATH, 0);
	ck_assert_int_ge(fd, 0);
	assert_same_file(fd, w.root, "a/b c/ü.txt");
	close(fd);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_symlink_middle)
{
	struct world w;

	world_init(&w, _i);
	ck_assert_int_eq(mkdirat(w.root, "real", 0755), 0);
	make_file(w.root, "real/f", "inside");
	/* Even a link that stays inside the root is refused. */
	ck_assert_int_eq(symlinkat("real", w.root, "mid"), 0);
	ck_assert_int_eq(path_openat(w.root, "mid/f", O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "mid/g", O_CREAT | O_WRONLY, 0644), -ELOOP);
	ck_assert_int_eq(faccessat(w.root, "real/g", F_OK, 0), -1);

	ck_assert_int_eq(mkdirat(w.root, "real/sub", 0755), 0);
	ck_assert_int_eq(symlinkat(w.outside, w.root, "real/sub/out"), 0);
	ck_assert_int_eq(path_openat(w.root, "real/sub/out/secret", O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "real/sub/out/secret", O_WRONLY | O_TRUNC, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "real/sub/out/new", O_CREAT | O_WRONLY, 0644), -ELOOP);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_symlink_last)
{
	struct world w;
	char target[PATH_MAX + 32];

	world_init(&w, _i);
	snprintf(target, sizeof(target), "%s/secret", w.outside);
	ck_assert_int_eq(symlinkat(target, w.root, "ln"), 0);
	ck_assert_int_eq(path_openat(w.root, "ln", O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "ln", O_CREAT | O_WRONLY | O_TRUNC, 0644), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "ln", O_WRONLY | O_APPEND, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "ln", O_PATH, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "ln", O_PATH | O_NOFOLLOW, 0), -ELOOP);

	/* A dangling link must not become a way to create a file outside. */
	snprintf(target, sizeof(target), "%s/planted", w.outside);
	ck_assert_int_eq(mkdirat(w.root, "d", 0755), 0);
	ck_assert_int_eq(symlinkat(target, w.root, "d/dangling"), 0);
	ck_assert_int_eq(path_openat(w.root, "d/dangling", O_CREAT | O_WRONLY, 0644), -ELOOP);
	/* O_EXCL never follows a link: the name exists. */
	ck_assert_int_eq(path_openat(w.root, "d/dangling", O_CREAT | O_EXCL | O_WRONLY, 0644),
			 -EEXIST);

	ck_assert_int_eq(symlinkat(w.outside, w.root, "d/dirlink"), 0);
	ck_assert_int_eq(path_openat(w.root, "d/dirlink", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "d/dirlink", O_PATH | O_DIRECTORY, 0), -ELOOP);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_symlink_dir_outside)
{
	struct world w;
	const char *base = NULL;

	world_init(&w, _i);
	ck_assert_int_eq(symlinkat("../outside", w.root, "esc"), 0);
	ck_assert_int_eq(path_openat(w.root, "esc", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, "esc/secret", O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(path_open_parent(w.root, "esc/secret", false, &base), -ELOOP);
	ck_assert_int_eq(path_open_parent(w.root, "esc/new/f", true, &base), -ELOOP);
	ck_assert_int_eq(path_open_parent(w.root, "esc/f", true, &base), -ELOOP);
	ck_assert_ptr_null(base);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_open_parent)
{
	static char rel[] = "x/y/z/file.txt";
	struct world w;
	const char *base = NULL;
	struct stat st;
	mode_t old;
	int fd, fd2;

	world_init(&w, _i);
	fd = path_open_parent(w.root, "top", false, &base);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fd, w.root);
	ck_assert_str_eq(base, "top");
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_same_file(fd, w.root, ".");
	close(fd);

	base = NULL;
	ck_assert_int_eq(path_open_parent(w.root, rel, false, &base), -ENOENT);
	ck_assert_ptr_null(base);
	old = umask(022);
	fd = path_open_parent(w.root, rel, true, &base);
	umask(old);
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_eq(base, rel + 6);
	assert_same_file(fd, w.root, "x/y/z");
	ck_assert_int_eq(fstatat(w.root, "x/y", &st, 0), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	/* The fd is a real directory fd: usable for creating and listing. */
	fd2 = openat(fd, base, O_CREAT | O_WRONLY | O_EXCL, 0644);
	ck_assert_int_ge(fd2, 0);
	close(fd2);
	close(fd);

	/* Again, now that everything exists; and without create. */
	fd = path_open_parent(w.root, rel, true, &base);
	ck_assert_int_ge(fd, 0);
	assert_same_file(fd, w.root, "x/y/z");
	close(fd);
	fd = path_open_parent(w.root, "x/y/new", false, &base);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(base, "new");
	assert_same_file(fd, w.root, "x/y");
	close(fd);

	/* Part of the way exists: only the rest is created. */
	fd = path_open_parent(w.root, "x/y/q/r/s", true, &base);
	ck_assert_int_ge(fd, 0);
	assert_same_file(fd, w.root, "x/y/q/r");
	close(fd);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_open_parent_in_the_way)
{
	struct world w;
	char target[PATH_MAX + 32];
	const char *base;
	struct stat st;

	world_init(&w, _i);
	ck_assert_int_eq(mkdirat(w.root, "x", 0755), 0);
	make_file(w.root, "x/file", "data");
	ck_assert_int_eq(path_open_parent(w.root, "x/file/sub/f", true, &base), -ENOTDIR);
	ck_assert_int_eq(path_open_parent(w.root, "x/file/f", true, &base), -ENOTDIR);
	ck_assert_int_eq(path_open_parent(w.root, "x/file/f", false, &base), -ENOTDIR);
	ck_assert_int_eq(fstatat(w.root, "x/file", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 4);

	ck_assert_int_eq(symlinkat(w.outside, w.root, "x/lnk"), 0);
	ck_assert_int_eq(path_open_parent(w.root, "x/lnk/new/f", true, &base), -ELOOP);
	snprintf(target, sizeof(target), "%s/missing", w.outside);
	ck_assert_int_eq(symlinkat(target, w.root, "x/dangling"), 0);
	ck_assert_int_eq(path_open_parent(w.root, "x/dangling/f", true, &base), -ELOOP);
	ck_assert_int_eq(path_open_parent(w.root, "x/dangling/g/f", true, &base), -ELOOP);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

START_TEST(test_remove_tree)
{
	struct world w;
	char target[PATH_MAX + 32];

	world_init(&w, 0);
	ck_assert_int_eq(mkdirat(w.root, "t", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "t/d", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "t/d/empty", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "t/d/e f ü", 0700), 0);
	make_file(w.root, "t/f", "1");
	make_file(w.root, "t/d/g", "2");
	make_file(w.root, "t/d/e f ü/h", "3");
	ck_assert_int_eq(symlinkat(w.outside, w.root, "t/dirlink"), 0);
	ck_assert_int_eq(symlinkat("../../outside", w.root, "t/d/rel"), 0);
	snprintf(target, sizeof(target), "%s/secret", w.outside);
	ck_assert_int_eq(symlinkat(target, w.root, "t/d/filelink"), 0);
	ck_assert_int_eq(mkfifoat(w.root, "t/d/fifo", 0600), 0);

	ck_assert_int_eq(path_remove_tree(w.root, "t"), 0);
	ck_assert_int_eq(faccessat(w.root, "t", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(path_remove_tree(w.root, "t"), -ENOENT);

	/* A symlink given directly: the link goes, its target stays. */
	ck_assert_int_eq(symlinkat(w.outside, w.root, "l"), 0);
	ck_assert_int_eq(path_remove_tree(w.root, "l"), 0);
	ck_assert_int_eq(faccessat(w.root, "l", F_OK, AT_SYMLINK_NOFOLLOW), -1);

	make_file(w.root, "plain", "x");
	ck_assert_int_eq(path_remove_tree(w.root, "plain"), 0);
	ck_assert_int_eq(faccessat(w.root, "plain", F_OK, 0), -1);
	ck_assert_int_eq(path_remove_tree(w.root, "a/b"), -EINVAL);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

/* Nests n directories "d" below dirfd/top, holding one descriptor at a
 * time, with a file of i bytes at every level i divisible by 100 and a
 * symlink to `outside` at level n / 2. Returns the sum of the file sizes. */
static uint64_t make_deep(int dirfd, const char *top, int n, const char *outside)
{
	static const char zeros[1100];
	uint64_t bytes = 0;
	int fd;

	ck_assert_int_eq(mkdirat(dirfd, top, 0755), 0);
	fd = openat(dirfd, top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (int i = 1; i <= n; i++) {
		int sub;

		ck_assert_int_eq(mkdirat(fd, "d", 0755), 0);
		sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ck_assert_int_ge(sub, 0);
		close(fd);
		fd = sub;
		if (i % 100 == 0) {
			int f = openat(fd, "f", O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);

			ck_assert_int_ge(f, 0);
			ck_assert_uint_le((size_t)i, sizeof(zeros));
			ck_assert_int_eq(io_write_all(f, zeros, (size_t)i), 0);
			close(f);
			bytes += (uint64_t)i;
		}
		if (outside && i == n / 2)
			ck_assert_int_eq(symlinkat(outside, fd, "out"), 0);
	}
	close(fd);
	return bytes;
}

/* Check runs each test in a process of its own, so the limit ends with it. */
static void limit_fds(rlim_t n)
{
	struct rlimit rl = { .rlim_cur = n, .rlim_max = n };

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* 1,100 levels under 64 descriptors: the old recursion held one per level. */
START_TEST(test_remove_deep_tree)
{
	struct world w;
	uint64_t want, bytes = 0;

	world_init(&w, 0);
	want = make_deep(w.root, "t", 1100, w.outside);
	ck_assert_uint_eq(want, 100 + 200 + 300 + 400 + 500 + 600 + 700 + 800 + 900 + 1000 + 1100);
	ck_assert_int_eq(mkdirat(w.root, "t/side", 0755), 0);
	make_file(w.root, "t/side/g", "12345");
	limit_fds(64);
	ck_assert_int_eq(path_remove_tree_sized(w.root, "t", &bytes), 0);
	ck_assert_uint_eq(bytes, want + 5);
	ck_assert_int_eq(faccessat(w.root, "t", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(errno, ENOENT);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

/* A file system mounted inside the tree is not entered; the rest goes. */
START_TEST(test_remove_tree_stays_on_device)
{
	struct world w;
	char mnt[PATH_MAX + 32];
	struct stat st;

	/* Descriptors opened before the unshare would still see the old
	 * namespace's mounts: the world comes after it. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		char what[128];

		snprintf(what, sizeof(what), "a mount namespace (%s)", strerror(errno));
		prereq_missing(what);
		return;
	}
	world_init(&w, 0);
	ck_assert_int_eq(mkdirat(w.root, "t", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "t/a", 0755), 0);
	ck_assert_int_eq(mkdirat(w.root, "t/a/mnt", 0755), 0);
	make_file(w.root, "t/a/f", "1");
	make_file(w.root, "t/z", "2");
	snprintf(mnt, sizeof(mnt), "%s/root/t/a/mnt", w.dir);
	ck_assert_int_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=1m"), 0);
	make_file(w.root, "t/a/mnt/kept", "3");

	ck_assert_int_eq(path_remove_tree(w.root, "t"), -EXDEV);
	ck_assert_int_eq(fstatat(w.root, "t/a/mnt/kept", &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(faccessat(w.root, "t/a/f", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(faccessat(w.root, "t/z", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	ck_assert_int_eq(umount(mnt), 0);
	ck_assert_int_eq(path_remove_tree(w.root, "t"), 0);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

/* prefix and then n bytes in components of 200 (see long_path). */
static char *below(const char *prefix, size_t n)
{
	char *tail = long_path(n), *p = malloc(strlen(prefix) + n + 1);

	ck_assert_ptr_nonnull(p);
	strcpy(p, prefix);
	strcat(p, tail);
	free(tail);
	return p;
}

/* PATH_MAX - 1 bytes below a tree are a path; one more is not, nor is
 * more than PATH_REL_MAX in all. */
START_TEST(test_check_below_tree)
{
	char *p;

	ck_assert_int_eq(PATH_REL_MAX, (int)strlen("encrypted/") + PATH_MAX - 1);
	p = below("encrypted/", PATH_MAX - 1);
	ck_assert_uint_eq(strlen(p), PATH_REL_MAX);
	ck_assert_int_eq(path_check(p), 0);
	free(p);
	p = below("dataset/", PATH_MAX - 1);
	ck_assert_int_eq(path_check(p), 0);
	free(p);
	p = below("dataset/", PATH_MAX);
	ck_assert_int_eq(path_check(p), -ENAMETOOLONG);
	free(p);
	p = below("encrypted/", PATH_MAX);
	ck_assert_int_eq(path_check(p), -ENAMETOOLONG);
	free(p);
	p = below("encrypted12/", PATH_MAX - 2);
	ck_assert_uint_eq(strlen(p), PATH_REL_MAX + 1);
	ck_assert_int_eq(path_check(p), -ENAMETOOLONG);
	free(p);
}
END_TEST

/* A path longer than PATH_MAX from the root (PATH_MAX - 1 bytes below its
 * tree) opens, creates its parents, refuses a symlink on the way and is
 * removed, with openat2 and with the component walk. */
START_TEST(test_open_long)
{
	char *rel, *sl;
	const char *base = NULL;
	struct world w;
	struct stat st, st2;
	size_t dlen;
	int fd, dfd;

	world_init(&w, _i);
	rel = below("dataset/", PATH_MAX - 1);
	ck_assert_uint_ge(strlen(rel), PATH_MAX);
	ck_assert_int_eq(path_openat(w.root, rel, O_RDONLY, 0), -ENOENT);
	dfd = path_open_parent(w.root, rel, true, &base);
	ck_assert_int_ge(dfd, 0);
	ck_assert_ptr_eq(base, strrchr(rel, '/') + 1);
	fd = openat(dfd, base, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	ck_assert_int_eq(symlinkat("/", dfd, "s"), 0);
	close(dfd);

	fd = path_openat(w.root, rel, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st2), 0);
	ck_assert_uint_eq(st.st_ino, st2.st_ino);
	close(fd);
	dfd = path_open_parent(w.root, rel, false, &base);
	ck_assert_int_ge(dfd, 0);
	close(dfd);

	/* Through the symlink at the bottom: refused, nothing made outside. */
	dlen = (size_t)(strrchr(rel, '/') - rel);
	sl = malloc(dlen + 16);
	ck_assert_ptr_nonnull(sl);
	memcpy(sl, rel, dlen);
	strcpy(sl + dlen, "/s/tmp/x");
	ck_assert_int_eq(path_openat(w.root, sl, O_RDONLY, 0), -ELOOP);
	ck_assert_int_eq(path_open_parent(w.root, sl, true, &base), -ELOOP);
	ck_assert_int_eq(path_openat(w.root, sl, O_CREAT | O_WRONLY, 0644), -ELOOP);
	free(sl);

	ck_assert_int_eq(path_remove_tree(w.root, "dataset"), 0);
	ck_assert_int_eq(faccessat(w.root, "dataset", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	free(rel);
	world_check_outside(&w);
	world_release(&w);
}
END_TEST

static Suite *pathsafe_suite(void)
{
	Suite *s = suite_create("pathsafe");
	TCase *tc = tcase_create("check");
	TCase *tr = tcase_create("resolve");

	tcase_add_test(tc, test_check_accepts);
	tcase_add_test(tc, test_check_rejects);
	tcase_add_test(tc, test_check_below_tree);
	suite_add_tcase(s, tc);

	/* Unchecked fixtures run in the parent, so the temp dir goes even when
	 * a test fails. */
	tcase_add_unchecked_fixture(tr, make_tmpdir, remove_tmpdir);
	tcase_add_loop_test(tr, test_entry_points_check, 0, 2);
	tcase_add_loop_test(tr, test_open_plain, 0, 2);
	tcase_add_loop_test(tr, test_symlink_middle, 0, 2);
	tcase_add_loop_test(tr, test_symlink_last, 0, 2);
	tcase_add_loop_test(tr, test_symlink_dir_outside, 0, 2);
	tcase_add_loop_test(tr, test_open_parent, 0, 2);
	tcase_add_loop_test(tr, test_open_parent_in_the_way, 0, 2);
	tcase_add_test(tr, test_remove_tree);
	tcase_add_test(tr, test_remove_deep_tree);
	tcase_add_test(tr, test_remove_tree_stays_on_device);
	tcase_add_loop_test(tr, test_open_long, 0, 2);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pathsafe_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
