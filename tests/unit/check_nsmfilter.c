/* The key process's filter of relayed NSM requests (enclave/nsmfilter.c):
 * the process that parses host frames may attest only an EC session key
 * without user data, extend only the application PCR, and describe; an RSA
 * key (what KMS would encrypt a data key to), a lock, or a malformed request
 * is refused. Requests are made by the NSM client's own encoders. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "keyd.h"
#include "nsm.h"

#define APP_PCR 16

static size_t spki(const char *alg, uint8_t *out)
{
	EVP_PKEY *k = !strcmp(alg, "rsa") ? EVP_RSA_gen(2048) : EVP_EC_gen(alg);
	unsigned char *p = NULL;
	int n;

	ck_assert_ptr_nonnull(k);
	n = i2d_PUBKEY(k, &p);
	ck_assert_int_gt(n, 0);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	EVP_PKEY_free(k);
	return (size_t)n;
}

static int check(const uint8_t *req, size_t n)
{
	char why[256] = "";
	int r = keyd_nsm_allowed(req, n, APP_PCR, why, sizeof(why));

	if (r < 0)
		ck_assert_str_ne(why, "");
	return r;
}

START_TEST(attestation_keys)
{
	uint8_t key[1024], req[NSM_REQUEST_MAX], nonce[32] = { 1 }, ud[8] = { 2 };
	size_t kn, n;

	kn = spki("P-384", key);
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 32, key, kn, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), 0);
	/* user data: nothing the session needs, refused */
	ck_assert_int_eq(nsm_enc_attestation(ud, 8, nonce, 32, key, kn, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	/* no key at all: a document KMS would not use, but not the session's */
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 32, NULL, 0, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	/* an RSA key: the data key would be encrypted to it */
	kn = spki("rsa", key);
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 32, key, kn, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	/* bytes that are no key, or a key with bytes after it */
	memset(key, 0x30, 64);
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 32, key, 64, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	kn = spki("P-384", key);
	key[kn++] = 0;
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 32, key, kn, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
}
END_TEST

START_TEST(pcrs_and_others)
{
	uint8_t req[NSM_REQUEST_MAX], d[48] = { 3 };
	size_t n;

	ck_assert_int_eq(nsm_enc_describe_pcr(0, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), 0);
	ck_assert_int_eq(nsm_enc_extend_pcr(APP_PCR, d, 48, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), 0);
	ck_assert_int_eq(nsm_enc_extend_pcr(APP_PCR + 1, d, 48, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	ck_assert_int_eq(nsm_enc_extend_pcr(4, d, 48, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	ck_assert_int_eq(nsm_enc_lock_pcr(APP_PCR, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	ck_assert_int_eq(nsm_enc_lock_pcrs(32, req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), -EPERM);
	ck_assert_int_eq(nsm_enc_describe_nsm(req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), 0);
	ck_assert_int_eq(nsm_enc_get_random(req, sizeof(req), &n), 0);
	ck_assert_int_eq(check(req, n), 0);
}
END_TEST

START_TEST(malformed)
{
	uint8_t req[NSM_REQUEST_MAX], key[1024], nonce[4] = { 0 };
	size_t kn, n;

	kn = spki("P-384", key);
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, nonce, 4, key, kn, req, sizeof(req), &n), 0);
	/* every truncation, and trailing garbage */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_lt(check(req, i), 0);
	req[n] = 0;
	ck_assert_int_eq(check(req, n + 1), -EBADMSG);
	/* a text request that is not a unit request, a two-entry map, a number */
	ck_assert_int_eq(check((const uint8_t *)"\x64LOCK", 5), -EPERM);
	ck_assert_int_eq(check((const uint8_t *)"\xa2\x61" "a\x01\x61" "b\x02", 7), -EBADMSG);
	ck_assert_int_eq(check((const uint8_t *)"\x01", 1), -EBADMSG);
	/* {"ExtendPCR": {"index": "16"}}: the index must be a number */
	ck_assert_int_eq(check((const uint8_t *)"\xa1\x69" "ExtendPCR\xa1\x65" "index\x62" "16", 21),
			 -EPERM);
	/* an indefinite-length bomb is refused before any allocation */
	memset(req, 0x9f, 4000);
	ck_assert_int_eq(check(req, 4000), -EBADMSG);
	ck_assert_int_eq(check(req, NSM_REQUEST_MAX + 1), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nsmfilter");
	TCase *tc = tcase_create("nsmfilter");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, attestation_keys);
	tcase_add_test(tc, pcrs_and_others);
	tcase_add_test(tc, malformed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
