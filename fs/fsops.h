/* The FUSE operations of the mount: the tree of DESIGN §3 over the cache dir.
 *
 *   encrypted/ dataset/ model/   the cache's trees, read-write; every change is
 *                                queued on the link in the order it was made
 *   output/                      the cache's output/, read-only (EROFS)
 *   jobs/ID/{cmd,state,log,exit} the cache's job records, read-only; ctl is
 *                                virtual (write "cancel")
 *   .run .status                 virtual
 *
 * libfuse's low-level API: the kernel names what it asks about by node id
 * (nodes.c), never by path.
 */
#ifndef EFS_FSOPS_H
#define EFS_FSOPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

struct link;

struct fs {
	int cachefd;
	struct link *link;
	struct timespec mounted; /* times of the virtual entries */
};

extern const struct fuse_lowlevel_ops fs_ops;

#endif
