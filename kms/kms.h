/* The AWS KMS client: GenerateDataKey for the sealer, Decrypt with a
 * Recipient for the enclave's key process. One HTTPS POST per call, signed
 * with SigV4 (service "kms"), over libcurl:
 *
 *   - the endpoint is https://kms.REGION.amazonaws.com/ unless cfg->endpoint
 *     (a VPC endpoint, a test double);
 *   - cfg->proxy "vsock:CID:PORT" (in a Nitro Enclave: the parent's
 *     vsock-proxy) or "unix:PATH" is where the connection goes, through a
 *     relay of this process (kms.c), so no DNS is needed and TLS still runs
 *     end to end with SNI and certificate checks for the endpoint's host name;
 *   - certificates are checked against the system CA bundle, or cfg->ca_file;
 *   - only https is spoken, redirects are not followed, an answer larger
 *     than KMSJSON_BODY_MAX is refused;
 *   - throttling, 5xx and transport failures are retried with exponential
 *     backoff and jitter, at most cfg->max_tries attempts in all.
 *
 * Errors: 0 or a negative errno with why (KMS's own error type and message
 * when it answered one; never a secret): the mapping of kmsjson_parse_error,
 * -ETIMEDOUT / -ECONNREFUSED / -EHOSTUNREACH for transport failures that
 * outlived the retries, -EPROTO for TLS failures.
 */
#ifndef EFS_KMS_H
#define EFS_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "kmsjson.h"

struct kms_config {
	char region[AWS_REGION_MAX]; /* used when the key id names none */
	const char *endpoint;        /* NULL: https://kms.REGION.amazonaws.com */
	const char *proxy;           /* NULL, "vsock:CID:PORT" or "unix:PATH" */
	const char *ca_file;         /* NULL: the system bundle */
	unsigned max_tries;          /* 0: KMS_TRIES_DEFAULT */
};

#define KMS_TRIES_DEFAULT 5

/* Counters for tests and .status (since the process started). */
struct kms_stats {
	unsigned long requests, retries, failures;
};

/* Checks cfg->proxy's form (NULL is valid). */
int kms_proxy_valid(const char *proxy);
/* The region of a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), copied into
 * region; -EINVAL if key_id is not such an ARN. */
int kms_arn_region(const char *key_id, char region[static AWS_REGION_MAX]);

/* One signed call of operation op ("Decrypt", ...) with a JSON body. On 0,
 * *resp (malloc'd, NUL-terminated) holds the 200 answer's body; the caller
 * wipes it if it holds a secret. */
int kms_call(const struct kms_config *cfg, const struct aws_creds *c, const char *region,
	     const char *op, const char *body, size_t n, char **resp, size_t *respn, char *why,
	     size_t whysz);

int kms_generate_data_key(const struct kms_config *cfg, const struct aws_creds *c,
			  const char *key_id, const char *context_json, struct kms_generated *out,
			  char *why, size_t whysz);
int kms_decrypt_recipient(const struct kms_config *cfg, const struct aws_creds *c,
			  const uint8_t *blob, size_t blob_len, const char *key_id,
			  const char *context_json, const uint8_t *attdoc, size_t attdoc_len,
			  struct kms_decrypted *out, char *why, size_t whysz);

void kms_stats_get(struct kms_stats *s);

#endif
