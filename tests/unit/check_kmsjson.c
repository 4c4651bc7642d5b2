/* The KMS JSON bodies (kms/kmsjson.c): requests read back through jansson
 * with KMS's field names, strict base64, and hostile responses (truncated,
 * wrong types, bad base64, oversized, duplicate keys, a Plaintext where none
 * may be, a data key of the wrong size), and the error table of kmsjson.h. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kmsjson.h"

#define ARN "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
/* 32 bytes 0x00..0x1f, 31 and 33 bytes */
#define PT32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define PT31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="
#define PT33 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
#define BLOB "AQIDBAUGBwgJ" /* 01..09 */

static json_t *load(const char *body)
{
	json_error_t e;
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, &e);

	ck_assert_msg(o != NULL, "not JSON: %s", e.text);
	return o;
}

static const char *getstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	ck_assert_msg(json_is_string(v), "%s is not a string", k);
	return json_string_value(v);
}

START_TEST(generate_request)
{
	char *body = NULL;
	size_t n = 0;
	json_t *o, *ctx;

	ck_assert_int_eq(kmsjson_generate_request("alias/efs", "{\"pkg\":\"a b\",\"v\":\"1\"}", &body,
						  &n), 0);
	ck_assert_uint_eq(n, strlen(body));
	o = load(body);
	ck_assert_uint_eq(json_object_size(o), 3);
	ck_assert_str_eq(getstr(o, "KeyId"), "alias/efs");
	ck_assert_str_eq(getstr(o, "KeySpec"), "AES_256");
	ctx = json_object_get(o, "EncryptionContext");
	ck_assert(json_is_object(ctx));
	ck_assert_uint_eq(json_object_size(ctx), 2);
	ck_assert_str_eq(getstr(ctx, "pkg"), "a b");
	ck_assert_str_eq(getstr(ctx, "v"), "1");
	ck_assert_ptr_null(strchr(body, '\n')); /* compact */
	json_decref(o);
	free(body);

	ck_assert_int_eq(kmsjson_generate_request(ARN, NULL, &body, &n), 0);
	o = load(body);
	ck_assert_uint_eq(json_object_size(o), 2);
	ck_assert_ptr_null(json_object_get(o, "EncryptionContext"));
	json_decref(o);
	free(body);

	/* an encryption context must be an object of strings; a key id is required */
	const char *bad[] = { "[]", "{\"a\":1}", "{\"a\":null}", "{\"a\":{}}", "{\"a\":\"b\"",
			      "{\"a\":\"b\",\"a\":\"c\"}", "{} x", "\"s\"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body = (char *)1;
		ck_assert_int_eq(kmsjson_generate_request("k", bad[i], &body, &n), -EINVAL);
		ck_assert_ptr_null(body);
	}
	ck_assert_int_eq(kmsjson_generate_request(NULL, NULL, &body, &n), -EINVAL);
	ck_assert_int_eq(kmsjson_generate_request("", NULL, &body, &n), -EINVAL);
	ck_assert_int_eq(kmsjson_generate_request("a\nb", NULL, &body, &n), -EINVAL);
	char *longid = malloc(KMSJSON_KEYID_MAX + 2);
	memset(longid, 'k', KMSJSON_KEYID_MAX + 1);
	longid[KMSJSON_KEYID_MAX + 1] = '\0';
	ck_assert_int_eq(kmsjson_generate_request(longid, NULL, &body, &n), -EINVAL);
	longid[KMSJSON_KEYID_MAX] = '\0';
	ck_assert_int_eq(kmsjson_generate_request(longid, NULL, &body, &n), 0);
	free(body);
	free(longid);
}
END_TEST

