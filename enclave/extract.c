#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extract.h"
#include "pathsafe.h"
#include "util.h"

struct ctx {
	struct archive *a;
	extract_read_fn rd;
	void *ud;
	int rd_err; /* the read callback's error, which libarchive does not keep */
	int root;
	struct extract_limits lim;
	uint64_t written, skipped, entries;
	const char *name; /* the entry being extracted, for messages */
	char *err;
	size_t errsz;
};

static int fail(struct ctx *c, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets err to "'<entry>': <message>", the entry rendered printable. */
static int fail(struct ctx *c, int r, const char *fmt, ...)
{
	size_t o = 0;
	va_list ap;

	if (!c->err || c->errsz == 0)
		return r;
	c->err[0] = '\0';
	if (c->name) {
		const char *s = c->name;
		char q[160];
		size_t n = 0;

		for (; *s && n < 120; s++) {
			unsigned char ch = (unsigned char)*s;

			if (ch < 0x20 || ch == 0x7f || ch == '\\')
				n += (size_t)snprintf(q + n, sizeof(q) - n, "\\x%02x", ch);
			else
				q[n++] = (char)ch;
		}
		q[n] = '\0';
		o = (size_t)snprintf(c->err, c->errsz, "'%s%s': ", q, *s ? "..." : "");
		if (o >= c->errsz)
			return r;
	}
	va_start(ap, fmt);
	vsnprintf(c->err + o, c->errsz - o, fmt, ap);
	va_end(ap);
	return r;
}

/* Fails with the current errno: "<what>: <strerror>". */
static int sysfail(struct ctx *c, const char *what)
{
	int r = neg_errno();

	return fail(c, r, "%s: %s", what, strerror(-r));
}

/* After a libarchive call failed: the read callback's error if it had one,
 * otherwise a corrupt (or unsupported) archive. */
static int archive_fail(struct ctx *c)
{
	const char *s = archive_error_string(c->a);

	if (c->rd_err)
		return fail(c, c->rd_err, "reading the archive: %s", strerror(-c->rd_err));
	if (archive_errno(c->a) == ENOMEM)
		return fail(c, -ENOMEM, "out of memory");
	return fail(c, -EBADMSG, "corrupt archive: %s", s ? s : "unknown error");
}

static la_ssize_t read_cb(struct archive *a, void *p, const void **buf)
{
	struct ctx *c = p;
	ssize_t n = c->rd(c->ud, buf);

	if (n < 0) {
		c->rd_err = n < -4095 ? -EIO : (int)n;
		archive_set_error(a, -c->rd_err, "read: %s", strerror(-c->rd_err));
		return -1;
	}
	return n;
}

/* Turns an archive path into the canonical relative path in buf, or refuses
 * it. Returns 1 for the root itself ("." or "./"), else 0. */
static int entry_path(struct ctx *c, const char *what, const char *name, bool isdir,
		      char buf[static PATH_MAX])
{
	const char *p;
	size_t n;

	if (!name || !*name)
		return fail(c, -EPERM, "%s: empty path", what);
	if (name[0] == '/')
		return fail(c, -EPERM, "%s: absolute path", what);
	for (p = name;; p++) {
		const char *end = strchrnul(p, '/');

		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return fail(c, -EPERM, "%s: '..' component", what);
		if (!*end)
			break;
		p = end;
	}
	if (name[0] == '.' && name[1] == '/')
		name += 2;
	if (!*name || !strcmp(name, "."))
		return 1;
	n = strlen(name);
	if (isdir && name[n - 1] == '/')
		n--;
	if (n >= PATH_MAX)
		return fail(c, -EPERM, "%s: path too long", what);
	memcpy(buf, name, n);
	buf[n] = '\0';
	if (path_check(buf) < 0)
		return fail(c, -EPERM, "%s: path not canonical", what);
	return 0;
}

/* Opens a directory below dfd without following a symlink, creating it 0755
 * (exactly: not subject to the umask) if create and missing. */
static int open_dir(struct ctx *c, int dfd, const char *name, bool create)
{
	struct stat st;
	int fd, r;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	r = neg_errno();
	if (r == -ENOENT && create) {
		if (mkdirat(dfd, name, 0755) < 0)
			return sysfail(c, "mkdir");
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchmod(fd, 0755) < 0) {
			r = sysfail(c, "mkdir");
			safe_close(fd);
			return r;
		}
		return fd;
	}
	if ((r == -ELOOP || r == -ENOTDIR) && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return fail(c, -EPERM, S_ISLNK(st.st_mode) ? "'%s' on the way is a symlink"
							   : "'%s' on the way is not a directory",
			    name);
	if (r == -ENOENT)
		return r;
	return fail(c, r, "open %s: %s", name, strerror(-r));
}

/* Opens the directory that holds the canonical path rel and points *base at
 * its last component. Missing directories are created when create, otherwise
 * -ENOENT (without a message). The fd returned is always the caller's. */
static int open_parent(struct ctx *c, const char *rel, bool create, const char **base)
{
	char name[NAME_MAX + 1];
	const char *p = rel, *slash;
	int dfd, fd;

	dfd = fcntl(c->root, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return sysfail(c, "dup");
	while ((slash = strchr(p, '/'))) {
		memcpy(name, p, (size_t)(slash - p));
		name[slash - p] = '\0';
		fd = open_dir(c, dfd, name, create);
		safe_close(dfd);
		if (fd < 0)
			return fd;
		dfd = fd;
		p = slash + 1;
	}
	*base = p;
	return dfd;
}

/* Makes way for a new entry of type `type` at base: nothing there, or a
 * regular file that a later regular file (or hard link) replaces, as tar
 * does. Returns 1 if a directory is there and a directory is wanted. */
static int make_room(struct ctx *c, int pfd, const char *base, mode_t type)
{
	struct stat st;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : sysfail(c, "stat");
	if (S_ISDIR(st.st_mode) && type == S_IFDIR)
		return 1;
	if (S_ISREG(st.st_mode) && type == S_IFREG) {
		if (unlinkat(pfd, base, 0) < 0)
			return sysfail(c, "unlink");
		return 0;
	}
	if (S_ISLNK(st.st_mode))
		return fail(c, -EPERM, "would replace a symlink");
	if (S_ISDIR(st.st_mode))
		return fail(c, -EPERM, "would replace a directory");
	return fail(c, -EPERM, "duplicate entry of another type");
}

/* Charges n bytes of data to the limits; size is the file's extent so far. */
static int charge(struct ctx *c, uint64_t n, uint64_t extent)
{
	if (extent > c->lim.max_file_bytes)
		return fail(c, -EFBIG, "file larger than %llu bytes",
			    (unsigned long long)c->lim.max_file_bytes);
	if (n > c->lim.max_total_bytes - (c->written + c->skipped))
		return fail(c, -EFBIG, "archive holds more than %llu bytes",
			    (unsigned long long)c->lim.max_total_bytes);
	return 0;
}

static int write_data(struct ctx *c, int fd)
{
	uint64_t end = 0;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(c->a, &buf, &size, &off);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN && r != ARCHIVE_EOF)
			return archive_fail(c);
		if (off < 0 || (uint64_t)off > c->lim.max_file_bytes)
			return off < 0 ? fail(c, -EBADMSG, "corrupt archive: negative offset")
				       : charge(c, 0, (uint64_t)off);
		if (r == ARCHIVE_EOF) {
			/* A sparse file may end in a hole: off is then its size. */
			if ((uint64_t)off > end && ftruncate(fd, off) < 0)
				return sysfail(c, "truncate");
			return 0;
		}
		r = charge(c, size, size > c->lim.max_file_bytes - (uint64_t)off
					    ? UINT64_MAX
					    : (uint64_t)off + size);
		if (r < 0)
			return r;
		r = io_pwrite_all(fd, buf, size, off);
		if (r < 0)
			return fail(c, r, "write: %s", strerror(-r));
		c->written += size;
		end = MAX(end, (uint64_t)off + size);
	}
}

