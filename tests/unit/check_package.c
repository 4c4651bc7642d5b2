/* Sealed packages and KEKs: RFC 5649 vectors, key files, round trips at
 * segment boundaries, and hostile packages: every byte flipped, every
 * truncation, appended garbage, wrong or re-wrapped keys, unknown providers,
 * reordered and spliced segments, and a table of malformed headers. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "enclave/kek.h"
#include "enclave/package.h"

#define SEG 4096u

static void unhex(const char *s, uint8_t *out, size_t *n)
{
	size_t len = strlen(s) / 2;

	for (size_t i = 0; i < len; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*n = len;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(RAND_bytes(p, (int)n), 1);
	return p;
}

static int memfd_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("pkg", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, p, n, 0), (ssize_t)n);
	return fd;
}

static uint8_t *fd_contents(int fd, size_t *n)
{
	struct stat st;
	uint8_t *p;

	ck_assert_int_eq(fstat(fd, &st), 0);
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
	*n = (size_t)st.st_size;
	return p;
}

/* Seals pt with writes of uneven sizes, so every buffering path runs. */
static uint8_t *seal(const uint8_t kek[KEK_LEN], uint32_t segment, const uint8_t *pt, size_t len,
		     size_t *pkglen)
{
	static const size_t steps[] = { 1, 7, 5000, 4096, 3, 9000, 1 << 20 };
	struct pkg_writer *w;
	char err[256] = "";
	size_t off = 0;
	uint8_t *pkg;
	int fd = memfd_create("pkg", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(pkg_writer_new(fd, kek, false, segment, &w, err, sizeof(err)) == 0, "%s",
		      err);
	for (size_t i = 0; off < len; i++) {
		size_t k = steps[i % 7] < len - off ? steps[i % 7] : len - off;
		ck_assert_int_eq(pkg_writer_write(w, pt + off, k), 0);
		off += k;
	}
	ck_assert_uint_eq(pkg_writer_bytes_in(w), len);
	ck_assert_int_eq(pkg_writer_finish(w), 0);
	pkg = fd_contents(fd, pkglen);
	close(fd);
	return pkg;
}

static struct key_provider *provider_with(const uint8_t kek[KEK_LEN])
{
	struct key_provider *kp = kek_provider_new();

	ck_assert_ptr_nonnull(kp);
	ck_assert_int_eq(kek_provider_add(kp, kek), 0);
	return kp;
}

/* Opens and reads a whole package from memory. Returns 0 or the first error;
 * *nok counts the segments returned before it; the plaintext goes to *out if
 * out is not NULL. */
static int unseal(const uint8_t *pkg, size_t len, struct key_provider *kp, uint8_t **out,
		  size_t *outlen, uint64_t *nok)
{
	struct pkg_reader *r;
	const uint8_t *p;
	size_t n, total = 0;
	uint8_t *acc = NULL;
	int fd = memfd_with(pkg, len), e;

	*nok = 0;
	e = pkg_reader_open(fd, kp, &r, NULL, 0);
	if (e < 0) {
		close(fd);
		return e;
	}
	/* Only the last segment can be empty, so n == 0 ends the package. */
	do {
		e = pkg_reader_next(r, &p, &n);
		if (e < 0) {
			/* Sticky: the reader never recovers. */
			ck_assert_int_eq(pkg_reader_next(r, &p, &n), e);
			ck_assert_str_ne(pkg_reader_errmsg(r), "");
			break;
		}
		if (out && n) {
			acc = realloc(acc, total + n);
			ck_assert_ptr_nonnull(acc);
			memcpy(acc + total, p, n);
		}
		total += n;
	} while (n > 0);
	*nok = pkg_reader_index(r);
	pkg_reader_free(r);
	close(fd);
	if (out) {
		*out = acc;
		*outlen = total;
	} else {
		free(acc);
	}
	return e;
}

static size_t header_end(const uint8_t *pkg, size_t len)
{
	struct pkg_header h;
	size_t off;

	ck_assert_int_eq(pkg_header_parse(pkg, len, &h, NULL, 0), 0);
	off = h.body_offset;
	pkg_header_release(&h);
	return off;
}

/* --- RFC 5649 and KEK files ------------------------------------------------------- */

START_TEST(test_rfc5649_vectors)
{
	static const struct {
		const char *key, *wrapped;
	} v[] = {
		{ "c37b7e6492584340bed12207808941155068f738",
		  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a" },
		{ "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f" },
	};
	uint8_t kek[32], key[64], want[64], out[64];
	size_t keklen, keylen, wantlen, outlen;

	unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek, &keklen);
	ck_assert_uint_eq(keklen, 24);
	for (size_t i = 0; i < 2; i++) {
		unhex(v[i].key, key, &keylen);
		unhex(v[i].wrapped, want, &wantlen);
		ck_assert_int_eq(aes_kwp_wrap(kek, keklen, key, keylen, out, &outlen), 0);
		ck_assert_uint_eq(outlen, wantlen);
		ck_assert_uint_eq(outlen, KEK_WRAP_LEN(keylen));
		ck_assert_mem_eq(out, want, wantlen);
		ck_assert_int_eq(aes_kwp_unwrap(kek, keklen, want, wantlen, out, &outlen), 0);
		ck_assert_uint_eq(outlen, keylen);
		ck_assert_mem_eq(out, key, keylen);
		/* Any flipped bit fails the integrity check. */
		for (size_t b = 0; b < wantlen; b++) {
			want[b] ^= 0x10;
			ck_assert_int_eq(aes_kwp_unwrap(kek, keklen, want, wantlen, out, &outlen),
					 -EKEYREJECTED);
			want[b] ^= 0x10;
		}
		kek[0] ^= 1;
		ck_assert_int_eq(aes_kwp_unwrap(kek, keklen, want, wantlen, out, &outlen),
				 -EKEYREJECTED);
		kek[0] ^= 1;
	}
	ck_assert_int_eq(aes_kwp_wrap(kek, 20, key, 8, out, &outlen), -EINVAL);
	ck_assert_int_eq(aes_kwp_wrap(kek, 24, key, 0, out, &outlen), -EINVAL);
	ck_assert_int_eq(aes_kwp_unwrap(kek, 24, want, 8, out, &outlen), -EINVAL);
	ck_assert_int_eq(aes_kwp_unwrap(kek, 24, want, 17, out, &outlen), -EINVAL);
}
END_TEST

START_TEST(test_kek_wrap_256)
{
	uint8_t kek[KEK_LEN], dek[32], out[KEK_WRAP_LEN(32)], back[KEK_WRAP_LEN(32)], want[64];
	size_t outlen, backlen, wantlen;
	char id[KEK_ID_LEN + 1];

	for (size_t i = 0; i < 32; i++) {
		kek[i] = (uint8_t)i;
		dek[i] = (uint8_t)(100 + i);
	}
	/* Both figures computed with Python's hashlib and cryptography keywrap. */
	kek_id(kek, id);
	ck_assert_str_eq(id, "04abb79e89ec9cf0");
	unhex("60ac7eeb2c4b430eaea26762c37533463d5c9cb23f4ef7e51941a15e66825d32ca7b123f22bdc4f4",
	      want, &wantlen);
	ck_assert_int_eq(kek_wrap(kek, dek, 32, out, &outlen), 0);
	ck_assert_uint_eq(outlen, 40);
	ck_assert_mem_eq(out, want, 40);
	ck_assert_int_eq(kek_unwrap(kek, out, outlen, back, &backlen), 0);
	ck_assert_uint_eq(backlen, 32);
	ck_assert_mem_eq(back, dek, 32);
	kek[31] ^= 0x80;
	ck_assert_int_eq(kek_unwrap(kek, out, outlen, back, &backlen), -EKEYREJECTED);
	kek_id(kek, id);
	ck_assert_str_ne(id, "04abb79e89ec9cf0");
}
END_TEST

static char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *t;

	ck_assert_int_gt(asprintf(&t, "%s/check_package.XXXXXX", base && *base ? base : "/tmp"), 0);
	ck_assert_ptr_nonnull(mkdtemp(t));
	return t;
}

