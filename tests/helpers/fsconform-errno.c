/* fsconform errno DIR: every syscall's results and error numbers for
 * regular files, directories, symlinks, hard links and FIFOs, as their man
 * pages describe them. DIR must exist; the cases work in DIR/errno (removed
 * first if a previous run left it). Run as root: the permission cases run in
 * a child that drops to uid and gid 65534 (setresuid), so that the kernel's
 * checks (or the mount's, with default_permissions) apply.
 *
 * Each case prints "ok N - NAME: what" or "not ok N - NAME: what: expected X
 * got Y"; the exit status is 1 if any case failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsconform.h"

#define NOBODY 65534

static int n_case, n_fail;

static void report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	n_case++;
	if (ok) {
		printf("ok %d - %s\n", n_case, name);
	} else {
		n_fail++;
		printf("not ok %d - %s: ", n_case, name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* The errno of a call's result r (0 if it succeeded). */
#define ERR(r) ((r) < 0 ? errno : 0)

static void expect_err(const char *name, int got, int want)
{
	report(got == want, name, "expected %s got %s", fsc_errname(want), fsc_errname(got));
}

/* Where the man page allows two error numbers. */
static void expect_err2(const char *name, int got, int want, int alt)
{
	report(got == want || got == alt, name, "expected %s or %s got %s", fsc_errname(want),
	       fsc_errname(alt), fsc_errname(got));
}

static void expect_long(const char *name, long long got, long long want)
{
	report(got == want, name, "expected %lld got %lld", want, got);
}

static void expect_mode(const char *name, const char *path, mode_t want)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		report(false, name, "expected mode %o got %s", (unsigned)want, fsc_errname(errno));
		return;
	}
	report((st.st_mode & 07777) == want, name, "expected mode %o got %o", (unsigned)want,
	       (unsigned)(st.st_mode & 07777));
}

static void expect_type(const char *name, const char *path, bool follow, mode_t want)
{
	struct stat st;
	int r = follow ? stat(path, &st) : lstat(path, &st);

	if (r < 0) {
		report(false, name, "expected type %o got %s", (unsigned)want, fsc_errname(errno));
		return;
	}
	report((st.st_mode & S_IFMT) == want, name, "expected type %o got %o", (unsigned)want,
	       (unsigned)(st.st_mode & S_IFMT));
}

static long long size_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? -1 - errno : (long long)st.st_size;
}

static long long nlink_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? -1 - errno : (long long)st.st_nlink;
}

/* Setup steps are not cases, but one that fails makes the run fail. */
static void setup(bool ok, const char *what)
{
	if (!ok) {
		printf("not ok %d - setup: %s: %s\n", ++n_case, what, strerror(errno));
		n_fail++;
	}
}

static void put(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, content, strlen(content));
		close(fd);
	}
	setup(n == (ssize_t)strlen(content), path);
}

/* The file's content, up to 255 bytes, or "" with errno's name in brackets. */
static const char *get(const char *path)
{
	static char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		snprintf(buf, sizeof(buf), "[%s]", fsc_errname(errno));
		return buf;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(buf, sizeof(buf), "[%s]", fsc_errname(errno));
		return buf;
	}
	buf[n] = 0;
	return buf;
}

static void expect_content(const char *name, const char *path, const char *want)
{
	const char *got = get(path);

	report(strcmp(got, want) == 0, name, "expected \"%s\" got \"%s\"", want, got);
}

static void expect_absent(const char *name, const char *path)
{
	struct stat st;

	expect_err(name, ERR(lstat(path, &st)), ENOENT);
}

static long long ts_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Waits until the clock file times are taken from has passed t, so that a
 * change made next gets a later timestamp. This waits for a condition; it
 * asserts nothing about how long anything takes. */
static void wait_past(struct timespec t)
{
	struct timespec now, tick = {0, 1000000};

	for (;;) {
		clock_gettime(CLOCK_REALTIME_COARSE, &now);
		if (ts_ns(now) > ts_ns(t))
			return;
		nanosleep(&tick, NULL);
	}
}

