/* nsmtool: talks to /dev/nsm through the NSM client (attest/nsm.c), for
 * tests/t/t0710-nsm-shim.sh (which gives it a /dev/nsm with
 * tests/helpers/nsmshim.so).
 *
 *   nsmtool attest [--nonce HEX] [--user-data HEX] [--public-key HEX] OUT
 *   nsmtool describe-pcr N      locked=0|1 and data=HEX
 *   nsmtool extend-pcr N HEX    data=HEX (the new value)
 *   nsmtool lock-pcr N
 *   nsmtool random              HEX
 *   nsmtool describe            the DescribeNSM fields, one a line
 *
 * Exit 0, 1 on a failure (message on stderr), 2 on a usage error. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/nsm.h"

static int usage(void)
{
	fprintf(stderr, "usage: nsmtool attest [--nonce HEX] [--user-data HEX] "
			"[--public-key HEX] OUT\n"
			"       nsmtool describe-pcr N | extend-pcr N HEX | lock-pcr N | random "
			"| describe\n");
	return 2;
}

/* hex: decodes s into a malloc'd buffer (*out, *n); -1 if not hex. */
static int unhex(const char *s, uint8_t **out, size_t *n)
{
	size_t l = strlen(s);
	uint8_t *b;

	if (l % 2)
		return -1;
	b = malloc(l / 2 + 1);
	if (!b)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1])) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*n = l / 2;
	return 0;
}

static void print_hex(const char *label, const uint8_t *b, size_t n)
{
	if (label)
		printf("%s=", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static int index_arg(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffff)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int fail(const char *what, int r, const char *why)
{
	if (r == -EPROTO)
		fprintf(stderr, "nsmtool: %s: the NSM refused: %s\n", what, why);
	else
		fprintf(stderr, "nsmtool: %s: %s\n", what, strerror(-r));
	return 1;
}

static int cmd_attest(struct nsm *n, int argc, char **argv)
{
	uint8_t *field[3] = { NULL, NULL, NULL };
	size_t len[3] = { 0, 0, 0 };
	static const char *const opts[3] = { "--nonce", "--user-data", "--public-key" };
	uint8_t *doc = NULL;
	size_t docn = 0;
	char why[256] = "";
	const char *out = NULL;
	int i, r, ret = 2;
	FILE *f;

	for (i = 1; i < argc; i++) {
		int k;

		for (k = 0; k < 3; k++)
			if (!strcmp(argv[i], opts[k]))
				break;
		if (k == 3)
			break;
		if (i + 1 >= argc || field[k] || unhex(argv[i + 1], &field[k], &len[k]) < 0)
			goto done;
		i++;
	}
	if (i != argc - 1)
		goto done;
	out = argv[i];
	ret = 1;
	r = nsm_attestation(n, field[1], len[1], field[0], len[0], field[2], len[2], &doc, &docn,
			    why, sizeof(why));
	if (r < 0) {
		fail("Attestation", r, why);
		goto done;
	}
	f = fopen(out, "wb");
	if (!f || fwrite(doc, 1, docn, f) != docn || fclose(f) != 0) {
		fprintf(stderr, "nsmtool: %s: cannot write\n", out);
		goto done;
	}
	printf("document=%zu bytes\n", docn);
	ret = 0;
done:
	if (ret == 2)
		usage();
	for (i = 0; i < 3; i++)
		free(field[i]);
	free(doc);
	return ret;
}

int main(int argc, char **argv)
{
	struct nsm n = { -1, NULL };
	char why[256] = "";
	uint8_t pcr[NSM_PCR_LEN];
	unsigned idx;
	int r, ret;

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "attest") && strcmp(argv[1], "describe-pcr") &&
	    strcmp(argv[1], "extend-pcr") && strcmp(argv[1], "lock-pcr") &&
	    strcmp(argv[1], "random") && strcmp(argv[1], "describe"))
		return usage();
	r = nsm_open_device(&n);
	if (r < 0) {
		fprintf(stderr, "nsmtool: cannot open %s: %s\n", NSM_DEV_PATH, strerror(-r));
		return 1;
	}
	ret = 2;
	if (!strcmp(argv[1], "attest")) {
		ret = cmd_attest(&n, argc - 1, argv + 1);
	} else if (!strcmp(argv[1], "describe-pcr") && argc == 3 && !index_arg(argv[2], &idx)) {
		bool locked;

		r = nsm_describe_pcr(&n, idx, &locked, pcr, why, sizeof(why));
		if (r < 0) {
			ret = fail("DescribePCR", r, why);
		} else {
			printf("locked=%d\n", locked ? 1 : 0);
			print_hex("data", pcr, sizeof(pcr));
			ret = 0;
		}
	} else if (!strcmp(argv[1], "extend-pcr") && argc == 4 && !index_arg(argv[2], &idx)) {
		uint8_t *data;
		size_t dn;

		if (unhex(argv[3], &data, &dn) == 0) {
			r = nsm_extend_pcr(&n, idx, data, dn, pcr, why, sizeof(why));
			free(data);
			if (r < 0) {
				ret = fail("ExtendPCR", r, why);
			} else {
				print_hex("data", pcr, sizeof(pcr));
				ret = 0;
			}
		}
	} else if (!strcmp(argv[1], "lock-pcr") && argc == 3 && !index_arg(argv[2], &idx)) {
		r = nsm_lock_pcr(&n, idx, why, sizeof(why));
		ret = r < 0 ? fail("LockPCR", r, why) : 0;
	} else if (!strcmp(argv[1], "random") && argc == 2) {
		uint8_t buf[256];
		size_t got;

		r = nsm_get_random(&n, buf, sizeof(buf), &got, why, sizeof(why));
		if (r < 0) {
			ret = fail("GetRandom", r, why);
		} else {
			print_hex(NULL, buf, got);
			ret = 0;
		}
	} else if (!strcmp(argv[1], "describe") && argc == 2) {
		struct nsm_description d;

		r = nsm_describe_nsm(&n, &d, why, sizeof(why));
		if (r < 0) {
			ret = fail("DescribeNSM", r, why);
		} else {
			printf("version=%u.%u.%u\nmodule_id=%s\nmax_pcrs=%u\ndigest=%s\nlocked_pcrs=",
			       d.version_major, d.version_minor, d.version_patch, d.module_id,
			       d.max_pcrs, d.digest);
			for (size_t i = 0; i < d.nlocked; i++)
				printf("%s%u", i ? "," : "", d.locked_pcrs[i]);
			printf("\n");
			ret = 0;
		}
	}
	if (ret == 2 && strcmp(argv[1], "attest"))
		usage();
	nsm_close(&n);
	return ret;
}
