/* Job lines: shell-like word splitting without any expansion, its errors and
 * limits, and resolution of the words against a manifest entry. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclave/jobline.h"
#include "enclave/manifest.h"
#include "sync/util.h"

#define MAXW 8

static const struct {
	const char *line;
	const char *words[MAXW]; /* NULL-terminated */
} good[] = {
	{ "iris.sealed", { "iris.sealed" } },
	{ "iris.sealed predict -d /dataset -o /output",
	  { "iris.sealed", "predict", "-d", "/dataset", "-o", "/output" } },
	{ "iris.sealed predict -d /dataset\n", { "iris.sealed", "predict", "-d", "/dataset" } },
	{ "  a \t b\t\t", { "a", "b" } },
	{ "\ta", { "a" } },
	{ "a 'b c' d", { "a", "b c", "d" } },
	{ "a \"b c\"", { "a", "b c" } },
	{ "a'b'c", { "abc" } },
	{ "a\"b\"c 'd'\"e\"f", { "abc", "def" } },
	{ "\"a\\\"b\"", { "a\"b" } },
	{ "\"a\\\\b\"", { "a\\b" } },
	{ "\"\\$HOME \\`x\\`\"", { "$HOME `x`" } },
	/* Inside double quotes, any other backslash is kept. */
	{ "\"a\\nb\\'c\"", { "a\\nb\\'c" } },
	/* Inside single quotes, a backslash is just a backslash. */
	{ "'a\\'", { "a\\" } },
	{ "'a\"b'", { "a\"b" } },
	{ "\"a'b\"", { "a'b" } },
	/* Outside quotes, a backslash quotes the next character. */
	{ "a\\ b c\\\\d \\'e \\\"f", { "a b", "c\\d", "'e", "\"f" } },
	{ "a\\\tb", { "a\tb" } },
	{ "\\$HOME", { "$HOME" } },
	/* Empty quotes make an empty word. */
	{ "p \"\" ''", { "p", "", "" } },
	{ "p ''\"\"", { "p", "" } },
	/* No expansion of any kind. */
	{ "p $HOME ${HOME} $(id) `id`", { "p", "$HOME", "${HOME}", "$(id)", "`id`" } },
	{ "p * ?.txt [a] ~ ~root", { "p", "*", "?.txt", "[a]", "~", "~root" } },
	{ "p {a,b} a;b a|b a&b", { "p", "{a,b}", "a;b", "a|b", "a&b" } },
	{ "p <in >out 2>&1 #c", { "p", "<in", ">out", "2>&1", "#c" } },
	{ "p a=b !x", { "p", "a=b", "!x" } },
	/* Tabs inside quotes are kept, UTF-8 passes through. */
	{ "p 'a\tb' \"c\td\"", { "p", "a\tb", "c\td" } },
	{ "p données \"日本語 テキスト\" é'è'", { "p", "données", "日本語 テキスト", "éè" } },
};

