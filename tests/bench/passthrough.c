/* passthrough: the baseline of the mount benchmark (tests/bench/bench-fs.sh).
 * It mounts MOUNTPOINT showing SOURCE and forwards each request to the
 * matching system call on SOURCE, with nothing in between, so that each
 * figure of an enclave-fs mount can be set against a FUSE file system that
 * does no work of its own on the same directory: the FUSE ceiling, as
 * rawcopy.c is the transport's ceiling for enclave-sync.
 *
 *   passthrough [--timeout SECONDS] SOURCE MOUNTPOINT
 *
 *   --timeout S   entry and attribute timeouts, in seconds (default 86400).
 *                 During a benchmark only this file system writes SOURCE, so
 *                 the kernel may cache everything: with S > 0 files keep their
 *                 page cache and directories their readdir cache across opens,
 *                 and absent names are cached too.
 *
 * It serves what the benchmarks do (tar, dd, ls -lR, git): lookups and
 * attributes, directories and their listings (READDIRPLUS included), files
 * created, opened, read, written, synced and closed, mkdir, unlink, rmdir,
 * rename, symlinks, hard links and statfs. Anything else (mknod, xattrs,
 * locks, fallocate) answers ENOSYS. It negotiates what enclave-fs does
 * (pt_init), so that both move data in the same requests.
 *
 * It runs in the foreground, as root, mounted with allow_other and
 * default_permissions (fsname and subtype "passthrough"), tells
 * $NOTIFY_SOCKET READY=1 once mounted, and runs until the mount is unmounted
 * (fusermount3 -u, umount) or it gets SIGTERM, SIGINT or SIGHUP; it then
 * exits 0. Errors exit 1, bad usage 2.
 *
 * libfuse3's low-level API: each inode the kernel knows is one struct inode
 * holding an O_PATH fd of the source's inode, so that renames never leave a
 * stale path behind; its address is the FUSE inode number. Past an fd budget
 * (7/8 of RLIMIT_NOFILE, which root may not be able to raise: the kernel may
 * know more inodes than that) an inode holds a file handle instead and
 * reopens it per request.
 * Built by bench-fs.sh outside the autotools build, like rawcopy.c:
 *   cc -O2 -Wall -Wextra -Werror $(pkg-config --cflags fuse3) \
 *      -o passthrough passthrough.c $(pkg-config --libs fuse3)
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define PROC_FD_PATH  32   /* "/proc/self/fd/" and an int */
#define TABLE_INITIAL 1024 /* buckets; a power of two */

/* One inode the kernel knows (nlookup > 0), or the root. */
struct inode {
	struct inode *next;         /* hash chain */
	int fd;                     /* O_PATH | O_NOFOLLOW, or -1 */
	struct file_handle *handle; /* instead of fd, past the budget */
	bool stale;                 /* its (dev, ino) is another's now */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup; /* under table.lock */
	uint64_t generation;
};

/* An open directory. The kernel serializes readdir on one handle, so this
 * state needs no lock. */
struct dirh {
	DIR *dp;
	off_t offset;         /* where dp stands, as the kernel counts */
	struct dirent *entry; /* read from dp, not yet replied */
};

/* The known inodes by (st_dev, st_ino): a lookup of an inode the kernel
 * already knows (a hard link, a name seen again) must give the same node. */
static struct {
	pthread_mutex_t lock;
	struct inode **buckets;
	size_t mask; /* number of buckets - 1 */
	size_t count;
	size_t nfds;      /* inodes holding an fd */
	size_t fd_budget; /* at most that many */
	uint64_t generation;
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The root is not in the table: the kernel never forgets it. */
static struct inode root = {.fd = -1};
static double timeout = 86400;

static size_t hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 40)) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h ^ (h >> 31));
}

static struct inode *inode_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &root : (struct inode *)(uintptr_t)ino;
}

static void proc_path(char *buf, int fd)
{
	snprintf(buf, PROC_FD_PATH, "/proc/self/fd/%d", fd);
}

/* The inode's O_PATH fd, or one opened from its handle for this request:
 * give it back with fd_put. */
static int inode_fd(struct inode *in)
{
	if (in->fd >= 0)
		return in->fd;
	return open_by_handle_at(root.fd, in->handle, O_PATH | O_CLOEXEC);
}

static void fd_put(struct inode *in, int fd)
{
	int saved = errno;

	if (fd >= 0 && fd != in->fd)
		close(fd);
	errno = saved;
}