static void write_text(const char *path, const char *s, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
	close(fd);
}

START_TEST(test_kek_file)
{
	static const char good[] =
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
		{ "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\n", 65 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 64 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", 66 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1 \n", 65 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f ", 65 },
		{ "0001020304050607\n", 17 },
		{ "", 0 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\0", 65 },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n", 65 },
	};
	char *dir = make_tmpdir(), path[PATH_MAX], text[80];
	uint8_t kek[KEK_LEN], back[KEK_LEN];
	struct stat st;
	bool loose = true;
	int fd;

	ck_assert_int_eq(kek_generate(kek), 0);
	snprintf(path, sizeof(path), "%s/k", dir);
	ck_assert_int_eq(kek_write_file(path, kek), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 65);
	ck_assert_int_eq(kek_read_file(path, back, &loose), 0);
	ck_assert_mem_eq(back, kek, KEK_LEN);
	ck_assert(!loose);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(read(fd, text, sizeof(text)), 65);
	close(fd);
	for (size_t i = 0; i < 64; i++)
		ck_assert(strchr("0123456789abcdef", text[i]) != NULL);
	/* Never overwrites, and leaves the old key intact. */
	ck_assert_int_eq(kek_write_file(path, back), -EEXIST);
	ck_assert_int_eq(kek_read_file(path, back, NULL), 0);
	ck_assert_mem_eq(back, kek, KEK_LEN);
	unlink(path);

	write_text(path, good, 65, 0644);
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(kek_read_file(path, back, &loose), 0);
	ck_assert(loose);
	for (size_t i = 0; i < 32; i++)
		ck_assert_uint_eq(back[i], i);
	unlink(path);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i].text, bad[i].len, 0600);
		ck_assert_msg(kek_read_file(path, back, NULL) == -EINVAL, "bad key file %zu", i);
		unlink(path);
	}
	ck_assert_int_eq(kek_read_file(path, back, NULL), -ENOENT);
	ck_assert_int_eq(kek_read_file(dir, back, NULL), -EINVAL);
	ck_assert_int_eq(rmdir(dir), 0);
	free(dir);
}
END_TEST

START_TEST(test_kek_provider)
{
	uint8_t a[KEK_LEN], b[KEK_LEN], dek[PKG_DEK_LEN], wrapped[40];
	struct pkg_key key = { .provider = "kek", .wrapped = wrapped, .wrapped_len = 40 };
	struct key_provider *kp = kek_provider_new();
	uint8_t want[PKG_DEK_LEN];
	char err[256];
	size_t n;

	ck_assert_ptr_nonnull(kp);
	ck_assert_str_eq(kp->name, "kek");
	ck_assert_int_eq(kek_generate(a), 0);
	ck_assert_int_eq(kek_generate(b), 0);
	ck_assert_int_eq(kek_generate(want), 0);
	ck_assert_int_eq(kek_wrap(b, want, 32, wrapped, &n), 0);
	kek_id(b, key.id);

	ck_assert_int_eq(kp->unwrap(kp, &key, dek, err, sizeof(err)), -ENOKEY);
	ck_assert_ptr_nonnull(strstr(err, key.id));
	ck_assert_int_eq(kek_provider_add(kp, a), 0);
	ck_assert_int_eq(kek_provider_add(kp, a), 0);
	ck_assert_int_eq(kp->unwrap(kp, &key, dek, NULL, 0), -ENOKEY);
	ck_assert_int_eq(kek_provider_add(kp, b), 0);
	ck_assert_int_eq(kp->unwrap(kp, &key, dek, NULL, 0), 0);
	ck_assert_mem_eq(dek, want, 32);

	wrapped[5] ^= 1;
	ck_assert_int_eq(kp->unwrap(kp, &key, dek, err, sizeof(err)), -EKEYREJECTED);
	wrapped[5] ^= 1;
	key.wrapped_len = 32;
	ck_assert_int_eq(kp->unwrap(kp, &key, dek, NULL, 0), -EKEYREJECTED);
	key.wrapped_len = 40;
	strcpy(key.provider, "kms");
	ck_assert_int_eq(kp->unwrap(kp, &key, dek, NULL, 0), -EPROTONOSUPPORT);
	key_provider_free(kp);
	key_provider_free(NULL);
}
END_TEST

/* --- round trips ---------------------------------------------------------------- */

static void roundtrip(uint32_t segment, size_t len)
{
	uint8_t kek[KEK_LEN], *pt = random_bytes(len), *pkg, *out;
	struct key_provider *kp;
	size_t pkglen, outlen, body, nseg;
	uint64_t nok;

	ck_assert_int_eq(kek_generate(kek), 0);
	pkg = seal(kek, segment, pt, len, &pkglen);
	body = header_end(pkg, pkglen);
	if (segment == 0)
		segment = PKG_SEGMENT_DEFAULT;
	nseg = len == 0 ? 1 : (len + segment - 1) / segment;
	ck_assert_uint_eq(pkglen, body + len + nseg * PKG_TAG_LEN);
	kp = provider_with(kek);
	ck_assert_int_eq(unseal(pkg, pkglen, kp, &out, &outlen, &nok), 0);
	ck_assert_uint_eq(nok, nseg);
	ck_assert_uint_eq(outlen, len);
	if (len)
		ck_assert_mem_eq(out, pt, len);
	key_provider_free(kp);
	free(out);
	free(pkg);
	free(pt);
}

static const size_t rt_sizes[] = { 0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 5, 4 * SEG };

START_TEST(test_roundtrip_sizes)
{
	roundtrip(SEG, rt_sizes[_i]);
}
END_TEST

/* Reads r (open on fd) to its end: the file digest is then want. Frees r
 * and closes fd. */
static void drain_digest(struct pkg_reader *r, int fd, const uint8_t want[32])
{
	const uint8_t *p;
	uint8_t got[32];
	size_t n;

	do
		ck_assert_int_eq(pkg_reader_next(r, &p, &n), 0);
	while (n);
	ck_assert_int_eq(pkg_reader_file_digest(r, got), 0);
	ck_assert_mem_eq(got, want, 32);
	pkg_reader_free(r);
	close(fd);
}

/* The reader's one-pass digest is the SHA-256 of the whole sealed file,
 * and only once every segment has been read. */
START_TEST(test_file_digest)
{
	uint8_t kek[KEK_LEN], want[32], got[32], *pt, *pkg;
	struct key_provider *kp;
	struct pkg_reader *r;
	size_t pkglen, len = 3 * 4096 + 5;
	int fd;

	ck_assert_int_eq(kek_generate(kek), 0);
	pt = malloc(len);
	ck_assert_ptr_nonnull(pt);
	for (size_t i = 0; i < len; i++)
		pt[i] = (uint8_t)(i * 31 + 7);
	pkg = seal(kek, 4096, pt, len, &pkglen);
	ck_assert_int_eq(EVP_Digest(pkg, pkglen, want, NULL, EVP_sha256(), NULL), 1);
	kp = provider_with(kek);
	fd = memfd_with(pkg, pkglen);
	ck_assert_int_eq(pkg_reader_open(fd, kp, &r, NULL, 0), 0);
	ck_assert_int_eq(pkg_reader_file_digest(r, got), -EAGAIN);
	drain_digest(r, fd, want);
	kp->free(kp);
	free(pkg);
	free(pt);
}
END_TEST

