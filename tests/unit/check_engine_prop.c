/* The sender's model of the peer stays exact: a property test.
 *
 * Two real engines talk over a socketpair in this process: a host that sends
 * dataset/ from its root and an enclave that receives it. The host's tree gets
 * a random sequence of operations (create, overwrite, append, truncate,
 * chmod, rename to a new name, over a file, a directory over an empty one,
 * into another directory, remove, mkdir, rmdir, rm -r, hard link, symlink),
 * reported to the engine as the watcher would (engine_notify), seen by the
 * engine's own inotify watch, or reported as the FUSE mount reports them
 * (engine_notify; symlinks hard-linked too). The enclave is paused (not stepped: its socket
 * fills and the host's transfers stay in flight) for random stretches. In
 * the end, after a barrier both sides settle, and the two trees must be the
 * same: names, kinds, contents, modes, symlink targets, and names that share
 * an inode on the host share one on the enclave.
 *
 * Seeds: seeds 1 to SEEDS and the seeds in regress_seeds, each in all three
 * modes, so that `make check` is repeatable; EFS_PROP_SEED=N runs seed N
 * only (in all three, or in EFS_PROP_MODE=notify|watch|mount), to replay a
 * failure or to explore (EFS_PROP_SEED=$RANDOM). A failure prints its seed.
 * EFS_PROP_TRACE=1 prints the operations and both trees. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "sync/engine.h"
#include "sync/hash.h"
#include "sync/log.h"
#include "sync/util.h"
#include "sync/watch.h"
#include "sync/wire.h"

#define SEEDS 4          /* per mode, without EFS_PROP_SEED */
#define OPS 250          /* operations per seed */
#define SETTLE_ROUNDS 200000
#define EFS_STR_(x) #x
#define EFS_STR(x) EFS_STR_(x)

static char tmpdir[200];
static uint64_t base_seed;
static bool seed_given, trace;
static int only_mode = -1; /* EFS_PROP_MODE: one mode's name, with EFS_PROP_SEED */

/* --- randomness ------------------------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned rn(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* --- the world -------------------------------------------------------------------------- */

/* How the host's changes reach its engine: its own inotify watcher, the
 * events that watcher would give (notify), or the events the FUSE mount
 * gives (fs/fsops.c: a symlink made is a changed name, a symlink renamed is
 * a move, a hard link reports only its new name, symlinks may be
 * hard-linked). */
enum mode { M_NOTIFY, M_WATCH, M_MOUNT, M_COUNT };

static const char *const mode_names[M_COUNT] = { "notify", "watch", "mount" };

struct world {
	uint64_t seed;
	enum mode mode;
	char host[256], encl[256];
	struct engine *h, *en;
	bool paused;
};

static struct world W;

static void join(char *out, size_t n, const char *a, const char *b)
{
	ck_assert_uint_lt((size_t)snprintf(out, n, "%s/%s", a, b), n);
}

static void step(struct engine *e, const char *who)
{
	struct pollfd fds[2];
	int n = engine_pollfds(e, fds, 2), r;

	ck_assert_int_ge(poll(fds, (nfds_t)n, 0), 0);
	r = engine_step(e, fds, n);
	ck_assert_msg(r == 0, "EFS_PROP_SEED=%" PRIu64 " (%s): the %s's connection ended: %s", W.seed,
		      mode_names[W.mode], who, strerror(-r));
}

static void step_both(void)
{
	step(W.h, "host");
	if (!W.paused)
		step(W.en, "enclave");
}

/* The trees of each side (the engine takes them from its caller). */
static const char *const host_trees[] = { "encrypted", "dataset", "model", NULL };
static const char *const enclave_trees[] = { "output", NULL };

