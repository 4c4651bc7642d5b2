/* The package and job messages (STATUS, PKG_STATE, RUN, RUN_REPLY,
 * JOB_STATE, JOB_LOG, JOB_CANCEL, JOBS): round trips through frames, and hostile
 * bodies (truncated, trailing garbage, oversized, out-of-range, embedded
 * NUL). A failed decode must consume nothing and leave its message zeroed. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/appmsg.h"

union app_msg {
	struct {
		const uint8_t *json;
		size_t len;
	} status;
	struct msg_pkg_state ps;
	struct msg_run run;
	struct msg_run_reply rr;
	struct msg_job_state js;
	struct msg_job_log jl;
	struct msg_jobs jobs;
	uint32_t job;
};

static const uint16_t app_types[] = { MSG_STATUS,    MSG_PKG_STATE, MSG_RUN,       MSG_RUN_REPLY,
				      MSG_JOB_STATE, MSG_JOB_LOG,   MSG_JOB_CANCEL, MSG_JOBS,
				      MSG_AWS_CREDS };

static int decode_app(uint16_t type, struct wbuf *b, union app_msg *m)
{
	switch (type) {
	case MSG_STATUS: return msg_decode_status(b, &m->status.json, &m->status.len);
	case MSG_PKG_STATE: return msg_decode_pkg_state(b, &m->ps);
	case MSG_RUN: return msg_decode_run(b, &m->run);
	case MSG_RUN_REPLY: return msg_decode_run_reply(b, &m->rr);
	case MSG_JOB_STATE: return msg_decode_job_state(b, &m->js);
	case MSG_JOB_LOG: return msg_decode_job_log(b, &m->jl);
	case MSG_JOB_CANCEL: return msg_decode_u32(b, &m->job);
	case MSG_JOBS: return msg_decode_jobs(b, &m->jobs);
	case MSG_AWS_CREDS: return msg_decode_aws_creds(b, &m->status.json, &m->status.len);
	}
	ck_abort_msg("no decoder for type %u", type);
	return -EINVAL;
}

/* The bytes of the union that the decoder of `type` writes. */
static size_t app_size(uint16_t type)
{
	switch (type) {
	case MSG_STATUS:
	case MSG_AWS_CREDS: return sizeof(((union app_msg *)0)->status);
	case MSG_PKG_STATE: return sizeof(struct msg_pkg_state);
	case MSG_RUN: return sizeof(struct msg_run);
	case MSG_RUN_REPLY: return sizeof(struct msg_run_reply);
	case MSG_JOB_STATE: return sizeof(struct msg_job_state);
	case MSG_JOB_LOG: return sizeof(struct msg_job_log);
	case MSG_JOBS: return sizeof(struct msg_jobs);
	default: return sizeof(uint32_t);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* Decodes body[0..n) placed after three bytes already consumed. A failure
 * must leave the offset where it was and the message zeroed. */
static int decode_checked(uint16_t type, const void *body, size_t n, union app_msg *m)
{
	uint8_t *copy = malloc(n + 3);
	struct wbuf b;
	int r;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, "pre", 3);
	if (n)
		memcpy(copy + 3, body, n);
	wbuf_from(&b, copy, n + 3);
	b.off = 3;
	memset(m, 0xa5, sizeof(*m));
	r = decode_app(type, &b, m);
	if (r < 0) {
		ck_assert_msg(b.off == 3, "%s: a failed decode consumed %zu bytes",
			      appmsg_type_name(type), b.off - 3);
		ck_assert_msg(all_zero(m, app_size(type)), "%s: a failed decode left fields behind",
			      appmsg_type_name(type));
	} else {
		ck_assert_msg(b.off == b.len, "%s: decoded without consuming everything",
			      appmsg_type_name(type));
	}
	free(copy);
	return r;
}

/* Body builder for hostile input: strings carry any bytes and any length. */
struct body {
	struct wbuf w;
};

static void body_init(struct body *b)
{
	wbuf_init(&b->w, 1 << 21);
}

static void put_u8(struct body *b, uint8_t v)
{
	ck_assert_int_eq(wbuf_put_u8(&b->w, v), 0);
}

static void put_u32(struct body *b, uint32_t v)
{
	ck_assert_int_eq(wbuf_put_u32(&b->w, v), 0);
}

static void put_raw(struct body *b, const void *p, size_t n)
{
	ck_assert_int_eq(wbuf_put(&b->w, p, n), 0);
}

/* A u16-length string of n bytes, all `fill` (or the bytes of s when given). */
static void put_str(struct body *b, const char *s, size_t n, char fill)
{
	ck_assert_int_eq(wbuf_put_u16(&b->w, (uint16_t)n), 0);
	for (size_t i = 0; i < n; i++)
		put_u8(b, (uint8_t)(s ? s[i] : fill));
}

static int body_decode(struct body *b, uint16_t type, union app_msg *m)
{
	int r = decode_checked(type, wbuf_ptr(&b->w), wbuf_len(&b->w), m);

	wbuf_clear(&b->w);
	return r;
}

static void pkg_state_body(struct body *b, const char *name, size_t namelen, uint8_t state,
			   uint32_t err, size_t textlen)
{
	static const uint8_t digest[32] = { 1, 2, 3 };

	put_str(b, name, namelen, 'n');
	put_u8(b, state);
	put_u32(b, err);
	put_raw(b, digest, sizeof(digest));
	put_str(b, NULL, textlen, 't');
}

static void job_state_body(struct body *b, uint32_t job, uint8_t state, const char *text,
			   size_t textlen)
{
	put_u32(b, job);
	put_u8(b, state);
	put_u32(b, 0);
	put_str(b, text, textlen, 't');
}

/* Takes the single frame in o, checks its type, and returns its body. */
static struct wbuf one_frame(struct wbuf *o, uint16_t type)
{
	struct frame f;

	ck_assert_int_eq(frame_next(o, &f), 0);
	ck_assert_uint_eq(f.type, type);
	ck_assert_uint_eq(wbuf_len(o), 0);
	return f.body;
}

START_TEST(test_roundtrips)
{
	static const char json[] = "{\"isolation\":\"dev\",\"version\":\"1\",\"max_jobs\":4}";
	uint8_t digest[32], *log = malloc(JOB_LOG_MAX);
	char *line = malloc(RUN_LINE_MAX + 1), text[WIRE_TEXT_MAX + 1];
	union app_msg *m = malloc(sizeof(*m));
	struct wbuf o, b;

	ck_assert(log && line && m);
	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)(0xc0 + i);
	memset(text, 'm', WIRE_TEXT_MAX);
	text[WIRE_TEXT_MAX] = '\0';
	wbuf_init(&o, 1 << 20);

	ck_assert_int_eq(msg_put_status(&o, json, strlen(json)), 0);
	b = one_frame(&o, MSG_STATUS);
	ck_assert_int_eq(msg_decode_status(&b, &m->status.json, &m->status.len), 0);
	ck_assert_uint_eq(m->status.len, strlen(json));
	ck_assert_mem_eq(m->status.json, json, strlen(json));

	for (uint8_t st = PKG_RECEIVED; st <= PKG_REMOVED; st++) {
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_pkg_state(&o, "demo.sealed", st, -EACCES, digest, text),
				 0);
		b = one_frame(&o, MSG_PKG_STATE);
		ck_assert_int_eq(msg_decode_pkg_state(&b, &m->ps), 0);
		ck_assert_str_eq(m->ps.name, "demo.sealed");
		ck_assert_uint_eq(m->ps.state, st);
		ck_assert_uint_eq(m->ps.err, EACCES);
		ck_assert_mem_eq(m->ps.digest, digest, 32);
		ck_assert_str_eq(m->ps.text, text);
	}

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_run(&o, 77, "demo.sealed hello a \"b c\""), 0);
	b = one_frame(&o, MSG_RUN);
	ck_assert_int_eq(msg_decode_run(&b, &m->run), 0);
	ck_assert_uint_eq(m->run.req, 77);
	ck_assert_str_eq(m->run.line, "demo.sealed hello a \"b c\"");
	/* The longest line a u16 length can carry. */
	memset(line, 'x', RUN_LINE_MAX);
	line[RUN_LINE_MAX] = '\0';
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_run(&o, 1, line), 0);
	b = one_frame(&o, MSG_RUN);
	ck_assert_int_eq(msg_decode_run(&b, &m->run), 0);
	ck_assert_uint_eq(strlen(m->run.line), RUN_LINE_MAX);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_run_reply(&o, 77, 12, 0, "started"), 0);
	b = one_frame(&o, MSG_RUN_REPLY);
	ck_assert_int_eq(msg_decode_run_reply(&b, &m->rr), 0);
	ck_assert_uint_eq(m->rr.req, 77);
	ck_assert_uint_eq(m->rr.job, 12);
	ck_assert_uint_eq(m->rr.err, 0);
	ck_assert_str_eq(m->rr.text, "started");
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_run_reply(&o, 78, 0, -ENOENT, "no such package"), 0);
	b = one_frame(&o, MSG_RUN_REPLY);
	ck_assert_int_eq(msg_decode_run_reply(&b, &m->rr), 0);
	ck_assert_uint_eq(m->rr.job, 0);
	ck_assert_uint_eq(m->rr.err, ENOENT);

	for (uint8_t st = JOB_RUNNING; st <= JOB_FAILED; st++) {
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_job_state(&o, 12, st, -1, "done"), 0);
		b = one_frame(&o, MSG_JOB_STATE);
		ck_assert_int_eq(msg_decode_job_state(&b, &m->js), 0);
		ck_assert_uint_eq(m->js.job, 12);
		ck_assert_uint_eq(m->js.state, st);
		ck_assert_int_eq(m->js.code, -1);
		ck_assert_str_eq(m->js.text, "done");
	}

	for (uint8_t stream = 1; stream <= 2; stream++) {
		for (size_t i = 0; i < JOB_LOG_MAX; i++)
			log[i] = (uint8_t)(i * 7 + stream);
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_job_log(&o, 12, stream, log, JOB_LOG_MAX), 0);
		b = one_frame(&o, MSG_JOB_LOG);
		ck_assert_int_eq(msg_decode_job_log(&b, &m->jl), 0);
		ck_assert_uint_eq(m->jl.job, 12);
		ck_assert_uint_eq(m->jl.stream, stream);
		ck_assert_uint_eq(m->jl.len, JOB_LOG_MAX);
		ck_assert_mem_eq(m->jl.p, log, JOB_LOG_MAX);
	}
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_job_log(&o, 12, 2, "\0", 1), 0);
	b = one_frame(&o, MSG_JOB_LOG);
	ck_assert_int_eq(msg_decode_job_log(&b, &m->jl), 0);
	ck_assert_uint_eq(m->jl.len, 1);
	ck_assert_uint_eq(m->jl.p[0], 0);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_u32(&o, MSG_JOB_CANCEL, 12), 0);
	b = one_frame(&o, MSG_JOB_CANCEL);
	ck_assert_int_eq(msg_decode_u32(&b, &m->job), 0);
	ck_assert_uint_eq(m->job, 12);

	{
		static const uint8_t inst[JOBS_INSTANCE_LEN] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
		uint32_t *ids = malloc(JOBS_MAX * sizeof(*ids));

		ck_assert_ptr_nonnull(ids);
		for (uint32_t i = 0; i < JOBS_MAX; i++)
			ids[i] = 3 * i + 1;
		for (uint32_t n = 0; n <= JOBS_MAX; n += JOBS_MAX / 2 + 1) {
			wbuf_clear(&o);
			ck_assert_int_eq(msg_put_jobs(&o, inst, ids, n), 0);
			b = one_frame(&o, MSG_JOBS);
			ck_assert_int_eq(msg_decode_jobs(&b, &m->jobs), 0);
			ck_assert_mem_eq(m->jobs.instance, inst, JOBS_INSTANCE_LEN);
			ck_assert_uint_eq(m->jobs.n, n);
			if (n)
				ck_assert_mem_eq(m->jobs.job, ids, n * sizeof(*ids));
		}
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_jobs(&o, inst, ids, JOBS_MAX), 0);
		b = one_frame(&o, MSG_JOBS);
		ck_assert_int_eq(msg_decode_jobs(&b, &m->jobs), 0);
		ck_assert_uint_eq(m->jobs.job[JOBS_MAX - 1], 3 * (JOBS_MAX - 1) + 1);
		/* The encoder refuses a list over the limit and writes nothing. */
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_jobs(&o, inst, ids, JOBS_MAX + 1), -EMSGSIZE);
		ck_assert_uint_eq(wbuf_len(&o), 0);
		free(ids);
	}

	wbuf_release(&o);
	free(log);
	free(line);
	free(m);
}
END_TEST

