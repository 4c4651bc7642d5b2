/* AWS Signature Version 4: the canonical request, the string to sign, the
 * signature and the headers a signed request carries, for any HTTP request
 * (the KMS client signs POST / with service "kms"; the tests run the shared
 * suite of 32 cases through the same function).
 *
 * Pure: no clock, no I/O. The caller gives the time as "YYYYMMDDTHHMMSSZ".
 * Header names are compared case-insensitively, values are trimmed and their
 * inner runs of spaces collapsed; repeated names are joined with "," in the
 * order given. The path is normalised (RFC 3986 dot segments, "//") unless
 * SIGV4_NO_NORMALIZE, then every segment is URI-encoded once; the query's
 * parameters are decoded, re-encoded and sorted. The body's SHA-256 is hex;
 * with SIGV4_SIGN_BODY an x-amz-content-sha256 header carrying it is added
 * (and signed). A session token adds x-amz-security-token (signed).
 *
 * Functions return 0 or a negative errno (-EINVAL for input they cannot
 * sign, -ENOMEM); the secret never appears in any output but the signature.
 */
#ifndef EFS_SIGV4_H
#define EFS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#define SIGV4_SIGN_BODY 0x1u
#define SIGV4_NO_NORMALIZE 0x2u

struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "": none */
};

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;                /* "GET", "POST" */
	const char *path;                  /* as on the request line, before '?' */
	const char *query;                 /* after '?', or NULL / "" */
	const struct sigv4_header *headers; /* as sent; must include host */
	size_t nheaders;
	const uint8_t *body;
	size_t body_len;
};

/* The headers signing adds, in this order: x-amz-date, x-amz-security-token
 * (with a token), x-amz-content-sha256 (with SIGV4_SIGN_BODY),
 * authorization. Every string is owned by the struct. */
struct sigv4_signed {
	char *canonical_request;
	char *string_to_sign;
	char signature[65];
	struct {
		char *name;
		char *value;
	} add[4];
	size_t nadd;
};

int sigv4_sign(const struct sigv4_request *rq, const struct sigv4_creds *c, const char *region,
	       const char *service, const char amz_date[static 17], unsigned flags,
	       struct sigv4_signed *out);
/* Frees what sigv4_sign filled (wipes nothing secret: it holds nothing
 * secret); accepts a zeroed struct. */
void sigv4_signed_release(struct sigv4_signed *s);

#endif
