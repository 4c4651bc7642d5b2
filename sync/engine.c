/* The connection and the conversation of the sync engine: HELLO, the
 * summaries, then dispatch of every frame to the receiving (engine-rx.c) or
 * sending (engine-tx.c) half, with output written as the socket allows. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine-int.h"
#include "log.h"
#include "pathsafe.h"
#include "transport.h"
#include "util.h"

#define IN_MAX (FRAME_HDR_LEN + FRAME_MAX_BODY + (1u << 20))
#define OUT_MAX (96u << 20)
#define READ_STEP (256u * 1024)
#define READS_PER_STEP 64
/* How long a detach waits for the peer to close after our half-close. */
#define DETACH_DRAIN_MS 500

static bool in_trees(const char *const *trees, const char *path)
{
	const char *slash = strchr(path, '/');
	size_t n;

	/* A tree's top itself is never transferred: only what lies beneath. */
	if (!slash)
		return false;
	n = (size_t)(slash - path);
	for (; *trees; trees++)
		if (strlen(*trees) == n && memcmp(*trees, path, n) == 0)
			return slash[1] != '\0';
	return false;
}

bool engine_is_peer_path(const struct engine *e, const char *path)
{
	return in_trees(e->peer, path);
}

bool engine_is_own_path(const struct engine *e, const char *path)
{
	return in_trees(e->own, path);
}

int engine_open_read(const struct engine *e, const char *path)
{
	/* Never block on a fifo someone put where a file was. */
	int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	int fd = path_openat(e->rootfd, path, flags | O_NOATIME, 0);

	return fd == -EPERM ? path_openat(e->rootfd, path, flags, 0) : fd;
}

int engine_open_beneath(void *ud, const char *path)
{
	return engine_open_read(ud, path);
}

uint64_t engine_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int engine_fatal(struct engine *e, int err, const char *path, const char *fmt, ...)
{
	char msg[WIRE_TEXT_MAX + 1];
	va_list ap;

	if (err >= 0)
		err = -EPROTO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s%s%s: %s", path ? path : "", path ? ": " : "", msg, strerror(-err));
	if (!e->fail) {
		e->fail = err;
		(void)msg_put_error(&e->out, err, true, path && path_check(path) == 0 ? path : "", msg);
	}
	return -EPROTO;
}

/* Directories the inotify watch limit left unwatched are still synced by
 * scans; saying so once is enough, the rest goes to the debug log. */
static void engine_check_watch(struct engine *e)
{
	char first[PATH_MAX];
	size_t n;

	if (!e->watch || !(n = watch_take_unwatched(e->watch, first, sizeof(first))))
		return;
	if (e->watch_limit_logged) {
		log_debug("%zu more directories not watched, from %s", n, first);
		return;
	}
	e->watch_limit_logged = true;
	log_error("%s%s: not watched: the inotify watch limit (fs.inotify.max_user_watches) is "
		  "reached; changes there are sent only by rescans",
		  first, n > 1 ? " and other directories" : "");
}

static bool tree_listed(const char *const *trees, const char *name)
{
	for (; *trees; trees++)
		if (strcmp(*trees, name) == 0)
			return true;
	return false;
}

/* A tree list from the caller: 1..ENGINE_MAX_TREES single components of at
 * most PATH_TREE_PREFIX_MAX - 1 bytes, not ENGINE_STAGING_DIR, each once;
 * `other` (checked already, or NULL) must not name any of them. */
static int trees_check(const char *const *trees, const char *const *other)
{
	size_t n;

	if (!trees || !trees[0])
		return -EINVAL;
	for (n = 0; trees[n]; n++) {
		const char *t = trees[n];

		/* A tree's name and '/' fit in PATH_TREE_PREFIX_MAX: every path
		 * below it fits in PATH_REL_MAX. */
		if (n == ENGINE_MAX_TREES || path_check(t) < 0 || strchr(t, '/') ||
		    strlen(t) >= PATH_TREE_PREFIX_MAX || strcmp(t, ENGINE_STAGING_DIR) == 0)
			return -EINVAL;
		for (size_t k = 0; k < n; k++)
			if (strcmp(trees[k], t) == 0)
				return -EINVAL;
		if (other && tree_listed(other, t))
			return -EINVAL;
	}
	return 0;
}

