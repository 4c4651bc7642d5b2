/* The sync engine: one side of a host <-> enclave conversation over one
 * stream (doc/PROTOCOL.md). It sends the trees its role writes, receives the
 * trees the peer writes, and is driven by the caller's poll() loop:
 *
 *     engine_new(&cfg, &e);
 *     engine_attach(e, fd);                 // after connect or accept
 *     for (;;) {
 *         n = engine_pollfds(e, fds, N);
 *         poll(fds, n, engine_timeout_ms(e));
 *         r = engine_step(e, fds, n);       // < 0: the connection ended
 *     }
 *
 * Nothing blocks on the peer: reads, writes and file production happen in
 * bounded steps. The engine owns the connection fd after attach.
 */
#ifndef EFS_ENGINE_H
#define EFS_ENGINE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "watch.h"

/* What a daemon built on the engine (enclaved, enclave-fs) hears from it. */
struct engine_hooks {
	/* The conversation is established (HELLO received). */
	void (*connected)(void *ud);
	/* A message of the application (a type from MSG_APP_FIRST to
	 * MSG_APP_LAST), which the engine does not read. A negative return is
	 * a protocol violation: the conversation ends with a fatal ERROR of
	 * that errno whose text is why (whysz bytes, "" on entry) if the hook
	 * filled it. Without this hook every such message is a fatal
	 * EOPNOTSUPP. */
	int (*message)(void *ud, const struct frame *f, char *why, size_t whysz);
	/* A received file was renamed into place, or a directory made (a new
	 * name: whatever had it is gone); a received path was changed in place
	 * (its attributes set, data appended); a received path was removed
	 * (a whole tree: path may be a directory); a received path was renamed. */
	void (*committed)(void *ud, const char *path);
	void (*updated)(void *ud, const char *path);
	void (*removed)(void *ud, const char *path);
	void (*renamed)(void *ud, const char *from, const char *to);
	/* A file we sent was stored (err 0) or refused (positive errno) by
	 * the peer (FILE_ACK). path is where the peer holds it now: a rename
	 * sent while it was in flight is applied to it. */
	void (*sent)(void *ud, const char *path, int err);
};

struct engine_config {
	enum role role;
	const char *root; /* the tree root; its owned subtrees are created if missing */
	const char *name; /* sent in HELLO */
	/* The trees this side writes and the trees the peer writes: NULL-
	 * terminated lists of 1..ENGINE_MAX_TREES names, each a single path
	 * component of at most PATH_TREE_PREFIX_MAX - 1 bytes and not
	 * ENGINE_STAGING_DIR, no name in both (copied). The engine syncs nothing else
	 * below root; both lists are created there if missing. */
	const char *const *own_trees;
	const char *const *peer_trees;
	bool watch;       /* watch owned subtrees with inotify */
	bool fsync;       /* fsync received files before they are renamed into place */
	bool readable;    /* store received files readable by all (HELLO_F_READABLE) */
	/* Read and chunk files of SCAN_THREAD_MIN bytes and more on a thread
	 * of the engine's own while it sends (sync/scanner.h). For a process
	 * that never forks while the engine lives. */
	bool scan_thread;
	const struct engine_hooks *hooks;
	void *hooks_ud;
	/* Bytes the peer may make us hold in the trees it writes: its files,
	 * plus what its open transfers have written into temporary files or
	 * announced and not yet sent. A file that would not fit is refused
	 * (FILE_ACK ENOSPC), the connection stays. 0: what its trees hold
	 * when the peer's HELLO arrives, plus store_share percent of the free
	 * space of the root's file system then (of RAM, where the file system
	 * reports no size, as a ramfs does). */
	uint64_t max_store;
	unsigned store_share; /* 1..100; 0: 100 */
	/* Entries the peer's summary may list; more is a fatal error.
	 * 0: ENGINE_MAX_ENTRIES. Their paths may add up to at most
	 * ENGINE_MAX_SUMMARY_BYTES, whatever the count. */
	uint64_t max_entries;
	/* Owned trees whose failed files a barrier's result leaves out, for a
	 * caller that reports those itself (enclave-fs: packages, at close());
	 * NULL-terminated, kept by the caller; NULL: none. They are retried
	 * all the same. */
	const char *const *barrier_quiet;
};

