/* What the FUSE operations of the mount share (fsint.h): where a mount path
 * is (the trees in the cache, the virtual nodes, their inode numbers), the
 * open-file table, and the control files. fsops.c holds the operations
 * themselves; where.c, handles.c and control.c the parts declared here. */
#ifndef EFS_FSINT_H
#define EFS_FSINT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "fsops.h"

enum tree { T_ENCRYPTED, T_DATASET, T_MODEL, T_OUTPUT, T_JOBS, T_COUNT };

extern const char *const tree_names[T_COUNT];

enum kind { K_NONE, K_ROOT, K_TREE, K_RUN, K_STATUS, K_CTL };

/* Where a tree path is in the cache: the cache dir and the path, or for a
 * path too long for one system call (a path below dataset/ may itself be
 * up to PATH_MAX long, and the cache path adds the tree's name) a directory
 * opened on the way down, beneath the cache and through no symlink, and
 * the rest. */
struct at {
	int dirfd;        /* the cache dir, or own */
	const char *name; /* relative to dirfd */
	int own;          /* a directory opened for a long path, or -1 */
};

void at_release(struct at *a);
/* rel beneath cachefd: 0, or a negative errno (at released). */
int at_resolve(int cachefd, const char *rel, struct at *a);

struct where {
	struct at at;    /* K_TREE: rel in the cache */
	enum kind kind;
	enum tree tree;
	bool top;        /* the tree's own directory */
	bool hidden;     /* a file libfuse hid: unlinked while open */
	const char *rel; /* relative to the cache */
	uint32_t job;    /* K_CTL */
	char hidden_rel[NAME_MAX + 16];
};

void where_release(struct where *w);

/* A where releases its directory when it goes out of scope. */
#define WHERE struct where __attribute__((cleanup(where_release)))
#define WHERE_INIT { .at = { .own = -1 } }

/* libfuse renames a file unlinked while still open to .fuse_hiddenN in its
 * directory, so that fstat() keeps working (the kernel asks for the
 * attributes of an open file by inode, and libfuse's path API has no path
 * for an unlinked one), and removes it at the last close. The mount keeps
 * such files in the cache's .hidden/, outside the synced trees: for the
 * enclave, unlink is unlink. */
#define HIDDEN_PREFIX ".fuse_hidden"
#define HIDDEN_DIR ".hidden"

/* Inode numbers: a file or directory of a tree has its cache file's (stable
 * while it exists, shared by hard links); the virtual nodes have fixed
 * numbers with the top bit set, which no cache file system hands out. */
#define INO_VIRTUAL (UINT64_C(1) << 63)
#define INO_ROOT (INO_VIRTUAL | (UINT64_C(1) << 32) | 1)
#define INO_RUN (INO_VIRTUAL | (UINT64_C(1) << 32) | 2)
#define INO_STATUS (INO_VIRTUAL | (UINT64_C(1) << 32) | 3)
#define INO_CTL(job) (INO_VIRTUAL | (uint64_t)(job)) /* jobs/N/ctl */
#define INO_UNKNOWN 0xffffffffu /* a directory entry's, as libfuse says it */

/* Setuid and setgid bits are never stored: the enclave does not receive
 * them, and the mount runs as root on behalf of other users. */
#define MODE_KEPT 01777

static inline struct fs *fs_get(void)
{
	return fuse_get_context()->private_data;
}

static inline bool tree_writable(enum tree t)
{
	return t == T_ENCRYPTED || t == T_DATASET || t == T_MODEL;
}

/* Classifies path; 0 or a negative errno (-ENAMETOOLONG, or where a long
 * path's directories could not be opened). An unknown top-level name is
 * K_NONE. */
int classify(const char *path, struct where *w);
/* A name in encrypted/ the enclave would refuse as a package name. */
bool bad_package_name(const char *rel);
bool is_package(const struct where *w);

/* --- the open-file table (handles.c) --- */

struct handle {
	struct handle *prev, *next; /* open_files, under open_mu */
	char *rel;                  /* K_TREE: where it is now (NULL once unlinked) */
	enum kind kind;
	enum tree tree;
	int fd;            /* K_TREE */
	pthread_mutex_t mu; /* dirty and the digest */
	bool dirty;        /* written since the last flush */
	bool pkg;          /* a package: its flush waits for the enclave */
	EVP_MD_CTX *sha;   /* digest of sequential writes from offset 0 */
	off_t sha_off;
	uint32_t job;      /* K_RUN: the job this file started; K_CTL: its job */
	char *line;        /* K_RUN: a job line not yet ended by a newline or close */
	size_t linelen;
	char *text;        /* K_STATUS: the snapshot read */
	size_t textlen;
};

struct handle *handle_new(enum kind kind);
/* Frees h (NULL accepted) and takes it out of the open-file table. */
void handle_free(struct handle *h);
/* A tree file opened: it joins the open-file table. */
void open_files_add(struct handle *h);
/* The path of an open file now (malloc'd), or NULL if it was unlinked. */
char *open_file_path(struct handle *h);
/* path was unlinked or replaced: files open on it lose their name. */
void open_files_gone(const char *path);
/* from was renamed to to (a file or a whole directory). */
void open_files_moved(const char *from, const char *to);

static inline struct handle *fh(const struct fuse_file_info *fi)
{
	return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

/* --- control files (control.c) --- */

/* .run reads as the job id and a newline, or nothing before the first job. */
int run_text(uint32_t job, char *buf, size_t n);
/* A write to an open .run; its close() (run_flush) runs a last line. */
int run_write(struct handle *h, const char *buf, size_t size);
int run_flush(struct handle *h);
/* A write to jobs/N/ctl: "cancel". */
int ctl_write(struct handle *h, const char *buf, size_t size);

#endif
