/* Escaping untrusted text for logs and terminals (escape.h): what passes,
 * what becomes \xNN, and truncation that never splits an escape. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync/escape.h"
#include "sync/log.h"

static const char *esc(const char *in, size_t n, unsigned flags)
{
	static char out[512];

	esc_buf(out, sizeof(out), in, n, flags);
	return out;
}

#define ESC(s) esc((s), sizeof(s) - 1, 0)

START_TEST(test_plain_passes)
{
	ck_assert_str_eq(ESC("dataset/a b.csv"), "dataset/a b.csv");
	ck_assert_str_eq(ESC("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82");
	ck_assert(esc_is_clean("iris.sealed"));
	ck_assert(!esc_is_clean("a\nb"));
}
END_TEST

START_TEST(test_controls_escaped)
{
	/* A newline cannot forge a second line; ESC cannot reach a terminal. */
	ck_assert_str_eq(ESC("a\nenclaved: error: forged"), "a\\x0aenclaved: error: forged");
	ck_assert_str_eq(ESC("\x1b[2J\x1b]0;t\x07"), "\\x1b[2J\\x1b]0;t\\x07");
	ck_assert_str_eq(ESC("a\rb\tc\x7f"), "a\\x0db\\x09c\\x7f");
	ck_assert_str_eq(esc("a\0b", 3, 0), "a\\x00b");
	ck_assert_str_eq(ESC("back\\slash"), "back\\\\slash");
	/* With ESC_KEEP_NL, newline and tab pass, nothing else does. */
	ck_assert_str_eq(esc("l1\n\tl2\r\x1b", 8, ESC_KEEP_NL), "l1\n\tl2\\x0d\\x1b");
}
END_TEST

START_TEST(test_bad_utf8_and_c1)
{
	/* C1 CSI (U+009B), overlong '/', a surrogate, a lone continuation,
	 * a truncated sequence, beyond U+10FFFF. */
	ck_assert_str_eq(ESC("\xc2\x9b" "1m"), "\\xc2\\x9b1m");
	ck_assert_str_eq(ESC("\xc0\xaf"), "\\xc0\\xaf");
	ck_assert_str_eq(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	ck_assert_str_eq(ESC("\x80x"), "\\x80x");
	ck_assert_str_eq(ESC("\xe2\x82"), "\\xe2\\x82");
	ck_assert_str_eq(ESC("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	/* Bidi overrides and line separators reorder or break what is read. */
	ck_assert_str_eq(ESC("a\xe2\x80\xae" "b"), "a\\xe2\\x80\\xaeb");
	ck_assert_str_eq(ESC("a\xe2\x80\xa8" "b"), "a\\xe2\\x80\\xa8b");
	ck_assert_str_eq(ESC("\xe2\x81\xa6"), "\\xe2\\x81\\xa6");
}
END_TEST

START_TEST(test_truncation)
{
	char out[8];
	size_t used;

	/* "ab" fits, the escape of \n (4 bytes) does not: nothing half-written. */
	used = esc_buf(out, 7, "ab\n\ncd", 6, 0);
	ck_assert_uint_eq(used, 3);
	ck_assert_str_eq(out, "ab\\x0a");
	used = esc_buf(out, 4, "\xe2\x82\xac" "x", 4, 0);
	ck_assert_uint_eq(used, 3);
	ck_assert_str_eq(out, "\xe2\x82\xac");
	used = esc_buf(out, 3, "\xe2\x82\xac", 3, 0);
	ck_assert_uint_eq(used, 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(esc_clean_prefix("abc\x1b" "d", 5, 0), 3);
}
END_TEST

START_TEST(test_log_lines_escaped)
{
	int p[2], saved = dup(2);
	char buf[512];
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	dup2(p[1], 2);
	log_setup("test", LOG_INFO, false);
	log_info("package %s: ready", "x\nenclaved: error: forged\x1b[31m");
	dup2(saved, 2);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "test: info: package x\\x0aenclaved: error: forged\\x1b[31m: ready\n");
	close(p[0]);
	close(saved);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_plain_passes);
	tcase_add_test(tc, test_controls_escaped);
	tcase_add_test(tc, test_bad_utf8_and_c1);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_log_lines_escaped);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
