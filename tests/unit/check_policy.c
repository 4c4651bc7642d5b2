/* The KMS key policy (kms/policy.c): its statements, that Decrypt is
 * allowed only under the attestation condition and denied to everyone
 * without it, that nobody may re-encrypt, and the refused arguments. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy.h"

#define ACCT "111122223333"
#define ENCLAVE "arn:aws:iam::444455556666:role/enclave-fs-parent"
#define SEALER "arn:aws:iam::111122223333:role/sealer"

static char pcr_a[97], pcr_b[97], pcr_8[97];

static json_t *policy(const char *const *pcr0, size_t n, const char *pcr8)
{
	struct kms_policy_args a = { ACCT, ENCLAVE, SEALER, pcr0, n, pcr8 };
	char *out = NULL, why[256] = "";
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(kms_policy_json(&a, &out, why, sizeof(why)), 0);
	ck_assert(out[strlen(out) - 1] == '\n');
	j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", e.text);
	free(out);
	return j;
}

static json_t *statement(json_t *p, const char *sid)
{
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(p, "Statement"), i, s)
		if (!strcmp(json_string_value(json_object_get(s, "Sid")), sid))
			return s;
	return NULL;
}

static bool has_action(json_t *s, const char *action)
{
	json_t *a = json_object_get(s, "Action"), *v;
	size_t i;

	if (json_is_string(a))
		return !strcmp(json_string_value(a), action);
	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(v), action))
			return true;
	return false;
}

START_TEST(statements)
{
	const char *pcrs[] = { pcr_a, pcr_b };
	json_t *p = policy(pcrs, 2, NULL), *s, *st, *c, *vals;
	char lower_b[97];
	size_t i;

	ck_assert_str_eq(json_string_value(json_object_get(p, "Version")), "2012-10-17");
	st = json_object_get(p, "Statement");
	ck_assert_uint_eq(json_array_size(st), 5);
	ck_assert_ptr_null(statement(p, "DenyDecryptUnlessSigned"));
	json_array_foreach(st, i, s) {
		const char *eff = json_string_value(json_object_get(s, "Effect"));

		ck_assert(!has_action(s, "kms:*"));
		if (!strcmp(eff, "Allow")) {
			ck_assert(!has_action(s, "kms:ReEncryptFrom") && !has_action(s, "kms:ReEncrypt*"));
			if (has_action(s, "kms:Decrypt"))
				ck_assert_str_eq(json_string_value(json_object_get(s, "Sid")),
						 "AttestedDecryptOnly");
		}
	}
	s = statement(p, "KeyAdministration");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "Principal"), "AWS")),
			 "arn:aws:iam::" ACCT ":root");
	ck_assert(!has_action(s, "kms:Decrypt"));
	s = statement(p, "OwnerSealsPackages");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "Principal"), "AWS")), SEALER);
	ck_assert(has_action(s, "kms:GenerateDataKey") && !has_action(s, "kms:Decrypt"));
	s = statement(p, "AttestedDecryptOnly");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "Principal"), "AWS")), ENCLAVE);
	c = json_object_get(json_object_get(s, "Condition"), "StringEqualsIgnoreCase");
	vals = json_object_get(c, "kms:RecipientAttestation:ImageSha384");
	ck_assert_uint_eq(json_array_size(vals), 2);
	s = statement(p, "DenyDecryptUnlessAttested");
	ck_assert_str_eq(json_string_value(json_object_get(s, "Effect")), "Deny");
	ck_assert_str_eq(json_string_value(json_object_get(s, "Principal")), "*");
	ck_assert(has_action(s, "kms:Decrypt"));
	c = json_object_get(json_object_get(s, "Condition"), "StringNotEqualsIgnoreCase");
	vals = json_object_get(c, "kms:RecipientAttestation:ImageSha384");
	ck_assert_uint_eq(json_array_size(vals), 2);
	/* pcr_b was given in upper case: every value is lower-cased */
	for (i = 0; i < 96; i++)
		lower_b[i] = pcr_b[i] >= 'A' && pcr_b[i] <= 'F' ? (char)(pcr_b[i] + 32) : pcr_b[i];
	lower_b[96] = '\0';
	ck_assert_str_ne(lower_b, pcr_b);
	ck_assert_str_eq(json_string_value(json_array_get(vals, 0)), pcr_a);
	ck_assert_str_eq(json_string_value(json_array_get(vals, 1)), lower_b);
	s = statement(p, "DenyRewrap");
	ck_assert(has_action(s, "kms:ReEncryptFrom") && has_action(s, "kms:ReEncryptTo"));
	ck_assert_str_eq(json_string_value(json_object_get(s, "Principal")), "*");
	json_decref(p);
}
END_TEST

