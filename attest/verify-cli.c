/* enclave-seal attest verify [--trust-root PEM] [--at MS|now] [--allow-debug]
 *     [--nonce HEX] [--pcr N=HEX[,HEX...]]... DOC
 *
 * Verifies one raw CBOR attestation document (DOC, or - for stdin) with
 * attest_verify() and prints what it holds as one JSON object. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "attest.h"
#include "cli.h"
#include "verify-cli.h"

#define USAGE                                                                                     \
	"usage: enclave-seal attest verify [--trust-root PEM] [--at MS|now] [--allow-debug]\n"   \
	"           [--nonce HEX] [--pcr N=HEX[,HEX...]]... DOC\n"

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "enclave-seal attest verify: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'enclave-seal attest verify --help'.\n");
	return CLI_EXIT_USAGE;
}

/* HEX (an even number of hex digits, 1 to max bytes) into out. */
static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *n)
{
	size_t len = strlen(s);

	if (len == 0 || len % 2 || len / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = attest_hexval(s[2 * i]), lo = attest_hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

/* MS (decimal milliseconds since the epoch) or "now". */
static int parse_at(const char *s, int64_t *at)
{
	struct timespec ts;
	int64_t v = 0;

	if (!strcmp(s, "now")) {
		clock_gettime(CLOCK_REALTIME, &ts);
		*at = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		return 0;
	}
	if (!*s || strlen(s) > 15)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	*at = v;
	return 0;
}

/* Reads the whole document; one byte more than ATTEST_DOC_MAX is enough for
 * the verifier to refuse it as too large. */
static int read_doc(const char *path, uint8_t *buf, size_t cap, size_t *n)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t got = 0, k;
	int e = 0;

	if (!f)
		return -errno;
	while (got < cap && (k = fread(buf + got, 1, cap - got, f)) > 0)
		got += k;
	if (ferror(f))
		e = -EIO;
	if (f != stdin)
		fclose(f);
	*n = got;
	return e;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char s[2 * ATTEST_PCR_LEN + 1];

	for (size_t i = 0; i < n && i < ATTEST_PCR_LEN; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	return json_string(s);
}

static json_t *b64_json(const struct attest_bytes *b)
{
	char s[4 * ((ATTEST_FIELD_MAX + 2) / 3) + 1];

	if (!b->p)
		return json_null();
	EVP_EncodeBlock((unsigned char *)s, b->p, (int)b->n);
	return json_string(s);
}

static void print_doc(const struct attest_doc *d, bool verified)
{
	json_t *o = json_object(), *pcrs = json_object(), *chain = json_array();
	char *s;

	if (!o || !pcrs || !chain)
		goto out;
	for (unsigned i = 0; i < d->npcrs; i++) {
		char k[12];

		snprintf(k, sizeof(k), "%u", i);
		json_object_set_new(pcrs, k, hex_json(d->pcr[i], ATTEST_PCR_LEN));
	}
	for (size_t i = 0; i < d->nsubject; i++)
		json_array_append_new(chain, json_string(d->subject[i]));
	json_object_set_new(o, "verified", json_boolean(verified));
	json_object_set_new(o, "module_id", json_string(d->module_id));
	json_object_set_new(o, "timestamp", json_integer((json_int_t)d->timestamp_ms));
	json_object_set_new(o, "digest", json_string(d->digest));
	json_object_set_new(o, "pcrs", pcrs);
	pcrs = NULL;
	json_object_set_new(o, "public_key", b64_json(&d->public_key));
	json_object_set_new(o, "user_data", b64_json(&d->user_data));
	json_object_set_new(o, "nonce", b64_json(&d->nonce));
	json_object_set_new(o, "debug", json_boolean(d->debug));
	json_object_set_new(o, "chain", chain);
	chain = NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s) {
		printf("%s\n", s);
		free(s);
	}
out:
	json_decref(o);
	json_decref(pcrs);
	json_decref(chain);
}

int attest_verify_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trust-root", required_argument, NULL, 'r' },
		{ "at", required_argument, NULL, 't' },
		{ "allow-debug", no_argument, NULL, 'd' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "pcr", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static uint8_t doc[ATTEST_DOC_MAX + 1];
	static uint8_t nonce[ATTEST_FIELD_MAX];
	struct attest_policy pol = { 0 };
	struct attest_pin pin;
	struct attest_doc d;
	const char *root = NULL;
	uint8_t *root_der = NULL;
	char why[1024];
	size_t n = 0;
	int c, r, rc;

	if (parse_at("now", &pol.at_ms) < 0)
		return 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 't':
			if (parse_at(optarg, &pol.at_ms) < 0)
				return usage_error("--at %s: expected milliseconds since the epoch or now",
						   optarg);
			break;
		case 'd':
			pol.allow_debug = true;
			break;
		case 'n':
			if (parse_hex(optarg, nonce, sizeof(nonce), &pol.nonce_len) < 0)
				return usage_error("--nonce %s: expected 1 to 1024 bytes in hex", optarg);
			pol.nonce = nonce;
			break;
		case 'p':
			if (attest_parse_pin(optarg, &pin, why, sizeof(why)) < 0 ||
			    attest_policy_add_pin(&pol, &pin, why, sizeof(why)) < 0)
				return usage_error("--pcr: %s", why);
			break;
		case 'h':
			printf("%s", USAGE);
			return 0;
		default:
			return cli_getopt_error("enclave-seal attest verify", c, argv, opts);
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", optind < argc ? "one document only" : "missing DOC");
	if (root) {
		r = attest_read_root(root, &root_der, &pol.root_der_len, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "enclave-seal attest verify: --trust-root %s\n", why);
			return 1;
		}
		pol.root_der = root_der;
	}
	r = read_doc(argv[optind], doc, sizeof(doc), &n);
	if (r < 0) {
		fprintf(stderr, "enclave-seal attest verify: %s: %s\n", argv[optind], strerror(-r));
		OPENSSL_free(root_der);
		return 1;
	}
	r = attest_verify(doc, n, &pol, &d, why, sizeof(why));
	if (r == 0 || r == -EKEYREJECTED) {
		print_doc(&d, r == 0);
		attest_doc_release(&d);
	}
	rc = r == 0 ? 0 : 1;
	if (r < 0)
		fprintf(stderr, "refused: %s\n", why);
	fflush(stdout);
	OPENSSL_free(root_der);
	return rc;
}