/* Every strict prefix of every valid body is refused without consuming
 * anything; so is the body with a trailing byte. JOB_LOG carries its bytes
 * to the end of the body: a longer prefix is a shorter log there. */
START_TEST(test_truncated_and_trailing)
{
	static const uint8_t digest[32] = { 9 };
	union app_msg *m = malloc(sizeof(*m));
	struct wbuf o;
	struct frame f;
	int seen = 0;

	ck_assert_ptr_nonnull(m);
	wbuf_init(&o, 1 << 20);
	ck_assert_int_eq(msg_put_status(&o, "{}", 2), 0);
	ck_assert_int_eq(msg_put_pkg_state(&o, "p.sealed", PKG_READY, 0, digest, "ready"), 0);
	ck_assert_int_eq(msg_put_run(&o, 1, "p.sealed main x"), 0);
	ck_assert_int_eq(msg_put_run_reply(&o, 1, 2, 0, "ok"), 0);
	ck_assert_int_eq(msg_put_run_reply(&o, 1, 0, EBUSY, "busy"), 0);
	ck_assert_int_eq(msg_put_job_state(&o, 2, JOB_EXITED, 3, "exit 3"), 0);
	ck_assert_int_eq(msg_put_job_log(&o, 2, 1, "hello\n", 6), 0);
	ck_assert_int_eq(msg_put_u32(&o, MSG_JOB_CANCEL, 2), 0);
	ck_assert_int_eq(msg_put_jobs(&o, (const uint8_t[JOBS_INSTANCE_LEN]){ 7 }, (const uint32_t[]){ 2, 5 }, 2),
			 0);
	ck_assert_int_eq(msg_put_aws_creds(&o, "{\"access_key_id\":\"A\"}", 21), 0);

	while (frame_next(&o, &f) == 0) {
		size_t n = wbuf_len(&f.body);
		uint8_t *copy = malloc(n + 1);

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, wbuf_ptr(&f.body), n);
		ck_assert_msg(decode_checked(f.type, copy, n, m) == 0, "%s does not decode",
			      appmsg_type_name(f.type));
		for (size_t cut = 0; cut < n; cut++) {
			if (f.type == MSG_JOB_LOG && cut > 5)
				continue;
			ck_assert_msg(decode_checked(f.type, copy, cut, m) < 0,
				      "%s accepted %zu of %zu bytes", appmsg_type_name(f.type), cut,
				      n);
		}
		if (f.type != MSG_JOB_LOG) {
			copy[n] = '}';
			ck_assert_msg(decode_checked(f.type, copy, n + 1, m) == -EBADMSG,
				      "%s accepted trailing garbage", appmsg_type_name(f.type));
		}
		free(copy);
		seen |= 1 << (f.type - MSG_STATUS);
	}
	ck_assert_int_eq(seen, (1 << (sizeof(app_types) / sizeof(app_types[0]))) - 1);
	wbuf_release(&o);
	free(m);
}
END_TEST

