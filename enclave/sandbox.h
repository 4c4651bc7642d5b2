/* One job in its own sandbox (DESIGN §7).
 *
 * sandbox_start() clones a child into new mount, PID, network, IPC and UTS
 * namespaces. That child is PID 1 of the job's PID namespace ("init"): it
 * builds a root on a fresh tmpfs, pivots into it, forks the job and reaps
 * every process until the job's main process ends; it then reports the job's
 * wait status and exits, and the kernel kills whatever the job left behind.
 * init is a clone of the caller and holds a copy of its memory: it makes
 * itself non-dumpable before anything else, and the job cannot see it.
 *
 * What the job sees:
 *   /usr            host /usr, read-only (bin, sbin, lib* are the host's
 *                   merged-usr symlinks, or read-only binds where they are dirs)
 *   /app            spec->app_fd, read-only, nosuid (exec allowed); the cwd
 *   /dataset /model dataset_fd, model_fd: read-only, nosuid, noexec, nosymfollow
 *                   (an empty dir when -1)
 *   /output         output_fd: read-write, nosuid, nodev, noexec, nosymfollow
 *                   (no symlink in the data trees leads a job into its /app)
 *   /tmp            private tmpfs (1 GiB), /dev/shm private tmpfs (64 MiB)
 *   /etc            passwd, group (uid/gid named "job"), hosts; read-only binds
 *                   of ld.so.cache, alternatives and localtime if the host has
 *                   them. Nothing else of the host's /etc.
 *   /dev            null zero full random urandom, fd and std* links
 *   /proc           a procfs of its PID namespace with hidepid=invisible
 *                   (hidepid=2 before Linux 5.8): the job's own processes
 *                   only, not its init. No /sys.
 *   network         a new namespace with no interface up (not even lo)
 *   hostname        "sandbox" (own UTS namespace); own IPC namespace; a cgroup
 *                   namespace rooted at the job's cgroup
 * Everything else, including the rest of /, is absent; the root itself is a
 * read-only tmpfs.
 *
 * The directories are fds the caller opened itself (O_PATH is enough):
 * sandbox_start() resolves no path of the caller's, so a rename or symlink
 * swap after the open cannot change what the job sees. It binds a copy of
 * each fd's mount (open_tree) at that directory, without the mounts below it;
 * the fds stay the caller's and reach no process of the job. Nothing on the
 * host is created or chowned: the job's uid must be able to read app_fd,
 * dataset_fd and model_fd and to write output_fd.
 *
 * The job runs as spec->uid/gid with no supplementary groups, no capabilities
 * (empty bounding set), no_new_privs, the seccomp filter below, default signal
 * dispositions, an empty signal mask, stdin on /dev/null, umask 022, a fresh
 * session, and only the environment PATH, HOME=/tmp, TMPDIR=/tmp, LANG=C.UTF-8
 * and PYTHONDONTWRITEBYTECODE=1.
 *
 * Limits: rlimits CORE 0, FSIZE 64 GiB and NOFILE max_files (default 1024);
 * memory and processes (threads count too) by the mechanism that
 * sandbox_limits_init() chose: a cgroup of the job's own with memory.max =
 * mem_bytes and pids.max = max_procs (default 256), or RLIMIT_AS = mem_bytes
 * and RLIMIT_NPROC = max_procs. Under RLIMIT_AS an allocation beyond the
 * limit fails; under memory.max the kernel kills the job (OOM) instead.
 * RLIMIT_NPROC counts every process of a uid on the machine, so it is a
 * per-job limit only when the caller gives each concurrent job its own uid;
 * that is the caller's job. The manifest's timeout is the caller's too (a
 * timer and sandbox_kill()).
 *
 * The seccomp filter is loaded last before execve, so it binds the job and
 * everything it starts. It allows what it does not name and answers EPERM to:
 *   namespaces and mounts: unshare, setns, clone with any CLONE_NEW* flag,
 *     mount, umount, umount2, pivot_root, chroot, fsopen, fsconfig, fsmount,
 *     fspick, move_mount, open_tree, open_tree_attr, mount_setattr
 *   other processes: ptrace, process_vm_readv, process_vm_writev, kcmp,
 *     pidfd_getfd
 *   kernel interfaces: keyctl, add_key, request_key, bpf, perf_event_open,
 *     userfaultfd, io_uring_setup, io_uring_enter, io_uring_register
 *   the machine: init_module, finit_module, delete_module, kexec_load,
 *     kexec_file_load, reboot, swapon, swapoff, acct, syslog, settimeofday,
 *     stime, clock_settime(64), clock_adjtime(64), adjtimex, sethostname,
 *     setdomainname, iopl, ioperm, quotactl, quotactl_fd, lookup_dcookie,
 *     personality with a persona other than PER_LINUX (0) and the query
 *     0xffffffff
 *   file handles: open_by_handle_at, name_to_handle_at
 *   links and nodes: symlink, symlinkat (jobs share /output, and a path in it
 *     may become an argument of another package's job), mknod, mknodat (so
 *     also FIFOs)
 * clone3 gets ENOSYS (its flags are out of a filter's reach; libc falls back
 * to clone). A system call of another ABI than the native one (on x86-64 the
 * 32-bit int 0x80 entry and x32 numbers) kills the process. A name that the
 * libseccomp at hand or the architecture does not know is left out.
 *
 * sandbox_start() blocks until the job has exec'ed or setup failed (a CLOEXEC
 * status pipe: the child writes an errno and the failing step; EOF means
 * exec succeeded); it gives up after 10 s. Everything else is non-blocking
 * and driven by poll() on sandbox_fd(). Between clone and exec the children
 * make only plain system calls (no locks, no malloc; the caller builds the
 * filter and the cgroup beforehand), so a caller with threads is safe too.
 * The child is a SIGCHLD child of the caller: the caller must not reap it
 * with waitpid(-1)/wait() nor set SIGCHLD to SIG_IGN or SA_NOCLDWAIT. If the
 * caller dies, the sandbox gets SIGKILL (PR_SET_PDEATHSIG, tied to the
 * calling thread).
 *
 * Where spec->uid or spec->gid is not mapped in the caller's user namespace
 * (enclaved --dev as a user: its namespace maps only its own uid, as 0), the
 * clone also makes a user namespace for the job, mapping "uid OURUID 1" and
 * "gid OURGID 1" (written by init itself, the one map the kernel lets a
 * process write without newuidmap): the job is spec->uid there with no
 * capability, and no capability over the caller's namespaces or another
 * job's. What that costs: every job is then the caller's uid outside, so
 * jobs of different applications share one owner in /output (the sticky bit
 * no longer keeps them apart), and the PID namespaces are all that keeps a
 * job from signalling the caller (it cannot name it); the kernel refuses
 * setgroups there, so the job keeps the caller's supplementary groups
 * (unmapped); mounts the caller inherited keep their flags locked, so a
 * remount keeps them (nosuid, nodev, noexec, read-only, atime). RLIMIT_NPROC
 * counts per user namespace, so it limits each job alone.
 *
 * Needs root (CAP_SYS_ADMIN) in its user namespace, which must own its mount
 * namespace, and Linux >= 5.3.
 * Ownership: the job owns its pidfd and cgroup; the caller owns *out_fd and
 * *err_fd (O_NONBLOCK|O_CLOEXEC read ends of the job's stdout and stderr) and
 * closes them. sandbox_free() kills a job still running, reaps it and frees it.
 */