static void world_setup(uint64_t seed, enum mode mode)
{
	struct engine_config hc = { .role = ROLE_HOST, .name = "prop-host", .watch = mode == M_WATCH,
				    .own_trees = host_trees, .peer_trees = enclave_trees, .scan_thread = true };
	struct engine_config ec = { .role = ROLE_ENCLAVE, .name = "prop-enclave",
				    .own_trees = enclave_trees, .peer_trees = host_trees };
	char dir[256];
	int sv[2];

	memset(&W, 0, sizeof(W));
	W.seed = seed;
	W.mode = mode;
	rng = seed * 2654435761u + 0x9e3779b97f4a7c15ull;
	if (!rng)
		rng = 1;
	join(dir, sizeof(dir), tmpdir, "w.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	join(W.host, sizeof(W.host), dir, "host");
	join(W.encl, sizeof(W.encl), dir, "enclave");
	ck_assert_int_eq(mkdir(W.host, 0755), 0);
	ck_assert_int_eq(mkdir(W.encl, 0755), 0);
	hc.root = W.host;
	ec.root = W.encl;
	ck_assert_int_eq(engine_new(&hc, &W.h), 0);
	ck_assert_int_eq(engine_new(&ec, &W.en), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(engine_attach(W.h, sv[0]), 0);
	ck_assert_int_eq(engine_attach(W.en, sv[1]), 0);
	for (int i = 0; i < SETTLE_ROUNDS && !(engine_initial_done(W.h) && engine_initial_done(W.en));
	     i++)
		step_both();
	ck_assert(engine_initial_done(W.h) && engine_initial_done(W.en));
}

static void world_teardown(void)
{
	/* The receiver first: the sender's detach then flushes to no one. */
	engine_free(W.en);
	engine_free(W.h);
	W.h = W.en = NULL;
}

/* --- the host's tree ------------------------------------------------------------------- */

static void notify(enum watch_kind kind, bool is_dir, const char *path, const char *to)
{
	struct watch_event ev = { .kind = kind, .is_dir = is_dir, .path = path, .to = to };

	if (trace)
		fprintf(stderr, "  notify %d %s%s%s\n", (int)kind, path, to ? " -> " : "",
			to ? to : "");
	if (W.mode != M_WATCH)
		engine_notify(W.h, &ev);
}

static void hpath(char *out, size_t n, const char *rel)
{
	join(out, n, W.host, rel);
}

static int lst(const char *rel, struct stat *st)
{
	char p[512];

	hpath(p, sizeof(p), rel);
	return lstat(p, st);
}

/* A random existing directory under dataset/ (dataset itself included). */
static void pick_dir(char *out, size_t n)
{
	static const char *const dirs[] = { "dataset", "dataset/d0", "dataset/d1", "dataset/d0/d0",
					    "dataset/d1/d1", "dataset/d0/d1" };
	struct stat st;

	for (int tries = 0; tries < 8; tries++) {
		const char *d = dirs[rn(ARRAY_SIZE(dirs))];

		if (lst(d, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(out, n, "%s", d);
			return;
		}
	}
	snprintf(out, n, "dataset");
}

/* A random name in a random directory; it may or may not exist. */
static void pick_name(char *out, size_t n, bool dirname)
{
	static const char *const files[] = { "f0", "f1", "f2", "f3", "f4" };
	static const char *const dirs[] = { "d0", "d1" };
	char d[256];

	pick_dir(d, sizeof(d));
	snprintf(out, n, "%s/%s", d, dirname ? dirs[rn(2)] : files[rn(ARRAY_SIZE(files))]);
}

/* A random existing entry of the given kind (S_IFREG, S_IFDIR, S_IFLNK). */
static bool pick_existing(char *out, size_t n, mode_t kind, bool dirname)
{
	struct stat st;

	for (int tries = 0; tries < 16; tries++) {
		pick_name(out, n, dirname);
		if (lst(out, &st) == 0 && (st.st_mode & S_IFMT) == kind)
			return true;
	}
	return false;
}

static void fill(uint8_t *p, size_t n)
{
	/* Text from a small alphabet: repeats make the chunker's dedup work. */
	uint64_t x = rnd();

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			x = rnd();
		p[i] = (uint8_t)('a' + (x >> ((i % 8) * 8)) % 7);
	}
}

static size_t rand_size(void)
{
	switch (rn(8)) {
	case 0: return 0;
	case 1: return 200000 + rn(400000);
	default: return rn(20000);
	}
}

static void write_at(const char *rel, int flags, size_t len, bool growing)
{
	char p[512];
	uint8_t *buf = malloc(len ? len : 1);
	int fd;

	ck_assert_ptr_nonnull(buf);
	fill(buf, len);
	hpath(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	ck_assert_msg(fd >= 0, "open %s: %s", p, strerror(errno));
	ck_assert_int_eq(io_write_all(fd, buf, len), 0);
	if (growing) {
		notify(WATCH_FILE_GROWING, false, rel, NULL);
		step_both();
	}
	close(fd);
	free(buf);
	notify(WATCH_FILE_CHANGED, false, rel, NULL);
}

/* Removes rel and what is below it, reporting each removal. */
static void rm_tree(const char *rel)
{
	char p[512];
	struct stat st;

	ck_assert_int_eq(lst(rel, &st), 0);
	hpath(p, sizeof(p), rel);
	if (S_ISDIR(st.st_mode)) {
		static const char *const names[] = { "f0", "f1", "f2", "f3", "f4", "d0", "d1" };

		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char c[512];
			struct stat cs;

			snprintf(c, sizeof(c), "%s/%s", rel, names[i]);
			if (lst(c, &cs) == 0)
				rm_tree(c);
		}
		ck_assert_int_eq(rmdir(p), 0);
	} else {
		ck_assert_int_eq(unlink(p), 0);
	}
	notify(WATCH_REMOVED, S_ISDIR(st.st_mode), rel, NULL);
}

static bool dir_empty(const char *rel)
{
	char p[512];
	int n = 0;

	hpath(p, sizeof(p), rel);
	{
		DIR *d = opendir(p);
		struct dirent *de;

		if (!d)
			return false;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				n++;
		closedir(d);
	}
	return n == 0;
}

/* A rename as the watcher reports it: a symlink leaves as a removal and
 * arrives as WATCH_SPECIAL; files and directories move. The mount reports
 * every rename as a move. */
static void do_rename(const char *from, const char *to)
{
	char pf[512], pt[512];
	struct stat st, tst;
	bool had_to = lst(to, &tst) == 0;

	ck_assert_int_eq(lst(from, &st), 0);
	hpath(pf, sizeof(pf), from);
	hpath(pt, sizeof(pt), to);
	if (rename(pf, pt) < 0)
		return; /* into itself, over a non-empty directory, ... */
	if (trace)
		fprintf(stderr, "rename %s %s\n", from, to);
	if (had_to && !S_ISDIR(st.st_mode) && !S_ISDIR(tst.st_mode) && tst.st_ino == st.st_ino &&
	    tst.st_dev == st.st_dev)
		return; /* two names of one file: nothing happens */
	if (S_ISLNK(st.st_mode) && W.mode != M_MOUNT) {
		notify(WATCH_REMOVED, false, from, NULL);
		notify(WATCH_SPECIAL, false, to, NULL);
	} else {
		notify(WATCH_MOVED, S_ISDIR(st.st_mode), from, to);
	}
}

static void random_op(void)
{
	char a[512], b[512], p[512], q[512];
	struct stat st;

	switch (rn(17)) {
	case 0: case 1: case 9: /* create or overwrite */
		pick_name(a, sizeof(a), false);
		if (lst(a, &st) == 0 && !S_ISREG(st.st_mode))
			return;
		if (trace)
			fprintf(stderr, "write %s\n", a);
		write_at(a, O_TRUNC, rand_size(), false);
		return;
	case 2: /* append */
		if (!pick_existing(a, sizeof(a), S_IFREG, false))
			return;
		if (trace)
			fprintf(stderr, "append %s\n", a);
		write_at(a, O_APPEND, 1 + rn(5000), rn(2));
		return;
	case 3: /* truncate */
		if (!pick_existing(a, sizeof(a), S_IFREG, false))
			return;
		if (trace)
			fprintf(stderr, "truncate %s\n", a);
		hpath(p, sizeof(p), a);
		ck_assert_int_eq(truncate(p, (off_t)rn(30000)), 0);
		notify(WATCH_FILE_CHANGED, false, a, NULL);
		return;
	case 4: /* chmod */
		if (!pick_existing(a, sizeof(a), S_IFREG, false))
			return;
		if (trace)
			fprintf(stderr, "chmod %s\n", a);
		hpath(p, sizeof(p), a);
		ck_assert_int_eq(chmod(p, rn(2) ? 0600 : 0644), 0);
		notify(WATCH_ATTR_CHANGED, false, a, NULL); /* as the mount reports it */
		return;
	case 5: case 6: /* rename a file or symlink: to a new name or over a file */
		if (!pick_existing(a, sizeof(a), rn(4) ? S_IFREG : S_IFLNK, false))
			return;
		pick_name(b, sizeof(b), false);
		if (lst(b, &st) == 0 && S_ISDIR(st.st_mode))
			return;
		do_rename(a, b);
		return;
	case 7: /* a directory: to a new name, over an empty one, into another */
		if (!pick_existing(a, sizeof(a), S_IFDIR, true))
			return;
		pick_name(b, sizeof(b), true);
		if (lst(b, &st) == 0 && !S_ISDIR(st.st_mode))
			return;
		do_rename(a, b);
		return;
	case 8: /* remove a file or symlink */
		if (!pick_existing(a, sizeof(a), rn(4) ? S_IFREG : S_IFLNK, false))
			return;
		if (trace)
			fprintf(stderr, "unlink %s\n", a);
		rm_tree(a);
		return;
	case 10: /* mkdir */
		pick_name(a, sizeof(a), true);
		hpath(p, sizeof(p), a);
		if (mkdir(p, 0755) < 0)
			return;
		if (trace)
			fprintf(stderr, "mkdir %s\n", a);
		notify(WATCH_DIR_ADDED, true, a, NULL);
		return;
	case 11: /* rmdir, or rm -r now and then */
		if (!pick_existing(a, sizeof(a), S_IFDIR, true))
			return;
		if (!dir_empty(a) && rn(8))
			return;
		if (trace)
			fprintf(stderr, "rm -r %s\n", a);
		rm_tree(a);
		return;
	case 12: case 13: /* hard link (through the mount, of a symlink too) */
		if (!pick_existing(a, sizeof(a), W.mode == M_MOUNT && !rn(3) ? S_IFLNK : S_IFREG, false))
			return;
		pick_name(b, sizeof(b), false);
		hpath(p, sizeof(p), a);
		hpath(q, sizeof(q), b);
		if (link(p, q) < 0)
			return;
		if (trace)
			fprintf(stderr, "link %s %s\n", a, b);
		/* The link count changed (IN_ATTRIB), and a new name appeared;
		 * the mount reports only the new name. */
		if (W.mode != M_MOUNT)
			notify(WATCH_FILE_CHANGED, false, a, NULL);
		notify(WATCH_FILE_CHANGED, false, b, NULL);
		return;
	case 14: /* symlink */
		pick_name(a, sizeof(a), false);
		hpath(p, sizeof(p), a);
		if (symlink(rn(2) ? "f0" : "../some/where", p) < 0)
			return;
		if (trace)
			fprintf(stderr, "symlink %s\n", a);
		notify(W.mode == M_MOUNT ? WATCH_FILE_CHANGED : WATCH_SPECIAL, false, a, NULL);
		return;
	default: /* a pause or a resume of the enclave */
		W.paused = !W.paused;
		if (trace)
			fprintf(stderr, W.paused ? "pause\n" : "resume\n");
		return;
	}
}

/* --- comparing the trees ------------------------------------------------------------------ */

struct listing {
	char **v;
	size_t n, cap;
	size_t skip;
};

static struct listing *walk_into;

static void listing_add(struct listing *l, char *line)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		ck_assert_ptr_nonnull(l->v);
	}
	l->v[l->n++] = line;
}

