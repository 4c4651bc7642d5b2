/* The attested session (session.h): a fresh nonce, an attestation document
 * that binds it to the enclave's TLS key, TLS 1.3 with that key only, the
 * host's key bound by the enclave, then a pump thread that carries the
 * plaintext stream through a socket pair. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "session.h"

static const uint8_t magic[4] = { 'E', 'F', 'S', 'A' };
#define HELLO_VERSION 1
#define VERDICT_TEXT_MAX 1024
#define PUMP_BUF (256u * 1024)
#define PUMP_LINGER_MS 30000
#define READ_AHEAD (256u * 1024)

/* OpenSSL writes to the socket with write(): a peer that went away would
 * raise SIGPIPE. The session blocks it in the thread that writes and takes
 * back the one it caused, whatever the process does with SIGPIPE. */
static void nopipe_begin(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

static void nopipe_end(const sigset_t *old)
{
	struct timespec zero = { 0 };
	sigset_t s, pending;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE))
		(void)sigtimedwait(&s, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* --- clear-text framing ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves exactly n bytes, waiting at most until the deadline. */
static int io_full(int fd, void *p, size_t n, bool out, int64_t deadline)
{
	uint8_t *b = p;

	while (n > 0) {
		struct pollfd pf = { .fd = fd, .events = out ? POLLOUT : POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t k;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pf, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!pf.revents)
			continue;
		k = out ? send(fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, b, n, MSG_DONTWAIT);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int session_send_hello(int fd, const uint8_t nonce[SESSION_NONCE_LEN])
{
	uint8_t m[4 + 2 + SESSION_NONCE_LEN];

	memcpy(m, magic, 4);
	m[4] = HELLO_VERSION;
	m[5] = SESSION_NONCE_LEN;
	memcpy(m + 6, nonce, SESSION_NONCE_LEN);
	return io_full(fd, m, sizeof(m), true, now_ms() + SESSION_TIMEOUT_MS);
}

int session_recv_hello(int fd, uint8_t nonce[SESSION_NONCE_LEN], int timeout_ms)
{
	uint8_t m[6];
	int r = io_full(fd, m, sizeof(m), false, now_ms() + timeout_ms);

	if (r < 0)
		return r;
	if (memcmp(m, magic, 4) != 0 || m[4] != HELLO_VERSION || m[5] != SESSION_NONCE_LEN)
		return -EPROTO;
	return io_full(fd, nonce, SESSION_NONCE_LEN, false, now_ms() + timeout_ms);
}

int session_send_doc(int fd, int status, const uint8_t *body, size_t n)
{
	uint8_t h[9];
	int64_t dl = now_ms() + SESSION_TIMEOUT_MS;
	int r;

	if (n > ATTEST_DOC_MAX || (status != 0 && status != 1))
		return -EINVAL;
	memcpy(h, magic, 4);
	h[4] = (uint8_t)status;
	for (int i = 0; i < 4; i++)
		h[5 + i] = (uint8_t)(n >> (8 * i));
	r = io_full(fd, h, sizeof(h), true, dl);
	if (r == 0 && n)
		r = io_full(fd, (void *)body, n, true, dl);
	return r;
}

int session_recv_doc(int fd, int *status, uint8_t **body, size_t *n, int timeout_ms)
{
	int64_t dl = now_ms() + timeout_ms;
	uint8_t h[9];
	uint32_t len = 0;
	uint8_t *b;
	int r = io_full(fd, h, sizeof(h), false, dl);

	if (r < 0)
		return r;
	for (int i = 0; i < 4; i++)
		len |= (uint32_t)h[5 + i] << (8 * i);
	if (memcmp(h, magic, 4) != 0 || h[4] > 1 || len > ATTEST_DOC_MAX)
		return -EPROTO;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	r = io_full(fd, b, len, false, dl);
	if (r < 0) {
		free(b);
		return r;
	}
	b[len] = 0;
	*status = h[4];
	*body = b;
	*n = len;
	return 0;
}

/* --- keys and certificates --------------------------------------------------------- */

int session_key_fpr(EVP_PKEY *k, char out[SESSION_FPR_HEX])
{
	unsigned char *der = NULL, md[32];
	int n = i2d_PUBKEY(k, &der);

	if (n <= 0)
		return -EINVAL;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int read_key(const char *path, EVP_PKEY **out, char *why, size_t whysz)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k;

	if (!f)
		return -errno;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		snprintf(why, whysz, "%s: not a PEM private key", path);
		return -EINVAL;
	}
	*out = k;
	return 0;
}

int session_load_or_make_key(const char *path, EVP_PKEY **out, char *why, size_t whysz)
{
	char tmp[4096];
	EVP_PKEY *k = NULL;
	FILE *f = NULL;
	int fd, r = read_key(path, out, why, whysz);

	if (r != -ENOENT) {
		if (r < 0 && r != -EINVAL)
			snprintf(why, whysz, "%s: %s", path, strerror(-r));
		return r;
	}
	k = EVP_EC_gen("P-384");
	if (!k) {
		snprintf(why, whysz, "cannot make a key");
		return -ENOMEM;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >= sizeof(tmp)) {
		EVP_PKEY_free(k);
		snprintf(why, whysz, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	/* Written whole under a temporary name, then linked into place: of
	 * two processes making the key at once, one wins and both use its. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		r = errno ? -errno : -EIO;
		if (f)
			(void)fclose(f);
		else if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
		EVP_PKEY_free(k);
		snprintf(why, whysz, "%s: cannot write the key: %s", path, strerror(-r));
		return r;
	}
	(void)fclose(f);
	r = link(tmp, path) < 0 ? -errno : 0;
	(void)unlink(tmp);
	EVP_PKEY_free(k);
	if (r < 0 && r != -EEXIST) {
		snprintf(why, whysz, "%s: cannot write the key: %s", path, strerror(-r));
		return r;
	}
	r = read_key(path, out, why, whysz);
	if (r < 0 && r != -EINVAL)
		snprintf(why, whysz, "%s: %s", path, strerror(-r));
	return r;
}

/* A self-signed certificate for a TLS key: the peer checks the key, never
 * the certificate's names or dates. */
static X509 *self_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *nm;
	uint8_t serial[16];
	BIGNUM *bn;

	if (!x)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
		BN_free(bn);
		goto fail;
	}
	BN_free(bn);
	nm = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0) ||
	    !X509_set_issuer_name(x, nm) || !X509_set_pubkey(x, k) || !X509_sign(x, k, EVP_sha384()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* Both sides check the other's key themselves after the handshake. */
static int accept_any(int ok, X509_STORE_CTX *ctx)
{
	(void)ok;
	(void)ctx;
	return 1;
}

static SSL_CTX *tls_ctx(bool server, EVP_PKEY *k, const char *cn)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	X509 *x = self_cert(k, cn);

	if (!c || !x || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_use_certificate(c, x) || !SSL_CTX_use_PrivateKey(c, k) ||
	    !SSL_CTX_check_private_key(c)) {
		X509_free(x);
		SSL_CTX_free(c);
		return NULL;
	}
	X509_free(x);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			   accept_any);
	/* Whole socket buffers at a time, not a 5-byte header and then a
	 * record: half the reads, and far fewer system calls. */
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_default_read_buffer_len(c, READ_AHEAD);
	SSL_CTX_set_num_tickets(c, 0);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return c;
}

/* --- TLS on a blocking socket with a deadline ---------------------------------------- */

static int set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int tls_err(SSL *s, int ret)
{
	int e = SSL_get_error(s, ret);

	ERR_clear_error();
	if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -ETIMEDOUT;
	if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
		return -ECONNRESET;
	return -EPROTO;
}

static int tls_io_full(SSL *s, void *p, size_t n, bool out)
{
	uint8_t *b = p;

	while (n > 0) {
		size_t k = 0;
		int ok = out ? SSL_write_ex(s, b, n, &k) : SSL_read_ex(s, b, n, &k);

		if (!ok)
			return tls_err(s, 0);
		b += k;
		n -= k;
	}
	return 0;
}

static int send_verdict(SSL *s, int v, const char *text)
{
	size_t n = strlen(text);
	uint8_t h[3];

	if (n > VERDICT_TEXT_MAX)
		n = VERDICT_TEXT_MAX;
	h[0] = (uint8_t)v;
	h[1] = (uint8_t)n;
	h[2] = (uint8_t)(n >> 8);
	if (tls_io_full(s, h, 3, true) < 0)
		return -ECONNRESET;
	return tls_io_full(s, (void *)text, n, true);
}

static int recv_verdict(SSL *s, int *v, char *text, size_t textsz)
{
	uint8_t h[3];
	char buf[VERDICT_TEXT_MAX + 1];
	size_t n;
	int r = tls_io_full(s, h, 3, false);

	if (r < 0)
		return r;
	n = h[1] | (size_t)h[2] << 8;
	if (h[0] > 1 || n > VERDICT_TEXT_MAX)
		return -EPROTO;
	r = tls_io_full(s, buf, n, false);
	if (r < 0)
		return r;
	buf[n] = 0;
	*v = h[0];
	snprintf(text, textsz, "%.*s", (int)(textsz ? textsz - 1 : 0), buf);
	return 0;
}

/* --- a finished session ------------------------------------------------------------------ */

struct session_conn {
	SSL *ssl;
	int fd;
	/* The last read stopped with the caller's buffer full, not for want
	 * of bytes from the socket: the SSL may hold whole records that poll
	 * will not announce. */
	bool more;
	/* Records are gathered here and leave in large writes: OpenSSL would
	 * make a system call of each 16 KiB record. */
	BIO *wmem; /* owned by ssl */
	uint8_t *obuf;
	size_t olen, ooff, ocap;
};

/* Ciphertext queued beyond this makes the writer wait for the socket. */
#define GATHER_HIGH (1u << 20)
/* Plaintext taken per write call. */
#define GATHER_STEP (256u * 1024)
/* What the buffer keeps once all of it was sent. */
#define GATHER_KEEP (512u * 1024)

/* Takes ssl and fd (the handshake's deadlines on fd are lifted). */
static struct session_conn *conn_new(SSL *ssl, int fd)
{
	struct session_conn *c = calloc(1, sizeof(*c));

	if (c) {
		(void)set_timeouts(fd, 0);
		c->ssl = ssl;
		c->fd = fd;
		/* The handshake may have read ahead into what follows it. */
		c->more = SSL_has_pending(ssl) == 1;
	}
	return c;
}

int session_conn_fd(const struct session_conn *c)
{
	return c->fd;
}

/* As many whole TLS records as are there, up to n bytes. */
ssize_t session_conn_read(void *v, void *p, size_t n)
{
	struct session_conn *c = v;
	size_t total = 0;

	c->more = false;
	while (total < n) {
		size_t k = 0;
		int e;

		if (SSL_read_ex(c->ssl, (uint8_t *)p + total, n - total, &k)) {
			total += k;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || total)
			break;
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		errno = ECONNRESET;
		return -1;
	}
	if (total == 0) {
		errno = EAGAIN;
		return -1;
	}
	c->more = total == n;
	return (ssize_t)total;
}

/* Writes what is gathered: 0 (all of it, or the socket is full), or
 * -errno. */
int session_conn_flush(void *v)
{
	struct session_conn *c = v;

	while (c->ooff < c->olen) {
		ssize_t k = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->ooff += (size_t)k;
	}
	c->olen = c->ooff = 0;
	/* A burst grew the buffer: an idle connection keeps only so much. */
	if (c->ocap > GATHER_KEEP) {
		uint8_t *b = realloc(c->obuf, GATHER_KEEP);

		if (b) {
			c->obuf = b;
			c->ocap = GATHER_KEEP;
		}
	}
	return 0;
}

bool session_conn_wants_write(void *v)
{
	struct session_conn *c = v;

	return c->ooff < c->olen;
}

/* The BIO OpenSSL writes records into once the session carries the engine:
 * it appends them to obuf, which leaves in large writes. */
static int gather_write(BIO *b, const char *p, int n)
{
	struct session_conn *c = BIO_get_data(b);
	size_t live;

	if (n <= 0)
		return 0;
	if ((size_t)n > c->ocap - c->olen) {
		live = c->olen - c->ooff;
		/* Move the unsent bytes down only when what was sent before
		 * them is at least as much (each byte moves a bounded number of
		 * times); else grow. */
		if (c->ooff && c->ooff >= live) {
			memmove(c->obuf, c->obuf + c->ooff, live);
			c->olen = live;
			c->ooff = 0;
		}
		if ((size_t)n > c->ocap - c->olen) {
			size_t cap = 2 * c->ocap > c->olen + (size_t)n ? 2 * c->ocap : c->olen + (size_t)n;
			uint8_t *nb = realloc(c->obuf, cap);

			if (!nb)
				return -1;
			c->obuf = nb;
			c->ocap = cap;
		}
	}
	memcpy(c->obuf + c->olen, p, (size_t)n);
	c->olen += (size_t)n;
	return n;
}

static long gather_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *gather_method;
static pthread_once_t gather_once = PTHREAD_ONCE_INIT;

static void gather_init(void)
{
	gather_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "efs-gather");
	if (gather_method &&
	    (!BIO_meth_set_write(gather_method, gather_write) ||
	     !BIO_meth_set_ctrl(gather_method, gather_ctrl))) {
		BIO_meth_free(gather_method);
		gather_method = NULL;
	}
}

ssize_t session_conn_write(void *v, const void *p, size_t n)
{
	struct session_conn *c = v;
	size_t k = 0;
	int r;

	if (!c->wmem) {
		/* From here on OpenSSL writes into obuf; reads stay on the
		 * socket. */
		pthread_once(&gather_once, gather_init);
		c->wmem = gather_method ? BIO_new(gather_method) : NULL;
		if (!c->wmem) {
			errno = ENOMEM;
			return -1;
		}
		BIO_set_data(c->wmem, c);
		BIO_set_init(c->wmem, 1);
		SSL_set0_wbio(c->ssl, c->wmem);
	}
	r = session_conn_flush(c);
	if (r < 0) {
		errno = r == -EPIPE ? EPIPE : ECONNRESET;
		return -1;
	}
	if (c->olen - c->ooff >= GATHER_HIGH) {
		errno = EAGAIN;
		return -1;
	}
	/* Partial writes are on: SSL_write returns after each record. Into
	 * memory nothing waits, so take a whole step before sending. */
	if (n > GATHER_STEP)
		n = GATHER_STEP;
	while (k < n) {
		size_t w = 0;

		if (!SSL_write_ex(c->ssl, (const uint8_t *)p + k, n - k, &w)) {
			ERR_clear_error();
			if (k)
				break;
			errno = ECONNRESET;
			return -1;
		}
		k += w;
	}
	(void)session_conn_flush(c);
	return (ssize_t)k;
}

bool session_conn_pending(void *v)
{
	struct session_conn *c = v;

	return c->more || SSL_pending(c->ssl) > 0;
}

void session_conn_free(void *v)
{
	struct session_conn *c = v;

	if (!c)
		return;
	/* One try at a clean end (close_notify); the fd is the caller's. */
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	if (c->wmem)
		(void)session_conn_flush(c);
	SSL_free(c->ssl); /* and wmem with it */
	free(c->obuf);
	free(c);
}

/* --- the pump ---------------------------------------------------------------------------- */

struct pump {
	SSL *ssl;
	int net, app; /* the raw stream; the pump's end of the socket pair */
	uint8_t *in, *outb; /* net -> app, app -> net */
	size_t in_len, in_off, out_len, out_off;
};

/* Live pump threads, so that a process can wait for them before exit
 * tears OpenSSL down under them. */
static pthread_mutex_t pumps_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pumps_cv = PTHREAD_COND_INITIALIZER;
static unsigned pumps_live;

bool session_pumps_wait(int timeout_ms)
{
	struct timespec ts;
	bool idle;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pumps_mu);
	while (pumps_live && pthread_cond_timedwait(&pumps_cv, &pumps_mu, &ts) == 0)
		;
	idle = pumps_live == 0;
	pthread_mutex_unlock(&pumps_mu);
	return idle;
}

