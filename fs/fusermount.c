/* Mounting without root through fusermount3 (fusermount.h).
 *
 * fusermount3 (setuid root) mounts, then sends the /dev/fuse fd of the mount
 * as SCM_RIGHTS over the socket named by $_FUSE_COMMFD and exits; with
 * auto_unmount it stays, and unmounts once that socket closes.
 *
 * fusermount3 3.14 opens /dev/fuse with the user's file system ids, not
 * root's: the device's mode is the administrator's say over who may use
 * FUSE. Where it is 0600 (no udev rule made it 0666, as Debian's does),
 * fusermount3 fails too, and the error says what would help. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fusermount.h"
#include "util.h"

extern char **environ;

/* What the last efs_mount() did (one mount per process). */
static struct {
	bool via_fusermount;
	int commfd; /* kept open with auto_unmount: fusermount3 unmounts when it closes */
} mounted = { false, -1 };

/* Options libfuse's mount code takes (lib/mount.c); the rest of the -o
 * options belong to the session. A trailing '=' takes a value. */
static const char *const mount_opts[] = {
	"rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync",
	"dirsync", "atime", "noatime", "diratime", "nodiratime", "lazytime", "nolazytime",
	"relatime", "norelatime", "strictatime", "nostrictatime", "symfollow", "nosymfollow",
	"allow_other", "default_permissions", "blkdev", "auto_unmount", "fsname=", "subtype=",
	"max_read=", "blksize=", "context=", "fscontext=", "defcontext=", "rootcontext=",
};

struct opts_out {
	char *list; /* fuse_opt_add_opt_escaped() builds it */
	bool auto_unmount;
};

static bool is_mount_opt(const char *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(mount_opts); i++) {
		size_t n = strlen(mount_opts[i]);

		if (mount_opts[i][n - 1] == '=' ? strncmp(arg, mount_opts[i], n) == 0
						: strcmp(arg, mount_opts[i]) == 0)
			return true;
	}
	return false;
}

static int collect(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts_out *o = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_OPT || !is_mount_opt(arg))
		return 0;
	return fuse_opt_add_opt_escaped(&o->list, arg) < 0 ? -1 : 0;
}

int efs_mount_opts(const struct fuse_args *args, char *out, size_t outsz)
{
	/* fuse_opt_parse() replaces the args it is given: parse a borrowed
	 * view (allocated = 0), which it never frees. */
	struct fuse_args view = FUSE_ARGS_INIT(args->argc, args->argv);
	struct opts_out o = { 0 };
	int r = 0;

	if (fuse_opt_parse(&view, &o, NULL, collect) < 0)
		r = -ENOMEM;
	else if ((size_t)snprintf(out, outsz, "%s", o.list ? o.list : "") >= outsz)
		r = -ENOSPC;
	fuse_opt_free_args(&view);
	free(o.list);
	return r;
}

