/* Job records in the cache dir: what a record holds at each step, that ids
 * keep counting across reopenings, that a record left running is marked
 * lost, that a lost record comes back when its enclave instance still holds
 * the job (and only then), that origin files which are not ours are
 * ignored, and that names which are not job ids are ignored. */
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
#include "app/appmsg.h"

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
	ck_assert_int_eq(jobstore_create(js, "iris.sealed predict -d /dataset", NULL, NULL, NULL, &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_str_eq(slurp("jobs/1/cmd"), "iris.sealed predict -d /dataset\n");
	ck_assert_str_eq(slurp("jobs/1/state"), "running\n");
	/* exit exists from the start, empty while the job runs */
	ck_assert_str_eq(slurp("jobs/1/exit"), "");
	ck_assert_ptr_null(slurp("jobs/1/manifest"));
	ck_assert_int_eq(jobstore_append_log(js, 1, "a\n", 2), 0);
	ck_assert_int_eq(jobstore_append_log(js, 1, "b\n", 2), 0);
	ck_assert_str_eq(slurp("jobs/1/log"), "a\nb\n");
	ck_assert_int_eq(jobstore_append_log(js, 7, "x", 1), -ENOENT);
	ck_assert_int_eq(jobstore_finish(js, 1, JOB_EXITED, "exited with status 3", 3), 0);
	ck_assert_str_eq(slurp("jobs/1/state"), "exited\n");
	ck_assert_str_eq(slurp("jobs/1/exit"), "3\n");
	/* The log is closed with the record: later lines have nowhere to go. */
	ck_assert_int_eq(jobstore_append_log(js, 1, "c", 1), -ENOENT);
	ck_assert_int_eq(jobstore_create(js, "p", NULL, "{\"name\":\"p\"}\n", "ab\n", &id), 0);
	ck_assert_str_eq(slurp("jobs/2/manifest"), "{\"name\":\"p\"}\n");
	ck_assert_str_eq(slurp("jobs/2/digest"), "ab\n");
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

	ck_assert_int_eq(jobstore_create(js, "a", NULL, NULL, NULL, &id), 0);
	ck_assert_int_eq(jobstore_create(js, "b", NULL, NULL, NULL, &id), 0);
	ck_assert_int_eq(jobstore_create(js, "c", NULL, NULL, NULL, &id), 0);
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
	ck_assert_int_eq(jobstore_create(js, "d", NULL, NULL, NULL, &id), 0);
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
	ck_assert_int_eq(jobstore_create(js, "a", NULL, NULL, NULL, &id), 0);
	ck_assert_uint_eq(id, 1);
	jobstore_free(js);
	free(lost);
}
END_TEST

static const struct job_origin A5 = { { 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f }, 5 };
static const struct job_origin A6 = { { 0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f }, 6 };
static const struct job_origin B1 = { { 0xb2 }, 1 };

/* Reconciles with instance `o`'s holding held[0..n) and returns the matches. */
static size_t reconcile(struct jobstore *js, const struct job_origin *o, const uint32_t *held, size_t n,
			struct job_match **m)
{
	size_t nm = 99;

	ck_assert_int_eq(jobstore_reconcile(js, o->instance, held, n, m, &nm), 0);
	ck_assert(nm == 0 || *m);
	return nm;
}

/* A mount dies while four jobs run: one in instance A that A still holds,
 * one in A that A no longer holds, one in B, one without origin. The next
 * mount finds all four lost; A's JOBS brings back exactly the one it holds,
 * which then ends like any job. */
START_TEST(test_reconcile_after_mount_ended)
{
	uint32_t *lost, id;
	size_t nlost;
	struct job_match *m;
	struct jobstore *js = open_store(&lost, &nlost);

	ck_assert_int_eq(jobstore_create(js, "a", &A5, NULL, NULL, &id), 0);
	ck_assert_str_eq(slurp("jobs/1/origin"), "a100000000000000000000000000000f 5\n");
	ck_assert_int_eq(jobstore_create(js, "b", &A6, NULL, NULL, &id), 0);
	ck_assert_int_eq(jobstore_create(js, "c", &B1, NULL, NULL, &id), 0);
	ck_assert_int_eq(jobstore_create(js, "d", NULL, NULL, NULL, &id), 0);
	ck_assert_int_eq(faccessat(dfd, "jobs/4/origin", F_OK, 0), -1);
	ck_assert_int_eq(jobstore_append_log(js, 2, "before\n", 7), 0);
	jobstore_free(js); /* the mount died */
	free(lost);

	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 4);
	ck_assert_str_eq(slurp("jobs/2/state"), "lost: the mount ended while it ran\n");
	ck_assert_str_eq(slurp("jobs/2/exit"), "255\n");
	ck_assert_uint_eq(reconcile(js, &A6, (const uint32_t[]){ 3, 6, 9 }, 3, &m), 1);
	ck_assert_uint_eq(m[0].id, 2);
	ck_assert_uint_eq(m[0].enclave_id, 6);
	free(m);
	ck_assert_str_eq(slurp("jobs/2/state"), "running\n");
	ck_assert_str_eq(slurp("jobs/2/exit"), "");
	ck_assert_int_eq(jobstore_append_log(js, 2, "after\n", 6), 0);
	ck_assert_str_eq(slurp("jobs/2/log"), "before\nafter\n");
	/* The others stay lost; nobody else's log is open. */
	for (uint32_t i = 1; i <= 4; i++) {
		char rel[32];

		if (i == 2)
			continue;
		snprintf(rel, sizeof(rel), "jobs/%u/exit", i);
		ck_assert_str_eq(slurp(rel), "255\n");
		ck_assert_int_eq(jobstore_append_log(js, i, "x", 1), -ENOENT);
	}
	/* A second JOBS in this mount brings nothing back. */
	ck_assert_uint_eq(reconcile(js, &A5, (const uint32_t[]){ 5 }, 1, &m), 0);
	ck_assert_str_eq(slurp("jobs/1/exit"), "255\n");
	ck_assert_int_eq(jobstore_finish(js, 2, JOB_CANCELLED, "cancelled", JOB_EXIT_CANCELLED), 0);
	ck_assert_str_eq(slurp("jobs/2/state"), "cancelled\n");
	ck_assert_str_eq(slurp("jobs/2/exit"), "130\n");
	ck_assert_uint_eq(jobstore_last(js), 4);
	jobstore_free(js);
	free(lost);

	/* A finished record is never taken up again, a lost one may be. */
	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 0);
	ck_assert_uint_eq(reconcile(js, &A5, (const uint32_t[]){ 5, 6 }, 2, &m), 1);
	ck_assert_uint_eq(m[0].id, 1);
	free(m);
	ck_assert_str_eq(slurp("jobs/2/state"), "cancelled\n");
	jobstore_free(js);
	free(lost);
}
END_TEST

