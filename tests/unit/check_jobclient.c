/* The job client: frames as an enclave would send them, well-formed and
 * hostile, fed to jobclient_message(); the callbacks it makes, the frames it
 * sends back, and what it refuses (messages only a host sends, malformed
 * bodies, replies to no pending request, a job id started twice). Jobs it
 * does not follow (unknown ids, already ended) are ignored without a
 * callback, whatever state or log arrives for them. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/jobclient.h"
#include "sync/log.h"

enum ev_kind { EV_STATUS, EV_PKG, EV_HELD, EV_STARTED, EV_REFUSED, EV_LOG, EV_ENDED };

struct ev {
	enum ev_kind kind;
	uint32_t req, job, tag, n;
	int err;
	uint8_t state, stream;
	int32_t code;
	char text[WIRE_TEXT_MAX + 1];
	size_t len;
};

#define MAX_EV 64

static struct {
	struct ev ev[MAX_EV];
	int n;
	int started_ret;    /* what ops.started returns */
	uint32_t next_tag;  /* the tag it gives */
} T;

static struct wbuf out; /* what the client sends */
static struct jobclient *jc;

static struct ev *record(enum ev_kind kind)
{
	ck_assert_int_lt(T.n, MAX_EV);
	memset(&T.ev[T.n], 0, sizeof(T.ev[T.n]));
	T.ev[T.n].kind = kind;
	return &T.ev[T.n++];
}

static void op_status(void *ud, const char *json, size_t len)
{
	struct ev *e = record(EV_STATUS);

	ck_assert_uint_lt(len, sizeof(e->text));
	memcpy(e->text, json, len);
	e->len = len;
}

static void op_pkg(void *ud, const struct msg_pkg_state *m)
{
	struct ev *e = record(EV_PKG);

	e->state = m->state;
	e->err = (int)m->err;
	snprintf(e->text, sizeof(e->text), "%s", m->name);
}

static void op_held(void *ud, const struct msg_jobs *m)
{
	record(EV_HELD)->n = m->n;
}

static int op_started(void *ud, uint32_t req, uint32_t job, const char *text, uint32_t *tag)
{
	struct ev *e = record(EV_STARTED);

	e->req = req;
	e->job = job;
	snprintf(e->text, sizeof(e->text), "%s", text);
	if (T.started_ret < 0)
		return T.started_ret;
	*tag = e->tag = T.next_tag++;
	return 0;
}

static void op_refused(void *ud, uint32_t req, int err, const char *text)
{
	struct ev *e = record(EV_REFUSED);

	e->req = req;
	e->err = err;
	snprintf(e->text, sizeof(e->text), "%s", text);
}

static void op_log(void *ud, uint32_t tag, uint8_t stream, const uint8_t *p, size_t len)
{
	struct ev *e = record(EV_LOG);

	e->tag = tag;
	e->stream = stream;
	e->len = len;
	snprintf(e->text, sizeof(e->text), "%.*s", (int)(len < 100 ? len : 100), (const char *)p);
}

static void op_ended(void *ud, uint32_t tag, uint8_t state, int32_t code, const char *text)
{
	struct ev *e = record(EV_ENDED);

	e->tag = tag;
	e->state = state;
	e->code = code;
	snprintf(e->text, sizeof(e->text), "%s", text);
	/* The job is no longer followed when its end is told. */
	ck_assert(!jobclient_following(jc, tag));
}

static const struct jobclient_ops ops = { .status = op_status,
					  .pkg_state = op_pkg,
					  .held = op_held,
					  .started = op_started,
					  .refused = op_refused,
					  .log = op_log,
					  .ended = op_ended };

static void setup(void)
{
	memset(&T, 0, sizeof(T));
	T.next_tag = 1000;
	wbuf_init(&out, 4u << 20);
	jc = jobclient_new(&ops, NULL, &out);
	ck_assert_ptr_nonnull(jc);
}

static void teardown(void)
{
	jobclient_free(jc);
	jc = NULL;
	wbuf_release(&out);
}

/* Feeds the one frame in w (built by the caller), then empties w. */
static int feed_buf(struct wbuf *w, char *why, size_t whysz)
{
	struct frame f;
	int r;

	ck_assert_int_eq(frame_next(w, &f), 0);
	ck_assert_uint_eq(wbuf_len(w), 0);
	why[0] = '\0';
	r = jobclient_message(jc, &f, why, whysz);
	wbuf_clear(w);
	if (r < 0)
		ck_assert_msg(why[0], "a refusal without a reason");
	return r;
}

