/* The watcher against real file operations: each test changes a fresh tree
 * and waits, with poll() on watch_fd(), until the expected events arrive.
 * Absence is checked behind a sentinel: inotify keeps one queue in order, so
 * once the sentinel file is reported every earlier change has been. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/watch.h"
#include "tests/unit/prereq.h"

#define WAIT_MS     5000
#define QUEUE_LIMIT "/proc/sys/fs/inotify/max_queued_events"

struct rec_event {
	enum watch_kind kind;
	bool is_dir;
	char *path;
	char *to;
};

static char base[PATH_MAX]; /* made and removed by the parent */
static char root[PATH_MAX]; /* this test's tree: dataset/ model/ watched, other/ not */
static struct watch *w;
static struct rec_event *evs;
static size_t nevs;

static const char *const subs[] = {"dataset", "model", NULL};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static void make_base(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/check_watch.XXXXXX", t && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
}

static void remove_base(void)
{
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* root/<formatted>; a few rotating buffers so calls can be nested in one expression. */
static const char *at(const char *fmt, ...)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];
	va_list ap;
	int n = snprintf(b, PATH_MAX, "%s/", root);

	va_start(ap, fmt);
	vsnprintf(b + n, PATH_MAX - n, fmt, ap);
	va_end(ap);
	return b;
}

static void put(const char *rel, const char *data)
{
	int fd = open(at("%s", rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	ck_assert_int_eq(close(fd), 0);
}

static void make_tree(void)
{
	int n = snprintf(root, sizeof(root), "%s/t.XXXXXX", base);

	ck_assert(n > 0 && (size_t)n < sizeof(root));
	ck_assert_ptr_nonnull(mkdtemp(root));
	ck_assert_int_eq(mkdir(at("dataset"), 0755), 0);
	ck_assert_int_eq(mkdir(at("model"), 0755), 0);
	ck_assert_int_eq(mkdir(at("other"), 0755), 0);
}

static void rec_clear(void)
{
	for (size_t i = 0; i < nevs; i++) {
		free(evs[i].path);
		free(evs[i].to);
	}
	free(evs);
	evs = NULL;
	nevs = 0;
}

static void record(const struct watch_event *ev, void *ud)
{
	struct rec_event *e;

	ck_assert_ptr_eq(ud, &evs);
	evs = realloc(evs, (nevs + 1) * sizeof(*evs));
	ck_assert_ptr_nonnull(evs);
	e = &evs[nevs++];
	e->kind = ev->kind;
	e->is_dir = ev->is_dir;
	e->path = strdup(ev->path);
	e->to = ev->to ? strdup(ev->to) : NULL;
	ck_assert_ptr_nonnull(e->path);
	if (ev->kind == WATCH_MOVED)
		ck_assert_ptr_nonnull(e->to);
}

static const struct rec_event *find(enum watch_kind kind, const char *path)
{
	for (size_t i = 0; i < nevs; i++)
		if (evs[i].kind == kind && !strcmp(evs[i].path, path))
			return &evs[i];
	return NULL;
}

static size_t count(enum watch_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < nevs; i++)
		n += evs[i].kind == kind;
	return n;
}

/* Whether any event names a path containing s. */
static bool mentions(const char *s)
{
	for (size_t i = 0; i < nevs; i++)
		if (strstr(evs[i].path, s) || (evs[i].to && strstr(evs[i].to, s)))
			return true;
	return false;
}

static void dispatch(void)
{
	ck_assert_int_eq(watch_dispatch(w, record, &evs), 0);
}

static const struct rec_event *wait_for(enum watch_kind kind, const char *path)
{
	const struct rec_event *e;

	while (!(e = find(kind, path))) {
		struct pollfd p = {.fd = watch_fd(w), .events = POLLIN};
		int r = poll(&p, 1, WAIT_MS);

		ck_assert_msg(r > 0, "no event %d for \"%s\" within %d ms (%zu others)", kind, path,
		              WAIT_MS, nevs);
		dispatch();
	}
	return e;
}

/* The kernel's count of watches on the instance. */
static int count_watches(void)
{
	char path[64], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", watch_fd(w));
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "inotify wd:", 11) == 0;
	fclose(f);
	return n;
}

/* Returns once everything changed before the call has been reported. */
static void sync_point(void)
{
	static int n;
	char rel[64];

	snprintf(rel, sizeof(rel), "dataset/sentinel-%d", n++);
	put(rel, "s");
	wait_for(WATCH_FILE_CHANGED, rel);
}

