/* The job client (jobclient.h): requests in flight and followed jobs, both
 * small arrays searched linearly (a host runs a handful of jobs at once;
 * JOBS lists at most JOBS_MAX). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobclient.h"
#include "util.h"
#include "log.h"

struct followed {
	uint32_t job, tag;
	bool cancel_sent;
};

struct jobclient {
	const struct jobclient_ops *ops;
	void *ud;
	struct wbuf *out;
	uint32_t *reqs; /* RUN sent, RUN_REPLY not yet received */
	size_t nreqs, reqs_cap;
	struct followed *jobs;
	size_t njobs, jobs_cap;
	uint8_t instance[JOBS_INSTANCE_LEN];
	bool have_instance;
	/* The decoded message: callers serialize, so one is enough. */
	union {
		struct msg_pkg_state ps;
		struct msg_run_reply rr;
		struct msg_job_state js;
		struct msg_job_log jl;
		struct msg_jobs jobs;
	} m;
};

struct jobclient *jobclient_new(const struct jobclient_ops *ops, void *ud, struct wbuf *out)
{
	struct jobclient *jc = calloc(1, sizeof(*jc));

	if (!jc)
		return NULL;
	jc->ops = ops;
	jc->ud = ud;
	jc->out = out;
	return jc;
}

void jobclient_free(struct jobclient *jc)
{
	if (!jc)
		return;
	free(jc->reqs);
	free(jc->jobs);
	free(jc);
}

static struct followed *by_job(struct jobclient *jc, uint32_t job)
{
	for (size_t i = 0; i < jc->njobs; i++)
		if (jc->jobs[i].job == job)
			return &jc->jobs[i];
	return NULL;
}

static struct followed *by_tag(const struct jobclient *jc, uint32_t tag)
{
	for (size_t i = 0; i < jc->njobs; i++)
		if (jc->jobs[i].tag == tag)
			return &jc->jobs[i];
	return NULL;
}

static bool take_req(struct jobclient *jc, uint32_t req)
{
	for (size_t i = 0; i < jc->nreqs; i++)
		if (jc->reqs[i] == req) {
			jc->reqs[i] = jc->reqs[--jc->nreqs];
			return true;
		}
	return false;
}

/* Ends a followed job: it leaves the table before the caller hears of it. */
static void end_job(struct jobclient *jc, struct followed *j, uint8_t state, int32_t code,
		    const char *text)
{
	uint32_t tag = j->tag;

	*j = jc->jobs[--jc->njobs];
	if (jc->ops->ended)
		jc->ops->ended(jc->ud, tag, state, code, text);
}

static int cancel_job(struct jobclient *jc, uint32_t job)
{
	return msg_put_u32(jc->out, MSG_JOB_CANCEL, job);
}

static int on_run_reply(struct jobclient *jc, const struct msg_run_reply *m, char *why, size_t whysz)
{
	uint32_t tag = m->job;
	int r;

	if (!take_req(jc, m->req)) {
		snprintf(why, whysz, "RUN_REPLY to request %u, which is not pending", m->req);
		return -EPROTO;
	}
	if (m->err) {
		if (jc->ops->refused)
			jc->ops->refused(jc->ud, m->req, (int)m->err, m->text);
		return 0;
	}
	if (by_job(jc, m->job)) {
		snprintf(why, whysz, "RUN_REPLY: job %u is running already", m->job);
		return -EPROTO;
	}
	r = array_grow((void **)&jc->jobs, &jc->jobs_cap, jc->njobs + 1, sizeof(*jc->jobs));
	if (r < 0) {
		log_error("job %u: out of memory following it: cancelling it", m->job);
		(void)cancel_job(jc, m->job);
		if (jc->ops->refused)
			jc->ops->refused(jc->ud, m->req, ENOMEM, "out of memory");
		return 0;
	}
	r = jc->ops->started ? jc->ops->started(jc->ud, m->req, m->job, m->text, &tag) : 0;
	if (r < 0) {
		(void)cancel_job(jc, m->job);
		return 0;
	}
	if (by_tag(jc, tag)) {
		/* The caller's tags are its own: two jobs under one is its bug,
		 * not the enclave's; the second is not followed. */
		log_error("job %u: tag %u is taken: cancelling it", m->job, tag);
		(void)cancel_job(jc, m->job);
		return 0;
	}
	jc->jobs[jc->njobs++] = (struct followed){ .job = m->job, .tag = tag };
	return 0;
}

static void on_jobs(struct jobclient *jc, const struct msg_jobs *m)
{
	memcpy(jc->instance, m->instance, sizeof(jc->instance));
	jc->have_instance = true;
	if (m->n)
		log_info("the enclave holds %u jobs", m->n);
	if (jc->ops->held)
		jc->ops->held(jc->ud, m);
}

static void on_pkg_state(struct jobclient *jc, const struct msg_pkg_state *m)
{
	if (m->state == PKG_FAILED)
		log_warn("package %s: %s (%s)", m->name, m->text, strerror((int)m->err));
	else
		log_info("package %s: %s", m->name, m->text);
	if (jc->ops->pkg_state)
		jc->ops->pkg_state(jc->ud, m);
}

