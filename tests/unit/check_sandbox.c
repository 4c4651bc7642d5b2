/* The job sandbox, run for real (needs root): what a job sees, what it cannot
 * see or do, how it ends, and how setup failures surface. Every job is
 * /bin/sh or python3 from the host's /usr. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enclave/sandbox.h"
#include "util.h"
#include "tests/unit/prereq.h"

#define GUARD_MS 30000 /* failure guard for waits, never reached when things work */
#define PLEN     256   /* fixture paths: root (< 192) plus a short name */

static struct {
	char root[192];
	char app[PLEN], dataset[PLEN], model[PLEN], output[PLEN];
	char other[PLEN], encrypted[PLEN], state[PLEN];
	int app_fd, dataset_fd, model_fd, output_fd; /* O_PATH, as a caller opens them */
	uid_t uid;
	gid_t gid;
} fx;

struct result {
	char out[16384], err[16384];
	size_t outlen, errlen;
	int status;
	double exec_ms;
};

static void write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void make_dir(char *out, const char *name, bool job_owned)
{
	snprintf(out, PLEN, "%s/%s", fx.root, name);
	ck_assert_int_eq(mkdir(out, 0755), 0);
	/* Owned by the job, so that only the mount can make it read-only. */
	if (job_owned)
		ck_assert_int_eq(chown(out, fx.uid, fx.gid), 0);
}

static int open_path(const char *path)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fx.root, sizeof(fx.root), "%s/check_sandbox.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(fx.root));
	fx.uid = (uid_t)(100000 + getpid() % 50000);
	fx.gid = fx.uid;

	make_dir(fx.app, "app", true);
	write_file(fx.app, "x", "app-x\n", 0644);
	write_file(fx.app, "run.sh", "#!/bin/sh\necho \"run $*\"\n", 0755);
	make_dir(fx.dataset, "dataset", true);
	write_file(fx.dataset, "y", "data-y\n", 0644);
	make_dir(fx.model, "model", true);
	write_file(fx.model, "z", "model-z\n", 0644);
	make_dir(fx.output, "output", true);
	make_dir(fx.other, "other-package", false);
	write_file(fx.other, "enclave.json", "{}\n", 0644);
	make_dir(fx.encrypted, "encrypted", false);
	write_file(fx.encrypted, "secret.sealed", "ciphertext\n", 0644);
	make_dir(fx.state, "state", false);
	write_file(fx.state, "kek", "0123456789abcdef0123456789abcdef\n", 0600);
	fx.app_fd = open_path(fx.app);
	fx.dataset_fd = open_path(fx.dataset);
	fx.model_fd = open_path(fx.model);
	fx.output_fd = open_path(fx.output);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	close(fx.app_fd);
	close(fx.dataset_fd);
	close(fx.model_fd);
	close(fx.output_fd);
	nftw(fx.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct sandbox_spec spec_for(char *const *argv)
{
	struct sandbox_spec s = {
	    .argv = argv,
	    .app_fd = fx.app_fd,
	    .dataset_fd = fx.dataset_fd,
	    .model_fd = fx.model_fd,
	    .output_fd = fx.output_fd,
	    .uid = fx.uid,
	    .gid = fx.gid,
	};
	return s;
}

/* Reads what is there; returns false at EOF. */
static bool drain(int fd, char *buf, size_t cap, size_t *len)
{
	char tmp[4096];

	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n == 0)
			return false;
		if (n < 0) {
			ck_assert_msg(errno == EAGAIN || errno == EINTR, "read: %s",
			              strerror(errno));
			return true;
		}
		size_t keep = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
		memcpy(buf + *len, tmp, keep);
		*len += keep;
		buf[*len] = '\0';
	}
}

/* Runs the job to its end, collecting stdout and stderr separately. */
static int run_spec(const struct sandbox_spec *spec, struct result *res)
{
	struct sandbox_job *j;
	char err[256];
	int out_fd, err_fd, r;
	bool out_open = true, err_open = true, ended = false;

	memset(res, 0, sizeof(*res));
	r = sandbox_start(spec, &j, &out_fd, &err_fd, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "check_sandbox: %s\n", err);
		return r;
	}
	res->exec_ms = sandbox_exec_ms(j);
	while (out_open || err_open || !ended) {
		struct pollfd p[3] = {
		    {.fd = out_open ? out_fd : -1, .events = POLLIN},
		    {.fd = err_open ? err_fd : -1, .events = POLLIN},
		    {.fd = ended ? -1 : sandbox_fd(j), .events = POLLIN},
		};
		ck_assert_msg(poll(p, 3, GUARD_MS) > 0, "job did not finish");
		if (p[0].revents)
			out_open = drain(out_fd, res->out, sizeof(res->out), &res->outlen);
		if (p[1].revents)
			err_open = drain(err_fd, res->err, sizeof(res->err), &res->errlen);
		if (p[2].revents)
			ended = true;
	}
	ck_assert_int_eq(sandbox_reap(j, &res->status), 1);
	close(out_fd);
	close(err_fd);
	sandbox_free(j);
	return 0;
}

static void run_sh(const char *script, struct result *res)
{
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	struct sandbox_spec spec = spec_for(argv);

	ck_assert_int_eq(run_spec(&spec, res), 0);
}

static void assert_exit0(const struct result *res)
{
	ck_assert_msg(WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0,
	              "status %#x, stderr: %s", res->status, res->err);
}

static void read_host_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, cap - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
}

