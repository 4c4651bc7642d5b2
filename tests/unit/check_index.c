/* The chunk index over real files in a scratch directory: fetch verifies and
 * drops stale locations, forget and rename follow the tree, the open file is
 * cached and invalidated, and 100,000 entries stay fast. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sync/chunker.h"
#include "sync/hash.h"
#include "sync/index.h"
#include "sync/util.h"
#include "testrand.h"

static char tmpl[4096];

struct opener {
	int dirfd;
	unsigned opens;
	char last[256];
	int fail; /* when nonzero, open fails with it */
};

static struct opener op;

static int open_at(void *ud, const char *path)
{
	struct opener *o = ud;
	int fd;

	o->opens++;
	snprintf(o->last, sizeof(o->last), "%s", path);
	if (o->fail)
		return o->fail;
	fd = openat(o->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? neg_errno() : fd;
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpl, sizeof(tmpl), "%s/check_index.XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	op = (struct opener){ .dirfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC) };
	ck_assert_int_ge(op.dirfd, 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	close(op.dirfd);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes a new file and renames it over `name`, as the engine does. */
static void put_file(const char *name, const void *p, size_t n)
{
	char tmp[300];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(op.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_write_all(fd, p, n), 0);
	close(fd);
	ck_assert_int_eq(renameat(op.dirfd, tmp, op.dirfd, name), 0);
}

/* Overwrites bytes in place (same inode). */
static void patch_file(const char *name, size_t off, const void *p, size_t n)
{
	int fd = openat(op.dirfd, name, O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_pwrite_all(fd, p, n, (off_t)off), 0);
	close(fd);
}

struct chunk {
	size_t off;
	uint32_t len;
	struct hash128 h;
};

/* The chunks of b[0..n), computed independently of the index. */
static size_t chunks_of(const uint8_t *b, size_t n, struct chunk **out)
{
	struct chunker c = CHUNKER_INIT;
	struct chunk *v = calloc(n / CHUNK_MIN_SIZE + 2, sizeof(*v));
	size_t count = 0, start = 0;

	ck_assert_ptr_nonnull(v);
	while (start < n) {
		size_t k = chunker_scan(&c, b + start, n - start);
		size_t len = k ? k : n - start;

		v[count].off = start;
		v[count].len = (uint32_t)len;
		hash128_buf(b + start, len, &v[count].h);
		count++;
		start += len;
	}
	*out = v;
	return count;
}

static struct chunk_index *new_index(void)
{
	struct chunk_index *ix = chunk_index_new(open_at, &op);

	ck_assert_ptr_nonnull(ix);
	return ix;
}

START_TEST(test_add_file_fetch_all)
{
	size_t n = 3 * 1024 * 1024 + 777, count;
	uint8_t *data = test_random_buf(n, 1), *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct chunk *ch;

	ck_assert_ptr_nonnull(buf);
	put_file("f", data, n);
	count = chunks_of(data, n, &ch);
	ck_assert_uint_gt(count, 10);
	ck_assert_int_eq(chunk_index_add_file(ix, "f"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count);
	for (size_t i = 0; i < count; i++) {
		ck_assert_uint_eq(chunk_index_locations(ix, &ch[i].h), 1);
		memset(buf, 0, CHUNK_MAX_SIZE);
		ck_assert_int_eq(chunk_index_fetch(ix, &ch[i].h, ch[i].len, buf), 0);
		ck_assert_mem_eq(buf, data + ch[i].off, ch[i].len);
	}
	/* One open to index, one to fetch every chunk. */
	ck_assert_uint_eq(op.opens, 2);

	/* Indexing again replaces, it does not duplicate. */
	ck_assert_int_eq(chunk_index_add_file(ix, "f"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count);
	ck_assert_uint_eq(chunk_index_locations(ix, &ch[0].h), 1);

	/* A small file is one chunk; an empty one none; a missing one an error. */
	put_file("small", data, 100);
	put_file("empty", data, 0);
	ck_assert_int_eq(chunk_index_add_file(ix, "small"), 0);
	ck_assert_int_eq(chunk_index_add_file(ix, "empty"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count + 1);
	ck_assert_int_eq(chunk_index_add_file(ix, "missing"), -ENOENT);

	chunk_index_free(ix);
	free(ch);
	free(buf);
	free(data);
}
END_TEST

START_TEST(test_stale_dropped)
{
	size_t n = 1024 * 1024, count;
	uint8_t *data = test_random_buf(n, 2), *other = test_random_buf(n, 3), *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct chunk *ch;

	ck_assert_ptr_nonnull(buf);
	put_file("f", data, n);
	count = chunks_of(data, n, &ch);
	ck_assert_uint_ge(count, 3);
	ck_assert_int_eq(chunk_index_add_file(ix, "f"), 0);

	/* Overwrite the first chunk in place: it is stale, the others are not. */
	patch_file("f", 0, other, ch[0].len);
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[0].h, ch[0].len, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_locations(ix, &ch[0].h), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count - 1);
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[1].h, ch[1].len, buf), 0);
	ck_assert_mem_eq(buf, data + ch[1].off, ch[1].len);

	/* Truncate: the last chunk cannot be read whole any more. */
	{
		int fd = openat(op.dirfd, "f", O_WRONLY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)(n - 1)), 0);
		close(fd);
	}
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[count - 1].h, ch[count - 1].len, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_locations(ix, &ch[count - 1].h), 0);

	/* The whole file rewritten in place: every location is stale. */
	patch_file("f", 0, other, n - 1);
	for (size_t i = 1; i < count - 1; i++)
		ck_assert_int_eq(chunk_index_fetch(ix, &ch[i].h, ch[i].len, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_count(ix), 0);

	/* The file removed: open fails, all of its locations go at once. */
	put_file("g", data, n);
	ck_assert_int_eq(chunk_index_add_file(ix, "g"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count);
	ck_assert_int_eq(unlinkat(op.dirfd, "g", 0), 0);
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[0].h, ch[0].len, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_count(ix), 0);

	chunk_index_free(ix);
	free(ch);
	free(buf);
	free(other);
	free(data);
}
END_TEST

START_TEST(test_second_location)
{
	size_t n = 200 * 1024, count;
	uint8_t *data = test_random_buf(n, 4), *other = test_random_buf(n, 5), *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct chunk *ch;

	ck_assert_ptr_nonnull(buf);
	count = chunks_of(data, n, &ch);
	put_file("a", data, n);
	put_file("b", data, n);
	ck_assert_int_eq(chunk_index_add_file(ix, "a"), 0);
	ck_assert_int_eq(chunk_index_add_file(ix, "b"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), count);
	ck_assert_uint_eq(chunk_index_locations(ix, &ch[0].h), 2);

	/* The first location is tried first. */
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[0].h, ch[0].len, buf), 0);
	ck_assert_str_eq(op.last, "a");

	patch_file("a", 0, other, n);
	ck_assert_int_eq(chunk_index_fetch(ix, &ch[0].h, ch[0].len, buf), 0);
	ck_assert_mem_eq(buf, data, ch[0].len);
	ck_assert_str_eq(op.last, "b");
	ck_assert_uint_eq(chunk_index_locations(ix, &ch[0].h), 1);

	chunk_index_free(ix);
	free(ch);
	free(buf);
	free(other);
	free(data);
}
END_TEST

