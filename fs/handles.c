/* Open files of the mount (fsint.h): one handle per open; it holds its
 * node, so an unlinked file's descriptor keeps working until the last
 * close. The kernel's file handle (fi->fh) is an index into a table and a
 * generation, never a pointer: every request takes a reference to its
 * handle through the table, and a RELEASE that is processed while another
 * thread still works on a READ of the same file (requests run on several
 * threads, in no set order) only takes the handle out of the table; the
 * last reference frees it. A request naming a released handle gets EBADF. */
#include "config.h"

#include <errno.h>
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

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct handle **slots;  /* NULL: free */
static uint32_t *gens;
static uint32_t nslots, cap, *free_ids, nfree;

uint64_t handle_register(struct handle *h)
{
	uint32_t idx;
	uint64_t fh = 0;

	pthread_mutex_lock(&table_mu);
	if (nfree) {
		idx = free_ids[--nfree];
	} else {
		if (nslots == cap) {
			uint32_t c = cap ? cap * 2 : 64;
			struct handle **s2 = realloc(slots, c * sizeof(*s2));
			uint32_t *g2 = s2 ? realloc(gens, c * sizeof(*g2)) : NULL;
			uint32_t *f2 = g2 ? realloc(free_ids, c * sizeof(*f2)) : NULL;

			if (s2)
				slots = s2;
			if (g2)
				gens = g2;
			if (f2)
				free_ids = f2;
			if (!f2)
				goto out;
			cap = c;
		}
		idx = nslots++;
		gens[idx] = 1;
	}
	slots[idx] = h;
	h->refs = 1; /* the table's */
	fh = (uint64_t)gens[idx] << 32 | (idx + 1);
out:
	pthread_mutex_unlock(&table_mu);
	return fh;
}

/* The slot of fh (table_mu held), or UINT32_MAX. */
static uint32_t slot_of(uint64_t fh)
{
	uint32_t idx = (uint32_t)(fh & 0xffffffffu) - 1;

	if (!fh || idx >= nslots || !slots[idx] || gens[idx] != (uint32_t)(fh >> 32))
		return UINT32_MAX;
	return idx;
}

struct handle *handle_get(uint64_t fh)
{
	struct handle *h = NULL;
	uint32_t idx;

	pthread_mutex_lock(&table_mu);
	idx = slot_of(fh);
	if (idx != UINT32_MAX) {
		h = slots[idx];
		h->refs++;
	}
	pthread_mutex_unlock(&table_mu);
	return h;
}

void handle_put(struct handle *h)
{
	bool last;

	if (!h)
		return;
	pthread_mutex_lock(&table_mu);
	last = --h->refs == 0;
	pthread_mutex_unlock(&table_mu);
	if (last)
		handle_free(h);
}

void handle_close(uint64_t fh)
{
	struct handle *h = NULL;
	uint32_t idx;

	pthread_mutex_lock(&table_mu);
	idx = slot_of(fh);
	if (idx != UINT32_MAX) {
		h = slots[idx];
		slots[idx] = NULL;
		gens[idx]++;
		free_ids[nfree++] = idx;
	}
	pthread_mutex_unlock(&table_mu);
	handle_put(h);
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->kind == K_TREE && h->fd >= 0)
		node_closed(h->node);
	safe_close(h->fd);
	free(h->run_err);
	EVP_MD_CTX_free(h->sha);
	free(h->text);
	free(h->line);
	node_release(h->node);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
