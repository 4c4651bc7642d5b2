/* Walking a local tree: pre-order, no symlink followed, temporary files
 * skipped, a bounded number of descriptors at any depth, nothing reported
 * deeper than TREE_MAX_DEPTH, and a directory replaced during the walk left
 * alone. Check runs each test in a process of its own, so descriptor limits
 * set by a test end with it. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/pathsafe.h"
#include "sync/tree.h"
#include "sync/util.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	int n = snprintf(tmpdir, sizeof(tmpdir), "%s/check_tree.XXXXXX", t && *t ? t : "/tmp");

	ck_assert_int_lt(n, sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* path_remove_tree() takes any depth; nftw would need a descriptor per level. */
static void remove_tmpdir(void)
{
	char parent[sizeof(tmpdir)];
	char *slash;
	int fd;

	snprintf(parent, sizeof(parent), "%s", tmpdir);
	slash = strrchr(parent, '/');
	if (!slash)
		return;
	*slash = '\0';
	fd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)path_remove_tree(fd, slash + 1);
		close(fd);
	}
}

/* What a walk reported. */
struct seen {
	char **paths;
	size_t n;
	unsigned max_depth;
	char *deep[8], *long_dir[8];
	size_t ndeep, nlong;
	/* test_walk_replaced: swap "top/r" once "top/r/a" has been reported */
	int rootfd;
	bool swap;
};

static int seen_cb(void *ud, const char *path, const struct stat *st)
{
	struct seen *s = ud;
	char **p;

	(void)st;
	p = realloc(s->paths, (s->n + 1) * sizeof(*p));
	ck_assert_ptr_nonnull(p);
	s->paths = p;
	s->paths[s->n] = strdup(path);
	ck_assert_ptr_nonnull(s->paths[s->n]);
	s->n++;
	if (tree_depth(path) > s->max_depth)
		s->max_depth = tree_depth(path);
	if (s->swap && strcmp(path, "top/r/a") == 0) {
		int fd;

		ck_assert_int_eq(renameat(s->rootfd, "top/r", s->rootfd, "top/r2"), 0);
		ck_assert_int_eq(mkdirat(s->rootfd, "top/r", 0755), 0);
		fd = openat(s->rootfd, "top/r/evil", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
		ck_assert_int_ge(fd, 0);
		close(fd);
		s->swap = false;
	}
	return 0;
}

static int skip_cb(void *ud, const char *dir, enum tree_skip why)
{
	struct seen *s = ud;

	if (why == TREE_SKIP_DEEP) {
		ck_assert_uint_lt(s->ndeep, ARRAY_SIZE(s->deep));
		s->deep[s->ndeep++] = strdup(dir);
	} else {
		ck_assert_uint_lt(s->nlong, ARRAY_SIZE(s->long_dir));
		s->long_dir[s->nlong++] = strdup(dir);
	}
	return 0;
}

static ssize_t seen_index(const struct seen *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->paths[i], path) == 0)
			return (ssize_t)i;
	return -1;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->paths[i]);
	free(s->paths);
	for (size_t i = 0; i < s->ndeep; i++)
		free(s->deep[i]);
	for (size_t i = 0; i < s->nlong; i++)
		free(s->long_dir[i]);
}

/* A fresh directory under tmpdir, opened. */
static int new_root(void)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s/w.XXXXXX", tmpdir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static void make_file(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);

	ck_assert_msg(fd >= 0, "create %s: %s", name, strerror(errno));
	close(fd);
}

