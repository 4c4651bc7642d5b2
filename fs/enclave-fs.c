/* enclave-fs: mounts an enclave as a directory (DESIGN §3, doc/enclave-fs.1).
 *
 * main() acquires in order, and releases in reverse: options, the cache dir
 * and its lock, the development enclave's state dir, the link (engine and job
 * records), the FUSE session and mount, daemonizing, the link thread, the
 * loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "devenclave.h"
#include "devnsm.h"
#include "fsint.h"
#include "fusermount.h"
#include "link.h"
#include "pathsafe.h"
#include "log.h"
#include "notify.h"
#include "nitrocli.h"
#include "transport.h"
#include "cli.h"
#include "creds.h"
#include "util.h"

#define MAX_KEKS 16
/* How long the mount waits for its enclave before it gives up (without
 * -o reconnect). */
#define CONNECT_TIMEOUT_S 15

struct options {
	const char *connect, *cache, *trust_root, *key;
	const char *aws_creds, *region, *kms_endpoint, *kms_proxy, *kms_ca;
	bool allow_debug;
	bool ready_mounted; /* READY=1 once mounted, not once in sync */
	bool reconnect;     /* mount without waiting for the enclave */
	unsigned connect_timeout; /* seconds to wait for it, else fail */
	struct attest_pin pins[ATTEST_PINS_MAX];
	size_t npins;
	const char *keks[MAX_KEKS];
	size_t nkeks;
	unsigned max_jobs;
	bool bad_kek_count;
	bool allow_other, default_permissions;
	char *owned[MAX_KEKS + 8]; /* copies of -o values */
	size_t nowned;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: enclave-fs [-f] [-d] [-s] [-o OPT[,OPT...]] [--connect ADDR] [--cache DIR]\n"
		"                  [--kek FILE]... [--max-jobs N] [--trust-root PEM] [--allow-debug]\n"
		"                  [--expect-pcr N=HEX[,HEX...]]... [--key FILE] [-v]\n"
		"                  [--aws-credentials imds|env|profile|none] [--region R]\n"
		"                  [--ready mounted|synced] [--connect-timeout S] [--reconnect]\n"
		"                  MOUNTPOINT\n"
		"       enclave-fs SOURCE MOUNTPOINT -o OPTS   (mount(8) form; SOURCE: dev, none or ADDR)\n"
		"\n"
		"Mounts an enclave: encrypted/, dataset/ and model/ go in, output/ and jobs/ come\n"
		"back, a line written to .run starts a job, .status describes the enclave.\n"
		"Without --connect a development enclave (enclaved --dev) is started and stopped\n"
		"with the mount; as non-root, the development enclave needs unprivileged user\n"
		"namespaces.\n"
		"\n"
		"  --connect ADDR   an enclaved already listening: vsock:CID:PORT, unix:PATH, or\n"
		"                   nitro:NAME[:PORT] (the running Nitro Enclave named NAME,\n"
		"                   found with nitro-cli at every connect; port 5005)\n"
		"  --cache DIR      the backing dir (default: /var/lib/enclave-fs/NAME as root,\n"
		"                   $XDG_CACHE_HOME/enclave-fs/NAME otherwise)\n"
		"  --kek FILE       a key-encryption key for the development enclave; repeatable\n"
		"  --max-jobs N     jobs the development enclave runs at once\n"
		"  --trust-root PEM the root the enclave's attestation must chain to (default:\n"
		"                   the AWS Nitro Enclaves root; the development enclave's own\n"
		"                   root without --connect)\n"
		"  --expect-pcr N=HEX[,HEX...]  refuse an enclave whose PCR N is none of these\n"
		"                   values (repeatable)\n"
		"  --allow-debug    accept an enclave in debug mode (PCR0-2 zero)\n"
		"  --key FILE       this host's key (default DIR/.host-key of the cache; made\n"
		"                   0600 on first use): what an enclave binds to\n"
		"  --aws-credentials SRC  where the AWS credentials handed to the enclave's kms\n"
		"                   key provider come from: imds (the instance role, IMDSv2),\n"
		"                   env (AWS_ACCESS_KEY_ID...), profile (~/.aws/credentials,\n"
		"                   AWS_PROFILE) or none; default: env if set, imds on EC2,\n"
		"                   else profile if a credentials file exists, else none\n"
		"  --region R       the AWS region for KMS (default: AWS_REGION, the profile, IMDS)\n"
		"  --kms-endpoint URL, --kms-proxy unix:PATH, --kms-ca PEM  for the development\n"
		"                   enclave: how its key process reaches KMS (it has no network:\n"
		"                   a unix socket forwarder stands for the vsock-proxy)\n"
		"  --connect-timeout S  give up (unmount, exit 1, the reason on stderr) when\n"
		"                   the enclave is not reached and attested within S seconds\n"
		"                   (default 15); until ready, errors go to the terminal\n"
		"  --reconnect      mount at once and keep trying to reach the enclave\n"
		"  -v, --verbose    more log output (repeat for debug)\n"
		"  --ready mounted|synced  when to tell a supervisor ($NOTIFY_SOCKET) READY=1:\n"
		"                   once mounted, or (the default) once in sync with an\n"
		"                   attested enclave; under a supervisor enclave-fs stays in\n"
		"                   the foreground\n"
		"  -f               stay in the foreground\n"
		"  -d               FUSE debug output (implies -f)\n"
		"  -s               single-threaded\n"
		"  -o OPTS          FUSE options (allow_other, default_permissions, ...) and\n"
		"                   connect=ADDR, cache=DIR, kek=FILE, max_jobs=N, trust_root=PEM,\n"
		"                   allow_debug, expect_pcrN=HEX[:HEX...], key=FILE,\n"
		"                   aws_credentials=SRC, region=R, kms_endpoint=URL, kms_proxy=ADDR,\n"
		"                   kms_ca=PEM, ready=mounted|synced, connect_timeout=S, reconnect\n"
		"  -h, --help, -V, --version\n"
		"\n"
		"Unmount with fusermount3 -u MOUNTPOINT. Exit status: 0 after unmount, 1 runtime\n"
		"failure, 2 usage error.\n");
}