static struct wbuf in;
static char why[WIRE_TEXT_MAX + 1];

/* FEED(msg_put_...(&in, ...)): the frame is built into in, then fed. */
static int feed(int put_result)
{
	ck_assert_int_eq(put_result, 0);
	return feed_buf(&in, why, sizeof(why));
}
#define FEED(put) feed(put)

/* The next frame the client sent: its type and body (borrowed from out). */
static struct wbuf sent(uint16_t type)
{
	struct frame f;

	ck_assert_int_eq(frame_next(&out, &f), 0);
	ck_assert_uint_eq(f.type, type);
	return f.body;
}

static void nothing_sent(void)
{
	ck_assert_uint_eq(wbuf_len(&out), 0);
}

static uint32_t sent_cancel(void)
{
	struct wbuf b = sent(MSG_JOB_CANCEL);
	uint32_t job;

	ck_assert_int_eq(msg_decode_u32(&b, &job), 0);
	return job;
}

static void expect_events(int n)
{
	ck_assert_int_eq(T.n, n);
}

/* A raw frame of type with body bytes (for bodies no encoder makes). */
static int put_raw(struct wbuf *w, uint16_t type, const void *body, size_t n)
{
	size_t mark;
	int r = msg_begin(w, type, &mark);

	if (r == 0 && (r = wbuf_put(w, body, n)) < 0)
		msg_cancel(w, mark);
	return r < 0 ? r : msg_finish(w, mark);
}

START_TEST(test_run_to_end)
{
	struct msg_run run;
	struct wbuf b;

	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(jobclient_run(jc, 7, "iris.sealed predict -d /dataset"), 0);
	b = sent(MSG_RUN);
	ck_assert_int_eq(msg_decode_run(&b, &run), 0);
	ck_assert_uint_eq(run.req, 7);
	ck_assert_str_eq(run.line, "iris.sealed predict -d /dataset");
	/* The same request twice is the caller's mistake. */
	ck_assert_int_eq(jobclient_run(jc, 7, "again"), -EEXIST);
	nothing_sent();

	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 7, 42, 0, "started")), 0);
	expect_events(1);
	ck_assert_int_eq(T.ev[0].kind, EV_STARTED);
	ck_assert_uint_eq(T.ev[0].req, 7);
	ck_assert_uint_eq(T.ev[0].job, 42);
	ck_assert_str_eq(T.ev[0].text, "started");
	ck_assert(jobclient_following(jc, 1000));
	ck_assert_uint_eq(jobclient_count(jc), 1);

	/* Its log and states reach the caller under the tag. */
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_RUNNING, 0, "")), 0);
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 1, "hello\n", 6)), 0);
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 2, "oops\n", 5)), 0);
	expect_events(3);
	ck_assert_int_eq(T.ev[1].kind, EV_LOG);
	ck_assert_uint_eq(T.ev[1].tag, 1000);
	ck_assert_uint_eq(T.ev[1].stream, 1);
	ck_assert_str_eq(T.ev[1].text, "hello\n");
	ck_assert_uint_eq(T.ev[2].stream, 2);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_EXITED, 3, "exited with 3")), 0);
	expect_events(4);
	ck_assert_int_eq(T.ev[3].kind, EV_ENDED);
	ck_assert_uint_eq(T.ev[3].tag, 1000);
	ck_assert_uint_eq(T.ev[3].state, JOB_EXITED);
	ck_assert_int_eq(T.ev[3].code, 3);
	ck_assert_str_eq(T.ev[3].text, "exited with 3");
	ck_assert_uint_eq(jobclient_count(jc), 0);

	/* Out of order after its end: ignored, not a violation. */
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 1, "late", 4)), 0);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_KILLED, 9, "killed")), 0);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_RUNNING, 0, "")), 0);
	expect_events(4);
	/* The request was answered: a second reply answers nothing. */
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 7, 43, 0, "")), -EPROTO);
	ck_assert_ptr_nonnull(strstr(why, "not pending"));
	expect_events(4);
	nothing_sent();
	wbuf_release(&in);
}
END_TEST