START_TEST(test_io_and_exit_status)
{
	struct result res;
	char path[PATH_MAX], buf[64];
	struct stat st;

	run_sh("cat /app/x /dataset/y /model/z; echo to-err >&2; echo written > /output/out; "
	       "exit 7",
	       &res);
	ck_assert_msg(WIFEXITED(res.status), "status %#x", res.status);
	ck_assert_int_eq(WEXITSTATUS(res.status), 7);
	ck_assert_str_eq(res.out, "app-x\ndata-y\nmodel-z\n");
	ck_assert_str_eq(res.err, "to-err\n");

	snprintf(path, sizeof(path), "%s/out", fx.output);
	read_host_file(path, buf, sizeof(buf));
	ck_assert_str_eq(buf, "written\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, fx.uid);
	ck_assert_uint_eq(st.st_gid, fx.gid);
}
END_TEST

START_TEST(test_app_script)
{
	char *rel[] = {"./run.sh", "a", "b c", NULL};
	char *abs[] = {"/app/run.sh", "d", NULL};
	struct sandbox_spec spec = spec_for(rel);
	struct result res;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "run a b c\n");
	spec.argv = abs;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "run d\n");
}
END_TEST

/* /app is the directory the caller opened, wherever its path points by now. */
START_TEST(test_app_fd_not_path)
{
	char moved[PLEN];
	struct result res;

	snprintf(moved, sizeof(moved), "%s/app-moved", fx.root);
	ck_assert_int_eq(rename(fx.app, moved), 0);
	ck_assert_int_eq(mkdir(fx.app, 0755), 0);
	write_file(fx.app, "x", "impostor\n", 0644);
	run_sh("cat /app/x; ls /app", &res);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "app-x\nrun.sh\nx\n");
}
END_TEST

START_TEST(test_signal_death)
{
	struct result res;

	run_sh("echo before; kill -9 $$; echo after", &res);
	ck_assert_msg(WIFSIGNALED(res.status), "status %#x", res.status);
	ck_assert_int_eq(WTERMSIG(res.status), SIGKILL);
	ck_assert_str_eq(res.out, "before\n");
}
END_TEST

static const char try_write[] =
    "for d in \"$@\"; do "
    "if touch \"$d/w\" 2>/tmp/e; then echo \"WRITABLE $d\"; "
    "elif grep -q 'Read-only file system' /tmp/e; then echo \"EROFS $d\"; "
    "else echo \"OTHER $d: $(cat /tmp/e)\"; fi; done";

START_TEST(test_read_only)
{
	char *argv[] = {
	    "sh",   "-c", (char *)try_write, "sh",   "/app", "/dataset", "/model", "/usr",
	    "/etc", "/",  "/output",         "/tmp", NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "EROFS /app\nEROFS /dataset\nEROFS /model\nEROFS /usr\n"
	                          "EROFS /etc\nEROFS /\nWRITABLE /output\nWRITABLE /tmp\n");
}
END_TEST

START_TEST(test_missing_dataset_is_empty)
{
	char *argv[] = {"sh", "-c", "ls -A /dataset /model; : > /dataset/w", NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	spec.dataset_fd = -1;
	spec.model_fd = -1;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	ck_assert_str_eq(res.out, "/dataset:\n\n/model:\n");
	ck_assert_ptr_nonnull(strstr(res.err, "Read-only file system"));
	ck_assert_int_ne(res.status, 0);
}
END_TEST

START_TEST(test_private_tmp)
{
	char script[256], host[PATH_MAX];
	struct result res;

	snprintf(script, sizeof(script), "echo secret > /tmp/marker-%d && cat /tmp/marker-%d",
	         (int)getpid(), (int)getpid());
	run_sh(script, &res);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "secret\n");

	snprintf(script, sizeof(script), "ls -A /tmp; test -e /tmp/marker-%d && echo VISIBLE",
	         (int)getpid());
	run_sh(script, &res);
	ck_assert_str_eq(res.out, "");

	snprintf(host, sizeof(host), "/tmp/marker-%d", (int)getpid());
	ck_assert_int_eq(access(host, F_OK), -1);
}
END_TEST

static const char try_stat[] = "stat /app/x > /dev/null || echo 'APP MISSING'; "
                               "for p in \"$@\"; do "
                               "if stat \"$p\" > /dev/null 2>/tmp/e; then echo \"VISIBLE $p\"; "
                               "elif grep -q 'No such file' /tmp/e; then echo ENOENT; "
                               "else echo \"OTHER $p: $(cat /tmp/e)\"; fi; done";

START_TEST(test_host_is_invisible)
{
	char kek[PATH_MAX], sealed[PATH_MAX], cwd[PATH_MAX], expect[512] = "";
	char *argv[32] = {"sh", "-c", (char *)try_stat, "sh"};
	size_t n = 4, first;
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	snprintf(kek, sizeof(kek), "%s/kek", fx.state);
	snprintf(sealed, sizeof(sealed), "%s/secret.sealed", fx.encrypted);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	first = n;
	argv[n++] = fx.root;
	argv[n++] = fx.other;
	argv[n++] = fx.encrypted;
	argv[n++] = sealed;
	argv[n++] = fx.state;
	argv[n++] = kek;
	argv[n++] = fx.app;
	argv[n++] = cwd; /* the build dir: a host path not under /tmp */
	argv[n++] = "/etc/shadow";
	argv[n++] = "/etc/ssh";
	argv[n++] = "/root";
	argv[n++] = "/home";
	argv[n++] = "/var";
	argv[n++] = "/boot";
	argv[n++] = "/sys";
	for (size_t i = first; i < n; i++)
		strcat(expect, "ENOENT\n");
	argv[n] = NULL;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	ck_assert_str_eq(res.out, expect);
}
END_TEST

/* /proc lists the job's processes and nothing else: not its init, a clone
 * of the caller with the caller's command line. */