static int stage_clear_entry(void *ud, const char *name, unsigned char type)
{
	struct engine *e = ud;
	int r;

	(void)type;
	r = path_remove_tree(e->stagefd, name);
	if (r < 0 && r != -ENOENT)
		log_errno(r, "%s/" ENGINE_STAGING_DIR "/%s: cannot remove a stale staged file", e->root,
			  name);
	return 0;
}

/* The receiver builds every file, symlink and link in ROOT/ENGINE_STAGING_DIR and
 * renames it into place: no temporary name ever appears in a tree. The root
 * itself is never synced, only its trees, so the staging directory is no
 * name of theirs. What a crash left there is removed now. A rename cannot
 * cross file systems, so every tree the peer writes into must be on the
 * root's: a tree that is a mount point of its own is refused. */
static int engine_staging(struct engine *e)
{
	struct stat st, tst;
	int r;

	if (mkdirat(e->rootfd, ENGINE_STAGING_DIR, 0700) < 0 && errno != EEXIST)
		return neg_errno();
	e->stagefd = openat(e->rootfd, ENGINE_STAGING_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (e->stagefd < 0) {
		r = neg_errno();
		log_errno(r, "%s/" ENGINE_STAGING_DIR ": cannot open the staging directory", e->root);
		return r;
	}
	if (fstat(e->stagefd, &st) < 0)
		return neg_errno();
	if ((st.st_mode & 07777) != 0700 && fchmod(e->stagefd, 0700) < 0)
		return neg_errno();
	r = io_dir_entries(e->stagefd, stage_clear_entry, e);
	if (r < 0)
		return r;
	for (const char *const *t = e->peer; *t; t++) {
		if (fstatat(e->rootfd, *t, &tst, AT_SYMLINK_NOFOLLOW) < 0)
			return neg_errno();
		if (tst.st_dev != st.st_dev) {
			log_error("%s/%s: the tree is on another file system than %s; the files it "
				  "receives are staged in %s/" ENGINE_STAGING_DIR " and renamed into place, "
				  "so it must be on the same one",
				  e->root, *t, e->root, e->root);
			return -EXDEV;
		}
	}
	return 0;
}

static void trees_free(char **trees)
{
	for (char **t = trees; t && *t; t++)
		free(*t);
	free(trees);
}

static char **trees_copy(const char *const *trees)
{
	size_t n = 0;
	char **c;

	while (trees[n])
		n++;
	c = calloc(n + 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++)
		if (!(c[i] = strdup(trees[i]))) {
			trees_free(c);
			return NULL;
		}
	return c;
}

static int trees_mkdir(int rootfd, char *const *trees)
{
	for (; *trees; trees++)
		if (mkdirat(rootfd, *trees, 0755) < 0 && errno != EEXIST)
			return neg_errno();
	return 0;
}

int engine_new(const struct engine_config *cfg, struct engine **out)
{
	struct engine *e;
	int r;

	if (trees_check(cfg->own_trees, NULL) < 0 || trees_check(cfg->peer_trees, cfg->own_trees) < 0)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->fd = -1;
	e->stagefd = -1;
	e->scratch[0] = malloc(MAX(CHUNK_MAX_SIZE, APPEND_MAX));
	e->scratch[1] = malloc(CHUNK_MAX_SIZE);
	e->own_mem = trees_copy(cfg->own_trees);
	e->peer_mem = trees_copy(cfg->peer_trees);
	e->own = (const char *const *)e->own_mem;
	e->peer = (const char *const *)e->peer_mem;
	e->cfg.own_trees = e->own;
	e->cfg.peer_trees = e->peer;
	wbuf_init(&e->in, IN_MAX);
	wbuf_init(&e->out, OUT_MAX);
	e->root = strdup(cfg->root);
	e->cfg.root = e->root;
	e->rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!e->root || !e->own_mem || !e->peer_mem || !e->scratch[0] || !e->scratch[1] ||
	    e->rootfd < 0) {
		r = e->root && e->own_mem && e->peer_mem && e->scratch[0] && e->scratch[1] ?
			    neg_errno() :
			    -ENOMEM;
		goto fail;
	}
	if ((r = trees_mkdir(e->rootfd, e->own_mem)) < 0 || (r = trees_mkdir(e->rootfd, e->peer_mem)) < 0)
		goto fail;
	r = engine_staging(e);
	if (r < 0)
		goto fail;
	e->ix = chunk_index_new(engine_open_beneath, e);
	e->model = strmap_new();
	e->queued = strmap_new();
	e->inflight = strmap_new();
	e->appended = strmap_new();
	e->skipped = strmap_new();
	e->links = strmap_new();
	e->link_of = strmap_new();
	e->nolink = strmap_new();
	e->failed = strmap_new();
	e->link_sent = strmap_new();
	e->cur.sc = scanner_new(cfg->scan_thread);
	if (!e->ix || !e->model || !e->queued || !e->inflight || !e->appended || !e->skipped ||
	    !e->links || !e->link_of || !e->nolink || !e->link_sent || !e->failed || !e->cur.sc) {
		r = -ENOMEM;
		goto fail;
	}
	if (cfg->watch) {
		r = watch_open(cfg->root, e->own, &e->watch);
		if (r < 0)
			goto fail;
		engine_check_watch(e);
	}
	*out = e;
	return 0;
fail:
	engine_free(e);
	return r;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	/* engine_new's error path comes here with any part not yet made. */
	engine_detach(e);
	free(e->scratch[0]);
	free(e->scratch[1]);
	watch_close(e->watch);
	chunk_index_free(e->ix);
	strmap_free(e->model, free);
	strmap_free(e->queued, NULL);
	strmap_free(e->inflight, NULL);
	strmap_free(e->appended, NULL);
	strmap_free(e->skipped, NULL);
	strmap_free(e->links, link_set_free);
	strmap_free(e->link_of, free);
	strmap_free(e->nolink, NULL);
	strmap_free(e->failed, free);
	for (int i = 0; i < BARRIER_FAILS_KEPT; i++)
		free(e->bar_fails[i].path);
	strmap_free(e->link_sent, NULL);
	scanner_free(e->cur.sc);
	wbuf_release(&e->in);
	wbuf_release(&e->out);
	safe_close(e->stagefd);
	safe_close(e->rootfd);
	free(e->root);
	trees_free(e->own_mem);
	trees_free(e->peer_mem);
	free(e);
}

