/* The manifest: valid examples, every schema rule broken once (each refused
 * with -EINVAL and a message naming the field), duplicates, truncation,
 * trailing garbage, size limits through manifest_load, and the round trip
 * through manifest_to_json. The declared host arguments (args, positional)
 * and the stderr policy get the same treatment. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enclave/manifest.h"
#include "sync/util.h"

#define EXAMPLE                                                                                    \
	"{\"name\":\"iris\",\"version\":\"1.0\",\n"                                                \
	" \"entries\":{\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"host_args\":true,"     \
	"\"timeout_s\":7200},\n"                                                                   \
	"             \"train\":{\"argv\":[\"python3\",\"-u\",\"train.py\",\"--épochs=3\"]}},\n" \
	" \"default\":\"predict\"}"

/* The declared form, as doc/PACKAGE.md shows it, and the other forms. */
#define DECLARED                                                                                   \
	"{\"name\":\"iris\",\"version\":\"2\",\"entries\":{\n"                                     \
	" \"predict\": {\"argv\": [\"python3\", \"predict.py\"],\n"                                \
	"   \"args\": {\"-d\": \"path\",\n"                                                        \
	"            \"-m\": {\"kind\": \"path\", \"under\": [\"/model\", \"/dataset\"]},\n"       \
	"            \"-o\": {\"kind\": \"path\", \"under\": [\"/output\"]},\n"                    \
	"            \"-n\": {\"kind\": \"int\", \"min\": 1, \"max\": 1000},\n"                    \
	"            \"--format\": {\"kind\": \"word\", \"words\": [\"csv\", \"json\"]},\n"        \
	"            \"--title\": \"text\",\n"                                                     \
	"            \"-v\": \"flag\"},\n"                                                         \
	"   \"positional\": {\"kind\": \"path\", \"under\": [\"/dataset\"], \"max\": 16},\n"       \
	"   \"stderr\": \"none\",\n"                                                               \
	"   \"timeout_s\": 600},\n"                                                                \
	" \"train\": {\"argv\": [\"python3\", \"train.py\"], \"host_args\": false,\n"              \
	"   \"args\": {\"-v\": {\"kind\": \"flag\"}, \"--n-9\": \"int\",\n"                        \
	"            \"-0\": {\"kind\": \"int\"}, \"--z\": {\"kind\": \"path\"},\n"                \
	"            \"-T\": {\"kind\": \"text\"}},\n"                                             \
	"   \"positional\": {\"kind\": \"int\", \"max\": 256},\n"                                  \
	"   \"stderr\": {\"last\": 20}},\n"                                                        \
	" \"log\": {\"argv\": [\"cat\"], \"host_args\": true, \"stderr\": \"all\"},\n"             \
	" \"words\": {\"argv\": [\"w\"], \"args\": {},\n"                                          \
	"   \"positional\": {\"kind\": \"word\", \"words\": [\"a\", \"b c\", \"é\"],\n"           \
	"                  \"max\": 1}}}}"

static int parse(const char *json, struct manifest **m, char *err, size_t errsz)
{
	return manifest_parse(json, strlen(json), m, err, errsz);
}

START_TEST(test_valid_example)
{
	const struct manifest_entry *e;
	struct manifest *m;
	char err[256] = "";

	ck_assert_int_eq(parse(EXAMPLE, &m, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(m->name, "iris");
	ck_assert_str_eq(m->version, "1.0");
	ck_assert_uint_eq(m->nentries, 2);
	ck_assert_str_eq(m->default_entry, "predict");

	e = manifest_entry(m, "predict");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->name, "predict");
	ck_assert_uint_eq(e->argc, 2);
	ck_assert_str_eq(e->argv[0], "python3");
	ck_assert_str_eq(e->argv[1], "predict.py");
	ck_assert_ptr_null(e->argv[2]);
	ck_assert(e->host_args);
	ck_assert_uint_eq(e->timeout_s, 7200);

	e = manifest_entry(m, "train");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->argc, 4);
	ck_assert_str_eq(e->argv[3], "--épochs=3");
	ck_assert(!e->host_args);
	ck_assert_uint_eq(e->timeout_s, MANIFEST_DEFAULT_TIMEOUT_S);

	ck_assert_ptr_null(manifest_entry(m, "Predict"));
	ck_assert_ptr_null(manifest_entry(m, ""));
	manifest_free(m);
	manifest_free(NULL);
}
END_TEST

/* Bounds that are exactly allowed. */
START_TEST(test_valid_edges)
{
	static const char *ok[] = {
		"{\"name\":\"a\",\"version\":\" \",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
		"{\"name\":\"A-z_0.9\",\"version\":\"~!@#$%^&*()\",\"entries\":{\"x.y-z_\":{\"argv\":"
		"[\"a\"],\"host_args\":false,\"timeout_s\":1}}}",
		"{\"name\":\"a.\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],"
		"\"timeout_s\":604800}}}",
		/* Key order does not matter. */
		"{\"default\":\"x\",\"entries\":{\"x\":{\"timeout_s\":5,\"argv\":[\"a\"]}},"
		"\"version\":\"1\",\"name\":\"n\"}",
	};
	struct manifest *m;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(parse(ok[i], &m, err, sizeof(err)) == 0, "%zu: %s", i, err);
		manifest_free(m);
	}
}
END_TEST

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A manifest with `n` entries e0..e{n-1} or an argv of `argc` words, or one
 * argument of `arglen` bytes, or a name of `namelen` bytes. */
