/* The enclave link of a mount (link.h): the engine thread, its connection
 * (to enclaved, or to the development enclave of devenclave.c), and the
 * tables the enclave's messages fill. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <malloc.h>

#include "engine.h"
#include "feed.h"
#include "devenclave.h"
#include "jobclient.h"
#include "jobstore.h"
#include "link.h"
#include "session-engine.h"
#include "session.h"
#include "log.h"
#include "notify.h"
#include "appmsg.h"
#include "strmap.h"
#include "transport.h"
#include "trees.h"
#include "util.h"
#include "verdict.h"

/* How long requests wait for a link that is down before they fail with EIO,
 * and how long unmounting waits for cancelled jobs to end. */
#define LINK_DOWN_WAIT_MS 30000
#define STOP_JOBS_WAIT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* After a burst of this many changes, the memory malloc keeps from it is
 * handed back to the system when a barrier passes or the link is idle for
 * TRIM_IDLE_MS: glibc's arenas keep freed memory of a burst of creates and
 * deletes (several MB per ten thousand files) for good otherwise. */
#define TRIM_BURST 1024
#define TRIM_IDLE_MS 1000
/* Failed transfers .status lists (their count is always given). */
#define FAILED_SHOWN 16

struct change {
	struct change *next;
	struct watch_event ev;
	char *path, *to;
};

enum run_phase { RUN_QUEUED, RUN_BARRIER, RUN_SENT, RUN_DONE };

/* A .run write in progress; lives on the waiting FUSE thread's stack. */
struct run_req {
	struct run_req *next;
	const char *line;
	uint32_t req;
	enum run_phase phase;
	uint64_t seq;
	int err;
	uint32_t job;
	char msg[WIRE_TEXT_MAX + 1];
};

struct pkg {
	uint8_t state;
	int err;
	uint8_t digest[32];
	char text[WIRE_TEXT_MAX + 1];
};

struct link {
	struct link_config cfg; /* strings borrowed from the caller */
	struct engine *e;
	struct jobstore *js;
	int evfd;
	pthread_t thread;
	bool started;
	pid_t child; /* the development enclave (link thread only) */

	pthread_mutex_t mu; /* protects everything below */
	pthread_cond_t cv;  /* broadcast on every change below */
	struct change *ch_head, *ch_tail;
	bool rescan; /* a change could not be queued */
	size_t burst;   /* changes fed since memory was last handed back */
	bool barrier_passed; /* a job's barrier passed since the last check */
	struct run_req *runs;
	uint32_t next_req;
	uint32_t *cancels;
	size_t ncancels, cancels_cap;
	struct strmap *pkgs; /* name -> struct pkg, from the current enclave */
	/* Package name -> the errno (as a pointer) with which the enclave
	 * refused to store its last transfer (FILE_ACK), until it is written
	 * again or stored. */
	struct strmap *refused;
	/* The jobs of this mount running in the enclave of the current
	 * connection, followed under their ids here. */
	struct jobclient *jc;
	uint32_t last_job;
	uint32_t *lost;
	size_t nlost, lost_cap;
	char *enclave_status; /* its STATUS JSON */
	struct creds_feed *feed; /* link thread, and .status under mu */
	int feed_next_ms;        /* link thread: when to look at it again */
	uint64_t kms_gen;        /* the conversation whose enclave has a kms provider, or 0 */
	bool up, stopping;
	bool synced;  /* this conversation completed its initial pass */
	uint64_t gen; /* conversations so far */
	unsigned reconnects;
	struct engine_stats stats;
	struct engine_progress progress; /* last snapshot, and when it was taken */
	uint64_t progress_ms;
	/* The engine's failed set as .status shows it (copied by the engine
	 * thread in note_sync()), the enclave's store as it last reported
	 * it, and the last .run that failed for a file not stored. */
	uint64_t failed_gen;
	size_t nfailed, nfailed_shown;
	struct {
		char *path;
		int errnum;
	} failed[FAILED_SHOWN];
	bool store_known;
	uint64_t store_held, store_max;
	/* The last job line's refusal (cleared when one starts), and whether
	 * the last job line on the mount failed (.run then reads its error). */
	char last_error[WIRE_TEXT_MAX + 1];
	bool run_failed;
	/* The last error of the link (reaching, attesting, losing the
	 * enclave) and the last the enclave itself reported; kept as the
	 * last, not cleared by later success. */
	char link_error[WIRE_TEXT_MAX + 1];
	char enclave_error[WIRE_TEXT_MAX + 1];
	/* The attested session: what the last handshake learned, and whether
	 * it refused the enclave (then nothing syncs, and .run fails at once). */
	struct session_host *sh; /* link thread only after link_new */
	struct session_identity id;
	bool attest_refused;
	bool dev_failed; /* the development enclave ended before a first session */
};

static void note_sync(struct link *l);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(struct link *l)
{
	uint64_t one = 1;

	(void)!write(l->evfd, &one, sizeof(one));
}

/* Waits on l->cv (l->mu held) for at most ms. */
static void wait_ms(struct link *l, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void)pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

/* --- the tables, filled from the enclave's messages (jobclient.h; l->mu held) ------- */

/* The record of job id changed: made (new), its end or its running again
 * (state and exit replaced), or its log grown (log_only). */
static void job_changed(struct link *l, uint32_t id, bool made, bool log_only)
{
	char rel[64];

	if (!l->cfg.changed)
		return;
	if (made) {
		snprintf(rel, sizeof(rel), "jobs/%u", id);
		l->cfg.changed(rel, true);
		return;
	}
	snprintf(rel, sizeof(rel), "jobs/%u/log", id);
	l->cfg.changed(rel, false);
	if (log_only)
		return;
	snprintf(rel, sizeof(rel), "jobs/%u/state", id);
	l->cfg.changed(rel, true);
	snprintf(rel, sizeof(rel), "jobs/%u/exit", id);
	l->cfg.changed(rel, true);
}