static void limit_fds(rlim_t n)
{
	struct rlimit rl = { .rlim_cur = n, .rlim_max = n };

	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

START_TEST(test_walk_order)
{
	static const char *const dirs[] = { "top", "top/a", "top/a/x", "top/b", "top/c", "top/c/y",
					    "top/c/y/z" };
	static const char *const files[] = { "top/f", "top/a/f1", "top/a/x/f2", "top/b/f3",
					     "top/c/y/z/f4", "top/.efs-tmp.1", "top/a/.efs-tmp" };
	static const char *const want[] = { "top/a", "top/a/x", "top/a/x/f2", "top/a/f1", "top/b",
					    "top/b/f3", "top/c", "top/c/y", "top/c/y/z",
					    "top/c/y/z/f4", "top/f", "top/link", "top/.efs-tmp.1",
					    "top/a/.efs-tmp" };
	struct seen s = { 0 };
	int root = new_root();

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		ck_assert_int_eq(mkdirat(root, dirs[i], 0755), 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		make_file(root, files[i]);
	ck_assert_int_eq(symlinkat("/", root, "top/link"), 0);

	limit_fds(16);
	ck_assert_int_eq(tree_walk_skips(root, "top", seen_cb, skip_cb, &s), 0);
	ck_assert_uint_eq(s.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		ck_assert_msg(seen_index(&s, want[i]) >= 0, "%s not reported", want[i]);
	/* Pre-order: every directory before what it holds. */
	for (size_t i = 0; i < s.n; i++) {
		char parent[PATH_MAX], *slash;

		snprintf(parent, sizeof(parent), "%s", s.paths[i]);
		slash = strrchr(parent, '/');
		*slash = '\0';
		if (strcmp(parent, "top") != 0)
			ck_assert_int_lt(seen_index(&s, parent), (ssize_t)i);
	}
	ck_assert_uint_eq(s.ndeep + s.nlong, 0);
	ck_assert_int_eq(tree_walk_skips(root, "missing", seen_cb, skip_cb, &s), -ENOENT);
	ck_assert_int_eq(tree_walk_skips(root, "top/link", seen_cb, skip_cb, &s), -ELOOP);
	seen_free(&s);
	close(root);
}
END_TEST

/* 1,100 levels: the old recursion held a descriptor per level and failed
 * with EMFILE under a limit of 64; now the walk stops at TREE_MAX_DEPTH and
 * says where, once. */
START_TEST(test_walk_deep)
{
	char want_deep[2 * TREE_MAX_DEPTH + 16];
	struct seen s = { 0 };
	int root = new_root(), fd;

	ck_assert_int_eq(mkdirat(root, "output", 0755), 0);
	fd = openat(root, "output", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (int i = 1; i <= 1100; i++) {
		int sub;

		ck_assert_int_eq(mkdirat(fd, "d", 0755), 0);
		sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ck_assert_int_ge(sub, 0);
		close(fd);
		fd = sub;
		if (i % 50 == 0)
			make_file(fd, "f");
	}
	close(fd);
	make_file(root, "output/shallow");

	limit_fds(64);
	ck_assert_int_eq(tree_walk_skips(root, "output", seen_cb, skip_cb, &s), 0);
	/* Directories output/d ... (128 of them), files at levels 50 and 100,
	 * and output/shallow. */
	ck_assert_uint_eq(s.n, TREE_MAX_DEPTH + 3);
	ck_assert_uint_eq(s.max_depth, TREE_MAX_DEPTH);
	ck_assert_int_ge(seen_index(&s, "output/shallow"), 0);
	ck_assert_uint_eq(s.ndeep, 1);
	strcpy(want_deep, "output");
	for (int i = 0; i < TREE_MAX_DEPTH; i++)
		strcat(want_deep, "/d");
	ck_assert_str_eq(s.deep[0], want_deep);
	ck_assert_int_ge(seen_index(&s, want_deep), 0);
	ck_assert_uint_eq(s.nlong, 0);

	/* A walk that starts at the limit only says whether something lies below. */
	seen_free(&s);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(tree_walk_skips(root, want_deep, seen_cb, skip_cb, &s), 0);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_uint_eq(s.ndeep, 1);
	ck_assert_str_eq(s.deep[0], want_deep);
	seen_free(&s);

	ck_assert_int_eq(path_remove_tree(root, "output"), 0);
	close(root);
}
END_TEST

/* An empty directory at the limit loses nothing and is not reported. */
START_TEST(test_walk_limit_empty)
{
	char path[2 * TREE_MAX_DEPTH + 64];
	struct seen s = { 0 };
	int root = new_root();

	strcpy(path, "output");
	ck_assert_int_eq(mkdirat(root, path, 0755), 0);
	for (int i = 0; i < TREE_MAX_DEPTH; i++) {
		strcat(path, "/d");
		ck_assert_int_eq(mkdirat(root, path, 0755), 0);
	}
	ck_assert_int_eq(tree_walk_skips(root, "output", seen_cb, skip_cb, &s), 0);
	ck_assert_uint_eq(s.n, TREE_MAX_DEPTH);
	ck_assert_uint_eq(s.ndeep, 0);
	seen_free(&s);
	close(root);
}
END_TEST

/* A name that would make a path of PATH_MAX bytes is left out and reported
 * once for its directory; the old walk gave up with ENAMETOOLONG. */
START_TEST(test_walk_long_path)
{
	char name[201], path[PATH_MAX + 256];
	struct seen s = { 0 };
	int root = new_root(), levels = 0;

	memset(name, 'n', 200);
	name[200] = '\0';
	strcpy(path, "top");
	ck_assert_int_eq(mkdirat(root, path, 0755), 0);
	while (strlen(path) + 1 + 200 < PATH_MAX) {
		strcat(path, "/");
		strcat(path, name);
		ck_assert_int_eq(mkdirat(root, path, 0755), 0);
		levels++;
	}
	/* path is a directory; one more component of 200 bytes does not fit. */
	{
		int fd = openat(root, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		make_file(fd, name);
		make_file(fd, "short");
		close(fd);
	}
	make_file(root, "top/after");
	ck_assert_int_eq(tree_walk_skips(root, "top", seen_cb, skip_cb, &s), 0);
	ck_assert_uint_eq(s.n, (size_t)levels + 2); /* the directories, "short", "after" */
	ck_assert_uint_eq(s.nlong, 1);
	ck_assert_str_eq(s.long_dir[0], path);
	seen_free(&s);
	close(root);
}
END_TEST

/* A directory replaced while the walk is below it: the rest of it is not
 * read from the replacement. */
START_TEST(test_walk_replaced)
{
	struct seen s = { 0 };
	int root = new_root();

	ck_assert_int_eq(mkdirat(root, "top", 0755), 0);
	ck_assert_int_eq(mkdirat(root, "top/r", 0755), 0);
	ck_assert_int_eq(mkdirat(root, "top/r/a", 0755), 0);
	make_file(root, "top/r/a/in");
	for (int i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "top/r/f%d", i);
		make_file(root, name);
	}
	s.rootfd = root;
	s.swap = true;
	ck_assert_int_eq(tree_walk_skips(root, "top", seen_cb, skip_cb, &s), 0);
	ck_assert(!s.swap);
	ck_assert_int_ge(seen_index(&s, "top/r/a/in"), 0);
	ck_assert_int_lt(seen_index(&s, "top/r/evil"), 0);
	seen_free(&s);
	close(root);
}
END_TEST

static Suite *tree_suite(void)
{
	Suite *s = suite_create("tree");
	TCase *tc = tcase_create("walk");

	tcase_add_unchecked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_walk_order);
	tcase_add_test(tc, test_walk_deep);
	tcase_add_test(tc, test_walk_limit_empty);
	tcase_add_test(tc, test_walk_long_path);
	tcase_add_test(tc, test_walk_replaced);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