static char *build(size_t n, size_t argc, size_t arglen, size_t namelen, size_t verlen)
{
	char *name = repeat('n', namelen), *ver = repeat('1', verlen), *arg = repeat('a', arglen);
	size_t cap = 4096 + n * 64 + argc * 8 + arglen + namelen + verlen, o = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	o += (size_t)snprintf(s + o, cap - o, "{\"name\":\"%s\",\"version\":\"%s\",\"entries\":{",
			      name, ver);
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(s + o, cap - o, "%s\"e%zu\":{\"argv\":[\"%s\"", i ? "," : "",
				      i, arg);
		for (size_t j = 1; j < argc; j++)
			o += (size_t)snprintf(s + o, cap - o, ",\"a\"");
		o += (size_t)snprintf(s + o, cap - o, "]}");
	}
	snprintf(s + o, cap - o, "}}");
	ck_assert_uint_lt(o + 2, cap);
	free(name);
	free(ver);
	free(arg);
	return s;
}

START_TEST(test_limits)
{
	struct {
		size_t n, argc, arglen, namelen, verlen;
		int want;
		const char *field;
	} cases[] = {
		{ 64, 1, 1, 4, 1, 0, NULL },
		{ 65, 1, 1, 4, 1, -EINVAL, "entries" },
		{ 1, 256, 1, 4, 1, 0, NULL },
		{ 1, 257, 1, 4, 1, -EINVAL, "entries.e0.argv" },
		{ 1, 1, 4096, 4, 1, 0, NULL },
		{ 1, 1, 4097, 4, 1, -EINVAL, "entries.e0.argv[0]" },
		{ 1, 1, 1, 64, 1, 0, NULL },
		{ 1, 1, 1, 65, 1, -EINVAL, "name" },
		{ 1, 1, 1, 4, 64, 0, NULL },
		{ 1, 1, 1, 4, 65, -EINVAL, "version" },
	};
	struct manifest *m;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = build(cases[i].n, cases[i].argc, cases[i].arglen, cases[i].namelen,
				cases[i].verlen);
		int r;

		err[0] = '\0';
		r = parse(s, &m, err, sizeof(err));
		ck_assert_msg(r == cases[i].want, "case %zu: %d (%s)", i, r, err);
		if (r == 0) {
			ck_assert_uint_eq(m->nentries, cases[i].n);
			ck_assert_uint_eq(m->entries[0].argc, cases[i].argc);
			ck_assert_uint_eq(strlen(m->entries[0].argv[0]), cases[i].arglen);
			manifest_free(m);
		} else {
			ck_assert_ptr_null(m);
			ck_assert_msg(!strncmp(err, cases[i].field, strlen(cases[i].field)),
				      "case %zu: '%s' does not start with '%s'", i, err,
				      cases[i].field);
		}
		free(s);
	}
}
END_TEST

static const struct manifest_option *option(const struct manifest_entry *e, const char *name)
{
	const struct manifest_option *o = manifest_option(e, name, strlen(name));

	ck_assert_msg(o != NULL, "no option %s", name);
	ck_assert_str_eq(o->name, name);
	return o;
}

