/* Walking a local tree: depth-first, pre-order, never following symlinks,
 * skipping the engine's own temporary files (".efs-tmp*"). */
#ifndef EFS_TREE_H
#define EFS_TREE_H

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#define TMP_PREFIX ".efs-tmp"

/* Called for every entry below `rel` (not for rel itself), with its path
 * relative to the root and its lstat. A negative return stops the walk and
 * is returned. */
typedef int (*tree_cb)(void *ud, const char *path, const struct stat *st);

/* rel must be a directory beneath rootfd; a missing rel is -ENOENT. */
int tree_walk(int rootfd, const char *rel, tree_cb cb, void *ud);

static inline bool tree_is_tmp(const char *name)
{
	return strncmp(name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) == 0;
}

#endif