START_TEST(test_proc_shows_only_the_job)
{
	char *argv[] = {
	    "python3", "-c",
	    "import os\n"
	    "def pids(): return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
	    "print(pids() == [os.getpid()])\n"
	    "r, w = os.pipe()\n"
	    "child = os.fork()\n"
	    "if child == 0: os.read(r, 1); os._exit(0)\n"
	    "print(pids() == sorted([os.getpid(), child]))\n"
	    "os.write(w, b'x'); os.waitpid(child, 0)\n"
	    "for p in ('/proc/1/cmdline', '/proc/1/environ', '/proc/1/status'):\n"
	    "    try: open(p, 'rb').read(); print('READ', p)\n"
	    "    except OSError as e: print(e.strerror)\n"
	    "print(os.path.exists('/proc/1'))\n",
	    NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out,
	                 "True\nTrue\nNo such file or directory\nNo such file or directory\n"
	                 "No such file or directory\nFalse\n");
	run_sh("grep -o 'hidepid=[a-z0-9]*' /proc/mounts", &res);
	ck_assert_msg(!strcmp(res.out, "hidepid=invisible\n") || !strcmp(res.out, "hidepid=2\n"),
	              "%s", res.out);
}
END_TEST

START_TEST(test_no_network)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	char script[512];
	char *argv[] = {"python3", "-c", script, NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;
	int l;

	l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);

	snprintf(
	    script, sizeof(script),
	    "import socket\n"
	    "s = socket.socket()\n"
	    "s.settimeout(10)\n"
	    "try:\n"
	    "    s.connect(('127.0.0.1', %u))\n"
	    "    print('CONNECTED')\n"
	    "except OSError as e:\n"
	    "    print('errno', e.errno)\n"
	    "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev') if ':' in l))\n",
	    (unsigned)ntohs(sa.sin_port));
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "errno 101\n['lo']\n"); /* ENETUNREACH: lo is down */
	ck_assert_int_eq(accept(l, NULL, NULL), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(l);

	run_sh("ls /sys/class/net 2>/dev/null || echo no-sys", &res);
	ck_assert_msg(!strcmp(res.out, "no-sys\n") || !strcmp(res.out, "lo\n"), "%s", res.out);
}
END_TEST

START_TEST(test_identity_and_privileges)
{
	struct result res;
	char expect[512];

	run_sh(
	    "id -u; id -g; id -G; id -un; "
	    "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status",
	    &res);
	assert_exit0(&res);
	snprintf(expect, sizeof(expect),
	         "%u\n%u\n%u\njob\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n"
	         "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
	         "CapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n",
	         (unsigned)fx.uid, (unsigned)fx.gid, (unsigned)fx.gid);
	ck_assert_str_eq(res.out, expect);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n;

	ck_assert_int_ge(in, 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(n, 0);
	close(in);
	close(out);
}

/* A setuid-root binary does not make the job root: /usr's own (su, passwd)
 * and one planted in /app. */
START_TEST(test_setuid_does_not_elevate)
{
	char path[PATH_MAX], expect[64];
	struct result res;

	snprintf(path, sizeof(path), "%s/id", fx.app);
	copy_file("/usr/bin/id", path);
	ck_assert_int_eq(chown(path, 0, 0), 0);
	ck_assert_int_eq(chmod(path, 04755), 0);

	run_sh("/app/id -u; /app/id -ru; "
	       "if [ -x /usr/bin/su ]; then /usr/bin/su -c 'id -u' root; echo \"su=$?\"; "
	       "else echo su=1; fi; "
	       "if [ -x /usr/bin/passwd ]; then /usr/bin/passwd -S root; echo \"passwd=$?\"; "
	       "else echo passwd=1; fi",
	       &res);
	snprintf(expect, sizeof(expect), "%u\n%u\n", (unsigned)fx.uid, (unsigned)fx.uid);
	ck_assert_msg(!strncmp(res.out, expect, strlen(expect)), "%s", res.out);
	ck_assert_ptr_null(strstr(res.out, "\n0\n"));
	ck_assert_ptr_null(strstr(res.out, "su=0"));
	ck_assert_ptr_null(strstr(res.out, "passwd=0"));
	ck_assert_ptr_nonnull(strstr(res.out, "su="));
	ck_assert_ptr_nonnull(strstr(res.out, "passwd="));
}
END_TEST

START_TEST(test_environment_and_fds)
{
	char *argv[] = {"sh", "-c",
	                "env | sort; pwd; readlink /proc/$$/fd/0; ls /proc/$$/fd; umask; hostname",
	                NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;
	char expect[512];
	int leak = open("/dev/null", O_RDONLY); /* not CLOEXEC: must not reach the job */

	ck_assert_int_ge(leak, 0);
	ck_assert_int_eq(setenv("SANDBOX_TEST_LEAK", "1", 1), 0);
	/* Neither do the spec's directories, CLOEXEC or not. */
	spec.app_fd = fcntl(fx.app_fd, F_DUPFD, 0);
	spec.output_fd = fcntl(fx.output_fd, F_DUPFD, 0);
	ck_assert_int_ge(spec.app_fd, 0);
	ck_assert_int_ge(spec.output_fd, 0);
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	snprintf(expect, sizeof(expect),
	         "HOME=/tmp\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\nPWD=/app\n"
	         "PYTHONDONTWRITEBYTECODE=1\nTMPDIR=/tmp\n/app\n/dev/null\n0\n1\n2\n0022\n"
	         "sandbox\n");
	ck_assert_str_eq(res.out, expect);
	close(leak);
	close(spec.app_fd);
	close(spec.output_fd);
}
END_TEST

static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	ck_assert_msg(poll(&p, 1, GUARD_MS) == 1, "fd %d not readable", fd);
}

static bool by_cgroup(void)
{
	return !strcmp(sandbox_limit_mechanism(), "cgroup2");
}

/* This process's RLIMIT_NPROC as /proc/self/limits shows it, which a job
 * keeps when a cgroup limits it. */
static const char *own_nproc(void)
{
	static char out[64];
	struct rlimit rl;
	char soft[24] = "unlimited", hard[24] = "unlimited";

	ck_assert_int_eq(getrlimit(RLIMIT_NPROC, &rl), 0);
	if (rl.rlim_cur != RLIM_INFINITY)
		snprintf(soft, sizeof(soft), "%llu", (unsigned long long)rl.rlim_cur);
	if (rl.rlim_max != RLIM_INFINITY)
		snprintf(hard, sizeof(hard), "%llu", (unsigned long long)rl.rlim_max);
	snprintf(out, sizeof(out), "%s %s", soft, hard);
	return out;
}

START_TEST(test_limits)
{
	char *nproc[] = {"sh", "-c", "for i in 1 2 3 4 5 6; do sleep 1000 & done; echo all", NULL};
	struct sandbox_spec spec = spec_for(nproc);
	struct result res;
	char expect[512];

	run_sh("grep -E '^Max (file size|core|processes|open files|address)' /proc/self/limits "
	       "| tr -s ' '",
	       &res);
	assert_exit0(&res);
	snprintf(expect, sizeof(expect),
	         "Max file size 68719476736 68719476736 bytes \n"
	         "Max core file size 0 0 bytes \n"
	         "Max processes %s processes \n"
	         "Max open files 1024 1024 files \n"
	         "Max address space unlimited unlimited bytes \n",
	         by_cgroup() ? own_nproc() : "256 256");
	ck_assert_str_eq(res.out, expect);

	/* A uid of its own: RLIMIT_NPROC counts the uid's processes. */
	spec.uid = fx.uid + 1;
	spec.max_procs = 3;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	ck_assert_str_eq(res.out, "");
	ck_assert_msg(strstr(res.err, "fork"), "stderr: %s", res.err);
	ck_assert_int_ne(res.status, 0);
}
END_TEST

START_TEST(test_max_files)
{
	char *argv[] = {"python3", "-c",
	                "import os\n"
	                "fds = []\n"
	                "try:\n"
	                "    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\n"
	                "except OSError as e: print(e.strerror, max(fds))\n",
	                NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	spec.max_files = 40;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "Too many open files 39\n");
}
END_TEST

/* Above mem_bytes an allocation fails (rlimit: MemoryError) or the job is
 * killed (cgroup: the OOM killer); below it, it succeeds. */
START_TEST(test_memory_limit)
{
	char *big[] = {"python3", "-c", "b = bytearray(512 << 20); print('allocated')", NULL};
	char *small[] = {"python3", "-c", "b = bytearray(64 << 20); print('allocated')", NULL};
	struct sandbox_spec spec = spec_for(big);
	struct result res;

	spec.mem_bytes = 256 << 20;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	ck_assert_str_eq(res.out, "");
	if (by_cgroup())
		ck_assert_msg(WIFSIGNALED(res.status) && WTERMSIG(res.status) == SIGKILL,
		              "status %#x", res.status);
	else
		ck_assert_msg(strstr(res.err, "MemoryError") && res.status != 0, "stderr: %s",
		              res.err);

	spec.argv = small;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "allocated\n");
}
END_TEST