/* A job of this mount ended, or was lost with the conversation. */
static void on_ended(void *ud, uint32_t id, uint8_t state, int32_t code, const char *text)
{
	struct link *l = ud;
	int r = jobstore_finish(l->js, id, state, text, jobclient_exit_status(state, code, 0));

	job_changed(l, id, false, false);

	if (r < 0)
		log_errno(r, "job %u: cannot record its end", id);
	else if (l->cfg.job_ended)
		l->cfg.job_ended(id);
	log_info("job %u: %s", id, text);
	if (state == JOB_LOST && array_grow((void **)&l->lost, &l->lost_cap, l->nlost + 1, sizeof(*l->lost)) == 0)
		l->lost[l->nlost++] = id;
}

static struct run_req *run_sent(struct link *l, uint32_t req)
{
	struct run_req *rq;

	for (rq = l->runs; rq; rq = rq->next)
		if (rq->req == req && rq->phase == RUN_SENT)
			break;
	return rq;
}

/* A job line started: it gets a record and an id here, and is followed
 * under that id. A reply to a request whose writer gave up (unmounting)
 * has nobody to follow it: the job client cancels it. */
static int on_started(void *ud, uint32_t req, uint32_t job, const char *text, uint32_t *tag)
{
	struct link *l = ud;
	struct run_req *rq = run_sent(l, req);
	struct job_origin o = { .enclave_id = job };
	uint32_t id;
	int r;

	if (!rq)
		return -ECANCELED;
	struct run_info ri;
	char manifest[256], digest[80];
	bool info = run_info_parse(text, &ri) == 0;

	rq->msg[0] = '\0';
	rq->phase = RUN_DONE;
	if (info) {
		snprintf(manifest, sizeof(manifest), "name=%s\nversion=%s\nentry=%s\n", ri.name, ri.version,
			 ri.entry);
		for (int i = 0; i < 32; i++)
			snprintf(digest + 2 * i, 3, "%02x", ri.digest[i]);
		digest[64] = '\n';
		digest[65] = '\0';
	} else if (*text) {
		log_warn("job line '%s': the enclave's description of it is not understood: ignored",
			 rq->line);
	}
	r = jobstore_create(l->js, rq->line, jobclient_instance(l->jc, o.instance) ? &o : NULL,
			    info ? manifest : NULL, info ? digest : NULL, &id);
	if (r < 0) {
		log_errno(r, "cannot record a new job: cancelling it");
		rq->err = r;
		return r;
	}
	job_changed(l, id, true, false);
	l->last_job = id;
	rq->job = id;
	rq->err = 0;
	*tag = id;
	log_info("job %u started: %s", id, rq->line);
	return 0;
}

static void on_refused(void *ud, uint32_t req, int err, const char *text)
{
	struct run_req *rq = run_sent(ud, req);

	if (!rq)
		return;
	snprintf(rq->msg, sizeof(rq->msg), "%s", text);
	rq->phase = RUN_DONE;
	rq->err = -err;
}

static void on_log(void *ud, uint32_t id, uint8_t stream, const uint8_t *p, size_t len)
{
	struct link *l = ud;

	if (jobstore_append_log(l->js, id, p, len) == 0)
		job_changed(l, id, false, true);
}

/* JOBS, first in a conversation: the lost records of jobs this enclave
 * still holds run again here (a restarted mount, or a reconnect). */
static void on_held(void *ud, const struct msg_jobs *m)
{
	struct link *l = ud;
	struct job_match *match;
	size_t n;
	int r;

	r = jobstore_reconcile(l->js, m->instance, m->job, m->n, &match, &n);
	if (r < 0)
		log_errno(r, "cannot take up every job the enclave still runs");
	for (size_t i = 0; i < n; i++) {
		r = jobclient_follow(l->jc, match[i].enclave_id, match[i].id);
		if (r < 0) {
			log_errno(r, "job %u: cannot follow it", match[i].id);
			(void)jobstore_finish(l->js, match[i].id, JOB_LOST, "out of memory", JOB_EXIT_LOST);
			job_changed(l, match[i].id, false, false);
			continue;
		}
		job_changed(l, match[i].id, false, false);
		for (size_t k = 0; k < l->nlost; k++)
			if (l->lost[k] == match[i].id) {
				l->lost[k] = l->lost[--l->nlost];
				break;
			}
		log_msg(LOG_NOTICE, "job %u is running: the enclave still holds it", match[i].id);
	}
	free(match);
}

static void on_status(void *ud, const char *json, size_t len)
{
	struct link *l = ud;

	free(l->enclave_status);
	l->enclave_status = strndup(json, len);
	l->kms_gen = creds_feed_status_wants(json, len) ? l->gen : 0;
}

static void on_pkg_state(void *ud, const struct msg_pkg_state *m)
{
	struct link *l = ud;
	struct pkg *p;

	if (m->state == PKG_REMOVED) {
		free(strmap_del(l->pkgs, m->name));
		return;
	}
	p = strmap_get(l->pkgs, m->name);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || strmap_put(l->pkgs, m->name, p, NULL) < 0) {
			free(p);
			return;
		}
	}
	p->state = m->state;
	p->err = (int)m->err;
	memcpy(p->digest, m->digest, sizeof(p->digest));
	snprintf(p->text, sizeof(p->text), "%s", m->text);
	if (m->state == PKG_FAILED)
		snprintf(l->enclave_error, sizeof(l->enclave_error), "package %.*s: %.*s", 200, m->name,
			 (int)sizeof(l->enclave_error) - 220, m->text[0] ? m->text : strerror((int)m->err));
}

static const struct jobclient_ops job_ops = { .status = on_status,
					      .pkg_state = on_pkg_state,
					      .held = on_held,
					      .started = on_started,
					      .refused = on_refused,
					      .log = on_log,
					      .ended = on_ended };

