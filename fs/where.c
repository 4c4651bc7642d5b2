/* The trees of the mount and the names encrypted/ accepts (fsint.h). */
#include "config.h"

#include "fsint.h"
#include "package.h"
#include "verdict.h"

const char *const tree_names[T_COUNT] = { "encrypted", "dataset", "model", "output", "jobs" };

/* A file may only get a name in encrypted/ that the enclave accepts as a
 * package name (verdict.h): no leading dot, no control characters. */
bool bad_package_name(const char *rel)
{
	const char *name = pkg_path_name(rel);

	return name && !pkg_name_valid(name);
}
