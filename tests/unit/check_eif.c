/* nitro/eif.c: images built here in memory, each with one thing wrong, and
 * read through eif_measure_source() (whose reader can cut reads short or
 * fail them) or eif_measure() on a real file. The good values are the
 * notes' vector and a certificate's PCR8 computed with the openssl CLI. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "nitro/eif.h"

#define CAP (128 * 1024)

static const char PCR0_V[] = "fe8d2ebfd3b0b65122da9cd7f7fd31b7ca27944df620179ebd2efe07160857501fc5"
			     "80eeb727bf7683c4125f13ac54a0";
static const char PCR1_V[] = "ceab5eb3d9d049a6ba676334e322839004bb244f3f9228f398599d4fcf583bd4486c"
			     "8a52d051779624a63132e5cad2ed";
static const char PCR2_V[] = "242e5ccf0b52a4b54de34b61970d957e6e4ee156b67a78ce2fed248960ff14f05456"
			     "f94877f4652f10e9506aff4c9de6";
static const char PCR2_EMPTY[] = "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c"
				 "10edb30948c90ba67310f7b964fc500a";

/* A self-signed P-384 certificate, and its PCR8 from the openssl CLI:
 * (head -c 48 /dev/zero; openssl x509 -outform DER | openssl dgst -sha384
 * -binary) | openssl dgst -sha384 */
static const char CERT[] = "-----BEGIN CERTIFICATE-----\n"
			   "MIIBvDCCAUKgAwIBAgIUGkgA8LvVUTs4fPHLUJXgRTqs7EAwCgYIKoZIzj0EAwIw\n"
			   "FDESMBAGA1UEAwwJY2hlY2tfZWlmMCAXDTI2MTIwNTE4MjEyMVoYDzIxMjYxMTEx\n"
			   "MTgyMTIxWjAUMRIwEAYDVQQDDAljaGVja19laWYwdjAQBgcqhkjOPQIBBgUrgQQA\n"
			   "IgNiAATChm5mtegstqn48HMsCQNrzopBggHD2phiybTYEZs0feot9irOGUho8S+k\n"
			   "Nhx+ETyDmSkmNrJOYwmK1jwRHLUSvQDH4+irSkmbHuTGSqJF2ZwADY+b6jFjdE9F\n"
			   "8uCz+mKjUzBRMB0GA1UdDgQWBBSEdrt6X8OSO4ucagt+0Bsc+ApCcjAfBgNVHSME\n"
			   "GDAWgBSEdrt6X8OSO4ucagt+0Bsc+ApCcjAPBgNVHRMBAf8EBTADAQH/MAoGCCqG\n"
			   "SM49BAMCA2gAMGUCMQDkyGw7My5lXyZnDxCeurSr5S0p84PcHVX/Tlwd1YAEVr3a\n"
			   "NUkjp801q9Ds1vjmgZYCMEhpFFlgPUGxPCoLdLqIYB1Z+bpdHU2HwOsNy6dvc/8l\n"
			   "fLuXsnAmpHoBLcuLWjVYIw==\n"
			   "-----END CERTIFICATE-----\n";
static const char PCR8_CERT[] = "0d22c0035c331a7e8a5d43ef16a77d3dd7027e89a2203a1a7628eac0b456263d"
				"15ca3208dfe9a45f1254135c3c31049c";

/* --- building images ----------------------------------------------------------- */

struct sec {
	uint16_t type;
	const void *p;
	size_t len;
};

#define SEC(t, s) { (t), (s), sizeof(s) - 1 }

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The CRC over the header and the sections its table lists, in its order,
 * written into the header: call after changing a section. */
