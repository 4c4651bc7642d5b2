/* libFuzzer harness for nitro/nitrocli.c: nitro-cli's describe-enclaves
 * answer, picked by a name and by the empty name. A success must give a CID
 * an enclave can have, and the reason must be a string. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nitro/nitrocli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "", "iris", "a" };
	char why[256];

	for (size_t i = 0; i < 3; i++) {
		uint32_t cid = 0;
		int r = nitro_pick_cid((const char *)data, size, names[i], &cid, why, sizeof(why));

		if (r == 0 && (cid < 4 || cid == 0xffffffffu))
			abort();
		if (strnlen(why, sizeof(why)) == sizeof(why))
			abort();
	}
	return 0;
}