START_TEST(test_split_good)
{
	struct jobline jl;
	char err[256] = "";
	size_t n = 0;
	int r;

	while (n < MAXW && good[_i].words[n])
		n++;
	r = jobline_split(good[_i].line, strlen(good[_i].line), &jl, err, sizeof(err));
	ck_assert_msg(r == 0, "'%s': %d %s", good[_i].line, r, err);
	ck_assert_uint_eq(jl.nwords, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(jl.words[i], good[_i].words[i]);
	ck_assert_ptr_null(jl.words[n]);
	jobline_release(&jl);
	ck_assert_ptr_null(jl.words);
	ck_assert_uint_eq(jl.nwords, 0);
	jobline_release(&jl);
}
END_TEST

static const struct {
	const char *line;
	size_t len; /* 0: strlen */
	int want;
	const char *msg;
} bad[] = {
	{ "", 0, -EINVAL, "empty" },
	{ "\n", 0, -EINVAL, "empty" },
	{ "  \t ", 0, -EINVAL, "empty" },
	{ "p 'abc", 0, -EINVAL, "unterminated single quote" },
	{ "p \"abc", 0, -EINVAL, "unterminated double quote" },
	{ "p \"abc\\\"", 0, -EINVAL, "unterminated double quote" },
	{ "p '", 0, -EINVAL, "unterminated single quote" },
	{ "p \\", 0, -EINVAL, "trailing backslash" },
	{ "p \\\n", 0, -EINVAL, "trailing backslash" },
	/* Only one trailing newline is stripped; others are control characters. */
	{ "p\n\n", 0, -EINVAL, "control character 0x0a" },
	{ "p\na", 0, -EINVAL, "control character 0x0a" },
	{ "p 'a\nb'", 0, -EINVAL, "control character 0x0a" },
	{ "p \"a\\\nb\"", 0, -EINVAL, "control character 0x0a" },
	{ "p\r\n", 0, -EINVAL, "control character 0x0d" },
	{ "p \x1b[31m", 0, -EINVAL, "control character 0x1b" },
	{ "p \x7f", 0, -EINVAL, "control character 0x7f" },
	{ "p '\x01'", 0, -EINVAL, "control character 0x01" },
	{ "p a\0b", 5, -EINVAL, "control character 0x00" },
};

START_TEST(test_split_bad)
{
	size_t len = bad[_i].len ? bad[_i].len : strlen(bad[_i].line);
	struct jobline jl = { (char **)1, 99 };
	char err[256] = "";
	int r;

	r = jobline_split(bad[_i].line, len, &jl, err, sizeof(err));
	ck_assert_msg(r == bad[_i].want, "'%s': %d", bad[_i].line, r);
	ck_assert_msg(strstr(err, bad[_i].msg), "'%s': '%s' lacks '%s'", bad[_i].line, err,
		      bad[_i].msg);
	ck_assert_ptr_null(jl.words);
	ck_assert_uint_eq(jl.nwords, 0);
	ck_assert_int_eq(jobline_split(bad[_i].line, len, &jl, NULL, 0), bad[_i].want);
}
END_TEST

/* Only len bytes are read: the rest of the buffer does not matter. */
START_TEST(test_split_len)
{
	struct jobline jl;

	ck_assert_int_eq(jobline_split("abc 'de", 3, &jl, NULL, 0), 0);
	ck_assert_uint_eq(jl.nwords, 1);
	ck_assert_str_eq(jl.words[0], "abc");
	jobline_release(&jl);
}
END_TEST

START_TEST(test_split_limits)
{
	size_t n = JOBLINE_MAX_BYTES + 2;
	char *s = malloc(n + 1);
	struct jobline jl;
	char err[256] = "";

	ck_assert_ptr_nonnull(s);
	/* One word of exactly the maximum length, with and without a newline. */
	memset(s, 'x', JOBLINE_MAX_BYTES);
	s[JOBLINE_MAX_BYTES] = '\n';
	ck_assert_int_eq(jobline_split(s, JOBLINE_MAX_BYTES, &jl, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(jl.words[0]), JOBLINE_MAX_BYTES);
	jobline_release(&jl);
	ck_assert_int_eq(jobline_split(s, JOBLINE_MAX_BYTES + 1, &jl, err, sizeof(err)), 0);
	jobline_release(&jl);
	ck_assert_int_eq(jobline_split(s, JOBLINE_MAX_BYTES + 2, &jl, err, sizeof(err)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "longer"));
	s[JOBLINE_MAX_BYTES] = 'x';
	ck_assert_int_eq(jobline_split(s, JOBLINE_MAX_BYTES + 1, &jl, err, sizeof(err)), -E2BIG);

	/* 256 words pass, 257 do not, however they are spelled. */
	for (size_t i = 0; i < 257; i++) {
		s[2 * i] = 'w';
		s[2 * i + 1] = ' ';
	}
	ck_assert_int_eq(jobline_split(s, 2 * 256, &jl, err, sizeof(err)), 0);
	ck_assert_uint_eq(jl.nwords, 256);
	jobline_release(&jl);
	ck_assert_int_eq(jobline_split(s, 2 * 257, &jl, err, sizeof(err)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "words"));
	ck_assert_ptr_null(jl.words);
	for (size_t i = 0; i < 257; i++) {
		s[3 * i] = '\'';
		s[3 * i + 1] = '\'';
		s[3 * i + 2] = '\t';
	}
	ck_assert_int_eq(jobline_split(s, 3 * 257, &jl, err, sizeof(err)), -E2BIG);
	free(s);
}
END_TEST

static struct manifest *manifest(const char *json)
{
	struct manifest *m;
	char err[256] = "";

	ck_assert_msg(manifest_parse(json, strlen(json), &m, err, sizeof(err)) == 0, "%s", err);
	return m;
}

#define WITH_DEFAULT                                                                               \
	"{\"name\":\"iris\",\"version\":\"1\",\"entries\":{"                                       \
	"\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"host_args\":true},"                  \
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}},\"default\":\"predict\"}"
#define NO_DEFAULT                                                                                 \
	"{\"name\":\"iris\",\"version\":\"1\",\"entries\":{"                                       \
	"\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"host_args\":true},"                  \
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}}}"
#define DEFAULT_NO_ARGS                                                                            \
	"{\"name\":\"iris\",\"version\":\"1\",\"entries\":{"                                       \
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}},\"default\":\"info\"}"