START_TEST(test_refused)
{
	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(jobclient_run(jc, 1, "nope.sealed"), 0);
	(void)sent(MSG_RUN);
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 1, 0, EBUSY, "job limit reached")), 0);
	expect_events(1);
	ck_assert_int_eq(T.ev[0].kind, EV_REFUSED);
	ck_assert_uint_eq(T.ev[0].req, 1);
	ck_assert_int_eq(T.ev[0].err, EBUSY);
	ck_assert_str_eq(T.ev[0].text, "job limit reached");
	ck_assert_uint_eq(jobclient_count(jc), 0);
	/* The request id is free again. */
	ck_assert_int_eq(jobclient_run(jc, 1, "nope.sealed"), 0);
	(void)sent(MSG_RUN);
	nothing_sent();
	wbuf_release(&in);
}
END_TEST

/* A reply to nothing asked, or naming a job that is followed already, is
 * the enclave's violation; a job nobody wants is cancelled. */
START_TEST(test_hostile_replies)
{
	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 99, 5, 0, "")), -EPROTO);
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 99, 0, EINVAL, "")), -EPROTO);
	expect_events(0);
	nothing_sent();

	ck_assert_int_eq(jobclient_run(jc, 1, "a.sealed"), 0);
	ck_assert_int_eq(jobclient_run(jc, 2, "b.sealed"), 0);
	(void)sent(MSG_RUN);
	(void)sent(MSG_RUN);
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 2, 42, 0, "")), 0);
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 1, 42, 0, "")), -EPROTO);
	ck_assert_ptr_nonnull(strstr(why, "42"));
	expect_events(1);
	ck_assert_uint_eq(jobclient_count(jc), 1);

	/* The caller does not want the job (its writer went away). */
	ck_assert_int_eq(jobclient_run(jc, 3, "c.sealed"), 0);
	(void)sent(MSG_RUN);
	T.started_ret = -ECANCELED;
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 3, 43, 0, "")), 0);
	ck_assert_uint_eq(sent_cancel(), 43);
	nothing_sent();
	ck_assert_uint_eq(jobclient_count(jc), 1);
	/* So its log and end are another host's. */
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 43, 1, "x", 1)), 0);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 43, JOB_CANCELLED, 0, "cancelled")), 0);
	expect_events(2);
	wbuf_release(&in);
}
END_TEST

/* Jobs this host does not follow: another host's, or made-up ids. */
START_TEST(test_unknown_jobs)
{
	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 7, 1, "someone else's", 14)), 0);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 7, JOB_EXITED, 0, "")), 0);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 0xffffffffu, JOB_FAILED, EIO, "")), 0);
	expect_events(0);
	nothing_sent();
	ck_assert_int_eq(jobclient_cancel(jc, 7), -ESRCH);
	nothing_sent();
	wbuf_release(&in);
}
END_TEST

/* Malformed bodies and messages only a host sends: refused with a reason,
 * no callback, nothing sent, the state unchanged. */
START_TEST(test_hostile_frames)
{
	uint8_t *big = calloc(1, JOB_LOG_MAX + 1);
	uint8_t body[16] = { 0 };

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', JOB_LOG_MAX + 1);
	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(jobclient_follow(jc, 42, 1), 0);

	/* An oversize log, even for a followed job. */
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 1, big, JOB_LOG_MAX + 1)), -EINVAL);
	ck_assert_str_eq(why, "bad JOB_LOG");
	/* The largest one is fine. */
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 1, big, JOB_LOG_MAX)), 0);
	ck_assert_uint_eq(T.ev[0].len, JOB_LOG_MAX);
	T.n = 0;
	/* A stream that is neither stdout nor stderr; an empty log. */
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 42, 3, "x", 1)), -EINVAL);
	ck_assert_int_eq(FEED(put_raw(&in, MSG_JOB_LOG, "\x2a\0\0\0\1", 5)), -EINVAL);
	/* JOB_LOST is the host's verdict, never sent; state 0; job 0. */
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_LOST, 0, "")), -EINVAL);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, 0, 0, "")), -EINVAL);
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 0, JOB_EXITED, 0, "")), -EINVAL);
	/* Truncated bodies. */
	ck_assert_int_eq(FEED(put_raw(&in, MSG_JOB_STATE, body, 5)), -EBADMSG);
	ck_assert_int_eq(FEED(put_raw(&in, MSG_RUN_REPLY, body, 3)), -EBADMSG);
	ck_assert_int_eq(FEED(put_raw(&in, MSG_JOBS, body, 16)), -EBADMSG);
	/* A reply that both started and refused. */
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 1, 5, EINVAL, "")), -EINVAL);
	/* STATUS that is not a JSON object. */
	ck_assert_int_eq(FEED(msg_put_status(&in, "[1]", 3)), -EINVAL);
	/* What only a host sends. */
	ck_assert_int_eq(FEED(msg_put_run(&in, 1, "x.sealed")), -EPROTO);
	ck_assert_str_eq(why, "RUN from the enclave");
	ck_assert_int_eq(FEED(msg_put_u32(&in, MSG_JOB_CANCEL, 42)), -EPROTO);
	ck_assert_str_eq(why, "JOB_CANCEL from the enclave");
	ck_assert_int_eq(FEED(msg_put_aws_creds(&in, "{}", 2)), -EPROTO);
	ck_assert_str_eq(why, "AWS_CREDS from the enclave");
	/* A type of the application's range that it does not define. */
	ck_assert_int_eq(FEED(put_raw(&in, MSG_AWS_CREDS + 1, body, 4)), -ENOTSUP);
	ck_assert_int_eq(FEED(put_raw(&in, MSG_APP_LAST, body, 0)), -ENOTSUP);

	expect_events(0);
	nothing_sent();
	ck_assert(jobclient_following(jc, 1));
	ck_assert_uint_eq(jobclient_count(jc), 1);
	/* The job is still followed as before. */
	ck_assert_int_eq(FEED(msg_put_job_state(&in, 42, JOB_TIMEOUT, 0, "timed out")), 0);
	expect_events(1);
	ck_assert_uint_eq(T.ev[0].state, JOB_TIMEOUT);
	wbuf_release(&in);
	free(big);
}
END_TEST

