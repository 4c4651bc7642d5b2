/* The FUSE operations of the mount (fsops.h): the tree operations, which
 * pass through to the cache, and the dispatch to the virtual nodes
 * (control.c). Paths arrive absolute ("/dataset/a"); where.c maps them to
 * the cache. Operations on the read-write trees act on the cache and queue
 * the change on the link; only flush of a package and a .run write wait for
 * the enclave. */
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
#include "pathsafe.h"
#include "link.h"
#include "package.h"
#include "verdict.h"
#include "log.h"
#include "proto.h"
#include "util.h"

static void fill_virtual(struct stat *st, ino_t ino, mode_t mode, off_t size)
{
	struct fs *fs = fs_get();

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = size;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mounted;
	st->st_blksize = 4096;
}

/* cp and friends size their I/O by st_blksize: one FUSE request each. */
#define TREE_BLKSIZE (1 << 20)

static void strip_write(struct stat *st)
{
	st->st_mode &= ~(mode_t)0222;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	WHERE w = WHERE_INIT;
	char buf[32], *json;
	size_t len;
	int r;

	if (h && h->kind == K_TREE) {
		if (fstat(h->fd, st) < 0)
			return neg_errno();
		if (!tree_writable(h->tree))
			strip_write(st);
		st->st_blksize = TREE_BLKSIZE;
		return 0;
	}
	if (!path)
		return -ENOENT;
	r = classify(path, &w);
	if (r < 0)
		return r;
	switch (w.kind) {
	case K_ROOT:
		fill_virtual(st, INO_ROOT, S_IFDIR | 0755, 4096);
		st->st_nlink = 2 + T_COUNT;
		return 0;
	case K_RUN:
		fill_virtual(st, INO_RUN, S_IFREG | 0644,
			     run_text(h ? h->job : link_last_job(fs->link), buf, sizeof(buf)));
		return 0;
	case K_STATUS:
		r = link_status(fs->link, &json, &len);
		if (r < 0)
			return r;
		free(json);
		fill_virtual(st, INO_STATUS, S_IFREG | 0444, (off_t)len);
		return 0;
	case K_CTL:
		snprintf(buf, sizeof(buf), "jobs/%u", w.job);
		if (fstatat(fs->cachefd, buf, st, AT_SYMLINK_NOFOLLOW) < 0)
			return neg_errno();
		fill_virtual(st, INO_CTL(w.job), S_IFREG | 0200, 0);
		return 0;
	case K_TREE:
		if (fstatat(w.at.dirfd, w.at.name, st, AT_SYMLINK_NOFOLLOW) < 0)
			return neg_errno();
		if (!tree_writable(w.tree))
			strip_write(st);
		st->st_blksize = TREE_BLKSIZE;
		return 0;
	case K_NONE:
		break;
	}
	return -ENOENT;
}

/* --- directories ------------------------------------------------------------------- */

