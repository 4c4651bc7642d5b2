/* sigv4case DIR: signs one case of the SigV4 suite (DIR/context.json,
 * DIR/request.txt) with sigv4_sign and prints four sections, each after a
 * line "== NAME": canonical-request, string-to-sign, signature and
 * signed-request, each as the case's header-NAME.txt holds it (a final
 * newline added when the content has none). tests/t/t0800-sigv4.sh diffs them.
 *
 * request.txt is a raw HTTP request: request line, header lines (a line
 * starting with a space or a tab continues the previous header: its value is
 * one more value of that header), an empty line, the body. The signed request
 * is the request as given with the added headers after the given ones, in
 * the suite's order: security token, date, content hash, authorization.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sigv4.h"

#define MAX_HEADERS 64

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *q = realloc(p, cap + 65536);

			if (!q) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
			cap += 65536;
		}
		size_t r = fread(p + len, 1, cap - len - 1, f);

		len += r;
		if (r == 0)
			break;
	}
	fclose(f);
	p[len] = '\0';
	*n = len;
	return p;
}

static void die(const char *what)
{
	fprintf(stderr, "sigv4case: %s\n", what);
	exit(2);
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void print_section(const char *name, const char *s)
{
	size_t n = strlen(s);

	printf("== %s\n%s%s", name, s, n && s[n - 1] == '\n' ? "" : "\n");
}

int main(int argc, char **argv)
{
	char path[4096], date[17];
	size_t reqn = 0;
	json_error_t jerr;
	struct sigv4_header hs[MAX_HEADERS];
	size_t nh = 0;
	char *lines[MAX_HEADERS];
	size_t nlines = 0;
	struct sigv4_request rq = { 0 };
	struct sigv4_signed sig = { 0 };
	unsigned flags = 0;

	if (argc != 2)
		die("usage: sigv4case DIR");
	snprintf(path, sizeof(path), "%s/context.json", argv[1]);
	json_t *ctx = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	json_t *cj = json_object_get(ctx, "credentials");
	const char *ts = jstr(ctx, "timestamp");
	struct sigv4_creds c = { jstr(cj, "access_key_id"), jstr(cj, "secret_access_key"),
				 jstr(cj, "token") };

	if (!ctx || !json_is_object(cj) || !ts || !c.access_key_id || !c.secret_access_key)
		die("bad context.json");
	/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
	if (strlen(ts) != 20)
		die("bad timestamp");
	for (size_t i = 0; i < 20; i++)
		if (!strchr("0123456789", ts[i]) != !!strchr("-T:Z", "0000-00-00T00:00:00Z"[i]))
			die("bad timestamp");
	snprintf(date, sizeof(date), "%.4s%.2s%.2sT%.2s%.2s%.2sZ", ts, ts + 5, ts + 8, ts + 11,
		 ts + 14, ts + 17);
	if (json_is_false(json_object_get(ctx, "normalize")))
		flags |= SIGV4_NO_NORMALIZE;
	if (json_is_true(json_object_get(ctx, "sign_body")))
		flags |= SIGV4_SIGN_BODY;

	snprintf(path, sizeof(path), "%s/request.txt", argv[1]);
	char *req = slurp(path, &reqn);

	if (!req)
		die("cannot read request.txt");
	char *body = strstr(req, "\n\n");
	size_t bodyn = 0;

	if (body) {
		*body = '\0';
		body += 2;
		bodyn = reqn - (size_t)(body - req);
	}
	/* a copy of the head keeps the raw lines for the signed request */
	char *raw = strdup(req);
	char *save = NULL, *line = strtok_r(req, "\n", &save);
	char *rawsave = NULL, *rawline = strtok_r(raw, "\n", &rawsave);

	if (!line || !rawline)
		die("empty request");
	char *sp = strchr(line, ' '), *lsp = strrchr(line, ' ');

	if (!sp || sp == lsp)
		die("bad request line");
	*sp = '\0';
	*lsp = '\0';
	rq.method = line;
	rq.path = sp + 1;
	char *q = strchr(sp + 1, '?');

	if (q) {
		*q = '\0';
		rq.query = q + 1;
	}
	const char *reqline = rawline;

	while ((line = strtok_r(NULL, "\n", &save)) && (rawline = strtok_r(NULL, "\n", &rawsave))) {
		if (nh == MAX_HEADERS)
			die("too many headers");
		lines[nlines++] = rawline;
		if (*line == ' ' || *line == '\t') {
			if (!nh)
				die("continuation without a header");
			hs[nh].name = hs[nh - 1].name;
			hs[nh].value = line;
			nh++;
			continue;
		}
		char *colon = strchr(line, ':');

		if (!colon)
			die("header line without a colon");
		*colon = '\0';
		hs[nh].name = line;
		hs[nh].value = colon + 1;
		nh++;
	}
	rq.headers = hs;
	rq.nheaders = nh;
	rq.body = (const uint8_t *)body;
	rq.body_len = bodyn;

	int r = sigv4_sign(&rq, &c, jstr(ctx, "region"), jstr(ctx, "service"), date, flags, &sig);

	if (r < 0) {
		fprintf(stderr, "sigv4case: sigv4_sign: %s\n", strerror(-r));
		return 1;
	}
	print_section("canonical-request", sig.canonical_request);
	print_section("string-to-sign", sig.string_to_sign);
	print_section("signature", sig.signature);

	printf("== signed-request\n%s\n", reqline);
	for (size_t i = 0; i < nlines; i++)
		printf("%s\n", lines[i]);
	static const char *const order[] = { "X-Amz-Security-Token", "X-Amz-Date",
					     "x-amz-content-sha256", "Authorization" };
	for (size_t k = 0; k < 4; k++)
		for (size_t i = 0; i < sig.nadd; i++)
			if (!strcmp(sig.add[i].name, order[k]))
				printf("%s:%s\n", sig.add[i].name, sig.add[i].value);
	printf("\n");
	if (bodyn) {
		fwrite(body, 1, bodyn, stdout);
		if (body[bodyn - 1] != '\n')
			printf("\n");
	}
	sigv4_signed_release(&sig);
	free(raw);
	free(req);
	json_decref(ctx);
	return fflush(stdout) == 0 ? 0 : 1;
}