START_TEST(test_declared)
{
	const struct manifest_entry *e;
	const struct manifest_option *o;
	struct manifest *m;
	char err[256] = "";

	ck_assert_msg(parse(DECLARED, &m, err, sizeof(err)) == 0, "%s", err);

	e = manifest_entry(m, "predict");
	ck_assert(!e->host_args);
	ck_assert_uint_eq(e->noptions, 7);
	/* Options keep the manifest's order. */
	ck_assert_str_eq(e->options[0].name, "-d");
	ck_assert_str_eq(e->options[6].name, "-v");
	o = option(e, "-d");
	ck_assert_int_eq(o->value.kind, MANIFEST_KIND_PATH);
	ck_assert_uint_eq(o->value.roots, MANIFEST_ROOTS_ALL);
	o = option(e, "-m");
	ck_assert_int_eq(o->value.kind, MANIFEST_KIND_PATH);
	ck_assert_uint_eq(o->value.roots, (1u << 0) | (1u << 1));
	ck_assert_str_eq(manifest_roots[0], "/dataset");
	ck_assert_str_eq(manifest_roots[1], "/model");
	ck_assert_str_eq(manifest_roots[2], "/output");
	o = option(e, "-o");
	ck_assert_uint_eq(o->value.roots, 1u << 2);
	o = option(e, "-n");
	ck_assert_int_eq(o->value.kind, MANIFEST_KIND_INT);
	ck_assert(o->value.min == 1 && o->value.max == 1000);
	o = option(e, "--format");
	ck_assert_int_eq(o->value.kind, MANIFEST_KIND_WORD);
	ck_assert_uint_eq(o->value.nwords, 2);
	ck_assert_str_eq(o->value.words[0], "csv");
	ck_assert_str_eq(o->value.words[1], "json");
	ck_assert_ptr_null(o->value.words[2]);
	ck_assert_int_eq(option(e, "--title")->value.kind, MANIFEST_KIND_TEXT);
	ck_assert_int_eq(option(e, "-v")->value.kind, MANIFEST_KIND_FLAG);
	ck_assert_uint_eq(e->positional_max, 16);
	ck_assert_int_eq(e->positional.kind, MANIFEST_KIND_PATH);
	ck_assert_uint_eq(e->positional.roots, 1u << 0);
	ck_assert_int_eq(e->stderr_policy, MANIFEST_STDERR_NONE);
	ck_assert_uint_eq(e->stderr_lines, 0);
	ck_assert_uint_eq(e->timeout_s, 600);
	/* Exact names only: no prefix, no "=value", no other spelling. */
	ck_assert_ptr_null(manifest_option(e, "--form", 6));
	ck_assert_ptr_null(manifest_option(e, "--format=csv", 12));
	ck_assert_ptr_null(manifest_option(e, "-", 1));
	ck_assert_ptr_null(manifest_option(e, "-V", 2));
	ck_assert_ptr_nonnull(manifest_option(e, "--format=csv", 8));

	/* The shorthands and the object forms without options give the defaults. */
	e = manifest_entry(m, "train");
	ck_assert(!e->host_args);
	ck_assert_uint_eq(e->noptions, 5);
	ck_assert_int_eq(option(e, "-v")->value.kind, MANIFEST_KIND_FLAG);
	for (size_t i = 0; i < 2; i++) {
		o = option(e, i ? "-0" : "--n-9");
		ck_assert_int_eq(o->value.kind, MANIFEST_KIND_INT);
		ck_assert(o->value.min == INT64_MIN && o->value.max == INT64_MAX);
	}
	ck_assert_uint_eq(option(e, "--z")->value.roots, MANIFEST_ROOTS_ALL);
	ck_assert_int_eq(option(e, "-T")->value.kind, MANIFEST_KIND_TEXT);
	ck_assert_int_eq(e->positional.kind, MANIFEST_KIND_INT);
	ck_assert(e->positional.min == INT64_MIN && e->positional.max == INT64_MAX);
	ck_assert_uint_eq(e->positional_max, 256);
	ck_assert_int_eq(e->stderr_policy, MANIFEST_STDERR_LAST);
	ck_assert_uint_eq(e->stderr_lines, 20);
	ck_assert_uint_eq(e->timeout_s, MANIFEST_DEFAULT_TIMEOUT_S);

	e = manifest_entry(m, "log");
	ck_assert(e->host_args);
	ck_assert_uint_eq(e->noptions, 0);
	ck_assert_uint_eq(e->positional_max, 0);
	ck_assert_int_eq(e->stderr_policy, MANIFEST_STDERR_ALL);

	e = manifest_entry(m, "words");
	ck_assert(!e->host_args);
	ck_assert_uint_eq(e->noptions, 0);
	ck_assert_uint_eq(e->positional_max, 1);
	ck_assert_int_eq(e->positional.kind, MANIFEST_KIND_WORD);
	ck_assert_uint_eq(e->positional.nwords, 3);
	ck_assert_str_eq(e->positional.words[1], "b c");
	ck_assert_str_eq(e->positional.words[2], "é");
	ck_assert_int_eq(e->stderr_policy, MANIFEST_STDERR_NONE);
	manifest_free(m);

	ck_assert_str_eq(manifest_kind_name(MANIFEST_KIND_FLAG), "flag");
	ck_assert_str_eq(manifest_kind_name(MANIFEST_KIND_WORD), "word");
	ck_assert_str_eq(manifest_kind_name((enum manifest_kind)99), "?");
}
END_TEST

/* An entry with argv ["a"] and the extra fields `fields`. */
#define E(fields)                                                                                  \
	"{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]," fields "}}}"

/* The stderr policy in each of its forms; absent means none. */
START_TEST(test_stderr)
{
	static const struct {
		const char *json;
		enum manifest_stderr policy;
		uint32_t lines;
	} ok[] = {
		{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
		  MANIFEST_STDERR_NONE, 0 },
		{ E("\"stderr\":\"none\""), MANIFEST_STDERR_NONE, 0 },
		{ E("\"stderr\":\"all\""), MANIFEST_STDERR_ALL, 0 },
		{ E("\"stderr\":{\"last\":1}"), MANIFEST_STDERR_LAST, 1 },
		{ E("\"stderr\":{\"last\":1000}"), MANIFEST_STDERR_LAST, 1000 },
		{ E("\"host_args\":true,\"stderr\":{\"last\":7}"), MANIFEST_STDERR_LAST, 7 },
	};
	struct manifest *m;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(parse(ok[i].json, &m, err, sizeof(err)) == 0, "%zu: %s", i, err);
		ck_assert_int_eq(m->entries[0].stderr_policy, ok[i].policy);
		ck_assert_uint_eq(m->entries[0].stderr_lines, ok[i].lines);
		manifest_free(m);
	}
}
END_TEST

/* An entry with n options -o0.. of a kind, a --name of namelen characters,
 * a word kind of nwords words of wordlen bytes, a positional of max. */
static char *build_args(size_t n, size_t namelen, size_t nwords, size_t wordlen, size_t max)
{
	char *name = repeat('n', namelen), *word = repeat('w', wordlen);
	size_t cap = 4096 + n * 32 + namelen + nwords * (wordlen + 8), o = 0;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	o += (size_t)snprintf(
	    s + o, cap - o,
	    "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],"
	    "\"positional\":{\"kind\":\"text\",\"max\":%zu},\"args\":{\"--%s\":{"
	    "\"kind\":\"word\",\"words\":[",
	    max, name);
	/* Words must differ: each starts with its index. */
	for (size_t i = 0; i < nwords; i++) {
		int w = wordlen >= 2 ? 2 : 1;

		o += (size_t)snprintf(s + o, cap - o, "%s\"%0*zu%s\"", i ? "," : "", w,
				      i % (w == 2 ? 100 : 10), word + w);
	}
	o += (size_t)snprintf(s + o, cap - o, "]}");
	for (size_t i = 1; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, ",\"--o%zu\":\"int\"", i);
	snprintf(s + o, cap - o, "}}}}");
	ck_assert_uint_lt(o + 4, cap);
	free(name);
	free(word);
	return s;
}

