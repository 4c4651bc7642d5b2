/* What a unit test does when something it needs is missing: never a silent
 * pass. Under CI=true (CI installs every prerequisite) it is a failure;
 * elsewhere a loud SKIP line.
 *
 *   prereq_missing(what)       inside a Check test: fails the test under
 *                              CI=true, else prints "SKIP: test: what";
 *                              the caller returns right after.
 *   prereq_missing_all(prog, what)  before the suite runs: exits 1 under
 *                              CI=true, else prints a SKIP line and exits 77
 *                              (automake's code for a skipped test).
 */
#ifndef EFS_TESTS_PREREQ_H
#define EFS_TESTS_PREREQ_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline bool prereq_ci(void)
{
	const char *ci = getenv("CI");

	return ci && !strcmp(ci, "true");
}

#define prereq_missing(what)                                                                        \
	do {                                                                                        \
		if (prereq_ci())                                                                    \
			ck_abort_msg("%s: missing prerequisite (CI=true: a failure): %s", __func__, \
				     (what));                                                       \
		fprintf(stderr, "SKIP: %s: missing prerequisite: %s (this check did NOT run)\n",   \
			__func__, (what));                                                          \
	} while (0)

static inline void prereq_missing_all(const char *prog, const char *what)
{
	if (prereq_ci()) {
		fprintf(stderr, "%s: missing prerequisite (CI=true: a failure): %s\n", prog, what);
		exit(EXIT_FAILURE);
	}
	printf("SKIP: %s: missing prerequisite: %s (nothing ran)\n", prog, what);
	exit(77);
}

#endif
