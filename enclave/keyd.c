/* The key process (keyd.h): its start, its request loop, the data-key
 * cache, and the two clients (main, and a package worker's channel). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "devnsm.h"
#include "devsetup.h"
#include "kek.h"
#include "keyd.h"
#include "kmsprov.h"
#include "log.h"
#include "nsm.h"
#include "package.h"
#include "util.h"

#define CHANNEL_TIMEOUT_MS 30000

/* --- messages ---------------------------------------------------------------------- */

static int send_msg(int fd, uint32_t type, const void *a, size_t an, const void *b, size_t bn,
		    int pass_fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov[3] = { { &type, sizeof(type) }, { (void *)a, an }, { (void *)b, bn } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
	ssize_t k;

	if (pass_fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &pass_fd, sizeof(int));
	}
	do
		k = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return neg_errno();
	return (size_t)k == sizeof(type) + an + bn ? 0 : -EMSGSIZE;
}

/* One message into buf (KEYD_MSG_MAX); *type and its payload length. A
 * passed fd goes to *fd (else -1); extra fds are closed. 0 at EOF means
 * -EPIPE. */
static int recv_msg(int fd, uint8_t *buf, size_t bufsz, uint32_t *type, size_t *n, int *rfd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = { buf, bufsz };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf) };
	ssize_t k;

	if (rfd)
		*rfd = -1;
	do
		k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return neg_errno();
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; (i + 1) * sizeof(int) <= c->cmsg_len - CMSG_LEN(0); i++) {
			int got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (rfd && *rfd < 0)
				*rfd = got;
			else
				close(got);
		}
	}
	if (k == 0)
		return -EPIPE;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)k < sizeof(uint32_t)) {
		if (rfd && *rfd >= 0) {
			close(*rfd);
			*rfd = -1;
		}
		return -EBADMSG;
	}
	memcpy(type, buf, sizeof(*type));
	*n = (size_t)k - sizeof(uint32_t);
	memmove(buf, buf + sizeof(uint32_t), *n);
	return 0;
}

static int reply(int fd, uint32_t type, int32_t r, const void *p, size_t n)
{
	return send_msg(fd, type, &r, sizeof(r), p, n, -1);
}

static int reply_why(int fd, uint32_t type, int32_t r, const char *why)
{
	return reply(fd, type, r, why, strnlen(why, KEYD_WHY_MAX - 1));
}

/* --- keyd's state -------------------------------------------------------------------- */

struct cached {
	uint8_t digest[32];
	uint8_t dek[PKG_DEK_LEN];
	uint64_t used;
	bool valid;
};

struct inflight {
	uint8_t digest[32];
	struct inflight *next;
};

static struct keyd {
	const struct keyd_config *cfg;
	struct nsm nsm;
	pthread_mutex_t nsm_lock;
	struct key_provider *kek;
	size_t nkek;
	struct key_provider *kms;
	char kms_why[KEYD_WHY_MAX]; /* why kms did not start */

	pthread_mutex_t lock; /* cache, inflight, counters */
	pthread_cond_t cond;
	struct cached cache[KEYD_CACHE_MAX];
	struct inflight *inflight;
	uint64_t clock;
	unsigned long unwraps, hits;
	char last_error[KEYD_WHY_MAX];
} K = { .nsm_lock = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER };

static int locked_nsm(void *ud, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn)
{
	struct nsm plain = K.nsm;
	int r;

	(void)ud;
	plain.relay = NULL;
	pthread_mutex_lock(&K.nsm_lock);
	r = nsm_raw(&plain, req, reqn, resp, respn);
	pthread_mutex_unlock(&K.nsm_lock);
	return r;
}

/* The NSM as keyd's own providers use it: serialised with main's requests. */
static struct nsm keyd_nsm_handle = { .fd = -1, .relay = locked_nsm };

