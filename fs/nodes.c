/* The mount's inode table (fsint.h): what each node id the kernel holds
 * stands for, counted as the kernel counts its lookups. The node id is the
 * node's address (the root's is FUSE_ROOT_ID); a generation number told
 * with it tells a reused address from the node that had it before. One
 * mutex guards the table, the counts and every node's name. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsint.h"
#include "util.h"

#define BUCKETS (1u << 16)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct node *buckets[BUCKETS];
static struct node root = { .kind = K_ROOT, .fixed = true, .fd = -1, .gen = 1 };
static struct node run = { .kind = K_RUN, .fixed = true, .fd = -1, .gen = 1 };
static struct node status = { .kind = K_STATUS, .fixed = true, .fd = -1, .gen = 1 };
static struct node tops[T_COUNT];
static uint64_t gen_next = 2;
/* Every node made here, hashed or not, so that the unmount frees them all
 * (the kernel forgets nothing when it unmounts). */
static struct node *all;

static void all_add(struct node *n)
{
	n->anext = all;
	if (all)
		all->aprev = n;
	all = n;
}

static size_t bucket(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)dev;

	return (size_t)(h >> 48) & (BUCKETS - 1);
}

int nodes_init(int cachefd)
{
	for (int t = 0; t < T_COUNT; t++) {
		struct node *n = &tops[t];
		struct stat st;

		*n = (struct node){ .kind = K_TREE, .tree = (enum tree)t, .top = true, .fixed = true,
				    .gen = 1, .parent = &root, .name = (char *)tree_names[t] };
		if (mkdirat(cachefd, tree_names[t], 0755) < 0 && errno != EEXIST)
			return neg_errno();
		n->fd = openat(cachefd, tree_names[t], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (n->fd < 0 || fstat(n->fd, &st) < 0) {
			int r = neg_errno();
			nodes_fini();
			return r;
		}
		n->dev = st.st_dev;
		n->ino = st.st_ino;
		n->type = S_IFDIR;
	}
	return 0;
}

static void node_free(struct node *n)
{
	if (n->aprev)
		n->aprev->anext = n->anext;
	else if (all == n)
		all = n->anext;
	if (n->anext)
		n->anext->aprev = n->aprev;
	safe_close(n->fd);
	free(n->name);
	free(n);
}

void nodes_fini(void)
{
	pthread_mutex_lock(&mu);
	while (all)
		node_free(all);
	memset(buckets, 0, sizeof(buckets));
	for (int t = 0; t < T_COUNT; t++) {
		if (tops[t].fd > 0)
			close(tops[t].fd);
		tops[t].fd = -1;
	}
	pthread_mutex_unlock(&mu);
}

struct node *node_root(void)
{
	return &root;
}

struct node *node_run(void)
{
	return &run;
}

struct node *node_status(void)
{
	return &status;
}

struct node *node_top(enum tree t)
{
	return &tops[t];
}

struct node *node_get(uint64_t nodeid)
{
	return nodeid == 1 ? &root : (struct node *)(uintptr_t)nodeid;
}

uint64_t node_id(const struct node *n)
{
	return n == &root ? 1 : (uint64_t)(uintptr_t)n;
}

static void unhash(struct node *n)
{
	struct node **pp = &buckets[bucket(n->dev, n->ino)];

	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = n->hnext;
}

/* Drops k references of n; a node left with none goes, and with it its
 * reference on its parent. Under mu. */
static void unref(struct node *n, uint64_t k)
{
	while (n && !n->fixed) {
		struct node *parent = n->parent;

		n->refs -= k < n->refs ? k : n->refs;
		if (n->refs)
			return;
		if (n->kind == K_TREE)
			unhash(n);
		node_free(n);
		n = parent;
		k = 1;
	}
}

/* n is name in p now (p NULL: it has no name). Under mu. */
static void rename_node(struct node *n, struct node *p, const char *name)
{
	struct node *old = n->parent;
	char *copy = NULL;

	if (p == old && name && n->name && strcmp(n->name, name) == 0)
		return;
	if (p) {
		copy = strdup(name);
		if (!copy)
			p = NULL; /* without its name it is as if unlinked: paths say so */
	}
	if (p)
		p->refs++;
	free(n->name);
	n->name = copy;
	n->parent = p;
	unref(old, 1);
}

static struct node *find(dev_t dev, ino_t ino)
{
	struct node *n = buckets[bucket(dev, ino)];

	while (n && (n->dev != dev || n->ino != ino))
		n = n->hnext;
	return n;
}

struct node *node_found(struct node *p, const char *name, int fd, const struct stat *st)
{
	struct node *n;

	pthread_mutex_lock(&mu);
	n = find(st->st_dev, st->st_ino);
	/* Another kind of file by the same number, or a file whose name is
	 * gone and that nothing holds open: its number may have been handed
	 * to a new file. The kernel gets a new node; the old one lives until
	 * it is forgotten. */
	if (n && (((n->type ^ st->st_mode) & S_IFMT) || (!n->parent && n->refs == n->nlookup))) {
		unhash(n);
		n = NULL;
	}
	if (n) {
		safe_close(fd);
	} else {
		n = calloc(1, sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&mu);
			safe_close(fd);
			return NULL;
		}
		n->kind = K_TREE;
		n->tree = p->tree;
		n->type = st->st_mode & S_IFMT;
		n->fd = fd;
		n->dev = st->st_dev;
		n->ino = st->st_ino;
		n->gen = gen_next++;
		n->hnext = buckets[bucket(n->dev, n->ino)];
		buckets[bucket(n->dev, n->ino)] = n;
		all_add(n);
	}
	n->nlookup++;
	n->refs++;
	/* In the trees only the mount writes, a node's name stays true (every
	 * rename and removal goes through it): another name of the file,
	 * looked up or linked, leaves it be, so that a name the kernel keeps
	 * for long stays good when the other goes (fsops.c node_timeout()).
	 * output/ and jobs/ are replaced behind the mount: their nodes follow
	 * the latest name. */
	if (!n->parent || !n->name || !tree_writable(n->tree))
		rename_node(n, p, name);
	pthread_mutex_unlock(&mu);
	return n;
}

