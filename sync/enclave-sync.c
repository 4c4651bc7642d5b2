/* enclave-sync: mirror a plain directory to an enclave without FUSE.
 *
 * Host role (--connect): DIR/encrypted, DIR/dataset and DIR/model go to the
 * enclave, DIR/output comes back; it watches DIR and reconnects after a
 * disconnect, or with --once makes one pass and exits. Enclave role
 * (--listen): a standalone mirror target serving one host at a time. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "devnsm.h"
#include "devsetup.h"
#include "engine.h"
#include "escape.h"
#include "feed.h"
#include "jobclient.h"
#include "log.h"
#include "session-engine.h"
#include "session.h"
#include "transport.h"
#include "notify.h"
#include "progress.h"
#include "nitrocli.h"
#include "trees.h"
#include "util.h"

#define PROG "enclave-sync"

/* cli.h's table, with the runtime errors told apart. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_PARTIAL = 1,  /* some files or operations failed (each reported), or a
			      file named by an argument (DIR, a key) is unusable */
	EXIT_USAGE = 2,
	EXIT_CONN = 3,     /* could not connect or listen, or the connection was lost */
	EXIT_PROTO = 4,    /* protocol violation by either side */
	EXIT_NOT_SYNCED = 5, /* --once: a file was not stored by the enclave at the end */
	EXIT_REFUSED = 6,  /* the enclave's attestation, or this host, was refused */
};

struct opts {
	const char *connect, *listen, *dir, *run;
	bool once, stats;
	enum progress_mode progress;
	unsigned long long max_store;
	/* the attested session */
	const char *trust_root, *key, *host_key, *dev_root;
	const char *aws_creds, *region;
	bool allow_debug;
	struct attest_pin pins[ATTEST_PINS_MAX];
	size_t npins;
};

/* --run: the job this client started and how it ended. */
enum run_phase { RUN_SYNCING, RUN_STARTING, RUN_RUNNING, RUN_DONE };

struct runner {
	const char *line;
	struct jobclient *jc; /* follows the job (and logs package verdicts) */
	enum run_phase phase;
	uint32_t job;
	int exit_code;
	bool cancel_sent;
	int cancel_sig;             /* the signal that cancelled the job */
	bool synced;                /* this connection got in sync */
	double sent_at, started_at; /* RUN sent, RUN_REPLY received */
	int not_synced;             /* --once, --run: the initial pass's failure, or 0 */
	struct creds_feed *feed;    /* AWS credentials for the enclave, or NULL */
	uint64_t conn;              /* connections so far */
	uint64_t kms_conn;          /* the connection whose enclave has a kms provider, or 0 */
	int feed_next_ms;
	const char *peer;           /* the address, for status lines */
};

#define RUN_EXIT_REFUSED JOB_EXIT_FAILED
#define RUN_EXIT_FAILED 255

