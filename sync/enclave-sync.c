/* enclave-sync: mirror a plain directory to an enclave without FUSE. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: enclave-sync --connect ADDR [--once] [--stats] [-v] DIR\n"
		"       enclave-sync --listen ADDR [--stats] [-v] DIR\n"
		"\n"
		"ADDR is vsock:CID:PORT, vsock:PORT, unix:PATH or fd:N.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 },
	};
	int c;

	log_setup("enclave-sync", LOG_WARNING, false);
	while ((c = getopt_long(argc, argv, "hVv", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("enclave-sync %s\n", PACKAGE_VERSION);
			return 0;
		case 'v':
			log_more_verbose();
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	usage(stderr);
	return 2;
}
