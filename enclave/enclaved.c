/* enclaved: the daemon inside the enclave. It receives encrypted/, dataset/
 * and model/ from one host at a time with the sync engine, opens the sealed
 * packages that arrive, runs jobs from them in per-job sandboxes and sends
 * output/ back. With --dev it first isolates itself (no network) so that a
 * development enclave behaves like a Nitro one. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "daemon.h"
#include "devnsm.h"
#include "devsetup.h"
#include "kek.h"
#include "keyd.h"
#include "pkgworker.h"
#include "log.h"
#include "notify.h"
#include "pathsafe.h"
#include "session-engine.h"
#include "session.h"
#include "cli.h"
#include "transport.h"
#include "trees.h"
#include "uids.h"
#include "util.h"

#define MAX_POLL 512
#define PROG "enclaved"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: enclaved --listen ADDR --state DIR [--kek FILE]... [--max-jobs N] [--dev] [-v]\n"
		"                [--max-store BYTES] [--job-mem BYTES] [--job-uid-base N] [--syslog]\n"
		"                [--dev-root DIR] [--host-key KEY] [--region R] [--no-kms]\n"
		"                [--kms-endpoint URL] [--kms-proxy vsock:CID:PORT|unix:PATH] [--kms-ca FILE]\n"
		"\n"
		"The enclave daemon: receives DIR/encrypted, DIR/dataset and DIR/model from a host,\n"
		"opens the sealed packages in encrypted/ into DIR/app, runs jobs from them in\n"
		"sandboxes, and sends DIR/output back. ADDR is vsock:PORT, vsock:CID:PORT,\n"
		"unix:PATH or fd:N (an inherited connected socket: serve it, then exit).\n"
		"\n"
		"  -l, --listen ADDR   where hosts connect\n"
		"  -s, --state DIR     the state directory (created if missing)\n"
		"  -k, --kek FILE      a key-encryption key (enclave-seal keygen); repeatable\n"
		"  -j, --max-jobs N    jobs that may run at once (default 4)\n"
		"      --max-store BYTES  what the host may store here (default: what it holds\n"
		"                      plus half the free space of DIR's file system, or of RAM)\n"
		"      --job-mem BYTES  memory of one job (default: RAM / max-jobs, at least 1G)\n"
		"      --job-uid-base N first of the job uids, one per application (default %u)\n"
		"  -d, --dev           development enclave: isolate this process (no network) and\n"
		"                      attest with the development NSM instead of /dev/nsm\n"
		"      --dev-root DIR  with --dev: the development root that signs its attestation\n"
		"                      (default DIR/dev-root of --state, made on first use)\n"
		"      --host-key KEY  serve only this host key (a SHA-256 fingerprint or a PEM\n"
		"                      public key file); default: the first host that completes\n"
		"                      a session after the start\n"
		"      --region R      the AWS region for KMS when a key ARN names none (default:\n"
		"                      the host's, sent with its credentials)\n"
		"      --kms-endpoint URL  KMS at this https URL (default https://kms.REGION.amazonaws.com)\n"
		"      --kms-proxy ADDR  reach KMS through this socket: vsock:CID:PORT (default\n"
		"                      vsock:3:8000, the parent's vsock-proxy) or unix:PATH; with\n"
		"                      --dev and no --kms-proxy, directly (the dev enclave has no\n"
		"                      network: give unix:PATH of a forwarder)\n"
		"      --kms-ca FILE   trust these CA certificates for KMS (default: the system's)\n"
		"      --no-kms        do not start the kms key provider\n"
		"  -v, --verbose       more log output (repeat for debug)\n"
		"      --syslog        log to syslog instead of stderr\n"
		"  -h, --help, -V, --version\n"
		"\n"
		"BYTES take a K, M, G or T suffix.\n"
		"\n"
		"Exit status: 0 after SIGTERM or SIGINT (or the end of an fd: connection);\n"
		"1 runtime error (a key-encryption key file that cannot be read, the state\n"
		"directory, the NSM, the listening socket); 2 usage error.\n",
		UIDS_DEFAULT_BASE);
}

/* The development enclave: no network namespace interfaces, own IPC and
 * hostname; the process must not gain privileges through exec either. No
 * mount namespace of its own, also in a user namespace: a copy of the
 * mounts would hold the host's FUSE mount (made before this starts), and
 * fusermount3 -u would then never end it. */