static char *status_json(void)
{
	json_t *o = json_object(), *prov = json_array(), *cache;
	json_int_t entries = 0;
	char *s;

	if (K.kek)
		json_array_append_new(prov, json_string("kek"));
	if (K.kms)
		json_array_append_new(prov, json_string("kms"));
	json_object_set_new(o, "providers", prov);
	json_object_set_new(o, "keks", json_integer((json_int_t)K.nkek));
	json_object_set_new(o, "nsm", json_string(K.nsm.dev ? "development" : "device"));
	if (K.kms) {
		json_t *k = kms_provider_status(K.kms);

		if (k)
			json_object_set_new(o, "kms", k);
	} else if (K.cfg->kms) {
		json_object_set_new(o, "kms", json_pack("{s:s}", "error", K.kms_why));
	}
	pthread_mutex_lock(&K.lock);
	for (size_t i = 0; i < KEYD_CACHE_MAX; i++)
		entries += K.cache[i].valid;
	cache = json_pack("{s:I, s:I, s:I}", "entries", entries, "unwraps", (json_int_t)K.unwraps,
			  "hits", (json_int_t)K.hits);
	if (K.last_error[0])
		json_object_set_new(o, "last_error", json_string(K.last_error));
	pthread_mutex_unlock(&K.lock);
	json_object_set_new(o, "cache", cache);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* --- unwrapping ---------------------------------------------------------------------- */

static struct cached *cache_find(const uint8_t digest[32])
{
	for (size_t i = 0; i < KEYD_CACHE_MAX; i++)
		if (K.cache[i].valid && !CRYPTO_memcmp(K.cache[i].digest, digest, 32))
			return &K.cache[i];
	return NULL;
}

static void cache_put(const uint8_t digest[32], const uint8_t dek[PKG_DEK_LEN])
{
	struct cached *c = cache_find(digest), *old = &K.cache[0];

	if (!c) {
		for (size_t i = 0; i < KEYD_CACHE_MAX; i++) {
			if (!K.cache[i].valid) {
				old = &K.cache[i];
				break;
			}
			if (K.cache[i].used < old->used)
				old = &K.cache[i];
		}
		c = old;
	}
	OPENSSL_cleanse(c, sizeof(*c));
	memcpy(c->digest, digest, 32);
	memcpy(c->dek, dek, PKG_DEK_LEN);
	c->used = ++K.clock;
	c->valid = true;
}

static bool inflight_has(const uint8_t digest[32])
{
	for (struct inflight *f = K.inflight; f; f = f->next)
		if (!memcmp(f->digest, digest, 32))
			return true;
	return false;
}

static void inflight_drop(const uint8_t digest[32])
{
	for (struct inflight **pp = &K.inflight; *pp; pp = &(*pp)->next) {
		if (!memcmp((*pp)->digest, digest, 32)) {
			struct inflight *f = *pp;

			*pp = f->next;
			free(f);
			break;
		}
	}
	pthread_cond_broadcast(&K.cond);
}

/* The data key of the package whose first bytes are head: from the cache,
 * or from its provider (one unwrap per digest at a time: others wait). */
static int unwrap(const uint8_t *head, size_t n, struct keyd_unwrap_answer *a)
{
	struct key_provider *kp;
	struct pkg_header h;
	struct inflight *f;
	struct cached *c;
	int r;

	r = pkg_header_parse(head, n, &h, a->why, sizeof(a->why));
	if (r < 0)
		return r;
	memcpy(a->digest, h.digest, 32);
	kp = !strcmp(h.key.provider, "kek") ? K.kek : !strcmp(h.key.provider, "kms") ? K.kms : NULL;
	if (!kp) {
		r = err_set(a->why, sizeof(a->why), -ENOKEY, "no %s key provider in this enclave%s%s",
			    h.key.provider,
			    !strcmp(h.key.provider, "kms") && K.kms_why[0] ? ": " : "",
			    !strcmp(h.key.provider, "kms") ? K.kms_why : "");
		goto out;
	}
	pthread_mutex_lock(&K.lock);
	while (!(c = cache_find(h.digest)) && inflight_has(h.digest))
		pthread_cond_wait(&K.cond, &K.lock);
	if (c) {
		c->used = ++K.clock;
		memcpy(a->dek, c->dek, PKG_DEK_LEN);
		K.hits++;
		pthread_mutex_unlock(&K.lock);
		r = 0;
		goto out;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&K.lock);
		r = -ENOMEM;
		goto out;
	}
	memcpy(f->digest, h.digest, 32);
	f->next = K.inflight;
	K.inflight = f;
	pthread_mutex_unlock(&K.lock);

	r = kp->unwrap(kp, &h.key, a->dek, a->why, sizeof(a->why));

	pthread_mutex_lock(&K.lock);
	K.unwraps++;
	if (r == 0)
		cache_put(h.digest, a->dek);
	else
		snprintf(K.last_error, sizeof(K.last_error), "%s", a->why);
	inflight_drop(h.digest);
	pthread_mutex_unlock(&K.lock);
out:
	pkg_header_release(&h);
	if (r < 0)
		OPENSSL_cleanse(a->dek, sizeof(a->dek));
	return r;
}

