#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "transport.h"
#include "util.h"

#define LISTEN_BACKLOG 16
#define TUNE_BUFFER    (4 * 1024 * 1024)
/* vsock's receive window: the guest transport drops a connection whose
 * queued packets outgrow it (ENOBUFS), so the receiver of bulk data wants a
 * large one. */
#define VSOCK_BUFFER   (8 * 1024 * 1024)
#define DRAIN_MAX      (16 * 1024 * 1024)
#define QUOTE_MAX      64

_Static_assert(sizeof(((struct addr *)0)->path) == sizeof(((struct sockaddr_un *)0)->sun_path),
	       "struct addr path must match sun_path");
_Static_assert(VMADDR_CID_ANY == UINT32_MAX, "VMADDR_CID_ANY is -1U");

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_un un;
	struct sockaddr_vm vm;
};

/* Copies s[0..n) for an error message: at most QUOTE_MAX bytes, control
 * characters escaped, so that a hostile string cannot garble a log line. */
static const char *quote(char out[static 4 * QUOTE_MAX + 4], const char *s, size_t n)
{
	char *p = out;

	for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	if (n > QUOTE_MAX)
		p = stpcpy(p, "...");
	*p = '\0';
	return out;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err && errsz) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Plain decimal s[0..n) in [0, max]: digits only, nothing else. */
static int parse_dec(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static int parse_vsock(const char *rest, struct addr *a, char *err, size_t errsz)
{
	const char *colon = strchr(rest, ':');
	const char *port = colon ? colon + 1 : rest;
	char q[4 * QUOTE_MAX + 4];
	uint64_t v;

	a->kind = ADDR_VSOCK;
	a->cid = VMADDR_CID_ANY;
	if (colon) {
		if (parse_dec(rest, (size_t)(colon - rest), UINT32_MAX, &v) < 0)
			return fail(err, errsz, "vsock CID '%s' is not a number from 0 to %" PRIu32,
				    quote(q, rest, (size_t)(colon - rest)), UINT32_MAX);
		a->cid = (uint32_t)v;
	}
	if (parse_dec(port, strlen(port), UINT32_MAX, &v) < 0)
		return fail(err, errsz, "vsock port '%s' is not a number from 0 to %" PRIu32,
			    quote(q, port, strlen(port)), UINT32_MAX);
	a->port = (uint32_t)v;
	return 0;
}

static bool nitro_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int parse_nitro(const char *rest, struct addr *a, char *err, size_t errsz)
{
	const char *colon = strchr(rest, ':');
	size_t n = colon ? (size_t)(colon - rest) : strlen(rest);
	char q[4 * QUOTE_MAX + 4];
	uint64_t v;

	a->kind = ADDR_NITRO;
	a->port = NITRO_DEFAULT_PORT;
	if (n > NITRO_NAME_MAX)
		return fail(err, errsz, "enclave name '%s' is %zu bytes long; the limit is %d",
			    quote(q, rest, n), n, NITRO_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!nitro_name_char(rest[i]))
			return fail(err, errsz,
				    "enclave name '%s' may hold only letters, digits, '.', '_' and '-'",
				    quote(q, rest, n));
	memcpy(a->path, rest, n);
	a->path[n] = '\0';
	if (colon && parse_dec(colon + 1, strlen(colon + 1), UINT32_MAX, &v) < 0)
		return fail(err, errsz, "vsock port '%s' is not a number from 0 to %" PRIu32,
			    quote(q, colon + 1, strlen(colon + 1)), UINT32_MAX);
	if (colon)
		a->port = (uint32_t)v;
	return 0;
}

int addr_parse(const char *s, struct addr *a, char *err, size_t errsz)
{
	char q[4 * QUOTE_MAX + 4];
	uint64_t v;
	size_t n;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (err && errsz)
		err[0] = '\0';
	if (!s)
		return fail(err, errsz, "no address given");

	if (!strncmp(s, "vsock:", 6))
		return parse_vsock(s + 6, a, err, errsz);
	if (!strncmp(s, "nitro:", 6))
		return parse_nitro(s + 6, a, err, errsz);
	if (!strncmp(s, "unix:", 5)) {
		n = strlen(s + 5);
		if (n == 0)
			return fail(err, errsz, "unix socket path is empty");
		if (n >= sizeof(a->path))
			return fail(err, errsz,
				    "unix socket path '%s' is %zu bytes long; the limit is %zu",
				    quote(q, s + 5, n), n, sizeof(a->path) - 1);
		a->kind = ADDR_UNIX;
		memcpy(a->path, s + 5, n + 1);
		return 0;
	}
	if (!strncmp(s, "fd:", 3)) {
		n = strlen(s + 3);
		if (parse_dec(s + 3, n, INT_MAX, &v) < 0)
			return fail(err, errsz, "fd '%s' is not a number from 0 to %d",
				    quote(q, s + 3, n), INT_MAX);
		a->kind = ADDR_FD;
		a->fd = (int)v;
		return 0;
	}
	return fail(err, errsz,
		    "unknown address '%s' (expected vsock:CID:PORT, vsock:PORT, unix:PATH, fd:N or nitro:NAME)",
		    quote(q, s, strlen(s)));
}

static bool unix_path_ok(const struct addr *a)
{
	return a->path[0] && memchr(a->path, '\0', sizeof(a->path));
}

int addr_format(const struct addr *a, char *out, size_t outsz)
{
	int n;

	switch (a->kind) {
	case ADDR_VSOCK:
		if (a->cid == VMADDR_CID_ANY)
			n = snprintf(out, outsz, "vsock:%" PRIu32, a->port);
		else
			n = snprintf(out, outsz, "vsock:%" PRIu32 ":%" PRIu32, a->cid, a->port);
		break;
	case ADDR_UNIX:
		if (!unix_path_ok(a))
			return -EINVAL;
		n = snprintf(out, outsz, "unix:%s", a->path);
		break;
	case ADDR_FD:
		if (a->fd < 0)
			return -EINVAL;
		n = snprintf(out, outsz, "fd:%d", a->fd);
		break;
	case ADDR_NITRO:
		if (!memchr(a->path, '\0', NITRO_NAME_MAX + 1))
			return -EINVAL;
		if (a->port == NITRO_DEFAULT_PORT)
			n = snprintf(out, outsz, "nitro:%s", a->path);
		else
			n = snprintf(out, outsz, "nitro:%s:%" PRIu32, a->path, a->port);
		break;
	default: return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	return (size_t)n < outsz ? 0 : -ENOSPC;
}

static int make_sockaddr(const struct addr *a, union sockaddr_any *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	switch (a->kind) {
	case ADDR_VSOCK:
		sa->vm.svm_family = AF_VSOCK;
		sa->vm.svm_cid = a->cid;
		sa->vm.svm_port = a->port;
		*len = sizeof(sa->vm);
		return 0;
	case ADDR_UNIX:
		if (!unix_path_ok(a))
			return -EINVAL;
		sa->un.sun_family = AF_UNIX;
		strcpy(sa->un.sun_path, a->path);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->path) + 1);
		return 0;
	default: return -EINVAL;
	}
}

