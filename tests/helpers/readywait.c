/* readywait STATUS_FD TIMEOUT_S -- COMMAND [ARG...]
 *
 * Starts COMMAND with NOTIFY_SOCKET set and reports on STATUS_FD when it
 * signals READY=1 (as sd_notify does), so that tests wait for readiness
 * instead of sleeping. The calling process becomes COMMAND (exec), so the
 * shell's $! is the daemon's pid; a forked child listens on the socket and
 * writes one line to STATUS_FD: "ready", "exited" (COMMAND ended first) or
 * "timeout".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void report(int fd, const char *what)
{
	dprintf(fd, "%s\n", what);
}

static int waiter(int sock, int status_fd, pid_t daemon, int timeout_s)
{
	struct timespec start, now;
	int pfd = pidfd_open_(daemon);

	if (pfd < 0) {
		perror("readywait: pidfd_open");
		report(status_fd, "exited");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd fds[2] = { { sock, POLLIN, 0 }, { pfd, POLLIN, 0 } };
		char buf[4096];
		long left_ms;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = timeout_s * 1000L - ((now.tv_sec - start.tv_sec) * 1000L +
					       (now.tv_nsec - start.tv_nsec) / 1000000L);
		if (left_ms <= 0) {
			report(status_fd, "timeout");
			return 1;
		}
		r = poll(fds, 2, (int)left_ms);
		if (r < 0 && errno != EINTR) {
			perror("readywait: poll");
			return 1;
		}
		if (r > 0 && (fds[0].revents & POLLIN)) {
			ssize_t n = recv(sock, buf, sizeof(buf) - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
					if (strcmp(line, "READY=1") == 0) {
						report(status_fd, "ready");
						return 0;
					}
				}
			}
			continue;
		}
		if (r > 0 && (fds[1].revents & POLLIN)) {
			report(status_fd, "exited");
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path) + 64];
	int status_fd, timeout_s, sock;
	pid_t daemon = getpid(), child;

	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: readywait STATUS_FD TIMEOUT_S -- COMMAND [ARG...]\n");
		return 2;
	}
	status_fd = atoi(argv[1]);
	timeout_s = atoi(argv[2]);

	/* A socket in the file system, not an abstract one: a daemon that
	 * moves into its own network namespace (enclaved --dev) can still
	 * reach it. The waiter removes it. */
	snprintf(name, sizeof(name), "%s/efs-ready-%d-%ld.sock",
		 getenv("READYWAIT_DIR") ? getenv("READYWAIT_DIR") : "/tmp", (int)daemon,
		 (long)time(NULL));
	if (strlen(name) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "readywait: socket path too long: %s\n", name);
		return 2;
	}
	memcpy(sa.sun_path, name, strlen(name) + 1);
	unlink(name);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("readywait: socket");
		return 2;
	}

	child = fork();
	if (child < 0) {
		perror("readywait: fork");
		return 2;
	}
	if (child == 0) {
		int r = waiter(sock, status_fd, daemon, timeout_s);
		unlink(name);
		_exit(r);
	}

	close(sock);
	close(status_fd);
	setenv("NOTIFY_SOCKET", name, 1);
	execvp(argv[4], argv + 4);
	perror(argv[4]);
	return 127;
}
