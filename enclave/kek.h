/* Key-encryption keys (KEK): the development key provider (DESIGN §5).
 *
 * A KEK is 32 random bytes kept in a file of exactly 64 lowercase hex digits
 * and a newline. It is named by its id, the lowercase hex of the first 8
 * bytes of SHA-256("enclave-fs kek id v1" || kek), which a package header
 * carries so that a reader can pick the right KEK without trying each one.
 * Data keys are wrapped under a KEK with AES key wrap with padding (RFC 5649).
 *
 * The "kek" key provider holds copies of the KEKs added to it and wipes them
 * when freed. Nothing here logs; no error message ever contains key bytes.
 */
#ifndef EFS_KEK_H
#define EFS_KEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyprov.h"

#define KEK_LEN 32
#define KEK_ID_LEN 16 /* hex chars */
/* Bytes of the RFC 5649 wrap of n key bytes (n >= 1). */
#define KEK_WRAP_LEN(n) ((((n) + 7) / 8) * 8 + 8)
#define KEK_WRAP_MAX_IN 4096

int kek_generate(uint8_t kek[static KEK_LEN]);
/* Writes a new key file (64 hex chars + "\n", mode 0600). Never overwrites:
 * -EEXIST if path exists. A partly written file is removed. */
int kek_write_file(const char *path, const uint8_t kek[static KEK_LEN]);
/* Reads a file written by kek_write_file; any other content is -EINVAL. A
 * file readable or writable by group or others is accepted and reported in
 * *loose (if not NULL) for the caller to warn about. */
int kek_read_file(const char *path, uint8_t kek[static KEK_LEN], bool *loose);
void kek_id(const uint8_t kek[static KEK_LEN], char id[static KEK_ID_LEN + 1]);

/* RFC 5649 under a 256-bit KEK. out must hold KEK_WRAP_LEN(keylen) bytes
 * (keylen in 1..KEK_WRAP_MAX_IN); *outlen receives the bytes written.
 * kek_unwrap's out must hold inlen - 8 bytes; it returns -EKEYREJECTED when
 * the integrity check fails and -EINVAL for an impossible length. */
int kek_wrap(const uint8_t kek[static KEK_LEN], const uint8_t *key, size_t keylen, uint8_t *out,
	     size_t *outlen);
int kek_unwrap(const uint8_t kek[static KEK_LEN], const uint8_t *in, size_t inlen, uint8_t *out,
	       size_t *outlen);
/* The same for a KEK of 16, 24 or 32 bytes (the RFC's test vectors use 24). */
int aes_kwp_wrap(const uint8_t *kek, size_t keklen, const uint8_t *key, size_t keylen,
		 uint8_t *out, size_t *outlen);
int aes_kwp_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
		   uint8_t *out, size_t *outlen);

/* The "kek" provider. _new returns NULL when out of memory. _add copies the
 * KEK; adding the same KEK twice is a no-op, another KEK with an id already
 * held is -EEXIST. Free it with key_provider_free(). */
struct key_provider *kek_provider_new(void);
int kek_provider_add(struct key_provider *kp, const uint8_t kek[static KEK_LEN]);

#endif