static ssize_t conn_read(struct engine *e, void *p, size_t n)
{
	return e->io.read ? e->io.read(e->io.ud, p, n) : read(e->fd, p, n);
}

static ssize_t conn_write(struct engine *e, const void *p, size_t n)
{
	return e->io.write ? e->io.write(e->io.ud, p, n) : write(e->fd, p, n);
}

int engine_attach(struct engine *e, int fd)
{
	return engine_attach_io(e, fd, NULL);
}

int engine_attach_io(struct engine *e, int fd, const struct engine_io *io)
{
	int fl = fcntl(fd, F_GETFL);

	/* The engine owns fd (and io) from here on, also when it cannot use it. */
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int r = neg_errno();

		if (io && io->close)
			io->close(io->ud);
		safe_close(fd);
		return r;
	}
	(void)transport_tune(fd);
	{
		uint64_t vbuf;

		/* vsock's window is what the kernel kept, read back */
		if (transport_vsock_buffer(fd, &vbuf) == 0)
			log_info("vsock buffer: %" PRIu64 " KiB", vbuf / 1024);
	}
	engine_detach(e);
	e->fd = fd;
	e->io = io ? *io : (struct engine_io){ 0 };
	e->fail = 0;
	e->summary_total = 0;
	e->summary_bytes = 0;
	e->st = ST_HELLO;
	e->peer_flags = 0;
	return msg_put_hello(&e->out, (uint8_t)e->cfg.role,
			     HELLO_F_SUMMARY_AGAIN | (e->cfg.readable ? HELLO_F_READABLE : 0),
			     e->cfg.name ? e->cfg.name : "");
}

