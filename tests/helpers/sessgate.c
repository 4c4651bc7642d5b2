/* sessgate: the attested session for test peers that speak only plaintext,
 * and the attacks on the session itself.
 *
 *   sessgate enclave --listen ADDR --dev-root DIR --to unix:PATH
 *       accepts hosts on ADDR, runs the enclave's side of the session with a
 *       development NSM, and relays each session to a new connection to PATH
 *       (tests/helpers/peer.py playing the enclave)
 *   sessgate host --connect ADDR --trust-root PEM --key FILE --listen unix:PATH
 *       accepts one plaintext client on PATH (peer.py playing the host), runs
 *       the host's side to ADDR and relays
 *   sessgate mitm --listen ADDR --connect ADDR
 *       relays the clear part of the handshake between a host and an enclave,
 *       then answers the host's TLS with a key of its own: a relay that
 *       terminates TLS
 *   sessgate record --connect ADDR --out FILE
 *       asks for one attestation document and saves it
 *   sessgate replay --listen ADDR --doc FILE
 *       answers every host with that document
 *
 * Daemon modes report READY=1 to $NOTIFY_SOCKET once listening. Exit status 0,
 * 1 on failure (the reason on stderr), 2 on usage errors. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "devnsm.h"
#include "devsetup.h"
#include "session.h"
#include "transport.h"
#include "util.h"
#include "notify.h"

static const char *opt_listen, *opt_connect, *opt_to, *opt_dev_root, *opt_trust_root, *opt_key,
	*opt_out, *opt_doc;

static int die(const char *what, int r)
{
	fprintf(stderr, "sessgate: %s: %s\n", what, strerror(r < 0 ? -r : r));
	return 1;
}

static int addr_fd(const char *s, bool listen)
{
	struct addr a;
	char err[256];

	if (addr_parse(s, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "sessgate: %s\n", err);
		exit(2);
	}
	return listen ? transport_listen(&a) : transport_connect(&a);
}

/* Copies both ways until both directions have ended. A direction whose
 * receiver is gone ends; the other goes on (an ERROR on its way in is
 * still delivered). */
static void relay(int a, int b)
{
	char buf[65536];
	bool done[2] = { false, false };

	while (!done[0] || !done[1]) {
		struct pollfd p[2] = { { .fd = done[0] ? -1 : a, .events = POLLIN },
				       { .fd = done[1] ? -1 : b, .events = POLLIN } };

		if (poll(p, 2, -1) < 0)
			break;
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				done[i] = true;
				(void)shutdown(to, SHUT_WR);
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t k = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

				if (k <= 0) {
					done[i] = true;
					(void)shutdown(from, SHUT_RD);
					break;
				}
				off += k;
			}
		}
	}
}

static int run_enclave(void)
{
	struct nsm nsm = { .fd = -1 };
	struct session_enclave *se;
	char why[512];
	int lfd, r;

	r = devsetup_nsm(opt_dev_root, "sessgate", "", &nsm, why, sizeof(why));
	if (r == 0)
		r = session_enclave_new(&nsm, NULL, &se, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "sessgate: %s\n", why);
		return 1;
	}
	lfd = addr_fd(opt_listen, true);
	if (lfd < 0)
		return die(opt_listen, lfd);
	notify_ready(NULL);
	for (;;) {
		int fd = transport_accept(lfd), plain, peer;

		if (fd < 0)
			continue;
		r = session_accept(se, fd, &plain, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "sessgate: session refused: %s\n", why);
			continue;
		}
		peer = addr_fd(opt_to, false);
		if (peer < 0) {
			close(plain);
			fprintf(stderr, "sessgate: %s: %s\n", opt_to, strerror(-peer));
			continue;
		}
		relay(plain, peer);
		close(plain);
		close(peer);
	}
}

static int run_host(void)
{
	struct session_host_config c = { .key_path = opt_key, .trust_root = opt_trust_root };
	struct session_identity id;
	struct session_host *h;
	char why[512];
	int lfd, fd, plain, client, r;

	r = session_host_new(&c, &h, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "sessgate: %s\n", why);
		return 1;
	}
	lfd = addr_fd(opt_listen, true);
	if (lfd < 0)
		return die(opt_listen, lfd);
	notify_ready(NULL);
	client = transport_accept(lfd);
	if (client < 0)
		return die("accept", client);
	fd = addr_fd(opt_connect, false);
	if (fd < 0)
		return die(opt_connect, fd);
	r = session_connect(h, fd, &plain, &id);
	if (r < 0) {
		fprintf(stderr, "sessgate: %s\n", id.error);
		return 1;
	}
	relay(client, plain);
	session_host_free(h);
	return 0;
}