static const char *fusermount_path(void)
{
	static const char *const where[] = { "/usr/bin/fusermount3", "/bin/fusermount3",
					     "/usr/local/bin/fusermount3" };

	for (size_t i = 0; i < ARRAY_SIZE(where); i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* Starts fusermount3 with argv (argv[0] aside); commfd >= 0 is handed to it
 * as $_FUSE_COMMFD. Returns its pid or a negative errno. */
static pid_t spawn(const char *path, const char *const *argv, int commfd)
{
	char commvar[32];
	const char **envp;
	size_t n = 0;
	pid_t pid;

	while (environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	n = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "_FUSE_COMMFD=", 13) != 0)
			envp[n++] = *e;
	if (commfd >= 0) {
		snprintf(commvar, sizeof(commvar), "_FUSE_COMMFD=%d", commfd);
		envp[n++] = commvar;
	}
	pid = fork();
	if (pid == 0) {
		if (commfd >= 0 && fcntl(commfd, F_SETFD, 0) < 0)
			_exit(127);
		execve(path, (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	free(envp);
	return pid < 0 ? neg_errno() : pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The fd that fusermount3 sends, or -ECONNRESET when it sent none (it
 * failed, and said why on stderr). */
static int receive_fd(int sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return neg_errno();
	if (n == 0)
		return -ECONNRESET;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	return fd;
}

static void fusermount_unmount(const char *path, const char *mountpoint)
{
	const char *argv[] = { "fusermount3", "-u", "-q", "-z", "--", mountpoint, NULL };
	pid_t pid = spawn(path, argv, -1);

	if (pid > 0)
		(void)wait_exit(pid);
}

/* fusermount3 failed (it said why on stderr): most likely it could not
 * open /dev/fuse either. */
static int fuse_closed(const char *mountpoint, int status, char *err, size_t errsz)
{
	struct stat st;

	if (stat("/dev/fuse", &st) == 0 && !(st.st_mode & S_IWOTH))
		return err_set(err, errsz, -EACCES,
			       "FUSE is closed to this user: /dev/fuse is mode %04o and fusermount3 "
			       "opens it as the user; run enclave-fs as root, or chmod 0666 /dev/fuse "
			       "as Debian's udev rule does", (unsigned)(st.st_mode & 07777));
	return err_set(err, errsz, -EIO, "fusermount3 could not mount %s (exit status %d)",
		       mountpoint, status);
}

int efs_mount(struct fuse_session *se, const char *mountpoint, const char *opts, char *err,
	      size_t errsz)
{
	const char *path, *argv[8];
	char fdpath[32];
	int fd, sv[2], status, n = 0;
	bool keep;
	pid_t pid;

	mounted.via_fusermount = false;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd >= 0 || geteuid() == 0 || (errno != EACCES && errno != EPERM)) {
		/* libfuse mounts, or falls back to fusermount3 by itself
		 * where it opened /dev/fuse but mount(2) is refused. */
		safe_close(fd);
		if (fuse_session_mount(se, mountpoint) != 0)
			return err_set(err, errsz, -EIO, "cannot mount %s", mountpoint);
		return 0;
	}

	path = fusermount_path();
	if (!path)
		return err_set(err, errsz, -ENOENT,
			       "cannot open /dev/fuse (%s) and no fusermount3 (package fuse3) to "
			       "mount %s", strerror(EACCES), mountpoint);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(err, errsz, neg_errno(), "socketpair: %s", strerror(errno));
	argv[n++] = "fusermount3";
	if (opts && *opts) {
		argv[n++] = "-o";
		argv[n++] = opts;
	}
	argv[n++] = "--";
	argv[n++] = mountpoint;
	argv[n] = NULL;
	pid = spawn(path, argv, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return err_set(err, errsz, pid, "cannot run %s: %s", path, strerror(-pid));
	}
	fd = receive_fd(sv[0]);
	/* With auto_unmount fusermount3 stays until this socket closes. */
	keep = fd >= 0 && opts && strstr(opts, "auto_unmount") != NULL;
	if (keep) {
		mounted.commfd = sv[0];
	} else {
		close(sv[0]);
		status = wait_exit(pid);
		if (fd < 0)
			return fuse_closed(mountpoint, status, err, errsz);
	}
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	if (fuse_session_mount(se, fdpath) != 0) {
		close(fd);
		fusermount_unmount(path, mountpoint);
		mounted.commfd = safe_close(mounted.commfd);
		return err_set(err, errsz, -EIO, "cannot use the mount of %s", mountpoint);
	}
	mounted.via_fusermount = true;
	return 0;
}

void efs_unmount(struct fuse_session *se, const char *mountpoint)
{
	struct pollfd p = { .fd = fuse_session_fd(se), .events = 0 };
	const char *path = fusermount_path();

	if (!mounted.via_fusermount) {
		fuse_session_unmount(se);
		return;
	}
	/* POLLERR: unmounted already (fusermount3 -u), or the connection
	 * was aborted; either way nothing is left to unmount. */
	if (path && !(p.fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLERR)))
		fusermount_unmount(path, mountpoint);
	mounted.commfd = safe_close(mounted.commfd);
	mounted.via_fusermount = false;
	/* The session's fd is closed by fuse_session_destroy(). */
}