static int extract_file(struct ctx *c, int pfd, const char *base, struct archive_entry *e)
{
	mode_t mode = archive_entry_perm(e) & 0111 ? 0755 : 0644;
	int fd, r;

	r = make_room(c, pfd, base, S_IFREG);
	if (r < 0)
		return r;
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return sysfail(c, "create");
	r = write_data(c, fd);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = sysfail(c, "chmod");
	if (r == 0 && archive_entry_mtime_is_set(e)) {
		struct timespec ts[2] = {
			{ .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
		};

		ts[1] = ts[0];
		/* Best effort: a time the filesystem cannot store is no reason to refuse. */
		(void)futimens(fd, ts);
	}
	safe_close(fd);
	return r;
}

static int extract_dir(struct ctx *c, int pfd, const char *base)
{
	int fd, r;

	r = make_room(c, pfd, base, S_IFDIR);
	if (r != 0)
		return r < 0 ? r : 0;
	fd = open_dir(c, pfd, base, true);
	if (fd < 0)
		return fd;
	safe_close(fd);
	return 0;
}

/* The target, resolved lexically from the link's directory, must stay in the
 * tree. ".." is allowed only before the first name: after a name that is
 * itself a symlink, the lexical answer would not be the kernel's. */
static int check_symlink(struct ctx *c, const char *rel, const char *target)
{
	size_t depth = 0;
	bool named = false;
	const char *p;

	if (!*target)
		return fail(c, -EPERM, "empty symlink target");
	if (strlen(target) >= PATH_MAX)
		return fail(c, -EPERM, "symlink target too long");
	if (target[0] == '/')
		return fail(c, -EPERM, "symlink to an absolute path");
	for (p = rel; *p; p++)
		depth += *p == '/';
	for (p = target;; p++) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (named)
				return fail(c, -EPERM, "symlink target has '..' after a name");
			if (depth == 0)
				return fail(c, -EPERM, "symlink leaves the tree");
			depth--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			named = true;
		}
		if (!*end)
			return 0;
		p = end;
	}
}