#ifndef EFS_SANDBOX_H
#define EFS_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sandbox_spec {
	char *const *argv; /* argv[0] is looked up in PATH inside the sandbox */
	int app_fd;        /* directory bound read-only at /app, the working directory */
	int dataset_fd;    /* directory bound read-only at /dataset; -1: empty dir */
	int model_fd;      /* directory bound read-only at /model; -1: empty dir */
	int output_fd;     /* directory bound read-write at /output */
	uid_t uid;         /* unprivileged ids to run as; 0 is refused (see above for ids
	                      that are not mapped in the caller's user namespace) */
	gid_t gid;
	uint64_t mem_bytes; /* memory of the job (see Limits); 0: unlimited */
	uint32_t max_procs; /* processes and threads of the job (see Limits); 0: 256 */
	uint32_t max_files; /* RLIMIT_NOFILE; 0: 1024 */
};

struct sandbox_job;

/* Chooses how every later job's mem_bytes and max_procs are enforced:
 *   cgroup2  each job's processes in a cgroup of their own,
 *            <root><own cgroup>/job-<pid>-<n>, with memory.max = mem_bytes
 *            ("max" for 0), memory.swap.max = 0 where the kernel has it and
 *            pids.max = max_procs; removed when the job has ended. The job's
 *            init stays outside, so only the job counts.
 *   rlimit   RLIMIT_AS = mem_bytes (unless 0) and RLIMIT_NPROC = max_procs,
 *            set on the job.
 * cgroup_root is the mount point of the unified (v2) cgroup hierarchy; NULL
 * means /sys/fs/cgroup or, on a hybrid system, /sys/fs/cgroup/unified,
 * whichever is cgroup2. cgroup2 is chosen when the cgroup of this process
 * (/proc/self/cgroup) lists memory and pids in cgroup.controllers and they
 * are, or can be, enabled in its cgroup.subtree_control. Enabling them may
 * move this process into a new child cgroup "supervisor", since cgroup v2
 * refuses it while the cgroup holds a process.
 * Returns 0 with cgroup2 in force, or -errno with rlimits in force and the
 * reason in err. Call it before the first sandbox_start(), from one thread;
 * otherwise the first sandbox_start() or sandbox_limit_mechanism() does
 * with NULL. */
int sandbox_limits_init(const char *cgroup_root, char *err, size_t errsz);

/* "cgroup2" or "rlimit": what sandbox_limits_init() chose. */
const char *sandbox_limit_mechanism(void);

/* Starts the job. Returns 0, or -errno with a message in err (which names the
 * failing step, e.g. "sandbox: exec python4: No such file or directory"); a
 * failure to set up or to exec is such an error, never a job that ran. */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox_job **out, int *out_fd,
                  int *err_fd, char *err, size_t errsz);

/* A pidfd that becomes readable when the job has ended. */
int sandbox_fd(const struct sandbox_job *j);

/* Non-blocking: 0 while the job runs; 1 once it ended, with *status in
 * waitpid() form (the job's main process; SIGKILL after sandbox_kill()).
 * May be called again after it returned 1. */
int sandbox_reap(struct sandbox_job *j, int *status);

/* SIGKILL to the job's init, which takes every process of the job with it.
 * 0 also when the job has already ended. */
int sandbox_kill(struct sandbox_job *j);

/* Milliseconds from the call of sandbox_start() to the job's execve(),
 * measured inside the sandbox (for benchmarks). */
double sandbox_exec_ms(const struct sandbox_job *j);

/* Kills the job if it still runs, reaps it and frees j. Accepts NULL. */
void sandbox_free(struct sandbox_job *j);

#endif