static void pump_free(struct pump *p)
{
	SSL_free(p->ssl);
	if (p->net >= 0)
		close(p->net);
	if (p->app >= 0)
		close(p->app);
	free(p->in);
	free(p->outb);
	free(p);
	/* This thread's OpenSSL state (error queue) goes with it. */
	OPENSSL_thread_stop();
}

/* One thread per connection. Progress is made in four moves (TLS in, app
 * out, app in, TLS out) until none can move, then poll waits for what the
 * blocked moves need. */
static void *pump_main(void *arg)
{
	struct pump *p = arg;
	bool net_eof = false, app_eof = false, net_sent_close = false, net_wdead = false;
	int64_t linger_until = 0;
	sigset_t old;

	nopipe_begin(&old); /* for the thread's life: it ends with it */

	for (;;) {
		short want_net = 0, want_app = 0;
		bool moved;

		do {
			moved = false;
			if (!net_eof && p->in_len == 0) {
				size_t k = 0;

				if (SSL_read_ex(p->ssl, p->in, PUMP_BUF, &k)) {
					p->in_len = k;
					p->in_off = 0;
					moved = true;
				} else {
					int e = SSL_get_error(p->ssl, 0);

					if (e == SSL_ERROR_WANT_READ)
						want_net |= POLLIN;
					else if (e == SSL_ERROR_WANT_WRITE)
						want_net |= POLLOUT;
					else {
						net_eof = true;
						(void)shutdown(p->app, SHUT_WR);
						moved = true;
					}
					ERR_clear_error();
				}
			}
			if (p->in_len > p->in_off) {
				ssize_t k = send(p->app, p->in + p->in_off, p->in_len - p->in_off,
						 MSG_NOSIGNAL | MSG_DONTWAIT);

				if (k > 0) {
					p->in_off += (size_t)k;
					if (p->in_off == p->in_len)
						p->in_len = p->in_off = 0;
					moved = true;
				} else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
					want_app |= POLLOUT;
				} else {
					goto done; /* the app end is gone */
				}
			}
			if (!app_eof && p->out_len == 0) {
				ssize_t k = recv(p->app, p->outb, PUMP_BUF, MSG_DONTWAIT);

				if (k > 0 && net_wdead) {
					moved = true; /* the peer is gone: dropped */
				} else if (k > 0) {
					p->out_len = (size_t)k;
					p->out_off = 0;
					moved = true;
				} else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
					want_app |= POLLIN;
				} else {
					app_eof = true;
					moved = true;
				}
			}
			if (p->out_len > p->out_off) {
				size_t k = 0;

				if (SSL_write_ex(p->ssl, p->outb + p->out_off, p->out_len - p->out_off,
						 &k)) {
					p->out_off += k;
					if (p->out_off == p->out_len)
						p->out_len = p->out_off = 0;
					moved = true;
				} else {
					int e = SSL_get_error(p->ssl, 0);

					ERR_clear_error();
					if (e == SSL_ERROR_WANT_WRITE) {
						want_net |= POLLOUT;
					} else if (e == SSL_ERROR_WANT_READ) {
						want_net |= POLLIN;
					} else {
						/* The peer stopped reading: what it sent
						 * before still reaches the app; what the app
						 * sends now goes nowhere. */
						net_wdead = net_sent_close = true;
						p->out_len = p->out_off = 0;
						moved = true;
					}
				}
			}
			if (app_eof && p->out_len == 0 && !net_sent_close) {
				/* Everything the app wrote is out: say so, then stop
				 * writing; the peer's remaining data still comes in. */
				if (SSL_shutdown(p->ssl) >= 0 || SSL_get_error(p->ssl, 0) !=
									 SSL_ERROR_WANT_WRITE) {
					net_sent_close = true;
					(void)shutdown(p->net, SHUT_WR);
					moved = true;
				} else {
					want_net |= POLLOUT;
				}
				ERR_clear_error();
			}
		} while (moved);
		if (net_eof && p->in_len == 0 && ((app_eof && p->out_len == 0 && net_sent_close) ||
						  net_wdead))
			goto done;
		{
			/* A side nothing is wanted from is left out: a hung-up
			 * socket would otherwise wake poll forever. */
			struct pollfd pf[2] = { { .fd = want_net ? p->net : -1, .events = want_net },
						{ .fd = want_app ? p->app : -1, .events = want_app } };
			int timeout = -1, k;

			if (!want_net && !want_app)
				goto done;
			/* Once our side has closed, a peer that neither reads nor
			 * closes keeps this thread only so long. */
			if (app_eof) {
				if (!linger_until)
					linger_until = now_ms() + PUMP_LINGER_MS;
				timeout = (int)(linger_until - now_ms());
				if (timeout <= 0)
					goto done;
			}
			k = poll(pf, 2, timeout);
			if ((k < 0 && errno != EINTR) || (k == 0 && app_eof))
				goto done;
			if ((pf[0].revents & POLLNVAL) || (pf[1].revents & POLLNVAL))
				goto done;
		}
	}
