/* The package worker (pkgworker.h): both ends. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "keyd.h"
#include "manifest.h"
#include "package.h"
#include "pkgworker.h"
#include "util.h"
#include "verdict.h"

enum { FD_PKG = 3, FD_DIR, FD_CHAN, FD_RESULT };

/* --- the child ------------------------------------------------------------------------ */

static ssize_t read_segments(void *ud, const void **buf)
{
	const uint8_t *p;
	size_t n;
	int r = pkg_reader_next(ud, &p, &n);

	if (r < 0)
		return r;
	*buf = p;
	return (ssize_t)n;
}

static int manifest_sha384(int dirfd, uint8_t out[48])
{
	uint8_t buf[MANIFEST_MAX_BYTES];
	unsigned int n = 48;
	ssize_t k;
	int fd = openat(dirfd, MANIFEST_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r = 0;

	if (fd < 0)
		return neg_errno();
	k = read(fd, buf, sizeof(buf));
	if (k < 0)
		r = neg_errno();
	else if (!EVP_Digest(buf, (size_t)k, out, &n, EVP_sha384(), NULL))
		r = -EIO;
	close(fd);
	return r;
}

static void context_package(const char *ctx, char *out, size_t outsz)
{
	json_t *o = ctx ? json_loads(ctx, 0, NULL) : NULL, *v = json_object_get(o, "package");

	out[0] = '\0';
	if (json_is_string(v) && json_string_length(v) < outsz)
		snprintf(out, outsz, "%s", json_string_value(v));
	json_decref(o);
}

static void install(const struct extract_limits *lim, struct pkgworker_result *res)
{
	uint8_t *head = NULL;
	char detail[512];
	struct pkg_header h = { 0 };
	struct pkg_reader *rd = NULL;
	struct key_provider *kp = NULL;
	struct manifest *m = NULL;
	enum verdict_stage stage = VERDICT_OPEN;
	struct timespec t0, t1;
	ssize_t got;
	int r;

	head = malloc(PKG_PREFIX_LEN + PKG_HEADER_MAX);
	if (!head) {
		r = -ENOMEM;
		goto fail;
	}
	got = io_pread_all(FD_PKG, head, PKG_PREFIX_LEN + PKG_HEADER_MAX, 0);
	if (got < 0) {
		r = (int)got;
		goto fail;
	}
	r = pkg_header_parse(head, (size_t)got, &h, detail, sizeof(detail));
	if (r < 0)
		goto fail;
	snprintf(res->provider, sizeof(res->provider), "%s", h.key.provider);
	snprintf(res->key_id, sizeof(res->key_id), "%s", h.key.id);
	memcpy(res->hdr_digest, h.digest, 32);
	context_package(h.key.context_json, res->context_package, sizeof(res->context_package));
	kp = keyd_chan_provider_new(FD_CHAN, h.key.provider, head, h.body_offset);
	if (!kp) {
		r = -ENOMEM;
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pkg_reader_open(FD_PKG, kp, &rd, detail, sizeof(detail));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->key_us = (uint32_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	if (r < 0) {
		/* Only the key process's words leave: they never carry
		 * package content. */
		if (r == -ENOKEY || r == -EKEYREJECTED || r == -EKEYREVOKED || r == -EKEYEXPIRED ||
		    r == -EACCES || r == -EAGAIN || r == -ETIMEDOUT || r == -ECONNREFUSED ||
		    r == -EHOSTUNREACH || r == -EPROTO)
			snprintf(res->key_why, sizeof(res->key_why), "%.511s", detail);
		goto fail;
	}
	stage = VERDICT_EXTRACT;
	r = extract_tar(read_segments, rd, FD_DIR, lim, NULL, detail, sizeof(detail));
	if (r < 0) {
		res->decrypt_failed = *pkg_reader_errmsg(rd) != '\0';
		goto fail;
	}
	if (pkg_reader_file_digest(rd, res->digest) == 0)
		res->have_digest = 1;
	stage = VERDICT_MANIFEST;
	r = manifest_load(FD_DIR, MANIFEST_FILE, &m, detail, sizeof(detail));
	if (r == 0)
		r = manifest_sha384(FD_DIR, res->manifest_sha384);
	/* A KMS key is released for a context naming the package: a header
	 * taken from another package of the same owner must not open this. */
	if (r == 0 && !strcmp(h.key.provider, "kms") && strcmp(res->context_package, m->name) != 0) {
		r = -EKEYREJECTED;
		snprintf(res->key_why, sizeof(res->key_why),
			 "the KMS encryption context does not name this package");
	}
	if (r < 0)
		goto fail;
	res->err = 0;
	goto out;
fail:
	res->err = r;
	res->stage = (int32_t)stage;
out:
	explicit_bzero(detail, sizeof(detail));
	manifest_free(m);
	pkg_reader_free(rd);
	key_provider_free(kp);
	pkg_header_release(&h);
	free(head);
}

int pkgworker_main(int argc, char **argv)
{
	struct pkgworker_result res;
	struct extract_limits lim;
	unsigned long long v[3];

	memset(&res, 0, sizeof(res));
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (argc != 5)
		return 2;
	for (int i = 0; i < 3; i++)
		if (parse_u64(argv[2 + i], 1, UINT64_MAX, &v[i]) < 0)
			return 2;
	lim = (struct extract_limits){ .max_total_bytes = v[0], .max_entries = v[1],
				       .max_file_bytes = v[2] };
	install(&lim, &res);
	close(FD_CHAN);
	if (io_write_all(FD_RESULT, &res, sizeof(res)) < 0)
		return 1;
	return 0;
}

/* --- the parent ----------------------------------------------------------------------- */

int pkgworker_run(int exe_fd, int keyd_sock, int pkg_fd, int dir_fd,
		  const struct extract_limits *lim, struct pkgworker_result *res)
{
	char a[3][24];
	char *argv[] = { "enclaved", PKGWORKER_ARG, a[0], a[1], a[2], NULL };
	int chan[2] = { -1, -1 }, pipefd[2] = { -1, -1 }, status = 0, r;
	ssize_t got;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->stage = VERDICT_OPEN;
	snprintf(a[0], sizeof(a[0]), "%" PRIu64, lim->max_total_bytes);
	snprintf(a[1], sizeof(a[1]), "%" PRIu64, lim->max_entries);
	snprintf(a[2], sizeof(a[2]), "%" PRIu64, lim->max_file_bytes);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0 ||
	    pipe2(pipefd, O_CLOEXEC) < 0) {
		r = neg_errno();
		goto out;
	}
	r = keyd_channel(keyd_sock, chan[1]);
	close(chan[1]);
	chan[1] = -1;
	if (r < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		r = neg_errno();
		goto out;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		int src[5] = { pkg_fd, dir_fd, chan[0], pipefd[1], exe_fd }, tmp[5];

		for (int i = 0; i < 5; i++) {
			tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 16);
			if (tmp[i] < 0)
				_exit(127);
		}
		for (int i = 0; i < 4; i++)
			if (dup2(tmp[i], FD_PKG + i) < 0)
				_exit(127);
		/* The binary stays close-on-exec: execveat opens it first. */
		if (dup3(tmp[4], FD_RESULT + 1, O_CLOEXEC) < 0)
			_exit(127);
		(void)syscall(SYS_close_range, FD_RESULT + 2, ~0U, 0);
		syscall(SYS_execveat, FD_RESULT + 1, "", argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	close(chan[0]);
	chan[0] = -1;
	close(pipefd[1]);
	pipefd[1] = -1;
	got = read(pipefd[0], res, sizeof(*res));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(*res) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		memset(res, 0, sizeof(*res));
		res->err = -EIO;
		res->stage = VERDICT_EXTRACT;
	}
	res->key_why[sizeof(res->key_why) - 1] = '\0';
	res->provider[sizeof(res->provider) - 1] = '\0';
	res->key_id[sizeof(res->key_id) - 1] = '\0';
	res->context_package[sizeof(res->context_package) - 1] = '\0';
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		safe_close(chan[i]);
		safe_close(pipefd[i]);
	}
	return r;
}