static void rm_tree(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("rm", "rm", "-rf", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void cases_open(void)
{
	char longname[300], okname[300];
	struct stat st;
	int fd;

	umask(022);
	fd = open("o_new", O_WRONLY | O_CREAT | O_EXCL, 0666);
	expect_err("open.creat_excl_new: O_CREAT|O_EXCL of a new name", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_type("open.creat_type: it is a regular file", "o_new", false, S_IFREG);
	expect_long("open.creat_size: it is empty", size_of("o_new"), 0);
	expect_err("open.creat_excl_exists: O_CREAT|O_EXCL of an existing file",
	           ERR(open("o_new", O_WRONLY | O_CREAT | O_EXCL, 0666)), EEXIST);
	setup(symlink("o_nowhere", "o_dangling") == 0, "symlink o_dangling");
	expect_err("open.creat_excl_symlink: O_CREAT|O_EXCL of a dangling symlink",
	           ERR(open("o_dangling", O_WRONLY | O_CREAT | O_EXCL, 0666)), EEXIST);
	expect_absent("open.creat_excl_symlink_target: the target was not created", "o_nowhere");
	fd = open("o_dangling", O_WRONLY | O_CREAT, 0666);
	expect_err("open.creat_via_dangling: O_CREAT through a dangling symlink", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_type("open.creat_via_dangling_target: it created the target", "o_nowhere", false,
	            S_IFREG);

	put("o_trunc", "some content");
	fd = open("o_trunc", O_WRONLY | O_TRUNC);
	expect_err("open.trunc: O_TRUNC of an existing file", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_long("open.trunc_size: the file is empty", size_of("o_trunc"), 0);
	put("o_creat", "old content");
	fd = creat("o_creat", 0600);
	expect_err("open.creat_existing: creat() of an existing file", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_long("open.creat_existing_size: creat() truncated it", size_of("o_creat"), 0);
	expect_mode("open.creat_existing_mode: creat() kept its mode", "o_creat", 0644);

	setup(mkdir("o_dir", 0755) == 0, "mkdir o_dir");
	expect_err("open.directory_file: O_DIRECTORY of a file",
	           ERR(open("o_new", O_RDONLY | O_DIRECTORY)), ENOTDIR);
	fd = open("o_dir", O_RDONLY | O_DIRECTORY);
	expect_err("open.directory_dir: O_DIRECTORY of a directory", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_err("open.dir_wronly: O_WRONLY of a directory", ERR(open("o_dir", O_WRONLY)),
	           EISDIR);
	expect_err("open.dir_rdwr: O_RDWR of a directory", ERR(open("o_dir", O_RDWR)), EISDIR);
	expect_err("open.dir_creat: O_CREAT of an existing directory",
	           ERR(open("o_dir", O_WRONLY | O_CREAT, 0644)), EISDIR);

	setup(symlink("o_new", "o_link") == 0, "symlink o_link");
	expect_err("open.nofollow: O_NOFOLLOW of a symlink",
	           ERR(open("o_link", O_RDONLY | O_NOFOLLOW)), ELOOP);
	fd = open("o_new", O_RDONLY | O_NOFOLLOW);
	expect_err("open.nofollow_file: O_NOFOLLOW of a file", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	fd = open("o_link", O_RDONLY);
	expect_err("open.follow: open follows a symlink", ERR(fd), 0);
	if (fd >= 0) {
		expect_err("open.follow_fstat: fstat of it", ERR(fstat(fd, &st)), 0);
		report(S_ISREG(st.st_mode), "open.follow_type: it is the target file",
		       "expected a regular file got mode %o", (unsigned)st.st_mode);
		close(fd);
	}

	expect_err("open.enoent: a missing name", ERR(open("o_missing", O_RDONLY)), ENOENT);
	expect_err("open.enoent_parent: O_CREAT under a missing directory",
	           ERR(open("o_missing/x", O_WRONLY | O_CREAT, 0644)), ENOENT);
	expect_err("open.enotdir: a file used as a directory", ERR(open("o_new/x", O_RDONLY)),
	           ENOTDIR);
	expect_err("open.enotdir_slash: a file name with a trailing slash",
	           ERR(open("o_new/", O_RDONLY)), ENOTDIR);

	memset(longname, 'n', 256);
	longname[256] = 0;
	memset(okname, 'k', 255);
	okname[255] = 0;
	expect_err("open.nametoolong: O_CREAT of a 256-byte name",
	           ERR(open(longname, O_WRONLY | O_CREAT, 0644)), ENAMETOOLONG);
	expect_err("open.nametoolong_lookup: a 256-byte name", ERR(open(longname, O_RDONLY)),
	           ENAMETOOLONG);
	fd = open(okname, O_WRONLY | O_CREAT, 0644);
	expect_err("open.name255: O_CREAT of a 255-byte name", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_err("open.name255_unlink: unlink it", ERR(unlink(okname)), 0);

	setup(symlink("o_loop2", "o_loop1") == 0, "symlink o_loop1");
	setup(symlink("o_loop1", "o_loop2") == 0, "symlink o_loop2");
	expect_err("open.eloop: a symlink loop", ERR(open("o_loop1", O_RDONLY)), ELOOP);
	expect_err("open.eloop_stat: stat of a symlink loop", ERR(stat("o_loop1", &st)), ELOOP);
}

static void cases_mkdir(void)
{
	char longname[300];
	struct stat st;

	umask(022);
	expect_err("mkdir.new: a new directory", ERR(mkdir("m_d", 0777)), 0);
	expect_type("mkdir.type: it is a directory", "m_d", false, S_IFDIR);
	expect_mode("mkdir.umask022: mode 0777 under umask 022", "m_d", 0755);
	expect_long("mkdir.nlink: a new directory has two links", nlink_of("m_d"), 2);
	expect_err("mkdir.eexist_dir: an existing directory", ERR(mkdir("m_d", 0755)), EEXIST);
	put("m_f", "f");
	expect_err("mkdir.eexist_file: an existing file", ERR(mkdir("m_f", 0755)), EEXIST);
	setup(symlink("m_target", "m_sym") == 0, "symlink m_sym");
	expect_err("mkdir.eexist_symlink: a dangling symlink", ERR(mkdir("m_sym", 0755)), EEXIST);
	expect_err("mkdir.enotdir: under a file", ERR(mkdir("m_f/x", 0755)), ENOTDIR);
	expect_err("mkdir.enoent: under a missing directory", ERR(mkdir("m_missing/x", 0755)),
	           ENOENT);
	memset(longname, 'n', 256);
	longname[256] = 0;
	expect_err("mkdir.nametoolong: a 256-byte name", ERR(mkdir(longname, 0755)), ENAMETOOLONG);

	expect_err("mkdir.sub: a subdirectory", ERR(mkdir("m_d/sub", 0755)), 0);
	expect_long("mkdir.nlink_parent: the parent has three links", nlink_of("m_d"), 3);
	expect_err("mkdir.sub2: a second subdirectory", ERR(mkdir("m_d/sub2", 0755)), 0);
	expect_long("mkdir.nlink_parent2: the parent has four links", nlink_of("m_d"), 4);
	put("m_d/file", "x");
	expect_long("mkdir.nlink_file: a file does not add a link to its directory",
	            nlink_of("m_d"), 4);

	expect_err("rmdir.enotempty: a directory with entries", ERR(rmdir("m_d")), ENOTEMPTY);
	expect_err("rmdir.dot: \".\"", ERR(rmdir("m_d/sub/.")), EINVAL);
	expect_err("rmdir.dotdot: \"..\"", ERR(rmdir("m_d/sub/..")), ENOTEMPTY);
	expect_err("rmdir.enotdir: a file", ERR(rmdir("m_f")), ENOTDIR);
	setup(symlink("m_d/sub", "m_dirlink") == 0, "symlink m_dirlink");
	expect_err("rmdir.symlink: a symlink to a directory", ERR(rmdir("m_dirlink")), ENOTDIR);
	expect_err("rmdir.enoent: a missing name", ERR(rmdir("m_missing")), ENOENT);
	expect_err("rmdir.empty: an empty directory", ERR(rmdir("m_d/sub")), 0);
	expect_absent("rmdir.gone: it is gone", "m_d/sub");
	expect_long("rmdir.nlink_parent: the parent lost a link", nlink_of("m_d"), 3);
	expect_err("rmdir.cwd_parent_stat: the parent is still there", ERR(stat("m_d", &st)), 0);

	umask(077);
	expect_err("mkdir.umask077_mk: mkdir 0777 under umask 077", ERR(mkdir("m_u77", 0777)), 0);
	expect_mode("mkdir.umask077: mode 0700", "m_u77", 0700);
	umask(0);
	expect_err("mkdir.umask0_mk: mkdir 0777 under umask 0", ERR(mkdir("m_u0", 0777)), 0);
	expect_mode("mkdir.umask0: mode 0777", "m_u0", 0777);
	expect_err("mkdir.umask0_sticky_mk: mkdir 01777 under umask 0",
	           ERR(mkdir("m_sticky", 01777)), 0);
	expect_mode("mkdir.sticky: mode 01777", "m_sticky", 01777);
	umask(022);
}

static void cases_umask_files(void)
{
	int fd;

	umask(077);
	fd = open("u_77", O_WRONLY | O_CREAT | O_EXCL, 0666);
	expect_err("umask.creat077_mk: O_CREAT 0666 under umask 077", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_mode("umask.creat077: mode 0600", "u_77", 0600);
	umask(0);
	fd = open("u_0", O_WRONLY | O_CREAT | O_EXCL, 0777);
	expect_err("umask.creat0_mk: O_CREAT 0777 under umask 0", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_mode("umask.creat0: mode 0777", "u_0", 0777);
	umask(027);
	fd = open("u_27", O_WRONLY | O_CREAT | O_EXCL, 0666);
	expect_err("umask.creat027_mk: O_CREAT 0666 under umask 027", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_mode("umask.creat027: mode 0640", "u_27", 0640);
	umask(022);
	fd = open("u_22", O_WRONLY | O_CREAT | O_EXCL, 0666);
	expect_err("umask.creat022_mk: O_CREAT 0666 under umask 022", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_mode("umask.creat022: mode 0644", "u_22", 0644);
}

static void cases_unlink(void)
{
	setup(mkdir("un_d", 0755) == 0, "mkdir un_d");
	expect_err2("unlink.dir: a directory", ERR(unlink("un_d")), EISDIR, EPERM);
	expect_type("unlink.dir_kept: the directory is still there", "un_d", false, S_IFDIR);
	expect_err("unlink.enoent: a missing name", ERR(unlink("un_missing")), ENOENT);
	put("un_f", "target");
	expect_err("unlink.enotdir: a file used as a directory", ERR(unlink("un_f/x")), ENOTDIR);
	setup(symlink("un_f", "un_l") == 0, "symlink un_l");
	expect_err("unlink.symlink: a symlink", ERR(unlink("un_l")), 0);
	expect_absent("unlink.symlink_gone: the symlink is gone", "un_l");
	expect_content("unlink.symlink_target: its target is untouched", "un_f", "target");
	expect_err("unlink.file: a file", ERR(unlink("un_f")), 0);
	expect_absent("unlink.file_gone: the file is gone", "un_f");
}

static void cases_rename(void)
{
	struct stat a, b;
	int fd;

	put("r_a", "A");
	put("r_b", "B");
	expect_err("rename.over_file: a file over a file", ERR(rename("r_a", "r_b")), 0);
	expect_absent("rename.over_file_src: the source name is gone", "r_a");
	expect_content("rename.over_file_dst: the target has the source's content", "r_b", "A");

	setup(mkdir("r_d1", 0755) == 0 && mkdir("r_d2", 0755) == 0, "mkdir r_d1 r_d2");
	put("r_d1/in", "in");
	expect_err("rename.dir_over_empty: a directory over an empty directory",
	           ERR(rename("r_d1", "r_d2")), 0);
	expect_content("rename.dir_over_empty_content: its content moved", "r_d2/in", "in");
	expect_absent("rename.dir_over_empty_src: the source is gone", "r_d1");
	setup(mkdir("r_d3", 0755) == 0, "mkdir r_d3");
	expect_err2("rename.dir_over_full: a directory over a non-empty directory",
	            ERR(rename("r_d3", "r_d2")), ENOTEMPTY, EEXIST);
	expect_content("rename.dir_over_full_kept: the target kept its content", "r_d2/in", "in");
	expect_err("rename.dir_over_file: a directory over a file", ERR(rename("r_d3", "r_b")),
	           ENOTDIR);
	expect_err("rename.file_over_dir: a file over a directory", ERR(rename("r_b", "r_d3")),
	           EISDIR);
	expect_err("rename.into_self: a directory into its own subdirectory",
	           ERR(rename("r_d2", "r_d2/in2")), EINVAL);
	setup(mkdir("r_d2/sub", 0755) == 0, "mkdir r_d2/sub");
	expect_err("rename.into_subdir: a directory into a deeper subdirectory",
	           ERR(rename("r_d2", "r_d2/sub/x")), EINVAL);
	expect_err("rename.enoent: a missing source", ERR(rename("r_missing", "r_x")), ENOENT);
	expect_err("rename.enoent_dir: into a missing directory", ERR(rename("r_b", "r_missing/x")),
	           ENOENT);
	expect_err("rename.same: a file onto itself", ERR(rename("r_b", "r_b")), 0);
	expect_content("rename.same_kept: it is unchanged", "r_b", "A");

	/* Directory link counts follow a directory moved between parents. */
	setup(mkdir("r_p1", 0755) == 0 && mkdir("r_p2", 0755) == 0 && mkdir("r_p1/c", 0755) == 0,
	      "mkdir r_p1 r_p2 r_p1/c");
	expect_err("rename.dir_move: a directory to another parent",
	           ERR(rename("r_p1/c", "r_p2/c")), 0);
	expect_long("rename.nlink_old_parent: the old parent lost a link", nlink_of("r_p1"), 2);
	expect_long("rename.nlink_new_parent: the new parent gained a link", nlink_of("r_p2"), 3);

	put("r_n1", "n1");
	put("r_n2", "n2");
	expect_err("rename.noreplace: RENAME_NOREPLACE over an existing file",
	           ERR(renameat2(AT_FDCWD, "r_n1", AT_FDCWD, "r_n2", RENAME_NOREPLACE)), EEXIST);
	expect_content("rename.noreplace_kept: the target is unchanged", "r_n2", "n2");
	expect_err("rename.noreplace_new: RENAME_NOREPLACE to a new name",
	           ERR(renameat2(AT_FDCWD, "r_n1", AT_FDCWD, "r_n3", RENAME_NOREPLACE)), 0);
	expect_content("rename.noreplace_new_content: it moved", "r_n3", "n1");
	expect_err("rename.exchange: RENAME_EXCHANGE of two files",
	           ERR(renameat2(AT_FDCWD, "r_n2", AT_FDCWD, "r_n3", RENAME_EXCHANGE)), 0);
	expect_content("rename.exchange_a: the first name has the second's content", "r_n2", "n1");
	expect_content("rename.exchange_b: the second name has the first's content", "r_n3", "n2");
	expect_err("rename.exchange_file_dir: RENAME_EXCHANGE of a file and a directory",
	           ERR(renameat2(AT_FDCWD, "r_n2", AT_FDCWD, "r_d3", RENAME_EXCHANGE)), 0);
	expect_type("rename.exchange_file_dir_a: the file's name is the directory", "r_n2", false,
	            S_IFDIR);
	expect_content("rename.exchange_file_dir_b: the directory's name is the file", "r_d3",
	               "n1");
	expect_err("rename.exchange_enoent: RENAME_EXCHANGE with a missing target",
	           ERR(renameat2(AT_FDCWD, "r_n3", AT_FDCWD, "r_none", RENAME_EXCHANGE)), ENOENT);

	put("r_t", "target");
	setup(symlink("r_t", "r_sl") == 0, "symlink r_sl");
	expect_err("rename.symlink: a symlink", ERR(rename("r_sl", "r_sl2")), 0);
	expect_type("rename.symlink_type: it is still a symlink", "r_sl2", false, S_IFLNK);
	expect_content("rename.symlink_target: it still resolves", "r_sl2", "target");

	setup(link("r_t", "r_hl") == 0, "link r_hl");
	expect_err("rename.hardlink_same: a name onto another link of the same file",
	           ERR(rename("r_t", "r_hl")), 0);
	report(lstat("r_t", &a) == 0 && lstat("r_hl", &b) == 0,
	       "rename.hardlink_same_both: "
	       "both names remain",
	       "expected both names got %s", fsc_errname(errno));

	/* The renamed file's ctime and the parent's mtime change. */
	put("r_time", "t");
	fd = lstat("r_time", &a);
	setup(fd == 0 && lstat(".", &b) == 0, "stat r_time");
	wait_past(a.st_ctim);
	wait_past(b.st_mtim);
	expect_err("rename.time: a file to a new name", ERR(rename("r_time", "r_time2")), 0);
	{
		struct stat a2, b2;

		setup(lstat("r_time2", &a2) == 0 && lstat(".", &b2) == 0, "stat r_time2");
		report(ts_ns(a2.st_ctim) > ts_ns(a.st_ctim),
		       "rename.ctime: the file's ctime changed",
		       "expected ctime after %lld got %lld", ts_ns(a.st_ctim), ts_ns(a2.st_ctim));
		report(ts_ns(b2.st_mtim) > ts_ns(b.st_mtim),
		       "rename.parent_mtime: the directory's mtime changed",
		       "expected mtime after %lld got %lld", ts_ns(b.st_mtim), ts_ns(b2.st_mtim));
	}
}

static void cases_link(void)
{
	struct stat a, b;
	int fd;

	put("l_f", "one");
	expect_long("link.nlink1: a new file has one link", nlink_of("l_f"), 1);
	expect_err("link.new: a second name", ERR(link("l_f", "l_g")), 0);
	expect_long("link.nlink2_a: the first name has two links", nlink_of("l_f"), 2);
	expect_long("link.nlink2_b: the second name has two links", nlink_of("l_g"), 2);
	setup(lstat("l_f", &a) == 0 && lstat("l_g", &b) == 0, "stat l_f l_g");
	expect_long("link.same_ino: both names have one inode number", (long long)b.st_ino,
	            (long long)a.st_ino);
	fd = open("l_g", O_WRONLY | O_APPEND);
	setup(fd >= 0 && write(fd, "+two", 4) == 4, "append to l_g");
	if (fd >= 0)
		close(fd);
	expect_content("link.shared_content: a write through one name shows through the other",
	               "l_f", "one+two");
	expect_err("link.eexist: to an existing name", ERR(link("l_f", "l_g")), EEXIST);
	setup(mkdir("l_d", 0755) == 0, "mkdir l_d");
	expect_err("link.dir: of a directory", ERR(link("l_d", "l_d2")), EPERM);
	expect_err("link.enoent: of a missing file", ERR(link("l_missing", "l_x")), ENOENT);
	expect_err("link.enoent_dir: into a missing directory", ERR(link("l_f", "l_missing/x")),
	           ENOENT);
	expect_err("link.third: into a subdirectory", ERR(link("l_f", "l_d/l_h")), 0);
	expect_long("link.nlink3: three links", nlink_of("l_f"), 3);
	expect_err("link.unlink_one: unlink one name", ERR(unlink("l_f")), 0);
	expect_long("link.nlink_after_unlink: two links remain", nlink_of("l_g"), 2);
	expect_content("link.content_after_unlink: the content remains", "l_d/l_h", "one+two");
	setup(symlink("l_g", "l_sym") == 0, "symlink l_sym");
	expect_err("link.symlink: link() of a symlink links the symlink itself",
	           ERR(link("l_sym", "l_sym2")), 0);
	expect_type("link.symlink_type: the new name is a symlink", "l_sym2", false, S_IFLNK);
	expect_long("link.symlink_target_nlink: the target's link count is unchanged",
	            nlink_of("l_g"), 2);
	/* Inode numbers stay the same across a rename and a lookup later. */
	setup(lstat("l_g", &a) == 0, "stat l_g");
	expect_err("link.rename: rename a linked file", ERR(rename("l_g", "l_g2")), 0);
	setup(lstat("l_g2", &b) == 0, "stat l_g2");
	expect_long("link.ino_after_rename: its inode number is kept", (long long)b.st_ino,
	            (long long)a.st_ino);
}

static void cases_symlink(void)
{
	char buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	put("s_target", "0123456789");
	expect_err("symlink.new: a symlink", ERR(symlink("s_target", "s_l")), 0);
	n = readlink("s_l", buf, sizeof(buf));
	expect_long("readlink.length: returns the target's length", n, 8);
	report(n == 8 && memcmp(buf, "s_target", 8) == 0, "readlink.target: returns the target",
	       "expected \"s_target\" got \"%.*s\"", n > 0 ? (int)n : 0, buf);
	expect_type("symlink.lstat: lstat sees a symlink", "s_l", false, S_IFLNK);
	expect_long("symlink.lstat_size: lstat size is the target's length", size_of("s_l"), 8);
	expect_type("symlink.stat: stat sees the target", "s_l", true, S_IFREG);
	setup(stat("s_l", &st) == 0, "stat s_l");
	expect_long("symlink.stat_size: stat size is the target file's", (long long)st.st_size, 10);
	expect_content("symlink.read: reading through it reads the target", "s_l", "0123456789");
	expect_err("readlink.einval: of a regular file",
	           ERR(readlink("s_target", buf, sizeof(buf))), EINVAL);
	setup(mkdir("s_d", 0755) == 0, "mkdir s_d");
	expect_err("readlink.einval_dir: of a directory", ERR(readlink("s_d", buf, sizeof(buf))),
	           EINVAL);
	expect_err("readlink.enoent: of a missing name",
	           ERR(readlink("s_missing", buf, sizeof(buf))), ENOENT);
	n = readlink("s_l", buf, 3);
	report(n == 3 && memcmp(buf, "s_t", 3) == 0,
	       "readlink.truncated: a short buffer gets the "
	       "start of the target",
	       "expected 3 bytes \"s_t\" got %zd", n);
	expect_err("symlink.eexist: over an existing name", ERR(symlink("x", "s_target")), EEXIST);
	expect_err("symlink.dangling: a dangling symlink", ERR(symlink("s_nowhere", "s_dang")), 0);
	expect_type("symlink.dangling_lstat: lstat sees it", "s_dang", false, S_IFLNK);
	expect_err("symlink.dangling_stat: stat fails", ERR(stat("s_dang", &st)), ENOENT);
	expect_err("symlink.dir: a symlink to a directory", ERR(symlink("s_d", "s_dl")), 0);
	put("s_d/inner", "inner");
	expect_content("symlink.dir_walk: a path through it", "s_dl/inner", "inner");
	expect_err("symlink.absolute: an absolute target",
	           ERR(symlink("/nonexistent/absolute/target", "s_abs")), 0);
	n = readlink("s_abs", buf, sizeof(buf));
	report(n == 28 && memcmp(buf, "/nonexistent/absolute/target", 28) == 0,
	       "readlink.absolute: the absolute target reads back",
	       "expected the target got %zd bytes", n);
	expect_err("symlink.enoent: in a missing directory", ERR(symlink("x", "s_missing/l")),
	           ENOENT);
	expect_err("symlink.unlink_target: remove the target", ERR(unlink("s_target")), 0);
	expect_err("symlink.now_dangling: stat through it fails", ERR(stat("s_l", &st)), ENOENT);
}

static void cases_attr(void)
{
	struct timespec ts[2], before, after;
	struct stat st, st2;
	int fd;

	put("a_f", "attrs");
	expect_err("chmod.file: chmod 0640", ERR(chmod("a_f", 0640)), 0);
	expect_mode("chmod.file_mode: mode 0640", "a_f", 0640);
	expect_err("chmod.zero: chmod 0", ERR(chmod("a_f", 0)), 0);
	expect_mode("chmod.zero_mode: mode 0", "a_f", 0);
	expect_err("chmod.all: chmod 0777", ERR(chmod("a_f", 0777)), 0);
	expect_mode("chmod.all_mode: mode 0777", "a_f", 0777);
	setup(mkdir("a_d", 0755) == 0, "mkdir a_d");
	expect_err("chmod.dir_sticky: chmod 01777 of a directory", ERR(chmod("a_d", 01777)), 0);
	expect_mode("chmod.dir_sticky_mode: mode 01777", "a_d", 01777);
	expect_err("chmod.enoent: of a missing name", ERR(chmod("a_missing", 0644)), ENOENT);
	setup(symlink("a_f", "a_l") == 0, "symlink a_l");
	expect_err("chmod.follow: chmod through a symlink", ERR(chmod("a_l", 0600)), 0);
	expect_mode("chmod.follow_mode: the target changed", "a_f", 0600);
	fd = open("a_f", O_RDONLY);
	expect_err("chmod.fchmod: fchmod 0604", ERR(fchmod(fd, 0604)), 0);
	if (fd >= 0)
		close(fd);
	expect_mode("chmod.fchmod_mode: mode 0604", "a_f", 0604);

	/* ctime moves on chmod, mtime does not. */
	setup(lstat("a_f", &st) == 0, "stat a_f");
	wait_past(st.st_ctim);
	setup(chmod("a_f", 0644) == 0, "chmod a_f");
	setup(lstat("a_f", &st2) == 0, "stat a_f");
	report(ts_ns(st2.st_ctim) > ts_ns(st.st_ctim), "chmod.ctime: ctime changed",
	       "expected after %lld got %lld", ts_ns(st.st_ctim), ts_ns(st2.st_ctim));
	expect_long("chmod.mtime: mtime did not change", ts_ns(st2.st_mtim), ts_ns(st.st_mtim));

	expect_err("chown.file: chown to 65534:65534", ERR(chown("a_f", NOBODY, NOBODY)), 0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	report(st.st_uid == NOBODY && st.st_gid == NOBODY,
	       "chown.file_owner: the owner is 65534:65534", "expected 65534:65534 got %u:%u",
	       (unsigned)st.st_uid, (unsigned)st.st_gid);
	expect_err("chown.keep: chown -1:-1", ERR(chown("a_f", (uid_t)-1, (gid_t)-1)), 0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	report(st.st_uid == NOBODY && st.st_gid == NOBODY,
	       "chown.keep_owner: the owner is unchanged", "expected 65534:65534 got %u:%u",
	       (unsigned)st.st_uid, (unsigned)st.st_gid);
	expect_err("chown.group: chown -1:0", ERR(chown("a_f", (uid_t)-1, 0)), 0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	report(st.st_uid == NOBODY && st.st_gid == 0, "chown.group_owner: only the group changed",
	       "expected 65534:0 got %u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid);
	expect_err("chown.lchown: lchown of a symlink", ERR(lchown("a_l", NOBODY, NOBODY)), 0);
	setup(lstat("a_l", &st) == 0 && stat("a_l", &st2) == 0, "stat a_l");
	report(st.st_uid == NOBODY && st2.st_gid == 0,
	       "chown.lchown_owner: the link changed, not "
	       "its target",
	       "expected link 65534, target group 0 got %u, %u", (unsigned)st.st_uid,
	       (unsigned)st2.st_gid);
	setup(chown("a_f", 0, 0) == 0, "chown a_f back");

	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1100000000;
	ts[1].tv_nsec = 987654321;
	expect_err("utimensat.set: explicit times", ERR(utimensat(AT_FDCWD, "a_f", ts, 0)), 0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	expect_long("utimensat.atime: atime reads back", ts_ns(st.st_atim), ts_ns(ts[0]));
	expect_long("utimensat.mtime: mtime reads back", ts_ns(st.st_mtim), ts_ns(ts[1]));
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1200000000;
	ts[1].tv_nsec = 5;
	expect_err("utimensat.omit: UTIME_OMIT for atime", ERR(utimensat(AT_FDCWD, "a_f", ts, 0)),
	           0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	expect_long("utimensat.omit_atime: atime is unchanged", ts_ns(st.st_atim),
	            1000000000123456789LL);
	expect_long("utimensat.omit_mtime: mtime is set", ts_ns(st.st_mtim), 1200000000000000005LL);
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	expect_err("utimensat.now: UTIME_NOW for mtime", ERR(utimensat(AT_FDCWD, "a_f", ts, 0)), 0);
	clock_gettime(CLOCK_REALTIME, &after);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	report(ts_ns(st.st_mtim) >= ts_ns(before) && ts_ns(st.st_mtim) <= ts_ns(after),
	       "utimensat.now_mtime: mtime is now", "expected in [%lld, %lld] got %lld",
	       ts_ns(before), ts_ns(after), ts_ns(st.st_mtim));
	expect_long("utimensat.now_atime: atime is unchanged", ts_ns(st.st_atim),
	            1000000000123456789LL);
	expect_err("utimensat.null: NULL times", ERR(utimensat(AT_FDCWD, "a_f", NULL, 0)), 0);
	setup(lstat("a_f", &st) == 0, "stat a_f");
	report(ts_ns(st.st_atim) >= ts_ns(before), "utimensat.null_atime: atime is now",
	       "expected after %lld got %lld", ts_ns(before), ts_ns(st.st_atim));
	ts[0].tv_sec = 1300000000;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	expect_err("utimensat.nofollow: AT_SYMLINK_NOFOLLOW on a symlink",
	           ERR(utimensat(AT_FDCWD, "a_l", ts, AT_SYMLINK_NOFOLLOW)), 0);
	setup(lstat("a_l", &st) == 0 && stat("a_l", &st2) == 0, "stat a_l");
	expect_long("utimensat.nofollow_link: the link's mtime is set", ts_ns(st.st_mtim),
	            1300000000000000000LL);
	report(ts_ns(st2.st_mtim) != 1300000000000000000LL,
	       "utimensat.nofollow_target: the target's mtime is not", "expected not %lld got %lld",
	       1300000000000000000LL, ts_ns(st2.st_mtim));
	ts[1].tv_nsec = 1000000000;
	expect_err("utimensat.einval: nanoseconds out of range",
	           ERR(utimensat(AT_FDCWD, "a_f", ts, 0)), EINVAL);

	/* mtime and ctime move on write. */
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	setup(utimensat(AT_FDCWD, "a_f", ts, 0) == 0, "utimensat a_f");
	setup(lstat("a_f", &st) == 0, "stat a_f");
	wait_past(st.st_ctim);
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	fd = open("a_f", O_WRONLY);
	setup(fd >= 0 && pwrite(fd, "W", 1, 0) == 1, "write a_f");
	if (fd >= 0)
		close(fd);
	setup(lstat("a_f", &st2) == 0, "stat a_f");
	report(ts_ns(st2.st_mtim) >= ts_ns(before), "write.mtime: a write sets mtime to now",
	       "expected after %lld got %lld", ts_ns(before), ts_ns(st2.st_mtim));
	report(ts_ns(st2.st_ctim) > ts_ns(st.st_ctim), "write.ctime: a write changes ctime",
	       "expected after %lld got %lld", ts_ns(st.st_ctim), ts_ns(st2.st_ctim));
	setup(utimensat(AT_FDCWD, "a_f", ts, 0) == 0, "utimensat a_f");
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	setup(truncate("a_f", 2) == 0, "truncate a_f");
	setup(lstat("a_f", &st2) == 0, "stat a_f");
	report(ts_ns(st2.st_mtim) >= ts_ns(before), "truncate.mtime: truncate sets mtime to now",
	       "expected after %lld got %lld", ts_ns(before), ts_ns(st2.st_mtim));
	setup(utimensat(AT_FDCWD, "a_d", ts, 0) == 0, "utimensat a_d");
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	put("a_d/new", "n");
	setup(lstat("a_d", &st2) == 0, "stat a_d");
	report(ts_ns(st2.st_mtim) >= ts_ns(before),
	       "dir.mtime_create: creating an entry sets the "
	       "directory's mtime",
	       "expected after %lld got %lld", ts_ns(before), ts_ns(st2.st_mtim));
	setup(utimensat(AT_FDCWD, "a_d", ts, 0) == 0, "utimensat a_d");
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	setup(unlink("a_d/new") == 0, "unlink a_d/new");
	setup(lstat("a_d", &st2) == 0, "stat a_d");
	report(ts_ns(st2.st_mtim) >= ts_ns(before),
	       "dir.mtime_unlink: removing an entry sets the "
	       "directory's mtime",
	       "expected after %lld got %lld", ts_ns(before), ts_ns(st2.st_mtim));
}

static void cases_truncate(void)
{
	char buf[64];
	int fd;
	ssize_t n;

	put("t_f", "0123456789");
	expect_err("truncate.grow: to 20 bytes", ERR(truncate("t_f", 20)), 0);
	expect_long("truncate.grow_size: size 20", size_of("t_f"), 20);
	fd = open("t_f", O_RDONLY);
	n = fd >= 0 ? pread(fd, buf, sizeof(buf), 0) : -1;
	if (fd >= 0)
		close(fd);
	report(n == 20 && memcmp(buf, "0123456789\0\0\0\0\0\0\0\0\0\0", 20) == 0,
	       "truncate.grow_zeros: the new bytes read as zeros",
	       "expected 10 bytes then 10 zeros "
	       "got %zd bytes",
	       n);
	expect_err("truncate.shrink: to 4 bytes", ERR(truncate("t_f", 4)), 0);
	expect_content("truncate.shrink_content: the first 4 bytes remain", "t_f", "0123");
	expect_err("truncate.grow_again: to 8 bytes", ERR(truncate("t_f", 8)), 0);
	fd = open("t_f", O_RDONLY);
	n = fd >= 0 ? pread(fd, buf, sizeof(buf), 0) : -1;
	if (fd >= 0)
		close(fd);
	report(n == 8 && memcmp(buf, "0123\0\0\0\0", 8) == 0,
	       "truncate.no_stale: bytes cut off "
	       "do not come back",
	       "expected \"0123\" and 4 zeros got %zd bytes", n);
	setup(mkdir("t_d", 0755) == 0, "mkdir t_d");
	expect_err("truncate.eisdir: of a directory", ERR(truncate("t_d", 0)), EISDIR);
	expect_err("truncate.einval: to a negative length", ERR(truncate("t_f", -1)), EINVAL);
	expect_err("truncate.enoent: of a missing name", ERR(truncate("t_missing", 0)), ENOENT);
	fd = open("t_f", O_RDWR);
	expect_err("ftruncate.shrink: ftruncate to 2", ERR(ftruncate(fd, 2)), 0);
	expect_err("ftruncate.einval: ftruncate to a negative length", ERR(ftruncate(fd, -5)),
	           EINVAL);
	if (fd >= 0)
		close(fd);
	expect_content("ftruncate.content: 2 bytes remain", "t_f", "01");
	fd = open("t_f", O_RDONLY);
	expect_err2("ftruncate.rdonly: ftruncate of a read-only descriptor", ERR(ftruncate(fd, 0)),
	            EINVAL, EBADF);
	if (fd >= 0)
		close(fd);
	expect_long("ftruncate.rdonly_size: the size is unchanged", size_of("t_f"), 2);
	setup(symlink("t_f", "t_l") == 0, "symlink t_l");
	expect_err("truncate.follow: truncate through a symlink", ERR(truncate("t_l", 1)), 0);
	expect_content("truncate.follow_content: the target was truncated", "t_f", "0");
}

static void cases_fifo(void)
{
	char c = 0;
	int fd;

	umask(022);
	expect_err("mknod.fifo: mknod S_IFIFO 0666", ERR(mknod("p_fifo", S_IFIFO | 0666, 0)), 0);
	expect_type("mknod.fifo_type: lstat sees a FIFO", "p_fifo", false, S_IFIFO);
	expect_mode("mknod.fifo_umask: mode 0644 under umask 022", "p_fifo", 0644);
	expect_err("mknod.fifo_eexist: over an existing name",
	           ERR(mknod("p_fifo", S_IFIFO | 0644, 0)), EEXIST);
	expect_err("mkfifo.new: mkfifo 0600", ERR(mkfifo("p_fifo2", 0600)), 0);
	expect_type("mkfifo.type: lstat sees a FIFO", "p_fifo2", false, S_IFIFO);
	fd = open("p_fifo", O_RDWR | O_NONBLOCK);
	expect_err("fifo.open: open O_RDWR of a FIFO", ERR(fd), 0);
	if (fd >= 0) {
		expect_err("fifo.write: a byte into it", ERR(write(fd, "q", 1)), 0);
		expect_err("fifo.read: the byte back", ERR(read(fd, &c, 1)), 0);
		report(c == 'q', "fifo.byte: it is the byte written", "expected 'q' got %d", c);
		close(fd);
	}
	expect_long("fifo.size: a FIFO's size is 0", size_of("p_fifo"), 0);
	expect_err("fifo.rename: rename a FIFO", ERR(rename("p_fifo2", "p_fifo3")), 0);
	expect_type("fifo.rename_type: still a FIFO", "p_fifo3", false, S_IFIFO);
	expect_err("fifo.unlink: unlink a FIFO", ERR(unlink("p_fifo3")), 0);
}

static void cases_readdir(void)
{
	const char *want[] = {"a", "b", "c", "d"};
	int seen = 0, dots = 0, other = 0;
	struct dirent *e;
	DIR *d;
	size_t i;

	setup(mkdir("rd", 0755) == 0, "mkdir rd");
	put("rd/a", "a");
	setup(mkdir("rd/b", 0755) == 0, "mkdir rd/b");
	setup(symlink("a", "rd/c") == 0, "symlink rd/c");
	setup(mkfifo("rd/d", 0644) == 0, "mkfifo rd/d");
	d = opendir("rd");
	if (!d) {
		report(false, "readdir.open: opendir", "expected OK got %s", fsc_errname(errno));
		return;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			dots++;
			continue;
		}
		for (i = 0; i < 4; i++)
			if (strcmp(e->d_name, want[i]) == 0)
				break;
		if (i == 4) {
			other++;
			continue;
		}
		seen |= 1 << i;
		if (e->d_type != DT_UNKNOWN) {
			unsigned char t[] = {DT_REG, DT_DIR, DT_LNK, DT_FIFO};

			report(e->d_type == t[i],
			       want[i][0] == 'a'   ? "readdir.type_reg: d_type of a file"
			       : want[i][0] == 'b' ? "readdir.type_dir: d_type of a directory"
			       : want[i][0] == 'c' ? "readdir.type_lnk: d_type of a symlink"
			                           : "readdir.type_fifo: d_type of a FIFO",
			       "expected %d got %d", t[i], e->d_type);
		}
	}
	closedir(d);
	expect_long("readdir.entries: every entry is listed once", seen, 15);
	expect_long("readdir.dots: . and .. are listed", dots, 2);
	expect_long("readdir.no_others: nothing else is listed", other, 0);
}

/* The unprivileged part: a child with uid and gid 65534 and no supplementary
 * groups; root made the files it meets. */
static void cases_perm_setup(void)
{
	umask(022);
	setup(mkdir("perm", 0777) == 0 && chmod("perm", 0777) == 0, "mkdir perm");
	put("perm/secret", "secret");
	setup(chmod("perm/secret", 0600) == 0, "chmod perm/secret");
	put("perm/public", "public");
	setup(chmod("perm/public", 0666) == 0, "chmod perm/public");
	put("perm/readable", "readable");
	setup(mkdir("perm/private", 0700) == 0, "mkdir perm/private");
	put("perm/private/f", "f");
	setup(mkdir("perm/closed", 0755) == 0, "mkdir perm/closed");
	put("perm/closed/f", "f");
	setup(mkdir("perm/sticky", 0777) == 0 && chmod("perm/sticky", 01777) == 0,
	      "mkdir perm/sticky");
	put("perm/sticky/rootfile", "root");
	setup(chmod("perm/sticky/rootfile", 0666) == 0, "chmod perm/sticky/rootfile");
	setup(mkdir("perm/open", 0777) == 0 && chmod("perm/open", 0777) == 0, "mkdir perm/open");
	put("perm/open/rootfile", "root");
}

static void cases_perm_child(void)
{
	struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
	struct stat st;
	DIR *d;
	int fd;

	expect_err("perm.read_0600: open O_RDONLY of another's 0600 file",
	           ERR(open("perm/secret", O_RDONLY)), EACCES);
	expect_err("perm.write_0644: open O_WRONLY of another's 0644 file",
	           ERR(open("perm/readable", O_WRONLY)), EACCES);
	fd = open("perm/readable", O_RDONLY);
	expect_err("perm.read_0644: open O_RDONLY of another's 0644 file", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_err("perm.truncate_0644: truncate of another's 0644 file",
	           ERR(truncate("perm/readable", 0)), EACCES);
	fd = open("perm/public", O_RDWR);
	expect_err("perm.rdwr_0666: open O_RDWR of another's 0666 file", ERR(fd), 0);
	if (fd >= 0) {
		expect_long("perm.write_0666: write into it", write(fd, "PUB", 3), 3);
		close(fd);
	}
	expect_err("perm.search_0700: stat in another's 0700 directory",
	           ERR(stat("perm/private/f", &st)), EACCES);
	expect_err("perm.open_in_0700: open in another's 0700 directory",
	           ERR(open("perm/private/f", O_RDONLY)), EACCES);
	d = opendir("perm/private");
	expect_err("perm.list_0700: opendir of another's 0700 directory", d ? 0 : errno, EACCES);
	if (d)
		closedir(d);
	expect_err("perm.create_0755: create in another's 0755 directory",
	           ERR(open("perm/closed/new", O_WRONLY | O_CREAT, 0644)), EACCES);
	expect_err("perm.unlink_0755: unlink in another's 0755 directory",
	           ERR(unlink("perm/closed/f")), EACCES);
	expect_err("perm.mkdir_0755: mkdir in another's 0755 directory",
	           ERR(mkdir("perm/closed/d", 0755)), EACCES);
	expect_err("perm.chmod_other: chmod of another's file", ERR(chmod("perm/public", 0777)),
	           EPERM);
	expect_err("perm.chown_other: chown of another's file",
	           ERR(chown("perm/public", NOBODY, NOBODY)), EPERM);
	expect_err("perm.utimens_now_writable: UTIME_NOW on another's writable file",
	           ERR(utimensat(AT_FDCWD, "perm/public", NULL, 0)), 0);
	expect_err("perm.utimens_set_other: explicit times on another's file",
	           ERR(utimensat(AT_FDCWD, "perm/public", ts, 0)), EPERM);

	fd = open("perm/own", O_WRONLY | O_CREAT | O_EXCL, 0644);
	expect_err("perm.create_0777: create in a 0777 directory", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	setup(lstat("perm/own", &st) == 0, "stat perm/own");
	report(st.st_uid == NOBODY && st.st_gid == NOBODY,
	       "perm.owner: a new file is owned by its "
	       "creator",
	       "expected 65534:65534 got %u:%u", (unsigned)st.st_uid, (unsigned)st.st_gid);
	expect_err("perm.chmod_own: chmod of one's own file", ERR(chmod("perm/own", 0444)), 0);
	expect_err("perm.write_own_0444: open O_WRONLY of one's own 0444 file",
	           ERR(open("perm/own", O_WRONLY)), EACCES);
	expect_err("perm.chown_own_to_root: chown of one's own file to root",
	           ERR(chown("perm/own", 0, 0)), EPERM);
	expect_err("perm.utimens_set_own: explicit times on one's own file",
	           ERR(utimensat(AT_FDCWD, "perm/own", ts, 0)), 0);
	expect_err("perm.mkdir_own: mkdir in a 0777 directory", ERR(mkdir("perm/owndir", 0755)), 0);
	setup(lstat("perm/owndir", &st) == 0, "stat perm/owndir");
	report(st.st_uid == NOBODY, "perm.dir_owner: a new directory is owned by its creator",
	       "expected 65534 got %u", (unsigned)st.st_uid);
	expect_err("perm.symlink_own: symlink in a 0777 directory",
	           ERR(symlink("own", "perm/ownlink")), 0);
	setup(lstat("perm/ownlink", &st) == 0, "stat perm/ownlink");
	report(st.st_uid == NOBODY, "perm.symlink_owner: a new symlink is owned by its creator",
	       "expected 65534 got %u", (unsigned)st.st_uid);

	expect_err("perm.sticky_unlink_other: unlink of another's file in a 01777 directory",
	           ERR(unlink("perm/sticky/rootfile")), EPERM);
	expect_err("perm.sticky_rename_other: rename of another's file in a 01777 directory",
	           ERR(rename("perm/sticky/rootfile", "perm/sticky/moved")), EPERM);
	expect_content("perm.sticky_kept: the file is still there", "perm/sticky/rootfile", "root");
	fd = open("perm/sticky/mine", O_WRONLY | O_CREAT | O_EXCL, 0644);
	expect_err("perm.sticky_create: create in a 01777 directory", ERR(fd), 0);
	if (fd >= 0)
		close(fd);
	expect_err("perm.sticky_unlink_own: unlink of one's own file in a 01777 directory",
	           ERR(unlink("perm/sticky/mine")), 0);
	expect_err("perm.open_unlink_other: unlink of another's file in a 0777 directory",
	           ERR(unlink("perm/open/rootfile")), 0);
}

/* The unprivileged child's exit status when it could not drop its privileges;
 * below it, the number of its failed cases. */
#define PERM_SETUP_FAILED 255

static void cases_perm(void)
{
	int status = 0, base;
	pid_t pid;

	cases_perm_setup();
	base = n_fail;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		setup(false, "fork");
		return;
	}
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0) {
			printf("not ok %d - setup: setresuid(65534): %s\n", n_case + 1,
			       strerror(errno));
			_exit(PERM_SETUP_FAILED);
		}
		cases_perm_child();
		fflush(stdout);
		/* The child's own failures go back to the parent. */
		_exit(n_fail - base > PERM_SETUP_FAILED - 1 ? PERM_SETUP_FAILED - 1 : n_fail - base);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == PERM_SETUP_FAILED) {
		report(false, "perm.child: the unprivileged child ran",
		       "expected exit got status %d", status);
		return;
	}
	n_fail += WEXITSTATUS(status);
}

int fsc_errno_main(int argc, char **argv)
{
	char top[PATH_MAX];

	if (argc != 2) {
		fprintf(stderr, "usage: fsconform errno DIR\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "fsconform errno: must run as root (chown, setresuid)\n");
		return 2;
	}
	snprintf(top, sizeof(top), "%s/errno", argv[1]);
	rm_tree(top);
	if (mkdir(top, 0755) < 0 || chmod(top, 0755) < 0 || chdir(top) < 0) {
		fprintf(stderr, "fsconform errno: %s: %s\n", top, strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	cases_open();
	cases_mkdir();
	cases_umask_files();
	cases_unlink();
	cases_rename();
	cases_link();
	cases_symlink();
	cases_attr();
	cases_truncate();
	cases_fifo();
	cases_readdir();
	cases_perm();
	printf("# %s\n", n_fail ? "FAILED" : "all passed");
	return n_fail ? 1 : 0;
}