START_TEST(test_args_limits)
{
	static const struct {
		size_t n, namelen, nwords, wordlen, max;
		int want;
		const char *field;
	} cases[] = {
		{ 64, 63, 64, 256, 256, 0, NULL },
		{ 1, 1, 1, 1, 1, 0, NULL },
		{ 65, 1, 1, 1, 1, -EINVAL,
		  "entries.x.args: must be an object of at most 64 options" },
		{ 1, 64, 1, 1, 1, -EINVAL, "entries.x.args: invalid option name '--nnnn" },
		{ 1, 1, 10, 1, 1, 0, NULL },
		{ 1, 1, 65, 1, 1, -EINVAL, "entries.x.args.--n.words: must be an array of 1..64" },
		{ 1, 1, 1, 257, 1, -EINVAL,
		  "entries.x.args.--n.words[0]: must be a string of 1..256" },
		{ 1, 1, 1, 1, 257, -EINVAL, "entries.x.positional.max: must be an integer 1..256" },
		{ 1, 1, 1, 1, 0, -EINVAL, "entries.x.positional.max: must be an integer 1..256" },
	};
	struct manifest *m;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = build_args(cases[i].n, cases[i].namelen, cases[i].nwords,
				     cases[i].wordlen, cases[i].max);
		int r;

		err[0] = '\0';
		r = parse(s, &m, err, sizeof(err));
		ck_assert_msg(r == cases[i].want, "case %zu: %d (%s)", i, r, err);
		if (r == 0) {
			const struct manifest_entry *e = &m->entries[0];

			ck_assert_uint_eq(e->noptions, cases[i].n);
			ck_assert_uint_eq(strlen(e->options[0].name), cases[i].namelen + 2);
			ck_assert_uint_eq(e->options[0].value.nwords, cases[i].nwords);
			ck_assert_uint_eq(strlen(e->options[0].value.words[0]), cases[i].wordlen);
			ck_assert_uint_eq(e->positional_max, cases[i].max);
			manifest_free(m);
		} else {
			ck_assert_ptr_null(m);
			ck_assert_msg(strstr(err, cases[i].field), "case %zu: '%s' lacks '%s'", i,
				      err, cases[i].field);
		}
		free(s);
	}
}
END_TEST

