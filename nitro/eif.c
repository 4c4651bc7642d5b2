/* eif.c: an Enclave Image File's PCRs, computed from the file alone.
 *
 * The header's table of sections is checked as a whole before any section is
 * read: every section inside the file and after the header, none overlapping
 * another. Then the sections are visited in the table's order, which is the
 * order the CRC and the PCRs follow (the builder writes the table in file
 * order, but nothing else says it must be): each 12-byte section header is
 * checked against the table, and its data streams through one
 * EIF_READ_STEP buffer into the CRC and the hashes it belongs to. Only the
 * signature section is decoded, and it is at most EIF_SIGNATURE_MAX bytes.
 *
 * Measurements (doc/EIF.md): PCRn = SHA-384(48 zero bytes || Hn), where
 *   H0 = SHA-384(kernel, cmdline, every ramdisk)
 *   H1 = SHA-384(kernel, cmdline, the first ramdisk)
 *   H2 = SHA-384(the other ramdisks)
 *   H8 = SHA-384(the signing certificate, DER)
 * each over the sections' data without their headers. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "cbor-util.h"
#include "eif.h"
#include "util.h"

/* Header fields (big-endian) by offset. */
#define H_MAGIC     0x000
#define H_VERSION   0x004
#define H_FLAGS     0x006
#define H_NSECTIONS 0x01a
#define H_OFFSETS   0x01c
#define H_SIZES     0x11c
#define H_CRC       0x220 /* the CRC covers the header up to here */

#define FLAG_ARM64 0x0001
/* [ { "signing_certificate": [ uint... ], ... }, ... ]: three levels, one
 * spare for an unknown field's value. */
#define SIGNATURE_CBOR_DEPTH 4

static const char *const type_name[] = {
	[EIF_SECTION_KERNEL] = "kernel",       [EIF_SECTION_CMDLINE] = "cmdline",
	[EIF_SECTION_RAMDISK] = "ramdisk",     [EIF_SECTION_SIGNATURE] = "signature",
	[EIF_SECTION_METADATA] = "metadata",
};

struct table {
	unsigned n;
	uint64_t off[EIF_MAX_SECTIONS];
	uint64_t size[EIF_MAX_SECTIONS];
};

struct hashes {
	EVP_MD_CTX *h0, *h1, *h2;
};

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Exactly len bytes at off: short reads are continued, an early end is -EIO. */
static int read_exact(const struct eif_source *src, void *buf, size_t len, uint64_t off,
		      char *why, size_t whylen)
{
	size_t got = 0;

	while (got < len) {
		ssize_t k = src->read(src->ctx, (char *)buf + got, len - got, off + got);

		if (k < 0)
			return err_set(why, whylen, (int)k, "reading at offset %" PRIu64 ": %s",
				       off + got, strerror((int)-k));
		if (k == 0)
			return err_set(why, whylen, -EIO,
				       "the file ends at offset %" PRIu64 ", short of its %" PRIu64
				       " bytes (did it change while being read?)",
				       off + got, src->size);
		if ((size_t)k > len - got)
			return err_set(why, whylen, -EIO, "a read returned more than it was asked");
		got += (size_t)k;
	}
	return 0;
}

/* The table: its count, and each section inside the file, after the header,
 * apart from every other. Sizes are compared by subtraction, so no sum of
 * untrusted numbers can wrap. */
static int check_table(const unsigned char *h, uint64_t file_size, struct table *t, char *why,
		       size_t whylen)
{
	unsigned order[EIF_MAX_SECTIONS];

	t->n = be16(h + H_NSECTIONS);
	if (t->n < 2 || t->n > EIF_MAX_SECTIONS)
		return err_set(why, whylen, -EBADMSG, "%u sections: an image has 2 to %d", t->n,
			       EIF_MAX_SECTIONS);
	for (unsigned i = 0; i < t->n; i++) {
		uint64_t off = be64(h + H_OFFSETS + 8 * i), size = be64(h + H_SIZES + 8 * i);

		if (off < EIF_HEADER_SIZE)
			return err_set(why, whylen, -EBADMSG,
				       "section %u starts at offset %" PRIu64 ", inside the header", i,
				       off);
		if (off > file_size || file_size - off < EIF_SECTION_HEADER_SIZE ||
		    size > file_size - off - EIF_SECTION_HEADER_SIZE)
			return err_set(why, whylen, -EBADMSG,
				       "section %u (offset %" PRIu64 ", %" PRIu64
				       " bytes) does not fit in the %" PRIu64 "-byte file",
				       i, off, size, file_size);
		t->off[i] = off;
		t->size[i] = size;
		order[i] = i;
	}
	for (unsigned i = 1; i < t->n; i++)
		for (unsigned j = i; j > 0 && t->off[order[j - 1]] > t->off[order[j]]; j--) {
			unsigned k = order[j];

			order[j] = order[j - 1];
			order[j - 1] = k;
		}
	for (unsigned i = 1; i < t->n; i++) {
		unsigned a = order[i - 1], b = order[i];

		if (t->off[b] - t->off[a] < EIF_SECTION_HEADER_SIZE + t->size[a])
			return err_set(why, whylen, -EBADMSG,
				       "sections %u and %u overlap (offsets %" PRIu64 " and %" PRIu64
				       ")",
				       a, b, t->off[a], t->off[b]);
	}
	return 0;
}

