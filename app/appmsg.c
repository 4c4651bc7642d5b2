/* The package and job messages (appmsg.h); their frames come from proto.c. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "appmsg.h"
#include "msgenc.h"
#include "pathsafe.h"

const char *appmsg_type_name(uint16_t type)
{
	switch (type) {
	case MSG_STATUS: return "STATUS";
	case MSG_PKG_STATE: return "PKG_STATE";
	case MSG_RUN: return "RUN";
	case MSG_RUN_REPLY: return "RUN_REPLY";
	case MSG_JOB_STATE: return "JOB_STATE";
	case MSG_JOB_LOG: return "JOB_LOG";
	case MSG_JOB_CANCEL: return "JOB_CANCEL";
	case MSG_JOBS: return "JOBS";
	case MSG_AWS_CREDS: return "AWS_CREDS";
	default: return NULL;
	}
}

/* Which side sends each message. */
static enum role sender(uint16_t type)
{
	switch (type) {
	case MSG_RUN:
	case MSG_JOB_CANCEL:
	case MSG_AWS_CREDS: return ROLE_HOST;
	default: return ROLE_ENCLAVE;
	}
}

int appmsg_check(uint16_t type, enum role from, char *why, size_t whysz)
{
	const char *name = appmsg_type_name(type);

	if (!name) {
		if (whysz)
			snprintf(why, whysz, "unknown message type 0x%04x", type);
		return -ENOTSUP;
	}
	if (sender(type) != from) {
		if (whysz)
			snprintf(why, whysz, "%s from the %s", name, from == ROLE_HOST ? "host" : "enclave");
		return -EPROTO;
	}
	return 0;
}

/* --- decoding ------------------------------------------------------------------ */

/* A failed package or job decode consumes nothing and leaves its message
 * zeroed, so that nothing half-decoded can be acted upon. */
static int undo(struct wbuf *b, size_t off, void *m, size_t size, int r)
{
	b->off = off;
	memset(m, 0, size);
	return r;
}

static bool json_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The outer shape of a JSON object only: its readers parse it themselves. */
static bool json_object_shape(const uint8_t *p, size_t n)
{
	if (memchr(p, '\0', n))
		return false;
	while (n > 0 && json_space(p[n - 1]))
		n--;
	while (n > 0 && json_space(p[0])) {
		p++;
		n--;
	}
	return n >= 2 && p[0] == '{' && p[n - 1] == '}';
}

int msg_decode_status(struct wbuf *b, const uint8_t **json, size_t *len)
{
	size_t off = b->off;
	int r = wbuf_get_bytes_peek(b, json, len, STATUS_MAX);

	if (r == 0)
		r = json_object_shape(*json, *len) ? wbuf_end(b) : -EINVAL;
	if (r < 0) {
		b->off = off;
		*json = NULL;
		*len = 0;
	}
	return r;
}

/* Package names are single path components (a file directly in encrypted/). */
static int get_name(struct wbuf *b, char *out, size_t outsz)
{
	size_t off = b->off;
	int r = wbuf_get_str(b, out, outsz);

	if (r < 0)
		return r;
	if (path_check(out) < 0 || strchr(out, '/')) {
		b->off = off;
		return -EINVAL;
	}
	return 0;
}

int msg_decode_pkg_state(struct wbuf *b, struct msg_pkg_state *m)
{
	size_t off = b->off;
	int r;

	if ((r = get_name(b, m->name, sizeof(m->name))) < 0 || (r = wbuf_get_u8(b, &m->state)) < 0 ||
	    (r = wbuf_get_u32(b, &m->err)) < 0 || (r = wbuf_get(b, m->digest, sizeof(m->digest))) < 0 ||
	    (r = wbuf_get_str(b, m->text, sizeof(m->text))) < 0)
		return undo(b, off, m, sizeof(*m), r);
	if (m->state < PKG_RECEIVED || m->state > PKG_REMOVED || m->err > 4095)
		r = -EINVAL;
	else
		r = wbuf_end(b);
	return r < 0 ? undo(b, off, m, sizeof(*m), r) : 0;
}

int msg_decode_run(struct wbuf *b, struct msg_run *m)
{
	size_t off = b->off;
	int r;

	if ((r = wbuf_get_u32(b, &m->req)) < 0 ||
	    (r = wbuf_get_str(b, m->line, sizeof(m->line))) < 0 || (r = wbuf_end(b)) < 0)
		return undo(b, off, m, sizeof(*m), r);
	return 0;
}