static int extract_symlink(struct ctx *c, int pfd, const char *rel, const char *base,
			   struct archive_entry *e)
{
	const char *target = archive_entry_symlink(e);
	int r;

	r = check_symlink(c, rel, target ? target : "");
	if (r < 0)
		return r;
	r = make_room(c, pfd, base, S_IFLNK);
	if (r < 0)
		return r;
	if (symlinkat(target, pfd, base) < 0)
		return sysfail(c, "symlink");
	return 0;
}

static int extract_hardlink(struct ctx *c, int pfd, const char *base, const char *target)
{
	char trel[PATH_MAX];
	const char *tbase;
	struct stat tst, st;
	int tfd, r;

	r = entry_path(c, "hard link target", target, false, trel);
	if (r != 0)
		return r < 0 ? r : fail(c, -EPERM, "hard link to the root directory");
	tfd = open_parent(c, trel, false, &tbase);
	if (tfd == -ENOENT || (tfd >= 0 && fstatat(tfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0)) {
		safe_close(tfd);
		return fail(c, -EPERM, "hard link target is not in the archive");
	}
	if (tfd < 0)
		return tfd;
	if (!S_ISREG(tst.st_mode)) {
		safe_close(tfd);
		return fail(c, -EPERM, "hard link to a non-regular file");
	}
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
	    st.st_ino == tst.st_ino) {
		safe_close(tfd);
		return 0;
	}
	r = make_room(c, pfd, base, S_IFREG);
	/* Flags 0: links the target itself; it was checked to be a regular file. */
	if (r == 0 && linkat(tfd, tbase, pfd, base, 0) < 0)
		r = sysfail(c, "link");
	safe_close(tfd);
	return r;
}

static int extract_entry(struct ctx *c, struct archive_entry *e)
{
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	char rel[PATH_MAX];
	const char *base;
	la_int64_t size;
	int pfd, r;

	if (++c->entries > c->lim.max_entries)
		return fail(c, -EFBIG, "more than %llu entries",
			    (unsigned long long)c->lim.max_entries);
	if (archive_entry_mode(e) & (S_ISUID | S_ISGID))
		return fail(c, -EPERM, "setuid or setgid bit");
	if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		return fail(c, -EPERM, "%s not allowed",
			    type == AE_IFCHR   ? "character device"
			    : type == AE_IFBLK ? "block device"
			    : type == AE_IFIFO ? "FIFO"
			    : type == AE_IFSOCK ? "socket"
						: "unknown file type");
	/* Data we do not write is still read (skipped): charge it to the limits. */
	size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if ((hardlink || type != AE_IFREG) && size > 0) {
		r = charge(c, (uint64_t)size, (uint64_t)size);
		if (r < 0)
			return r;
		c->skipped += (uint64_t)size;
	}

	r = entry_path(c, "path", c->name, !hardlink && type == AE_IFDIR, rel);
	if (r < 0)
		return r;
	if (r == 1) {
		if (hardlink || type != AE_IFDIR)
			return fail(c, -EPERM, "the root must be a directory");
		return 0;
	}
	pfd = open_parent(c, rel, true, &base);
	if (pfd < 0)
		return pfd;
	if (hardlink)
		r = extract_hardlink(c, pfd, base, hardlink);
	else if (type == AE_IFREG)
		r = extract_file(c, pfd, base, e);
	else if (type == AE_IFDIR)
		r = extract_dir(c, pfd, base);
	else
		r = extract_symlink(c, pfd, rel, base, e);
	safe_close(pfd);
	return r;
}