/* A job lost with its connection (the mount lives on) comes back when the
 * same instance reconnects; one lost to another instance waits for a later
 * mount, where its instance may answer. */
START_TEST(test_reconcile_after_reconnect)
{
	uint32_t *lost, id;
	size_t nlost;
	struct job_match *m;
	struct jobstore *js = open_store(&lost, &nlost);

	ck_assert_int_eq(jobstore_create(js, "a", &A5, NULL, NULL, &id), 0);
	ck_assert_int_eq(jobstore_finish(js, id, JOB_LOST, "the enclave went away (x)", JOB_EXIT_LOST), 0);
	ck_assert_str_eq(slurp("jobs/1/state"), "lost: the enclave went away (x)\n");
	ck_assert_uint_eq(reconcile(js, &A5, (const uint32_t[]){ 5 }, 1, &m), 1);
	ck_assert_uint_eq(m[0].id, 1);
	free(m);
	ck_assert_str_eq(slurp("jobs/1/state"), "running\n");
	/* Lost again, then another instance answers: it stays lost. */
	ck_assert_int_eq(jobstore_finish(js, 1, JOB_LOST, "the enclave went away (y)", JOB_EXIT_LOST), 0);
	ck_assert_uint_eq(reconcile(js, &B1, (const uint32_t[]){ 5 }, 1, &m), 0);
	ck_assert_str_eq(slurp("jobs/1/exit"), "255\n");
	jobstore_free(js);
	free(lost);

	js = open_store(&lost, &nlost);
	ck_assert_uint_eq(nlost, 0); /* already lost, not lost again */
	ck_assert_uint_eq(reconcile(js, &A5, (const uint32_t[]){ 1, 2, 3, 4, 5 }, 5, &m), 1);
	ck_assert_uint_eq(m[0].id, 1);
	free(m);
	jobstore_free(js);
	free(lost);
}
END_TEST

