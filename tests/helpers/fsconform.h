/* fsconform: the file system conformance tester's shared parts.
 *
 * Three modes (fsconform.c dispatches): "errno" checks each syscall's
 * results and error numbers as their man pages describe them, "fsx" runs a
 * random sequence of I/O on one file against a model of its contents, and
 * "stress" runs colliding processes over a small shared namespace. Each
 * prints TAP-like lines and exits 1 if anything failed.
 */
#ifndef FSCONFORM_H
#define FSCONFORM_H

#include <stdbool.h>
#include <stdint.h>

int fsc_errno_main(int argc, char **argv);
int fsc_fsx_main(int argc, char **argv);
int fsc_stress_main(int argc, char **argv);

/* The name of an errno value ("EEXIST"), or "OK" for 0. */
const char *fsc_errname(int e);

/* A small deterministic generator (xorshift64*), seeded by the caller so a
 * failing run can be repeated with its -S seed. */
struct fsc_rng {
	uint64_t s;
};
void fsc_rng_seed(struct fsc_rng *r, uint64_t seed);
uint64_t fsc_rng_next(struct fsc_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t fsc_rng_below(struct fsc_rng *r, uint64_t n);

#endif
