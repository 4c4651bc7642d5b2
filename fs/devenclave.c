/* The development enclave's process: started, handed its socket, reaped
 * (devenclave.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devenclave.h"
#include "log.h"
#include "util.h"

/* The development enclave's stderr comes here, line by line: each line is
 * logged as the mount's own (to the terminal while it starts, then to
 * syslog), and the last error is kept for .status. */
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_err[512];

bool dev_last_error(char *buf, size_t n)
{
	pthread_mutex_lock(&err_mu);
	snprintf(buf, n, "%s", last_err);
	pthread_mutex_unlock(&err_mu);
	return buf[0] != '\0';
}

static void relay_line(char *line)
{
	static const struct {
		const char *word;
		int level;
	} levels[] = { { "error: ", LOG_ERR }, { "warning: ", LOG_WARNING }, { "notice: ", LOG_NOTICE },
		       { "info: ", LOG_INFO }, { "debug: ", LOG_DEBUG } };
	const char *msg = line;
	int level = LOG_NOTICE;

	line[strcspn(line, "\n")] = '\0';
	if (strncmp(msg, "enclaved: ", 10) == 0)
		msg += 10;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strncmp(msg, levels[i].word, strlen(levels[i].word)) == 0) {
			msg += strlen(levels[i].word);
			level = levels[i].level;
			break;
		}
	if (!*msg)
		return;
	log_msg(level, "enclaved: %s", msg);
	if (level <= LOG_ERR) {
		pthread_mutex_lock(&err_mu);
		snprintf(last_err, sizeof(last_err), "%.*s", (int)sizeof(last_err) - 1, msg);
		pthread_mutex_unlock(&err_mu);
	}
}

static void *relay_main(void *arg)
{
	FILE *f = fdopen((int)(intptr_t)arg, "r");
	char line[4096];

	if (!f) {
		close((int)(intptr_t)arg);
		return NULL;
	}
	while (fgets(line, sizeof(line), f))
		relay_line(line);
	fclose(f);
	return NULL;
}

/* Starts enclaved --dev on one end of a socketpair; returns the other end. */
int dev_spawn(const struct link_config *cfg, pid_t *child)
{
	const char *argv[64];
	char maxjobs[16], verbose[8] = "-";
	size_t n = 0;
	int sv[2], ep[2];
	pthread_attr_t ta;
	pthread_t relay;
	pid_t pid;

	argv[n++] = cfg->enclaved;
	argv[n++] = "--dev";
	argv[n++] = "--listen";
	argv[n++] = "fd:3";
	argv[n++] = "--state";
	argv[n++] = cfg->dev_state;
	if (cfg->dev_root) {
		argv[n++] = "--dev-root";
		argv[n++] = cfg->dev_root;
	}
	for (size_t i = 0; i < cfg->nkeks && n < 50; i++) {
		argv[n++] = "--kek";
		argv[n++] = cfg->keks[i];
	}
	if (cfg->max_jobs) {
		snprintf(maxjobs, sizeof(maxjobs), "%u", cfg->max_jobs);
		argv[n++] = "--max-jobs";
		argv[n++] = maxjobs;
	}
	for (unsigned i = 0; i < cfg->verbose && i < 4; i++)
		verbose[i + 1] = 'v';
	if (cfg->verbose)
		argv[n++] = verbose;
	if (cfg->kms_endpoint) {
		argv[n++] = "--kms-endpoint";
		argv[n++] = cfg->kms_endpoint;
	}
	if (cfg->kms_proxy) {
		argv[n++] = "--kms-proxy";
		argv[n++] = cfg->kms_proxy;
	}
	if (cfg->kms_ca) {
		argv[n++] = "--kms-ca";
		argv[n++] = cfg->kms_ca;
	}
	argv[n] = NULL;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return neg_errno();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int r = neg_errno();
		close(ep[0]);
		close(ep[1]);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		int r = neg_errno();
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		return r;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls here: the parent has threads. */
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		umask(022); /* the mount runs with 0 (enclave-fs.c) */
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(sv[1], 3) < 0)
			_exit(127);
		if (dup2(ep[1], STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	/* It ends at the pipe's end: when enclaved and all it started are gone. */
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&relay, &ta, relay_main, (void *)(intptr_t)ep[0]) != 0) {
		log_warn("the development enclave's messages are lost: no thread for them");
		close(ep[0]);
	}
	pthread_attr_destroy(&ta);
	*child = pid;
	log_info("development enclave started (pid %d)", (int)pid);
	return sv[0];
}

bool dev_reap(pid_t *child, bool stop, char *why, size_t whysz)
{
	bool termed = false;
	int status;

	if (*child <= 0)
		return false;
	if (waitpid(*child, &status, WNOHANG) == 0) {
		termed = !stop;
		/* It ends by itself once its connection closes; unless we broke
		 * the conversation on a protocol error, it is already leaving. */
		if (!stop)
			(void)kill(*child, SIGTERM);
		while (waitpid(*child, &status, 0) < 0 && errno == EINTR)
			;
	}
	*child = 0;
	/* SIGTERM is how a broken conversation ends it: not news. */
	if (termed && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
		return false;
	if (WIFSIGNALED(status))
		snprintf(why, whysz, "the development enclave ended: signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		snprintf(why, whysz, "the development enclave exited with status %d", WEXITSTATUS(status));
	else
		return false;
	log_warn("%s", why);
	return true;
}


/* What enclaved --dev does first as non-root (enclave/enclaved.c), tried in
 * a child: a sysctl may allow user namespaces while a security module
 * refuses what they are for. */
static _Noreturn void probe_userns(void)
{
	if (userns_enter_self(NULL, 0) < 0)
		_exit(1);
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		_exit(3);
	_exit(0);
}

int devenclave_check(char *why, size_t whysz)
{
	uid_t uid = geteuid();
	struct passwd *pw;
	char name[32];
	int status;
	pid_t pid;

	if (uid == 0)
		return 0;
	pid = fork();
	if (pid == 0)
		probe_userns();
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
	}
	pw = getpwuid(uid);
	if (!pw)
		snprintf(name, sizeof(name), "%u", (unsigned)uid);
	snprintf(why, whysz,
		 "the development enclave needs root or unprivileged user namespaces, and this "
		 "system allows no user namespace to user %s; run it as root (sudo enclave-fs ...) "
		 "or connect to an enclave that runs elsewhere (--connect)",
		 pw ? pw->pw_name : name);
	return -1;
}