START_TEST(test_roundtrip_5mib)
{
	roundtrip(0, 5u << 20);
	roundtrip(0, (5u << 20) + 3);
}
END_TEST

START_TEST(test_header_fields)
{
	uint8_t kek[KEK_LEN], *pkg, md[32];
	struct pkg_header h;
	struct pkg_reader *r;
	char id[KEK_ID_LEN + 1], err[256];
	struct key_provider *kp;
	struct pkg_writer *w;
	size_t len;
	int fd;

	ck_assert_int_eq(kek_generate(kek), 0);
	kek_id(kek, id);
	fd = memfd_create("pkg", MFD_CLOEXEC);
	ck_assert_int_eq(pkg_writer_new(fd, kek, true, 1u << 16, &w, err, sizeof(err)), 0);
	ck_assert_int_eq(pkg_writer_write(w, "hello", 5), 0);
	ck_assert_int_eq(pkg_writer_finish(w), 0);
	pkg = fd_contents(fd, &len);
	ck_assert_mem_eq(pkg, "EFSPKG\0\1", 8);
	ck_assert_int_eq(pkg_header_parse(pkg, len, &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.format, 1);
	ck_assert_uint_eq(h.segment, 1u << 16);
	ck_assert_str_eq(h.key.provider, "kek");
	ck_assert_str_eq(h.key.id, id);
	ck_assert_uint_eq(h.key.wrapped_len, 40);
	ck_assert_ptr_null(h.key.context_json);
	ck_assert(h.zstd);
	ck_assert_uint_eq(strlen(h.created), 20);
	ck_assert_uint_eq(h.header_len,
			  pkg[8] | pkg[9] << 8 | pkg[10] << 16 | (size_t)pkg[11] << 24);
	ck_assert_uint_eq(h.body_offset, 12 + h.header_len);
	ck_assert_uint_eq(len, h.body_offset + 5 + 16);
	ck_assert_int_eq(EVP_Digest(pkg + 12, h.header_len, md, NULL, EVP_sha256(), NULL), 1);
	ck_assert_mem_eq(h.digest, md, 32);
	ck_assert_ptr_nonnull(memmem(pkg + 12, h.header_len, "\"aead\":\"AES-256-GCM\"", 20));
	ck_assert_ptr_nonnull(memmem(pkg + 12, h.header_len, "\"compression\":\"zstd\"", 20));

	kp = provider_with(kek);
	ck_assert_int_eq(pkg_reader_open(fd, kp, &r, err, sizeof(err)), 0);
	ck_assert_mem_eq(pkg_reader_header(r)->digest, md, 32);
	ck_assert_mem_eq(pkg_reader_header(r)->nonce, h.nonce, 8);
	ck_assert_uint_eq(pkg_reader_segments(r), 1);
	pkg_reader_free(r);
	pkg_header_release(&h);
	pkg_header_release(&h);
	key_provider_free(kp);
	free(pkg);
	close(fd);
}
END_TEST

START_TEST(test_writer_errors)
{
	uint8_t kek[KEK_LEN] = { 0 };
	struct pkg_writer *w = (void *)1;
	char err[256];
	int fd;

	ck_assert_int_eq(pkg_writer_new(1, kek, false, 2048, &w, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(pkg_writer_new(1, kek, false, 3 * 4096, &w, NULL, 0), -EINVAL);
	ck_assert_int_eq(pkg_writer_new(1, kek, false, 32u << 20, &w, NULL, 0), -EINVAL);
	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_eq(pkg_writer_new(fd, kek, false, 0, &w, err, sizeof(err)), -EBADF);
	ck_assert_ptr_null(w);
	close(fd);

	/* A failed segment write is sticky. */
	fd = memfd_create("pkg", MFD_CLOEXEC);
	ck_assert_int_eq(pkg_writer_new(fd, kek, false, SEG, &w, NULL, 0), 0);
	{
		uint8_t buf[SEG + 1] = { 0 };
		int rfd = open("/dev/null", O_RDONLY);
		ck_assert_int_eq(dup2(rfd, fd), fd);
		close(rfd);
		ck_assert_int_eq(pkg_writer_write(w, buf, sizeof(buf)), -EBADF);
		ck_assert_int_eq(pkg_writer_write(w, buf, 1), -EBADF);
		ck_assert_int_eq(pkg_writer_finish(w), -EBADF);
	}
	close(fd);
	pkg_writer_abort(NULL);
}
END_TEST

/* --- hostile packages ------------------------------------------------------------- */

struct fixture {
	uint8_t kek[KEK_LEN];
	uint8_t *pt, *pkg;
	size_t ptlen, len, body;
	struct key_provider *kp;
};

static void fixture_init(struct fixture *f, size_t ptlen)
{
	ck_assert_int_eq(kek_generate(f->kek), 0);
	f->ptlen = ptlen;
	f->pt = random_bytes(ptlen);
	f->pkg = seal(f->kek, SEG, f->pt, ptlen, &f->len);
	f->body = header_end(f->pkg, f->len);
	f->kp = provider_with(f->kek);
}

static void fixture_release(struct fixture *f)
{
	key_provider_free(f->kp);
	free(f->pt);
	free(f->pkg);
}

START_TEST(test_flip_every_byte)
{
	static const uint8_t masks[] = { 0x01, 0x20, 0x80 };
	struct fixture f;
	uint64_t nok;
	int e;

	fixture_init(&f, 2 * SEG + 5);
	for (size_t i = 0; i < f.len; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			uint8_t x = masks[m];

			f.pkg[i] ^= x;
			e = unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok);
			f.pkg[i] ^= x;
			if (i < 8) {
				ck_assert_int_eq(e, -ENOEXEC);
			} else if (i < 12) {
				ck_assert_int_eq(e, -EINVAL);
			} else if (i < f.body) {
				/* Whatever the field, the header's digest is in every AAD. */
				ck_assert_msg(e == -EINVAL || e == -EPROTONOSUPPORT ||
						      e == -ENOKEY || e == -EKEYREJECTED ||
						      e == -EBADMSG,
					      "byte %zu mask %#x: %d", i, x, e);
				ck_assert_uint_eq(nok, 0);
			} else {
				ck_assert_msg(e == -EBADMSG, "byte %zu mask %#x: %d", i, x, e);
				ck_assert_uint_eq(nok, (i - f.body) / (SEG + PKG_TAG_LEN));
			}
		}
	}
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), 0);
	ck_assert_uint_eq(nok, 3);
	fixture_release(&f);
}
END_TEST

START_TEST(test_truncate_every_length)
{
	struct fixture f;
	uint64_t nok;
	int e;

	fixture_init(&f, 2 * SEG + 5);
	for (size_t cut = 0; cut < f.len; cut++) {
		e = unseal(f.pkg, cut, f.kp, NULL, NULL, &nok);
		if (cut < 8)
			ck_assert_int_eq(e, -ENOEXEC);
		else if (cut < f.body)
			ck_assert_int_eq(e, -EINVAL);
		else
			ck_assert_msg(e == -EBADMSG, "cut at %zu: %d", cut, e);
	}
	/* Cut exactly after a whole segment: the now-last segment was not sealed as last. */
	e = unseal(f.pkg, f.body + 2 * (SEG + PKG_TAG_LEN), f.kp, NULL, NULL, &nok);
	ck_assert_int_eq(e, -EBADMSG);
	ck_assert_uint_eq(nok, 1);
	fixture_release(&f);
}
END_TEST