static void recrc(unsigned char *b)
{
	unsigned n = (unsigned)(b[0x1a] << 8 | b[0x1b]);
	uLong crc = crc32(0L, b, 0x220);

	for (unsigned i = 0; i < n; i++)
		crc = crc32(crc, b + get64(b + 0x1c + 8 * i), 12 + (uInt)get64(b + 0x11c + 8 * i));
	b[0x220] = (unsigned char)(crc >> 24);
	b[0x221] = (unsigned char)(crc >> 16);
	b[0x222] = (unsigned char)(crc >> 8);
	b[0x223] = (unsigned char)crc;
}

/* The sections back to back after the header, listed in file order. */
static size_t build(unsigned char *b, uint16_t version, uint16_t flags, const struct sec *s,
		    unsigned n)
{
	size_t off = EIF_HEADER_SIZE;

	memset(b, 0, EIF_HEADER_SIZE);
	memcpy(b, ".eif", 4);
	put16(b + 4, version);
	put16(b + 6, flags);
	put16(b + 0x1a, (uint16_t)n);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_le(off + 12 + s[i].len, CAP);
		put64(b + 0x1c + 8 * i, off);
		put64(b + 0x11c + 8 * i, s[i].len);
		put16(b + off, s[i].type);
		put16(b + off + 2, 0);
		put64(b + off + 4, s[i].len);
		memcpy(b + off + 12, s[i].p, s[i].len);
		off += 12 + s[i].len;
	}
	recrc(b);
	return off;
}

/* The notes' vector in the builder's order. */
static size_t vector(unsigned char *b)
{
	const struct sec s[] = {
		SEC(EIF_SECTION_KERNEL, "x"),   SEC(EIF_SECTION_CMDLINE, "console=ttyS0"),
		SEC(EIF_SECTION_METADATA, "{}"), SEC(EIF_SECTION_RAMDISK, "INIT"),
		SEC(EIF_SECTION_RAMDISK, "APP"),
	};

	return build(b, 4, 0, s, 5);
}

/* --- reading them ------------------------------------------------------------ */

struct mem {
	const unsigned char *p;
	size_t n;
	size_t chunk;     /* at most this much per read (0: no limit) */
	uint64_t end;     /* reads at or past this return 0 (0: n) */
	uint64_t fail_at; /* a read reaching past this fails with fail_err */
	int fail_err;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct mem *m = ctx;
	uint64_t end = m->end ? m->end : m->n;
	size_t k;

	if (m->fail_err && off + len > m->fail_at)
		return m->fail_err;
	if (off >= end)
		return 0;
	k = len < end - off ? len : (size_t)(end - off);
	if (m->chunk && k > m->chunk)
		k = m->chunk;
	memcpy(buf, m->p + off, k);
	return (ssize_t)k;
}

static int measure_mem(struct mem *m, struct eif_info *e, char *why)
{
	struct eif_source src = { .read = mem_read, .ctx = m, .size = m->n };

	return eif_measure_source(&src, e, why, 256);
}

static int measure(const unsigned char *b, size_t n, struct eif_info *e, char *why)
{
	struct mem m = { .p = b, .n = n };

	return measure_mem(&m, e, why);
}

