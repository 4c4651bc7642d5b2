/* The attested session (attest/session.c) over socket pairs, with the
 * development NSM: the handshake, the host binding, the pump carrying data
 * both ways intact and ending cleanly, and hostile clear-text frames. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "devnsm.h"
#include "devsetup.h"
#include "session.h"

static char dir[] = "/tmp/check_session.XXXXXX";
static char rootdir[256], rootpem[300], key1[300], key2[300];
static struct nsm nsm;

static void setup(void)
{
	char why[512];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(rootdir, sizeof(rootdir), "%s/root", dir);
	snprintf(rootpem, sizeof(rootpem), "%s/root.pem", rootdir);
	snprintf(key1, sizeof(key1), "%s/host1.key", dir);
	snprintf(key2, sizeof(key2), "%s/host2.key", dir);
	ck_assert_int_eq(devsetup_nsm(rootdir, "check_session", "", &nsm, why, sizeof(why)), 0);
}

static void teardown(void)
{
	char cmd[300];

	/* Every test closed both ends of its sessions: the pumps end. */
	ck_assert(session_pumps_wait(10000));
	devnsm_free(nsm.dev);
	nsm.dev = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_session.XXXXXX");
}

struct server {
	struct session_enclave *se;
	int fd, plain, r;
	char why[512];
};

static void *serve(void *arg)
{
	struct server *s = arg;

	s->plain = -1;
	s->r = session_accept(s->se, s->fd, &s->plain, s->why, sizeof(s->why));
	return NULL;
}

/* One handshake over a socket pair: the host's result and, in *srv, the
 * enclave's. */
static int handshake(struct session_host *h, struct session_enclave *se, int *host_plain,
		     struct session_identity *id, struct server *srv)
{
	int sv[2];
	pthread_t t;
	int r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	srv->se = se;
	srv->fd = sv[1];
	ck_assert_int_eq(pthread_create(&t, NULL, serve, srv), 0);
	*host_plain = -1;
	r = session_connect(h, sv[0], host_plain, id);
	pthread_join(t, NULL);
	return r;
}

static struct session_host *host(const char *key, const char *root, size_t npins,
				 const struct attest_pin *pins)
{
	struct session_host_config c = { .key_path = key, .trust_root = root, .npins = npins,
					 .pins = pins };
	struct session_host *h = NULL;
	char why[512];

	ck_assert_msg(session_host_new(&c, &h, why, sizeof(why)) == 0, "%s", why);
	return h;
}

static struct session_enclave *enclave(const char *host_key)
{
	struct session_enclave *se = NULL;
	char why[512];

	ck_assert_msg(session_enclave_new(&nsm, host_key, &se, why, sizeof(why)) == 0, "%s", why);
	return se;
}

