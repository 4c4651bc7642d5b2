/* SigV4 (kms/sigv4.c) beyond the shared suite (tests/t/t0800-sigv4.sh): the
 * KMS call's header set against a signature python3-botocore computed for
 * the same request, the empty body, the session token, SIGV4_SIGN_BODY,
 * header and query canonicalisation, and input it must refuse. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <string.h>

#include "sigv4.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const struct sigv4_creds creds = { "AKIDEXAMPLE", SECRET, NULL };
static const char date[] = "20150830T123600Z";

static const char *added(const struct sigv4_signed *s, const char *name)
{
	for (size_t i = 0; i < s->nadd; i++)
		if (!strcasecmp(s->add[i].name, name))
			return s->add[i].value;
	return NULL;
}

/* The canonical request's line i (0-based), in buf. */
static const char *cr_line(const struct sigv4_signed *s, int i, char *buf, size_t bufsz)
{
	const char *p = s->canonical_request;

	while (i-- > 0) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	size_t n = strcspn(p, "\n");

	ck_assert_uint_lt(n, bufsz);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

static int sign_get(const struct sigv4_header *hs, size_t nh, const char *path, const char *query,
		    unsigned flags, const struct sigv4_creds *c, struct sigv4_signed *out)
{
	struct sigv4_request rq = { "GET", path, query, hs, nh, NULL, 0 };

	return sigv4_sign(&rq, c, "us-east-1", "service", date, flags, out);
}

static const struct sigv4_header host = { "Host", "example.amazonaws.com" };

START_TEST(kms_post_matches_botocore)
{
	/* python3-botocore's SigV4Auth on this request (X-Amz-Content-SHA256
	 * added, as the KMS client sends it) signed it with this signature. */
	static const char body[] = "{\"KeyId\":\"alias/efs\",\"KeySpec\":\"AES_256\"}";
	const struct sigv4_header hs[] = {
		{ "host", "kms.eu-west-1.amazonaws.com" },
		{ "content-type", "application/x-amz-json-1.1" },
		{ "x-amz-target", "TrentService.GenerateDataKey" },
	};
	const struct sigv4_creds c = { "AKIDEXAMPLE", SECRET, "FwoGZXIvYXdzEXAMPLETOKEN" };
	struct sigv4_request rq = { "POST", "/", "", hs, 3, (const uint8_t *)body, strlen(body) };
	struct sigv4_signed s = { 0 };

	ck_assert_int_eq(sigv4_sign(&rq, &c, "eu-west-1", "kms", "20261205T032649Z",
				    SIGV4_SIGN_BODY, &s), 0);
	ck_assert_str_eq(s.signature,
			 "df68b953f25fa9254f5b87b3cc0b9226bae713ef23a25f8055a6d013e12b5865");
	ck_assert_str_eq(s.canonical_request,
			 "POST\n/\n\n"
			 "content-type:application/x-amz-json-1.1\n"
			 "host:kms.eu-west-1.amazonaws.com\n"
			 "x-amz-content-sha256:c12491fb4f0795d4d9e1544cc86c503ac79821620401a3e6e1b792b663341911\n"
			 "x-amz-date:20261205T032649Z\n"
			 "x-amz-security-token:FwoGZXIvYXdzEXAMPLETOKEN\n"
			 "x-amz-target:TrentService.GenerateDataKey\n\n"
			 "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;"
			 "x-amz-target\n"
			 "c12491fb4f0795d4d9e1544cc86c503ac79821620401a3e6e1b792b663341911");
	ck_assert_uint_eq(s.nadd, 4);
	ck_assert_str_eq(s.add[0].name, "X-Amz-Date");
	ck_assert_str_eq(s.add[1].name, "X-Amz-Security-Token");
	ck_assert_str_eq(s.add[2].name, "x-amz-content-sha256");
	ck_assert_str_eq(s.add[3].name, "Authorization");
	ck_assert_str_eq(s.add[3].value,
			 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/eu-west-1/kms/aws4_request, "
			 "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
			 "x-amz-security-token;x-amz-target, "
			 "Signature=df68b953f25fa9254f5b87b3cc0b9226bae713ef23a25f8055a6d013e12b5865");
	/* the secret is in no output */
	ck_assert_ptr_null(strstr(s.canonical_request, SECRET));
	ck_assert_ptr_null(strstr(s.string_to_sign, SECRET));
	for (size_t i = 0; i < s.nadd; i++)
		ck_assert_ptr_null(strstr(s.add[i].value, SECRET));
	sigv4_signed_release(&s);

	/* one byte of the body changes the signature */
	rq.body_len--;
	ck_assert_int_eq(sigv4_sign(&rq, &c, "eu-west-1", "kms", "20261205T032649Z",
				    SIGV4_SIGN_BODY, &s), 0);
	ck_assert_str_ne(s.signature,
			 "df68b953f25fa9254f5b87b3cc0b9226bae713ef23a25f8055a6d013e12b5865");
	sigv4_signed_release(&s);
}
END_TEST

START_TEST(empty_body_and_sign_body)
{
	struct sigv4_signed s = { 0 }, b = { 0 };
	char l[256];

	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0, &creds, &s), 0);
	ck_assert_ptr_nonnull(strstr(s.canonical_request, "\n" EMPTY_SHA256));
	ck_assert_uint_eq(s.nadd, 2);
	ck_assert_ptr_null(added(&s, "x-amz-content-sha256"));
	ck_assert_str_eq(cr_line(&s, 6, l, sizeof(l)), "host;x-amz-date");

	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, SIGV4_SIGN_BODY, &creds, &b), 0);
	ck_assert_uint_eq(b.nadd, 3);
	ck_assert_str_eq(added(&b, "x-amz-content-sha256"), EMPTY_SHA256);
	ck_assert_str_eq(cr_line(&b, 3, l, sizeof(l)), "host:example.amazonaws.com");
	ck_assert_str_eq(cr_line(&b, 4, l, sizeof(l)), "x-amz-content-sha256:" EMPTY_SHA256);
	ck_assert_str_eq(cr_line(&b, 7, l, sizeof(l)), "host;x-amz-content-sha256;x-amz-date");
	ck_assert_str_ne(s.signature, b.signature);
	sigv4_signed_release(&s);
	sigv4_signed_release(&b);
}
END_TEST

