/* Jobs: a RUN line is checked against its package's manifest and started in
 * a sandbox (sandbox.c); stdout and stderr stream to the host while it runs;
 * when it ends, everything it wrote to /output is synced (a barrier) before
 * the final JOB_STATE, so the host can read the results at once.
 *
 * Jobs do not depend on their host: one that goes away leaves them running
 * (their output is held, up to HELD_MAX each), and the next host is told
 * which jobs exist (JOBS), gets what was held, and the final states of the
 * jobs that ended meanwhile once its initial pass has brought output/ up to
 * date. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "appmsg.h"
#include "daemon.h"
#include "jobline.h"
#include "verdict.h"
#include "log.h"
#include "util.h"

#define LOG_READ (64u * 1024)
#define OUT_BACKLOG (8u << 20) /* stop reading job output above this much queued */
#define HELD_MAX (64u * 1024)  /* output kept per job while no host is connected */

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void reply(struct daemon *d, uint32_t req, uint32_t job, int err, const char *text)
{
	if (d->connected)
		(void)msg_put_run_reply(engine_out(d->engine), req, job, err, text);
}

static unsigned running(const struct daemon *d)
{
	unsigned n = 0;

	for (const struct job *j = d->jobs; j; j = j->next)
		n += !j->ended;
	return n;
}

/* Why a job could not start is told as a fixed text: the sandbox's own
 * message can name the program the manifest runs. */
#define START_FAILED "the job could not start"

void jobs_run(struct daemon *d, uint32_t req, const char *line)
{
	const struct manifest_entry *entry;
	struct sandbox_spec spec = { 0 };
	char err[PKG_NAME_MAX + 512];
	struct jobline jl = { 0 };
	struct package *p;
	struct job *j = NULL;
	char **argv = NULL;
	int r;

	r = jobline_split(line, strlen(line), &jl, err, sizeof(err));
	if (r < 0) {
		reply(d, req, 0, r, err);
		return;
	}
	p = package_find(d, jl.words[0]);
	if (!p) {
		snprintf(err, sizeof(err), "no package '%.*s' in encrypted/", PKG_NAME_MAX, jl.words[0]);
		reply(d, req, 0, -ENOENT, err);
		goto out;
	}
	if (p->installing) {
		r = package_wait(p, req, line);
		if (r < 0)
			reply(d, req, 0, r, r == -EBUSY ? "too many job lines wait for this package"
							: "out of memory");
		goto out;
	}
	if (p->state != PKG_READY) {
		snprintf(err, sizeof(err), "package %s: %s", p->name, p->msg);
		reply(d, req, 0, p->err ? -p->err : -EIO, err);
		goto out;
	}
	r = jobline_resolve(&jl, p->app->manifest, &entry, &argv, err, sizeof(err));
	if (r < 0) {
		reply(d, req, 0, r, err);
		goto out;
	}
	if (running(d) >= d->max_jobs) {
		snprintf(err, sizeof(err), "%u jobs are running (--max-jobs)", d->max_jobs);
		reply(d, req, 0, -EBUSY, err);
		goto out;
	}

	j = calloc(1, sizeof(*j));
	if (!j) {
		reply(d, req, 0, -ENOMEM, "out of memory");
		goto out;
	}
	spec.argv = argv;
	spec.app_fd = p->app->fd;
	spec.dataset_fd = d->dataset_fd;
	spec.model_fd = d->model_fd;
	spec.output_fd = d->output_fd;
	spec.uid = p->app->uid;
	spec.gid = p->app->uid;
	spec.mem_bytes = d->job_mem;
	r = sandbox_start(&spec, &j->sb, &j->out_fd, &j->err_fd, err, sizeof(err));
	if (r < 0) {
		log_errno(r, "package %s: %s", p->name, START_FAILED);
		reply(d, req, 0, r, START_FAILED);
		goto out;
	}
	j->id = ++d->next_job;
	j->app = p->app;
	j->app->refs++;
	j->entry = entry;
	j->deadline_ms = now_ms() + (uint64_t)entry->timeout_s * 1000u;
	j->next = d->jobs;
	d->jobs = j;
	log_info("job %u: %s started", j->id, line);
	{
		/* What runs, for the host's record of the job: the manifest's
		 * public names (doc/SECURITY.md) and the package's digest. */
		struct run_info ri = { 0 };
		char text[512];

		snprintf(ri.name, sizeof(ri.name), "%s", p->app->manifest->name);
		snprintf(ri.version, sizeof(ri.version), "%s", p->app->manifest->version);
		snprintf(ri.entry, sizeof(ri.entry), "%s", entry->name);
		memcpy(ri.digest, p->digest, sizeof(ri.digest));
		if (run_info_format(&ri, text, sizeof(text)) < 0)
			text[0] = '\0';
		reply(d, req, j->id, 0, text);
	}
	if (d->connected)
		(void)msg_put_job_state(engine_out(d->engine), j->id, JOB_RUNNING, 0, "");
	j = NULL;
out:
	free(j);
	free(argv);
	jobline_release(&jl);
}