START_TEST(test_append_garbage)
{
	static const size_t extra[] = { 1, 15, 16, 17, SEG + 15, SEG + 16, SEG + 17, 3 * SEG };
	struct fixture f;
	uint8_t *big;
	uint64_t nok;
	size_t lastlen = 5 + PKG_TAG_LEN;

	fixture_init(&f, 2 * SEG + 5);
	big = malloc(f.len + 4 * SEG);
	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		memcpy(big, f.pkg, f.len);
		ck_assert_int_eq(RAND_bytes(big + f.len, (int)extra[i]), 1);
		ck_assert_int_eq(unseal(big, f.len + extra[i], f.kp, NULL, NULL, &nok), -EBADMSG);
		memset(big + f.len, 0, extra[i]);
		ck_assert_int_eq(unseal(big, f.len + extra[i], f.kp, NULL, NULL, &nok), -EBADMSG);
	}
	/* The last segment repeated. */
	memcpy(big, f.pkg, f.len);
	memcpy(big + f.len, f.pkg + f.len - lastlen, lastlen);
	ck_assert_int_eq(unseal(big, f.len + lastlen, f.kp, NULL, NULL, &nok), -EBADMSG);
	free(big);
	fixture_release(&f);
}
END_TEST

START_TEST(test_changed_while_reading)
{
	struct fixture f;
	struct pkg_reader *r;
	const uint8_t *p;
	size_t n;
	int fd;

	fixture_init(&f, SEG + 5);
	fd = memfd_with(f.pkg, f.len);
	ck_assert_int_eq(pkg_reader_open(fd, f.kp, &r, NULL, 0), 0);
	ck_assert_int_eq(pkg_reader_next(r, &p, &n), 0);
	ck_assert_uint_eq(n, SEG);
	ck_assert_int_eq(pwrite(fd, "x", 1, (off_t)f.len), 1);
	ck_assert_int_eq(pkg_reader_next(r, &p, &n), -EBADMSG);
	ck_assert_ptr_null(p);
	pkg_reader_free(r);
	close(fd);
	fixture_release(&f);
}
END_TEST

/* The reader's hasher works through a ring of a few sealed segments: in a
 * package many times longer than the ring, a failure anywhere still comes
 * after exactly the segments before it, whose plaintext is intact, and the
 * digest of a whole package is the SHA-256 of the file. */
#define LONG_SEGS 40

static size_t seg_off(const struct fixture *f, size_t i)
{
	return f->body + i * (SEG + PKG_TAG_LEN);
}

START_TEST(test_ring_tamper)
{
	static const size_t segs[] = { 0, 1, 2, 3, 4, 5, 8, 17, LONG_SEGS - 1, LONG_SEGS };
	struct fixture f;
	struct pkg_reader *r;
	uint8_t *out, want[32];
	size_t outlen;
	uint64_t nok;
	int fd;

	fixture_init(&f, LONG_SEGS * SEG + 5);
	ck_assert_int_eq(EVP_Digest(f.pkg, f.len, want, NULL, EVP_sha256(), NULL), 1);
	fd = memfd_with(f.pkg, f.len);
	ck_assert_int_eq(pkg_reader_open(fd, f.kp, &r, NULL, 0), 0);
	drain_digest(r, fd, want);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, &out, &outlen, &nok), 0);
	ck_assert_uint_eq(nok, LONG_SEGS + 1);
	ck_assert_uint_eq(outlen, f.ptlen);
	ck_assert_mem_eq(out, f.pt, f.ptlen);
	free(out);
	for (size_t k = 0; k < sizeof(segs) / sizeof(segs[0]); k++) {
		/* A byte of the ciphertext, then a byte of the tag. */
		size_t at[2] = { seg_off(&f, segs[k]) + 2, seg_off(&f, segs[k]) +
								(segs[k] == LONG_SEGS ? 5 : SEG) + 3 };

		for (size_t j = 0; j < 2; j++) {
			f.pkg[at[j]] ^= 0x10;
			ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, &out, &outlen, &nok), -EBADMSG);
			f.pkg[at[j]] ^= 0x10;
			ck_assert_uint_eq(nok, segs[k]);
			ck_assert_uint_eq(outlen, segs[k] * SEG);
			if (outlen)
				ck_assert_mem_eq(out, f.pt, outlen);
			free(out);
		}
	}
	fixture_release(&f);
}
END_TEST

/* Cut after open: the segments before the cut come out, intact, then the
 * package fails, and it has no digest. */
START_TEST(test_ring_shrinks)
{
	static const size_t cuts[] = { 0, 1, 3, 20, LONG_SEGS - 1, LONG_SEGS };
	struct fixture f;
	struct pkg_reader *r;
	const uint8_t *p;
	size_t n, total;
	int fd, e;

	fixture_init(&f, LONG_SEGS * SEG + 5);
	for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
		fd = memfd_with(f.pkg, f.len);
		ck_assert_int_eq(pkg_reader_open(fd, f.kp, &r, NULL, 0), 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)seg_off(&f, cuts[k]) + 7), 0);
		total = 0;
		do {
			e = pkg_reader_next(r, &p, &n);
			if (e == 0 && n) {
				ck_assert_mem_eq(p, f.pt + total, n);
				total += n;
			}
		} while (e == 0 && n);
		ck_assert_int_eq(e, -EBADMSG);
		ck_assert_str_ne(pkg_reader_errmsg(r), "");
		ck_assert_uint_eq(pkg_reader_index(r), cuts[k]);
		ck_assert_uint_eq(total, cuts[k] * SEG);
		ck_assert_int_eq(pkg_reader_file_digest(r, (uint8_t[32]){ 0 }), -EAGAIN);
		pkg_reader_free(r);
		close(fd);
	}
	fixture_release(&f);
}
END_TEST

/* Freed at any point, with its hasher waiting for a segment, behind, or
 * done, and after an error: the reader returns. */
START_TEST(test_ring_free)
{
	static const size_t reads[] = { 0, 1, 2, 7, LONG_SEGS + 1 };
	struct fixture f;
	struct pkg_reader *r;
	const uint8_t *p;
	size_t n;
	int fd;

	fixture_init(&f, LONG_SEGS * SEG + 5);
	fd = memfd_with(f.pkg, f.len);
	for (size_t k = 0; k < sizeof(reads) / sizeof(reads[0]); k++) {
		ck_assert_int_eq(pkg_reader_open(fd, f.kp, &r, NULL, 0), 0);
		for (size_t i = 0; i < reads[k]; i++)
			ck_assert_int_eq(pkg_reader_next(r, &p, &n), 0);
		pkg_reader_free(r);
	}
	f.pkg[seg_off(&f, 3) + 1] ^= 1;
	close(fd);
	fd = memfd_with(f.pkg, f.len);
	ck_assert_int_eq(pkg_reader_open(fd, f.kp, &r, NULL, 0), 0);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(pkg_reader_next(r, &p, &n), 0);
	ck_assert_int_eq(pkg_reader_next(r, &p, &n), -EBADMSG);
	pkg_reader_free(r);
	close(fd);
	fixture_release(&f);
}
END_TEST

START_TEST(test_wrong_kek)
{
	struct fixture f;
	uint8_t other[KEK_LEN];
	struct key_provider *kp;
	char err[256];
	struct pkg_reader *r;
	uint64_t nok;
	int fd;

	fixture_init(&f, 100);
	ck_assert_int_eq(kek_generate(other), 0);
	kp = provider_with(other);
	ck_assert_int_eq(unseal(f.pkg, f.len, kp, NULL, NULL, &nok), -ENOKEY);
	fd = memfd_with(f.pkg, f.len);
	ck_assert_int_eq(pkg_reader_open(fd, kp, &r, err, sizeof(err)), -ENOKEY);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(err, "no key-encryption key"));
	close(fd);
	/* With both loaded, the header's id picks the right one. */
	ck_assert_int_eq(kek_provider_add(kp, f.kek), 0);
	ck_assert_int_eq(unseal(f.pkg, f.len, kp, NULL, NULL, &nok), 0);
	key_provider_free(kp);
	fixture_release(&f);
}
END_TEST