enum { KEY_CONNECT, KEY_CACHE, KEY_KEK, KEY_MAXJOBS, KEY_TRUST_ROOT, KEY_HOST_KEY, KEY_AWS_CREDS,
       KEY_REGION, KEY_KMS_ENDPOINT, KEY_KMS_PROXY, KEY_KMS_CA, KEY_EXPECT_PCR,
       KEY_ALLOW_DEBUG, KEY_ALLOW_OTHER, KEY_DEFAULT_PERMISSIONS, KEY_READY,
       KEY_CONNECT_TIMEOUT, KEY_RECONNECT };

static const struct fuse_opt own_opts[] = {
	FUSE_OPT_KEY("connect=", KEY_CONNECT), FUSE_OPT_KEY("cache=", KEY_CACHE),
	FUSE_OPT_KEY("kek=", KEY_KEK), FUSE_OPT_KEY("max_jobs=", KEY_MAXJOBS),
	FUSE_OPT_KEY("trust_root=", KEY_TRUST_ROOT), FUSE_OPT_KEY("key=", KEY_HOST_KEY),
	FUSE_OPT_KEY("aws_credentials=", KEY_AWS_CREDS), FUSE_OPT_KEY("region=", KEY_REGION),
	FUSE_OPT_KEY("kms_endpoint=", KEY_KMS_ENDPOINT), FUSE_OPT_KEY("kms_proxy=", KEY_KMS_PROXY),
	FUSE_OPT_KEY("kms_ca=", KEY_KMS_CA), FUSE_OPT_KEY("ready=", KEY_READY),
	FUSE_OPT_KEY("connect_timeout=", KEY_CONNECT_TIMEOUT), FUSE_OPT_KEY("reconnect", KEY_RECONNECT),
	FUSE_OPT_KEY("allow_debug", KEY_ALLOW_DEBUG),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS), FUSE_OPT_END
};