static struct file_handle *get_handle(int fd)
{
	struct file_handle *h = malloc(sizeof(*h) + MAX_HANDLE_SZ);
	int mount_id;

	if (!h)
		return NULL;
	h->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", h, &mount_id, AT_EMPTY_PATH) < 0) {
		free(h);
		return NULL;
	}
	return h;
}

static bool same_handle(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_type == b->handle_type && a->handle_bytes == b->handle_bytes &&
	       !memcmp(a->f_handle, b->f_handle, a->handle_bytes);
}

/* Doubles the buckets; on no memory the chains just grow longer. */
static void table_grow(void)
{
	size_t n = (table.mask + 1) * 2, i, h;
	struct inode **b = calloc(n, sizeof(*b)), *in, *next;

	if (!b)
		return;
	for (i = 0; i <= table.mask; i++) {
		for (in = table.buckets[i]; in; in = next) {
			next = in->next;
			h = hash(in->dev, in->ino) & (n - 1);
			in->next = b[h];
			b[h] = in;
		}
	}
	free(table.buckets);
	table.buckets = b;
	table.mask = n - 1;
}

/* Is in, of the same (dev, ino) as fd, the inode of fd? An inode holding
 * an fd keeps its number from being freed and reused; one holding a handle
 * does not, and the handle tells the generations apart. *h caches fd's. */
static bool inode_is(struct inode *in, int fd, struct file_handle **h)
{
	if (in->fd >= 0)
		return true;
	if (!*h)
		*h = get_handle(fd);
	return *h && same_handle(*h, in->handle);
}

/* The kernel keeps every inode it has seen for the timeout: a tree of
 * 20,000 files wants 20,000 fds, and without CAP_SYS_RESOURCE the hard
 * limit may be lower. Past the budget, an inode of the source's own file
 * system (root.fd is its mount fd) keeps a file handle instead of its fd. */
static void inode_init(struct inode *in, int fd, const struct stat *st, struct file_handle **h)
{
	*in = (struct inode){
	    .fd = fd,
	    .dev = st->st_dev,
	    .ino = st->st_ino,
	    .nlookup = 1,
	    .generation = ++table.generation,
	};
	if (table.nfds >= table.fd_budget && st->st_dev == root.dev) {
		if (!*h)
			*h = get_handle(fd);
		in->handle = *h;
		*h = NULL;
	}
	if (in->handle)
		in->fd = -1;
	else
		table.nfds++;
}

/* Finds or adds the inode of fd (whose stat is st) and counts one lookup.
 * Takes fd: a new inode keeps it (or its handle), a known one has its own.
 * NULL: no memory. */
static struct inode *inode_get(int fd, const struct stat *st)
{
	struct file_handle *h = NULL;
	struct inode *in, **head;

	pthread_mutex_lock(&table.lock);
	head = &table.buckets[hash(st->st_dev, st->st_ino) & table.mask];
	for (in = *head; in; in = in->next) {
		if (in->ino != st->st_ino || in->dev != st->st_dev || in->stale)
			continue;
		if (inode_is(in, fd, &h))
			break;
		/* Its number went to a new inode: a lookup must not find
		 * it any more; it stays for the kernel to forget. */
		in->stale = true;
	}
	if (in) {
		in->nlookup++;
	} else {
		in = malloc(sizeof(*in));
		if (in) {
			inode_init(in, fd, st, &h);
			in->next = *head;
			*head = in;
			if (++table.count > table.mask + 1)
				table_grow();
		}
	}
	pthread_mutex_unlock(&table.lock);
	free(h);
	if (!in || in->fd != fd)
		close(fd);
	return in;
}

static void inode_free(struct inode *in)
{
	if (in->fd >= 0)
		close(in->fd);
	free(in->handle);
	free(in);
}

/* Drops n lookups; the last one frees the inode. */
static void inode_put(struct inode *in, uint64_t n)
{
	struct inode **p;

	if (in == &root)
		return;
	pthread_mutex_lock(&table.lock);
	if (in->nlookup > n) {
		in->nlookup -= n;
		pthread_mutex_unlock(&table.lock);
		return;
	}
	p = &table.buckets[hash(in->dev, in->ino) & table.mask];
	while (*p != in)
		p = &(*p)->next;
	*p = in->next;
	table.count--;
	table.nfds -= in->fd >= 0;
	pthread_mutex_unlock(&table.lock);
	inode_free(in);
}