done:
	pump_free(p);
	pthread_mutex_lock(&pumps_mu);
	pumps_live--;
	pthread_cond_broadcast(&pumps_cv);
	pthread_mutex_unlock(&pumps_mu);
	return NULL;
}

static int pump_start(SSL *ssl, int net, int *plain);

int session_conn_pump(struct session_conn *c, int *plain)
{
	int r = pump_start(c->ssl, c->fd, plain);

	if (r < 0) {
		close(c->fd);
		SSL_free(c->ssl);
	}
	free(c);
	return r;
}

/* Hands ssl and net to a pump thread; *plain gets the caller's end. */
static int pump_start(SSL *ssl, int net, int *plain)
{
	struct pump *p = calloc(1, sizeof(*p));
	pthread_attr_t at;
	pthread_t t;
	int sv[2], r;

	if (!p)
		return -ENOMEM;
	p->in = malloc(PUMP_BUF);
	p->outb = malloc(PUMP_BUF);
	if (!p->in || !p->outb || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(p->in);
		free(p->outb);
		free(p);
		return -ENOMEM;
	}
	(void)set_timeouts(net, 0);
	r = fcntl(net, F_GETFL);
	(void)fcntl(net, F_SETFL, r | O_NONBLOCK);
	(void)fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	p->ssl = ssl;
	p->net = net;
	p->app = sv[1];
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&pumps_mu);
	pumps_live++;
	pthread_mutex_unlock(&pumps_mu);
	r = pthread_create(&t, &at, pump_main, p);
	pthread_attr_destroy(&at);
	if (r != 0) {
		pthread_mutex_lock(&pumps_mu);
		pumps_live--;
		pthread_mutex_unlock(&pumps_mu);
		p->ssl = NULL; /* the caller frees ssl and closes net */
		p->net = -1;
		close(sv[0]);
		pump_free(p);
		return -r;
	}
	*plain = sv[0];
	return 0;
}