START_TEST(session_token)
{
	struct sigv4_creds t = creds;
	struct sigv4_signed s = { 0 };
	char l[256];

	t.session_token = "TOKEN  with  spaces";
	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0, &t, &s), 0);
	ck_assert_uint_eq(s.nadd, 3);
	ck_assert_str_eq(s.add[1].name, "X-Amz-Security-Token");
	ck_assert_str_eq(s.add[1].value, "TOKEN  with  spaces"); /* sent as given */
	ck_assert_str_eq(cr_line(&s, 5, l, sizeof(l)), "x-amz-security-token:TOKEN with spaces");
	ck_assert_ptr_nonnull(strstr(s.add[2].value, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));
	sigv4_signed_release(&s);

	t.session_token = ""; /* empty: no token */
	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0, &t, &s), 0);
	ck_assert_uint_eq(s.nadd, 2);
	ck_assert_ptr_null(added(&s, "x-amz-security-token"));
	sigv4_signed_release(&s);
}
END_TEST

START_TEST(header_and_query_canonical_forms)
{
	const struct sigv4_header hs[] = {
		{ "X-B", "\t two   words \t" }, host, { "x-b", "second" }, { "X-A", "" },
	};
	struct sigv4_signed s = { 0 };
	char l[256];

	ck_assert_int_eq(sign_get(hs, 4, "/a/./b/../c//", "b=2&a=2&a=1&flag&x=%7e%41+&=v", 0, &creds,
				  &s), 0);
	ck_assert_str_eq(cr_line(&s, 1, l, sizeof(l)), "/a/c/");
	ck_assert_str_eq(cr_line(&s, 2, l, sizeof(l)), "=v&a=1&a=2&b=2&flag=&x=~A%2B");
	ck_assert_str_eq(cr_line(&s, 3, l, sizeof(l)), "host:example.amazonaws.com");
	ck_assert_str_eq(cr_line(&s, 4, l, sizeof(l)), "x-a:");
	ck_assert_str_eq(cr_line(&s, 5, l, sizeof(l)), "x-amz-date:" "20150830T123600Z");
	ck_assert_str_eq(cr_line(&s, 6, l, sizeof(l)), "x-b:two words,second");
	ck_assert_str_eq(cr_line(&s, 8, l, sizeof(l)), "host;x-a;x-amz-date;x-b");
	sigv4_signed_release(&s);

	/* not normalised: every segment encoded once, dots and "//" kept */
	ck_assert_int_eq(sign_get(&host, 1, "/a b/./%41//", NULL, SIGV4_NO_NORMALIZE, &creds, &s), 0);
	ck_assert_str_eq(cr_line(&s, 1, l, sizeof(l)), "/a%20b/./%2541//");
	sigv4_signed_release(&s);
	/* normalised above the root stays at the root */
	ck_assert_int_eq(sign_get(&host, 1, "/../../x", NULL, 0, &creds, &s), 0);
	ck_assert_str_eq(cr_line(&s, 1, l, sizeof(l)), "/x");
	sigv4_signed_release(&s);
}
END_TEST