struct dirhandle {
	DIR *d;
	enum tree tree;
	uint32_t jobdir; /* jobs/N: lists ctl too */
};

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dirhandle *dh;
	WHERE w = WHERE_INIT;
	int fd, r = classify(path, &w);

	if (r < 0)
		return r;
	if (w.kind == K_ROOT) {
		fi->fh = 0;
		return 0;
	}
	if (w.kind != K_TREE)
		return w.kind == K_NONE ? -ENOENT : -ENOTDIR;
	dh = calloc(1, sizeof(*dh));
	if (!dh)
		return -ENOMEM;
	fd = openat(w.at.dirfd, w.at.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(dh->d = fdopendir(fd))) {
		r = neg_errno();
		safe_close(fd);
		free(dh);
		return r;
	}
	dh->tree = w.tree;
	if (w.tree == T_JOBS && !w.top && !strchr(w.rel + strlen("jobs/"), '/')) {
		unsigned long long job;
		if (parse_u64(w.rel + strlen("jobs/"), 1, UINT32_MAX, &job) == 0)
			dh->jobdir = (uint32_t)job;
	}
	fi->fh = (uintptr_t)dh;
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirhandle *dh = (struct dirhandle *)(uintptr_t)fi->fh;
	enum fuse_fill_dir_flags plus = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
	struct dirent *de;
	struct stat st;

	(void)path;
	(void)off;
	if (!dh) {
		static const char *const names[] = { ".",      "..",   "encrypted", "dataset", "model",
						     "output", "jobs", ".run",      ".status" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			/* Entries carry their inode numbers (d_ino). */
			memset(&st, 0, sizeof(st));
			st.st_mode = i < 7 ? S_IFDIR : S_IFREG;
			st.st_ino = i == 0 ? INO_ROOT : i == 7 ? INO_RUN : i == 8 ? INO_STATUS : INO_UNKNOWN;
			if (i >= 2 && i < 7 && fstatat(fs_get()->cachefd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
				st.st_ino = INO_UNKNOWN;
			if (fill(buf, names[i], &st, 0, 0))
				break;
		}
		return 0;
	}
	rewinddir(dh->d);
	errno = 0;
	while ((de = readdir(dh->d))) {
		const struct stat *stp = NULL;

		if (plus && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    fstatat(dirfd(dh->d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!tree_writable(dh->tree))
				strip_write(&st);
			stp = &st;
		} else {
			memset(&st, 0, sizeof(st));
			st.st_ino = de->d_ino;
			st.st_mode = DTTOIF(de->d_type);
			stp = &st;
			if (fill(buf, de->d_name, stp, 0, 0))
				return 0;
			continue;
		}
		if (fill(buf, de->d_name, stp, 0, plus))
			return 0;
	}
	if (errno)
		return neg_errno();
	if (dh->jobdir) {
		memset(&st, 0, sizeof(st));
		st.st_ino = INO_CTL(dh->jobdir);
		st.st_mode = S_IFREG;
		(void)fill(buf, "ctl", &st, 0, 0);
	}
	return 0;
}

static int fs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct dirhandle *dh = (struct dirhandle *)(uintptr_t)fi->fh;

	(void)path;
	if (dh) {
		closedir(dh->d);
		free(dh);
	}
	return 0;
}

/* --- files --------------------------------------------------------------------------- */

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

static int open_tree_file(const struct where *w, struct fuse_file_info *fi, bool create, mode_t mode)
{
	struct fuse_context *ctx = fuse_get_context();
	/* O_DIRECT stays with the kernel: the mount's page cache is bypassed
	 * for the caller (its buffers arrive aligned or not), while the cache
	 * file's own file system would refuse unaligned requests with EINVAL
	 * (ext4). The cache file is read and written buffered. */
	int flags = fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT);
	struct handle *h;
	struct stat st;

	if (!tree_writable(w->tree) && (create || wants_write(fi->flags)))
		return -EROFS;
	if (w->top)
		return create ? -EEXIST : -EISDIR;
	h = handle_new(K_TREE);
	if (!h)
		return -ENOMEM;
	h->tree = w->tree;
	h->rel = strdup(w->rel);
	if (!h->rel) {
		handle_free(h);
		return -ENOMEM;
	}
	if (create)
		flags |= O_CREAT | O_EXCL;
	h->fd = openat(w->at.dirfd, w->at.name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (h->fd < 0) {
		int r = neg_errno();
		handle_free(h);
		return r == -ELOOP ? -EPERM : r; /* a symlink planted in the cache */
	}
	if (create && geteuid() == 0 && ctx->uid != 0)
		(void)fchown(h->fd, ctx->uid, ctx->gid);
	if (fstat(h->fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		handle_free(h);
		return -EPERM;
	}
	h->dirty = create || (fi->flags & O_TRUNC);
	h->pkg = is_package(w);
	if (h->pkg && st.st_size == 0)
		start_digest(h);
	if (!tree_writable(w->tree))
		fi->direct_io = 1; /* replaced and growing behind the kernel's back */
	open_files_add(h);
	fi->fh = (uintptr_t)h;
	return 0;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	WHERE w = WHERE_INIT;
	int r = classify(path, &w);

	if (r < 0)
		return r;
	if (w.kind == K_NONE)
		return -EPERM; /* the top level is fixed */
	if (w.kind != K_TREE)
		return -EEXIST;
	if (((mode & S_IFMT) && !S_ISREG(mode)) || w.hidden)
		return -EPERM;
	if (bad_package_name(w.rel))
		return -EINVAL;
	return open_tree_file(&w, fi, true, mode & MODE_KEPT);
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h;
	WHERE w = WHERE_INIT;
	int r = classify(path, &w);

	if (r < 0)
		return r;
	switch (w.kind) {
	case K_TREE:
		return open_tree_file(&w, fi, false, 0);
	case K_STATUS:
		if (wants_write(fi->flags))
			return -EACCES;
		h = handle_new(K_STATUS);
		if (!h)
			return -ENOMEM;
		r = link_status(fs->link, &h->text, &h->textlen);
		if (r < 0) {
			handle_free(h);
			return r;
		}
		break;
	case K_RUN:
		h = handle_new(K_RUN);
		break;
	case K_CTL:
		if ((fi->flags & O_ACCMODE) != O_WRONLY)
			return -EACCES;
		h = handle_new(K_CTL);
		if (h)
			h->job = w.job;
		break;
	case K_ROOT:
		return -EISDIR;
	default:
		return -ENOENT;
	}
	if (!h)
		return -ENOMEM;
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	return 0;
}

static void follow_name(struct handle *h);

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	char text[32];
	const char *src = NULL;
	size_t len = 0;
	ssize_t n;

	(void)path;
	switch (h->kind) {
	case K_TREE:
		follow_name(h);
		n = pread(h->fd, buf, size, off);
		return n < 0 ? neg_errno() : (int)n;
	case K_RUN:
		len = (size_t)run_text(h->job ? h->job : link_last_job(fs->link), text, sizeof(text));
		src = text;
		break;
	case K_STATUS:
		src = h->text;
		len = h->textlen;
		break;
	default:
		return 0;
	}
	if (off < 0 || (size_t)off >= len)
		return 0;
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	memcpy(buf, src + off, size);
	return (int)size;
}

/* output/ and jobs/ files are replaced whole by the sync engine (a job
 * appending a line and closing its file makes a new version). An open file
 * there follows its name, as tail -f expects of a growing file: a read
 * after a replacement reads the new version. dup2() swaps the descriptor
 * under concurrent readers atomically. */
static void follow_name(struct handle *h)
{
	struct fs *fs = fs_get();
	struct at at = { .own = -1 };
	struct stat now, mine;
	char *rel;
	int fd;

	if (tree_writable(h->tree) || !(rel = open_file_path(h)))
		return;
	if (at_resolve(fs->cachefd, rel, &at) == 0 &&
	    fstatat(at.dirfd, at.name, &now, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(now.st_mode) &&
	    fstat(h->fd, &mine) == 0 && (now.st_ino != mine.st_ino || now.st_dev != mine.st_dev)) {
		fd = openat(at.dirfd, at.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			(void)dup3(fd, h->fd, O_CLOEXEC);
			close(fd);
		}
	}
	at_release(&at);
	free(rel);
}

static int fs_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);
	struct fuse_bufvec *bv = malloc(sizeof(*bv));
	int n;

	if (!bv)
		return -ENOMEM;
	*bv = FUSE_BUFVEC_INIT(size);
	if (h->kind == K_TREE) {
		follow_name(h);
		/* Let libfuse splice or read straight from the cache file. */
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv->buf[0].fd = h->fd;
		bv->buf[0].pos = off;
		*bufp = bv;
		return 0;
	}
	bv->buf[0].mem = malloc(size ? size : 1);
	if (!bv->buf[0].mem) {
		free(bv);
		return -ENOMEM;
	}
	n = fs_read(path, bv->buf[0].mem, size, off, fi);
	if (n < 0) {
		free(bv->buf[0].mem);
		free(bv);
		return n;
	}
	bv->buf[0].size = (size_t)n;
	*bufp = bv;
	return 0;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);
	int r;

	(void)path;
	switch (h->kind) {
	case K_TREE:
		r = io_pwrite_all(h->fd, buf, size, off);
		if (r < 0)
			return r;
		pthread_mutex_lock(&h->mu);
		h->dirty = true;
		if (h->sha && off == h->sha_off && EVP_DigestUpdate(h->sha, buf, size) == 1) {
			h->sha_off += (off_t)size;
		} else {
			EVP_MD_CTX_free(h->sha);
			h->sha = NULL;
		}
		pthread_mutex_unlock(&h->mu);
		return (int)size;
	case K_RUN:
		return run_write(h, buf, size);
	case K_CTL:
		return ctl_write(h, buf, size);
	default:
		return -EACCES;
	}
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

