/* The AWS KMS client (kms.h): request, signature, transport, retries. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <linux/vm_sockets.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "bodybuf.h"
#include "kms.h"
#include "sigv4.h"
#include "util.h"

#define CONNECT_TIMEOUT_S 5L
#define CALL_TIMEOUT_S 20L
#define BACKOFF_BASE_MS 100u
#define BACKOFF_MAX_MS 3000u

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kms_stats stats;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void count(unsigned long *field)
{
	pthread_mutex_lock(&stats_lock);
	(*field)++;
	pthread_mutex_unlock(&stats_lock);
}

void kms_stats_get(struct kms_stats *s)
{
	pthread_mutex_lock(&stats_lock);
	*s = stats;
	pthread_mutex_unlock(&stats_lock);
}

/* --- proxy ----------------------------------------------------------------------- */

struct proxy {
	int family; /* 0: none */
	struct sockaddr_vm vm;
	struct sockaddr_un un;
};

static int proxy_parse(const char *s, struct proxy *p)
{
	unsigned long long cid, port;
	char buf[64], *colon;

	memset(p, 0, sizeof(*p));
	if (!s || !*s)
		return 0;
	if (!strncmp(s, "unix:", 5)) {
		if (s[5] == '\0' || strlen(s + 5) >= sizeof(p->un.sun_path))
			return -EINVAL;
		p->family = AF_UNIX;
		p->un.sun_family = AF_UNIX;
		memcpy(p->un.sun_path, s + 5, strlen(s + 5) + 1);
		return 0;
	}
	if (strncmp(s, "vsock:", 6) != 0 || strlen(s + 6) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s + 6, strlen(s + 6) + 1);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (parse_u64(buf, 2, UINT_MAX - 1, &cid) < 0 || parse_u64(colon + 1, 1, UINT_MAX - 1, &port) < 0)
		return -EINVAL;
	p->family = AF_VSOCK;
	p->vm.svm_family = AF_VSOCK;
	p->vm.svm_cid = (unsigned)cid;
	p->vm.svm_port = (unsigned)port;
	return 0;
}

int kms_proxy_valid(const char *proxy)
{
	struct proxy p;

	return proxy_parse(proxy, &p);
}

/* The proxy: libcurl cannot connect an AF_VSOCK socket itself (a socket
 * from CURLOPT_OPENSOCKETFUNCTION is still connect()ed to the resolved
 * address, whatever CURLOPT_SOCKOPTFUNCTION answers, in Debian 12's 7.88),
 * so each call gets a relay: an abstract unix socket of this process that
 * curl connects to (CURLOPT_ABSTRACT_UNIX_SOCKET), whose one connection is
 * copied both ways to a new connection to the proxy. TLS runs end to end
 * through it. A unix: proxy goes through the same relay, so that the tests
 * run the code a vsock proxy runs but for the address. */
struct relay {
	const struct proxy *px;
	int lfd;
	char name[64];
	pthread_t thread;
	bool started;
	int err; /* the proxy's connect() errno, read after the join */
};

static void copy_both_ways(int a, int b)
{
	struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
	char buf[16384];

	for (;;) {
		int r = poll(p, 2, (int)CALL_TIMEOUT_S * 1000);

		if (r <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0 || io_write_all(p[1 - i].fd, buf, (size_t)n) < 0)
				return;
		}
	}
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct pollfd pl = { .fd = r->lfd, .events = POLLIN };
	int c, v;

	if (poll(&pl, 1, (int)CONNECT_TIMEOUT_S * 1000) != 1)
		return NULL;
	c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	v = socket(r->px->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v >= 0 && (r->px->family == AF_VSOCK
			       ? connect(v, (const struct sockaddr *)&r->px->vm, sizeof(r->px->vm))
			       : connect(v, (const struct sockaddr *)&r->px->un, sizeof(r->px->un))) == 0)
		copy_both_ways(c, v);
	else
		r->err = errno;
	if (v >= 0)
		close(v);
	close(c);
	return NULL;
}