START_TEST(decrypt_request)
{
	const uint8_t blob[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, doc[] = { 0x84, 0x44, 0xa1, 0xff };
	char *body = NULL;
	size_t n = 0;
	json_t *o, *r;

	ck_assert_int_eq(kmsjson_decrypt_request(blob, sizeof(blob), ARN, "{\"pkg\":\"x\"}", doc,
						 sizeof(doc), &body, &n), 0);
	o = load(body);
	ck_assert_uint_eq(json_object_size(o), 4);
	ck_assert_str_eq(getstr(o, "CiphertextBlob"), BLOB);
	ck_assert_str_eq(getstr(o, "KeyId"), ARN);
	ck_assert_str_eq(getstr(json_object_get(o, "EncryptionContext"), "pkg"), "x");
	r = json_object_get(o, "Recipient");
	ck_assert(json_is_object(r));
	ck_assert_uint_eq(json_object_size(r), 2);
	ck_assert_str_eq(getstr(r, "KeyEncryptionAlgorithm"), "RSAES_OAEP_SHA_256");
	ck_assert_str_eq(getstr(r, "AttestationDocument"), "hESh/w==");
	json_decref(o);
	free(body);

	/* no key id, no context, no Recipient */
	ck_assert_int_eq(kmsjson_decrypt_request(blob, sizeof(blob), NULL, NULL, NULL, 0, &body, &n),
			 0);
	o = load(body);
	ck_assert_uint_eq(json_object_size(o), 1);
	ck_assert_str_eq(getstr(o, "CiphertextBlob"), BLOB);
	json_decref(o);
	free(body);

	ck_assert_int_eq(kmsjson_decrypt_request(NULL, 0, NULL, NULL, NULL, 0, &body, &n), -EINVAL);
	ck_assert_int_eq(kmsjson_decrypt_request(blob, 0, NULL, NULL, NULL, 0, &body, &n), -EINVAL);
	ck_assert_int_eq(kmsjson_decrypt_request(blob, KMSJSON_BLOB_MAX + 1, NULL, NULL, NULL, 0,
						 &body, &n),
			 -EINVAL);
	ck_assert_int_eq(kmsjson_decrypt_request(blob, sizeof(blob), NULL, "{\"a\":[]}", NULL, 0,
						 &body, &n),
			 -EINVAL);
	ck_assert_int_eq(kmsjson_decrypt_request(blob, sizeof(blob), NULL, NULL, doc, 0, &body, &n),
			 -EINVAL);
}
END_TEST

START_TEST(base64_strict)
{
	uint8_t out[64];
	size_t n;
	const char *good[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "+/+/" };
	const size_t goodn[] = { 0, 1, 2, 3, 4, 3 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(kmsjson_b64_decode(good[i], strlen(good[i]), out, &n), 0);
		ck_assert_uint_eq(n, goodn[i]);
		char *e = kmsjson_b64_encode(out, n);
		ck_assert_str_eq(e, good[i]);
		free(e);
	}
	const char *bad[] = { "Zg",   "Zg=",  "Zg===", "Z===", "====", "Zh==", "Zm9=", "Zm 9v",
			      "Zm9v\n", "Zm-_", "Zg==Zm9v", "Z=g=", "Zm9v=", "=Zm9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(kmsjson_b64_decode(bad[i], strlen(bad[i]), out, &n) == -EBADMSG,
			      "accepted \"%s\"", bad[i]);
	/* a NUL inside the text is a bad character, not an end */
	ck_assert_int_eq(kmsjson_b64_decode("Zm\0v", 4, out, &n), -EBADMSG);

	uint8_t all[256];
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	for (size_t len = 0; len < 10; len++) {
		char *e = kmsjson_b64_encode(all + 250 - len, len);
		uint8_t back[16];
		ck_assert_uint_eq(strlen(e), (len + 2) / 3 * 4);
		ck_assert_int_eq(kmsjson_b64_decode(e, strlen(e), back, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert_mem_eq(back, all + 250 - len, len);
		free(e);
	}
}
END_TEST

static int gen(const char *body, struct kms_generated *g, char *why, size_t whysz)
{
	return kmsjson_parse_generate(body, strlen(body), g, why, whysz);
}

START_TEST(generate_answer)
{
	struct kms_generated g;
	char why[128];
	const char *ok = "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN
			 "\",\"Plaintext\":\"" PT32 "\",\"KeyMaterialId\":\"ignored\"}";

	ck_assert_int_eq(gen(ok, &g, why, sizeof(why)), 0);
	ck_assert_str_eq(g.key_id, ARN);
	ck_assert_uint_eq(g.blob_len, 9);
	ck_assert_uint_eq(g.blob[8], 9);
	for (int i = 0; i < 32; i++)
		ck_assert_uint_eq(g.plaintext[i], i);
	kms_generated_release(&g);
	ck_assert_ptr_null(g.blob);
	ck_assert_uint_eq(g.plaintext[31], 0); /* wiped */

	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "", "not JSON" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"",
		  "not JSON" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"} {}",
		  "not JSON" },
		{ "[]", "not a JSON object" },
		{ "{\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"}", "CiphertextBlob missing" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"Plaintext\":\"" PT32 "\"}", "KeyId missing" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\"}", "Plaintext missing" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT31 "\"}",
		  "Plaintext is 31 bytes" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT33 "\"}",
		  "Plaintext is 33 bytes" },
		{ "{\"CiphertextBlob\":12,\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"}",
		  "CiphertextBlob is not a string" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":[],\"Plaintext\":\"" PT32 "\"}",
		  "KeyId is not a string" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":null}",
		  "Plaintext is not a string" },
		{ "{\"CiphertextBlob\":\"AQID!\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"}",
		  "CiphertextBlob is not valid base64" },
		{ "{\"CiphertextBlob\":\"\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 "\"}",
		  "CiphertextBlob empty" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"\",\"Plaintext\":\"" PT32 "\"}",
		  "KeyId empty" },
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"a\\u0000b\",\"Plaintext\":\"" PT32 "\"}",
		  "not JSON" }, /* jansson refuses \u0000 */
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32
		  "\",\"Plaintext\":\"" PT32 "\"}",
		  "not JSON" }, /* duplicate key */
		{ "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"" ARN "\",\"Plaintext\":\"" PT32 " \"}",
		  "Plaintext is not valid base64" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(gen(bad[i].body, &g, why, sizeof(why)) == -EBADMSG, "accepted #%zu", i);
		ck_assert_msg(strstr(why, bad[i].why), "#%zu: why \"%s\", wanted \"%s\"", i, why,
			      bad[i].why);
		ck_assert_ptr_null(g.blob);
		ck_assert_uint_eq(g.plaintext[0] | g.plaintext[1], 0);
	}
	/* the Plaintext never appears in a reason */
	ck_assert_ptr_null(strstr(why, PT32));
}
END_TEST

