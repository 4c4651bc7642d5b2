/* Packages: a file committed into encrypted/ is opened by a worker thread
 * (key unwrap, segment-by-segment decryption, extraction into a staging
 * directory, manifest check) and, only when all of it succeeded, renamed to
 * state/app/NAME.GEN. state/app is in no synced tree, so decrypted content
 * never reaches the host or the chunk index. The main thread keeps the
 * registry and tells the host every state change (PKG_STATE). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "package.h"
#include "pathsafe.h"
#include "tree.h"
#include "util.h"

struct install_task {
	char *name;
	unsigned gen;
	struct install_task *next;
};

struct install_result {
	char *name;
	unsigned gen;
	int err;
	char msg[MSG_TEXT];
	uint8_t digest[32];
	char *app_dir;            /* NAME.GEN under state/app on success */
	struct manifest *manifest;
	struct install_result *next;
};

struct run_req {
	uint32_t req;
	char *line;
	struct run_req *next;
};

/* --- the worker ------------------------------------------------------------------ */

static ssize_t read_segments(void *ud, const void **buf)
{
	const uint8_t *p;
	size_t n;
	int r = pkg_reader_next(ud, &p, &n);

	if (r < 0)
		return r;
	*buf = p;
	return (ssize_t)n;
}

static void install(struct daemon *d, struct install_result *res)
{
	char rel[PATH_MAX], staging[PATH_MAX], final[PATH_MAX];
	struct pkg_reader *rd = NULL;
	struct stat st;
	uint64_t bytes = 0, t0 = now_ms();
	int fd = -1, sfd = -1, r;

	snprintf(rel, sizeof(rel), "encrypted/%s", res->name);
	snprintf(staging, sizeof(staging), ".staging-%s.%u", res->name, res->gen);
	snprintf(final, sizeof(final), "%s.%u", res->name, res->gen);

	fd = path_openat(d->state_fd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = fd < 0 ? fd : -EINVAL;
		snprintf(res->msg, sizeof(res->msg), "cannot open the package: %s", strerror(-r));
		goto fail;
	}
	r = pkg_reader_open(fd, d->keys, &rd, res->msg, sizeof(res->msg));
	if (r < 0)
		goto fail;
	(void)path_remove_tree(d->app_fd, staging);
	if (mkdirat(d->app_fd, staging, 0755) < 0) {
		r = neg_errno();
		snprintf(res->msg, sizeof(res->msg), "cannot create the app directory: %s", strerror(-r));
		goto fail;
	}
	sfd = openat(d->app_fd, staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		r = neg_errno();
		snprintf(res->msg, sizeof(res->msg), "cannot open the app directory: %s", strerror(-r));
		goto fail;
	}
	r = extract_tar(read_segments, rd, sfd, &d->limits, &bytes, res->msg, sizeof(res->msg));
	if (r < 0) {
		/* A segment that failed authentication says so itself. */
		if (*pkg_reader_errmsg(rd))
			snprintf(res->msg, sizeof(res->msg), "%s", pkg_reader_errmsg(rd));
		goto fail;
	}
	/* extract_tar reads to the end: the digest covers the whole file. */
	(void)pkg_reader_file_digest(rd, res->digest);
	r = manifest_load(sfd, "enclave.json", &res->manifest, res->msg, sizeof(res->msg));
	if (r == -ENOENT)
		snprintf(res->msg, sizeof(res->msg), "the package has no enclave.json");
	if (r < 0)
		goto fail;
	/* Readable by the unprivileged job user, writable by nobody. */
	(void)fchmod(sfd, 0755);
	(void)path_remove_tree(d->app_fd, final);
	if (renameat(d->app_fd, staging, d->app_fd, final) < 0) {
		r = neg_errno();
		snprintf(res->msg, sizeof(res->msg), "cannot install: %s", strerror(-r));
		goto fail;
	}
	if (asprintf(&res->app_dir, "%s/app/%s", d->state_dir, final) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	{
		double secs = (double)(now_ms() - t0) / 1e3;
		log_info("package %s: %llu bytes (sealed %lld) opened and extracted in %.3f s (%.0f MB/s)",
			 res->name, (unsigned long long)bytes, (long long)st.st_size, secs,
			 secs > 0 ? (double)st.st_size / 1e6 / secs : 0.0);
	}
	res->err = 0;
	goto out;
fail:
	res->err = r;
	/* The host matches verdicts by digest, also for a package that
	 * failed before the reader saw all of it. */
	if (fd >= 0 && pkg_file_digest(fd, res->digest) < 0)
		memset(res->digest, 0, sizeof(res->digest));
	manifest_free(res->manifest);
	res->manifest = NULL;
	(void)path_remove_tree(d->app_fd, staging);
out:
	pkg_reader_free(rd);
	safe_close(sfd);
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
			install(d, res);
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

static int queue_install(struct daemon *d, struct package *p)
{
	struct install_task *t = calloc(1, sizeof(*t));

	if (!t || !(t->name = strdup(p->name))) {
		free(t);
		return -ENOMEM;
	}
	t->gen = ++p->gen;
	p->installing = true;
	p->again = false;
	p->state = PKG_RECEIVED;
	p->err = 0;
	snprintf(p->msg, sizeof(p->msg), "opening");
	pthread_mutex_lock(&d->lock);
	t->next = d->todo;
	d->todo = t;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	send_state(d, p);
	return 0;
}

/* Only a file directly in encrypted/ is a package. */
static const char *package_name(const char *path)
{
	const char *name;

	if (strncmp(path, "encrypted/", 10) != 0)
		return NULL;
	name = path + 10;
	return *name && !strchr(name, '/') ? name : NULL;
}

void packages_file_changed(struct daemon *d, const char *path)
{
	const char *name = package_name(path);
	struct package *p;

	if (!name)
		return;
	p = package_find(d, name);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->name = strdup(name))) {
			free(p);
			log_error("package %s: out of memory", name);
			return;
		}
		p->next = d->packages;
		d->packages = p;
	}
	if (p->installing) {
		p->again = true;
		return;
	}
	if (queue_install(d, p) < 0)
		log_error("package %s: out of memory", name);
}

