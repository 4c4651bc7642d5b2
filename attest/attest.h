/* Attestation documents: decode and verify the COSE_Sign1 documents a Nitro
 * Security Module (or the development NSM) signs.
 *
 * A document is COSE_Sign1, tagged (0xd2) or not: [protected, unprotected,
 * payload, signature]. protected must be exactly {1: -35} (ES384); the
 * signature is raw r||s, 96 bytes, over Sig_structure
 * ["Signature1", protected, h'', payload] hashed with SHA-384, checked against
 * the leaf certificate's P-384 key. The payload is a map (definite or
 * indefinite length) of module_id, digest ("SHA384"), timestamp (ms), pcrs
 * (16 or 32 entries, index -> 48 bytes), certificate (DER), cabundle (DER
 * array, root first), and public_key, user_data, nonce (each a byte string of
 * at most ATTEST_FIELD_MAX, or null).
 *
 * The chain is checked as leaf <- cabundle[n-1] <- ... <- cabundle[1] <- the
 * pinned root (cabundle[0] is ignored: the pinned root stands for it) at an
 * explicit time, with no CRL checks. Every function returns 0 or a negative
 * errno and writes a one-line reason into why[whysz] on refusal; they never
 * print. -EBADMSG: the bytes are not a well-formed document; -EKEYREJECTED:
 * well formed but refused (signature, chain, time, debug, nonce, PCR pin). */
#ifndef EFS_ATTEST_H
#define EFS_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTEST_DOC_MAX 16384      /* a whole document */
#define ATTEST_FIELD_MAX 1024     /* public_key, user_data, nonce */
#define ATTEST_CERT_MAX 4096      /* one DER certificate */
#define ATTEST_CABUNDLE_MAX 8     /* certificates in cabundle */
#define ATTEST_PCRS_MAX 32
#define ATTEST_PCR_LEN 48
#define ATTEST_MODULE_ID_MAX 128
#define ATTEST_SUBJECT_MAX 256

/* A decoded document. Byte fields point into storage the document owns;
 * absent (null) optional fields have p == NULL and n == 0. */
struct attest_bytes {
	const uint8_t *p;
	size_t n;
};

struct attest_doc {
	char module_id[ATTEST_MODULE_ID_MAX + 1];
	char digest[16];
	uint64_t timestamp_ms;
	unsigned npcrs;                            /* 16 or 32 */
	uint8_t pcr[ATTEST_PCRS_MAX][ATTEST_PCR_LEN];
	struct attest_bytes certificate;
	struct attest_bytes cabundle[ATTEST_CABUNDLE_MAX];
	size_t ncabundle;
	struct attest_bytes public_key, user_data, nonce;
	bool debug; /* PCR0, PCR1 and PCR2 all zero */
	/* Filled by attest_verify(): subject names, leaf first, then the
	 * intermediates, then the root. */
	char subject[ATTEST_CABUNDLE_MAX + 2][ATTEST_SUBJECT_MAX];
	size_t nsubject;
	void *storage; /* private */
};

/* Decodes doc[n] (COSE_Sign1 and its payload) without checking signature or
 * chain. On success *out owns a copy of what it needs; release it with
 * attest_doc_release(). On failure *out is left released. */
int attest_decode(const uint8_t *doc, size_t n, struct attest_doc *out, char *why, size_t whysz);
void attest_doc_release(struct attest_doc *d);

/* One accepted set of values for one PCR (rolling upgrades pin old and new). */
#define ATTEST_PIN_VALUES_MAX 8
struct attest_pin {
	unsigned index;
	size_t nvalues;
	uint8_t value[ATTEST_PIN_VALUES_MAX][ATTEST_PCR_LEN];
};

#define ATTEST_PINS_MAX 16
struct attest_policy {
	const uint8_t *root_der; /* the pinned root; NULL: the AWS Nitro root built in */
	size_t root_der_len;
	int64_t at_ms;           /* the time the chain must be valid at (ms since epoch) */
	bool allow_debug;
	const uint8_t *nonce;    /* NULL: any nonce (or none) accepted */
	size_t nonce_len;
	size_t npins;
	struct attest_pin pin[ATTEST_PINS_MAX];
};

/* Decodes and verifies: signature, chain to the root at p->at_ms, digest,
 * debug, nonce, pins, in that order; the first failure is the reason.
 * *out is filled (and must be released) whenever the return is 0 or
 * -EKEYREJECTED, so a caller can show what it got even when it refuses it. */
int attest_verify(const uint8_t *doc, size_t n, const struct attest_policy *p,
		  struct attest_doc *out, char *why, size_t whysz);

/* The AWS Nitro Enclaves root (G1), DER. */
extern const uint8_t attest_aws_root_der[];
extern const size_t attest_aws_root_der_len;

/* Reads one PEM certificate from path into a malloc'd DER buffer. */
int attest_read_root(const char *path, uint8_t **der, size_t *n, char *why, size_t whysz);
/* The value of one hex digit (either case), or -1. */
int attest_hexval(char c);
/* Parses "N=HEX[,HEX...]" (N 0..31, HEX 96 hex digits) into a pin.
 * -EINVAL with a reason otherwise. */
int attest_parse_pin(const char *s, struct attest_pin *pin, char *why, size_t whysz);
/* Adds pin to p, merging values when p already pins that index. */
int attest_policy_add_pin(struct attest_policy *p, const struct attest_pin *pin, char *why,
			  size_t whysz);

#endif
