/* fsconform fsx FILE [-N ops] [-S seed] [-L maxlen] [-Z] [-m] [-u]
 *
 * A random sequence of operations on one file, each checked against a model
 * of its contents kept in memory: buffered pread/pwrite, truncate up and
 * down, fallocate (mode 0 and KEEP_SIZE), punch hole, zero range, close and
 * reopen; with -m also reads and writes through a MAP_SHARED mapping (msync
 * after writes); with -Z also O_DIRECT reads and writes, aligned to 4 KiB,
 * on a second descriptor. Every read is compared with the model and the size
 * is checked after every operation; the whole file is compared at the end.
 * On a mismatch the tail of the operation log and the first differing offset
 * are printed and the exit status is 1.
 *
 * A fallocate mode the file system refuses with EOPNOTSUPP is counted
 * (printed as "unsupported: N"), not a mismatch; -u makes it a failure.
 * With -P N, N processes write the file at once, each in its own region of
 * maxlen bytes with its own model (seeds S, S+1, ...): truncate is left out
 * (the size is shared) and a mapped write extends the file with fallocate,
 * which never shrinks it; the size is not checked, a read may end early only
 * where the model holds zeros, and never before what this writer wrote.
 * -x OP leaves the operation OP (a name as printed in the summary, such as
 * zero-range) out of the sequence; it may be given more than once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsconform.h"

#define ALIGN     4096
#define LOG_LINES 32

enum op {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_DREAD,
	OP_DWRITE,
	OP_FALLOC,
	OP_FALLOC_KEEP,
	OP_PUNCH,
	OP_ZERO,
	OP_TRUNCATE,
	OP_REOPEN,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "read",      "write",          "mapread", "mapwrite",   "dread",    "dwrite",
    "fallocate", "fallocate-keep", "punch",   "zero-range", "truncate", "reopen",
};

struct fsx {
	const char *path;
	int fd, dfd;
	bool direct, mmap;
	bool excluded[OP_COUNT];
	/* With -P: the writer's number and where its region starts. */
	int writer;
	bool shared;
	size_t base;
	uint8_t *model;
	size_t size, maxlen;
	uint8_t *buf, *dbuf;
	long opno;
	long unsupported[OP_COUNT];
	long done[OP_COUNT];
	char log[LOG_LINES][96];
	struct fsc_rng rng;
};

static void log_op(struct fsx *f, enum op op, size_t off, size_t len)
{
	snprintf(f->log[f->opno % LOG_LINES], sizeof(f->log[0]), "%ld %s 0x%zx +0x%zx (size 0x%zx)",
	         f->opno, op_names[op], off, len, f->size);
}

static void dump_log(struct fsx *f)
{
	long i, first = f->opno >= LOG_LINES ? f->opno - LOG_LINES + 1 : 0;

	fprintf(stderr, "fsx: the last operations (op, offset, length, size before):\n");
	for (i = first; i <= f->opno; i++)
		fprintf(stderr, "  %s\n", f->log[i % LOG_LINES]);
}

/* Ends the run: WHAT failed with errno e (0: the call returned too little). */
static void fail(struct fsx *f, const char *what, int e)
{
	fprintf(stderr, "fsx: op %ld: %s %s: %s\n", f->opno, what, f->path,
	        e ? fsc_errname(e) : "short count");
	dump_log(f);
	printf("not ok - fsx %s: op %ld failed\n", f->path, f->opno);
	exit(1);
}

/* Compares len bytes read at off with the model. */
static void compare(struct fsx *f, const char *how, const uint8_t *got, size_t off, size_t len)
{
	size_t i;

	if (memcmp(got, f->model + off, len) == 0)
		return;
	for (i = 0; i < len && got[i] == f->model[off + i]; i++)
		;
	fprintf(stderr, "fsx: op %ld: %s mismatch at offset 0x%zx: expected 0x%02x got 0x%02x\n",
	        f->opno, how, off + i, f->model[off + i], got[i]);
	dump_log(f);
	printf("not ok - fsx %s: %s mismatch at offset 0x%zx (op %ld)\n", f->path, how, off + i,
	       f->opno);
	exit(1);
}

static void open_fds(struct fsx *f, int extra)
{
	f->fd = open(f->path, O_RDWR | extra, 0644);
	if (f->fd < 0)
		fail(f, "open", errno);
	f->dfd = -1;
	if (f->direct) {
		f->dfd = open(f->path, O_RDWR | O_DIRECT);
		if (f->dfd < 0)
			fail(f, "open O_DIRECT", errno);
	}
}