static void remove_app_dir(struct daemon *d, const char *app_dir)
{
	const char *base = strrchr(app_dir, '/');

	if (base)
		(void)path_remove_tree(d->app_fd, base + 1);
}

static bool dir_in_use(struct daemon *d, const char *app_dir)
{
	for (struct job *j = d->jobs; j; j = j->next)
		if (j->app_dir && strcmp(j->app_dir, app_dir) == 0)
			return true;
	return false;
}

static void package_free(struct package *p)
{
	struct run_req *q = p->waiting;

	while (q) {
		struct run_req *next = q->next;
		free(q->line);
		free(q);
		q = next;
	}
	manifest_free(p->manifest);
	free(p->app_dir);
	free(p->name);
	free(p);
}

/* Frees removed packages that nothing uses any more. */
static void packages_collect(struct daemon *d)
{
	struct package **pp = &d->packages;

	while (*pp) {
		struct package *p = *pp;
		if (p->removed && !p->installing && p->jobs == 0) {
			if (p->app_dir)
				remove_app_dir(d, p->app_dir);
			*pp = p->next;
			package_free(p);
		} else {
			pp = &p->next;
		}
	}
}

/* A RUN that found its package failed or removed while it waited. */
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

void packages_file_removed(struct daemon *d, const char *path)
{
	const char *name = package_name(path);
	struct package *p;

	if (!name) {
		/* encrypted/ itself cannot be removed; a subdirectory holds no packages. */
		return;
	}
	p = package_find(d, name);
	if (!p)
		return;
	p->removed = true;
	p->state = PKG_REMOVED;
	p->err = 0;
	snprintf(p->msg, sizeof(p->msg), "removed");
	send_state(d, p);
	refuse_waiting(d, p, ENOENT, "the package was removed");
	packages_collect(d);
}

int package_wait(struct package *p, uint32_t req, const char *line)
{
	struct run_req *q = calloc(1, sizeof(*q)), **tail = &p->waiting;

	if (!q || !(q->line = strdup(line))) {
		free(q);
		return -ENOMEM;
	}
	q->req = req;
	while (*tail)
		tail = &(*tail)->next;
	*tail = q;
	return 0;
}

void package_release(struct daemon *d, struct package *p, const char *app_dir)
{
	p->jobs--;
	if (app_dir && (!p->app_dir || strcmp(app_dir, p->app_dir) != 0 || p->removed) &&
	    !dir_in_use(d, app_dir))
		remove_app_dir(d, app_dir);
	packages_collect(d);
}

static void apply_result(struct daemon *d, struct install_result *res)
{
	struct package *p = NULL;

	for (struct package *q = d->packages; q; q = q->next)
		if (strcmp(q->name, res->name) == 0 && q->gen == res->gen)
			p = q;
	if (!p || p->removed || p->again) {
		/* Superseded while it was opened. */
		if (res->app_dir)
			remove_app_dir(d, res->app_dir);
		manifest_free(res->manifest);
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
		p->state = PKG_FAILED;
		p->err = -res->err;
		snprintf(p->msg, sizeof(p->msg), "%s", res->msg);
		log_error("package %s: %s (%s)", p->name, res->msg, strerror(p->err));
		send_state(d, p);
		{
			char why[MSG_TEXT + 128];
			snprintf(why, sizeof(why), "package %s: %s", p->name, p->msg);
			refuse_waiting(d, p, p->err, why);
		}
		return;
	}
	/* The previous version goes once its jobs have ended. */
	if (p->app_dir && !dir_in_use(d, p->app_dir))
		remove_app_dir(d, p->app_dir);
	free(p->app_dir);
	manifest_free(p->manifest);
	p->app_dir = res->app_dir;
	p->manifest = res->manifest;
	res->app_dir = NULL;
	p->state = PKG_VERIFIED;
	snprintf(p->msg, sizeof(p->msg), "authenticated");
	send_state(d, p);
	p->state = PKG_READY;
	p->err = 0;
	snprintf(p->msg, sizeof(p->msg), "%s %s", p->manifest->name, p->manifest->version);
	log_info("package %s: ready (%s)", p->name, p->msg);
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
		free(res->app_dir);
		free(res->name);
		free(res);
		res = next;
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
		manifest_free(res->manifest);
		free(res->app_dir);
		free(res->name);
		free(res);
	}
	while (d->packages) {
		struct package *p = d->packages;
		d->packages = p->next;
		package_free(p);
	}
	safe_close(d->done_fd);
}