static void hex(const unsigned char *p, char out[static 2 * EIF_PCR_LEN + 1])
{
	for (size_t i = 0; i < EIF_PCR_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

#define ck_pcr(p, want)                                                                            \
	do {                                                                                       \
		char h_[2 * EIF_PCR_LEN + 1];                                                      \
		hex((p), h_);                                                                      \
		ck_assert_str_eq(h_, (want));                                                      \
	} while (0)

/* The image must be refused with -EBADMSG and a reason containing what. */
#define ck_refused(b, n, what)                                                                     \
	do {                                                                                       \
		struct eif_info e_;                                                                \
		char w_[256];                                                                      \
		int r_ = measure((b), (n), &e_, w_);                                               \
		ck_assert_msg(r_ == -EBADMSG, "%s: %d (%s)", (what), r_, w_);                      \
		ck_assert_msg(strstr(w_, (what)), "wanted \"%s\", got \"%s\"", (what), w_);        \
	} while (0)

static unsigned char img[CAP];

START_TEST(test_vector)
{
	struct eif_info e;
	char why[256];
	size_t n = vector(img);

	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_pcr(e.pcr0, PCR0_V);
	ck_pcr(e.pcr1, PCR1_V);
	ck_pcr(e.pcr2, PCR2_V);
	ck_assert(!e.signed_image);
	ck_assert_uint_eq(e.version, 4);
	ck_assert(!e.arm64);
	ck_assert_uint_eq(e.nsections, 5);
	ck_assert_uint_eq(e.nramdisks, 2);
	ck_assert_uint_eq(e.file_size, n);
	ck_assert_uint_eq(e.crc32, (uint32_t)img[0x220] << 24 | img[0x221] << 16 | img[0x222] << 8 |
					   img[0x223]);
	/* why may be NULL */
	ck_assert_int_eq(eif_measure_source(
				 &(struct eif_source){ mem_read, &(struct mem){ .p = img, .n = n }, n },
				 &e, NULL, 0),
			 0);
}
END_TEST

START_TEST(test_one_ramdisk_and_orders)
{
	const struct sec one[] = {
		SEC(EIF_SECTION_KERNEL, "x"),
		SEC(EIF_SECTION_CMDLINE, "console=ttyS0"),
		SEC(EIF_SECTION_RAMDISK, "INIT"),
	};
	/* the format description's order; the table lists them in file order */
	const struct sec spec[] = {
		SEC(EIF_SECTION_KERNEL, "x"),    SEC(EIF_SECTION_CMDLINE, "console=ttyS0"),
		SEC(EIF_SECTION_RAMDISK, "INIT"), SEC(EIF_SECTION_RAMDISK, "APP"),
		SEC(EIF_SECTION_METADATA, "{}"),
	};
	struct eif_info e;
	char why[256];
	size_t n;

	n = build(img, 3, 0, one, 3);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_pcr(e.pcr0, PCR1_V);
	ck_pcr(e.pcr1, PCR1_V);
	ck_pcr(e.pcr2, PCR2_EMPTY);
	ck_assert_uint_eq(e.nramdisks, 1);

	n = build(img, 4, 0, spec, 5);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_pcr(e.pcr0, PCR0_V);
	ck_pcr(e.pcr2, PCR2_V);

	/* the table's order, not the file's, is the measured one: list the
	 * two ramdisks the other way round and "APP" is the first (the values
	 * from the openssl oracle over x console=ttyS0 APP, and INIT) */
	for (unsigned f = 0x1c; f <= 0x11c; f += 0x100) {
		unsigned char t[8];

		memcpy(t, img + f + 8 * 2, 8);
		memcpy(img + f + 8 * 2, img + f + 8 * 3, 8);
		memcpy(img + f + 8 * 3, t, 8);
	}
	recrc(img);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_pcr(e.pcr0, "1e8d56281744248bcdba311a40be9e58ff064bedf42663db5044040418802673"
		       "67a4d6c6c155e94c6885d08167b544fc");
	ck_pcr(e.pcr1, "68f983e439208d44f946a917390d94914b5af6726c679baaa8dce4f4c23b66d6"
		       "4e1ecac198f36f76b5ec02d969972b81");
	ck_pcr(e.pcr2, "ad150e0c67f62e2d027a191a00778d95ec387df599c323d24a93c45eaaa80d63"
		       "058f7f3aba92ed450aa2e28b673c9c59");
}
END_TEST

START_TEST(test_header)
{
	const struct sec min[] = {
		SEC(EIF_SECTION_KERNEL, "k"),
		SEC(EIF_SECTION_CMDLINE, "c"),
		SEC(EIF_SECTION_RAMDISK, "r"),
	};
	struct eif_info e;
	char why[256];
	size_t n;

	/* the arch bit: aarch64; any other bit is refused */
	n = build(img, 3, 1, min, 3);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_assert(e.arm64);
	n = build(img, 3, 2, min, 3);
	ck_refused(img, n, "header flags 0x0002");
	n = build(img, 3, 0x8001, min, 3);
	ck_refused(img, n, "header flags 0x8001");

	/* versions */
	n = build(img, 2, 0, min, 3);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_assert_uint_eq(e.version, 2);
	for (unsigned v = 0; v < 8; v++) {
		if (v >= 2 && v <= 4)
			continue;
		n = build(img, (uint16_t)v, 0, min, 3);
		ck_refused(img, n, "version");
	}
	n = build(img, 0xffff, 0, min, 3);
	ck_refused(img, n, "version 65535");
	/* version 4 needs metadata */
	n = build(img, 4, 0, min, 3);
	ck_refused(img, n, "needs a metadata section");

	/* magic, size */
	n = build(img, 3, 0, min, 3);
	img[0] = 'E';
	ck_refused(img, n, "no .eif magic");
	n = build(img, 3, 0, min, 3);
	ck_refused(img, EIF_HEADER_SIZE - 1, "too short for the 548-byte header");
	ck_refused(img, 0, "too short");
	ck_refused(img, EIF_HEADER_SIZE, "does not fit");
}
END_TEST

START_TEST(test_section_count)
{
	static struct sec many[EIF_MAX_SECTIONS + 1];
	struct eif_info e;
	char why[256];
	size_t n;

	many[0] = (struct sec)SEC(EIF_SECTION_KERNEL, "k");
	many[1] = (struct sec)SEC(EIF_SECTION_CMDLINE, "c");
	for (unsigned i = 2; i <= EIF_MAX_SECTIONS; i++)
		many[i] = (struct sec)SEC(EIF_SECTION_RAMDISK, "r");
	n = build(img, 3, 0, many, EIF_MAX_SECTIONS);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_assert_uint_eq(e.nsections, 32);
	ck_assert_uint_eq(e.nramdisks, 30);

	for (unsigned k = 0; k < 2; k++) {
		n = build(img, 3, 0, many, EIF_MAX_SECTIONS);
		put16(img + 0x1a, (uint16_t)k);
		ck_refused(img, n, "sections: an image has 2 to 32");
	}
	put16(img + 0x1a, 33);
	ck_refused(img, n, "33 sections");
	put16(img + 0x1a, 0xffff);
	ck_refused(img, n, "65535 sections");
}
END_TEST

START_TEST(test_table)
{
	struct eif_info e;
	char why[256];
	size_t n = vector(img);

	/* offset + size would wrap: refused, not wrapped into the file */
	put64(img + 0x11c + 8 * 4, UINT64_MAX - 10);
	ck_refused(img, n, "section 4 (offset");
	n = vector(img);
	put64(img + 0x1c + 8 * 4, UINT64_MAX - 5);
	ck_refused(img, n, "does not fit");
	n = vector(img);
	put64(img + 0x1c + 8 * 4, (uint64_t)n - 11); /* its 12-byte header does not fit */
	put64(img + 0x11c + 8 * 4, 0);
	ck_refused(img, n, "does not fit");
	n = vector(img);
	put64(img + 0x11c + 8 * 4, 4); /* one byte past the end */
	ck_refused(img, n, "does not fit");
	n = vector(img);
	put64(img + 0x1c + 8 * 1, 100);
	ck_refused(img, n, "inside the header");

	/* overlaps: the same offset twice; one byte into the previous section */
	n = vector(img);
	memcpy(img + 0x1c + 8 * 4, img + 0x1c + 8 * 3, 8);
	ck_refused(img, n, "overlap");
	n = vector(img);
	put64(img + 0x1c + 8 * 1, get64(img + 0x1c + 8 * 1) - 1);
	ck_refused(img, n, "sections 0 and 1 overlap");

	/* a gap and trailing bytes: outside every section, neither measured nor
	 * in the CRC, and accepted */
	n = vector(img);
	memset(img + n, 0xa5, 100);
	ck_assert_int_eq(measure(img, n + 100, &e, why), 0);
	ck_pcr(e.pcr0, PCR0_V);
}
END_TEST

START_TEST(test_sections)
{
	const struct sec k2[] = {
		SEC(EIF_SECTION_KERNEL, "x"), SEC(EIF_SECTION_CMDLINE, "c"),
		SEC(EIF_SECTION_KERNEL, "y"), SEC(EIF_SECTION_RAMDISK, "r"),
	};
	const struct sec c2[] = {
		SEC(EIF_SECTION_KERNEL, "x"),  SEC(EIF_SECTION_CMDLINE, "c"),
		SEC(EIF_SECTION_CMDLINE, "d"), SEC(EIF_SECTION_RAMDISK, "r"),
	};
	const struct sec m2[] = {
		SEC(EIF_SECTION_KERNEL, "x"),  SEC(EIF_SECTION_CMDLINE, "c"),
		SEC(EIF_SECTION_METADATA, "{}"), SEC(EIF_SECTION_RAMDISK, "r"),
		SEC(EIF_SECTION_METADATA, "{}"),
	};
	const struct sec nocmd[] = {
		SEC(EIF_SECTION_KERNEL, "x"),
		SEC(EIF_SECTION_RAMDISK, "r"),
	};
	const struct sec nokernel[] = {
		SEC(EIF_SECTION_CMDLINE, "c"),
		SEC(EIF_SECTION_RAMDISK, "r"),
	};
	const struct sec noramdisk[] = {
		SEC(EIF_SECTION_KERNEL, "x"),
		SEC(EIF_SECTION_CMDLINE, "c"),
	};
	const struct sec early[] = {
		SEC(EIF_SECTION_RAMDISK, "r"),
		SEC(EIF_SECTION_KERNEL, "x"),
		SEC(EIF_SECTION_CMDLINE, "c"),
	};
	size_t n;

	/* the section header: type, flags, size */
	n = vector(img);
	put16(img + get64(img + 0x1c + 8), 6);
	recrc(img);
	ck_refused(img, n, "section 1 (offset 561) has type 6");
	n = vector(img);
	put16(img + get64(img + 0x1c + 8), 0);
	recrc(img);
	ck_refused(img, n, "has type 0");
	n = vector(img);
	put16(img + get64(img + 0x1c) + 2, 0x0100);
	recrc(img);
	ck_refused(img, n, "section 0 (kernel) has flags 0x0100");
	n = vector(img);
	put64(img + get64(img + 0x1c + 8) + 4, 12);
	recrc(img);
	ck_refused(img, n, "says it holds 12 bytes, the image header 13");

	/* counts and order */
	n = build(img, 3, 0, k2, 4);
	ck_refused(img, n, "section 2 is a second kernel section");
	n = build(img, 3, 0, c2, 4);
	ck_refused(img, n, "second cmdline");
	n = build(img, 4, 0, m2, 5);
	ck_refused(img, n, "second metadata");
	n = build(img, 3, 0, nocmd, 2);
	ck_refused(img, n, "no cmdline section");
	n = build(img, 3, 0, nokernel, 2);
	ck_refused(img, n, "no kernel section");
	n = build(img, 3, 0, noramdisk, 2);
	ck_refused(img, n, "no ramdisk section");
	n = build(img, 3, 0, early, 3);
	ck_refused(img, n, "a ramdisk section comes before the kernel");

	/* the CRC: a data byte, the field itself */
	n = vector(img);
	img[n - 1] ^= 1;
	ck_refused(img, n, "CRC32 mismatch");
	n = vector(img);
	img[0x223] ^= 0x80;
	ck_refused(img, n, "CRC32 mismatch");
	n = vector(img);
	img[0x21c] ^= 1; /* the unused field is under the CRC too */
	ck_refused(img, n, "CRC32 mismatch");
}
END_TEST

/* --- the signature section -------------------------------------------------------- */

struct cb {
	unsigned char b[EIF_SIGNATURE_MAX + 64];
	size_t n;
};

static void cb_head(struct cb *c, unsigned major, uint64_t v)
{
	unsigned char m = (unsigned char)(major << 5);

	ck_assert_uint_le(c->n + 9, sizeof(c->b));
	if (v < 24) {
		c->b[c->n++] = m | (unsigned char)v;
	} else if (v <= 0xff) {
		c->b[c->n++] = m | 24;
		c->b[c->n++] = (unsigned char)v;
	} else if (v <= 0xffff) {
		c->b[c->n++] = m | 25;
		put16(c->b + c->n, (uint16_t)v);
		c->n += 2;
	} else {
		c->b[c->n++] = m | 27;
		put64(c->b + c->n, v);
		c->n += 8;
	}
}

static void cb_text(struct cb *c, const char *s)
{
	cb_head(c, 3, strlen(s));
	memcpy(c->b + c->n, s, strlen(s));
	c->n += strlen(s);
}

static void cb_u8s(struct cb *c, const void *p, size_t len)
{
	cb_head(c, 4, len);
	for (size_t i = 0; i < len; i++)
		cb_head(c, 0, ((const unsigned char *)p)[i]);
}

/* [ {"signing_certificate": [pem...], "signature": [sig...]} ] */
static void cb_signature(struct cb *c, const void *pem, size_t len)
{
	static const unsigned char cose[] = { 0xd2, 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22,
					      0xa0, 0x41, 0x00, 0x41, 0x00 };

	c->n = 0;
	cb_head(c, 4, 1);
	cb_head(c, 5, 2);
	cb_text(c, "signing_certificate");
	cb_u8s(c, pem, len);
	cb_text(c, "signature");
	cb_u8s(c, cose, sizeof(cose));
}

static size_t signed_image(const struct cb *c)
{
	const struct sec s[] = {
		SEC(EIF_SECTION_KERNEL, "x"),   SEC(EIF_SECTION_CMDLINE, "console=ttyS0"),
		SEC(EIF_SECTION_METADATA, "{}"), SEC(EIF_SECTION_RAMDISK, "INIT"),
		SEC(EIF_SECTION_RAMDISK, "APP"), { EIF_SECTION_SIGNATURE, c->b, c->n },
	};

	return build(img, 4, 0, s, 6);
}

static struct cb sig;

START_TEST(test_signature)
{
	struct eif_info e;
	char why[256];
	size_t n;

	cb_signature(&sig, CERT, strlen(CERT));
	n = signed_image(&sig);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_assert(e.signed_image);
	ck_pcr(e.pcr8, PCR8_CERT);
	ck_pcr(e.pcr0, PCR0_V);
	ck_assert_uint_eq(e.nsections, 6);

	/* a second signature section */
	{
		const struct sec s[] = {
			SEC(EIF_SECTION_KERNEL, "x"),
			SEC(EIF_SECTION_CMDLINE, "c"),
			SEC(EIF_SECTION_RAMDISK, "r"),
			{ EIF_SECTION_SIGNATURE, sig.b, sig.n },
			{ EIF_SECTION_SIGNATURE, sig.b, sig.n },
		};

		n = build(img, 3, 0, s, 5);
		ck_refused(img, n, "second signature");
	}

	/* an element that is not a number: the certificate's first byte, '-'
	 * (0x18 0x2d after the array's 3-byte head at 22), made the text "-" */
	cb_signature(&sig, CERT, strlen(CERT));
	ck_assert_uint_eq(sig.b[25], 0x18);
	sig.b[25] = 0x61;
	n = signed_image(&sig);
	ck_refused(img, n, "byte 0 of the signing certificate is not a number 0..255");
	/* one over 255, a negative one */
	for (int k = 0; k < 2; k++) {
		struct cb c = { .n = 0 };

		cb_head(&c, 4, 1);
		cb_head(&c, 5, 1);
		cb_text(&c, "signing_certificate");
		cb_head(&c, 4, 2);
		cb_head(&c, 0, '-');
		cb_head(&c, k ? 1 : 0, k ? 0 : 300);
		n = signed_image(&c);
		ck_refused(img, n, "byte 1 of the signing certificate");
	}

	/* not PEM; PEM of something else; an empty list */
	cb_signature(&sig, "hello", 5);
	n = signed_image(&sig);
	ck_refused(img, n, "not a PEM certificate");
	{
		static const char key[] = "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";

		cb_signature(&sig, key, strlen(key));
		n = signed_image(&sig);
		ck_refused(img, n, "not a PEM certificate");
	}
	cb_signature(&sig, "", 0);
	n = signed_image(&sig);
	ck_refused(img, n, "no signing_certificate");

	/* the shape: not a list, an empty list, not a map, no or two
	 * certificates, a second entry that is not a map */
	{
		struct cb c = { .n = 0 };

		cb_head(&c, 5, 0);
		n = signed_image(&c);
		ck_refused(img, n, "not a list of signatures");
		c.n = 0;
		cb_head(&c, 4, 0);
		n = signed_image(&c);
		ck_refused(img, n, "not a list of signatures");
		c.n = 0;
		cb_head(&c, 4, 1);
		cb_head(&c, 0, 1);
		n = signed_image(&c);
		ck_refused(img, n, "signature 0 is not a map");
		c.n = 0;
		cb_head(&c, 4, 1);
		cb_head(&c, 5, 1);
		cb_text(&c, "signature");
		cb_u8s(&c, "x", 1);
		n = signed_image(&c);
		ck_refused(img, n, "no signing_certificate");
		c.n = 0;
		cb_head(&c, 4, 1);
		cb_head(&c, 5, 2);
		cb_text(&c, "signing_certificate");
		cb_u8s(&c, CERT, strlen(CERT));
		cb_text(&c, "signing_certificate");
		cb_u8s(&c, CERT, strlen(CERT));
		n = signed_image(&c);
		ck_refused(img, n, "no signing_certificate list (or two)");
	}
	cb_signature(&sig, CERT, strlen(CERT));
	sig.b[0] = 0x82; /* two entries: the second is the next byte... */
	sig.b[sig.n++] = 0x01;
	n = signed_image(&sig);
	ck_refused(img, n, "signature 1 is not a map");

	/* not CBOR: truncated, trailing bytes, nested too deep, empty */
	cb_signature(&sig, CERT, strlen(CERT));
	sig.n--;
	n = signed_image(&sig);
	ck_refused(img, n, "not one well-formed CBOR item");
	cb_signature(&sig, CERT, strlen(CERT));
	sig.b[sig.n++] = 0x00;
	n = signed_image(&sig);
	ck_refused(img, n, "not one well-formed CBOR item");
	sig.n = 0;
	for (int i = 0; i < 5000; i++)
		sig.b[sig.n++] = 0x81;
	sig.b[sig.n++] = 0x00;
	n = signed_image(&sig);
	ck_refused(img, n, "not one well-formed CBOR item");
	sig.n = 0;
	n = signed_image(&sig);
	ck_refused(img, n, "not one well-formed CBOR item");
	/* an array that claims more entries than the bytes could hold */
	sig.n = 0;
	cb_head(&sig, 4, UINT64_MAX);
	n = signed_image(&sig);
	ck_refused(img, n, "not one well-formed CBOR item");
}
END_TEST

START_TEST(test_signature_size)
{
	static unsigned char big[EIF_SIGNATURE_MAX + 1];
	struct eif_info e;
	char why[256];
	size_t n;

	/* the largest allowed: a valid signature padded with an unknown key */
	cb_signature(&sig, CERT, strlen(CERT));
	sig.b[1] = 0xa3;
	cb_text(&sig, "pad");
	cb_head(&sig, 2, EIF_SIGNATURE_MAX - sig.n - 3);
	memset(sig.b + sig.n, 0, EIF_SIGNATURE_MAX - sig.n);
	sig.n = EIF_SIGNATURE_MAX;
	n = signed_image(&sig);
	ck_assert_int_eq(measure(img, n, &e, why), 0);
	ck_pcr(e.pcr8, PCR8_CERT);

	/* one byte more: refused before it is read */
	{
		const struct sec s[] = {
			SEC(EIF_SECTION_KERNEL, "x"),
			SEC(EIF_SECTION_CMDLINE, "c"),
			SEC(EIF_SECTION_RAMDISK, "r"),
			{ EIF_SECTION_SIGNATURE, big, sizeof(big) },
		};

		n = build(img, 3, 0, s, 4);
		ck_refused(img, n, "the signature section holds 32769 bytes");
	}
}
END_TEST

/* --- reads --------------------------------------------------------------------- */

START_TEST(test_short_reads)
{
	struct eif_info e;
	char why[256];
	size_t n = vector(img);
	struct mem m = { .p = img, .n = n, .chunk = 1 };

	/* one byte at a time: the same image */
	ck_assert_int_eq(measure_mem(&m, &e, why), 0);
	ck_pcr(e.pcr0, PCR0_V);
	ck_pcr(e.pcr2, PCR2_V);
	m.chunk = 7;
	ck_assert_int_eq(measure_mem(&m, &e, why), 0);
	ck_pcr(e.pcr1, PCR1_V);

	/* the data ends before the size said (a file that shrank): -EIO, in
	 * the header, a section header, a section's data */
	for (uint64_t end = 1; end < n; end += 37) {
		m = (struct mem){ .p = img, .n = n, .end = end };
		ck_assert_int_eq(measure_mem(&m, &e, why), -EIO);
		ck_assert_msg(strstr(why, "the file ends at offset"), "%s", why);
	}

	/* a read that fails */
	m = (struct mem){ .p = img, .n = n, .fail_at = n - 2, .fail_err = -EIO };
	ck_assert_int_eq(measure_mem(&m, &e, why), -EIO);
	ck_assert_msg(strstr(why, "reading at offset"), "%s", why);
	m = (struct mem){ .p = img, .n = n, .fail_at = 10, .fail_err = -ENOMEM };
	ck_assert_int_eq(measure_mem(&m, &e, why), -ENOMEM);
}
END_TEST

START_TEST(test_fd)
{
	struct eif_info e;
	char why[256];
	size_t n = vector(img);
	int fd = memfd_create("check_eif", MFD_CLOEXEC), p[2];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, img, n), (ssize_t)n);
	ck_assert_int_eq(eif_measure(fd, &e, why, sizeof(why)), 0);
	ck_pcr(e.pcr0, PCR0_V);
	ck_assert_uint_eq(e.file_size, n);
	/* the file offset is not used */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), (off_t)n);
	ck_assert_int_eq(ftruncate(fd, (off_t)n - 1), 0);
	ck_assert_int_eq(eif_measure(fd, &e, why, sizeof(why)), -EBADMSG);
	close(fd);

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(eif_measure(p[0], &e, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "not a regular file");
	close(p[0]);
	close(p[1]);
	ck_assert_int_eq(eif_measure(p[0], &e, why, sizeof(why)), -EBADF);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("eif");
	TCase *tc = tcase_create("measure");

	tcase_add_test(tc, test_vector);
	tcase_add_test(tc, test_one_ramdisk_and_orders);
	tcase_add_test(tc, test_header);
	tcase_add_test(tc, test_section_count);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_signature);
	tcase_add_test(tc, test_signature_size);
	tcase_add_test(tc, test_short_reads);
	tcase_add_test(tc, test_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
