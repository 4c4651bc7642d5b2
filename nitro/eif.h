/* eif.h: Enclave Image Files (the images nitro-cli builds and runs) and the
 * measurements a Nitro Enclave started from one reports: PCR0, PCR1, PCR2 and,
 * for a signed image, PCR8 (doc/NITRO.md; the format and every check in
 * doc/EIF.md).
 *
 * The reader streams: it reads the 548-byte header, then each section's
 * 12-byte header and its data in bounded steps, hashing as it goes, so an
 * image of several GiB costs a few hundred KiB of memory (and, while a
 * signature section is decoded, up to a few MiB more). Every offset, size,
 * type and count is checked before it is used; the CRC32 of the header and the
 * sections must match. */
#ifndef EFS_EIF_H
#define EFS_EIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EIF_HEADER_SIZE 548
#define EIF_SECTION_HEADER_SIZE 12
#define EIF_MAX_SECTIONS 32
#define EIF_PCR_LEN 48 /* SHA-384 */
#define EIF_SIGNATURE_MAX 32768
#define EIF_READ_STEP (256 * 1024) /* the reader's one buffer */

enum eif_section_type {
	EIF_SECTION_KERNEL = 1,
	EIF_SECTION_CMDLINE = 2,
	EIF_SECTION_RAMDISK = 3,
	EIF_SECTION_SIGNATURE = 4,
	EIF_SECTION_METADATA = 5,
};

struct eif_info {
	uint16_t version;          /* 2, 3 or 4 */
	bool arm64;                /* flags bit 0 */
	unsigned nsections;
	unsigned nramdisks;
	uint64_t file_size;
	uint32_t crc32;            /* the header's, which matched */
	unsigned char pcr0[EIF_PCR_LEN];
	unsigned char pcr1[EIF_PCR_LEN];
	unsigned char pcr2[EIF_PCR_LEN];
	bool signed_image;         /* a Signature section was present */
	unsigned char pcr8[EIF_PCR_LEN]; /* only if signed_image */
};

/* Reads the regular file open on fd with pread (its file offset is left
 * alone) and fills *out. Returns 0, or:
 *   -EBADMSG  not a valid EIF: bad magic or version, a section that is out of
 *             the file, overlapping another, of an unknown type, with flags,
 *             with a size that disagrees with the header, too many sections,
 *             a missing kernel, cmdline or ramdisk, a bad CRC, a malformed
 *             signature section; why (if not NULL) says which, as text;
 *   -EINVAL   fd is not a regular file;
 *   -EIO      the file ended early (it shrank while being read);
 *   other -errno from fstat or reading.
 * *out is written only on success.
 * Never prints. */
int eif_measure(int fd, struct eif_info *out, char *why, size_t whylen);

/* Where eif_measure_source() reads: size bytes, from read(ctx, buf, len, off),
 * which returns how many it read (fewer than len is fine, 0 only past the
 * end) or -errno. eif_measure() is this over pread(2) and fstat(2); tests
 * give their own, to cut reads short or fail them. */
struct eif_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	void *ctx;
	uint64_t size;
};

/* eif_measure() on any source. Data that ends before size is -EIO. */
int eif_measure_source(const struct eif_source *src, struct eif_info *out, char *why,
		       size_t whylen);

/* `enclave-seal eif [--json] FILE.eif`: prints the measurements. */
int eif_main(int argc, char **argv);

#endif
