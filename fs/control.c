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