static int walk_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = path + walk_into->skip;
	char line[PATH_MAX + 300], target[PATH_MAX];
	(void)flag;
	(void)ftw;

	if (S_ISDIR(st->st_mode)) {
		snprintf(line, sizeof(line), "%s dir %o", rel, (unsigned)(st->st_mode & 0777));
	} else if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		ck_assert_int_ge(n, 0);
		target[n] = '\0';
		snprintf(line, sizeof(line), "%s symlink %s", rel, target);
	} else if (S_ISREG(st->st_mode)) {
		struct hash128 h;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		uint8_t *buf = malloc((size_t)st->st_size + 1);

		ck_assert_int_ge(fd, 0);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(io_pread_all(fd, buf, (size_t)st->st_size, 0), st->st_size);
		close(fd);
		hash128_buf(buf, (size_t)st->st_size, &h);
		free(buf);
		snprintf(line, sizeof(line), "%s file %o %lld %016" PRIx64 " ino=%llu/%llu", rel,
			 (unsigned)(st->st_mode & 0777), (long long)st->st_size, le64_get(h.b),
			 (unsigned long long)st->st_ino, (unsigned long long)st->st_nlink);
	} else {
		snprintf(line, sizeof(line), "%s other", rel);
	}
	listing_add(walk_into, strdup(line));
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per entry below root/dataset, sorted; hard links as groups of
 * names that share an inode ("links a b"), inode numbers then left out. */
