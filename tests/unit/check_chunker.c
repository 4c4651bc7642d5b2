/* The FastCDC chunker: size bounds, determinism however the input is split,
 * locality of edits, and cut points pinned so that the protocol cannot drift. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sync/chunker.h"
#include "sync/hash.h"
#include "sync/util.h"
#include "testrand.h"

#define MiB (1024u * 1024)

/* The chunk end offsets of b[0..n), fed in pieces of piece(i) bytes (or whole
 * when piece is NULL). The final chunk counts. Returns the number of chunks. */
static size_t cut_points(const uint8_t *b, size_t n, size_t (*piece)(uint64_t *), size_t **out)
{
	struct chunker c = CHUNKER_INIT;
	size_t cap = n / CHUNK_MIN_SIZE + 2, count = 0, start = 0, off = 0;
	uint64_t seed = 42;
	size_t *ends = malloc(cap * sizeof(*ends));

	ck_assert_ptr_nonnull(ends);
	while (off < n) {
		size_t len = piece ? piece(&seed) : n - off, k;

		len = MIN(len, n - off);
		k = chunker_scan(&c, b + off, len);

		ck_assert_uint_le(k, len);
		if (!k) {
			off += len;
			continue;
		}
		off += k;
		ck_assert_uint_lt(count, cap);
		ends[count++] = off;
		ck_assert_uint_ge(off - start, CHUNK_MIN_SIZE);
		ck_assert_uint_le(off - start, CHUNK_MAX_SIZE);
		start = off;
	}
	if (start < n) {
		ck_assert_uint_le(n - start, CHUNK_MAX_SIZE);
		ck_assert_uint_lt(count, cap);
		ends[count++] = n;
	}
	*out = ends;
	return count;
}

static size_t piece_one(uint64_t *seed)
{
	(void)seed;
	return 1;
}

static size_t piece_random(uint64_t *seed)
{
	uint64_t r = test_rng_next(seed);

	/* Mostly small pieces, sometimes larger than a whole chunk. */
	return 1 + (r & 7 ? r % 4096 : r % (2 * CHUNK_MAX_SIZE));
}

static struct hash128 *chunk_hashes(const uint8_t *b, size_t n, size_t *count)
{
	size_t *ends;
	struct hash128 *h;

