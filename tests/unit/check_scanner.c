/* The scanner: the items it makes of a file are the chunker's cuts with
 * their names, the holes and the whole file's digest, the same on its thread
 * as on the caller's; a file that shrinks is an error; a file dropped midway
 * leaves its fd alone. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/chunker.h"
#include "sync/hash.h"
#include "sync/proto.h"
#include "sync/scanner.h"
#include "sync/util.h"
#include "testrand.h"

#define MiB (1024u * 1024)
#define MAX_ITEMS 4096

static char dir[] = "/tmp/check_scanner.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_scanner.XXXXXX");
}

/* A file named name in the test's directory holding b[0, n); returns an fd
 * open for reading. */
static int put_file(const char *name, const uint8_t *b, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_pwrite_all(fd, b, n, 0), 0);
	return fd;
}

/* The items of fd until END or ERROR (that one included). */
static size_t collect(struct scanner *s, int fd, uint64_t size, struct scan_item *it)
{
	size_t n = 0;

	scanner_start(s, fd, size);
	do {
		ck_assert_uint_lt(n, MAX_ITEMS);
		scanner_next(s, &it[n]);
	} while (it[n].kind != SCAN_END && it[n++].kind != SCAN_ERROR);
	return it[n].kind == SCAN_END ? n + 1 : n;
}

/* Chunk items exactly as the chunker cuts b[from, to), with their names;
 * returns the index after them. */
static size_t expect_chunks(const struct scan_item *it, size_t i, const uint8_t *b, size_t from, size_t to)
{
	struct chunker c = CHUNKER_INIT;
	size_t off = from;

	while (off < to) {
		size_t k = chunker_scan(&c, b + off, to - off);
		size_t len = k ? k : to - off;
		struct hash128 h;

		ck_assert_int_eq(it[i].kind, SCAN_CHUNK);
		ck_assert_uint_eq(it[i].off, off);
		ck_assert_uint_eq(it[i].len, len);
		hash128_buf(b + off, len, &h);
		ck_assert(hash128_eq(&h, &it[i].h));
		off += len;
		i++;
		if (!k)
			break;
	}
	return i;
}

static struct scan_item items[MAX_ITEMS];

/* Both ways of scanning, a file large enough for the thread and one below
 * it: the chunker's cuts, then END with the digest of the whole file. */
START_TEST(test_chunks_and_digest)
{
	static const size_t sizes[] = { 9 * MiB + 12345, SCAN_THREAD_MIN - 1, 1, 0 };
	struct scanner *s = scanner_new(_i == 1);

	ck_assert_ptr_nonnull(s);
	for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k], count, i;
		uint8_t *b = test_random_buf(n, 7 + k);
		int fd = put_file("f", b, n);
		struct hash128 whole;

		count = collect(s, fd, n, items);
		ck_assert(scanner_threaded(s) == (_i == 1 && n >= SCAN_THREAD_MIN));
		i = expect_chunks(items, 0, b, 0, n);
		ck_assert_uint_eq(i + 1, count);
		ck_assert_int_eq(items[i].kind, SCAN_END);
		hash128_buf(b, n, &whole);
		ck_assert(hash128_eq(&whole, &items[i].h));
		/* Done: a further item is an error, and nothing reads fd. */
		scanner_next(s, &items[0]);
		ck_assert_int_eq(items[0].kind, SCAN_ERROR);
		ck_assert_int_eq(items[0].err, -EINVAL);
		close(fd);
		free(b);
	}
	ck_assert_uint_eq(scanner_cpu_ns(s) > 0, _i == 1);
	scanner_free(s);
}
END_TEST

/* Data, a short hole, data, a long hole, data, a long hole to the end. The
 * long holes are HOLE items (where the file system reports holes) and end
 * the chunk before them; the short one reads as zeros; the digest covers
 * the zeros either way. */
