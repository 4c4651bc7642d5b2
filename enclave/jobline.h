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
 * always the entry's argv followed by the host's arguments, unchanged, so the
 * host never chooses the program or its flags.
 *
 * Which of the host's words reach the program depends on the entry:
 *  - none, unless it has host_args or declares options or positionals;
 *  - every word, with host_args: true (the old, unchecked form);
 *  - with a declaration, only words that fit it. Up to a word "--", a word
 *    starting with '-' must be exactly a declared option: a flag stands
 *    alone; a valued option takes the next word as its value, or (a "--name"
 *    option only) "--name=VALUE" in one word. Any other word, and every word
 *    after "--" (which itself is passed on), is a positional argument. Each
 *    value must fit its kind: no value starts with '-' but a negative int; a
 *    path is one of the allowed roots or root/canonical-relative-path; an int
 *    is [-]digits in range; a word is one of the declared words. So no
 *    abbreviation, bundle (-vd), attached value (-d/x), or undeclared flag of
 *    the program ever reaches it from the host. The check is lexical: what a
 *    path names inside the sandbox (a symlink the host planted) is the app's
 *    to guard.
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
 * named and no default), -EPERM (arguments for an entry that takes none, a
 * word that is not a declared option, a positional argument not declared or
 * one too many), -EINVAL (no words; an option without its value; a value that
 * does not fit its kind) or -ENOMEM, with a message in err that names the
 * host's word and the entry, but nothing of the manifest beyond the entry's
 * and options' names, kinds, roots and words. */
int jobline_resolve(const struct jobline *jl, const struct manifest *m,
		    const struct manifest_entry **entry, char ***argv, char *err, size_t errsz);

#endif
