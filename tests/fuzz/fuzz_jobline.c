/* libFuzzer harness for job lines: split, then resolve against fixed
 * manifests. Words never carry a control character other than a tab, and a
 * resolved argv is always the entry's argv followed by the host's words. */
#include "config.h"

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
};

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
	if (jl->nwords > first && !e->host_args)
		abort();
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
	static struct manifest *m[2];
	struct jobline jl;
	char err[256];

	if (!m[0])
		for (size_t i = 0; i < 2; i++)
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
	check_resolve(&jl, m[0]);
	check_resolve(&jl, m[1]);
	jobline_release(&jl);
	return 0;
}
