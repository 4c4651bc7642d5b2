/* Test helper around enclave/package.c and enclave/kek.c, for the shell tests
 * (tests/t/t0200-package-interop.sh) until enclave-seal exists:
 *
 *   pkgtool keygen KEKFILE
 *   pkgtool id KEKFILE                       prints the KEK id
 *   pkgtool wrap KEKFILE HEXKEY              prints the RFC 5649 wrap in hex
 *   pkgtool seal [-z] [-s SEGMENT] KEKFILE IN|- OUT
 *   pkgtool unseal KEKFILE IN                plaintext to stdout
 *
 * Errors go to stderr as "pkgtool: MESSAGE (ERRNONAME)" with exit status 1.
 * unseal writes each segment as soon as it is authenticated, so a failing
 * package may leave a prefix of its plaintext on stdout.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "enclave/kek.h"
#include "enclave/package.h"
#include "util.h"

static int die(int r, const char *what, const char *msg)
{
	const char *name = strerrorname_np(-r);

	fprintf(stderr, "pkgtool: %s: %s (%s)\n", what, msg && *msg ? msg : strerror(-r),
		name ? name : "?");
	return 1;
}

static int load_kek(const char *path, uint8_t kek[static KEK_LEN])
{
	bool loose;
	int r = kek_read_file(path, kek, &loose);

	if (r < 0)
		return die(r, path, NULL);
	if (loose)
		fprintf(stderr, "pkgtool: warning: %s is readable by others\n", path);
	return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static int cmd_wrap(const char *kekfile, const char *hex)
{
	uint8_t kek[KEK_LEN], key[KEK_WRAP_MAX_IN], out[KEK_WRAP_LEN(KEK_WRAP_MAX_IN)];
	size_t n = strlen(hex) / 2, outlen;
	int r;

	if (strlen(hex) % 2 || n == 0 || n > sizeof(key))
		return die(-EINVAL, "wrap", "the key must be 1..4096 bytes of hex");
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return die(-EINVAL, "wrap", "not hex");
		key[i] = (uint8_t)v;
	}
	if (load_kek(kekfile, kek))
		return 1;
	r = kek_wrap(kek, key, n, out, &outlen);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (r < 0)
		return die(r, "wrap", NULL);
	print_hex(out, outlen);
	return 0;
}

static int cmd_seal(int argc, char **argv)
{
	uint32_t segment = 0;
	bool zstd = false;
	uint8_t kek[KEK_LEN], buf[65536];
	struct pkg_writer *w;
	char err[256] = "";
	static const char usage[] = "usage: seal [-z] [-s SEGMENT] KEKFILE IN OUT";
	int opt, in, out, r;
	ssize_t n;

	while ((opt = getopt(argc, argv, "zs:")) != -1) {
		switch (opt) {
		case 'z': zstd = true; break;
		case 's': segment = (uint32_t)strtoul(optarg, NULL, 0); break;
		default: return die(-EINVAL, "seal", usage);
		}
	}
	if (argc - optind != 3)
		return die(-EINVAL, "seal", usage);
	if (load_kek(argv[optind], kek))
		return 1;
	in = strcmp(argv[optind + 1], "-") == 0 ? 0 : open(argv[optind + 1], O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return die(neg_errno(), argv[optind + 1], NULL);
	out = open(argv[optind + 2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return die(neg_errno(), argv[optind + 2], NULL);
	r = pkg_writer_new(out, kek, zstd, segment, &w, err, sizeof(err));
	OPENSSL_cleanse(kek, sizeof(kek));
	if (r < 0)
		return die(r, "seal", err);
	while ((n = io_read_all(in, buf, sizeof(buf))) > 0) {
		r = pkg_writer_write(w, buf, (size_t)n);
		if (r < 0) {
			pkg_writer_abort(w);
			return die(r, "seal", NULL);
		}
	}
	if (n < 0) {
		pkg_writer_abort(w);
		return die((int)n, argv[optind + 1], NULL);
	}
	r = pkg_writer_finish(w);
	if (r == 0 && close(out) < 0)
		r = neg_errno();
	return r < 0 ? die(r, "seal", NULL) : 0;
}

static int cmd_unseal(const char *kekfile, const char *path)
{
	struct key_provider *kp = kek_provider_new();
	struct pkg_reader *rd;
	uint8_t kek[KEK_LEN];
	char err[256] = "";
	const uint8_t *p;
	size_t n;
	int fd, r;

	if (!kp)
		return die(-ENOMEM, "unseal", NULL);
	if (load_kek(kekfile, kek))
		return 1;
	r = kek_provider_add(kp, kek);
	OPENSSL_cleanse(kek, sizeof(kek));
	if (r < 0)
		return die(r, "unseal", NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return die(neg_errno(), path, NULL);
	r = pkg_reader_open(fd, kp, &rd, err, sizeof(err));
	if (r < 0)
		return die(r, path, err);
	do {
		r = pkg_reader_next(rd, &p, &n);
		if (r < 0) {
			die(r, path, pkg_reader_errmsg(rd));
			break;
		}
		r = io_write_all(1, p, n);
		if (r < 0) {
			die(r, "stdout", NULL);
			break;
		}
	} while (n > 0);
	pkg_reader_free(rd);
	key_provider_free(kp);
	close(fd);
	return r < 0 ? 1 : 0;
}

/* The data key of a kek-sealed package, in hex: for tests that look for it
 * where it must not be (memory of other processes, logs, caches). */
