/* Internals shared by engine.c (connection and conversation), engine-rx.c
 * (receiving trees the peer writes) and engine-tx.c (sending trees we write).
 * Single-threaded: every field is touched only from engine_step() and the
 * public calls made between steps. */
#ifndef EFS_ENGINE_INT_H
#define EFS_ENGINE_INT_H

#include <string.h>
#include <sys/stat.h>

#include "chunker.h"
#include "engine.h"
#include "hash.h"
#include "index.h"
#include "scanner.h"
#include "strmap.h"
#include "watch.h"
#include "wire.h"

#define OUT_HIGH_WATER (4u << 20)   /* stop producing above this much queued output */
#define TX_WINDOW (16u << 20)       /* chunk bytes announced and not yet wanted or refused */
#define TX_MAX_OPEN 1024            /* files sent but not yet acknowledged */
#define RX_MAX_OPEN 1024            /* each holds a temporary file open */
/* Operations the receiver keeps queued behind unfinished transfers, each
 * counted as RX_OP_COST plus its paths (rx_op_cost()): more is a fatal
 * error. The sender stops producing before half of either is reached. */
#define RX_MAX_QUEUED 100000
#define RX_MAX_QUEUED_BYTES (64u << 20)
#define RX_OP_COST 256
#define TX_MAX_UNAPPLIED (RX_MAX_QUEUED / 2)
#define TX_MAX_UNAPPLIED_BYTES (RX_MAX_QUEUED_BYTES / 2)
#define STORE_FULL "the receiver's store is full"
/* Failed transfers are retried after 1 s, then ever later up to 30 s. */
#define RETRY_MIN_MS 1000u
#define RETRY_MAX_MS 30000u
/* Barriers whose result was a failure, kept for engine_barrier_result(). */
#define BARRIER_FAILS_KEPT 32
#define ID_BUCKETS 4096
#define FLOW_SAMPLES 8      /* engine_progress's rate: about the last 4 s */
#define FLOW_SAMPLE_MS 500

enum conn_state { ST_IDLE, ST_HELLO, ST_SUMMARY, ST_RUNNING, ST_CLOSED };

/* --- receiving ------------------------------------------------------------------- */

/* RXC_DUP: the same chunk as an earlier one still wanted; written when
 * that one's DATA arrives. */
enum { RXC_WANTED = 1, RXC_DONE = 2, RXC_DUP = 3 };

struct rx_chunk {
	struct hash128 h;
	uint64_t off;
	uint32_t len;
	uint32_t dup;           /* next record of the same chunk waiting for it, + 1; 0: none */
	uint8_t state;
};

/* Once err is set the transfer only runs its course on the wire: no chunk
 * is wanted or recorded any more, its temporary file is gone, and it is
 * answered (FILE_ACK errno) as soon as it has ended and nothing it wanted
 * before is still due. */
struct rx_file {
	uint32_t id, mode;
	uint64_t size, mtime;
	char *path;
	int fd;                 /* its temporary file, in the staging directory, or -1 */
	char stage[32];         /* that file's name there; "" while it has none (O_TMPFILE) */
	struct rx_chunk *c;     /* records of chunks [0, nrec) */
	uint32_t n, nrec, cap;  /* chunks announced; recorded; room */
	uint64_t announced;     /* sum of their lengths */
	uint64_t pending;       /* announced, not yet written: in e->rx_pending */
	uint64_t written;       /* written into fd: in e->store_held */
	uint32_t wanted;        /* wanted and not yet received */
	uint32_t cursor;        /* chunks [0, cursor) fed to hs */
	uint64_t hashed;        /* bytes fed to hs (chunks and the holes between them) */
	uint32_t nholes;        /* FILE_HOLEs received */
	uint64_t done;          /* bytes written or passed as holes (engine_progress) */
	uint64_t begun_ms;      /* engine_now_ms() at its FILE_BEGIN */
	uint32_t *seen;         /* open addressing: first record of each chunk hash, + 1 */
	uint32_t seen_cap, seen_n;
	struct hash_stream *hs;
	bool ended;
	uint32_t end_n;
	struct hash128 end_hash;
	int err;                /* local failure: drop the data, report it */
	struct rx_op *op;       /* its place in the queue */
	struct rx_file *hnext;
};

enum rx_op_kind { RXOP_FILE, RXOP_META, RXOP_BARRIER, RXOP_SUMMARY };

struct rx_op {
	enum rx_op_kind kind;
	uint16_t type;          /* META: MSG_MKDIR, MSG_RENAME, ... */
	struct rx_file *file;
	char *path, *to;
	uint32_t mode;
	uint64_t mtime, seq;
	uint64_t cost;          /* see rx_op_cost() */
	struct rx_op *prev, *next;
};

