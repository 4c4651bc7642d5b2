/* The manifest: enclave.json at the root of a package, the only source of
 * what may run in the enclave (see doc/PACKAGE.md).
 *
 * manifest_parse() accepts exactly the documented schema: unknown or duplicate
 * keys, wrong types and out-of-range values are refused with -EINVAL and a
 * message naming the field. A parsed manifest is always valid: names match
 * [A-Za-z0-9._-]{1,64} without a leading '.', every entry has 1..256 argv
 * strings, and default_entry (if not NULL) names an entry.
 *
 * A struct manifest owns everything it points to; manifest_free() releases it
 * and accepts NULL. Entry argv arrays are NULL-terminated (argv[argc] == NULL).
 */
#ifndef EFS_MANIFEST_H
#define EFS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_FILE              "enclave.json"
#define MANIFEST_MAX_BYTES         (64 * 1024)
#define MANIFEST_MAX_NAME          64
#define MANIFEST_MAX_ENTRIES       64
#define MANIFEST_MAX_ARGC          256
#define MANIFEST_MAX_ARG           4096
#define MANIFEST_MAX_TIMEOUT_S     604800
#define MANIFEST_DEFAULT_TIMEOUT_S 3600

struct manifest_entry {
	char *name;
	char **argv;
	size_t argc;
	bool host_args;
	uint32_t timeout_s;
};

struct manifest {
	char *name, *version;
	struct manifest_entry *entries;
	size_t nentries;
	char *default_entry; /* NULL if none */
};

/* Parses and validates len bytes of JSON. Returns 0 and sets *out, -EINVAL
 * with a message in err (if errsz > 0) naming the offending field, -EFBIG if
 * len > MANIFEST_MAX_BYTES, or -ENOMEM. */
int manifest_parse(const char *json, size_t len, struct manifest **out, char *err, size_t errsz);
/* Reads and parses path (canonical, relative to dirfd) without following any
 * symlink. -ENOENT if missing, -ELOOP if a symlink is in the way, -EINVAL if
 * not a regular file or not valid, -EFBIG if larger than MANIFEST_MAX_BYTES
 * (never reads more than one byte past it). */
int manifest_load(int dirfd, const char *path, struct manifest **out, char *err, size_t errsz);
/* The entry called name, borrowed from m, or NULL. */
const struct manifest_entry *manifest_entry(const struct manifest *m, const char *name);
void manifest_free(struct manifest *m);
/* Serializes m as indented JSON (no trailing newline) for enclave-seal, with
 * every field explicit. Does not validate: parse the result to check it.
 * Returns a malloc'd string or NULL on allocation failure. */
char *manifest_to_json(const struct manifest *m);

#endif
