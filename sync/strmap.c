#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "strmap.h"

struct slot {
	char *key; /* NULL: empty; TOMBSTONE: deleted */
	void *val;
	uint64_t h;
};

struct strmap {
	struct slot *s;
	size_t cap, count, used; /* used counts tombstones too */
};

static char tombstone;
#define TOMBSTONE (&tombstone)

struct strmap *strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 64;
	m->s = calloc(m->cap, sizeof(*m->s));
	if (!m->s) {
		free(m);
		return NULL;
	}
	return m;
}

void strmap_free(struct strmap *m, void (*free_val)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->s[i].key && m->s[i].key != TOMBSTONE) {
			if (free_val)
				free_val(m->s[i].val);
			free(m->s[i].key);
		}
	}
	free(m->s);
	free(m);
}

static struct slot *strmap_find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->s[i];
		if (!s->key)
			return NULL;
		if (s->key != TOMBSTONE && s->h == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct slot *s = strmap_find(m, key, XXH3_64bits(key, strlen(key)));
	return s ? s->val : NULL;
}

static int strmap_resize(struct strmap *m, size_t cap)
{
	struct slot *old = m->s, *ns = calloc(cap, sizeof(*ns));
	size_t oldcap = m->cap;

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key && old[i].key != TOMBSTONE) {
			size_t j = old[i].h & (cap - 1);
			while (ns[j].key)
				j = (j + 1) & (cap - 1);
			ns[j] = old[i];
		}
	}
	free(old);
	m->s = ns;
	m->cap = cap;
	m->used = m->count;
	return 0;
}

int strmap_put(struct strmap *m, const char *key, void *val, void **old)
{
	uint64_t h = XXH3_64bits(key, strlen(key));
	struct slot *s = strmap_find(m, key, h);
	size_t mask;

	if (old)
		*old = NULL;
	if (s) {
		if (old)
			*old = s->val;
		s->val = val;
		return 0;
	}
	if ((m->used + 1) * 4 > m->cap * 3) {
		int r = strmap_resize(m, m->count * 2 + 1 > m->cap / 2 ? m->cap * 2 : m->cap);
		if (r < 0)
			return r;
	}
	mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		s = &m->s[i];
		if (!s->key || s->key == TOMBSTONE)
			break;
	}
	if (!s->key)
		m->used++;
	s->key = strdup(key);
	if (!s->key) {
		s->key = TOMBSTONE;
		return -ENOMEM;
	}
	s->val = val;
	s->h = h;
	m->count++;
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct slot *s = strmap_find(m, key, XXH3_64bits(key, strlen(key)));
	void *v;

	if (!s)
		return NULL;
	v = s->val;
	free(s->key);
	s->key = TOMBSTONE;
	s->val = NULL;
	m->count--;
	return v;
}

void strmap_clear(struct strmap *m, void (*free_val)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->s[i].key && m->s[i].key != TOMBSTONE) {
			if (free_val)
				free_val(m->s[i].val);
			free(m->s[i].key);
		}
		m->s[i] = (struct slot){ 0 };
	}
	m->count = m->used = 0;
}

size_t strmap_count(const struct strmap *m)
{
	return m->count;
}

int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **val)
{
	while (*pos < m->cap) {
		struct slot *s = &m->s[(*pos)++];
		if (s->key && s->key != TOMBSTONE) {
			*key = s->key;
			*val = s->val;
			return 1;
		}
	}
	return 0;
}
