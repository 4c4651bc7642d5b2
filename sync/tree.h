/* Walking a local tree: depth-first, pre-order, never following symlinks.
 * Every name is reported: the engine's temporary files are never in a tree
 * (they are staged outside the trees, see engine.h).
 *
 * A walk holds at most two directory descriptors besides the caller's root,
 * however deep the tree: each directory's names are read into memory and the
 * descriptor closed before the walk descends; coming back up, the directory
 * is opened again beneath the root (never through a symlink) and must still
 * be the same one, or the rest of it is left alone as a concurrent change.
 * Memory grows with the names of the directories on the current path. */
#ifndef EFS_TREE_H
#define EFS_TREE_H

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

/* Depth of a path: its components below the first, its tree ("output/a/b"
 * is 2 deep). A walk reports nothing deeper, and the sync protocol refuses
 * deeper paths, so one job's directory nested a thousand levels costs the
 * walk neither a descriptor per level nor a path it cannot reopen. */
#define TREE_MAX_DEPTH 128

/* Called for every entry below `rel` (not for rel itself), with its path
 * relative to the root and its lstat. A negative return stops the walk and
 * is returned. */
typedef int (*tree_cb)(void *ud, const char *path, const struct stat *st);

enum tree_skip {
	/* dir is TREE_MAX_DEPTH deep and not empty: its contents are not walked. */
	TREE_SKIP_DEEP,
	/* A name in dir would make a path of PATH_MAX bytes or more below its
	 * tree (or more than PATH_REL_MAX from the root): that entry is not
	 * walked (reported once per directory). */
	TREE_SKIP_LONG,
};

/* Called for a directory whose contents the walk leaves out, after tree_cb
 * was called for the directory itself. A negative return stops the walk. */
typedef int (*tree_skip_cb)(void *ud, const char *dir, enum tree_skip why);

/* rel must be a directory beneath rootfd; a missing rel is -ENOENT. Entries
 * left out (see enum tree_skip) are reported to skip when it is not NULL. */
int tree_walk_skips(int rootfd, const char *rel, tree_cb cb, tree_skip_cb skip, void *ud);

/* tree_walk_skips() without a skip callback: what lies too deep is left out
 * silently. */
int tree_walk(int rootfd, const char *rel, tree_cb cb, void *ud);

/* The number of '/' in path, counted up to TREE_MAX_DEPTH + 1. */
static inline unsigned tree_depth(const char *path)
{
	unsigned n = 0;

	for (const char *p = path; *p && n <= TREE_MAX_DEPTH; p++)
		n += *p == '/';
	return n;
}

static inline bool tree_too_deep(const char *path)
{
	return tree_depth(path) > TREE_MAX_DEPTH;
}

#endif