/* Replaces the base64 "wrapped" value in the header (same length). */
static void rewrap(uint8_t *pkg, size_t body, const uint8_t kek[KEK_LEN])
{
	uint8_t dek[32], wrapped[40];
	char b64[64];
	size_t n;
	uint8_t *at = memmem(pkg, body, "\"wrapped\":\"", 11);

	ck_assert_ptr_nonnull(at);
	ck_assert_int_eq(RAND_bytes(dek, 32), 1);
	ck_assert_int_eq(kek_wrap(kek, dek, 32, wrapped, &n), 0);
	ck_assert_int_eq(EVP_EncodeBlock((unsigned char *)b64, wrapped, 40), 56);
	ck_assert_int_eq(at[11 + 56], '"');
	memcpy(at + 11, b64, 56);
}

START_TEST(test_rewrapped_key)
{
	struct fixture f;
	uint8_t other[KEK_LEN];
	uint64_t nok;

	fixture_init(&f, SEG + 1);
	/* The id still names the reader's KEK; the wrap is another KEK's. */
	ck_assert_int_eq(kek_generate(other), 0);
	rewrap(f.pkg, f.body, other);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), -EKEYREJECTED);
	/* A valid wrap of another DEK under the right KEK: the segments fail. */
	rewrap(f.pkg, f.body, f.kek);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 0);
	fixture_release(&f);
}
END_TEST

/* A stand-in "kms" provider that knows the DEK and checks what it is given. */
struct fake_kms {
	struct key_provider kp;
	uint8_t dek[PKG_DEK_LEN];
	int calls;
};

static int fake_kms_unwrap(struct key_provider *kp, const struct pkg_key *key,
			   uint8_t dek[static PKG_DEK_LEN], char *err, size_t errsz)
{
	struct fake_kms *k = (struct fake_kms *)kp;

	k->calls++;
	ck_assert_str_eq(key->provider, "kms");
	ck_assert_str_eq(key->id, "arn:aws:kms:eu-west-1:111122223333:key/1234abcd");
	ck_assert_uint_eq(key->wrapped_len, 3);
	ck_assert_mem_eq(key->wrapped, "\x01\x02\x03", 3);
	ck_assert_str_eq(key->context_json, "{\"app\":\"iris\",\"owner\":\"me\"}");
	memcpy(dek, k->dek, PKG_DEK_LEN);
	return 0;
}

static void fake_kms_free(struct key_provider *kp)
{
	(void)kp;
}

START_TEST(test_providers)
{
	struct fake_kms kms = { .kp = { "kms", fake_kms_unwrap, fake_kms_free } };
	struct pkg_key key = { .provider = "kms",
			       .id = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd",
			       .wrapped = (uint8_t *)"\x01\x02\x03",
			       .wrapped_len = 3,
			       .context_json = "{\"owner\":\"me\",\"app\":\"iris\"}" };
	struct key_provider *kek = kek_provider_new();
	uint8_t kekbytes[KEK_LEN], *pkg, *out, *at;
	struct pkg_writer *w;
	struct pkg_header h;
	struct pkg_reader *r;
	char err[256];
	size_t len, outlen;
	uint64_t nok;
	int fd;

	ck_assert_int_eq(kek_generate(kekbytes), 0);
	ck_assert_int_eq(kek_provider_add(kek, kekbytes), 0);
	ck_assert_int_eq(RAND_bytes(kms.dek, 32), 1);
	fd = memfd_create("pkg", MFD_CLOEXEC);
	ck_assert_int_eq(pkg_writer_new_key(fd, &key, kms.dek, false, SEG, &w, err, sizeof(err)),
			 0);
	ck_assert_int_eq(pkg_writer_write(w, "kms sealed", 10), 0);
	ck_assert_int_eq(pkg_writer_finish(w), 0);
	pkg = fd_contents(fd, &len);
	close(fd);

	ck_assert_int_eq(pkg_header_parse(pkg, len, &h, err, sizeof(err)), 0);
	ck_assert_str_eq(h.key.provider, "kms");
	ck_assert_str_eq(h.key.context_json, "{\"app\":\"iris\",\"owner\":\"me\"}");
	pkg_header_release(&h);

	/* The kek provider refuses a kms package, before and inside unwrap. */
	ck_assert_int_eq(unseal(pkg, len, kek, NULL, NULL, &nok), -EPROTONOSUPPORT);
	ck_assert_int_eq(kms.calls, 0);
	ck_assert_int_eq(unseal(pkg, len, &kms.kp, &out, &outlen, &nok), 0);
	ck_assert_int_eq(kms.calls, 1);
	ck_assert_uint_eq(outlen, 10);
	ck_assert_mem_eq(out, "kms sealed", 10);
	free(out);

	/* An unknown provider name is refused by the parser itself. */
	at = memmem(pkg, len, "\"provider\":\"kms\"", 16);
	ck_assert_ptr_nonnull(at);
	memcpy(at + 12, "xyz", 3);
	fd = memfd_with(pkg, len);
	ck_assert_int_eq(pkg_reader_open(fd, &kms.kp, &r, err, sizeof(err)), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err, "xyz"));
	close(fd);
	memcpy(at + 12, "kms", 3);

	at = memmem(pkg, len, "AES-256-GCM", 11);
	ck_assert_ptr_nonnull(at);
	at[4] = '1';
	ck_assert_int_eq(unseal(pkg, len, &kms.kp, NULL, NULL, &nok), -EPROTONOSUPPORT);
	ck_assert_int_eq(kms.calls, 1);

	key_provider_free(kek);
	free(pkg);
}
END_TEST

