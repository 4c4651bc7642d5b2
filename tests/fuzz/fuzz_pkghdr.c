/* libFuzzer harness for the sealed-package header parser: any input must
 * give 0 or a clean negative errno from the documented set, and a parsed
 * header must be self-consistent. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "enclave/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkg_header h;
	char err[256];
	int r = pkg_header_parse(data, size, &h, err, sizeof(err));

	if (r == 0) {
		if (h.body_offset != PKG_PREFIX_LEN + h.header_len || h.body_offset > size ||
		    h.segment < PKG_SEGMENT_MIN || h.segment > PKG_SEGMENT_MAX ||
		    (h.segment & (h.segment - 1)) || !h.key.wrapped || h.key.wrapped_len == 0)
			abort();
		if (strcmp(h.key.provider, "kms") == 0 ? !h.key.context_json
						       : h.key.context_json != NULL)
			abort();
		pkg_header_release(&h);
	} else if (r != -ENOEXEC && r != -EINVAL && r != -EPROTONOSUPPORT && r != -ENOMEM) {
		abort();
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	return 0;
}
