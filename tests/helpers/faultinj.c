/* faultinj.so: an LD_PRELOAD shim that makes the Nth allocation or the Nth
 * open fail, so that tests walk every error path of a program's start.
 *
 *   EFS_FAULT_MALLOC=N  the Nth call of malloc, calloc, realloc, reallocarray,
 *                       strdup or strndup returns NULL with errno ENOMEM
 *   EFS_FAULT_OPEN=N    the Nth call of open, openat (and their 64 variants)
 *                       or socket returns -1 with errno EMFILE
 *   EFS_FAULT_REPORT=F  appends "malloc N" / "open N" to the file F when the
 *                       fault is injected (so a test knows N was reached)
 *   EFS_FAULT_COUNT=F   appends "calls: malloc M open O" to F at exit (how
 *                       many calls counted: the range worth trying)
 *
 * Only calls made by the program's own code once main() has started count:
 * the shim wraps __libc_start_main, and a call counts when its return address
 * lies in the executable's code (not in a shared library: the libraries'
 * internal allocations are theirs to handle). It reads and removes the
 * variables there, so programs the target execs run clean.
 * Not for sanitizer builds: they interpose malloc themselves.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc's own allocator, reachable without dlsym (which allocates). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void),
			void (*)(void), void *);

static bool armed;
static unsigned long fail_malloc, fail_open;
static unsigned long n_malloc, n_open;
static char report_path[4096], count_path[4096];
static main_fn real_main;

/* The executable's code: its PT_LOAD segments that are executable. */
#define MAX_SEGS 8
static uintptr_t seg_start[MAX_SEGS], seg_end[MAX_SEGS];
static int nsegs;

static int find_program(struct dl_phdr_info *info, size_t size, void *ud)
{
	(void)size;
	(void)ud;
	for (int i = 0; i < info->dlpi_phnum && nsegs < MAX_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			seg_start[nsegs] = info->dlpi_addr + ph->p_vaddr;
			seg_end[nsegs] = seg_start[nsegs] + ph->p_memsz;
			nsegs++;
		}
	}
	return 1; /* the first object is the executable: stop there */
}

static bool from_program(const void *ra)
{
	uintptr_t a = (uintptr_t)ra;

	for (int i = 0; i < nsegs; i++)
		if (a >= seg_start[i] && a < seg_end[i])
			return true;
	return false;
}

static void append(const char *path, const char *line, int len)
{
	int fd;

	if (!path[0])
		return;
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)len) < 0) {
		/* nothing to do: the report is a courtesy */
	}
	close(fd);
}

static void report(const char *what, unsigned long n)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%s %lu\n", what, n);

	append(report_path, line, len);
}

__attribute__((destructor)) static void count_report(void)
{
	char line[96];
	int len;

	if (!armed)
		return;
	len = snprintf(line, sizeof(line), "calls: malloc %lu open %lu\n",
		       __atomic_load_n(&n_malloc, __ATOMIC_RELAXED),
		       __atomic_load_n(&n_open, __ATOMIC_RELAXED));
	append(count_path, line, len);
}

/* Whether this call is the one to fail. */
static bool hit(unsigned long *count, unsigned long target, const char *what, const void *ra)
{
	unsigned long n;

	if (!__atomic_load_n(&armed, __ATOMIC_RELAXED) || !from_program(ra))
		return false;
	n = __atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
	if (!target || n != target)
		return false;
	report(what, n);
	return true;
}

static unsigned long env_count(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoul(v, NULL, 10) : 0;
}

static int wrapped_main(int argc, char **argv, char **envp)
{
	const char *r = getenv("EFS_FAULT_REPORT"), *c = getenv("EFS_FAULT_COUNT");

	fail_malloc = env_count("EFS_FAULT_MALLOC");
	fail_open = env_count("EFS_FAULT_OPEN");
	if (r && strlen(r) < sizeof(report_path))
		strcpy(report_path, r);
	if (c && strlen(c) < sizeof(count_path))
		strcpy(count_path, c);
	unsetenv("EFS_FAULT_COUNT");
	unsetenv("EFS_FAULT_MALLOC");
	unsetenv("EFS_FAULT_OPEN");
	unsetenv("EFS_FAULT_REPORT");
	unsetenv("LD_PRELOAD");
	dl_iterate_phdr(find_program, NULL);
	__atomic_store_n(&armed, true, __ATOMIC_RELEASE);
	return real_main(argc, argv, envp);
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end)
{
	start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");

	real_main = main;
	return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

#define RA __builtin_return_address(0)

static bool fail_alloc(const void *ra)
{
	if (!hit(&n_malloc, fail_malloc, "malloc", ra))
		return false;
	errno = ENOMEM;
	return true;
}

void *malloc(size_t size)
{
	return fail_alloc(RA) ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	return fail_alloc(RA) ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	return fail_alloc(RA) ? NULL : __libc_realloc(p, size);
}

void *reallocarray(void *p, size_t n, size_t size)
{
	if (fail_alloc(RA))
		return NULL;
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_realloc(p, n * size);
}

char *strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = fail_alloc(RA) ? NULL : __libc_malloc(len);

	return d ? memcpy(d, s, len) : NULL;
}

char *strndup(const char *s, size_t max)
{
	size_t len = strnlen(s, max);
	char *d = fail_alloc(RA) ? NULL : __libc_malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static bool fail_open_call(const void *ra)
{
	if (!hit(&n_open, fail_open, "open", ra))
		return false;
	errno = EMFILE;
	return true;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

static int real_openat(const char *sym, int dirfd, const char *path, int flags, mode_t mode)
{
	int (*real)(int, const char *, int, ...) =
		(int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, sym);

	return real(dirfd, path, flags, mode);
}

static int real_open(const char *sym, const char *path, int flags, mode_t mode)
{
	int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);

	return real(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return fail_open_call(RA) ? -1 : real_open("open", path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return fail_open_call(RA) ? -1 : real_open("open64", path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return fail_open_call(RA) ? -1 : real_openat("openat", dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return fail_open_call(RA) ? -1 : real_openat("openat64", dirfd, path, flags, mode);
}

int socket(int domain, int type, int protocol)
{
	int (*real)(int, int, int);

	if (fail_open_call(RA))
		return -1;
	real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	return real(domain, type, protocol);
}
