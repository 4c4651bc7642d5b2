/* Setting up the development NSM for a daemon (enclaved --dev, enclave-sync
 * --listen): the root in root_dir is made on first use; PCR0 = SHA-384 of the
 * running binary, PCR1 = SHA-384 of "NAME VERSION", PCR2 = SHA-384 of config
 * (the daemon's options in a canonical text). *out gets the NSM; free it with
 * devnsm_free(out->dev). */
#ifndef EFS_DEVSETUP_H
#define EFS_DEVSETUP_H

#include <stddef.h>

#include "nsm.h"

int devsetup_nsm(const char *root_dir, const char *name, const char *config, struct nsm *out,
		 char *why, size_t whysz);

#endif