static void close_fds(struct fsx *f)
{
	if (close(f->fd) < 0)
		fail(f, "close", errno);
	if (f->dfd >= 0 && close(f->dfd) < 0)
		fail(f, "close (O_DIRECT)", errno);
}

static void fill(struct fsx *f, uint8_t *p, size_t len)
{
	size_t i;
	uint64_t x = 0;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			x = fsc_rng_next(&f->rng);
		p[i] = (uint8_t)(x >> (8 * (i % 8)));
	}
}

/* The model's side of a size change: new bytes are zeros. */
static void model_resize(struct fsx *f, size_t size)
{
	if (size > f->size)
		memset(f->model + f->size, 0, size - f->size);
	f->size = size;
}

/* The file offset of the region's offset off. */
static off_t fo(const struct fsx *f, size_t off)
{
	return (off_t)(f->base + off);
}

/* A read that returned n of len bytes at off. Alone, the size is known; with
 * other writers the file may end anywhere after this writer's own extent,
 * and the bytes it does not return must be zeros in the model. */
static size_t read_want(struct fsx *f, size_t off, size_t len, ssize_t n)
{
	size_t known = off >= f->size ? 0 : (off + len > f->size ? f->size - off : len), i;

	if (!f->shared || n < 0 || (size_t)n < known || (size_t)n > len)
		return known;
	for (i = (size_t)n; i < len; i++)
		if (f->model[off + i] != 0)
			return known;
	return (size_t)n;
}

static void do_read(struct fsx *f, size_t off, size_t len)
{
	ssize_t n = pread(f->fd, f->buf, len, fo(f, off));
	size_t want = read_want(f, off, len, n);

	if (n < 0)
		fail(f, "pread", errno);
	if ((size_t)n != want) {
		fprintf(stderr, "fsx: op %ld: pread returned %zd, expected %zu\n", f->opno, n,
		        want);
		fail(f, "short read", 0);
	}
	compare(f, "read", f->buf, off, want);
}

static void do_write(struct fsx *f, size_t off, size_t len)
{
	ssize_t n;

	fill(f, f->buf, len);
	n = pwrite(f->fd, f->buf, len, fo(f, off));
	if (n < 0)
		fail(f, "pwrite", errno);
	if ((size_t)n != len)
		fail(f, "short pwrite", 0);
	if (off + len > f->size)
		model_resize(f, off + len);
	memcpy(f->model + off, f->buf, len);
}

static void do_mapread(struct fsx *f, size_t off, size_t len)
{
	size_t pg = off & ~(size_t)(ALIGN - 1);
	uint8_t *p;

	if (off >= f->size)
		return;
	if (off + len > f->size)
		len = f->size - off;
	p = mmap(NULL, off + len - pg, PROT_READ, MAP_SHARED, f->fd, fo(f, pg));
	if (p == MAP_FAILED)
		fail(f, "mmap for reading", errno);
	compare(f, "mapread", p + (off - pg), off, len);
	munmap(p, off + len - pg);
}

static void do_mapwrite(struct fsx *f, size_t off, size_t len)
{
	size_t pg = off & ~(size_t)(ALIGN - 1);
	uint8_t *p;

	if (off + len > f->size) {
		/* Another writer may have made the file longer: fallocate, unlike
		 * ftruncate, cannot cut its data off. */
		if (f->shared && fallocate(f->fd, 0, fo(f, off), (off_t)len) < 0) {
			if (errno != EOPNOTSUPP)
				fail(f, "fallocate before mapwrite", errno);
			f->unsupported[OP_MAPWRITE]++;
			return;
		}
		if (!f->shared && ftruncate(f->fd, (off_t)(off + len)) < 0)
			fail(f, "ftruncate before mapwrite", errno);
		model_resize(f, off + len);
	}
	p = mmap(NULL, off + len - pg, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, fo(f, pg));
	if (p == MAP_FAILED)
		fail(f, "mmap for writing", errno);
	fill(f, f->buf, len);
	memcpy(p + (off - pg), f->buf, len);
	if (msync(p, off + len - pg, MS_SYNC) < 0)
		fail(f, "msync", errno);
	munmap(p, off + len - pg);
	memcpy(f->model + off, f->buf, len);
}

static void do_dread(struct fsx *f, size_t off, size_t len)
{
	ssize_t n = pread(f->dfd, f->dbuf, len, fo(f, off));
	size_t want = read_want(f, off, len, n);

	if (n < 0)
		fail(f, "pread O_DIRECT", errno);
	if ((size_t)n != want) {
		fprintf(stderr, "fsx: op %ld: O_DIRECT pread returned %zd, expected %zu\n", f->opno,
		        n, want);
		fail(f, "short read", 0);
	}
	compare(f, "dread", f->dbuf, off, want);
}

