/* libFuzzer harness for extract_tar: each input is extracted into a fresh
 * directory under a private parent, with small limits. Nothing may appear
 * beside that directory, and after an error it must be empty. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enclave/extract.h"
#include "fuzz.h"
#include "sync/pathsafe.h"

static char parent[PATH_MAX];
static int parentfd = -1;

static void remove_parent(void)
{
	path_remove_tree(parentfd, "x");
	close(parentfd);
	rmdir(parent);
}

static void make_parent(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(parent, sizeof(parent), "%s/fuzz_archive.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(parent))
		abort();
	parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parentfd < 0)
		abort();
	atexit(remove_parent);
}

/* The names in dfd/path other than . and .., up to 2. */
static size_t count(const char *path, char first[static NAME_MAX + 1])
{
	int fd = openat(parentfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd)))
		abort();
	while ((de = readdir(d)) && n < 2)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			if (n++ == 0)
				snprintf(first, NAME_MAX + 1, "%s", de->d_name);
	closedir(d);
	return n;
}

struct input {
	const uint8_t *data;
	size_t len, off;
};

/* Hands out the input in pieces of varying size, as a stream would. */
static ssize_t input_read(void *ud, const void **buf)
{
	struct input *in = ud;
	size_t n = in->len - in->off;

	if (n > 1 + in->off % 3000)
		n = 1 + in->off % 3000;
	*buf = in->data + in->off;
	in->off += n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct extract_limits lim = { 1 << 20, 64, 256 << 10 };
	struct input in = { data, size, 0 };
	char err[512], name[NAME_MAX + 1];
	uint64_t bytes = 0;
	int fd, r;

	if (parentfd < 0)
		make_parent();
	if (mkdirat(parentfd, "x", 0700) < 0)
		abort();
	fd = openat(parentfd, "x", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	r = extract_tar(input_read, &in, fd, &lim, &bytes, err, sizeof(err));
	close(fd);
	if (count(".", name) != 1 || strcmp(name, "x"))
		abort();
	if (r < 0 && count("x", name) != 0)
		abort();
	if (r == 0 && bytes > lim.max_total_bytes)
		abort();
	if (path_remove_tree(parentfd, "x") < 0)
		abort();
	return 0;
}