static int sha384(const void *p, size_t n, unsigned char out[static EIF_PCR_LEN])
{
	unsigned len = 0;

	if (!EVP_Digest(p, n, out, &len, EVP_sha384(), NULL) || len != EIF_PCR_LEN)
		return -ENOMEM;
	return 0;
}

/* PCR = SHA-384(48 zero bytes || digest): a register extended once from zero. */
static int extend_from_zero(const unsigned char digest[static EIF_PCR_LEN],
			    unsigned char pcr[static EIF_PCR_LEN])
{
	unsigned char buf[2 * EIF_PCR_LEN] = { 0 };

	memcpy(buf + EIF_PCR_LEN, digest, EIF_PCR_LEN);
	return sha384(buf, sizeof(buf), pcr);
}

static int finish(EVP_MD_CTX *h, unsigned char pcr[static EIF_PCR_LEN])
{
	unsigned char d[EIF_PCR_LEN];
	unsigned len = 0;

	if (!EVP_DigestFinal_ex(h, d, &len) || len != EIF_PCR_LEN)
		return -ENOMEM;
	return extend_from_zero(d, pcr);
}

/* The signature section: CBOR [ {"signing_certificate": [byte...], ...}, ... ]
 * whose first certificate, PEM text, gives PCR8 from its DER form. The
 * signature itself (COSE_Sign1 over PCR0) is not checked here. */
static int signature_pcr8(const unsigned char *p, size_t n, unsigned char pcr8[static EIF_PCR_LEN],
			  char *why, size_t whylen)
{
	struct cbor_load_result res;
	cbor_item_t *root = NULL, *cert;
	cbor_item_t **items;
	unsigned char *pem = NULL, *der = NULL, digest[EIF_PCR_LEN];
	BIO *bio = NULL;
	X509 *x = NULL;
	size_t used, len;
	int derlen, r;

	if (attest_cbor_check(p, n, SIGNATURE_CBOR_DEPTH, &used) < 0 || used != n)
		return err_set(why, whylen, -EBADMSG,
			       "the signature section is not one well-formed CBOR item");
	root = cbor_load(p, n, &res);
	if (!root || res.error.code != CBOR_ERR_NONE) {
		r = res.error.code == CBOR_ERR_MEMERROR
			    ? err_set(why, whylen, -ENOMEM, "out of memory decoding the signature")
			    : err_set(why, whylen, -EBADMSG,
				      "the signature section is not well-formed CBOR");
		goto out;
	}
	if (!cbor_isa_array(root) || cbor_array_size(root) < 1) {
		r = err_set(why, whylen, -EBADMSG, "the signature section is not a list of signatures");
		goto out;
	}
	items = cbor_array_handle(root);
	for (size_t i = 0; i < cbor_array_size(root); i++)
		if (!cbor_isa_map(items[i])) {
			r = err_set(why, whylen, -EBADMSG, "signature %zu is not a map", i);
			goto out;
		}
	cert = attest_cbor_field(items[0], "signing_certificate");
	if (!cert || !cbor_isa_array(cert) || cbor_array_size(cert) == 0) {
		r = err_set(why, whylen, -EBADMSG,
			    "signature 0 has no signing_certificate list (or two)");
		goto out;
	}
	len = cbor_array_size(cert);
	pem = malloc(len);
	if (!pem) {
		r = err_set(why, whylen, -ENOMEM, "out of memory");
		goto out;
	}
	items = cbor_array_handle(cert);
	for (size_t i = 0; i < len; i++) {
		if (!cbor_isa_uint(items[i]) || cbor_get_int(items[i]) > 0xff) {
			r = err_set(why, whylen, -EBADMSG,
				    "byte %zu of the signing certificate is not a number 0..255", i);
			goto out;
		}
		pem[i] = (unsigned char)cbor_get_int(items[i]);
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		r = err_set(why, whylen, -ENOMEM, "out of memory");
		goto out;
	}
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x) {
		r = err_set(why, whylen, -EBADMSG, "the signing certificate is not a PEM certificate");
		goto out;
	}
	derlen = i2d_X509(x, &der);
	if (derlen <= 0) {
		r = err_set(why, whylen, -EBADMSG, "the signing certificate cannot be encoded as DER");
		goto out;
	}
	r = sha384(der, (size_t)derlen, digest);
	if (r == 0)
		r = extend_from_zero(digest, pcr8);
	if (r < 0)
		err_set(why, whylen, r, "out of memory hashing the signing certificate");
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	free(pem);
	if (root)
		cbor_decref(&root);
	return r;
}

