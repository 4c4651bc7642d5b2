/* libFuzzer harness for the package and job message decoders (STATUS,
 * PKG_STATE, RUN, RUN_REPLY, JOB_STATE, JOB_LOG, JOB_CANCEL, JOBS): the input
 * is a byte stream as a peer would send it, and each frame's body is offered
 * to all eight decoders whatever its type. A decode that succeeds must hold only
 * what the spec allows and encode back to the same body; one that fails must
 * consume nothing and leave its message zeroed. Every type is also checked
 * against both senders (appmsg_check), and every frame goes to a job client
 * with three requests pending, which follows what they start: it refuses a
 * frame only with a reason, and its callbacks see only followed jobs. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sync/pathsafe.h"
#include "app/appmsg.h"
#include "app/jobclient.h"
#include "sync/log.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Encodes one frame with put and compares its body with the decoded one. */
static struct wbuf out;

static void same_body(int put_result, const struct wbuf *body, uint16_t type)
{
	struct frame f;

	check(put_result == 0);
	check(frame_next(&out, &f) == 0 && f.type == type);
	check(wbuf_len(&f.body) == wbuf_len(body));
	check(memcmp(wbuf_ptr(&f.body), wbuf_ptr(body), wbuf_len(body)) == 0);
	wbuf_clear(&out);
}

/* Whatever the type, a check has one of three answers and says why. */
static void check_type(uint16_t type)
{
	char why[64];
	int h = appmsg_check(type, ROLE_HOST, why, sizeof(why));
	int e = appmsg_check(type, ROLE_ENCLAVE, why, sizeof(why));

	check(why[0] != '\0');
	if (!appmsg_type_name(type))
		check(h == -ENOTSUP && e == -ENOTSUP);
	else
		check((h == 0 && e == -EPROTO) || (h == -EPROTO && e == 0));
	check(!appmsg_type_name(type) || msg_type_is_app(type));
}

