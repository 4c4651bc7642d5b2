/* Packages: a file committed into encrypted/ is opened by a worker thread
 * (key unwrap, segment-by-segment decryption, extraction into a staging
 * directory, manifest check) and, only when all of it succeeded, moved into
 * the installed set. The main thread keeps the registry and tells the host
 * every state change (PKG_STATE).
 *
 * Where apps live: state/app/{staging,installed,trash}/ID, 0700, with ID a
 * counter of this daemon. No package name ever becomes a path (a host that
 * names a package after another one's staging directory reaches nothing),
 * and a job is handed the directory fd the install produced (struct app).
 * state/app is in no synced tree, so decrypted content never reaches the
 * host or the chunk index.
 *
 * What the host learns of a package is only what verdict.h allows: every
 * message and log line about a package takes its text from there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "daemon.h"
#include "log.h"
#include "package.h"
#include "pathsafe.h"
#include "pkgworker.h"
#include "keyd.h"
#include "tree.h"
#include "uids.h"
#include "util.h"
#include "verdict.h"

struct install_task {
	char *name;
	unsigned gen;
	uint64_t id;
	struct install_task *next;
};

struct install_result {
	char *name;
	unsigned gen;
	int err;
	const char *msg;          /* verdict.h */
	uint8_t digest[32];
	struct app *app;          /* on success */
	uint8_t identity[32];
	uint8_t manifest_sha384[48]; /* extends DAEMON_APP_PCR when ready */
	uint8_t hdr_digest[32];      /* the key process's name for its data key */
	char key_why[512];           /* the key process's message on a key failure */
	struct install_result *next;
};

struct run_req {
	uint32_t req;
	char *line;
	struct run_req *next;
};

/* --- the worker ------------------------------------------------------------------ */

/* A ready package's manifest extends the application PCR, so that later
 * attestation documents (and a key policy) can name what was loaded. */
static void extend_app_pcr(struct daemon *d, const uint8_t sha[48])
{
	char why[256];
	int r = nsm_extend_pcr(&d->nsm, DAEMON_APP_PCR, sha, 48, d->pcr_app, why, sizeof(why));

	if (r < 0) {
		log_error("NSM: cannot extend PCR%u: %s", DAEMON_APP_PCR, why);
		return;
	}
	if (d->connected)
		daemon_send_status(d);
}

static struct app *app_new(uint64_t id)
{
	struct app *a = calloc(1, sizeof(*a));

	if (a) {
		a->id = id;
		a->fd = -1;
	}
	return a;
}

static void app_free(struct app *a)
{
	if (!a)
		return;
	safe_close(a->fd);
	manifest_free(a->manifest);
	free(a);
}

/* The install thread: a package worker process (pkgworker.h) decrypts and
 * extracts; this thread holds no key and reads no package content but the
 * manifest of what the worker extracted. Only the stage, the errno and the
 * key process's message decide what the host is told. */
