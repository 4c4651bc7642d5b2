/* What the FUSE operations of the mount share (fsint.h): the inode table
 * (nodes.c), the open-file handles (handles.c), the names of the trees
 * (where.c) and the control files (control.c). fsops.c holds the
 * operations themselves (libfuse's low-level API). */
#ifndef EFS_FSINT_H
#define EFS_FSINT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "fsops.h"

enum tree { T_ENCRYPTED, T_DATASET, T_MODEL, T_OUTPUT, T_JOBS, T_COUNT };

extern const char *const tree_names[T_COUNT];

enum kind { K_NONE, K_ROOT, K_TREE, K_RUN, K_STATUS, K_CTL, K_WAIT };

/* Inode numbers as callers see them (st_ino): a file or directory of a
 * tree has its cache file's (stable while it exists, shared by hard
 * links); the virtual nodes have fixed numbers with the top bit set, which
 * no cache file system hands out. */
#define INO_VIRTUAL (UINT64_C(1) << 63)
#define INO_ROOT (INO_VIRTUAL | (UINT64_C(1) << 32) | 1)
#define INO_RUN (INO_VIRTUAL | (UINT64_C(1) << 32) | 2)
#define INO_STATUS (INO_VIRTUAL | (UINT64_C(1) << 32) | 3)
#define INO_CTL(job) (INO_VIRTUAL | (uint64_t)(job)) /* jobs/N/ctl */
#define INO_WAIT(job) (INO_VIRTUAL | (UINT64_C(2) << 32) | (uint64_t)(job)) /* jobs/N/wait */

/* Setuid and setgid bits are never stored: the enclave does not receive
 * them, and the mount runs as root on behalf of other users. */
#define MODE_KEPT 01777

extern struct fs *fs_self;

static inline struct fs *fs_get(void)
{
	return fs_self;
}

static inline bool tree_writable(enum tree t)
{
	return t == T_ENCRYPTED || t == T_DATASET || t == T_MODEL;
}

/* A name in encrypted/ the enclave would refuse as a package name. */
bool bad_package_name(const char *rel);

/* --- the inode table (nodes.c) --- */

/* A node is what the kernel knows by one node id: the root, .run,
 * .status, a tree's own directory (these are fixed and never freed), a
 * jobs/N/ctl, or a file, directory or symlink of a tree. One node per
 * cache inode (st_dev, st_ino): hard links share it. A directory holds an
 * O_PATH descriptor of its cache directory, which the operations on its
 * entries are relative to (and which pins it: its number is not handed to
 * another while the kernel may ask for it); other files are reached by
 * their name in it (a descriptor each would run into the file limit with
 * the kernel holding tens of thousands of them), or while open by a
 * descriptor of their own. A node lives while the
 * kernel holds lookups of it, a child node names it as its parent, or a
 * file is open on it. */
struct node {
	enum kind kind;
	enum tree tree;     /* K_TREE */
	bool top;           /* a tree's own directory */
	bool fixed;         /* never freed */
	/* A directory's O_PATH descriptor; an open file's own (a copy of
	 * one of its handles'), so that fstat() works once it is unlinked. */
	int fd;
	unsigned nopen;     /* handles open on a file */
	mode_t type;        /* S_IFMT bits */
	dev_t dev;
	ino_t ino;
	uint32_t job;       /* K_CTL, K_WAIT */
	uint64_t gen;       /* told to the kernel with the node id */
	uint64_t nlookup;   /* the kernel's lookups */
	uint64_t refs;      /* lookups + children + open files */
	/* The name it was last looked up, created or renamed by; NULL once
	 * that name is gone (an unlinked file, a removed directory). */
	struct node *parent;
	char *name;
	struct node *hnext;
	struct node *anext, *aprev; /* every node (nodes.c) */
};

/* Makes the fixed nodes; the tree directories are created in the cache
 * when missing. 0 or a negative errno. */
int nodes_init(int cachefd);
void nodes_fini(void);

struct node *node_root(void);
struct node *node_run(void);
struct node *node_status(void);
struct node *node_top(enum tree t);
/* The node of a kernel node id. */
struct node *node_get(uint64_t nodeid);
uint64_t node_id(const struct node *n);

/* The node of the cache file found as name in parent (st), with one
 * lookup taken; fd: a directory's O_PATH descriptor (consumed), or -1.
 * NULL when out of memory. */
