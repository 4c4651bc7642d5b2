/* libFuzzer harness for the KMS JSON decoders (kms/kmsjson.c): the input is
 * offered as a GenerateDataKey answer, a Decrypt answer, an error answer
 * under a few HTTP statuses, and as base64 text. What a decoder accepts must
 * hold its promises: sizes within bounds, a 32-byte data key, base64 that
 * encodes back to the very same text, an errno from kmsjson.h's table. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kms/kmsjson.h"

static void check_error(const char *s, size_t n, long status)
{
	char type[64], msg[128];
	int r = kmsjson_parse_error(s, n, status, type, sizeof(type), msg, sizeof(msg));

	if (r != -EKEYREJECTED && r != -EKEYREVOKED && r != -ENOKEY && r != -EACCES &&
	    r != -EAGAIN && r != -EPROTO)
		abort();
	if (strlen(type) >= sizeof(type) || strlen(msg) >= sizeof(msg))
		abort();
	for (const char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort();
	if ((status >= 500 || status == 429) && r == -EPROTO)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct kms_generated g;
	struct kms_decrypted d;
	char why[128];

	if (kmsjson_parse_generate(s, size, &g, why, sizeof(why)) == 0) {
		if (!g.blob || g.blob_len == 0 || g.blob_len > KMSJSON_BLOB_MAX ||
		    strlen(g.key_id) == 0 || strlen(g.key_id) > KMSJSON_KEYID_MAX)
			abort();
		kms_generated_release(&g);
	} else if (g.blob || g.blob_len) {
		abort();
	}
	if (kmsjson_parse_decrypt(s, size, &d, why, sizeof(why)) == 0) {
		if (!d.cfr || d.cfr_len == 0 || d.cfr_len > KMSJSON_BLOB_MAX ||
		    strlen(d.key_id) > KMSJSON_KEYID_MAX)
			abort();
		kms_decrypted_release(&d);
	} else if (d.cfr || d.cfr_len) {
		abort();
	}
	check_error(s, size, 400);
	check_error(s, size, 403);
	check_error(s, size, 429);
	check_error(s, size, 503);

	if (size <= 4 * 4096) {
		uint8_t *out = malloc(KMSJSON_B64_DECODED_MAX(size) + 1);
		size_t n = 0;

		if (!out)
			abort();
		if (kmsjson_b64_decode(s, size, out, &n) == 0) {
			char *e = kmsjson_b64_encode(out, n);

			/* strict means canonical: the text is the only encoding */
			if (!e || n > KMSJSON_B64_DECODED_MAX(size) || strlen(e) != size ||
			    memcmp(e, s, size) != 0)
				abort();
			free(e);
		}
		free(out);
	}
	return 0;
}