START_TEST(test_forget_and_fd_cache)
{
	size_t n = 300 * 1024, na, nb;
	uint8_t *a = test_random_buf(n, 6), *a2 = test_random_buf(n, 7), *b = test_random_buf(n, 8);
	uint8_t *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct chunk *cha, *cha2, *chb;

	ck_assert_ptr_nonnull(buf);
	na = chunks_of(a, n, &cha);
	nb = chunks_of(b, n, &chb);
	put_file("a", a, n);
	put_file("b", b, n);
	ck_assert_int_eq(chunk_index_add_file(ix, "a"), 0);
	ck_assert_int_eq(chunk_index_add_file(ix, "b"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), na + nb);

	/* Cache an fd on "a", then replace "a" and forget it. */
	ck_assert_int_eq(chunk_index_fetch(ix, &cha[0].h, cha[0].len, buf), 0);
	put_file("a", a2, n);
	chunk_index_forget(ix, "a");
	chunk_index_forget(ix, "never-indexed");
	ck_assert_uint_eq(chunk_index_count(ix), nb);
	ck_assert_uint_eq(chunk_index_locations(ix, &cha[0].h), 0);
	ck_assert_int_eq(chunk_index_fetch(ix, &cha[0].h, cha[0].len, buf), -ENOENT);
	ck_assert_int_eq(chunk_index_fetch(ix, &chb[0].h, chb[0].len, buf), 0);

	/* The new "a": fetched through a new fd, not the one on the old file. */
	chunks_of(a2, n, &cha2);
	ck_assert_int_eq(chunk_index_add_file(ix, "a"), 0);
	ck_assert_int_eq(chunk_index_fetch(ix, &cha2[1].h, cha2[1].len, buf), 0);
	ck_assert_mem_eq(buf, a2 + cha2[1].off, cha2[1].len);

	chunk_index_free(ix);
	free(cha);
	free(cha2);
	free(chb);
	free(buf);
	free(a);
	free(a2);
	free(b);
}
END_TEST

