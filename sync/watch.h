/* Change detection for a tree the sync engine sends: recursive inotify
 * watching (through libinotifytools) of some top-level directories of one
 * tree, reporting changes as paths relative to the tree root
 * ("dataset/a/b.csv").
 *
 * Nothing is missed between a directory appearing and its watch being set:
 * every new directory is watched first and listed second. Only regular files
 * and directories are reported, whatever their names (the engine's own
 * temporary files are staged outside the trees). Open the watcher before the initial
 * scan so changes made during that scan are reported.
 *
 * libinotifytools keeps global state: one watcher per process, opened and
 * used from one thread. The callback must not call watch_close().
 */
#ifndef EFS_WATCH_H
#define EFS_WATCH_H

#include <stdbool.h>
#include <stddef.h>

enum watch_kind {
	/* A regular file was written and closed, created empty and closed, had
	 * its attributes changed, or was moved in from outside. A directory's
	 * own attribute changes are not reported. */
	WATCH_FILE_CHANGED,
	/* A regular file was written and is still open for writing. */
	WATCH_FILE_GROWING,
	/* A directory appeared (created or moved in). It is watched already,
	 * and everything already inside it is reported too (WATCH_DIR_ADDED
	 * for subdirectories, WATCH_FILE_CHANGED for files, WATCH_SPECIAL for
	 * symlinks). */
	WATCH_DIR_ADDED,
	/* A file or directory was deleted or moved out of the watched tree,
	 * or a symlink or special file was renamed away from path. Reported
	 * for any type: a deleted entry can no longer be checked. A watched
	 * top-level directory that is itself removed or moved is reported
	 * here and is no longer watched. */
	WATCH_REMOVED,
	/* Renamed within the watched tree: path -> to. */
	WATCH_MOVED,
	/* Events were lost (queue overflow): the caller must rescan every
	 * watched directory; the watches have been re-established. Fed to
	 * engine_notify() with path a tree's name ("dataset"), it rescans
	 * that tree only. */
	WATCH_RESCAN,
	/* A directory's attributes (mode, times) changed: path. */
	WATCH_DIR_CHANGED,
	/* path is now a symlink, fifo, socket or device (created, or renamed
	 * into place, possibly over a regular file): a symlink is synced as
	 * one, the others are not transferred, but whatever the peer held
	 * under that name is stale. */
	WATCH_SPECIAL,
	/* Only a file's mode or times changed, not its content: path. The
	 * mount reports this (it sees every write, and reports the content
	 * of a file it never reported before at its close, with whatever
	 * attributes it has then); the watcher never does (a write through
	 * mmap raises no IN_MODIFY, so IN_ATTRIB may be the only sign of
	 * one). */
	WATCH_ATTR_CHANGED,
};

struct watch_event {
	enum watch_kind kind;
	bool is_dir;
	const char *path; /* relative to the root, valid only during the callback; "" for RESCAN */
	const char *to;   /* WATCH_MOVED only */
};

typedef void (*watch_cb)(const struct watch_event *ev, void *ud);

struct watch;

/* Watches root/<sub> recursively for each name in subs (NULL-terminated),
 * e.g. {"encrypted", "dataset", "model", NULL}. Each sub is a single path
 * component and must be an existing directory. -EBUSY if a watcher is open.
 * Needs /proc, and call it early: libinotifytools select()s on its
 * descriptor, which must be below FD_SETSIZE (-EIO otherwise). */
int watch_open(const char *root, const char *const *subs, struct watch **out);
/* Readable when events are pending; stays the same for the watcher's life. */
int watch_fd(const struct watch *w);
/* Reads and reports every pending event without blocking; 0 or -errno. */
int watch_dispatch(struct watch *w, watch_cb cb, void *ud);
/* A directory that cannot be watched because the inotify watch limit
 * (fs.inotify.max_user_watches) is reached is not an error: it is listed
 * like the others, but later changes in it are not reported. Returns how
 * many directories were left unwatched since the last call (by watch_open,
 * watch_dispatch or the rescan after an overflow, which tries them again),
 * and copies the first one's path into first[size]. */
size_t watch_take_unwatched(struct watch *w, char *first, size_t size);
/* Accepts NULL. */
void watch_close(struct watch *w);

#endif
