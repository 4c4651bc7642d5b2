/* Runs a libFuzzer harness over the files named on the command line, so that
 * every harness is built and replayed over its corpus by `make check` even
 * without clang. `make fuzz` (configure --enable-fuzz, CC=clang) builds the
 * real coverage-guided fuzzers instead. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
	int runs = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf;
		long n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
			perror(argv[i]);
			return 1;
		}
		buf = malloc(n ? (size_t)n : 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			perror(argv[i]);
			return 1;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		free(buf);
		runs++;
	}
	printf("%s: %d inputs replayed\n", argv[0], runs);
	return 0;
}