START_TEST(test_rename)
{
	size_t n = 100 * 1024;
	uint8_t *x = test_random_buf(n, 9), *y = test_random_buf(n, 10), *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct chunk *chx, *chy;
	unsigned opens;

	ck_assert_ptr_nonnull(buf);
	chunks_of(x, n, &chx);
	chunks_of(y, n, &chy);
	ck_assert_int_eq(mkdirat(op.dirfd, "a", 0755), 0);
	ck_assert_int_eq(mkdirat(op.dirfd, "a/sub", 0755), 0);
	ck_assert_int_eq(mkdirat(op.dirfd, "ab", 0755), 0);
	put_file("a/sub/x", x, n);
	put_file("ab/y", y, n);
	ck_assert_int_eq(chunk_index_add_file(ix, "a/sub/x"), 0);
	ck_assert_int_eq(chunk_index_add_file(ix, "ab/y"), 0);

	/* A file: the cached fd on the old name is dropped. */
	ck_assert_int_eq(chunk_index_fetch(ix, &chx[0].h, chx[0].len, buf), 0);
	ck_assert_int_eq(renameat(op.dirfd, "a/sub/x", op.dirfd, "a/sub/x2"), 0);
	ck_assert_int_eq(chunk_index_rename(ix, "a/sub/x", "a/sub/x2"), 0);
	opens = op.opens;
	ck_assert_int_eq(chunk_index_fetch(ix, &chx[0].h, chx[0].len, buf), 0);
	ck_assert_uint_eq(op.opens, opens + 1);
	ck_assert_str_eq(op.last, "a/sub/x2");

	/* A directory: "a" moves, "ab" does not. */
	ck_assert_int_eq(renameat(op.dirfd, "a", op.dirfd, "c"), 0);
	ck_assert_int_eq(chunk_index_rename(ix, "a", "c"), 0);
	ck_assert_int_eq(chunk_index_fetch(ix, &chx[0].h, chx[0].len, buf), 0);
	ck_assert_str_eq(op.last, "c/sub/x2");
	ck_assert_mem_eq(buf, x, chx[0].len);
	ck_assert_int_eq(chunk_index_fetch(ix, &chy[0].h, chy[0].len, buf), 0);
	ck_assert_str_eq(op.last, "ab/y");
	ck_assert_mem_eq(buf, y, chy[0].len);

	/* Nested or empty names are refused; the same name is a no-op. */
	ck_assert_int_eq(chunk_index_rename(ix, "c", "c/d"), -EINVAL);
	ck_assert_int_eq(chunk_index_rename(ix, "c/sub", "c"), -EINVAL);
	ck_assert_int_eq(chunk_index_rename(ix, "", "z"), -EINVAL);
	ck_assert_int_eq(chunk_index_rename(ix, "c", "c"), 0);
	ck_assert_uint_eq(chunk_index_locations(ix, &chx[0].h), 1);
	ck_assert_uint_eq(chunk_index_locations(ix, &chy[0].h), 1);

	chunk_index_free(ix);
	free(chx);
	free(chy);
	free(buf);
	free(x);
	free(y);
}
END_TEST

static struct hash128 synth(uint64_t i)
{
	struct hash128 h;

	hash128_buf(&i, sizeof(i), &h);
	return h;
}

/* Renaming onto a path replaces what the index held there. */
START_TEST(test_rename_replaces_target)
{
	struct chunk_index *ix = new_index();
	struct hash128 h1 = synth(1), h2 = synth(2), h3 = synth(3);

	ck_assert_int_eq(chunk_index_add(ix, &h1, "s", 0, 10), 0);
	ck_assert_int_eq(chunk_index_add(ix, &h2, "t", 0, 10), 0);
	ck_assert_int_eq(chunk_index_add(ix, &h3, "t/old", 0, 10), 0);
	ck_assert_int_eq(chunk_index_rename(ix, "s", "t"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), 1);
	ck_assert_uint_eq(chunk_index_locations(ix, &h1), 1);
	ck_assert_uint_eq(chunk_index_locations(ix, &h2), 0);
	ck_assert_uint_eq(chunk_index_locations(ix, &h3), 0);
	chunk_index_forget(ix, "t");
	ck_assert_uint_eq(chunk_index_count(ix), 0);
	chunk_index_free(ix);
}
END_TEST

