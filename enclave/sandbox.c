#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#define CGROUP2_MAGIC 0x63677270 /* CGROUP2_SUPER_MAGIC */

#define START_TIMEOUT_MS  10000
#define DEFAULT_MAX_PROCS 256
#define DEFAULT_MAX_FILES 1024
#define JOB_FSIZE         (64ULL << 30)

/* Where the children's fds live once moved (see move_fds). The spec's
 * directories come along as detached mounts (see clone_dir): the children
 * attach them and resolve no path of the caller's. */
enum {
	FD_OUT = 1,
	FD_ERR,
	FD_STATUS,
	FD_RESULT,
	FD_PARENT,
	FD_APP,
	FD_DATASET,
	FD_MODEL,
	FD_OUTPUT,
	FD_CGROUP, /* the job's cgroup.procs, or closed: see cgroup_create */
	FD_COUNT = FD_CGROUP
};

/* One record on the status pipe; smaller than PIPE_BUF, so written atomically. */
struct child_msg {
	int32_t err; /* positive errno of the failing step; 0: the job is about to exec */
	uint32_t pad;
	int64_t exec_ns; /* CLOCK_MONOTONIC just before execve */
	char what[240];  /* the failing step, e.g. "attach /app" */
};

/* Everything the children need, prepared by the parent so that they only
 * make system calls: no malloc, no stdio, no locks. */
struct child_ctx {
	const struct sandbox_spec *spec;
	int fds[FD_COUNT];        /* become FD_OUT .. FD_COUNT; -1: that one stays closed */
	struct sock_fprog filter; /* the job's seccomp filter (see filter_build) */
	bool in_cgroup;           /* the cgroup limits the job, not rlimits */
	bool userns;              /* the job's ids are not ours to give: a user namespace */
	char uid_map[32];         /* with userns: "JOBUID OURUID 1" */
	char gid_map[32];
	char passwd[160];
	char group[96];
};

struct sandbox_job {
	pid_t pid;    /* the job's init, our child */
	char *cgroup; /* the job's cgroup, removed once the job ended; or NULL */
	int pidfd;
	int result_fd; /* init writes the job's wait status here before it exits */
	bool reaped;
	int status;
	double exec_ms;
};

static char *const job_env[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",         NULL,
};
static const char *const job_path[] = {"/usr/local/bin", "/usr/bin", "/bin"};

/* Host paths mirrored into the new root when they exist: a symlink is copied,
 * a directory or file is bound read-only. lib* are merged-usr symlinks on
 * Debian 12; localtime is usually a symlink into /usr/share/zoneinfo. */
static const char *const mirrored[] = {
    "bin",
    "sbin",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "etc/ld.so.cache",
    "etc/alternatives",
    "etc/localtime",
};
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom"};

/* System calls the job's filter answers with EPERM (see filter_build).
 * Names, not numbers: one this libseccomp does not know, or this
 * architecture lacks, is skipped. */
static const char *const refused_syscalls[] = {
    /* namespaces and mounts: the job stays in the sandbox built for it */
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    /* other processes' memory and files */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    /* kernel keyrings, BPF, perf, userfaultfd, io_uring (a way around this filter) */
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* the machine: modules, kexec, reboot, swap, accounting, kernel log, clocks,
     * names, I/O ports, quotas */
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    /* file handles bypass the path walk and its permission checks */
    "open_by_handle_at",
    "name_to_handle_at",
    /* jobs share /output, and the host may name a path in it as an argument of
     * another package's job: no job plants a link for it to follow */
    "symlink",
    "symlinkat",
    /* device nodes (and FIFOs, which take the same call) */
    "mknod",
    "mknodat",
};

/* CLONE_NEW* as clone() takes them (CLONE_NEWTIME fits only clone3 and unshare). */
static const uint64_t clone_ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};
#ifdef __s390__
#define CLONE_FLAGS_ARG 1 /* clone(stack, flags, ...) */
#else
#define CLONE_FLAGS_ARG 0
#endif

/* clone_args as of Linux 5.3 (CLONE_ARGS_SIZE_VER0). */
struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* fork() without glibc's bookkeeping: the child continues on a copy of this
 * stack. Safe because the children only make system calls. Seccomp filters
 * such as Docker's answer clone3 with ENOSYS; clone takes the same flags
 * (on every architecture but s390 the pidfd pointer is the third argument). */
static pid_t raw_clone(uint64_t flags, int *pidfd)
{
	struct clone_args_v0 a = {
	    .flags = flags,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};
	pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));

#ifndef __s390__
	if (pid < 0 && errno == ENOSYS)
		pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, 0UL, pidfd, NULL,
		                     0UL);
