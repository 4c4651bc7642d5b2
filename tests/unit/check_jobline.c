/* Job lines: shell-like word splitting without any expansion, its errors and
 * limits, and resolution of the words against a manifest entry: an entry
 * without arguments, host_args (anything), and declared options and
 * positionals, each acceptance and refusal rule. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enclave/jobline.h"
#include "enclave/manifest.h"
#include "sync/util.h"

#define MAXW 12

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
	s[JOBLINE_MAX_BYTES + 1] = 'x';
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
	/* A second word that is no entry is a mistake, not an argument. */
	{ WITH_DEFAULT, "iris.sealed -d /dataset", -ENOENT, NULL,
	  { "no entry '-d' in iris.sealed; entries: predict, info (arguments for the default entry "
	    "'predict': iris.sealed -- ARGS)" } },
	{ WITH_DEFAULT, "iris.sealed nosuchentry", -ENOENT, NULL,
	  { "no entry 'nosuchentry' in iris.sealed; entries: predict, info" } },
	{ WITH_DEFAULT, "iris.sealed train x", -ENOENT, NULL, { "no entry 'train'" } },
	/* PACKAGE -- ARGS: the default entry with arguments, "--" not passed on. */
	{ WITH_DEFAULT, "iris.sealed -- -d /dataset", 0, "predict",
	  { "python3", "predict.py", "-d", "/dataset" } },
	{ WITH_DEFAULT, "iris.sealed -- train x", 0, "predict",
	  { "python3", "predict.py", "train", "x" } },
	{ WITH_DEFAULT, "iris.sealed --", 0, "predict", { "python3", "predict.py" } },
	{ WITH_DEFAULT, "iris.sealed -- -- -x", 0, "predict",
	  { "python3", "predict.py", "--", "-x" } },
	/* An entry's own "--" is its argument. */
	{ WITH_DEFAULT, "iris.sealed predict -- x", 0, "predict",
	  { "python3", "predict.py", "--", "x" } },
	{ WITH_DEFAULT, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ WITH_DEFAULT, "iris.sealed info x", -EPERM, NULL, { "entry 'info' takes no arguments" } },
	/* The host cannot slip in an interpreter flag: arguments follow argv. */
	{ WITH_DEFAULT, "iris.sealed predict -c 'import os'", 0, "predict",
	  { "python3", "predict.py", "-c", "import os" } },
	{ NO_DEFAULT, "iris.sealed predict", 0, "predict", { "python3", "predict.py" } },
	{ NO_DEFAULT, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ NO_DEFAULT, "iris.sealed x", -ENOENT, NULL,
	  { "no entry 'x' in iris.sealed; entries: predict, info" } },
	{ NO_DEFAULT, "iris.sealed x predict", -ENOENT, NULL, { "no entry 'x'" } },
	{ NO_DEFAULT, "iris.sealed", -ENOENT, NULL,
	  { "iris.sealed has no default entry: name one of predict, info" } },
	{ NO_DEFAULT, "iris.sealed -- x", -ENOENT, NULL, { "no default entry" } },
	{ NO_DEFAULT, "iris.sealed Predict", -ENOENT, NULL, { "no entry 'Predict'" } },
	{ DEFAULT_NO_ARGS, "iris.sealed", 0, "info", { "cat", "INFO" } },
	{ DEFAULT_NO_ARGS, "iris.sealed info", 0, "info", { "cat", "INFO" } },
	{ DEFAULT_NO_ARGS, "iris.sealed -- x", -EPERM, NULL, { "entry 'info' takes no arguments" } },
	{ DEFAULT_NO_ARGS, "iris.sealed -- ''", -EPERM, NULL, { "takes no arguments" } },
	{ DEFAULT_NO_ARGS, "iris.sealed x", -ENOENT, NULL, { "no entry 'x' in iris.sealed; entries: info" } },
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

