/* Safe extraction: archives are built in memory with libarchive's writer.
 * A normal tree extracts with normalized modes; every hostile entry, limit,
 * and corruption is refused with its errno, the target directory is left
 * empty, and nothing appears beside it. */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "enclave/extract.h"
#include "sync/util.h"
#include "tests/unit/prereq.h"

enum { PAX, USTAR, GNUTAR };
enum { PLAIN, GZIP, ZSTD };

struct ent {
	const char *path;
	mode_t type; /* AE_IF*, or 0 for a hard link to `link` */
	mode_t perm;
	const char *data; /* regular files; or the symlink target */
	const char *link; /* hard link target */
	size_t size;      /* when data is NULL: this many bytes of 'z' */
};

#define FILE_(p, perm, d)  { (p), AE_IFREG, (perm), (d), NULL, 0 }
#define BIG(p, n)          { (p), AE_IFREG, 0644, NULL, NULL, (n) }
#define DIR_(p, perm)      { (p), AE_IFDIR, (perm), NULL, NULL, 0 }
#define SYMLINK(p, target) { (p), AE_IFLNK, 0777, (target), NULL, 0 }
#define HARDLINK(p, t)     { (p), 0, 0644, NULL, (t), 0 }
#define SPECIAL(p, type)   { (p), (type), 0644, NULL, NULL, 0 }

struct blob {
	uint8_t *data;
	size_t len;
};