/* A directory stream of its own over dirfd (which stays open); NULL with
 * *err set on failure. */
static DIR *dir_stream(int dirfd, int *err)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0) {
		*err = neg_errno();
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		*err = neg_errno();
		safe_close(fd);
	}
	return d;
}

/* Removes everything beneath dirfd. Returns 0, or the first error. */
static int empty_dir(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = dir_stream(dirfd, &r);
	if (!d)
		return r;
	/* Entries removed while reading may hide others: read again until clean. */
	for (;;) {
		bool found = false, removed = false;

		rewinddir(d);
		while ((de = readdir(d))) {
			int q;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			found = true;
			q = path_remove_tree(dirfd, de->d_name);
			if (q == 0 || q == -ENOENT)
				removed = true;
			else if (!r)
				r = q;
		}
		if (!found || !removed)
			break;
	}
	closedir(d);
	return r;
}

static int dir_is_empty(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int r = 1;

	d = dir_stream(dirfd, &r);
	if (!d)
		return r;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 0;
			break;
		}
	closedir(d);
	return r;
}

/* Reads what follows the archive (record padding, usually) up to rd's end,
 * so that a streaming decryptor behind rd gets to authenticate its end. */
static int drain(struct ctx *c)
{
	const void *buf;
	ssize_t n;

	c->name = NULL;
	while ((n = c->rd(c->ud, &buf)) > 0)
		;
	if (n < 0)
		return fail(c, n < -4095 ? -EIO : (int)n, "reading the archive: %s",
			    strerror(n < -4095 ? EIO : (int)-n));
	return 0;
}

static int extract_all(struct ctx *c)
{
	struct archive_entry *e;
	int r;

	archive_read_support_format_tar(c->a);
	/* Only in-process decompressors: never an external program. */
	if (archive_zlib_version())
		archive_read_support_filter_gzip(c->a);
	if (archive_libzstd_version())
		archive_read_support_filter_zstd(c->a);
	if (archive_read_open(c->a, c, NULL, read_cb, NULL) != ARCHIVE_OK)
		return archive_fail(c);
	for (;;) {
		c->name = NULL;
		r = archive_read_next_header(c->a, &e);
		if (r == ARCHIVE_EOF)
			return drain(c);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(c);
		c->name = archive_entry_pathname(e);
		if (!c->name)
			c->name = archive_entry_pathname_utf8(e);
		r = extract_entry(c, e);
		if (r < 0)
			return r;
	}
}

int extract_tar(extract_read_fn rd, void *ud, int dirfd, const struct extract_limits *lim,
		uint64_t *bytes_out, char *err, size_t errsz)
{
	struct ctx c = {
		.rd = rd,
		.ud = ud,
		.root = dirfd,
		.lim = { EXTRACT_DEFAULT_MAX_TOTAL, EXTRACT_DEFAULT_MAX_ENTRIES,
			 EXTRACT_DEFAULT_MAX_FILE },
		.err = err,
		.errsz = errsz,
	};
	int r;

	if (err && errsz)
		err[0] = '\0';
	if (lim)
		c.lim = *lim;
	r = dir_is_empty(dirfd);
	if (r <= 0)
		return fail(&c, r < 0 ? r : -ENOTEMPTY, "target directory: %s",
			    strerror(r < 0 ? -r : ENOTEMPTY));
	c.a = archive_read_new();
	if (!c.a)
		return fail(&c, -ENOMEM, "out of memory");
	r = extract_all(&c);
	archive_read_free(c.a);
	if (r < 0) {
		/* The message names the entry that failed; cleaning up is secondary. */
		(void)empty_dir(dirfd);
		return r;
	}
	if (bytes_out)
		*bytes_out = c.written;
	return 0;
}