/* Looks name up in the directory dirfd into e, counting one lookup on
 * success. */
static int entry_of(int dirfd, const char *name, struct fuse_entry_param *e)
{
	struct inode *in;
	int fd, err;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	in = inode_get(fd, &e->attr);
	if (!in)
		return ENOMEM;
	e->ino = (uintptr_t)in;
	e->generation = in->generation;
	return 0;
}

/* Replies e, or err if not 0. A reply the kernel did not take (the request
 * is gone) must not keep its lookup; a negative entry (node 0) counted none. Once it has a reply
 * the kernel may forget the request's inodes: replies come after the last use of them. */
static void reply_entry(fuse_req_t req, int err, struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_entry(req, e) && e->ino)
		inode_put(inode_of(e->ino), 1);
}

static void reply_status(fuse_req_t req, int r)
{
	fuse_reply_err(req, r < 0 ? errno : 0);
}

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	/* What enclave-fs asks for (fs/fsops.c), so that both move data in
	 * the same requests: replies to reads spliced from the file, requests
	 * read into memory (splicing them costs small requests a pipe each),
	 * 1 MiB writes and readahead (the kernel and libfuse clamp them). */
	unsigned int want = FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_READDIRPLUS;

	(void)userdata;
	conn->want |= conn->capable & want;
	/* The kernel applies the caller's umask to created modes (ours is 0,
	 * run()): with DONT_MASK it would be ours to apply. */
	conn->want &= ~(unsigned int)FUSE_CAP_DONT_MASK;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
}

/* At the end of the session: the kernel forgets nothing on unmount. */
static void pt_destroy(void *userdata)
{
	struct inode *in, *next;
	size_t i;

	(void)userdata;
	pthread_mutex_lock(&table.lock);
	for (i = 0; i <= table.mask; i++) {
		for (in = table.buckets[i]; in; in = next) {
			next = in->next;
			inode_free(in);
		}
		table.buckets[i] = NULL;
	}
	table.count = 0;
	table.nfds = 0;
	pthread_mutex_unlock(&table.lock);
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode *dir = inode_of(parent);
	struct fuse_entry_param e;
	int fd = inode_fd(dir);
	int err = fd < 0 ? errno : entry_of(fd, name, &e);

	fd_put(dir, fd);
	if (err == ENOENT && timeout > 0) {
		/* Node 0 with a timeout: the kernel caches the absence. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = timeout;
		err = 0;
	}
	reply_entry(req, err, &e);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inode_put(inode_of(ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		inode_put(inode_of(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in = inode_of(ino);
	struct stat st;
	int fd, r;

	/* An open file's own fd: it answers even once unlinked. */
	if (fi) {
		r = fstat((int)fi->fh, &st);
	} else {
		fd = inode_fd(in);
		r = fd < 0 ? -1 : fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		fd_put(in, fd);
	}
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* fd: an open file, else -1 and path is the inode's /proc link. */
static int set_times(int fd, const char *path, const struct stat *attr, int valid)
{
	struct timespec tv[2] = {
	    {.tv_nsec = UTIME_OMIT},
	    {.tv_nsec = UTIME_OMIT},
	};

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fd >= 0)
		return futimens(fd, tv);
	return utimensat(AT_FDCWD, path, tv, 0);
}

/* With an open file every call takes its fd. An O_PATH fd takes fchownat
 * only: mode, size and times go through its /proc link. */
static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
                       struct fuse_file_info *fi)
{
	struct inode *in = inode_of(ino);
	char path[PROC_FD_PATH];
	uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
	gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
	int fd = fi ? (int)fi->fh : inode_fd(in), r = fd < 0 ? -1 : 0;

	proc_path(path, fd);
	if (!r && (valid & FUSE_SET_ATTR_MODE))
		r = fi ? fchmod(fd, attr->st_mode) : fchmodat(AT_FDCWD, path, attr->st_mode, 0);
	if (!r && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		r = fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!r && (valid & FUSE_SET_ATTR_SIZE))
		r = fi ? ftruncate(fd, attr->st_size) : truncate(path, attr->st_size);
	if (!r && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                    FUSE_SET_ATTR_MTIME_NOW)))
		r = set_times(fi ? fd : -1, path, attr, valid);
	if (!fi)
		fd_put(in, fd);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		pt_getattr(req, ino, fi);
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct inode *in = inode_of(ino);
	char buf[PATH_MAX + 1];
	int fd = inode_fd(in);
	ssize_t n = fd < 0 ? -1 : readlinkat(fd, "", buf, sizeof(buf));

	fd_put(in, fd);
	if (n < 0) {
		fuse_reply_err(req, errno);
	} else if ((size_t)n == sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
	} else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* mkdir (target NULL) and symlink: make name in parent, then reply its
 * entry. Regular files come through create; no mknod: the benchmarks make
 * no fifos or devices. */