/* A job that forks until it cannot stops at max_procs (itself and 19
 * children); meanwhile another job, under another uid, still forks. */
START_TEST(test_fork_bomb)
{
	char *bomb[] = {"python3", "-c",
	                "import os, signal\n"
	                "n = 0\n"
	                "while True:\n"
	                "    try: pid = os.fork()\n"
	                "    except BlockingIOError: break\n"
	                "    if pid == 0: signal.pause(); os._exit(0)\n"
	                "    n += 1\n"
	                "print(n, flush=True)\n"
	                "signal.pause()\n",
	                NULL};
	char *other[] = {"sh", "-c", "for i in 1 2 3 4 5; do sh -c : & done; wait; echo forked",
	                 NULL};
	struct sandbox_spec spec = spec_for(bomb);
	struct sandbox_job *j;
	struct result res;
	char err[256], buf[64] = "";
	size_t len = 0;
	int out_fd, err_fd, status;

	spec.max_procs = 20;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), 0);
	while (!strchr(buf, '\n')) {
		wait_readable(out_fd);
		ck_assert_msg(drain(out_fd, buf, sizeof(buf), &len), "bomb ended: %s", buf);
	}
	ck_assert_str_eq(buf, "19\n");

	spec = spec_for(other);
	spec.uid = fx.uid + 2;
	spec.max_procs = 20;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "forked\n");

	ck_assert_int_eq(sandbox_reap(j, &status), 0);
	ck_assert_int_eq(sandbox_kill(j), 0);
	wait_readable(sandbox_fd(j));
	ck_assert_int_eq(sandbox_reap(j, &status), 1);
	close(out_fd);
	close(err_fd);
	sandbox_free(j);
}
END_TEST

#if defined(__x86_64__)
static long probe_int80(void);
#endif

/* A stand-in for the unified cgroup hierarchy, of plain files: *root is its
 * mount point, *dir the cgroup this process is in (as /proc/self/cgroup
 * says), where sandbox_limits_init() looks. */