static void setup(void)
{
	make_tree();
	ck_assert_int_eq(watch_open(root, subs, &w), 0);
	ck_assert_int_ge(watch_fd(w), 0);
}

static void teardown(void)
{
	watch_close(w);
	w = NULL;
	rec_clear();
}

START_TEST(test_write_close)
{
	const struct rec_event *e;

	dispatch();
	ck_assert_uint_eq(nevs, 0);
	put("dataset/f.csv", "1,2,3\n");
	e = wait_for(WATCH_FILE_CHANGED, "dataset/f.csv");
	ck_assert(!e->is_dir);
	ck_assert_ptr_null(e->to);
	/* Closed before it was read: the write alone is not reported. */
	ck_assert_ptr_null(find(WATCH_FILE_GROWING, "dataset/f.csv"));

	/* Created and closed without a write. */
	ck_assert_int_eq(close(open(at("model/empty"), O_WRONLY | O_CREAT, 0644)), 0);
	wait_for(WATCH_FILE_CHANGED, "model/empty");
}
END_TEST

START_TEST(test_growing)
{
	int fd = open(at("dataset/log"), O_WRONLY | O_CREAT, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "line\n", 5), 5);
	wait_for(WATCH_FILE_GROWING, "dataset/log");
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "dataset/log"));
	ck_assert_int_eq(write(fd, "more\n", 5), 5);
	ck_assert_int_eq(close(fd), 0);
	wait_for(WATCH_FILE_CHANGED, "dataset/log");
}
END_TEST

START_TEST(test_mkdir_p)
{
	/* All created before the first dispatch, so before any watch on a/. */
	ck_assert_int_eq(mkdir(at("dataset/a"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/a/b"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/a/b/c"), 0755), 0);
	put("dataset/a/f1", "1");
	put("dataset/a/b/f2", "2");
	put("dataset/a/b/c/f3", "3");
	ck_assert(wait_for(WATCH_DIR_ADDED, "dataset/a")->is_dir);
	ck_assert(wait_for(WATCH_DIR_ADDED, "dataset/a/b")->is_dir);
	ck_assert(wait_for(WATCH_DIR_ADDED, "dataset/a/b/c")->is_dir);
	wait_for(WATCH_FILE_CHANGED, "dataset/a/f1");
	wait_for(WATCH_FILE_CHANGED, "dataset/a/b/f2");
	ck_assert(!wait_for(WATCH_FILE_CHANGED, "dataset/a/b/c/f3")->is_dir);

	/* And the new directories are watched. */
	put("dataset/a/b/c/f4", "4");
	wait_for(WATCH_FILE_CHANGED, "dataset/a/b/c/f4");
}
END_TEST

START_TEST(test_rename_file)
{
	const struct rec_event *e;

	put("dataset/old", "x");
	wait_for(WATCH_FILE_CHANGED, "dataset/old");
	rec_clear();
	ck_assert_int_eq(rename(at("dataset/old"), at("dataset/new")), 0);
	e = wait_for(WATCH_MOVED, "dataset/old");
	ck_assert_str_eq(e->to, "dataset/new");
	ck_assert(!e->is_dir);

	/* Across watched top-level directories too. */
	ck_assert_int_eq(rename(at("dataset/new"), at("model/new")), 0);
	ck_assert_str_eq(wait_for(WATCH_MOVED, "dataset/new")->to, "model/new");
	sync_point();
	ck_assert_uint_eq(count(WATCH_MOVED), 2);
	ck_assert_uint_eq(count(WATCH_REMOVED), 0);
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "dataset/new"));
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "model/new"));
}
END_TEST

