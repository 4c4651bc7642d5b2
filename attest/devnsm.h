/* The development NSM: an in-process stand-in for the Nitro Security Module
 * that answers the same CBOR requests (nsm.h) and signs real COSE_Sign1 ES384
 * attestation documents with a development certificate chain
 * (root -> intermediate -> leaf, all P-384), so that the verifier runs the
 * same code on development and production documents.
 *
 * The root lives in a directory made by devroot_create(): root.key (PEM, mode
 * 0600) and root.pem. devnsm_new() makes a fresh intermediate and leaf under it
 * (the leaf valid three hours, like a real one), a PCR bank of 32 PCRs:
 * PCR0..2 as given, 3..15 zero, all 0..15 locked, 16..31 zero and unlocked.
 * ExtendPCR is PCR = SHA-384(PCR || data); a locked PCR refuses with
 * ReadOnlyIndex. Attestation documents carry all 32 PCRs (as QEMU's NSM does;
 * real documents carry the 16 locked at boot), module_id "dev-<16 hex>",
 * digest SHA384, the current time, certificate = the leaf, cabundle
 * [root, intermediate], and the user_data, nonce and public_key asked for.
 * Thread-safe (one mutex). */
#ifndef EFS_DEVNSM_H
#define EFS_DEVNSM_H

#include <stddef.h>
#include <stdint.h>

#define DEVROOT_KEY "root.key"
#define DEVROOT_CERT "root.pem"

struct devnsm;

/* Creates DIR (0700, may exist) with a new root key and self-signed root
 * certificate (CN=enclave-fs development root, valid 10 years). -EEXIST if
 * DIR already holds a root. */
int devroot_create(const char *dir, char *why, size_t whysz);

struct devnsm_config {
	const char *root_dir;       /* holds root.key and root.pem */
	uint8_t pcr0[48], pcr1[48], pcr2[48];
};

int devnsm_new(const struct devnsm_config *cfg, struct devnsm **out, char *why, size_t whysz);
void devnsm_free(struct devnsm *d);

/* Answers one raw request like the device: writes the CBOR response into
 * resp[*respn] and sets *respn to its length (truncated to the buffer, like
 * the driver). Requests it cannot decode get the Error response
 * InvalidArgument (not a C error); only internal failures return < 0. */
int devnsm_process(struct devnsm *d, const uint8_t *req, size_t reqn, uint8_t *resp,
		   size_t *respn);

/* enclave-seal dev-root -o DIR (argv[0] is "dev-root"): 0, 1 on failure,
 * 2 on a usage error; messages on stderr. */
int devroot_main(int argc, char **argv);

/* The SHA-384 of a file (for PCR0 = the enclaved binary). */
int devnsm_hash_file(const char *path, uint8_t out[48]);

#endif
