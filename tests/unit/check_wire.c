/* The wire buffer: round trips, and hostile input (truncated, oversized,
 * trailing garbage) where a failed read must consume nothing. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sync/wire.h"

START_TEST(test_roundtrip)
{
	struct wbuf b;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t n;
	char s[16];

	wbuf_init(&b, 1024);
	ck_assert_int_eq(wbuf_put_u8(&b, 0xab), 0);
	ck_assert_int_eq(wbuf_put_u16(&b, 0x1234), 0);
	ck_assert_int_eq(wbuf_put_u32(&b, 0xdeadbeef), 0);
	ck_assert_int_eq(wbuf_put_u64(&b, 0x0102030405060708ULL), 0);
	ck_assert_int_eq(wbuf_put_bytes(&b, "xyz", 3), 0);
	ck_assert_int_eq(wbuf_put_str(&b, "héllo"), 0);
	ck_assert_uint_eq(wbuf_len(&b), 1 + 2 + 4 + 8 + 4 + 3 + 2 + 6);

	/* Little-endian on the wire, whatever the host. */
	ck_assert_uint_eq(wbuf_ptr(&b)[1], 0x34);
	ck_assert_uint_eq(wbuf_ptr(&b)[2], 0x12);
	ck_assert_uint_eq(wbuf_ptr(&b)[3], 0xef);
	ck_assert_uint_eq(wbuf_ptr(&b)[7], 0x08);

	ck_assert_int_eq(wbuf_get_u8(&b, &u8), 0);
	ck_assert_uint_eq(u8, 0xab);
	ck_assert_int_eq(wbuf_get_u16(&b, &u16), 0);
	ck_assert_uint_eq(u16, 0x1234);
	ck_assert_int_eq(wbuf_get_u32(&b, &u32), 0);
	ck_assert_uint_eq(u32, 0xdeadbeef);
	ck_assert_int_eq(wbuf_get_u64(&b, &u64), 0);
	ck_assert_uint_eq(u64, 0x0102030405060708ULL);
	ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, 16), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(p, "xyz", 3);
	ck_assert_int_eq(wbuf_get_str(&b, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "héllo");
	ck_assert_int_eq(wbuf_end(&b), 0);
	wbuf_release(&b);
}
END_TEST

/* Every getter on every prefix of a valid encoding fails with EBADMSG and
 * leaves the read offset where it was. */
START_TEST(test_truncated_consumes_nothing)
{
	struct wbuf full, b;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t n;
	char s[64], *dup;

	wbuf_init(&full, 1024);
	ck_assert_int_eq(wbuf_put_bytes(&full, "0123456789", 10), 0);
	for (size_t cut = 0; cut < wbuf_len(&full); cut++) {
		wbuf_from(&b, wbuf_ptr(&full), cut);
		ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, 100), -EBADMSG);
		ck_assert_uint_eq(b.off, 0);
		ck_assert_int_eq(wbuf_get_str(&b, s, sizeof(s)), -EBADMSG);
		ck_assert_uint_eq(b.off, 0);
		if (cut < 8) {
			ck_assert_int_eq(wbuf_get_u64(&b, &u64), -EBADMSG);
			ck_assert_uint_eq(b.off, 0);
		}
		if (cut < 4) {
			ck_assert_int_eq(wbuf_get_u32(&b, &u32), -EBADMSG);
			ck_assert_uint_eq(b.off, 0);
		}
		if (cut < 2) {
			ck_assert_int_eq(wbuf_get_u16(&b, &u16), -EBADMSG);
			ck_assert_uint_eq(b.off, 0);
		}
	}

	wbuf_clear(&full);
	ck_assert_int_eq(wbuf_put_str(&full, "a string"), 0);
	for (size_t cut = 0; cut < wbuf_len(&full); cut++) {
		wbuf_from(&b, wbuf_ptr(&full), cut);
		ck_assert_int_eq(wbuf_get_strdup(&b, &dup, 100), -EBADMSG);
		ck_assert_uint_eq(b.off, 0);
	}
	wbuf_release(&full);
}
END_TEST

