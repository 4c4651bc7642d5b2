/* The sync protocol's frames and messages (doc/PROTOCOL.md is the spec).
 *
 * Frames are `u32 length | u16 type | u16 flags | body`. frame_next() checks
 * the header before anything reads the body; each msg_decode_*() validates one
 * body completely (sizes, then every field, then no trailing bytes) and
 * returns -EBADMSG, -EMSGSIZE or -EINVAL when it is malformed. A failed
 * msg_decode_u32/_u64 consumes nothing and leaves its number 0; the other
 * decoders may have consumed part of the body. Decoded strings are copied
 * into the message struct; byte spans (chunk lists, DATA) borrow the frame.
 * msg_put_*() append one whole frame or nothing. The application's messages
 * travel in the same frames (MSG_APP_FIRST below).
 */
#ifndef EFS_PROTO_H
#define EFS_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "pathsafe.h"
#include "wire.h"

#define PROTO_MAGIC 0x01534645u /* "EFS\1" */
#define PROTO_VERSION 1
#define FRAME_HDR_LEN 8
#define FRAME_MAX_BODY ((1u << 20) + 64)
#define WIRE_PATH_MAX PATH_REL_MAX  /* a path: see pathsafe.h */
#define WIRE_TARGET_MAX (PATH_MAX - 1) /* a symlink's target */
#define WIRE_TEXT_MAX 1024
#define WIRE_NAME_MAX 64
#define BATCH_MAX 256     /* chunks per FILE_CHUNKS / WANT */
#define SUMMARY_MAX 4096  /* entries per SUMMARY */
#define APPEND_MAX (256u * 1024)
#define CHUNK_ENTRY_LEN (HASH128_LEN + 4)
/* A FILE_HOLE covers at least this many bytes: shorter holes are sent as
 * data (zeros), which the receiver stores as holes again. */
#define HOLE_MIN_SIZE (64u * 1024)

enum msg_type {
	MSG_HELLO = 0x0001,
	MSG_ERROR = 0x0002,
	MSG_GOODBYE = 0x0003,
	MSG_SUMMARY = 0x0010,
	MSG_SUMMARY_END = 0x0011,
	MSG_SUMMARY_AGAIN = 0x0012,
	MSG_FILE_BEGIN = 0x0020,
	MSG_FILE_CHUNKS = 0x0021,
	MSG_FILE_END = 0x0022,
	MSG_FILE_ABORT = 0x0023,
	MSG_WANT = 0x0024,
	MSG_DATA = 0x0025,
	MSG_FILE_ACK = 0x0026,
	MSG_APPEND = 0x0027,
	MSG_FILE_HOLE = 0x0028,
	MSG_MKDIR = 0x0030,
	MSG_RENAME = 0x0031,
	MSG_REMOVE = 0x0032,
	MSG_SETATTR = 0x0033,
	MSG_SYMLINK = 0x0034,
	MSG_LINK = 0x0035,
	MSG_BARRIER = 0x0040,
	MSG_BARRIER_ACK = 0x0041,
	MSG_STORE = 0x0042,
};

/* Types MSG_APP_FIRST..MSG_APP_LAST belong to the application above the
 * sync engine (the packages and jobs of app/appmsg.h): frame_next() takes
 * them without knowing them, msg_type_name() does not name them, and the
 * engine hands them to its hooks' message() callback unread. */
#define MSG_APP_FIRST 0x0050
#define MSG_APP_LAST 0x007f

/* HELLO flags */
#define HELLO_F_READABLE 1u /* received files are stored readable by all (mode | 0444, dirs | 0555) */
#define HELLO_F_SUMMARY_AGAIN 2u /* answers SUMMARY_AGAIN */
#define HELLO_F_ALL (HELLO_F_READABLE | HELLO_F_SUMMARY_AGAIN)

enum role { ROLE_HOST = 1, ROLE_ENCLAVE = 2 };
enum entry_kind { ENTRY_FILE = 1, ENTRY_DIR = 2, ENTRY_SYMLINK = 3 };