#endif
	return pid;
}

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errsz, const char *fmt,
                                                         ...)
{
	va_list ap;

	if (!err || errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* --- the children: system calls only ------------------------------------------ */

static void str_append(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(dst), m = strlen(s);

	if (m > cap - 1 - n)
		m = cap - 1 - n;
	memcpy(dst + n, s, m);
	dst[n + m] = '\0';
}

static _Noreturn void child_fail(int err, const char *step, const char *arg)
{
	struct child_msg m;

	memset(&m, 0, sizeof(m));
	m.err = err > 0 ? err : EIO;
	str_append(m.what, sizeof(m.what), step);
	if (arg) {
		str_append(m.what, sizeof(m.what), " ");
		str_append(m.what, sizeof(m.what), arg);
	}
	(void)!write(FD_STATUS, &m, sizeof(m));
	_exit(127);
}

/* Moves the inherited fds to FD_OUT..FD_COUNT and closes everything else the
 * caller had open (its sockets, keys, other jobs' pipes), including stdin. */
static void move_fds(const int fds[static FD_COUNT])
{
	int tmp[FD_COUNT];
	int i;

	for (i = 0; i < FD_COUNT; i++) {
		tmp[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD, FD_COUNT + 1);
		if (fds[i] >= 0 && tmp[i] < 0)
			_exit(127);
	}
	for (i = 0; i < FD_COUNT; i++) {
		int to = FD_OUT + i;
		if (tmp[i] < 0)
			close(to);
		else if (dup3(tmp[i], to, to == FD_OUT || to == FD_ERR ? 0 : O_CLOEXEC) < 0)
			_exit(127);
	}
	close_range(FD_COUNT + 1, ~0U, 0);
	close(0);
}

static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int s;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (s = 1; s < _NSIG; s++)
		(void)sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Set in the children only (their own copy of memory): the sandbox is in
 * a user namespace of its own (child_ctx.userns). */
static bool in_userns;

/* With in_userns, the flags dst already has are added to a remount's: the
 * mounts that came from a more privileged mount namespace keep theirs
 * locked (nosuid, nodev, noexec, read-only and the atime mode), and a
 * remount that drops one is refused. As root, flags stand as given. */
static unsigned long kept_flags(const char *dst)
{
	/* statfs's ST_* bits and the MS_* bits they stand for. */
	static const struct {
		unsigned long st, ms;
	} map[] = {
	    {1, MS_RDONLY},        {2, MS_NOSUID},       {4, MS_NODEV},
	    {8, MS_NOEXEC},        {1024, MS_NOATIME},   {2048, MS_NODIRATIME},
	    {4096, MS_RELATIME},   {8192, 256 /* MS_NOSYMFOLLOW */},
	};
	struct statfs sf;
	unsigned long f = 0;

	if (!in_userns)
		return 0;
	if (statfs(dst, &sf) < 0)
		child_fail(errno, "statfs", dst);
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if ((unsigned long)sf.f_flags & map[i].st)
			f |= map[i].ms;
	return f & (MS_NOATIME | MS_RELATIME) ? f : f | MS_STRICTATIME;
}

/* Binds src on dst (relative to the new root) and applies flags
 * (MS_RDONLY, MS_NOSUID, ...), which a bind mount only takes on remount. */
static void bind_at(const char *src, const char *dst, unsigned long flags, const char *label)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		child_fail(errno, "bind", label);
	if (flags && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags | kept_flags(dst),
	                   NULL) < 0)
		child_fail(errno, "remount", label);
}

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* Attaches the detached mount fd (see clone_dir) on dst, with flags as in
 * bind_at. MS_NOSYMFOLLOW is required (Linux 5.10): the host's symlinks in
 * the data trees must never be followed by a job (doc/SECURITY.md). */
static void attach_at(int fd, const char *dst, unsigned long flags, const char *label)
{
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		child_fail(errno, "attach", label);
	if (flags && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | flags | kept_flags(dst),
	                   NULL) < 0)
		child_fail(errno, "remount", label);
}

static void make_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		child_fail(errno, "create", path);
	if (content && write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		child_fail(errno, "write", path);
	close(fd);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0)
		child_fail(errno, "mkdir", path);
}

/* Mirrors host "/rel" at "rel" in the new root, as described at `mirrored`. */
static void mirror(const char *rel)
{
	char host[64] = "/", link[PATH_MAX];
	struct stat st;
	ssize_t n;

	str_append(host, sizeof(host), rel);
	if (lstat(host, &st) < 0) {
		if (errno == ENOENT)
			return;
		child_fail(errno, "stat", host);
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(host, link, sizeof(link) - 1);
		if (n < 0)
			child_fail(errno, "readlink", host);
		link[n] = '\0';
		if (symlink(link, rel) < 0)
			child_fail(errno, "symlink", rel);
		return;
	}
	if (S_ISDIR(st.st_mode))
		make_dir(rel);
	else
		make_file(rel, NULL);
	bind_at(host, rel, MS_RDONLY | MS_NOSUID | MS_NODEV, host);
}

static int mount_proc(const char *options)
{
	return mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, options);
}

/* Builds the job's root on a tmpfs and pivots into it. The spec's dirs
 * arrive as detached mounts, so where the tmpfs goes (over /tmp, in this
 * private namespace) cannot hide them. */
