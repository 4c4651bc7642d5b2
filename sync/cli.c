/* Usage errors as cli.h describes them. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void hint(const char *prog)
{
	fprintf(stderr, "Try '%s --help'.\n", prog);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	hint(prog);
	return CLI_EXIT_USAGE;
}

/* The long options "--NAME" abbreviates: the one whose name it is, else
 * every one it is a prefix of. */
static const struct option *long_match(const struct option *lopts, const char *arg, size_t len,
				       int *matches)
{
	const struct option *found = NULL;

	*matches = 0;
	for (const struct option *o = lopts; o && o->name; o++) {
		if (strncmp(o->name, arg, len))
			continue;
		if (strlen(o->name) == len) {
			*matches = 1;
			return o;
		}
		if (!found || found->has_arg != o->has_arg || found->val != o->val)
			(*matches)++;
		if (!found)
			found = o;
	}
	return found;
}

int cli_getopt_error(const char *prog, int c, char *const argv[], const struct option *lopts)
{
	/* getopt has moved past a long option it complains about; optopt is
	 * 0 for an unknown or ambiguous one, else the option's val (a short
	 * option's letter). */
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	bool is_long = !strncmp(arg, "--", 2) && arg[2];
	const char *name = is_long ? arg + 2 : "";
	size_t len = strcspn(name, "=");
	int matches = 0;
	const struct option *o = is_long ? long_match(lopts, name, len, &matches) : NULL;

	if (c == '?' && optopt == 0 && is_long) {
		if (o && matches > 1)
			fprintf(stderr, "%s: option '--%.*s' is ambiguous\n", prog, (int)len, name);
		else
			fprintf(stderr, "%s: unrecognized option '--%.*s'\n", prog, (int)len, name);
	} else if (o && matches == 1 && o->val == optopt && c == ':') {
		fprintf(stderr, "%s: option '--%s' requires an argument\n", prog, o->name);
	} else if (o && matches == 1 && o->val == optopt && name[len] == '=') {
		fprintf(stderr, "%s: option '--%s' doesn't allow an argument\n", prog, o->name);
	} else if (c == ':') {
		fprintf(stderr, "%s: option '-%c' requires an argument\n", prog, optopt);
	} else if (optopt > ' ' && optopt < 127) {
		fprintf(stderr, "%s: unrecognized option '-%c'\n", prog, optopt);
	} else {
		fprintf(stderr, "%s: unrecognized option\n", prog);
	}
	hint(prog);
	return CLI_EXIT_USAGE;
}
