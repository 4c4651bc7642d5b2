/* libFuzzer harness for job lines: split, then resolve against fixed
 * manifests. Words never carry a control character other than a tab, a
 * resolved argv is always the entry's argv followed by the host's words, and
 * words accepted for an entry that declares its arguments fit the
 * declaration, read here a second, independent way. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enclave/jobline.h"
#include "enclave/manifest.h"
#include "fuzz.h"

static const char *const manifests[] = {
	"{\"name\":\"iris\",\"version\":\"1.0\",\"entries\":{"
	"\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"host_args\":true},"
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}},\"default\":\"predict\"}",
	"{\"name\":\"iris\",\"version\":\"1.0\",\"entries\":{"
	"\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"host_args\":true},"
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}}}",
	"{\"name\":\"iris\",\"version\":\"2.0\",\"entries\":{"
	"\"predict\":{\"argv\":[\"python3\",\"predict.py\"],\"args\":{"
	"\"-d\":{\"kind\":\"path\",\"under\":[\"/"
	"dataset\"]},\"-m\":{\"kind\":\"path\",\"under\":[\"/model\"]},"
	"\"-o\":{\"kind\":\"path\",\"under\":[\"/output\"]},\"--data\":\"path\","
	"\"-n\":{\"kind\":\"int\",\"min\":-5,\"max\":1000},"
	"\"--format\":{\"kind\":\"word\",\"words\":[\"csv\",\"json\"]},\"--title\":\"text\",\"-v\":"
	"\"flag\"},"
	"\"positional\":{\"kind\":\"path\",\"under\":[\"/dataset\",\"/model\"],\"max\":3}},"
	"\"count\":{\"argv\":[\"wc\"],\"positional\":{\"kind\":\"int\",\"max\":4}},"
	"\"info\":{\"argv\":[\"cat\",\"INFO\"]}},\"default\":\"predict\"}",
};
#define NMANIFESTS (sizeof(manifests) / sizeof(manifests[0]))

static bool has(const char *s, const char *part)
{
	return strstr(s, part) != NULL;
}

static void check_value(const struct manifest_value *v, const char *s)
{
	size_t n = strlen(s);
	long long x;
	char *end;
	bool found = false;

	if (s[0] == '-' && v->kind != MANIFEST_KIND_INT)
		abort();
	switch (v->kind) {
	case MANIFEST_KIND_PATH:
		for (size_t i = 0; i < MANIFEST_NROOTS; i++) {
			size_t r = strlen(manifest_roots[i]);

			if ((v->roots & (1u << i)) && !strncmp(s, manifest_roots[i], r) &&
			    (s[r] == '\0' || s[r] == '/'))
				found = true;
		}
		if (!found || n >= 4096 || has(s, "//") || has(s, "/./") || has(s, "/../") ||
		    s[n - 1] == '/' || (n >= 2 && !strcmp(s + n - 2, "/.")) ||
		    (n >= 3 && !strcmp(s + n - 3, "/..")))
			abort();
		break;
	case MANIFEST_KIND_INT:
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || *end || end == s || s[0] == '+' || s[0] == ' ' || s[0] == '\t' ||
		    (s[0] == '-' && (s[1] < '0' || s[1] > '9')) || x < v->min || x > v->max)
			abort();
		break;
	case MANIFEST_KIND_WORD:
		for (size_t i = 0; i < v->nwords; i++)
			found |= !strcmp(s, v->words[i]);
		if (!found)
			abort();
		break;
	default: break;
	}
}

/* Accepted words against e's declaration. */
static void check_declared(const struct manifest_entry *e, char *const *w, size_t n)
{
	bool options = true;
	size_t npos = 0;

	for (size_t i = 0; i < n; i++) {
		const struct manifest_option *o;
		const char *value = NULL, *eq = strchr(w[i], '=');

		if (options && !strcmp(w[i], "--")) {
			options = false;
			continue;
		}
		if (!options || w[i][0] != '-') {
			if (++npos > e->positional_max)
				abort();
			check_value(&e->positional, w[i]);
			continue;
		}
		o = manifest_option(e, w[i], strlen(w[i]));
		if (!o) {
			if (!eq || w[i][1] != '-')
				abort();
			o = manifest_option(e, w[i], (size_t)(eq - w[i]));
			if (!o || o->value.kind == MANIFEST_KIND_FLAG)
				abort();
			value = eq + 1;
		}
		if (o->value.kind == MANIFEST_KIND_FLAG)
			continue;
		if (!value && i + 1 == n)
			abort();
		check_value(&o->value, value ? value : w[++i]);
	}
}

static void check_resolve(const struct jobline *jl, const struct manifest *m)
{
	const struct manifest_entry *e;
	char **argv, err[256];
	size_t first, i;

	if (jobline_resolve(jl, m, &e, &argv, err, sizeof(err)) < 0) {
		if (e || argv)
			abort();
		return;
	}
	first = jl->nwords >= 2 && !strcmp(jl->words[1], e->name) ? 2 : 1;
	if (first == 1 && (!m->default_entry || strcmp(e->name, m->default_entry) ||
			   (jl->nwords >= 2 && manifest_entry(m, jl->words[1]))))
		abort();
	if (jl->nwords > first && !e->host_args) {
		if (!e->noptions && !e->positional_max)
			abort();
		check_declared(e, jl->words + first, jl->nwords - first);
	}
	for (i = 0; i < e->argc; i++)
		if (strcmp(argv[i], e->argv[i]))
			abort();
	for (; i < e->argc + jl->nwords - first; i++)
		if (strcmp(argv[i], jl->words[first + i - e->argc]))
			abort();
	if (argv[i])
		abort();
	free(argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct manifest *m[NMANIFESTS];
	struct jobline jl;
	char err[256];

	if (!m[0])
		for (size_t i = 0; i < NMANIFESTS; i++)
			if (manifest_parse(manifests[i], strlen(manifests[i]), &m[i], NULL, 0) < 0)
				abort();
	if (jobline_split((const char *)data, size, &jl, err, sizeof(err)) < 0) {
		if (jl.words || jl.nwords)
			abort();
		return 0;
	}
	if (jl.nwords < 1 || jl.nwords > JOBLINE_MAX_WORDS || jl.words[jl.nwords])
		abort();
	for (size_t i = 0; i < jl.nwords; i++)
		for (const unsigned char *p = (const unsigned char *)jl.words[i]; *p; p++)
			if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
				abort();
	for (size_t i = 0; i < NMANIFESTS; i++)
		check_resolve(&jl, m[i]);
	jobline_release(&jl);
	return 0;
}
