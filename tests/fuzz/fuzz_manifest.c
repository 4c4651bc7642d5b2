/* libFuzzer harness for manifest_parse: whatever it accepts must satisfy the
 * documented invariants (declared arguments and the stderr policy included)
 * and survive a round trip through manifest_to_json. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enclave/manifest.h"
#include "fuzz.h"

static void check_value(const struct manifest_value *v, bool positional)
{
	switch (v->kind) {
	case MANIFEST_KIND_FLAG:
		if (positional)
			abort();
		break;
	case MANIFEST_KIND_PATH:
		if (!v->roots || (v->roots & ~MANIFEST_ROOTS_ALL))
			abort();
		break;
	case MANIFEST_KIND_INT:
		if (v->min > v->max || (positional && (v->min != INT64_MIN || v->max != INT64_MAX)))
			abort();
		break;
	case MANIFEST_KIND_WORD:
		if (v->nwords < 1 || v->nwords > MANIFEST_MAX_WORDS || v->words[v->nwords])
			abort();
		for (size_t i = 0; i < v->nwords; i++)
			if (!v->words[i][0] || v->words[i][0] == '-' ||
			    strlen(v->words[i]) > MANIFEST_MAX_WORD)
				abort();
		return;
	case MANIFEST_KIND_TEXT: break;
	default: abort();
	}
	if (v->words || v->nwords)
		abort();
}

static void check_entry(const struct manifest_entry *e)
{
	if (e->host_args && (e->noptions || e->positional_max))
		abort();
	if (e->noptions > MANIFEST_MAX_OPTIONS || e->positional_max > MANIFEST_MAX_POSITIONAL)
		abort();
	for (size_t i = 0; i < e->noptions; i++) {
		const struct manifest_option *o = &e->options[i];
		size_t n = strlen(o->name);

		if (n < 2 || n > MANIFEST_MAX_OPTION_NAME || o->name[0] != '-' ||
		    (n == 2 && o->name[1] == '-') || (n > 2 && o->name[1] != '-') ||
		    strchr(o->name, '=') || manifest_option(e, o->name, n) != o)
			abort();
		check_value(&o->value, false);
	}
	if (e->positional_max)
		check_value(&e->positional, true);
	switch (e->stderr_policy) {
	case MANIFEST_STDERR_NONE:
	case MANIFEST_STDERR_ALL:
		if (e->stderr_lines)
			abort();
		break;
	case MANIFEST_STDERR_LAST:
		if (e->stderr_lines < 1 || e->stderr_lines > MANIFEST_MAX_STDERR_LINES)
			abort();
		break;
	default: abort();
	}
}

static void check_same_value(const struct manifest_value *x, const struct manifest_value *y)
{
	if (x->kind != y->kind || x->roots != y->roots || x->min != y->min || x->max != y->max ||
	    x->nwords != y->nwords)
		abort();
	for (size_t i = 0; i < x->nwords; i++)
		if (strcmp(x->words[i], y->words[i]))
			abort();
}

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
		if (x->noptions != y->noptions || x->positional_max != y->positional_max ||
		    x->stderr_policy != y->stderr_policy || x->stderr_lines != y->stderr_lines)
			abort();
		for (size_t j = 0; j < x->noptions; j++) {
			if (strcmp(x->options[j].name, y->options[j].name))
				abort();
			check_same_value(&x->options[j].value, &y->options[j].value);
		}
		if (x->positional_max)
			check_same_value(&x->positional, &y->positional);
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
		check_entry(e);
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
