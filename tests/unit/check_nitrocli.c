/* nitro/nitrocli.c: an enclave's CID from nitro-cli describe-enclaves, with
 * the real output's shape, hostile answers, and nitro-cli itself replaced by
 * small scripts (missing, failing, flooding). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nitro/nitrocli.h"

/* The shape nitro-cli prints: two enclaves, one of them terminating. */
static const char TWO[] =
	"[\n"
	"  {\n"
	"    \"EnclaveName\": \"iris\",\n"
	"    \"EnclaveID\": \"i-0123456789abcdef0-enc0123456789abcdef\",\n"
	"    \"ProcessID\": 4242,\n"
	"    \"EnclaveCID\": 16,\n"
	"    \"NumberOfCPUs\": 2,\n"
	"    \"CPUIDs\": [1, 3],\n"
	"    \"MemoryMiB\": 4096,\n"
	"    \"State\": \"RUNNING\",\n"
	"    \"Flags\": \"NONE\",\n"
	"    \"Measurements\": {\"HashAlgorithm\": \"Sha384 { ... }\", \"PCR0\": \"00\", "
	"\"PCR1\": \"00\", \"PCR2\": \"00\"}\n"
	"  },\n"
	"  {\"EnclaveName\": \"old\", \"EnclaveID\": \"x\", \"ProcessID\": 1, \"EnclaveCID\": 17,"
	" \"NumberOfCPUs\": 2, \"CPUIDs\": [1, 3], \"MemoryMiB\": 512, \"State\": \"TERMINATING\","
	" \"Flags\": \"NONE\"}\n"
	"]\n";

static int pick(const char *json, const char *name, uint32_t *cid, char *why)
{
	return nitro_pick_cid(json, strlen(json), name, cid, why, 256);
}

START_TEST(test_pick_by_name)
{
	char why[256];
	uint32_t cid = 0;

	ck_assert_int_eq(pick(TWO, "iris", &cid, why), 0);
	ck_assert_uint_eq(cid, 16);
	/* only running enclaves count: "old" is terminating */
	ck_assert_int_eq(pick(TWO, "old", &cid, why), -ENOENT);
	ck_assert_str_eq(why, "no running enclave is named 'old'");
	ck_assert_int_eq(pick(TWO, "nosuch", &cid, why), -ENOENT);
	/* the only running one, for an empty name */
	cid = 0;
	ck_assert_int_eq(pick(TWO, "", &cid, why), 0);
	ck_assert_uint_eq(cid, 16);
	ck_assert_int_eq(pick("[]", "", &cid, why), -ENOENT);
	ck_assert_str_eq(why, "no enclave is running");
	/* an enclave started without a name: found by "" only */
	ck_assert_int_eq(pick("[{\"EnclaveCID\": 20, \"State\": \"RUNNING\"}]", "", &cid, why), 0);
	ck_assert_uint_eq(cid, 20);
}
END_TEST

START_TEST(test_pick_ambiguous)
{
	static const char three[] =
		"[{\"EnclaveName\": \"a\", \"EnclaveCID\": 16, \"State\": \"RUNNING\"},"
		" {\"EnclaveName\": \"b\", \"EnclaveCID\": 17, \"State\": \"RUNNING\"},"
		" {\"EnclaveName\": \"a\", \"EnclaveCID\": 18, \"State\": \"RUNNING\"}]";
	char why[256];
	uint32_t cid = 99;

	ck_assert_int_eq(pick(three, "", &cid, why), -ENOTUNIQ);
	ck_assert_str_eq(why, "3 enclaves are running (a, b, a); name one: nitro:NAME");
	ck_assert_int_eq(pick(three, "a", &cid, why), -ENOTUNIQ);
	ck_assert_str_eq(why, "2 running enclaves are named 'a'");
	ck_assert_int_eq(pick(three, "b", &cid, why), 0);
	ck_assert_uint_eq(cid, 17);
}
END_TEST

/* Hostile or broken answers: each refused with -EBADMSG or -ERANGE, and the
 * CID left alone. */