static int isolate_dev(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		return neg_errno();
	(void)sethostname("enclave", 7);
	return 0;
}

/* --- engine hooks ------------------------------------------------------------------ */

void daemon_send_status(struct daemon *d)
{
	char *json, *keys = NULL, pcr[2 * NSM_PCR_LEN + 1];
	int n;

	for (int i = 0; i < NSM_PCR_LEN; i++)
		snprintf(pcr + 2 * i, 3, "%02x", d->pcr_app[i]);
	/* The providers that started, and the kms provider's state, as the
	 * key process reports them. */
	if (keyd_status(d->keyd_sock, &keys) < 0 || !keys || keys[0] != '{') {
		free(keys);
		keys = strdup("{\"providers\":[],\"error\":\"the key process does not answer\"}");
	}
	n = asprintf(&json,
		     "{\"isolation\":\"%s\",\"user_ns\":%s,\"version\":\"%s\",\"max_jobs\":%u,"
		     "\"keys\":%s,\"job_mem\":%llu,\"job_limits\":\"%s\",\"nsm\":\"%s\","
		     "\"app_pcr\":{\"index\":%u,\"value\":\"%s\"},\"host_key\":\"%s\"}",
		     d->dev ? "dev" : "nitro", d->userns ? "true" : "false", PACKAGE_VERSION, d->max_jobs, keys ? keys : "{}",
		     (unsigned long long)d->job_mem, sandbox_limit_mechanism(),
		     d->dev ? "development" : "device", DAEMON_APP_PCR, pcr,
		     session_enclave_host(d->session));
	free(keys);
	if (n > 0 && (size_t)n <= STATUS_MAX)
		(void)msg_put_status(engine_out(d->engine), json, (size_t)n);
	if (n > 0)
		free(json);
}

static void on_connected(void *ud)
{
	struct daemon *d = ud;

	d->connected = true;
	daemon_send_status(d);
	jobs_connected(d);
	packages_send_all(d);
}

static int on_message(void *ud, const struct frame *f, char *why, size_t whysz)
{
	struct daemon *d = ud;
	struct wbuf b = f->body;
	struct msg_run *run;
	uint32_t id;
	int r = appmsg_check(f->type, ROLE_HOST, why, whysz);

	if (r < 0)
		return r;
	snprintf(why, whysz, "bad %s", appmsg_type_name(f->type));
	switch (f->type) {
	case MSG_RUN:
		run = malloc(sizeof(*run));
		if (!run)
			return -ENOMEM;
		r = msg_decode_run(&b, run);
		if (r == 0)
			jobs_run(d, run->req, run->line);
		free(run);
		return r;
	case MSG_JOB_CANCEL:
		r = msg_decode_u32(&b, &id);
		if (r == 0)
			jobs_cancel(d, id);
		return r;
	case MSG_AWS_CREDS: {
		const uint8_t *json;
		size_t n;
		char kwhy[KEYD_WHY_MAX] = "";

		r = msg_decode_aws_creds(&b, &json, &n);
		if (r < 0)
			return r;
		/* Read by the key process only; the frame is wiped here. */
		r = keyd_creds(d->keyd_sock, (const char *)json, n, kwhy, sizeof(kwhy));
		explicit_bzero((void *)json, n);
		if (r < 0)
			log_warn("AWS credentials from the host refused: %s", kwhy);
		daemon_send_status(d);
		if (r == 0)
			packages_keys_changed(d);
		return 0;
	}
	}
	return -EPROTO;
}

static void on_committed(void *ud, const char *path)
{
	packages_file_changed(ud, path);
}

static void on_removed(void *ud, const char *path)
{
	packages_file_removed(ud, path);
}

static void on_renamed(void *ud, const char *from, const char *to)
{
	packages_file_removed(ud, from);
	packages_file_changed(ud, to);
}

static const struct engine_hooks hooks = {
	.connected = on_connected,
	.message = on_message,
	.committed = on_committed,
	.removed = on_removed,
	.renamed = on_renamed,
};

/* --- the loop ---------------------------------------------------------------------- */

/* Runs jobs, package installs and (when attached) the engine. Returns 1
 * when a host is waiting on lfd (only while none is attached), 0 when a
 * signal asks us to stop (*stop), or the engine's error when its
 * connection ended. */
