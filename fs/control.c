/* The control files: .run (job lines start jobs after a barrier), and
 * jobs/N/ctl ("cancel"); .status is read whole at open (fsops.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsint.h"
#include "jobline.h"
#include "link.h"
#include "log.h"
#include "appmsg.h"
#include "util.h"

int run_text(const struct handle *h, char *buf, size_t n)
{
	int r;

	if (!h || (!h->job && !h->run_err))
		return link_run_text(fs_get()->link, buf, n);
	r = h->job ? snprintf(buf, n, "%u\n", h->job) : snprintf(buf, n, "error: %s\n", h->run_err);
	return r < 0 ? 0 : (size_t)r >= n ? (int)n - 1 : r;
}

/* Starts the job of one line (without its newline). */
static int run_line(struct handle *h, const char *line, size_t len)
{
	struct fs *fs = fs_get();
	struct jobline jl = { 0 };
	char *copy, msg[512];
	uint32_t job = 0;
	int r;

	free(h->run_err);
	h->run_err = NULL;
	h->job = 0;
	if (memchr(line, '\0', len)) {
		snprintf(msg, sizeof(msg), "a job line has a NUL byte");
		log_warn(".run: %s", msg);
		link_run_refused(fs->link, msg);
		h->run_err = strdup(msg);
		return -EINVAL;
	}
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	msg[0] = '\0';
	r = jobline_split(copy, len, &jl, msg, sizeof(msg));
	jobline_release(&jl);
	if (r < 0)
		link_run_refused(fs->link, msg[0] ? msg : strerror(-r));
	else
		r = link_run(fs->link, copy, &job, msg, sizeof(msg));
	if (r < 0) {
		log_warn(".run '%s': %s (%s)", copy, msg, strerror(-r));
		h->run_err = strdup(msg[0] ? msg : strerror(-r));
	} else {
		h->job = job;
	}
	free(copy);
	return r;
}

/* A .run write: bytes are collected per open file, and every newline ends
 * a job line (so `dd bs=32` starts one job, not one per piece); a line
 * without a newline runs at close (run_flush). The write that completes a
 * line fails with that job's error; lines after a failed one in the same
 * write are dropped. */
int run_write(struct handle *h, const char *buf, size_t size)
{
	const char *p = buf, *end = buf + size, *nl;
	int r = 0;

	pthread_mutex_lock(&h->mu);
	while (p < end) {
		size_t n;
		char *grown;

		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl ? nl : end) - p);
		if (h->linelen + n > RUN_LINE_MAX) {
			char msg[64];

			snprintf(msg, sizeof(msg), "a job line longer than %u bytes", RUN_LINE_MAX);
			log_warn(".run: %s", msg);
			link_run_refused(fs_get()->link, msg);
			free(h->run_err);
			h->run_err = strdup(msg);
			h->job = 0;
			r = -E2BIG;
			break;
		}
		grown = realloc(h->line, h->linelen + n + 1);
		if (!grown) {
			r = -ENOMEM;
			break;
		}
		h->line = grown;
		memcpy(h->line + h->linelen, p, n);
		h->linelen += n;
		p += n;
		if (!nl)
			break;
		p++;
		r = run_line(h, h->line, h->linelen);
		h->linelen = 0;
		if (r < 0)
			break;
	}
	if (r < 0)
		h->linelen = 0;
	pthread_mutex_unlock(&h->mu);
	return r < 0 ? r : (int)size;
}

/* close() of .run: a last line without a newline starts its job now. */
int run_flush(struct handle *h)
{
	int r = 0;

	pthread_mutex_lock(&h->mu);
	if (h->linelen)
		r = run_line(h, h->line, h->linelen);
	h->linelen = 0;
	pthread_mutex_unlock(&h->mu);
	return r;
}

int ctl_write(struct handle *h, const char *buf, size_t size)
{
	struct fs *fs = fs_get();
	size_t len = size;
	int r;

	if (len && buf[len - 1] == '\n')
		len--;
	if (len != strlen("cancel") || memcmp(buf, "cancel", len) != 0)
		return -EINVAL;
	r = link_cancel(fs->link, h->job);
	return r < 0 ? r : (int)size;
}

/* --- jobs/N/wait: reads that end when the job does ------------------------------------ */

/* A read waiting for its job's end. The kernel may interrupt it at any time
 * (wait_interrupted, on another thread): whoever takes it off the list under
 * waiters_mu answers it, exactly once. */
struct waiter {
	struct waiter *next;
	fuse_req_t req;
	uint32_t job;
	size_t size;
	off_t off;
};

static pthread_mutex_t waiters_mu = PTHREAD_MUTEX_INITIALIZER;
static struct waiter *waiters;

/* The job's exit file: its status and newline, or "" while it runs. */
static ssize_t exit_text(uint32_t job, char *buf, size_t n)
{
	struct fs *fs = fs_get();
	char rel[32];
	ssize_t len;
	int fd;

	snprintf(rel, sizeof(rel), "jobs/%u/exit", job);
	fd = openat(fs->cachefd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	len = read(fd, buf, n);
	if (len < 0)
		len = neg_errno();
	close(fd);
	return len;
}

static void answer(fuse_req_t req, const char *text, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static bool take(struct waiter *w)
{
	for (struct waiter **pp = &waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return true;
		}
	return false;
}

static void wait_interrupted(fuse_req_t req, void *data)
{
	struct waiter *w = data;
	bool mine;

	pthread_mutex_lock(&waiters_mu);
	mine = take(w);
	pthread_mutex_unlock(&waiters_mu);
	if (mine) {
		fuse_reply_err(req, EINTR);
		free(w);
	}
}

void wait_read(fuse_req_t req, uint32_t job, size_t size, off_t off)
{
	struct waiter *w = calloc(1, sizeof(*w));
	char text[32];
	ssize_t len;

	if (!w) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*w = (struct waiter){ .req = req, .job = job, .size = size, .off = off };
	/* Before it is listed: an interrupt that comes now finds nothing to
	 * take, and fuse_req_interrupted() below says so. */
	fuse_req_interrupt_func(req, wait_interrupted, w);
	pthread_mutex_lock(&waiters_mu);
	len = exit_text(job, text, sizeof(text));
	if (len != 0 || fuse_req_interrupted(req)) {
		pthread_mutex_unlock(&waiters_mu);
		free(w);
		if (len > 0)
			answer(req, text, (size_t)len, size, off);
		else
			fuse_reply_err(req, len < 0 ? (int)-len : EINTR);
		return;
	}
	w->next = waiters;
	waiters = w;
	pthread_mutex_unlock(&waiters_mu);
}

void wait_job_ended(uint32_t job)
{
	struct waiter *done = NULL, **pp;
	char text[32];
	ssize_t len;

	pthread_mutex_lock(&waiters_mu);
	len = exit_text(job, text, sizeof(text));
	for (pp = &waiters; *pp;) {
		struct waiter *w = *pp;

		if (w->job == job && len != 0) {
			*pp = w->next;
			w->next = done;
			done = w;
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&waiters_mu);
	while (done) {
		struct waiter *w = done;

		done = w->next;
		if (len > 0)
			answer(w->req, text, (size_t)len, w->size, w->off);
		else
			fuse_reply_err(w->req, (int)-len);
		free(w);
	}
}

void wait_fini(void)
{
	struct waiter *all;

	pthread_mutex_lock(&waiters_mu);
	all = waiters;
	waiters = NULL;
	pthread_mutex_unlock(&waiters_mu);
	while (all) {
		struct waiter *w = all;

		all = w->next;
		fuse_reply_err(w->req, ENOTCONN);
		free(w);
	}
}
