/* The KMS JSON 1.1 bodies the client sends and the responses it decodes
 * (GenerateDataKey, Decrypt with a Recipient, errors). Responses are
 * hostile input: every field is type-checked, base64 is strict (standard
 * alphabet, padding required, no whitespace), sizes are bounded
 * (KMSJSON_BLOB_MAX), unknown fields are ignored, duplicate known ones are
 * an error. Decoders return 0, -EBADMSG for a malformed body (why says
 * which field), or -ENOMEM. Plaintext from a response is wiped when freed.
 */
#ifndef EFS_KMSJSON_H
#define EFS_KMSJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KMSJSON_BLOB_MAX 16384   /* decoded bytes of any base64 field */
#define KMSJSON_KEYID_MAX 2048
#define KMSJSON_BODY_MAX 262144  /* a response larger than this is refused */

/* Request bodies (compact JSON, malloc'd, NUL-terminated; *n its length).
 * context_json: NULL or a JSON object of string values (the encryption
 * context as stored in a package header), copied in as "EncryptionContext";
 * anything else is -EINVAL. attdoc NULL: no "Recipient". */
int kmsjson_generate_request(const char *key_id, const char *context_json, char **body, size_t *n);
int kmsjson_decrypt_request(const uint8_t *blob, size_t blob_len, const char *key_id,
			    const char *context_json, const uint8_t *attdoc, size_t attdoc_len,
			    char **body, size_t *n);

/* GenerateDataKey's answer without a Recipient: CiphertextBlob, Plaintext
 * (exactly 32 bytes for AES_256) and KeyId (the key's ARN). */
struct kms_generated {
	char key_id[KMSJSON_KEYID_MAX + 1];
	uint8_t *blob;
	size_t blob_len;
	uint8_t plaintext[32];
};
int kmsjson_parse_generate(const char *body, size_t n, struct kms_generated *out, char *why,
			   size_t whysz);
void kms_generated_release(struct kms_generated *g); /* wipes plaintext, frees blob */

/* Decrypt's answer with a Recipient: CiphertextForRecipient (required) and
 * KeyId; a Plaintext field in such an answer is refused (-EBADMSG): KMS
 * never sends one when a Recipient was given, and a key in clear on the
 * wire must not be used. */
struct kms_decrypted {
	char key_id[KMSJSON_KEYID_MAX + 1];
	uint8_t *cfr;     /* CiphertextForRecipient (CMS) */
	size_t cfr_len;
};
int kmsjson_parse_decrypt(const char *body, size_t n, struct kms_decrypted *out, char *why,
			  size_t whysz);
void kms_decrypted_release(struct kms_decrypted *d);

/* An error answer: {"__type": "...#Name" or "Name", "message"|"Message": "..."}.
 * type receives Name without any "prefix#"; msg the message, control
 * characters replaced by '?'; either may be empty if absent. Returns the
 * errno that the KMS client reports for it:
 *   AccessDeniedException, InvalidCiphertextException, IncorrectKeyException
 *                                                      -> -EKEYREJECTED
 *   DisabledException, KMSInvalidStateException, KeyUnavailableException
 *                                                      -> -EKEYREVOKED
 *   NotFoundException                                  -> -ENOKEY
 *   ExpiredTokenException, UnrecognizedClientException,
 *   InvalidSignatureException, IncompleteSignature     -> -EACCES
 *   ThrottlingException, LimitExceededException,
 *   KMSInternalException, DependencyTimeoutException, any status >= 500,
 *   status 429                                         -> -EAGAIN (retry)
 *   anything else                                      -> -EPROTO
 * http_status is the response's status code (used when the body says
 * nothing). A body that is not JSON still yields a result from the status. */
int kmsjson_parse_error(const char *body, size_t n, long http_status, char *type, size_t typesz,
			char *msg, size_t msgsz);

/* Strict base64 (RFC 4648 §4, padded). _decode: out needs
 * KMSJSON_B64_DECODED_MAX(n) bytes; -EBADMSG on any bad character, bad
 * padding or non-canonical trailing bits. _encode: malloc'd NUL-terminated. */
#define KMSJSON_B64_DECODED_MAX(n) (((n) / 4) * 3)
int kmsjson_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outn);
char *kmsjson_b64_encode(const uint8_t *p, size_t n);

#endif
