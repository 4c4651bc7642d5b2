/* Mounting without root: where /dev/fuse cannot be opened (mode 0600 on
 * Debian), libfuse 3.14 gives up instead of asking fusermount3, so this
 * asks fusermount3 itself (its _FUSE_COMMFD protocol) and hands the /dev/fuse
 * fd it receives to libfuse as /dev/fd/N. As root, or wherever /dev/fuse
 * opens, it is fuse_session_mount() unchanged.
 *
 * One mount per process: efs_unmount() undoes what the last efs_mount() did.
 * Return convention: 0 or a negative errno with a message in err; nothing is
 * logged here but what fusermount3 itself prints on stderr. */
#ifndef EFS_FUSERMOUNT_H
#define EFS_FUSERMOUNT_H

#include <stddef.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

/* The mount options in args (before fuse_session_new() consumes them) that
 * libfuse would hand to the kernel or to fusermount3 (ro, noexec, ...,
 * allow_other, default_permissions, fsname=, subtype=, max_read=, ...), as
 * one -o list in out; the session's own options (clone_fd, max_threads,
 * debug, ...) are left out. 0, or -ENOSPC when out is too small. */
int efs_mount_opts(const struct fuse_args *args, char *out, size_t outsz);

/* Mounts se on mountpoint (absolute) with opts from efs_mount_opts(). */
int efs_mount(struct fuse_session *se, const char *mountpoint, const char *opts, char *err,
	      size_t errsz);

/* Unmounts what efs_mount() mounted, unless the kernel already has (after
 * fusermount3 -u). */
void efs_unmount(struct fuse_session *se, const char *mountpoint);

#endif