static int set_option(struct options *o, int key, const char *v)
{
	unsigned long long n;

	switch (key) {
	case KEY_CONNECT: o->connect = v; return 0;
	case KEY_CACHE: o->cache = v; return 0;
	case KEY_KEK:
		if (o->nkeks == MAX_KEKS) {
			o->bad_kek_count = true;
			return 0;
		}
		o->keks[o->nkeks++] = v;
		return 0;
	case KEY_MAXJOBS:
		if (parse_u64(v, 1, 1024, &n) < 0) {
			fprintf(stderr, "enclave-fs: bad max-jobs '%s' (1..1024)\n", v);
			return -1;
		}
		o->max_jobs = (unsigned)n;
		return 0;
	case KEY_TRUST_ROOT: o->trust_root = v; return 0;
	case KEY_HOST_KEY: o->key = v; return 0;
	case KEY_AWS_CREDS: {
		enum aws_creds_source src;

		if (aws_creds_source_parse(v, &src) < 0) {
			fprintf(stderr, "enclave-fs: --aws-credentials takes imds, env, profile or none, "
					"not '%s'\n", v);
			return -1;
		}
		o->aws_creds = v;
		return 0;
	}
	case KEY_REGION:
		if (!aws_region_valid(v)) {
			fprintf(stderr, "enclave-fs: --region '%s' is not an AWS region\n", v);
			return -1;
		}
		o->region = v;
		return 0;
	case KEY_KMS_ENDPOINT: o->kms_endpoint = v; return 0;
	case KEY_KMS_PROXY: o->kms_proxy = v; return 0;
	case KEY_KMS_CA: o->kms_ca = v; return 0;
	case KEY_READY:
		if (strcmp(v, "mounted") && strcmp(v, "synced")) {
			fprintf(stderr, "enclave-fs: --ready takes mounted or synced, not '%s'\n", v);
			return -1;
		}
		o->ready_mounted = !strcmp(v, "mounted");
		return 0;
	case KEY_ALLOW_DEBUG: o->allow_debug = true; return 0;
	case KEY_RECONNECT: o->reconnect = true; return 0;
	case KEY_CONNECT_TIMEOUT: {
		char *end;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (!*v || *end || errno || n < 1 || n > 86400) {
			fprintf(stderr, "enclave-fs: --connect-timeout takes seconds (1 to 86400), not '%s'\n", v);
			return -1;
		}
		o->connect_timeout = (unsigned)n;
		return 0;
	}
	case KEY_EXPECT_PCR: {
		char err[256];

		if (o->npins == ATTEST_PINS_MAX) {
			fprintf(stderr, "enclave-fs: at most %d PCR pins\n", ATTEST_PINS_MAX);
			return -1;
		}
		if (attest_parse_pin(v, &o->pins[o->npins], err, sizeof(err)) < 0 ||
		    attest_policy_add_pin(&(struct attest_policy){ 0 }, &o->pins[o->npins], err,
					  sizeof(err)) < 0) {
			fprintf(stderr, "enclave-fs: --expect-pcr %s: %s\n", v, err);
			return -1;
		}
		o->npins++;
		return 0;
	}
	}
	return 1;
}

/* -o connect=... and friends; everything else goes to FUSE. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;
	char *v;

	(void)outargs;
	if (key == KEY_ALLOW_OTHER || key == KEY_DEFAULT_PERMISSIONS) {
		/* Seen, and passed on to FUSE. */
		*(key == KEY_ALLOW_OTHER ? &o->allow_other : &o->default_permissions) = true;
		return 1;
	}
	/* expect_pcrN=... has a number in its name: no fuse_opt template. */
	if (key == FUSE_OPT_KEY_OPT && strncmp(arg, "expect_pcr", 10) == 0 && strchr(arg, '='))
		key = KEY_EXPECT_PCR;
	if (key == KEY_ALLOW_DEBUG || key == KEY_RECONNECT)
		return set_option(o, key, NULL);
	if (key < KEY_CONNECT || key > KEY_RECONNECT)
		return 1;
	/* arg lives in a buffer fuse_opt_parse() reuses: keep a copy. */
	if (o->nowned == sizeof(o->owned) / sizeof(o->owned[0])) {
		fprintf(stderr, "enclave-fs: too many options\n");
		return -1;
	}
	/* -o expect_pcrN=HEX[:HEX...] is --expect-pcr N=HEX[,HEX...] (a comma
	 * would end the -o option). */
	v = key == KEY_EXPECT_PCR ? strdup(arg + strlen("expect_pcr")) : strdup(strchr(arg, '=') + 1);
	if (!v)
		return -1;
	if (key == KEY_EXPECT_PCR)
		for (char *q = v; *q; q++)
			if (*q == ':')
				*q = ',';
	o->owned[o->nowned++] = v;
	return set_option(o, key, v);
}