/* Forgetting a directory forgets what is under it, and only that. */
START_TEST(test_forget_tree)
{
	static const char *const paths[] = { "d", "d/x", "d/sub/y", "dd/z", "e/d/w" };
	struct chunk_index *ix = new_index();
	struct hash128 h[ARRAY_SIZE(paths)];

	for (unsigned i = 0; i < ARRAY_SIZE(paths); i++) {
		h[i] = synth(100 + i);
		ck_assert_int_eq(chunk_index_add(ix, &h[i], paths[i], 0, 10), 0);
		ck_assert(chunk_index_has_file(ix, paths[i]));
	}
	ck_assert(!chunk_index_has_file(ix, "e"));
	ck_assert(!chunk_index_has_file(ix, "d/sub"));
	chunk_index_forget(ix, "d/sub");
	ck_assert(!chunk_index_has_file(ix, "d/sub/y"));
	ck_assert_uint_eq(chunk_index_count(ix), 4);
	chunk_index_forget(ix, "d");
	ck_assert_uint_eq(chunk_index_count(ix), 2);
	ck_assert_uint_eq(chunk_index_locations(ix, &h[3]), 1);
	ck_assert_uint_eq(chunk_index_locations(ix, &h[4]), 1);
	ck_assert(!chunk_index_has_file(ix, "d/x"));

	/* A directory moved, then forgotten under its new name. */
	ck_assert_int_eq(chunk_index_rename(ix, "e", "f"), 0);
	ck_assert(chunk_index_has_file(ix, "f/d/w"));
	ck_assert(!chunk_index_has_file(ix, "e/d/w"));
	chunk_index_forget(ix, "e");
	ck_assert_uint_eq(chunk_index_count(ix), 2);
	chunk_index_forget(ix, "f/d");
	ck_assert_uint_eq(chunk_index_count(ix), 1);
	chunk_index_free(ix);
}
END_TEST