static void decode_all(const struct frame *f)
{
	static union {
		struct msg_pkg_state ps;
		struct msg_run run;
		struct msg_run_reply rr;
		struct msg_job_state js;
		struct msg_job_log jl;
		struct msg_jobs jobs;
		uint32_t job;
	} m;
	const uint8_t *json;
	size_t len;
	struct wbuf b;
	int r;

	check_type(f->type);
	b = f->body;
	r = msg_decode_status(&b, &json, &len);
	if (r == 0) {
		check(len > 0 && len <= STATUS_MAX && !memchr(json, '\0', len));
		same_body(msg_put_status(&out, (const char *)json, len), &f->body, MSG_STATUS);
	} else {
		check(b.off == f->body.off && json == NULL && len == 0);
	}

	b = f->body;
	r = msg_decode_aws_creds(&b, &json, &len);
	if (r == 0) {
		check(len > 0 && len <= AWS_CREDS_MSG_MAX && !memchr(json, '\0', len));
		same_body(msg_put_aws_creds(&out, (const char *)json, len), &f->body, MSG_AWS_CREDS);
	} else {
		check(b.off == f->body.off && json == NULL && len == 0);
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_pkg_state(&b, &m.ps);
	if (r == 0) {
		check(str_ok(m.ps.name, sizeof(m.ps.name)) && str_ok(m.ps.text, sizeof(m.ps.text)));
		check(path_check(m.ps.name) == 0 && !strchr(m.ps.name, '/'));
		check(m.ps.state >= PKG_RECEIVED && m.ps.state <= PKG_REMOVED && m.ps.err <= 4095);
		same_body(msg_put_pkg_state(&out, m.ps.name, m.ps.state, (int)m.ps.err, m.ps.digest,
					    m.ps.text),
			  &f->body, MSG_PKG_STATE);
	} else {
		check(b.off == f->body.off && all_zero(&m.ps, sizeof(m.ps)));
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_run(&b, &m.run);
	if (r == 0) {
		check(str_ok(m.run.line, sizeof(m.run.line)));
		same_body(msg_put_run(&out, m.run.req, m.run.line), &f->body, MSG_RUN);
	} else {
		check(b.off == f->body.off && all_zero(&m.run, sizeof(m.run)));
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_run_reply(&b, &m.rr);
	if (r == 0) {
		check(str_ok(m.rr.text, sizeof(m.rr.text)));
		check(m.rr.err <= 4095 && (m.rr.job == 0) != (m.rr.err == 0));
		same_body(msg_put_run_reply(&out, m.rr.req, m.rr.job, (int)m.rr.err, m.rr.text),
			  &f->body, MSG_RUN_REPLY);
	} else {
		check(b.off == f->body.off && all_zero(&m.rr, sizeof(m.rr)));
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_job_state(&b, &m.js);
	if (r == 0) {
		check(str_ok(m.js.text, sizeof(m.js.text)));
		check(m.js.job != 0 && m.js.state >= JOB_RUNNING && m.js.state <= JOB_FAILED);
		same_body(msg_put_job_state(&out, m.js.job, m.js.state, m.js.code, m.js.text),
			  &f->body, MSG_JOB_STATE);
	} else {
		check(b.off == f->body.off && all_zero(&m.js, sizeof(m.js)));
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_job_log(&b, &m.jl);
	if (r == 0) {
		check(m.jl.job != 0 && (m.jl.stream == 1 || m.jl.stream == 2));
		check(m.jl.len >= 1 && m.jl.len <= JOB_LOG_MAX);
		check(m.jl.p == wbuf_ptr(&f->body) + 5 && m.jl.len == wbuf_len(&f->body) - 5);
		same_body(msg_put_job_log(&out, m.jl.job, m.jl.stream, m.jl.p, m.jl.len), &f->body,
			  MSG_JOB_LOG);
	} else {
		check(b.off == f->body.off && all_zero(&m.jl, sizeof(m.jl)));
	}

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_u32(&b, &m.job);
	if (r == 0)
		same_body(msg_put_u32(&out, MSG_JOB_CANCEL, m.job), &f->body, MSG_JOB_CANCEL);
	else
		check(b.off == f->body.off && m.job == 0);

	b = f->body;
	memset(&m, 0xa5, sizeof(m));
	r = msg_decode_jobs(&b, &m.jobs);
	if (r == 0) {
		static const uint8_t zero[JOBS_INSTANCE_LEN];

		check(m.jobs.n <= JOBS_MAX && memcmp(m.jobs.instance, zero, sizeof(zero)) != 0);
		for (uint32_t i = 0; i < m.jobs.n; i++)
			check(m.jobs.job[i] != 0 && (i == 0 || m.jobs.job[i] > m.jobs.job[i - 1]));
		same_body(msg_put_jobs(&out, m.jobs.instance, m.jobs.job, m.jobs.n), &f->body, MSG_JOBS);
	} else {
		check(b.off == f->body.off && all_zero(&m.jobs, sizeof(m.jobs)));
	}
}

/* --- the job client ------------------------------------------------------------- */

static struct jobclient *jc;
static struct wbuf jc_out;

static int on_started(void *ud, uint32_t req, uint32_t job, const char *text, uint32_t *tag)
{
	check(req >= 1 && req <= 3 && job != 0);
	*tag = job ^ 0x80000000u;
	return job % 2 ? 0 : -ECANCELED; /* nobody wants the even ones */
}

static void on_log(void *ud, uint32_t tag, uint8_t stream, const uint8_t *p, size_t len)
{
	check(jobclient_following(jc, tag) && (stream == 1 || stream == 2));
	check(len >= 1 && len <= JOB_LOG_MAX);
}

static void on_ended(void *ud, uint32_t tag, uint8_t state, int32_t code, const char *text)
{
	check(!jobclient_following(jc, tag) && state >= JOB_EXITED && state <= JOB_LOST);
}

static void on_held(void *ud, const struct msg_jobs *m)
{
	/* Follow the first job it holds, as a host taking up its own. */
	if (m->n)
		(void)jobclient_follow(jc, m->job[0], m->job[0] ^ 0x80000000u);
}

static const struct jobclient_ops jc_ops = {
	.started = on_started, .log = on_log, .ended = on_ended, .held = on_held
};

static void client_frame(const struct frame *f)
{
	char why[WIRE_TEXT_MAX + 1] = "";
	size_t before = jobclient_count(jc);
	int r = jobclient_message(jc, f, why, sizeof(why));

	check(r == 0 || (r < 0 && why[0] && strlen(why) < sizeof(why)));
	check(jobclient_count(jc) <= before + 1);
	wbuf_clear(&jc_out);
}

/* The whole input as a RUN_REPLY text: parsed, it must format back to the
 * same bytes; refused, it leaves nothing. */
static void run_info_input(const uint8_t *data, size_t size)
{
	char text[WIRE_TEXT_MAX + 1], again[512];
	struct run_info ri;

	if (size > WIRE_TEXT_MAX)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	if (run_info_parse(text, &ri) == 0) {
		check(run_info_format(&ri, again, sizeof(again)) == 0);
		check(strcmp(again, text) == 0);
	} else {
		check(all_zero(&ri, sizeof(ri)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbuf in;
	struct frame f;
	int r;

	if (!out.max) {
		wbuf_init(&out, 2 * (FRAME_HDR_LEN + FRAME_MAX_BODY));
		wbuf_init(&jc_out, 2 * (FRAME_HDR_LEN + FRAME_MAX_BODY));
		jc = jobclient_new(&jc_ops, NULL, &jc_out);
		check(jc != NULL);
		log_setup("fuzz_appmsg", LOG_CRIT, false);
	}
	run_info_input(data, size);
	jobclient_reset(jc, "next input");
	for (uint32_t req = 1; req <= 3; req++)
		check(jobclient_run(jc, req, "fuzz.sealed") == 0);
	wbuf_clear(&jc_out);
	wbuf_from(&in, data, size);
	while ((r = frame_next(&in, &f)) == 0) {
		decode_all(&f);
		client_frame(&f);
	}
	check(in.off <= in.len);
	check(r == -EAGAIN || r == -EMSGSIZE || r == -EPROTO || r == -ENOTSUP);
	return 0;
}