START_TEST(test_status_and_packages)
{
	static const uint8_t digest[32] = { 1, 2, 3 };

	wbuf_init(&in, 1u << 20);
	ck_assert_int_eq(FEED(msg_put_status(&in, " {\"isolation\":\"dev\"}\n", 21)), 0);
	ck_assert_int_eq(FEED(msg_put_pkg_state(&in, "iris.sealed", PKG_READY, 0, digest, "ready")), 0);
	ck_assert_int_eq(FEED(msg_put_pkg_state(&in, "bad.sealed", PKG_FAILED, EBADMSG, digest,
						"tampered")),
			 0);
	/* A package name is one component. */
	ck_assert_int_eq(FEED(msg_put_pkg_state(&in, "a/b", PKG_READY, 0, digest, "")), -EINVAL);
	expect_events(3);
	ck_assert_int_eq(T.ev[0].kind, EV_STATUS);
	ck_assert_uint_eq(T.ev[0].len, 21);
	ck_assert_str_eq(T.ev[0].text, " {\"isolation\":\"dev\"}\n");
	ck_assert_int_eq(T.ev[1].kind, EV_PKG);
	ck_assert_str_eq(T.ev[1].text, "iris.sealed");
	ck_assert_uint_eq(T.ev[1].state, PKG_READY);
	ck_assert_uint_eq(T.ev[2].state, PKG_FAILED);
	ck_assert_int_eq(T.ev[2].err, EBADMSG);
	nothing_sent();
	wbuf_release(&in);
}
END_TEST

/* JOBS names the instance and the jobs it holds; the caller follows those
 * it knows. A conversation's end loses every followed job and forgets the
 * requests and the instance. */