/* --- the host ---------------------------------------------------------------------------- */

struct session_host {
	EVP_PKEY *key;
	SSL_CTX *ctx;
	uint8_t *root_der;
	size_t root_der_len;
	char root_name[256];
	struct attest_policy policy; /* nonce and time set per connection */
	char fpr[SESSION_FPR_HEX];
};

int session_host_new(const struct session_host_config *c, struct session_host **out, char *why,
		     size_t whysz)
{
	struct session_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = session_load_or_make_key(c->key_path, &h->key, why, whysz);
	if (r < 0)
		goto fail;
	if (c->trust_root) {
		r = attest_read_root(c->trust_root, &h->root_der, &h->root_der_len, why, whysz);
		if (r < 0)
			goto fail;
	}
	snprintf(h->root_name, sizeof(h->root_name), "%s",
		 c->root_name ? c->root_name : c->trust_root ? c->trust_root : "aws-nitro");
	h->policy.root_der = h->root_der;
	h->policy.root_der_len = h->root_der_len;
	h->policy.allow_debug = c->allow_debug;
	for (size_t i = 0; i < c->npins; i++) {
		r = attest_policy_add_pin(&h->policy, &c->pins[i], why, whysz);
		if (r < 0)
			goto fail;
	}
	r = -ENOMEM;
	h->ctx = tls_ctx(false, h->key, "enclave-fs host");
	if (!h->ctx || session_key_fpr(h->key, h->fpr) < 0) {
		snprintf(why, whysz, "cannot set up TLS");
		goto fail;
	}
	*out = h;
	return 0;
fail:
	session_host_free(h);
	return r;
}

