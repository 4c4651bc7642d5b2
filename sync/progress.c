/* The progress line of progress.h. The rate is measured over the draws of
 * the last few seconds, so a stall shows at once and the time left follows
 * the speed of now, not of the start. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "progress.h"
#include "util.h"

#define REDRAW_S 0.25

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_human(char *buf, size_t n, uint64_t bytes)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, n, "%llu B", (unsigned long long)bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", v, unit[u]);
}

static void duration(char *buf, size_t n, double s)
{
	unsigned long long t = (unsigned long long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, n, "%llu:%02llu:%02llu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%llu:%02llu", t / 60, t % 60);
}

void progress_format(char *buf, size_t n, const char *label, uint64_t done, uint64_t total,
		     uint64_t files_done, uint64_t files_total, double rate)
{
	char d[32], t[32], r[32], eta[32];
	size_t k;

	progress_human(d, sizeof(d), done);
	progress_human(t, sizeof(t), total);
	k = (size_t)snprintf(buf, n, "%s%s%s / %s", label ? label : "", label ? ": " : "", d, t);
	if (k < n && total)
		k += (size_t)snprintf(buf + k, n - k, "  %3u%%",
				      (unsigned)(done >= total ? 100 : done * 100.0 / total));
	if (k < n && rate > 0) {
		progress_human(r, sizeof(r), (uint64_t)rate);
		k += (size_t)snprintf(buf + k, n - k, "  %s/s", r);
		if (k < n && total > done) {
			duration(eta, sizeof(eta), (double)(total - done) / rate);
			k += (size_t)snprintf(buf + k, n - k, "  ETA %s", eta);
		}
	}
	if (k < n && files_total)
		snprintf(buf + k, n - k, "  %llu/%llu files", (unsigned long long)files_done,
			 (unsigned long long)files_total);
}

static void clear_hook(void *ud)
{
	progress_clear(ud);
}

void progress_init(struct progress *p, enum progress_mode mode, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->active = mode == PROGRESS_ON || (mode == PROGRESS_AUTO && isatty(STDERR_FILENO));
	p->last = now_s();
	p->sample[0].t = p->last;
	p->nsample = 1;
	p->next = 1;
	if (p->active)
		log_set_stderr_hook(clear_hook, p);
}

static double rate(const struct progress *p, double t)
{
	unsigned oldest = p->nsample < PROGRESS_SAMPLES ? 0 : p->next;
	double dt = t - p->sample[oldest].t;

	if (dt < 0.2 || p->done < p->sample[oldest].done)
		return 0;
	return (double)(p->done - p->sample[oldest].done) / dt;
}

static void draw(struct progress *p, double t, const char *end)
{
	char line[256], out[600];
	size_t len, pad;

	progress_format(line, sizeof(line), p->label, p->done, p->total, p->files_done,
			p->files_total, rate(p, t));
	len = strlen(line);
	pad = p->width > len ? p->width - len : 0;
	/* One write: log lines from other threads never land inside it. */
	snprintf(out, sizeof(out), "\r%s%*s%s", line, (int)MIN(pad, 256), "", end);
	(void)io_write_all(STDERR_FILENO, out, strlen(out));
	p->width = len;
	p->drawn = true;
	p->last = t;
	p->sample[p->next] = (typeof(p->sample[0])){ .t = t, .done = p->done };
	p->next = (p->next + 1) % PROGRESS_SAMPLES;
	if (p->nsample < PROGRESS_SAMPLES)
		p->nsample++;
}

void progress_update(struct progress *p, uint64_t done, uint64_t total, uint64_t files_done,
		     uint64_t files_total)
{
	double t;

	if (!p->active)
		return;
	p->done = done;
	p->total = total;
	p->files_done = files_done;
	p->files_total = files_total;
	t = now_s();
	if (t - p->last >= REDRAW_S)
		draw(p, t, "");
}

void progress_finish(struct progress *p)
{
	if (!p->active)
		return;
	draw(p, now_s(), "\n");
	p->active = false;
	log_set_stderr_hook(NULL, NULL);
}

void progress_cancel(struct progress *p)
{
	progress_clear(p);
	if (p->active)
		log_set_stderr_hook(NULL, NULL);
	p->active = false;
}

void progress_clear(struct progress *p)
{
	char out[300];

	if (!p->active || !p->drawn)
		return;
	snprintf(out, sizeof(out), "\r%*s\r", (int)MIN(p->width, 256), "");
	(void)io_write_all(STDERR_FILENO, out, strlen(out));
	p->width = 0;
	p->drawn = false;
}