static void do_dwrite(struct fsx *f, size_t off, size_t len)
{
	ssize_t n;

	fill(f, f->dbuf, len);
	n = pwrite(f->dfd, f->dbuf, len, fo(f, off));
	if (n < 0)
		fail(f, "pwrite O_DIRECT", errno);
	if ((size_t)n != len)
		fail(f, "short O_DIRECT pwrite", 0);
	if (off + len > f->size)
		model_resize(f, off + len);
	memcpy(f->model + off, f->dbuf, len);
}

static void do_falloc(struct fsx *f, enum op op, size_t off, size_t len)
{
	int mode = op == OP_FALLOC        ? 0
	           : op == OP_FALLOC_KEEP ? FALLOC_FL_KEEP_SIZE
	           : op == OP_PUNCH       ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
	                                  : FALLOC_FL_ZERO_RANGE;
	size_t end;

	if (fallocate(f->fd, mode, fo(f, off), (off_t)len) < 0) {
		if (errno == EOPNOTSUPP) {
			f->unsupported[op]++;
			return;
		}
		fail(f, "fallocate", errno);
	}
	end = off + len;
	if (op == OP_PUNCH || op == OP_ZERO) {
		size_t zend = end < f->size ? end : f->size;

		if (off < zend)
			memset(f->model + off, 0, zend - off);
	}
	if ((op == OP_FALLOC || op == OP_ZERO) && end > f->size)
		model_resize(f, end);
}

static void check_size(struct fsx *f)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		fail(f, "fstat", errno);
	/* With other writers, only what this one wrote or extended is sure. */
	if (f->shared ? f->size && (size_t)st.st_size < f->base + f->size
	              : (size_t)st.st_size != f->size) {
		fprintf(stderr, "fsx: op %ld: size 0x%jx, expected 0x%zx\n", f->opno,
		        (intmax_t)st.st_size, f->size);
		dump_log(f);
		printf("not ok - fsx %s: size mismatch (op %ld)\n", f->path, f->opno);
		exit(1);
	}
}