void session_host_free(struct session_host *h)
{
	if (!h)
		return;
	SSL_CTX_free(h->ctx);
	EVP_PKEY_free(h->key);
	free(h->root_der);
	free(h);
}

const char *session_host_fpr(const struct session_host *h)
{
	return h->fpr;
}

static void identity_from(struct session_identity *id, const struct attest_doc *d)
{
	snprintf(id->module_id, sizeof(id->module_id), "%s", d->module_id);
	id->timestamp_ms = d->timestamp_ms;
	id->debug = d->debug;
	for (unsigned i = 0; i < ATTEST_PCRS_MAX; i++) {
		id->have_pcr[i] = i < d->npcrs;
		if (i < d->npcrs)
			memcpy(id->pcr[i], d->pcr[i], ATTEST_PCR_LEN);
	}
}

__attribute__((format(printf, 3, 4))) static int refuse(struct session_identity *id, int r,
							 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(id->error, sizeof(id->error), fmt, ap);
	va_end(ap);
	return r;
}

static int host_side(struct session_host *h, int fd, struct session_conn **out,
		     struct session_identity *id);

int session_connect_conn(struct session_host *h, int fd, struct session_conn **out,
			 struct session_identity *id)
{
	sigset_t old;
	int r;

	*out = NULL;
	nopipe_begin(&old);
	r = host_side(h, fd, out, id);
	nopipe_end(&old);
	return r;
}

