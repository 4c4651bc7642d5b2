/* Chunk and file names (sync/hash.c): pinned XXH3-128 digests, and the
 * same digests whichever libxxhash entry point computes them (the
 * dispatching ones where configure found them, the plain ones here) and
 * however a stream is split. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "sync/hash.h"
#include "sync/util.h"
#include "testrand.h"

static uint8_t pattern_at(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 7) * 17 + 5);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++)
		b[i] = pattern_at(i);
	return b;
}

/* The plain (non-dispatching) entry point, canonical form. */
static void plain128(const void *p, size_t n, struct hash128 *out)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out->b, c.digest, HASH128_LEN);
}

/* XXH3-128 of pattern(len), from an implementation outside this project
 * (python3-xxhash, which carries its own copy of xxHash 0.8.1). Lengths
 * cover each of XXH3's code paths: 0, 1-3, 4-8, 9-16, 17-128, 129-240,
 * and the long-input loop with and without a partial stripe and block. */
static const struct {
	size_t len;
	const char *hex;
} known[] = {
	{ 0, "99aa06d3014798d86001c324468d497f" },
	{ 1, "e1325e21416bcdb2929e358d27ae3ee2" },
	{ 3, "6314f6269026169330069c90b99182f2" },
	{ 4, "1c0809605e05a2b1bee8c76c7e70385d" },
	{ 8, "f638c7d0289261a59dab33761e888bdc" },
	{ 9, "be5e2367d8076a4e80315196bcceb453" },
	{ 16, "b7c9f9df6d6bd8b075750de25ef8b2ce" },
	{ 17, "d633e30463db164a1210b42b2844b708" },
	{ 128, "1f89463d95789d07684810c47dfc23b1" },
	{ 129, "b1aadb80efa83001ba5f106439e0fb24" },
	{ 240, "23edfc615d9c14053f41115d0f8a9129" },
	{ 241, "269a82b10a1ec11326dc8f598a4b4699" },
	{ 255, "249876796921944fe4b606aa56e9387c" },
	{ 256, "a0e33a700ca07d31ab437f568c67018d" },
	{ 1023, "7e11185154f6b450a44b4618318e0a43" },
	{ 1024, "569f4bcd3e03f3d8d0449ffb55831268" },
	{ 1025, "ee73d05012272a2c7c86b9ce06886635" },
	{ 4096, "78e796ad183cd9a00d9ed01a462c6662" },
	{ 65543, "b68c0882f9935a4b023a2b8ac007c8eb" },
	{ 1048589, "bcff20a486441e4987075f897fa558c4" },
};

START_TEST(test_known_digests)
{
	char hex[HASH128_HEX_LEN];
	struct hash128 h;
	uint8_t *b = pattern(known[_i].len);

	hash128_buf(b, known[_i].len, &h);
	ck_assert_str_eq(hash128_hex(&h, hex), known[_i].hex);
	plain128(b, known[_i].len, &h);
	ck_assert_str_eq(hash128_hex(&h, hex), known[_i].hex);
	free(b);
}
END_TEST

/* Every length up to a few stripes' worth, then some long ones, on random
 * content at shifting alignments: the entry point hash.c uses agrees with
 * the plain one. */
START_TEST(test_same_as_plain)
{
	enum { MAX = 4200, ALIGN = 64 };
	static const size_t longs[] = { 8191, 65536, 65537, 262144 + 100, 3 << 20 };
	uint8_t *b = test_random_buf(MAX + ALIGN, 42), *big;
	struct hash128 a, p;

	for (size_t n = 0; n <= MAX; n++) {
		const uint8_t *q = b + n % ALIGN;

		hash128_buf(q, n, &a);
		plain128(q, n, &p);
		ck_assert_msg(hash128_eq(&a, &p), "length %zu differs", n);
	}
	free(b);
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		big = test_random_buf(longs[i] + 1, 1000 + i);
		hash128_buf(big + 1, longs[i], &a);
		plain128(big + 1, longs[i], &p);
		ck_assert_msg(hash128_eq(&a, &p), "length %zu differs", longs[i]);
		free(big);
	}
}
END_TEST

/* A stream fed in random pieces gives the one-shot digest. */
START_TEST(test_stream_split)
{
	size_t n = (3u << 20) + 12345;
	uint8_t *b = test_random_buf(n, 7);
	struct hash_stream *s = hash_stream_new();
	struct hash128 one, st;
	uint64_t seed = 99;

	ck_assert_ptr_nonnull(s);
	hash128_buf(b, n, &one);
	for (int round = 0; round < 4; round++) {
		size_t off = 0;

		hash_stream_reset(s);
		while (off < n) {
			/* Pieces from 0 bytes to 300 KiB, small ones often. */
			uint64_t r = test_rng_next(&seed);
			size_t k = (size_t)(r % 4 == 0 ? r % 300000 : r % 300);

			k = MIN(k, n - off);
			hash_stream_update(s, b + off, k);
			off += k;
		}
		hash_stream_digest(s, &st);
		ck_assert(hash128_eq(&one, &st));
	}
	hash_stream_free(s);
	free(b);
}
END_TEST

/* hash_stream_zeros(n) is n zero bytes, between data, across its 64 KiB
 * pieces. */
START_TEST(test_stream_zeros)
{
	static const size_t lens[] = { 0, 1, 65535, 65536, 65537, 200000 };
	uint8_t *b = calloc(1, 200000 + 2);
	struct hash_stream *s = hash_stream_new();
	struct hash128 one, st;

	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		b[0] = b[lens[i] + 1] = 0x5a;
		hash128_buf(b, lens[i] + 2, &one);
		hash_stream_reset(s);
		hash_stream_update(s, b, 1);
		hash_stream_zeros(s, lens[i]);
		hash_stream_update(s, b + lens[i] + 1, 1);
		hash_stream_digest(s, &st);
		ck_assert(hash128_eq(&one, &st));
		b[lens[i] + 1] = 0;
	}
	hash_stream_free(s);
	free(b);
}
END_TEST

START_TEST(test_fd)
{
	char path[] = "/tmp/check_hash.XXXXXX";
	size_t n = known[sizeof(known) / sizeof(known[0]) - 1].len;
	uint8_t *b = pattern(n);
	char hex[HASH128_HEX_LEN];
	struct hash128 h;
	uint64_t size = 0;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
	ck_assert_int_eq(hash128_fd(fd, &h, &size), 0);
	ck_assert_uint_eq(size, n);
	ck_assert_str_eq(hash128_hex(&h, hex), known[sizeof(known) / sizeof(known[0]) - 1].hex);
	close(fd);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_known_digests, 0, (int)(sizeof(known) / sizeof(known[0])));
	tcase_add_test(tc, test_same_as_plain);
	tcase_add_test(tc, test_stream_split);
	tcase_add_test(tc, test_stream_zeros);
	tcase_add_test(tc, test_fd);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
