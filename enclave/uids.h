/* Job uids: one per application identity, never reused for another.
 *
 * An identity is who sealed an application and what it calls itself: the
 * key provider, the key id and the manifest's name (only the holder of that
 * key can make a package with it). Every job of one identity runs as its
 * uid, so a job can replace files in the shared, sticky /output that jobs of
 * its own application wrote, and never those of another; the per-uid process
 * limit and /proc (hidepid) separate applications the same way.
 *
 * The table is kept in a file of the state dir (one identity digest in hex a
 * line, the line number giving uid = base + line), appended and synced as
 * identities appear, so files left in /output keep their meaning across
 * restarts. Library code: returns 0 or -errno, never logs.
 */
#ifndef EFS_UIDS_H
#define EFS_UIDS_H

#include <stdint.h>
#include <sys/types.h>

#define UIDS_DEFAULT_BASE 2000000000u
#define UIDS_MAX 65536u
#define UIDS_FILE "uids"

struct uids;

/* Opens (creating it empty if missing) STATE/uids beneath dirfd. -EINVAL
 * for a file that is not a table this module wrote. */
int uids_open(int dirfd, uid_t base, struct uids **out);
/* The uid of identity, assigning the next free one (persisted before it
 * is returned). -ENOSPC when UIDS_MAX identities exist. */
int uids_get(struct uids *u, const uint8_t identity[static 32], uid_t *uid);
/* The SHA-256 identity of (provider, key id, manifest name): 0 or -ENOMEM. */
int uids_identity(const char *provider, const char *key_id, const char *name,
		  uint8_t out[static 32]);
/* Accepts NULL. */
void uids_free(struct uids *u);

/* 0 when no user or group of this system (getpwent, getgrent) has an id in
 * [base, base + UIDS_MAX); -EEXIST with *clash set otherwise. */
int uids_range_free(uid_t base, uid_t *clash);

#endif
