/* libFuzzer harness for path_check: it must accept exactly the paths that
 * satisfy the canonical-form invariants, checked here independently. */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sync/pathsafe.h"

static bool canonical(const char *s)
{
	size_t n = strlen(s), start = 0;
	const char *slash = strchr(s, '/');

	if (n == 0 || n > PATH_REL_MAX || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
		return false;
	/* At most PATH_MAX - 1 bytes below the tree (the first component). */
	if (slash && strlen(slash + 1) >= PATH_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (s[i] != '/' && s[i] != '\0')
			continue;
		if (i - start > NAME_MAX)
			return false;
		if ((i - start == 1 && s[start] == '.') ||
		    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if ((path_check(s) == 0) != canonical(s))
		abort();
	free(s);
	return 0;
}