START_TEST(test_holes)
{
	const size_t size = 6 * MiB, a = 1 * MiB, b2 = 3 * MiB, c = 4 * MiB + 98304;
	uint8_t *b = test_random_buf(size, 11), *d = calloc(1, size);
	struct scanner *s = scanner_new(_i == 1);
	size_t count, i = 0;
	struct hash128 whole;
	bool holes, punched;
	int fd;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(d);
	/* [0, a) data with 8 KiB of zeros (a hole, where it can be) at 73 pages; [a, b2) hole; [b2, c)
	 * data; [c, size) hole. */
	memcpy(d, b, a);
	memcpy(d + b2, b + b2, c - b2);
	memset(d + 73 * 4096, 0, 8192);
	fd = put_file("sparse", d, a);
	punched = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 73 * 4096, 8192) == 0;
	ck_assert(punched || errno == EOPNOTSUPP);
	ck_assert_int_eq(io_pwrite_all(fd, d + b2, c - b2, (off_t)b2), 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	holes = lseek(fd, 0, SEEK_HOLE) < (off_t)size && lseek(fd, (off_t)a, SEEK_DATA) == (off_t)b2;
	/* A file system that punches holes reports them (ext4, xfs, tmpfs). */
	ck_assert(holes || !punched);

	count = collect(s, fd, size, items);
	hash128_buf(d, size, &whole);
	ck_assert_int_eq(items[count - 1].kind, SCAN_END);
	ck_assert(hash128_eq(&whole, &items[count - 1].h));
	if (holes) {
		i = expect_chunks(items, i, d, 0, a);
		ck_assert_int_eq(items[i].kind, SCAN_HOLE);
		ck_assert_uint_eq(items[i].off, a);
		ck_assert_uint_eq(items[i].len, b2 - a);
		i = expect_chunks(items, i + 1, d, b2, c);
		ck_assert_int_eq(items[i].kind, SCAN_HOLE);
		ck_assert_uint_eq(items[i].off, c);
		ck_assert_uint_eq(items[i].len, size - c);
		ck_assert_uint_eq(i + 2, count);
	} else {
		i = expect_chunks(items, i, d, 0, size);
		ck_assert_uint_eq(i + 1, count);
	}
	close(fd);
	scanner_free(s);
	free(b);
	free(d);
}
END_TEST

/* The file is shorter than the size it was started with: the chunks up to
 * its end, then ERROR -ESTALE. */
START_TEST(test_shrunk)
{
	const size_t n = 5 * MiB;
	uint8_t *b = test_random_buf(n, 13);
	struct scanner *s = scanner_new(_i == 1);
	int fd = put_file("short", b, n);
	size_t count;

	count = collect(s, fd, n + 1, items);
	ck_assert_int_eq(items[count - 1].kind, SCAN_ERROR);
	ck_assert_int_eq(items[count - 1].err, -ESTALE);
	for (size_t i = 0; i + 1 < count; i++)
		ck_assert_int_eq(items[i].kind, SCAN_CHUNK);
	close(fd);
	scanner_free(s);
	free(b);
}
END_TEST

/* Dropped midway, with the thread ahead: the fd can be closed at once, the
 * next file comes out whole, and a scanner freed midway stops too. */
START_TEST(test_stop_midway)
{
	const size_t big = 32 * MiB, n = 5 * MiB;
	uint8_t *b = test_random_buf(big, 17);
	struct scanner *s = scanner_new(true);
	struct scan_item it;
	size_t count, i;
	int fd;

	ck_assert_ptr_nonnull(s);
	fd = put_file("big", b, big);
	scanner_start(s, fd, big);
	ck_assert(scanner_threaded(s));
	for (i = 0; i < 3; i++) {
		scanner_next(s, &it);
		ck_assert_int_eq(it.kind, SCAN_CHUNK);
	}
	scanner_stop(s);
	ck_assert(!scanner_threaded(s));
	close(fd);

	fd = put_file("next", b + 1000, n);
	count = collect(s, fd, n, items);
	i = expect_chunks(items, 0, b + 1000, 0, n);
	ck_assert_uint_eq(i + 1, count);
	close(fd);

	fd = put_file("big2", b, big);
	scanner_start(s, fd, big);
	scanner_next(s, &it);
	ck_assert_int_eq(it.kind, SCAN_CHUNK);
	scanner_free(s);
	close(fd);
	free(b);
}
END_TEST

/* Before any file, scanner_next is an error. */
START_TEST(test_no_file)
{
	struct scanner *s = scanner_new(_i == 1);
	struct scan_item it;

	scanner_next(s, &it);
	ck_assert_int_eq(it.kind, SCAN_ERROR);
	ck_assert_int_eq(it.err, -EINVAL);
	scanner_stop(s);
	scanner_free(s);
	scanner_free(NULL);
}
END_TEST

static Suite *scanner_suite(void)
{
	Suite *s = suite_create("scanner");
	TCase *tc = tcase_create("scanner");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	/* _i: 0 on the caller's thread, 1 with the scanner's own. */
	tcase_add_loop_test(tc, test_chunks_and_digest, 0, 2);
	tcase_add_loop_test(tc, test_holes, 0, 2);
	tcase_add_loop_test(tc, test_shrunk, 0, 2);
	tcase_add_test(tc, test_stop_midway);
	tcase_add_loop_test(tc, test_no_file, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scanner_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