/* Our long options, then the FUSE command line (-f, -d, -s, -o, the
 * mountpoint) in args. Returns 0, 1 after --help/--version, -1 after a
 * usage error, -2 after one told with its hint. */
static int parse_args(int argc, char **argv, struct options *o, struct fuse_args *args, const char **source)
{
	static const struct option lopts[] = {
		{ "connect", required_argument, NULL, 'c' }, { "cache", required_argument, NULL, 'C' },
		{ "kek", required_argument, NULL, 'k' },     { "max-jobs", required_argument, NULL, 'j' },
		{ "trust-root", required_argument, NULL, 'T' },
		{ "expect-pcr", required_argument, NULL, 'P' },
		{ "allow-debug", no_argument, NULL, 'D' },
		{ "key", required_argument, NULL, 'K' },
		{ "aws-credentials", required_argument, NULL, 'A' },
		{ "region", required_argument, NULL, 'R' },
		{ "kms-endpoint", required_argument, NULL, 'E' },
		{ "kms-proxy", required_argument, NULL, 'X' },
		{ "kms-ca", required_argument, NULL, 'Q' },
		{ "ready", required_argument, NULL, 'Y' },
		{ "connect-timeout", required_argument, NULL, 'W' },
		{ "reconnect", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },       { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },       { NULL, 0, NULL, 0 }
	};
	const char *nonopts[3];
	int c, n = 0, key;

	if (fuse_opt_add_arg(args, argv[0]) < 0)
		return -1;
	/* '-': keep order, so -o values stay with -o; ':' and opterr: our
	 * own messages, under our name. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "-:fdso:vhV", lopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (n == 2) {
				fprintf(stderr, "enclave-fs: too many arguments: %s\n", optarg);
				return -1;
			}
			nonopts[n++] = optarg;
			break;
		case 'f': case 'd': case 's':
			if (fuse_opt_add_arg(args, c == 'f' ? "-f" : c == 'd' ? "-d" : "-s") < 0)
				return -1;
			break;
		case 'o':
			if (fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, optarg) < 0)
				return -1;
			break;
		case 'c': case 'C': case 'k': case 'j':
			key = c == 'c' ? KEY_CONNECT : c == 'C' ? KEY_CACHE : c == 'k' ? KEY_KEK : KEY_MAXJOBS;
			if (set_option(o, key, optarg) < 0)
				return -1;
			break;
		case 'T': case 'P': case 'D': case 'K':
			key = c == 'T' ? KEY_TRUST_ROOT : c == 'P' ? KEY_EXPECT_PCR :
			      c == 'K' ? KEY_HOST_KEY : KEY_ALLOW_DEBUG;
			if (set_option(o, key, optarg) < 0)
				return -1;
			break;
		case 'A': case 'R': case 'E': case 'X': case 'Q': case 'Y': case 'W': case 'N':
			key = c == 'A' ? KEY_AWS_CREDS : c == 'R' ? KEY_REGION : c == 'E' ? KEY_KMS_ENDPOINT :
			      c == 'X' ? KEY_KMS_PROXY : c == 'Y' ? KEY_READY : c == 'W' ? KEY_CONNECT_TIMEOUT :
			      c == 'N' ? KEY_RECONNECT : KEY_KMS_CA;
			if (set_option(o, key, optarg) < 0)
				return -1;
			break;
		case 'v': log_more_verbose(); break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("enclave-fs %s\n", PACKAGE_VERSION); return 1;
		default:
			(void)cli_getopt_error("enclave-fs", c, argv, lopts);
			return -2; /* told, with the hint */
		}
	}
	if (n == 0) {
		fprintf(stderr, "enclave-fs: missing MOUNTPOINT\n");
		return -1;
	}
	if (n == 2)
		*source = nonopts[0];
	if (fuse_opt_add_arg(args, nonopts[n - 1]) < 0 || fuse_opt_parse(args, o, own_opts, opt_proc) < 0)
		return -1;
	if (o->bad_kek_count) {
		fprintf(stderr, "enclave-fs: at most %d key files\n", MAX_KEKS);
		return -1;
	}
	/* The mount acts as root on the cache: for other users, the kernel
	 * must check every access against the modes it shows. */
	if (o->allow_other && !o->default_permissions &&
	    fuse_opt_add_arg(args, "-odefault_permissions") < 0)
		return -1;
	return 0;
}