static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      const char *target)
{
	struct inode *dir = inode_of(parent);
	struct fuse_entry_param e;
	int fd = inode_fd(dir), r = fd < 0 ? -1 : 0, err;

	if (!r && target)
		r = symlinkat(target, fd, name);
	else if (!r)
		r = mkdirat(fd, name, mode);
	err = r < 0 ? errno : entry_of(fd, name, &e);
	fd_put(dir, fd);
	reply_entry(req, err, &e);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, mode, NULL);
}

static void pt_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	make_node(req, parent, name, 0, target);
}

/* The new name's entry is the inode's own: the table finds it by
 * (dev, ino) and counts one more lookup on it. */
static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct inode *in = inode_of(ino), *dir = inode_of(newparent);
	struct fuse_entry_param e;
	int fd = inode_fd(in), dfd = fd < 0 ? -1 : inode_fd(dir), err;

	if (dfd < 0 || linkat(fd, "", dfd, newname, AT_EMPTY_PATH) < 0)
		err = errno;
	else
		err = entry_of(dfd, newname, &e);
	fd_put(dir, dfd);
	fd_put(in, fd);
	reply_entry(req, err, &e);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct inode *dir = inode_of(parent);
	int fd = inode_fd(dir), r = fd < 0 ? -1 : unlinkat(fd, name, flags);

	fd_put(dir, fd);
	reply_status(req, r);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, AT_REMOVEDIR);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	struct inode *dir = inode_of(parent), *newdir = inode_of(newparent);
	int fd, newfd, r;

	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fd = inode_fd(dir);
	newfd = fd < 0 ? -1 : inode_fd(newdir);
	r = newfd < 0 ? -1 : renameat2(fd, name, newfd, newname, flags);
	fd_put(newdir, newfd);
	fd_put(dir, fd);
	reply_status(req, r);
}

/* The flags to open the source's file with, from the kernel's. */
static int open_flags(int flags)
{
	/* The kernel has resolved the path (and created the file, for
	 * create): the /proc link is to be followed, and nothing created
	 * again. O_DIRECT is the kernel's business with its own cache;
	 * libfuse's buffers are not aligned for the source's. */
	return (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL | O_NOCTTY | O_DIRECT)) | O_CLOEXEC;
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in = inode_of(ino);
	char path[PROC_FD_PATH];
	int pfd = inode_fd(in), fd = -1;

	/* An O_PATH fd opens nothing: reopen its inode through /proc. */
	if (pfd >= 0) {
		proc_path(path, pfd);
		fd = open(path, open_flags(fi->flags));
		fd_put(in, pfd);
	}
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = timeout > 0;
	/* Not taken: no release will come for it. */
	if (fuse_reply_open(req, fi))
		close(fd);
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	struct inode *dir = inode_of(parent);
	struct fuse_entry_param e;
	int dfd = inode_fd(dir), fd = -1, err;

	if (dfd >= 0)
		fd = openat(dfd, name,
		            open_flags(fi->flags) | O_CREAT | (fi->flags & O_EXCL) | O_NOFOLLOW,
		            mode);
	err = fd < 0 ? errno : entry_of(dfd, name, &e);
	fd_put(dir, dfd);
	if (err) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = timeout > 0;
	if (fuse_reply_create(req, &e, fi)) {
		close(fd);
		inode_put(inode_of(e.ino), 1);
	}
}

/* Replies with the file itself as the buffer: libfuse splices it into
 * the device when the kernel allows, else reads it at off. */