int jobclient_message(struct jobclient *jc, const struct frame *f, char *why, size_t whysz)
{
	struct wbuf b = f->body;
	struct followed *j;
	const uint8_t *json;
	size_t len;
	int r = appmsg_check(f->type, ROLE_ENCLAVE, why, whysz);

	if (r < 0)
		return r;
	snprintf(why, whysz, "bad %s", appmsg_type_name(f->type));
	switch (f->type) {
	case MSG_STATUS:
		r = msg_decode_status(&b, &json, &len);
		if (r == 0 && jc->ops->status)
			jc->ops->status(jc->ud, (const char *)json, len);
		return r;
	case MSG_PKG_STATE:
		r = msg_decode_pkg_state(&b, &jc->m.ps);
		if (r == 0)
			on_pkg_state(jc, &jc->m.ps);
		return r;
	case MSG_RUN_REPLY:
		r = msg_decode_run_reply(&b, &jc->m.rr);
		return r < 0 ? r : on_run_reply(jc, &jc->m.rr, why, whysz);
	case MSG_JOB_LOG:
		r = msg_decode_job_log(&b, &jc->m.jl);
		if (r == 0 && (j = by_job(jc, jc->m.jl.job)) && jc->ops->log)
			jc->ops->log(jc->ud, j->tag, jc->m.jl.stream, jc->m.jl.p, jc->m.jl.len);
		return r;
	case MSG_JOB_STATE:
		r = msg_decode_job_state(&b, &jc->m.js);
		if (r == 0 && jc->m.js.state != JOB_RUNNING && (j = by_job(jc, jc->m.js.job)))
			end_job(jc, j, jc->m.js.state, jc->m.js.code, jc->m.js.text);
		return r;
	case MSG_JOBS:
		r = msg_decode_jobs(&b, &jc->m.jobs);
		if (r == 0)
			on_jobs(jc, &jc->m.jobs);
		return r;
	}
	/* appmsg_check let through a type the enclave sends that is not
	 * handled above: a new message this client does not know yet. */
	snprintf(why, whysz, "%s: not understood by this host", appmsg_type_name(f->type));
	return -ENOTSUP;
}

int jobclient_run(struct jobclient *jc, uint32_t req, const char *line)
{
	int r;

	for (size_t i = 0; i < jc->nreqs; i++)
		if (jc->reqs[i] == req)
			return -EEXIST;
	if (strlen(line) > RUN_LINE_MAX)
		return -E2BIG;
	r = array_grow((void **)&jc->reqs, &jc->reqs_cap, jc->nreqs + 1, sizeof(*jc->reqs));
	if (r < 0)
		return r;
	r = msg_put_run(jc->out, req, line);
	if (r < 0)
		return r == -EMSGSIZE ? -E2BIG : r;
	jc->reqs[jc->nreqs++] = req;
	return 0;
}

int jobclient_follow(struct jobclient *jc, uint32_t job, uint32_t tag)
{
	int r;

	if (by_job(jc, job) || by_tag(jc, tag))
		return -EEXIST;
	r = array_grow((void **)&jc->jobs, &jc->jobs_cap, jc->njobs + 1, sizeof(*jc->jobs));
	if (r < 0)
		return r;
	jc->jobs[jc->njobs++] = (struct followed){ .job = job, .tag = tag };
	return 0;
}

int jobclient_cancel(struct jobclient *jc, uint32_t tag)
{
	struct followed *j = by_tag(jc, tag);
	int r;

	if (!j)
		return -ESRCH;
	if (j->cancel_sent)
		return -EALREADY;
	r = cancel_job(jc, j->job);
	if (r < 0)
		return r;
	j->cancel_sent = true;
	return 0;
}

bool jobclient_following(const struct jobclient *jc, uint32_t tag)
{
	return by_tag(jc, tag) != NULL;
}

size_t jobclient_count(const struct jobclient *jc)
{
	return jc->njobs;
}

bool jobclient_next(const struct jobclient *jc, size_t *pos, uint32_t *tag)
{
	if (*pos >= jc->njobs)
		return false;
	*tag = jc->jobs[(*pos)++].tag;
	return true;
}

bool jobclient_instance(const struct jobclient *jc, uint8_t instance[static JOBS_INSTANCE_LEN])
{
	if (jc->have_instance)
		memcpy(instance, jc->instance, JOBS_INSTANCE_LEN);
	return jc->have_instance;
}

void jobclient_reset(struct jobclient *jc, const char *text)
{
	jc->nreqs = 0;
	jc->have_instance = false;
	while (jc->njobs)
		end_job(jc, &jc->jobs[0], JOB_LOST, 0, text);
}

int jobclient_exit_status(uint8_t state, int32_t code, int cancel_signal)
{
	switch (state) {
	case JOB_EXITED: return code & 0xff;
	case JOB_KILLED: return 128 + (code & 0x7f);
	case JOB_TIMEOUT: return JOB_EXIT_TIMEOUT;
	case JOB_CANCELLED: return 128 + (cancel_signal ? cancel_signal : SIGINT);
	case JOB_LOST: return JOB_EXIT_LOST;
	}
	return JOB_EXIT_FAILED;
}