/* Each breaks one rule; the message must contain `field`. */
static const struct {
	const char *json, *field;
} bad[] = {
	/* top level */
	{ "[]", "object" },
	{ "\"iris\"", "line 1" },
	{ "", "line 1" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"env\":{}}",
	  "unknown key 'env'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"Name\":\"a\"}",
	  "unknown key 'Name'" },
	/* name */
	{ "{\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name: missing" },
	{ "{\"name\":\"\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":\".a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":\"a/b\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":\"a b\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":\"é\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":\"a\\u0000b\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
	  "name:" },
	{ "{\"name\":7,\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	{ "{\"name\":null,\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "name:" },
	/* version */
	{ "{\"name\":\"a\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "version: missing" },
	{ "{\"name\":\"a\",\"version\":\"\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "version:" },
	{ "{\"name\":\"a\",\"version\":1.0,\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "version:" },
	{ "{\"name\":\"a\",\"version\":\"1\\n\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
	  "version:" },
	{ "{\"name\":\"a\",\"version\":\"1\\u007f\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
	  "version:" },
	{ "{\"name\":\"a\",\"version\":\"β\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}", "version:" },
	/* entries */
	{ "{\"name\":\"a\",\"version\":\"1\"}", "entries: missing" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{}}", "entries:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":[]}", "entries:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"..\":{\"argv\":[\"a\"]}}}",
	  "entries: invalid entry name '..'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"a;b\":{\"argv\":[\"a\"]}}}",
	  "entries: invalid entry name 'a;b'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"\":{\"argv\":[\"a\"]}}}",
	  "entries: invalid entry name ''" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"a\\nb\":{\"argv\":[\"a\"]}}}",
	  "entries: invalid entry name 'a\\x0ab'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":[\"a\"]}}", "entries.x:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"env\":{}}}}",
	  "entries.x: unknown key 'env'" },
	/* argv */
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{}}}", "entries.x.argv: missing" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":\"a b\"}}}",
	  "entries.x.argv:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[]}}}", "entries.x.argv:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\",1]}}}",
	  "entries.x.argv[1]:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\",\"\"]}}}",
	  "entries.x.argv[1]:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\\u0000b\"]}}}",
	  "entries.x.argv[0]:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[[\"a\"]]}}}",
	  "entries.x.argv[0]:" },
	/* host_args */
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"host_args\":1}}}",
	  "entries.x.host_args:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"host_args\":"
	  "\"true\"}}}",
	  "entries.x.host_args:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"host_args\":"
	  "null}}}",
	  "entries.x.host_args:" },
	/* timeout_s */
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":0}}}",
	  "entries.x.timeout_s:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":-1}}}",
	  "entries.x.timeout_s:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":"
	  "604801}}}",
	  "entries.x.timeout_s:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":"
	  "4294967297}}}",
	  "entries.x.timeout_s:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":"
	  "10.0}}}",
	  "entries.x.timeout_s:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"timeout_s\":"
	  "\"60\"}}}",
	  "entries.x.timeout_s:" },
	/* default */
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"default\":\"y\"}",
	  "default: 'y' is not an entry" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"default\":\"\"}",
	  "default:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"default\":"
	  "[\"x\"]}",
	  "default:" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}},\"default\":null}",
	  "default:" },
	/* args */
	{ E("\"args\":[]"), "entries.x.args: must be an object of at most 64 options" },
	{ E("\"args\":\"-d\""), "entries.x.args: must be an object" },
	{ E("\"args\":{\"-\":\"flag\"}"), "entries.x.args: invalid option name '-'" },
	{ E("\"args\":{\"d\":\"flag\"}"), "entries.x.args: invalid option name 'd'" },
	{ E("\"args\":{\"-vd\":\"flag\"}"), "entries.x.args: invalid option name '-vd'" },
	{ E("\"args\":{\"-_\":\"flag\"}"), "entries.x.args: invalid option name '-_'" },
	{ E("\"args\":{\"-é\":\"flag\"}"), "entries.x.args: invalid option name '-é'" },
	{ E("\"args\":{\"--\":\"flag\"}"), "entries.x.args: invalid option name '--'" },
	{ E("\"args\":{\"---x\":\"flag\"}"), "entries.x.args: invalid option name '---x'" },
	{ E("\"args\":{\"--a_b\":\"flag\"}"), "entries.x.args: invalid option name '--a_b'" },
	{ E("\"args\":{\"--a=b\":\"flag\"}"), "entries.x.args: invalid option name '--a=b'" },
	{ E("\"args\":{\"--a b\":\"flag\"}"), "entries.x.args: invalid option name '--a b'" },
	{ E("\"args\":{\"--a\\nb\":\"flag\"}"), "entries.x.args: invalid option name '--a\\x0ab'" },
	{ E("\"args\":{\"-d\":1}"), "entries.x.args.-d: must be a kind name or an object" },
	{ E("\"args\":{\"-d\":null}"), "entries.x.args.-d: must be a kind name or an object" },
	{ E("\"args\":{\"-d\":[\"path\"]}"), "entries.x.args.-d: must be a kind name or an object" },
	{ E("\"args\":{\"-d\":\"file\"}"), "entries.x.args.-d: must be \"flag\", \"path\"" },
	{ E("\"args\":{\"-d\":\"Path\"}"), "entries.x.args.-d: must be \"flag\", \"path\"" },
	/* "word" has no shorthand: it needs its words. */
	{ E("\"args\":{\"-d\":\"word\"}"), "entries.x.args.-d: must be \"flag\", \"path\"" },
	{ E("\"args\":{\"-d\":{}}"), "entries.x.args.-d.kind: missing" },
	{ E("\"args\":{\"-d\":{\"under\":[\"/dataset\"]}}"), "entries.x.args.-d.kind: missing" },
	{ E("\"args\":{\"-d\":{\"kind\":\"file\"}}"), "entries.x.args.-d.kind: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":1}}"), "entries.x.args.-d.kind: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"text\",\"min\":1}}"),
	  "entries.x.args.-d: unknown key 'min'" },
	{ E("\"args\":{\"-d\":{\"kind\":\"flag\",\"under\":[\"/dataset\"]}}"),
	  "entries.x.args.-d: unknown key 'under'" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"words\":[\"a\"]}}"),
	  "entries.x.args.-d: unknown key 'words'" },
	{ E("\"args\":{\"-d\":{\"kind\":\"int\",\"under\":[\"/dataset\"]}}"),
	  "entries.x.args.-d: unknown key 'under'" },
	{ E("\"args\":{\"-d\":{\"kind\":\"word\",\"words\":[\"a\"],\"max\":1}}"),
	  "entries.x.args.-d: unknown key 'max'" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"Under\":[\"/dataset\"]}}"),
	  "entries.x.args.-d: unknown key 'Under'" },
	/* path: under */
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[]}}"),
	  "entries.x.args.-d.under: must be a non-empty array" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":\"/dataset\"}}"),
	  "entries.x.args.-d.under: must be a non-empty array" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/app\"]}}"),
	  "entries.x.args.-d.under[0]: must be \"/dataset\", \"/model\" or \"/output\"" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/model\",\"/dataset/\"]}}"),
	  "entries.x.args.-d.under[1]: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"dataset\"]}}"),
	  "entries.x.args.-d.under[0]: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/\"]}}"),
	  "entries.x.args.-d.under[0]: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/dataset/x\"]}}"),
	  "entries.x.args.-d.under[0]: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[1]}}"),
	  "entries.x.args.-d.under[0]: must be" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/output\",\"/output\"]}}"),
	  "entries.x.args.-d.under[1]: '/output' is listed twice" },
	{ E("\"args\":{\"-d\":{\"kind\":\"path\",\"under\":[\"/output\",\"/model\",\"/dataset\","
	    "\"/output\"]}}"),
	  "entries.x.args.-d.under: must be a non-empty array" },
	/* int: min, max */
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"min\":1.0}}"),
	  "entries.x.args.-n.min: must be an integer" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"max\":\"9\"}}"),
	  "entries.x.args.-n.max: must be an integer" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"max\":1e3}}"),
	  "entries.x.args.-n.max: must be an integer" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"min\":null}}"),
	  "entries.x.args.-n.min: must be an integer" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"min\":2,\"max\":1}}"),
	  "entries.x.args.-n: min must not be above max" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"max\":-9223372036854775808,"
	    "\"min\":-9223372036854775807}}"),
	  "entries.x.args.-n: min must not be above max" },
	{ E("\"args\":{\"-n\":{\"kind\":\"int\",\"max\":9223372036854775808}}"), "too big" },
	/* word: words */
	{ E("\"args\":{\"-w\":{\"kind\":\"word\"}}"), "entries.x.args.-w.words: missing" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[]}}"),
	  "entries.x.args.-w.words: must be an array of 1..64 strings" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":\"a\"}}"),
	  "entries.x.args.-w.words: must be an array of 1..64 strings" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"a\",\"-b\"]}}"),
	  "entries.x.args.-w.words[1]: must be a string of 1..256 bytes, without a leading '-'" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"\"]}}"),
	  "entries.x.args.-w.words[0]:" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"a\\tb\"]}}"),
	  "entries.x.args.-w.words[0]:" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"a\\u007f\"]}}"),
	  "entries.x.args.-w.words[0]:" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"a\\u0000b\"]}}"),
	  "entries.x.args.-w.words[0]:" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[1]}}"),
	  "entries.x.args.-w.words[0]:" },
	{ E("\"args\":{\"-w\":{\"kind\":\"word\",\"words\":[\"csv\",\"json\",\"csv\"]}}"),
	  "entries.x.args.-w.words[2]: 'csv' is listed twice" },
	/* positional */
	{ E("\"positional\":\"path\""),
	  "entries.x.positional: must be an object with \"kind\" and \"max\"" },
	{ E("\"positional\":[]"), "entries.x.positional: must be an object with \"kind\" and \"max\"" },
	{ E("\"positional\":{\"max\":1}"), "entries.x.positional.kind: missing" },
	{ E("\"positional\":{\"kind\":\"path\"}"), "entries.x.positional.max: missing" },
	{ E("\"positional\":{\"kind\":\"flag\",\"max\":1}"),
	  "entries.x.positional.kind: must be \"path\", \"int\", \"word\" or \"text\"" },
	{ E("\"positional\":{\"kind\":\"text\",\"max\":\"1\"}"),
	  "entries.x.positional.max: must be an integer 1..256" },
	{ E("\"positional\":{\"kind\":\"text\",\"max\":-1}"),
	  "entries.x.positional.max: must be an integer 1..256" },
	{ E("\"positional\":{\"kind\":\"int\",\"min\":1,\"max\":3}"),
	  "entries.x.positional: unknown key 'min'" },
	{ E("\"positional\":{\"kind\":\"text\",\"max\":1,\"under\":[\"/dataset\"]}"),
	  "entries.x.positional: unknown key 'under'" },
	{ E("\"positional\":{\"kind\":\"path\",\"max\":1,\"under\":[\"/tmp\"]}"),
	  "entries.x.positional.under[0]: must be" },
	{ E("\"positional\":{\"kind\":\"word\",\"max\":1}"), "entries.x.positional.words: missing" },
	/* host_args: true is any argument; a declaration cannot narrow it */
	{ E("\"host_args\":true,\"args\":{\"-d\":\"path\"}"),
	  "entries.x: host_args: true (any argument) cannot be combined with args or positional" },
	{ E("\"args\":{\"-d\":\"path\"},\"host_args\":true"), "entries.x: host_args: true" },
	{ E("\"host_args\":true,\"args\":{}"), "entries.x: host_args: true" },
	{ E("\"host_args\":true,\"positional\":{\"kind\":\"text\",\"max\":1}"),
	  "entries.x: host_args: true" },
	/* stderr */
	{ E("\"stderr\":\"some\""),
	  "entries.x.stderr: must be \"none\", \"all\" or {\"last\": 1..1000}" },
	{ E("\"stderr\":\"All\""), "entries.x.stderr: must be" },
	{ E("\"stderr\":true"), "entries.x.stderr: must be" },
	{ E("\"stderr\":null"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":0}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":1001}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":-1}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":\"5\"}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":5.0}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":{\"last\":5,\"first\":1}"), "entries.x.stderr: must be" },
	{ E("\"stderr\":[\"last\",5]"), "entries.x.stderr: must be" },
	{ E("\"stderr\":\"none\",\"stderr\":\"all\""), "duplicate object key near '\"stderr\"'" },
	{ E("\"args\":{\"-d\":\"path\",\"-d\":\"int\"}"), "duplicate object key near '\"-d\"'" },
	/* duplicates, at every level */
	{ "{\"name\":\"a\",\"name\":\"b\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}",
	  "duplicate object key near '\"name\"'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]},\"x\":{\"argv\":"
	  "[\"b\"]}}}",
	  "duplicate object key near '\"x\"'" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"],\"argv\":[\"b\"]}}}",
	  "duplicate object key near '\"argv\"'" },
	/* trailing garbage, and a second document */
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}} x", "line 1" },
	{ "{\"name\":\"a\",\"version\":\"1\",\"entries\":{\"x\":{\"argv\":[\"a\"]}}}{}", "line 1" },
};

