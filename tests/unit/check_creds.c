/* AWS credentials and region (kms/creds.c): the environment, profile files
 * written here (hostile ones too), the INI reader, IMDS answers, the
 * refresh time, and an IMDS endpoint that does not answer. The IMDS round
 * trip itself runs against the test double in tests/t/t0840-kms-mount.sh. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"

static char dir[] = "/tmp/check_creds.XXXXXX";
static char path[4200];

static void write_file(const char *name, const char *text, size_t n)
{
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, n, f), n);
	fclose(f);
}

static void clear_env(void)
{
	static const char *const vars[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
					    "AWS_SESSION_TOKEN", "AWS_PROFILE",
					    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
					    "AWS_REGION", "AWS_DEFAULT_REGION" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
}

START_TEST(sources)
{
	enum aws_creds_source s;
	struct aws_creds c;
	char why[256];

	clear_env();
	ck_assert_int_eq(aws_creds_source_parse("imds", &s), 0);
	ck_assert_int_eq(s, AWS_CREDS_IMDS);
	ck_assert_int_eq(aws_creds_source_parse("env", &s), 0);
	ck_assert_int_eq(aws_creds_source_parse("profile", &s), 0);
	ck_assert_int_eq(aws_creds_source_parse("none", &s), 0);
	ck_assert_int_eq(s, AWS_CREDS_NONE);
	ck_assert_int_eq(aws_creds_source_parse("IMDS", &s), -EINVAL);
	ck_assert_int_eq(aws_creds_source_parse("", &s), -EINVAL);
	if (!aws_on_ec2())
		ck_assert_int_eq(aws_creds_source_default(), AWS_CREDS_NONE);
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	ck_assert_int_eq(aws_creds_source_default(), AWS_CREDS_ENV);
	/* env: the secret is required, the token optional */
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_ENV, &c, why, sizeof(why)), -ENOENT);
	ck_assert(strstr(why, "AWS_SECRET_ACCESS_KEY") != NULL);
	ck_assert_str_eq(c.access_key_id, "");
	setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_ENV, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.access_key_id, "AKIAENV");
	ck_assert_str_eq(c.secret_access_key, "s3cr3t");
	ck_assert_str_eq(c.session_token, "");
	ck_assert_int_eq(c.expiration, 0);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_ENV, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.session_token, "tok");
	/* a value longer than the field: refused, and nothing half-copied */
	{
		char big[200];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		setenv("AWS_ACCESS_KEY_ID", big, 1);
		ck_assert_int_eq(aws_creds_load(AWS_CREDS_ENV, &c, why, sizeof(why)), -EBADMSG);
		ck_assert_str_eq(c.access_key_id, "");
		ck_assert(strstr(why, "s3cr3t") == NULL);
	}
	aws_creds_wipe(&c);
	ck_assert_str_eq(c.secret_access_key, "");
	clear_env();
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_NONE, &c, why, sizeof(why)), -ENOENT);
}
END_TEST

START_TEST(profiles)
{
	static const char text[] =
		"# comment\r\n"
		"[default]\r\n"
		"aws_access_key_id = AKIADEFAULT\r\n"
		"aws_secret_access_key=defsecret   \r\n"
		"; another comment\n"
		"[ work ]\n"
		"aws_access_key_id=AKIAWORK\n"
		"aws_secret_access_key = first\n"
		"aws_secret_access_key = second\n"
		"aws_session_token = worktoken\n"
		"[nosecret]\n"
		"aws_access_key_id=AKIAX\n";
	struct aws_creds c;
	char why[256];

	clear_env();
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), -ENOENT);
	write_file("credentials", text, sizeof(text) - 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	ck_assert_int_eq(aws_creds_source_default(), aws_on_ec2() ? AWS_CREDS_IMDS : AWS_CREDS_PROFILE);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.access_key_id, "AKIADEFAULT");
	ck_assert_str_eq(c.secret_access_key, "defsecret");
	ck_assert_str_eq(c.session_token, "");
	setenv("AWS_PROFILE", "work", 1);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.access_key_id, "AKIAWORK");
	ck_assert_str_eq(c.secret_access_key, "second"); /* the last one wins */
	ck_assert_str_eq(c.session_token, "worktoken");
	setenv("AWS_PROFILE", "nosecret", 1);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), -ENOENT);
	ck_assert(strstr(why, "[nosecret]") != NULL);
	setenv("AWS_PROFILE", "missing", 1);
	ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), -ENOENT);
	/* a file over 1 MiB is refused before it is read */
	{
		size_t n = 2u << 20;
		char *big = malloc(n);

		ck_assert_ptr_nonnull(big);
		memset(big, '#', n);
		write_file("big", big, n);
		free(big);
		setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
		ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), -EBADMSG);
	}
	/* a secret longer than the field */
	{
		char t[600];

		snprintf(t, sizeof(t), "[default]\naws_access_key_id=A\naws_secret_access_key=%0300d\n", 7);
		write_file("long", t, strlen(t));
		setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
		unsetenv("AWS_PROFILE");
		ck_assert_int_eq(aws_creds_load(AWS_CREDS_PROFILE, &c, why, sizeof(why)), -EBADMSG);
		ck_assert_str_eq(c.access_key_id, "");
	}
	clear_env();
}
END_TEST

