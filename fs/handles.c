/* Open files of the mount (fsint.h): one handle per open, kept in the
 * kernel's file handle (fi->fh); it holds its node, so an unlinked file's
 * descriptor keeps working until the last close. */
#include "config.h"

#include <stdlib.h>

#include "fsint.h"
#include "util.h"

struct handle *handle_new(enum kind kind, struct node *n)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	h->node = n;
	node_hold(n);
	pthread_mutex_init(&h->mu, NULL);
	return h;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->kind == K_TREE && h->fd >= 0)
		node_closed(h->node);
	safe_close(h->fd);
	EVP_MD_CTX_free(h->sha);
	free(h->text);
	free(h->line);
	node_release(h->node);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
