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
#include <stdbool.h>
#include <fuse_lowlevel.h>

struct link;

struct fs {
	int cachefd;
	struct link *link;
	struct timespec mounted; /* times of the virtual entries */
};

/* The session the kernel's cache is told about from now on (NULL: no
 * longer). Set once mounted; cleared before unmounting, which waits (a
 * second at most) for a fs_changed_behind() under way to end. */
void fs_set_session(struct fuse_session *se);
/* The link changed rel ("output/a/b", "jobs/3/log": a path in the cache)
 * behind the kernel's back: the kernel drops the attributes and pages it
 * keeps of the file there and of its directory's attributes, and, when the
 * name is new, gone or names another file now (name), the name itself.
 * Called from the link's thread, never from a request's handler (the
 * kernel takes the directory's lock for a name, which the request may
 * hold). */
void fs_changed_behind(const char *rel, bool name);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