struct node *node_job_file(enum kind kind, uint32_t job)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kind = kind;
	n->fd = -1;
	n->job = job;
	n->nlookup = n->refs = 1;
	pthread_mutex_lock(&mu);
	n->gen = gen_next++;
	all_add(n);
	pthread_mutex_unlock(&mu);
	return n;
}

void node_forget(struct node *n, uint64_t nlookup)
{
	pthread_mutex_lock(&mu);
	if (!n->fixed) {
		if (nlookup > n->nlookup)
			nlookup = n->nlookup;
		n->nlookup -= nlookup;
		unref(n, nlookup);
	}
	pthread_mutex_unlock(&mu);
}

void node_opened(struct node *n, int fd)
{
	pthread_mutex_lock(&mu);
	if (n->nopen++ == 0 && n->type != S_IFDIR && n->fd < 0)
		n->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&mu);
}

void node_closed(struct node *n)
{
	pthread_mutex_lock(&mu);
	if (n->nopen && --n->nopen == 0 && n->type != S_IFDIR && n->fd >= 0) {
		close(n->fd);
		n->fd = -1;
	}
	pthread_mutex_unlock(&mu);
}

int node_fstat(struct node *n, struct stat *st)
{
	int r = 1;

	pthread_mutex_lock(&mu);
	if (n->type != S_IFDIR && n->fd >= 0)
		r = fstat(n->fd, st) < 0 ? neg_errno() : 0;
	pthread_mutex_unlock(&mu);
	return r;
}

void node_hold(struct node *n)
{
	pthread_mutex_lock(&mu);
	n->refs++;
	pthread_mutex_unlock(&mu);
}

void node_release(struct node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&mu);
	unref(n, 1);
	pthread_mutex_unlock(&mu);
}

/* The length of n's path, or 0 if some node on the way has no name. */
static size_t path_len(const struct node *n)
{
	size_t len = 0;

	for (; n != &root; n = n->parent) {
		if (!n->parent || !n->name)
			return 0;
		len += strlen(n->name) + 1;
	}
	return len;
}

static char *path_of(const struct node *n, const char *child)
{
	size_t len = path_len(n), clen = child ? strlen(child) + 1 : 0, at;
	char *p;

	if (!len || !(p = malloc(len + clen)))
		return NULL;
	at = len - 1;
	p[at] = '\0';
	if (child) {
		p[at] = '/';
		memcpy(p + len, child, clen);
	}
	for (; n != &root; n = n->parent) {
		size_t k = strlen(n->name);
		at -= k;
		memcpy(p + at, n->name, k);
		if (at)
			p[--at] = '/';
	}
	return p;
}

char *node_path(struct node *n)
{
	char *p;

	pthread_mutex_lock(&mu);
	p = n->kind == K_TREE ? path_of(n, NULL) : NULL;
	pthread_mutex_unlock(&mu);
	return p;
}

char *node_child_path(struct node *n, const char *name)
{
	char *p;

	pthread_mutex_lock(&mu);
	p = n->kind == K_TREE ? path_of(n, name) : NULL;
	pthread_mutex_unlock(&mu);
	return p;
}

struct node *node_name(struct node *n, char **name)
{
	struct node *p = NULL;

	pthread_mutex_lock(&mu);
	if (n->parent && n->name && (*name = strdup(n->name))) {
		p = n->parent;
		p->refs++;
	}
	pthread_mutex_unlock(&mu);
	return p;
}

void node_moved(dev_t dev, ino_t ino, struct node *from_p, const char *from, struct node *p,
		const char *name)
{
	struct node *n;

	pthread_mutex_lock(&mu);
	n = find(dev, ino);
	/* Another name of the file moved: the node's own stays (node_found). */
	if (n && (!n->parent || !n->name || !tree_writable(n->tree) ||
		  (n->parent == from_p && strcmp(n->name, from) == 0)))
		rename_node(n, p, name);
	pthread_mutex_unlock(&mu);
}

uint64_t node_known(dev_t dev, ino_t ino)
{
	uint64_t id = 0;
	struct node *n;

	for (int t = 0; t < T_COUNT; t++)
		if (tops[t].dev == dev && tops[t].ino == ino)
			return node_id(&tops[t]);
	pthread_mutex_lock(&mu);
	n = find(dev, ino);
	if (n && n->nlookup)
		id = node_id(n);
	pthread_mutex_unlock(&mu);
	return id;
}

void node_unlinked(dev_t dev, ino_t ino, struct node *p, const char *name)
{
	struct node *n;

	pthread_mutex_lock(&mu);
	n = find(dev, ino);
	if (n && n->parent == p && n->name && strcmp(n->name, name) == 0)
		rename_node(n, NULL, NULL);
	pthread_mutex_unlock(&mu);
}
