/* Job lines: what a host writes to .run, `PACKAGE [ENTRY] [ARG...]`.
 *
 * jobline_split() cuts a line into words the way a POSIX shell splits quoted
 * words, with no expansion of any kind: blanks (space, tab) separate words;
 * '...' is literal; inside "..." a backslash escapes only \ " $ ` (any other
 * backslash is kept); outside quotes a backslash quotes the next character;
 * every other character ($, `, *, ~, ;, |, ...) is ordinary. One trailing
 * newline is stripped; any other control character is refused.
 *
 * jobline_resolve() maps words onto a manifest entry: the argv it returns is
 * always the entry's argv followed by the host's arguments, so the host never
 * chooses the program or its flags.
 *
 * A struct jobline owns its words (NULL-terminated, words[nwords] == NULL);
 * jobline_release() frees them and leaves the struct empty. It is safe on a
 * zeroed struct and after a failed split.
 */
#ifndef EFS_JOBLINE_H
#define EFS_JOBLINE_H

#include <stddef.h>

#include "manifest.h"

#define JOBLINE_MAX_BYTES (64 * 1024)
#define JOBLINE_MAX_WORDS 256

struct jobline {
	char **words;
	size_t nwords;
};

/* Splits len bytes of line (one trailing newline stripped, then at most
 * JOBLINE_MAX_BYTES) into words. Returns 0, -EINVAL (control character,
 * unterminated quote, trailing backslash, no words), -E2BIG (too long, more
 * than JOBLINE_MAX_WORDS words) or -ENOMEM, with a message in err. */
int jobline_split(const char *line, size_t len, struct jobline *out, char *err, size_t errsz);
void jobline_release(struct jobline *jl);

/* Resolves words against m: words[0] is the package (the caller resolves
 * it); words[1] is the entry if it names one, otherwise the default entry is
 * used and every word after the package is an argument. Sets *entry (borrowed
 * from m) and *argv: the entry's argv, then the arguments, NULL-terminated, in
 * one allocation that free(*argv) releases. Returns 0, -ENOENT (no entry
 * named and no default), -EPERM (arguments for an entry without host_args),
 * -EINVAL (no words) or -ENOMEM, with a message in err. */
int jobline_resolve(const struct jobline *jl, const struct manifest *m,
		    const struct manifest_entry **entry, char ***argv, char *err, size_t errsz);

#endif
