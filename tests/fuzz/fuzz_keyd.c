/* libFuzzer harness for what the key process reads from enclaved's main
 * process (enclave/keyd.h): the NSM request filter (nsmfilter.c) and the
 * AWS credentials message (kmsprov.c). Whatever the bytes, the filter
 * answers 0, -EPERM or -EBADMSG with a reason, and an accepted credentials
 * message leaves a status that names at most 8 characters of the key id. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "keyd.h"
#include "kmsprov.h"

static struct key_provider *kms;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keyd_config cfg = { .kms = 1 };
	struct nsm nsm = { .fd = -1 };
	char why[256] = "";
	json_t *st, *c;
	int r;

	r = keyd_nsm_allowed(data, size, 16, why, sizeof(why));
	if (r != 0 && r != -EPERM && r != -EBADMSG)
		abort();
	if (r != 0 && !why[0])
		abort();
	if (!kms && kms_provider_new(&cfg, &nsm, &kms, why, sizeof(why)) < 0)
		abort();
	why[0] = '\0';
	r = kms_provider_set_creds(kms, (const char *)data, size, why, sizeof(why));
	if (r != 0 && (r != -EBADMSG || !why[0]))
		abort();
	st = kms_provider_status(kms);
	c = json_object_get(st, "credentials");
	if (!st || (r == 0 && !json_is_object(c)))
		abort();
	if (json_is_object(c) &&
	    json_string_length(json_object_get(c, "access_key_id")) > 8)
		abort();
	json_decref(st);
	return 0;
}
