/* cmstool: kms/cms.c from the command line, for tests/t/t0810-cms.sh.
 *
 *   cmstool parse FILE           {"rid_is_ski":B,"rid_len":N,"ek_len":N,
 *                                 "iv":"HEX","ct_len":N}
 *   cmstool decrypt KEY.pem FILE the plaintext as hex
 *
 * Exit 0; 1 on a refusal, with the decoder's message on stderr; 2 on a usage
 * or I/O error. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "kms/cms.h"

static int usage(void)
{
	fprintf(stderr, "usage: cmstool parse FILE | decrypt KEY.pem FILE\n");
	return 2;
}

/* Reads at most CMS_MAX_INPUT + 1 bytes, so an oversized file still reaches
 * the decoder and is refused there. */
static int slurp(const char *path, uint8_t *buf, size_t sz, size_t *n)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "cmstool: %s: %s\n", path, strerror(errno));
		return -1;
	}
	*n = fread(buf, 1, sz, f);
	if (ferror(f)) {
		fprintf(stderr, "cmstool: %s: read error\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static void hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int do_parse(const uint8_t *in, size_t n)
{
	struct cms_envelope e;
	char why[256];
	int r = cms_parse(in, n, &e, why, sizeof(why));

	if (r < 0) {
		fprintf(stderr, "refused: %s (%s)\n", why, strerror(-r));
		return 1;
	}
	printf("{\"rid_is_ski\":%s,\"rid_len\":%zu,\"ek_len\":%zu,\"iv\":\"",
	       e.rid_is_ski ? "true" : "false", e.rid_len, e.ek_len);
	hex(e.iv, sizeof(e.iv));
	printf("\",\"ct_len\":%zu}\n", e.ct_len);
	cms_envelope_release(&e);
	return 0;
}

static int do_decrypt(const char *keypath, const uint8_t *in, size_t n)
{
	static uint8_t out[CMS_MAX_INPUT];
	EVP_PKEY *k;
	FILE *f = fopen(keypath, "r");
	char why[256];
	size_t outn = 0;
	int r;

	if (!f) {
		fprintf(stderr, "cmstool: %s: %s\n", keypath, strerror(errno));
		return 2;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		fprintf(stderr, "cmstool: %s: not a PEM private key\n", keypath);
		return 2;
	}
	r = cms_decrypt(in, n, k, out, sizeof(out), &outn, why, sizeof(why));
	EVP_PKEY_free(k);
	if (r < 0) {
		fprintf(stderr, "refused: %s (%s)\n", why, strerror(-r));
		return 1;
	}
	hex(out, outn);
	printf("\n");
	OPENSSL_cleanse(out, outn);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t in[CMS_MAX_INPUT + 1];
	size_t n;

	if (argc == 3 && !strcmp(argv[1], "parse")) {
		if (slurp(argv[2], in, sizeof(in), &n) < 0)
			return 2;
		return do_parse(in, n);
	}
	if (argc == 4 && !strcmp(argv[1], "decrypt")) {
		if (slurp(argv[3], in, sizeof(in), &n) < 0)
			return 2;
		return do_decrypt(argv[2], in, n);
	}
	return usage();
}
