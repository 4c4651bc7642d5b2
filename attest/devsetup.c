/* The development NSM as a daemon sets it up: the root made on first use,
 * PCR0 the SHA-384 of the running binary, PCR1 of its name and version,
 * PCR2 of its configuration text. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "devsetup.h"
#include "devnsm.h"

static void sha384(const char *s, uint8_t out[48])
{
	unsigned int n = 48;

	EVP_Digest(s, strlen(s), out, &n, EVP_sha384(), NULL);
}

int devsetup_nsm(const char *root_dir, const char *name, const char *config, struct nsm *out,
		 char *why, size_t whysz)
{
	struct devnsm_config c = { .root_dir = root_dir };
	char path[4096];
	struct stat st;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root_dir, DEVROOT_CERT) >= sizeof(path)) {
		snprintf(why, whysz, "%s: path too long", root_dir);
		return -ENAMETOOLONG;
	}
	if (stat(path, &st) < 0) {
		r = devroot_create(root_dir, why, whysz);
		if (r < 0 && r != -EEXIST)
			return r;
	}
	r = devnsm_hash_file("/proc/self/exe", c.pcr0);
	if (r < 0) {
		snprintf(why, whysz, "cannot hash /proc/self/exe: %s", strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s %s", name, PACKAGE_VERSION);
	sha384(path, c.pcr1);
	sha384(config ? config : "", c.pcr2);
	out->fd = -1;
	return devnsm_new(&c, &out->dev, why, whysz);
}