static void fake_cgroup(char root[static PATH_MAX], char dir[static PATH_MAX],
                        const char *controllers, const char *subtree)
{
	char self[PATH_MAX], *line;

	read_host_file("/proc/self/cgroup", self, sizeof(self));
	line = strstr(self, "0::/");
	ck_assert_ptr_nonnull(line);
	line[strcspn(line, "\n")] = '\0';
	snprintf(root, PATH_MAX, "%s/cgroup", fx.root);
	snprintf(dir, PATH_MAX, "%s%s", root, line + 3);
	for (char *p = strchr(dir + strlen(fx.root) + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		ck_assert_msg(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s", dir);
		*p = '/';
	}
	ck_assert_msg(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s", dir);
	write_file(dir, "cgroup.controllers", controllers, 0644);
	write_file(dir, "cgroup.subtree_control", subtree, 0644);
}

static void assert_file(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX], buf[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	read_host_file(path, buf, sizeof(buf));
	ck_assert_msg(!strcmp(buf, content), "%s: '%s', not '%s'", path, buf, content);
}

/* The cgroup mechanism, run against a stand-in hierarchy: exactly what it
 * writes where. The job really runs, without rlimits on memory and processes. */
START_TEST(test_cgroup_limits)
{
	char *argv[] = {
	    "sh", "-c",
	    "grep -E '^Max (processes|open files|address)' /proc/self/limits | tr -s ' '", NULL};
	struct sandbox_spec spec = spec_for(argv);
	char root[PATH_MAX], dir[PATH_MAX], job[PATH_MAX + 256] = "", err[256], expect[256];
	struct result res;
	struct dirent *e;
	DIR *d;

	fake_cgroup(root, dir, "cpuset cpu io memory hugetlb pids rdma misc\n", "\n");
	ck_assert_msg(sandbox_limits_init(root, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(sandbox_limit_mechanism(), "cgroup2");
	assert_file(dir, "cgroup.subtree_control", "+memory +pids\n");

	spec.mem_bytes = 256 << 20;
	spec.max_procs = 20;
	spec.max_files = 40;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	snprintf(expect, sizeof(expect),
	         "Max processes %s processes \nMax open files 40 40 files \n"
	         "Max address space unlimited unlimited bytes \n",
	         own_nproc());
	ck_assert_str_eq(res.out, expect);

	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "job-", 4))
			continue;
		ck_assert_msg(!job[0], "two job cgroups: %s, %s", job, e->d_name);
		snprintf(job, sizeof(job), "%s/%s", dir, e->d_name);
	}
	closedir(d);
	ck_assert_msg(job[0], "no job cgroup in %s", dir);
	assert_file(job, "memory.max", "268435456\n");
	assert_file(job, "memory.swap.max", "0\n");
	assert_file(job, "pids.max", "20\n");
	assert_file(job, "cgroup.procs", "0\n"); /* the job's main process, "me" */

	ck_assert_int_eq(sandbox_limits_init(NULL, NULL, 0) == 0, by_cgroup());
}
END_TEST

/* Without both controllers there are no job cgroups; rlimits are in force. */
START_TEST(test_cgroup_refused)
{
	char *argv[] = {"sh", "-c", "grep -E '^Max processes' /proc/self/limits | tr -s ' '", NULL};
	struct sandbox_spec spec = spec_for(argv);
	char root[PATH_MAX], dir[PATH_MAX], err[256], missing[PATH_MAX];
	struct result res;

	fake_cgroup(root, dir, "cpu io memory\n", "memory\n");
	ck_assert_int_eq(sandbox_limits_init(root, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert_msg(strstr(err, "cgroup.controllers"), "%s", err);
	ck_assert_str_eq(sandbox_limit_mechanism(), "rlimit");
	spec.max_procs = 20;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "Max processes 20 20 processes \n");

	snprintf(missing, sizeof(missing), "%s/missing", fx.root);
	ck_assert_int_eq(sandbox_limits_init(missing, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert_str_eq(sandbox_limit_mechanism(), "rlimit");
}
END_TEST

/* Copies this binary into /app: see probe_main. */
static void install_probe(void)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/probe", fx.app);
	copy_file("/proc/self/exe", path);
}

/* What the filter refuses, next to what a job still does. Each refused call
 * is made so that without the filter it would succeed or fail otherwise
 * (EFAULT, EINVAL, EBADF): EPERM can only come from the filter. */
START_TEST(test_syscalls_refused)
{
	static const char *const expect[][2] = {
		{"fork", "ok"},
		{"personality-query", "ok"},
		{"personality-linux", "ok"},
		{"setns", "EPERM"},
		{"clone-newuser", "EPERM"},
		{"clone3", "ENOSYS"},
		{"mount", "EPERM"},
		{"umount2", "EPERM"},
		{"chroot", "EPERM"},
		{"fsconfig", "EPERM"},
		{"mount_setattr", "EPERM"},
		{"open_tree", "EPERM"},
		{"ptrace", "EPERM"},
		{"process_vm_readv", "EPERM"},
		{"pidfd_getfd", "EPERM"},
		{"kcmp", "EPERM"},
		{"keyctl", "EPERM"},
		{"add_key", "EPERM"},
		{"bpf", "EPERM"},
		{"perf_event_open", "EPERM"},
		{"userfaultfd", "EPERM"},
		{"io_uring_setup", "EPERM"},
		{"name_to_handle_at", "EPERM"},
		{"symlink-output", "EPERM"},
		{"symlink-tmp", "EPERM"},
		{"mknod-fifo", "EPERM"},
		{"personality-linux32", "EPERM"},
		{"personality-no-aslr", "EPERM"},
#if defined(__x86_64__)
		{"iopl", "EPERM"},
		{"x32", "signal 31"}, /* SIGSYS: the filter's bad-architecture action */
#endif
		{"unshare-user", "EPERM"}, /* last: where it works, it changes the rest */
	};
	char *argv[ARRAY_SIZE(expect) + 3] = {"/app/probe", "--probe"};
	char want[2048] = "", line[64];
	struct sandbox_spec spec = spec_for(argv);
	struct result res;

	for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
		argv[2 + i] = (char *)expect[i][0];
		snprintf(line, sizeof(line), "%s=%s\n", expect[i][0], expect[i][1]);
		strcat(want, line);
	}
	install_probe();
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, want);
}
END_TEST

/* The 32-bit entry, where the kernel offers it: killed by the filter. On a
 * kernel without it (no IA32 emulation: int 0x80 faults with SIGSEGV) the
 * job's attempt faults the same way; either way no 32-bit call runs. */
START_TEST(test_int80_killed)
{
#if defined(__x86_64__)
	char *argv[] = {"/app/probe", "--probe", "int80", NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct result res;
	const char *want = "int80=signal 31\n";
	pid_t child;
	int st;

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would report the fault */
		_exit(probe_int80() < 0 ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
		want = "int80=signal 11\n"; /* no 32-bit entry in this kernel */
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char what[128];

		snprintf(what, sizeof(what), "int 0x80 (32-bit syscalls) on this host (status %#x)",
			 (unsigned)st);
		prereq_missing(what);
		return;
	}
	install_probe();
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	/* A sanitizer build's probe catches the fault itself and exits 1. */
	if (strcmp(want, "int80=signal 11\n") == 0 && strcmp(res.out, "int80=exit 1\n") == 0)
		want = res.out;
	ck_assert_str_eq(res.out, want);
#endif
}
END_TEST

/* Under the filter a job still runs threads (clone3 falls back to clone),
 * forks, runs programs and writes /output; unshare(1) is refused. */
START_TEST(test_job_still_works)
{
	char *argv[] = {"python3", "-c",
	                "import os, subprocess, threading\n"
	                "t = threading.Thread(target=print, args=('thread',))\n"
	                "t.start(); t.join()\n"
	                "pid = os.fork()\n"
	                "if pid == 0: os._exit(7)\n"
	                "print('child', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
	                "print(subprocess.run(['sh', '-c', 'echo sub'], capture_output=True,\n"
	                "                     text=True).stdout, end='')\n"
	                "open('/output/py', 'w').write('written\\n')\n",
	                NULL};
	struct sandbox_spec spec = spec_for(argv);
	char path[PATH_MAX], buf[64];
	struct result res;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "thread\nchild 7\nsub\n");
	snprintf(path, sizeof(path), "%s/py", fx.output);
	read_host_file(path, buf, sizeof(buf));
	ck_assert_str_eq(buf, "written\n");

	run_sh("unshare -U id -u 2>&1; echo \"rc=$?\"", &res);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "unshare: unshare failed: Operation not permitted\nrc=1\n");
}
END_TEST

START_TEST(test_kill_takes_everything)
{
	char *argv[] = {"sh", "-c", "sleep 1000 & sleep 1000 & echo started; wait", NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct sandbox_job *j;
	char err[256], buf[64] = "";
	size_t len = 0;
	int out_fd, err_fd, status;

	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), 0);
	while (!strstr(buf, "started\n")) {
		wait_readable(out_fd);
		ck_assert(drain(out_fd, buf, sizeof(buf), &len));
	}
	ck_assert_int_eq(sandbox_reap(j, &status), 0);
	ck_assert_int_eq(sandbox_kill(j), 0);
	wait_readable(sandbox_fd(j));
	ck_assert_int_eq(sandbox_reap(j, &status), 1);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
	/* The background sleeps held the pipe too: EOF means they are gone. */
	wait_readable(out_fd);
	ck_assert(!drain(out_fd, buf, sizeof(buf), &len));
	ck_assert_int_eq(sandbox_kill(j), 0);
	ck_assert_int_eq(sandbox_reap(j, &status), 1);
	close(out_fd);
	close(err_fd);
	sandbox_free(j);
}
END_TEST

