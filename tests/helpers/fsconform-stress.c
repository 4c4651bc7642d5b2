/* fsconform stress DIR [-p procs] [-n ops] [-S seed]
 *
 * Several processes run random namespace and data operations (create,
 * write, append, truncate, mkdir, rmdir, rename, link, symlink, unlink,
 * fsync, readdir, stat) over a small shared set of names under DIR/stress,
 * so that they collide. The errors a collision explains (ENOENT, EEXIST,
 * ENOTEMPTY, ...) are expected and counted per operation; any other error
 * (EIO, EBADMSG, ENOSPC, ESTALE, ...) or a process that dies is a failure.
 * At the end the tree is walked once to check every entry can be lstat'ed
 * and every directory listed. The tree is left in place for the caller to
 * compare with its copies.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsconform.h"

enum sop {
	S_CREAT,
	S_WRITE,
	S_APPEND,
	S_TRUNCATE,
	S_MKDIR,
	S_RMDIR,
	S_RENAME,
	S_LINK,
	S_SYMLINK,
	S_UNLINK,
	S_FSYNC,
	S_READDIR,
	S_STAT,
	S_COUNT
};

static const char *const sop_names[S_COUNT] = {
    "creat", "write",   "append", "truncate", "mkdir",   "rmdir", "rename",
    "link",  "symlink", "unlink", "fsync",    "readdir", "stat",
};

#define BIT(e) (1ULL << (e))

/* Directory names and names of everything else are kept apart: a directory
 * is only ever made, removed or renamed under a directory name, the rest
 * only under the other names, and symlinks point to a name of the second
 * kind in their own directory. So a collision explains ENOENT (a parent or
 * source is gone), EEXIST, ENOTEMPTY, EINVAL (a directory into itself) and
 * ELOOP (symlinks pointing at each other), and nothing else: ENOTDIR,
 * EISDIR or EPERM from link() would be the file system's doing. */
static const unsigned long long allowed[S_COUNT] = {
    [S_CREAT] = BIT(ENOENT) | BIT(EEXIST) | BIT(ELOOP),
    [S_WRITE] = BIT(ENOENT) | BIT(ELOOP),
    [S_APPEND] = BIT(ENOENT) | BIT(ELOOP),
    [S_TRUNCATE] = BIT(ENOENT) | BIT(ELOOP),
    [S_MKDIR] = BIT(ENOENT) | BIT(EEXIST),
    [S_RMDIR] = BIT(ENOENT) | BIT(ENOTEMPTY) | BIT(EEXIST),
    [S_RENAME] = BIT(ENOENT) | BIT(ENOTEMPTY) | BIT(EEXIST) | BIT(EINVAL),
    [S_LINK] = BIT(ENOENT) | BIT(EEXIST),
    [S_SYMLINK] = BIT(ENOENT) | BIT(EEXIST),
    [S_UNLINK] = BIT(ENOENT),
    [S_FSYNC] = BIT(ENOENT) | BIT(ELOOP),
    [S_READDIR] = BIT(ENOENT),
    [S_STAT] = BIT(ENOENT) | BIT(ELOOP),
};

static const char *const dir_names[] = {"a", "b", "c"};
static const char *const file_names[] = {"d", "e", "f", "g"};

/* A path: zero to two directory names, short paths more often so that most
 * parents exist, then a directory name (dir) or another name. */
static void pick(struct fsc_rng *r, char *p, size_t cap, bool dir)
{
	int k = (int)fsc_rng_below(r, 6), depth = k < 3 ? 0 : k < 5 ? 1 : 2, i;
	size_t n = 0;

	for (i = 0; i < depth; i++)
		n += (size_t)snprintf(p + n, cap - n, "%s/", dir_names[fsc_rng_below(r, 3)]);
	snprintf(p + n, cap - n, "%s",
	         dir ? dir_names[fsc_rng_below(r, 3)] : file_names[fsc_rng_below(r, 4)]);
}

static int write_some(struct fsc_rng *r, const char *p, int flags)
{
	char buf[8192];
	size_t len = 1 + fsc_rng_below(r, sizeof(buf)), i;
	off_t off = (off_t)fsc_rng_below(r, 64 * 1024);
	int fd = open(p, O_WRONLY | O_NONBLOCK | flags, 0644), e = 0;
	ssize_t n;

	if (fd < 0)
		return errno;
	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + (fsc_rng_next(r) % 26));
	n = flags & O_APPEND ? write(fd, buf, len) : pwrite(fd, buf, len, off);
	if (n < 0)
		e = errno;
	else if ((size_t)n != len)
		e = EIO;
	if (close(fd) < 0 && !e)
		e = errno;
	return e;
}

static int list(const char *p)
{
	struct dirent *d;
	DIR *dir = opendir(p);
	int e = 0;

	if (!dir)
		return errno;
	errno = 0;
	while ((d = readdir(dir)))
		;
	if (errno)
		e = errno;
	closedir(dir);
	return e;
}

