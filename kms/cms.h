/* KMS's CiphertextForRecipient: a BER ContentInfo holding an EnvelopedData
 * (RFC 5652) with one KeyTransRecipientInfo, the key encrypted with
 * RSAES-OAEP (SHA-256, MGF1 with SHA-256, empty label), and the content with
 * AES-256-CBC (PKCS#7 padding). This is the hostile-input decoder for it and
 * the decryption with the enclave's RSA key.
 *
 * cms_parse walks the DER/BER by hand, every length checked by subtraction
 * against what remains, nesting bounded (CMS_MAX_DEPTH), indefinite lengths
 * and constructed OCTET STRINGs accepted where BER allows them (KMS sends the
 * encryptedContent either as [0] primitive or as [0] constructed indefinite
 * of OCTET STRING pieces). It requires: contentType envelopedData, exactly
 * one recipient of type KeyTransRecipientInfo whose rid is a
 * subjectKeyIdentifier ([0], 1..64 bytes) or issuerAndSerialNumber,
 * keyEncryptionAlgorithm rsaesOaep whose hash and MGF hash are SHA-256 (the
 * sha256 AlgorithmIdentifier with or without NULL parameters; a pSource
 * other than the empty label is refused), content type id-data, content
 * algorithm aes-256-cbc with a 16-byte IV, and ciphertext a non-zero
 * multiple of 16 bytes. Anything else: -EBADMSG with why naming the part.
 * Trailing bytes after the ContentInfo are refused.
 *
 * cms_decrypt opens it with an RSA private key: OAEP unwraps the content
 * key (must be 32 bytes), AES-256-CBC decrypts, padding is checked. Every
 * intermediate (content key, padded plaintext) is wiped. A wrong key, a
 * different label, or bad padding is -EKEYREJECTED; out too small is
 * -EMSGSIZE; out is wiped on failure.
 */
#ifndef EFS_CMS_H
#define EFS_CMS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define CMS_MAX_DEPTH 16
#define CMS_MAX_INPUT 65536

struct cms_envelope {
	const uint8_t *rid;       /* the subjectKeyIdentifier (or the issuerAndSerialNumber DER) */
	size_t rid_len;
	int rid_is_ski;
	const uint8_t *ek;        /* encryptedKey, within the input */
	size_t ek_len;
	uint8_t iv[16];
	uint8_t *ct;              /* the ciphertext, its pieces joined (malloc'd) */
	size_t ct_len;
};

int cms_parse(const uint8_t *in, size_t n, struct cms_envelope *out, char *why, size_t whysz);
void cms_envelope_release(struct cms_envelope *e);
int cms_decrypt(const uint8_t *in, size_t n, EVP_PKEY *rsa, uint8_t *out, size_t outsz,
		size_t *outn, char *why, size_t whysz);

#endif