int session_connect(struct session_host *h, int fd, int *plain, struct session_identity *id)
{
	struct session_conn *c;
	int r = session_connect_conn(h, fd, &c, id);

	if (r == 0) {
		r = session_conn_pump(c, plain);
		if (r < 0) {
			id->verified = false;
			snprintf(id->error, sizeof(id->error), "cannot start the session: %s",
				 strerror(-r));
		}
	}
	return r;
}

static int host_side(struct session_host *h, int fd, struct session_conn **out,
		     struct session_identity *id)
{
	uint8_t nonce[SESSION_NONCE_LEN], *doc = NULL;
	struct attest_policy pol = h->policy;
	struct attest_doc d;
	char why[512];
	size_t n = 0;
	EVP_PKEY *attested = NULL, *got;
	SSL *ssl = NULL;
	int status = 0, r, v;
	struct timespec ts;

	memset(id, 0, sizeof(*id));
	snprintf(id->root, sizeof(id->root), "%s", h->root_name);
	snprintf(id->host_fpr, sizeof(id->host_fpr), "%s", h->fpr);
	id->pins_matched = true;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		r = refuse(id, -EIO, "%s", "no random nonce");
		goto out;
	}
	r = session_send_hello(fd, nonce);
	if (r == 0)
		r = session_recv_doc(fd, &status, &doc, &n, SESSION_TIMEOUT_MS);
	if (r < 0) {
		r = refuse(id, r, "no attestation from the enclave: %s", strerror(-r));
		goto out;
	}
	if (status != 0) {
		r = refuse(id, -EKEYREJECTED, "the enclave could not attest: %.400s", (char *)doc);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	pol.at_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pol.nonce = nonce;
	pol.nonce_len = sizeof(nonce);
	r = attest_verify(doc, n, &pol, &d, why, sizeof(why));
	if (r == -EKEYREJECTED && pol.npins) {
		/* Is it only the pins? Then the status shows what was attested. */
		struct attest_doc d2;

		pol.npins = 0;
		if (attest_verify(doc, n, &pol, &d2, why + 0, 0) == 0) {
			identity_from(id, &d2);
			id->pins_matched = false;
			attest_doc_release(&d2);
		}
	}
	if (r == 0 || r == -EKEYREJECTED)
		identity_from(id, &d);
	if (r < 0) {
		if (r == -EKEYREJECTED)
			attest_doc_release(&d);
		/* A malformed document is refused like a false one; running out
		 * of memory is our failure, not the enclave's. */
		if (r == -ENOMEM)
			r = refuse(id, r, "out of memory verifying the attestation");
		else
			r = refuse(id, -EKEYREJECTED, "attestation refused: %.400s", why);
		goto out;
	}
	if (d.public_key.p) {
		const unsigned char *q = d.public_key.p;

		attested = d2i_PUBKEY(NULL, &q, (long)d.public_key.n);
		if (attested && q != d.public_key.p + d.public_key.n) {
			EVP_PKEY_free(attested);
			attested = NULL;
		}
	}
	attest_doc_release(&d);
	if (!attested) {
		r = refuse(id, -EKEYREJECTED, "%s",
			   "attestation refused: the document attests no TLS key");
		goto out;
	}
	ssl = SSL_new(h->ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || set_timeouts(fd, SESSION_TIMEOUT_MS) < 0) {
		r = refuse(id, -ENOMEM, "%s", "cannot set up TLS");
		goto out;
	}
	if (SSL_connect(ssl) != 1) {
		r = tls_err(ssl, 0);
		r = refuse(id, r, "TLS handshake with the enclave failed: %s", strerror(-r));
		goto out;
	}
	got = SSL_get0_peer_certificate(ssl) ? X509_get0_pubkey(SSL_get0_peer_certificate(ssl)) :
					       NULL;
	if (!got || EVP_PKEY_eq(got, attested) != 1) {
		r = refuse(id, -EKEYREJECTED, "%s",
			   "the TLS key is not the attested key (a relay that terminates TLS?)");
		goto out;
	}
	r = recv_verdict(ssl, &v, why, sizeof(why));
	if (r < 0) {
		r = refuse(id, r, "the enclave closed the session: %s", strerror(-r));
		goto out;
	}
	if (v != 0) {
		r = refuse(id, -EKEYREJECTED, "the enclave refused this host: %.400s", why);
		goto out;
	}
	*out = conn_new(ssl, fd);
	if (*out) {
		id->verified = true;
		ssl = NULL;
		fd = -1;
	} else {
		r = refuse(id, -ENOMEM, "%s", "cannot start the session: out of memory");
	}
out:
	EVP_PKEY_free(attested);
	SSL_free(ssl);
	free(doc);
	if (fd >= 0)
		close(fd);
	return r;
}