static int relay_start(struct relay *r, const struct proxy *px)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	unsigned char rnd[8];
	socklen_t len;

	memset(r, 0, sizeof(*r));
	r->px = px;
	r->lfd = -1;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	snprintf(r->name, sizeof(r->name), "enclave-fs-kms-%d-%02x%02x%02x%02x%02x%02x%02x%02x",
		 (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	memcpy(a.sun_path + 1, r->name, strlen(r->name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(r->name));
	r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->lfd < 0 || bind(r->lfd, (const struct sockaddr *)&a, len) < 0 ||
	    listen(r->lfd, 1) < 0) {
		int e = neg_errno();

		safe_close(r->lfd);
		r->lfd = -1;
		return e;
	}
	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		safe_close(r->lfd);
		r->lfd = -1;
		return -EAGAIN;
	}
	r->started = true;
	return 0;
}

static void relay_stop(struct relay *r)
{
	if (r->started) {
		/* A relay still waiting for curl's connection wakes up. */
		(void)shutdown(r->lfd, SHUT_RDWR);
		pthread_join(r->thread, NULL);
	}
	if (r->lfd >= 0)
		close(r->lfd);
	r->lfd = -1;
	r->started = false;
}

/* --- helpers --------------------------------------------------------------------- */

int kms_arn_region(const char *key_id, char region[static AWS_REGION_MAX])
{
	const char *p, *q;

	if (!key_id || strncmp(key_id, "arn:", 4) != 0)
		return -EINVAL;
	/* arn:PARTITION:kms:REGION:ACCOUNT:... */
	p = strchr(key_id + 4, ':');
	if (!p || strncmp(p, ":kms:", 5) != 0)
		return -EINVAL;
	p += 5;
	q = strchr(p, ':');
	if (!q || q == p || (size_t)(q - p) >= AWS_REGION_MAX)
		return -EINVAL;
	memcpy(region, p, (size_t)(q - p));
	region[q - p] = '\0';
	return aws_region_valid(region) ? 0 : -EINVAL;
}

/* host[:port] of the URL for the Host header, and the pieces for
 * CURLOPT_RESOLVE. */
static int url_host(const char *url, char *host, size_t hostsz, char *port, size_t portsz)
{
	CURLU *u = curl_url();
	char *h = NULL, *p = NULL, *scheme = NULL;
	int r = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && !strcmp(scheme, "https") &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
	    strlen(h) < hostsz && strlen(p) < portsz) {
		snprintf(host, hostsz, "%s", h);
		snprintf(port, portsz, "%s", p);
		r = 0;
	}
	curl_free(h);
	curl_free(p);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

static int transport_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE: return -EPROTO;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_WRITE_ERROR: return -EMSGSIZE;
	default: return -EIO;
	}
}

static bool transport_retryable(CURLcode c)
{
	return c == CURLE_OPERATION_TIMEDOUT || c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR ||
	       c == CURLE_RECV_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE;
}

