/* The key-provider interface: how a package header's wrapped key becomes the
 * 32-byte data key (DEK) that encrypts the package (DESIGN §5, doc/PACKAGE.md).
 *
 * A provider is named after the header's "key"."provider" value ("kek", later
 * "kms"); the package reader refuses a header whose provider does not match
 * with -EPROTONOSUPPORT before calling unwrap. unwrap returns 0 and fills dek,
 * -ENOKEY when it holds no key for the header's id, -EKEYREJECTED when the
 * wrapped key fails its integrity check, or another -errno; err (if not NULL)
 * receives a message that never contains key material. The caller owns dek
 * and wipes it. key_provider_free() releases any provider and accepts NULL.
 */
#ifndef EFS_KEYPROV_H
#define EFS_KEYPROV_H

#include <stddef.h>
#include <stdint.h>

#define PKG_DEK_LEN 32

struct pkg_key; /* the parsed "key" object (package.h) */

struct key_provider {
	const char *name;
	int (*unwrap)(struct key_provider *kp, const struct pkg_key *key,
		      uint8_t dek[static PKG_DEK_LEN], char *err, size_t errsz);
	void (*free)(struct key_provider *kp);
};

static inline void key_provider_free(struct key_provider *kp)
{
	if (kp)
		kp->free(kp);
}

#endif