static char *list_tree(const char *root)
{
	struct listing l = { 0 };
	char dir[512];
	size_t len = 0;
	char *out;

	join(dir, sizeof(dir), root, "dataset");
	l.skip = strlen(root) + 1;
	walk_into = &l;
	ck_assert_int_eq(nftw(dir, walk_cb, 16, FTW_PHYS), 0);
	qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	/* Link groups: names (in order) of each inode seen with nlink > 1. */
	for (size_t i = 0; i < l.n; i++) {
		char *ino = strstr(l.v[i], " ino="), *slash;
		char grp[8192];
		size_t gl;

		if (!ino)
			continue;
		slash = strchr(ino, '/');
		if (strcmp(slash + 1, "1") == 0 || ino[1] == '#') {
			*ino = '\0';
			continue;
		}
		gl = (size_t)snprintf(grp, sizeof(grp), "links");
		for (size_t j = i; j < l.n; j++) {
			char *o = strstr(l.v[j], " ino=");

			if (j != i && (!o || o[1] == '#' || strcmp(o, ino) != 0))
				continue;
			gl += (size_t)snprintf(grp + gl, sizeof(grp) - gl, " %.*s",
					       (int)(strchr(l.v[j], ' ') - l.v[j]), l.v[j]);
			if (j != i)
				o[1] = '#'; /* taken */
		}
		ino[1] = '#';
		listing_add(&l, strdup(grp));
	}
	for (size_t i = 0; i < l.n; i++) {
		char *ino = strstr(l.v[i], " ino=");

		if (!ino)
			ino = strstr(l.v[i], " #no=");
		if (ino)
			*ino = '\0';
		len += strlen(l.v[i]) + 1;
	}
	out = malloc(len + 1);
	ck_assert_ptr_nonnull(out);
	len = 0;
	for (size_t i = 0; i < l.n; i++) {
		len += (size_t)sprintf(out + len, "%s\n", l.v[i]);
		free(l.v[i]);
	}
	out[len] = '\0';
	free(l.v);
	return out;
}

