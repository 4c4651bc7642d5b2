/* The command-line conventions every tool of the project shares.
 *
 * Exit status: CLI_EXIT_OK (0) success, CLI_EXIT_FAILURE (1) a runtime
 * error -- anything that went wrong after the arguments were understood
 * (a missing key file, a refused package, a failed connection) --,
 * CLI_EXIT_USAGE (2) the arguments themselves are wrong. A tool may give
 * its runtime errors finer codes above 2; its man page says which.
 *
 * A usage error is one line that names what is wrong, then
 * "Try 'PROG --help'.", both on stderr; never the whole usage. PROG is the
 * program and, for a subcommand, the subcommand ("enclave-seal seal"):
 * getopt would print argv[0] of the subcommand, so the tools call getopt
 * with an optstring that starts with ':' (after a '+', if any) and report
 * its errors with cli_getopt_error(). */
#ifndef EFS_CLI_H
#define EFS_CLI_H

#include <getopt.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAILURE = 1, CLI_EXIT_USAGE = 2 };

/* Prints "PROG: MESSAGE" and the hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After getopt_long() returned '?' or ':': prints what getopt found wrong
 * with the option just read (unrecognized, ambiguous, missing its value, or
 * given a value it does not take) and the hint; returns CLI_EXIT_USAGE. The
 * text after a '=' of an unknown option is not repeated: it may be a secret. */
int cli_getopt_error(const char *prog, int c, char *const argv[], const struct option *lopts);

#endif