static void install(struct daemon *d, const struct install_task *t, struct install_result *res)
{
	char rel[PATH_MAX], dir[24], detail[512];
	enum verdict_stage stage = VERDICT_OPEN;
	struct pkgworker_result w;
	struct app *a = NULL;
	struct stat st;
	bool decrypt_failed = false;
	uint64_t t0 = now_ms();
	int fd = -1, r;

	memset(&w, 0, sizeof(w));
	snprintf(rel, sizeof(rel), "encrypted/%s", t->name);
	snprintf(dir, sizeof(dir), "%" PRIu64, t->id);

	fd = path_openat(d->state_fd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = fd < 0 ? fd : -EINVAL;
		goto fail;
	}
	stage = VERDICT_STORE;
	a = app_new(t->id);
	if (!a) {
		r = -ENOMEM;
		goto fail;
	}
	if (mkdirat(d->staging_fd, dir, 0700) < 0) {
		r = neg_errno();
		goto fail;
	}
	a->fd = openat(d->staging_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (a->fd < 0) {
		r = neg_errno();
		goto fail;
	}
	r = pkgworker_run(d->exe_fd, d->keyd_sock, fd, a->fd, &d->limits, &w);
	if (r == 0)
		r = w.err;
	if (r < 0) {
		stage = w.stage;
		decrypt_failed = w.decrypt_failed;
		memcpy(res->key_why, w.key_why, sizeof(res->key_why));
		goto fail;
	}
	memcpy(res->digest, w.digest, sizeof(res->digest));
	memcpy(res->hdr_digest, w.hdr_digest, sizeof(res->hdr_digest));
	memcpy(res->manifest_sha384, w.manifest_sha384, sizeof(res->manifest_sha384));
	stage = VERDICT_MANIFEST;
	r = manifest_load(a->fd, MANIFEST_FILE, &a->manifest, detail, sizeof(detail));
	if (r < 0)
		goto fail;
	r = uids_identity(w.provider, w.key_id, a->manifest->name, res->identity);
	if (r < 0)
		goto fail;
	stage = VERDICT_STORE;
	/* Readable by the job's user, writable by nobody. */
	if (fchmod(a->fd, 0755) < 0 || renameat(d->staging_fd, dir, d->installed_fd, dir) < 0) {
		r = neg_errno();
		goto fail;
	}
	log_info("package %s: opened in %.3f s (%lld bytes sealed; %s key in %.3f ms)", t->name,
		 (double)(now_ms() - t0) / 1e3, (long long)st.st_size, w.provider,
		 (double)w.key_us / 1e3);
	res->app = a;
	res->err = 0;
	goto out;
fail:
	res->err = r;
	res->msg = verdict_text(stage, r, decrypt_failed);
	/* The host matches verdicts by digest, also for a package that
	 * failed before the worker saw all of it. */
	if (fd >= 0 && pkg_file_digest(fd, res->digest) < 0)
		memset(res->digest, 0, sizeof(res->digest));
	app_free(a);
	(void)path_remove_tree(d->staging_fd, dir);
out:
	explicit_bzero(detail, sizeof(detail));
	safe_close(fd);
}

static void *worker_main(void *arg)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct install_task *t;
		struct install_result *res;
		uint64_t one = 1;

		while (!d->todo && !d->stop)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop)
			break;
		t = d->todo;
		d->todo = t->next;
		pthread_mutex_unlock(&d->lock);

		res = calloc(1, sizeof(*res));
		if (res) {
			res->name = t->name;
			res->gen = t->gen;
			install(d, t, res);
		} else {
			free(t->name);
		}
		free(t);

		pthread_mutex_lock(&d->lock);
		if (res) {
			res->next = d->done;
			d->done = res;
		}
		if (write(d->done_fd, &one, sizeof(one)) < 0)
			log_errno(neg_errno(), "eventfd");
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* --- installed versions (main thread) ---------------------------------------------- */

void app_unref(struct daemon *d, struct app *a)
{
	char dir[24];

	if (!a || --a->refs > 0)
		return;
	/* Out of the installed set first, so that nothing can find a half
	 * removed tree there. */
	snprintf(dir, sizeof(dir), "%" PRIu64, a->id);
	if (renameat(d->installed_fd, dir, d->trash_fd, dir) == 0)
		(void)path_remove_tree(d->trash_fd, dir);
	else
		log_errno(neg_errno(), "cannot remove app version %s", dir);
	app_free(a);
}

/* --- the registry (main thread) --------------------------------------------------- */

static void send_state(struct daemon *d, struct package *p)
{
	if (d->connected)
		(void)msg_put_pkg_state(engine_out(d->engine), p->name, p->state, p->err, p->digest,
					p->msg);
}

