/* Small helpers shared by every module: errno conventions and whole-buffer I/O. */
#ifndef EFS_UTIL_H
#define EFS_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The current errno as a negative value, never 0. */
/* What a file takes of a store (max_store): its allocated bytes, never more
 * than its size, so holes cost nothing. */
#define ST_HELD_BYTES(st) \
	MIN((uint64_t)(st)->st_blocks * 512u, (uint64_t)((st)->st_size > 0 ? (st)->st_size : 0))

static inline int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Read or write exactly n bytes, retrying on EINTR and short transfers.
 * io_read_all returns the bytes read (less than n only at end of file) or -errno. */
ssize_t io_read_all(int fd, void *buf, size_t n);
int io_write_all(int fd, const void *buf, size_t n);
ssize_t io_pread_all(int fd, void *buf, size_t n, off_t off);
int io_pwrite_all(int fd, const void *buf, size_t n, off_t off);

/* Calls fn(ud, name, d_type) for every entry of the directory open at fd
 * but "." and "..", reading it with getdents64 from the descriptor's current
 * position: no DIR stream, so no second descriptor. d_type may be DT_UNKNOWN.
 * A negative return of fn stops the listing and is returned; 0 or -errno. */
int io_dir_entries(int fd, int (*fn)(void *ud, const char *name, unsigned char type), void *ud);

/* A list of names kept one after another, each with its NUL: what a tree
 * walk remembers of a directory it has closed. names_next() hands them out
 * in order (NULL at the end); names_release() frees them. */
struct names {
	char *buf;
	size_t len, cap, pos;
};
int names_add(struct names *n, const char *name);
const char *names_next(struct names *n);
void names_release(struct names *n);

/* Writes a message into err[errsz] (when err is not NULL) and returns r:
 * for library functions that explain their negative errno to the caller. */
int err_set(char *err, size_t errsz, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Closes fd if it is >= 0 and returns -1, for `fd = safe_close(fd);`. */
int safe_close(int fd);

/* Parses a decimal unsigned integer in [min, max]; the whole string must be a number. */
int parse_u64(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out);

/* The same with an optional binary suffix K, M, G or T (1024^n): "64M". */
int parse_size(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out);

/* Blocks SIGINT and SIGTERM (and SIGUSR1 with usr1) and returns a
 * non-blocking signalfd that delivers them; SIGPIPE is ignored, so a peer
 * that vanishes is an EPIPE, not a death. */
int signals_fd(bool usr1);

/* Makes room for need elements of size bytes in *p (*cap elements now),
 * doubling from 8: 0 or -ENOMEM (*p unchanged). */
int array_grow(void **p, size_t *cap, size_t need, size_t size);

/* Writes text whole to a /proc file such as /proc/self/uid_map: 0 or
 * -errno. Only open, write and close: safe in a child of a threaded
 * process. */
int proc_write(const char *path, const char *text);
/* Enters a new user namespace in which this process is uid and gid 0, its
 * only ids (a user may map nothing but its own), setgroups refused as the
 * kernel then requires. 0, or -errno with the failing step in why. */
int userns_enter_self(char *why, size_t whysz);

#endif
