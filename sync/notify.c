#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

#define STATUS_MAX 200

static struct sockaddr_un notify_sa;
static socklen_t notify_salen;
static pid_t notify_pid;
static atomic_bool notify_ready_sent;

bool notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	notify_salen = 0;
	if (!path || !*path)
		goto out;
	len = strlen(path);
	/* a path, or an abstract name written with a leading '@' */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(notify_sa.sun_path))
		goto out;
	memset(&notify_sa, 0, sizeof(notify_sa));
	notify_sa.sun_family = AF_UNIX;
	memcpy(notify_sa.sun_path, path, len);
	if (path[0] == '@')
		notify_sa.sun_path[0] = '\0';
	notify_salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	notify_pid = getpid();
out:
	unsetenv("NOTIFY_SOCKET");
	return notify_salen != 0;
}

bool notify_active(void)
{
	return notify_salen != 0 && getpid() == notify_pid;
}

static void send_msg(const char *msg, size_t len)
{
	int fd;

	if (!notify_active())
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* The supervisor may be gone: nothing to do about it. */
	(void)sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&notify_sa, notify_salen);
	close(fd);
}

/* "STATUS=" and one printable line of text into out. */
static size_t status_line(char *out, size_t outsz, const char *fmt, va_list ap)
{
	char text[STATUS_MAX + 1];
	size_t n;

	vsnprintf(text, sizeof(text), fmt, ap);
	for (char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	n = (size_t)snprintf(out, outsz, "STATUS=%s", text);
	return n < outsz ? n : outsz - 1;
}

static void status_v(const char *prefix, const char *fmt, va_list ap)
{
	char msg[32 + STATUS_MAX + 16];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "%s", prefix);

	n += status_line(msg + n, sizeof(msg) - n, fmt, ap);
	send_msg(msg, n);
}

static void status_s(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	status_v(prefix, fmt, ap);
	va_end(ap);
}

void notify_ready(const char *status)
{
	if (!notify_active() || atomic_exchange(&notify_ready_sent, true))
		return;
	if (status)
		status_s("READY=1\n", "%s", status);
	else
		send_msg("READY=1", 7);
}

void notify_status(const char *fmt, ...)
{
	va_list ap;

	if (!notify_active())
		return;
	va_start(ap, fmt);
	status_v("", fmt, ap);
	va_end(ap);
}

void notify_stopping(const char *status)
{
	if (!notify_active())
		return;
	status_s("STOPPING=1\n", "%s", status ? status : "stopping");
}

bool notify_journal_stderr(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!js || sscanf(js, "%llu:%llu%n", &dev, &ino, &end) != 2 || js[end])
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
