/* enclave-seal dev-root -o DIR: makes a development root (devnsm.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "attest.h"
#include "cli.h"
#include "devnsm.h"

int devroot_main(int argc, char **argv)
{
	const char *dir = NULL;
	char why[512], pem[4096];
	uint8_t *der = NULL;
	size_t n = 0;
	int c, r;

	static const struct option lopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = "enclave-seal dev-root";

	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'o': dir = optarg; break;
		case 'h': printf("usage: enclave-seal dev-root -o DIR\n"); return CLI_EXIT_OK;
		default: return cli_getopt_error(prog, c, argv, lopts);
		}
	}
	if (optind != argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!dir)
		return cli_usage_error(prog, "missing -o DIR");
	r = devroot_create(dir, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, why);
		return CLI_EXIT_FAILURE;
	}
	snprintf(pem, sizeof(pem), "%s/%s", dir, DEVROOT_CERT);
	r = attest_read_root(pem, &der, &n, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, why);
		return CLI_EXIT_FAILURE;
	}
	{
		unsigned char md[32];
		char hex[65];

		SHA256(der, n, md);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		printf("development root %s (SHA-256 of the certificate %s); its key %s/%s is the "
		       "development enclaves' signing authority: keep it mode 0600\n",
		       pem, hex, dir, DEVROOT_KEY);
	}
	OPENSSL_free(der);
	return 0;
}
