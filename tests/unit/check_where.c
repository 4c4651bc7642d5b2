/* Long cache paths (fs/where.c at_resolve): a path shorter than PATH_MAX is
 * used as it is; a longer one is opened in steps, each shorter than
 * PATH_MAX, beneath the cache and through no symlink; what cannot be
 * resolved fails with its errno and holds no descriptor. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fsint.h"

static char dir[64];
static int dfd;
static char deep[PATH_MAX + 600]; /* d.../d.../ ... of 200-byte names */

static void setup(void)
{
	char name[201];
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/check_where.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	memset(name, 'd', 200);
	name[200] = '\0';
	deep[0] = '\0';
	fd = dup(dfd);
	/* 22 levels of 201 bytes: 4422 bytes, over PATH_MAX. */
	for (int i = 0; i < 22; i++) {
		int next;
		ck_assert_int_eq(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(next, 0);
		close(fd);
		fd = next;
		strcat(deep, i ? "/" : "");
		strcat(deep, name);
	}
	close(fd);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_short_path_as_is)
{
	struct at a = { .own = -1 };

	ck_assert_int_eq(at_resolve(dfd, "dataset/x", &a), 0);
	ck_assert_int_eq(a.dirfd, dfd);
	ck_assert_str_eq(a.name, "dataset/x");
	ck_assert_int_eq(a.own, -1);
	at_release(&a);
}
END_TEST

START_TEST(test_long_path_in_steps)
{
	struct at a = { .own = -1 };
	char path[sizeof(deep) + 8];
	struct stat st, want;

	snprintf(path, sizeof(path), "%s/f", deep);
	ck_assert_uint_ge(strlen(path), PATH_MAX);
	ck_assert_int_eq(at_resolve(dfd, path, &a), 0);
	ck_assert_int_ge(a.own, 0);
	ck_assert_int_eq(a.dirfd, a.own);
	ck_assert_uint_lt(strlen(a.name), PATH_MAX);
	/* The rest is a suffix of the path, starting at a component. */
	ck_assert_str_eq(path + strlen(path) - strlen(a.name), a.name);
	ck_assert_int_eq(path[strlen(path) - strlen(a.name) - 1], '/');
	ck_assert_int_eq(mknodat(a.dirfd, a.name, S_IFREG | 0600, 0), 0);
	ck_assert_int_eq(fstatat(a.dirfd, a.name, &st, AT_SYMLINK_NOFOLLOW), 0);
	at_release(&a);
	ck_assert_int_eq(a.own, -1);
	/* The same file, reached another way. */
	ck_assert_int_eq(at_resolve(dfd, path, &a), 0);
	ck_assert_int_eq(fstatat(a.dirfd, a.name, &want, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_uint_eq(st.st_ino, want.st_ino);
	at_release(&a);
}
END_TEST

START_TEST(test_symlink_on_the_way)
{
	struct at a = { .own = -1 };
	char path[sizeof(deep) + 8];
	char first[201];

	/* The first component becomes a symlink to the real directory. */
	memset(first, 'd', 200);
	first[200] = '\0';
	ck_assert_int_eq(renameat(dfd, first, dfd, "real"), 0);
	ck_assert_int_eq(symlinkat("real", dfd, first), 0);
	snprintf(path, sizeof(path), "%s/f", deep);
	ck_assert_int_eq(at_resolve(dfd, path, &a), -ELOOP);
	ck_assert_int_eq(a.own, -1);
}
END_TEST

START_TEST(test_missing_and_unsplittable)
{
	struct at a = { .own = -1 };
	char path[sizeof(deep) + 16];

	snprintf(path, sizeof(path), "nowhere/%s/f", deep);
	ck_assert_int_eq(at_resolve(dfd, path, &a), -ENOENT);
	ck_assert_int_eq(a.own, -1);
	/* No slash in the first PATH_MAX bytes: no step can be taken. */
	memset(path, 'x', PATH_MAX + 10);
	path[PATH_MAX + 10] = '\0';
	ck_assert_int_eq(at_resolve(dfd, path, &a), -ENAMETOOLONG);
	ck_assert_int_eq(a.own, -1);
}
END_TEST

static Suite *where_suite(void)
{
	Suite *s = suite_create("where");
	TCase *tc = tcase_create("at_resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_short_path_as_is);
	tcase_add_test(tc, test_long_path_in_steps);
	tcase_add_test(tc, test_symlink_on_the_way);
	tcase_add_test(tc, test_missing_and_unsplittable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(where_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