/* Streams one section's data into the CRC and its hashes (a, b: NULL for
 * none). */
static int stream(const struct eif_source *src, uint64_t off, uint64_t size, unsigned char *buf,
		  uLong *crc, EVP_MD_CTX *a, EVP_MD_CTX *b, char *why, size_t whylen)
{
	for (uint64_t pos = 0; pos < size;) {
		size_t n = size - pos < EIF_READ_STEP ? (size_t)(size - pos) : EIF_READ_STEP;
		int r = read_exact(src, buf, n, off + pos, why, whylen);

		if (r < 0)
			return r;
		*crc = crc32(*crc, buf, (uInt)n);
		if ((a && !EVP_DigestUpdate(a, buf, n)) || (b && !EVP_DigestUpdate(b, buf, n)))
			return err_set(why, whylen, -ENOMEM, "hashing failed");
		pos += n;
	}
	return 0;
}

static int measure(const struct eif_source *src, struct hashes *hs, unsigned char *buf,
		   struct eif_info *info, char *why, size_t whylen)
{
	unsigned char h[EIF_HEADER_SIZE];
	unsigned count[EIF_SECTION_METADATA + 1] = { 0 };
	bool ramdisk_first = false;
	struct table t;
	uint16_t flags;
	uLong crc;
	int r;

	if (src->size < EIF_HEADER_SIZE)
		return err_set(why, whylen, -EBADMSG,
			       "%" PRIu64 " bytes: too short for the %d-byte header", src->size,
			       EIF_HEADER_SIZE);
	r = read_exact(src, h, sizeof(h), 0, why, whylen);
	if (r < 0)
		return r;
	if (memcmp(h + H_MAGIC, ".eif", 4))
		return err_set(why, whylen, -EBADMSG, "not an Enclave Image File (no .eif magic)");
	info->version = be16(h + H_VERSION);
	if (info->version < 2 || info->version > 4)
		return err_set(why, whylen, -EBADMSG, "version %u: only 2, 3 and 4 exist",
			       info->version);
	flags = be16(h + H_FLAGS);
	if (flags & ~FLAG_ARM64)
		return err_set(why, whylen, -EBADMSG,
			       "header flags 0x%04x: only bit 0 (aarch64) is defined", flags);
	info->arm64 = flags & FLAG_ARM64;
	r = check_table(h, src->size, &t, why, whylen);
	if (r < 0)
		return r;
	crc = crc32(0L, h, H_CRC);

	for (unsigned i = 0; i < t.n; i++) {
		unsigned char sh[EIF_SECTION_HEADER_SIZE];
		uint16_t type, sflags;
		uint64_t size;
		EVP_MD_CTX *a = NULL, *b = NULL;

		r = read_exact(src, sh, sizeof(sh), t.off[i], why, whylen);
		if (r < 0)
			return r;
		type = be16(sh);
		sflags = be16(sh + 2);
		size = be64(sh + 4);
		if (type < EIF_SECTION_KERNEL || type > EIF_SECTION_METADATA)
			return err_set(why, whylen, -EBADMSG,
				       "section %u (offset %" PRIu64 ") has type %u, which is not"
				       " kernel, cmdline, ramdisk, signature or metadata (1..5)",
				       i, t.off[i], type);
		if (sflags)
			return err_set(why, whylen, -EBADMSG,
				       "section %u (%s) has flags 0x%04x; sections have none", i,
				       type_name[type], sflags);
		if (size != t.size[i])
			return err_set(why, whylen, -EBADMSG,
				       "section %u (%s) says it holds %" PRIu64
				       " bytes, the image header %" PRIu64,
				       i, type_name[type], size, t.size[i]);
		if (count[type]++ && type != EIF_SECTION_RAMDISK)
			return err_set(why, whylen, -EBADMSG, "section %u is a second %s section", i,
				       type_name[type]);
		crc = crc32(crc, sh, sizeof(sh));

		switch (type) {
		case EIF_SECTION_KERNEL:
		case EIF_SECTION_CMDLINE:
			a = hs->h0;
			b = hs->h1;
			break;
		case EIF_SECTION_RAMDISK:
			if (!count[EIF_SECTION_KERNEL])
				ramdisk_first = true;
			a = hs->h0;
			b = count[EIF_SECTION_RAMDISK] == 1 ? hs->h1 : hs->h2;
			break;
		case EIF_SECTION_SIGNATURE:
			if (size > EIF_SIGNATURE_MAX)
				return err_set(why, whylen, -EBADMSG,
					       "the signature section holds %" PRIu64
					       " bytes; at most %d are allowed",
					       size, EIF_SIGNATURE_MAX);
			r = read_exact(src, buf, (size_t)size, t.off[i] + sizeof(sh), why, whylen);
			if (r < 0)
				return r;
			crc = crc32(crc, buf, (uInt)size);
			r = signature_pcr8(buf, (size_t)size, info->pcr8, why, whylen);
			if (r < 0)
				return r;
			info->signed_image = true;
			continue;
		case EIF_SECTION_METADATA: /* not measured; the CRC covers it */
			break;
		}
		r = stream(src, t.off[i] + sizeof(sh), size, buf, &crc, a, b, why, whylen);
		if (r < 0)
			return r;
	}