START_TEST(refused_input)
{
	struct sigv4_signed s = { 0 };
	struct sigv4_creds c = creds;
	const struct sigv4_header other = { "x-other", "v" };
	const struct sigv4_header auth[] = { host, { "Authorization", "x" } };
	const struct sigv4_header date_h[] = { host, { "X-Amz-Date", date } };
	const struct sigv4_header crlf[] = { host, { "x-inject", "a\r\nx-evil: 1" } };
	const struct sigv4_header badname[] = { host, { "x bad", "v" } };
	struct sigv4_request rq = { "GET", "/", NULL, &host, 1, NULL, 0 };

	ck_assert_int_eq(sign_get(&other, 1, "/", NULL, 0, &creds, &s), -EINVAL); /* no host */
	ck_assert_int_eq(sign_get(auth, 2, "/", NULL, 0, &creds, &s), -EINVAL);
	ck_assert_int_eq(sign_get(date_h, 2, "/", NULL, 0, &creds, &s), -EINVAL);
	ck_assert_int_eq(sign_get(crlf, 2, "/", NULL, 0, &creds, &s), -EINVAL);
	ck_assert_int_eq(sign_get(badname, 2, "/", NULL, 0, &creds, &s), -EINVAL);
	ck_assert_int_eq(sign_get(&host, 1, "relative", NULL, 0, &creds, &s), -EINVAL);
	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0x80, &creds, &s), -EINVAL);
	c.access_key_id = "";
	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0, &c, &s), -EINVAL);
	c = creds;
	c.secret_access_key = NULL;
	ck_assert_int_eq(sign_get(&host, 1, "/", NULL, 0, &c, &s), -EINVAL);
	ck_assert_int_eq(sigv4_sign(&rq, &creds, "us/east", "service", date, 0, &s), -EINVAL);
	ck_assert_int_eq(sigv4_sign(&rq, &creds, "us-east-1", "", date, 0, &s), -EINVAL);
	ck_assert_int_eq(sigv4_sign(&rq, &creds, "us-east-1", "kms", "2015-08-30T12:36Z", 0, &s),
			 -EINVAL);
	ck_assert_int_eq(sigv4_sign(&rq, &creds, "us-east-1", "kms", "20150830T123600X", 0, &s),
			 -EINVAL);
	rq.body_len = 3; /* a length without a body */
	ck_assert_int_eq(sigv4_sign(&rq, &creds, "us-east-1", "kms", date, 0, &s), -EINVAL);
	/* every failure leaves the output empty and releasable */
	ck_assert_ptr_null(s.canonical_request);
	ck_assert_uint_eq(s.nadd, 0);
	sigv4_signed_release(&s);
	sigv4_signed_release(NULL);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("sigv4");
	TCase *tc = tcase_create("sigv4");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, kms_post_matches_botocore);
	tcase_add_test(tc, empty_body_and_sign_body);
	tcase_add_test(tc, session_token);
	tcase_add_test(tc, header_and_query_canonical_forms);
	tcase_add_test(tc, refused_input);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