struct node *node_found(struct node *parent, const char *name, int fd, const struct stat *st);
/* A new jobs/N/ctl (K_CTL) or jobs/N/wait (K_WAIT) node with one lookup;
 * NULL when out of memory. */
struct node *node_job_file(enum kind kind, uint32_t job);
/* The kernel dropped nlookup lookups. */
void node_forget(struct node *n, uint64_t nlookup);
/* A file of the tree was opened as fd (node_closed when it closes). */
void node_opened(struct node *n, int fd);
void node_closed(struct node *n);
/* The attributes of an open file: 0, a negative errno, or 1 when n is not
 * an open file. */
int node_fstat(struct node *n, struct stat *st);
/* An open file holds its node. */
void node_hold(struct node *n);
void node_release(struct node *n);

/* Its path relative to the cache ("dataset/a/b"; "dataset" for a tree's
 * own directory), malloc'd; NULL if it has no name now or no memory. */
char *node_path(struct node *n);
/* The path of name in directory p, malloc'd, or NULL. */
char *node_child_path(struct node *p, const char *name);
/* Its parent, held (node_release it), and a copy of its name; NULL if it
 * has no name now. */
struct node *node_name(struct node *n, char **name);
/* The cache inode (dev, ino) was renamed from from in from_p to name in p:
 * its node follows, if that was the name it knew. */
void node_moved(dev_t dev, ino_t ino, struct node *from_p, const char *from, struct node *p,
		const char *name);
/* The node id of the cache inode (dev, ino) if the kernel holds a lookup
 * of it (a tree's own directory always), else 0. The node may be forgotten
 * the moment after, and its id go to a new node: the id is only good for
 * telling the kernel to drop what it caches (fsops.c fs_changed_behind()),
 * which at worst drops the cache of another file. */
uint64_t node_known(dev_t dev, ino_t ino);
/* name in p, which was the cache inode (dev, ino), is gone. */
void node_unlinked(dev_t dev, ino_t ino, struct node *p, const char *name);

/* --- open files (handles.c) --- */

struct handle {
	enum kind kind;
	uint64_t refs;     /* under the table's lock (handles.c) */
	struct node *node; /* held */
	int fd;            /* K_TREE */
	pthread_mutex_t mu; /* dirty and the digest */
	bool dirty;        /* written since the last flush */
	bool pkg;          /* a package: its flush waits for the enclave */
	EVP_MD_CTX *sha;   /* digest of sequential writes from offset 0 */
	off_t sha_off;
	uint32_t job;      /* K_RUN: the job this file started; K_CTL: its job */
	char *run_err;     /* K_RUN: why this file's last job line was refused */
	char *line;        /* K_RUN: a job line not yet ended by a newline or close */
	size_t linelen;
	char *text;        /* K_STATUS: the snapshot read */
	size_t textlen;
};

/* A handle on node n (held until handle_free). */
struct handle *handle_new(enum kind kind, struct node *n);
/* Frees a handle that is in no table (or whose last reference went). */
void handle_free(struct handle *h);
/* Puts h in the open-file table with one reference (the table's): the
 * kernel's file handle, or 0 when out of memory. */
uint64_t handle_register(struct handle *h);
/* The handle of a kernel file handle with one more reference, or NULL if
 * it was closed. */
struct handle *handle_get(uint64_t fh);
void handle_put(struct handle *h);
/* RELEASE: out of the table; freed with its last reference. */
void handle_close(uint64_t fh);

/* --- control files (control.c) --- */

/* What .run reads (RUN_TEXT_MAX bytes at most): through h (or NULL), the
 * outcome of its last job line, "ID\n" or "error: REASON\n"; else the
 * mount's last. Its length. */
#define RUN_TEXT_MAX 1100
int run_text(const struct handle *h, char *buf, size_t n);
/* A write to an open .run; its close() (run_flush) runs a last line. */
int run_write(struct handle *h, const char *buf, size_t size);
int run_flush(struct handle *h);
/* A write to jobs/N/ctl: "cancel". */
int ctl_write(struct handle *h, const char *buf, size_t size);
/* A read of jobs/N/wait: replies with the job's exit status and a newline
 * once it has ended (at once if it has), EINTR if interrupted first. */
void wait_read(fuse_req_t req, uint32_t job, size_t size, off_t off);
/* The job's exit file was written: its waiters are answered. */
void wait_job_ended(uint32_t job);
/* Unmounting: every read still waiting fails with ENOTCONN. */
void wait_fini(void);

#endif