START_TEST(test_status)
{
	static const char *const not_objects[] = { "[1,2]", "\"text\"", "42", "null", "{", "}",
						   "{\"a\":1", " \t\n", "x{}", "{}x", "}{" };
	union app_msg *m = malloc(sizeof(*m));
	char *big = malloc(STATUS_MAX + 1);
	struct body b;

	ck_assert(m && big);
	body_init(&b);
	/* JSON whitespace around the object is fine. */
	put_u32(&b, 8);
	put_raw(&b, " \r\n{}\t\n ", 8);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), 0);
	ck_assert_uint_eq(m->status.len, 8);

	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		put_u32(&b, (uint32_t)strlen(not_objects[i]));
		put_raw(&b, not_objects[i], strlen(not_objects[i]));
		ck_assert_msg(body_decode(&b, MSG_STATUS, m) == -EINVAL, "STATUS accepted '%s'",
			      not_objects[i]);
	}
	/* Empty, and an embedded NUL. */
	put_u32(&b, 0);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), -EINVAL);
	put_u32(&b, 5);
	put_raw(&b, "{\"\0\"}", 5);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), -EINVAL);

	/* Exactly STATUS_MAX bytes, then one more. */
	memset(big, ' ', STATUS_MAX + 1);
	big[0] = '{';
	big[STATUS_MAX - 1] = '}';
	put_u32(&b, STATUS_MAX);
	put_raw(&b, big, STATUS_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), 0);
	big[STATUS_MAX - 1] = ' ';
	big[STATUS_MAX] = '}';
	put_u32(&b, STATUS_MAX + 1);
	put_raw(&b, big, STATUS_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), -EMSGSIZE);
	/* A length beyond the body, and one far beyond any limit. */
	put_u32(&b, 10);
	put_raw(&b, "{}", 2);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), -EBADMSG);
	put_u32(&b, UINT32_MAX);
	put_raw(&b, "{}", 2);
	ck_assert_int_eq(body_decode(&b, MSG_STATUS, m), -EMSGSIZE);

	wbuf_release(&b.w);
	free(big);
	free(m);
}
END_TEST

