/* The development enclave: enclaved --dev, started by the link as its child
 * for a mount without --connect, connected over a socket pair, and reaped
 * when the conversation ends (it is started again for the next one). */
#ifndef EFS_DEVENCLAVE_H
#define EFS_DEVENCLAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "link.h"

/* Starts cfg->enclaved --dev with cfg's state dir, keys, job limit and
 * verbosity, listening on fd 3; sets *child and returns the other end of
 * the socket pair, or a negative errno. */
int dev_spawn(const struct link_config *cfg, pid_t *child);
/* Waits for *child (if any) to end, after SIGTERM unless stop says it is
 * leaving by itself, and clears *child. An unclean end (not the SIGTERM
 * sent here) is logged and described in why: true. */
bool dev_reap(pid_t *child, bool stop, char *why, size_t whysz);

/* The last error line the development enclave wrote (its stderr is logged
 * as the mount's), or false when none. */
bool dev_last_error(char *buf, size_t n);

/* Whether the development enclave can start here: 0 as root, or when a
 * child of ours can enter a new user namespace, map its ids there and make
 * the namespaces the enclave makes (enclaved --dev as non-root); else -1
 * with a one-line message for the user in why. */
int devenclave_check(char *why, size_t whysz);

#endif