static int on_message(void *ud, const struct frame *f, char *why, size_t whysz)
{
	struct link *l = ud;
	int r;

	pthread_mutex_lock(&l->mu);
	r = jobclient_message(l->jc, f, why, whysz);
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return r;
}

static void on_connected(void *ud)
{
	struct link *l = ud;

	pthread_mutex_lock(&l->mu);
	l->up = true;
	l->gen++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	log_info("enclave connected");
}

/* The enclave stored or refused a file we sent: a package's refusal (its
 * store is full, say) is the verdict its writer waits for at close(). */
static void on_sent(void *ud, const char *path, int err)
{
	struct link *l = ud;
	const char *name = pkg_path_name(path);

	if (!name)
		return;
	pthread_mutex_lock(&l->mu);
	if (err == 0)
		(void)strmap_del(l->refused, name);
	else if (strmap_put(l->refused, name, (void *)(intptr_t)err, NULL) < 0)
		log_error("out of memory noting that the enclave refused package %s", name);
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* What the engine changed in output/ (the enclave's tree). */
static void on_committed(void *ud, const char *path)
{
	struct link *l = ud;

	if (l->cfg.changed)
		l->cfg.changed(path, true);
}

static void on_updated(void *ud, const char *path)
{
	struct link *l = ud;

	if (l->cfg.changed)
		l->cfg.changed(path, false);
}

static void on_renamed(void *ud, const char *from, const char *to)
{
	on_committed(ud, from);
	on_committed(ud, to);
}

static const struct engine_hooks hooks = { .connected = on_connected,
					   .message = on_message,
					   .committed = on_committed,
					   .updated = on_updated,
					   .removed = on_committed,
					   .renamed = on_renamed,
					   .sent = on_sent };

/* The conversation ended: what waited on it fails, jobs it ran are lost. */
static void link_down(struct link *l, const char *why)
{
	char text[128];

	pthread_mutex_lock(&l->mu);
	l->up = false;
	snprintf(text, sizeof(text), "the enclave went away (%s)", why);
	jobclient_reset(l->jc, text);
	for (struct run_req *rq = l->runs; rq; rq = rq->next)
		if (rq->phase == RUN_BARRIER || rq->phase == RUN_SENT) {
			rq->phase = RUN_DONE;
			rq->err = -EIO;
			snprintf(rq->msg, sizeof(rq->msg), "%s", text);
		}
	l->ncancels = 0;
	strmap_clear(l->pkgs, free);
	strmap_clear(l->refused, NULL);
	free(l->enclave_status);
	l->enclave_status = NULL;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* --- the engine thread --------------------------------------------------------------- */

/* Hands queued work to the engine (l->mu held). */
static void feed(struct link *l)
{
	struct change *c;

	while ((c = l->ch_head)) {
		l->ch_head = c->next;
		engine_notify(l->e, &c->ev);
		free(c->path);
		free(c->to);
		free(c);
		l->burst++;
	}
	l->ch_tail = NULL;
	if (l->rescan) {
		engine_notify(l->e, &(struct watch_event){ .kind = WATCH_RESCAN, .path = "" });
		l->rescan = false;
	}
	for (struct run_req *rq = l->runs; rq; rq = rq->next) {
		if (rq->phase != RUN_QUEUED || !l->up)
			continue;
		if (engine_barrier(l->e, &rq->seq) < 0) {
			rq->phase = RUN_DONE;
			rq->err = -ENOMEM;
			continue;
		}
		rq->phase = RUN_BARRIER;
	}
	for (size_t i = 0; i < l->ncancels; i++)
		(void)jobclient_cancel(l->jc, l->cancels[i]);
	l->ncancels = 0;
}

/* Sends the job lines whose barrier the enclave acknowledged (l->mu held). */
static void send_runs(struct link *l)
{
	for (struct run_req *rq = l->runs; rq; rq = rq->next) {
		if (rq->phase != RUN_BARRIER || !engine_barrier_acked(l->e, rq->seq))
			continue;
		if (jobclient_run(l->jc, rq->req, rq->line) < 0) {
			rq->phase = RUN_DONE;
			rq->err = -E2BIG;
			continue;
		}
		rq->phase = RUN_SENT;
		l->barrier_passed = true;
	}
}

/* Unmounting: cancel every job, then wait for their ends (l->mu held).
 * True when the conversation may close. */
static bool stop_jobs(struct link *l, uint64_t deadline)
{
	size_t pos = 0;
	uint32_t id;

	while (jobclient_next(l->jc, &pos, &id))
		if (jobclient_cancel(l->jc, id) == 0)
			log_info("unmounting: cancelling job %u", id);
	return jobclient_count(l->jc) == 0 || now_ms() >= deadline;
}

/* After a burst of changes: free memory back to the system (not l->mu). */
static void return_memory(struct link *l)
{
	pthread_mutex_lock(&l->mu);
	l->burst = 0;
	pthread_mutex_unlock(&l->mu);
	(void)malloc_trim(0);
}

/* The enclave's AWS credentials: at every new conversation and before
 * they expire (link thread; the load may ask IMDS, 2 s at most). */
static void feed_creds(struct link *l)
{
	char *msg = NULL, why[512];
	size_t n = 0;
	uint64_t gen;
	bool up;
	int r;

	l->feed_next_ms = -1;
	if (!l->feed)
		return;
	pthread_mutex_lock(&l->mu);
	up = l->up && l->kms_gen == l->gen;
	gen = l->gen;
	pthread_mutex_unlock(&l->mu);
	if (!up)
		return;
	r = creds_feed_poll(l->feed, gen, &msg, &n, &l->feed_next_ms, why, sizeof(why));
	if (why[0])
		log_error("%s", why);
	if (r == 1) {
		if (msg_put_aws_creds(engine_out(l->e), msg, n) < 0)
			log_error("cannot send the AWS credentials to the enclave");
		else
			log_info("AWS credentials sent to the enclave");
	}
	creds_feed_free_msg(msg, n);
}

/* Runs the conversation until it ends (< 0) or the mount stops (0). */
static int serve(struct link *l)
{
	uint64_t stop_deadline = 0;

	for (;;) {
		struct pollfd fds[3];
		int n = engine_pollfds(l->e, fds, 2), timeout = engine_timeout_ms(l->e), r, ready;
		bool done = false, trim;

		fds[n++] = (struct pollfd){ .fd = l->evfd, .events = POLLIN };
		if (stop_deadline && (timeout < 0 || timeout > 100))
			timeout = 100;
		pthread_mutex_lock(&l->mu);
		trim = l->burst >= TRIM_BURST;
		pthread_mutex_unlock(&l->mu);
		if (trim && (timeout < 0 || timeout > TRIM_IDLE_MS))
			timeout = TRIM_IDLE_MS;
		if (l->feed_next_ms >= 0 && (timeout < 0 || timeout > l->feed_next_ms))
			timeout = l->feed_next_ms;
		/* While files are in flight .status's snapshot of them is kept
		 * fresh, and the last one shows them done. */
		if ((l->progress.tx.files_active || l->progress.rx.files_active) &&
		    (timeout < 0 || timeout > 250))
			timeout = 250;
		ready = poll(fds, (nfds_t)n, timeout);
		if (ready < 0 && errno != EINTR)
			return neg_errno();
		if (ready == 0 && trim)
			return_memory(l);
		if (fds[n - 1].revents & POLLIN) {
			uint64_t v;
			(void)!read(l->evfd, &v, sizeof(v));
		}
		pthread_mutex_lock(&l->mu);
		feed(l);
		if (l->stopping && l->up) {
			if (!stop_deadline)
				stop_deadline = now_ms() + STOP_JOBS_WAIT_MS;
			done = stop_jobs(l, stop_deadline);
		}
		pthread_mutex_unlock(&l->mu);
		if (done || (l->stopping && !l->up))
			return 0;
		r = engine_step(l->e, fds, n - 1);
		if (r >= 0)
			feed_creds(l);
		pthread_mutex_lock(&l->mu);
		if (!l->synced && engine_initial_done(l->e)) {
			l->synced = true;
			/* ready: mounted (the link starts after the mount) and
			 * in sync with an attested enclave */
			notify_ready(NULL);
			notify_status("connected to the enclave at %s",
				      l->cfg.connect ? l->cfg.connect : "(development)");
		}
		note_sync(l);
		send_runs(l);
		trim = l->barrier_passed && l->burst >= TRIM_BURST;
		l->barrier_passed = false;
		l->stats = *engine_stats(l->e);
		/* What is in flight, for .status: a snapshot every 250 ms. */
		if (now_ms() - l->progress_ms >= 250) {
			engine_progress(l->e, &l->progress);
			l->progress_ms = now_ms();
		}
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		if (trim)
			return_memory(l);
		if (r < 0)
			return r;
	}
}

static int open_conn(struct link *l)
{
	struct addr a;
	char err[256];
	int r;

	if (!l->cfg.connect)
		return dev_spawn(&l->cfg, &l->child);
	r = addr_parse(l->cfg.connect, &a, err, sizeof(err));
	if (r < 0)
		return r;
	return transport_connect(&a);
}

/* Attests the enclave on a new connection and attaches the engine to the
 * session, or returns an error after recording in .status why it was refused. */
static int attest_conn(struct link *l, int fd)
{
	struct session_identity id;
	struct session_conn *c = NULL;
	int r = session_connect_conn(l->sh, fd, &c, &id);

	pthread_mutex_lock(&l->mu);
	l->id = id;
	l->attest_refused = r == -EKEYREJECTED;
	if (r < 0)
		snprintf(l->link_error, sizeof(l->link_error), "%s: %.*s",
			 r == -EKEYREJECTED ? "the enclave was refused" : "the attested handshake failed",
			 (int)sizeof(l->link_error) - 40, id.error);
	if (r < 0)
		log_error("%s", l->link_error);
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return r < 0 ? r : engine_attach_session(l->e, c);
}

static void *link_main(void *arg)
{
	struct link *l = arg;
	unsigned backoff = BACKOFF_MIN_MS;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		bool served;
		int fd, r;

		pthread_mutex_lock(&l->mu);
		l->synced = false;
		r = l->stopping;
		pthread_mutex_unlock(&l->mu);
		if (r)
			break;
		fd = open_conn(l);
		if (fd < 0) {
			const char *where = l->cfg.connect ? l->cfg.connect : "(development)";
			const char *why = *transport_connect_why() ? transport_connect_why() : strerror(-fd);
			char text[sizeof(l->link_error)];

			if (l->cfg.connect)
				snprintf(text, sizeof(text), "cannot reach %s: %s", where, why);
			else
				snprintf(text, sizeof(text), "cannot start the development enclave: %s", why);
			pthread_mutex_lock(&l->mu);
			/* The same failure again is news only at debug level. */
			log_msg(strcmp(text, l->link_error) ? LOG_ERR : LOG_DEBUG, "%s", text);
			snprintf(l->link_error, sizeof(l->link_error), "%s", text);
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
			notify_status("cannot reach the enclave at %s: %s", where, why);
		}
		/* The engine runs on the attested session, or not at all. */
		r = fd < 0 ? fd : attest_conn(l, fd);
		served = r == 0;
		if (r == 0) {
			r = serve(l);
			if (r == 0)
				(void)engine_goodbye(l->e);
			engine_detach(l->e);
		}
		{
			char died[160];

			if (dev_reap(&l->child, r == 0, died, sizeof(died))) {
				pthread_mutex_lock(&l->mu);
				snprintf(l->enclave_error, sizeof(l->enclave_error), "%s", died);
				/* before any session: it cannot start */
				l->dev_failed |= !served && !l->gen;
				pthread_mutex_unlock(&l->mu);
			}
		}
		link_down(l, r == 0 ? "unmounted" : strerror(-r));
		pthread_mutex_lock(&l->mu);
		if (r < 0 && served)
			snprintf(l->link_error, sizeof(l->link_error), "the connection to the enclave %s: %s",
				 l->synced ? "was lost" : "ended before it was in sync", strerror(-r));
		pthread_cond_broadcast(&l->cv);
		/* Only a conversation that got through its initial pass resets
		 * the delay: one that fails every time early (a peer that breaks
		 * each conversation) is retried ever more slowly. */
		if (l->synced)
			backoff = BACKOFF_MIN_MS;
		if (!l->stopping) {
			l->reconnects++;
			log_msg(served ? LOG_WARNING : LOG_DEBUG, "enclave link lost (%s); reconnecting in %u ms",
				strerror(-r), backoff);
			notify_status("enclave link lost (%s); reconnecting in %u ms", strerror(-r),
				      backoff);
			wait_ms(l, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
		}
		pthread_mutex_unlock(&l->mu);
	}
	return NULL;
}

/* --- the API ---------------------------------------------------------------------- */

int link_new(const struct link_config *cfg, struct link **out)
{
	/* A package the enclave refused fails its close(), not a later .run. */
	static const char *const quiet[] = { "encrypted", NULL };
	struct engine_config ec = { .role = ROLE_HOST, .root = cfg->cache, .name = "enclave-fs",
				    .watch = false, .fsync = true, .barrier_quiet = quiet };
	struct link *l = calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	int r;

	if (!l)
		return -ENOMEM;
	l->cfg = *cfg;
	l->feed_next_ms = -1;
	if (cfg->aws_source != AWS_CREDS_NONE) {
		r = creds_feed_new((enum aws_creds_source)cfg->aws_source, cfg->aws_region, &l->feed);
		if (r < 0) {
			free(l);
			return r;
		}
	}
	l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->pkgs = strmap_new();
	l->refused = strmap_new();
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (l->evfd < 0 || !l->pkgs || !l->refused) {
		r = l->evfd < 0 ? neg_errno() : -ENOMEM;
		goto fail;
	}
	ec.hooks = &hooks;
	ec.hooks_ud = l;
	app_set_trees(&ec);
	r = engine_new(&ec, &l->e);
	if (r < 0)
		goto fail;
	l->jc = jobclient_new(&job_ops, l, engine_out(l->e));
	if (!l->jc) {
		r = -ENOMEM;
		goto fail;
	}
	r = jobstore_open(engine_rootfd(l->e), &l->js, &l->lost, &l->nlost);
	if (r < 0)
		goto fail;
	{
		struct session_host_config sc = { .key_path = cfg->key_path,
						  .trust_root = cfg->trust_root,
						  .root_name = cfg->root_name,
						  .allow_debug = cfg->allow_debug,
						  .npins = cfg->npins,
						  .pins = cfg->pins };
		char why[512];

		r = session_host_new(&sc, &l->sh, why, sizeof(why));
		if (r < 0) {
			log_error("%s", why);
			goto fail;
		}
		snprintf(l->id.host_fpr, sizeof(l->id.host_fpr), "%s", session_host_fpr(l->sh));
		snprintf(l->id.root, sizeof(l->id.root), "%s",
			 cfg->root_name ? cfg->root_name : cfg->trust_root ? cfg->trust_root : "aws-nitro");
	}
	for (size_t i = 0; i < l->nlost; i++)
		log_warn("job %u was lost: the mount ended while it ran", l->lost[i]);
	l->last_job = jobstore_last(l->js);
	*out = l;
	return 0;
fail:
	link_free(l);
	return r;
}

int link_start(struct link *l)
{
	int r = pthread_create(&l->thread, NULL, link_main, l);

	if (r)
		return -r;
	l->started = true;
	return 0;
}

int link_wait_ready(struct link *l, int timeout_ms, char *why, size_t whysz)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	char dev[512];
	int r;

	pthread_mutex_lock(&l->mu);
	while (!l->up && !l->attest_refused && !l->dev_failed && now_ms() < deadline)
		wait_ms(l, 100);
	r = l->up ? 0 : l->attest_refused ? -EKEYREJECTED : l->dev_failed ? -ECHILD : -ETIMEDOUT;
	if (r == 0)
		why[0] = '\0';
	else if (!l->cfg.connect && dev_last_error(dev, sizeof(dev)))
		snprintf(why, whysz, "%s", dev);
	else if (l->link_error[0] && (r != -ECHILD || !l->enclave_error[0]))
		snprintf(why, whysz, "%s", l->link_error);
	else if (l->enclave_error[0])
		snprintf(why, whysz, "%s", l->enclave_error);
	else
		snprintf(why, whysz, "no answer");
	pthread_mutex_unlock(&l->mu);
	return r;
}

void link_stop(struct link *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	wake(l);
	pthread_join(l->thread, NULL);
	l->started = false;
}

void link_free(struct link *l)
{
	struct change *c;

	if (!l)
		return;
	link_stop(l);
	while ((c = l->ch_head)) {
		l->ch_head = c->next;
		free(c->path);
		free(c->to);
		free(c);
	}
	jobclient_free(l->jc);
	engine_free(l->e);
	session_host_free(l->sh);
	creds_feed_free(l->feed);
	jobstore_free(l->js);
	strmap_free(l->pkgs, free);
	strmap_free(l->refused, NULL);
	for (size_t i = 0; i < l->nfailed_shown; i++)
		free(l->failed[i].path);
	free(l->cancels);
	free(l->lost);
	free(l->enclave_status);
	safe_close(l->evfd);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void link_changed(struct link *l, enum watch_kind kind, bool is_dir, const char *path, const char *to)
{
	struct change *c = calloc(1, sizeof(*c));

	if (c && (!(c->path = strdup(path)) || (to && !(c->to = strdup(to))))) {
		free(c->path);
		free(c);
		c = NULL;
	}
	pthread_mutex_lock(&l->mu);
	/* A package written again waits for a verdict on the new content. */
	if (pkg_path_name(path))
		(void)strmap_del(l->refused, pkg_path_name(path));
	if (c) {
		c->ev = (struct watch_event){ .kind = kind, .is_dir = is_dir, .path = c->path, .to = c->to };
		if (l->ch_tail)
			l->ch_tail->next = c;
		else
			l->ch_head = c;
		l->ch_tail = c;
	} else {
		/* Out of memory: a rescan (cheap when nothing changed) catches up. */
		log_error("out of memory queueing a change of %s: rescanning", path);
		l->rescan = true;
	}
	pthread_mutex_unlock(&l->mu);
	wake(l);
}

/* A request that needs the enclave waits for a link that is down at most
 * LINK_DOWN_WAIT_MS; one whose conversation ends fails (l->mu held). */
struct link_wait {
	uint64_t gen, down_since;
	bool had_link;
};

static void link_wait_init(struct link *l, struct link_wait *w)
{
	w->had_link = l->up;
	w->gen = l->gen;
	w->down_since = now_ms();
}

static int link_wait_check(struct link *l, struct link_wait *w)
{
	if (l->stopping)
		return -EIO;
	if (w->had_link && (!l->up || l->gen != w->gen))
		return -EIO;
	if (!w->had_link && l->up) {
		w->had_link = true;
		w->gen = l->gen;
	}
	if (!l->up && now_ms() - w->down_since > LINK_DOWN_WAIT_MS)
		return -EIO;
	return 0;
}

int link_package_verdict(struct link *l, const char *name, const uint8_t digest[static 32], char *msg,
			 size_t msgsz)
{
	struct link_wait w;
	int r;

	msg[0] = '\0';
	pthread_mutex_lock(&l->mu);
	link_wait_init(l, &w);
	for (;;) {
		struct pkg *p = strmap_get(l->pkgs, name);
		intptr_t refused = (intptr_t)strmap_get(l->refused, name);

		if (refused) {
			r = -(int)refused;
			snprintf(msg, msgsz, "the enclave could not store the package: %s", strerror((int)refused));
			break;
		}
		if (p && memcmp(p->digest, digest, 32) == 0 &&
		    (p->state == PKG_READY || p->state == PKG_FAILED)) {
			r = p->state == PKG_READY ? 0 : -(p->err ? p->err : EIO);
			snprintf(msg, msgsz, "%s", p->text);
			break;
		}
		r = link_wait_check(l, &w);
		if (r < 0) {
			snprintf(msg, msgsz, "the enclave went away before it opened the package");
			break;
		}
		wait_ms(l, 1000);
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

int link_run(struct link *l, const char *line, uint32_t *job, char *msg, size_t msgsz)
{
	struct run_req rq = { .line = line, .phase = RUN_QUEUED };
	uint64_t deadline = now_ms() + LINK_DOWN_WAIT_MS;

	pthread_mutex_lock(&l->mu);
	rq.req = ++l->next_req;
	rq.next = l->runs;
	l->runs = &rq;
	pthread_mutex_unlock(&l->mu);
	wake(l);
	pthread_mutex_lock(&l->mu);
	while (rq.phase != RUN_DONE) {
		/* A line that no conversation took up within the wait fails,
		 * however often the link came and went meanwhile; once one has
		 * taken it, link_down() ends the request with that conversation. */
		if (l->stopping) {
			rq.err = -EIO;
			snprintf(rq.msg, sizeof(rq.msg), "unmounting");
			break;
		}
		if (rq.phase == RUN_QUEUED && l->attest_refused) {
			rq.err = -EIO;
			snprintf(rq.msg, sizeof(rq.msg), "the enclave was refused: %.*s",
				 (int)sizeof(rq.msg) - 32, l->id.error);
			break;
		}
		if (rq.phase == RUN_QUEUED && now_ms() >= deadline) {
			rq.err = -EIO;
			snprintf(rq.msg, sizeof(rq.msg), "the enclave is not reachable");
			break;
		}
		wait_ms(l, 1000);
	}
	for (struct run_req **pp = &l->runs; *pp; pp = &(*pp)->next)
		if (*pp == &rq) {
			*pp = rq.next;
			break;
		}
	if (rq.err < 0)
		snprintf(l->last_error, sizeof(l->last_error), "%s",
			 rq.msg[0] ? rq.msg : strerror(-rq.err));
	else
		l->last_error[0] = '\0';
	l->run_failed = rq.err < 0;
	pthread_mutex_unlock(&l->mu);
	snprintf(msg, msgsz, "%s", rq.msg);
	*job = rq.job;
	return rq.err;
}

void link_run_refused(struct link *l, const char *msg)
{
	pthread_mutex_lock(&l->mu);
	snprintf(l->last_error, sizeof(l->last_error), "%s", msg);
	l->run_failed = true;
	pthread_mutex_unlock(&l->mu);
}

int link_run_text(struct link *l, char *buf, size_t n)
{
	int r;

	pthread_mutex_lock(&l->mu);
	if (l->run_failed)
		r = snprintf(buf, n, "error: %s\n", l->last_error);
	else
		r = l->last_job ? snprintf(buf, n, "%u\n", l->last_job) : (buf[0] = '\0', 0);
	pthread_mutex_unlock(&l->mu);
	return r < 0 ? 0 : (size_t)r >= n ? (int)n - 1 : r;
}

int link_cancel(struct link *l, uint32_t job)
{
	int r = -ESRCH;

	pthread_mutex_lock(&l->mu);
	if (jobclient_following(l->jc, job)) {
		r = array_grow((void **)&l->cancels, &l->cancels_cap, l->ncancels + 1, sizeof(*l->cancels));
		if (r == 0)
			l->cancels[l->ncancels++] = job;
	}
	pthread_mutex_unlock(&l->mu);
	if (r == 0)
		wake(l);
	return r;
}

uint32_t link_last_job(struct link *l)
{
	uint32_t id;

	pthread_mutex_lock(&l->mu);
	id = l->last_job;
	pthread_mutex_unlock(&l->mu);
	return id;
}

static const char *pkg_state_word(uint8_t s)
{
	switch (s) {
	case PKG_RECEIVED: return "received";
	case PKG_VERIFIED: return "verified";
	case PKG_READY: return "ready";
	case PKG_FAILED: return "failed";
	}
	return "unknown";
}

static json_t *status_failed(struct link *l);

static json_t *hex_string(const uint8_t *p, size_t n)
{
	char hex[2 * ATTEST_PCR_LEN + 1];

	for (size_t i = 0; i < n && i < ATTEST_PCR_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	hex[2 * (n < ATTEST_PCR_LEN ? n : ATTEST_PCR_LEN)] = 0;
	return json_string(hex);
}

/* "identity" of .status: what the last handshake proved (l->mu held). */
static json_t *status_identity(struct link *l)
{
	static const unsigned shown[] = { 0, 1, 2, 3, 4, 8, 16 };
	const struct session_identity *id = &l->id;
	json_t *o = json_object(), *pcrs = json_object(), *pins = json_array();
	bool seen = id->module_id[0] != 0;

	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (id->have_pcr[shown[i]]) {
			char k[4];

			snprintf(k, sizeof(k), "%u", shown[i]);
			json_object_set_new(pcrs, k, hex_string(id->pcr[shown[i]], ATTEST_PCR_LEN));
		}
	for (size_t i = 0; i < l->cfg.npins; i++) {
		json_t *vals = json_array();

		for (size_t j = 0; j < l->cfg.pins[i].nvalues; j++)
			json_array_append_new(vals, hex_string(l->cfg.pins[i].value[j], ATTEST_PCR_LEN));
		json_array_append_new(pins, json_pack("{s:i,s:o}", "pcr", (json_int_t)l->cfg.pins[i].index,
						      "values", vals));
	}
	json_object_set_new(o, "verified", json_boolean(id->verified));
	json_object_set_new(o, "root", json_string(id->root));
	json_object_set_new(o, "module_id", seen ? json_string(id->module_id) : json_null());
	json_object_set_new(o, "pcrs", pcrs);
	json_object_set_new(o, "pcr0", id->have_pcr[0] ? hex_string(id->pcr[0], ATTEST_PCR_LEN) :
							 json_null());
	json_object_set_new(o, "debug", seen ? json_boolean(id->debug) : json_null());
	json_object_set_new(o, "timestamp", seen ? json_integer((json_int_t)id->timestamp_ms) :
						   json_null());
	json_object_set_new(o, "pins", pins);
	json_object_set_new(o, "pins_matched",
			    !l->cfg.npins || !seen ? json_null() : json_boolean(id->pins_matched));
	json_object_set_new(o, "host_key", json_string(id->host_fpr));
	json_object_set_new(o, "error", id->error[0] ? json_string(id->error) : json_null());
	return o;
}

/* One direction of "transfers" in .status. */
static json_t *flow_json(const struct engine_flow *f)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "files_in_flight", (json_int_t)f->files_active,
			 "bytes_in_flight", (json_int_t)f->bytes_active, "bytes_done",
			 (json_int_t)f->bytes_done, "files_total", (json_int_t)f->files_total,
			 "bytes_total", (json_int_t)f->bytes_total, "bytes_per_second",
			 (json_int_t)(f->files_active ? f->rate : 0));
}

int link_status(struct link *l, char **out, size_t *len)
{
	json_t *o = json_object(), *pkgs = json_array(), *jobs = json_array(), *lost = json_array();
	json_t *enc = NULL, *sync, *iso = NULL;
	const char *k;
	void *v;
	size_t pos = 0;
	uint32_t job_id;
	char hex[65];
	int r = -ENOMEM;

	if (!o || !pkgs || !jobs || !lost)
		goto out;
	pthread_mutex_lock(&l->mu);
	if (l->enclave_status)
		enc = json_loads(l->enclave_status, 0, NULL);
	if (enc)
		iso = json_object_get(enc, "isolation");
	json_object_set_new(o, "connection", json_string(l->up ? "connected" :
							  l->attest_refused ? "refused" : "connecting"));
	json_object_set_new(o, "link_error", l->link_error[0] ? json_string(l->link_error) : json_null());
	{
		char dev[512];

		if (!l->cfg.connect && dev_last_error(dev, sizeof(dev)))
			snprintf(l->enclave_error, sizeof(l->enclave_error), "%s", dev);
		json_object_set_new(o, "enclave_error",
				    l->enclave_error[0] ? json_string(l->enclave_error) : json_null());
	}
	json_object_set_new(o, "enclave", json_string(l->cfg.connect ? l->cfg.connect : "dev"));
	json_object_set(o, "isolation", json_is_string(iso) ? iso : json_null());
	json_object_set_new(o, "identity", status_identity(l));
	if (enc)
		json_object_set(o, "enclave_status", enc);
	while (strmap_next(l->pkgs, &pos, &k, &v)) {
		const struct pkg *p = v;
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", p->digest[i]);
		json_array_append_new(pkgs, json_pack("{s:s,s:s,s:s,s:i,s:o}", "name", k, "digest", hex,
						      "state", pkg_state_word(p->state), "errno", p->err,
						      "error", p->state != PKG_FAILED ? json_null() :
						      json_string(p->text[0] ? p->text : strerror(p->err))));
	}
	for (size_t i = 0; jobclient_next(l->jc, &i, &job_id);)
		json_array_append_new(jobs, json_pack("{s:i,s:s}", "id", (json_int_t)job_id,
						      "state", "running"));
	for (size_t i = 0; i < l->nlost; i++)
		json_array_append_new(lost, json_integer(l->lost[i]));
	json_object_set_new(o, "packages", pkgs);
	json_object_set_new(o, "jobs", jobs);
	json_object_set_new(o, "lost_jobs", lost);
	json_object_set_new(o, "last_job", json_integer(l->last_job));
	sync = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "files_sent", (json_int_t)l->stats.files_sent,
			 "bytes_sent", (json_int_t)l->stats.file_bytes_sent, "files_received",
			 (json_int_t)l->stats.files_received, "bytes_received",
			 (json_int_t)l->stats.file_bytes_received, "chunks_dedup",
			 (json_int_t)l->stats.chunks_dedup, "errors", (json_int_t)l->stats.errors,
			 "store_held", (json_int_t)l->stats.store_held, "store_max",
			 (json_int_t)l->stats.store_max);
	json_object_set_new(o, "sync", sync);
	json_object_set_new(o, "transfers",
			    json_pack("{s:o,s:o}", "to_enclave", flow_json(&l->progress.tx),
				      "from_enclave", flow_json(&l->progress.rx)));
	json_object_set_new(o, "failed", status_failed(l));
	json_object_set_new(o, "enclave_store",
			    l->store_known ? json_pack("{s:I,s:I}", "held", (json_int_t)l->store_held,
						       "max", (json_int_t)l->store_max)
					   : json_null());
	json_object_set_new(o, "last_error",
			    l->last_error[0] ? json_string(l->last_error) : json_null());
	json_object_set_new(o, "reconnects", json_integer(l->reconnects));
	{
		char *fs = l->feed ? creds_feed_status(l->feed) : NULL;
		json_t *fj = fs ? json_loads(fs, 0, NULL) : NULL;

		json_object_set_new(o, "aws_credentials", fj ? fj : json_null());
		free(fs);
	}
	pthread_mutex_unlock(&l->mu);
	pkgs = jobs = lost = NULL;
	*out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (*out) {
		size_t n = strlen(*out);
		char *p = realloc(*out, n + 2);
		if (p) {
			p[n] = '\n';
			p[n + 1] = '\0';
			*out = p;
			*len = n + 1;
			r = 0;
		} else {
			free(*out);
			*out = NULL;
		}
	}
out:
	json_decref(enc);
	json_decref(pkgs);
	json_decref(jobs);
	json_decref(lost);
	json_decref(o);
	return r;
}

/* --- failed transfers and the enclave's store ------------------------------------------ */

/* "failed" of .status: the files the enclave refused or we could not send,
 * retried until stored (l->mu held). */
static json_t *status_failed(struct link *l)
{
	json_t *files = json_array();

	for (size_t i = 0; files && i < l->nfailed_shown; i++)
		json_array_append_new(files, json_pack("{s:s,s:i,s:s}", "path", l->failed[i].path,
						       "errno", l->failed[i].errnum, "error",
						       strerror(l->failed[i].errnum)));
	return json_pack("{s:I,s:o}", "count", (json_int_t)l->nfailed, "files", files);
}

/* What .run and .status say of a failed file. */
static void failure_text(char *buf, size_t n, const char *path, int errnum)
{
	int r = snprintf(buf, n, "%s: %s%s", path, strerror(errnum),
			 errnum == ENOSPC ? ": the enclave's store is full" : "");

	/* A path near PATH_MAX does not fit a message: its end is marked. */
	if (r >= 0 && (size_t)r >= n && n > 4)
		memcpy(buf + n - 4, "...", 4);
}

/* Engine thread, after a step (l->mu held): copies what .status shows of
 * the failed set and the enclave's store, and fails each job line whose
 * barrier covers a file the enclave did not store: the job is not started
 * without it. */
static void note_sync(struct link *l)
{
	uint64_t gen;
	size_t n = engine_failed_count(l->e, &gen);

	if (gen != l->failed_gen) {
		size_t pos = 0;
		const char *path;
		int errnum;

		for (size_t i = 0; i < l->nfailed_shown; i++)
			free(l->failed[i].path);
		l->nfailed_shown = 0;
		while (l->nfailed_shown < FAILED_SHOWN &&
		       engine_failed_next(l->e, &pos, &path, &errnum)) {
			char *copy = strdup(path);

			if (!copy)
				break;
			l->failed[l->nfailed_shown].path = copy;
			l->failed[l->nfailed_shown++].errnum = errnum;
		}
		l->failed_gen = gen;
	}
	l->nfailed = n;
	l->store_known = engine_peer_store(l->e, &l->store_held, &l->store_max);

	for (struct run_req *rq = l->runs; rq; rq = rq->next) {
		char path[PATH_MAX];
		int errnum;

		if (rq->phase != RUN_BARRIER || !engine_barrier_acked(l->e, rq->seq))
			continue;
		errnum = engine_barrier_result(l->e, rq->seq, path, sizeof(path));
		if (!errnum) {
			l->last_error[0] = '\0';
			continue;
		}
		failure_text(rq->msg, sizeof(rq->msg), path, errnum);
		snprintf(l->last_error, sizeof(l->last_error), "%s", rq->msg);
		rq->phase = RUN_DONE;
		rq->err = -errnum;
	}
}

int link_store_check(struct link *l, uint64_t size)
{
	int r = 0;

	pthread_mutex_lock(&l->mu);
	if (l->store_known && (l->store_held > l->store_max || size > l->store_max - l->store_held))
		r = -ENOSPC;
	pthread_mutex_unlock(&l->mu);
	return r;
}