/* An entry that declares its arguments (doc/PACKAGE.md), one with options
 * only, one with int options and positionals, one declaring nothing. The
 * argv words carry "secret", which no message may show. */
#define DECLARED                                                                                   \
	"{\"name\":\"iris\",\"version\":\"1\",\"entries\":{"                                       \
	"\"predict\":{\"argv\":[\"python3\",\"-secret\",\"predict.py\"],"                          \
	" \"args\":{\"-d\":\"path\","                                                              \
	"  \"--data\":\"path\","                                                                   \
	"  \"-m\":{\"kind\":\"path\",\"under\":[\"/model\",\"/dataset\"]},"                        \
	"  \"-o\":{\"kind\":\"path\",\"under\":[\"/output\"]},"                                    \
	"  \"-n\":{\"kind\":\"int\",\"min\":1,\"max\":7777},"                                      \
	"  \"--format\":{\"kind\":\"word\",\"words\":[\"csv\",\"json\",\"tab sep\"]},"             \
	"  \"--title\":\"text\","                                                                  \
	"  \"-v\":\"flag\",\"--verbose\":{\"kind\":\"flag\"}},"                                    \
	" \"positional\":{\"kind\":\"path\",\"under\":[\"/dataset\"],\"max\":2}},"                 \
	"\"opts\":{\"argv\":[\"secret\"],\"args\":{\"-v\":\"flag\",\"--out\":\"text\"}},"          \
	"\"nums\":{\"argv\":[\"secret\"],"                                                         \
	" \"args\":{\"-n\":{\"kind\":\"int\",\"min\":-10,\"max\":10},\"--big\":\"int\"},"          \
	" \"positional\":{\"kind\":\"int\",\"max\":3}},"                                           \
	"\"words\":{\"argv\":[\"secret\"],"                                                        \
	" \"positional\":{\"kind\":\"word\",\"words\":[\"a\",\"b\"],\"max\":256}},"                \
	"\"texts\":{\"argv\":[\"secret\"],\"positional\":{\"kind\":\"text\",\"max\":1}},"          \
	"\"empty\":{\"argv\":[\"secret\"],\"args\":{}},"                                           \
	"\"any\":{\"argv\":[\"secret\"],\"host_args\":true}},\"default\":\"predict\"}"

/* The words after the package and entry: accepted ones reach the program
 * unchanged, after the entry's argv. */