START_TEST(test_rename_dir)
{
	const struct rec_event *e;

	ck_assert_int_eq(mkdir(at("dataset/d"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/d/e"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/d/e/f"), 0755), 0);
	wait_for(WATCH_DIR_ADDED, "dataset/d/e/f");
	rec_clear();
	ck_assert_int_eq(rename(at("dataset/d"), at("dataset/z")), 0);
	e = wait_for(WATCH_MOVED, "dataset/d");
	ck_assert_str_eq(e->to, "dataset/z");
	ck_assert(e->is_dir);

	put("dataset/z/x", "1");
	put("dataset/z/e/f/y", "2");
	wait_for(WATCH_FILE_CHANGED, "dataset/z/x");
	wait_for(WATCH_FILE_CHANGED, "dataset/z/e/f/y");

	/* A second rename, into the other watched directory. */
	ck_assert_int_eq(rename(at("dataset/z/e"), at("model/e2")), 0);
	wait_for(WATCH_MOVED, "dataset/z/e");
	put("model/e2/f/w", "3");
	wait_for(WATCH_FILE_CHANGED, "model/e2/f/w");
	/* One event per rename, and nothing under the old names. */
	ck_assert(!mentions("dataset/d/"));
	ck_assert(!mentions("dataset/z/e/f/w"));
	ck_assert_uint_eq(count(WATCH_MOVED), 2);
	ck_assert_uint_eq(count(WATCH_REMOVED), 0);
	ck_assert_uint_eq(count(WATCH_DIR_ADDED), 0);
}
END_TEST

/* A directory made and renamed before the watcher reads its IN_CREATE:
 * the watch cannot be added under the old name, and is added under the
 * new one when the rename is read (engine property test seed 93: nothing
 * in such a directory reached the peer). */