static int one(struct fsc_rng *r, enum sop op)
{
	bool dir = op == S_MKDIR || op == S_RMDIR || op == S_READDIR ||
	           ((op == S_RENAME || op == S_STAT || op == S_FSYNC) && fsc_rng_below(r, 2));
	char a[64], b[64];
	struct stat st;
	int fd, e;

	pick(r, a, sizeof(a), dir);
	pick(r, b, sizeof(b), dir);
	switch (op) {
	case S_CREAT:
		fd = open(a, O_WRONLY | O_CREAT | O_NONBLOCK | (fsc_rng_below(r, 2) ? O_EXCL : 0),
		          0644);
		if (fd < 0)
			return errno;
		return close(fd) < 0 ? errno : 0;
	case S_WRITE: return write_some(r, a, 0);
	case S_APPEND: return write_some(r, a, O_APPEND);
	case S_TRUNCATE: return truncate(a, (off_t)fsc_rng_below(r, 96 * 1024)) < 0 ? errno : 0;
	case S_MKDIR: return mkdir(a, 0755) < 0 ? errno : 0;
	case S_RMDIR: return rmdir(a) < 0 ? errno : 0;
	case S_RENAME: return rename(a, b) < 0 ? errno : 0;
	case S_LINK: return link(a, b) < 0 ? errno : 0;
	case S_SYMLINK: return symlink(file_names[fsc_rng_below(r, 4)], a) < 0 ? errno : 0;
	case S_UNLINK: return unlink(a) < 0 ? errno : 0;
	case S_FSYNC:
		fd = open(a, O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			return errno;
		e = fsync(fd) < 0 ? errno : 0;
		if (close(fd) < 0 && !e)
			e = errno;
		return e;
	case S_READDIR: return list(fsc_rng_below(r, 4) ? a : ".");
	case S_STAT: return (fsc_rng_below(r, 2) ? stat(a, &st) : lstat(a, &st)) < 0 ? errno : 0;
	default: break;
	}
	return 0;
}

static int worker(int id, long ops, uint64_t seed)
{
	long done[S_COUNT] = {0}, expected[S_COUNT] = {0}, bad = 0, i;
	unsigned long long seen[S_COUNT] = {0};
	struct fsc_rng r;

	fsc_rng_seed(&r, seed * 1000 + (uint64_t)id);
	for (i = 0; i < ops; i++) {
		enum sop op = (enum sop)(fsc_rng_next(&r) % S_COUNT);
		int e = one(&r, op);

		done[op]++;
		if (e == 0)
			continue;
		if (e < 64 && (allowed[op] & BIT(e))) {
			expected[op]++;
			continue;
		}
		/* The first of each kind, so one flood does not hide another. */
		bad++;
		if (e >= 64 || !(seen[op] & BIT(e)))
			printf("not ok - stress: process %d op %ld: %s: unexpected %s (%s)\n", id,
			       i, sop_names[op], fsc_errname(e), strerror(e));
		if (e < 64)
			seen[op] |= BIT(e);
	}
	if (bad)
		printf("not ok - stress: process %d: %ld unexpected errors\n", id, bad);
	for (i = 0; i < S_COUNT; i++)
		printf("# process %d: %s: %ld done, %ld expected errors\n", id, sop_names[i],
		       done[i], expected[i]);
	fflush(stdout);
	return bad ? 1 : 0;
}

/* Every entry of the tree can be lstat'ed, every directory listed. */
static long walk(const char *dir)
{
	char p[PATH_MAX];
	struct dirent *d;
	struct stat st;
	long bad = 0;
	DIR *dh = opendir(dir);

	if (!dh) {
		printf("not ok - stress: opendir %s: %s\n", dir, fsc_errname(errno));
		return 1;
	}
	while ((d = readdir(dh))) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, d->d_name);
		if (lstat(p, &st) < 0) {
			printf("not ok - stress: lstat %s: %s\n", p, fsc_errname(errno));
			bad++;
			continue;
		}
		if (S_ISDIR(st.st_mode))
			bad += walk(p);
	}
	closedir(dh);
	return bad;
}

int fsc_stress_main(int argc, char **argv)
{
	long procs = 4, ops = 2000, bad = 0, i;
	char top[PATH_MAX];
	uint64_t seed = 1;
	int c, status;

	while ((c = getopt(argc, argv, "p:n:S:")) != -1) {
		switch (c) {
		case 'p': procs = strtol(optarg, NULL, 10); break;
		case 'n': ops = strtol(optarg, NULL, 10); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || procs < 1 || procs > 64 || ops < 0)
		goto usage;
	snprintf(top, sizeof(top), "%s/stress", argv[optind]);
	if (mkdir(top, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fsconform stress: mkdir %s: %s\n", top, strerror(errno));
		return 2;
	}
	if (chdir(top) < 0) {
		fprintf(stderr, "fsconform stress: %s: %s\n", top, strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "fsconform stress: fork: %s\n", strerror(errno));
			return 2;
		}
		if (pid == 0)
			_exit(worker((int)i, ops, seed));
	}
	for (i = 0; i < procs; i++) {
		if (wait(&status) < 0)
			break;
		if (WIFSIGNALED(status)) {
			printf("not ok - stress: a process died by signal %d\n", WTERMSIG(status));
			bad++;
		} else if (WEXITSTATUS(status) != 0) {
			bad++;
		}
	}
	bad += walk(".");
	if (bad) {
		printf("not ok - stress %s: %ld processes x %ld ops, seed %" PRIu64 "\n", top,
		       procs, ops, seed);
		return 1;
	}
	printf("ok - stress %s: %ld processes x %ld ops, seed %" PRIu64 "\n", top, procs, ops,
	       seed);
	return 0;
usage:
	fprintf(stderr, "usage: fsconform stress DIR [-p procs] [-n ops] [-S seed]\n");
	return 2;
}