/* origin files that are not exactly what jobstore writes make a record
 * that never comes back: it stays lost, and nothing else changes. */
START_TEST(test_origin_garbage)
{
	static const char *const bad[] = {
		"",
		"\n",
		"a100000000000000000000000000000f 5",       /* no newline */
		"A100000000000000000000000000000F 5\n",     /* upper case */
		"a100000000000000000000000000000 5\n",      /* 31 digits */
		"a100000000000000000000000000000f0 5\n",    /* 33 digits */
		"a100000000000000000000000000000f  5\n",    /* two spaces */
		"a100000000000000000000000000000f 05\n",    /* leading zero */
		"a100000000000000000000000000000f 0\n",     /* job 0 */
		"a100000000000000000000000000000f 4294967296\n",
		"a100000000000000000000000000000f 99999999999999\n",
		"a100000000000000000000000000000f -5\n",
		"a100000000000000000000000000000f 5\n\n",
		"a100000000000000000000000000000f 5 6\n",
		"a100000000000000000000000000000g 5\n",
		"a100000000000000000000000000000f 5\0\n",
	};
	static const size_t len[] = { 0, 1, 34, 35, 34, 36, 36, 36, 35, 44, 48, 36, 36, 37, 35, 37 };
	uint32_t *lost, id;
	size_t nlost;
	struct job_match *m;
	struct jobstore *js;

	ck_assert_uint_eq(sizeof(bad) / sizeof(bad[0]), sizeof(len) / sizeof(len[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd;

		js = open_store(&lost, &nlost);
		free(lost);
		ck_assert_int_eq(jobstore_create(js, "x", &A5, NULL, NULL, &id), 0);
		jobstore_free(js);
		fd = openat(dfd, "jobs", O_RDONLY | O_DIRECTORY);
		ck_assert_int_ge(fd, 0);
		{
			char rel[32];
			int ofd;

			snprintf(rel, sizeof(rel), "%u/origin", id);
			ofd = openat(fd, rel, O_WRONLY | O_TRUNC);
			ck_assert_int_ge(ofd, 0);
			ck_assert_int_eq(write(ofd, bad[i], len[i]), (ssize_t)len[i]);
			close(ofd);
		}
		close(fd);
		js = open_store(&lost, &nlost);
		ck_assert_uint_eq(nlost, 1);
		ck_assert_uint_eq(lost[0], id);
		free(lost);
		ck_assert_msg(reconcile(js, &A5, (const uint32_t[]){ 5 }, 1, &m) == 0, "origin %zu accepted",
			      i);
		jobstore_free(js);
	}
	/* The same record with a good origin file again does come back. */
	{
		int ofd = openat(dfd, "jobs/1/origin", O_WRONLY | O_TRUNC);

		ck_assert_int_ge(ofd, 0);
		ck_assert_int_eq(write(ofd, "a100000000000000000000000000000f 5\n", 35), 35);
		close(ofd);
	}
	js = open_store(&lost, &nlost);
	free(lost);
	ck_assert_uint_eq(reconcile(js, &A5, (const uint32_t[]){ 5 }, 1, &m), 1);
	ck_assert_uint_eq(m[0].id, 1);
	free(m);
	jobstore_free(js);
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
	tcase_add_test(tc, test_reconcile_after_mount_ended);
	tcase_add_test(tc, test_reconcile_after_reconnect);
	tcase_add_test(tc, test_origin_garbage);
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