/* A connect interrupted by a signal may go on in the background (vsock, TCP)
 * or have been abandoned (unix): wait for the outcome, and start over if
 * nothing is connected. */
static int connect_retry(int fd, const union sockaddr_any *sa, socklen_t len)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		union sockaddr_any peer;
		socklen_t plen = sizeof(peer);
		int err = 0;
		socklen_t elen = sizeof(err);

		if (connect(fd, &sa->sa, len) == 0)
			return 0;
		if (errno == EISCONN)
			return 0;
		if (errno != EINTR && errno != EALREADY)
			return neg_errno();
		while (poll(&p, 1, -1) < 0)
			if (errno != EINTR)
				return neg_errno();
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return neg_errno();
		if (err)
			return -err;
		if (getpeername(fd, &peer.sa, &plen) == 0)
			return 0;
		if (errno != ENOTCONN)
			return neg_errno();
	}
}

static int adopt_fd(int fd)
{
	struct stat st;
	int type, fl;
	socklen_t len = sizeof(type);

	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st) < 0)
		return neg_errno();
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return neg_errno();
	if (type != SOCK_STREAM)
		return -EPROTOTYPE;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return neg_errno();
	return fd;
}

static transport_nitro_resolver nitro_resolver;
static _Thread_local char connect_why[256];

void transport_set_nitro_resolver(transport_nitro_resolver fn)
{
	nitro_resolver = fn;
}

const char *transport_connect_why(void)
{
	return connect_why;
}

/* nitro:NAME:PORT -> vsock:CID:PORT, looked up now. */
static int resolve_nitro(const struct addr *a, struct addr *out)
{
	uint32_t cid = 0;
	int r;

	if (!nitro_resolver) {
		snprintf(connect_why, sizeof(connect_why), "this program cannot look up enclaves");
		return -EAFNOSUPPORT;
	}
	r = nitro_resolver(a->path, &cid, connect_why, sizeof(connect_why));
	if (r < 0)
		return r;
	memset(out, 0, sizeof(*out));
	out->kind = ADDR_VSOCK;
	out->cid = cid;
	out->port = a->port;
	out->fd = -1;
	return 0;
}