struct package *package_find(struct daemon *d, const char *name)
{
	for (struct package *p = d->packages; p; p = p->next)
		if (!p->removed && strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static void set_state(struct package *p, enum pkg_state state, int err, const char *msg)
{
	p->state = state;
	p->err = err;
	p->msg = msg;
}

static int queue_install(struct daemon *d, struct package *p)
{
	struct install_task *t = calloc(1, sizeof(*t));

	if (!t || !(t->name = strdup(p->name))) {
		free(t);
		return -ENOMEM;
	}
	t->gen = ++p->gen;
	t->id = ++d->next_app;
	p->installing = true;
	p->again = false;
	set_state(p, PKG_RECEIVED, 0, VERDICT_OPENING);
	pthread_mutex_lock(&d->lock);
	t->next = d->todo;
	d->todo = t;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	send_state(d, p);
	return 0;
}

static struct package *package_add(struct daemon *d, const char *name)
{
	struct package *p = calloc(1, sizeof(*p));

	if (!p || !(p->name = strdup(name))) {
		free(p);
		log_error("package %s: out of memory", name);
		return NULL;
	}
	p->next = d->packages;
	d->packages = p;
	return p;
}

void packages_file_changed(struct daemon *d, const char *path)
{
	const char *name = pkg_path_name(path);
	struct package *p;
	int fd;

	if (!name)
		return;
	p = package_find(d, name);
	if (!p && !(p = package_add(d, name)))
		return;
	if (!pkg_name_valid(name)) {
		/* Never opened: its verdict names the reason and the digest of
		 * what the host sent, so a waiting close() gets its answer. */
		fd = path_openat(d->state_fd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
		if (fd < 0 || pkg_file_digest(fd, p->digest) < 0)
			memset(p->digest, 0, sizeof(p->digest));
		safe_close(fd);
		set_state(p, PKG_FAILED, EINVAL, VERDICT_BAD_NAME);
		log_warn("package %s: %s", name, VERDICT_BAD_NAME);
		send_state(d, p);
		return;
	}
	if (p->installing) {
		p->again = true;
		return;
	}
	if (queue_install(d, p) < 0)
		log_error("package %s: out of memory", name);
}

static void package_free(struct daemon *d, struct package *p)
{
	struct run_req *q = p->waiting;

	while (q) {
		struct run_req *next = q->next;
		free(q->line);
		free(q);
		q = next;
	}
	app_unref(d, p->app);
	free(p->name);
	free(p);
}

/* Frees removed packages the worker is done with. Their apps live on
 * while jobs hold them. */
static void packages_collect(struct daemon *d)
{
	struct package **pp = &d->packages;

	while (*pp) {
		struct package *p = *pp;
		if (p->removed && !p->installing) {
			*pp = p->next;
			package_free(d, p);
		} else {
			pp = &p->next;
		}
	}
}

/* RUNs that found their package failed or removed while they waited. */
static void refuse_waiting(struct daemon *d, struct package *p, int err, const char *why)
{
	while (p->waiting) {
		struct run_req *q = p->waiting;
		p->waiting = q->next;
		if (d->connected)
			(void)msg_put_run_reply(engine_out(d->engine), q->req, 0, err, why);
		free(q->line);
		free(q);
	}
}

/* The key process drops the package's data key from its cache. */
static void forget_key(struct daemon *d, struct package *p)
{
	static const uint8_t none[32];

	if (memcmp(p->hdr_digest, none, sizeof(none)) != 0)
		(void)keyd_forget(d->keyd_sock, p->hdr_digest);
	memset(p->hdr_digest, 0, sizeof(p->hdr_digest));
}

void packages_file_removed(struct daemon *d, const char *path)
{
	const char *name = pkg_path_name(path);
	struct package *p;

	/* encrypted/ itself cannot be removed; a subdirectory holds no packages. */
	if (!name || !(p = package_find(d, name)))
		return;
	p->removed = true;
	forget_key(d, p);
	set_state(p, PKG_REMOVED, 0, VERDICT_REMOVED);
	send_state(d, p);
	refuse_waiting(d, p, ENOENT, "the package was removed");
	packages_collect(d);
}

/* At most this many RUNs wait for one package's install: a host cannot
 * make the enclave hold an unbounded list of lines. */
#define WAITING_MAX 64

int package_wait(struct package *p, uint32_t req, const char *line)
{
	struct run_req *q, **tail = &p->waiting;
	unsigned n = 0;

	while (*tail) {
		tail = &(*tail)->next;
		n++;
	}
	if (n >= WAITING_MAX)
		return -EBUSY;
	q = calloc(1, sizeof(*q));
	if (!q || !(q->line = strdup(line))) {
		free(q);
		return -ENOMEM;
	}
	q->req = req;
	*tail = q;
	return 0;
}

/* The host that sent them went away: nobody waits for their answers, and
 * the next host must not receive them. */
void packages_disconnected(struct daemon *d)
{
	for (struct package *p = d->packages; p; p = p->next)
		refuse_waiting(d, p, ECONNRESET, "");
}

static struct package *result_package(struct daemon *d, const struct install_result *res)
{
	for (struct package *q = d->packages; q; q = q->next)
		if (strcmp(q->name, res->name) == 0 && q->gen == res->gen)
			return q;
	return NULL;
}

static void apply_result(struct daemon *d, struct install_result *res)
{
	struct package *p = result_package(d, res);
	char why[PKG_NAME_MAX + 128];
	int r;

	if (res->app) {
		res->app->refs = 1;
		r = uids_get(d->uids, res->identity, &res->app->uid);
		if (r < 0) {
			log_errno(r, "package %s: no job uid left", res->name);
			app_unref(d, res->app);
			res->app = NULL;
			res->err = r;
			res->msg = verdict_text(VERDICT_STORE, r, false);
		}
	}
	if (!p || p->removed || p->again) {
		/* Superseded while it was opened. */
		app_unref(d, res->app);
		res->app = NULL;
		if (p) {
			p->installing = false;
			if (p->again && !p->removed)
				(void)queue_install(d, p);
		}
		packages_collect(d);
		return;
	}
	p->installing = false;
	memcpy(p->digest, res->digest, sizeof(p->digest));
	if (res->err < 0) {
		set_state(p, PKG_FAILED, -res->err, res->msg);
		if (res->key_why[0]) {
			/* The key process's words: a provider's or KMS's
			 * message, never package content. */
			snprintf(p->text, sizeof(p->text), "%s: %s", res->msg, res->key_why);
			for (char *c = p->text; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
					*c = '?';
			p->msg = p->text;
		}
		log_warn("package %s: %s", p->name, p->msg);
		send_state(d, p);
		snprintf(why, sizeof(why), "package %s: %s", p->name, p->msg);
		refuse_waiting(d, p, p->err, why);
		return;
	}
	/* The previous version goes once its jobs have ended; its data key
	 * leaves the cache now unless it is this one's. */
	if (memcmp(p->hdr_digest, res->hdr_digest, 32) != 0)
		forget_key(d, p);
	memcpy(p->hdr_digest, res->hdr_digest, 32);
	app_unref(d, p->app);
	p->app = res->app;
	res->app = NULL;
	set_state(p, PKG_VERIFIED, 0, VERDICT_AUTHENTICATED);
	send_state(d, p);
	set_state(p, PKG_READY, 0, VERDICT_READY);
	log_info("package %s: ready", p->name);
	extend_app_pcr(d, res->manifest_sha384);
	send_state(d, p);
	while (p->waiting) {
		struct run_req *q = p->waiting;
		p->waiting = q->next;
		jobs_run(d, q->req, q->line);
		free(q->line);
		free(q);
	}
}

void packages_results(struct daemon *d)
{
	struct install_result *res;
	uint64_t n;

	if (read(d->done_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_errno(neg_errno(), "eventfd");
	pthread_mutex_lock(&d->lock);
	res = d->done;
	d->done = NULL;
	pthread_mutex_unlock(&d->lock);
	while (res) {
		struct install_result *next = res->next;
		apply_result(d, res);
		app_unref(d, res->app);
		free(res->name);
		free(res);
		res = next;
	}
}

/* New AWS credentials: packages whose key could not be had for want of
 * them (or of KMS) are opened again. */
void packages_keys_changed(struct daemon *d)
{
	for (struct package *p = d->packages; p; p = p->next) {
		if (p->removed || p->installing || p->state != PKG_FAILED)
			continue;
		if (p->err == ENOKEY || p->err == EKEYEXPIRED || p->err == EACCES ||
		    p->err == EAGAIN || p->err == ETIMEDOUT || p->err == ECONNREFUSED ||
		    p->err == EHOSTUNREACH) {
			log_info("package %s: opening again with the new credentials", p->name);
			(void)queue_install(d, p);
		}
	}
}

void packages_send_all(struct daemon *d)
{
	for (struct package *p = d->packages; p; p = p->next)
		if (!p->removed)
			send_state(d, p);
}

static int scan_cb(void *ud, const char *path, const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		packages_file_changed(ud, path);
	return 0;
}

int packages_start(struct daemon *d)
{
	int r;

	d->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->done_fd < 0)
		return neg_errno();
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	r = -pthread_create(&d->worker, NULL, worker_main, d);
	if (r < 0)
		return r;
	/* Packages left from an earlier run are opened again. */
	return tree_walk(d->state_fd, "encrypted", scan_cb, d);
}

void packages_stop(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->worker, NULL);
	while (d->todo) {
		struct install_task *t = d->todo;
		d->todo = t->next;
		free(t->name);
		free(t);
	}
	while (d->done) {
		struct install_result *res = d->done;
		d->done = res->next;
		if (res->app)
			res->app->refs = 1;
		app_unref(d, res->app);
		free(res->name);
		free(res);
	}
	while (d->packages) {
		struct package *p = d->packages;
		d->packages = p->next;
		package_free(d, p);
	}
	safe_close(d->done_fd);
}