START_TEST(ini)
{
	char out[16];

	ck_assert_int_eq(aws_ini_get("", 0, "a", "k", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(aws_ini_get("[a\nk=v\n", 7, "a", "k", out, sizeof(out)), -EBADMSG);
	ck_assert_int_eq(aws_ini_get("k=v\n[a]\n", 8, "a", "k", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(aws_ini_get("[a]\nk=v", 7, "a", "k", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "v");
	ck_assert_int_eq(aws_ini_get("[a]\nk=\n", 7, "a", "k", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(aws_ini_get("[a]\nkk=v\nk2=w\n", 14, "a", "k", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(aws_ini_get("[a]\nk=0123456789abcdef\n", 22, "a", "k", out, sizeof(out)),
			 -EMSGSIZE);
	/* a NUL inside: the text is read by length, the NUL is a character */
	ck_assert_int_eq(aws_ini_get("[a]\nk=x\0y\n", 10, "a", "k", out, sizeof(out)), 0);
	ck_assert_int_eq(out[1], '\0');
	/* only the named section */
	ck_assert_int_eq(aws_ini_get("[b]\nk=1\n[a]\nk=2\n[b]\nk=3\n", 24, "a", "k", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "2");
}
END_TEST

static int parse(const char *json, struct aws_creds *c)
{
	char why[256] = "";
	int r = aws_imds_parse_creds(json, strlen(json), c, why, sizeof(why));

	if (r < 0) {
		ck_assert_str_ne(why, "");
		ck_assert(strstr(why, "SECRET") == NULL);
		ck_assert_str_eq(c->secret_access_key, "");
	}
	return r;
}

START_TEST(imds_answers)
{
	struct aws_creds c;
	char big[80000];

	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"LastUpdated\":\"2026-12-05T00:00:00Z\","
			       "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":"
			       "\"SECRET\",\"Token\":\"TOK\",\"Expiration\":\"2026-12-05T06:00:00Z\"}",
			       &c),
			 0);
	ck_assert_str_eq(c.access_key_id, "ASIAX");
	ck_assert_str_eq(c.secret_access_key, "SECRET");
	ck_assert_str_eq(c.session_token, "TOK");
	ck_assert_int_eq(c.expiration, 1796450400); /* 2026-12-05T06:00:00Z */
	ck_assert_int_eq(parse("{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"SECRET\","
			       "\"Token\":\"T\",\"Expiration\":\"2026-12-05T06:00:00Z\"}", &c),
			 -EBADMSG);
	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"SecretAccessKey\":\"SECRET\",\"Token\":\"T\","
			       "\"Expiration\":\"2026-12-05T06:00:00Z\"}", &c),
			 -EBADMSG);
	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"SECRET\","
			       "\"Token\":\"T\",\"Expiration\":\"tomorrow\"}", &c),
			 -EBADMSG);
	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"AccessKeyId\":1,\"SecretAccessKey\":\"SECRET\","
			       "\"Token\":\"T\",\"Expiration\":\"2026-12-05T06:00:00Z\"}", &c),
			 -EBADMSG);
	ck_assert_int_eq(parse("{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\","
			       "\"SecretAccessKey\":\"SECRET\",\"Token\":\"T\","
			       "\"Expiration\":\"2026-12-05T06:00:00Z\"}", &c),
			 -EBADMSG);
	ck_assert_int_eq(parse("[]", &c), -EBADMSG);
	ck_assert_int_eq(parse("{\"Code\":\"Success\"", &c), -EBADMSG);
	snprintf(big, sizeof(big), "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
				   "\"SECRET\",\"Token\":\"%070000d\",\"Expiration\":\"2026-12-05T06:00:00Z\"}",
		 1);
	ck_assert_int_eq(parse(big, &c), -EBADMSG);
}
END_TEST

START_TEST(refresh_and_regions)
{
	struct aws_creds c = { .expiration = 0 };
	char region[AWS_REGION_MAX], why[256];

	ck_assert_int_eq(aws_creds_refresh_at(&c, 1000), 0);
	c.expiration = 1000 + 3600;
	ck_assert_int_eq(aws_creds_refresh_at(&c, 1000), 1000 + 3600 - 300);
	c.expiration = 1010;
	ck_assert_int_eq(aws_creds_refresh_at(&c, 1000), 1005);
	c.expiration = 990;
	ck_assert_int_eq(aws_creds_refresh_at(&c, 1000), 990);

	ck_assert(aws_region_valid("us-east-1"));
	ck_assert(aws_region_valid("eu-central-2"));
	ck_assert(!aws_region_valid(""));
	ck_assert(!aws_region_valid("US-EAST-1"));
	ck_assert(!aws_region_valid("us_east_1"));
	ck_assert(!aws_region_valid("us-east-1.evil.com"));
	ck_assert(!aws_region_valid("abcdefghijklmnopqrstuvwxyz0123456"));

	clear_env();
	setenv("AWS_REGION", "eu-west-3", 1);
	ck_assert_int_eq(aws_region_load(AWS_CREDS_ENV, region, why, sizeof(why)), 0);
	ck_assert_str_eq(region, "eu-west-3");
	setenv("AWS_REGION", "not a region", 1);
	ck_assert_int_eq(aws_region_load(AWS_CREDS_ENV, region, why, sizeof(why)), -EINVAL);
	clear_env();
	{
		static const char cfg[] = "[default]\nregion = ap-south-1\n[profile work]\nregion=sa-east-1\n";

		write_file("config", cfg, sizeof(cfg) - 1);
	}
	setenv("AWS_CONFIG_FILE", path, 1);
	ck_assert_int_eq(aws_region_load(AWS_CREDS_PROFILE, region, why, sizeof(why)), 0);
	ck_assert_str_eq(region, "ap-south-1");
	setenv("AWS_PROFILE", "work", 1);
	ck_assert_int_eq(aws_region_load(AWS_CREDS_PROFILE, region, why, sizeof(why)), 0);
	ck_assert_str_eq(region, "sa-east-1");
	clear_env();
}
END_TEST

/* An IMDS endpoint where nothing listens: an error, soon. */
START_TEST(imds_unreachable)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct aws_creds c;
	char url[64], why[256];
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;
	time_t t0;

	/* A port that was just free: bound, then closed. */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	t0 = time(NULL);
	r = aws_imds_creds(url, &c, why, sizeof(why));
	ck_assert(r == -EHOSTUNREACH || r == -ETIMEDOUT);
	ck_assert(strstr(why, "IMDS") != NULL);
	ck_assert_int_le(time(NULL) - t0, 10);
	ck_assert_str_eq(c.access_key_id, "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("creds");
	TCase *tc = tcase_create("creds");
	SRunner *sr;
	int failed;

	if (!mkdtemp(dir))
		return 1;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sources);
	tcase_add_test(tc, profiles);
	tcase_add_test(tc, ini);
	tcase_add_test(tc, imds_answers);
	tcase_add_test(tc, refresh_and_regions);
	tcase_add_test(tc, imds_unreachable);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		failed++;
	return failed ? 1 : 0;
}
