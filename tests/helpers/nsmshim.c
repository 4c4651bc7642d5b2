/* An LD_PRELOAD shim that gives a program a /dev/nsm on a machine without
 * one (tests/t/t0710-nsm-shim.sh): open, openat and open64 of exactly
 * "/dev/nsm" return a real descriptor (of /dev/null) that the shim remembers;
 * ioctl(fd, NSM_IOCTL_RAW, struct nsm_raw *) on it is answered by a
 * development NSM (attest/devnsm.c, compiled into the shim) made on first use
 * from the dev root in EFS_NSM_SHIM_ROOT, with PCR0 = the SHA-384 of
 * /proc/self/exe and PCR1, PCR2 zero; close forgets the descriptor.
 * Everything else goes to the next definition (dlsym RTLD_NEXT).
 *
 * The shim is built without the sanitizers (the sanitizer runtime must come
 * first in a sanitized program, and a shim of its own would not be); the test
 * runs sanitized clients with ASAN_OPTIONS=verify_asan_link_order=0. */
#define _GNU_SOURCE
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "attest/devnsm.h"

#define EXPORT __attribute__((visibility("default")))

struct nsm_iovec {
	uint64_t addr;
	uint64_t len;
};
struct nsm_raw {
	struct nsm_iovec request;
	struct nsm_iovec response;
};
#define SHIM_IOCTL_RAW 0xC0200A00ul
_Static_assert(_IOWR(0x0A, 0x0, struct nsm_raw) == SHIM_IOCTL_RAW, "NSM_IOCTL_RAW");

#define MAX_FDS 64

/* lock guards the descriptor table; dev_lock the NSM, which opens and
 * closes files of its own (through these very wrappers) while it is made. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int nsm_fds[MAX_FDS];
static int nfds;
static struct devnsm *dev;

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static int is_nsm_path(const char *path)
{
	return path && !strcmp(path, "/dev/nsm");
}

static int is_nsm_fd(int fd)
{
	for (int i = 0; i < nfds; i++)
		if (nsm_fds[i] == fd)
			return 1;
	return 0;
}

/* A descriptor to stand for /dev/nsm, remembered. */
static int open_nsm(int flags)
{
	int (*real_open)(const char *, int, ...) = (int (*)(const char *, int, ...))next("open");
	int fd;

	if (!real_open) {
		errno = ENOSYS;
		return -1;
	}
	fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&lock);
	if (nfds == MAX_FDS) {
		pthread_mutex_unlock(&lock);
		close(fd);
		errno = EMFILE;
		return -1;
	}
	nsm_fds[nfds++] = fd;
	pthread_mutex_unlock(&lock);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	if (flags & (O_CREAT | O_TMPFILE))
		return (mode_t)va_arg(ap, int);
	return 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))next("open");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	if (is_nsm_path(path))
		return open_nsm(flags);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))next("open64");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	if (is_nsm_path(path))
		return open_nsm(flags);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	int (*real)(int, const char *, int, ...) =
		(int (*)(int, const char *, int, ...))next("openat");
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	if (is_nsm_path(path))
		return open_nsm(flags);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(dirfd, path, flags, mode);
}

EXPORT int close(int fd)
{
	int (*real)(int) = (int (*)(int))next("close");

	pthread_mutex_lock(&lock);
	for (int i = 0; i < nfds; i++) {
		if (nsm_fds[i] == fd) {
			nsm_fds[i] = nsm_fds[--nfds];
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}

/* The development NSM, made on first use (under dev_lock). */
static int get_dev(void)
{
	struct devnsm_config cfg;
	char why[256];
	const char *root = getenv("EFS_NSM_SHIM_ROOT");

	if (dev)
		return 0;
	if (!root || !*root)
		return -ENODEV;
	memset(&cfg, 0, sizeof(cfg));
	cfg.root_dir = root;
	if (devnsm_hash_file("/proc/self/exe", cfg.pcr0) < 0)
		return -EIO;
	if (devnsm_new(&cfg, &dev, why, sizeof(why)) < 0) {
		dev = NULL;
		return -ENODEV;
	}
	return 0;
}

/* The driver's answer to NSM_IOCTL_RAW: the response written into the
 * caller's buffer, response.len set to its length. */
static int raw_ioctl(struct nsm_raw *raw)
{
	size_t respn;
	int r;

	if (!raw || !raw->request.addr || !raw->response.addr)
		return -EFAULT;
	if (raw->request.len > 0x1000)
		return -EMSGSIZE;
	r = get_dev();
	if (r < 0)
		return r;
	respn = (size_t)raw->response.len;
	r = devnsm_process(dev, (const uint8_t *)(uintptr_t)raw->request.addr,
			   (size_t)raw->request.len, (uint8_t *)(uintptr_t)raw->response.addr, &respn);
	if (r < 0)
		return r;
	raw->response.len = respn;
	return 0;
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	int (*real)(int, unsigned long, ...) = (int (*)(int, unsigned long, ...))next("ioctl");
	va_list ap;
	void *arg;
	int mine, r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	pthread_mutex_lock(&lock);
	mine = is_nsm_fd(fd);
	pthread_mutex_unlock(&lock);
	if (mine) {
		pthread_mutex_lock(&dev_lock);
		if (request == SHIM_IOCTL_RAW)
			r = raw_ioctl(arg);
		else
			r = -ENOTTY;
		pthread_mutex_unlock(&dev_lock);
		if (r < 0) {
			errno = -r;
			return -1;
		}
		return 0;
	}
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd, request, arg);
}