START_TEST(test_rename_new_dir)
{
	const struct rec_event *e;

	ck_assert_int_eq(mkdir(at("dataset/n"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/n/sub"), 0755), 0);
	put("dataset/n/sub/a", "1");
	ck_assert_int_eq(rename(at("dataset/n"), at("dataset/m")), 0);
	e = wait_for(WATCH_MOVED, "dataset/n");
	ck_assert_str_eq(e->to, "dataset/m");
	wait_for(WATCH_FILE_CHANGED, "dataset/m/sub/a");
	put("dataset/m/x", "2");
	put("dataset/m/sub/y", "3");
	wait_for(WATCH_FILE_CHANGED, "dataset/m/x");
	wait_for(WATCH_FILE_CHANGED, "dataset/m/sub/y");
}
END_TEST

/* A hard link whose other name is gone before its IN_CREATE is read has
 * one name then, like a file being written, but no close follows: it is
 * still reported. */
START_TEST(test_link_other_name_gone)
{
	put("dataset/a", "x");
	wait_for(WATCH_FILE_CHANGED, "dataset/a");
	ck_assert_int_eq(link(at("dataset/a"), at("dataset/b")), 0);
	ck_assert_int_eq(unlink(at("dataset/a")), 0);
	wait_for(WATCH_REMOVED, "dataset/a");
	wait_for(WATCH_FILE_CHANGED, "dataset/b");
}
END_TEST

START_TEST(test_move_out)
{
	put("dataset/f", "x");
	ck_assert_int_eq(mkdir(at("dataset/d"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/d/s"), 0755), 0);
	wait_for(WATCH_FILE_CHANGED, "dataset/f");
	wait_for(WATCH_DIR_ADDED, "dataset/d/s");
	ck_assert_int_eq(count_watches(), 4);

	ck_assert_int_eq(rename(at("dataset/f"), at("other/f")), 0);
	ck_assert(!wait_for(WATCH_REMOVED, "dataset/f")->is_dir);
	ck_assert_int_eq(rename(at("dataset/d"), at("other/d")), 0);
	ck_assert(wait_for(WATCH_REMOVED, "dataset/d")->is_dir);
	ck_assert_int_eq(count_watches(), 2);

	/* Its watch went with it: changes there are not reported. */
	put("other/d/g", "y");
	put("other/d/s/g", "y");
	sync_point();
	ck_assert(!mentions("/g"));
	ck_assert(!mentions("other"));
}
END_TEST

START_TEST(test_move_in)
{
	put("other/h", "x");
	ck_assert_int_eq(mkdir(at("other/t"), 0755), 0);
	ck_assert_int_eq(mkdir(at("other/t/u"), 0755), 0);
	put("other/t/u/f", "y");

	ck_assert_int_eq(rename(at("other/h"), at("dataset/h")), 0);
	wait_for(WATCH_FILE_CHANGED, "dataset/h");
	ck_assert_int_eq(rename(at("other/t"), at("dataset/t")), 0);
	wait_for(WATCH_DIR_ADDED, "dataset/t");
	wait_for(WATCH_DIR_ADDED, "dataset/t/u");
	wait_for(WATCH_FILE_CHANGED, "dataset/t/u/f");
	put("dataset/t/u/g", "z");
	wait_for(WATCH_FILE_CHANGED, "dataset/t/u/g");
	ck_assert_uint_eq(count(WATCH_MOVED), 0);
}
END_TEST

START_TEST(test_remove)
{
	put("dataset/f", "x");
	ck_assert_int_eq(mkdir(at("model/d"), 0755), 0);
	wait_for(WATCH_FILE_CHANGED, "dataset/f");
	wait_for(WATCH_DIR_ADDED, "model/d");
	ck_assert_int_eq(unlink(at("dataset/f")), 0);
	ck_assert_int_eq(rmdir(at("model/d")), 0);
	ck_assert(!wait_for(WATCH_REMOVED, "dataset/f")->is_dir);
	ck_assert(wait_for(WATCH_REMOVED, "model/d")->is_dir);
}
END_TEST

START_TEST(test_top_removed)
{
	ck_assert_int_eq(rmdir(at("model")), 0);
	ck_assert(wait_for(WATCH_REMOVED, "model")->is_dir);
	ck_assert_int_eq(mkdir(at("model"), 0755), 0);
	put("model/f", "x");
	sync_point();
	ck_assert(!mentions("model/"));
}
END_TEST

START_TEST(test_chmod)
{
	put("dataset/f", "x");
	wait_for(WATCH_FILE_CHANGED, "dataset/f");
	rec_clear();
	ck_assert_int_eq(chmod(at("dataset/f"), 0600), 0);
	wait_for(WATCH_FILE_CHANGED, "dataset/f");
}
END_TEST

START_TEST(test_not_regular)
{
	int fd;

	ck_assert_int_eq(symlink("target", at("dataset/link")), 0);
	ck_assert_int_eq(mkfifo(at("dataset/fifo"), 0644), 0);
	/* Writing a fifo raises IN_MODIFY and IN_CLOSE_WRITE like a file. */
	fd = open(at("dataset/fifo"), O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(rename(at("dataset/link"), at("dataset/link2")), 0);
	/* ln -sf over a regular file: a link renamed over it. */
	put("dataset/plain", "regular");
	sync_point();
	rec_clear();
	ck_assert_int_eq(symlink("target", at("dataset/plain.tmp")), 0);
	ck_assert_int_eq(rename(at("dataset/plain.tmp"), at("dataset/plain")), 0);
	sync_point();
	/* Special files are named once each (the engine reports them), never
	 * as changed files, and never as moves. */
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "dataset/fifo"));
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "dataset/link2"));
	ck_assert_ptr_nonnull(find(WATCH_SPECIAL, "dataset/plain"));
	ck_assert_ptr_nonnull(find(WATCH_REMOVED, "dataset/plain.tmp"));
	ck_assert_uint_eq(count(WATCH_MOVED), 0);
}
END_TEST

START_TEST(test_special_created)
{
	ck_assert_int_eq(symlink("target", at("dataset/link")), 0);
	ck_assert_int_eq(mkfifo(at("dataset/fifo"), 0644), 0);
	sync_point();
	ck_assert_ptr_nonnull(find(WATCH_SPECIAL, "dataset/link"));
	ck_assert_ptr_nonnull(find(WATCH_SPECIAL, "dataset/fifo"));
	ck_assert_ptr_null(find(WATCH_FILE_CHANGED, "dataset/link"));
	ck_assert_uint_eq(count(WATCH_MOVED), 0);
}
END_TEST

/* The engine stages its temporary files outside the trees: a user's names
 * that look like them (".efs-tmp...", ".efs-staging") are ordinary names. */
START_TEST(test_tmp_names_reported)
{
	put("dataset/.efs-tmp-123", "partial");
	ck_assert_int_eq(mkdir(at("dataset/.efs-staging"), 0755), 0);
	put("dataset/.efs-staging/x", "y");
	wait_for(WATCH_FILE_CHANGED, "dataset/.efs-tmp-123");
	wait_for(WATCH_FILE_CHANGED, "dataset/.efs-staging/x");

	ck_assert_int_eq(rename(at("dataset/.efs-tmp-123"), at("dataset/final")), 0);
	sync_point();
	ck_assert_int_eq(rename(at("dataset/final"), at("dataset/.efs-tmp-9")), 0);
	sync_point();
	ck_assert_uint_eq(count(WATCH_MOVED), 2);
	ck_assert_ptr_nonnull(find(WATCH_MOVED, "dataset/.efs-tmp-123"));
	ck_assert_ptr_nonnull(find(WATCH_MOVED, "dataset/final"));
}
END_TEST

START_TEST(test_sibling_ignored)
{
	put("other/f", "x");
	ck_assert_int_eq(mkdir(at("other/d"), 0755), 0);
	put("other/d/g", "y");
	put("top-level-file", "z");
	sync_point();
	ck_assert(!mentions("other"));
	ck_assert(!mentions("top-level"));
}
END_TEST

START_TEST(test_open_errors)
{
	static const char *const missing[] = {"dataset", "nope", NULL};
	static const char *const nested[] = {"dataset/x", NULL};
	static const char *const dotdot[] = {"..", NULL};
	static const char *const none[] = {NULL};
	struct watch *w2 = (struct watch *)1;

	make_tree();
	ck_assert_int_eq(watch_open(root, missing, &w2), -ENOENT);
	ck_assert_ptr_null(w2);
	ck_assert_int_eq(watch_open(root, nested, &w2), -EINVAL);
	ck_assert_int_eq(watch_open(root, dotdot, &w2), -EINVAL);
	ck_assert_int_eq(watch_open(root, none, &w2), -EINVAL);
	ck_assert_int_eq(watch_open(at("absent"), subs, &w2), -ENOENT);

	/* A failed open leaves the library free for the next one. */
	ck_assert_int_eq(watch_open(root, subs, &w), 0);
	ck_assert_int_eq(watch_open(root, subs, &w2), -EBUSY);
	watch_close(w);
	ck_assert_int_eq(watch_open(root, subs, &w), 0);
	put("dataset/f", "x");
	wait_for(WATCH_FILE_CHANGED, "dataset/f");
	watch_close(w);
	w = NULL;
	watch_close(NULL);
	rec_clear();
}
END_TEST

/* The parent remembers the queue limit and puts it back whatever the test
 * did; the test itself restores it right after opening the watcher, since
 * the limit is read when an inotify instance is created. A lock on the file
 * keeps concurrent runs of this test from saving each other's 16. */
static char saved_limit[32];

static int lock_limit(void)
{
	int fd = open(QUEUE_LIMIT, O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		flock(fd, LOCK_EX);
	return fd;
}

static void unlock_limit(int fd)
{
	if (fd >= 0)
		close(fd);
}

static int read_limit(char *buf, size_t size)
{
	FILE *f = fopen(QUEUE_LIMIT, "r");
	int ok = f && fgets(buf, (int)size, f) != NULL;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static int write_limit(const char *v)
{
	FILE *f = fopen(QUEUE_LIMIT, "w");
	int ok = f && fputs(v, f) >= 0;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static void save_limit(void)
{
	int lock = lock_limit();

	make_base();
	if (read_limit(saved_limit, sizeof(saved_limit)) < 0)
		saved_limit[0] = '\0';
	unlock_limit(lock);
}

static void restore_limit(void)
{
	int lock = lock_limit();
	char now[32];

	if (saved_limit[0] && read_limit(now, sizeof(now)) == 0 && strcmp(now, saved_limit))
		write_limit(saved_limit);
	unlock_limit(lock);
	remove_base();
}

START_TEST(test_overflow)
{
	char old[32];
	int lock, r;

	make_tree();
	ck_assert_int_eq(mkdir(at("dataset/gone"), 0755), 0);
	lock = lock_limit();
	if (geteuid() != 0 || read_limit(old, sizeof(old)) < 0 || write_limit("16") < 0) {
		unlock_limit(lock);
		prereq_missing("root, to lower " QUEUE_LIMIT);
		return;
	}
	r = watch_open(root, subs, &w);
	ck_assert_int_eq(write_limit(old), 0);
	unlock_limit(lock);
	ck_assert_int_eq(r, 0);

	for (int i = 0; i < 200; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "dataset/f%03d", i);
		put(rel, "x");
	}
	/* Done while the queue is full: only the rescan can see them. */
	ck_assert_int_eq(mkdir(at("dataset/late"), 0755), 0);
	ck_assert_int_eq(rename(at("dataset/gone"), at("other/gone")), 0);
	wait_for(WATCH_RESCAN, "");
	ck_assert_ptr_null(find(WATCH_DIR_ADDED, "dataset/late"));

	put("dataset/late/x", "y");
	wait_for(WATCH_FILE_CHANGED, "dataset/late/x");
	put("dataset/after", "z");
	wait_for(WATCH_FILE_CHANGED, "dataset/after");
	ck_assert_uint_eq(count(WATCH_RESCAN), 1);
	/* dataset, model, late: not the one moved away. */
	ck_assert_int_eq(count_watches(), 3);
	put("other/gone/x", "y");
	sync_point();
	ck_assert(!mentions("gone"));
	watch_close(w);
	w = NULL;
	rec_clear();
}
END_TEST

static int write_text(const char *file, const char *text)
{
	FILE *f = fopen(file, "w");
	int ok = f && fputs(text, f) >= 0;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* Enters a user namespace of its own (this test's process only), where the
 * inotify watch limit can be lowered without touching the machine's. */
static bool limit_watches(int n)
{
	char uid[64], gid[64], val[16];

	snprintf(uid, sizeof(uid), "%u %u 1", (unsigned)getuid(), (unsigned)getuid());
	snprintf(gid, sizeof(gid), "%u %u 1", (unsigned)getgid(), (unsigned)getgid());
	snprintf(val, sizeof(val), "%d", n);
	return unshare(CLONE_NEWUSER) == 0 && write_text("/proc/self/setgroups", "deny") == 0 &&
	       write_text("/proc/self/uid_map", uid) == 0 &&
	       write_text("/proc/self/gid_map", gid) == 0 &&
	       write_text("/proc/sys/user/max_inotify_watches", val) == 0;
}

/* At the watch limit the watcher opens anyway, lists what it cannot watch,
 * and says how many directories it left unwatched. */
START_TEST(test_watch_limit)
{
	char first[PATH_MAX];

	make_tree();
	ck_assert_int_eq(mkdir(at("dataset/a"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/b"), 0755), 0);
	ck_assert_int_eq(mkdir(at("dataset/c"), 0755), 0);
	put("dataset/c/f", "x");
	if (!limit_watches(3)) {
		prereq_missing("a user namespace");
		return;
	}
	/* dataset and two of a, b, c; not the third, not model. */
	ck_assert_int_eq(watch_open(root, subs, &w), 0);
	ck_assert_int_eq(count_watches(), 3);
	ck_assert_uint_eq(watch_take_unwatched(w, first, sizeof(first)), 2);
	ck_assert(strcmp(first, "model") == 0 || strncmp(first, "dataset/", 8) == 0);
	ck_assert_uint_eq(watch_take_unwatched(w, first, sizeof(first)), 0);

	/* A new directory is reported though it cannot be watched. */
	ck_assert_int_eq(mkdir(at("dataset/new"), 0755), 0);
	wait_for(WATCH_DIR_ADDED, "dataset/new");
	sync_point();
	ck_assert_uint_eq(watch_take_unwatched(w, first, sizeof(first)), 1);
	ck_assert_str_eq(first, "dataset/new");
	ck_assert_int_eq(count_watches(), 3);
	watch_close(w);
	w = NULL;
	rec_clear();
}
END_TEST

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc = tcase_create("events");
	TCase *te = tcase_create("open");
	TCase *to = tcase_create("overflow");

	tcase_add_unchecked_fixture(tc, make_base, remove_base);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_write_close);
	tcase_add_test(tc, test_growing);
	tcase_add_test(tc, test_mkdir_p);
	tcase_add_test(tc, test_rename_new_dir);
	tcase_add_test(tc, test_rename_file);
	tcase_add_test(tc, test_rename_dir);
	tcase_add_test(tc, test_link_other_name_gone);
	tcase_add_test(tc, test_move_out);
	tcase_add_test(tc, test_move_in);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_top_removed);
	tcase_add_test(tc, test_chmod);
	tcase_add_test(tc, test_not_regular);
	tcase_add_test(tc, test_special_created);
	tcase_add_test(tc, test_tmp_names_reported);
	tcase_add_test(tc, test_sibling_ignored);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(te, make_base, remove_base);
	tcase_set_timeout(te, 30);
	tcase_add_test(te, test_open_errors);
	tcase_add_test(te, test_watch_limit);
	suite_add_tcase(s, te);

	tcase_add_unchecked_fixture(to, save_limit, restore_limit);
	tcase_set_timeout(to, 30);
	tcase_add_test(to, test_overflow);
	suite_add_tcase(s, to);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