/* --- the test ------------------------------------------------------------------------------ */

/* After a barrier both sides settle; the trees must be the same. */
static void compare(const char *when)
{
	const char *mn = mode_names[W.mode];
	char *hs = list_tree(W.host), *es = list_tree(W.encl);

	if (trace)
		fprintf(stderr, "--- %s, host:\n%s--- enclave:\n%s", when, hs, es);
	ck_assert_msg(strcmp(hs, es) == 0,
		      "EFS_PROP_SEED=%" PRIu64 " (%s): the trees differ %s\n--- host:\n%s--- enclave:\n%s",
		      W.seed, mn, when, hs, es);
	free(hs);
	free(es);
}

/* The trees agree once both engines are idle (what a mirror without
 * barriers reaches: the sender's model alone decides what it sends), and
 * again after a barrier (which may first check the model against the
 * enclave's summary). */
static void settle_and_compare(void)
{
	const char *mn = mode_names[W.mode];
	uint64_t seq;
	int i;

	W.paused = false;
	engine_drain_watch(W.h);
	for (i = 0; i < SETTLE_ROUNDS; i++) {
		step_both();
		if (engine_idle(W.h) && engine_idle(W.en))
			break;
	}
	ck_assert_msg(i < SETTLE_ROUNDS, "EFS_PROP_SEED=%" PRIu64 " (%s): the engines never idled",
		      W.seed, mn);
	compare("when idle");
	ck_assert_int_eq(engine_barrier(W.h, &seq), 0);
	for (i = 0; i < SETTLE_ROUNDS; i++) {
		step_both();
		if (engine_barrier_acked(W.h, seq) && engine_idle(W.h) && engine_idle(W.en))
			break;
	}
	ck_assert_msg(i < SETTLE_ROUNDS, "EFS_PROP_SEED=%" PRIu64 " (%s): the engines never settled",
		      W.seed, mn);
	compare("after a barrier");
}

static void run_seed(uint64_t seed, enum mode mode)
{
	if (trace)
		fprintf(stderr, "seed %" PRIu64 " %s\n", seed, mode_names[mode]);
	world_setup(seed, mode);
	for (int i = 0; i < OPS; i++) {
		random_op();
		for (unsigned k = rn(4); k > 0; k--)
			step_both();
	}
	settle_and_compare();
	world_teardown();
}