START_TEST(pcr8)
{
	const char *pcrs[] = { pcr_a };
	json_t *p = policy(pcrs, 1, pcr_8), *s, *c;

	ck_assert_uint_eq(json_array_size(json_object_get(p, "Statement")), 6);
	s = statement(p, "AttestedDecryptOnly");
	c = json_object_get(json_object_get(s, "Condition"), "StringEqualsIgnoreCase");
	ck_assert_ptr_nonnull(json_object_get(c, "kms:RecipientAttestation:PCR8"));
	/* Condition keys of one block are ANDed: PCR8 has a Deny of its own. */
	s = statement(p, "DenyDecryptUnlessAttested");
	c = json_object_get(json_object_get(s, "Condition"), "StringNotEqualsIgnoreCase");
	ck_assert_ptr_null(json_object_get(c, "kms:RecipientAttestation:PCR8"));
	s = statement(p, "DenyDecryptUnlessSigned");
	ck_assert_ptr_nonnull(s);
	c = json_object_get(json_object_get(s, "Condition"), "StringNotEqualsIgnoreCase");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "kms:RecipientAttestation:PCR8"), 0)),
			 pcr_8);
	json_decref(p);
}
END_TEST

static int bad(const char *acct, const char *encl, const char *seal, const char *const *pcr0,
	       size_t n, const char *p8)
{
	struct kms_policy_args a = { acct, encl, seal, pcr0, n, p8 };
	char *out = NULL, why[256] = "";
	int r = kms_policy_json(&a, &out, why, sizeof(why));

	ck_assert_ptr_null(out);
	ck_assert_str_ne(why, "");
	return r;
}

START_TEST(refused)
{
	const char *one[] = { pcr_a };
	const char *nine[] = { pcr_a, pcr_a, pcr_a, pcr_a, pcr_a, pcr_a, pcr_a, pcr_a, pcr_a };
	char zeros[97], short_pcr[96], nonhex[97];
	const char *z[] = { zeros }, *s[] = { short_pcr }, *h[] = { nonhex };

	memset(zeros, '0', 96);
	zeros[96] = '\0';
	memset(short_pcr, 'a', 95);
	short_pcr[95] = '\0';
	memcpy(nonhex, pcr_a, 97);
	nonhex[10] = 'g';
	ck_assert_int_eq(bad("11112222333", ENCLAVE, SEALER, one, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad("11112222333x", ENCLAVE, SEALER, one, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, "arn:aws:iam::444455556666:user/bob", SEALER, one, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, "arn:aws:iam::1111:role/x", one, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, "role/sealer", one, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, one, 0, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, nine, 9, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, z, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, s, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, h, 1, NULL), -EINVAL);
	ck_assert_int_eq(bad(ACCT, ENCLAVE, SEALER, one, 1, short_pcr), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");
	SRunner *sr;
	int failed;

	for (int i = 0; i < 96; i++) {
		pcr_a[i] = "0123456789abcdef"[(i * 7) % 16];
		pcr_b[i] = "0123456789ABCDEF"[(i * 5 + 3) % 16];
		pcr_8[i] = "0123456789abcdef"[(i * 11 + 1) % 16];
	}
	tcase_add_test(tc, statements);
	tcase_add_test(tc, pcr8);
	tcase_add_test(tc, refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
