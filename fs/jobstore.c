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
#include "proto.h"
#include "util.h"

struct open_log {
	uint32_t id;
	int fd;
};

struct jobstore {
	int dirfd;
	uint32_t last;
	struct open_log *logs; /* records of jobs still running */
	size_t nlogs, cap;
};

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

static bool record_running(int dirfd, uint32_t id)
{
	char path[64], buf[16] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%u/state", id);
	fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT; /* created, never got a state */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strncmp(buf, "running", 7) == 0;
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
		uint32_t id;

		if (!parse_id(de->d_name, &id))
			continue;
		if (id > js->last)
			js->last = id;
		if (!record_running(js->dirfd, id))
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
		r = put_file(js->dirfd, ids[i], "state", "lost: the mount ended while it ran\n");
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
	if (js->dirfd > 0)
		close(js->dirfd);
	free(js);
}

uint32_t jobstore_last(const struct jobstore *js)
{
	return js->last;
}

int jobstore_create(struct jobstore *js, const char *line, uint32_t *id_out)
{
	uint32_t id = js->last + 1;
	char dir[16], log[32], *cmd;
	int fd, r;

	if (id == UINT32_MAX)
		return -EOVERFLOW;
	if (js->nlogs == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 8;
		struct open_log *p = realloc(js->logs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		js->logs = p;
		js->cap = cap;
	}
	snprintf(dir, sizeof(dir), "%u", id);
	if (mkdirat(js->dirfd, dir, 0755) < 0)
		return neg_errno();
	js->last = id; /* an id is never reused, even if the record failed */
	if (asprintf(&cmd, "%s\n", line) < 0)
		return -ENOMEM;
	r = put_file(js->dirfd, id, "cmd", cmd);
	free(cmd);
	if (r == 0)
		r = put_file(js->dirfd, id, "state", "running\n");
	if (r < 0)
		return r;
	snprintf(log, sizeof(log), "%u/log", id);
	fd = openat(js->dirfd, log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return neg_errno();
	js->logs[js->nlogs++] = (struct open_log){ id, fd };
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