static const struct {
	const char *line;
	int want;
	const char *entry;
	const char *words[MAXW]; /* the host's words, or the message on failure */
} declared[] = {
	/* Accepted: each kind, each syntax. */
	{ "p predict", 0, "predict", { NULL } },
	{ "p", 0, "predict", { NULL } },
	{ "p predict -d /dataset", 0, "predict", { "-d", "/dataset" } },
	{ "p -- -d /dataset", 0, "predict", { "-d", "/dataset" } },
	{ "p predict -d /dataset/a/b.csv -m /model/m.json -o /output/x",
	  0, "predict", { "-d", "/dataset/a/b.csv", "-m", "/model/m.json", "-o", "/output/x" } },
	{ "p predict -d /model -d /output/y", 0, "predict", { "-d", "/model", "-d", "/output/y" } },
	{ "p predict -m /dataset/x", 0, "predict", { "-m", "/dataset/x" } },
	{ "p predict --data=/dataset/x", 0, "predict", { "--data=/dataset/x" } },
	{ "p predict --data /dataset/x", 0, "predict", { "--data", "/dataset/x" } },
	{ "p predict '-d' '/dataset/données 2024/é.csv'", 0, "predict",
	  { "-d", "/dataset/données 2024/é.csv" } },
	{ "p predict -d '/dataset/.hidden/..x/x..'", 0, "predict",
	  { "-d", "/dataset/.hidden/..x/x.." } },
	{ "p predict -v --verbose -n 5 --format json --title 'a title'", 0, "predict",
	  { "-v", "--verbose", "-n", "5", "--format", "json", "--title", "a title" } },
	{ "p predict -n 1 -n 7777 -n 0007", 0, "predict",
	  { "-n", "1", "-n", "7777", "-n", "0007" } },
	{ "p predict --format=csv --format 'tab sep'", 0, "predict",
	  { "--format=csv", "--format", "tab sep" } },
	{ "p predict --title= --title '' --title \"it's\"", 0, "predict",
	  { "--title=", "--title", "", "--title", "it's" } },
	{ "p predict /dataset/a -v /dataset", 0, "predict", { "/dataset/a", "-v", "/dataset" } },
	{ "p predict -- /dataset/a", 0, "predict", { "--", "/dataset/a" } },
	{ "p predict -v --", 0, "predict", { "-v", "--" } },
	{ "p predict -v -- /dataset/a /dataset/b", 0, "predict",
	  { "-v", "--", "/dataset/a", "/dataset/b" } },
	{ "p opts -v --out x", 0, "opts", { "-v", "--out", "x" } },
	{ "p nums -n -10 -n 10 -n -0", 0, "nums", { "-n", "-10", "-n", "10", "-n", "-0" } },
	{ "p nums --big -9223372036854775808 --big 9223372036854775807", 0, "nums",
	  { "--big", "-9223372036854775808", "--big", "9223372036854775807" } },
	{ "p nums --big=-5 1 2", 0, "nums", { "--big=-5", "1", "2" } },
	{ "p nums -- -5 3 -0", 0, "nums", { "--", "-5", "3", "-0" } },
	{ "p words a b a", 0, "words", { "a", "b", "a" } },
	{ "p texts 'any text, even -x inside'", 0, "texts", { "any text, even -x inside" } },
	{ "p texts -- ''", 0, "texts", { "--", "" } },
	{ "p any -c 'import os' --dat -vd", 0, "any", { "-c", "import os", "--dat", "-vd" } },

	/* Not a declared option: EPERM. */
	{ "p predict --dat /dataset", -EPERM, NULL,
	  { "'--dat' is not an option of entry 'predict'" } },
	{ "p predict --dat=/dataset", -EPERM, NULL, { "'--dat=/dataset' is not an option" } },
	{ "p predict --datax /dataset", -EPERM, NULL, { "'--datax' is not an option" } },
	{ "p predict -vd /dataset", -EPERM, NULL, { "'-vd' is not an option of entry 'predict'" } },
	{ "p predict -dv", -EPERM, NULL, { "'-dv' is not an option" } },
	{ "p predict -d/dataset/x", -EPERM, NULL, { "'-d/dataset/x' is not an option" } },
	{ "p predict -d=/dataset/x", -EPERM, NULL, { "'-d=/dataset/x' is not an option" } },
	{ "p predict -x", -EPERM, NULL, { "'-x' is not an option" } },
	{ "p predict -D /dataset", -EPERM, NULL, { "'-D' is not an option" } },
	{ "p predict -", -EPERM, NULL, { "'-' is not an option" } },
	{ "p predict --=x", -EPERM, NULL, { "'--=x' is not an option" } },
	{ "p predict ---d", -EPERM, NULL, { "'---d' is not an option" } },
	{ "p predict -h", -EPERM, NULL, { "'-h' is not an option" } },
	{ "p predict -d /dataset --help", -EPERM, NULL, { "'--help' is not an option" } },
	{ "p predict --verbose=1", -EPERM, NULL,
	  { "'--verbose=1': option '--verbose' of entry 'predict' takes no value" } },
	{ "p predict --verbose=", -EPERM, NULL, { "takes no value" } },
	{ "p predict '-v '", -EPERM, NULL, { "'-v ' is not an option" } },
	{ "p predict ' -v'", -EINVAL, NULL, { "' -v': a positional argument of entry 'predict'" } },
	{ "p opts -V", -EPERM, NULL, { "'-V' is not an option of entry 'opts'" } },
	{ "p nums -5", -EPERM, NULL, { "'-5' is not an option of entry 'nums'" } },
	/* Positional arguments not declared, or too many: EPERM. */
	{ "p opts x", -EPERM, NULL, { "'x': entry 'opts' takes no positional argument" } },
	{ "p opts -v -- x", -EPERM, NULL, { "'x': entry 'opts' takes no positional argument" } },
	{ "p opts --out", -EINVAL, NULL,
	  { "option '--out' of entry 'opts' needs a value (text)" } },
	{ "p predict /dataset/a /dataset/b /dataset/c", -EPERM, NULL,
	  { "'/dataset/c': entry 'predict' takes at most 2 positional arguments" } },
	{ "p predict /dataset/a -- /dataset/b /dataset/c", -EPERM, NULL,
	  { "at most 2 positional" } },
	{ "p nums 1 2 3 4", -EPERM, NULL, { "'4': entry 'nums' takes at most 3 positional" } },
	/* Entries without a declaration take nothing: EPERM. */
	{ "p empty -x", -EPERM, NULL, { "entry 'empty' takes no arguments from the host" } },
	{ "p empty --", -EPERM, NULL, { "entry 'empty' takes no arguments" } },
	{ "p empty ''", -EPERM, NULL, { "entry 'empty' takes no arguments" } },

	/* A valued option without its value: EINVAL. */
	{ "p predict -m", -EINVAL, NULL,
	  { "option '-m' of entry 'predict' needs a value (path)" } },
	{ "p predict -d /dataset -m", -EINVAL, NULL,
	  { "option '-m' of entry 'predict' needs a value" } },
	{ "p predict -n", -EINVAL, NULL, { "option '-n' of entry 'predict' needs a value (int)" } },
	{ "p predict --format", -EINVAL, NULL,
	  { "option '--format' of entry 'predict' needs a value (word)" } },
	/* A value starting with '-': EINVAL, whether or not it is an option. */
	{ "p predict -d -v", -EINVAL, NULL,
	  { "'-v': option '-d' of entry 'predict' takes a path, which cannot start with '-'" } },
	{ "p predict -d --", -EINVAL, NULL,
	  { "'--': option '-d' of entry 'predict' takes a path" } },
	{ "p predict --data=-d", -EINVAL, NULL, { "'-d': option '--data' of entry 'predict'" } },
	{ "p predict --title=-x", -EINVAL, NULL, { "'-x': option '--title' of entry 'predict'" } },
	{ "p predict --title -x", -EINVAL, NULL,
	  { "'-x': option '--title' of entry 'predict' takes a text" } },
	{ "p predict --format -csv", -EINVAL, NULL,
	  { "'-csv': option '--format' of entry 'predict' takes a word" } },
	{ "p predict -- -x", -EINVAL, NULL,
	  { "'-x': a positional argument of entry 'predict' takes a path, which cannot start with "
	    "'-'" } },
	{ "p predict -- --", -EINVAL, NULL, { "'--': a positional argument of entry 'predict'" } },
	{ "p texts -- -x", -EINVAL, NULL,
	  { "'-x': a positional argument of entry 'texts' takes a text" } },
	/* Paths: one of the roots, or root/canonical. */
	{ "p predict -m /app/common.py", -EINVAL, NULL,
	  { "'/app/common.py': option '-m' of entry 'predict' takes a path under "
	    "/dataset or /model" } },
	{ "p predict -o /dataset/x", -EINVAL, NULL,
	  { "'/dataset/x': option '-o' of entry 'predict' takes a path under /output (" } },
	{ "p predict -d /dataset/../app/x", -EINVAL, NULL, { "'/dataset/../app/x': option '-d'" } },
	{ "p predict -d /dataset/..", -EINVAL, NULL, { "'/dataset/..': option '-d'" } },
	{ "p predict -d /dataset/a/../b", -EINVAL, NULL, { "'/dataset/a/../b'" } },
	{ "p predict -d /dataset//x", -EINVAL, NULL, { "'/dataset//x'" } },
	{ "p predict -d /dataset/", -EINVAL, NULL, { "'/dataset/'" } },
	{ "p predict -d /dataset/x/", -EINVAL, NULL, { "'/dataset/x/'" } },
	{ "p predict -d /dataset/.", -EINVAL, NULL, { "'/dataset/.'" } },
	{ "p predict -d /dataset/./x", -EINVAL, NULL, { "'/dataset/./x'" } },
	{ "p predict -d //dataset/x", -EINVAL, NULL, { "'//dataset/x'" } },
	{ "p predict -d /datasetx", -EINVAL, NULL, { "'/datasetx'" } },
	{ "p predict -d /dataset2/x", -EINVAL, NULL, { "'/dataset2/x'" } },
	{ "p predict -d dataset/x", -EINVAL, NULL, { "'dataset/x'" } },
	{ "p predict -d ''", -EINVAL, NULL, { "'': option '-d'" } },
	{ "p predict --data=", -EINVAL, NULL, { "'': option '--data'" } },
	{ "p predict --data=/x", -EINVAL, NULL,
	  { "'/x': option '--data' of entry 'predict' takes a path" } },
	{ "p predict -d /", -EINVAL, NULL, { "'/': option '-d'" } },
	{ "p predict -d /etc/passwd", -EINVAL, NULL, { "'/etc/passwd'" } },
	{ "p predict -d /proc/self/root/app", -EINVAL, NULL, { "'/proc/self/root/app'" } },
	{ "p predict -d ' /dataset'", -EINVAL, NULL, { "' /dataset'" } },
	{ "p predict /model/x", -EINVAL, NULL,
	  { "'/model/x': a positional argument of entry 'predict' takes a path under "
	    "/dataset (" } },
	{ "p predict x", -EINVAL, NULL, { "'x': a positional argument of entry 'predict'" } },
	/* Integers: [-]digits in range, no overflow. */
	{ "p predict -n 0", -EINVAL, NULL,
	  { "'0': option '-n' of entry 'predict' takes an integer in the range it declares" } },
	{ "p predict -n 7778", -EINVAL, NULL,
	  { "'7778': option '-n' of entry 'predict' takes an integer in the range" } },
	{ "p predict -n -1", -EINVAL, NULL,
	  { "'-1': option '-n' of entry 'predict' takes an integer in the range" } },
	{ "p predict -n +5", -EINVAL, NULL,
	  { "'+5': option '-n' of entry 'predict' takes a decimal integer" } },
	{ "p predict -n ' 5'", -EINVAL, NULL, { "' 5': option '-n'" } },
	{ "p predict -n '5 '", -EINVAL, NULL, { "'5 ': option '-n'" } },
	{ "p predict -n 5x", -EINVAL, NULL,
	  { "'5x': option '-n' of entry 'predict' takes a decimal integer" } },
	{ "p predict -n 0x10", -EINVAL, NULL, { "'0x10'" } },
	{ "p predict -n 1e3", -EINVAL, NULL, { "'1e3'" } },
	{ "p predict -n 5.0", -EINVAL, NULL, { "'5.0'" } },
	{ "p predict -n ''", -EINVAL, NULL,
	  { "'': option '-n' of entry 'predict' takes a decimal integer" } },
	{ "p predict -n -", -EINVAL, NULL,
	  { "'-': option '-n' of entry 'predict' takes a decimal integer" } },
	{ "p predict -n --5", -EINVAL, NULL, { "'--5': option '-n'" } },
	{ "p predict -n 99999999999999999999", -EINVAL, NULL,
	  { "'99999999999999999999': option '-n' of entry 'predict' takes a decimal integer" } },
	{ "p nums --big 9223372036854775808", -EINVAL, NULL,
	  { "'9223372036854775808': option '--big' of entry 'nums' takes a decimal integer" } },
	{ "p nums --big -9223372036854775809", -EINVAL, NULL, { "'-9223372036854775809'" } },
	{ "p nums --big 18446744073709551616", -EINVAL, NULL, { "'18446744073709551616'" } },
	{ "p nums -n -11", -EINVAL, NULL,
	  { "'-11': option '-n' of entry 'nums' takes an integer in the range" } },
	{ "p nums -n 11", -EINVAL, NULL, { "'11': option '-n' of entry 'nums'" } },
	{ "p nums abc", -EINVAL, NULL,
	  { "'abc': a positional argument of entry 'nums' takes a decimal integer" } },
	{ "p nums -- --", -EINVAL, NULL,
	  { "'--': a positional argument of entry 'nums' takes a decimal integer" } },
	/* Words: one of the set. */
	{ "p predict --format xml", -EINVAL, NULL,
	  { "'xml': option '--format' of entry 'predict' takes one of csv, json or tab sep" } },
	{ "p predict --format CSV", -EINVAL, NULL, { "'CSV': option '--format'" } },
	{ "p predict --format 'csv '", -EINVAL, NULL, { "'csv ': option '--format'" } },
	{ "p predict --format=", -EINVAL, NULL, { "'': option '--format'" } },
	{ "p predict --format tab", -EINVAL, NULL, { "'tab': option '--format'" } },
	{ "p words c", -EINVAL, NULL,
	  { "'c': a positional argument of entry 'words' takes one of a or b" } },
	/* The first refusal wins, left to right. */
	{ "p predict -d /app -x", -EINVAL, NULL, { "'/app'" } },
	{ "p predict -x -d /app", -EPERM, NULL, { "'-x' is not an option" } },
	/* Words are quoted for the message: a tab and a backslash escaped. */
	{ "p predict '--a\tb\\c'", -EPERM, NULL, { "'--a\\x09b\\x5cc' is not an option" } },
};

