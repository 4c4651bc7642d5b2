/* The open-file table: one handle per open file of the mount (its
 * fuse_file_info->fh), and where each open tree file is now (fsint.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsint.h"
#include "util.h"

/* libfuse passes no paths to operations on open files (nullpath_ok, which
 * unlinked open files need), so the mount tracks where each open tree file
 * is: renames move it, unlink and replacement forget it. */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static struct handle *open_files;

void open_files_add(struct handle *h)
{
	pthread_mutex_lock(&open_mu);
	h->next = open_files;
	if (open_files)
		open_files->prev = h;
	open_files = h;
	pthread_mutex_unlock(&open_mu);
}

static void open_files_del(struct handle *h)
{
	pthread_mutex_lock(&open_mu);
	if (h->prev)
		h->prev->next = h->next;
	else if (open_files == h)
		open_files = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&open_mu);
}

/* The path of an open file now (malloc'd), or NULL if it was unlinked. */
char *open_file_path(struct handle *h)
{
	char *p;

	pthread_mutex_lock(&open_mu);
	p = h->rel ? strdup(h->rel) : NULL;
	pthread_mutex_unlock(&open_mu);
	return p;
}

/* path was unlinked or replaced: files open on it lose their name. */
void open_files_gone(const char *path)
{
	pthread_mutex_lock(&open_mu);
	for (struct handle *h = open_files; h; h = h->next)
		if (h->rel && strcmp(h->rel, path) == 0) {
			free(h->rel);
			h->rel = NULL;
		}
	pthread_mutex_unlock(&open_mu);
}

/* from was renamed to to (a file or a whole directory). */
void open_files_moved(const char *from, const char *to)
{
	size_t n = strlen(from);

	pthread_mutex_lock(&open_mu);
	for (struct handle *h = open_files; h; h = h->next) {
		char *p;

		if (!h->rel || strncmp(h->rel, from, n) != 0 || (h->rel[n] != '\0' && h->rel[n] != '/'))
			continue;
		if (asprintf(&p, "%s%s", to, h->rel + n) < 0)
			continue; /* keeps the old name: its changes resync by rescan */
		free(h->rel);
		h->rel = p;
	}
	pthread_mutex_unlock(&open_mu);
}

struct handle *handle_new(enum kind kind)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->kind == K_TREE)
		open_files_del(h);
	free(h->rel);
	safe_close(h->fd);
	EVP_MD_CTX_free(h->sha);
	free(h->text);
	free(h->line);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
