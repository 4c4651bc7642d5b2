/* enclave-seal eif [--json] FILE.eif: the PCRs an enclave started from the
 * image will report (doc/EIF.md), without nitro-cli.
 *
 * Text: one "PCRn HEX" line each for PCR0, PCR1, PCR2 and, for a signed
 * image, PCR8. --json: one object with those and the image's facts. A file
 * that is not a valid image prints nothing on stdout: the reason goes to
 * stderr and the exit status is 1. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "eif.h"

#define USAGE "usage: enclave-seal eif [--json] FILE.eif\n"

static void hex(const unsigned char p[static EIF_PCR_LEN], char out[static 2 * EIF_PCR_LEN + 1])
{
	for (size_t i = 0; i < EIF_PCR_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int print_text(const struct eif_info *e)
{
	char h[2 * EIF_PCR_LEN + 1];

	hex(e->pcr0, h);
	printf("PCR0 %s\n", h);
	hex(e->pcr1, h);
	printf("PCR1 %s\n", h);
	hex(e->pcr2, h);
	printf("PCR2 %s\n", h);
	if (e->signed_image) {
		hex(e->pcr8, h);
		printf("PCR8 %s\n", h);
	}
	return 0;
}

static int print_json(const struct eif_info *e)
{
	json_t *o = json_object();
	char h[2 * EIF_PCR_LEN + 1], crc[11];
	char *s;

	if (!o)
		return -ENOMEM;
	hex(e->pcr0, h);
	json_object_set_new(o, "PCR0", json_string(h));
	hex(e->pcr1, h);
	json_object_set_new(o, "PCR1", json_string(h));
	hex(e->pcr2, h);
	json_object_set_new(o, "PCR2", json_string(h));
	if (e->signed_image) {
		hex(e->pcr8, h);
		json_object_set_new(o, "PCR8", json_string(h));
	}
	snprintf(crc, sizeof(crc), "0x%08x", (unsigned)e->crc32);
	json_object_set_new(o, "version", json_integer(e->version));
	json_object_set_new(o, "arch", json_string(e->arm64 ? "aarch64" : "x86_64"));
	json_object_set_new(o, "sections", json_integer(e->nsections));
	json_object_set_new(o, "ramdisks", json_integer(e->nramdisks));
	json_object_set_new(o, "crc32", json_string(crc));
	json_object_set_new(o, "size", json_integer((json_int_t)e->file_size));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

#define PROG "enclave-seal eif"

int eif_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct eif_info info;
	const char *path;
	char why[256];
	bool json = false;
	int c, fd, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h': fputs(USAGE, stdout); return CLI_EXIT_OK;
		default: return cli_getopt_error(PROG, c, argv, opts);
		}
	}
	if (optind >= argc)
		return cli_usage_error(PROG, "missing FILE.eif");
	if (optind + 1 < argc)
		return cli_usage_error(PROG, "one FILE.eif at a time");
	path = argv[optind];

	/* O_NONBLOCK: a FIFO given as the image must not hold the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "enclave-seal eif: %s: %s\n", path, strerror(errno));
		return 1;
	}
	r = eif_measure(fd, &info, why, sizeof(why));
	close(fd);
	if (r < 0) {
		fprintf(stderr, "enclave-seal eif: %s: %s\n", path, why[0] ? why : strerror(-r));
		return 1;
	}
	r = json ? print_json(&info) : print_text(&info);
	if (r < 0) {
		fprintf(stderr, "enclave-seal eif: %s\n", strerror(-r));
		return 1;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "enclave-seal eif: writing the output: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