START_TEST(test_free_kills_and_reaps)
{
	char *argv[] = {"sleep", "1000", NULL};
	struct sandbox_spec spec = spec_for(argv);
	struct sandbox_job *j;
	struct pollfd p;
	siginfo_t si;
	char err[256], buf[16];
	size_t len = 0;
	int out_fd, err_fd, pidfd;

	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), 0);
	pidfd = fcntl(sandbox_fd(j), F_DUPFD_CLOEXEC, 0);
	ck_assert_int_ge(pidfd, 0);
	sandbox_free(j);
	p = (struct pollfd){.fd = pidfd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	ck_assert_int_eq(waitid((idtype_t)3 /* P_PIDFD */, (id_t)pidfd, &si, WEXITED | WNOHANG),
	                 -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert(!drain(out_fd, buf, sizeof(buf), &len));
	close(pidfd);
	close(out_fd);
	close(err_fd);
}
END_TEST

START_TEST(test_setup_failures)
{
	char *sh[] = {"sh", "-c", "exit 0", NULL};
	char *missing[] = {"no-such-program-here", NULL};
	char *notexec[] = {"/app/x", NULL};
	struct sandbox_spec spec = spec_for(sh);
	struct sandbox_job *j = NULL;
	char err[256], path[PATH_MAX];
	int out_fd = -1, err_fd = -1, closed, file;

	closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(closed, 0);
	close(closed);
	spec.app_fd = closed;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -EBADF);
	ck_assert_msg(strstr(err, "app_fd"), "%s", err);
	ck_assert_ptr_null(j);
	ck_assert_int_eq(out_fd, -1);

	spec = spec_for(sh);
	snprintf(path, sizeof(path), "%s/x", fx.app);
	file = open(path, O_PATH | O_CLOEXEC);
	ck_assert_int_ge(file, 0);
	spec.output_fd = file;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -ENOTDIR);
	ck_assert_msg(strstr(err, "output_fd"), "%s", err);
	spec = spec_for(sh);
	spec.model_fd = file;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -ENOTDIR);
	ck_assert_msg(strstr(err, "model_fd"), "%s", err);
	close(file);

	spec = spec_for(missing);
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "exec no-such-program-here"), "%s", err);

	spec = spec_for(notexec);
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -EACCES);
	ck_assert_msg(strstr(err, "exec /app/x"), "%s", err);

	spec = spec_for(sh);
	spec.uid = 0;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -EINVAL);
	spec = spec_for(sh);
	spec.output_fd = -1;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -EINVAL);
	spec = spec_for(sh);
	spec.app_fd = -1;
	ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(j);
}
END_TEST