static void *channel_main(void *arg)
{
	int chan = (int)(intptr_t)arg;
	uint8_t *buf = malloc(KEYD_MSG_MAX);
	struct keyd_unwrap_answer a;
	struct pollfd pfd = { .fd = chan, .events = POLLIN };
	uint32_t type;
	size_t n;
	int r;

	memset(&a, 0, sizeof(a));
	if (!buf)
		goto out;
	if (poll(&pfd, 1, CHANNEL_TIMEOUT_MS) != 1 ||
	    recv_msg(chan, buf, KEYD_MSG_MAX, &type, &n, NULL) < 0)
		goto out;
	if (type != KEYD_UNWRAP) {
		a.r = -EBADMSG;
		snprintf(a.why, sizeof(a.why), "unexpected request on a key channel");
	} else {
		r = unwrap(buf, n, &a);
		a.r = r;
	}
	(void)send_msg(chan, KEYD_UNWRAP, &a, sizeof(a), NULL, 0, -1);
out:
	OPENSSL_cleanse(&a, sizeof(a));
	free(buf);
	close(chan);
	return NULL;
}

static int start_channel(int chan)
{
	pthread_attr_t at;
	pthread_t t;
	int r;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&t, &at, channel_main, (void *)(intptr_t)chan);
	pthread_attr_destroy(&at);
	return r;
}

/* --- keyd's main ------------------------------------------------------------------------ */

static int load_keks(const struct keyd_config *cfg, char *why, size_t whysz)
{
	if (!cfg->nkek)
		return 0;
	K.kek = kek_provider_new();
	if (!K.kek)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nkek; i++) {
		uint8_t kek[KEK_LEN];
		char id[KEK_ID_LEN + 1];
		bool loose = false;
		int r = kek_read_file(cfg->kek_files[i], kek, &loose);

		if (r < 0)
			return err_set(why, whysz, -EINVAL, "%s: not a key-encryption key file (%s)",
				       cfg->kek_files[i], strerror(-r));
		if (loose)
			log_warn("%s: readable by other users", cfg->kek_files[i]);
		r = kek_provider_add(K.kek, kek);
		kek_id(kek, id);
		explicit_bzero(kek, sizeof(kek));
		if (r < 0)
			return err_set(why, whysz, r, "%s: key-encryption key %s: %s",
				       cfg->kek_files[i], id, strerror(-r));
		log_info("key-encryption key %s loaded", id);
		K.nkek++;
	}
	return 0;
}

static int start_keyd(const struct keyd_config *cfg, char *why, size_t whysz)
{
	int r;

	K.cfg = cfg;
	K.nsm.fd = -1;
	r = load_keks(cfg, why, whysz);
	if (r < 0)
		return r;
	if (cfg->dev) {
		r = devsetup_nsm(cfg->dev_root, "enclaved", cfg->nsm_config, &K.nsm, why, whysz);
		if (r < 0)
			return r;
	} else {
		r = nsm_open_device(&K.nsm);
		if (r < 0)
			return err_set(why, whysz, r, "cannot open %s: %s (outside a Nitro Enclave, "
				       "run with --dev)", NSM_DEV_PATH, strerror(-r));
	}
	if (cfg->kms) {
		r = kms_provider_new(cfg, &keyd_nsm_handle, &K.kms, K.kms_why, sizeof(K.kms_why));
		if (r < 0)
			log_warn("kms key provider not started: %s", K.kms_why);
	}
	return 0;
}