static const struct {
	const char *manifest, *line;
	int want;
	const char *entry;
	const char *argv[MAXW]; /* or the message, in argv[0], on failure */
} resolve[] = {
	{ WITH_DEFAULT, "iris.sealed predict -d /dataset", 0, "predict",
	  { "python3", "predict.py", "-d", "/dataset" } },
	{ WITH_DEFAULT, "iris.sealed", 0, "predict", { "python3", "predict.py" } },
	{ WITH_DEFAULT, "iris.sealed -d /dataset", 0, "predict",
	  { "python3", "predict.py", "-d", "/dataset" } },
	/* A word that is not an entry is the default entry's first argument. */
	{ WITH_DEFAULT, "iris.sealed train x", 0, "predict",
	  { "python3", "predict.py", "train", "x" } },
	{ WITH_DEFAULT, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ WITH_DEFAULT, "iris.sealed info x", -EPERM, NULL, { "entry 'info' takes no arguments" } },
	/* The host cannot slip in an interpreter flag: arguments follow argv. */
	{ WITH_DEFAULT, "iris.sealed predict -c 'import os'", 0, "predict",
	  { "python3", "predict.py", "-c", "import os" } },
	{ NO_DEFAULT, "iris.sealed predict", 0, "predict", { "python3", "predict.py" } },
	{ NO_DEFAULT, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ NO_DEFAULT, "iris.sealed x", -ENOENT, NULL, { "unknown entry 'x'" } },
	{ NO_DEFAULT, "iris.sealed x predict", -ENOENT, NULL, { "unknown entry 'x'" } },
	{ NO_DEFAULT, "iris.sealed", -ENOENT, NULL, { "no default entry" } },
	{ NO_DEFAULT, "iris.sealed Predict", -ENOENT, NULL, { "unknown entry 'Predict'" } },
	{ DEFAULT_NO_ARGS, "iris.sealed", 0, "info", { "cat", "INFO" } },
	{ DEFAULT_NO_ARGS, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ DEFAULT_NO_ARGS, "iris.sealed x", -EPERM, NULL, { "entry 'info' takes no arguments" } },
	{ DEFAULT_NO_ARGS, "iris.sealed ''", -EPERM, NULL, { "takes no arguments" } },
};

START_TEST(test_resolve)
{
	struct manifest *m = manifest(resolve[_i].manifest);
	const struct manifest_entry *e = (void *)1;
	char **argv = (void *)1, err[256] = "";
	struct jobline jl;
	int r;

	ck_assert_int_eq(jobline_split(resolve[_i].line, strlen(resolve[_i].line), &jl, NULL, 0), 0);
	r = jobline_resolve(&jl, m, &e, &argv, err, sizeof(err));
	ck_assert_msg(r == resolve[_i].want, "'%s': %d %s", resolve[_i].line, r, err);
	if (r == 0) {
		size_t n = 0;

		ck_assert_ptr_nonnull(e);
		ck_assert_str_eq(e->name, resolve[_i].entry);
		while (n < MAXW && resolve[_i].argv[n]) {
			ck_assert_str_eq(argv[n], resolve[_i].argv[n]);
			n++;
		}
		ck_assert_ptr_null(argv[n]);
		free(argv);
	} else {
		ck_assert_ptr_null(e);
		ck_assert_ptr_null(argv);
		ck_assert_msg(strstr(err, resolve[_i].argv[0]), "'%s' lacks '%s'", err,
			      resolve[_i].argv[0]);
	}
	jobline_release(&jl);
	manifest_free(m);
}
END_TEST

/* The longest argv: 256 manifest words and 255 host arguments. */
START_TEST(test_resolve_max)
{
	char *json = malloc(8192), *line = malloc(1024), **argv;
	const struct manifest_entry *e;
	struct jobline jl;
	struct manifest *m;
	size_t o;

	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(line);
	o = (size_t)sprintf(json, "{\"name\":\"n\",\"version\":\"1\",\"entries\":{\"e\":{\"argv\":["
				  "\"m0\"");
	for (int i = 1; i < 256; i++)
		o += (size_t)sprintf(json + o, ",\"m%d\"", i);
	sprintf(json + o, "],\"host_args\":true}},\"default\":\"e\"}");
	m = manifest(json);
	o = (size_t)sprintf(line, "p");
	for (int i = 1; i < 256; i++)
		o += (size_t)sprintf(line + o, " %c", 'a' + i % 26);
	ck_assert_int_eq(jobline_split(line, o, &jl, NULL, 0), 0);
	ck_assert_uint_eq(jl.nwords, 256);
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, NULL, 0), 0);
	ck_assert_str_eq(argv[0], "m0");
	ck_assert_str_eq(argv[255], "m255");
	ck_assert_str_eq(argv[256], "b");
	ck_assert_str_eq(argv[510], jl.words[255]);
	ck_assert_ptr_null(argv[511]);
	free(argv);
	jobline_release(&jl);
	manifest_free(m);
	free(json);
	free(line);
}
END_TEST

static Suite *jobline_suite(void)
{
	Suite *s = suite_create("jobline");
	TCase *tc = tcase_create("split");

	tcase_add_loop_test(tc, test_split_good, 0, ARRAY_SIZE(good));
	tcase_add_loop_test(tc, test_split_bad, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, test_split_len);
	tcase_add_test(tc, test_split_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolve");
	tcase_add_loop_test(tc, test_resolve, 0, ARRAY_SIZE(resolve));
	tcase_add_test(tc, test_resolve_max);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jobline_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