START_TEST(test_resolve_declared)
{
	struct manifest *m = manifest(DECLARED);
	const struct manifest_entry *e = (void *)1;
	char **argv = (void *)1, err[512] = "";
	struct jobline jl;
	int r;

	ck_assert_int_eq(jobline_split(declared[_i].line, strlen(declared[_i].line), &jl, NULL, 0),
			 0);
	r = jobline_resolve(&jl, m, &e, &argv, err, sizeof(err));
	ck_assert_msg(r == declared[_i].want, "'%s': %d %s", declared[_i].line, r, err);
	if (r == 0) {
		size_t n = 0;

		ck_assert_str_eq(e->name, declared[_i].entry);
		/* The entry's argv, then the host's words, unchanged. */
		for (size_t i = 0; i < e->argc; i++)
			ck_assert_str_eq(argv[i], e->argv[i]);
		while (n < MAXW && declared[_i].words[n]) {
			ck_assert_str_eq(argv[e->argc + n], declared[_i].words[n]);
			n++;
		}
		ck_assert_ptr_null(argv[e->argc + n]);
		free(argv);
	} else {
		ck_assert_ptr_null(e);
		ck_assert_ptr_null(argv);
		ck_assert_msg(strstr(err, declared[_i].words[0]), "'%s': '%s' lacks '%s'",
			      declared[_i].line, err, declared[_i].words[0]);
		/* Nothing of the manifest but names, kinds, roots and words. */
		ck_assert_msg(!strstr(err, "secret") && !strstr(err, "python3") &&
				      (!strstr(err, "7777") || strstr(declared[_i].line, "7777")),
			      "'%s': '%s' shows the manifest", declared[_i].line, err);
		/* The verdict does not depend on the room for a message. */
		ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, NULL, 0), declared[_i].want);
	}
	jobline_release(&jl);
	manifest_free(m);
}
END_TEST