#define ENGINE_MAX_TREES 8

/* The receiver's staging directory, a name in the root (never in a tree):
 * every file, symlink and link it receives is built there and renamed into
 * place. Created 0700 by engine_new(), which removes what a crash left in it;
 * every tree the peer writes into must be on the root's file system. */
#define ENGINE_STAGING_DIR ".efs-staging"

#define ENGINE_MAX_ENTRIES 1000000
#define ENGINE_MAX_SUMMARY_BYTES (256ull << 20)

struct engine_stats {
	uint64_t files_sent, file_bytes_sent;
	uint64_t files_received, file_bytes_received;
	uint64_t wire_sent, wire_received;
	uint64_t chunks_sent, chunks_dedup;   /* sender: chunks the peer wanted / already had */
	uint64_t chunks_local;                /* receiver: chunks taken from its own files */
	uint64_t hole_bytes_sent;             /* sender: bytes sent as FILE_HOLE, not as data */
	uint64_t errors;                      /* files or operations that failed (reported) */
	uint64_t store_held, store_max;       /* receiver: bytes held for the peer (see max_store), the limit */
	uint64_t recounts;                    /* sender: models rebuilt from the peer's summary (SUMMARY_AGAIN) */
};

struct engine;

/* -EINVAL for a missing or malformed tree list (see own_trees). */
int engine_new(const struct engine_config *cfg, struct engine **out);
void engine_free(struct engine *e);

/* Takes a connected stream socket and sends HELLO. The engine owns fd
 * from the call on, also when it fails (it is then closed). */
int engine_attach(struct engine *e, int fd);

/* A stream carried in a layer of its own on fd (the attested session's
 * TLS): read and write behave like read(2) and write(2) on a non-blocking
 * fd (-1 with errno EAGAIN: wait for fd to be readable, or writable while
 * output is queued); pending says whether read has bytes without waiting
 * for fd; a layer that holds written bytes of its own says so with
 * wants_write (the engine then waits for POLLOUT) and sends them in flush
 * (0, or -errno when the connection failed); close frees ud (the engine
 * closes fd itself). Any of pending, wants_write and flush may be NULL. */
struct engine_io {
	ssize_t (*read)(void *ud, void *p, size_t n);
	ssize_t (*write)(void *ud, const void *p, size_t n);
	bool (*pending)(void *ud);
	bool (*wants_write)(void *ud);
	int (*flush)(void *ud);
	void (*close)(void *ud);
	void *ud;
};

/* engine_attach() through io (copied); the engine owns fd and io->ud from
 * the call on, also when it fails. */
int engine_attach_io(struct engine *e, int fd, const struct engine_io *io);
/* Drops the connection; open transfers are discarded. */
void engine_detach(struct engine *e);
bool engine_connected(const struct engine *e);

/* Fills up to max pollfds (at most 2: connection, watcher). */
int engine_pollfds(struct engine *e, struct pollfd *fds, int max);
/* Milliseconds until the engine needs a step without I/O (-1: none). */
int engine_timeout_ms(const struct engine *e);
/* Does all the work the poll results allow. 0, or a negative errno when the
 * connection ended: -ECONNRESET (peer closed or vanished), -EPROTO (a protocol
 * violation, by either side; logged), -ESHUTDOWN (peer said GOODBYE). */
int engine_step(struct engine *e, const struct pollfd *fds, int n);

/* Queues a barrier behind everything queued so far. */
int engine_barrier(struct engine *e, uint64_t *seq);
bool engine_barrier_acked(const struct engine *e, uint64_t seq);
/* 0: every change queued before barrier seq is stored by the peer; else the
 * positive errno of a failure it covers (path copied into path if non-NULL).
 * Meaningful once engine_barrier_acked(e, seq). The last
 * BARRIER_FAILS_KEPT (32) failed results are kept: an older failed one
 * reads EOVERFLOW. */
int engine_barrier_result(const struct engine *e, uint64_t seq, char *path, size_t pathsz);

