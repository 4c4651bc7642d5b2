/* enclave-seal dev-root -o DIR: makes a development root (devnsm.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "attest.h"
#include "devnsm.h"

int devroot_main(int argc, char **argv)
{
	const char *dir = NULL;
	char why[512], pem[4096];
	uint8_t *der = NULL;
	size_t n = 0;
	int c, r;

	optind = 1;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o') {
			fprintf(stderr, "usage: enclave-seal dev-root -o DIR\n");
			return 2;
		}
		dir = optarg;
	}
	if (!dir || optind != argc) {
		fprintf(stderr, "usage: enclave-seal dev-root -o DIR\n");
		return 2;
	}
	r = devroot_create(dir, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "enclave-seal: %s\n", why);
		return 1;
	}
	snprintf(pem, sizeof(pem), "%s/%s", dir, DEVROOT_CERT);
	r = attest_read_root(pem, &der, &n, why, sizeof(why));
	if (r < 0) {
		fprintf(stderr, "enclave-seal: %s\n", why);
		return 1;
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