static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	size_t done = 0;
	ssize_t n;

	(void)ino;
	while (done < size) {
		n = pwrite((int)fi->fh, buf + done, size - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	/* A short write is the count written; nothing written, the error. */
	if (done || !size)
		fuse_reply_write(req, done);
	else
		fuse_reply_err(req, n < 0 ? errno : EIO);
}

/* Called on each close(2) of the file: report what closing a duplicate
 * reports on the source (deferred write errors, on network file systems). */
static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int fd = dup((int)fi->fh);

	(void)ino;
	reply_status(req, fd < 0 ? fd : close(fd));
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;

	(void)ino;
	reply_status(req, datasync ? fdatasync(fd) : fsync(fd));
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode *in = inode_of(ino);
	struct dirh *dh = calloc(1, sizeof(*dh));
	int pfd = inode_fd(in), fd = -1;

	if (dh && pfd >= 0)
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd_put(in, pfd);
	if (fd >= 0)
		dh->dp = fdopendir(fd);
	if (!dh || !dh->dp) {
		fuse_reply_err(req, dh ? errno : ENOMEM);
		if (fd >= 0)
			close(fd);
		free(dh);
		return;
	}
	fi->fh = (uintptr_t)dh;
	fi->keep_cache = timeout > 0;
	fi->cache_readdir = timeout > 0;
	if (fuse_reply_open(req, fi)) {
		closedir(dh->dp);
		free(dh);
	}
}

static bool is_dot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Adds d at p for readdir; returns its size (more than rem: not added). */
static size_t add_plain(fuse_req_t req, struct dirent *d, char *p, size_t rem)
{
	struct stat st = {.st_ino = d->d_ino, .st_mode = DTTOIF(d->d_type)};

	return fuse_add_direntry(req, p, rem, d->d_name, &st, d->d_off);
}

/* Adds d at p for readdirplus with its entry, which counts a lookup, and
 * sets *in to the inode of that lookup (NULL for . and ..). Returns its
 * size: more than rem when it does not fit, then nothing is looked up.
 * On a failed lookup returns 0 with *err set. */
static size_t add_plus(fuse_req_t req, int dirfd, struct dirent *d, char *p, size_t rem,
                       struct inode **in, int *err)
{
	struct fuse_entry_param e;
	size_t len;

	memset(&e, 0, sizeof(e));
	*in = NULL;
	len = fuse_add_direntry_plus(req, p, 0, d->d_name, &e, 0);
	if (len > rem)
		return len;
	if (is_dot(d->d_name)) {
		/* Node 0: the kernel takes the name, links no inode. */
		e.attr.st_ino = d->d_ino;
		e.attr.st_mode = DTTOIF(d->d_type);
	} else {
		*err = entry_of(dirfd, d->d_name, &e);
		if (*err)
			return 0;
		*in = inode_of(e.ino);
	}
	return fuse_add_direntry_plus(req, p, rem, d->d_name, &e, d->d_off);
}

/* Offsets are the source's own (d_off, which seekdir takes back), so
 * that a reader going back or resuming lands on the right entry. An entry
 * read but not fitting the reply stays in dh->entry for the next call. */