	*count = cut_points(b, n, NULL, &ends);
	h = calloc(*count + 1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	for (size_t i = 0, start = 0; i < *count; start = ends[i++])
		hash128_buf(b + start, ends[i] - start, &h[i]);
	free(ends);
	return h;
}

START_TEST(test_random_sizes)
{
	size_t n = 64 * MiB, count, *ends;
	uint8_t *b = test_random_buf(n, 1);
	double mean;

	count = cut_points(b, n, NULL, &ends);
	mean = (double)n / (double)count;
	ck_assert_double_ge(mean, 40.0 * 1024);
	ck_assert_double_le(mean, 100.0 * 1024);
	free(ends);
	free(b);
}
END_TEST

START_TEST(test_zeros_cut_at_max)
{
	size_t n = 4 * CHUNK_MAX_SIZE + 100, count, *ends;
	uint8_t *b = calloc(1, n);

	ck_assert_ptr_nonnull(b);
	count = cut_points(b, n, NULL, &ends);
	ck_assert_uint_eq(count, 5);
	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(ends[i], (i + 1) * CHUNK_MAX_SIZE);
	ck_assert_uint_eq(ends[4], n);
	free(ends);
	free(b);
}
END_TEST

START_TEST(test_split_invariance)
{
	size_t n = 2 * MiB, whole_n, one_n, rnd_n, *whole, *one, *rnd;
	uint8_t *b = test_random_buf(n, 2);

	whole_n = cut_points(b, n, NULL, &whole);
	one_n = cut_points(b, n, piece_one, &one);
	ck_assert_uint_gt(whole_n, 10);
	ck_assert_uint_eq(one_n, whole_n);
	ck_assert_mem_eq(one, whole, whole_n * sizeof(*whole));
	free(one);
	free(whole);
	free(b);

	n = 32 * MiB;
	b = test_random_buf(n, 3);
	whole_n = cut_points(b, n, NULL, &whole);
	rnd_n = cut_points(b, n, piece_random, &rnd);
	ck_assert_uint_eq(rnd_n, whole_n);
	ck_assert_mem_eq(rnd, whole, whole_n * sizeof(*whole));
	free(rnd);
	free(whole);
	free(b);
}
END_TEST

/* Chunks that end before `at` are unchanged, at most two chunks differ, and
 * everything after them is identical again. */
static void check_locality(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, size_t at)
{
	size_t na, nb, pre = 0, suf = 0, before = 0, *ends;
	struct hash128 *ha = chunk_hashes(a, an, &na), *hb = chunk_hashes(b, bn, &nb);

	cut_points(a, an, NULL, &ends);
	while (before < na && ends[before] <= at)
		before++;
	free(ends);
	while (pre < na && pre < nb && hash128_eq(&ha[pre], &hb[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && hash128_eq(&ha[na - 1 - suf], &hb[nb - 1 - suf]))
		suf++;
	ck_assert_uint_ge(pre, before);
	ck_assert_uint_gt(suf, 0);
	ck_assert_uint_le(na - pre - suf, 2);
	ck_assert_uint_le(nb - pre - suf, 2);
	ck_assert_uint_ge(nb - pre - suf, 1);
	free(ha);
	free(hb);
}

START_TEST(test_locality)
{
	static const size_t at_list[] = { 4 * MiB, 4 * MiB + 12345, 1000, 7 * MiB + 1 };
	size_t n = 8 * MiB;
	uint8_t *a = test_random_buf(n, 4);
	uint8_t *b = malloc(n + 1);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < ARRAY_SIZE(at_list); i++) {
		size_t at = at_list[i];

		/* Insert one byte. */
		memcpy(b, a, at);
		b[at] = 0x5a;
		memcpy(b + at + 1, a + at, n - at);
		check_locality(a, n, b, n + 1, at);

		/* Overwrite one byte. */
		memcpy(b, a, n);
		b[at] ^= 0xff;
		check_locality(a, n, b, n, at);
	}
	free(a);
	free(b);
}
END_TEST

START_TEST(test_empty)
{
	struct chunker c = CHUNKER_INIT;
	uint8_t byte = 0;

	ck_assert_uint_eq(chunker_scan(&c, &byte, 0), 0);
	ck_assert_uint_eq(c.chunk_size, 0);
	ck_assert_uint_eq(chunker_scan(&c, &byte, 1), 0);
	ck_assert_uint_eq(c.chunk_size, 1);
	chunker_reset(&c);
	ck_assert_uint_eq(c.chunk_size, 0);
	ck_assert_uint_eq(c.hash, 0);
}
END_TEST

/* Seeds of 64-byte windows found by search: the hash at the end of the first
 * passes the strict mask, that of the second only the loose one. */
#define STRICT_WINDOW_SEED 104383
#define LOOSE_WINDOW_SEED  5471

/* The first cut in zeros with the window ending at length `end`. */
static size_t cut_with_window(uint64_t seed, size_t end)
{
	static uint8_t b[CHUNK_MAX_SIZE + 64];
	struct chunker c = CHUNKER_INIT;

	memset(b, 0, sizeof(b));
	for (size_t i = end - 64; i < end; i += 8) {
		uint64_t v = test_rng_next(&seed);
		memcpy(b + i, &v, 8);
	}
	return chunker_scan(&c, b, sizeof(b));
}

/* Exactly where each mask applies: no cut below MIN, the strict mask in
 * [MIN, AVG), the loose one in [AVG, MAX). */
START_TEST(test_mask_boundaries)
{
	const size_t lo = CHUNK_MIN_SIZE, avg = CHUNK_AVG_SIZE, hi = CHUNK_MAX_SIZE;
	const uint64_t strict = STRICT_WINDOW_SEED, loose = LOOSE_WINDOW_SEED;

	ck_assert_uint_ne(cut_with_window(strict, 64), 64);
	ck_assert_uint_ne(cut_with_window(strict, lo - 1), lo - 1);
	ck_assert_uint_ge(cut_with_window(strict, lo - 1), lo);
	ck_assert_uint_eq(cut_with_window(strict, lo), lo);
	ck_assert_uint_eq(cut_with_window(strict, avg - 1), avg - 1);
	ck_assert_uint_eq(cut_with_window(strict, hi - 1), hi - 1);

	ck_assert_uint_ne(cut_with_window(loose, lo), lo);
	ck_assert_uint_ne(cut_with_window(loose, avg - 1), avg - 1);
	ck_assert_uint_eq(cut_with_window(loose, avg), avg);
	ck_assert_uint_eq(cut_with_window(loose, hi - 1), hi - 1);
	/* Without a matching window, zeros are cut at MAX. */
	ck_assert_uint_eq(cut_with_window(loose, hi + 64), hi);
}
END_TEST

/* The scan tests bytes eight at a time: a cut lands exactly at each of
 * sixteen consecutive lengths in both regions, found whole or fed in 3-byte
 * pieces (every alignment of the round and of the bytes left over). */
START_TEST(test_cut_at_every_offset)
{
	static const size_t base[] = { CHUNK_MIN_SIZE + 1000, CHUNK_AVG_SIZE + 1000 };
	static uint8_t b[CHUNK_MAX_SIZE];

	for (size_t r = 0; r < ARRAY_SIZE(base); r++)
		for (size_t end = base[r]; end < base[r] + 16; end++) {
			uint64_t seed = r ? LOOSE_WINDOW_SEED : STRICT_WINDOW_SEED;
			struct chunker c = CHUNKER_INIT;
			size_t off = 0, k = 0;

			ck_assert_uint_eq(cut_with_window(seed, end), end);
			memset(b, 0, sizeof(b));
			for (size_t i = end - 64; i < end; i += 8) {
				uint64_t v = test_rng_next(&seed);
				memcpy(b + i, &v, 8);
			}
			while (off < sizeof(b) && !(k = chunker_scan(&c, b + off, MIN(3, sizeof(b) - off))))
				off += 3;
			ck_assert_uint_eq(off + k, end);
		}
}
END_TEST

/* The cut points are part of the protocol (both peers must agree on them): a
 * change to the gear table, the masks or the sizes fails here. */
START_TEST(test_pinned_cut_points)
{
	static const size_t expect[] = {
		67322,   160742,  258066,  331662,  405433,  471540,  544612,  613100,
		709598,  791470,  859063,  925946,  1007271, 1091294, 1200412, 1276219,
		1333959, 1410265, 1527614, 1546635, 1625168, 1691905, 1767651, 1833635,
		1899502, 1971095, 2044850, 2073277, 2097152,
	};
	size_t n = 2 * MiB, count, *ends;
	uint8_t *b = test_random_buf(n, 5);

	count = cut_points(b, n, NULL, &ends);
	ck_assert_uint_eq(count, ARRAY_SIZE(expect));
	for (size_t i = 0; i < count; i++)
		ck_assert_uint_eq(ends[i], expect[i]);
	free(ends);
	free(b);
}
END_TEST

static Suite *chunker_suite(void)
{
	Suite *s = suite_create("chunker");
	TCase *tc = tcase_create("fastcdc");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_sizes);
	tcase_add_test(tc, test_zeros_cut_at_max);
	tcase_add_test(tc, test_split_invariance);
	tcase_add_test(tc, test_locality);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_mask_boundaries);
	tcase_add_test(tc, test_cut_at_every_offset);
	tcase_add_test(tc, test_pinned_cut_points);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chunker_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
