/* The development enclave's process: started, handed its socket, reaped
 * (devenclave.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devenclave.h"
#include "log.h"
#include "util.h"

/* Starts enclaved --dev on one end of a socketpair; returns the other end. */
int dev_spawn(const struct link_config *cfg, pid_t *child)
{
	const char *argv[64];
	char maxjobs[16], verbose[8] = "-";
	size_t n = 0;
	int sv[2];
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
	if (cfg->syslog)
		argv[n++] = "--syslog";
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

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return neg_errno();
	pid = fork();
	if (pid < 0) {
		int r = neg_errno();
		close(sv[0]);
		close(sv[1]);
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
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	*child = pid;
	log_info("development enclave started (pid %d)", (int)pid);
	return sv[0];
}

void dev_reap(pid_t *child, bool stop)
{
	int status;

	if (*child <= 0)
		return;
	if (waitpid(*child, &status, WNOHANG) == 0) {
		/* It ends by itself once its connection closes; unless we broke
		 * the conversation on a protocol error, it is already leaving. */
		if (!stop)
			(void)kill(*child, SIGTERM);
		while (waitpid(*child, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (WIFSIGNALED(status))
		log_warn("development enclave ended: signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warn("development enclave exited with status %d", WEXITSTATUS(status));
	*child = 0;
}


static int write_proc(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		r = -1;
	close(fd);
	return r;
}

/* What enclaved --dev does first as non-root (enclave/enclaved.c), tried in
 * a child: a sysctl may allow user namespaces while a security module
 * refuses what they are for. */
static _Noreturn void probe_userns(uid_t uid, gid_t gid)
{
	char map[32];

	if (unshare(CLONE_NEWUSER) < 0)
		_exit(1);
	if (write_proc("/proc/self/setgroups", "deny") < 0)
		_exit(2);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	if (write_proc("/proc/self/uid_map", map) < 0)
		_exit(2);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	if (write_proc("/proc/self/gid_map", map) < 0)
		_exit(2);
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
		probe_userns(uid, getegid());
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