static void backoff(unsigned attempt)
{
	unsigned ms = BACKOFF_BASE_MS << (attempt < 5 ? attempt : 5), jitter = 0;
	struct timespec ts;

	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	(void)RAND_bytes((unsigned char *)&jitter, sizeof(jitter));
	ms = ms / 2 + jitter % (ms / 2 + 1); /* "equal jitter" */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One attempt. Returns 0 with the 200 body, or -errno; *retry says whether
 * another attempt may succeed. */
static int attempt(const struct kms_config *cfg, const struct proxy *px, const char *url,
		   const char *host, const char *port, const struct aws_creds *c, const char *region,
		   const char *op, const char *body, size_t n, struct bodybuf *out, bool *retry,
		   char *why, size_t whysz)
{
	char target[64], hosthdr[300], amz_date[17], line[8192], errbuf[CURL_ERROR_SIZE] = "";
	char type[128], msg[512], resolve[320];
	struct relay rl = { .lfd = -1 };
	struct sigv4_header hs[3];
	struct sigv4_request rq = { 0 };
	struct sigv4_creds sc = { c->access_key_id, c->secret_access_key, c->session_token };
	struct sigv4_signed sig = { 0 };
	struct curl_slist *hdrs = NULL, *res = NULL;
	time_t now = time(NULL);
	struct tm tm;
	CURLcode cc;
	long status = 0;
	CURL *h = NULL;
	int r;

	*retry = false;
	snprintf(target, sizeof(target), "TrentService.%s", op);
	if (strcmp(port, "443") == 0)
		snprintf(hosthdr, sizeof(hosthdr), "%s", host);
	else
		snprintf(hosthdr, sizeof(hosthdr), "%s:%s", host, port);
	if (!gmtime_r(&now, &tm) || strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return err_set(why, whysz, -EIO, "cannot format the time");
	hs[0] = (struct sigv4_header){ "host", hosthdr };
	hs[1] = (struct sigv4_header){ "content-type", "application/x-amz-json-1.1" };
	hs[2] = (struct sigv4_header){ "x-amz-target", target };
	rq.method = "POST";
	rq.path = "/";
	rq.query = "";
	rq.headers = hs;
	rq.nheaders = 3;
	rq.body = (const uint8_t *)body;
	rq.body_len = n;
	r = sigv4_sign(&rq, &sc, region, "kms", amz_date, SIGV4_SIGN_BODY, &sig);
	if (r < 0)
		return err_set(why, whysz, r, "cannot sign the KMS request");
	for (size_t i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "%s: %s", hs[i].name, hs[i].value);
		hdrs = curl_slist_append(hdrs, line);
	}
	for (size_t i = 0; i < sig.nadd; i++) {
		if ((size_t)snprintf(line, sizeof(line), "%s: %s", sig.add[i].name, sig.add[i].value) >=
		    sizeof(line)) {
			r = err_set(why, whysz, -EMSGSIZE, "a signed header is too long");
			goto out;
		}
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Accept:");
	OPENSSL_cleanse(line, sizeof(line));
	if (px->family) {
		/* No DNS: the proxy is the route; curl still checks the name. */
		snprintf(resolve, sizeof(resolve), "%s:%s:127.0.0.1", host, port);
		res = curl_slist_append(res, resolve);
		if (relay_start(&rl, px) < 0) {
			r = err_set(why, whysz, -EIO, "cannot start the vsock relay to the KMS proxy");
			goto out;
		}
	}
	h = curl_easy_init();
	if (!h || !hdrs || (px->family && !res)) {
		r = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)n);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, CALL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, bodybuf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	if (cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (px->family) {
		curl_easy_setopt(h, CURLOPT_RESOLVE, res);
		curl_easy_setopt(h, CURLOPT_ABSTRACT_UNIX_SOCKET, rl.name);
	}
	count(&stats.requests);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	/* The relay ends when curl closes its side. */
	curl_easy_cleanup(h);
	h = NULL;
	relay_stop(&rl);
	if (cc != CURLE_OK && rl.err) {
		*retry = true;
		r = err_set(why, whysz, -ECONNREFUSED, "cannot reach KMS through the proxy %s: %s",
			    cfg->proxy, strerror(rl.err));
		goto out;
	}
	if (cc != CURLE_OK) {
		*retry = transport_retryable(cc);
		r = out->too_big ? err_set(why, whysz, -EMSGSIZE, "KMS answered more than %u bytes",
					   (unsigned)KMSJSON_BODY_MAX)
				 : err_set(why, whysz, transport_errno(cc), "KMS at %s: %s", hosthdr,
					   errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (status == 200) {
		r = 0;
		goto out;
	}
	r = kmsjson_parse_error(out->p ? out->p : "", out->n, status, type, sizeof(type), msg,
				sizeof(msg));
	*retry = r == -EAGAIN;
	if (type[0])
		err_set(why, whysz, r, "KMS %s: %s%s%s", op, type, msg[0] ? ": " : "", msg);
	else
		err_set(why, whysz, r, "KMS %s: HTTP %ld", op, status);
out:
	if (r < 0)
		bodybuf_wipe(out);
	curl_easy_cleanup(h);
	relay_stop(&rl);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(res);
	sigv4_signed_release(&sig);
	return r;
}

int kms_call(const struct kms_config *cfg, const struct aws_creds *c, const char *region,
	     const char *op, const char *body, size_t n, char **resp, size_t *respn, char *why,
	     size_t whysz)
{
	unsigned tries = cfg->max_tries ? cfg->max_tries : KMS_TRIES_DEFAULT;
	char url[600], host[256], port[16];
	struct proxy px;
	int r = -EIO;

	*resp = NULL;
	*respn = 0;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return err_set(why, whysz, -ENOMEM, "libcurl failed to start");
	if (!c || !c->access_key_id[0] || !c->secret_access_key[0])
		return err_set(why, whysz, -ENOKEY, "no AWS credentials for KMS");
	if (!region || !aws_region_valid(region))
		return err_set(why, whysz, -EINVAL, "no valid AWS region for KMS");
	if (proxy_parse(cfg->proxy, &px) < 0)
		return err_set(why, whysz, -EINVAL, "bad KMS proxy '%s'", cfg->proxy);
	if (cfg->endpoint)
		snprintf(url, sizeof(url), "%s", cfg->endpoint);
	else
		snprintf(url, sizeof(url), "https://kms.%s.amazonaws.com/", region);
	if (url_host(url, host, sizeof(host), port, sizeof(port)) < 0)
		return err_set(why, whysz, -EINVAL, "bad KMS endpoint '%s' (https://HOST[:PORT]/)",
			       url);
	for (unsigned i = 0; i < tries; i++) {
		struct bodybuf b = { .max = KMSJSON_BODY_MAX };
		bool retry;

		if (i) {
			count(&stats.retries);
			backoff(i - 1);
		}
		r = attempt(cfg, &px, url, host, port, c, region, op, body, n, &b, &retry, why, whysz);
		if (r == 0) {
			*resp = b.p;
			*respn = b.n;
			return 0;
		}
		if (!retry)
			break;
	}
	count(&stats.failures);
	return r;
}

static int region_for(const struct kms_config *cfg, const char *key_id,
		      char region[static AWS_REGION_MAX])
{
	if (key_id && kms_arn_region(key_id, region) == 0)
		return 0;
	memcpy(region, cfg->region, AWS_REGION_MAX);
	return 0;
}

int kms_generate_data_key(const struct kms_config *cfg, const struct aws_creds *c,
			  const char *key_id, const char *context_json, struct kms_generated *out,
			  char *why, size_t whysz)
{
	char region[AWS_REGION_MAX], *body = NULL, *resp = NULL;
	size_t n, respn;
	int r;

	memset(out, 0, sizeof(*out));
	region_for(cfg, key_id, region);
	r = kmsjson_generate_request(key_id, context_json, &body, &n);
	if (r < 0)
		return err_set(why, whysz, r, "cannot build the GenerateDataKey request");
	r = kms_call(cfg, c, region, "GenerateDataKey", body, n, &resp, &respn, why, whysz);
	free(body);
	if (r < 0)
		return r;
	r = kmsjson_parse_generate(resp, respn, out, why, whysz);
	OPENSSL_cleanse(resp, respn);
	free(resp);
	return r;
}

int kms_decrypt_recipient(const struct kms_config *cfg, const struct aws_creds *c,
			  const uint8_t *blob, size_t blob_len, const char *key_id,
			  const char *context_json, const uint8_t *attdoc, size_t attdoc_len,
			  struct kms_decrypted *out, char *why, size_t whysz)
{
	char region[AWS_REGION_MAX], *body = NULL, *resp = NULL;
	size_t n, respn;
	int r;

	memset(out, 0, sizeof(*out));
	region_for(cfg, key_id, region);
	r = kmsjson_decrypt_request(blob, blob_len, key_id, context_json, attdoc, attdoc_len, &body,
				    &n);
	if (r < 0)
		return err_set(why, whysz, r, "cannot build the Decrypt request");
	r = kms_call(cfg, c, region, "Decrypt", body, n, &resp, &respn, why, whysz);
	free(body);
	if (r < 0)
		return r;
	r = kmsjson_parse_decrypt(resp, respn, out, why, whysz);
	free(resp);
	return r;
}