static void swap(uint8_t *a, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

START_TEST(test_reorder_and_splice)
{
	const size_t full = SEG + PKG_TAG_LEN;
	struct fixture f;
	uint8_t *other, *pkg2;
	size_t len2;
	uint64_t nok;

	fixture_init(&f, 3 * SEG + 5);
	swap(f.pkg + f.body, f.pkg + f.body + full, full);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 0);
	swap(f.pkg + f.body, f.pkg + f.body + full, full);
	swap(f.pkg + f.body + full, f.pkg + f.body + 2 * full, full);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 1);
	swap(f.pkg + f.body + full, f.pkg + f.body + 2 * full, full);
	ck_assert_int_eq(unseal(f.pkg, f.len, f.kp, NULL, NULL, &nok), 0);

	/* Another package of the same plaintext under the same KEK. */
	pkg2 = seal(f.kek, SEG, f.pt, f.ptlen, &len2);
	ck_assert_uint_eq(len2, f.len);
	other = malloc(f.len);
	ck_assert_ptr_nonnull(other);
	memcpy(other, f.pkg, f.len);
	memcpy(other + f.body + full, pkg2 + f.body + full, full);
	ck_assert_int_eq(unseal(other, f.len, f.kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 1);
	/* Its header with our body. */
	memcpy(other, pkg2, f.body);
	memcpy(other + f.body, f.pkg + f.body, f.len - f.body);
	ck_assert_int_eq(unseal(other, f.len, f.kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 0);
	free(other);
	free(pkg2);
	fixture_release(&f);
}
END_TEST

/* --- conformance: segments built and checked from doc/PACKAGE.md alone ----------- */

static void spec_iv(const uint8_t prefix[8], const uint8_t digest[32], uint32_t i, bool last,
		    uint8_t nonce[12], uint8_t aad[37])
{
	memcpy(nonce, prefix, 8);
	nonce[8] = (uint8_t)(i >> 24);
	nonce[9] = (uint8_t)(i >> 16);
	nonce[10] = (uint8_t)(i >> 8);
	nonce[11] = (uint8_t)i;
	memcpy(aad, digest, 32);
	memcpy(aad + 32, nonce + 8, 4);
	aad[36] = last;
}

/* Builds a kek package by hand: pieces[i] plaintext bytes per segment, the
 * last flag set on the segments marked in last[]. */
static uint8_t *spec_seal(const uint8_t kek[KEK_LEN], const uint8_t dek[32], const uint8_t *pt,
			  const size_t *pieces, const bool *last, size_t nseg, size_t *outlen)
{
	uint8_t wrapped[40], prefix[8], digest[32], nonce[12], aad[37], *pkg;
	char id[KEK_ID_LEN + 1], w64[64], n64[16], json[512];
	size_t wlen, off, total = 0;
	int jlen, outl;

	for (size_t i = 0; i < nseg; i++)
		total += pieces[i] + 16;
	kek_id(kek, id);
	ck_assert_int_eq(kek_wrap(kek, dek, 32, wrapped, &wlen), 0);
	ck_assert_int_eq(RAND_bytes(prefix, 8), 1);
	EVP_EncodeBlock((unsigned char *)w64, wrapped, 40);
	EVP_EncodeBlock((unsigned char *)n64, prefix, 8);
	jlen = snprintf(json, sizeof(json),
			"{\"format\":1,\"key\":{\"provider\":\"kek\",\"id\":\"%s\","
			"\"wrapped\":\"%s\"},"
			"\"aead\":\"AES-256-GCM\",\"segment\":%u,\"nonce\":\"%s\","
			"\"compression\":\"none\",\"created\":\"2026-11-22T12:00:00Z\"}",
			id, w64, SEG, n64);
	ck_assert_int_lt(jlen, (int)sizeof(json));
	ck_assert_int_eq(EVP_Digest(json, (size_t)jlen, digest, NULL, EVP_sha256(), NULL), 1);
	pkg = malloc(12 + (size_t)jlen + total);
	ck_assert_ptr_nonnull(pkg);
	memcpy(pkg, "EFSPKG\0\1", 8);
	pkg[8] = (uint8_t)jlen;
	pkg[9] = (uint8_t)(jlen >> 8);
	pkg[10] = pkg[11] = 0;
	memcpy(pkg + 12, json, (size_t)jlen);
	off = 12 + (size_t)jlen;
	for (size_t i = 0; i < nseg; i++) {
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

		spec_iv(prefix, digest, (uint32_t)i, last[i], nonce, aad);
		ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, dek, nonce), 1);
		ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &outl, aad, 37), 1);
		ck_assert_int_eq(EVP_EncryptUpdate(c, pkg + off, &outl, pt, (int)pieces[i]), 1);
		ck_assert_int_eq(EVP_EncryptFinal_ex(c, pkg + off + pieces[i], &outl), 1);
		ck_assert_int_eq(
			EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkg + off + pieces[i]), 1);
		EVP_CIPHER_CTX_free(c);
		pt += pieces[i];
		off += pieces[i] + 16;
	}
	*outlen = off;
	return pkg;
}

START_TEST(test_spec_reader)
{
	static const size_t good[] = { SEG, SEG, SEG, 5 };
	static const bool good_last[] = { 0, 0, 0, 1 };
	static const size_t empty_tail[] = { SEG, 0 };
	static const bool empty_tail_last[] = { 0, 1 };
	static const bool one_last[] = { 1 }, no_last[] = { 0 }, two_last[] = { 1, 1 };
	static const size_t one_seg[] = { SEG }, zero[] = { 0 }, two[] = { SEG, SEG };
	uint8_t kek[KEK_LEN], dek[32], *pt = random_bytes(3 * SEG + 5), *pkg, *out;
	struct key_provider *kp;
	size_t len, outlen;
	uint64_t nok;

	ck_assert_int_eq(kek_generate(kek), 0);
	ck_assert_int_eq(kek_generate(dek), 0);
	kp = provider_with(kek);

	pkg = spec_seal(kek, dek, pt, good, good_last, 4, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, &out, &outlen, &nok), 0);
	ck_assert_uint_eq(outlen, 3 * SEG + 5);
	ck_assert_mem_eq(out, pt, outlen);
	free(out);
	free(pkg);

	pkg = spec_seal(kek, dek, pt, one_seg, one_last, 1, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, NULL, NULL, &nok), 0);
	free(pkg);
	pkg = spec_seal(kek, dek, pt, zero, one_last, 1, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, &out, &outlen, &nok), 0);
	ck_assert_uint_eq(outlen, 0);
	free(out);
	free(pkg);

	/* A full segment then an empty last one: not the canonical layout. */
	pkg = spec_seal(kek, dek, pt, empty_tail, empty_tail_last, 2, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, NULL, NULL, &nok), -EBADMSG);
	free(pkg);
	/* No segment marked last, or the last flag on a middle segment. */
	pkg = spec_seal(kek, dek, pt, one_seg, no_last, 1, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, NULL, NULL, &nok), -EBADMSG);
	free(pkg);
	pkg = spec_seal(kek, dek, pt, two, two_last, 2, &len);
	ck_assert_int_eq(unseal(pkg, len, kp, NULL, NULL, &nok), -EBADMSG);
	ck_assert_uint_eq(nok, 0);
	free(pkg);
	key_provider_free(kp);
	free(pt);
}
END_TEST

START_TEST(test_spec_writer)
{
	struct pkg_key key = { .provider = "kek", .id = "0123456789abcdef" };
	uint8_t dek[32], wrapped[40], kek[KEK_LEN] = { 1 }, *pt = random_bytes(2 * SEG + 9), *pkg;
	uint8_t nonce[12], aad[37], plain[SEG];
	struct pkg_header h;
	struct pkg_writer *w;
	size_t len, off;
	int fd = memfd_create("pkg", MFD_CLOEXEC), outl;

	ck_assert_int_eq(RAND_bytes(dek, 32), 1);
	ck_assert_int_eq(kek_wrap(kek, dek, 32, wrapped, &key.wrapped_len), 0);
	key.wrapped = wrapped;
	ck_assert_int_eq(pkg_writer_new_key(fd, &key, dek, false, SEG, &w, NULL, 0), 0);
	ck_assert_int_eq(pkg_writer_write(w, pt, 2 * SEG + 9), 0);
	ck_assert_int_eq(pkg_writer_finish(w), 0);
	pkg = fd_contents(fd, &len);
	close(fd);
	ck_assert_int_eq(pkg_header_parse(pkg, len, &h, NULL, 0), 0);
	ck_assert_uint_eq(len, h.body_offset + 2 * SEG + 9 + 3 * 16);
	off = h.body_offset;
	for (uint32_t i = 0; i < 3; i++) {
		size_t n = i < 2 ? SEG : 9;
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

		spec_iv(h.nonce, h.digest, i, i == 2, nonce, aad);
		ck_assert_int_eq(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, dek, nonce), 1);
		ck_assert_int_eq(EVP_DecryptUpdate(c, NULL, &outl, aad, 37), 1);
		ck_assert_int_eq(EVP_DecryptUpdate(c, plain, &outl, pkg + off, (int)n), 1);
		ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, pkg + off + n),
				 1);
		ck_assert_int_eq(EVP_DecryptFinal_ex(c, plain + n, &outl), 1);
		ck_assert_mem_eq(plain, pt + i * SEG, n);
		EVP_CIPHER_CTX_free(c);
		off += n + 16;
	}
	pkg_header_release(&h);
	free(pkg);
	free(pt);
}
END_TEST

/* --- the header parser ------------------------------------------------------------ */

#define W40 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
#define KEK_KEY "{\"provider\":\"kek\",\"id\":\"0123456789abcdef\",\"wrapped\":\"" W40 "\"}"
#define KMS_KEY(ctx)                                                                          \
	"{\"provider\":\"kms\",\"id\":\"arn:aws:kms:us-east-1:1:key/x\",\"wrapped\":\"AQID\"," \
	"\"context\":" ctx "}"