_Static_assert(sizeof(struct rx_op) <= RX_OP_COST, "RX_OP_COST covers a queued operation");

/* What one queued operation counts against RX_MAX_QUEUED_BYTES. Both sides
 * compute it, so it is a fixed figure rather than the receiver's sizeof. */
static inline uint64_t rx_op_cost(const char *path, const char *to)
{
	return RX_OP_COST + (path ? strlen(path) + 1 : 0) + (to ? strlen(to) + 1 : 0);
}

/* --- sending --------------------------------------------------------------------- */

/* WQ_CHANGED is WQ_PATH for a path a change notification named: its
 * contents are checked even if size and mtime look unchanged. */
enum wq_kind { WQ_NONE, WQ_PATH, WQ_CHANGED, WQ_TREE, WQ_REMOVE, WQ_RENAME, WQ_BARRIER, WQ_APPEND, WQ_ATTR };

/* Announced chunks waiting for the peer's WANT. Only where they are and
 * what they hash to is kept: wanted chunks are read again from the file
 * straight into the DATA frame, and checked against the hash. */
struct tx_batch {
	uint32_t first, count;
	size_t bytes;
	uint64_t off[BATCH_MAX];
	uint32_t len[BATCH_MAX];
	struct hash128 h[BATCH_MAX];
	struct tx_batch *next;
};

struct tx_file {
	uint32_t id;
	char *path;
	int fd;                 /* open until every batch is resolved */
	struct stat st;
	struct tx_batch *head, *tail;
	bool ended, aborted;
	/* Changed again while in flight: WQ_APPEND or WQ_CHANGED once it is
	 * acknowledged, so one file never has overlapping transfers. */
	enum wq_kind requeue;
	uint64_t fp_head, fp_tail; /* see file_fingerprint() */
	/* e->tx_ops_sent and e->tx_ops_bytes before its FILE_BEGIN. */
	uint64_t ops_sent, ops_bytes;
	uint64_t after;         /* e->barrier_sent at its FILE_BEGIN */
	uint64_t done;          /* bytes sent, deduplicated or sent as holes (engine_progress) */
	uint64_t begun_ms;      /* engine_now_ms() at its FILE_BEGIN */
	struct tx_file *hnext;
	struct tx_file *older, *newer; /* open files in the order they began */
};

/* The file being read and chunked now; the scanner reads it. */
struct tx_cur {
	struct tx_file *f;      /* NULL: none; sc reads f->fd */
	struct scanner *sc;
	uint32_t nchunks;
	struct tx_batch *batch;
};

struct wq_item {
	enum wq_kind kind;
	bool overlap;            /* may start while the same path is still in flight */
	bool redo;               /* WQ_BARRIER: one already sent, sent again (tx_abort) */
	char *path, *to;
	uint64_t seq;
	uint64_t names;          /* e->wq_names when queued */
	struct wq_item *next;
};

/* A path of ours the peer refused (FILE_ACK errno, an APPEND it had no
 * room for) or that we could not send: retried until stored, removed or
 * renamed (the entry follows). A barrier sent after the failed attempt
 * (seq > after) reports it when acknowledged while the entry remains. */
struct tx_failure {
	int errnum;             /* positive */
	uint64_t after;         /* e->barrier_sent when the failed attempt was sent */
	uint64_t stamp;         /* e->fail_stamp when it was recorded */
};

struct barrier_fail {
	uint64_t seq;
	int errnum;
	char *path;
};

/* What we believe the peer holds of our trees (from its summary, then from
 * what it acknowledged). */
struct peer_entry {
	uint8_t kind;
	uint32_t mode;
	uint64_t size, mtime;
	dev_t dev;
	ino_t ino;              /* 0 when known only from the summary */
	uint32_t gen;           /* scan generation that last saw it locally */
	bool fp;                /* fp_head/fp_tail describe the acknowledged content */
	uint64_t fp_head, fp_tail;
};

struct engine {
	struct engine_config cfg;
	char *root;
	int rootfd;
	int stagefd;            /* ROOT/ENGINE_STAGING_DIR: where the receiver builds files */
	const char *const *own;  /* trees we write (own_mem) */
	const char *const *peer; /* trees the peer writes (peer_mem) */
	char **own_mem, **peer_mem;
	/* A chunk's worth of bytes each (CHUNK_MAX_SIZE, APPEND_MAX): [0] for
	 * a handler (a received chunk list, an append), [1] for rx_advance
	 * below it. On the heap, not per thread: every thread of a daemon
	 * (the mount's FUSE workers) would carry them. */
	uint8_t *scratch[2];