/* AWS_CREDS: an object of at most AWS_CREDS_MSG_MAX bytes, sent by the host
 * only. */
START_TEST(test_aws_creds)
{
	union app_msg *m = malloc(sizeof(*m));
	char *big = malloc(AWS_CREDS_MSG_MAX + 1);
	char why[128];
	struct body b;

	ck_assert(m && big);
	body_init(&b);
	put_u32(&b, 2);
	put_raw(&b, "{}", 2);
	ck_assert_int_eq(body_decode(&b, MSG_AWS_CREDS, m), 0);
	put_u32(&b, 4);
	put_raw(&b, "[{}]", 4);
	ck_assert_int_eq(body_decode(&b, MSG_AWS_CREDS, m), -EINVAL);
	memset(big, ' ', AWS_CREDS_MSG_MAX + 1);
	big[0] = '{';
	big[AWS_CREDS_MSG_MAX - 1] = '}';
	put_u32(&b, AWS_CREDS_MSG_MAX);
	put_raw(&b, big, AWS_CREDS_MSG_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_AWS_CREDS, m), 0);
	big[AWS_CREDS_MSG_MAX - 1] = ' ';
	big[AWS_CREDS_MSG_MAX] = '}';
	put_u32(&b, AWS_CREDS_MSG_MAX + 1);
	put_raw(&b, big, AWS_CREDS_MSG_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_AWS_CREDS, m), -EMSGSIZE);
	ck_assert_int_eq(appmsg_check(MSG_AWS_CREDS, ROLE_HOST, why, sizeof(why)), 0);
	ck_assert_int_eq(appmsg_check(MSG_AWS_CREDS, ROLE_ENCLAVE, why, sizeof(why)), -EPROTO);
	wbuf_release(&b.w);
	free(big);
	free(m);
}
END_TEST

