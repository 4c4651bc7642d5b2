/* The application's messages: packages and jobs, between enclaved and its
 * host clients (doc/PROTOCOL.md, "Packages and jobs"). They travel in the
 * sync protocol's frames (proto.h) with types from MSG_APP_FIRST on; the sync
 * engine hands them to its hooks' message() callback without reading them.
 *
 * Each msg_decode_*() validates one body completely (sizes, then every
 * field, then no trailing bytes) and returns -EBADMSG, -EMSGSIZE or -EINVAL
 * when it is malformed; a failed decode consumes nothing and leaves its
 * message zeroed, so that nothing half-decoded can be acted upon. Decoded
 * strings are copied into the message struct; STATUS and JOB_LOG bytes
 * borrow the frame. msg_put_*() append one whole frame or nothing.
 */
#ifndef EFS_APPMSG_H
#define EFS_APPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wire.h"

enum app_msg_type {
	MSG_STATUS = MSG_APP_FIRST, /* 0x0050 */
	MSG_PKG_STATE = 0x0051,
	MSG_RUN = 0x0052,
	MSG_RUN_REPLY = 0x0053,
	MSG_JOB_STATE = 0x0054,
	MSG_JOB_LOG = 0x0055,
	MSG_JOB_CANCEL = 0x0056,
	MSG_JOBS = 0x0057,
	MSG_AWS_CREDS = 0x0058,
};

#define STATUS_MAX (64u * 1024)
#define AWS_CREDS_MSG_MAX (16u * 1024)
#define JOB_LOG_MAX (64u * 1024)
#define RUN_LINE_MAX 65535
/* A JOBS list: the running jobs (--max-jobs is at most 1024) and the ended
 * ones enclaved keeps for the next host (JOBS_ENDED_KEPT). */
#define JOBS_ENDED_KEPT 64u
#define JOBS_MAX (1024u + JOBS_ENDED_KEPT)
#define JOBS_INSTANCE_LEN 16

enum pkg_state {
	PKG_RECEIVED = 1,
	PKG_VERIFIED = 2,
	PKG_READY = 3,
	PKG_FAILED = 4,
	PKG_REMOVED = 5,
};

enum job_state {
	JOB_RUNNING = 1,
	JOB_EXITED = 2,    /* code: exit status */
	JOB_KILLED = 3,    /* code: signal */
	JOB_TIMEOUT = 4,
	JOB_CANCELLED = 5,
	JOB_FAILED = 6,    /* could not start; code: errno */
	JOB_LOST = 7,      /* the enclave went away (host side only) */
};

/* The name of an application message type, or NULL for one it does not
 * define. */
const char *appmsg_type_name(uint16_t type);

/* May the side `from` send a message of this type? 0; -ENOTSUP for a type
 * the application does not define; -EPROTO for one the other side sends.
 * why (whysz bytes, may be 0) gets a line that says which. */
int appmsg_check(uint16_t type, enum role from, char *why, size_t whysz);

struct msg_pkg_state {
	uint8_t state;
	uint32_t err;
	uint8_t digest[32];
	char name[WIRE_NAME_MAX * 4 + 1];
	char text[WIRE_TEXT_MAX + 1];
};

struct msg_run {
	uint32_t req;
	char line[RUN_LINE_MAX + 1];
};

struct msg_run_reply {
	uint32_t req, job, err;
	char text[WIRE_TEXT_MAX + 1];
};

/* The text of a RUN_REPLY that started a job: what runs, as four lines
 *
 *   name=NAME\nversion=VERSION\nentry=ENTRY\ndigest=HEX\n
 *
 * NAME and ENTRY 1..64 of [A-Za-z0-9._-] not starting with '.', VERSION 1..64
 * printable ASCII, HEX the package's SHA-256 as 64 lowercase hex digits
 * (the manifest's rules, doc/PACKAGE.md). An enclave that sends "" tells
 * nothing. */
#define RUN_INFO_FIELD_MAX 64
struct run_info {
	char name[RUN_INFO_FIELD_MAX + 1], version[RUN_INFO_FIELD_MAX + 1];
	char entry[RUN_INFO_FIELD_MAX + 1];
	uint8_t digest[32];
};
/* The text, or -EINVAL for a field out of its rules (buf: n >= 256). */
int run_info_format(const struct run_info *ri, char *buf, size_t n);
/* 0, or -EINVAL for anything but exactly that text (*ri zeroed). */
int run_info_parse(const char *text, struct run_info *ri);

struct msg_job_state {
	uint32_t job;
	uint8_t state;
	int32_t code;
	char text[WIRE_TEXT_MAX + 1];
};

/* JOBS: the jobs an enclaved process holds (running, or ended with their
 * final JOB_STATE still to come), in ascending order. instance is random for
 * each enclaved process and never all zeros: job ids count within it. */
struct msg_jobs {
	uint8_t instance[JOBS_INSTANCE_LEN];
	uint32_t n;
	uint32_t job[JOBS_MAX];
};

struct msg_job_log {
	uint32_t job;
	uint8_t stream; /* 1 stdout, 2 stderr */
	const uint8_t *p;
	size_t len;
};

/* STATUS: at most STATUS_MAX bytes, no NUL, shaped as a JSON object ({ ... }
 * between JSON whitespace); the reader parses it. *json borrows the frame and
 * is not NUL-terminated. */
int msg_decode_status(struct wbuf *b, const uint8_t **json, size_t *len);
/* AWS_CREDS: the host's AWS credentials for the enclave's kms key provider,
 * a JSON object (at most AWS_CREDS_MSG_MAX bytes) that enclaved hands to its
 * key process unread. */
int msg_decode_aws_creds(struct wbuf *b, const uint8_t **json, size_t *len);
int msg_decode_pkg_state(struct wbuf *b, struct msg_pkg_state *m);
int msg_decode_run(struct wbuf *b, struct msg_run *m);
int msg_decode_run_reply(struct wbuf *b, struct msg_run_reply *m);
int msg_decode_job_state(struct wbuf *b, struct msg_job_state *m);
int msg_decode_job_log(struct wbuf *b, struct msg_job_log *m);
int msg_decode_jobs(struct wbuf *b, struct msg_jobs *m);
/* JOB_CANCEL is a u32 body: msg_decode_u32() and msg_put_u32() (proto.h). */

int msg_put_status(struct wbuf *o, const char *json, size_t len);
int msg_put_aws_creds(struct wbuf *o, const char *json, size_t len);
int msg_put_pkg_state(struct wbuf *o, const char *name, uint8_t state, int err,
		      const uint8_t digest[static 32], const char *text);
int msg_put_run(struct wbuf *o, uint32_t req, const char *line);
int msg_put_run_reply(struct wbuf *o, uint32_t req, uint32_t job, int err, const char *text);
int msg_put_job_state(struct wbuf *o, uint32_t job, uint8_t state, int32_t code, const char *text);
int msg_put_job_log(struct wbuf *o, uint32_t job, uint8_t stream, const void *p, size_t len);
int msg_put_jobs(struct wbuf *o, const uint8_t instance[static JOBS_INSTANCE_LEN], const uint32_t *jobs,
		 uint32_t n);

#endif