START_TEST(test_held_and_reset)
{
	static const uint8_t inst[JOBS_INSTANCE_LEN] = { 9, 8, 7 };
	static const uint32_t held[] = { 3, 5, 8 };
	uint8_t got[JOBS_INSTANCE_LEN];
	size_t pos = 0;
	uint32_t tag, seen = 0;

	wbuf_init(&in, 1u << 20);
	ck_assert(!jobclient_instance(jc, got));
	ck_assert_int_eq(FEED(msg_put_jobs(&in, inst, held, 3)), 0);
	expect_events(1);
	ck_assert_int_eq(T.ev[0].kind, EV_HELD);
	ck_assert_uint_eq(T.ev[0].n, 3);
	ck_assert(jobclient_instance(jc, got));
	ck_assert_mem_eq(got, inst, sizeof(inst));
	ck_assert_int_eq(jobclient_follow(jc, 3, 30), 0);
	ck_assert_int_eq(jobclient_follow(jc, 5, 50), 0);
	ck_assert_int_eq(jobclient_follow(jc, 5, 51), -EEXIST);
	ck_assert_int_eq(jobclient_follow(jc, 6, 50), -EEXIST);
	while (jobclient_next(jc, &pos, &tag))
		seen += tag;
	ck_assert_uint_eq(seen, 80);

	/* Cancel once; the job stays followed until it ends. */
	ck_assert_int_eq(jobclient_cancel(jc, 50), 0);
	ck_assert_uint_eq(sent_cancel(), 5);
	ck_assert_int_eq(jobclient_cancel(jc, 50), -EALREADY);
	nothing_sent();
	ck_assert(jobclient_following(jc, 50));
	ck_assert_int_eq(FEED(msg_put_job_log(&in, 3, 1, "on", 2)), 0);
	ck_assert_uint_eq(T.ev[1].tag, 30);

	ck_assert_int_eq(jobclient_run(jc, 4, "x.sealed"), 0);
	(void)sent(MSG_RUN);
	jobclient_reset(jc, "the enclave went away");
	expect_events(4);
	for (int i = 2; i < 4; i++) {
		ck_assert_int_eq(T.ev[i].kind, EV_ENDED);
		ck_assert_uint_eq(T.ev[i].state, JOB_LOST);
		ck_assert_str_eq(T.ev[i].text, "the enclave went away");
	}
	ck_assert_uint_eq(T.ev[2].tag + T.ev[3].tag, 80);
	ck_assert_uint_eq(jobclient_count(jc), 0);
	ck_assert(!jobclient_instance(jc, got));
	/* The request died with the conversation. */
	ck_assert_int_eq(FEED(msg_put_run_reply(&in, 4, 11, 0, "")), -EPROTO);
	/* A JOBS with no job, a zero instance, a descending list. */
	ck_assert_int_eq(FEED(msg_put_jobs(&in, inst, NULL, 0)), 0);
	ck_assert_int_eq(FEED(msg_put_jobs(&in, (const uint8_t[JOBS_INSTANCE_LEN]){ 0 }, held, 3)),
			 -EINVAL);
	ck_assert_int_eq(FEED(msg_put_jobs(&in, inst, (const uint32_t[]){ 5, 3 }, 2)), -EINVAL);
	expect_events(5);
	nothing_sent();
	wbuf_release(&in);
}
END_TEST

START_TEST(test_run_limits)
{
	char *line = malloc(RUN_LINE_MAX + 2);

	ck_assert_ptr_nonnull(line);
	memset(line, 'a', RUN_LINE_MAX + 1);
	line[RUN_LINE_MAX + 1] = '\0';
	ck_assert_int_eq(jobclient_run(jc, 1, line), -E2BIG);
	nothing_sent();
	line[RUN_LINE_MAX] = '\0';
	ck_assert_int_eq(jobclient_run(jc, 1, line), 0);
	(void)sent(MSG_RUN);
	free(line);
}
END_TEST

START_TEST(test_exit_status)
{
	ck_assert_int_eq(jobclient_exit_status(JOB_EXITED, 0, 0), 0);
	ck_assert_int_eq(jobclient_exit_status(JOB_EXITED, 0x1ff, 0), 0xff);
	ck_assert_int_eq(jobclient_exit_status(JOB_KILLED, SIGKILL, 0), 128 + SIGKILL);
	ck_assert_int_eq(jobclient_exit_status(JOB_TIMEOUT, 0, 0), JOB_EXIT_TIMEOUT);
	ck_assert_int_eq(jobclient_exit_status(JOB_CANCELLED, 0, 0), JOB_EXIT_CANCELLED);
	ck_assert_int_eq(jobclient_exit_status(JOB_CANCELLED, 0, SIGTERM), 128 + SIGTERM);
	ck_assert_int_eq(jobclient_exit_status(JOB_FAILED, ENOENT, 0), JOB_EXIT_FAILED);
	ck_assert_int_eq(jobclient_exit_status(JOB_LOST, 0, 0), JOB_EXIT_LOST);
	ck_assert_int_eq(jobclient_exit_status(99, 0, 0), JOB_EXIT_FAILED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jobclient");
	TCase *tc = tcase_create("client");
	SRunner *sr;
	int failed;

	log_setup("check_jobclient", LOG_CRIT, false);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_run_to_end);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_hostile_replies);
	tcase_add_test(tc, test_unknown_jobs);
	tcase_add_test(tc, test_hostile_frames);
	tcase_add_test(tc, test_status_and_packages);
	tcase_add_test(tc, test_held_and_reset);
	tcase_add_test(tc, test_run_limits);
	tcase_add_test(tc, test_exit_status);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