static void host_mkdir(const char *rel)
{
	char p[512];

	hpath(p, sizeof(p), rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	notify(WATCH_DIR_ADDED, true, rel, NULL);
}

static void host_rename(const char *from, const char *to)
{
	char pf[512], pt[512];

	hpath(pf, sizeof(pf), from);
	hpath(pt, sizeof(pt), to);
	ck_assert_int_eq(rename(pf, pt), 0);
	notify(WATCH_MOVED, true, from, to);
}

/* A directory renamed into one that was itself renamed away before the
 * engine saw it made: the peer makes the missing parent for the RENAME,
 * and must move it with the next rename (t0610's stress run with dataset/
 * cached: the enclave kept c/b and everything moved into it). */
START_TEST(test_rename_into_renamed)
{
	char p[512];

	world_setup(0, (enum mode)_i);
	host_mkdir("dataset/a");
	write_at("dataset/a/f0", O_TRUNC, 3000, false);
	settle_and_compare();
	/* Nothing is stepped: the engine sees all of it afterwards. */
	host_mkdir("dataset/c");
	host_mkdir("dataset/c/b");
	host_rename("dataset/a", "dataset/c/b/a");
	host_mkdir("dataset/a");
	host_rename("dataset/c/b", "dataset/a/c");
	settle_and_compare();
	hpath(p, sizeof(p), "dataset/a/c/a/f0");
	ck_assert_int_eq(access(p, F_OK), 0);
	world_teardown();
}
END_TEST

START_TEST(test_model_exact)
{
	uint64_t seed = base_seed + (seed_given ? 0 : (uint64_t)(_i / M_COUNT));
	enum mode mode = (enum mode)(_i % M_COUNT);

	if (only_mode >= 0 && (int)mode != only_mode)
		return;
	run_seed(seed, mode);
}
END_TEST

/* Seeds that once failed, each for a bug of its own (see the git log of
 * sync/engine-tx.c, sync/engine-rx.c and sync/watch.c): kept as
 * regression tests, in both modes. */
static const uint64_t regress_seeds[] = { 15,  58,  75,  93,  118, 124, 148, 174, 213, 250, 260, 331,
					  350, 381, 413, 470, 473, 541, 658, 788, 901, 986, 987, 995 };

START_TEST(test_model_regress)
{
	run_seed(regress_seeds[_i / M_COUNT], (enum mode)(_i % M_COUNT));
}
END_TEST

/* A rename handled after the same names changed again: the look at the
 * target after it finds another directory of that name, whose files then
 * ride along with the renames still queued (t0610's stress run with
 * dataset/ cached). The trees are compared again once the queue drains. */
START_TEST(test_rename_then_newer_dir)
{
	world_setup(0, (enum mode)_i);
	host_mkdir("dataset/d0");
	write_at("dataset/d0/f0", O_TRUNC, 3000, false);
	settle_and_compare();
	/* Nothing is stepped: the engine sees all of it afterwards. */
	host_rename("dataset/d0", "dataset/d1");
	host_rename("dataset/d1", "dataset/d2");
	host_mkdir("dataset/d1");
	write_at("dataset/d1/f1", O_TRUNC, 2000, false);
	settle_and_compare();
	world_teardown();
}
END_TEST

static Suite *prop_suite(void)
{
	Suite *s = suite_create("engine_prop");
	TCase *tc = tcase_create("model");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_model_exact, 0, seed_given ? M_COUNT : M_COUNT * SEEDS);
	tcase_add_loop_test(tc, test_rename_into_renamed, 0, M_COUNT);
	tcase_add_loop_test(tc, test_rename_then_newer_dir, 0, M_COUNT);
	if (!seed_given)
		tcase_add_loop_test(tc, test_model_regress, 0,
				    M_COUNT * (int)(sizeof(regress_seeds) / sizeof(regress_seeds[0])));
	suite_add_tcase(s, tc);
	return s;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const char *t, *s = getenv("EFS_PROP_SEED");
	SRunner *sr;
	int failed;

	log_setup("check_engine_prop", getenv("CHECK_ENGINE_DEBUG") ? LOG_DEBUG : LOG_CRIT, false);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	trace = getenv("EFS_PROP_TRACE") != NULL;
	for (int m = 0; m < M_COUNT && (t = getenv("EFS_PROP_MODE")); m++)
		if (strcmp(t, mode_names[m]) == 0)
			only_mode = m;
	if (s && *s) {
		base_seed = strtoull(s, NULL, 10);
		seed_given = true;
	} else {
		base_seed = 1;
	}
	t = getenv("TMPDIR");
	fprintf(stderr, "check_engine_prop: seed%s %" PRIu64 "%s (EFS_PROP_SEED=N runs seed N)\n",
		seed_given ? "" : "s", base_seed, seed_given ? "" : " to " EFS_STR(SEEDS));
	if ((size_t)snprintf(tmpdir, sizeof(tmpdir), "%s/check_engine_prop.XXXXXX",
			     t && *t ? t : "/tmp") >= sizeof(tmpdir) ||
	    !mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(prop_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