static int run_record(void)
{
	uint8_t nonce[SESSION_NONCE_LEN], *doc;
	size_t n;
	int fd = addr_fd(opt_connect, false), st, r;
	FILE *f;

	if (fd < 0)
		return die(opt_connect, fd);
	RAND_bytes(nonce, sizeof(nonce));
	r = session_send_hello(fd, nonce);
	if (r == 0)
		r = session_recv_doc(fd, &st, &doc, &n, SESSION_TIMEOUT_MS);
	if (r < 0 || st != 0)
		return die("no document", r < 0 ? r : -EPROTO);
	f = fopen(opt_out, "we");
	if (!f || fwrite(doc, 1, n, f) != n || fclose(f) != 0)
		return die(opt_out, -errno);
	free(doc);
	close(fd);
	return 0;
}

static int run_replay(void)
{
	static uint8_t doc[ATTEST_DOC_MAX];
	FILE *f = fopen(opt_doc, "re");
	size_t n = f ? fread(doc, 1, sizeof(doc), f) : 0;
	int lfd;

	if (!f || n == 0)
		return die(opt_doc, -EINVAL);
	fclose(f);
	lfd = addr_fd(opt_listen, true);
	if (lfd < 0)
		return die(opt_listen, lfd);
	notify_ready(NULL);
	for (;;) {
		uint8_t nonce[SESSION_NONCE_LEN];
		int fd = transport_accept(lfd);
		char c;

		if (fd < 0)
			continue;
		if (session_recv_hello(fd, nonce, SESSION_TIMEOUT_MS) == 0 &&
		    session_send_doc(fd, 0, doc, n) == 0)
			while (read(fd, &c, 1) > 0)
				;
		close(fd);
	}
}

/* The host's TLS, answered with a key that is not the attested one. */
static int run_mitm(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-384");
	X509 *x = X509_new();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int lfd;

	if (!k || !x || !ctx)
		return die("TLS", -ENOMEM);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"relay", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	if (!X509_sign(x, k, EVP_sha384()) || !SSL_CTX_use_certificate(ctx, x) ||
	    !SSL_CTX_use_PrivateKey(ctx, k))
		return die("TLS", -EINVAL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	lfd = addr_fd(opt_listen, true);
	if (lfd < 0)
		return die(opt_listen, lfd);
	notify_ready(NULL);
	for (;;) {
		uint8_t nonce[SESSION_NONCE_LEN], *doc = NULL;
		int host = transport_accept(lfd), enc, st;
		size_t n;
		SSL *s;

		if (host < 0)
			continue;
		enc = addr_fd(opt_connect, false);
		if (enc < 0 || session_recv_hello(host, nonce, SESSION_TIMEOUT_MS) < 0 ||
		    session_send_hello(enc, nonce) < 0 ||
		    session_recv_doc(enc, &st, &doc, &n, SESSION_TIMEOUT_MS) < 0 ||
		    session_send_doc(host, st, doc, n) < 0) {
			fprintf(stderr, "sessgate: the clear handshake failed\n");
		} else {
			s = SSL_new(ctx);
			SSL_set_fd(s, host);
			if (SSL_accept(s) == 1) {
				char c;

				fprintf(stderr, "sessgate: the host completed TLS with the relay\n");
				while (SSL_read(s, &c, 1) > 0)
					;
			} else {
				fprintf(stderr, "sessgate: the host broke off TLS with the relay\n");
			}
			SSL_free(s);
		}
		free(doc);
		if (enc >= 0)
			close(enc);
		close(host);
	}
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	notify_init();
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 2; i + 1 < argc; i += 2) {
		static const struct {
			const char *name;
			const char **value;
		} opts[] = { { "--listen", &opt_listen },	  { "--connect", &opt_connect },
			     { "--to", &opt_to },		  { "--dev-root", &opt_dev_root },
			     { "--trust-root", &opt_trust_root }, { "--key", &opt_key },
			     { "--out", &opt_out },		  { "--doc", &opt_doc } };
		size_t k = 0;

		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].name) != 0)
			k++;
		if (k == sizeof(opts) / sizeof(opts[0]))
			goto usage;
		*opts[k].value = argv[i + 1];
	}
	if (argc % 2 != 0)
		goto usage;
	if (!strcmp(mode, "enclave") && opt_listen && opt_dev_root && opt_to)
		return run_enclave();
	if (!strcmp(mode, "host") && opt_listen && opt_connect && opt_trust_root && opt_key)
		return run_host();
	if (!strcmp(mode, "mitm") && opt_listen && opt_connect)
		return run_mitm();
	if (!strcmp(mode, "record") && opt_connect && opt_out)
		return run_record();
	if (!strcmp(mode, "replay") && opt_listen && opt_doc)
		return run_replay();
usage:
	fprintf(stderr, "usage: sessgate enclave|host|mitm|record|replay OPTIONS (see the source)\n");
	return 2;
}
