/* Reproducible pseudo-random test data for the unit tests: a splitmix64
 * sequence from a seed, and buffers filled from it.
 *
 *   test_rng_next(&state)        the next 64 bits
 *   test_random_buf(n, seed)     n bytes (malloc'd with one byte to spare,
 *                                room for an inserted byte; never NULL)
 */
#ifndef EFS_TESTS_TESTRAND_H
#define EFS_TESTS_TESTRAND_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t test_rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline uint8_t *test_random_buf(size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n + 1);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = test_rng_next(&seed);
		memcpy(b + i, &v, n - i < 8 ? n - i : 8);
	}
	return b;
}

#endif
