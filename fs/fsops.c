/* The FUSE operations of the mount (fsops.h), on libfuse's low-level API:
 * the tree operations, which pass through to the cache relative to the
 * O_PATH descriptors of the inode table (nodes.c), and the dispatch to the
 * virtual nodes (control.c). Nothing is resolved from the cache's root, so
 * a path of any length below a tree costs nothing more, and no symlink in
 * the cache is ever followed by the mount. Operations on the read-write
 * trees act on the cache and queue the change on the link under the path
 * the node has now; only flush of a package and a .run write wait for the
 * enclave. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fsint.h"
#include "link.h"
#include "log.h"
#include "package.h"
#include "proto.h"
#include "util.h"
#include "verdict.h"

struct fs *fs_self;

/* A change is queued on the link in the order it was made in the cache:
 * FUSE threads run concurrently, and a removal of b queued before the
 * rename of a to b that preceded it would leave b in the enclave for good.
 * Every operation that changes names takes this lock (to write) around its
 * change in the cache and its link_changed() calls, and so do flush and
 * setattr around naming the file they changed; nothing waits under it.
 * A lookup takes it to read: the kernel revalidates a name by looking it
 * up without locking its directory, and a lookup that found a file under
 * its old name just before a rename must not give it that name back after
 * the rename has moved it. */
/* Writers first: flushes are not starved by a stream of lookups. */
static pthread_rwlock_t order_rw = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

static void order_lock(void)
{
	pthread_rwlock_wrlock(&order_rw);
}

static void order_unlock(void)
{
	pthread_rwlock_unlock(&order_rw);
}

/* cp and friends size their I/O by st_blksize: one FUSE request each. */
#define TREE_BLKSIZE (1 << 20)

static void fill_virtual(struct stat *st, ino_t ino, mode_t mode, off_t size)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = size;
	st->st_atim = st->st_mtim = st->st_ctim = fs_get()->mounted;
	st->st_blksize = 4096;
}

static void strip_write(struct stat *st)
{
	st->st_mode &= ~(mode_t)0222;
}

static void tree_attr(const struct node *n, struct stat *st)
{
	if (!tree_writable(n->tree))
		strip_write(st);
	st->st_blksize = TREE_BLKSIZE;
}

/* Where a tree node is in the cache now: a directory (its parent's
 * descriptor, held, or the cache dir for a tree's own) and a name. */
struct at {
	struct node *p;
	int dirfd;
	char *name;
};

static void at_done(struct at *a)
{
	node_release(a->p);
	free(a->name);
	a->p = NULL;
	a->name = NULL;
}

/* 0, -ENOENT if n has no name now, -EPERM for a virtual node. */
static int node_at(struct node *n, struct at *a)
{
	*a = (struct at){ .dirfd = -1 };
	if (n->kind != K_TREE)
		return -EPERM;
	if (n->top) {
		a->dirfd = fs_get()->cachefd;
		a->name = strdup(tree_names[n->tree]);
		return a->name ? 0 : -ENOMEM;
	}
	a->p = node_name(n, &a->name);
	if (!a->p)
		return -ENOENT;
	a->dirfd = a->p->fd;
	return 0;
}

/* The file at a is n's: in the trees only the mount writes, a name that
 * names another file now is a stale node (ENOENT); output/ and jobs/ are
 * replaced whole by the engine, and their nodes stand for the name. Either
 * way the file must still be of the node's type: a file system reuses the
 * number of a removed file at once, and a symlink's node must not read a
 * regular file that took its number and name (readlink would say EINVAL,
 * and the caller's path walk with it). */
static int same_file(const struct node *n, const struct stat *st)
{
	if ((st->st_mode ^ n->type) & S_IFMT)
		return -ENOENT;
	if (!tree_writable(n->tree) || (st->st_ino == n->ino && st->st_dev == n->dev))
		return 0;
	return -ENOENT;
}

