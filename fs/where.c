/* Where a mount path is: the virtual nodes (the root, .run, .status,
 * jobs/N/ctl), the trees and their cache paths, opened in steps beneath the
 * cache when too long for one system call (fsint.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsint.h"
#include "package.h"
#include "pathsafe.h"
#include "util.h"
#include "verdict.h"

const char *const tree_names[T_COUNT] = { "encrypted", "dataset", "model", "output", "jobs" };

void at_release(struct at *a)
{
	safe_close(a->own);
	a->own = -1;
}

int at_resolve(int cachefd, const char *rel, struct at *a)
{
	const char *p = rel, *cut;
	char *part;
	int fd;

	at_release(a);
	a->dirfd = cachefd;
	a->name = rel;
	if (strlen(rel) < PATH_MAX)
		return 0;
	part = malloc(PATH_MAX);
	if (!part)
		return -ENOMEM;
	while (strlen(p) >= PATH_MAX) {
		cut = memrchr(p, '/', PATH_MAX - 1);
		if (!cut || cut == p) {
			free(part);
			at_release(a);
			return -ENAMETOOLONG;
		}
		memcpy(part, p, (size_t)(cut - p));
		part[cut - p] = '\0';
		fd = path_openat(a->dirfd, part, O_PATH | O_DIRECTORY, 0);
		if (fd < 0) {
			free(part);
			at_release(a);
			return fd;
		}
		safe_close(a->own);
		a->own = a->dirfd = fd;
		p = cut + 1;
	}
	free(part);
	a->name = p;
	return 0;
}

void where_release(struct where *w)
{
	at_release(&w->at);
}

/* jobs/N/ctl: the one virtual name inside a tree. */
static bool parse_ctl(const char *rest, uint32_t *job)
{
	unsigned long long v;
	char num[16];
	const char *slash = strchr(rest, '/');

	if (!slash || strcmp(slash, "/ctl") != 0 || slash - rest >= (long)sizeof(num) || rest[0] == '0')
		return false;
	memcpy(num, rest, (size_t)(slash - rest));
	num[slash - rest] = '\0';
	if (parse_u64(num, 1, UINT32_MAX, &v) < 0)
		return false;
	*job = (uint32_t)v;
	return true;
}

/* Classifies path; 0 or -ENAMETOOLONG. An unknown top-level name is K_NONE. */
int classify(const char *path, struct where *w)
{
	const char *p = path, *rest, *base;

	where_release(w);
	*w = (struct where){ .at = { .own = -1 }, .kind = K_NONE, .rel = path[0] == '/' ? path + 1 : path };
	for (const char *c = w->rel; *c;) {
		size_t n = strcspn(c, "/");
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		c += n;
		c += *c == '/';
	}
	if (strcmp(p, "/") == 0) {
		w->kind = K_ROOT;
		return 0;
	}
	if (strcmp(p, "/.run") == 0) {
		w->kind = K_RUN;
		return 0;
	}
	if (strcmp(p, "/.status") == 0) {
		w->kind = K_STATUS;
		return 0;
	}
	for (int t = 0; t < T_COUNT; t++) {
		size_t n = strlen(tree_names[t]);
		if (strncmp(w->rel, tree_names[t], n) != 0 || (w->rel[n] != '\0' && w->rel[n] != '/'))
			continue;
		w->kind = K_TREE;
		w->tree = (enum tree)t;
		w->top = w->rel[n] == '\0';
		rest = w->rel + n + (w->rel[n] == '/');
		if (t == T_JOBS && !w->top && parse_ctl(rest, &w->job))
			w->kind = K_CTL;
		base = strrchr(w->rel, '/');
		if (!w->top && tree_writable(w->tree) && strncmp(base + 1, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0) {
			w->hidden = true;
			snprintf(w->hidden_rel, sizeof(w->hidden_rel), HIDDEN_DIR "/%s", base + 1);
			w->rel = w->hidden_rel;
		}
		return at_resolve(fs_get()->cachefd, w->rel, &w->at);
	}
	return 0;
}

/* A file may only get a name in encrypted/ that the enclave accepts as a
 * package name (verdict.h): no leading dot, no control characters. */
bool bad_package_name(const char *rel)
{
	const char *name = pkg_path_name(rel);

	return name && !pkg_name_valid(name);
}

bool is_package(const struct where *w)
{
	return w->kind == K_TREE && pkg_path_name(w->rel);
}