/* path made absolute against the working directory (a daemon changes it);
 * the file need not exist yet. */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return neg_errno();
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? neg_errno() : 0;
}

/* The cache holds the host's data and the development enclave's state:
 * it must be ours and closed to everyone else (forced to 0700). */
static int own_private_dir(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return neg_errno();
	if (st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
		return neg_errno();
	return 0;
}

/* /mnt/enclave -> BASE/enclave-fs/mnt-enclave */
static char *default_cache(const char *mountpoint)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char name[PATH_MAX], *out = NULL;
	size_t n = 0;

	for (const char *p = mountpoint + 1; *p && n < sizeof(name) - 1; p++)
		name[n++] = *p == '/' ? '-' : *p;
	name[n] = '\0';
	if (!n)
		snprintf(name, sizeof(name), "-");
	if (geteuid() == 0)
		return asprintf(&out, "/var/lib/enclave-fs/%s", name) < 0 ? NULL : out;
	if (xdg && xdg[0] == '/')
		return asprintf(&out, "%s/enclave-fs/%s", xdg, name) < 0 ? NULL : out;
	if (home && home[0] == '/')
		return asprintf(&out, "%s/.cache/enclave-fs/%s", home, name) < 0 ? NULL : out;
	return NULL;
}

/* The enclaved to start: $ENCLAVED, the one beside us (a build tree), or the
 * installed one (sbindir). */
static char *find_enclaved(void)
{
	const char *env = getenv("ENCLAVED");
	char self[PATH_MAX], *slash, *out = NULL;
	ssize_t n;

	if (env && *env)
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash && asprintf(&out, "%.*s/enclaved", (int)(slash - self), self) > 0) {
			if (access(out, X_OK) == 0)
				return out;
			free(out);
		}
	}
	return strdup(SBINDIR "/enclaved");
}

/* Every file and directory the kernel holds through the mount holds a
 * descriptor here (nodes.c): the soft limit goes as high as the hard one,
 * and as root the hard one up to the system's (fs.nr_open). */
