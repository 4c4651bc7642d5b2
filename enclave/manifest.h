/* The manifest: enclave.json at the root of a package, the only source of
 * what may run in the enclave (see doc/PACKAGE.md).
 *
 * manifest_parse() accepts exactly the documented schema: unknown or duplicate
 * keys, wrong types and out-of-range values are refused with -EINVAL and a
 * message naming the field. A parsed manifest is always valid: names match
 * [A-Za-z0-9._-]{1,64} without a leading '.', every entry has 1..256 argv
 * strings, and default_entry (if not NULL) names an entry.
 *
 * What the host may pass to an entry is one of three things: nothing (the
 * default), anything (host_args, kept for old manifests), or the options and
 * positional arguments the entry declares (options, positional_max), each
 * with the kind of value it takes. A parsed entry never has host_args together
 * with a declaration. jobline_resolve() enforces the declaration.
 *
 * A struct manifest owns everything it points to; manifest_free() releases it
 * and accepts NULL. Entry argv arrays are NULL-terminated (argv[argc] == NULL),
 * and so are the words of a word-kind value.
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
#define MANIFEST_MAX_OPTIONS       64
#define MANIFEST_MAX_OPTION_NAME   65 /* "--" and 63 characters */
#define MANIFEST_MAX_WORDS         64
#define MANIFEST_MAX_WORD          256
#define MANIFEST_MAX_POSITIONAL    256
#define MANIFEST_MAX_STDERR_LINES  1000

/* The kind of value an option or a positional argument takes. */
enum manifest_kind {
	MANIFEST_KIND_FLAG, /* no value (options only) */
	MANIFEST_KIND_PATH, /* a root of `roots`, or a canonical path beneath one */
	MANIFEST_KIND_INT,  /* a decimal integer in [min, max] */
	MANIFEST_KIND_WORD, /* one of `words` */
	MANIFEST_KIND_TEXT, /* anything not starting with '-' */
};

/* The directories a path value may name: bit i of manifest_value.roots
 * allows manifest_roots[i]. */
#define MANIFEST_NROOTS    3
#define MANIFEST_ROOTS_ALL ((1u << MANIFEST_NROOTS) - 1)
extern const char *const manifest_roots[MANIFEST_NROOTS]; /* "/dataset", "/model", "/output" */

struct manifest_value {
	enum manifest_kind kind;
	unsigned roots;   /* PATH: a non-zero subset of MANIFEST_ROOTS_ALL */
	int64_t min, max; /* INT: min <= max; INT64_MIN, INT64_MAX by default */
	char **words;     /* WORD: 1..64 words, NULL-terminated; NULL otherwise */
	size_t nwords;
};

struct manifest_option {
	char *name; /* "-X" (X a letter or digit) or "--name" */
	struct manifest_value value;
};

/* How much of a job's stderr the host may read (stdout always reaches it). */
enum manifest_stderr {
	MANIFEST_STDERR_NONE, /* nothing (the default) */
	MANIFEST_STDERR_ALL,  /* all of it */
	MANIFEST_STDERR_LAST, /* its last stderr_lines lines */
};

struct manifest_entry {
	char *name;
	char **argv;
	size_t argc;
	bool host_args; /* the host may append any argument; never with a declaration */
	struct manifest_option *options;  /* declared options, in manifest order */
	size_t noptions;                  /* 0..MANIFEST_MAX_OPTIONS */
	struct manifest_value positional; /* the kind of positional arguments (not FLAG) */
	uint32_t positional_max;          /* at most this many; 0: none accepted */
	enum manifest_stderr stderr_policy;
	uint32_t stderr_lines; /* LAST: 1..MANIFEST_MAX_STDERR_LINES; 0 otherwise */
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
/* The declared option of e called exactly name[0..len), borrowed, or NULL. */
const struct manifest_option *manifest_option(const struct manifest_entry *e, const char *name,
					      size_t len);
/* "flag", "path", "int", "word" or "text". */
const char *manifest_kind_name(enum manifest_kind kind);
void manifest_free(struct manifest *m);
/* Serializes m as indented JSON (no trailing newline) for enclave-seal, with
 * every field explicit. Does not validate: parse the result to check it.
 * Returns a malloc'd string or NULL on allocation failure. */
char *manifest_to_json(const struct manifest *m);

#endif