int transport_connect(const struct addr *a)
{
	union sockaddr_any sa;
	struct addr resolved;
	socklen_t len;
	int fd, r;

	connect_why[0] = '\0';
	if (a->kind == ADDR_NITRO) {
		r = resolve_nitro(a, &resolved);
		if (r < 0)
			return r;
		a = &resolved;
	}
	if (a->kind == ADDR_FD)
		return adopt_fd(a->fd);
	if (a->kind == ADDR_VSOCK && a->cid == VMADDR_CID_ANY)
		return -EINVAL;
	r = make_sockaddr(a, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	r = connect_retry(fd, &sa, len);
	if (r < 0) {
		safe_close(fd);
		return r;
	}
	return fd;
}

/* Clears the way for binding a unix socket at path: nothing there is fine, a
 * socket file left by a dead listener is removed, a live listener or any
 * other file is left alone. */
static int unix_clear_stale(const union sockaddr_any *sa, socklen_t len)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->un.sun_path, &st) < 0)
		return errno == ENOENT ? 0 : neg_errno();
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return neg_errno();
	/* A non-blocking connect succeeds or finds the backlog full (EAGAIN)
	 * only when someone listens. */
	r = connect(fd, &sa->sa, len) == 0 ? 0 : -errno;
	safe_close(fd);
	if (r == 0 || r == -EAGAIN)
		return -EADDRINUSE;
	if (unlink(sa->un.sun_path) < 0 && errno != ENOENT)
		return neg_errno();
	return 0;
}

int transport_listen(const struct addr *a)
{
	union sockaddr_any sa;
	socklen_t len;
	int fd, r;

	if (a->kind == ADDR_FD)
		return -EOPNOTSUPP;
	r = make_sockaddr(a, &sa, &len);
	if (r < 0)
		return r;
	if (a->kind == ADDR_UNIX) {
		r = unix_clear_stale(&sa, len);
		if (r < 0)
			return r;
	}
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	/* The socket file takes its mode from the socket inode (less the
	 * umask) at bind time, so it is never visible with a wider mode. */
	if (a->kind == ADDR_UNIX && fchmod(fd, 0600) < 0) {
		r = neg_errno();
		goto fail;
	}
	if (bind(fd, &sa.sa, len) < 0) {
		r = neg_errno();
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		r = neg_errno();
		if (a->kind == ADDR_UNIX)
			unlink(sa.un.sun_path);
		goto fail;
	}
	return fd;
fail:
	safe_close(fd);
	return r;
}

int transport_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			return fd;
		if (errno != EINTR && errno != ECONNABORTED)
			return neg_errno();
	}
}

/* Sets a buffer size with the privileged option where we hold CAP_NET_ADMIN
 * (it ignores the system maximum), else the plain one, which the kernel
 * silently caps. */
static int set_buffer(int fd, int force_opt, int opt)
{
	int size = TUNE_BUFFER;

	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) == 0)
		return 0;
	if (errno != EPERM)
		return neg_errno();
	if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)) < 0)
		return neg_errno();
	return 0;
}

/* vsock flow control uses its own buffer size (256 KiB by default), not
 * SO_RCVBUF; its maximum must be raised first, or the size is clamped. */
static int tune_vsock(int fd)
{
	static const int opts[] = { SO_VM_SOCKETS_BUFFER_MAX_SIZE, SO_VM_SOCKETS_BUFFER_SIZE };
	unsigned long long size = VSOCK_BUFFER;

	for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
		if (setsockopt(fd, AF_VSOCK, opts[i], &size, sizeof(size)) < 0)
			return neg_errno();
	return 0;
}

int transport_tune(int fd)
{
	union sockaddr_any sa;
	socklen_t len = sizeof(sa);
	int r;

	if (getsockname(fd, &sa.sa, &len) < 0)
		return neg_errno();
	r = set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	if (r < 0)
		return r;
	r = set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	if (r < 0)
		return r;
	if (sa.sa.sa_family == AF_VSOCK)
		return tune_vsock(fd);
	return 0;
}

int transport_vsock_buffer(int fd, uint64_t *size)
{
	union sockaddr_any sa;
	socklen_t len = sizeof(sa);
	unsigned long long v = 0;
	socklen_t vlen = sizeof(v);

	if (getsockname(fd, &sa.sa, &len) < 0)
		return neg_errno();
	if (sa.sa.sa_family != AF_VSOCK)
		return -EAFNOSUPPORT;
	if (getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, &vlen) < 0)
		return neg_errno();
	*size = v;
	return 0;
}

void transport_close_drain(int fd, int max_ms)
{
	char buf[16384];
	size_t total = 0;
	struct timespec t0, t;

	if (fd < 0)
		return;
	if (shutdown(fd, SHUT_WR) < 0) {
		safe_close(fd);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (total < DRAIN_MAX) {
		long left;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = max_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	safe_close(fd);
}