/* The connection's layer holds bytes it still has to write. */
static bool conn_wants_write(const struct engine *e)
{
	return e->io.wants_write && e->io.wants_write(e->io.ud);
}

static int conn_flush(struct engine *e)
{
	return e->io.flush ? e->io.flush(e->io.ud) : 0;
}

/* Writes what is queued, waiting up to timeout_ms for the socket. */
static void engine_flush(struct engine *e, int timeout_ms)
{
	while (e->fd >= 0 && (wbuf_len(&e->out) > 0 || conn_wants_write(e))) {
		struct pollfd p = { .fd = e->fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return;
		if (wbuf_len(&e->out) == 0) {
			if (conn_flush(e) < 0)
				return;
			continue;
		}
		n = conn_write(e, wbuf_ptr(&e->out), wbuf_len(&e->out));
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return;
		if (n > 0) {
			e->out.off += (size_t)n;
			e->stats.wire_sent += (uint64_t)n;
		}
	}
}

void engine_detach(struct engine *e)
{
	if (e->fd >= 0) {
		/* A fatal ERROR should reach the peer before the close. */
		if (e->fail)
			engine_flush(e, 1000);
		if (e->io.close)
			e->io.close(e->io.ud);
		/* Half-close and read what the peer still sends before the
		 * close: on vsock a close with unread data resets the
		 * connection, and the peer can lose what it has not read yet. */
		transport_close_drain(e->fd, DETACH_DRAIN_MS);
	}
	e->io = (struct engine_io){ 0 };
	e->fd = -1;
	e->st = ST_IDLE;
	wbuf_clear(&e->in);
	wbuf_clear(&e->out);
	rx_reset(e);
	tx_reset(e);
}

bool engine_connected(const struct engine *e)
{
	return e->fd >= 0 && e->st != ST_CLOSED;
}

int engine_pollfds(struct engine *e, struct pollfd *fds, int max)
{
	int n = 0;

	if (e->fd >= 0 && n < max)
		fds[n++] = (struct pollfd){ .fd = e->fd,
					    .events = (short)(POLLIN | (wbuf_len(&e->out) ||
									conn_wants_write(e)
									? POLLOUT
									: 0)) };
	if (e->watch && n < max)
		fds[n++] = (struct pollfd){ .fd = watch_fd(e->watch), .events = POLLIN };
	return n;
}

/* Bytes the connection's layer holds already: poll would not announce them. */
static bool conn_pending(const struct engine *e)
{
	return e->fd >= 0 && e->io.pending && e->io.pending(e->io.ud);
}

int engine_timeout_ms(const struct engine *e)
{
	/* Work that waits only for the output queue to drain is resumed by
	 * POLLOUT; work that waits for nothing must run at once; failed
	 * transfers wait for their retry. */
	if (conn_pending(e))
		return 0;
	if (tx_can_produce(e))
		return 0;
	return tx_retry_timeout(e, engine_now_ms());
}

static int engine_hello(struct engine *e, struct wbuf *b)
{
	struct msg_hello m;
	int r = msg_decode_hello(b, &m);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed HELLO");
	if (m.magic != PROTO_MAGIC)
		return engine_fatal(e, -EPROTO, NULL, "not an enclave-fs peer (magic %08x)", m.magic);
	if (m.version != PROTO_VERSION)
		return engine_fatal(e, -EPROTONOSUPPORT, NULL, "protocol version %u, we speak %u",
				    m.version, PROTO_VERSION);
	if (m.role == e->cfg.role)
		return engine_fatal(e, -EPROTO, NULL, "peer has our role (%s)",
				    m.role == ROLE_HOST ? "host" : "enclave");
	log_info("connected to %s '%s'", m.role == ROLE_HOST ? "host" : "enclave", m.name);
	e->peer_flags = m.flags;
	e->st = ST_SUMMARY;
	if (e->cfg.hooks && e->cfg.hooks->connected)
		e->cfg.hooks->connected(e->cfg.hooks_ud);
	r = rx_send_summary(e, NULL);
	if (r < 0)
		return engine_fatal(e, r, NULL, "cannot summarize %s", e->root);
	return 0;
}

static int engine_summary(struct engine *e, struct wbuf *b)
{
	struct msg_entry m;
	uint32_t count;
	uint64_t max = e->cfg.max_entries ? e->cfg.max_entries : ENGINE_MAX_ENTRIES;
	int r = msg_decode_summary(b, &count);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed SUMMARY");
	/* The model keeps every entry: a summary without end is memory without end. */
	if (count > max - MIN(max, e->summary_total))
		return engine_fatal(e, -ENOBUFS, NULL,
				    "SUMMARY lists more than %llu entries (max_entries)",
				    (unsigned long long)max);
	for (uint32_t i = 0; i < count; i++) {
		r = msg_decode_entry(b, &m);
		if (r < 0)
			return engine_fatal(e, r, NULL, "malformed SUMMARY entry %u", i);
		e->summary_bytes += strlen(m.path);
		if (e->summary_bytes > ENGINE_MAX_SUMMARY_BYTES)
			return engine_fatal(e, -ENOBUFS, NULL,
					    "SUMMARY paths add up to more than %llu bytes",
					    ENGINE_MAX_SUMMARY_BYTES);
		r = tx_summary_entry(e, &m);
		if (r == -EEXIST)
			return engine_fatal(e, -EBADMSG, m.path, "duplicate SUMMARY entry");
		if (r < 0)
			return engine_fatal(e, r, m.path, "SUMMARY entry outside our trees");
		e->summary_total++;
	}
	r = wbuf_end(b);
	return r < 0 ? engine_fatal(e, r, NULL, "trailing bytes in SUMMARY") : 0;
}

/* A message of the application above us: its hook reads it. */
static int engine_app(struct engine *e, const struct frame *f)
{
	char why[WIRE_TEXT_MAX + 1] = "";
	int r;

	if (!e->cfg.hooks || !e->cfg.hooks->message)
		return engine_fatal(e, -EOPNOTSUPP, NULL,
				    "message type 0x%04x: this peer takes no application messages",
				    f->type);
	r = e->cfg.hooks->message(e->cfg.hooks_ud, f, why, sizeof(why));
	if (r < 0)
		return why[0] ? engine_fatal(e, r, NULL, "%s", why)
			      : engine_fatal(e, r, NULL, "bad message of type 0x%04x", f->type);
	return 0;
}

static int summary_end(struct engine *e, struct wbuf *b)
{
	uint32_t total;
	int r = msg_decode_u32(b, &total);

	if (r < 0)
		return engine_fatal(e, r, NULL, "malformed SUMMARY_END");
	if (total != e->summary_total)
		return engine_fatal(e, -EBADMSG, NULL, "SUMMARY_END says %u entries, got %llu", total,
				    (unsigned long long)e->summary_total);
	return 0;
}

static int engine_dispatch(struct engine *e, const struct frame *f)
{
	struct wbuf b = f->body;
	int r;

	if (f->type == MSG_GOODBYE) {
		if (wbuf_len(&b))
			return engine_fatal(e, -EBADMSG, NULL, "trailing bytes in GOODBYE");
		return -ESHUTDOWN;
	}
	switch (e->st) {
	case ST_HELLO:
		if (f->type != MSG_HELLO)
			break;
		return engine_hello(e, &b);
	case ST_SUMMARY:
		if (f->type == MSG_SUMMARY)
			return engine_summary(e, &b);
		if (f->type == MSG_SUMMARY_END) {
			r = summary_end(e, &b);
			if (r < 0)
				return r;
			e->st = ST_RUNNING;
			r = tx_start(e);
			return r < 0 ? engine_fatal(e, r, NULL, "cannot scan %s", e->root) : 0;
		}
		if (f->type == MSG_ERROR)
			return tx_handle(e, f);
		if (f->type >= MSG_APP_FIRST)
			return engine_app(e, f);
		break;
	case ST_RUNNING:
		switch (f->type) {
		case MSG_HELLO:
			break;
		case MSG_SUMMARY:
			/* Only as the answer to our SUMMARY_AGAIN. */
			if (!e->recount_model)
				break;
			return engine_summary(e, &b);
		case MSG_SUMMARY_END:
			if (!e->recount_model)
				break;
			r = summary_end(e, &b);
			if (r < 0)
				return r;
			r = tx_recount(e);
			return r < 0 ? engine_fatal(e, r, NULL, "cannot scan %s", e->root) : 0;
		case MSG_WANT:
		case MSG_FILE_ACK:
		case MSG_ERROR:
		case MSG_BARRIER_ACK:
		case MSG_STORE:
			return tx_handle(e, f);
		default:
			if (f->type >= MSG_APP_FIRST)
				return engine_app(e, f);
			return rx_handle(e, f);
		}
		break;
	default:
		break;
	}
	if (msg_type_is_app(f->type))
		return engine_fatal(e, -EPROTO, NULL, "message type 0x%04x not allowed now", f->type);
	return engine_fatal(e, -EPROTO, NULL, "%s not allowed now", msg_type_name(f->type));
}

static int engine_read(struct engine *e)
{
	for (int i = 0; i < READS_PER_STEP; i++) {
		struct frame f;
		uint8_t *p;
		ssize_t n;
		int r;

		/* wbuf_reserve moves the partial frame left over down only
		 * when the room after it runs out, not before every read. */
		r = wbuf_reserve(&e->in, READ_STEP, &p);
		if (r < 0)
			return engine_fatal(e, r, NULL, "input buffer full");
		n = conn_read(e, p, READ_STEP);
		wbuf_truncate_end(&e->in, READ_STEP - (n > 0 ? (size_t)n : 0));
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -ECONNRESET;
		}
		e->stats.wire_received += (uint64_t)n;
		while ((r = frame_next(&e->in, &f)) == 0) {
			r = engine_dispatch(e, &f);
			if (r < 0)
				return r;
		}
		if (r != -EAGAIN)
			return engine_fatal(e, r, NULL, "bad frame header");
		if ((size_t)n < READ_STEP && !conn_pending(e))
			return 0;
	}
	return 0;
}