START_TEST(test_pkg_state)
{
	static const char *const bad_names[] = { "", ".", "..", "a/b", "encrypted/p.sealed", "/p",
						 "p/" };
	union app_msg *m = malloc(sizeof(*m));
	struct body b;

	ck_assert_ptr_nonnull(m);
	body_init(&b);
	/* A package name is one path component: up to 255 bytes. */
	pkg_state_body(&b, NULL, 255, PKG_READY, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), 0);
	ck_assert_uint_eq(strlen(m->ps.name), 255);
	pkg_state_body(&b, NULL, 256, PKG_READY, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);
	pkg_state_body(&b, NULL, 257, PKG_READY, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EMSGSIZE);
	pkg_state_body(&b, NULL, UINT16_MAX, PKG_READY, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EMSGSIZE);
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		pkg_state_body(&b, bad_names[i], strlen(bad_names[i]), PKG_READY, 0, 0);
		ck_assert_msg(body_decode(&b, MSG_PKG_STATE, m) == -EINVAL, "accepted name '%s'",
			      bad_names[i]);
	}
	pkg_state_body(&b, "p\0q", 3, PKG_READY, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EBADMSG);

	/* States 1..5 only; errno up to 4095. */
	pkg_state_body(&b, "p", 1, 0, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);
	pkg_state_body(&b, "p", 1, PKG_REMOVED + 1, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);
	pkg_state_body(&b, "p", 1, 255, 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);
	pkg_state_body(&b, "p", 1, PKG_FAILED, 4095, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), 0);
	pkg_state_body(&b, "p", 1, PKG_FAILED, 4096, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);
	pkg_state_body(&b, "p", 1, PKG_FAILED, UINT32_MAX, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EINVAL);

	/* The message: up to WIRE_TEXT_MAX bytes, no NUL. */
	pkg_state_body(&b, "p", 1, PKG_READY, 0, WIRE_TEXT_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), 0);
	pkg_state_body(&b, "p", 1, PKG_READY, 0, WIRE_TEXT_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EMSGSIZE);
	put_str(&b, "p", 1, 0);
	put_u8(&b, PKG_READY);
	put_u32(&b, 0);
	put_raw(&b, (uint8_t[32]){ 0 }, 32);
	put_str(&b, "ok\0no", 5, 0);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EBADMSG);

	/* A digest cut short. */
	put_str(&b, "p", 1, 0);
	put_u8(&b, PKG_READY);
	put_u32(&b, 0);
	put_raw(&b, (uint8_t[31]){ 0 }, 31);
	ck_assert_int_eq(body_decode(&b, MSG_PKG_STATE, m), -EBADMSG);

	wbuf_release(&b.w);
	free(m);
}
END_TEST

START_TEST(test_run)
{
	union app_msg *m = malloc(sizeof(*m));
	struct body b;

	ck_assert_ptr_nonnull(m);
	body_init(&b);
	/* An empty line is a job-line error for the enclave, not a malformed frame. */
	put_u32(&b, 1);
	put_str(&b, "", 0, 0);
	ck_assert_int_eq(body_decode(&b, MSG_RUN, m), 0);
	ck_assert_str_eq(m->run.line, "");

	put_u32(&b, 1);
	put_str(&b, "pkg\0rm -rf", 10, 0);
	ck_assert_int_eq(body_decode(&b, MSG_RUN, m), -EBADMSG);
	/* A length beyond the body. */
	put_u32(&b, 1);
	ck_assert_int_eq(wbuf_put_u16(&b.w, UINT16_MAX), 0);
	put_raw(&b, "pkg", 3);
	ck_assert_int_eq(body_decode(&b, MSG_RUN, m), -EBADMSG);
	/* No room for a length at all. */
	put_u32(&b, 1);
	put_u8(&b, 0);
	ck_assert_int_eq(body_decode(&b, MSG_RUN, m), -EBADMSG);

	wbuf_release(&b.w);
	free(m);
}
END_TEST