static int cmd_dek(const char *kekfile, const char *path)
{
	struct key_provider *kp = kek_provider_new();
	uint8_t kek[KEK_LEN], *head = malloc(PKG_PREFIX_LEN + PKG_HEADER_MAX), dek[PKG_DEK_LEN];
	struct pkg_header h;
	char err[256] = "";
	ssize_t got;
	int fd, r;

	if (!kp || !head)
		return die(-ENOMEM, "dek", NULL);
	if (load_kek(kekfile, kek))
		return 1;
	r = kek_provider_add(kp, kek);
	OPENSSL_cleanse(kek, sizeof(kek));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r < 0 || fd < 0)
		return die(r < 0 ? r : neg_errno(), path, NULL);
	got = io_pread_all(fd, head, PKG_PREFIX_LEN + PKG_HEADER_MAX, 0);
	r = got < 0 ? (int)got : pkg_header_parse(head, (size_t)got, &h, err, sizeof(err));
	if (r == 0) {
		r = kp->unwrap(kp, &h.key, dek, err, sizeof(err));
		pkg_header_release(&h);
	}
	if (r < 0)
		return die(r, path, err);
	for (size_t i = 0; i < sizeof(dek); i++)
		printf("%02x", dek[i]);
	printf("\n");
	OPENSSL_cleanse(dek, sizeof(dek));
	key_provider_free(kp);
	free(head);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t kek[KEK_LEN];
	char id[KEK_ID_LEN + 1];
	int r;

	if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
		r = kek_generate(kek);
		if (r == 0)
			r = kek_write_file(argv[2], kek);
		OPENSSL_cleanse(kek, sizeof(kek));
		return r < 0 ? die(r, argv[2], NULL) : 0;
	}
	if (argc == 3 && strcmp(argv[1], "id") == 0) {
		if (load_kek(argv[2], kek))
			return 1;
		kek_id(kek, id);
		OPENSSL_cleanse(kek, sizeof(kek));
		printf("%s\n", id);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "wrap") == 0)
		return cmd_wrap(argv[2], argv[3]);
	if (argc >= 2 && strcmp(argv[1], "seal") == 0)
		return cmd_seal(argc - 1, argv + 1);
	if (argc == 4 && strcmp(argv[1], "unseal") == 0)
		return cmd_unseal(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "dek") == 0)
		return cmd_dek(argv[2], argv[3]);
	fprintf(stderr, "usage: pkgtool keygen|id|wrap|seal|unseal|dek ... (see pkgtool.c)\n");
	return 2;
}