static void step(struct fsx *f)
{
	enum op op;
	size_t off, len, maxop = f->maxlen / 4;

	for (;;) {
		op = (enum op)fsc_rng_below(&f->rng, OP_COUNT);
		if ((op == OP_MAPREAD || op == OP_MAPWRITE) && !f->mmap)
			continue;
		if ((op == OP_DREAD || op == OP_DWRITE) && !f->direct)
			continue;
		if (f->excluded[op] || (op == OP_TRUNCATE && f->shared))
			continue;
		/* Reopen rarely, so the descriptors live through many ops. */
		if (op == OP_REOPEN && fsc_rng_below(&f->rng, 20) != 0)
			continue;
		break;
	}
	off = fsc_rng_below(&f->rng, f->maxlen);
	len = 1 + fsc_rng_below(&f->rng, maxop);
	if (op == OP_DREAD || op == OP_DWRITE) {
		off &= ~(size_t)(ALIGN - 1);
		len = (len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	}
	if (off + len > f->maxlen)
		len = f->maxlen - off;
	if (len == 0)
		len = op == OP_DREAD || op == OP_DWRITE ? 0 : 1;
	if (off + len > f->maxlen || len == 0)
		return;
	if (op == OP_TRUNCATE) {
		/* Favour sizes around the current one and small files. */
		off = fsc_rng_below(&f->rng, 3) == 0
		          ? fsc_rng_below(&f->rng, f->maxlen + 1)
		          : fsc_rng_below(&f->rng, f->size + maxop) % (f->maxlen + 1);
		len = 0;
	}
	log_op(f, op, off, len);
	switch (op) {
	case OP_READ: do_read(f, off, len); break;
	case OP_WRITE: do_write(f, off, len); break;
	case OP_MAPREAD: do_mapread(f, off, len); break;
	case OP_MAPWRITE: do_mapwrite(f, off, len); break;
	case OP_DREAD: do_dread(f, off, len); break;
	case OP_DWRITE: do_dwrite(f, off, len); break;
	case OP_FALLOC:
	case OP_FALLOC_KEEP:
	case OP_PUNCH:
	case OP_ZERO: do_falloc(f, op, off, len); break;
	case OP_TRUNCATE:
		if (ftruncate(f->fd, (off_t)off) < 0)
			fail(f, "ftruncate", errno);
		model_resize(f, off);
		break;
	case OP_REOPEN:
		close_fds(f);
		open_fds(f, 0);
		break;
	case OP_COUNT: break;
	}
	f->done[op]++;
	check_size(f);
}

/* One writer's whole run; 0 if everything matched its model. */
static int run(struct fsx *f, long ops, uint64_t seed, bool strict)
{
	long unsupported = 0;
	int i;

	fsc_rng_seed(&f->rng, seed);
	f->model = calloc(1, f->maxlen);
	f->buf = malloc(f->maxlen);
	if (!f->model || !f->buf || posix_memalign((void **)&f->dbuf, ALIGN, f->maxlen) != 0) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	open_fds(f, f->shared ? 0 : O_CREAT | O_TRUNC);
	check_size(f);
	for (f->opno = 0; f->opno < ops; f->opno++)
		step(f);
	/* The whole file (region), through a fresh descriptor. */
	close_fds(f);
	open_fds(f, 0);
	f->opno = ops;
	log_op(f, OP_READ, 0, f->size);
	check_size(f);
	do_read(f, 0, f->maxlen);
	close_fds(f);
	printf("# fsx %s writer %d: %ld ops, seed %" PRIu64 ", final size %zu\n", f->path,
	       f->writer, ops, seed, f->size);
	for (i = 0; i < OP_COUNT; i++) {
		printf("# %s: %ld done, %ld unsupported\n", op_names[i], f->done[i],
		       f->unsupported[i]);
		unsupported += f->unsupported[i];
	}
	printf("# unsupported: %ld\n", unsupported);
	free(f->model);
	free(f->buf);
	free(f->dbuf);
	if (strict && unsupported) {
		printf("not ok - fsx %s writer %d: %ld operations unsupported (EOPNOTSUPP)\n",
		       f->path, f->writer, unsupported);
		return 1;
	}
	printf("ok - fsx %s writer %d: %ld ops match the model\n", f->path, f->writer, ops);
	return 0;
}

int fsc_fsx_main(int argc, char **argv)
{
	struct fsx f = {.maxlen = 256 * 1024};
	long ops = 10000, procs = 0, k, bad = 0;
	uint64_t seed = 1;
	bool strict = false;
	int c, i, fd, status;

	while ((c = getopt(argc, argv, "N:S:L:P:Zmux:")) != -1) {
		switch (c) {
		case 'x':
			for (i = 0; i < OP_COUNT && strcmp(optarg, op_names[i]) != 0; i++)
				;
			if (i == OP_COUNT || i == OP_READ || i == OP_WRITE) {
				fprintf(stderr,
				        "fsx: -x %s: not an operation that can be left out\n",
				        optarg);
				return 2;
			}
			f.excluded[i] = true;
			break;
		case 'N': ops = strtol(optarg, NULL, 10); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		case 'L': f.maxlen = strtoul(optarg, NULL, 10); break;
		case 'P': procs = strtol(optarg, NULL, 10); break;
		case 'Z': f.direct = true; break;
		case 'm': f.mmap = true; break;
		case 'u': strict = true; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || ops < 0 || f.maxlen < 2 * ALIGN || f.maxlen % ALIGN ||
	    procs < 0 || procs > 16)
		goto usage;
	f.path = argv[optind];
	if (procs == 0)
		return run(&f, ops, seed, strict);
	fd = open(f.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || close(fd) < 0) {
		fprintf(stderr, "fsx: %s: %s\n", f.path, strerror(errno));
		return 2;
	}
	fflush(stdout);
	for (k = 0; k < procs; k++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "fsx: fork: %s\n", strerror(errno));
			return 2;
		}
		if (pid == 0) {
			f.shared = true;
			f.writer = (int)k;
			f.base = (size_t)k * f.maxlen;
			c = run(&f, ops, seed + (uint64_t)k, strict);
			fflush(stdout);
			_exit(c);
		}
	}
	for (k = 0; k < procs; k++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	if (bad) {
		printf("not ok - fsx %s: %ld of %ld concurrent writers failed\n", f.path, bad, procs);
		return 1;
	}
	printf("ok - fsx %s: %ld concurrent writers match their models\n", f.path, procs);
	return 0;
usage:
	fprintf(stderr, "usage: fsconform fsx FILE [-N ops] [-S seed] [-L maxlen] [-P procs] [-Z] "
	                "[-m] [-u] [-x OP]...\n");
	return 2;
}