/* Path values at the length limit, long words cut short in messages. */
START_TEST(test_resolve_declared_limits)
{
	struct manifest *m = manifest(DECLARED);
	const struct manifest_entry *e;
	char *value = malloc(PATH_MAX + 16), err[512], **argv;
	const char *words[4] = { "p", "predict", "-d", value };
	struct jobline jl = { (char **)words, 4 };
	size_t n;

	ck_assert_ptr_nonnull(value);
	/* "/dataset/" then components of 255 bytes and shorter, 4095 bytes in all. */
	n = (size_t)sprintf(value, "/dataset");
	while (n < PATH_MAX - 1) {
		size_t c = PATH_MAX - 1 - n - 1 < 255 ? PATH_MAX - 1 - n - 1 : 255;

		value[n++] = '/';
		memset(value + n, 'c', c);
		n += c;
	}
	value[n] = '\0';
	ck_assert_uint_eq(strlen(value), PATH_MAX - 1);
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, err, sizeof(err)), 0);
	ck_assert_str_eq(argv[e->argc + 1], value);
	free(argv);
	/* One byte more is too long. */
	strcat(value, "c");
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, err, sizeof(err)), -EINVAL);
	/* The host's word is cut short in the message. */
	ck_assert_ptr_nonnull(strstr(err, "'/dataset/cccccc"));
	ck_assert_ptr_nonnull(strstr(err, "...': option '-d'"));
	ck_assert_uint_lt(strlen(err), 400);
	/* A component of 256 bytes is not canonical. */
	n = (size_t)sprintf(value, "/dataset/");
	memset(value + n, 'c', 256);
	value[n + 256] = '\0';
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, err, sizeof(err)), -EINVAL);
	value[n + 255] = '\0';
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, err, sizeof(err)), 0);
	free(argv);
	/* An unknown option of any length is named, cut short. */
	memset(value, 'o', 1000);
	value[0] = value[1] = '-';
	value[1000] = '\0';
	words[2] = value;
	jl.nwords = 3;
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "'--oooo"));
	ck_assert_ptr_nonnull(strstr(err, "...' is not an option"));
	free(value);
	manifest_free(m);
}
END_TEST

