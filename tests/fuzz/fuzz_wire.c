/* libFuzzer harness for the wire buffer: the input is both a script of typed
 * reads and the data they read. No read may overrun, and a failed read must
 * leave the offset unchanged. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sync/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbuf b;
	size_t nops;

	if (size < 1)
		return 0;
	nops = data[0] % 32;
	if (size - 1 < nops)
		return 0;
	wbuf_from(&b, data + 1 + nops, size - 1 - nops);
	for (size_t i = 0; i < nops; i++) {
		size_t before = b.off;
		const uint8_t *p;
		size_t n;
		uint64_t v64;
		uint32_t v32;
		uint16_t v16;
		uint8_t v8;
		char s[32], *dup = NULL;
		int r;

		switch (data[1 + i] % 8) {
		case 0: r = wbuf_get_u8(&b, &v8); break;
		case 1: r = wbuf_get_u16(&b, &v16); break;
		case 2: r = wbuf_get_u32(&b, &v32); break;
		case 3: r = wbuf_get_u64(&b, &v64); break;
		case 4:
			r = wbuf_get_bytes_peek(&b, &p, &n, 4096);
			if (r == 0 && n && p[n - 1] == 0xfe && p[0] == 0xfe)
				b.off += 0; /* touch both ends of the borrowed span */
			break;
		case 5: r = wbuf_get_str(&b, s, sizeof(s)); break;
		case 6: r = wbuf_get_strdup(&b, &dup, 1024); free(dup); break;
		default: r = wbuf_skip(&b, data[1 + i]); break;
		}
		if (r < 0 && b.off != before)
			abort();
		if (b.off > b.len)
			abort();
	}
	(void)wbuf_end(&b);
	return 0;
}