#define REST                                                                                  \
	"\"aead\":\"AES-256-GCM\",\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":" \
	"\"none\",\"created\":\"2026-11-22T12:00:00Z\""
#define HDR(key, rest) "{\"format\":1,\"key\":" key "," rest "}"
#define HDR_WITH(field) "{\"format\":1,\"key\":" KEK_KEY ",\"aead\":\"AES-256-GCM\"," field "}"
#define NONCE_ETC                                                                             \
	"\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","                                     \
	"\"created\":\"2026-11-22T12:00:00Z\""
#define KEK_W(w) "{\"provider\":\"kek\",\"id\":\"0123456789abcdef\",\"wrapped\":\"" w "\"}"

static int parse_json(const char *json, size_t n, struct pkg_header *h)
{
	uint8_t *buf = malloc(12 + n);
	char err[256] = "";
	int r;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "EFSPKG\0\1", 8);
	buf[8] = (uint8_t)n;
	buf[9] = (uint8_t)(n >> 8);
	buf[10] = (uint8_t)(n >> 16);
	buf[11] = (uint8_t)(n >> 24);
	memcpy(buf + 12, json, n);
	r = pkg_header_parse(buf, 12 + n, h, err, sizeof(err));
	ck_assert(r == 0 || err[0] != '\0');
	free(buf);
	return r;
}

static const struct {
	const char *json;
	int want;
} header_cases[] = {
	{ HDR(KEK_KEY, REST), 0 },
	{ "{\"key\":" KEK_KEY ",\"format\":1," REST "}", 0 },
	{ HDR(KMS_KEY("{}"), REST), 0 },
	{ "[]", -EINVAL },
	{ "{}", -EINVAL },
	{ "{\"format\":1}", -EINVAL },
	{ " " HDR(KEK_KEY, REST), -EINVAL },
	{ HDR(KEK_KEY, REST) " ", -EINVAL },
	{ HDR(KEK_KEY, REST) "}", -EINVAL },
	{ "{\"format\":\"1\",\"key\":" KEK_KEY "," REST "}", -EINVAL },
	{ "{\"format\":1.0,\"key\":" KEK_KEY "," REST "}", -EINVAL },
	{ "{\"format\":2,\"key\":" KEK_KEY "," REST "}", -EPROTONOSUPPORT },
	{ "{\"format\":2,\"anything\":[]}", -EPROTONOSUPPORT },
	{ "{\"format\":1,\"format\":1,\"key\":" KEK_KEY "," REST "}", -EINVAL },
	{ "{\"format\":1,\"key\":" KEK_KEY "," REST ",\"plaintext_size\":5}", -EINVAL },
	{ "{\"format\":1,\"key\":" KEK_KEY "," REST ",\"x\":[[[[[[[[]]]]]]]]}", -EINVAL },
	{ "{\"format\":1,\"key\":" KEK_KEY "," REST ",\"\\u0000\":1}", -EINVAL },
	{ "{\"format\":1,\"key\":" KEK_KEY
	  ",\"aead\":\"AES-256-GCM\",\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\","
	  "\"compression\":\"none\"}",
	  -EINVAL },
	{ "{\"format\":1,\"key\":" KEK_KEY
	  ",\"aead\":\"AES-128-GCM\",\"segment\":4096," NONCE_ETC "}",
	  -EPROTONOSUPPORT },
	{ "{\"format\":1,\"key\":" KEK_KEY ",\"aead\":5,\"segment\":4096," NONCE_ETC "}", -EINVAL },
	{ HDR("{\"provider\":\"xyz\",\"id\":\"0123456789abcdef\",\"wrapped\":\"" W40 "\"}", REST),
	  -EPROTONOSUPPORT },
	{ HDR("{\"provider\":\"xyz\",\"whatever\":[1]}", REST), -EPROTONOSUPPORT },
	{ HDR("{\"provider\":\"kekkekkekkekkekkekkek\"}", REST), -EPROTONOSUPPORT },
	{ HDR("{\"provider\":1}", REST), -EINVAL },
	{ HDR("\"kek\"", REST), -EINVAL },
	{ HDR("{\"provider\":\"kek\",\"id\":\"0123456789abcdef\",\"wrapped\":\"" W40
	      "\",\"context\":{}}",
	      REST),
	  -EINVAL },
	{ HDR("{\"provider\":\"kek\",\"id\":\"0123456789ABCDEF\",\"wrapped\":\"" W40 "\"}", REST),
	  -EINVAL },
	{ HDR("{\"provider\":\"kek\",\"id\":\"0123456789abcde\",\"wrapped\":\"" W40 "\"}", REST),
	  -EINVAL },
	{ HDR("{\"provider\":\"kek\",\"id\":\"0123456789abcdef\"}", REST), -EINVAL },
	{ HDR("{\"provider\":\"kek\",\"id\":\"0123456789abcdef\",\"wrapped\":\"AAAA\"}", REST),
	  -EINVAL },
	{ HDR(KEK_W("!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), REST),
	  -EINVAL },
	{ HDR(KEK_W("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=="), REST),
	  -EINVAL },
	{ HDR(KEK_W("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\nA=="), REST),
	  -EINVAL },
	{ HDR(KMS_KEY("{\"b\":\"2\",\"a\":\"1\"}"), REST), 0 },
	{ HDR(KMS_KEY("{\"a\":1}"), REST), -EINVAL },
	{ HDR(KMS_KEY("{\"a\":{\"b\":\"c\"}}"), REST), -EINVAL },
	{ HDR(KMS_KEY("[]"), REST), -EINVAL },
	{ HDR("{\"provider\":\"kms\",\"id\":\"arn:x\",\"wrapped\":\"AQID\"}", REST), -EINVAL },
	{ HDR("{\"provider\":\"kms\",\"id\":\"arn x\",\"wrapped\":\"AQID\",\"context\":{}}", REST),
	  -EINVAL },
	{ HDR("{\"provider\":\"kms\",\"id\":\"\",\"wrapped\":\"AQID\",\"context\":{}}", REST),
	  -EINVAL },
	{ HDR("{\"provider\":\"kms\",\"id\":\"arn:x\",\"wrapped\":\"\",\"context\":{}}", REST),
	  -EINVAL },
	{ HDR_WITH("\"segment\":2048," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":4097," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":12288," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":33554432," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":16777216," NONCE_ETC), 0 },
	{ HDR_WITH("\"segment\":-4096," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":4096.0," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":1e100," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":99999999999999999999999," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":\"4096\"," NONCE_ETC), -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAAA\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAB=\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":null,\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"gzip\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"zstd\","
		   "\"created\":\"2026-11-22T12:00:00Z\""),
	  0 },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22 12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","
		   "\"created\":\"2026-13-22T12:00:00Z\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00+00:00\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","
		   "\"created\":\"\xff\xfe\""),
	  -EINVAL },
	{ HDR_WITH("\"segment\":4096,\"nonce\":\"AAAAAAAAAAA=\",\"compression\":\"none\","
		   "\"created\":\"2026-11-22T12:00:00Z\\u0000\""),
	  -EINVAL },
};

START_TEST(test_header_table)
{
	struct pkg_header h;
	int r = parse_json(header_cases[_i].json, strlen(header_cases[_i].json), &h);

	ck_assert_msg(r == header_cases[_i].want, "case %d: %s -> %d", _i, header_cases[_i].json,
		      r);
	if (r == 0)
		pkg_header_release(&h);
}
END_TEST

