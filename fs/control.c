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

/* .run reads as the job id and a newline, or nothing before the first job. */
int run_text(uint32_t job, char *buf, size_t n)
{
	buf[0] = '\0';
	return job ? snprintf(buf, n, "%u\n", job) : 0;
}

/* Starts the job of one line (without its newline). */
static int run_line(struct handle *h, const char *line, size_t len)
{
	struct fs *fs = fs_get();
	struct jobline jl = { 0 };
	char *copy, msg[512];
	uint32_t job = 0;
	int r;

	if (memchr(line, '\0', len)) {
		log_warn(".run: a job line has a NUL byte");
		return -EINVAL;
	}
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	r = jobline_split(copy, len, &jl, msg, sizeof(msg));
	jobline_release(&jl);
	if (r == 0)
		r = link_run(fs->link, copy, &job, msg, sizeof(msg));
	if (r < 0)
		log_warn(".run '%s': %s (%s)", copy, msg, strerror(-r));
	else
		h->job = job;
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
			log_warn(".run: a job line longer than %u bytes", RUN_LINE_MAX);
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