START_TEST(test_invalid)
{
	struct manifest *m = (struct manifest *)1;
	char err[256] = "";
	int r;

	r = parse(bad[_i].json, &m, err, sizeof(err));
	ck_assert_msg(r == -EINVAL, "%s: %d", bad[_i].json, r);
	ck_assert_ptr_null(m);
	ck_assert_msg(strstr(err, bad[_i].field), "%s: '%s' does not name '%s'", bad[_i].json, err,
		      bad[_i].field);
	/* Without room for a message, the verdict is the same. */
	ck_assert_int_eq(parse(bad[_i].json, &m, NULL, 0), -EINVAL);
}
END_TEST

/* Every proper prefix of a valid manifest is refused. */
START_TEST(test_truncated)
{
	static const char *const valid[] = { EXAMPLE, DECLARED };
	struct manifest *m;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		size_t n = strlen(valid[i]);

		/* Only whitespace after the closing brace would be harmless, and there is none. */
		for (size_t cut = 0; cut < n; cut++) {
			ck_assert_int_eq(manifest_parse(valid[i], cut, &m, err, sizeof(err)), -EINVAL);
			ck_assert_ptr_null(m);
		}
		ck_assert_int_eq(manifest_parse(valid[i], n, &m, err, sizeof(err)), 0);
		manifest_free(m);
	}
}
END_TEST