/* Files the peer refused (FILE_ACK errno, an APPEND it had no room for) or
 * we could not read to send: retried after 1 s, then ever later up to 30 s,
 * and before every barrier; a later successful transfer, a removal or a
 * rename (the entry follows) clears them; a new connection starts empty.
 * How many there are (*gen, if not NULL, changes whenever the set does). */
size_t engine_failed_count(const struct engine *e, uint64_t *gen);
/* Iterates the failed set: start with *pos = 0; false at the end. path is
 * borrowed until the next engine call; errnum is positive. */
bool engine_failed_next(const struct engine *e, size_t *pos, const char **path, int *errnum);

/* What the peer last reported of the store it keeps for our trees: false if
 * unknown. Its word only: for display and an early ENOSPC. */
bool engine_peer_store(const struct engine *e, uint64_t *held, uint64_t *max);

/* Changes max_store (see engine_config) at run time: applied at once to the
 * current peer, which hears of it (STORE); 0 takes effect at the next HELLO. */
void engine_set_max_store(struct engine *e, uint64_t max);
/* The barrier that closes our initial pass on this connection (0 before it
 * is queued): its result says whether the peer stored all of that pass. */
uint64_t engine_initial_barrier(const struct engine *e);
/* Our initial pass is acknowledged and the peer's initial pass is applied. */
bool engine_initial_done(const struct engine *e);
/* Nothing queued, in flight, or unacknowledged in either direction. */
bool engine_idle(const struct engine *e);
/* Sends GOODBYE and flushes (blocking, bounded by the socket). */
int engine_goodbye(struct engine *e);

/* Reads every pending change notification of the watcher now, so that a
 * barrier queued next follows them. */
void engine_drain_watch(struct engine *e);

/* Queues a quick check of one owned tree ("output", say) against what the
 * peer holds, as the initial pass does: files whose size, mtime or mode
 * differ are sent, paths gone are removed. For a daemon that wants to catch
 * what no change notification reported (a directory the watch limit left
 * unwatched) at a point of its choosing, such as the end of a job. 0 (also
 * while not connected: the next connection's summaries catch up), -EINVAL
 * for a name that is not an owned tree, or -errno. */
int engine_rescan(struct engine *e, const char *tree);

/* Tells the engine a path in an owned tree changed (file, dir or gone). */
int engine_path_changed(struct engine *e, const char *path);

/* Feeds a change the caller saw itself (enclave-fs sees every FUSE
 * operation) exactly as if the watcher had reported it; paths are relative
 * to the root and must be in an owned tree. Ignored while not connected: the
 * summaries of the next connection catch up. */
void engine_notify(struct engine *e, const struct watch_event *ev);

const struct engine_stats *engine_stats(const struct engine *e);
/* CPU time of the engine's scanner thread so far, in ns (0 without one). */
uint64_t engine_scan_cpu_ns(const struct engine *e);

/* File transfers in one direction, for a progress display. A file counts
 * as active from its FILE_BEGIN (sent, or received: the sender's message
 * gives its size) until the peer acknowledged it (sending) or it was
 * renamed into place (receiving); an aborted or failed transfer leaves at
 * once. Its bytes count as done as they go out or come in: chunks sent
 * (queued for the socket) or received, chunks the other side already had
 * (deduplicated or found locally) and holes. Lines appended to a file the
 * peer already holds (APPEND) are not file transfers and not counted. */
struct engine_flow {
	uint64_t files_active;  /* files queued or in transfer in this direction now */
	uint64_t bytes_active;  /* their total size (the sizes known so far) */
	uint64_t bytes_done;    /* bytes of those already sent / received (counted as the transfer goes, data and holes) */
	uint64_t files_total, bytes_total; /* completed since the engine started */
	uint64_t rate;          /* bytes per second over the last few seconds (file data, this direction) */
};
struct engine_progress { struct engine_flow tx, rx; };
/* A snapshot; call from the engine's thread (like engine_stats). */
void engine_progress(struct engine *e, struct engine_progress *out);

/* The output queue, for the application's messages (MSG_APP_FIRST on). */
struct wbuf *engine_out(struct engine *e);
/* The root directory fd (owned by the engine). */
int engine_rootfd(const struct engine *e);

#endif