/* Resolves n and stats what is there: 0 with a to release, or an errno. */
static int node_lstat(struct node *n, struct at *a, struct stat *st)
{
	int r = node_at(n, a);

	if (r == 0 && fstatat(a->dirfd, a->name, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = neg_errno();
	if (r == 0)
		r = same_file(n, st);
	if (r < 0)
		at_done(a);
	return r;
}

/* The attributes of n as callers see them: 0 or a negative errno. */
static int node_attr(struct node *n, const struct handle *h, struct stat *st)
{
	struct fs *fs = fs_get();
	char buf[RUN_TEXT_MAX], *json;
	size_t len;
	int r;

	switch (n->kind) {
	case K_ROOT:
		fill_virtual(st, INO_ROOT, S_IFDIR | 0755, 4096);
		st->st_nlink = 2 + T_COUNT;
		return 0;
	case K_RUN:
		fill_virtual(st, INO_RUN, S_IFREG | 0644,
			     run_text(h, buf, sizeof(buf)));
		return 0;
	case K_STATUS:
		r = link_status(fs->link, &json, &len);
		if (r < 0)
			return r;
		free(json);
		fill_virtual(st, INO_STATUS, S_IFREG | 0444, (off_t)len);
		return 0;
	case K_CTL:
		fill_virtual(st, INO_CTL(n->job), S_IFREG | 0200, 0);
		return 0;
	case K_WAIT:
		fill_virtual(st, INO_WAIT(n->job), S_IFREG | 0444, 0);
		return 0;
	case K_TREE:
		if (h && h->fd >= 0) {
			if (fstat(h->fd, st) < 0)
				return neg_errno();
		} else {
			/* By its name (in output/ and jobs/ the file there now,
			 * which the engine replaces whole); a file unlinked
			 * while open by its descriptor. */
			struct at a;
			r = node_lstat(n, &a, st);
			if (r == 0)
				at_done(&a);
			else if (node_fstat(n, st) != 0)
				return r;
		}
		tree_attr(n, st);
		return 0;
	case K_NONE:
		break;
	}
	return -ENOENT;
}

/* --- what changes behind the kernel's back ------------------------------------------- */

static struct fuse_session *session; /* atomic; NULL: the kernel is not told */
static unsigned telling;             /* atomic: fs_changed_behind() calls under way */

void fs_set_session(struct fuse_session *se)
{
	__atomic_store_n(&session, se, __ATOMIC_SEQ_CST);
	/* A call that saw the old session may still be writing to its fd,
	 * which unmounting closes. One blocked in the kernel (on a directory
	 * lock a request that is no longer served holds) is let be: it is in
	 * its write already, and unmounting ends it. */
	for (int i = 0; !se && i < 1000 && __atomic_load_n(&telling, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
}

void fs_changed_behind(const char *rel, bool name)
{
	const char *slash = strrchr(rel, '/');
	struct fuse_session *se;
	struct stat st;
	uint64_t dir = 0, id = 0;
	char *parent;

	if (!slash || !slash[1])
		return; /* a tree's own directory never changes behind the mount */
	parent = strndup(rel, (size_t)(slash - rel));
	if (!parent)
		return;
	if (fstatat(fs_get()->cachefd, parent, &st, AT_SYMLINK_NOFOLLOW) == 0)
		dir = node_known(st.st_dev, st.st_ino);
	if (fstatat(fs_get()->cachefd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
		id = node_known(st.st_dev, st.st_ino);
	free(parent);
	__atomic_add_fetch(&telling, 1, __ATOMIC_SEQ_CST);
	se = __atomic_load_n(&session, __ATOMIC_SEQ_CST);
	/* Errors are the kernel's not knowing the name or node: nothing kept. */
	if (se && dir && name)
		(void)fuse_lowlevel_notify_inval_entry(se, dir, slash + 1, strlen(slash + 1));
	else if (se && dir)
		(void)fuse_lowlevel_notify_inval_inode(se, dir, -1, 0); /* attributes only */
	if (se && id)
		(void)fuse_lowlevel_notify_inval_inode(se, id, 0, 0);
	__atomic_sub_fetch(&telling, 1, __ATOMIC_SEQ_CST);
}

/* How long the kernel may trust what it is told of n's name and
 * attributes (st): a day. output/ and jobs/ change only by the link, which
 * tells the kernel each time (fs_changed_behind()). dataset/, model/ and
 * encrypted/ change only through this mount, which the kernel sees. The
 * mount's operations then outrun the engine far more, and renames and
 * removals handled long after the change once left the enclave holding
 * names the host had removed (about 5 stress runs of t0610 in 100); a
 * barrier after a removal or rename now checks the enclave's tree against
 * the host's first (SUMMARY_AGAIN, doc/PROTOCOL.md). A file of several
 * names is asked for each time: a node knows one name (nodes.c), and the
 * kernel must not keep one the node cannot reach. The virtual files change
 * on their own. */
#define CACHE_TIMEOUT_S 86400.0

static double node_timeout(const struct node *n, const struct stat *st)
{
	if (n->kind != K_TREE || (!S_ISDIR(st->st_mode) && st->st_nlink > 1))
		return 0.0;
	return CACHE_TIMEOUT_S;
}

static void reply_entry(fuse_req_t req, struct node *n)
{
	struct fuse_entry_param e = { .ino = node_id(n), .generation = n->gen };
	int r = node_attr(n, NULL, &e.attr);

	if (r < 0) {
		node_forget(n, 1);
		fuse_reply_err(req, -r);
		return;
	}
	e.attr_timeout = e.entry_timeout = node_timeout(n, &e.attr);
	if (fuse_reply_entry(req, &e) != 0)
		node_forget(n, 1); /* the request was interrupted: no lookup */
}

/* jobs/N, the directory of a job: its number, or 0. */
static uint32_t job_dir(const struct node *n)
{
	unsigned long long job;

	if (n->kind != K_TREE || n->parent != node_top(T_JOBS) || !n->name ||
	    parse_u64(n->name, 1, UINT32_MAX, &job) < 0)
		return 0;
	return (uint32_t)job;
}

/* name in the tree directory p, by the cache's file there now: a new
 * lookup of its node, and its attributes as stat gives them in *stp when
 * stp is not NULL (order_rw held). */
static int found_child(struct node *p, const char *name, struct node **out, struct stat *stp)
{
	struct stat st;
	int fd = -1;

	if (fstatat(p->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (S_ISDIR(st.st_mode)) {
		fd = openat(p->fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return neg_errno();
		if (fstat(fd, &st) < 0) {
			int r = neg_errno();
			close(fd);
			return r;
		}
	}
	*out = node_found(p, name, fd, &st);
	if (stp)
		*stp = st;
	return *out ? 0 : -ENOMEM;
}

/* Looks name up in p: a new lookup of its node, or a negative errno. */
static int find_child(struct node *p, const char *name, struct node **out)
{
	uint32_t job;
	int r;

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (p->kind == K_ROOT) {
		if (strcmp(name, ".run") == 0)
			*out = node_run();
		else if (strcmp(name, ".status") == 0)
			*out = node_status();
		else
			for (int t = 0; t < T_COUNT; t++)
				if (strcmp(name, tree_names[t]) == 0)
					*out = node_top((enum tree)t);
		return *out ? 0 : -ENOENT;
	}
	if (p->kind != K_TREE)
		return -ENOTDIR;
	job = job_dir(p);
	if (job && strcmp(name, "ctl") == 0)
		return (*out = node_job_file(K_CTL, job)) ? 0 : -ENOMEM;
	if (job && strcmp(name, "wait") == 0)
		return (*out = node_job_file(K_WAIT, job)) ? 0 : -ENOMEM;
	pthread_rwlock_rdlock(&order_rw);
	r = found_child(p, name, out, NULL);
	pthread_rwlock_unlock(&order_rw);
	return r;
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct node *n = NULL;
	int r = find_child(node_get(parent), name, &n);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, n);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(node_get(ino), nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(node_get(forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = fi ? handle_get(fi->fh) : NULL;
	struct node *n = node_get(ino);
	struct stat st;
	int r = node_attr(n, h, &st);

	handle_put(h);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, node_timeout(n, &st));
}

/* --- what may change where ------------------------------------------------------------- */

/* A new name in p: 0 if it may be made there. special: not a regular file
 * or directory, which encrypted/ (packages only) refuses. */
static int may_add(struct node *p, const char *name, bool special)
{
	if (p->kind == K_ROOT) {
		struct node *n = NULL;
		return find_child(p, name, &n) == 0 ? -EEXIST : -EPERM; /* the top level is fixed */
	}
	if (p->kind != K_TREE)
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!tree_writable(p->tree))
		return -EROFS;
	if (special && p->tree == T_ENCRYPTED)
		return -EPERM;
	return 0;
}

/* An existing name in p that may be removed or renamed: 0 if so. */
static int may_change(struct node *p, const char *name)
{
	if (p->kind == K_ROOT) {
		struct node *n = NULL;
		return find_child(p, name, &n) == 0 ? -EPERM : -ENOENT;
	}
	if (p->kind != K_TREE)
		return -ENOTDIR;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	return tree_writable(p->tree) ? 0 : -EROFS;
}

/* name in encrypted/ that the enclave would refuse as a package's. */
static bool bad_package_at(const struct node *p, const char *name)
{
	return p == node_top(T_ENCRYPTED) && !pkg_name_valid(name);
}

/* The new entry name in p belongs to the caller, as a file it creates. */
static void own_new(fuse_req_t req, struct node *p, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if (geteuid() == 0 && ctx->uid != 0)
		(void)fchownat(p->fd, name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
}

/* Tells the link about name in p (kind as the watcher would say it). */
static void changed_at(struct node *p, const char *name, enum watch_kind kind, bool dir)
{
	char *rel = node_child_path(p, name);

	if (rel)
		link_changed(fs_get()->link, kind, dir, rel, NULL);
	free(rel);
}

/* Replies with the entry of the new name in p, made by this request. */
static void reply_new(fuse_req_t req, struct node *p, const char *name)
{
	struct node *n = NULL;
	int r = find_child(p, name, &n);

	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_entry(req, n);
}

/* The end of an operation that made name in p (r: its result; order_rw
 * held to write): the new entry belongs to the caller (own), the link
 * hears of it, the lock goes, and the kernel gets the entry or the error. */
static void made(fuse_req_t req, struct node *p, const char *name, int r, enum watch_kind kind, bool own)
{
	if (r == 0) {
		if (own)
			own_new(req, p, name);
		changed_at(p, name, kind, kind == WATCH_DIR_ADDED);
	}
	order_unlock();
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_new(req, p, name);
}

/* --- directories ----------------------------------------------------------------------- */

struct dirhandle {
	DIR *d;             /* NULL: the root */
	uint32_t job;       /* jobs/N: lists ctl and wait too, after the cache's entries */
	unsigned vnext;     /* the next of those to list (0: ctl, 1: wait, 2: done) */
};

/* The offsets after ctl and after wait: past any the cache's directory gives. */
#define VIRT_OFF(k) (INT64_MAX - 2 + (k))
static const char *const job_virtual[] = { "ctl", "wait" };

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = node_get(ino);
	struct dirhandle *dh;
	int fd;

	if (n->kind != K_ROOT && n->kind != K_TREE) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	dh = calloc(1, sizeof(*dh));
	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n->kind == K_TREE) {
		fd = openat(n->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || !(dh->d = fdopendir(fd))) {
			int err = errno;
			safe_close(fd);
			free(dh);
			fuse_reply_err(req, err);
			return;
		}
		dh->job = job_dir(n);
		/* Only this mount changes a listing there, and each change it
		 * makes drops the kernel's copy (the directory's version moves). */
		if (tree_writable(n->tree))
			fi->cache_readdir = fi->keep_cache = 1;
	}
	fi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, fi) != 0) {
		if (dh->d)
			closedir(dh->d);
		free(dh);
	}
}

/* One entry of a listing: plain (READDIR), or with its node and attributes
 * (READDIRPLUS, e->ino set) when the kernel should keep them. */
static size_t add_entry(fuse_req_t req, bool plus, char *buf, size_t room, const char *name,
			const struct fuse_entry_param *e, off_t next)
{
	return plus ? fuse_add_direntry_plus(req, buf, room, name, e, next) :
		      fuse_add_direntry(req, buf, room, name, &e->attr, next);
}

/* The root's entries, with their inode numbers (d_ino). */
static size_t root_entries(fuse_req_t req, bool plus, char *buf, size_t size, off_t off)
{
	static const char *const names[] = { ".", "..", "encrypted", "dataset", "model",
					     "output", "jobs", ".run", ".status" };
	size_t used = 0;

	for (size_t i = (size_t)off; i < sizeof(names) / sizeof(names[0]); i++) {
		struct fuse_entry_param e = { 0 };
		size_t need;

		e.attr.st_mode = i < 7 ? S_IFDIR : S_IFREG;
		e.attr.st_ino = i < 2 ? INO_ROOT : i == 7 ? INO_RUN : i == 8 ? INO_STATUS : node_top((enum tree)(i - 2))->ino;
		need = add_entry(req, plus, buf + used, size - used, names[i], &e, (off_t)i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	return used;
}

/* Looks up a listed name of p for READDIRPLUS, which the kernel keeps
 * (node_timeout()); for a name gone meanwhile, e stays without a node, and
 * the kernel looks it up itself when it needs it. */
static struct node *plus_entry(struct node *p, const struct dirent *de, struct fuse_entry_param *e)
{
	struct node *n = NULL;

	if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
		return NULL;
	pthread_rwlock_rdlock(&order_rw);
	if (found_child(p, de->d_name, &n, &e->attr) < 0)
		n = NULL;
	pthread_rwlock_unlock(&order_rw);
	if (n) {
		tree_attr(n, &e->attr); /* as node_attr() gives them, without a second stat */
		e->ino = node_id(n);
		e->generation = n->gen;
		e->attr_timeout = e->entry_timeout = node_timeout(n, &e->attr);
	}
	return n;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dirhandle *dh = (struct dirhandle *)(uintptr_t)fi->fh;
	struct node *p = node_get(ino), **looked = NULL;
	size_t used = 0, nlooked = 0;
	char *buf;
	int err = 0;

	buf = malloc(size ? size : 1);
	/* Each entry with a node takes more than 100 bytes of the reply. */
	if (!buf || (plus && !(looked = calloc(size / 100 + 1, sizeof(*looked))))) {
		free(buf);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!dh->d) {
		used = root_entries(req, plus, buf, size, off);
		goto reply;
	}
	if (off >= VIRT_OFF(1)) {
		dh->vnext = (unsigned)(off - VIRT_OFF(0));
		goto virtual;
	}
	dh->vnext = 0;
	seekdir(dh->d, off);
	for (;;) {
		struct fuse_entry_param e = { 0 };
		struct dirent *de;
		struct node *n = NULL;
		size_t need;
		long at = telldir(dh->d);

		errno = 0;
		de = readdir(dh->d);
		if (!de) {
			err = errno;
			break;
		}
		if (plus)
			n = plus_entry(p, de, &e);
		if (!n) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = de->d_ino;
			e.attr.st_mode = DTTOIF(de->d_type);
		}
		need = add_entry(req, plus, buf + used, size - used, de->d_name, &e, de->d_off);
		if (need > size - used) {
			if (n)
				node_forget(n, 1);
			seekdir(dh->d, at);
			goto reply;
		}
		used += need;
		if (n)
			looked[nlooked++] = n;
	}
virtual:
	while (!err && dh->job && dh->vnext < 2) {
		struct fuse_entry_param e = { 0 };
		size_t need;

		e.attr.st_ino = dh->vnext == 0 ? INO_CTL(dh->job) : INO_WAIT(dh->job);
		e.attr.st_mode = S_IFREG;
		need = add_entry(req, plus, buf + used, size - used, job_virtual[dh->vnext], &e,
				 VIRT_OFF(dh->vnext + 1));
		if (need > size - used)
			break;
		used += need;
		dh->vnext++;
	}
reply:
	if (err && !used) {
		fuse_reply_err(req, err);
	} else if (fuse_reply_buf(req, buf, used) != 0) {
		/* Interrupted: the kernel never saw these lookups. */
		for (size_t i = 0; i < nlooked; i++)
			node_forget(looked[i], 1);
	}
	free(looked);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirhandle *dh = (struct dirhandle *)(uintptr_t)fi->fh;

	(void)ino;
	if (dh->d)
		closedir(dh->d);
	free(dh);
	fuse_reply_err(req, 0);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node *p = node_get(parent);
	int r = may_add(p, name, false);

	order_lock();
	if (r == 0 && mkdirat(p->fd, name, mode & MODE_KEPT) < 0)
		r = neg_errno();
	made(req, p, name, r, WATCH_DIR_ADDED, true);
}

/* unlink and rmdir: remove in the cache, then tell the enclave. */
static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct node *p = node_get(parent);
	struct stat st;
	int r = may_change(p, name);

	order_lock();
	if (r == 0 && fstatat(p->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = neg_errno();
	if (r == 0 && unlinkat(p->fd, name, dir ? AT_REMOVEDIR : 0) < 0)
		r = neg_errno();
	if (r == 0) {
		node_unlinked(st.st_dev, st.st_ino, p, name);
		changed_at(p, name, WATCH_REMOVED, dir);
	}
	order_unlock();
	fuse_reply_err(req, -r);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

static int do_rename(struct node *pf, const char *from, struct node *pt, const char *to, unsigned int flags)
{
	struct fs *fs = fs_get();
	struct stat st, st2, old;
	bool replaced;
	char *rf, *rt;
	int r = may_change(pf, from);

	if (r < 0)
		return r;
	r = may_add(pt, to, false);
	if (r == -EEXIST)
		return -EPERM; /* over a fixed name */
	if (r < 0)
		return r;
	if (pf->tree != pt->tree)
		return -EXDEV;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (fstatat(pf->fd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (!S_ISDIR(st.st_mode) && bad_package_at(pt, to))
		return -EINVAL;
	replaced = fstatat(pt->fd, to, &old, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat2(pf->fd, from, pt->fd, to, flags) < 0)
		return neg_errno();
	rf = node_child_path(pf, from);
	rt = node_child_path(pt, to);
	if (flags & RENAME_EXCHANGE) {
		node_moved(st.st_dev, st.st_ino, pf, from, pt, to);
		if (replaced)
			node_moved(old.st_dev, old.st_ino, pt, to, pf, from);
		/* Two paths changed content; rescans settle exchanged trees. */
		if (S_ISDIR(st.st_mode) || (replaced && S_ISDIR(old.st_mode))) {
			link_changed(fs->link, WATCH_RESCAN, true, tree_names[pt->tree], NULL);
		} else if (rf && rt) {
			link_changed(fs->link, WATCH_FILE_CHANGED, false, rf, NULL);
			link_changed(fs->link, WATCH_FILE_CHANGED, false, rt, NULL);
		}
		goto out;
	}
	/* A rename between two names of one file does nothing (POSIX): both
	 * names stay, and there is no move to report. */
	if (replaced && old.st_ino == st.st_ino && old.st_dev == st.st_dev &&
	    fstatat(pf->fd, from, &st2, AT_SYMLINK_NOFOLLOW) == 0 && st2.st_ino == st.st_ino)
		goto out;
	if (replaced)
		node_unlinked(old.st_dev, old.st_ino, pt, to);
	node_moved(st.st_dev, st.st_ino, pf, from, pt, to);
	if (rf && rt)
		link_changed(fs->link, WATCH_MOVED, S_ISDIR(st.st_mode), rf, rt);
	else
		link_changed(fs->link, WATCH_RESCAN, true, tree_names[pt->tree], NULL);
out:
	free(rf);
	free(rt);
	return 0;
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	int r;

	order_lock();
	r = do_rename(node_get(parent), name, node_get(newparent), newname, flags);
	order_unlock();
	fuse_reply_err(req, -r);
}

/* --- links and special files ---------------------------------------------------------- */

/* Hard links within one tree of dataset/ or model/. linkat() without
 * AT_SYMLINK_FOLLOW links a symlink itself, never its target. */
static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct node *n = node_get(ino), *p = node_get(newparent);
	struct stat st;
	struct at a;
	int r = n->kind == K_TREE && p->kind == K_TREE && n->tree != p->tree ? -EXDEV : may_add(p, newname, true);

	if (r == 0 && n->kind != K_TREE)
		r = -EPERM;
	if (r == 0 && n->tree == T_ENCRYPTED)
		r = -EPERM;
	if (r == 0 && n->top)
		r = -EPERM;
	order_lock();
	if (r == 0 && (r = node_lstat(n, &a, &st)) == 0) {
		if (linkat(a.dirfd, a.name, p->fd, newname, 0) < 0)
			r = neg_errno();
		at_done(&a);
	}
	made(req, p, newname, r, WATCH_FILE_CHANGED, false);
}

/* A symlink keeps its target as text: the mount never follows it (every
 * cache access is relative to an O_PATH descriptor, with O_NOFOLLOW or
 * AT_SYMLINK_NOFOLLOW); the kernel follows it for the caller by reading it. */
static void fs_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
	struct node *p = node_get(parent);
	int r = may_add(p, name, true);

	order_lock();
	if (r == 0 && symlinkat(target, p->fd, name) < 0)
		r = neg_errno();
	made(req, p, name, r, WATCH_FILE_CHANGED, true);
}

/* FIFOs, sockets and device nodes stay on the host (the engine does not
 * send them). The mount is nodev: a device node made here opens nothing
 * through it, and the cache dir is private to the mount's owner. The
 * kernel has checked CAP_MKNOD of the caller for device nodes. */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct node *p = node_get(parent);
	int fd, r;

	order_lock();
	if (S_ISREG(mode)) {
		/* encrypted/: packages are made by create, which waits for their verdict */
		r = may_add(p, name, true);
		if (r == 0) {
			fd = openat(p->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				    mode & MODE_KEPT);
			r = fd < 0 ? neg_errno() : 0;
			safe_close(fd);
		}
	} else if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) && !S_ISBLK(mode)) {
		r = -EINVAL;
	} else {
		r = may_add(p, name, true);
		if (r == 0 && mknodat(p->fd, name, (mode & S_IFMT) | (mode & MODE_KEPT), rdev) < 0)
			r = neg_errno();
	}
	made(req, p, name, r, WATCH_FILE_CHANGED, true);
}

/* The symlink is opened (O_PATH, not followed) and checked to be n's
 * before its target is read through that descriptor: a rename may put a
 * regular file under its name at any moment, and a target read by name
 * after the check would then fail with EINVAL, which the caller's path
 * walk returns as its own (truncate() or open() of a name that is a
 * symlink to a file: t0610 stress). */
static int node_readlink(struct node *n, char *buf, size_t size)
{
	struct stat st;
	struct at a;
	ssize_t len;
	int fd, r;

	r = node_at(n, &a);
	if (r < 0)
		return r;
	fd = openat(a.dirfd, a.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? neg_errno() : 0;
	at_done(&a);
	if (r == 0 && fstat(fd, &st) < 0)
		r = neg_errno();
	if (r == 0)
		r = same_file(n, &st);
	if (r == 0) {
		len = readlinkat(fd, "", buf, size - 1);
		if (len < 0)
			r = neg_errno();
		else
			buf[len] = '\0';
	}
	safe_close(fd);
	return r;
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct node *n = node_get(ino);
	char buf[PATH_MAX + 1];
	int r;

	if (n->kind != K_TREE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	r = node_readlink(n, buf, sizeof(buf));
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, buf);
}

/* --- files ----------------------------------------------------------------------------- */

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void start_digest(struct handle *h)
{
	h->sha = EVP_MD_CTX_new();
	if (h->sha && EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->sha);
		h->sha = NULL;
	}
	h->sha_off = 0;
}

/* A file directly in encrypted/. */
static bool is_package(const struct node *n)
{
	return n->kind == K_TREE && n->parent == node_top(T_ENCRYPTED);
}

/* A handle for the tree file n, open as fd (consumed). */
static int tree_handle(struct node *n, int fd, struct fuse_file_info *fi, bool made, struct handle **out)
{
	struct handle *h;
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = errno && !S_ISREG(st.st_mode) ? -EPERM : neg_errno();
		close(fd);
		return r;
	}
	h = handle_new(K_TREE, n);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	node_opened(n, fd);
	h->dirty = made || (fi->flags & O_TRUNC);
	h->pkg = is_package(n);
	if (h->pkg && st.st_size == 0)
		start_digest(h);
	if (!tree_writable(n->tree))
		fi->direct_io = 1; /* replaced and growing behind the kernel's back */
	else
		fi->keep_cache = 1; /* only written through the mount */
	*out = h;
	return 0;
}

/* O_DIRECT stays with the kernel: the mount's page cache is bypassed for
 * the caller (its buffers arrive aligned or not), while the cache file's
 * own file system would refuse unaligned requests with EINVAL (ext4). The
 * cache file is read and written buffered. */
static int cache_flags(int flags)
{
	return flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e = { 0 };
	struct node *p = node_get(parent), *n = NULL;
	struct handle *h = NULL;
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int flags = cache_flags(fi->flags), fd, r;
	bool made = true;

	r = may_add(p, name, (mode & S_IFMT) && !S_ISREG(mode));
	if (r == 0 && bad_package_at(p, name))
		r = -EINVAL;
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	order_lock();
	fd = openat(p->fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & MODE_KEPT);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		/* made by someone else since the kernel looked */
		made = false;
		fd = openat(p->fd, name, flags | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		r = neg_errno();
		order_unlock();
		fuse_reply_err(req, r == -ELOOP ? EPERM : -r);
		return;
	}
	if (made && geteuid() == 0 && ctx->uid != 0)
		(void)fchown(fd, ctx->uid, ctx->gid);
	if (fstat(fd, &e.attr) < 0) {
		r = neg_errno();
		order_unlock();
		close(fd);
		fuse_reply_err(req, -r);
		return;
	}
	n = node_found(p, name, -1, &e.attr);
	order_unlock();
	if (!n) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = tree_handle(n, fd, fi, made, &h);
	if (r == 0)
		r = node_attr(n, h, &e.attr);
	if (r == 0 && !(fi->fh = handle_register(h)))
		r = -ENOMEM;
	if (r < 0) {
		handle_free(h);
		node_forget(n, 1);
		fuse_reply_err(req, -r);
		return;
	}
	e.ino = node_id(n);
	e.generation = n->gen;
	e.attr_timeout = e.entry_timeout = node_timeout(n, &e.attr);
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_close(fi->fh);
		node_forget(n, 1);
	}
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct node *n = node_get(ino);
	struct handle *h = NULL;
	struct stat st;
	struct at a;
	int fd, r = 0;

	switch (n->kind) {
	case K_TREE:
		if (!tree_writable(n->tree) && wants_write(fi->flags)) {
			r = -EROFS;
			break;
		}
		if (n->top) {
			r = -EISDIR;
			break;
		}
		/* No rename between finding n's name and opening it: an
		 * O_TRUNC open of another file by that name would truncate it
		 * before same_file() refuses it. */
		pthread_rwlock_rdlock(&order_rw);
		r = node_at(n, &a);
		fd = r < 0 ? -1 : openat(a.dirfd, a.name, cache_flags(fi->flags) | O_NOFOLLOW | O_CLOEXEC);
		if (r == 0 && fd < 0)
			r = neg_errno();
		at_done(&a);
		pthread_rwlock_unlock(&order_rw);
		if (r < 0)
			break;
		if (fstat(fd, &st) < 0 || (r = same_file(n, &st)) < 0) {
			r = r < 0 ? r : neg_errno();
			close(fd);
			break;
		}
		r = tree_handle(n, fd, fi, false, &h);
		break;
	case K_STATUS:
		if (wants_write(fi->flags)) {
			r = -EACCES;
			break;
		}
		h = handle_new(K_STATUS, n);
		if (!h)
			break;
		r = link_status(fs->link, &h->text, &h->textlen);
		break;
	case K_RUN:
		h = handle_new(K_RUN, n);
		break;
	case K_CTL:  /* written only */
	case K_WAIT: /* read only; its size says nothing: every read comes here */
		if ((fi->flags & O_ACCMODE) != (n->kind == K_CTL ? O_WRONLY : O_RDONLY)) {
			r = -EACCES;
			break;
		}
		h = handle_new(n->kind, n);
		if (h)
			h->job = n->job;
		fi->direct_io = n->kind == K_WAIT;
		break;
	case K_ROOT:
		r = -EISDIR;
		break;
	default:
		r = -ENOENT;
	}
	if (r == 0 && (!h || !(fi->fh = handle_register(h))))
		r = -ENOMEM;
	if (r < 0) {
		handle_free(h);
		fuse_reply_err(req, -r);
		return;
	}
	if (h->kind != K_TREE)
		fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		handle_close(fi->fh);
}

/* output/ and jobs/ files are replaced whole by the sync engine (a job
 * appending a line and closing its file makes a new version). An open file
 * there follows its name, as tail -f expects of a growing file: a read
 * after a replacement reads the new version. dup3() swaps the descriptor
 * under concurrent readers atomically. */
static void follow_name(struct handle *h)
{
	struct stat now, mine;
	struct node *p;
	char *name = NULL;
	int fd;

	if (tree_writable(h->node->tree) || !(p = node_name(h->node, &name)))
		return;
	if (fstatat(p->fd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(now.st_mode) &&
	    fstat(h->fd, &mine) == 0 && (now.st_ino != mine.st_ino || now.st_dev != mine.st_dev)) {
		fd = openat(p->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			(void)dup3(fd, h->fd, O_CLOEXEC);
			close(fd);
		}
	}
	node_release(p);
	free(name);
}

static void fs_read_h(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi, struct handle *h)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	char text[RUN_TEXT_MAX];
	const char *src = NULL;
	size_t len = 0;

	(void)ino;
	switch (h->kind) {
	case K_TREE:
		follow_name(h);
		/* libfuse splices or reads straight from the cache file. */
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = h->fd;
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	case K_RUN:
		len = (size_t)run_text(h, text, sizeof(text));
		src = text;
		break;
	case K_WAIT:
		/* Answered now if the job has ended, else when it does. */
		wait_read(req, h->job, size, off);
		return;
	case K_STATUS:
		src = h->text;
		len = h->textlen;
		break;
	default:
		break;
	}
	if (!src || off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, src + off, size);
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_read_h(req, ino, size, off, fi, h);
	handle_put(h);
}

static void fs_write_h(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi, struct handle *h)
{
	int r;

	(void)ino;
	switch (h->kind) {
	case K_TREE:
		r = io_pwrite_all(h->fd, buf, size, off);
		if (r < 0)
			break;
		pthread_mutex_lock(&h->mu);
		h->dirty = true;
		if (h->sha && off == h->sha_off && EVP_DigestUpdate(h->sha, buf, size) == 1) {
			h->sha_off += (off_t)size;
		} else {
			EVP_MD_CTX_free(h->sha);
			h->sha = NULL;
		}
		pthread_mutex_unlock(&h->mu);
		r = (int)size;
		break;
	case K_RUN:
		r = run_write(h, buf, size);
		break;
	case K_CTL:
		r = ctl_write(h, buf, size);
		break;
	default:
		r = -EACCES;
	}
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_write_h(req, ino, buf, size, off, fi, h);
	handle_put(h);
}

static int package_flush(struct handle *h, const char *rel)
{
	struct fs *fs = fs_get();
	const char *name = rel + strlen("encrypted/");
	uint8_t digest[32];
	char msg[WIRE_TEXT_MAX + 1];
	struct stat st;
	int r = 0;

	pthread_mutex_lock(&h->mu);
	if (h->sha && fstat(h->fd, &st) == 0 && st.st_size == h->sha_off) {
		r = EVP_DigestFinal_ex(h->sha, digest, NULL) == 1 ? 0 : -EIO;
		EVP_MD_CTX_free(h->sha);
		h->sha = NULL;
	} else {
		r = 1;
	}
	pthread_mutex_unlock(&h->mu);
	if (r == 1) /* writes were not one sequential stream */
		r = pkg_file_digest(h->fd, digest);
	if (r < 0)
		return r;
	r = link_package_verdict(fs->link, name, digest, msg, sizeof(msg));
	if (r < 0)
		log_warn("package %s: %s (%s)", name, msg, strerror(-r));
	return r;
}

/* The file open as h changed (order_rw held to write). The engine sends
 * it under the name the mount knows and, for a file with several names,
 * links the names the enclave holds of it to the new version
 * (sync/engine-tx.c). A file whose known name is gone but that still has
 * another (a hard link) is found by a rescan of its tree. */
static void open_file_changed(struct fs *fs, struct handle *h)
{
	struct stat st;
	char *rel = node_path(h->node);

	if (rel)
		link_changed(fs->link, WATCH_FILE_CHANGED, false, rel, NULL);
	else if (fstat(h->fd, &st) == 0 && st.st_nlink > 0)
		link_changed(fs->link, WATCH_RESCAN, true, tree_names[h->node->tree], NULL);
	free(rel);
}

/* A file's content changed. */
static void file_changed(struct fs *fs, const char *rel)
{
	link_changed(fs->link, WATCH_FILE_CHANGED, false, rel, NULL);
}

/* A dataset/ or model/ file larger than the free space the enclave last
 * reported fails its writer at close() (ENOSPC). It stays here and is sent
 * all the same (space may be freed before it arrives); a file that passes
 * this check and still finds no room fails the next .run, which names it. */
static int store_check(struct handle *h, const char *rel)
{
	struct stat st;
	uint64_t held;

	if (fstat(h->fd, &st) < 0)
		return 0;
	/* What the enclave will hold: holes stay holes there. */
	held = (uint64_t)st.st_blocks * 512;
	if (held > (uint64_t)st.st_size)
		held = (uint64_t)st.st_size;
	if (link_store_check(fs_get()->link, held) == 0)
		return 0;
	log_warn("%s: %llu bytes do not fit in the enclave's store", rel, (unsigned long long)held);
	return -ENOSPC;
}

static int tree_flush(struct handle *h)
{
	struct fs *fs = fs_get();
	char *rel;
	bool dirty;
	int r = 0;

	pthread_mutex_lock(&h->mu);
	dirty = h->dirty;
	h->dirty = false;
	pthread_mutex_unlock(&h->mu);
	if (!dirty)
		return 0;
	order_lock();
	open_file_changed(fs, h);
	order_unlock();
	rel = node_path(h->node);
	if (!rel)
		return 0; /* unlinked since */
	if (h->pkg && pkg_path_name(rel))
		r = package_flush(h, rel);
	else
		r = store_check(h, rel);
	free(rel);
	return r;
}

static void fs_flush_h(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct handle *h)
{
	int r = 0;

	(void)ino;
	if (h->kind == K_RUN)
		r = run_flush(h);
	else if (h->kind == K_TREE)
		r = tree_flush(h);
	fuse_reply_err(req, -r);
}

static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_flush_h(req, ino, fi, h);
	handle_put(h);
}

static void fs_release_h(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct handle *h)
{
	(void)ino;
	(void)fi;
	/* Written after the last flush (through a duplicated descriptor). */
	if (h->kind == K_TREE && h->dirty) {
		order_lock();
		open_file_changed(fs_get(), h);
		order_unlock();
	}
	fuse_reply_err(req, 0);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_release_h(req, ino, fi, h);
	handle_put(h);
	handle_close(fi->fh);
}

static void fs_fsync_h(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi, struct handle *h)
{
	int r = 0;

	(void)ino;
	if (h->kind == K_TREE && (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		r = errno;
	fuse_reply_err(req, r);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_fsync_h(req, ino, datasync, fi, h);
	handle_put(h);
}

static void fs_fallocate_h(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi, struct handle *h)
{

	(void)ino;
	if (!h || h->kind != K_TREE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fallocate(h->fd, mode, off, len) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	pthread_mutex_lock(&h->mu);
	h->dirty = true;
	EVP_MD_CTX_free(h->sha);
	h->sha = NULL;
	pthread_mutex_unlock(&h->mu);
	fuse_reply_err(req, 0);
}

static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct handle *h = handle_get(fi->fh);

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	fs_fallocate_h(req, ino, mode, off, len, fi, h);
	handle_put(h);
}

/* --- attributes ------------------------------------------------------------------------ */

/* The size of an open file changed (ftruncate). */
static void handle_truncated(struct handle *h, off_t size)
{
	pthread_mutex_lock(&h->mu);
	h->dirty = true;
	EVP_MD_CTX_free(h->sha);
	h->sha = NULL;
	if (size == 0 && h->pkg)
		start_digest(h);
	pthread_mutex_unlock(&h->mu);
}

static int set_times(struct node *n, struct handle *h, const struct stat *attr, int to_set)
{
	struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
	struct stat st;
	struct at a;
	int r;

	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (h && h->fd >= 0)
		return futimens(h->fd, tv) < 0 ? neg_errno() : 0;
	r = node_lstat(n, &a, &st);
	if (r < 0)
		return r;
	r = utimensat(a.dirfd, a.name, tv, AT_SYMLINK_NOFOLLOW) < 0 ? neg_errno() : 0;
	at_done(&a);
	return r;
}

static int set_attr_at(struct node *n, struct handle *h, const struct stat *attr, int to_set, struct at *a);

static int set_attr(struct node *n, struct handle *h, const struct stat *attr, int to_set)
{
	struct stat st;
	struct at a;
	int r;

	if (n->kind == K_RUN || n->kind == K_CTL)
		return to_set == FUSE_SET_ATTR_SIZE ? 0 : -EPERM; /* an O_TRUNC open */
	if (n->kind == K_WAIT)
		return -EPERM;
	if (n->kind != K_TREE)
		return -EPERM;
	if (!tree_writable(n->tree))
		return -EROFS;
	/* encrypted/, dataset/ or model/ itself: tar and cp -a set its mode
	 * and times, which stay on the host (the enclave has its own). */
	if (n->top && (to_set & FUSE_SET_ATTR_SIZE))
		return -EPERM;
	if (h && h->fd >= 0) /* through an open file: also once it is unlinked */
		return set_attr_at(n, h, attr, to_set, NULL);
	r = node_lstat(n, &a, &st);
	if (r < 0)
		return r;
	r = set_attr_at(n, NULL, attr, to_set, &a);
	at_done(&a);
	return r;
}

static int set_attr_at(struct node *n, struct handle *h, const struct stat *attr, int to_set, struct at *a)
{
	struct fs *fs = fs_get();
	char *rel;
	int fd, r;

	if (to_set & FUSE_SET_ATTR_MODE) {
		mode_t mode = attr->st_mode & MODE_KEPT;
		if (h ? fchmod(h->fd, mode) < 0 : fchmodat(a->dirfd, a->name, mode, AT_SYMLINK_NOFOLLOW) < 0)
			return errno == EOPNOTSUPP ? -EPERM : neg_errno();
	}
	/* Ownership stays on the host: the enclave's files belong to its jobs. */
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		if (h ? fchown(h->fd, uid, gid) < 0 : fchownat(a->dirfd, a->name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return neg_errno();
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (h) {
			if (ftruncate(h->fd, attr->st_size) < 0)
				return neg_errno();
			handle_truncated(h, attr->st_size);
		} else {
			fd = openat(a->dirfd, a->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return neg_errno();
			r = ftruncate(fd, attr->st_size) < 0 ? neg_errno() : 0;
			if (r == 0 && (rel = node_path(n))) {
				file_changed(fs, rel);
				free(rel);
			}
			close(fd);
			if (r < 0)
				return r;
		}
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		      FUSE_SET_ATTR_MTIME_NOW)) {
		r = set_times(n, h, attr, to_set);
		if (r < 0)
			return r;
	}
	if (!n->top && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) &&
	    (rel = node_path(n))) {
		/* The content is reported by whoever writes it (a path
		 * truncate above, an open file at its close): a file's mode
		 * and times alone travel without it. */
		link_changed(fs->link, n->type == S_IFDIR ? WATCH_DIR_CHANGED : WATCH_ATTR_CHANGED,
			     n->type == S_IFDIR, rel, NULL);
		free(rel);
	}
	return 0;
}

static void fs_setattr_h(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi, struct handle *h)
{
	struct node *n = node_get(ino);
	struct stat st;
	int r;

	order_lock();
	r = set_attr(n, h && h->kind == K_TREE ? h : NULL, attr, to_set);
	order_unlock();
	if (r == 0)
		r = node_attr(n, h, &st);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, node_timeout(n, &st));
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	/* Through an open file, or by name (also when that file was closed
	 * meanwhile). */
	struct handle *h = fi ? handle_get(fi->fh) : NULL;

	fs_setattr_h(req, ino, attr, to_set, fi, h);
	handle_put(h);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (fstatvfs(fs_get()->cachefd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct node *n = node_get(ino);
	struct stat st;
	struct at a;
	int r = 0;

	switch (n->kind) {
	case K_TREE:
		if ((mask & W_OK) && !tree_writable(n->tree))
			r = -EROFS;
		else if ((r = node_lstat(n, &a, &st)) == 0) {
			if (faccessat(a.dirfd, a.name, mask, AT_SYMLINK_NOFOLLOW) < 0)
				r = neg_errno();
			at_done(&a);
		}
		break;
	case K_STATUS:
		r = (mask & W_OK) ? -EACCES : 0;
		break;
	default:
		break;
	}
	fuse_reply_err(req, -r);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The kernel applies the caller's umask to created modes (the
	 * daemon's own is 0, enclave-fs.c). */
	conn->want &= ~(unsigned)FUSE_CAP_DONT_MASK;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/* Replies to reads spliced from the cache file. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	/* READDIRPLUS: in the trees whose attributes the kernel keeps
	 * (node_timeout()) each entry comes with its node, and `ls -l` costs
	 * no LOOKUP or GETATTR per file; elsewhere entries come without, and
	 * the kernel looks each name up. The kernel asks for it when it sees
	 * it pays (READDIRPLUS_AUTO). */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.statfs = fs_statfs,
	.access = fs_access,
	.create = fs_create,
	.fallocate = fs_fallocate,
};