static void serve(int sock)
{
	uint8_t *buf = malloc(KEYD_MSG_MAX), *resp = malloc(NSM_RESPONSE_MAX);
	char why[KEYD_WHY_MAX];

	if (!buf || !resp)
		goto out;
	for (;;) {
		uint32_t type;
		size_t n, respn;
		int fd = -1, r;
		char *s;

		r = recv_msg(sock, buf, KEYD_MSG_MAX, &type, &n, &fd);
		if (r == -EPIPE)
			break;
		if (r < 0) {
			log_errno(r, "key process: request");
			if (r != -EBADMSG)
				break;
			continue;
		}
		why[0] = '\0';
		switch (type) {
		case KEYD_NSM:
			r = keyd_nsm_allowed(buf, n, K.cfg->app_pcr, why, sizeof(why));
			if (r < 0) {
				log_warn("key process: refused an NSM request: %s", why);
				(void)reply_why(sock, type, r, why);
				break;
			}
			respn = NSM_RESPONSE_MAX;
			r = locked_nsm(NULL, buf, n, resp, &respn);
			if (r < 0)
				(void)reply_why(sock, type, r, "NSM request failed");
			else
				(void)reply(sock, type, 0, resp, respn);
			break;
		case KEYD_STATUS:
			s = status_json();
			(void)reply(sock, type, s ? 0 : -ENOMEM, s, s ? strlen(s) : 0);
			free(s);
			break;
		case KEYD_CREDS:
			if (!K.kms)
				r = err_set(why, sizeof(why), -ENOKEY, "no kms key provider");
			else
				r = kms_provider_set_creds(K.kms, (const char *)buf, n, why, sizeof(why));
			OPENSSL_cleanse(buf, n);
			(void)reply_why(sock, type, r, why);
			break;
		case KEYD_FORGET:
			if (n != 32) {
				(void)reply_why(sock, type, -EBADMSG, "bad FORGET");
				break;
			}
			pthread_mutex_lock(&K.lock);
			{
				struct cached *c = cache_find(buf);

				if (c)
					OPENSSL_cleanse(c, sizeof(*c));
			}
			pthread_mutex_unlock(&K.lock);
			(void)reply(sock, type, 0, NULL, 0);
			break;
		case KEYD_CHANNEL:
			r = fd < 0 ? -EBADMSG : start_channel(fd);
			if (r < 0 && fd >= 0)
				close(fd);
			fd = -1;
			(void)reply(sock, type, r, NULL, 0);
			break;
		default:
			(void)reply_why(sock, type, -EBADMSG, "unknown request");
			break;
		}
		if (fd >= 0)
			close(fd);
	}
out:
	free(buf);
	free(resp);
}

static void keyd_child(const struct keyd_config *cfg, int sock)
{
	char why[KEYD_WHY_MAX] = "", *s;
	sigset_t all;
	int r;

	/* Not ptrace-able by its (same-uid) parent without CAP_SYS_PTRACE, no
	 * core dump, and gone with enclaved. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sigemptyset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_IGN);
	r = start_keyd(cfg, why, sizeof(why));
	if (r < 0) {
		(void)reply_why(sock, KEYD_HELLO, r, why);
		_exit(1);
	}
	s = status_json();
	(void)reply(sock, KEYD_HELLO, 0, s, s ? strlen(s) : 0);
	free(s);
	serve(sock);
	key_provider_free(K.kms);
	key_provider_free(K.kek);
	for (size_t i = 0; i < KEYD_CACHE_MAX; i++)
		OPENSSL_cleanse(&K.cache[i], sizeof(K.cache[i]));
	devnsm_free(K.nsm.dev);
	nsm_close(&K.nsm);
	_exit(0);
}

/* --- main's side ------------------------------------------------------------------------- */

static pthread_mutex_t client_lock = PTHREAD_MUTEX_INITIALIZER;

/* One request and its answer; the answer's payload after its i32 goes to
 * out (up to *outn; *outn becomes its length). */
static int ask(int sock, uint32_t type, const void *p, size_t n, int pass_fd, void *out,
	       size_t *outn)
{
	uint8_t *buf = malloc(KEYD_MSG_MAX);
	uint32_t rtype;
	size_t rn;
	int32_t rr;
	int r;

	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&client_lock);
	r = send_msg(sock, type, p, n, NULL, 0, pass_fd);
	if (r == 0)
		r = recv_msg(sock, buf, KEYD_MSG_MAX, &rtype, &rn, NULL);
	pthread_mutex_unlock(&client_lock);
	if (r == 0 && (rtype != type || rn < sizeof(rr)))
		r = -EBADMSG;
	if (r == 0) {
		memcpy(&rr, buf, sizeof(rr));
		rn -= sizeof(rr);
		if (out) {
			if (rn > *outn)
				rn = *outn;
			memcpy(out, buf + sizeof(rr), rn);
			*outn = rn;
		}
		r = rr > 0 ? -EPROTO : rr;
	}
	OPENSSL_cleanse(buf, KEYD_MSG_MAX);
	free(buf);
	return r;
}

int keyd_nsm(int sock, const uint8_t *req, size_t reqn, uint8_t *resp, size_t *respn)
{
	return ask(sock, KEYD_NSM, req, reqn, -1, resp, respn);
}

int keyd_status(int sock, char **json)
{
	char *s = calloc(1, KEYD_MSG_MAX + 1);
	size_t n = KEYD_MSG_MAX;
	int r;

	*json = NULL;
	if (!s)
		return -ENOMEM;
	r = ask(sock, KEYD_STATUS, NULL, 0, -1, s, &n);
	if (r < 0) {
		free(s);
		return r;
	}
	s[n] = '\0';
	*json = s;
	return 0;
}

