/* The job client: what a host keeps about the jobs it follows in one
 * enclave conversation, fed the enclave's package and job messages.
 *
 * It sends RUN lines and remembers the requests until their RUN_REPLY; a
 * job that one starts is followed (its enclave id mapped to the caller's
 * tag) until its final JOB_STATE, or until the conversation ends
 * (jobclient_reset: the job is lost to this host). JOB_LOG and JOB_STATE of
 * jobs it does not follow (another host's, or already ended) are ignored.
 * The caller hears of each event through its ops:
 *
 *     jc = jobclient_new(&ops, ud, engine_out(e));
 *     engine hook message(ud, f, why, whysz):  return jobclient_message(jc, f, why, whysz);
 *     jobclient_run(jc, req, line);           // -> ops.started or ops.refused
 *     ... ops.log, ops.ended (tag, state) ...
 *     jobclient_reset(jc, "the enclave went away");  // when the conversation ends
 *
 * Package verdicts (PKG_STATE) and the number of jobs an enclave holds
 * (JOBS) are logged here, once for every client. Protocol violations by the
 * enclave (a message only the host sends, a malformed body, a RUN_REPLY to
 * no pending request) make jobclient_message() fail; the engine then ends
 * the conversation. Callers serialize their calls; ops run inside them.
 */
#ifndef EFS_JOBCLIENT_H
#define EFS_JOBCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appmsg.h"

/* The exit status a shell would report for a job that ended so. */
#define JOB_EXIT_TIMEOUT 124
#define JOB_EXIT_FAILED 125   /* it could not start, or was refused */
#define JOB_EXIT_CANCELLED 130 /* 128 + SIGINT */
#define JOB_EXIT_LOST 255

struct jobclient_ops {
	/* STATUS: the enclave's JSON object (len bytes, not NUL-terminated). */
	void (*status)(void *ud, const char *json, size_t len);
	/* PKG_STATE (already logged). */
	void (*pkg_state)(void *ud, const struct msg_pkg_state *m);
	/* JOBS, the first job message of a conversation: the enclave's
	 * instance (also kept: jobclient_instance) and the jobs it holds. The
	 * caller may follow any of them (jobclient_follow). */
	void (*held)(void *ud, const struct msg_jobs *m);
	/* RUN_REPLY: request req started the enclave's job `job`. 0 and *tag:
	 * follow it under tag (room is reserved: following cannot fail then);
	 * a negative errno: nobody wants it, the client cancels it. NULL: follow
	 * it with the enclave's id as its tag. */
	int (*started)(void *ud, uint32_t req, uint32_t job, const char *text, uint32_t *tag);
	/* RUN_REPLY: request req was refused (err positive), or its job could
	 * not be followed (ENOMEM here: the client cancelled it). */
	void (*refused)(void *ud, uint32_t req, int err, const char *text);
	/* JOB_LOG of a followed job: stream 1 stdout, 2 stderr. */
	void (*log)(void *ud, uint32_t tag, uint8_t stream, const uint8_t *p, size_t len);
	/* A followed job ended (final JOB_STATE, or JOB_LOST from
	 * jobclient_reset); it is no longer followed when this runs. */
	void (*ended)(void *ud, uint32_t tag, uint8_t state, int32_t code, const char *text);
};

struct jobclient;

/* ops and ud are borrowed; every message is appended to out (the engine's
 * output queue, engine_out()). NULL when out of memory. */
struct jobclient *jobclient_new(const struct jobclient_ops *ops, void *ud, struct wbuf *out);
void jobclient_free(struct jobclient *jc);

/* The engine's message hook, for a host: checks that the enclave may send
 * f, decodes it and calls the ops. 0, or a negative errno with why filled
 * (the conversation must end). */
int jobclient_message(struct jobclient *jc, const struct frame *f, char *why, size_t whysz);

/* Sends RUN for line as request req: 0; -EEXIST if req is pending;
 * -E2BIG if the line is longer than RUN_LINE_MAX; -ENOMEM, or the error of
 * a full output queue. */
int jobclient_run(struct jobclient *jc, uint32_t req, const char *line);
/* Follows the enclave's job under tag (a job of its JOBS): 0; -EEXIST if
 * the job or the tag is followed already; -ENOMEM. */
int jobclient_follow(struct jobclient *jc, uint32_t job, uint32_t tag);
/* Sends JOB_CANCEL for the job followed under tag: 0; -EALREADY if it was
 * sent already; -ESRCH if no job is followed under tag; -ENOMEM. The job
 * stays followed until its final JOB_STATE. */
int jobclient_cancel(struct jobclient *jc, uint32_t tag);
/* Is a job followed under tag? */
bool jobclient_following(const struct jobclient *jc, uint32_t tag);
/* How many jobs are followed, and each one's tag: start with *pos = 0;
 * false at the end. */
size_t jobclient_count(const struct jobclient *jc);
bool jobclient_next(const struct jobclient *jc, size_t *pos, uint32_t *tag);
/* The enclave instance of this conversation's JOBS: false before it came. */
bool jobclient_instance(const struct jobclient *jc, uint8_t instance[static JOBS_INSTANCE_LEN]);

/* The conversation ended: every followed job ends as JOB_LOST with text
 * (ops.ended), pending requests and the instance are forgotten. */
void jobclient_reset(struct jobclient *jc, const char *text);

/* The exit status of a job that ended in state with code: the exit code,
 * 128 + the signal, or JOB_EXIT_*. A cancelled job reads as killed by
 * cancel_signal (SIGINT when 0). */
int jobclient_exit_status(uint8_t state, int32_t code, int cancel_signal);

#endif
