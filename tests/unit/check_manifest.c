/* The manifest: valid examples, every schema rule broken once (each refused
 * with -EINVAL and a message naming the field), duplicates, truncation,
 * trailing garbage, size limits through manifest_load, and the round trip
 * through manifest_to_json. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
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
	size_t n = strlen(EXAMPLE);
	struct manifest *m;
	char err[256];

	for (size_t cut = 0; cut < n; cut++) {
		/* Only whitespace after the closing brace would be harmless, and there is none. */
		ck_assert_int_eq(manifest_parse(EXAMPLE, cut, &m, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_null(m);
	}
	ck_assert_int_eq(manifest_parse(EXAMPLE, n, &m, err, sizeof(err)), 0);
	manifest_free(m);
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
	tcase_add_loop_test(tc, test_invalid, 0, ARRAY_SIZE(bad));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_parse_too_big);
	tcase_add_test(tc, test_roundtrip);
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