int keyd_creds(int sock, const char *json, size_t n, char *why, size_t whysz)
{
	char w[KEYD_WHY_MAX];
	size_t wn = sizeof(w) - 1;
	int r;

	if (n > KEYD_CREDS_MAX)
		return err_set(why, whysz, -EMSGSIZE, "credentials message too large");
	r = ask(sock, KEYD_CREDS, json, n, -1, w, &wn);
	w[wn] = '\0';
	if (r < 0)
		snprintf(why, whysz, "%s", w);
	return r;
}

int keyd_forget(int sock, const uint8_t digest[static 32])
{
	return ask(sock, KEYD_FORGET, digest, 32, -1, NULL, NULL);
}

int keyd_channel(int sock, int fd)
{
	return ask(sock, KEYD_CHANNEL, NULL, 0, fd, NULL, NULL);
}

int keyd_start(const struct keyd_config *cfg, int *sock, int *pid, char **status, char *why,
	       size_t whysz)
{
	uint8_t *buf;
	uint32_t type;
	size_t n;
	int32_t rr;
	int sv[2], r;
	pid_t p;

	*status = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(why, whysz, neg_errno(), "socketpair: %s", strerror(errno));
	p = fork();
	if (p < 0) {
		r = neg_errno();
		close(sv[0]);
		close(sv[1]);
		return err_set(why, whysz, r, "fork: %s", strerror(-r));
	}
	if (p == 0) {
		close(sv[0]);
		keyd_child(cfg, sv[1]);
	}
	close(sv[1]);
	buf = malloc(KEYD_MSG_MAX + 1);
	r = buf ? recv_msg(sv[0], buf, KEYD_MSG_MAX, &type, &n, NULL) : -ENOMEM;
	if (r == 0 && (type != KEYD_HELLO || n < sizeof(rr)))
		r = -EBADMSG;
	if (r < 0) {
		err_set(why, whysz, r, "the key process did not start: %s", strerror(-r));
		goto fail;
	}
	memcpy(&rr, buf, sizeof(rr));
	buf[n] = '\0';
	if (rr < 0) {
		r = err_set(why, whysz, rr, "%s", (char *)buf + sizeof(rr));
		goto fail;
	}
	*status = strdup((char *)buf + sizeof(rr));
	free(buf);
	*sock = sv[0];
	*pid = p;
	return 0;
fail:
	free(buf);
	close(sv[0]);
	(void)waitpid(p, NULL, 0);
	return r;
}

/* --- a package worker's provider --------------------------------------------------------- */

struct chan_provider {
	struct key_provider kp;
	char name[16];
	int chan;
	const uint8_t *head;
	size_t n;
};

static int chan_unwrap(struct key_provider *kp, const struct pkg_key *key,
		       uint8_t dek[static PKG_DEK_LEN], char *err, size_t errsz)
{
	struct chan_provider *c = (struct chan_provider *)kp;
	struct keyd_unwrap_answer a;
	uint8_t *buf = malloc(KEYD_MSG_MAX);
	uint32_t type;
	size_t n;
	int r;

	(void)key;
	if (!buf)
		return -ENOMEM;
	r = send_msg(c->chan, KEYD_UNWRAP, c->head, c->n, NULL, 0, -1);
	if (r == 0)
		r = recv_msg(c->chan, buf, KEYD_MSG_MAX, &type, &n, NULL);
	if (r == 0 && (type != KEYD_UNWRAP || n != sizeof(a)))
		r = -EBADMSG;
	if (r < 0) {
		err_set(err, errsz, r, "no answer from the key process: %s", strerror(-r));
		goto out;
	}
	memcpy(&a, buf, sizeof(a));
	a.why[sizeof(a.why) - 1] = '\0';
	r = a.r > 0 ? -EPROTO : a.r;
	if (r == 0)
		memcpy(dek, a.dek, PKG_DEK_LEN);
	else
		err_set(err, errsz, r, "%s", a.why);
	OPENSSL_cleanse(&a, sizeof(a));
out:
	OPENSSL_cleanse(buf, KEYD_MSG_MAX);
	free(buf);
	return r;
}

static void chan_free(struct key_provider *kp)
{
	free(kp);
}

struct key_provider *keyd_chan_provider_new(int chan, const char *name, const uint8_t *head,
					    size_t n)
{
	struct chan_provider *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->kp.name = c->name;
	c->kp.unwrap = chan_unwrap;
	c->kp.free = chan_free;
	c->chan = chan;
	c->head = head;
	c->n = n;
	return &c->kp;
}