static int engine_write(struct engine *e)
{
	while (wbuf_len(&e->out) > 0) {
		ssize_t n = conn_write(e, wbuf_ptr(&e->out), wbuf_len(&e->out));

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -ECONNRESET;
		}
		e->out.off += (size_t)n;
		e->stats.wire_sent += (uint64_t)n;
	}
	wbuf_clear(&e->out);
	return conn_flush(e) < 0 ? -ECONNRESET : 0;
}

int engine_step(struct engine *e, const struct pollfd *fds, int n)
{
	int r = 0;

	if (e->fd < 0)
		return -ENOTCONN;
	if (conn_pending(e))
		r = engine_read(e);
	for (int i = 0; r == 0 && i < n; i++) {
		if (fds[i].fd == e->fd && fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			r = engine_read(e);
		else if (e->watch && fds[i].fd == watch_fd(e->watch) && fds[i].revents & POLLIN) {
			(void)watch_dispatch(e->watch, tx_watch_event, e);
			engine_check_watch(e);
		}
		if (r < 0)
			break;
	}
	if (r == 0 && e->st == ST_RUNNING && tx_retry(e, engine_now_ms()) < 0)
		log_error("out of memory retrying failed transfers");
	if (r == 0)
		r = tx_produce(e);
	if (r == 0 || r == -ESHUTDOWN)
		if (engine_write(e) < 0 && r == 0)
			r = -ECONNRESET;
	if (r == 0 && e->fail)
		r = -EPROTO;
	if (r < 0)
		e->st = ST_CLOSED;
	engine_flow_step(e);
	return r;
}

int engine_barrier(struct engine *e, uint64_t *seq)
{
	uint64_t s;
	int r = tx_before_barrier(e);

	if (r < 0)
		return r;
	s = ++e->barrier_next;
	r = tx_queue(e, WQ_BARRIER, NULL, NULL, s);
	if (r < 0)
		return r;
	if (seq)
		*seq = s;
	return 0;
}

bool engine_barrier_acked(const struct engine *e, uint64_t seq)
{
	return e->barrier_acked >= seq;
}

uint64_t engine_initial_barrier(const struct engine *e)
{
	return e->initial_seq;
}

bool engine_initial_done(const struct engine *e)
{
	return e->st == ST_RUNNING && e->initial_seq && e->barrier_acked >= e->initial_seq &&
	       e->peer_initial_done;
}

bool engine_idle(const struct engine *e)
{
	return e->st == ST_RUNNING && tx_idle(e) && rx_idle(e) && wbuf_len(&e->out) == 0 &&
	       e->barrier_acked == e->barrier_next;
}

int engine_goodbye(struct engine *e)
{
	int r;

	if (e->fd < 0)
		return -ENOTCONN;
	r = msg_put_empty(&e->out, MSG_GOODBYE);
	if (r < 0)
		return r;
	engine_flush(e, 5000);
	return wbuf_len(&e->out) ? -ETIMEDOUT : 0;
}

void engine_drain_watch(struct engine *e)
{
	if (e->watch) {
		(void)watch_dispatch(e->watch, tx_watch_event, e);
		engine_check_watch(e);
	}
}

int engine_rescan(struct engine *e, const char *tree)
{
	const char *const *t;

	for (t = e->own; *t && strcmp(*t, tree) != 0; t++)
		;
	if (!*t)
		return -EINVAL;
	if (e->st != ST_RUNNING)
		return 0;
	return tx_rescan(e, tree);
}

int engine_path_changed(struct engine *e, const char *path)
{
	if (!engine_is_own_path(e, path))
		return -EINVAL;
	if (e->st != ST_RUNNING)
		return 0;
	return tx_queue(e, WQ_PATH, path, NULL, 0);
}

void engine_notify(struct engine *e, const struct watch_event *ev)
{
	if (ev->kind != WATCH_RESCAN &&
	    (!engine_is_own_path(e, ev->path) || (ev->to && !engine_is_own_path(e, ev->to)))) {
		log_error("change outside the owned trees ignored: %s", ev->path);
		return;
	}
	tx_watch_event(ev, e);
}

const struct engine_stats *engine_stats(const struct engine *e)
{
	return &e->stats;
}

uint64_t engine_scan_cpu_ns(const struct engine *e)
{
	return scanner_cpu_ns(e->cur.sc);
}

struct wbuf *engine_out(struct engine *e)
{
	return &e->out;
}

int engine_rootfd(const struct engine *e)
{
	return e->rootfd;
}

int engine_barrier_result(const struct engine *e, uint64_t seq, char *path, size_t pathsz)
{
	if (path && pathsz)
		path[0] = '\0';
	for (int i = 0; i < BARRIER_FAILS_KEPT; i++) {
		const struct barrier_fail *b = &e->bar_fails[i];

		if (b->path && b->seq == seq) {
			if (path && pathsz)
				snprintf(path, pathsz, "%s", b->path);
			return b->errnum;
		}
	}
	return seq <= e->bar_fails_lost ? EOVERFLOW : 0;
}

size_t engine_failed_count(const struct engine *e, uint64_t *gen)
{
	if (gen)
		*gen = e->fail_gen;
	return strmap_count(e->failed);
}

bool engine_failed_next(const struct engine *e, size_t *pos, const char **path, int *errnum)
{
	void *v;

	if (!strmap_next(e->failed, pos, path, &v))
		return false;
	*errnum = ((const struct tx_failure *)v)->errnum;
	return true;
}

bool engine_peer_store(const struct engine *e, uint64_t *held, uint64_t *max)
{
	if (!e->peer_store_known)
		return false;
	*held = e->peer_held;
	*max = e->peer_max;
	return true;
}

void engine_set_max_store(struct engine *e, uint64_t max)
{
	e->cfg.max_store = max;
	if (!max || !e->store_sent)
		return; /* applied when the next peer's HELLO arrives */
	e->store_max = max;
	e->stats.store_max = max;
	if (rx_store_report(e, true) < 0)
		log_error("cannot queue STORE");
}
