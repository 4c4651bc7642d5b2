/* The "kms" key provider (DESIGN §5): in the key process, a package
 * header's CiphertextBlob becomes its data key through KMS Decrypt with a
 * Recipient. For each unwrap it makes a fresh RSA-2048 key pair, asks the
 * NSM for an attestation document carrying its SubjectPublicKeyInfo,
 * sends Decrypt (the header's key id and encryption context, the document,
 * RSAES_OAEP_SHA_256), opens CiphertextForRecipient with the private key and
 * wipes every intermediate. KMS's key policy decides, from the document's
 * PCR0, whether this image may have the key.
 *
 * The AWS credentials come from the host (kms_provider_set_creds, a JSON
 * object {"access_key_id","secret_access_key","session_token","expiration",
 * "region"}), replaced whenever the host sends fresh ones. The region of a
 * call is the key ARN's, else the configured one, else the host's.
 * AccessDeniedException is -EKEYREJECTED with KMS's message.
 */
#ifndef EFS_KMSPROV_H
#define EFS_KMSPROV_H

#include <stddef.h>

#include <jansson.h>

#include "keyd.h"
#include "keyprov.h"
#include "nsm.h"

int kms_provider_new(const struct keyd_config *cfg, struct nsm *nsm, struct key_provider **out,
		     char *why, size_t whysz);
int kms_provider_set_creds(struct key_provider *kp, const char *json, size_t n, char *why,
			   size_t whysz);
/* {"region", "endpoint", "proxy", "credentials": {"access_key_id", "expires"} or null,
 *  "calls", "retries", "failures", "last_error"} */
json_t *kms_provider_status(struct key_provider *kp);

#endif