/* A file's content changed through one of its names. The others (hard
 * links) changed too, and nothing names them: the file's tree is rescanned,
 * which finds every name whose size or time no longer matches the enclave's. */
static void file_changed(struct fs *fs, const char *rel, int fd)
{
	struct stat st;
	char tree[NAME_MAX + 1];
	size_t n = strcspn(rel, "/");

	link_changed(fs->link, WATCH_FILE_CHANGED, false, rel, NULL);
	if (fstat(fd, &st) == 0 && st.st_nlink > 1 && n < sizeof(tree)) {
		memcpy(tree, rel, n);
		tree[n] = '\0';
		link_changed(fs->link, WATCH_RESCAN, true, tree, NULL);
	}
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	char *rel;
	bool dirty;
	int r = 0;

	(void)path;
	if (h->kind == K_RUN)
		return run_flush(h);
	if (h->kind != K_TREE)
		return 0;
	pthread_mutex_lock(&h->mu);
	dirty = h->dirty;
	h->dirty = false;
	pthread_mutex_unlock(&h->mu);
	if (!dirty || !(rel = open_file_path(h)))
		return 0; /* unchanged, or unlinked since: nothing to send */
	file_changed(fs, rel, h->fd);
	if (h->pkg && pkg_path_name(rel))
		r = package_flush(h, rel);
	free(rel);
	return r;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	char *rel;

	(void)path;
	/* Written after the last flush (through a duplicated descriptor). */
	if (h->kind == K_TREE && h->dirty && (rel = open_file_path(h))) {
		file_changed(fs, rel, h->fd);
		free(rel);
	}
	handle_free(h);
	return 0;
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);

	(void)path;
	if (h->kind != K_TREE)
		return 0;
	return (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0 ? neg_errno() : 0;
}