START_TEST(oversized)
{
	struct kms_generated g;
	struct kms_decrypted d;
	char why[128];
	size_t big = KMSJSON_BLOB_MAX + 3; /* decodes to one chunk too many */
	size_t b64 = (big + 2) / 3 * 4;
	char *body = malloc(b64 + 256);
	int off;

	/* a blob of KMSJSON_BLOB_MAX bytes is fine, one chunk more is not */
	for (int pass = 0; pass < 2; pass++) {
		size_t len = pass ? big : KMSJSON_BLOB_MAX;
		uint8_t *raw = calloc(1, len);
		char *e = kmsjson_b64_encode(raw, len);

		off = sprintf(body, "{\"KeyId\":\"k\",\"CiphertextForRecipient\":\"%s\"}", e);
		ck_assert_int_eq(kmsjson_parse_decrypt(body, (size_t)off, &d, why, sizeof(why)),
				 pass ? -EBADMSG : 0);
		if (pass)
			ck_assert_ptr_nonnull(strstr(why, "CiphertextForRecipient too long"));
		else
			ck_assert_uint_eq(d.cfr_len, KMSJSON_BLOB_MAX);
		kms_decrypted_release(&d);
		free(e);
		free(raw);
	}
	free(body);

	/* a body over KMSJSON_BODY_MAX is refused before parsing */
	body = malloc(KMSJSON_BODY_MAX + 2);
	memset(body, ' ', KMSJSON_BODY_MAX + 1);
	off = sprintf(body, "{\"CiphertextBlob\":\"" BLOB "\",\"KeyId\":\"k\",\"Plaintext\":\"" PT32
			    "\"}");
	body[off] = ' ';
	ck_assert_int_eq(kmsjson_parse_generate(body, KMSJSON_BODY_MAX, &g, why, sizeof(why)), 0);
	kms_generated_release(&g);
	ck_assert_int_eq(kmsjson_parse_generate(body, KMSJSON_BODY_MAX + 1, &g, why, sizeof(why)),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "larger than"));
	free(body);

	/* a key id one byte too long */
	char *id = malloc(KMSJSON_KEYID_MAX + 200);
	off = sprintf(id, "{\"KeyId\":\"");
	memset(id + off, 'a', KMSJSON_KEYID_MAX + 1);
	strcpy(id + off + KMSJSON_KEYID_MAX + 1, "\",\"CiphertextForRecipient\":\"" BLOB "\"}");
	ck_assert_int_eq(kmsjson_parse_decrypt(id, strlen(id), &d, why, sizeof(why)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(why, "KeyId"));
	free(id);
}
END_TEST