START_TEST(test_header_kms_fields)
{
	const char *json = HDR(KMS_KEY("{\"b\":\"2\",\"a\":\"1\"}"), REST);
	struct pkg_header h;

	ck_assert_int_eq(parse_json(json, strlen(json), &h), 0);
	ck_assert_str_eq(h.key.provider, "kms");
	ck_assert_str_eq(h.key.id, "arn:aws:kms:us-east-1:1:key/x");
	ck_assert_uint_eq(h.key.wrapped_len, 3);
	ck_assert_mem_eq(h.key.wrapped, "\x01\x02\x03", 3);
	ck_assert_str_eq(h.key.context_json, "{\"a\":\"1\",\"b\":\"2\"}");
	ck_assert_uint_eq(h.segment, 4096);
	ck_assert_str_eq(h.created, "2026-11-22T12:00:00Z");
	ck_assert(!h.zstd);
	pkg_header_release(&h);
}
END_TEST

START_TEST(test_header_prefix)
{
	const char *json = HDR(KEK_KEY, REST);
	size_t n = strlen(json);
	uint8_t buf[1024];
	struct pkg_header h;
	char err[128];

	memcpy(buf, "EFSPKG\0\1", 8);
	buf[8] = (uint8_t)n;
	buf[9] = (uint8_t)(n >> 8);
	buf[10] = buf[11] = 0;
	memcpy(buf + 12, json, n);
	ck_assert_int_eq(pkg_header_parse(buf, 12 + n, &h, err, sizeof(err)), 0);
	ck_assert_uint_eq(h.header_len, n);
	pkg_header_release(&h);
	/* More bytes after the header are the caller's business. */
	ck_assert_int_eq(pkg_header_parse(buf, sizeof(buf), &h, NULL, 0), 0);
	pkg_header_release(&h);

	for (size_t cut = 0; cut < 12 + n; cut++)
		ck_assert_int_eq(pkg_header_parse(buf, cut, &h, NULL, 0),
				 cut < 8 ? -ENOEXEC : -EINVAL);
	ck_assert_int_eq(pkg_header_parse(buf, 12 + n, &h, err, sizeof(err)), 0);
	pkg_header_release(&h);
	ck_assert_int_eq(pkg_header_parse((const uint8_t *)"EFSPKG\0\2", 8, &h, err, sizeof(err)),
			 -ENOEXEC);
	ck_assert_str_eq(err, "not a sealed package");
	ck_assert_int_eq(pkg_header_parse((const uint8_t *)"\177ELF\2\1\1\0\0\0\0\0", 12, &h, NULL,
					  0),
			 -ENOEXEC);

	buf[8] = buf[9] = 0;
	ck_assert_int_eq(pkg_header_parse(buf, sizeof(buf), &h, NULL, 0), -EINVAL);
	buf[8] = 1;
	buf[9] = 0;
	buf[10] = 1; /* 65537 */
	ck_assert_int_eq(pkg_header_parse(buf, sizeof(buf), &h, NULL, 0), -EINVAL);
	buf[8] = buf[9] = buf[10] = buf[11] = 0xff;
	ck_assert_int_eq(pkg_header_parse(buf, sizeof(buf), &h, NULL, 0), -EINVAL);
}
END_TEST

/* A kms header padded through its context to exactly the 64 KiB limit, and one byte over. */
START_TEST(test_header_max)
{
	const char *pre = "{\"format\":1,\"key\":{\"provider\":\"kms\",\"id\":\"arn:x\","
			  "\"wrapped\":\"AQID\",\"context\":{\"pad\":\"";
	const char *post = "\"}}," REST "}";
	size_t fixed = strlen(pre) + strlen(post);
	char *json = malloc(PKG_HEADER_MAX + 2);
	struct pkg_header h;

	ck_assert_ptr_nonnull(json);
	for (size_t total = PKG_HEADER_MAX; total <= PKG_HEADER_MAX + 1; total++) {
		size_t pad = total - fixed;
		strcpy(json, pre);
		memset(json + strlen(pre), 'x', pad);
		strcpy(json + strlen(pre) + pad, post);
		ck_assert_uint_eq(strlen(json), total);
		ck_assert_int_eq(parse_json(json, total, &h),
				 total == PKG_HEADER_MAX ? 0 : -EINVAL);
		if (total == PKG_HEADER_MAX)
			pkg_header_release(&h);
	}
	/* Deep nesting is refused before the JSON parser sees it. */
	{
		uint8_t *buf = malloc(12 + PKG_HEADER_MAX);
		char err[128];

		ck_assert_ptr_nonnull(buf);
		memcpy(buf, "EFSPKG\0\1\0\0\1\0", 12);
		memset(buf + 12, '[', PKG_HEADER_MAX);
		buf[12] = '{';
		buf[12 + PKG_HEADER_MAX - 1] = '}';
		ck_assert_int_eq(pkg_header_parse(buf, 12 + PKG_HEADER_MAX, &h, err, sizeof(err)),
				 -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "nests deeper"));
		free(buf);
	}
	free(json);
}
END_TEST

/* The whole-file digest matches a one-shot SHA-256 across buffer edges, and
 * of an empty file; a descriptor that cannot be read is an error. */
START_TEST(test_whole_file_digest)
{
	static const size_t sizes[] = { 0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20 };
	uint8_t want[32], got[32];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = malloc(sizes[i] + 1);
		int fd = memfd_create("digest", 0);

		ck_assert_ptr_nonnull(p);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(RAND_bytes(p, (int)sizes[i] + 1), 1);
		ck_assert_int_eq(write(fd, p, sizes[i]), (ssize_t)sizes[i]);
		ck_assert_int_eq(EVP_Digest(p, sizes[i], want, NULL, EVP_sha256(), NULL), 1);
		ck_assert_int_eq(pkg_file_digest(fd, got), 0);
		ck_assert_mem_eq(got, want, 32);
		close(fd);
		free(p);
	}
	{
		int fd = open("/dev/null", O_WRONLY);
		ck_assert_int_eq(pkg_file_digest(fd, got), -EBADF);
		close(fd);
	}
}
END_TEST

static Suite *package_suite(void)
{
	Suite *s = suite_create("package");
	TCase *tc;

	tc = tcase_create("kek");
	tcase_add_test(tc, test_rfc5649_vectors);
	tcase_add_test(tc, test_kek_wrap_256);
	tcase_add_test(tc, test_kek_file);
	tcase_add_test(tc, test_file_digest);
	tcase_add_test(tc, test_kek_provider);
	suite_add_tcase(s, tc);

	tc = tcase_create("roundtrip");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_roundtrip_sizes, 0, sizeof(rt_sizes) / sizeof(rt_sizes[0]));
	tcase_add_test(tc, test_roundtrip_5mib);
	tcase_add_test(tc, test_header_fields);
	tcase_add_test(tc, test_writer_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flip_every_byte);
	tcase_add_test(tc, test_truncate_every_length);
	tcase_add_test(tc, test_append_garbage);
	tcase_add_test(tc, test_changed_while_reading);
	tcase_add_test(tc, test_ring_tamper);
	tcase_add_test(tc, test_ring_shrinks);
	tcase_add_test(tc, test_ring_free);
	tcase_add_test(tc, test_wrong_kek);
	tcase_add_test(tc, test_rewrapped_key);
	tcase_add_test(tc, test_providers);
	tcase_add_test(tc, test_reorder_and_splice);
	suite_add_tcase(s, tc);

	tc = tcase_create("conformance");
	tcase_add_test(tc, test_spec_reader);
	tcase_add_test(tc, test_spec_writer);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_add_loop_test(tc, test_header_table, 0,
			    (int)(sizeof(header_cases) / sizeof(header_cases[0])));
	tcase_add_test(tc, test_header_kms_fields);
	tcase_add_test(tc, test_header_prefix);
	tcase_add_test(tc, test_header_max);
	tcase_add_test(tc, test_whole_file_digest);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(package_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
