/* Job records in the cache dir: what a record holds at each step, that ids
 * keep counting across reopenings, that a record left running is marked
 * lost, and that names which are not job ids are ignored. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/jobstore.h"
#include "sync/proto.h"

static char dir[64];
static int dfd;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_jobstore.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *rel)
{
	static char buf[4096];
	int fd = openat(dfd, rel, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static struct jobstore *open_store(uint32_t **lost, size_t *nlost)
{
	struct jobstore *js = NULL;

	ck_assert_int_eq(jobstore_open(dfd, &js, lost, nlost), 0);
	return js;
}

START_TEST(test_lifecycle)
{
	uint32_t *lost, id = 0;
	size_t nlost;
	struct jobstore *js = open_store(&lost, &nlost);

	ck_assert_uint_eq(nlost, 0);
	ck_assert_uint_eq(jobstore_last(js), 0);
	ck_assert_int_eq(jobstore_create(js, "iris.sealed predict -d /dataset", &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_str_eq(slurp("jobs/1/cmd"), "iris.sealed predict -d /dataset\n");
	ck_assert_str_eq(slurp("jobs/1/state"), "running\n");
	ck_assert_ptr_null(slurp("jobs/1/exit"));
	ck_assert_int_eq(jobstore_append_log(js, 1, "a\n", 2), 0);
	ck_assert_int_eq(jobstore_append_log(js, 1, "b\n", 2), 0);
	ck_assert_str_eq(slurp("jobs/1/log"), "a\nb\n");
	ck_assert_int_eq(jobstore_append_log(js, 7, "x", 1), -ENOENT);
	ck_assert_int_eq(jobstore_finish(js, 1, JOB_EXITED, "exited with status 3", 3), 0);
	ck_assert_str_eq(slurp("jobs/1/state"), "exited\n");
	ck_assert_str_eq(slurp("jobs/1/exit"), "3\n");
	/* The log is closed with the record: later lines have nowhere to go. */
	ck_assert_int_eq(jobstore_append_log(js, 1, "c", 1), -ENOENT);
	ck_assert_int_eq(jobstore_create(js, "p", &id), 0);
	ck_assert_uint_eq(id, 2);
	ck_assert_int_eq(jobstore_finish(js, 2, JOB_FAILED, "no such entry", JOB_EXIT_FAILED), 0);
	ck_assert_str_eq(slurp("jobs/2/state"), "failed: no such entry\n");
	ck_assert_str_eq(slurp("jobs/2/exit"), "125\n");
	/* No temporary file is left behind. */
	ck_assert_int_eq(faccessat(dfd, "jobs/2/.state.tmp", F_OK, 0), -1);
	jobstore_free(js);
	free(lost);
}
END_TEST

START_TEST(test_reopen_marks_lost)
{
	uint32_t *lost, id;
	size_t nlost;
	struct jobstore *js = open_store(&lost, &nlost);

	ck_assert_int_eq(jobstore_create(js, "a", &id), 0);
	ck_assert_int_eq(jobstore_create(js, "b", &id), 0);
	ck_assert_int_eq(jobstore_create(js, "c", &id), 0);
	ck_assert_int_eq(jobstore_finish(js, 2, JOB_CANCELLED, "cancelled", JOB_EXIT_CANCELLED), 0);
	jobstore_free(js); /* jobs 1 and 3 were running */
	free(lost);

	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 2);
	ck_assert_uint_eq(lost[0] + lost[1], 4);
	ck_assert_uint_eq(jobstore_last(js), 3);
	ck_assert_str_eq(slurp("jobs/1/state"), "lost: the mount ended while it ran\n");
	ck_assert_str_eq(slurp("jobs/3/exit"), "255\n");
	ck_assert_str_eq(slurp("jobs/2/state"), "cancelled\n");
	ck_assert_str_eq(slurp("jobs/2/exit"), "130\n");
	ck_assert_int_eq(jobstore_create(js, "d", &id), 0);
	ck_assert_uint_eq(id, 4);
	jobstore_free(js);
	free(lost);

	/* Lost once is not lost again. */
	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 1); /* only job 4 */
	ck_assert_uint_eq(lost[0], 4);
	jobstore_free(js);
	free(lost);
}
END_TEST

START_TEST(test_foreign_names)
{
	uint32_t *lost, id;
	size_t nlost;
	struct jobstore *js;
	static const char *const names[] = { "jobs", "jobs/007", "jobs/0", "jobs/x1", "jobs/1x",
					     "jobs/-3", "jobs/4294967295", "jobs/99999999999" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ck_assert_int_eq(mkdirat(dfd, names[i], 0755), 0);
	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 0);
	ck_assert_uint_eq(jobstore_last(js), 0);
	ck_assert_int_eq(jobstore_create(js, "a", &id), 0);
	ck_assert_uint_eq(id, 1);
	jobstore_free(js);
	free(lost);
}
END_TEST

START_TEST(test_state_words)
{
	ck_assert_str_eq(jobstore_state_word(JOB_RUNNING), "running");
	ck_assert_str_eq(jobstore_state_word(JOB_KILLED), "killed");
	ck_assert_str_eq(jobstore_state_word(JOB_TIMEOUT), "timeout");
	ck_assert_str_eq(jobstore_state_word(JOB_LOST), "lost");
	ck_assert_str_eq(jobstore_state_word(200), "unknown");
}
END_TEST

static Suite *jobstore_suite(void)
{
	Suite *s = suite_create("jobstore");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lifecycle);
	tcase_add_test(tc, test_reopen_marks_lost);
	tcase_add_test(tc, test_foreign_names);
	tcase_add_test(tc, test_state_words);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jobstore_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
