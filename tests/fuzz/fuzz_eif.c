/* libFuzzer harness for nitro/eif.c: the input is written to a memfd, as an
 * image on disk would be, and measured. A success must describe an image
 * the reader's checks allow, and the reason must be a string. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "nitro/eif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct eif_info e;
	char why[256];
	int r;

	if (fd < 0)
		fd = memfd_create("fuzz_eif", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) < 0)
		abort();
	if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	r = eif_measure(fd, &e, why, sizeof(why));
	if (strnlen(why, sizeof(why)) == sizeof(why))
		abort();
	if (r == 0 && (e.nsections < 2 || e.nsections > EIF_MAX_SECTIONS || e.nramdisks < 1 ||
		       e.version < 2 || e.version > 4 || e.file_size != size))
		abort();
	if (r != 0 && r != -EBADMSG)
		abort();
	return 0;
}