START_TEST(test_python)
{
	char *json[] = {"python3", "-c", "import json; print(1)", NULL};
	char *numpy[] = {"python3", "-c", "import numpy; print(numpy.ones(3).sum())", NULL};
	struct sandbox_spec spec = spec_for(json);
	struct result res;

	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "1\n");
	ck_assert_str_eq(res.err, "");

	if (access("/usr/lib/python3/dist-packages/numpy", F_OK) != 0) {
		prereq_missing("python3-numpy");
		return;
	}
	spec.argv = numpy;
	ck_assert_int_eq(run_spec(&spec, &res), 0);
	assert_exit0(&res);
	ck_assert_str_eq(res.out, "3.0\n");
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Not a pass/fail figure: prints medians over 20 runs of /bin/true. */
START_TEST(test_startup_time)
{
	enum { RUNS = 20 };
	char *argv[] = {"true", NULL};
	struct sandbox_spec spec = spec_for(argv);
	double exec_ms[RUNS], start_ms[RUNS], exit_ms[RUNS];

	for (int i = 0; i < RUNS; i++) {
		struct sandbox_job *j;
		struct timespec t0;
		char err[256];
		int out_fd, err_fd, status;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		ck_assert_int_eq(sandbox_start(&spec, &j, &out_fd, &err_fd, err, sizeof(err)), 0);
		start_ms[i] = ms_since(&t0);
		exec_ms[i] = sandbox_exec_ms(j);
		wait_readable(sandbox_fd(j));
		exit_ms[i] = ms_since(&t0);
		ck_assert_int_eq(sandbox_reap(j, &status), 1);
		ck_assert_int_eq(status, 0);
		ck_assert(exec_ms[i] > 0 && exec_ms[i] <= start_ms[i]);
		close(out_fd);
		close(err_fd);
		sandbox_free(j);
	}
	qsort(exec_ms, RUNS, sizeof(double), cmp_double);
	qsort(start_ms, RUNS, sizeof(double), cmp_double);
	qsort(exit_ms, RUNS, sizeof(double), cmp_double);
	printf("check_sandbox: median over %d runs of true: start->exec %.2f ms, "
	       "sandbox_start returns %.2f ms, job ended %.2f ms\n",
	       RUNS, exec_ms[RUNS / 2], start_ms[RUNS / 2], exit_ms[RUNS / 2]);
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("jobs");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_io_and_exit_status);
	tcase_add_test(tc, test_app_script);
	tcase_add_test(tc, test_app_fd_not_path);
	tcase_add_test(tc, test_signal_death);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_missing_dataset_is_empty);
	tcase_add_test(tc, test_private_tmp);
	tcase_add_test(tc, test_host_is_invisible);
	tcase_add_test(tc, test_proc_shows_only_the_job);
	tcase_add_test(tc, test_no_network);
	tcase_add_test(tc, test_identity_and_privileges);
	tcase_add_test(tc, test_setuid_does_not_elevate);
	tcase_add_test(tc, test_environment_and_fds);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_max_files);
	tcase_add_test(tc, test_memory_limit);
	tcase_add_test(tc, test_fork_bomb);
	tcase_add_test(tc, test_cgroup_limits);
	tcase_add_test(tc, test_cgroup_refused);
	tcase_add_test(tc, test_syscalls_refused);
	tcase_add_test(tc, test_int80_killed);
	tcase_add_test(tc, test_job_still_works);
	tcase_add_test(tc, test_kill_takes_everything);
	tcase_add_test(tc, test_free_kills_and_reaps);
	tcase_add_test(tc, test_setup_failures);
	tcase_add_test(tc, test_python);
	tcase_add_test(tc, test_startup_time);
	suite_add_tcase(s, tc);
	return s;
}

/* --- the probe: this binary, copied into /app and run as a job --------------- */

/* A child that makes a raw clone: the child half exits at once. */
static long probe_clone(unsigned long flags)
{
	long pid = syscall(SYS_clone, flags | SIGCHLD, 0UL, NULL, NULL, 0UL);

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long probe_clone3(void)
{
	uint64_t args[8] = {[4] = SIGCHLD}; /* struct clone_args: flags 0, exit_signal */
	long pid = syscall(SYS_clone3, args, sizeof(args));

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, 0);
	return pid;
}

static long probe_ptrace(void)
{
	pid_t child = fork();
	long r;
	int e, st;

	if (child == 0) {
		pause();
		_exit(0);
	}
	r = ptrace(PTRACE_ATTACH, child, NULL, NULL);
	e = errno;
	kill(child, SIGKILL);
	while (waitpid(child, &st, 0) == child && !WIFEXITED(st) && !WIFSIGNALED(st))
		;
	errno = e;
	return r;
}

static long probe_vm_read(void)
{
	char from[4] = "abc", to[4];
	struct iovec local = {to, sizeof(to)}, remote = {from, sizeof(from)};

	return syscall(SYS_process_vm_readv, getpid(), &local, 1UL, &remote, 1UL, 0UL);
}

static long probe_personality(unsigned long persona)
{
	long r = syscall(SYS_personality, persona);

	if (r >= 0)
		(void)syscall(SYS_personality, (unsigned long)PER_LINUX);
	return r;
}

