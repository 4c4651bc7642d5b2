#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int io_dir_entries(int fd, int (*fn)(void *ud, const char *name, unsigned char type), void *ud)
{
	/* Aligned for struct dirent64, which getdents64 lays out in it. */
	union {
		struct dirent64 de;
		char b[32768];
	} buf;

	for (;;) {
		ssize_t n = getdents64(fd, buf.b, sizeof(buf.b));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(void *)(buf.b + off);
			int r;

			off += de->d_reclen;
			if (de->d_name[0] == '.' &&
			    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
				continue;
			r = fn(ud, de->d_name, de->d_type);
			if (r < 0)
				return r;
		}
	}
}

ssize_t io_read_all(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int io_write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		done += (size_t)r;
	}
	return 0;
}

ssize_t io_pread_all(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int io_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		done += (size_t)r;
	}
	return 0;
}

int err_set(char *err, size_t errsz, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errsz) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return r;
}

int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

int parse_u64(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > max || v < min)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int signals_fd(bool usr1)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (usr1)
		sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int parse_size(const char *s, unsigned long long min, unsigned long long max,
	       unsigned long long *out)
{
	static const char units[] = "KMGT";
	char num[32];
	size_t n = strlen(s);
	unsigned long long v, mult = 1;
	const char *u;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	u = strchr(units, num[n - 1]);
	if (u && num[n - 1]) {
		for (const char *k = units; k <= u; k++)
			mult *= 1024;
		num[n - 1] = '\0';
	}
	if (parse_u64(num, 0, ULLONG_MAX / mult, &v) < 0 || v * mult < min || v * mult > max)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int names_add(struct names *n, const char *name)
{
	size_t k = strlen(name) + 1;

	if (n->cap - n->len < k) {
		size_t cap = MAX(2 * n->cap, n->len + k + 256);
		char *p = realloc(n->buf, cap);

		if (!p)
			return -ENOMEM;
		n->buf = p;
		n->cap = cap;
	}
	memcpy(n->buf + n->len, name, k);
	n->len += k;
	return 0;
}

const char *names_next(struct names *n)
{
	const char *name;

	if (n->pos >= n->len)
		return NULL;
	name = n->buf + n->pos;
	n->pos += strlen(name) + 1;
	return name;
}

void names_release(struct names *n)
{
	free(n->buf);
	*n = (struct names){ 0 };
}

int array_grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 8;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int proc_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return neg_errno();
	if (write(fd, text, len) != (ssize_t)len)
		r = neg_errno();
	close(fd);
	return r;
}

int userns_enter_self(char *why, size_t whysz)
{
	static const char *const steps[] = { "/proc/self/setgroups", "/proc/self/uid_map",
					     "/proc/self/gid_map" };
	char text[3][32];
	int r;

	snprintf(text[0], sizeof(text[0]), "deny");
	snprintf(text[1], sizeof(text[1]), "0 %u 1\n", (unsigned)geteuid());
	snprintf(text[2], sizeof(text[2]), "0 %u 1\n", (unsigned)getegid());
	if (unshare(CLONE_NEWUSER) < 0)
		return err_set(why, whysz, neg_errno(), "unshare(CLONE_NEWUSER): %s", strerror(errno));
	for (size_t i = 0; i < 3; i++) {
		r = proc_write(steps[i], text[i]);
		if (r < 0)
			return err_set(why, whysz, r, "%s: %s", steps[i], strerror(-r));
	}
	return 0;
}