/* Builds a tar of n entries; false if the filter is not available here. */
static bool build(struct blob *b, const struct ent *e, size_t n, int format, int filter)
{
	size_t cap = 8 << 20;
	struct archive *a = archive_write_new();
	struct archive_entry *ae;
	char *zeros;
	int r;

	ck_assert_ptr_nonnull(a);
	b->data = malloc(cap);
	ck_assert_ptr_nonnull(b->data);
	ck_assert_int_eq(format == PAX	    ? archive_write_set_format_pax(a)
			 : format == USTAR ? archive_write_set_format_ustar(a)
					   : archive_write_set_format_gnutar(a),
			 ARCHIVE_OK);
	if (filter == GZIP)
		ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	if (filter == ZSTD) {
		/* ARCHIVE_WARN means an external zstd program, not the library. */
		r = archive_write_add_filter_zstd(a);
		if (r != ARCHIVE_OK) {
			archive_write_free(a);
			free(b->data);
			return false;
		}
	}
	ck_assert_int_eq(archive_write_open_memory(a, b->data, cap, &b->len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		size_t size = e[i].data ? strlen(e[i].data) : e[i].size;

		ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mode(ae, (e[i].type ? e[i].type : AE_IFREG) | e[i].perm);
		archive_entry_set_uid(ae, 1234);
		archive_entry_set_gid(ae, 5678);
		archive_entry_set_mtime(ae, 1700000000, 0);
		if (e[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, e[i].data);
		if (e[i].type == AE_IFCHR || e[i].type == AE_IFBLK)
			archive_entry_set_rdev(ae, makedev(1, 3));
		if (!e[i].type)
			archive_entry_set_hardlink(ae, e[i].link);
		if (e[i].type == AE_IFREG)
			archive_entry_set_size(ae, (la_int64_t)size);
		r = archive_write_header(a, ae);
		ck_assert_msg(r == ARCHIVE_OK || r == ARCHIVE_WARN, "%s: %s", e[i].path,
			      archive_error_string(a));
		if (e[i].type == AE_IFREG && size) {
			zeros = malloc(size);
			ck_assert_ptr_nonnull(zeros);
			memset(zeros, 'z', size);
			ck_assert_int_eq(archive_write_data(a, e[i].data ? e[i].data : zeros, size),
					 (la_ssize_t)size);
			free(zeros);
		}
		archive_entry_free(ae);
	}
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return true;
}

/* Feeds a blob in chunks of `chunk` bytes, then fails with `err` if set. */
struct feed {
	const struct blob *b;
	size_t off, chunk, fail_at;
	int err;
};

static ssize_t feed_read(void *ud, const void **buf)
{
	struct feed *f = ud;
	size_t n = MIN(f->chunk, f->b->len - f->off);

	if (f->err && f->off >= f->fail_at)
		return f->err;
	*buf = f->b->data + f->off;
	f->off += n;
	return (ssize_t)n;
}

static char tmpdir[PATH_MAX];
static int basefd = -1, rootfd = -1;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* tmpdir/ holds root/ (the extraction target) and outside/secret. */
static void setup(void)
{
	const char *t = getenv("TMPDIR");
	int fd;

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_extract.XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	basefd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(basefd, 0);
	ck_assert_int_eq(mkdirat(basefd, "root", 0700), 0);
	ck_assert_int_eq(mkdirat(basefd, "outside", 0755), 0);
	fd = openat(basefd, "outside/secret", O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_write_all(fd, "secret", 6), 0);
	close(fd);
	rootfd = openat(basefd, "root", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(rootfd, 0);
}

static void teardown(void)
{
	close(rootfd);
	close(basefd);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t count_entries(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	ck_assert_int_ge(fd, 0);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Nothing outside root changed, and root is empty if `empty`. */
static void check_world(bool empty)
{
	char buf[16];
	int fd;

	ck_assert_uint_eq(count_entries(basefd, "."), 2);
	ck_assert_uint_eq(count_entries(basefd, "outside"), 1);
	fd = openat(basefd, "outside/secret", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_read_all(fd, buf, sizeof(buf)), 6);
	ck_assert_mem_eq(buf, "secret", 6);
	close(fd);
	if (empty)
		ck_assert_uint_eq(count_entries(rootfd, "."), 0);
}

static int run(const struct blob *b, const struct extract_limits *lim, uint64_t *bytes, char *err,
	       size_t errsz)
{
	struct feed f = { .b = b, .chunk = 1000 };
	int r;

	r = extract_tar(feed_read, &f, rootfd, lim, bytes, err, errsz);
	/* Success means the whole input was read, padding included. */
	if (r == 0)
		ck_assert_uint_eq(f.off, b->len);
	return r;
}

static void check_file(const char *path, const char *data, mode_t mode)
{
	char buf[256];
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o", path, st.st_mode & 07777);
	ck_assert_uint_eq(st.st_uid, getuid());
	ck_assert_int_eq(st.st_mtime, 1700000000);
	n = io_read_all(fd, buf, sizeof(buf));
	ck_assert_int_eq(n, (ssize_t)strlen(data));
	ck_assert_mem_eq(buf, data, (size_t)n);
	close(fd);
}

static void check_dir(const char *path)
{
	struct stat st;

	ck_assert_int_eq(fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == 0755, "%s: mode %o", path, st.st_mode & 07777);
}

static const struct ent tree[] = {
	DIR_("./", 0700),
	FILE_("./README", 0600, "read me\n"),
	DIR_("bin/", 0700),
	FILE_("bin/run", 0700, "#!/bin/sh\necho hi\n"),
	FILE_("bin/group-x", 0610, "x"),
	FILE_("lib/python/deep/mod.py", 0444, "print(1)\n"),
	FILE_("empty", 0644, ""),
	DIR_("data", 0777),
	FILE_("data/données 日本.txt", 0644, "utf-8 ✓\n"),
	SYMLINK("lib/current", "python"),
	SYMLINK("lib/python/up", "../../bin/run"),
	SYMLINK("self", "."),
	SYMLINK("dangling", "nowhere/at/all"),
	HARDLINK("bin/run2", "bin/run"),
	FILE_("dup", 0644, "first"),
	FILE_("dup", 0755, "second"),
	DIR_("data/", 0755),
};

static void check_tree(void)
{
	char target[64];
	struct stat a, b;
	ssize_t n;

	check_file("README", "read me\n", 0644);
	check_dir("bin");
	check_file("bin/run", "#!/bin/sh\necho hi\n", 0755);
	check_file("bin/group-x", "x", 0755);
	check_dir("lib");
	check_dir("lib/python");
	check_dir("lib/python/deep");
	check_file("lib/python/deep/mod.py", "print(1)\n", 0644);
	check_file("empty", "", 0644);
	check_dir("data");
	check_file("data/données 日本.txt", "utf-8 ✓\n", 0644);
	n = readlinkat(rootfd, "lib/current", target, sizeof(target));
	ck_assert_int_eq(n, 6);
	ck_assert_mem_eq(target, "python", 6);
	n = readlinkat(rootfd, "lib/python/up", target, sizeof(target));
	ck_assert_int_eq(n, 13);
	ck_assert_mem_eq(target, "../../bin/run", 13);
	ck_assert_int_eq(readlinkat(rootfd, "self", target, sizeof(target)), 1);
	ck_assert_int_eq(readlinkat(rootfd, "dangling", target, sizeof(target)), 14);
	ck_assert_int_eq(fstatat(rootfd, "bin/run", &a, 0), 0);
	ck_assert_int_eq(fstatat(rootfd, "bin/run2", &b, 0), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert_uint_eq(a.st_nlink, 2);
	check_file("dup", "second", 0755);
	ck_assert_uint_eq(count_entries(rootfd, "."), 8);
	check_world(false);
}

static const size_t tree_bytes = 8 + 18 + 1 + 9 + 10 + 5 + 6;

START_TEST(test_tree)
{
	static const int formats[] = { PAX, USTAR, GNUTAR };
	uint64_t bytes = 0;
	char err[512] = "";
	struct blob b;
	int r;

	/* The target's own mode is not ours to change. */
	ck_assert(build(&b, tree, ARRAY_SIZE(tree), formats[_i], PLAIN));
	r = run(&b, NULL, &bytes, err, sizeof(err));
	ck_assert_msg(r == 0, "%d: %s", r, err);
	ck_assert_uint_eq(bytes, tree_bytes);
	check_tree();
	free(b.data);
}
END_TEST

/* Hostile entries, each after a harmless file, which must be removed too. */
static const struct {
	const char *what;
	struct ent e[3];
	const char *msg;
} hostile[] = {
	{ "absolute path", { FILE_("/tmp/x", 0644, "x") }, "absolute" },
	{ "absolute dir", { DIR_("/", 0755) }, "absolute" },
	{ "dotdot", { FILE_("../x", 0644, "x") }, "'..'" },
	{ "dotdot inside", { FILE_("a/../../x", 0644, "x") }, "'..'" },
	{ "dotdot harmless-looking", { FILE_("a/../x", 0644, "x") }, "'..'" },
	{ "dotdot dir", { DIR_("..", 0755) }, "'..'" },
	{ "double slash", { FILE_("a//x", 0644, "x") }, "canonical" },
	{ "dot component", { FILE_("a/./x", 0644, "x") }, "canonical" },
	{ "dot dot slash", { FILE_("././x", 0644, "x") }, "canonical" },
	/* (A regular file "x/" is an old-style directory to libarchive.) */
	{ "trailing slash on a symlink", { SYMLINK("l/", "ok") }, "canonical" },
	{ "symlink to /etc/passwd", { SYMLINK("passwd", "/etc/passwd") }, "absolute" },
	{ "symlink a -> .., then a/x",
	  { SYMLINK("a", ".."), FILE_("a/x", 0644, "x") },
	  "leaves the tree" },
	{ "symlink l -> ../..", { SYMLINK("l", "../..") }, "leaves the tree" },
	{ "deep symlink leaving", { SYMLINK("d/e/l", "../../../x") }, "leaves the tree" },
	{ "symlink with .. after a name", { SYMLINK("l", "b/../x") }, "after a name" },
	{ "empty symlink", { SYMLINK("l", "") }, "empty symlink" },
	{ "through an inside symlink",
	  { SYMLINK("d/l", ".."), FILE_("d/l/x", 0644, "x") },
	  "is a symlink" },
	{ "file onto a symlink", { SYMLINK("l", "f"), FILE_("l", 0644, "x") }, "symlink" },
	{ "dir onto a symlink", { SYMLINK("l", "."), DIR_("l/", 0755) }, "symlink" },
	{ "symlink onto a symlink", { SYMLINK("l", "."), SYMLINK("l", "f") }, "symlink" },
	{ "hardlink to /etc/passwd", { HARDLINK("h", "/etc/passwd") }, "absolute" },
	{ "hardlink to ../x", { HARDLINK("h", "../x") }, "'..'" },
	{ "hardlink to a missing file", { HARDLINK("h", "nothing") }, "not in the archive" },
	{ "hardlink to a symlink", { SYMLINK("l", "f"), HARDLINK("h", "l") }, "non-regular" },
	{ "hardlink to a dir", { DIR_("d", 0755), HARDLINK("h", "d") }, "non-regular" },
	{ "hardlink through a symlink",
	  { SYMLINK("l", "ok"), HARDLINK("h", "l/file") },
	  "is a symlink" },
	{ "char device", { SPECIAL("null", AE_IFCHR) }, "character device" },
	{ "block device", { SPECIAL("sda", AE_IFBLK) }, "block device" },
	{ "fifo", { SPECIAL("fifo", AE_IFIFO) }, "FIFO" },
	{ "setuid file", { FILE_("su", 04755, "x") }, "setuid" },
	{ "setgid file", { FILE_("sg", 02755, "x") }, "setuid or setgid" },
	{ "setgid dir", { DIR_("sgd", 02755) }, "setuid or setgid" },
	{ "file replacing a dir", { DIR_("d", 0755), FILE_("d", 0644, "x") }, "directory" },
	{ "symlink replacing a dir", { DIR_("d", 0755), SYMLINK("d", "ok") }, "directory" },
	{ "hardlink replacing a dir",
	  { DIR_("d", 0755), HARDLINK("d", "ok/file") },
	  "directory" },
	{ "dir replacing a file", { FILE_("f", 0644, "x"), DIR_("f", 0755) }, "another type" },
	{ "file below a file", { FILE_("f", 0644, "x"), FILE_("f/g", 0644, "x") }, "not a dir" },
	{ "root as a symlink", { SYMLINK(".", "ok") }, "root" },
};

START_TEST(test_hostile)
{
	struct ent e[4] = { FILE_("ok/file", 0644, "harmless") };
	char err[512] = "";
	uint64_t bytes = 77;
	struct blob b;
	size_t n = 1;
	int r;

	for (size_t i = 0; i < 3 && hostile[_i].e[i].path; i++)
		e[n++] = hostile[_i].e[i];
	ck_assert(build(&b, e, n, PAX, PLAIN));
	r = run(&b, NULL, &bytes, err, sizeof(err));
	ck_assert_msg(r == -EPERM, "%s: %d (%s)", hostile[_i].what, r, err);
	ck_assert_msg(strstr(err, hostile[_i].msg), "%s: '%s' lacks '%s'", hostile[_i].what, err,
		      hostile[_i].msg);
	/* The message names the offending entry. */
	ck_assert_msg(strncmp(err, "'ok/file'", 9) && err[0] == '\'', "%s: '%s'",
		      hostile[_i].what, err);
	ck_assert_uint_eq(bytes, 77);
	check_world(true);
	free(b.data);
}
END_TEST

START_TEST(test_limits)
{
	static const struct ent two[] = { BIG("a", 600), BIG("b", 400) };
	struct extract_limits lim = { .max_total_bytes = 1000, .max_entries = 2,
				      .max_file_bytes = 600 };
	char err[512] = "";
	uint64_t bytes = 0;
	struct blob b;

	ck_assert(build(&b, two, 2, PAX, PLAIN));
	/* Exactly at every limit. */
	ck_assert_int_eq(run(&b, &lim, &bytes, err, sizeof(err)), 0);
	ck_assert_uint_eq(bytes, 1000);
	ck_assert_uint_eq(count_entries(rootfd, "."), 2);
	ck_assert_int_eq(unlinkat(rootfd, "a", 0), 0);
	ck_assert_int_eq(unlinkat(rootfd, "b", 0), 0);

	lim.max_total_bytes = 999;
	ck_assert_int_eq(run(&b, &lim, &bytes, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "'b': archive holds more than 999 bytes"));
	check_world(true);

	lim.max_total_bytes = 1000;
	lim.max_entries = 1;
	ck_assert_int_eq(run(&b, &lim, &bytes, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "'b': more than 1 entries"));
	check_world(true);

	lim.max_entries = 2;
	lim.max_file_bytes = 599;
	ck_assert_int_eq(run(&b, &lim, &bytes, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(err, "'a': file larger than 599 bytes"));
	check_world(true);
	free(b.data);
}
END_TEST

/* A sparse file is charged its extent, not only the bytes it stores. */
START_TEST(test_sparse)
{
	struct archive *a = archive_write_new();
	struct archive_entry *ae = archive_entry_new();
	struct extract_limits lim = { 1 << 20, 10, 1 << 20 };
	char err[512] = "";
	uint64_t bytes = 0;
	struct stat st;
	struct blob b = { malloc(1 << 16), 0 };

	ck_assert_ptr_nonnull(b.data);
	ck_assert_int_eq(archive_write_set_format_pax(a), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_open_memory(a, b.data, 1 << 16, &b.len), ARCHIVE_OK);
	archive_entry_set_pathname(ae, "sparse");
	archive_entry_set_mode(ae, AE_IFREG | 0644);
	archive_entry_set_size(ae, 1 << 20);
	archive_entry_sparse_add_entry(ae, 4096, 10);
	ck_assert_int_eq(archive_write_header(a, ae), ARCHIVE_OK);
	ck_assert_int_eq(archive_write_data(a, "0123456789", 10), 10);
	ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	archive_entry_free(ae);

	ck_assert_msg(run(&b, &lim, &bytes, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(bytes, 10);
	ck_assert_int_eq(fstatat(rootfd, "sparse", &st, 0), 0);
	ck_assert_int_eq(st.st_size, 1 << 20);
	ck_assert_int_eq(unlinkat(rootfd, "sparse", 0), 0);

	lim.max_file_bytes = (1 << 20) - 1;
	ck_assert_int_eq(run(&b, &lim, &bytes, err, sizeof(err)), -EFBIG);
	check_world(true);
	free(b.data);
}
END_TEST

START_TEST(test_truncated)
{
	static const struct ent two[] = { BIG("a", 5000), BIG("b", 5000) };
	char err[512] = "";
	struct blob b;
	size_t full;

	ck_assert(build(&b, two, 2, PAX, PLAIN));
	full = b.len;
	/* Cut inside the second file's data, and inside the first header. */
	b.len = full - 3000;
	ck_assert_int_eq(run(&b, NULL, NULL, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "'b': corrupt archive"));
	check_world(true);
	b.len = 300;
	ck_assert_int_eq(run(&b, NULL, NULL, err, sizeof(err)), -EBADMSG);
	check_world(true);
	/* Not an archive at all. */
	memset(b.data, 'q', 4096);
	b.len = 4096;
	ck_assert_int_eq(run(&b, NULL, NULL, err, sizeof(err)), -EBADMSG);
	check_world(true);
	free(b.data);
}
END_TEST

START_TEST(test_read_error)
{
	static const struct ent two[] = { BIG("a", 5000), BIG("b", 5000) };
	char err[512] = "";
	struct blob b;
	struct feed f;

	ck_assert(build(&b, two, 2, PAX, PLAIN));
	f = (struct feed){ .b = &b, .chunk = 1000, .fail_at = 7000, .err = -ECONNRESET };
	ck_assert_int_eq(extract_tar(feed_read, &f, rootfd, NULL, NULL, err, sizeof(err)),
			 -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(err, "reading the archive"));
	check_world(true);
	f = (struct feed){ .b = &b, .chunk = 1000, .fail_at = 0, .err = -EIO };
	ck_assert_int_eq(extract_tar(feed_read, &f, rootfd, NULL, NULL, err, sizeof(err)), -EIO);
	check_world(true);
	/* An error after the end-of-archive blocks still fails the extraction. */
	f = (struct feed){ .b = &b, .chunk = 1000, .fail_at = b.len, .err = -EBADMSG };
	ck_assert_int_eq(extract_tar(feed_read, &f, rootfd, NULL, NULL, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "reading the archive"));
	check_world(true);
	free(b.data);
}
END_TEST

START_TEST(test_not_empty)
{
	static const struct ent one[] = { FILE_("x", 0644, "x") };
	char err[512] = "";
	struct blob b;

	ck_assert_int_eq(mkdirat(rootfd, "mine", 0755), 0);
	ck_assert(build(&b, one, 1, PAX, PLAIN));
	ck_assert_int_eq(run(&b, NULL, NULL, err, sizeof(err)), -ENOTEMPTY);
	ck_assert_uint_eq(count_entries(rootfd, "."), 1);
	ck_assert_int_eq(unlinkat(rootfd, "mine", AT_REMOVEDIR), 0);
	free(b.data);
}
END_TEST

START_TEST(test_compressed)
{
	static const int filters[] = { GZIP, ZSTD };
	char err[512] = "";
	uint64_t bytes = 0;
	struct blob b;
	int r;

	if (!build(&b, tree, ARRAY_SIZE(tree), PAX, filters[_i])) {
		/* Only zstd can be missing; CI builds must have it. */
		char what[256];

		ck_assert_int_eq(filters[_i], ZSTD);
		snprintf(what, sizeof(what), "zstd in libarchive (%s)", archive_version_details());
		prereq_missing(what);
		return;
	}
	r = run(&b, NULL, &bytes, err, sizeof(err));
	ck_assert_msg(r == 0, "%d: %s", r, err);
	ck_assert_uint_eq(bytes, tree_bytes);
	check_tree();
	free(b.data);
}
END_TEST

static Suite *extract_suite(void)
{
	Suite *s = suite_create("extract");
	TCase *tc = tcase_create("extract");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_tree, 0, 3);
	tcase_add_loop_test(tc, test_hostile, 0, ARRAY_SIZE(hostile));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_sparse);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_read_error);
	tcase_add_test(tc, test_not_empty);
	tcase_add_loop_test(tc, test_compressed, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(extract_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