START_TEST(test_pick_hostile)
{
	static const struct {
		const char *json;
		int err;
		const char *why;
	} cases[] = {
		{ "", -EBADMSG, "not JSON" },
		{ "[", -EBADMSG, "not JSON" },
		{ "{\"EnclaveCID\": 16}", -EBADMSG, "not a list of enclaves" },
		{ "[1]", -EBADMSG, "enclave 0 in nitro-cli's answer lacks" },
		{ "[{\"State\": \"RUNNING\"}]", -EBADMSG, "lacks EnclaveCID" },
		{ "[{\"EnclaveCID\": \"16\", \"State\": \"RUNNING\"}]", -EBADMSG, "lacks" },
		{ "[{\"EnclaveCID\": 16.5, \"State\": \"RUNNING\"}]", -EBADMSG, "lacks" },
		{ "[{\"EnclaveCID\": 16, \"State\": 1}]", -EBADMSG, "lacks" },
		{ "[{\"EnclaveCID\": 16, \"State\": \"RUNNING\", \"EnclaveName\": 5}]", -EBADMSG,
		  "lacks" },
		{ "[{\"EnclaveCID\": 16, \"EnclaveCID\": 17, \"State\": \"RUNNING\"}]", -EBADMSG,
		  "not JSON" },
		{ "[{\"EnclaveCID\": 3, \"State\": \"RUNNING\"}]", -ERANGE, "CID is 3" },
		{ "[{\"EnclaveCID\": -1, \"State\": \"RUNNING\"}]", -ERANGE, "CID is -1" },
		{ "[{\"EnclaveCID\": 4294967295, \"State\": \"RUNNING\"}]", -ERANGE, "4294967295" },
		{ "[{\"EnclaveCID\": 99999999999999999999, \"State\": \"RUNNING\"}]", -EBADMSG,
		  "not JSON" },
		{ "[] trailing", -EBADMSG, "not JSON" },
	};
	char why[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cid = 7;
		int r = pick(cases[i].json, "", &cid, why);

		ck_assert_msg(r == cases[i].err, "case %zu: %d", i, r);
		ck_assert_msg(strstr(why, cases[i].why), "case %zu: %s", i, why);
		ck_assert_uint_eq(cid, 7);
	}
	/* A name from the answer reaches a message only as printable text. */
	{
		static const char evil[] =
			"[{\"EnclaveName\": \"a\\u001b[2J\", \"EnclaveCID\": 16, \"State\": \"RUNNING\"},"
			" {\"EnclaveName\": \"b\", \"EnclaveCID\": 17, \"State\": \"RUNNING\"}]";
		uint32_t cid;

		ck_assert_int_eq(pick(evil, "", &cid, why), -ENOTUNIQ);
		ck_assert_ptr_null(strchr(why, '\x1b'));
		ck_assert_ptr_nonnull(strstr(why, "a?[2J"));
	}
	/* embedded NUL in the input: not JSON */
	{
		uint32_t cid;

		ck_assert_int_eq(nitro_pick_cid("[]\0[]", 5, "", &cid, why, sizeof(why)), -EBADMSG);
		ck_assert_int_eq(nitro_pick_cid("[]", NITRO_CLI_OUTPUT_MAX + 1, "", &cid, why,
						 sizeof(why)), -EBADMSG);
	}
}
END_TEST

static char dir[] = "/tmp/check_nitrocli.XXXXXX";

static void script(const char *name, const char *body)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_int_eq(setenv("EFS_NITRO_CLI", path, 1), 0);
}

START_TEST(test_find_runs_nitro_cli)
{
	char why[256];
	uint32_t cid = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* it is asked describe-enclaves, and nothing else */
	script("ok", "[ \"$*\" = describe-enclaves ] || exit 9\n"
		     "echo '[{\"EnclaveName\": \"iris\", \"EnclaveCID\": 23, \"State\": \"RUNNING\"}]'");
	ck_assert_int_eq(nitro_find_cid("iris", &cid, why, sizeof(why)), 0);
	ck_assert_uint_eq(cid, 23);

	script("fails", "echo 'Error: [E26] something failed' >&2; echo 'more' >&2; exit 3");
	ck_assert_int_eq(nitro_find_cid("iris", &cid, why, sizeof(why)), -EIO);
	ck_assert_msg(strstr(why, "failed (exit 3): Error: [E26] something failed"), "%s", why);
	ck_assert_ptr_null(strstr(why, "more"));

	/* an answer over the cap is cut off, not read to the end */
	script("floods", "exec yes '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['");
	ck_assert_int_eq(nitro_find_cid("iris", &cid, why, sizeof(why)), -EBADMSG);
	ck_assert_msg(strstr(why, "answered more than"), "%s", why);

	ck_assert_int_eq(setenv("EFS_NITRO_CLI", "/nonexistent/nitro-cli", 1), 0);
	ck_assert_int_eq(nitro_find_cid("iris", &cid, why, sizeof(why)), -ENOENT);
	ck_assert_msg(strstr(why, "is not installed"), "%s", why);
	ck_assert_uint_eq(cid, 23);
	unsetenv("EFS_NITRO_CLI");
	(void)!system("rm -rf /tmp/check_nitrocli.*");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("nitrocli");
	TCase *tc = tcase_create("pick");

	tcase_add_test(tc, test_pick_by_name);
	tcase_add_test(tc, test_pick_ambiguous);
	tcase_add_test(tc, test_pick_hostile);
	tcase_add_test(tc, test_find_runs_nitro_cli);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