START_TEST(decrypt_answer)
{
	struct kms_decrypted d;
	char why[128];
	const char *ok = "{\"KeyId\":\"" ARN "\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\","
			 "\"CiphertextForRecipient\":\"" BLOB "\"}";

	ck_assert_int_eq(kmsjson_parse_decrypt(ok, strlen(ok), &d, why, sizeof(why)), 0);
	ck_assert_str_eq(d.key_id, ARN);
	ck_assert_uint_eq(d.cfr_len, 9);
	ck_assert_uint_eq(d.cfr[0], 1);
	kms_decrypted_release(&d);
	ck_assert_ptr_null(d.cfr);

	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "{\"KeyId\":\"" ARN "\",\"CiphertextForRecipient\":\"" BLOB "\",\"Plaintext\":\"" PT32
		  "\"}",
		  "Plaintext present" },
		{ "{\"KeyId\":\"" ARN "\",\"CiphertextForRecipient\":\"" BLOB "\",\"Plaintext\":null}",
		  "Plaintext present" },
		{ "{\"KeyId\":\"" ARN "\"}", "CiphertextForRecipient missing" },
		{ "{\"KeyId\":\"" ARN "\",\"CiphertextForRecipient\":true}",
		  "CiphertextForRecipient is not a string" },
		{ "{\"KeyId\":\"" ARN "\",\"CiphertextForRecipient\":\"AQI=\"", "not JSON" },
		{ "{\"KeyId\":\"" ARN "\",\"CiphertextForRecipient\":\"AQI\"}",
		  "CiphertextForRecipient is not valid base64" },
		{ "{\"KeyId\":5,\"CiphertextForRecipient\":\"" BLOB "\"}", "KeyId is not a string" },
		{ "{\"CiphertextForRecipient\":\"" BLOB "\",\"CiphertextForRecipient\":\"" BLOB "\"}",
		  "not JSON" },
		{ "\"CiphertextForRecipient\"", "JSON" },
		{ "[\"CiphertextForRecipient\"]", "not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(kmsjson_parse_decrypt(bad[i].body, strlen(bad[i].body), &d, why,
						    sizeof(why)) == -EBADMSG,
			      "accepted #%zu", i);
		ck_assert_msg(strstr(why, bad[i].why), "#%zu: why \"%s\"", i, why);
		ck_assert_ptr_null(d.cfr);
	}
	/* KeyId may be absent; a body cut short by n is truncated JSON */
	const char *nokey = "{\"CiphertextForRecipient\":\"" BLOB "\"}";
	ck_assert_int_eq(kmsjson_parse_decrypt(nokey, strlen(nokey), &d, why, sizeof(why)), 0);
	ck_assert_str_eq(d.key_id, "");
	kms_decrypted_release(&d);
	ck_assert_int_eq(kmsjson_parse_decrypt(ok, strlen(ok) - 1, &d, why, sizeof(why)), -EBADMSG);
	ck_assert_int_eq(kmsjson_parse_decrypt(NULL, 0, &d, why, sizeof(why)), -EBADMSG);
}
END_TEST

static int err(const char *body, long status, char *type, char *msg)
{
	return kmsjson_parse_error(body, body ? strlen(body) : 0, status, type, 64, msg, 64);
}

