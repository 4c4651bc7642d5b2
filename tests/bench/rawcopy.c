/* rawcopy: the baseline for tests/bench/bench-sync.sh. It moves a file
 * through a unix stream socket with no processing at all, so that the
 * benchmark can compare enclave-sync with the transport's own limit.
 *
 *   rawcopy --listen PATH OUTFILE    accept one connection, write all it
 *                                    reads into OUTFILE, then close
 *   rawcopy --connect PATH INFILE    send INFILE, then wait for the receiver
 *                                    to close (its file is then written)
 *
 * The listener binds before it reports readiness (READY=1 to $NOTIFY_SOCKET,
 * as tests/helpers/readywait expects). The sender returns only once the
 * receiver has closed its file and connection, as enclave-sync --once returns
 * only once the enclave has applied everything. Plain read/write loops with
 * 1 MiB buffers; the socket buffers are left at the system defaults unless
 * --tune is given (SO_SNDBUF/SO_RCVBUF as enclave-sync's transport sets them).
 * The listener prints its CPU time ("cpu USER_S SYS_S") on stdout before it
 * closes the connection.
 * Built by the benchmark with `cc -O2`, outside the autotools build.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF_SIZE (1 << 20)
#define TUNE_BUFFER (4 << 20)

static char buf[BUF_SIZE];

static int die(const char *what)
{
	fprintf(stderr, "rawcopy: %s: %s\n", what, strerror(errno));
	return 1;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static void tune(int fd)
{
	int size = TUNE_BUFFER;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || !*path || (len = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void print_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("cpu %.3f %.3f\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
		       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	fflush(stdout);
}

/* Copies in to out until EOF on in; returns 0 or -1 with errno set. */
static int copy(int in, int out)
{
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (write_all(out, buf, (size_t)n) < 0)
			return -1;
	}
}

static int do_listen(const char *path, const char *outfile, int do_tune)
{
	struct sockaddr_un sa;
	int lfd, fd, out;

	if (unix_addr(path, &sa) < 0)
		return die(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		return die(path);
	notify_ready();
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return die("accept");
	close(lfd);
	unlink(path);
	if (do_tune)
		tune(fd);
	out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return die(outfile);
	if (copy(fd, out) < 0)
		return die("copy");
	if (close(out) < 0)
		return die(outfile);
	print_cpu();
	close(fd);
	return 0;
}

static int do_connect(const char *path, const char *infile, int do_tune)
{
	struct sockaddr_un sa;
	int fd, in;

	if (unix_addr(path, &sa) < 0)
		return die(path);
	in = open(infile, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return die(infile);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return die("socket");
	if (do_tune)
		tune(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die(path);
	if (copy(in, fd) < 0)
		return die("copy");
	if (shutdown(fd, SHUT_WR) < 0)
		return die("shutdown");
	/* The receiver closes once its file is written: wait for that EOF. */
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			return die("read");
	}
	close(fd);
	close(in);
	return 0;
}

int main(int argc, char **argv)
{
	int do_tune = 0;

	if (argc > 1 && strcmp(argv[1], "--tune") == 0) {
		do_tune = 1;
		argc--;
		argv++;
	}
	if (argc == 4 && strcmp(argv[1], "--listen") == 0)
		return do_listen(argv[2], argv[3], do_tune);
	if (argc == 4 && strcmp(argv[1], "--connect") == 0)
		return do_connect(argv[2], argv[3], do_tune);
	fprintf(stderr, "usage: rawcopy [--tune] --listen PATH OUTFILE\n"
			"       rawcopy [--tune] --connect PATH INFILE\n");
	return 2;
}