	if (crc != be32(h + H_CRC))
		return err_set(why, whylen, -EBADMSG,
			       "CRC32 mismatch: the header says 0x%08" PRIx32 ", the image has 0x%08lx",
			       be32(h + H_CRC), crc);
	if (!count[EIF_SECTION_KERNEL])
		return err_set(why, whylen, -EBADMSG, "no kernel section");
	if (!count[EIF_SECTION_CMDLINE])
		return err_set(why, whylen, -EBADMSG, "no cmdline section");
	if (!count[EIF_SECTION_RAMDISK])
		return err_set(why, whylen, -EBADMSG, "no ramdisk section");
	if (ramdisk_first)
		return err_set(why, whylen, -EBADMSG, "a ramdisk section comes before the kernel");
	if (info->version >= 4 && !count[EIF_SECTION_METADATA])
		return err_set(why, whylen, -EBADMSG, "a version 4 image needs a metadata section");

	info->nsections = t.n;
	info->nramdisks = count[EIF_SECTION_RAMDISK];
	info->file_size = src->size;
	info->crc32 = (uint32_t)crc;
	if (finish(hs->h0, info->pcr0) < 0 || finish(hs->h1, info->pcr1) < 0 ||
	    finish(hs->h2, info->pcr2) < 0)
		return err_set(why, whylen, -ENOMEM, "hashing failed");
	return 0;
}

int eif_measure_source(const struct eif_source *src, struct eif_info *out, char *why,
		       size_t whylen)
{
	struct hashes hs = { EVP_MD_CTX_new(), EVP_MD_CTX_new(), EVP_MD_CTX_new() };
	struct eif_info info = { 0 };
	unsigned char *buf = malloc(EIF_READ_STEP);
	int r;

	if (why && whylen)
		why[0] = '\0';
	if (!buf || !hs.h0 || !hs.h1 || !hs.h2 || !EVP_DigestInit_ex(hs.h0, EVP_sha384(), NULL) ||
	    !EVP_DigestInit_ex(hs.h1, EVP_sha384(), NULL) ||
	    !EVP_DigestInit_ex(hs.h2, EVP_sha384(), NULL)) {
		r = err_set(why, whylen, -ENOMEM, "out of memory");
		goto out;
	}
	r = measure(src, &hs, buf, &info, why, whylen);
	if (r == 0)
		*out = info;
out:
	EVP_MD_CTX_free(hs.h0);
	EVP_MD_CTX_free(hs.h1);
	EVP_MD_CTX_free(hs.h2);
	free(buf);
	return r;
}

static ssize_t fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(const int *)ctx;
	ssize_t k;

	if (off > (uint64_t)INT64_MAX)
		return -EOVERFLOW;
	do
		k = pread(fd, buf, len, (off_t)off);
	while (k < 0 && errno == EINTR);
	return k < 0 ? neg_errno() : k;
}

int eif_measure(int fd, struct eif_info *out, char *why, size_t whylen)
{
	struct eif_source src = { .read = fd_read, .ctx = &fd };
	struct stat st;

	if (why && whylen)
		why[0] = '\0';
	if (fstat(fd, &st) < 0)
		return err_set(why, whylen, neg_errno(), "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(why, whylen, -EINVAL, "not a regular file");
	src.size = (uint64_t)st.st_size;
	return eif_measure_source(&src, out, why, whylen);
}