START_TEST(error_answers)
{
	char type[64], msg[64];
	static const struct {
		const char *type;
		int want;
	} table[] = {
		{ "AccessDeniedException", -EKEYREJECTED },
		{ "InvalidCiphertextException", -EKEYREJECTED },
		{ "IncorrectKeyException", -EKEYREJECTED },
		{ "DisabledException", -EKEYREVOKED },
		{ "KMSInvalidStateException", -EKEYREVOKED },
		{ "KeyUnavailableException", -EKEYREVOKED },
		{ "NotFoundException", -ENOKEY },
		{ "ExpiredTokenException", -EACCES },
		{ "UnrecognizedClientException", -EACCES },
		{ "InvalidSignatureException", -EACCES },
		{ "IncompleteSignature", -EACCES },
		{ "ThrottlingException", -EAGAIN },
		{ "LimitExceededException", -EAGAIN },
		{ "KMSInternalException", -EAGAIN },
		{ "DependencyTimeoutException", -EAGAIN },
		{ "ValidationException", -EPROTO },
		{ "AccessDenied", -EPROTO },
	};
	char body[256];

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"m%zu\"}", table[i].type,
			 i);
		ck_assert_msg(err(body, 400, type, msg) == table[i].want, "%s", table[i].type);
		ck_assert_str_eq(type, table[i].type);
		snprintf(body, sizeof(body), "m%zu", i);
		ck_assert_str_eq(msg, body);
	}

	ck_assert_int_eq(err("{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\","
			     "\"message\":\"The security token included in the request is invalid.\"}",
			     400, type, msg),
			 -EACCES);
	ck_assert_str_eq(type, "UnrecognizedClientException");
	ck_assert_str_eq(msg, "The security token included in the request is invalid.");
	/* "Message" with a capital, a ":uri" suffix after the name */
	ck_assert_int_eq(err("{\"__type\":\"NotFoundException:http://internal/\",\"Message\":\"no\"}",
			     400, type, msg),
			 -ENOKEY);
	ck_assert_str_eq(type, "NotFoundException");
	ck_assert_str_eq(msg, "no");
	/* control characters never reach a log line */
	ck_assert_int_eq(err("{\"__type\":\"X\\n\",\"message\":\"a\\u001b[31mb\\nc\"}", 400, type, msg),
			 -EPROTO);
	ck_assert_str_eq(type, "X?");
	ck_assert_str_eq(msg, "a?[31mb?c");
	/* long messages are cut to the buffer */
	char lb[300];
	snprintf(lb, sizeof(lb), "{\"__type\":\"T\",\"message\":\"%0200d\"}", 0);
	ck_assert_int_eq(err(lb, 400, type, msg), -EPROTO);
	ck_assert_uint_eq(strlen(msg), 63);

	/* the status when the body says nothing (or nothing known) */
	ck_assert_int_eq(err("<html>busy</html>", 503, type, msg), -EAGAIN);
	ck_assert_str_eq(type, "");
	ck_assert_str_eq(msg, "");
	ck_assert_int_eq(err("", 429, type, msg), -EAGAIN);
	ck_assert_int_eq(err(NULL, 500, type, msg), -EAGAIN);
	ck_assert_int_eq(err("{}", 400, type, msg), -EPROTO);
	ck_assert_int_eq(err("{\"__type\":\"Odd\"}", 502, type, msg), -EAGAIN);
	ck_assert_int_eq(err("{\"__type\":7,\"message\":[]}", 403, type, msg), -EPROTO);
	ck_assert_str_eq(type, "");
	/* a known name wins over the status */
	ck_assert_int_eq(err("{\"__type\":\"AccessDeniedException\"}", 500, type, msg), -EKEYREJECTED);
	/* duplicates make the body unreadable: only the status is left */
	ck_assert_int_eq(err("{\"__type\":\"AccessDeniedException\",\"__type\":\"X\"}", 400, type, msg),
			 -EPROTO);
	/* NULL buffers are fine */
	const char *dis = "{\"__type\":\"DisabledException\"}";
	ck_assert_int_eq(kmsjson_parse_error(dis, strlen(dis), 400, NULL, 0, NULL, 0),
			 -EKEYREVOKED);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kmsjson");
	TCase *tc = tcase_create("kmsjson");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, generate_request);
	tcase_add_test(tc, decrypt_request);
	tcase_add_test(tc, base64_strict);
	tcase_add_test(tc, generate_answer);
	tcase_add_test(tc, oversized);
	tcase_add_test(tc, decrypt_answer);
	tcase_add_test(tc, error_answers);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