START_TEST(test_run_reply)
{
	/* { job, errno, expected } */
	static const uint32_t cases[][3] = {
		{ 5, 0, 0 },           { 0, EPERM, 0 },       { 0, 4095, 0 },
		{ 0, 0, EINVAL },      { 5, EPERM, EINVAL },  { 0, 4096, EINVAL },
		{ 0, UINT32_MAX, EINVAL },
	};
	union app_msg *m = malloc(sizeof(*m));
	struct body b;

	ck_assert_ptr_nonnull(m);
	body_init(&b);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_u32(&b, 1);
		put_u32(&b, cases[i][0]);
		put_u32(&b, cases[i][1]);
		put_str(&b, "why", 3, 0);
		ck_assert_msg(body_decode(&b, MSG_RUN_REPLY, m) == -(int)cases[i][2],
			      "job %u errno %u", cases[i][0], cases[i][1]);
	}
	put_u32(&b, 1);
	put_u32(&b, 0);
	put_u32(&b, EINVAL);
	put_str(&b, NULL, WIRE_TEXT_MAX + 1, 'x');
	ck_assert_int_eq(body_decode(&b, MSG_RUN_REPLY, m), -EMSGSIZE);
	put_u32(&b, 1);
	put_u32(&b, 0);
	put_u32(&b, EINVAL);
	put_str(&b, "bad\0", 4, 0);
	ck_assert_int_eq(body_decode(&b, MSG_RUN_REPLY, m), -EBADMSG);

	wbuf_release(&b.w);
	free(m);
}
END_TEST

START_TEST(test_job_state)
{
	union app_msg *m = malloc(sizeof(*m));
	struct body b;

	ck_assert_ptr_nonnull(m);
	body_init(&b);
	/* States 1..6; JOB_LOST is the host's own and never on the wire. */
	job_state_body(&b, 3, 0, "x", 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EINVAL);
	job_state_body(&b, 3, JOB_LOST, "x", 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EINVAL);
	job_state_body(&b, 3, 255, "x", 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EINVAL);
	/* Job 0 is "no job". */
	job_state_body(&b, 0, JOB_EXITED, "x", 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EINVAL);
	job_state_body(&b, 3, JOB_EXITED, NULL, WIRE_TEXT_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), 0);
	job_state_body(&b, 3, JOB_EXITED, NULL, WIRE_TEXT_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EMSGSIZE);
	job_state_body(&b, 3, JOB_EXITED, "a\0b", 3);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_STATE, m), -EBADMSG);

	wbuf_release(&b.w);
	free(m);
}
END_TEST

START_TEST(test_job_log)
{
	union app_msg *m = malloc(sizeof(*m));
	uint8_t *big = calloc(1, JOB_LOG_MAX + 1);
	struct body b;

	ck_assert(m && big);
	body_init(&b);
	/* Empty, one byte over, far over (a whole frame). */
	put_u32(&b, 4);
	put_u8(&b, 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_LOG, m), -EINVAL);
	put_u32(&b, 4);
	put_u8(&b, 1);
	put_raw(&b, big, JOB_LOG_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_LOG, m), -EINVAL);
	put_u32(&b, 4);
	put_u8(&b, 1);
	for (int i = 0; i < 16; i++)
		put_raw(&b, big, JOB_LOG_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_LOG, m), -EINVAL);
	/* Streams 1 (stdout) and 2 (stderr) only. */
	for (unsigned stream = 0; stream < 256; stream++) {
		put_u32(&b, 4);
		put_u8(&b, (uint8_t)stream);
		put_raw(&b, "x", 1);
		ck_assert_int_eq(body_decode(&b, MSG_JOB_LOG, m),
				 stream == 1 || stream == 2 ? 0 : -EINVAL);
	}
	put_u32(&b, 0);
	put_u8(&b, 1);
	put_raw(&b, "x", 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_LOG, m), -EINVAL);

	wbuf_release(&b.w);
	free(big);
	free(m);
}
END_TEST

/* JOB_CANCEL is a bare u32; job 0 names no job and is left to the enclave,
 * which ignores ids it does not run. */
START_TEST(test_job_cancel)
{
	union app_msg *m = malloc(sizeof(*m));
	struct body b;

	ck_assert_ptr_nonnull(m);
	body_init(&b);
	put_u32(&b, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_CANCEL, m), 0);
	put_raw(&b, "\1\0\0", 3);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_CANCEL, m), -EBADMSG);
	put_u32(&b, 1);
	put_u8(&b, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_CANCEL, m), -EBADMSG);
	put_u32(&b, 1);
	put_u32(&b, 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOB_CANCEL, m), -EBADMSG);

	wbuf_release(&b.w);
	free(m);
}
END_TEST

static void jobs_body(struct body *b, uint8_t inst0, uint32_t n, const uint32_t *ids, uint32_t nids)
{
	uint8_t inst[JOBS_INSTANCE_LEN] = { inst0 };

	put_raw(b, inst, sizeof(inst));
	put_u32(b, n);
	for (uint32_t i = 0; i < nids; i++)
		put_u32(b, ids[i]);
}

/* JOBS: a count over JOBS_MAX is refused before the list is read; the list
 * must hold exactly that many ids, none 0, strictly ascending; an all-zero
 * instance is no enclave's. */