int msg_decode_run_reply(struct wbuf *b, struct msg_run_reply *m)
{
	size_t off = b->off;
	int r;

	if ((r = wbuf_get_u32(b, &m->req)) < 0 || (r = wbuf_get_u32(b, &m->job)) < 0 ||
	    (r = wbuf_get_u32(b, &m->err)) < 0 || (r = wbuf_get_str(b, m->text, sizeof(m->text))) < 0)
		return undo(b, off, m, sizeof(*m), r);
	/* Started (a job id, no errno) or refused (no job id, an errno). */
	if (m->err > 4095 || (m->job == 0) == (m->err == 0))
		r = -EINVAL;
	else
		r = wbuf_end(b);
	return r < 0 ? undo(b, off, m, sizeof(*m), r) : 0;
}

int msg_decode_job_state(struct wbuf *b, struct msg_job_state *m)
{
	size_t off = b->off;
	uint32_t code;
	int r;

	if ((r = wbuf_get_u32(b, &m->job)) < 0 || (r = wbuf_get_u8(b, &m->state)) < 0 ||
	    (r = wbuf_get_u32(b, &code)) < 0 || (r = wbuf_get_str(b, m->text, sizeof(m->text))) < 0)
		return undo(b, off, m, sizeof(*m), r);
	m->code = (int32_t)code;
	/* JOB_LOST is the host's own verdict, never sent. */
	if (m->job == 0 || m->state < JOB_RUNNING || m->state > JOB_FAILED)
		r = -EINVAL;
	else
		r = wbuf_end(b);
	return r < 0 ? undo(b, off, m, sizeof(*m), r) : 0;
}

int msg_decode_job_log(struct wbuf *b, struct msg_job_log *m)
{
	size_t off = b->off;
	int r;

	if ((r = wbuf_get_u32(b, &m->job)) < 0 || (r = wbuf_get_u8(b, &m->stream)) < 0)
		return undo(b, off, m, sizeof(*m), r);
	m->len = wbuf_len(b);
	if (m->job == 0 || (m->stream != 1 && m->stream != 2) || m->len == 0 || m->len > JOB_LOG_MAX)
		return undo(b, off, m, sizeof(*m), -EINVAL);
	m->p = wbuf_ptr(b);
	b->off = b->len;
	return 0;
}

int msg_decode_jobs(struct wbuf *b, struct msg_jobs *m)
{
	static const uint8_t zero[JOBS_INSTANCE_LEN];
	size_t off = b->off;
	int r;

	if ((r = wbuf_get(b, m->instance, sizeof(m->instance))) < 0 || (r = wbuf_get_u32(b, &m->n)) < 0)
		return undo(b, off, m, sizeof(*m), r);
	/* Sizes first: the count must fit the limit and match the body. */
	if (m->n > JOBS_MAX)
		return undo(b, off, m, sizeof(*m), -EMSGSIZE);
	if (wbuf_len(b) != (size_t)m->n * 4)
		return undo(b, off, m, sizeof(*m), -EBADMSG);
	if (memcmp(m->instance, zero, sizeof(zero)) == 0)
		return undo(b, off, m, sizeof(*m), -EINVAL);
	for (uint32_t i = 0; i < m->n; i++) {
		(void)wbuf_get_u32(b, &m->job[i]);
		if (m->job[i] == 0 || (i > 0 && m->job[i] <= m->job[i - 1]))
			return undo(b, off, m, sizeof(*m), -EINVAL);
	}
	return 0;
}

/* --- encoding ------------------------------------------------------------------ */


int msg_put_status(struct wbuf *o, const char *json, size_t len)
{
	BEGIN(o, MSG_STATUS);
	TRY(wbuf_put_bytes(o, json, len));
	FINISH(o);
}

int msg_decode_aws_creds(struct wbuf *b, const uint8_t **json, size_t *len)
{
	size_t off = b->off;
	int r = wbuf_get_bytes_peek(b, json, len, AWS_CREDS_MSG_MAX);

	if (r == 0)
		r = json_object_shape(*json, *len) ? wbuf_end(b) : -EINVAL;
	if (r < 0) {
		b->off = off;
		*json = NULL;
		*len = 0;
	}
	return r;
}

int msg_put_aws_creds(struct wbuf *o, const char *json, size_t len)
{
	BEGIN(o, MSG_AWS_CREDS);
	TRY(wbuf_put_bytes(o, json, len));
	FINISH(o);
}

int msg_put_pkg_state(struct wbuf *o, const char *name, uint8_t state, int err,
		      const uint8_t digest[static 32], const char *text)
{
	char t[WIRE_TEXT_MAX + 1];

	snprintf(t, sizeof(t), "%s", text ? text : "");
	BEGIN(o, MSG_PKG_STATE);
	TRY(wbuf_put_str(o, name));
	TRY(wbuf_put_u8(o, state));
	TRY(wbuf_put_u32(o, (uint32_t)(err < 0 ? -err : err)));
	TRY(wbuf_put(o, digest, 32));
	TRY(wbuf_put_str(o, t));
	FINISH(o);
}

