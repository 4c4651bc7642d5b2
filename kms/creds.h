/* AWS credentials and region from where AWS tools look for them, for the
 * owner's sealer (enclave-seal) and for the host that hands short-lived
 * credentials to its enclave (enclave-fs, enclave-sync):
 *
 *   env      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   profile  AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, section
 *            AWS_PROFILE or "default" (INI: [name], key = value, # and ;
 *            comments); region from AWS_CONFIG_FILE or ~/.aws/config
 *            ([profile NAME] or [default]) when asked
 *   imds     IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds),
 *            then with X-aws-ec2-metadata-token: the role name from
 *            /latest/meta-data/iam/security-credentials/, its JSON
 *            (AccessKeyId, SecretAccessKey, Token, Expiration), and the region
 *            from /latest/meta-data/placement/region. The endpoint is
 *            AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254;
 *            every request times out after 2 s.
 *
 * Every input (files, environment, IMDS answers) is hostile: bounded sizes
 * (a credentials file over 1 MiB, a value over AWS_CRED_MAX, a JSON answer
 * over 64 KiB are refused), exact fields. Functions return 0 or a negative
 * errno with why (never containing a secret): -ENOENT when the source has no
 * credentials, -EBADMSG for malformed content, -EHOSTUNREACH / -ETIMEDOUT
 * for IMDS, -ENOMEM. Secrets are wiped by aws_creds_wipe.
 */
#ifndef EFS_CREDS_H
#define EFS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWS_CRED_MAX 4096
#define AWS_REGION_MAX 32

enum aws_creds_source { AWS_CREDS_NONE, AWS_CREDS_ENV, AWS_CREDS_PROFILE, AWS_CREDS_IMDS };

struct aws_creds {
	char access_key_id[129];
	char secret_access_key[129];
	char session_token[AWS_CRED_MAX + 1]; /* "" when none */
	int64_t expiration;                   /* unix seconds; 0: does not expire */
};

/* "env", "profile", "imds" (and "none"); -EINVAL otherwise. */
int aws_creds_source_parse(const char *s, enum aws_creds_source *out);
/* The default when the user chose nothing: env when AWS_ACCESS_KEY_ID is
 * set, else imds when aws_on_ec2(), else profile when a credentials file
 * exists, else none. */
enum aws_creds_source aws_creds_source_default(void);
/* Whether this machine is an EC2 instance, from DMI (no network):
 * /sys/devices/virtual/dmi/id/{sys_vendor,board_vendor} "Amazon EC2". */
bool aws_on_ec2(void);

int aws_creds_load(enum aws_creds_source src, struct aws_creds *c, char *why, size_t whysz);
/* The region: AWS_REGION, AWS_DEFAULT_REGION, the profile's config, then
 * IMDS when on EC2 (or when src is imds). Valid regions are [a-z0-9-]{1,31}. */
int aws_region_load(enum aws_creds_source src, char region[static AWS_REGION_MAX], char *why,
		    size_t whysz);
bool aws_region_valid(const char *r);

/* IMDSv2 pieces (aws_creds_load(AWS_CREDS_IMDS) uses them). endpoint NULL:
 * the default above. */
int aws_imds_creds(const char *endpoint, struct aws_creds *c, char *why, size_t whysz);
int aws_imds_region(const char *endpoint, char region[static AWS_REGION_MAX], char *why,
		    size_t whysz);
/* Decodes an IMDS credentials answer (Code must be "Success"; Expiration
 * RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ"). */
int aws_imds_parse_creds(const char *body, size_t n, struct aws_creds *c, char *why, size_t whysz);

/* The INI reader behind profiles: the value of key in section, copied into
 * out (-ENOENT if absent, -EMSGSIZE if longer than outsz - 1). */
int aws_ini_get(const char *text, size_t n, const char *section, const char *key, char *out,
		size_t outsz);

/* When to fetch again: expiration minus min(300 s, half the time left at
 * fetch), or 0 for credentials that do not expire. */
int64_t aws_creds_refresh_at(const struct aws_creds *c, int64_t fetched_at);

void aws_creds_wipe(struct aws_creds *c);

#endif