START_TEST(test_jobs)
{
	union app_msg *m = malloc(sizeof(*m));
	uint32_t *ids = malloc((JOBS_MAX + 1) * sizeof(*ids));
	struct body b;

	ck_assert(m && ids);
	for (uint32_t i = 0; i <= JOBS_MAX; i++)
		ids[i] = i + 1;
	body_init(&b);
	jobs_body(&b, 1, 0, NULL, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), 0);
	ck_assert_uint_eq(m->jobs.n, 0);
	jobs_body(&b, 1, JOBS_MAX, ids, JOBS_MAX);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), 0);
	/* Over the limit, with the ids present or not, and a count near 2^32. */
	jobs_body(&b, 1, JOBS_MAX + 1, ids, JOBS_MAX + 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EMSGSIZE);
	jobs_body(&b, 1, JOBS_MAX + 1, NULL, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EMSGSIZE);
	jobs_body(&b, 1, UINT32_MAX, ids, 4);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EMSGSIZE);
	jobs_body(&b, 1, 0x40000001u, ids, 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EMSGSIZE);
	/* Fewer or more ids than counted. */
	jobs_body(&b, 1, 3, ids, 2);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EBADMSG);
	jobs_body(&b, 1, 2, ids, 3);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EBADMSG);
	jobs_body(&b, 1, 1, ids, 1);
	put_u8(&b, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EBADMSG);
	/* Job 0, a repeated id, a descending list. */
	jobs_body(&b, 1, 2, (const uint32_t[]){ 0, 4 }, 2);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EINVAL);
	jobs_body(&b, 1, 3, (const uint32_t[]){ 2, 4, 4 }, 3);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EINVAL);
	jobs_body(&b, 1, 2, (const uint32_t[]){ 9, 4 }, 2);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EINVAL);
	jobs_body(&b, 1, 2, (const uint32_t[]){ 1, UINT32_MAX }, 2);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), 0);
	/* The all-zero instance, with and without jobs. */
	jobs_body(&b, 0, 0, NULL, 0);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EINVAL);
	jobs_body(&b, 0, 1, ids, 1);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EINVAL);
	/* A short instance. */
	put_raw(&b, "\1\2\3", 3);
	ck_assert_int_eq(body_decode(&b, MSG_JOBS, m), -EBADMSG);

	wbuf_release(&b.w);
	free(ids);
	free(m);
}
END_TEST

/* Frames of these types pass frame_next whatever their body; a frame with a
 * length over FRAME_MAX_BODY does not, even for JOB_LOG. The sync layer
 * names none of them. */
START_TEST(test_frames)
{
	uint8_t raw[FRAME_HDR_LEN];
	struct wbuf in;
	struct frame f;

	for (size_t i = 0; i < sizeof(app_types) / sizeof(app_types[0]); i++) {
		ck_assert_ptr_nonnull(appmsg_type_name(app_types[i]));
		ck_assert_ptr_null(msg_type_name(app_types[i]));
		ck_assert(msg_type_is_app(app_types[i]));
		le32_put(raw, 0);
		le16_put(raw + 4, app_types[i]);
		le16_put(raw + 6, 0);
		wbuf_from(&in, raw, sizeof(raw));
		ck_assert_int_eq(frame_next(&in, &f), 0);
		ck_assert_uint_eq(f.type, app_types[i]);
		le32_put(raw, FRAME_MAX_BODY + 1);
		wbuf_from(&in, raw, sizeof(raw));
		ck_assert_int_eq(frame_next(&in, &f), -EMSGSIZE);
		ck_assert_uint_eq(in.off, 0);
	}
	/* The rest of the application's range passes the frame reader (the
	 * application refuses it: test_check); the type after it does not. */
	le32_put(raw, 0);
	le16_put(raw + 4, MSG_JOBS + 1);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), 0);
	le16_put(raw + 4, MSG_APP_LAST);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), 0);
	le16_put(raw + 4, MSG_APP_LAST + 1);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), -ENOTSUP);
	ck_assert_uint_eq(in.off, 0);
}
END_TEST

/* Each message has one sender; a type the application does not define is
 * refused whoever sends it, with a reason. */
