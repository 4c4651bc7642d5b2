/* fsconform errno DIR
 * fsconform fsx FILE [-N ops] [-S seed] [-L maxlen] [-P procs] [-Z] [-m] [-u] [-x OP]...
 * fsconform stress DIR [-p procs] [-n ops] [-S seed]
 *
 * Conformance checks of a file system, written from the syscalls' man pages:
 * the tests run them on a native tmpfs directory (the reference, where every
 * case passes) and on the mount's dataset/. See fsconform.h for the modes.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "fsconform.h"

const char *fsc_errname(int e)
{
	const char *n;

	if (e == 0)
		return "OK";
	n = strerrorname_np(e);
	return n ? n : "E?";
}

void fsc_rng_seed(struct fsc_rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	if (r->s == 0)
		r->s = 1;
}

uint64_t fsc_rng_next(struct fsc_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

uint64_t fsc_rng_below(struct fsc_rng *r, uint64_t n)
{
	return fsc_rng_next(r) % n;
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: fsconform errno DIR\n"
	    "       fsconform fsx FILE [-N ops] [-S seed] [-L maxlen] [-P procs] [-Z] [-m] [-u] [-x OP]...\n"
	    "       fsconform stress DIR [-p procs] [-n ops] [-S seed]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "errno") == 0)
		return fsc_errno_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "fsx") == 0)
		return fsc_fsx_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "stress") == 0)
		return fsc_stress_main(argc - 1, argv + 1);
	usage();
	return 2;
}