static struct job *job_find(struct daemon *d, uint32_t id)
{
	for (struct job *j = d->jobs; j; j = j->next)
		if (j->id == id)
			return j;
	return NULL;
}

void jobs_cancel(struct daemon *d, uint32_t id)
{
	struct job *j = job_find(d, id);

	if (!j || j->ended)
		return;
	j->cancelled = true;
	(void)sandbox_kill(j->sb);
}

#define TAIL_MAX (64u * 1024)

/* Keeps the last TAIL_MAX bytes written to stderr. */
static void tail_add(struct tail *t, const uint8_t *p, size_t n)
{
	if (!t->buf && !(t->buf = malloc(TAIL_MAX)))
		return;
	if (n >= TAIL_MAX) {
		memcpy(t->buf, p + n - TAIL_MAX, TAIL_MAX);
		t->len = TAIL_MAX;
		return;
	}
	if (t->len + n > TAIL_MAX) {
		size_t drop = t->len + n - TAIL_MAX;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/* Where the last `lines` lines of the tail begin (a final newline ends the
 * last line rather than starting an empty one). */
static size_t tail_start(const struct tail *t, uint32_t lines)
{
	size_t i = t->len;

	if (i && t->buf[i - 1] == '\n')
		i--;
	for (uint32_t seen = 0; i > 0; i--)
		if (t->buf[i - 1] == '\n' && ++seen == lines)
			return i;
	return 0;
}

/* Keeps the last HELD_MAX bytes, counting what it drops. */
static void held_add(struct job *j, const uint8_t *p, size_t n)
{
	struct tail *h = &j->held;

	if (!h->buf && !(h->buf = malloc(HELD_MAX))) {
		j->held_dropped += n;
		return;
	}
	if (n >= HELD_MAX) {
		j->held_dropped += h->len + n - HELD_MAX;
		memcpy(h->buf, p + n - HELD_MAX, HELD_MAX);
		h->len = HELD_MAX;
		return;
	}
	if (h->len + n > HELD_MAX) {
		size_t drop = h->len + n - HELD_MAX;
		memmove(h->buf, h->buf + drop, h->len - drop);
		h->len -= drop;
		j->held_dropped += drop;
	}
	memcpy(h->buf + h->len, p, n);
	h->len += n;
}

static void send_log(struct daemon *d, struct job *j, uint8_t stream, const uint8_t *p, size_t n)
{
	if (!d->connected) {
		held_add(j, p, n);
		return;
	}
	while (n) {
		size_t k = MIN(n, (size_t)JOB_LOG_MAX);
		(void)msg_put_job_log(engine_out(d->engine), j->id, stream, p, k);
		p += k;
		n -= k;
	}
}

/* stdout always goes to the host; stderr as the entry's manifest says
 * (all of it, none, or its last lines when the job ends). */
static void job_output(struct daemon *d, struct job *j, uint8_t stream, const uint8_t *p, size_t n)
{
	if (stream == 1 || j->entry->stderr_policy == MANIFEST_STDERR_ALL)
		send_log(d, j, stream, p, n);
	else if (j->entry->stderr_policy == MANIFEST_STDERR_LAST)
		tail_add(&j->tail, p, n);
}

/* Reads what the job wrote; false at end of file. */
static bool forward(struct daemon *d, struct job *j, int *fd, uint8_t stream)
{
	static uint8_t buf[LOG_READ];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		*fd = safe_close(*fd);
		return false;
	}
	job_output(d, j, stream, buf, (size_t)n);
	return true;
}

static void job_final_state(struct daemon *d, struct job *j)
{
	uint8_t state;
	int32_t code;
	char text[128] = "";

	if (j->timed_out) {
		state = JOB_TIMEOUT;
		code = 0;
		snprintf(text, sizeof(text), "timed out");
	} else if (j->cancelled) {
		state = JOB_CANCELLED;
		code = 0;
		snprintf(text, sizeof(text), "cancelled");
	} else if (WIFSIGNALED(j->status)) {
		state = JOB_KILLED;
		code = WTERMSIG(j->status);
		snprintf(text, sizeof(text), "killed by signal %d", code);
	} else {
		state = JOB_EXITED;
		code = WEXITSTATUS(j->status);
		snprintf(text, sizeof(text), "exited with status %d", code);
	}
	log_info("job %u: %s", j->id, text);
	if (d->connected)
		(void)msg_put_job_state(engine_out(d->engine), j->id, state, code, text);
}

static void job_free(struct daemon *d, struct job *j)
{
	struct job **pp = &d->jobs;

	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	safe_close(j->out_fd);
	safe_close(j->err_fd);
	sandbox_free(j->sb);
	app_unref(d, j->app);
	free(j->tail.buf);
	free(j->held.buf);
	free(j);
}

/* An ended job waiting for a host needs only its id and final state. */
static void job_release(struct daemon *d, struct job *j)
{
	j->out_fd = safe_close(j->out_fd);
	j->err_fd = safe_close(j->err_fd);
	sandbox_free(j->sb);
	j->sb = NULL;
	app_unref(d, j->app);
	j->app = NULL;
	j->entry = NULL;
	free(j->tail.buf);
	j->tail = (struct tail){ 0 };
	j->barrier = 0;
}

/* Keeps at most JOBS_ENDED_KEPT ended jobs for the next host, dropping the
 * oldest (the list is newest first). */
static void ended_trim(struct daemon *d)
{
	struct job *last = NULL;
	unsigned n = 0;

	for (struct job *j = d->jobs; j; j = j->next)
		if (j->ended) {
			n++;
			last = j;
		}
	while (n-- > JOBS_ENDED_KEPT && last) {
		struct job *drop = last;

		last = NULL;
		for (struct job *j = d->jobs; j && j != drop; j = j->next)
			if (j->ended)
				last = j;
		log_warn("job %u: its end is not kept for the next host (%u ended jobs wait)", drop->id,
			 JOBS_ENDED_KEPT);
		job_free(d, drop);
	}
}

int jobs_pollfds(struct daemon *d, struct pollfd *fds, int max, struct job **owners)
{
	bool backlog = d->connected && wbuf_len(engine_out(d->engine)) > OUT_BACKLOG;
	int n = 0;

	for (struct job *j = d->jobs; j && n + 3 <= max; j = j->next) {
		if (j->ended)
			continue;
		if (!backlog && j->out_fd >= 0) {
			owners[n] = j;
			fds[n++] = (struct pollfd){ .fd = j->out_fd, .events = POLLIN };
		}
		if (!backlog && j->err_fd >= 0) {
			owners[n] = j;
			fds[n++] = (struct pollfd){ .fd = j->err_fd, .events = POLLIN };
		}
		owners[n] = j;
		fds[n++] = (struct pollfd){ .fd = sandbox_fd(j->sb), .events = POLLIN };
	}
	return n;
}

/* The job's processes are gone: drain its pipes, then ask for a sync
 * point so that its output reaches the host before its final state. */
static void job_ended(struct daemon *d, struct job *j)
{
	while (j->out_fd >= 0 && forward(d, j, &j->out_fd, 1))
		;
	while (j->err_fd >= 0 && forward(d, j, &j->err_fd, 2))
		;
	if (j->tail.len) {
		size_t from = tail_start(&j->tail, j->entry->stderr_lines);
		send_log(d, j, 2, (const uint8_t *)j->tail.buf + from, j->tail.len - from);
	}
	j->ended = true;
	if (!d->connected) {
		log_info("job %u ended while no host was connected", j->id);
		job_final_state(d, j); /* logs it */
		job_release(d, j);
		ended_trim(d);
		return;
	}
	engine_drain_watch(d->engine);
	/* A directory the watcher could not watch (its limit) is found here. */
	(void)engine_rescan(d->engine, "output");
	if (engine_barrier(d->engine, &j->barrier) < 0) {
		job_final_state(d, j);
		job_free(d, j);
	}
}

void jobs_step(struct daemon *d, const struct pollfd *fds, struct job *const *owners, int n)
{
	for (int i = 0; i < n; i++) {
		struct job *j = owners[i];

		if (!fds[i].revents || j->ended)
			continue;
		if (fds[i].fd == j->out_fd)
			forward(d, j, &j->out_fd, 1);
		else if (fds[i].fd == j->err_fd)
			forward(d, j, &j->err_fd, 2);
	}
	/* Reap, then finish jobs whose output has reached the host. */
	for (struct job *j = d->jobs, *next; j; j = next) {
		next = j->next;
		if (!j->ended && sandbox_reap(j->sb, &j->status) == 1)
			job_ended(d, j);
	}
}

void jobs_finish(struct daemon *d)
{
	bool initial = engine_initial_done(d->engine);

	for (struct job *j = d->jobs, *next; j; j = next) {
		next = j->next;
		/* Ended before this conversation: once its initial pass has
		 * sent output/, a barrier as for any job. */
		if (j->ended && !j->barrier && initial && engine_barrier(d->engine, &j->barrier) < 0) {
			job_final_state(d, j);
			job_free(d, j);
			continue;
		}
		if (j->ended && j->barrier && engine_barrier_acked(d->engine, j->barrier)) {
			job_final_state(d, j);
			job_free(d, j);
		}
	}
}

int jobs_timeout_ms(const struct daemon *d)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	for (const struct job *j = d->jobs; j; j = j->next)
		if (!j->ended && j->deadline_ms < next)
			next = j->deadline_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)MIN(next - now, (uint64_t)INT32_MAX);
}