	/* connection */
	int fd;
	struct engine_io io;    /* the layer fd carries, or all NULL: plain fd */
	enum conn_state st;
	struct wbuf in, out;
	int fail;               /* set when a fatal error was sent or received */
	uint32_t peer_flags;    /* from the peer's HELLO */

	/* receiver */
	struct chunk_index *ix;
	struct rx_file *rx_ids[ID_BUCKETS];
	unsigned rx_open;
	struct rx_op *ops_head, *ops_tail;
	uint64_t ops_n, ops_bytes;  /* queued operations and their rx_op_cost() */
	uint64_t store_held;        /* bytes held for the peer: files and temporary files */
	uint64_t store_max;
	uint64_t rx_pending;        /* announced chunk bytes not yet written */
	bool peer_initial_done;
	bool summary_again;      /* a SUMMARY_AGAIN is queued, not yet answered */
	uint64_t summary_total;
	uint64_t summary_bytes;  /* path bytes of the peer's summary so far */
	uint64_t tmp_seq;

	/* sender */
	struct strmap *model;    /* path -> struct peer_entry */
	uint32_t scan_gen;
	/* A directory was renamed: our trees are compared with the model
	 * again before the next barrier goes, or when nothing is queued. A
	 * rename handled after later changes to the same names (events wait
	 * their turn) is followed by a look at what is there now, which may
	 * be another directory of that name; what that sends, the renames
	 * still queued then move where we hold nothing (t0610's stress run
	 * with dataset/ cached by the kernel). Bit i: e->own[i]. */
	uint32_t rescan_due;
	/* The model of a tree may be wrong where names went away or moved
	 * in it: before the next barrier goes, the peer is asked for its
	 * summary of that tree again (SUMMARY_AGAIN), which replaces the
	 * tree's model, and the tree is compared with it (tx_recount).
	 * Renames and removals handled in turn, long after the change, have
	 * left the peer holding names we no longer have (t0610's stress run
	 * with dataset/ cached). Bit i: e->own[i]. While recount_model is
	 * set, the answer for recount_tree is awaited: nothing new is sent. */
	uint32_t recount_due;
	const char *recount_tree;
	struct strmap *recount_model;
	struct wq_item *wq_head, *wq_tail;
	struct strmap *queued;   /* paths with a WQ_PATH pending */
	uint64_t wq_names;       /* REMOVE and RENAME items appended so far */
	/* While an item is handled (tx_item): true, and the last item it
	 * queued, which went ahead of the rest of the queue (NULL: none yet). */
	bool wq_in_item;
	struct wq_item *wq_follow;
	struct strmap *inflight; /* path -> struct tx_file being sent */
	struct strmap *appended; /* paths streamed with APPEND since their last transfer */
	struct strmap *skipped;  /* non-regular files already reported */
	/* Hard links: "TREE:DEV:INO" -> struct link_set, the names of ours
	 * with that inode that the peer holds as one file (sent whole or
	 * linked, in flight or acknowledged): a new name of it goes as a LINK
	 * to one of them, and a name whose content is sent again is linked
	 * to all the others after it. link_of: such a name -> its key (char
	 * *). nolink: paths whose LINK the peer refused (uintptr_t: how many
	 * times, | NOLINK_STORED once stored whole since), sent as copies
	 * until stored whole, then linked again, up to LINK_REFUSALS_MAX
	 * refusals running; link_sent: paths a LINK was sent to that the
	 * peer may not have applied yet (uintptr_t: tx_ops_sent after it; an
	 * ERROR(EXDEV) about one is a refused LINK). */
	struct strmap *links, *link_of, *nolink, *link_sent;
	struct tx_cur cur;
	struct tx_file *tx_ids[ID_BUCKETS];
	unsigned tx_open;
	struct tx_file *tx_oldest, *tx_newest;
	/* Operations sent that the receiver queues (files, metadata, barriers)
	 * and their rx_op_cost(): those sent since the oldest open file began
	 * may still wait in the receiver's queue. */
	uint64_t tx_ops_sent, tx_ops_bytes;
	uint64_t tx_held;
	uint32_t next_id;
	uint64_t barrier_next, barrier_acked, initial_seq;
	uint64_t barrier_sent;   /* the last BARRIER put on the wire */
	uint64_t barrier_ops;    /* tx_ops_sent after it */
	/* A transfer aborted after a barrier that covers it was sent is sent
	 * again, followed by that barrier again (tx_abort): acknowledgements
	 * from barrier_hold on do not count until every barrier sent again
	 * (barrier_redo of them) is acknowledged. barrier_seen: the highest
	 * seq the peer acknowledged, counted or not. */
	uint64_t barrier_seen, barrier_hold;
	unsigned barrier_redo;
	struct strmap *failed;   /* path -> struct tx_failure */
	uint64_t fail_stamp, fail_gen;
	uint64_t retry_at, retry_ms; /* next retry of the failed set (monotonic ms), its delay */
	struct barrier_fail bar_fails[BARRIER_FAILS_KEPT];
	unsigned bar_fails_next; /* ring position */
	uint64_t bar_fails_lost; /* the highest seq of a failure dropped from the ring */
	/* The peer's store for our trees, from its last STORE. */
	bool peer_store_known;
	uint64_t peer_held, peer_max;
	/* receiver: what our last STORE said; a refusal since then */
	bool store_sent;
	uint64_t store_sent_held, store_sent_max;
	bool store_refused;