START_TEST(test_wrong_len_and_args)
{
	size_t n = 50 * 1024;
	uint8_t *data = test_random_buf(n, 11), *buf = malloc(CHUNK_MAX_SIZE);
	struct chunk_index *ix = new_index();
	struct hash128 h, unknown = synth(99);

	ck_assert_ptr_nonnull(buf);
	hash128_buf(data, n, &h);
	put_file("f", data, n);
	ck_assert_int_eq(chunk_index_add_file(ix, "f"), 0);
	ck_assert_uint_eq(chunk_index_count(ix), 1);
	ck_assert_int_eq(chunk_index_fetch(ix, &h, (uint32_t)n - 1, buf), -ENOENT);
	ck_assert_int_eq(chunk_index_fetch(ix, &h, (uint32_t)n + 1, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_locations(ix, &h), 1);
	ck_assert_int_eq(chunk_index_fetch(ix, &unknown, (uint32_t)n, buf), -ENOENT);
	ck_assert_int_eq(chunk_index_fetch(ix, &h, (uint32_t)n, buf), 0);

	/* Out of descriptors: an error, and nothing is dropped. */
	chunk_index_forget(ix, "f");
	ck_assert_int_eq(chunk_index_add_file(ix, "f"), 0);
	op.fail = -EMFILE;
	ck_assert_int_eq(chunk_index_fetch(ix, &h, (uint32_t)n, buf), -EMFILE);
	ck_assert_uint_eq(chunk_index_locations(ix, &h), 1);
	/* Refused by the opener (a symlink, say): dropped. */
	op.fail = -ELOOP;
	ck_assert_int_eq(chunk_index_fetch(ix, &h, (uint32_t)n, buf), -ENOENT);
	ck_assert_uint_eq(chunk_index_locations(ix, &h), 0);
	op.fail = 0;

	ck_assert_int_eq(chunk_index_add(ix, &h, "", 0, 10), -EINVAL);
	ck_assert_int_eq(chunk_index_add(ix, &h, "f", 0, 0), -EINVAL);
	ck_assert_int_eq(chunk_index_add(ix, &h, "f", UINT64_MAX - 5, 10), -EINVAL);
	ck_assert_uint_eq(chunk_index_count(ix), 0);

	chunk_index_free(ix);
	chunk_index_free(NULL);
	free(buf);
	free(data);
}
END_TEST

START_TEST(test_max_locations)
{
	struct chunk_index *ix = new_index();
	struct hash128 h = synth(7);

	for (unsigned i = 0; i < 10; i++) {
		char path[16];

		snprintf(path, sizeof(path), "p%u", i);
		ck_assert_int_eq(chunk_index_add(ix, &h, path, i, 10), 0);
	}
	ck_assert_uint_eq(chunk_index_locations(ix, &h), CHUNK_INDEX_MAX_LOCS);
	/* The same location twice counts once. */
	chunk_index_forget(ix, "p0");
	ck_assert_int_eq(chunk_index_add(ix, &h, "p1", 1, 10), 0);
	ck_assert_uint_eq(chunk_index_locations(ix, &h), CHUNK_INDEX_MAX_LOCS - 1);
	ck_assert_uint_eq(chunk_index_count(ix), 1);
	chunk_index_free(ix);
}
END_TEST

START_TEST(test_many_entries)
{
	enum { N = 100000, FILES = 1000 };
	struct chunk_index *ix = new_index();
	size_t scans;
	char path[32];

	for (uint64_t i = 0; i < N; i++) {
		struct hash128 h = synth(i);

		snprintf(path, sizeof(path), "dir%u/f%u", (unsigned)(i % FILES) % 10,
			 (unsigned)(i % FILES));
		ck_assert_int_eq(chunk_index_add(ix, &h, path, i * 65536, 65536), 0);
	}
	ck_assert_uint_eq(chunk_index_count(ix), N);
	for (uint64_t i = 0; i < N; i++) {
		struct hash128 h = synth(i);

		ck_assert_uint_eq(chunk_index_locations(ix, &h), 1);
	}
	/* One file with 50,000 chunks, forgotten at once. */
	for (uint64_t i = 0; i < N / 2; i++) {
		struct hash128 h = synth(N + i);

		ck_assert_int_eq(chunk_index_add(ix, &h, "big", i * 65536, 65536), 0);
	}
	ck_assert_uint_eq(chunk_index_count(ix), N + N / 2);
	chunk_index_forget(ix, "big");
	ck_assert_uint_eq(chunk_index_count(ix), N);

	for (unsigned d = 0; d < 10; d++) {
		char from[16], to[16];

		snprintf(from, sizeof(from), "dir%u", d);
		snprintf(to, sizeof(to), "moved%u", d);
		ck_assert_int_eq(chunk_index_rename(ix, from, to), 0);
	}
	for (unsigned f = 0; f < FILES / 2; f++) {
		snprintf(path, sizeof(path), "moved%u/f%u", f % 10, f);
		chunk_index_forget(ix, path);
	}
	ck_assert_uint_eq(chunk_index_count(ix), N / 2);
	for (uint64_t i = 0; i < N; i++) {
		struct hash128 h = synth(i);

		ck_assert_uint_eq(chunk_index_locations(ix, &h), i % FILES < FILES / 2 ? 0 : 1);
	}
	/* Paths never indexed, as when new files arrive: no scan of every file
	 * each time (the work counted, not timed: a scan per forget would be
	 * quadratic). Only a rare hash collision with a directory scans. */
	scans = chunk_index_scans(ix);
	for (unsigned f = 0; f < FILES * 10; f++) {
		snprintf(path, sizeof(path), "new/f%u", f);
		chunk_index_forget(ix, path);
	}
	ck_assert_uint_le(chunk_index_scans(ix) - scans, FILES / 100);
	/* A plain file of a directory: found without a scan either. */
	scans = chunk_index_scans(ix);
	chunk_index_forget(ix, "moved2/f502");
	ck_assert_uint_eq(chunk_index_scans(ix), scans);
	ck_assert_uint_eq(chunk_index_count(ix), N / 2 - N / FILES);
	chunk_index_forget(ix, "dir1");
	ck_assert_uint_eq(chunk_index_count(ix), N / 2 - N / FILES);
	/* A directory is one scan. */
	scans = chunk_index_scans(ix);
	chunk_index_forget(ix, "moved1");
	ck_assert_uint_eq(chunk_index_scans(ix), scans + 1);
	ck_assert_uint_eq(chunk_index_count(ix), N / 2 - N / 20 - N / FILES);
	chunk_index_free(ix);
}
END_TEST

static Suite *index_suite(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("files");
	TCase *tm = tcase_create("memory");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_add_file_fetch_all);
	tcase_add_test(tc, test_stale_dropped);
	tcase_add_test(tc, test_second_location);
	tcase_add_test(tc, test_forget_and_fd_cache);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_wrong_len_and_args);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tm, 30);
	tcase_add_test(tm, test_rename_replaces_target);
	tcase_add_test(tm, test_forget_tree);
	tcase_add_test(tm, test_max_locations);
	tcase_add_test(tm, test_many_entries);
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(index_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