/* Resolves a path for a metadata change: 0 for a read-write tree entry. */
static int changeable(const char *path, struct where *w)
{
	int r;

	if (!path) { /* through an open .run or ctl */
		where_release(w);
		*w = (struct where){ .at = { .own = -1 }, .kind = K_NONE };
		return -EPERM;
	}
	r = classify(path, w);

	if (r < 0)
		return r;
	switch (w->kind) {
	case K_TREE:
		if (!tree_writable(w->tree))
			return -EROFS;
		return w->top ? -EPERM : 0;
	case K_NONE:
		return -ENOENT;
	default:
		return -EPERM;
	}
}

/* encrypted/, dataset/ or model/ itself: tar and cp -a set its mode and
 * times, which stay on the host (the enclave has its own). */
static bool tree_top(const struct where *w)
{
	return w->kind == K_TREE && w->top && tree_writable(w->tree);
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	WHERE w = WHERE_INIT;
	int fd, r;

	if (h && h->kind == K_TREE) {
		if (ftruncate(h->fd, size) < 0)
			return neg_errno();
		pthread_mutex_lock(&h->mu);
		h->dirty = true;
		EVP_MD_CTX_free(h->sha);
		h->sha = NULL;
		if (size == 0 && h->pkg)
			start_digest(h);
		pthread_mutex_unlock(&h->mu);
		return 0;
	}
	if (h || !path)
		return 0; /* .run and ctl: an O_TRUNC open */
	r = classify(path, &w);
	if (r == 0 && (w.kind == K_RUN || w.kind == K_CTL))
		return 0;
	r = changeable(path, &w);
	if (r < 0)
		return r;
	fd = openat(w.at.dirfd, w.at.name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	r = ftruncate(fd, size) < 0 ? neg_errno() : 0;
	if (r == 0)
		file_changed(fs, w.rel, fd);
	close(fd);
	return r;
}

/* A metadata change made through an open file: queue it under its name now. */
static int changed_open(struct handle *h)
{
	char *rel = open_file_path(h);

	if (rel)
		link_changed(fs_get()->link, WATCH_DIR_CHANGED, false, rel, NULL);
	free(rel);
	return 0;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	WHERE w = WHERE_INIT;
	int r;

	mode &= MODE_KEPT;
	if (h && h->kind == K_TREE)
		return fchmod(h->fd, mode) < 0 ? neg_errno() : changed_open(h);
	r = changeable(path, &w);
	if (r < 0 && !tree_top(&w))
		return r;
	if (fchmodat(w.at.dirfd, w.at.name, mode, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == EOPNOTSUPP ? -EPERM : neg_errno();
	if (tree_top(&w))
		return 0;
	link_changed(fs->link, WATCH_DIR_CHANGED, false, w.rel, NULL);
	return 0;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);
	WHERE w = WHERE_INIT;
	int r;

	/* Ownership stays on the host: the enclave's files belong to its jobs. */
	if (h && h->kind == K_TREE)
		return fchown(h->fd, uid, gid) < 0 ? neg_errno() : 0;
	r = changeable(path, &w);
	if (r < 0 && !tree_top(&w))
		return r;
	return fchownat(w.at.dirfd, w.at.name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? neg_errno() : 0;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct fs *fs = fs_get();
	struct handle *h = fh(fi);
	WHERE w = WHERE_INIT;
	int r;

	if (h && h->kind == K_TREE)
		return futimens(h->fd, tv) < 0 ? neg_errno() : changed_open(h);
	r = changeable(path, &w);
	if (r < 0 && !tree_top(&w))
		return r;
	if (utimensat(w.at.dirfd, w.at.name, tv, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (tree_top(&w))
		return 0;
	link_changed(fs->link, WATCH_DIR_CHANGED, false, w.rel, NULL);
	return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	struct fs *fs = fs_get();
	struct fuse_context *ctx = fuse_get_context();
	WHERE w = WHERE_INIT;
	int r = changeable(path, &w);

	if (r == -ENOENT || (r == 0 && w.hidden))
		return -EPERM; /* a new top-level name, or a name libfuse keeps */
	if (r < 0)
		return w.kind == K_TREE && w.top ? -EEXIST : r;
	if (mkdirat(w.at.dirfd, w.at.name, mode & MODE_KEPT) < 0)
		return neg_errno();
	if (geteuid() == 0 && ctx->uid != 0)
		(void)fchownat(w.at.dirfd, w.at.name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
	link_changed(fs->link, WATCH_DIR_ADDED, true, w.rel, NULL);
	return 0;
}

/* unlink and rmdir: remove in the cache, then tell the enclave. */
static int remove_entry(const char *path, bool dir)
{
	struct fs *fs = fs_get();
	WHERE w = WHERE_INIT;
	int r = changeable(path, &w);

	if (r < 0)
		return r;
	if (unlinkat(w.at.dirfd, w.at.name, dir ? AT_REMOVEDIR : 0) < 0)
		return neg_errno();
	if (w.hidden)
		return 0; /* the enclave saw the unlink when libfuse hid it */
	if (!dir)
		open_files_gone(w.rel);
	link_changed(fs->link, WATCH_REMOVED, dir, w.rel, NULL);
	return 0;
}

static int fs_unlink(const char *path)
{
	return remove_entry(path, false);
}

static int fs_rmdir(const char *path)
{
	return remove_entry(path, true);
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	struct fs *fs = fs_get();
	WHERE wf = WHERE_INIT;
	WHERE wt = WHERE_INIT;
	struct stat st, st2;
	int r = changeable(from, &wf), rt = changeable(to, &wt);

	if (r < 0)
		return r;
	if (rt < 0)
		return rt == -ENOENT ? -EPERM : rt; /* ENOENT: a new top-level name */
	if (wf.tree != wt.tree)
		return -EXDEV;
	if (wt.hidden && !wf.hidden) {
		/* libfuse hiding an open file it was asked to unlink. */
		if (renameat(wf.at.dirfd, wf.at.name, wt.at.dirfd, wt.at.name) < 0)
			return neg_errno();
		open_files_gone(wf.rel);
		link_changed(fs->link, WATCH_REMOVED, false, wf.rel, NULL);
		return 0;
	}
	if (wf.hidden || wt.hidden)
		return -EPERM;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (fstatat(wf.at.dirfd, wf.at.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return neg_errno();
	if (!S_ISDIR(st.st_mode) && bad_package_name(wt.rel))
		return -EINVAL;
	if (renameat2(wf.at.dirfd, wf.at.name, wt.at.dirfd, wt.at.name, flags) < 0)
		return neg_errno();
	if (flags & RENAME_EXCHANGE) {
		char tmp[] = "\x01";  /* a name no path has */
		open_files_moved(wf.rel, tmp);
		open_files_moved(wt.rel, wf.rel);
		open_files_moved(tmp, wt.rel);
		/* Two paths changed content; rescans settle exchanged trees. */
		if (S_ISDIR(st.st_mode)) {
			link_changed(fs->link, WATCH_RESCAN, true, "", NULL);
		} else {
			link_changed(fs->link, WATCH_FILE_CHANGED, false, wf.rel, NULL);
			link_changed(fs->link, WATCH_FILE_CHANGED, false, wt.rel, NULL);
		}
		return 0;
	}
	/* A rename between two names of one file does nothing (POSIX): both
	 * names stay, and there is no move to report. */
	if (!S_ISDIR(st.st_mode) && fstatat(wf.at.dirfd, wf.at.name, &st2, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st2.st_ino == st.st_ino && st2.st_dev == st.st_dev)
		return 0;
	if (!S_ISDIR(st.st_mode))
		open_files_gone(wt.rel); /* replaced */
	open_files_moved(wf.rel, wt.rel);
	link_changed(fs->link, WATCH_MOVED, S_ISDIR(st.st_mode), wf.rel, wt.rel);
	return 0;
}

/* A new name in a read-write tree for something other than a regular file
 * or directory: encrypted/ holds packages only (EPERM). */
static int new_special(const char *path, struct where *w)
{
	int r = changeable(path, w);

	if (r == -ENOENT)
		return -EPERM; /* a new top-level name */
	if (r < 0)
		return w->kind == K_TREE && w->top ? -EEXIST : r;
	return w->tree == T_ENCRYPTED || w->hidden ? -EPERM : 0;
}

/* The new entry rel belongs to the caller, as a file it creates. */
static void own_new(const struct where *w)
{
	struct fuse_context *ctx = fuse_get_context();

	if (geteuid() == 0 && ctx->uid != 0)
		(void)fchownat(w->at.dirfd, w->at.name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
}

/* Hard links within one tree of dataset/ or model/. linkat() without
 * AT_SYMLINK_FOLLOW links a symlink itself, never its target. */
static int fs_link(const char *from, const char *to)
{
	struct fs *fs = fs_get();
	WHERE wf = WHERE_INIT;
	WHERE wt = WHERE_INIT;
	int r = changeable(from, &wf), rt = new_special(to, &wt);

	if (r < 0)
		return r;
	if (wt.kind == K_TREE && !wt.top && wf.tree != wt.tree)
		return -EXDEV;
	if (rt < 0)
		return rt;
	if (wf.tree == T_ENCRYPTED)
		return -EPERM;
	if (linkat(wf.at.dirfd, wf.at.name, wt.at.dirfd, wt.at.name, 0) < 0)
		return neg_errno();
	link_changed(fs->link, WATCH_FILE_CHANGED, false, wt.rel, NULL);
	return 0;
}

/* A symlink keeps its target as text: the mount never follows it (every
 * cache access is O_NOFOLLOW or AT_SYMLINK_NOFOLLOW); the kernel follows
 * it for the caller by reading it. */
static int fs_symlink(const char *target, const char *path)
{
	struct fs *fs = fs_get();
	WHERE w = WHERE_INIT;
	int r = new_special(path, &w);

	if (r < 0)
		return r;
	if (symlinkat(target, w.at.dirfd, w.at.name) < 0)
		return neg_errno();
	own_new(&w);
	link_changed(fs->link, WATCH_FILE_CHANGED, false, w.rel, NULL);
	return 0;
}

/* FIFOs, sockets and device nodes stay on the host (the engine does not
 * send them). The mount is nodev: a device node made here opens nothing
 * through it, and the cache dir is private to the mount's owner. The
 * kernel has checked CAP_MKNOD of the caller for device nodes. */
static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	struct fs *fs = fs_get();
	WHERE w = WHERE_INIT;
	int fd, r;

	if (S_ISREG(mode)) {
		r = changeable(path, &w);
		if (r == -ENOENT)
			return -EPERM;
		if (r < 0)
			return w.kind == K_TREE && w.top ? -EEXIST : r;
		if (w.tree == T_ENCRYPTED || w.hidden)
			return -EPERM; /* packages are made by create, which waits for their verdict */
		fd = openat(w.at.dirfd, w.at.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    mode & MODE_KEPT);
		if (fd < 0)
			return neg_errno();
		close(fd);
	} else {
		if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) && !S_ISBLK(mode))
			return -EINVAL;
		r = new_special(path, &w);
		if (r < 0)
			return r;
		if (mknodat(w.at.dirfd, w.at.name, (mode & S_IFMT) | (mode & MODE_KEPT), dev) < 0)
			return neg_errno();
	}
	own_new(&w);
	link_changed(fs->link, WATCH_FILE_CHANGED, false, w.rel, NULL);
	return 0;
}

/* A symlink's target, as text. */
static int fs_readlink(const char *path, char *buf, size_t size)
{
	WHERE w = WHERE_INIT;
	ssize_t n;
	int r = classify(path, &w);

	if (r < 0)
		return r;
	if (w.kind != K_TREE)
		return -EINVAL;
	n = readlinkat(w.at.dirfd, w.at.name, buf, size - 1);
	if (n < 0)
		return neg_errno();
	buf[n] = '\0';
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(fs_get()->cachefd, sv) < 0 ? neg_errno() : 0;
}

static int fs_access(const char *path, int mask)
{
	WHERE w = WHERE_INIT;
	int r = classify(path, &w);

	if (r < 0)
		return r;
	switch (w.kind) {
	case K_TREE:
		if ((mask & W_OK) && !tree_writable(w.tree))
			return -EROFS;
		return faccessat(w.at.dirfd, w.at.name, mask, AT_SYMLINK_NOFOLLOW) < 0 ? neg_errno() : 0;
	case K_STATUS:
		return (mask & W_OK) ? -EACCES : 0;
	case K_NONE:
		return -ENOENT;
	default:
		return 0;
	}
}

static int fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct handle *h = fh(fi);

	(void)path;
	if (!h || h->kind != K_TREE)
		return -EOPNOTSUPP;
	if (fallocate(h->fd, mode, off, len) < 0)
		return neg_errno();
	pthread_mutex_lock(&h->mu);
	h->dirty = true;
	EVP_MD_CTX_free(h->sha);
	h->sha = NULL;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* output/, jobs/ and the virtual files change behind the kernel's
	 * back, so nothing is cached by name or attribute. Open files are
	 * tracked by the mount (open_files), so operations on them need no
	 * path. Inode numbers are the cache files' and fixed ones for
	 * virtual nodes (INO_*). */
	cfg->use_ino = 1;
	cfg->hard_remove = 0;
	cfg->nullpath_ok = 1;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	/* The kernel applies the caller's umask to created modes (the
	 * daemon's own is 0, enclave-fs.c). */
	conn->want &= ~(unsigned)FUSE_CAP_DONT_MASK;
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	/* Replies to reads spliced from the cache file: without it libfuse
	 * allocates (mmap) and frees a buffer for every read. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	return fuse_get_context()->private_data;
}

const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.truncate = fs_truncate,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.statfs = fs_statfs,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.releasedir = fs_releasedir,
	.access = fs_access,
	.create = fs_create,
	.utimens = fs_utimens,
	.read_buf = fs_read_buf,
	.fallocate = fs_fallocate,
};