/* --- the enclave ---------------------------------------------------------------------------- */

struct session_enclave {
	struct nsm *nsm;
	EVP_PKEY *key; /* this start's TLS key */
	uint8_t *spki;
	int spki_len;
	SSL_CTX *ctx;
	char bound[SESSION_FPR_HEX]; /* "" until a host is bound */
};

static bool is_fpr(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == SESSION_FPR_HEX - 1;
}

int session_enclave_new(struct nsm *nsm, const char *host_key, struct session_enclave **out,
			char *why, size_t whysz)
{
	struct session_enclave *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->nsm = nsm;
	if (host_key && is_fpr(host_key)) {
		memcpy(s->bound, host_key, SESSION_FPR_HEX);
	} else if (host_key) {
		FILE *f = fopen(host_key, "re");
		EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;

		if (f)
			fclose(f);
		if (!k || session_key_fpr(k, s->bound) < 0) {
			EVP_PKEY_free(k);
			free(s);
			snprintf(why, whysz,
				 "--host-key %s: neither a SHA-256 fingerprint (64 lower-case hex) "
				 "nor a PEM public key file",
				 host_key);
			return -EINVAL;
		}
		EVP_PKEY_free(k);
	}
	s->key = EVP_EC_gen("P-384");
	s->spki_len = s->key ? i2d_PUBKEY(s->key, &s->spki) : -1;
	s->ctx = s->key ? tls_ctx(true, s->key, "enclave-fs enclave") : NULL;
	if (s->spki_len <= 0 || !s->ctx) {
		session_enclave_free(s);
		snprintf(why, whysz, "cannot make the session key");
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void session_enclave_free(struct session_enclave *s)
{
	if (!s)
		return;
	SSL_CTX_free(s->ctx);
	EVP_PKEY_free(s->key);
	OPENSSL_free(s->spki);
	free(s);
}

const char *session_enclave_host(const struct session_enclave *s)
{
	return s->bound;
}

static int enclave_side(struct session_enclave *s, int fd, struct session_conn **out, char *why,
			size_t whysz);

int session_accept_conn(struct session_enclave *s, int fd, struct session_conn **out, char *why,
			size_t whysz)
{
	sigset_t old;
	int r;

	*out = NULL;
	nopipe_begin(&old);
	r = enclave_side(s, fd, out, why, whysz);
	nopipe_end(&old);
	return r;
}

int session_accept(struct session_enclave *s, int fd, int *plain, char *why, size_t whysz)
{
	struct session_conn *c;
	int r = session_accept_conn(s, fd, &c, why, whysz);

	if (r == 0) {
		r = session_conn_pump(c, plain);
		if (r < 0)
			snprintf(why, whysz, "session start failed: %s", strerror(-r));
	}
	return r;
}

static int enclave_side(struct session_enclave *s, int fd, struct session_conn **out, char *why,
			size_t whysz)
{
	uint8_t nonce[SESSION_NONCE_LEN], *doc = NULL;
	char fpr[SESSION_FPR_HEX], text[512];
	size_t n = 0;
	SSL *ssl = NULL;
	X509 *peer;
	int r;

	r = session_recv_hello(fd, nonce, SESSION_TIMEOUT_MS);
	if (r < 0) {
		snprintf(why, whysz, "no session hello: %s", strerror(-r));
		goto out;
	}
	r = nsm_attestation(s->nsm, NULL, 0, nonce, sizeof(nonce), s->spki, (size_t)s->spki_len,
			    &doc, &n, text, sizeof(text));
	if (r < 0) {
		snprintf(why, whysz, "the NSM gave no attestation: %s", text);
		(void)session_send_doc(fd, 1, (const uint8_t *)why, strlen(why));
		goto out;
	}
	r = session_send_doc(fd, 0, doc, n);
	ssl = r == 0 ? SSL_new(s->ctx) : NULL;
	if (r == 0 && (!ssl || !SSL_set_fd(ssl, fd) || set_timeouts(fd, SESSION_TIMEOUT_MS) < 0))
		r = -ENOMEM;
	if (r == 0 && SSL_accept(ssl) != 1)
		r = tls_err(ssl, 0);
	if (r < 0) {
		snprintf(why, whysz, "session handshake failed: %s", strerror(-r));
		goto out;
	}
	peer = SSL_get0_peer_certificate(ssl);
	if (!peer || session_key_fpr(X509_get0_pubkey(peer), fpr) < 0) {
		r = -EKEYREJECTED;
		snprintf(why, whysz, "the host presented no key");
		goto out;
	}
	if (s->bound[0] && strcmp(s->bound, fpr) != 0) {
		snprintf(text, sizeof(text),
			 "this enclave is bound to host key %.16s..., not %.16s... (restart the "
			 "enclave, or start it with --host-key, to serve another host)",
			 s->bound, fpr);
		(void)send_verdict(ssl, 1, text);
		(void)SSL_shutdown(ssl);
		snprintf(why, whysz, "refused host key %s: bound to %s", fpr, s->bound);
		r = -EKEYREJECTED;
		goto out;
	}
	r = send_verdict(ssl, 0, "");
	if (r == 0 && !(*out = conn_new(ssl, fd)))
		r = -ENOMEM;
	if (r < 0) {
		snprintf(why, whysz, "session start failed: %s", strerror(-r));
		goto out;
	}
	if (!s->bound[0])
		memcpy(s->bound, fpr, SESSION_FPR_HEX);
	ssl = NULL;
	fd = -1;
out:
	SSL_free(ssl);
	free(doc);
	if (fd >= 0)
		close(fd);
	return r;
}
