/* Safe extraction of a package's tar archive into an empty directory.
 *
 * The archive is hostile input even after its AEAD checks out. Entries are
 * validated one by one and created with openat/mkdirat/symlinkat/linkat
 * beneath the directory fd, never through the process's working directory
 * and never through a symlink. What lands on disk:
 *   - regular files 0644, or 0755 if the archive gave any execute bit;
 *     directories 0755; symlinks whose target stays inside the tree; hard
 *     links to regular files extracted earlier from the same archive;
 *   - owned by the extracting user (owners, ACLs, xattrs are never applied);
 *   - at most the limits, counted on the bytes actually written.
 * Anything else (absolute or non-canonical paths, "..", devices, FIFOs,
 * sockets, setuid/setgid bits, writing through or onto a symlink, replacing
 * a directory) refuses the whole archive: on any error the directory is
 * emptied again before returning.
 */
#ifndef EFS_EXTRACT_H
#define EFS_EXTRACT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXTRACT_DEFAULT_MAX_TOTAL   (16ULL << 30)
#define EXTRACT_DEFAULT_MAX_ENTRIES 100000ULL
#define EXTRACT_DEFAULT_MAX_FILE    (16ULL << 30)

struct extract_limits {
	uint64_t max_total_bytes; /* data written, all files */
	uint64_t max_entries;     /* archive entries, of any type */
	uint64_t max_file_bytes;  /* data written to one file, or its size if sparse */
};

/* Like archive_read_callback: sets *buf and returns the bytes available there,
 * 0 at the end (and again if called after that), or a negative errno. */
typedef ssize_t (*extract_read_fn)(void *ud, const void **buf);

/* Reads a tar archive (ustar, pax or GNU; uncompressed, gzip or zstd) from rd
 * and extracts it into dirfd, which must be an empty directory (-ENOTEMPTY
 * otherwise). lim may be NULL for the defaults. On success rd has been read
 * to its end (what follows the archive is read and ignored, so that a
 * decrypting rd gets to check its end), and it returns 0 and sets *bytes_out
 * (if not NULL) to the data bytes written. Errors, each with a message in err
 * naming the entry: -EPERM a hostile entry, -EFBIG a limit, -EBADMSG a
 * corrupt or unsupported archive, rd's own error, or -errno for I/O; the
 * directory is then left empty. */
int extract_tar(extract_read_fn rd, void *ud, int dirfd, const struct extract_limits *lim,
		uint64_t *bytes_out, char *err, size_t errsz);

#endif