static void raise_nofile(void)
{
	struct rlimit rl;
	unsigned long long nr_open = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%llu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (nr_open > rl.rlim_max) {
		struct rlimit up = { .rlim_cur = (rlim_t)nr_open, .rlim_max = (rlim_t)nr_open };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* Going to the background like sshfs: the parent waits until the child
 * reports whether the mount is ready and exits with that status, so errors
 * until then reach the terminal (the child keeps stderr until it reports)
 * and a mount that cannot reach its enclave fails where it was typed. */
static int bg_fd = -1;

static int daemon_fork(void)
{
	int p[2], fd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return neg_errno();
	pid = fork();
	if (pid < 0) {
		int r = neg_errno();

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid > 0) {
		unsigned char code = 1;
		ssize_t n;

		close(p[1]);
		while ((n = read(p[0], &code, 1)) < 0 && errno == EINTR)
			;
		/* Nothing read: the child died before it could say. */
		_exit(n == 1 ? code : 1);
	}
	close(p[0]);
	bg_fd = p[1];
	if (setsid() < 0 || chdir("/") < 0)
		return neg_errno();
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	close(fd);
	return 0;
}

/* The child's verdict to the waiting parent: from 0 on it logs to syslog. */
static void daemon_report(int code)
{
	unsigned char c = (unsigned char)code;
	int fd;

	if (bg_fd < 0)
		return;
	if (code == 0) {
		log_setup("enclave-fs", log_get_level(), true);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			(void)dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}
	(void)!write(bg_fd, &c, 1);
	close(bg_fd);
	bg_fd = -1;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts fo = { 0 };
	struct options o = { .connect_timeout = CONNECT_TIMEOUT_S };
	struct link_config lc = { 0 };
	struct fs fs = { .cachefd = -1 };
	const char *source = NULL;
	char *mountpoint = NULL, *cache = NULL, *enclaved = NULL, *dev_state = NULL;
	char *dev_root = NULL, *dev_root_pem = NULL, *host_key = NULL, why[512];
	char *kms_proxy = NULL, *kms_ca = NULL;
	enum aws_creds_source aws_src = AWS_CREDS_NONE;
	char *keks[MAX_KEKS] = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	bool nodes = false;
	struct addr a;
	char err[256], mopts[1024];
	int lockfd = -1, code = 1, r;
	struct link *l = NULL;

	notify_init();
	transport_set_nitro_resolver(nitro_find_cid);
	log_setup("enclave-fs", LOG_NOTICE, false);
	r = parse_args(argc, argv, &o, &args, &source);
	if (r != 0) {
		if (r == -1)
			fprintf(stderr, "Try 'enclave-fs --help'.\n");
		for (size_t i = 0; i < o.nowned; i++)
			free(o.owned[i]);
		fuse_opt_free_args(&args);
		return r > 0 ? 0 : 2;
	}
	if (fuse_parse_cmdline(&args, &fo) != 0 || !fo.mountpoint) {
		fprintf(stderr, "enclave-fs: bad FUSE arguments. Try 'enclave-fs --help'.\n");
		code = 2;
		goto out;
	}
	if (source && strcmp(source, "dev") != 0 && strcmp(source, "none") != 0 && !o.connect)
		o.connect = source;
	if (o.connect) {
		r = addr_parse(o.connect, &a, err, sizeof(err));
		if (r == 0 && a.kind == ADDR_FD)
			snprintf(err, sizeof(err), "fd: is for the development enclave");
		if (r < 0 || a.kind == ADDR_FD) {
			fprintf(stderr, "enclave-fs: --connect %s: %s\n", o.connect, err);
			code = 2;
			goto out;
		}
	}
	if (fo.debug)
		log_set_level(LOG_DEBUG);
	/* Under a supervisor the process it started stays, so that readiness
	 * comes from it (systemd's Type=notify). */
	if (notify_active())
		fo.foreground = 1;
	/* Errors go to the terminal until the mount is ready (daemon_report). */
	log_setup("enclave-fs", log_get_level(), false);

	mountpoint = realpath(fo.mountpoint, NULL);
	if (!mountpoint) {
		log_errno(neg_errno(), "mountpoint %s", fo.mountpoint);
		goto out;
	}
	cache = o.cache ? strdup(o.cache) : default_cache(mountpoint);
	if (!cache || (r = mkdir_p(cache, 0700)) < 0) {
		log_error("cache dir %s: %s", cache ? cache : "(no HOME)", cache ? strerror(-r) : "use --cache");
		goto out;
	}
	{
		char *abs = realpath(cache, NULL);
		if (!abs) {
			log_errno(neg_errno(), "cache dir %s", cache);
			goto out;
		}
		free(cache);
		cache = abs;
	}
	fs.cachefd = open(cache, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fs.cachefd >= 0 && (r = own_private_dir(fs.cachefd)) < 0) {
		if (r == -EPERM)
			log_error("cache dir %s belongs to another user", cache);
		else
			log_errno(r, "cache dir %s", cache);
		goto out;
	}
	lockfd = fs.cachefd < 0 ? -1 : openat(fs.cachefd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0) {
		log_errno(neg_errno(), "cache dir %s", cache);
		goto out;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		log_error("cache dir %s is in use by another mount", cache);
		goto out;
	}
	/* Where earlier versions kept files unlinked while open. */
	(void)path_remove_tree(fs.cachefd, ".hidden");
	for (size_t i = 0; i < o.nkeks; i++) {
		keks[i] = realpath(o.keks[i], NULL);
		if (!keks[i]) {
			log_errno(neg_errno(), "key file %s", o.keks[i]);
			goto out;
		}
	}
	if (!o.connect) {
		if (devenclave_check(why, sizeof(why)) < 0) {
			fprintf(stderr, "enclave-fs: %s\n", why);
			goto out;
		}
		enclaved = find_enclaved();
		if (!enclaved || access(enclaved, X_OK) < 0) {
			log_error("cannot run the development enclave %s (set ENCLAVED)", enclaved ? enclaved : "");
			goto out;
		}
		/* Kept with the cache: its output/ (which the host mirrors) and
		 * received files survive restarts and remounts. */
		if (asprintf(&dev_state, "%s/.enclave", cache) < 0 ||
		    (mkdir(dev_state, 0700) < 0 && errno != EEXIST)) {
			log_errno(neg_errno(), "cannot make the development enclave's state dir");
			goto out;
		}
		/* Its attestation is signed by a root of its own, made here on
		 * first use, and trusted (as "development") by this mount. */
		if (asprintf(&dev_root, "%s/dev-root", dev_state) < 0 ||
		    asprintf(&dev_root_pem, "%s/%s", dev_root, DEVROOT_CERT) < 0) {
			log_errno(-ENOMEM, "development root");
			goto out;
		}
		if (access(dev_root_pem, F_OK) < 0 &&
		    (r = devroot_create(dev_root, why, sizeof(why))) < 0 && r != -EEXIST) {
			log_error("cannot make the development root: %s", why);
			goto out;
		}
	} else if (o.nkeks || o.max_jobs) {
		log_warn("--kek and --max-jobs belong to the enclave at %s: ignored", o.connect);
	}

	if (o.aws_creds)
		(void)aws_creds_source_parse(o.aws_creds, &aws_src);
	else
		aws_src = aws_creds_source_default();
	/* The development enclave's forwarder and CA, as paths that survive
	 * the daemon's change of directory. */
	if (o.kms_proxy && !strncmp(o.kms_proxy, "unix:", 5) && o.kms_proxy[5] != '/') {
		char *p = abs_path(o.kms_proxy + 5);

		if (!p || asprintf(&kms_proxy, "unix:%s", p) < 0)
			kms_proxy = NULL;
		free(p);
	} else if (o.kms_proxy) {
		kms_proxy = strdup(o.kms_proxy);
	}
	if ((o.kms_ca && !(kms_ca = abs_path(o.kms_ca))) || (o.kms_proxy && !kms_proxy)) {
		log_errno(-ENOMEM, "options");
		goto out;
	}
	if (o.key ? !(host_key = abs_path(o.key)) : asprintf(&host_key, "%s/.host-key", cache) < 0) {
		log_errno(-ENOMEM, "host key");
		goto out;
	}
	lc = (struct link_config){ .cache = cache, .connect = o.connect, .enclaved = enclaved,
				   .dev_state = dev_state, .keks = (const char *const *)keks,
				   .nkeks = o.nkeks, .max_jobs = o.max_jobs,
				   .verbose = (unsigned)(log_get_level() - LOG_NOTICE),
				   .key_path = host_key,
				   .trust_root = o.trust_root ? o.trust_root : dev_root_pem,
				   .root_name = o.trust_root ? o.trust_root
						: dev_root ? "development" : "aws-nitro",
				   .dev_root = dev_root, .allow_debug = o.allow_debug,
				   .pins = o.pins, .npins = o.npins, .aws_source = aws_src,
				   .aws_region = o.region, .kms_endpoint = o.kms_endpoint,
				   .kms_proxy = kms_proxy, .kms_ca = kms_ca,
				   .job_ended = wait_job_ended, .changed = fs_changed_behind };
	r = link_new(&lc, &l);
	if (r < 0) {
		log_errno(r, "cache dir %s", cache);
		goto out;
	}
	fs.link = l;
	clock_gettime(CLOCK_REALTIME, &fs.mounted);
	/* The kernel applies the caller's umask to the mode of a file or
	 * directory created through the mount (the mount does not ask for
	 * FUSE_CAP_DONT_MASK); the daemon's own must not apply a second time.
	 * Everything the daemon creates for itself gets an explicit mode. */
	umask(0);

	fs_self = &fs;
	raise_nofile();
	r = nodes_init(fs.cachefd);
	if (r < 0) {
		log_errno(r, "cache dir %s", cache);
		goto out;
	}
	nodes = true;
	if (efs_mount_opts(&args, mopts, sizeof(mopts)) < 0) {
		log_error("too many mount options");
		goto out;
	}
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!se)
		goto out;
	if (efs_mount(se, mountpoint, mopts, err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	fs_set_session(se);
	if (fuse_set_signal_handlers(se) != 0)
		goto unmount;
	if (!fo.foreground && (r = daemon_fork()) < 0) {
		log_errno(r, "cannot go to the background");
		goto unmount;
	}
	/* Threads only after daemonizing (it forks). */
	r = link_start(l);
	if (r < 0) {
		log_errno(r, "cannot start the enclave link");
		goto unmount;
	}
	if (o.ready_mounted) {
		notify_ready(NULL);
		notify_status("mounted; connecting to the enclave at %s",
			      o.connect ? o.connect : "(development)");
	}
	/* --ready mounted is for a mount that must not hold anything up. */
	if (!o.reconnect && !o.ready_mounted) {
		r = link_wait_ready(l, (int)o.connect_timeout * 1000, why, sizeof(why));
		if (r < 0) {
			if (!o.connect && r == -ETIMEDOUT)
				log_error("the development enclave did not start within %u s: %s",
					  o.connect_timeout, why);
			else if (!o.connect)
				log_error("the development enclave did not start: %s", why);
			else if (r == -ETIMEDOUT)
				log_error("no enclave within %u s: %s", o.connect_timeout, why);
			else
				log_error("%s", why);
			if (r == -ETIMEDOUT)
				log_error("-o connect_timeout=S waits longer; -o reconnect mounts at once "
					  "and waits for the enclave");
			goto unmount;
		}
	}
	daemon_report(0);
	log_info("mounted %s (cache %s, enclave %s)", mountpoint, cache, o.connect ? o.connect : "dev");

	if (fo.singlethread) {
		r = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto unmount;
		fuse_loop_cfg_set_clone_fd(loop, fo.clone_fd);
		if (fo.max_threads && fo.max_threads <= 100000) /* UINT_MAX: not given */
			fuse_loop_cfg_set_max_threads(loop, fo.max_threads);
		if (fo.max_idle_threads <= 100000)
			fuse_loop_cfg_set_idle_threads(loop, fo.max_idle_threads);
		r = fuse_session_loop_mt(se, loop);
	}
	code = r == 0 ? 0 : 1;
unmount:
	wait_fini();
	notify_stopping("unmounting");
	fuse_remove_signal_handlers(se);
	fs_set_session(NULL);
	efs_unmount(se, mountpoint);
	link_stop(l);
out:
	/* A mount that failed is gone before the parent exits. */
	daemon_report(code);
	if (se)
		fuse_session_destroy(se);
	if (nodes)
		nodes_fini();
	link_free(l);
	free(dev_state);
	free(dev_root);
	free(dev_root_pem);
	free(host_key);
	free(kms_proxy);
	free(kms_ca);
	for (size_t i = 0; i < MAX_KEKS; i++)
		free(keks[i]);
	if (loop)
		fuse_loop_cfg_destroy(loop);
	safe_close(lockfd);
	safe_close(fs.cachefd);
	free(enclaved);
	free(cache);
	free(mountpoint);
	free(fo.mountpoint);
	for (size_t i = 0; i < o.nowned; i++)
		free(o.owned[i]);
	fuse_opt_free_args(&args);
	return code;
}