START_TEST(handshake_and_binding)
{
	struct session_host *h1 = host(key1, rootpem, 0, NULL), *h2 = host(key2, rootpem, 0, NULL);
	struct session_enclave *se = enclave(NULL);
	struct session_identity id;
	struct server srv;
	struct stat st;
	int plain;

	ck_assert_int_eq(stat(key1, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_str_eq(session_enclave_host(se), "");
	ck_assert_int_eq(handshake(h1, se, &plain, &id, &srv), 0);
	ck_assert_int_eq(srv.r, 0);
	ck_assert(id.verified);
	ck_assert_str_eq(id.error, "");
	ck_assert(id.have_pcr[0] && id.have_pcr[16]);
	ck_assert_str_eq(session_enclave_host(se), session_host_fpr(h1));
	close(plain);
	close(srv.plain);

	/* Another host is refused, and told why. */
	ck_assert_int_eq(handshake(h2, se, &plain, &id, &srv), -EKEYREJECTED);
	ck_assert_int_eq(srv.r, -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(id.error, "the enclave refused this host"));
	ck_assert_int_eq(plain, -1);
	/* The bound one still gets in. */
	ck_assert_int_eq(handshake(h1, se, &plain, &id, &srv), 0);
	close(plain);
	close(srv.plain);
	session_enclave_free(se);

	/* Pinned at start by fingerprint. */
	se = enclave(session_host_fpr(h2));
	ck_assert_int_eq(handshake(h1, se, &plain, &id, &srv), -EKEYREJECTED);
	ck_assert_int_eq(handshake(h2, se, &plain, &id, &srv), 0);
	close(plain);
	close(srv.plain);
	session_enclave_free(se);
	session_host_free(h1);
	session_host_free(h2);
}
END_TEST

START_TEST(pins)
{
	struct attest_pin pin = { .index = 0, .nvalues = 1 };
	struct session_host *h;
	struct session_enclave *se = enclave(NULL);
	struct session_identity id;
	struct server srv;
	int plain;

	h = host(key1, rootpem, 1, &pin); /* PCR0 all zero: not the dev NSM's */
	ck_assert_int_eq(handshake(h, se, &plain, &id, &srv), -EKEYREJECTED);
	ck_assert(!id.verified);
	ck_assert(!id.pins_matched);
	ck_assert_ptr_nonnull(strstr(id.error, "PCR0"));
	/* What was attested is still shown. */
	ck_assert(id.have_pcr[0]);
	session_host_free(h);
	/* The right value among two. */
	pin.nvalues = 2;
	memcpy(pin.value[1], id.pcr[0], ATTEST_PCR_LEN);
	h = host(key1, rootpem, 1, &pin);
	ck_assert_int_eq(handshake(h, se, &plain, &id, &srv), 0);
	ck_assert(id.verified && id.pins_matched);
	close(plain);
	close(srv.plain);
	session_host_free(h);
	session_enclave_free(se);
}
END_TEST

START_TEST(wrong_root)
{
	struct session_host *h = host(key1, NULL, 0, NULL); /* the AWS root */
	struct session_enclave *se = enclave(NULL);
	struct session_identity id;
	struct server srv;
	int plain;

	ck_assert_int_eq(handshake(h, se, &plain, &id, &srv), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(id.error, "attestation refused"));
	ck_assert_str_eq(session_enclave_host(se), "");
	session_host_free(h);
	session_enclave_free(se);
}
END_TEST

struct pumper {
	int fd;
	size_t n;
	const uint8_t *data;
	uint8_t *got;
	size_t gotn;
};

static void *writer(void *arg)
{
	struct pumper *p = arg;

	for (size_t off = 0; off < p->n;) {
		ssize_t k = write(p->fd, p->data + off, p->n - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void *reader(void *arg)
{
	struct pumper *p = arg;
	ssize_t k;

	while ((k = read(p->fd, p->got + p->gotn, p->n + 1 - p->gotn)) > 0)
		p->gotn += (size_t)k;
	return NULL;
}

/* 8 MiB each way at once through both pumps; each side sees the other's
 * end of stream after the last byte. */
START_TEST(pump_both_ways)
{
	enum { N = 8 << 20 };
	struct session_host *h = host(key1, rootpem, 0, NULL);
	struct session_enclave *se = enclave(NULL);
	struct session_identity id;
	struct server srv;
	uint8_t *a = malloc(N), *b = malloc(N), *ga = malloc(N + 1), *gb = malloc(N + 1);
	pthread_t t[4];
	int plain;

	ck_assert(a && b && ga && gb);
	RAND_bytes(a, N);
	RAND_bytes(b, N);
	ck_assert_int_eq(handshake(h, se, &plain, &id, &srv), 0);
	{
		struct pumper wa = { .fd = plain, .n = N, .data = a },
			      wb = { .fd = srv.plain, .n = N, .data = b },
			      ra = { .fd = srv.plain, .n = N, .got = ga },
			      rb = { .fd = plain, .n = N, .got = gb };

		pthread_create(&t[0], NULL, writer, &wa);
		pthread_create(&t[1], NULL, writer, &wb);
		pthread_create(&t[2], NULL, reader, &ra);
		pthread_create(&t[3], NULL, reader, &rb);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		ck_assert_uint_eq(ra.gotn, N);
		ck_assert_uint_eq(rb.gotn, N);
		ck_assert(memcmp(ga, a, N) == 0);
		ck_assert(memcmp(gb, b, N) == 0);
	}
	close(plain);
	close(srv.plain);
	free(a);
	free(b);
	free(ga);
	free(gb);
	session_host_free(h);
	session_enclave_free(se);
}
END_TEST

/* Closing one end ends the other: the reader sees end of stream. */
START_TEST(pump_close)
{
	struct session_host *h = host(key1, rootpem, 0, NULL);
	struct session_enclave *se = enclave(NULL);
	struct session_identity id;
	struct server srv;
	char c;
	int plain;

	ck_assert_int_eq(handshake(h, se, &plain, &id, &srv), 0);
	ck_assert_int_eq(write(plain, "x", 1), 1);
	close(plain);
	ck_assert_int_eq(read(srv.plain, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	ck_assert_int_eq(read(srv.plain, &c, 1), 0);
	close(srv.plain);
	session_host_free(h);
	session_enclave_free(se);
}
END_TEST

struct garbage {
	int fd;
	const void *p;
	size_t n;
};

static void *send_garbage(void *arg)
{
	struct garbage *g = arg;
	char buf[64];

	(void)!write(g->fd, g->p, g->n);
	shutdown(g->fd, SHUT_WR);
	while (read(g->fd, buf, sizeof(buf)) > 0)
		;
	close(g->fd);
	return NULL;
}

/* Hostile clear-text frames, each way: refused, nothing held. */
START_TEST(hostile_clear_text)
{
	static const struct {
		const char *what;
		const void *p;
		size_t n;
	} hellos[] = {
		{ "empty", "", 0 },
		{ "wrong magic", "EFSB\x01\x20" "0123456789abcdef0123456789abcdef", 38 },
		{ "wrong version", "EFSA\x02\x20" "0123456789abcdef0123456789abcdef", 38 },
		{ "wrong nonce length", "EFSA\x01\x10" "0123456789abcdef", 22 },
		{ "truncated", "EFSA\x01\x20" "0123", 10 },
	};
	static const struct {
		const char *what;
		const void *p;
		size_t n;
	} docs[] = {
		{ "oversized", "EFSA\x00\x01\x40\x00\x00", 9 }, /* 16385 bytes announced */
		{ "bad status", "EFSA\x07\x00\x00\x00\x00", 9 },
		{ "truncated", "EFSA\x00\x10\x00\x00\x00" "ab", 11 },
		{ "not a document", "EFSA\x00\x04\x00\x00\x00" "abcd", 13 },
		{ "a refusal", "EFSA\x01\x04\x00\x00\x00" "nope", 13 },
	};
	struct session_host *h = host(key1, rootpem, 0, NULL);
	struct session_enclave *se = enclave(NULL);

	for (size_t i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
		struct garbage g = { .p = hellos[i].p, .n = hellos[i].n };
		char why[512];
		int sv[2], plain = -1;
		pthread_t t;

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		g.fd = sv[0];
		pthread_create(&t, NULL, send_garbage, &g);
		ck_assert_msg(session_accept(se, sv[1], &plain, why, sizeof(why)) < 0, "%s",
			      hellos[i].what);
		ck_assert_int_eq(plain, -1);
		pthread_join(t, NULL);
	}
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct garbage g = { .p = docs[i].p, .n = docs[i].n };
		struct session_identity id;
		int sv[2], plain = -1, r;
		pthread_t t;

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		g.fd = sv[0];
		pthread_create(&t, NULL, send_garbage, &g);
		r = session_connect(h, sv[1], &plain, &id);
		ck_assert_msg(r < 0, "%s", docs[i].what);
		ck_assert(!id.verified);
		ck_assert_str_ne(id.error, "");
		ck_assert_int_eq(plain, -1);
		pthread_join(t, NULL);
	}
	ck_assert_str_eq(session_enclave_host(se), "");
	session_host_free(h);
	session_enclave_free(se);
}
END_TEST

START_TEST(host_keys)
{
	EVP_PKEY *k = NULL;
	char why[512], path[400];
	int fd;

	/* Not a key: refused, file untouched. */
	snprintf(path, sizeof(path), "%s/garbage.key", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, "hello\n", 6), 6);
	close(fd);
	ck_assert_int_eq(session_load_or_make_key(path, &k, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "not a PEM private key"));
	/* A missing directory: an error naming the path. */
	snprintf(path, sizeof(path), "%s/no/such/dir/k", dir);
	ck_assert_int_lt(session_load_or_make_key(path, &k, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, path));
	/* --host-key that is neither a fingerprint nor a key file. */
	{
		struct session_enclave *se = NULL;

		ck_assert_int_eq(session_enclave_new(&nsm, "ABCDEF", &se, why, sizeof(why)), -EINVAL);
		ck_assert_ptr_null(se);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, handshake_and_binding);
	tcase_add_test(tc, pins);
	tcase_add_test(tc, wrong_root);
	tcase_add_test(tc, pump_both_ways);
	tcase_add_test(tc, pump_close);
	tcase_add_test(tc, hostile_clear_text);
	tcase_add_test(tc, host_keys);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