static void usage(FILE *f)
{
	fprintf(f,
		"usage: enclave-sync --connect ADDR [--once | --run LINE] [--trust-root PEM]\n"
		"                    [--expect-pcr N=HEX[,HEX...]]... [--allow-debug] [--key FILE]\n"
		"                    [--aws-credentials imds|env|profile|none] [--region R]\n"
		"                    [--stats] [--progress|--no-progress] [-v] DIR\n"
		"       enclave-sync --listen ADDR [--max-store BYTES] [--dev-root DIR]\n"
		"                    [--host-key KEY] [--stats] [-v] DIR\n"
		"\n"
		"Mirrors DIR/encrypted, DIR/dataset and DIR/model (created if missing) from the\n"
		"host to the enclave and DIR/output back, sending only the chunks the other side\n"
		"lacks. ADDR is vsock:CID:PORT, vsock:PORT (listen on any CID), unix:PATH or fd:N.\n"
		"\n"
		"  -c, --connect ADDR  host role: connect to the enclave, watch DIR, reconnect\n"
		"                      after a disconnect\n"
		"  -l, --listen ADDR   enclave role: accept one host at a time\n"
		"  -1, --once          with --connect: one pass both ways, then exit\n"
		"  -r, --run LINE      with --connect: one pass, then run the job line\n"
		"                      'PACKAGE [ENTRY] [ARG...]' in the enclave, stream its\n"
		"                      stdout and stderr, bring DIR/output up to date and exit\n"
		"                      with the job's status\n"
		"      --trust-root PEM  with --connect: the root the enclave's attestation must\n"
		"                      chain to (default: the AWS Nitro Enclaves root)\n"
		"      --expect-pcr N=HEX[,HEX...]  with --connect: refuse an enclave whose PCR N\n"
		"                      is none of these values (repeatable)\n"
		"      --allow-debug   with --connect: accept a debug enclave (PCR0-2 zero)\n"
		"      --key FILE      with --connect: this host's key (default DIR/.efs-host-key,\n"
		"                      made on first use)\n"
		"      --aws-credentials SRC  with --connect: where the AWS credentials handed\n"
		"                      to the enclave's kms key provider come from (imds, env,\n"
		"                      profile, none; default: env if set, imds on EC2, else\n"
		"                      profile if a credentials file exists, else none)\n"
		"      --region R      with --connect: the AWS region for KMS (default:\n"
		"                      AWS_REGION, the profile, IMDS)\n"
		"      --dev-root DIR  with --listen: the development root this mirror target\n"
		"                      attests with (default DIR/.efs-dev-root, made on first use)\n"
		"      --host-key KEY  with --listen: serve only this host key (SHA-256\n"
		"                      fingerprint or PEM public key file); default: the first\n"
		"                      host that completes a session\n"
		"  -m, --max-store BYTES  with --listen: what the host may store in DIR\n"
		"                      (K, M, G, T); a file beyond it is refused\n"
		"  -s, --stats         print transfer statistics at exit\n"
		"      --progress      with --connect: show the bytes in flight both ways, the\n"
		"                      rate and the time left on one line (the default when\n"
		"                      stderr is a terminal, but not with --run)\n"
		"      --no-progress   never show that line\n"
		"  -v, --verbose       more log output (repeat for debug)\n"
		"  -h, --help          this text\n"
		"  -V, --version       the version\n"
		"\n"
		"Exit status: 0 success; 1 some files could not be transferred (each is\n"
		"reported with its path and reason), or DIR or a key file is unusable;\n"
		"2 usage error; 3 could not connect or\n"
		"listen, or the connection was lost during --once; 4 protocol violation;\n"
		"5 with --once, a file was still not stored by the enclave at the end\n"
		"(\"not synced: PATH: REASON\" is printed); 6 with --once, the enclave's\n"
		"attestation was refused or the enclave refused this host.\n"
		"With --run: the job's exit status; 128+N if a signal N killed it; 124 if it\n"
		"timed out; 125 if the enclave refused or could not start it, or a file was\n"
		"not stored before it (the message is printed); 255 if the connection failed\n"
		"or was lost. The first SIGINT or SIGTERM cancels the job (exit 128+N once it\n"
		"has ended).\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_stats(const struct engine_stats *s, double secs)
{
	double mb = (double)(s->file_bytes_sent + s->file_bytes_received) / 1e6;

	fprintf(stderr,
		"enclave-sync stats:\n"
		"  files sent:          %llu (%llu bytes)\n"
		"  files received:      %llu (%llu bytes)\n"
		"  wire bytes sent:     %llu\n"
		"  wire bytes received: %llu\n"
		"  chunks sent:         %llu\n"
		"  chunks deduplicated: %llu\n"
		"  chunks reused:       %llu\n"
		"  bytes sent as holes: %llu\n"
		"  errors:              %llu\n"
		"  seconds:             %.3f\n"
		"  MB/s:                %.1f\n",
		(unsigned long long)s->files_sent, (unsigned long long)s->file_bytes_sent,
		(unsigned long long)s->files_received, (unsigned long long)s->file_bytes_received,
		(unsigned long long)s->wire_sent, (unsigned long long)s->wire_received,
		(unsigned long long)s->chunks_sent, (unsigned long long)s->chunks_dedup,
		(unsigned long long)s->chunks_local, (unsigned long long)s->hole_bytes_sent,
		(unsigned long long)s->errors, secs,
		secs > 0 ? mb / secs : 0.0);
}

/* Where the CPU time went: this (the engine's) thread, and the thread that
 * reads and chunks large files (bench-sync.sh reads both). */
static void print_cpu(const struct engine *e)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		fprintf(stderr, "  cpu s, engine:       %.3f\n", (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	fprintf(stderr, "  cpu s, scanner:      %.3f\n", (double)engine_scan_cpu_ns(e) / 1e9);
}

/* The progress line: the bytes of the files completed and in flight both
 * ways since the start; the total grows as transfers begin. */
static void show_progress(struct progress *p, struct engine *e)
{
	struct engine_progress ep;
	uint64_t files_done;

	if (!progress_active(p))
		return;
	engine_progress(e, &ep);
	files_done = ep.tx.files_total + ep.rx.files_total;
	progress_update(p,
			ep.tx.bytes_total + ep.tx.bytes_done + ep.rx.bytes_total + ep.rx.bytes_done,
			ep.tx.bytes_total + ep.tx.bytes_active + ep.rx.bytes_total +
				ep.rx.bytes_active,
			files_done, files_done + ep.tx.files_active + ep.rx.files_active);
}

/* Up to 1024 transfers in each direction hold a file open. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192 && rl.rlim_max > rl.rlim_cur) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}


/* A job's output goes out as it came, except to a terminal: there the job
 * could send escape sequences, so everything but newline and tab is
 * escaped (escape.h). */
static void job_output(int fd, const uint8_t *p, size_t n)
{
	char buf[4096];

	if (!isatty(fd)) {
		(void)io_write_all(fd, p, n);
		return;
	}
	while (n) {
		size_t used = esc_buf(buf, sizeof(buf), p, n, ESC_KEEP_NL);

		if (io_write_all(fd, buf, strlen(buf)) < 0)
			return;
		p += used;
		n -= used;
	}
}

static void run_status(void *ud, const char *json, size_t len)
{
	struct runner *rn = ud;

	log_info("enclave status: %.*s", (int)len, json);
	rn->kms_conn = creds_feed_status_wants(json, len) ? rn->conn : 0;
}

/* The job of --run started; the job client follows it (under its own id).
 * Jobs of earlier connections (JOBS) are not followed. */
static int run_started(void *ud, uint32_t req, uint32_t job, const char *text, uint32_t *tag)
{
	struct runner *rn = ud;

	rn->job = job;
	rn->phase = RUN_RUNNING;
	rn->started_at = now_s();
	*tag = job;
	log_info("job %u started", job);
	return 0;
}

static void run_refused(void *ud, uint32_t req, int err, const char *text)
{
	struct runner *rn = ud;

	fprintf(stderr, "enclave-sync: %s: %s (%s)\n", rn->line, text, strerror(err));
	rn->exit_code = RUN_EXIT_REFUSED;
	rn->phase = RUN_DONE;
}

static void run_log(void *ud, uint32_t job, uint8_t stream, const uint8_t *p, size_t len)
{
	job_output(stream == 1 ? STDOUT_FILENO : STDERR_FILENO, p, len);
}

static void run_ended(void *ud, uint32_t job, uint8_t state, int32_t code, const char *text)
{
	struct runner *rn = ud;

	rn->exit_code = jobclient_exit_status(state, code, rn->cancel_sig);
	if (state != JOB_EXITED)
		fprintf(stderr, "enclave-sync: job %u %s\n", job, text);
	rn->phase = RUN_DONE;
}

static const struct jobclient_ops run_ops = { .status = run_status,
					      .started = run_started,
					      .refused = run_refused,
					      .log = run_log,
					      .ended = run_ended };

static int run_message(void *ud, const struct frame *f, char *why, size_t whysz)
{
	struct runner *rn = ud;

	return jobclient_message(rn->jc, f, why, whysz);
}

/* Every host role hears package and job messages: a plain mirror logs
 * package failures, --run also follows its job. */
static const struct engine_hooks host_hooks = { .message = run_message };

/* Reads one pending signal: true for SIGINT/SIGTERM. A SIGUSR1 while not
 * connected has nothing to synchronize and is dropped. */
static bool stop_signal(int sigfd)
{
	struct signalfd_siginfo si;

	return read(sigfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGUSR1;
}

/* SIGUSR1 asks for a sync point: every change made before the signal is
 * applied by the peer when "synced N" (N counting the requests) is logged.
 * Tests wait for that line instead of sleeping. */
struct sync_points {
	uint64_t requested, seq[64];
	unsigned n;
};

static void sync_point_request(struct engine *e, struct sync_points *sp)
{
	uint64_t seq;

	sp->requested++;
	engine_drain_watch(e);
	if (sp->n < 64 && engine_barrier(e, &seq) == 0)
		sp->seq[sp->n++] = seq;
}

static void sync_point_check(struct engine *e, struct sync_points *sp)
{
	while (sp->n && engine_barrier_acked(e, sp->seq[0])) {
		unsigned long long n = (unsigned long long)(sp->requested - sp->n + 1);
		char path[PATH_REL_MAX + 1];
		int err = engine_barrier_result(e, sp->seq[0], path, sizeof(path));

		if (err)
			log_msg(LOG_NOTICE, "not synced %llu: %s: %s", n, path, strerror(err));
		else
			log_msg(LOG_NOTICE, "synced %llu", n);
		memmove(sp->seq, sp->seq + 1, --sp->n * sizeof(sp->seq[0]));
	}
}

/* --once and --run, once the initial passes are done: the barrier that
 * closed ours says whether the enclave holds everything we sent. A failure
 * is printed and kept in rn->not_synced. */
static void initial_sync_result(struct engine *e, struct runner *rn)
{
	char path[PATH_REL_MAX + 1];

	rn->not_synced = engine_barrier_result(e, engine_initial_barrier(e), path, sizeof(path));
	if (rn->not_synced)
		fprintf(stderr, "enclave-sync: not synced: %s: %s\n", path, strerror(rn->not_synced));
}

/* The enclave's AWS credentials: at every connection and before they
 * expire (kms/feed.h). */
static void feed_creds(struct engine *e, struct runner *rn)
{
	char *msg = NULL, why[512];
	size_t n = 0;
	int r;

	rn->feed_next_ms = -1;
	if (!rn->feed || rn->kms_conn != rn->conn)
		return;
	r = creds_feed_poll(rn->feed, rn->conn, &msg, &n, &rn->feed_next_ms, why, sizeof(why));
	if (why[0])
		log_error("%s", why);
	if (r == 1 && msg_put_aws_creds(engine_out(e), msg, n) < 0)
		log_error("cannot send the AWS credentials to the enclave");
	else if (r == 1)
		log_info("AWS credentials sent to the enclave");
	creds_feed_free_msg(msg, n);
}

/* Runs the engine on its connection until it ends, a signal arrives, or
 * (stop_when_done) both initial passes are complete. */
static int serve(struct engine *e, int sigfd, bool stop_when_done, struct progress *prog,
		 bool *signalled, struct runner *rn)
{
	struct sync_points sp = { 0 };
	bool announced = false;

	for (;;) {
		struct pollfd fds[4];
		int n = engine_pollfds(e, fds, 3), timeout = engine_timeout_ms(e), r;

		fds[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		if (progress_active(prog) && (timeout < 0 || timeout > 250))
			timeout = 250;
		if (rn->feed_next_ms >= 0 && (timeout < 0 || timeout > rn->feed_next_ms))
			timeout = rn->feed_next_ms;
		if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return neg_errno();
		if (fds[n - 1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				sync_point_request(e, &sp);
			} else if (rn->line && rn->phase == RUN_RUNNING && !rn->cancel_sent) {
				/* The first SIGINT or SIGTERM cancels the job; its end
				 * (and its output) are awaited. */
				(void)jobclient_cancel(rn->jc, rn->job);
				rn->cancel_sent = true;
				rn->cancel_sig = (int)si.ssi_signo;
			} else {
				*signalled = true;
				return 0;
			}
		}
		r = engine_step(e, fds, n - 1);
		if (r >= 0)
			feed_creds(e, rn);
		sync_point_check(e, &sp);
		show_progress(prog, e);
		if (r < 0)
			return r;
		if (rn->line && rn->phase == RUN_DONE)
			return 0;
		if (engine_initial_done(e)) {
			if (!rn->synced) {
				/* ready: in sync with the enclave; once */
				notify_ready(NULL);
				notify_status("in sync with %s", rn->peer ? rn->peer : "the peer");
			}
			rn->synced = true;
			if (rn->line ? rn->phase == RUN_SYNCING : stop_when_done)
				initial_sync_result(e, rn);
			if (rn->line && rn->phase == RUN_SYNCING && rn->not_synced) {
				rn->exit_code = RUN_EXIT_REFUSED;
				rn->phase = RUN_DONE;
				return 0;
			}
			if (rn->line && rn->phase == RUN_SYNCING) {
				(void)jobclient_run(rn->jc, 1, rn->line);
				rn->phase = RUN_STARTING;
				rn->sent_at = now_s();
				continue;
			}
			if (stop_when_done && !rn->line)
				return 0;
			if (!announced && engine_failed_count(e, NULL))
				log_msg(LOG_NOTICE, "in sync but for %zu files the enclave did not store "
					"(retried)", engine_failed_count(e, NULL));
			else if (!announced)
				log_msg(LOG_NOTICE, "in sync");
			announced = true;
		}
	}
}

/* What the enclave proved, in the verbose log. */
static void log_attested(const struct session_identity *id)
{
	char pcr0[2 * ATTEST_PCR_LEN + 1] = "";

	for (int i = 0; id->have_pcr[0] && i < ATTEST_PCR_LEN; i++)
		snprintf(pcr0 + 2 * i, 3, "%02x", id->pcr[0][i]);
	log_info("enclave attested: module %s, root %s, PCR0 %s%s", id->module_id, id->root, pcr0,
		 id->debug ? " (debug)" : "");
}

static int run_host(const struct opts *o, const struct addr *a, int sigfd)
{
	struct runner rn = { .line = o->run, .exit_code = RUN_EXIT_FAILED, .feed_next_ms = -1,
			     .peer = o->connect };
	enum aws_creds_source src = AWS_CREDS_NONE;
	struct engine_config cfg = { .role = ROLE_HOST, .root = o->dir, .name = "enclave-sync",
				     .watch = !o->once, .fsync = true, .scan_thread = true,
				     .hooks = &host_hooks, .hooks_ud = &rn };
	bool signalled = false;
	struct progress prog;
	double start = now_s();
	struct engine *e;
	struct session_host *sh;
	struct session_host_config sc = { .key_path = o->key, .trust_root = o->trust_root,
					  .allow_debug = o->allow_debug, .npins = o->npins,
					  .pins = o->pins };
	char keypath[PATH_MAX], why[512];
	double session_ms = 0; /* connect to verdict, the last connection */
	int backoff_ms = 100, code = EXIT_OK, r;

	if (!sc.key_path) {
		snprintf(keypath, sizeof(keypath), "%s/.efs-host-key", o->dir);
		sc.key_path = keypath;
	}
	if (o->aws_creds)
		(void)aws_creds_source_parse(o->aws_creds, &src);
	else
		src = aws_creds_source_default();
	if (src != AWS_CREDS_NONE && creds_feed_new(src, o->region, &rn.feed) < 0) {
		log_errno(-ENOMEM, "AWS credentials");
		return EXIT_CONN;
	}
	r = session_host_new(&sc, &sh, why, sizeof(why));
	if (r < 0) {
		log_error("%s", why);
		creds_feed_free(rn.feed);
		return EXIT_PARTIAL;
	}
	log_info("host key %s", session_host_fpr(sh));
	app_set_trees(&cfg);
	r = engine_new(&cfg, &e);
	if (r < 0) {
		log_errno(r, "%s", o->dir);
		session_host_free(sh);
		return EXIT_CONN;
	}
	rn.jc = jobclient_new(&run_ops, &rn, engine_out(e));
	if (!rn.jc) {
		log_errno(-ENOMEM, "%s", o->dir);
		engine_free(e);
		session_host_free(sh);
		return EXIT_CONN;
	}
	/* --run streams the job's output to the same terminal. */
	progress_init(&prog, o->run && o->progress == PROGRESS_AUTO ? PROGRESS_OFF : o->progress,
		      PROG);
	for (;;) {
		double t0 = now_s();
		int fd = transport_connect(a);
		struct session_conn *conn = NULL;
		struct session_identity id;

		if (fd >= 0) {
			r = session_connect_conn(sh, fd, &conn, &id);
			session_ms = (now_s() - t0) * 1e3;
			if (r < 0)
				log_error("%s: %s", o->connect, id.error);
			else
				log_attested(&id);
		} else if (*transport_connect_why()) {
			r = fd;
			log_error("cannot connect to %s: %s", o->connect, transport_connect_why());
			notify_status("cannot connect to %s: %s", o->connect, transport_connect_why());
		} else {
			r = fd;
			log_errno(r, "cannot connect to %s", o->connect);
			notify_status("cannot connect to %s: %s", o->connect, strerror(-r));
		}
		if (r == -EKEYREJECTED && o->once) {
			code = EXIT_REFUSED;
			break;
		}
		if (conn) {
			rn.conn++;
			r = engine_attach_session(e, conn);
			if (r == 0)
				r = serve(e, sigfd, o->once, &prog, &signalled, &rn);
			/* Only a connection that got in sync resets the backoff. */
			if (rn.synced)
				backoff_ms = 100;
			rn.synced = false;
			if (r == 0 && (signalled || o->once))
				(void)engine_goodbye(e);
		}
		if (r == 0 || signalled)
			break;
		if (o->once) {
			code = r == -EPROTO ? EXIT_PROTO : EXIT_CONN;
			if (r != -EPROTO)
				log_error("connection to %s lost", o->connect);
			break;
		}
		engine_detach(e);
		log_warn("connection to %s ended (%s); reconnecting in %d ms", o->connect,
			 strerror(-r), backoff_ms);
		notify_status("connection to %s ended (%s); reconnecting in %d ms", o->connect,
			      strerror(-r), backoff_ms);
		jobclient_reset(rn.jc, "the connection ended");
		rn.phase = RUN_SYNCING;
		{
			struct pollfd p = { .fd = sigfd, .events = POLLIN };
			if (poll(&p, 1, backoff_ms) > 0 && stop_signal(sigfd))
				break;
		}
		backoff_ms = MIN(backoff_ms * 2, 5000);
	}
	show_progress(&prog, e);
	progress_finish(&prog);
	if (o->stats) {
		print_stats(engine_stats(e), now_s() - start);
		print_cpu(e);
	}
	if (o->stats && session_ms > 0)
		fprintf(stderr, "  session ms:          %.2f\n", session_ms);
	if (o->stats && rn.started_at > 0)
		fprintf(stderr, "  job start ms:        %.2f\n", (rn.started_at - rn.sent_at) * 1e3);
	if (code == EXIT_OK && rn.not_synced)
		code = EXIT_NOT_SYNCED;
	if (code == EXIT_OK && engine_stats(e)->errors)
		code = EXIT_PARTIAL;
	if (o->run)
		code = rn.phase == RUN_DONE ? rn.exit_code : RUN_EXIT_FAILED;
	jobclient_free(rn.jc);
	engine_free(e);
	session_host_free(sh);
	creds_feed_free(rn.feed);
	return code;
}

static int run_listen(const struct opts *o, const struct addr *a, int sigfd)
{
	struct engine_config cfg = { .role = ROLE_ENCLAVE, .root = o->dir, .name = "enclave-sync",
				     .watch = true, .fsync = false, .max_store = o->max_store };
	struct runner idle = { 0 };
	struct progress none = { 0 };
	double start = now_s();
	bool signalled = false;
	struct engine *e;
	struct nsm nsm = { .fd = -1 };
	struct session_enclave *se = NULL;
	char rootdir[PATH_MAX], why[512];
	int lfd = -1, code = EXIT_OK, r;

	snprintf(rootdir, sizeof(rootdir), "%s/.efs-dev-root", o->dir);
	r = devsetup_nsm(o->dev_root ? o->dev_root : rootdir, "enclave-sync", "listen", &nsm, why,
			 sizeof(why));
	if (r == 0)
		r = session_enclave_new(&nsm, o->host_key, &se, why, sizeof(why));
	if (r < 0) {
		log_error("%s", why);
		devnsm_free(nsm.dev);
		return r == -EINVAL ? EXIT_PARTIAL : EXIT_CONN;
	}
	app_set_trees(&cfg);
	r = engine_new(&cfg, &e);
	if (r < 0) {
		log_errno(r, "%s", o->dir);
		code = EXIT_CONN;
		goto out;
	}
	if (a->kind != ADDR_FD) {
		lfd = transport_listen(a);
		if (lfd < 0) {
			log_errno(lfd, "cannot listen on %s", o->listen);
			engine_free(e);
			code = EXIT_CONN;
			goto out;
		}
	}
	notify_ready(NULL);
	notify_status("listening on %s", o->listen);
	while (!signalled) {
		int fd;

		if (lfd >= 0) {
			struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
					       { .fd = sigfd, .events = POLLIN } };
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if ((p[1].revents & POLLIN) && stop_signal(sigfd))
				break;
			if (!(p[0].revents & POLLIN))
				continue;
			fd = transport_accept(lfd);
			if (fd < 0) {
				log_errno(fd, "accept");
				continue;
			}
		} else {
			fd = transport_connect(a);
			if (fd < 0) {
				log_errno(fd, "%s", o->listen);
				code = EXIT_CONN;
				break;
			}
		}
		{
			struct session_conn *conn;

			r = session_accept_conn(se, fd, &conn, why, sizeof(why));
			if (r < 0) {
				log_error("session refused: %s", why);
				if (lfd < 0)
					break;
				continue;
			}
			r = engine_attach_session(e, conn);
		}
		if (r == 0)
			r = serve(e, sigfd, false, &none, &signalled, &idle);
		if (r < 0 && r != -ESHUTDOWN)
			log_info("connection ended: %s", strerror(-r));
		engine_detach(e);
		if (lfd < 0)
			break;
	}
	safe_close(lfd);
	if (o->stats)
		print_stats(engine_stats(e), now_s() - start);
	engine_free(e);
out:
	session_enclave_free(se);
	devnsm_free(nsm.dev);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "once", no_argument, NULL, '1' },
		{ "run", required_argument, NULL, 'r' },
		{ "max-store", required_argument, NULL, 'm' },
		{ "stats", no_argument, NULL, 's' },
		{ "progress", no_argument, NULL, 'p' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ "trust-root", required_argument, NULL, 'T' },
		{ "expect-pcr", required_argument, NULL, 'P' },
		{ "allow-debug", no_argument, NULL, 'D' },
		{ "key", required_argument, NULL, 'K' },
		{ "host-key", required_argument, NULL, 'H' },
		{ "dev-root", required_argument, NULL, 'R' },
		{ "aws-credentials", required_argument, NULL, 'A' },
		{ "region", required_argument, NULL, 'G' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct opts o = { 0 };
	struct addr a;
	char err[256];
	struct stat st;
	int c, sigfd;

	notify_init();
	transport_set_nitro_resolver(nitro_find_cid);
	log_setup("enclave-sync", LOG_NOTICE, false);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:l:1r:m:svhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.run = optarg; o.once = true; break;
		case 'c': o.connect = optarg; break;
		case 'l': o.listen = optarg; break;
		case '1': o.once = true; break;
		case 'm':
			if (parse_size(optarg, 1, ULLONG_MAX, &o.max_store) < 0) {
				return cli_usage_error(PROG, "--max-store takes a size in bytes (K, M, G, "
							     "T), not '%s'", optarg);
			}
			break;
		case 's': o.stats = true; break;
		case 'p': o.progress = PROGRESS_ON; break;
		case 'N': o.progress = PROGRESS_OFF; break;
		case 'T': o.trust_root = optarg; break;
		case 'D': o.allow_debug = true; break;
		case 'K': o.key = optarg; break;
		case 'H': o.host_key = optarg; break;
		case 'R': o.dev_root = optarg; break;
		case 'A': {
			enum aws_creds_source src;

			if (aws_creds_source_parse(optarg, &src) < 0) {
				return cli_usage_error(PROG, "--aws-credentials takes imds, env, profile "
							     "or none, not '%s'", optarg);
			}
			o.aws_creds = optarg;
			break;
		}
		case 'G':
			if (!aws_region_valid(optarg)) {
				return cli_usage_error(PROG, "--region '%s' is not an AWS region", optarg);
			}
			o.region = optarg;
			break;
		case 'P':
			if (o.npins == ATTEST_PINS_MAX ||
			    attest_parse_pin(optarg, &o.pins[o.npins], err, sizeof(err)) < 0) {
				return cli_usage_error(PROG, "--expect-pcr %s: %s", optarg,
						       o.npins == ATTEST_PINS_MAX ? "too many pins" : err);
			}
			o.npins++;
			break;
		case 'v': log_more_verbose(); break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("enclave-sync %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: return cli_getopt_error(PROG, c, argv, lopts);
		}
	}
	if (optind == argc)
		return cli_usage_error(PROG, "missing DIR");
	if (optind + 1 < argc)
		return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind + 1]);
	if (!o.connect && !o.listen)
		return cli_usage_error(PROG, "missing --connect ADDR or --listen ADDR");
	if (o.connect && o.listen)
		return cli_usage_error(PROG, "--connect and --listen exclude each other");
	if (o.listen && (o.once || o.trust_root || o.npins || o.allow_debug || o.key ||
			 o.aws_creds || o.region || o.progress))
		return cli_usage_error(PROG, "%s works with --connect only",
				       o.run		? "--run"
				       : o.once		? "--once"
				       : o.trust_root	? "--trust-root"
				       : o.npins	? "--expect-pcr"
				       : o.allow_debug	? "--allow-debug"
				       : o.key		? "--key"
				       : o.aws_creds	? "--aws-credentials"
				       : o.region	? "--region"
				       : o.progress == PROGRESS_ON ? "--progress"
								   : "--no-progress");
	if (o.connect && (o.max_store || o.host_key || o.dev_root))
		return cli_usage_error(PROG, "%s works with --listen only",
				       o.max_store ? "--max-store"
				       : o.host_key ? "--host-key"
						    : "--dev-root");
	if (o.run && strlen(o.run) > RUN_LINE_MAX)
		return cli_usage_error(PROG, "--run: the job line is longer than %d bytes",
				       RUN_LINE_MAX);
	o.dir = argv[optind];
	if (addr_parse(o.connect ? o.connect : o.listen, &a, err, sizeof(err)) < 0)
		return cli_usage_error(PROG, "%s %s: %s", o.connect ? "--connect" : "--listen",
				       o.connect ? o.connect : o.listen, err);
	/* An operand that names no directory is a runtime error, like a
	 * missing file: the arguments themselves were understood. */
	if (stat(o.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "enclave-sync: %s: not a directory\n", o.dir);
		return EXIT_PARTIAL;
	}
	raise_fd_limit();
	sigfd = signals_fd(true);
	if (sigfd < 0) {
		log_errno(neg_errno(), "signalfd");
		return EXIT_CONN;
	}
	return o.connect ? run_host(&o, &a, sigfd) : run_listen(&o, &a, sigfd);
}