START_TEST(test_oversized_length)
{
	/* A length prefix far beyond the data or the caller's limit. */
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a', 'b' };
	static const uint8_t over[] = { 5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e' };
	static const uint8_t str[] = { 5, 0, 'a', 'b', 'c', 'd', 'e' };
	struct wbuf b;
	const uint8_t *p;
	size_t n;
	char s[4], *dup;

	wbuf_from(&b, huge, sizeof(huge));
	ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, SIZE_MAX), -EBADMSG);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, 100), -EMSGSIZE);
	ck_assert_uint_eq(b.off, 0);

	wbuf_from(&b, over, sizeof(over));
	ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, 4), -EMSGSIZE);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_int_eq(wbuf_get_bytes_peek(&b, &p, &n, 5), 0);
	ck_assert_int_eq(wbuf_end(&b), 0);

	wbuf_from(&b, str, sizeof(str));
	ck_assert_int_eq(wbuf_get_str(&b, s, sizeof(s)), -EMSGSIZE);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_int_eq(wbuf_get_strdup(&b, &dup, 4), -EMSGSIZE);
	ck_assert_uint_eq(b.off, 0);
	ck_assert_int_eq(wbuf_get_strdup(&b, &dup, 5), 0);
	ck_assert_str_eq(dup, "abcde");
	free(dup);
}
END_TEST

START_TEST(test_nul_in_string)
{
	static const uint8_t str[] = { 3, 0, 'a', 0, 'c' };
	struct wbuf b;
	char s[8];

	wbuf_from(&b, str, sizeof(str));
	ck_assert_int_eq(wbuf_get_str(&b, s, sizeof(s)), -EBADMSG);
	ck_assert_uint_eq(b.off, 0);
}
END_TEST

START_TEST(test_trailing_garbage)
{
	static const uint8_t msg[] = { 1, 0, 0, 0, 0x99 };
	struct wbuf b;
	uint32_t v;

	wbuf_from(&b, msg, sizeof(msg));
	ck_assert_int_eq(wbuf_get_u32(&b, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(wbuf_end(&b), -EBADMSG);
	ck_assert_int_eq(wbuf_skip(&b, 2), -EBADMSG);
	ck_assert_uint_eq(b.off, 4);
	ck_assert_int_eq(wbuf_skip(&b, 1), 0);
	ck_assert_int_eq(wbuf_end(&b), 0);
}
END_TEST

START_TEST(test_put_limit)
{
	struct wbuf b;
	char big[100];

	memset(big, 'x', sizeof(big));
	wbuf_init(&b, 64);
	ck_assert_int_eq(wbuf_put(&b, big, 60), 0);
	/* Refused whole: nothing of it is written. */
	ck_assert_int_eq(wbuf_put_u64(&b, 1), -EMSGSIZE);
	ck_assert_uint_eq(wbuf_len(&b), 60);
	ck_assert_int_eq(wbuf_put_bytes(&b, big, 1), -EMSGSIZE);
	ck_assert_uint_eq(wbuf_len(&b), 60);
	ck_assert_int_eq(wbuf_put_u32(&b, 7), 0);
	ck_assert_uint_eq(wbuf_len(&b), 64);
	ck_assert_int_eq(wbuf_put_u8(&b, 1), -EMSGSIZE);

	/* Consumed space is reused instead of growing past the limit. */
	ck_assert_int_eq(wbuf_skip(&b, 60), 0);
	ck_assert_int_eq(wbuf_put(&b, big, 56), 0);
	ck_assert_uint_eq(wbuf_len(&b), 60);
	ck_assert_uint_le(b.cap, 64);
	wbuf_release(&b);

	/* A string over the u16 prefix. */
	{
		size_t n = 70000;
		char *s = malloc(n + 1);
		ck_assert_ptr_nonnull(s);
		memset(s, 'a', n);
		s[n] = '\0';
		wbuf_init(&b, 1 << 20);
		ck_assert_int_eq(wbuf_put_str(&b, s), -EMSGSIZE);
		ck_assert_uint_eq(wbuf_len(&b), 0);
		wbuf_release(&b);
		free(s);
	}
}
END_TEST

START_TEST(test_borrowed_is_readonly)
{
	static const uint8_t data[] = { 1, 2, 3 };
	struct wbuf b;

	wbuf_from(&b, data, sizeof(data));
	ck_assert_int_eq(wbuf_put_u8(&b, 4), -EROFS);
	ck_assert_uint_eq(wbuf_len(&b), 3);
	wbuf_release(&b);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc = tcase_create("wbuf");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_truncated_consumes_nothing);
	tcase_add_test(tc, test_oversized_length);
	tcase_add_test(tc, test_nul_in_string);
	tcase_add_test(tc, test_trailing_garbage);
	tcase_add_test(tc, test_put_limit);
	tcase_add_test(tc, test_borrowed_is_readonly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
