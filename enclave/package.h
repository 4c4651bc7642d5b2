/* Sealed packages: the encrypted container format (doc/PACKAGE.md, DESIGN §4).
 *
 *   "EFSPKG" 0x00 0x01 | u32le header length | header JSON | segment 0 | segment 1 | ...
 *
 * Each segment is AES-256-GCM under a per-package data key (DEK), with the
 * nonce prefix || be32(index) as nonce and SHA-256(header) || be32(index) ||
 * last-flag as AAD, so a segment cannot be altered, moved, dropped, or taken
 * from another package, and the end of the plaintext is authenticated.
 *
 * pkg_header_parse is the hostile-input decoder: it checks the magic, the
 * length and every header field and returns -ENOEXEC (no magic), -EINVAL
 * (malformed) or -EPROTONOSUPPORT (unknown provider, aead or format).
 *
 * The writer streams with one segment of memory. It seals under a KEK
 * (development) or with a caller-supplied DEK and wrapped key (a KMS sealer).
 * The reader authenticates every segment before handing out its plaintext,
 * answers -EBADMSG for anything tampered, truncated or extended, and keeps
 * failing after the first error. A thread of its own computes the file's
 * SHA-256 beside the caller's reading and decryption, up to four sealed
 * segments behind (two if they are over 1 MiB); plaintext stays in the
 * caller's thread.
 *
 * Ownership: pkg_header owns key.wrapped and key.context_json (free with
 * pkg_header_release). A writer is freed by _finish or _abort, a reader by
 * _free; both wipe the DEK and their buffers. The reader borrows fd.
 * The optional err/errsz buffers receive a message for the caller's log;
 * they never contain key material.
 */
#ifndef EFS_PACKAGE_H
#define EFS_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kek.h"
#include "keyprov.h"

#define PKG_MAGIC "EFSPKG\0\1"
#define PKG_MAGIC_LEN 8
#define PKG_PREFIX_LEN 12 /* magic + u32 header length */
#define PKG_HEADER_MAX 65536
#define PKG_SEGMENT_MIN 4096u
#define PKG_SEGMENT_MAX (16u * 1024 * 1024)
#define PKG_SEGMENT_DEFAULT (1024u * 1024)
#define PKG_TAG_LEN 16
#define PKG_NONCE_PREFIX_LEN 8
#define PKG_WRAPPED_MAX 8192

struct pkg_key {
	char provider[16];  /* "kek" or "kms" */
	char id[256];       /* kek: 16 lowercase hex chars; kms: the key ARN */
	uint8_t *wrapped;   /* the wrapped DEK: RFC 5649 (kek) or a CiphertextBlob (kms) */
	size_t wrapped_len;
	char *context_json; /* kms: the encryption context as compact JSON; else NULL */
};

struct pkg_header {
	uint32_t format, segment;
	struct pkg_key key;
	uint8_t nonce[PKG_NONCE_PREFIX_LEN];
	bool zstd;
	char created[32];
	uint8_t digest[32]; /* SHA-256 of the header JSON bytes: the package's name */
	size_t header_len;  /* JSON bytes */
	size_t body_offset; /* PKG_PREFIX_LEN + header_len */
};

/* Parses magic, length and header from buf[0..len), which may hold more
 * bytes after the header. On success h owns memory: pkg_header_release. */
int pkg_header_parse(const uint8_t *buf, size_t len, struct pkg_header *h, char *err,
		     size_t errsz);
void pkg_header_release(struct pkg_header *h);

struct pkg_writer;
/* Generates a fresh DEK and nonce prefix, wraps the DEK under kek, and writes
 * magic and header to out_fd. segment 0 means PKG_SEGMENT_DEFAULT; otherwise
 * a power of two in [PKG_SEGMENT_MIN, PKG_SEGMENT_MAX]. zstd only records that
 * the plaintext is a zstd stream; the writer does not compress. */
int pkg_writer_new(int out_fd, const uint8_t kek[static KEK_LEN], bool zstd, uint32_t segment,
		   struct pkg_writer **out, char *err, size_t errsz);
/* The same with a DEK and key object from elsewhere (a KMS data key): key
 * is copied into the header, and dek is copied (the caller wipes its own). */
int pkg_writer_new_key(int out_fd, const struct pkg_key *key, const uint8_t dek[static PKG_DEK_LEN],
		       bool zstd, uint32_t segment, struct pkg_writer **out, char *err,
		       size_t errsz);
/* Appends plaintext. A segment is encrypted and written once it is full and
 * more plaintext follows. After an error every call fails. */
int pkg_writer_write(struct pkg_writer *w, const void *p, size_t n);
/* Writes the last segment, then frees w (whatever the result). */
int pkg_writer_finish(struct pkg_writer *w);
/* Frees w without writing anything more; accepts NULL. */
void pkg_writer_abort(struct pkg_writer *w);
uint64_t pkg_writer_bytes_in(const struct pkg_writer *w);

struct pkg_reader;
/* Reads (pread, from offset 0) and parses the header of the package in fd,
 * checks that the file size gives a whole number of segments (-EBADMSG
 * otherwise), and unwraps the DEK with kp, whose name must be the header's
 * provider (else -EPROTONOSUPPORT). */
int pkg_reader_open(int fd, struct key_provider *kp, struct pkg_reader **out, char *err,
		    size_t errsz);
const struct pkg_header *pkg_reader_header(const struct pkg_reader *r);
/* Authenticates the next segment and returns its plaintext in *p (valid until
 * the next call) and *n; *n = 0 and 0 once the last segment has been returned
 * (an empty package's only segment also gives *n = 0). -EBADMSG for a
 * segment that fails authentication or is short. */
int pkg_reader_next(struct pkg_reader *r, const uint8_t **p, size_t *n);
/* SHA-256 of the whole sealed file, hashed while it was read: available
 * once every segment has been returned (-EAGAIN before); waits for the
 * reader's thread to finish hashing. */
int pkg_reader_file_digest(struct pkg_reader *r, uint8_t out[static 32]);
/* SHA-256 of a whole file read with pread (the digest a package's state
 * carries), whatever its content: 0 or -errno. */
int pkg_file_digest(int fd, uint8_t out[static 32]);
/* Segments returned so far, and the number in the package. */
uint64_t pkg_reader_index(const struct pkg_reader *r);
uint64_t pkg_reader_segments(const struct pkg_reader *r);
/* What the last failure of pkg_reader_next was, for the caller's log ("" if none). */
const char *pkg_reader_errmsg(const struct pkg_reader *r);
/* Accepts NULL. */
void pkg_reader_free(struct pkg_reader *r);

#endif