static int serve(struct daemon *d, int lfd, int sigfd, bool *stop)
{
	static struct pollfd fds[MAX_POLL];
	static struct job *owners[MAX_POLL];

	for (;;) {
		bool attached = engine_connected(d->engine);
		int n, ne, nl = -1, nj, timeout, r;

		ne = attached ? engine_pollfds(d->engine, fds, 2) : 0;
		n = ne;
		fds[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = d->done_fd, .events = POLLIN };
		if (!attached && lfd >= 0) {
			nl = n;
			fds[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		}
		nj = jobs_pollfds(d, fds + n, MAX_POLL - n, owners);
		timeout = attached ? engine_timeout_ms(d->engine) : -1;
		r = jobs_timeout_ms(d);
		if (r >= 0 && (timeout < 0 || r < timeout))
			timeout = r;

		if (poll(fds, (nfds_t)(n + nj), timeout) < 0 && errno != EINTR)
			return neg_errno();
		if (fds[ne].revents & POLLIN) {
			*stop = true;
			return 0;
		}
		if (fds[ne + 1].revents & POLLIN)
			packages_results(d);
		jobs_step(d, fds + n, owners, nj);
		jobs_check_timers(d);
		if (attached) {
			r = engine_step(d->engine, fds, ne);
			if (r < 0)
				return r;
			jobs_finish(d);
		} else if (nl >= 0 && (fds[nl].revents & POLLIN)) {
			return 1;
		}
	}
}

/* The attested session on a new connection, then the engine on it. A
 * refused or failed handshake costs the daemon nothing but this call
 * (bounded by SESSION_TIMEOUT_MS). */
static int start_session(struct daemon *d, int fd)
{
	struct session_conn *c;
	char why[512];
	int r = session_accept_conn(d->session, fd, &c, why, sizeof(why));

	if (r < 0) {
		log_warn("session refused: %s", why);
		return r;
	}
	log_info("session with host %s", session_enclave_host(d->session));
	return engine_attach_session(d->engine, c);
}

static int run(struct daemon *d, const struct addr *a, int sigfd)
{
	bool stop = false;
	int lfd = -1, fd, r;

	if (a->kind == ADDR_FD) {
		fd = transport_connect(a);
		if (fd < 0)
			return log_errno(fd, "fd address");
		notify_ready(NULL);
		notify_status("serving the host on its connection");
		r = start_session(d, fd);
		if (r == 0)
			r = serve(d, -1, sigfd, &stop);
		if (r < 0 && r != -ESHUTDOWN)
			log_info("connection ended: %s", strerror(-r));
		return 0;
	}
	lfd = transport_listen(a);
	if (lfd < 0)
		return log_errno(lfd, "cannot listen");
	notify_ready(NULL);
	notify_status("listening; no host");
	while (!stop) {
		r = serve(d, lfd, sigfd, &stop);
		if (stop)
			break;
		if (r == 1) {
			fd = transport_accept(lfd);
			if (fd < 0) {
				log_errno(fd, "accept");
				continue;
			}
			r = start_session(d, fd);
			if (r == 0) {
				notify_status("host %s connected", session_enclave_host(d->session));
				continue;
			}
		}
		if (r < 0 && r != -ESHUTDOWN)
			log_info("connection ended: %s", strerror(-r));
		if (d->connected)
			notify_status("listening; the host left (%s)",
				      r < 0 ? strerror(-r) : "goodbye");
		d->connected = false;
		engine_detach(d->engine);
		jobs_disconnected(d);
		packages_disconnected(d);
	}
	safe_close(lfd);
	return 0;
}

/* Opens dir (one component) of fd as a directory, creating it with mode;
 * an existing one is forced to mode and must be ours. */
static int private_dir(int fd, const char *dir, mode_t mode)
{
	struct stat st;
	int dfd;

	if (mkdirat(fd, dir, mode) < 0 && errno != EEXIST)
		return neg_errno();
	dfd = openat(fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return neg_errno();
	if (fstat(dfd, &st) < 0 || (st.st_uid != geteuid() && fchown(dfd, geteuid(), getegid()) < 0) ||
	    ((st.st_mode & 07777) != mode && fchmod(dfd, mode) < 0)) {
		int r = neg_errno();
		close(dfd);
		return r;
	}
	return dfd;
}

/* The state dir is closed to everyone (0700, even when it existed with
 * other modes): jobs reach only what the sandbox binds for them. */
static int prepare_state(struct daemon *d)
{
	static const char *const dirs[] = { "encrypted", "dataset", "model" };
	int appfd, r;

	d->state_fd = private_dir(AT_FDCWD, d->state_dir, 0700);
	if (d->state_fd < 0)
		return log_errno(d->state_fd, "%s", d->state_dir);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (mkdirat(d->state_fd, dirs[i], 0755) < 0 && errno != EEXIST)
			return log_errno(neg_errno(), "%s/%s", d->state_dir, dirs[i]);
	/* Extracted packages never outlive the daemon: they are opened again
	 * from encrypted/ at start. */
	(void)path_remove_tree(d->state_fd, "app");
	appfd = private_dir(d->state_fd, "app", 0700);
	if (appfd < 0)
		return log_errno(appfd, "%s/app", d->state_dir);
	d->staging_fd = private_dir(appfd, "staging", 0700);
	d->installed_fd = private_dir(appfd, "installed", 0700);
	d->trash_fd = private_dir(appfd, "trash", 0700);
	close(appfd);
	if (d->staging_fd < 0 || d->installed_fd < 0 || d->trash_fd < 0)
		return log_errno(MIN(d->staging_fd, MIN(d->installed_fd, d->trash_fd)), "%s/app",
				 d->state_dir);
	/* Jobs of every application write /output, each as its own uid:
	 * sticky, so that none replaces another's files. */
	d->output_fd = private_dir(d->state_fd, "output", 01777);
	if (d->output_fd < 0)
		return log_errno(d->output_fd, "%s/output", d->state_dir);
	d->dataset_fd = openat(d->state_fd, "dataset", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d->model_fd = openat(d->state_fd, "model", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->dataset_fd < 0 || d->model_fd < 0)
		return log_errno(neg_errno(), "%s", d->state_dir);
	r = uids_open(d->state_fd, d->uid_base, &d->uids);
	if (r < 0)
		return log_errno(r, "%s/%s", d->state_dir, UIDS_FILE);
	return 0;
}

static int relay_nsm(void *ud, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn)
{
	return keyd_nsm(((struct daemon *)ud)->keyd_sock, req, reqn, resp, respn);
}

/* The key process (the NSM, the key providers), this start's session key,
 * and the application PCR as it stands. */
static int start_keys(struct daemon *d, struct keyd_config *kc, const char *host_key)
{
	char why[512], path[PATH_MAX], config[128], *status = NULL;
	bool locked;
	int r;

	snprintf(path, sizeof(path), "%s/dev-root", d->state_dir);
	snprintf(config, sizeof(config), "max-jobs=%u job-mem=%llu", d->max_jobs,
		 (unsigned long long)d->job_mem);
	if (!kc->dev_root)
		kc->dev_root = path;
	kc->nsm_config = config;
	kc->app_pcr = DAEMON_APP_PCR;
	r = keyd_start(kc, &d->keyd_sock, &d->keyd_pid, &status, why, sizeof(why));
	if (r < 0) {
		log_error("%s", why);
		return r == -EINVAL ? -EINVAL : -EIO;
	}
	log_info("key process %d: %s", d->keyd_pid, status ? status : "");
	free(status);
	d->nsm = (struct nsm){ .fd = -1, .relay = relay_nsm, .relay_ud = d };
	r = nsm_describe_pcr(&d->nsm, DAEMON_APP_PCR, &locked, d->pcr_app, why, sizeof(why));
	if (r < 0)
		return log_errno(r, "NSM: PCR%u: %s", DAEMON_APP_PCR, why);
	r = session_enclave_new(&d->nsm, host_key, &d->session, why, sizeof(why));
	if (r < 0)
		return log_errno(r, "%s", why);
	return 0;
}

static uint64_t default_job_mem(unsigned max_jobs)
{
	struct sysinfo si;
	uint64_t m = 0;

	if (sysinfo(&si) == 0)
		m = (uint64_t)si.totalram * si.mem_unit / max_jobs;
	return MAX(m, 1ull << 30);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "kek", required_argument, NULL, 'k' },
		{ "max-jobs", required_argument, NULL, 'j' },
		{ "max-store", required_argument, NULL, 'M' },
		{ "job-mem", required_argument, NULL, 'm' },
		{ "job-uid-base", required_argument, NULL, 'U' },
		{ "dev", no_argument, NULL, 'd' },
		{ "dev-root", required_argument, NULL, 'R' },
		{ "host-key", required_argument, NULL, 'H' },
		{ "region", required_argument, NULL, 'r' },
		{ "kms-endpoint", required_argument, NULL, 'E' },
		{ "kms-proxy", required_argument, NULL, 'P' },
		{ "kms-ca", required_argument, NULL, 'C' },
		{ "no-kms", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct daemon d = { .max_jobs = 4, .state_fd = -1, .staging_fd = -1, .installed_fd = -1,
			    .trash_fd = -1, .dataset_fd = -1, .model_fd = -1, .output_fd = -1,
			    .done_fd = -1, .uid_base = UIDS_DEFAULT_BASE, .keyd_sock = -1,
			    .exe_fd = -1 };
	struct keyd_config kc = { .kms = 1 };
	const char **keks = NULL;
	unsigned long long max_store = 0;
	uid_t clash;
	struct engine_config cfg = { .role = ROLE_ENCLAVE, .name = "enclaved", .watch = true,
				     .readable = true, .hooks = &hooks, .hooks_ud = &d };
	const char *listen = NULL, *dev_root = NULL, *host_key = NULL;
	unsigned long long v;
	struct addr a;
	char err[256];
	int c, sigfd, r, code = 1;

	if (argc >= 2 && !strcmp(argv[1], PKGWORKER_ARG))
		return pkgworker_main(argc, argv);
	/* before the key process is forked: no child speaks for this one */
	notify_init();
	log_setup("enclaved", LOG_NOTICE, false);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:s:k:j:dvhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 's': d.state_dir = optarg; break;
		case 'k': {
			const char **nk = realloc(keks, (kc.nkek + 1) * sizeof(*keks));

			if (!nk) {
				free(keks);
				log_errno(-ENOMEM, "--kek %s", optarg);
				return 1;
			}
			keks = nk;
			keks[kc.nkek++] = optarg;
			break;
		}
		case 'r': kc.region = optarg; break;
		case 'E': kc.kms_endpoint = optarg; break;
		case 'P': kc.kms_proxy = optarg; break;
		case 'C': kc.kms_ca = optarg; break;
		case 'N': kc.kms = 0; break;
		case 'j':
			if (parse_u64(optarg, 1, 1024, &v) < 0) {
				return cli_usage_error(PROG, "--max-jobs takes a number from 1 to 1024, "
							     "not '%s'", optarg);
			}
			d.max_jobs = (unsigned)v;
			break;
		case 'M':
			if (parse_size(optarg, 1, ULLONG_MAX, &max_store) < 0) {
				return cli_usage_error(PROG, "--max-store takes a size in bytes (K, M, G, "
							     "T), not '%s'", optarg);
			}
			break;
		case 'm':
			if (parse_size(optarg, 16ull << 20, ULLONG_MAX, &v) < 0) {
				return cli_usage_error(PROG, "--job-mem takes a size of at least 16M, "
							     "not '%s'", optarg);
			}
			d.job_mem = v;
			break;
		case 'U':
			if (parse_u64(optarg, 1000, UINT32_MAX - UIDS_MAX - 1, &v) < 0) {
				return cli_usage_error(PROG, "--job-uid-base takes a number from 1000 to "
							     "%u, not '%s'", UINT32_MAX - UIDS_MAX - 1,
						       optarg);
			}
			d.uid_base = (uid_t)v;
			break;
		case 'd': d.dev = true; break;
		case 'R': dev_root = optarg; break;
		case 'H': host_key = optarg; break;
		case 'v': log_more_verbose(); break;
		case 'S': log_setup("enclaved", log_get_level(), true); break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("enclaved %s\n", PACKAGE_VERSION); return 0;
		default: free(keks); return cli_getopt_error(PROG, c, argv, lopts);
		}
	}
	if (!listen || !d.state_dir || optind != argc || (dev_root && !d.dev)) {
		free(keks);
		if (!listen)
			return cli_usage_error(PROG, "missing --listen ADDR");
		if (!d.state_dir)
			return cli_usage_error(PROG, "missing --state DIR");
		if (optind != argc)
			return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
		return cli_usage_error(PROG, "--dev-root works with --dev only");
	}
	kc.kek_files = keks;
	kc.dev = d.dev;
	kc.dev_root = dev_root;
	if (!kc.kms_proxy && !d.dev)
		kc.kms_proxy = "vsock:3:8000";
	if (addr_parse(listen, &a, err, sizeof(err)) < 0) {
		free(keks);
		return cli_usage_error(PROG, "--listen %s: %s", listen, err);
	}
	d.limits = (struct extract_limits){ .max_total_bytes = 16ull << 30,
					    .max_entries = 100000,
					    .max_file_bytes = 16ull << 30 };

	if (!d.job_mem)
		d.job_mem = default_job_mem(d.max_jobs);
	/* A job's uid must be nobody's on this system: a process of that uid
	 * could read a running job's files through /proc/PID/root. */
	if (uids_range_free(d.uid_base, &clash) < 0) {
		log_error("job uid %u (of --job-uid-base %u and the %u after it) belongs to a user or "
			  "group of this system: choose another base", (unsigned)clash,
			  (unsigned)d.uid_base, UIDS_MAX - 1);
		return 1;
	}
	if (d.dev && geteuid() != 0) {
		struct passwd *pw = getpwuid(geteuid());
		char why[256], name[32];

		snprintf(name, sizeof(name), "%u", (unsigned)geteuid());
		r = userns_enter_self(why, sizeof(why));
		if (r < 0) {
			/* One line for the user who started it, wherever the
			 * log goes. */
			fprintf(stderr, "enclaved: the development enclave needs root or unprivileged "
				"user namespaces, and this system allows no user namespace to user %s; "
				"run it as root (sudo enclaved --dev ...) or run enclaved without --dev "
				"in an enclave (Nitro)\n", pw ? pw->pw_name : name);
			log_errno(r, "cannot isolate the development enclave: %s", why);
			return 1;
		}
		d.userns = true;
		log_info("development enclave of uid %s in a user namespace of its own (uid 0 there); "
			 "each job in one of its own", name);
	}
	if (d.dev) {
		r = isolate_dev();
		if (r < 0) {
			log_errno(r, "cannot isolate the development enclave (needs root)");
			return 1;
		}
	}
	{
		char why[256];
		if (sandbox_limits_init(NULL, why, sizeof(why)) < 0)
			log_info("job limits: rlimits (%s): AS for memory, NPROC for processes, "
				 "NOFILE and FSIZE%s", why,
				 d.userns ? "; no cgroup for this user (not delegated): memory is "
					    "address space, not resident memory, and nothing "
					    "limits a job's swap or its share of the CPU" : "");
		else
			log_info("job limits: a cgroup v2 per job");
	}
	/* Job ids count from 1 in every process: hosts tell them apart by this. */
	do {
		if (getrandom(d.instance, sizeof(d.instance), 0) != (ssize_t)sizeof(d.instance)) {
			log_errno(neg_errno(), "getrandom");
			return 1;
		}
	} while (!memcmp(d.instance, (const uint8_t[JOBS_INSTANCE_LEN]){ 0 }, sizeof(d.instance)));
	/* Package workers start from this binary, whatever its path becomes. */
	d.exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (d.exe_fd < 0) {
		log_errno(neg_errno(), "/proc/self/exe");
		return 1;
	}
	if (prepare_state(&d) < 0)
		return 1;
	/* Before any signal handling, thread or host: the key process starts
	 * from a process that has read nothing from a host. */
	r = start_keys(&d, &kc, host_key);
	free(keks);
	/* A key file that cannot be read is a runtime error, like any file. */
	if (r < 0)
		return CLI_EXIT_FAILURE;
	sigfd = signals_fd(false);
	if (sigfd < 0)
		return 1;
	cfg.root = d.state_dir;
	/* Without --max-store the host may fill half of what is free. */
	cfg.max_store = max_store;
	cfg.store_share = 50;
	app_set_trees(&cfg);
	r = engine_new(&cfg, &d.engine);
	if (r < 0) {
		log_errno(r, "%s", d.state_dir);
		return 1;
	}
	r = packages_start(&d);
	if (r < 0) {
		log_errno(r, "cannot start");
		goto out;
	}
	log_info("serving %s from %s (isolation %s)", listen, d.state_dir, d.dev ? "dev" : "nitro");
	code = run(&d, &a, sigfd) < 0 ? 1 : 0;
	jobs_stop_all(&d);
	packages_stop(&d);
out:
	engine_free(d.engine);
	session_enclave_free(d.session);
	safe_close(d.keyd_sock);
	safe_close(d.exe_fd);
	uids_free(d.uids);
	safe_close(d.staging_fd);
	safe_close(d.installed_fd);
	safe_close(d.trash_fd);
	safe_close(d.dataset_fd);
	safe_close(d.model_fd);
	safe_close(d.output_fd);
	safe_close(d.state_fd);
	return code;
}
