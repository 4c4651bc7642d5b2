/* libFuzzer harness for address parsing: whatever parses must format, and the
 * text form must parse back to the same address; whatever fails must say why. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sync/transport.h"

static void parse_or_die(const char *s, struct addr *a)
{
	char err[256];

	if (addr_parse(s, a, err, sizeof(err)) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256], text[ADDR_TEXT_MAX];
	struct addr a, b;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse(s, &a, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof(err)))
			abort();
	} else {
		if (addr_format(&a, text, sizeof(text)) < 0)
			abort();
		parse_or_die(text, &b);
		if (a.kind != b.kind || a.cid != b.cid || a.port != b.port || a.fd != b.fd ||
		    strcmp(a.path, b.path) != 0)
			abort();
	}
	free(s);
	return 0;
}
