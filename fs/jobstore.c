/* Job records in the cache dir (jobstore.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobstore.h"
#include "log.h"
#include "appmsg.h"
#include "util.h"

struct open_log {
	uint32_t id;
	int fd;
	bool has_origin;
	struct job_origin origin;
};

/* A lost record that its enclave may still run. */
struct lost_rec {
	uint32_t id;
	struct job_origin origin;
};

struct jobstore {
	int dirfd;
	uint32_t last;
	struct open_log *logs; /* records of jobs still running */
	size_t nlogs, cap;
	struct lost_rec *lost; /* until the next jobstore_reconcile */
	size_t nlost, lost_cap;
};

#define LOST_MOUNT_ENDED "lost: the mount ended while it ran\n"


const char *jobstore_state_word(uint8_t state)
{
	switch (state) {
	case JOB_RUNNING: return "running";
	case JOB_EXITED: return "exited";
	case JOB_KILLED: return "killed";
	case JOB_TIMEOUT: return "timeout";
	case JOB_CANCELLED: return "cancelled";
	case JOB_FAILED: return "failed";
	case JOB_LOST: return "lost";
	}
	return "unknown";
}

/* Writes a small file of a record atomically: a temporary name, then rename. */
static int put_file(int dirfd, uint32_t id, const char *name, const char *text)
{
	char tmp[64], dst[64];
	int fd, r;

	snprintf(tmp, sizeof(tmp), "%u/.%s.tmp", id, name);
	snprintf(dst, sizeof(dst), "%u/%s", id, name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return neg_errno();
	r = io_write_all(fd, text, strlen(text));
	if (close(fd) < 0 && r == 0)
		r = neg_errno();
	if (r == 0 && renameat(dirfd, tmp, dirfd, dst) < 0)
		r = neg_errno();
	if (r < 0)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

static bool parse_id(const char *s, uint32_t *id)
{
	unsigned long long v;

	if (s[0] == '0' || parse_u64(s, 1, UINT32_MAX - 1, &v) < 0)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* Reads the start of a small file of a record: its length, or -errno. */
static ssize_t get_file(int dirfd, uint32_t id, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%u/%s", id, name);
	fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = neg_errno();
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

enum rec_state { REC_RUNNING, REC_LOST, REC_OTHER };

static enum rec_state record_state(int dirfd, uint32_t id)
{
	char buf[16];
	ssize_t n = get_file(dirfd, id, "state", buf, sizeof(buf));

	if (n == -ENOENT)
		return REC_RUNNING; /* created, never got a state */
	if (n > 0 && strncmp(buf, "running", 7) == 0)
		return REC_RUNNING;
	if (n > 0 && strncmp(buf, "lost:", 5) == 0)
		return REC_LOST;
	return REC_OTHER;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* origin: exactly 32 lowercase hex digits, a space, a decimal id from 1,
 * a newline. Anything else is no origin. */
static bool origin_parse(const char *s, size_t n, struct job_origin *o)
{
	char num[11];
	unsigned long long v;
	size_t len;

	if (n < 2 * JOBS_INSTANCE_LEN + 3 || s[2 * JOBS_INSTANCE_LEN] != ' ' || s[n - 1] != '\n')
		return false;
	for (size_t i = 0; i < JOBS_INSTANCE_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		o->instance[i] = (uint8_t)(hi << 4 | lo);
	}
	len = n - 1 - (2 * JOBS_INSTANCE_LEN + 1);
	if (len >= sizeof(num))
		return false;
	memcpy(num, s + 2 * JOBS_INSTANCE_LEN + 1, len);
	num[len] = '\0';
	if (num[0] == '0' || parse_u64(num, 1, UINT32_MAX, &v) < 0)
		return false;
	o->enclave_id = (uint32_t)v;
	return true;
}

static bool record_origin(int dirfd, uint32_t id, struct job_origin *o)
{
	char buf[64];
	ssize_t n = get_file(dirfd, id, "origin", buf, sizeof(buf));

	return n > 0 && (size_t)n < sizeof(buf) - 1 && !memchr(buf, '\0', (size_t)n) &&
	       origin_parse(buf, (size_t)n, o);
}

static int put_origin(int dirfd, uint32_t id, const struct job_origin *o)
{
	char text[2 * JOBS_INSTANCE_LEN + 16];

	for (size_t i = 0; i < JOBS_INSTANCE_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", o->instance[i]);
	snprintf(text + 2 * JOBS_INSTANCE_LEN, sizeof(text) - 2 * JOBS_INSTANCE_LEN, " %u\n",
		 o->enclave_id);
	return put_file(dirfd, id, "origin", text);
}

static int lost_add(struct jobstore *js, uint32_t id, const struct job_origin *o)
{
	if (js->nlost == js->lost_cap) {
		size_t cap = js->lost_cap ? js->lost_cap * 2 : 8;
		struct lost_rec *p = realloc(js->lost, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		js->lost = p;
		js->lost_cap = cap;
	}
	js->lost[js->nlost++] = (struct lost_rec){ id, *o };
	return 0;
}

int jobstore_open(int cachefd, struct jobstore **out, uint32_t **lost, size_t *nlost)
{
	struct jobstore *js = calloc(1, sizeof(*js));
	uint32_t *ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	*lost = NULL;
	*nlost = 0;
	if (!js)
		return -ENOMEM;
	if (mkdirat(cachefd, "jobs", 0755) < 0 && errno != EEXIST) {
		r = neg_errno();
		goto fail;
	}
	js->dirfd = openat(cachefd, "jobs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (js->dirfd < 0) {
		r = neg_errno();
		goto fail;
	}
	fd = dup(js->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		r = neg_errno();
		safe_close(fd);
		goto fail;
	}
	while ((de = readdir(d))) {
		struct job_origin o;
		enum rec_state st;
		uint32_t id;

		if (!parse_id(de->d_name, &id))
			continue;
		if (id > js->last)
			js->last = id;
		st = record_state(js->dirfd, id);
		if (st != REC_OTHER && record_origin(js->dirfd, id, &o) && (r = lost_add(js, id, &o)) < 0)
			break;
		if (st != REC_RUNNING)
			continue;
		if (n == cap) {
			uint32_t *p = realloc(ids, (cap = cap ? cap * 2 : 8) * sizeof(*ids));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			ids = p;
		}
		ids[n++] = id;
	}
	closedir(d);
	for (size_t i = 0; r == 0 && i < n; i++) {
		r = put_file(js->dirfd, ids[i], "state", LOST_MOUNT_ENDED);
		if (r == 0) {
			char text[16];
			snprintf(text, sizeof(text), "%d\n", JOB_EXIT_LOST);
			r = put_file(js->dirfd, ids[i], "exit", text);
		}
	}
	if (r < 0)
		goto fail;
	*lost = ids;
	*nlost = n;
	*out = js;
	return 0;
fail:
	free(ids);
	jobstore_free(js);
	return r;
}

void jobstore_free(struct jobstore *js)
{
	if (!js)
		return;
	for (size_t i = 0; i < js->nlogs; i++)
		safe_close(js->logs[i].fd);
	free(js->logs);
	free(js->lost);
	if (js->dirfd > 0)
		close(js->dirfd);
	free(js);
}

uint32_t jobstore_last(const struct jobstore *js)
{
	return js->last;
}

static int log_open(struct jobstore *js, uint32_t id, const struct job_origin *origin)
{
	char log[32];
	int fd;

	if (js->nlogs == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 8;
		struct open_log *p = realloc(js->logs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		js->logs = p;
		js->cap = cap;
	}
	snprintf(log, sizeof(log), "%u/log", id);
	fd = openat(js->dirfd, log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return neg_errno();
	js->logs[js->nlogs] = (struct open_log){ .id = id, .fd = fd, .has_origin = origin != NULL };
	if (origin)
		js->logs[js->nlogs].origin = *origin;
	js->nlogs++;
	return 0;
}

int jobstore_create(struct jobstore *js, const char *line, const struct job_origin *origin,
		    const char *manifest, const char *digest, uint32_t *id_out)
{
	uint32_t id = js->last + 1;
	char dir[16], *cmd;
	int r;

	if (id == UINT32_MAX)
		return -EOVERFLOW;
	snprintf(dir, sizeof(dir), "%u", id);
	if (mkdirat(js->dirfd, dir, 0755) < 0)
		return neg_errno();
	js->last = id; /* an id is never reused, even if the record failed */
	if (asprintf(&cmd, "%s\n", line) < 0)
		return -ENOMEM;
	r = put_file(js->dirfd, id, "cmd", cmd);
	free(cmd);
	if (r == 0 && manifest)
		r = put_file(js->dirfd, id, "manifest", manifest);
	if (r == 0 && digest)
		r = put_file(js->dirfd, id, "digest", digest);
	/* exit is there from the start, empty until the job ends. */
	if (r == 0)
		r = put_file(js->dirfd, id, "exit", "");
	/* The origin before the state: a record that is running has one. */
	if (r == 0 && origin)
		r = put_origin(js->dirfd, id, origin);
	if (r == 0)
		r = put_file(js->dirfd, id, "state", "running\n");
	if (r == 0)
		r = log_open(js, id, origin);
	if (r < 0)
		return r;
	*id_out = id;
	return 0;
}

static struct open_log *find_log(struct jobstore *js, uint32_t id)
{
	for (size_t i = 0; i < js->nlogs; i++)
		if (js->logs[i].id == id)
			return &js->logs[i];
	return NULL;
}

int jobstore_append_log(struct jobstore *js, uint32_t id, const void *p, size_t n)
{
	struct open_log *l = find_log(js, id);

	return l ? io_write_all(l->fd, p, n) : -ENOENT;
}

int jobstore_finish(struct jobstore *js, uint32_t id, uint8_t state, const char *text, int exit_status)
{
	struct open_log *l = find_log(js, id);
	char line[WIRE_TEXT_MAX + 64], code[16];
	int r;

	if (l) {
		/* A job lost with its connection may still run in its enclave. */
		if (state == JOB_LOST && l->has_origin)
			(void)lost_add(js, id, &l->origin);
		safe_close(l->fd);
		*l = js->logs[--js->nlogs];
	}
	if (state == JOB_FAILED || state == JOB_LOST)
		snprintf(line, sizeof(line), "%s: %s\n", jobstore_state_word(state), text);
	else
		snprintf(line, sizeof(line), "%s\n", jobstore_state_word(state));
	snprintf(code, sizeof(code), "%d\n", exit_status);
	/* exit last: once it exists, state, log and output/ are final. */
	r = put_file(js->dirfd, id, "state", line);
	if (r == 0)
		r = put_file(js->dirfd, id, "exit", code);
	return r;
}

static bool held_has(const uint32_t *held, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (held[mid] == id)
			return true;
		if (held[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Makes a lost record running again: exit emptied first (while it is
 * empty, state is not final), then state, then the log to append to. */
static int resume(struct jobstore *js, const struct lost_rec *lr)
{
	int r;

	if (find_log(js, lr->id))
		return -EEXIST;
	r = put_file(js->dirfd, lr->id, "exit", "");
	if (r == 0)
		r = put_file(js->dirfd, lr->id, "state", "running\n");
	if (r == 0)
		r = log_open(js, lr->id, &lr->origin);
	if (r < 0) {
		char code[16];

		snprintf(code, sizeof(code), "%d\n", JOB_EXIT_LOST);
		(void)put_file(js->dirfd, lr->id, "state", "lost: its record could not be reopened\n");
		(void)put_file(js->dirfd, lr->id, "exit", code);
	}
	return r;
}

int jobstore_reconcile(struct jobstore *js, const uint8_t instance[static JOBS_INSTANCE_LEN],
		       const uint32_t *held, size_t nheld, struct job_match **out, size_t *nout)
{
	struct job_match *m = NULL;
	size_t n = 0;
	int r = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < js->nlost; i++) {
		const struct lost_rec *lr = &js->lost[i];
		int e;

		if (memcmp(lr->origin.instance, instance, JOBS_INSTANCE_LEN) != 0 ||
		    !held_has(held, nheld, lr->origin.enclave_id))
			continue;
		if (!m && !(m = calloc(js->nlost, sizeof(*m)))) {
			r = -ENOMEM;
			break;
		}
		e = resume(js, lr);
		if (e < 0) {
			r = e;
			continue;
		}
		m[n++] = (struct job_match){ lr->id, lr->origin.enclave_id };
	}
	if (r == -ENOMEM) {
		free(m);
		return r; /* the list stays for a later attempt */
	}
	js->nlost = 0;
	*out = m;
	*nout = n;
	return r;
}
