/* The NSM client's codec (attest/nsm.c) against the golden CBOR of the
 * NSM's own library (the serde_cbor encodings recorded in the project's
 * Nitro notes), and hostile responses; then the development NSM
 * (attest/devnsm.c) answering through the same client. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "attest.h"
#include "devnsm.h"
#include "nsm.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = 0;

	for (; *h; h++) {
		unsigned v;

		if (*h == ' ')
			continue;
		ck_assert(sscanf(h, "%2x", &v) == 1);
		out[n++] = (uint8_t)v;
		h++;
	}
	return n;
}

#define ck_assert_golden(got, gotn, hex)                                   \
	do {                                                               \
		uint8_t want_[256];                                        \
		size_t wn_ = unhex(hex, want_);                            \
		ck_assert_uint_eq(gotn, wn_);                              \
		ck_assert_mem_eq(got, want_, wn_);                         \
	} while (0)

START_TEST(request_encodings)
{
	uint8_t b[256], ud[] = { 9, 9 }, pk[] = { 7 }, data[] = { 1, 2, 3 };
	size_t n;

	ck_assert_int_eq(nsm_enc_get_random(b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "69 47657452616e646f6d");
	ck_assert_int_eq(nsm_enc_describe_nsm(b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "6b44657363726962654e534d");
	ck_assert_int_eq(nsm_enc_describe_pcr(3, b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "a16b4465736372696265504352a165696e64657803");
	ck_assert_int_eq(nsm_enc_extend_pcr(4, data, sizeof(data), b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "a169457874656e64504352a265696e64657804646461746143010203");
	ck_assert_int_eq(nsm_enc_lock_pcr(5, b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "a1674c6f636b504352a165696e64657805");
	ck_assert_int_eq(nsm_enc_lock_pcrs(16, b, sizeof(b), &n), 0);
	ck_assert_golden(b, n, "a1684c6f636b50435273a16572616e676510");
	ck_assert_int_eq(nsm_enc_attestation(ud, 2, NULL, 0, pk, 1, b, sizeof(b), &n), 0);
	ck_assert_golden(b, n,
			 "a16b4174746573746174696f6e a3 69757365725f64617461 420909 656e6f6e6365 f6 "
			 "6a7075626c69635f6b6579 4107");
	ck_assert_int_eq(nsm_enc_attestation(NULL, 0, NULL, 0, NULL, 0, b, sizeof(b), &n), 0);
	ck_assert_golden(b, n,
			 "a16b4174746573746174696f6ea369757365725f64617461f6656e6f6e6365f66a7075626c"
			 "69635f6b6579f6");
	/* Too small a buffer, and over the device's request limit. */
	ck_assert_int_eq(nsm_enc_describe_pcr(3, b, 10, &n), -EMSGSIZE);
	{
		static uint8_t big[NSM_REQUEST_MAX + 1], out[2 * NSM_REQUEST_MAX];

		ck_assert_int_eq(nsm_enc_extend_pcr(1, big, sizeof(big), out, sizeof(out), &n),
				 -EMSGSIZE);
	}
}
END_TEST

START_TEST(golden_responses)
{
	uint8_t r[256], data[NSM_PCR_LEN], *doc = NULL, rnd[16];
	char why[256];
	bool locked = false;
	size_t n, docn = 0, got = 0;

	n = unhex("a16b4174746573746174696f6e a1 68646f63756d656e74 42d284", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), 0);
	ck_assert_uint_eq(docn, 2);
	ck_assert_int_eq(doc[0], 0xd2);
	ck_assert_int_eq(doc[1], 0x84);
	free(doc);
	n = unhex("a16947657452616e646f6d a1 6672616e646f6d 43040404", r);
	ck_assert_int_eq(nsm_dec_get_random(r, n, rnd, sizeof(rnd), &got, why, sizeof(why)), 0);
	ck_assert_uint_eq(got, 3);
	ck_assert_int_eq(rnd[2], 4);
	/* DescribePCR with a 2-byte value is not a PCR: refused. */
	n = unhex("a16b4465736372696265504352a2646c6f636bf5646461746142aabb", r);
	ck_assert_int_eq(nsm_dec_describe_pcr(r, n, &locked, data, why, sizeof(why)), -EBADMSG);
	n = unhex("a1654572726f726c496e76616c6964496e646578", r);
	ck_assert_int_eq(nsm_dec_describe_pcr(r, n, &locked, data, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "NSM error InvalidIndex");
	n = unhex("674c6f636b504352", r); /* "LockPCR" */
	ck_assert_int_eq(nsm_dec_lock(r, n, why, sizeof(why)), 0);
}
END_TEST

