/* The KMS key policy that makes attestation, not credentials, the boundary
 * for a package key (doc/SECURITY.md, enclave-seal policy):
 *   - the key's account root administers the key but is never allowed
 *     Decrypt or ReEncrypt*;
 *   - the sealer role may GenerateDataKey;
 *   - the enclave role may Decrypt only when kms:RecipientAttestation:ImageSha384
 *     is one of the given PCR0 values (and PCR8 when given);
 *   - Decrypt is denied to every principal whose request does not carry
 *     such an attestation (StringNotEqualsIgnoreCase: true when the key is
 *     absent; with PCR8, a second Deny for it, since the keys of one
 *     condition block are ANDed), and ReEncryptFrom/ReEncryptTo to everyone.
 */
#ifndef EFS_POLICY_H
#define EFS_POLICY_H

#include <stddef.h>

struct kms_policy_args {
	const char *key_account;  /* 12 digits */
	const char *enclave_role; /* arn:aws:iam::ACCOUNT:role/NAME */
	const char *sealer_role;  /* the same form */
	const char *const *pcr0;  /* 96 hex digits each, compared case-insensitively */
	size_t npcr0;             /* 1..8 */
	const char *pcr8;         /* NULL or 96 hex digits */
};

/* The policy as pretty JSON (malloc'd, ends with "\n"); -EINVAL with why
 * naming the bad argument. */
int kms_policy_json(const struct kms_policy_args *a, char **out, char *why, size_t whysz);
/* enclave-seal policy ARGS: prints it; returns the process exit code. */
int policy_main(int argc, char **argv);

#endif