/* 256 positional words (the most a line holds after the package and entry
 * is 254): all checked, all passed on. */
START_TEST(test_resolve_declared_many)
{
	struct manifest *m = manifest(DECLARED);
	const struct manifest_entry *e;
	char line[1024], **argv;
	struct jobline jl;
	size_t o;

	o = (size_t)sprintf(line, "p words");
	for (int i = 0; i < 254; i++)
		o += (size_t)sprintf(line + o, " %c", i % 2 ? 'a' : 'b');
	ck_assert_int_eq(jobline_split(line, o, &jl, NULL, 0), 0);
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, NULL, 0), 0);
	ck_assert_str_eq(argv[1 + 253], "a");
	ck_assert_ptr_null(argv[1 + 254]);
	free(argv);
	jobline_release(&jl);
	line[o - 1] = 'c';
	ck_assert_int_eq(jobline_split(line, o, &jl, NULL, 0), 0);
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, NULL, 0), -EINVAL);
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
	o = (size_t)sprintf(line, "p e");
	for (int i = 2; i < 256; i++)
		o += (size_t)sprintf(line + o, " %c", 'a' + i % 26);
	ck_assert_int_eq(jobline_split(line, o, &jl, NULL, 0), 0);
	ck_assert_uint_eq(jl.nwords, 256);
	ck_assert_int_eq(jobline_resolve(&jl, m, &e, &argv, NULL, 0), 0);
	ck_assert_str_eq(argv[0], "m0");
	ck_assert_str_eq(argv[255], "m255");
	ck_assert_str_eq(argv[256], "c");
	ck_assert_str_eq(argv[509], jl.words[255]);
	ck_assert_ptr_null(argv[510]);
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
	tcase_add_loop_test(tc, test_resolve_declared, 0, ARRAY_SIZE(declared));
	tcase_add_test(tc, test_resolve_declared_limits);
	tcase_add_test(tc, test_resolve_declared_many);
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