/* The name of a sync message type; NULL for any other (application types
 * included). */
const char *msg_type_name(uint16_t type);
bool msg_type_is_app(uint16_t type);

/* One frame taken from an input buffer; body borrows the buffer. */
struct frame {
	uint16_t type;
	struct wbuf body;
};

/* Takes the next whole frame from `in` (consuming it). -EAGAIN: not enough
 * bytes yet (nothing consumed); -EMSGSIZE: length over FRAME_MAX_BODY;
 * -EPROTO: nonzero flags; -ENOTSUP: a type that is neither a sync message
 * nor in the application's range. */
int frame_next(struct wbuf *in, struct frame *f);

struct msg_hello {
	uint32_t magic;
	uint16_t version;
	uint8_t role;
	uint32_t flags;
	char name[WIRE_NAME_MAX + 1];
};

struct msg_error {
	uint32_t err;
	bool fatal;
	char path[WIRE_PATH_MAX + 1];
	char text[WIRE_TEXT_MAX + 1];
};

struct msg_entry { /* one SUMMARY entry */
	uint8_t kind;
	uint32_t mode;
	uint64_t size, mtime;   /* SYMLINK: size is the target's length */
	char path[WIRE_PATH_MAX + 1];
	char target[WIRE_PATH_MAX + 1]; /* SYMLINK only, else "" */
};

struct msg_file_begin {
	uint32_t id, mode;
	uint64_t size, mtime;
	char path[WIRE_PATH_MAX + 1];
};

struct msg_chunks {
	uint32_t id, first, count;
	const uint8_t *entries; /* count × (hash, u32 len), validated */
};

struct msg_file_end {
	uint32_t id, nchunks;
	struct hash128 hash;
};

/* FILE_HOLE: `len` bytes of zeros that are not stored, at `offset`, right
 * after the chunks announced so far. */
struct msg_hole {
	uint32_t id;
	uint64_t offset, len;
};

struct msg_want {
	uint32_t id, first, n;
	const uint8_t *idx; /* n × u32, ascending, validated */
};

struct msg_data {
	uint32_t id, index;
	const uint8_t *p;
	size_t len;
};

struct msg_ack {
	uint32_t id, err;
	char text[WIRE_TEXT_MAX + 1];
};

struct msg_append {
	uint64_t offset, mtime;
	const uint8_t *p;
	size_t len;
	char path[WIRE_PATH_MAX + 1];
};

/* MKDIR, REMOVE, SETATTR, RENAME, SYMLINK (to: the target, opaque text,
 * never a checked path), LINK (path: the existing file, to: the new name) */
struct msg_meta {
	uint32_t mode;
	uint64_t mtime;
	char path[WIRE_PATH_MAX + 1];
	char to[WIRE_PATH_MAX + 1];
};

int msg_decode_hello(struct wbuf *b, struct msg_hello *m);
int msg_decode_error(struct wbuf *b, struct msg_error *m);
/* SUMMARY: msg_decode_summary() checks the count, then msg_decode_entry() is
 * called count times, then wbuf_end(). */
int msg_decode_summary(struct wbuf *b, uint32_t *count);
int msg_decode_entry(struct wbuf *b, struct msg_entry *e);
int msg_decode_u32(struct wbuf *b, uint32_t *v); /* SUMMARY_END, FILE_ABORT */
int msg_decode_u64(struct wbuf *b, uint64_t *v); /* BARRIER, BARRIER_ACK */
/* STORE: u64 held, u64 max (the receiver's store for the sender's trees;
 * held may exceed max). Consumes nothing on failure. */
int msg_decode_store(struct wbuf *b, uint64_t *held, uint64_t *max);
/* SUMMARY_AGAIN: one tree's name (a canonical path of one component). */
int msg_decode_summary_again(struct wbuf *b, char tree[static WIRE_NAME_MAX + 1]);
int msg_decode_file_begin(struct wbuf *b, struct msg_file_begin *m);
int msg_decode_chunks(struct wbuf *b, struct msg_chunks *m);
void msg_chunk_at(const struct msg_chunks *m, uint32_t i, struct hash128 *h, uint32_t *len);
int msg_decode_file_end(struct wbuf *b, struct msg_file_end *m);
/* FILE_HOLE: len >= HOLE_MIN_SIZE and offset + len does not overflow; its
 * place in the file is checked by the receiver. */
