/* libFuzzer harness for manifest_parse: whatever it accepts must satisfy the
 * documented invariants and survive a round trip through manifest_to_json. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "enclave/manifest.h"
#include "fuzz.h"

static void check_same(const struct manifest *a, const struct manifest *b)
{
	if (strcmp(a->name, b->name) || strcmp(a->version, b->version) ||
	    a->nentries != b->nentries || !a->default_entry != !b->default_entry ||
	    (a->default_entry && strcmp(a->default_entry, b->default_entry)))
		abort();
	for (size_t i = 0; i < a->nentries; i++) {
		const struct manifest_entry *x = &a->entries[i], *y = &b->entries[i];

		if (strcmp(x->name, y->name) || x->argc != y->argc || x->host_args != y->host_args ||
		    x->timeout_s != y->timeout_s)
			abort();
		for (size_t j = 0; j < x->argc; j++)
			if (strcmp(x->argv[j], y->argv[j]))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *m, *m2;
	char err[256], *s;

	if (manifest_parse((const char *)data, size, &m, err, sizeof(err)) < 0) {
		if (m)
			abort();
		return 0;
	}
	if (m->nentries < 1 || m->nentries > MANIFEST_MAX_ENTRIES ||
	    (m->default_entry && !manifest_entry(m, m->default_entry)))
		abort();
	for (size_t i = 0; i < m->nentries; i++) {
		const struct manifest_entry *e = &m->entries[i];

		if (manifest_entry(m, e->name) != e || e->argc < 1 || e->argc > MANIFEST_MAX_ARGC ||
		    e->argv[e->argc] || e->timeout_s < 1 || e->timeout_s > MANIFEST_MAX_TIMEOUT_S)
			abort();
	}
	s = manifest_to_json(m);
	if (!s)
		abort();
	if (manifest_parse(s, strlen(s), &m2, err, sizeof(err)) < 0)
		abort();
	check_same(m, m2);
	manifest_free(m2);
	free(s);
	manifest_free(m);
	return 0;
}
