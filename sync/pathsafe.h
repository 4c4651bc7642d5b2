/* Path safety: every path from the peer is relative, canonical, and resolved
 * beneath a root directory fd without following any symlink.
 *
 * A canonical path is non-empty, has no leading or trailing '/', no empty,
 * "." or ".." component, and no component longer than NAME_MAX; any other
 * byte (spaces, UTF-8, control characters) is allowed. Its first component
 * is a tree: what follows it ("dataset/" + up to PATH_MAX - 1 bytes) may be
 * as long as any path a user can make below the tree, so the whole is at
 * most PATH_REL_MAX bytes, more than PATH_MAX; such a path is opened one
 * component at a time, never with one openat.
 * Resolution uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS); where the kernel lacks openat2 it walks the path one
 * component at a time with O_NOFOLLOW. Either way a symlink in any component,
 * the last included, gives -ELOOP, and nothing outside the root is reached.
 *
 * The root fd stays the caller's; every fd returned is new, close-on-exec and
 * the caller's to close. Functions return an fd, 0, or a negative errno.
 */
#ifndef EFS_PATHSAFE_H
#define EFS_PATHSAFE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest tree prefix, "encrypted/": a tree's name has at most
 * PATH_TREE_PREFIX_MAX - 1 bytes. */
#define PATH_TREE_PREFIX_MAX 10
/* The longest path relative to the root: a tree prefix and PATH_MAX - 1
 * bytes below it. */
#define PATH_REL_MAX (PATH_TREE_PREFIX_MAX + PATH_MAX - 1)

/* Checks a peer-supplied relative path is canonical (see above).
 * Returns 0, -EINVAL, or -ENAMETOOLONG (a component longer than NAME_MAX,
 * more than PATH_MAX - 1 bytes after the first component, or more than
 * PATH_REL_MAX in all). */
int path_check(const char *rel);
/* Opens rel beneath rootfd (a directory fd) with open(2) flags and mode.
 * rel is checked with path_check() first. A symlink anywhere gives -ELOOP,
 * also as the last component with O_CREAT, and with O_PATH; only
 * O_CREAT | O_EXCL on a last-component symlink gives -EEXIST, as open does. */
int path_openat(int rootfd, const char *rel, int flags, mode_t mode);
/* Opens the directory containing rel (O_RDONLY | O_DIRECTORY, resolved as by
 * path_openat()) and sets *base to rel's last component, a pointer into rel.
 * With create_parents, missing directories are created 0755 (mkdir -p; a
 * non-directory in the way gives -ENOTDIR, a symlink -ELOOP). For a
 * one-component path it returns a dup of rootfd. */
int path_open_parent(int rootfd, const char *rel, bool create_parents, const char **base);
/* Removes entry `name` (one component) of dirfd: a file, a symlink (the link
 * itself), or a directory tree depth-first, never following symlinks and
 * never entering another file system (-EXDEV). Any depth takes two
 * descriptors; a directory moved out of the tree while it is being emptied
 * stops the removal with -ESTALE. Keeps going past other errors and returns
 * the first, or 0; -ENOENT if name is absent. */
int path_remove_tree(int dirfd, const char *name);
/* The same, adding to *bytes the st_size of every regular file removed. */
int path_remove_tree_sized(int dirfd, const char *name, uint64_t *bytes);
/* For tests: force the component walk instead of openat2. */
void path_force_fallback(bool on);

#endif