int msg_put_run(struct wbuf *o, uint32_t req, const char *line)
{
	BEGIN(o, MSG_RUN);
	TRY(wbuf_put_u32(o, req));
	TRY(wbuf_put_str(o, line));
	FINISH(o);
}

int msg_put_run_reply(struct wbuf *o, uint32_t req, uint32_t job, int err, const char *text)
{
	char t[WIRE_TEXT_MAX + 1];

	snprintf(t, sizeof(t), "%s", text ? text : "");
	BEGIN(o, MSG_RUN_REPLY);
	TRY(wbuf_put_u32(o, req));
	TRY(wbuf_put_u32(o, job));
	TRY(wbuf_put_u32(o, (uint32_t)(err < 0 ? -err : err)));
	TRY(wbuf_put_str(o, t));
	FINISH(o);
}

int msg_put_job_state(struct wbuf *o, uint32_t job, uint8_t state, int32_t code, const char *text)
{
	char t[WIRE_TEXT_MAX + 1];

	snprintf(t, sizeof(t), "%s", text ? text : "");
	BEGIN(o, MSG_JOB_STATE);
	TRY(wbuf_put_u32(o, job));
	TRY(wbuf_put_u8(o, state));
	TRY(wbuf_put_u32(o, (uint32_t)code));
	TRY(wbuf_put_str(o, t));
	FINISH(o);
}

int msg_put_job_log(struct wbuf *o, uint32_t job, uint8_t stream, const void *p, size_t len)
{
	BEGIN(o, MSG_JOB_LOG);
	TRY(wbuf_put_u32(o, job));
	TRY(wbuf_put_u8(o, stream));
	TRY(wbuf_put(o, p, len));
	FINISH(o);
}

int msg_put_jobs(struct wbuf *o, const uint8_t instance[static JOBS_INSTANCE_LEN], const uint32_t *jobs,
		 uint32_t n)
{
	if (n > JOBS_MAX)
		return -EMSGSIZE;
	BEGIN(o, MSG_JOBS);
	TRY(wbuf_put(o, instance, JOBS_INSTANCE_LEN));
	TRY(wbuf_put_u32(o, n));
	for (uint32_t i = 0; i < n; i++)
		TRY(wbuf_put_u32(o, jobs[i]));
	FINISH(o);
}

/* --- RUN_REPLY's text for a started job ------------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
	if (n < 1 || n > RUN_INFO_FIELD_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool version_ok(const char *s, size_t n)
{
	if (n < 1 || n > RUN_INFO_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int run_info_format(const struct run_info *ri, char *buf, size_t n)
{
	char hex[65];
	int r;

	if (n < 256 || !name_ok(ri->name, strnlen(ri->name, sizeof(ri->name))) ||
	    !version_ok(ri->version, strnlen(ri->version, sizeof(ri->version))) ||
	    !name_ok(ri->entry, strnlen(ri->entry, sizeof(ri->entry))))
		return -EINVAL;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", ri->digest[i]);
	r = snprintf(buf, n, "name=%s\nversion=%s\nentry=%s\ndigest=%s\n", ri->name, ri->version,
		     ri->entry, hex);
	return r < 0 || (size_t)r >= n ? -EINVAL : 0;
}

/* One line "key=VALUE\n" at *p: VALUE's bounds, *p past the line. */
static bool field(const char **p, const char *key, const char **v, size_t *vn)
{
	size_t kn = strlen(key);
	const char *nl;

	if (strncmp(*p, key, kn) != 0 || (*p)[kn] != '=')
		return false;
	*v = *p + kn + 1;
	nl = strchr(*v, '\n');
	if (!nl)
		return false;
	*vn = (size_t)(nl - *v);
	*p = nl + 1;
	return true;
}

static int hexdig(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int run_info_parse(const char *text, struct run_info *ri)
{
	const char *p = text, *v[4];
	size_t vn[4];

	memset(ri, 0, sizeof(*ri));
	if (!field(&p, "name", &v[0], &vn[0]) || !name_ok(v[0], vn[0]) ||
	    !field(&p, "version", &v[1], &vn[1]) || !version_ok(v[1], vn[1]) ||
	    !field(&p, "entry", &v[2], &vn[2]) || !name_ok(v[2], vn[2]) ||
	    !field(&p, "digest", &v[3], &vn[3]) || vn[3] != 64 || *p)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexdig(v[3][2 * i]), lo = hexdig(v[3][2 * i + 1]);

		if (hi < 0 || lo < 0) {
			memset(ri, 0, sizeof(*ri));
			return -EINVAL;
		}
		ri->digest[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ri->name, v[0], vn[0]);
	memcpy(ri->version, v[1], vn[1]);
	memcpy(ri->entry, v[2], vn[2]);
	return 0;
}