static void do_readdir(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi, bool plus)
{
	struct dirh *dh = (struct dirh *)(uintptr_t)fi->fh;
	struct inode **counted = NULL, *in;
	char *buf = malloc(size), *p = buf;
	size_t rem = size, len, n = 0;
	struct dirent *d;
	int err = 0;

	/* The inodes counted into this reply: one per smallest entry. */
	if (plus && buf) {
		struct fuse_entry_param none = {.ino = 0};

		len = fuse_add_direntry_plus(req, buf, 0, "", &none, 0);
		counted = malloc((size / len + 1) * sizeof(*counted));
	}
	if (!buf || (plus && !counted)) {
		err = ENOMEM;
		goto out;
	}
	if (off != dh->offset) {
		seekdir(dh->dp, off);
		dh->offset = off;
		dh->entry = NULL;
	}
	for (;;) {
		d = dh->entry;
		if (!d) {
			errno = 0;
			d = readdir(dh->dp);
			if (!d) {
				err = errno;
				break;
			}
			dh->entry = d;
		}
		in = NULL;
		if (plus)
			len = add_plus(req, dirfd(dh->dp), d, p, rem, &in, &err);
		else
			len = add_plain(req, d, p, rem);
		if (err == ENOENT)
			err = 0; /* gone since it was read: skip it */
		else if (err || len > rem)
			break;
		if (in)
			counted[n++] = in;
		dh->entry = NULL;
		dh->offset = d->d_off;
		p += len;
		rem -= len;
	}
out:
	/* An error after some entries: reply them; the next call meets it. */
	if (err && p == buf) {
		fuse_reply_err(req, err);
	} else if (fuse_reply_buf(req, buf, (size_t)(p - buf))) {
		while (n)
			inode_put(counted[--n], 1);
	}
	free(counted);
	free(buf);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *dh = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(dh->dp);
	free(dh);
	fuse_reply_err(req, 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct inode *in = inode_of(ino);
	struct statvfs sv;
	int fd = inode_fd(in), r;

	r = fd < 0 ? -1 : fstatvfs(fd, &sv);
	fd_put(in, fd);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
    .init = pt_init,
    .destroy = pt_destroy,
    .lookup = pt_lookup,
    .forget = pt_forget,
    .forget_multi = pt_forget_multi,
    .getattr = pt_getattr,
    .setattr = pt_setattr,
    .readlink = pt_readlink,
    .mkdir = pt_mkdir,
    .symlink = pt_symlink,
    .link = pt_link,
    .unlink = pt_unlink,
    .rmdir = pt_rmdir,
    .rename = pt_rename,
    .open = pt_open,
    .create = pt_create,
    .read = pt_read,
    .write = pt_write,
    .flush = pt_flush,
    .release = pt_release,
    .fsync = pt_fsync,
    .opendir = pt_opendir,
    .readdir = pt_readdir,
    .readdirplus = pt_readdirplus,
    .releasedir = pt_releasedir,
    .statfs = pt_statfs,
};

/* Each inode the kernel knows holds an fd: lift the limit to fs.nr_open
 * if allowed, else the soft limit to the hard one. The inodes may take all
 * but an eighth of it; the rest is for open files, directories and libfuse. */
static void raise_nofile(void)
{
	struct rlimit rl, up;
	unsigned long n = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	up.rlim_cur = up.rlim_max = n;
	if (n > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &up) == 0) {
		rl = up;
	} else {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	table.fd_budget = rl.rlim_cur - rl.rlim_cur / 8;
}

static int open_root(const char *source)
{
	struct stat st;

	/* Not O_PATH: it is also the mount fd of open_by_handle_at. */
	root.fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root.fd < 0 || fstat(root.fd, &st) < 0) {
		fprintf(stderr, "passthrough: %s: %s\n", source, strerror(errno));
		return -1;
	}
	root.dev = st.st_dev;
	root.ino = st.st_ino;
	root.nlookup = 1;
	table.buckets = calloc(TABLE_INITIAL, sizeof(*table.buckets));
	if (!table.buckets) {
		fprintf(stderr, "passthrough: out of memory\n");
		return -1;
	}
	table.mask = TABLE_INITIAL - 1;
	return 0;
}

/* libfuse's default loop, as enclave-fs runs it when not told otherwise
 * (fs/enclave-fs.c): the same threads serve both file systems. */
static int loop(struct fuse_session *se)
{
	struct fuse_loop_config *cfg;
	int r;

	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

/* READY=1 to $NOTIFY_SOCKET once mounted, as sd_notify sends it: the bench
 * starts this through tests/helpers/readywait and waits for it. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (!len || len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static int run(const char *argv0, const char *source, const char *mountpoint)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int code = 1, r;

	/* The kernel has applied the caller's umask to created modes. */
	umask(0);
	raise_nofile();
	if (open_root(source) < 0)
		goto out;
	if (fuse_opt_add_arg(&args, argv0) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "allow_other,default_permissions,"
	                            "fsname=passthrough,subtype=passthrough"))
		goto out;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_session;
	if (fuse_session_mount(se, mountpoint) < 0) {
		fprintf(stderr, "passthrough: cannot mount %s\n", mountpoint);
		goto out_signals;
	}
	notify_ready();
	/* 0 when unmounted, the signal's number when told to stop. */
	r = loop(se);
	if (r < 0)
		fprintf(stderr, "passthrough: %s\n", strerror(-r));
	else
		code = 0;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	if (root.fd >= 0)
		close(root.fd);
	free(table.buckets);
	return code;
}

static int usage(void)
{
	fputs("usage: passthrough [--timeout SECONDS] SOURCE MOUNTPOINT\n", stderr);
	return 2;
}

int main(int argc, char *argv[])
{
	char *end;
	int i;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			errno = 0;
			timeout = strtod(argv[++i], &end);
			if (errno || end == argv[i] || *end || !(timeout >= 0))
				return usage();
		} else {
			return usage();
		}
	}
	if (argc - i != 2)
		return usage();
	return run(argv[0], argv[i], argv[i + 1]);
}