	struct watch *watch;
	bool watch_limit_logged;
	struct engine_stats stats;
	/* engine_progress(): per direction (FLOW_TX, FLOW_RX) the completed
	 * files and bytes and every byte counted done; samples of the latter
	 * every FLOW_SAMPLE_MS, the oldest giving the rate. */
	struct {
		uint64_t files, bytes, moved;
	} flow[2];
	struct {
		uint64_t ms, moved[2];
	} flow_sample[FLOW_SAMPLES];
	unsigned flow_nsample, flow_next;
};

enum { FLOW_TX, FLOW_RX };
/* engine.c: bytes of a transfer counted done; a transfer completed (logged
 * at info level). */
void engine_flow_moved(struct engine *e, int dir, uint64_t n);
/* Once per engine_step(): samples for the rate. */
void engine_flow_step(struct engine *e);
void engine_flow_completed(struct engine *e, int dir, const char *path, uint64_t size,
			   uint64_t begun_ms);

/* Modes as stored: a receiver with HELLO_F_READABLE adds read (and search)
 * for everyone, so the sender compares modes with those bits added. */
static inline uint32_t stored_mode(uint32_t mode, bool dir, bool readable)
{
	return readable ? mode | (dir ? 0555u : 0444u) : mode;
}

/* engine.c */
int engine_fatal(struct engine *e, int err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool engine_is_peer_path(const struct engine *e, const char *path);
bool engine_is_own_path(const struct engine *e, const char *path);
int engine_open_beneath(void *ud, const char *path);
/* Opens a file of the root for reading without touching its access time
 * (O_NOATIME where we may); never blocks on a fifo. An fd or -errno. */
int engine_open_read(const struct engine *e, const char *path);

/* engine-rx.c */
int rx_handle(struct engine *e, const struct frame *f);
/* again: the answer to SUMMARY_AGAIN for that tree, which leaves the
 * store's limit; NULL: every tree, on connecting. */
int rx_send_summary(struct engine *e, const char *again);
void rx_reset(struct engine *e);
bool rx_idle(const struct engine *e);

/* engine-tx.c */
struct link_set {
	size_t n, cap;
	char **names;
};
void link_set_free(void *set);
int tx_handle(struct engine *e, const struct frame *f);
int tx_start(struct engine *e);  /* after the peer's summary: initial pass */
int tx_rescan(struct engine *e, const char *only); /* only: one owned tree, or NULL for all */
/* Too many operations may wait in the receiver's queue: produce nothing new. */
bool tx_ops_blocked(const struct engine *e);
int tx_produce(struct engine *e);
/* Connected, room for output, and something tx_produce() can do now. */
bool tx_can_produce(const struct engine *e);
int tx_summary_entry(struct engine *e, const struct msg_entry *m);
/* The peer's SUMMARY_END after our SUMMARY_AGAIN: its summary becomes the
 * model of the tree asked for, and that tree is compared with it. */
int tx_recount(struct engine *e);
void tx_reset(struct engine *e);
bool tx_idle(const struct engine *e);
int tx_queue(struct engine *e, enum wq_kind kind, const char *path, const char *to, uint64_t seq);
/* Before a barrier: changes waiting on in-flight transfers, and files that
 * were only appended to, are queued so that the barrier covers them. */
int tx_before_barrier(struct engine *e);
/* Queues the failed set again when its retry is due (now: monotonic ms). */
int tx_retry(struct engine *e, uint64_t now);
/* Milliseconds until the failed set's retry is due; -1: nothing failed. */
int tx_retry_timeout(const struct engine *e, uint64_t now);
uint64_t engine_now_ms(void);
/* engine-rx.c: sends STORE when what we hold for the peer moved by more
 * than 1/64 of the limit since the last one, the limit changed, a file was
 * refused since and anything changed, or force. */
int rx_store_report(struct engine *e, bool force);
void tx_watch_event(const struct watch_event *ev, void *ud);

#endif