START_TEST(test_parse_too_big)
{
	char *s = repeat(' ', MANIFEST_MAX_BYTES + 1);
	struct manifest *m;
	char err[256] = "";

	memcpy(s, EXAMPLE, strlen(EXAMPLE));
	ck_assert_int_eq(manifest_parse(s, MANIFEST_MAX_BYTES, &m, err, sizeof(err)), 0);
	manifest_free(m);
	ck_assert_int_eq(manifest_parse(s, MANIFEST_MAX_BYTES + 1, &m, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_null(m);
	free(s);
}
END_TEST

static char tmpdir[256];
static int tmpfd = -1;

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_manifest.XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(tmpfd, 0);
}

static void remove_tmpdir(void)
{
	static const char *names[] = { "ok.json", "big.json", "max.json", "link.json", "dir",
				       "fifo" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlinkat(tmpfd, names[i], !strcmp(names[i], "dir") ? AT_REMOVEDIR : 0);
	close(tmpfd);
	rmdir(tmpdir);
}

static void write_file(const char *name, const char *data, size_t n)
{
	int fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_write_all(fd, data, n), 0);
	close(fd);
}

START_TEST(test_load)
{
	char *s = repeat(' ', MANIFEST_MAX_BYTES + 1);
	struct manifest *m;
	char err[256] = "";

	write_file("ok.json", EXAMPLE, strlen(EXAMPLE));
	ck_assert_int_eq(manifest_load(tmpfd, "ok.json", &m, err, sizeof(err)), 0);
	ck_assert_str_eq(m->name, "iris");
	manifest_free(m);

	memcpy(s, EXAMPLE, strlen(EXAMPLE));
	write_file("max.json", s, MANIFEST_MAX_BYTES);
	ck_assert_int_eq(manifest_load(tmpfd, "max.json", &m, err, sizeof(err)), 0);
	manifest_free(m);
	write_file("big.json", s, MANIFEST_MAX_BYTES + 1);
	ck_assert_int_eq(manifest_load(tmpfd, "big.json", &m, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(err, "big.json"));
	free(s);

	ck_assert_int_eq(manifest_load(tmpfd, "missing.json", &m, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "missing.json"));

	ck_assert_int_eq(symlinkat("ok.json", tmpfd, "link.json"), 0);
	ck_assert_int_eq(manifest_load(tmpfd, "link.json", &m, err, sizeof(err)), -ELOOP);
	ck_assert_ptr_null(m);

	ck_assert_int_eq(mkdirat(tmpfd, "dir", 0755), 0);
	ck_assert_int_eq(manifest_load(tmpfd, "dir", &m, err, sizeof(err)), -EINVAL);
	/* A FIFO must neither hang the reader nor be accepted. */
	ck_assert_int_eq(mkfifoat(tmpfd, "fifo", 0644), 0);
	ck_assert_int_eq(manifest_load(tmpfd, "fifo", &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	/* Paths are resolved beneath the directory only. */
	ck_assert_int_eq(manifest_load(tmpfd, "../ok.json", &m, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(manifest_load(tmpfd, "/etc/passwd", &m, err, sizeof(err)), -EINVAL);
}
END_TEST

static void assert_same_value(const struct manifest_value *x, const struct manifest_value *y)
{
	ck_assert_int_eq(x->kind, y->kind);
	if (x->kind == MANIFEST_KIND_PATH)
		ck_assert_uint_eq(x->roots, y->roots);
	if (x->kind == MANIFEST_KIND_INT)
		ck_assert(x->min == y->min && x->max == y->max);
	ck_assert_uint_eq(x->nwords, y->nwords);
	for (size_t i = 0; i < x->nwords; i++)
		ck_assert_str_eq(x->words[i], y->words[i]);
}

static void assert_same(const struct manifest *a, const struct manifest *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->version, b->version);
	ck_assert_uint_eq(a->nentries, b->nentries);
	if (a->default_entry)
		ck_assert_str_eq(a->default_entry, b->default_entry);
	else
		ck_assert_ptr_null(b->default_entry);
	for (size_t i = 0; i < a->nentries; i++) {
		const struct manifest_entry *x = &a->entries[i], *y = &b->entries[i];

		ck_assert_str_eq(x->name, y->name);
		ck_assert_uint_eq(x->argc, y->argc);
		for (size_t j = 0; j < x->argc; j++)
			ck_assert_str_eq(x->argv[j], y->argv[j]);
		ck_assert_int_eq(x->host_args, y->host_args);
		ck_assert_uint_eq(x->noptions, y->noptions);
		for (size_t j = 0; j < x->noptions; j++) {
			ck_assert_str_eq(x->options[j].name, y->options[j].name);
			assert_same_value(&x->options[j].value, &y->options[j].value);
		}
		ck_assert_uint_eq(x->positional_max, y->positional_max);
		if (x->positional_max)
			assert_same_value(&x->positional, &y->positional);
		ck_assert_int_eq(x->stderr_policy, y->stderr_policy);
		ck_assert_uint_eq(x->stderr_lines, y->stderr_lines);
		ck_assert_uint_eq(x->timeout_s, y->timeout_s);
	}
}

START_TEST(test_roundtrip)
{
	struct manifest *m, *m2;
	char err[256] = "", *s;

	ck_assert_int_eq(parse(EXAMPLE, &m, err, sizeof(err)), 0);
	s = manifest_to_json(m);
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(parse(s, &m2, err, sizeof(err)) == 0, "%s: %s", s, err);
	assert_same(m, m2);
	/* Entries keep their order. */
	ck_assert_str_eq(m2->entries[0].name, "predict");
	ck_assert_str_eq(m2->entries[1].name, "train");
	manifest_free(m2);
	free(s);
	manifest_free(m);
}
END_TEST

/* Declarations, shorthands and stderr policies survive the round trip, and
 * the result spells every field out. */
START_TEST(test_roundtrip_declared)
{
	struct manifest *m, *m2;
	char err[256] = "", *s;

	ck_assert_int_eq(parse(DECLARED, &m, err, sizeof(err)), 0);
	s = manifest_to_json(m);
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(parse(s, &m2, err, sizeof(err)) == 0, "%s: %s", s, err);
	assert_same(m, m2);
	ck_assert_str_eq(m2->entries[0].options[3].name, "-n");
	/* Shorthands are written as objects with their defaults. */
	ck_assert_ptr_nonnull(
	    strstr(s, "\"-d\": {\n          \"kind\": \"path\",\n          \"under\": [\n"
		      "            \"/dataset\",\n            \"/model\",\n"
		      "            \"/output\"\n"));
	ck_assert_ptr_nonnull(strstr(s, "\"min\": -9223372036854775808"));
	ck_assert_ptr_nonnull(strstr(s, "\"max\": 9223372036854775807"));
	ck_assert_ptr_nonnull(strstr(s, "\"-v\": {\n          \"kind\": \"flag\"\n"));
	ck_assert_ptr_nonnull(strstr(s, "\"stderr\": \"none\""));
	ck_assert_ptr_nonnull(strstr(s, "\"stderr\": \"all\""));
	ck_assert_ptr_nonnull(strstr(s, "\"last\": 20"));
	/* An entry without a declaration says so: "args" is empty. */
	ck_assert_ptr_nonnull(strstr(s, "\"args\": {}"));
	manifest_free(m2);
	free(s);
	manifest_free(m);
}
END_TEST

/* What enclave-seal does: build a manifest from options, serialize, check. */
START_TEST(test_roundtrip_built)
{
	char *argv1[] = { "/bin/sh", "-c", "echo \"$1\" 'q' \\n\t\x01", NULL };
	struct manifest_entry entries[] = {
		{ .name = "run", .argv = argv1, .argc = 3, .host_args = false, .timeout_s = 1 },
	};
	struct manifest built = { .name = "tool", .version = "0.1 beta", .entries = entries,
				  .nentries = 1, .default_entry = NULL };
	struct manifest *m;
	char err[256] = "", *s;

	s = manifest_to_json(&built);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strstr(s, "default"));
	ck_assert_msg(parse(s, &m, err, sizeof(err)) == 0, "%s: %s", s, err);
	assert_same(&built, m);
	manifest_free(m);
	free(s);

	/* A declaration and a stderr policy set in code. */
	{
		char *words[] = { "fast", "slow", NULL };
		struct manifest_option opts[] = {
			{ "--mode", { .kind = MANIFEST_KIND_WORD, .words = words, .nwords = 2 } },
			{ "-n", { .kind = MANIFEST_KIND_INT, .min = -5, .max = 5 } },
			{ "-o", { .kind = MANIFEST_KIND_PATH, .roots = 1u << 2 } },
		};

		entries[0].options = opts;
		entries[0].noptions = ARRAY_SIZE(opts);
		entries[0].positional =
		    (struct manifest_value){ .kind = MANIFEST_KIND_PATH, .roots = 3 };
		entries[0].positional_max = 9;
		entries[0].stderr_policy = MANIFEST_STDERR_LAST;
		entries[0].stderr_lines = 1000;
		s = manifest_to_json(&built);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(parse(s, &m, err, sizeof(err)) == 0, "%s: %s", s, err);
		assert_same(&built, m);
		manifest_free(m);
		free(s);

		/* host_args and a declaration cannot be written together. */
		entries[0].host_args = true;
		s = manifest_to_json(&built);
		ck_assert_ptr_nonnull(s);
		ck_assert_ptr_null(strstr(s, "\"args\""));
		ck_assert_ptr_null(strstr(s, "\"positional\""));
		ck_assert_int_eq(parse(s, &m, err, sizeof(err)), 0);
		ck_assert(m->entries[0].host_args);
		ck_assert_uint_eq(m->entries[0].noptions, 0);
		manifest_free(m);
		free(s);
		entries[0] = (struct manifest_entry){
			.name = "run", .argv = argv1, .argc = 3, .timeout_s = 1
		};
	}

	/* An invalid manifest serializes, and parsing the result names the problem. */
	built.name = ".bad";
	s = manifest_to_json(&built);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(parse(s, &m, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "name:"));
	free(s);
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_valid_example);
	tcase_add_test(tc, test_valid_edges);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_declared);
	tcase_add_test(tc, test_stderr);
	tcase_add_test(tc, test_args_limits);
	tcase_add_loop_test(tc, test_invalid, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_parse_too_big);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_roundtrip_declared);
	tcase_add_test(tc, test_roundtrip_built);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
	tcase_add_test(tc, test_load);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(manifest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