START_TEST(test_check)
{
	char why[64];

	for (size_t i = 0; i < sizeof(app_types) / sizeof(app_types[0]); i++) {
		uint16_t t = app_types[i];
		bool host = t == MSG_RUN || t == MSG_JOB_CANCEL || t == MSG_AWS_CREDS;
		char want[64];

		ck_assert_int_eq(appmsg_check(t, host ? ROLE_HOST : ROLE_ENCLAVE, why, sizeof(why)), 0);
		ck_assert_int_eq(appmsg_check(t, host ? ROLE_ENCLAVE : ROLE_HOST, why, sizeof(why)),
				 -EPROTO);
		snprintf(want, sizeof(want), "%s from the %s", appmsg_type_name(t),
			 host ? "enclave" : "host");
		ck_assert_str_eq(why, want);
	}
	for (uint32_t t = MSG_AWS_CREDS + 1; t <= MSG_APP_LAST + 1u; t++) {
		ck_assert_ptr_null(appmsg_type_name((uint16_t)t));
		ck_assert_int_eq(appmsg_check((uint16_t)t, ROLE_ENCLAVE, why, sizeof(why)), -ENOTSUP);
		ck_assert_int_eq(appmsg_check((uint16_t)t, ROLE_HOST, NULL, 0), -ENOTSUP);
	}
	ck_assert_int_eq(appmsg_check(0x0059, ROLE_HOST, why, sizeof(why)), -ENOTSUP);
	ck_assert_str_eq(why, "unknown message type 0x0059");
	/* The sync messages are not the application's. */
	ck_assert_int_eq(appmsg_check(MSG_HELLO, ROLE_HOST, why, sizeof(why)), -ENOTSUP);
	ck_assert_int_eq(appmsg_check(MSG_BARRIER, ROLE_ENCLAVE, why, sizeof(why)), -ENOTSUP);
}
END_TEST

/* RUN_REPLY's text of a started job: exactly four lines, each in its rules. */
#define RI_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
static const struct {
	const char *text;
	bool ok;
} run_infos[] = {
	{ "name=iris\nversion=1.0 beta\nentry=predict\ndigest=" RI_HEX "\n", true },
	{ "name=a\nversion=~\nentry=b._-9\ndigest=" RI_HEX "\n", true },
	{ "", false },
	{ "name=iris\nversion=1\nentry=predict\ndigest=" RI_HEX, false },      /* no last newline */
	{ "name=iris\nversion=1\nentry=predict\ndigest=" RI_HEX "\nx", false }, /* trailing */
	{ "version=1\nname=iris\nentry=predict\ndigest=" RI_HEX "\n", false }, /* order */
	{ "name=.iris\nversion=1\nentry=predict\ndigest=" RI_HEX "\n", false },
	{ "name=ir is\nversion=1\nentry=predict\ndigest=" RI_HEX "\n", false },
	{ "name=\nversion=1\nentry=predict\ndigest=" RI_HEX "\n", false },
	{ "name=iris\nversion=\nentry=predict\ndigest=" RI_HEX "\n", false },
	{ "name=iris\nversion=1\x1b[2J\nentry=predict\ndigest=" RI_HEX "\n", false },
	{ "name=iris\nversion=1\nentry=../x\ndigest=" RI_HEX "\n", false },
	{ "name=iris\nversion=1\nentry=predict\ndigest=" RI_HEX "0\n", false },
	{ "name=iris\nversion=1\nentry=predict\ndigest="
	  "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n", false },
	{ "name=iris\nversion=1\nentry=predict\ndigest="
	  "0g112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", false },
	{ "name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nversion=1\nentry=p\ndigest="
	  RI_HEX "\n", false }, /* 65 bytes */
	{ "name iris\nversion=1\nentry=predict\ndigest=" RI_HEX "\n", false },
};

START_TEST(test_run_info)
{
	struct run_info ri;
	char again[512];
	int r = run_info_parse(run_infos[_i].text, &ri);

	if (!run_infos[_i].ok) {
		static const struct run_info zero;

		ck_assert_int_eq(r, -EINVAL);
		ck_assert_mem_eq(&ri, &zero, sizeof(ri));
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(run_info_format(&ri, again, sizeof(again)), 0);
	ck_assert_str_eq(again, run_infos[_i].text);
	ck_assert_uint_eq(ri.digest[31], 0xff);
}
END_TEST

START_TEST(test_run_info_format)
{
	struct run_info ri = { .name = "iris", .version = "1", .entry = "predict" };
	char buf[512];

	ck_assert_int_eq(run_info_format(&ri, buf, sizeof(buf)), 0);
	ck_assert_int_eq(run_info_format(&ri, buf, 100), -EINVAL);
	snprintf(ri.entry, sizeof(ri.entry), "a b");
	ck_assert_int_eq(run_info_format(&ri, buf, sizeof(buf)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("appmsg");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roundtrips);
	tcase_add_test(tc, test_truncated_and_trailing);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_aws_creds);
	tcase_add_test(tc, test_pkg_state);
	tcase_add_test(tc, test_run);
	tcase_add_test(tc, test_run_reply);
	tcase_add_test(tc, test_job_state);
	tcase_add_test(tc, test_job_log);
	tcase_add_test(tc, test_job_cancel);
	tcase_add_test(tc, test_jobs);
	tcase_add_test(tc, test_frames);
	tcase_add_test(tc, test_check);
	tcase_add_loop_test(tc, test_run_info, 0, sizeof(run_infos) / sizeof(run_infos[0]));
	tcase_add_test(tc, test_run_info_format);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