/* Every prefix of a good response, and a byte after it, is refused. */
START_TEST(hostile_responses)
{
	uint8_t r[256], data[NSM_PCR_LEN], *doc = NULL;
	char why[256];
	size_t n, docn;

	n = unhex("a16b4174746573746174696f6e a1 68646f63756d656e74 42d284", r);
	for (size_t k = 0; k < n; k++)
		ck_assert_int_eq(nsm_dec_attestation(r, k, &doc, &docn, why, sizeof(why)), -EBADMSG);
	r[n] = 0;
	ck_assert_int_eq(nsm_dec_attestation(r, n + 1, &doc, &docn, why, sizeof(why)), -EBADMSG);
	/* Wrong variant, wrong field type, an empty document. */
	n = unhex("a16947657452616e646f6d a1 6672616e646f6d 43040404", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	n = unhex("a16b4174746573746174696f6e a1 68646f63756d656e74 62d284", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	n = unhex("a16b4174746573746174696f6e a1 68646f63756d656e74 40", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	/* A document field twice. */
	n = unhex("a16b4174746573746174696f6e a2 68646f63756d656e74 4101 68646f63756d656e74 4101", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	/* A header that announces 2^64-1 entries: refused before any
	 * allocation is sized from it. */
	n = unhex("9bffffffffffffffff", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	n = unhex("a16b4174746573746174696f6e bbffffffffffffffff", r);
	ck_assert_int_eq(nsm_dec_attestation(r, n, &doc, &docn, why, sizeof(why)), -EBADMSG);
	/* ExtendPCR answering with 47 bytes. */
	{
		n = unhex("a169457874656e64504352a16464617461582f", r);
		memset(r + n, 1, 47);
		ck_assert_int_eq(nsm_dec_extend_pcr(r, n + 47, data, why, sizeof(why)), -EBADMSG);
		r[n - 1] = 0x30;
		memset(r + n, 1, 48);
		ck_assert_int_eq(nsm_dec_extend_pcr(r, n + 48, data, why, sizeof(why)), 0);
	}
}
END_TEST

static char dir[] = "/tmp/check_nsm.XXXXXX";

static struct devnsm *dev_new(void)
{
	struct devnsm_config c = { .root_dir = dir };
	struct devnsm *d = NULL;
	char why[256];

	memset(c.pcr0, 0xa0, sizeof(c.pcr0));
	memset(c.pcr1, 0xa1, sizeof(c.pcr1));
	memset(c.pcr2, 0xa2, sizeof(c.pcr2));
	ck_assert_msg(devnsm_new(&c, &d, why, sizeof(why)) == 0, "%s", why);
	return d;
}

START_TEST(devroot)
{
	char why[256], path[300];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(devroot_create(dir, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, DEVROOT_KEY);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/%s", dir, DEVROOT_CERT);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(devroot_create(dir, why, sizeof(why)), -EEXIST);
}
END_TEST

/* The development NSM through the client, as the daemons use it. */
START_TEST(devnsm_round_trips)
{
	struct devnsm *d = dev_new();
	struct nsm n = { .fd = -1, .dev = d };
	uint8_t v[NSM_PCR_LEN], want[NSM_PCR_LEN], zero[NSM_PCR_LEN] = { 0 }, data[] = "manifest";
	uint8_t nonce[32], *doc = NULL, resp[NSM_RESPONSE_MAX], req[64];
	struct attest_policy pol = { 0 };
	struct attest_doc ad;
	struct nsm_description desc;
	char why[512], root[300];
	bool locked = true;
	size_t docn = 0, got = 0, reqn, respn;
	unsigned int wn = sizeof(want);
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	/* PCR16: zero and unlocked; ExtendPCR is SHA-384(old || data). */
	ck_assert_int_eq(nsm_describe_pcr(&n, 16, &locked, v, why, sizeof(why)), 0);
	ck_assert(!locked);
	ck_assert_mem_eq(v, zero, NSM_PCR_LEN);
	ck_assert_int_eq(nsm_extend_pcr(&n, 16, data, sizeof(data) - 1, v, why, sizeof(why)), 0);
	EVP_DigestInit_ex(c, EVP_sha384(), NULL);
	EVP_DigestUpdate(c, zero, sizeof(zero));
	EVP_DigestUpdate(c, data, sizeof(data) - 1);
	EVP_DigestFinal_ex(c, want, &wn);
	EVP_MD_CTX_free(c);
	ck_assert_mem_eq(v, want, NSM_PCR_LEN);
	/* PCR0 is locked at boot; a locked PCR refuses extension. */
	ck_assert_int_eq(nsm_extend_pcr(&n, 0, data, 1, v, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "NSM error ReadOnlyIndex");
	ck_assert_int_eq(nsm_lock_pcr(&n, 16, why, sizeof(why)), 0);
	ck_assert_int_eq(nsm_extend_pcr(&n, 16, data, 1, v, why, sizeof(why)), -EPROTO);
	ck_assert_int_eq(nsm_describe_pcr(&n, 40, &locked, v, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "NSM error InvalidIndex");
	ck_assert_int_eq(nsm_get_random(&n, v, sizeof(v), &got, why, sizeof(why)), 0);
	ck_assert_uint_eq(got, sizeof(v));
	ck_assert_int_eq(nsm_describe_nsm(&n, &desc, why, sizeof(why)), 0);
	ck_assert_uint_eq(desc.max_pcrs, 32);
	ck_assert_str_eq(desc.digest, "SHA384");
	ck_assert_uint_eq(desc.nlocked, 17);
	/* Garbage gets NSM's InvalidArgument, not a C error. */
	respn = sizeof(resp);
	ck_assert_int_eq(devnsm_process(d, (const uint8_t *)"\xff\x00", 2, resp, &respn), 0);
	ck_assert_int_eq(nsm_dec_lock(resp, respn, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "NSM error InvalidArgument");
	/* So does a request that announces more entries than it has bytes. */
	respn = sizeof(resp);
	ck_assert_int_eq(devnsm_process(d, (const uint8_t *)"\xbb\xff\xff\xff\xff\xff\xff\xff\xff",
					9, resp, &respn),
			 0);
	ck_assert_int_eq(nsm_dec_lock(resp, respn, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "NSM error InvalidArgument");
	/* A response cut to the caller's buffer, like the driver's. */
	ck_assert_int_eq(nsm_enc_describe_pcr(1, req, sizeof(req), &reqn), 0);
	respn = 10;
	ck_assert_int_eq(devnsm_process(d, req, reqn, resp, &respn), 0);
	ck_assert_uint_eq(respn, 10);
	ck_assert_int_eq(nsm_dec_describe_pcr(resp, respn, &locked, v, why, sizeof(why)), -EBADMSG);

	/* A document the verifier accepts through the development root, with
	 * our nonce and PCR16 as extended. */
	memset(nonce, 0x5a, sizeof(nonce));
	ck_assert_int_eq(nsm_attestation(&n, NULL, 0, nonce, sizeof(nonce), (const uint8_t *)"pk", 2,
					 &doc, &docn, why, sizeof(why)),
			 0);
	ck_assert_int_eq(doc[0], 0x84);
	snprintf(root, sizeof(root), "%s/%s", dir, DEVROOT_CERT);
	ck_assert_int_eq(attest_read_root(root, (uint8_t **)&pol.root_der, &pol.root_der_len, why,
					  sizeof(why)),
			 0);
	pol.at_ms = (int64_t)time(NULL) * 1000;
	pol.nonce = nonce;
	pol.nonce_len = sizeof(nonce);
	ck_assert_msg(attest_verify(doc, docn, &pol, &ad, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(ad.npcrs, 32);
	ck_assert_mem_eq(ad.pcr[16], want, NSM_PCR_LEN);
	ck_assert_int_eq(ad.pcr[0][0], 0xa0);
	ck_assert_uint_eq(ad.public_key.n, 2);
	ck_assert_ptr_null(ad.user_data.p);
	ck_assert_uint_eq(ad.nsubject, 3);
	attest_doc_release(&ad);
	/* Three hours on, the leaf has expired. */
	pol.at_ms += 3 * 3600 * 1000 + 120 * 1000;
	ck_assert_int_eq(attest_verify(doc, docn, &pol, &ad, why, sizeof(why)), -EKEYREJECTED);
	attest_doc_release(&ad);
	free((void *)pol.root_der);
	free(doc);
	devnsm_free(d);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		ck_assert_int_eq(system(cmd), 0);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nsm");
	TCase *tc = tcase_create("nsm");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, request_encodings);
	tcase_add_test(tc, golden_responses);
	tcase_add_test(tc, hostile_responses);
	tcase_add_test(tc, devroot);
	tcase_add_test(tc, devnsm_round_trips);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* devroot makes the directory devnsm_round_trips uses: one process. */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