void jobs_check_timers(struct daemon *d)
{
	uint64_t now = now_ms();

	for (struct job *j = d->jobs; j; j = j->next) {
		if (!j->ended && !j->timed_out && j->deadline_ms <= now) {
			log_warn("job %u: timed out", j->id);
			j->timed_out = true;
			(void)sandbox_kill(j->sb);
		}
	}
}

void jobs_connected(struct daemon *d)
{
	uint32_t *ids = calloc(JOBS_MAX, sizeof(*ids));
	uint32_t n = 0;
	struct job *j;

	if (!ids) {
		log_error("out of memory listing the jobs for the host");
		return;
	}
	for (j = d->jobs; j; j = j->next)
		n++;
	/* Running jobs are at most --max-jobs (<= 1024), ended ones are
	 * trimmed: the list always fits. Newest first: fill from the end. */
	n = MIN(n, (uint32_t)JOBS_MAX);
	{
		uint32_t i = n;
		for (j = d->jobs; j && i; j = j->next)
			ids[--i] = j->id;
	}
	(void)msg_put_jobs(engine_out(d->engine), d->instance, ids, n);
	free(ids);
	/* What was held while no host was connected. */
	for (j = d->jobs; j; j = j->next) {
		if (j->held_dropped) {
			char note[160];
			int len = snprintf(note, sizeof(note),
					   "enclaved: %llu bytes of this job's output were dropped while no "
					   "host was connected\n",
					   (unsigned long long)j->held_dropped);
			(void)msg_put_job_log(engine_out(d->engine), j->id, 2, note, (size_t)len);
		}
		if (j->held.len)
			send_log(d, j, 1, (const uint8_t *)j->held.buf, j->held.len);
		free(j->held.buf);
		j->held = (struct tail){ 0 };
		j->held_dropped = 0;
	}
}

/* The host went away: jobs keep running, and ended ones wait for the next
 * host (their output syncs on the next connection, then their final state
 * goes out). */
void jobs_disconnected(struct daemon *d)
{
	for (struct job *j = d->jobs; j; j = j->next)
		if (j->ended)
			job_release(d, j);
	ended_trim(d);
}

void jobs_stop_all(struct daemon *d)
{
	for (struct job *j = d->jobs; j; j = j->next)
		if (!j->ended)
			(void)sandbox_kill(j->sb);
	while (d->jobs)
		job_free(d, d->jobs);
}