int msg_decode_hole(struct wbuf *b, struct msg_hole *m);
int msg_decode_want(struct wbuf *b, struct msg_want *m);
uint32_t msg_want_at(const struct msg_want *m, uint32_t i);
int msg_decode_data(struct wbuf *b, struct msg_data *m);
int msg_decode_ack(struct wbuf *b, struct msg_ack *m);
int msg_decode_append(struct wbuf *b, struct msg_append *m);
int msg_decode_mkdir(struct wbuf *b, struct msg_meta *m);   /* also SETATTR */
int msg_decode_rename(struct wbuf *b, struct msg_meta *m);
int msg_decode_remove(struct wbuf *b, struct msg_meta *m);
/* SYMLINK: str path, str target (1..WIRE_TARGET_MAX bytes, no NUL; any text:
 * absolute, "..", dangling), u64 mtime. */
int msg_decode_symlink(struct wbuf *b, struct msg_meta *m);
/* LINK: str existing, str new (both checked paths). */
int msg_decode_link(struct wbuf *b, struct msg_meta *m);

int msg_put_hello(struct wbuf *o, uint8_t role, uint32_t flags, const char *name);
int msg_put_error(struct wbuf *o, int err, bool fatal, const char *path, const char *text);
int msg_put_empty(struct wbuf *o, uint16_t type);
int msg_put_u32(struct wbuf *o, uint16_t type, uint32_t v);
int msg_put_u64(struct wbuf *o, uint16_t type, uint64_t v);
int msg_put_store(struct wbuf *o, uint64_t held, uint64_t max);
int msg_put_summary_again(struct wbuf *o, const char *tree);
int msg_put_file_begin(struct wbuf *o, uint32_t id, const char *path, uint32_t mode, uint64_t size,
		       uint64_t mtime);
int msg_put_file_end(struct wbuf *o, uint32_t id, uint32_t nchunks, const struct hash128 *h);
int msg_put_hole(struct wbuf *o, uint32_t id, uint64_t offset, uint64_t len);
int msg_put_data(struct wbuf *o, uint32_t id, uint32_t index, const void *p, size_t len);
int msg_put_ack(struct wbuf *o, uint32_t id, int err, const char *text);
int msg_put_append(struct wbuf *o, const char *path, uint64_t offset, uint64_t mtime, const void *p,
		   size_t len);
int msg_put_meta(struct wbuf *o, uint16_t type, const char *path, uint32_t mode, uint64_t mtime);
int msg_put_rename(struct wbuf *o, const char *from, const char *to);
int msg_put_symlink(struct wbuf *o, const char *path, const char *target, uint64_t mtime);
int msg_put_link(struct wbuf *o, const char *existing, const char *path);

/* Frames whose bodies are built piece by piece (SUMMARY, FILE_CHUNKS, WANT):
 * msg_begin() reserves the header, the caller appends, msg_finish() writes
 * the length. On error the caller drops the frame with msg_cancel(). */
int msg_begin(struct wbuf *o, uint16_t type, size_t *mark);
int msg_finish(struct wbuf *o, size_t mark);
void msg_cancel(struct wbuf *o, size_t mark);
int msg_put_entry(struct wbuf *o, uint8_t kind, const char *path, uint32_t mode, uint64_t size,
		  uint64_t mtime);
/* A SUMMARY entry for a symlink: kind 3, mode 0777, size = strlen(target),
 * then the target after mtime. */
int msg_put_entry_symlink(struct wbuf *o, const char *path, const char *target, uint64_t mtime);
int msg_put_chunk(struct wbuf *o, const struct hash128 *h, uint32_t len);

#endif