/* A system call in a child of its own, for those the filter answers by
 * killing: "exit 0" (it returned), "exit <errno>" or "signal <n>". */
static void probe_in_child(const char *name, long (*fn)(void))
{
	pid_t child;
	int st;

	fflush(stdout);
	child = fork();
	if (child == 0)
		_exit(fn() < 0 ? errno : 0);
	if (waitpid(child, &st, 0) != child)
		printf("%s=waitpid %s\n", name, strerrorname_np(errno));
	else if (WIFSIGNALED(st))
		printf("%s=signal %d\n", name, WTERMSIG(st));
	else
		printf("%s=exit %d\n", name, WEXITSTATUS(st));
}

#if defined(__x86_64__)
/* getpid through the 32-bit system call entry (i386 number 20). */
static long probe_int80(void)
{
	long r = 20;

	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* getpid with the x32 ABI bit. */
static long probe_x32(void)
{
	return syscall(0x40000000L | SYS_getpid);
}
#endif

/* Runs the named probes in order and prints "name=ok" or "name=<errno name>"
 * for each; see test_syscalls_refused. */
static int probe_main(int n, char **names)
{
	for (int i = 0; i < n; i++) {
		const char *name = names[i];
		long r;

		errno = 0;
		if (!strcmp(name, "unshare-user"))
			r = syscall(SYS_unshare, (unsigned long)CLONE_NEWUSER);
		else if (!strcmp(name, "setns"))
			r = syscall(SYS_setns, -1, 0);
		else if (!strcmp(name, "clone-newuser"))
			r = probe_clone(CLONE_NEWUSER);
		else if (!strcmp(name, "clone3"))
			r = probe_clone3();
		else if (!strcmp(name, "fork"))
			r = probe_clone(0);
		else if (!strcmp(name, "mount"))
			r = syscall(SYS_mount, (char *)1, "/tmp", "tmpfs", 0UL, NULL);
		else if (!strcmp(name, "umount2"))
			r = syscall(SYS_umount2, (char *)1, 0);
		else if (!strcmp(name, "chroot"))
			r = syscall(SYS_chroot, (char *)1);
		else if (!strcmp(name, "fsconfig"))
			r = syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
		else if (!strcmp(name, "mount_setattr"))
			r = syscall(SYS_mount_setattr, -1, NULL, 0U, NULL, 0UL);
		else if (!strcmp(name, "open_tree"))
			r = syscall(SYS_open_tree, -1, "", ~0U);
		else if (!strcmp(name, "ptrace"))
			r = probe_ptrace();
		else if (!strcmp(name, "process_vm_readv"))
			r = probe_vm_read();
		else if (!strcmp(name, "pidfd_getfd"))
			r = syscall(SYS_pidfd_getfd, -1, 0, 0U);
		else if (!strcmp(name, "kcmp"))
			r = syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0UL, 0UL);
		else if (!strcmp(name, "keyctl"))
			r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */,
			            -3 /* KEY_SPEC_SESSION_KEYRING */, 1);
		else if (!strcmp(name, "add_key"))
			r = syscall(SYS_add_key, "user", "probe", "x", 1UL,
			            -2 /* KEY_SPEC_PROCESS_KEYRING */);
		else if (!strcmp(name, "bpf"))
			r = syscall(SYS_bpf, 1000, NULL, 0U);
		else if (!strcmp(name, "perf_event_open"))
			r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL);
		else if (!strcmp(name, "userfaultfd"))
			r = syscall(SYS_userfaultfd, ~0U);
		else if (!strcmp(name, "io_uring_setup"))
			r = syscall(SYS_io_uring_setup, 0U, NULL);
		else if (!strcmp(name, "name_to_handle_at"))
			r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/app", NULL, NULL, 0);
		else if (!strcmp(name, "symlink-output"))
			r = symlink("/app", "/output/link");
		else if (!strcmp(name, "symlink-tmp"))
			r = symlinkat("/app", AT_FDCWD, "/tmp/link");
		else if (!strcmp(name, "mknod-fifo"))
			r = mknod("/tmp/fifo", S_IFIFO | 0600, 0);
		else if (!strcmp(name, "personality-query"))
			r = probe_personality(0xffffffffUL);
		else if (!strcmp(name, "personality-linux"))
			r = probe_personality(PER_LINUX);
		else if (!strcmp(name, "personality-linux32"))
			r = probe_personality(PER_LINUX32);
		else if (!strcmp(name, "personality-no-aslr"))
			r = probe_personality(ADDR_NO_RANDOMIZE);
#if defined(__x86_64__)
		else if (!strcmp(name, "iopl"))
			r = syscall(SYS_iopl, 0);
		else if (!strcmp(name, "int80")) {
			probe_in_child(name, probe_int80);
			continue;
		} else if (!strcmp(name, "x32")) {
			probe_in_child(name, probe_x32);
			continue;
		}
#endif
		else {
			printf("%s=unknown probe\n", name);
			continue;
		}
		printf("%s=%s\n", name, r < 0 ? strerrorname_np(errno) : "ok");
	}
	fflush(stdout);
	/* _exit: a sanitizer build's leak check at exit would need ptrace. */
	_exit(0);
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	char err[256];

	if (argc > 1 && !strcmp(argv[1], "--probe"))
		return probe_main(argc - 2, argv + 2);
	if (geteuid() != 0)
		prereq_missing_all("check_sandbox", "root (namespaces and mounts need it)");
	if (sandbox_limits_init(NULL, err, sizeof(err)) < 0)
		printf("check_sandbox: limits by rlimit (%s)\n", err);
	else
		printf("check_sandbox: limits by cgroup2\n");
	sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