static void build_root(const struct child_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV;
	size_t i;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(errno, "make / private", NULL);
	if (mount("sandbox", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") < 0)
		child_fail(errno, "mount root tmpfs on", "/tmp");
	if (chdir("/tmp") < 0)
		child_fail(errno, "chdir", "/tmp");

	make_dir("usr");
	bind_at("/usr", "usr", ro, "/usr");
	make_dir("etc");
	for (i = 0; i < ARRAY_SIZE(mirrored); i++)
		mirror(mirrored[i]);
	make_file("etc/passwd", c->passwd);
	make_file("etc/group", c->group);
	make_file("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n");

	make_dir("app");
	attach_at(FD_APP, "app", ro, "/app");
	make_dir("dataset");
	if (s->dataset_fd >= 0)
		attach_at(FD_DATASET, "dataset", ro | MS_NOEXEC | MS_NOSYMFOLLOW, "/dataset");
	make_dir("model");
	if (s->model_fd >= 0)
		attach_at(FD_MODEL, "model", ro | MS_NOEXEC | MS_NOSYMFOLLOW, "/model");
	make_dir("output");
	attach_at(FD_OUTPUT, "output", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW, "/output");
	close_range(FD_APP, FD_OUTPUT, 0);

	make_dir("tmp");
	if (mount("tmp", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g") < 0)
		child_fail(errno, "mount", "/tmp");

	make_dir("dev");
	if (mount("dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		child_fail(errno, "mount", "/dev");
	for (i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		char host[16] = "/dev/", rel[16] = "dev/";
		str_append(host, sizeof(host), dev_nodes[i]);
		str_append(rel, sizeof(rel), dev_nodes[i]);
		make_file(rel, NULL);
		bind_at(host, rel, 0, host);
	}
	if (symlink("/proc/self/fd", "dev/fd") < 0 || symlink("/proc/self/fd/0", "dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "dev/stdout") < 0 ||
	    symlink("/proc/self/fd/2", "dev/stderr") < 0)
		child_fail(errno, "symlink in", "/dev");
	make_dir("dev/shm");
	if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") < 0)
		child_fail(errno, "mount", "/dev/shm");
	if (mount(NULL, "dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
	          NULL) < 0)
		child_fail(errno, "remount", "/dev");

	/* We are PID 1 of the new PID namespace, so this procfs shows only the
	 * job and us; hidepid hides us too (root, not dumpable), with our copy
	 * of the caller's memory and command line. "invisible" needs Linux 5.8. */
	make_dir("proc");
	if (mount_proc("hidepid=invisible") < 0 && (errno != EINVAL || mount_proc("hidepid=2") < 0))
		child_fail(errno, "mount", "/proc");

	/* pivot_root(".", ".") stacks the old root on the new one; detaching it
	 * leaves only the new root. An initramfs root cannot be pivoted: there,
	 * move the new root over / and chroot, which a process without
	 * CAP_SYS_CHROOT cannot leave. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			child_fail(errno, "detach the old root", NULL);
	} else if (errno == EINVAL) {
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
			child_fail(errno, "move the new root over /", NULL);
	} else {
		child_fail(errno, "pivot_root", NULL);
	}
	if (chdir("/") < 0)
		child_fail(errno, "chdir", "/");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | ro, NULL) < 0)
		child_fail(errno, "remount", "/");
}

/* Sets a limit to at most v: where the caller's own hard limit is lower
 * (raising it needs CAP_SYS_RESOURCE, which a container may lack), the job
 * gets that. */
static void set_limit(int resource, uint64_t v, const char *label)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) < 0)
		child_fail(errno, "getrlimit", label);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(resource, &rl) < 0)
		child_fail(errno, "setrlimit", label);
}

static void drop_privileges(const struct sandbox_spec *s, bool in_cgroup)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	int cap;

	set_limit(RLIMIT_CORE, 0, "CORE");
	set_limit(RLIMIT_NOFILE, s->max_files ? s->max_files : DEFAULT_MAX_FILES, "NOFILE");
	set_limit(RLIMIT_FSIZE, JOB_FSIZE, "FSIZE");
	/* With a cgroup, AS and NPROC stay as the caller had them. */
	if (!in_cgroup) {
		set_limit(RLIMIT_NPROC, s->max_procs ? s->max_procs : DEFAULT_MAX_PROCS, "NPROC");
		if (s->mem_bytes)
			set_limit(RLIMIT_AS, s->mem_bytes, "AS");
	}

	for (cap = 0; prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0; cap++)
		;
	if (errno != EINVAL)
		child_fail(errno, "drop the capability bounding set", NULL);
	/* Raw system calls: glibc's set*id would try to signal threads that
	 * only existed in the caller. In a user namespace of a user's own the
	 * kernel refuses setgroups (see init_main); the groups left are the
	 * user's, unmapped there. */
	if (!in_userns && syscall(SYS_setgroups, 0, NULL) < 0)
		child_fail(errno, "setgroups", NULL);
	if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
		child_fail(errno, "setresgid", NULL);
	if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
		child_fail(errno, "setresuid", NULL);
	/* The uid change cleared the permitted and effective sets; this also
	 * clears the inheritable one. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail(errno, "capset", NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errno, "PR_SET_NO_NEW_PRIVS", NULL);
}

static _Noreturn void job_exec(char *const *argv)
{
	char path[PATH_MAX];
	int saved = ENOENT;
	size_t i;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, job_env);
		child_fail(errno, "exec", argv[0]);
	}
	for (i = 0; i < ARRAY_SIZE(job_path); i++) {
		if (strlen(job_path[i]) + 1 + strlen(argv[0]) >= sizeof(path))
			child_fail(ENAMETOOLONG, "exec", argv[0]);
		path[0] = '\0';
		str_append(path, sizeof(path), job_path[i]);
		str_append(path, sizeof(path), "/");
		str_append(path, sizeof(path), argv[0]);
		execve(path, argv, job_env);
		if (errno == EACCES)
			saved = EACCES;
		else if (errno != ENOENT && errno != ENOTDIR)
			child_fail(errno, "exec", path);
	}
	child_fail(saved, "exec", argv[0]);
}

static _Noreturn void job_main(const struct child_ctx *c)
{
	struct child_msg m;
	struct timespec ts;
	int fd;

	fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		child_fail(errno, "open", "/dev/null");
	if (fd != 0 && (dup2(fd, 0) < 0 || close(fd) < 0))
		child_fail(errno, "dup2", "/dev/null");
	setsid();
	/* "0" is the writer. init stays outside: the cgroup counts the job. */
	if (c->in_cgroup && write(FD_CGROUP, "0\n", 2) != 2)
		child_fail(errno, "join the job's cgroup", NULL);
	close(FD_CGROUP);
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(errno, "unshare the cgroup namespace", NULL);
	drop_privileges(c->spec, c->in_cgroup);
	if (chdir("/app") < 0)
		child_fail(errno, "chdir", "/app");
	/* Last: the filter refuses what setup needs. no_new_privs is set. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, &c->filter) < 0)
		child_fail(errno, "load the seccomp filter", NULL);

	memset(&m, 0, sizeof(m));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m.exec_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	(void)!write(FD_STATUS, &m, sizeof(m));
	job_exec(c->spec->argv);
}

/* With userns: the caller (in the initial mount namespace, which is not
 * its user namespace's to copy from) hands the directories as plain fds,
 * and init, in a mount namespace of its own, copies them here. The path is
 * looked up again, so the directory found must be the very one of the fd
 * (device and inode) or setup fails. Before any mount of init's own: the
 * root tmpfs goes over /tmp, where the paths may lead. */
static void reopen_dirs(void)
{
	for (int fd = FD_APP; fd <= FD_OUTPUT; fd++) {
		char link[24] = "/proc/self/fd/", num[4] = {0}, path[PATH_MAX];
		struct stat a, b;
		ssize_t n;
		int dfd, tree;

		if (fcntl(fd, F_GETFD) < 0)
			continue; /* -1 in the spec: stays closed */
		num[0] = (char)('0' + fd / 10);
		num[1] = (char)('0' + fd % 10);
		str_append(link, sizeof(link), fd < 10 ? num + 1 : num);
		n = readlink(link, path, sizeof(path) - 1);
		if (n <= 0 || path[0] != '/')
			child_fail(n < 0 ? errno : ENOENT, "find the path of", link);
		path[n] = '\0';
		dfd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			child_fail(errno, "open", path);
		if (fstat(fd, &a) < 0 || fstat(dfd, &b) < 0)
			child_fail(errno, "fstat", path);
		if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			child_fail(ESTALE, "moved:", path);
		tree = (int)syscall(SYS_open_tree, dfd, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
		if (tree < 0)
			child_fail(errno, "open_tree", path);
		if (dup3(tree, fd, O_CLOEXEC) < 0)
			child_fail(errno, "dup3", path);
		close(tree);
		close(dfd);
	}
}

static void write_proc(const char *path, const char *text)
{
	int r = proc_write(path, text);

	if (r < 0)
		child_fail(-r, "write", path);
}

/* PID 1 of the job's namespaces. */
static _Noreturn void init_main(const struct child_ctx *c)
{
	struct pollfd pfd = {.fd = FD_PARENT, .events = POLLIN};
	pid_t job;
	int st;

	in_userns = c->userns;
	if (in_userns) {
		/* Before anything else: the maps. A non-dumpable process's
		 * /proc files belong to root, whom a user namespace of a
		 * user's own cannot map, so they are written first; until
		 * then only the caller's user (who may read the caller's
		 * memory anyway) reaches this process. The job's uid here is
		 * our uid outside: one id, as the kernel allows without
		 * newuidmap. */
		move_fds(c->fds);
		write_proc("/proc/self/setgroups", "deny");
		write_proc("/proc/self/uid_map", c->uid_map);
		write_proc("/proc/self/gid_map", c->gid_map);
		reopen_dirs();
	}
	/* First: this process holds a copy of the caller's memory. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(127);
	if (!in_userns)
		move_fds(c->fds);
	reset_signals();
	umask(022);
	/* Die with the caller; if it died before the prctl, its pidfd says so. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || poll(&pfd, 1, 0) != 0)
		_exit(127);
	close(FD_PARENT);
	if (sethostname("sandbox", 7) < 0)
		child_fail(errno, "sethostname", NULL);
	build_root(c);

	job = raw_clone(0, NULL);
	if (job < 0)
		child_fail(errno, "fork the job", NULL);
	if (job == 0)
		job_main(c);
	close(FD_OUT);
	close(FD_ERR);
	close(FD_STATUS);
	close(FD_CGROUP);
	/* Reap everything; the job's main process ending ends the sandbox. */
	for (;;) {
		pid_t p = wait4(-1, &st, 0, NULL);
		if (p == job) {
			(void)!write(FD_RESULT, &st, sizeof(st));
			_exit(0);
		}
		if (p < 0 && errno != EINTR)
			_exit(127);
	}
}

/* --- the caller's side ------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Blocking: after SIGKILL to init the kernel takes down the whole namespace. */
static void kill_and_wait(pid_t pid, int pidfd, siginfo_t *si)
{
	siginfo_t dummy;

	(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	if (!si)
		si = &dummy;
	while (waitid(P_PID, pid, si, WEXITED) < 0 && errno == EINTR)
		;
}

/* Reads status records until EOF (exec happened) or an error record.
 * Returns 0 with *exec_ns set, a positive errno from the child with m->what
 * set, or a negative errno (-ETIMEDOUT, -EPIPE: the child died silently). */
static int read_status(int fd, int64_t deadline, struct child_msg *m, int64_t *exec_ns)
{
	bool exec_seen = false;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = (deadline - now_ns()) / 1000000;
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return neg_errno();
		if (r <= 0)
			continue;
		n = io_read_all(fd, m, sizeof(*m));
		if (n < 0)
			return (int)n;
		if (n == 0)
			return exec_seen ? 0 : -EPIPE;
		if (n != sizeof(*m))
			return -EPIPE;
		m->what[sizeof(m->what) - 1] = '\0';
		if (m->err)
			return m->err;
		*exec_ns = m->exec_ns;
		exec_seen = true;
	}
}

/* --- limits: a cgroup per job, or rlimits --------------------------------------- */

static pthread_once_t limits_once = PTHREAD_ONCE_INIT;
static struct {
	bool chosen;
	char base[PATH_MAX]; /* where the jobs' cgroups go; "": rlimits */
	unsigned long seq;   /* numbers the jobs' cgroups */
} limits;

static int read_text(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return neg_errno();
	n = io_read_all(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return 0;
}

/* Opens dir/file for writing. O_CREAT: on cgroupfs the files exist, in a
 * test's stand-in tree of plain files they do not. */
static int open_in(const char *dir, const char *file)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	return fd < 0 ? neg_errno() : fd;
}

static int write_text(const char *dir, const char *file, const char *text)
{
	int fd = open_in(dir, file), r;

	if (fd < 0)
		return fd;
	r = io_write_all(fd, text, strlen(text));
	close(fd);
	return r;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || strchr(" \n", p[-1])) && strchr(" \n", p[n]))
			return true;
	return false;
}

/* Whether dir/file, a controller list, names memory and pids. */
static bool lists_controllers(const char *dir, const char *file)
{
	char path[PATH_MAX], buf[512];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path) ||
	    read_text(path, buf, sizeof(buf)) < 0)
		return false;
	return has_word(buf, "memory") && has_word(buf, "pids");
}

/* This process's cgroup v2 path: the "0::/path" line of /proc/self/cgroup. */
static int own_cgroup(char *out, size_t cap)
{
	char buf[4096], *line, *end;
	int r = read_text("/proc/self/cgroup", buf, sizeof(buf));

	if (r < 0)
		return r;
	for (line = buf; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		if (strncmp(line, "0::/", 4) == 0) {
			if ((size_t)(end - line - 3) >= cap)
				return -ENAMETOOLONG;
			memcpy(out, line + 3, (size_t)(end - line - 3));
			out[end - line - 3] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

/* The unified hierarchy: all of /sys/fs/cgroup, or its "unified" part on a
 * hybrid system. */
static const char *unified_mount(void)
{
	static const char *const where[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs sf;

	for (size_t i = 0; i < ARRAY_SIZE(where); i++)
		if (statfs(where[i], &sf) == 0 && sf.f_type == CGROUP2_MAGIC)
			return where[i];
	return NULL;
}

/* Hands the memory and pids controllers to dir's children. cgroup v2 allows
 * that only while dir holds no process (its root excepted): if the kernel
 * says EBUSY, this process moves into dir/supervisor first, and back if
 * that does not help. */
static int delegate(const char *dir, char *err, size_t errsz)
{
	char leaf[PATH_MAX];
	int r;

	r = write_text(dir, "cgroup.subtree_control", "+memory +pids\n");
	if (r != -EBUSY)
		goto out;
	if ((size_t)snprintf(leaf, sizeof(leaf), "%s/supervisor", dir) >= sizeof(leaf))
		return err_set(err, errsz, -ENAMETOOLONG, "sandbox: %s: path too long", dir);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return err_set(err, errsz, neg_errno(), "sandbox: mkdir %s: %s", leaf,
		               strerror(errno));
	r = write_text(leaf, "cgroup.procs", "0\n");
	if (r == 0)
		r = write_text(dir, "cgroup.subtree_control", "+memory +pids\n");
	if (r < 0) {
		(void)write_text(dir, "cgroup.procs", "0\n");
		(void)rmdir(leaf);
	}
out:
	if (r < 0)
		err_set(err, errsz, r, "sandbox: cannot enable memory and pids in %s: %s", dir,
		        strerror(-r));
	return r;
}

int sandbox_limits_init(const char *cgroup_root, char *err, size_t errsz)
{
	char self[PATH_MAX], dir[PATH_MAX];
	int r;

	seterr(err, errsz, "%s", "");
	limits.chosen = true;
	limits.base[0] = '\0';
	if (!cgroup_root)
		cgroup_root = unified_mount();
	if (!cgroup_root)
		return err_set(err, errsz, -ENOENT,
		               "sandbox: no cgroup2 at /sys/fs/cgroup or /sys/fs/cgroup/unified");
	r = own_cgroup(self, sizeof(self));
	if (r < 0)
		return err_set(err, errsz, r, "sandbox: no cgroup2 path in /proc/self/cgroup: %s",
		               strerror(-r));
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", cgroup_root,
	                     strcmp(self, "/") ? self : "") >= sizeof(dir))
		return err_set(err, errsz, -ENAMETOOLONG, "sandbox: %s%s: path too long",
		               cgroup_root, self);
	if (!lists_controllers(dir, "cgroup.controllers"))
		return err_set(err, errsz, -EOPNOTSUPP,
		               "sandbox: no memory and pids controllers in %s/cgroup.controllers",
		               dir);
	if (!lists_controllers(dir, "cgroup.subtree_control")) {
		r = delegate(dir, err, errsz);
		if (r < 0)
			return r;
	}
	memcpy(limits.base, dir, sizeof(limits.base));
	return 0;
}

static void limits_auto(void)
{
	if (!limits.chosen)
		(void)sandbox_limits_init(NULL, NULL, 0);
}

const char *sandbox_limit_mechanism(void)
{
	pthread_once(&limits_once, limits_auto);
	return limits.base[0] ? "cgroup2" : "rlimit";
}

/* Creates the job's cgroup under limits.base with its limits written; the
 * job moves itself in through *procs_fd. *path is the caller's to free. */
static int cgroup_create(const struct sandbox_spec *spec, char **path, int *procs_fd, char *err,
                         size_t errsz)
{
	unsigned long seq = __atomic_fetch_add(&limits.seq, 1, __ATOMIC_RELAXED);
	char dir[PATH_MAX], mem[32], procs[16];
	int r;

	*path = NULL;
	*procs_fd = -1;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/job-%d-%lu", limits.base, (int)getpid(), seq) >=
	    sizeof(dir))
		return err_set(err, errsz, -ENAMETOOLONG, "sandbox: %s: path too long",
		               limits.base);
	/* A cgroup of that name outlived a daemon with our pid: empty, or rmdir fails. */
	if (mkdir(dir, 0755) < 0 && (errno != EEXIST || rmdir(dir) < 0 || mkdir(dir, 0755) < 0))
		return err_set(err, errsz, neg_errno(), "sandbox: mkdir %s: %s", dir,
		               strerror(errno));
	if (spec->mem_bytes)
		snprintf(mem, sizeof(mem), "%llu\n", (unsigned long long)spec->mem_bytes);
	else
		snprintf(mem, sizeof(mem), "max\n");
	snprintf(procs, sizeof(procs), "%u\n",
	         spec->max_procs ? spec->max_procs : DEFAULT_MAX_PROCS);
	r = write_text(dir, "memory.max", mem);
	if (r < 0) {
		err_set(err, errsz, r, "sandbox: %s/memory.max: %s", dir, strerror(-r));
		goto fail;
	}
	/* Without it the job would swap past memory.max. Only kernels that
	 * account swap have the file. */
	(void)write_text(dir, "memory.swap.max", "0\n");
	r = write_text(dir, "pids.max", procs);
	if (r < 0) {
		err_set(err, errsz, r, "sandbox: %s/pids.max: %s", dir, strerror(-r));
		goto fail;
	}
	*procs_fd = open_in(dir, "cgroup.procs");
	if (*procs_fd < 0) {
		r = err_set(err, errsz, *procs_fd, "sandbox: %s/cgroup.procs: %s", dir,
		            strerror(-*procs_fd));
		*procs_fd = -1;
		goto fail;
	}
	*path = strdup(dir);
	if (!*path) {
		r = err_set(err, errsz, -ENOMEM, "sandbox: out of memory");
		*procs_fd = safe_close(*procs_fd);
		goto fail;
	}
	return 0;
fail:
	(void)rmdir(dir);
	return r;
}

/* Adds a rule for the system call called name, unless this libseccomp or
 * this architecture does not know it. */
static int filter_rule(scmp_filter_ctx f, uint32_t action, const char *name, unsigned n,
                       const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr < 0)
		return 0;
	return seccomp_rule_add_array(f, action, nr, n, cmp);
}

/* Builds the job's seccomp filter into *prog (the caller frees prog->filter).
 * Everything not named is allowed. EPERM for refused_syscalls, for clone()
 * with any CLONE_NEW* flag and for personality() with a persona other than
 * PER_LINUX (0) and the query 0xffffffff; ENOSYS for clone3, whose flags sit
 * in memory a filter cannot read, so that libc falls back to clone(). Any
 * other architecture's system calls (the 32-bit entry on x86-64; libseccomp
 * treats x32 numbers as such too) kill the process. */
static int filter_build(struct sock_fprog *prog, char *err, size_t errsz)
{
	const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx f;
	struct stat st;
	int fd = -1, r;
	size_t i;

	prog->filter = NULL;
	f = seccomp_init(SCMP_ACT_ALLOW);
	if (!f)
		return err_set(err, errsz, -ENOMEM, "sandbox: seccomp_init failed");
	r = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* a binary tree */
	for (i = 0; r == 0 && i < ARRAY_SIZE(refused_syscalls); i++)
		r = filter_rule(f, eperm, refused_syscalls[i], 0, NULL);
	for (i = 0; r == 0 && i < ARRAY_SIZE(clone_ns_flags); i++) {
		struct scmp_arg_cmp c = SCMP_CMP64(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ,
		                                   clone_ns_flags[i], clone_ns_flags[i]);
		r = filter_rule(f, eperm, "clone", 1, &c);
	}
	if (r == 0)
		r = filter_rule(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	/* A rule compares an argument once, so "neither 0 nor 0xffffffff" is
	 * spelled as: some bit is set and the next one (cyclically) is clear.
	 * The kernel reads the persona as 32 bits; so do these masks. */
	for (i = 0; r == 0 && i < 32; i++) {
		uint64_t bit = 1ULL << i, next = 1ULL << ((i + 1) % 32);
		struct scmp_arg_cmp c = SCMP_CMP64(0, SCMP_CMP_MASKED_EQ, bit | next, bit);
		r = filter_rule(f, eperm, "personality", 1, &c);
	}
	if (r < 0) {
		err_set(err, errsz, r, "sandbox: seccomp rule: %s", strerror(-r));
		goto out;
	}

	fd = memfd_create("sandbox-filter", MFD_CLOEXEC);
	if (fd < 0) {
		r = err_set(err, errsz, neg_errno(), "sandbox: memfd_create: %s", strerror(errno));
		goto out;
	}
	r = seccomp_export_bpf(f, fd);
	if (r < 0) {
		err_set(err, errsz, r, "sandbox: seccomp_export_bpf: %s", strerror(-r));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = err_set(err, errsz, neg_errno(), "sandbox: fstat: %s", strerror(errno));
		goto out;
	}
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = err_set(err, errsz, -EINVAL, "sandbox: seccomp filter of %lld bytes",
		            (long long)st.st_size);
		goto out;
	}
	prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	prog->filter = malloc((size_t)st.st_size);
	if (!prog->filter) {
		r = err_set(err, errsz, -ENOMEM, "sandbox: out of memory");
		goto out;
	}
	if (io_pread_all(fd, prog->filter, (size_t)st.st_size, 0) != st.st_size) {
		free(prog->filter);
		prog->filter = NULL;
		r = err_set(err, errsz, -EIO, "sandbox: cannot read the seccomp filter back");
		goto out;
	}
	r = 0;
out:
	safe_close(fd);
	seccomp_release(f);
	return r;
}

/* Whether id is mapped in this process's user namespace (file: its
 * /proc/self/uid_map or gid_map), so that the job may take it. */
static bool id_mapped(const char *file, unsigned id)
{
	char buf[4096], *line, *end;
	unsigned in, out, n;

	if (read_text(file, buf, sizeof(buf)) < 0)
		return true; /* no user namespaces: all ids are */
	for (line = buf; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		if (sscanf(line, "%u %u %u", &in, &out, &n) == 3 && id >= in && id - in < n)
			return true;
	}
	return false;
}

/* Sets *out to a detached copy of the directory mounted at fd (-1 for -1).
 * The children live in a new mount namespace, where the kernel refuses to
 * bind a mount of the caller's namespace; a detached mount can be attached
 * there. Only the directory is copied, not the mounts below it. */
static int clone_dir(int fd, const char *name, bool userns, int *out, char *err, size_t errsz)
{
	struct stat st;

	*out = -1;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return err_set(err, errsz, neg_errno(), "sandbox: %s %d: %s", name, fd,
		               strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return err_set(err, errsz, -ENOTDIR, "sandbox: %s %d is not a directory", name, fd);
	/* With userns init makes the copy (reopen_dirs). */
	*out = userns ? fcntl(fd, F_DUPFD_CLOEXEC, 0)
	              : (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
	if (*out < 0)
		return err_set(err, errsz, neg_errno(), "sandbox: open_tree %s: %s", name,
		               strerror(errno));
	return 0;
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox_job **out, int *out_fd,
                  int *err_fd, char *err, size_t errsz)
{
	const int64_t t0 = now_ns();
	struct child_ctx c;
	struct child_msg m;
	struct sandbox_job *j = NULL;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, statp[2] = {-1, -1}, resp[2] = {-1, -1};
	int dirs[4] = {-1, -1, -1, -1}; /* detached copies of app, dataset, model, output */
	int ppidfd = -1, pidfd = -1, procs_fd = -1, r;
	char *cgroup = NULL;
	int64_t exec_ns = 0;
	siginfo_t si;
	pid_t pid;

	seterr(err, errsz, "%s", "");
	if (!spec || !spec->argv || !spec->argv[0] || !spec->argv[0][0] || spec->app_fd < 0 ||
	    spec->output_fd < 0) {
		seterr(err, errsz, "sandbox: argv, app_fd and output_fd are required");
		return -EINVAL;
	}
	if (spec->uid == 0 || spec->gid == 0 || spec->uid == (uid_t)-1 || spec->gid == (gid_t)-1) {
		seterr(err, errsz, "sandbox: refusing to run a job as uid %u gid %u",
		       (unsigned)spec->uid, (unsigned)spec->gid);
		return -EINVAL;
	}

	memset(&c, 0, sizeof(c));
	c.spec = spec;
	c.userns = !id_mapped("/proc/self/uid_map", spec->uid) ||
	           !id_mapped("/proc/self/gid_map", spec->gid);
	snprintf(c.uid_map, sizeof(c.uid_map), "%u %u 1\n", (unsigned)spec->uid, (unsigned)geteuid());
	snprintf(c.gid_map, sizeof(c.gid_map), "%u %u 1\n", (unsigned)spec->gid, (unsigned)getegid());
	snprintf(
	    c.passwd, sizeof(c.passwd),
	    "root:x:0:0:root:/root:/usr/sbin/nologin\njob:x:%u:%u:job:/tmp:/usr/sbin/nologin\n",
	    (unsigned)spec->uid, (unsigned)spec->gid);
	snprintf(c.group, sizeof(c.group), "root:x:0:\njob:x:%u:\n", (unsigned)spec->gid);

	j = calloc(1, sizeof(*j));
	if (!j) {
		seterr(err, errsz, "sandbox: out of memory");
		return -ENOMEM;
	}
	r = clone_dir(spec->app_fd, "app_fd", c.userns, &dirs[0], err, errsz);
	if (r == 0)
		r = clone_dir(spec->dataset_fd, "dataset_fd", c.userns, &dirs[1], err, errsz);
	if (r == 0)
		r = clone_dir(spec->model_fd, "model_fd", c.userns, &dirs[2], err, errsz);
	if (r == 0)
		r = clone_dir(spec->output_fd, "output_fd", c.userns, &dirs[3], err, errsz);
	if (r == 0)
		r = filter_build(&c.filter, err, errsz);
	if (r == 0 && strcmp(sandbox_limit_mechanism(), "cgroup2") == 0) {
		r = cgroup_create(spec, &cgroup, &procs_fd, err, errsz);
		c.in_cgroup = true;
	}
	if (r < 0)
		goto fail;
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(statp, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0) {
		r = neg_errno();
		seterr(err, errsz, "sandbox: pipe: %s", strerror(-r));
		goto fail;
	}
	ppidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (ppidfd < 0) {
		r = neg_errno();
		seterr(err, errsz, "sandbox: pidfd_open: %s", strerror(-r));
		goto fail;
	}
	c.fds[FD_OUT - 1] = outp[1];
	c.fds[FD_ERR - 1] = errp[1];
	c.fds[FD_STATUS - 1] = statp[1];
	c.fds[FD_RESULT - 1] = resp[1];
	c.fds[FD_PARENT - 1] = ppidfd;
	for (int i = 0; i < 4; i++)
		c.fds[FD_APP - 1 + i] = dirs[i];
	c.fds[FD_CGROUP - 1] = procs_fd;

	pid = raw_clone(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
	                    CLONE_PIDFD | (c.userns ? CLONE_NEWUSER : 0),
	                &pidfd);
	if (pid < 0) {
		r = neg_errno();
		seterr(err, errsz, "sandbox: clone: %s", strerror(-r));
		goto fail;
	}
	if (pid == 0)
		init_main(&c);

	outp[1] = safe_close(outp[1]);
	errp[1] = safe_close(errp[1]);
	statp[1] = safe_close(statp[1]);
	resp[1] = safe_close(resp[1]);
	ppidfd = safe_close(ppidfd);
	for (int i = 0; i < 4; i++)
		dirs[i] = safe_close(dirs[i]);
	procs_fd = safe_close(procs_fd);
	free(c.filter.filter);
	c.filter.filter = NULL;

	r = read_status(statp[0], t0 + (int64_t)START_TIMEOUT_MS * 1000000, &m, &exec_ns);
	if (r != 0) {
		memset(&si, 0, sizeof(si));
		kill_and_wait(pid, pidfd, &si);
		if (r > 0) {
			seterr(err, errsz, "sandbox: %s: %s", m.what, strerror(r));
			r = -r;
		} else if (r == -ETIMEDOUT) {
			seterr(err, errsz, "sandbox: setup did not finish in %d ms",
			       START_TIMEOUT_MS);
		} else {
			seterr(err, errsz, "sandbox: setup died (code %d, status %d)", si.si_code,
			       si.si_status);
			r = -ECHILD;
		}
		goto fail;
	}
	statp[0] = safe_close(statp[0]);

	if (fcntl(outp[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0) {
		r = neg_errno();
		kill_and_wait(pid, pidfd, NULL);
		seterr(err, errsz, "sandbox: fcntl: %s", strerror(-r));
		goto fail;
	}
	j->pid = pid;
	j->cgroup = cgroup;
	j->pidfd = pidfd;
	j->result_fd = resp[0];
	j->exec_ms = (double)(exec_ns - t0) / 1e6;
	*out = j;
	*out_fd = outp[0];
	*err_fd = errp[0];
	return 0;

fail:
	safe_close(pidfd);
	safe_close(ppidfd);
	for (int i = 0; i < 2; i++) {
		safe_close(outp[i]);
		safe_close(errp[i]);
		safe_close(statp[i]);
		safe_close(resp[i]);
	}
	for (int i = 0; i < 4; i++)
		safe_close(dirs[i]);
	safe_close(procs_fd);
	if (cgroup)
		(void)rmdir(cgroup);
	free(cgroup);
	free(c.filter.filter);
	free(j);
	return r;
}

int sandbox_fd(const struct sandbox_job *j)
{
	return j->pidfd;
}

static int status_from_siginfo(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED: return (si->si_status & 0xff) << 8;
	case CLD_DUMPED: return (si->si_status & 0x7f) | 0x80;
	default: return si->si_status & 0x7f;
	}
}

/* init's own status stands in when it was killed before it could report. */
static void finish(struct sandbox_job *j, const siginfo_t *si)
{
	int st;

	j->reaped = true;
	if (io_read_all(j->result_fd, &st, sizeof(st)) == (ssize_t)sizeof(st))
		j->status = st;
	else
		j->status = status_from_siginfo(si);
	/* init has ended, so has every process of the job: the cgroup is empty. */
	if (j->cgroup)
		(void)rmdir(j->cgroup);
}

int sandbox_reap(struct sandbox_job *j, int *status)
{
	siginfo_t si;

	if (!j->reaped) {
		memset(&si, 0, sizeof(si));
		while (waitid(P_PID, j->pid, &si, WEXITED | WNOHANG) < 0) {
			if (errno != EINTR)
				return neg_errno();
		}
		if (si.si_pid == 0)
			return 0;
		finish(j, &si);
	}
	*status = j->status;
	return 1;
}

int sandbox_kill(struct sandbox_job *j)
{
	if (j->reaped)
		return 0;
	if (syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
		return neg_errno();
	return 0;
}

double sandbox_exec_ms(const struct sandbox_job *j)
{
	return j->exec_ms;
}

void sandbox_free(struct sandbox_job *j)
{
	siginfo_t si;

	if (!j)
		return;
	if (!j->reaped) {
		memset(&si, 0, sizeof(si));
		kill_and_wait(j->pid, j->pidfd, &si);
		finish(j, &si);
	}
	safe_close(j->pidfd);
	safe_close(j->result_fd);
	free(j->cgroup);
	free(j);
}
