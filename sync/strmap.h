/* A string-keyed hash map (open addressing, linear probing, tombstones).
 * The map owns copies of its keys; values are the caller's. Iteration order
 * is unspecified; deleting during strmap_next() iteration is allowed. */
#ifndef EFS_STRMAP_H
#define EFS_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Calls free_val (if not NULL) on every value. Accepts NULL. */
void strmap_free(struct strmap *m, void (*free_val)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; *old (if not NULL) receives a replaced value. */
int strmap_put(struct strmap *m, const char *key, void *val, void **old);
/* Removes key and returns its value (NULL if absent). */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);
/* Removes every entry, calling free_val (if not NULL) on each value; a NULL
 * map (an error path before it was made) is a no-op. */
void strmap_clear(struct strmap *m, void (*free_val)(void *));
/* Iterates: start with *pos = 0; returns 0 at the end. */
int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **val);

#endif
