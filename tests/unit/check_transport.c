/* Transports: address parsing and formatting (the only way vsock can be
 * tested here: there is no vsock loopback), and unix and fd: sockets for real. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#include "sync/transport.h"
#include "sync/util.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	int n;

	n = snprintf(tmpdir, sizeof(tmpdir), "%s/check_transport.XXXXXX", t && *t ? t : "/tmp");
	ck_assert_int_lt(n, sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void remove_tmpdir(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A unix: address for name inside the temp dir. */
static struct addr unix_addr(const char *name)
{
	char s[PATH_MAX], err[256];
	struct addr a;

	snprintf(s, sizeof(s), "unix:%s/%s", tmpdir, name);
	ck_assert_msg(addr_parse(s, &a, err, sizeof(err)) == 0, "%s: %s", s, err);
	return a;
}

static void assert_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	ck_assert_int_ge(fl, 0);
	ck_assert(fl & FD_CLOEXEC);
}

static const struct good {
	const char *text;
	enum addr_kind kind;
	uint32_t cid, port;
	const char *path;
	int fd;
	const char *canonical;
} good[] = {
	{ "vsock:3:5000", ADDR_VSOCK, 3, 5000, "", -1, "vsock:3:5000" },
	{ "vsock:5000", ADDR_VSOCK, VMADDR_CID_ANY, 5000, "", -1, "vsock:5000" },
	{ "vsock:0:0", ADDR_VSOCK, 0, 0, "", -1, "vsock:0:0" },
	{ "vsock:4294967294:4294967295", ADDR_VSOCK, 4294967294u, 4294967295u, "", -1,
	  "vsock:4294967294:4294967295" },
	{ "vsock:4294967295:7", ADDR_VSOCK, VMADDR_CID_ANY, 7, "", -1, "vsock:7" },
	{ "vsock:007", ADDR_VSOCK, VMADDR_CID_ANY, 7, "", -1, "vsock:7" },
	{ "unix:/run/efs/sync.sock", ADDR_UNIX, 0, 0, "/run/efs/sync.sock", -1,
	  "unix:/run/efs/sync.sock" },
	{ "unix:rel dir/ü:x", ADDR_UNIX, 0, 0, "rel dir/ü:x", -1, "unix:rel dir/ü:x" },
	{ "unix:vsock:1:2", ADDR_UNIX, 0, 0, "vsock:1:2", -1, "unix:vsock:1:2" },
	{ "fd:0", ADDR_FD, 0, 0, "", 0, "fd:0" },
	{ "fd:3", ADDR_FD, 0, 0, "", 3, "fd:3" },
	{ "fd:2147483647", ADDR_FD, 0, 0, "", 2147483647, "fd:2147483647" },
	{ "nitro:iris", ADDR_NITRO, 0, 5005, "iris", -1, "nitro:iris" },
	{ "nitro:iris:5005", ADDR_NITRO, 0, 5005, "iris", -1, "nitro:iris" },
	{ "nitro:a.b_c-9:7000", ADDR_NITRO, 0, 7000, "a.b_c-9", -1, "nitro:a.b_c-9:7000" },
	{ "nitro:", ADDR_NITRO, 0, 5005, "", -1, "nitro:" },
	{ "nitro::6000", ADDR_NITRO, 0, 6000, "", -1, "nitro::6000" },
	{ "nitro:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ADDR_NITRO, 0, 5005,
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -1,
	  "nitro:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
};

/* Each bad address with a part of the message that names what is wrong. */
static const struct bad {
	const char *text;
	const char *msg;
} bad[] = {
	{ "vsock:70000x", "vsock port '70000x' is not a number from 0 to 4294967295" },
	{ "vsock:4294967296", "vsock port '4294967296' is not" },
	{ "vsock:99999999999999999999999", "vsock port '99999999999999999999999' is not" },
	{ "vsock:-1:5", "vsock CID '-1' is not a number from 0 to 4294967295" },
	{ "vsock:4294967296:5", "vsock CID '4294967296'" },
	{ "vsock:+5", "vsock port '+5'" },
	{ "vsock: 5", "vsock port ' 5'" },
	{ "vsock:5 ", "vsock port '5 '" },
	{ "vsock:0x10", "vsock port '0x10'" },
	{ "vsock:", "vsock port ''" },
	{ "vsock::5", "vsock CID ''" },
	{ "vsock:1:", "vsock port ''" },
	{ "vsock:1:2:3", "vsock port '2:3'" },
	{ "unix:", "unix socket path is empty" },
	{ "fd:", "fd '' is not a number from 0 to 2147483647" },
	{ "fd:-1", "fd '-1'" },
	{ "fd:2147483648", "fd '2147483648'" },
	{ "fd:3x", "fd '3x'" },
	{ "tcp:1.2.3.4:5", "unknown address 'tcp:1.2.3.4:5' (expected vsock:CID:PORT, "
			   "vsock:PORT, unix:PATH, fd:N or nitro:NAME)" },
	{ "nitro:a b", "enclave name 'a b' may hold only letters" },
	{ "nitro:../x", "enclave name '../x' may hold only" },
	{ "nitro:x\x1b[2J", "enclave name 'x\\x1b[2J' may hold only" },
	{ "nitro:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "is 65 bytes long; the limit is 64" },
	{ "nitro:x:", "vsock port ''" },
	{ "nitro:x:1:2", "vsock port '1:2'" },
	{ "nitro:x:-5", "vsock port '-5'" },
	{ "", "unknown address ''" },
	{ "VSOCK:1:2", "unknown address 'VSOCK:1:2'" },
	{ "vsock", "unknown address 'vsock'" },
	{ "unix\x01\x1b[2J", "unknown address 'unix\\x01\\x1b[2J'" },
};

START_TEST(test_parse_good)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const struct good *g = &good[i];
		char err[256] = "untouched";
		struct addr a;

		ck_assert_msg(addr_parse(g->text, &a, err, sizeof(err)) == 0, "%s: %s", g->text,
			      err);
		ck_assert_str_eq(err, "");
		ck_assert_int_eq(a.kind, g->kind);
		ck_assert_uint_eq(a.cid, g->cid);
		ck_assert_uint_eq(a.port, g->port);
		ck_assert_str_eq(a.path, g->path);
		ck_assert_int_eq(a.fd, g->fd);
	}
}
END_TEST

START_TEST(test_parse_bad)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char err[256] = "";
		struct addr a;

		ck_assert_int_eq(addr_parse(bad[i].text, &a, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].msg), "'%s': message '%s' lacks '%s'", bad[i].text,
			      err, bad[i].msg);
	}
}
END_TEST

START_TEST(test_parse_unix_length)
{
	char s[8 + sizeof(((struct sockaddr_un *)0)->sun_path)], err[256];
	struct addr a;

	/* 107 bytes of path fit sun_path with its NUL; 108 do not. */
	strcpy(s, "unix:");
	memset(s + 5, 'p', 107);
	s[5 + 107] = '\0';
	ck_assert_int_eq(addr_parse(s, &a, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(a.path), 107);
	strcat(s, "q");
	ck_assert_int_eq(addr_parse(s, &a, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "is 108 bytes long; the limit is 107"), "%s", err);
	ck_assert_msg(strstr(err, "'pppp"), "%s", err);
}
END_TEST

START_TEST(test_parse_err_buffer)
{
	char err[8];
	struct addr a;

	/* A short buffer gets a truncated message; a NULL one none at all. */
	ck_assert_int_eq(addr_parse("fd:x", &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "fd 'x' ");
	ck_assert_int_eq(addr_parse("fd:x", &a, NULL, 0), -EINVAL);
	ck_assert_int_eq(addr_parse(NULL, &a, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(addr_parse("fd:1", &a, NULL, 0), 0);
}
END_TEST

START_TEST(test_format_roundtrip)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char text[ADDR_TEXT_MAX], err[256];
		struct addr a, b;

		ck_assert_int_eq(addr_parse(good[i].text, &a, err, sizeof(err)), 0);
		ck_assert_int_eq(addr_format(&a, text, sizeof(text)), 0);
		ck_assert_str_eq(text, good[i].canonical);
		ck_assert_int_eq(addr_parse(text, &b, err, sizeof(err)), 0);
		ck_assert_mem_eq(&a, &b, sizeof(a));
		/* Exactly enough room, and one byte less. */
		ck_assert_int_eq(addr_format(&a, text, strlen(good[i].canonical) + 1), 0);
		ck_assert_int_eq(addr_format(&a, text, strlen(good[i].canonical)), -ENOSPC);
	}
}
END_TEST

START_TEST(test_format_invalid)
{
	struct addr a;
	char text[ADDR_TEXT_MAX];

	memset(&a, 0, sizeof(a));
	a.kind = ADDR_UNIX;
	ck_assert_int_eq(addr_format(&a, text, sizeof(text)), -EINVAL);
	memset(a.path, 'x', sizeof(a.path));
	ck_assert_int_eq(addr_format(&a, text, sizeof(text)), -EINVAL);
	ck_assert_int_eq(transport_listen(&a), -EINVAL);
	ck_assert_int_eq(transport_connect(&a), -EINVAL);
	a.kind = ADDR_FD;
	a.fd = -1;
	ck_assert_int_eq(addr_format(&a, text, sizeof(text)), -EINVAL);
	a.kind = (enum addr_kind)42;
	ck_assert_int_eq(addr_format(&a, text, sizeof(text)), -EINVAL);
}
END_TEST

START_TEST(test_vsock_any_cannot_connect)
{
	struct addr a;

	ck_assert_int_eq(addr_parse("vsock:5000", &a, NULL, 0), 0);
	ck_assert_int_eq(transport_connect(&a), -EINVAL);
}
END_TEST

static void exchange(int a, int b)
{
	char buf[8];

	ck_assert_int_eq(io_write_all(a, "ping", 4), 0);
	ck_assert_int_eq(io_read_all(b, buf, 4), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	ck_assert_int_eq(io_write_all(b, "pong!", 5), 0);
	ck_assert_int_eq(io_read_all(a, buf, 5), 5);
	ck_assert_mem_eq(buf, "pong!", 5);
}

START_TEST(test_unix_roundtrip)
{
	struct addr a = unix_addr("sync sock");
	struct stat st;
	mode_t old;
	int lfd, cfd, sfd;

	/* The mode comes from the code, not from a restrictive umask. */
	old = umask(0);
	lfd = transport_listen(&a);
	umask(old);
	ck_assert_int_ge(lfd, 0);
	assert_cloexec(lfd);
	ck_assert_int_eq(lstat(a.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);

	cfd = transport_connect(&a);
	ck_assert_int_ge(cfd, 0);
	assert_cloexec(cfd);
	sfd = transport_accept(lfd);
	ck_assert_int_ge(sfd, 0);
	assert_cloexec(sfd);
	exchange(cfd, sfd);

	close(cfd);
	close(sfd);
	close(lfd);
	unlink(a.path);
	/* Nobody listens now. */
	ck_assert_int_eq(transport_connect(&a), -ENOENT);
}
END_TEST

START_TEST(test_unix_stale_replaced)
{
	struct addr a = unix_addr("stale");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, lfd, cfd, sfd;

	/* A socket bound and closed leaves its file behind, as a crashed server does. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, a.path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ck_assert_int_eq(lstat(a.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(transport_connect(&a), -ECONNREFUSED);

	lfd = transport_listen(&a);
	ck_assert_int_ge(lfd, 0);
	cfd = transport_connect(&a);
	ck_assert_int_ge(cfd, 0);
	sfd = transport_accept(lfd);
	ck_assert_int_ge(sfd, 0);
	exchange(cfd, sfd);
	close(cfd);
	close(sfd);
	close(lfd);
	unlink(a.path);
}
END_TEST

START_TEST(test_unix_live_kept)
{
	struct addr a = unix_addr("live");
	char c;
	int lfd, cfd, sfd;

	lfd = transport_listen(&a);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(transport_listen(&a), -EADDRINUSE);
	/* The probe that found the listener alive shows up as an empty connection. */
	sfd = transport_accept(lfd);
	ck_assert_int_ge(sfd, 0);
	ck_assert_int_eq(io_read_all(sfd, &c, 1), 0);
	close(sfd);
	/* The first listener still owns the path. */
	cfd = transport_connect(&a);
	ck_assert_int_ge(cfd, 0);
	sfd = transport_accept(lfd);
	ck_assert_int_ge(sfd, 0);
	exchange(cfd, sfd);
	close(cfd);
	close(sfd);
	close(lfd);
	unlink(a.path);
}
END_TEST

START_TEST(test_unix_not_a_socket_refused)
{
	struct addr file = unix_addr("file"), dir = unix_addr("dir"), link = unix_addr("link");
	struct addr target = unix_addr("target");
	struct stat st;
	char buf[16];
	int fd, lfd;

	fd = open(file.path, O_CREAT | O_WRONLY | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_write_all(fd, "keep me", 7), 0);
	close(fd);
	ck_assert_int_eq(transport_listen(&file), -EEXIST);
	fd = open(file.path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(io_read_all(fd, buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "keep me", 7);
	close(fd);

	ck_assert_int_eq(mkdir(dir.path, 0700), 0);
	ck_assert_int_eq(transport_listen(&dir), -EEXIST);
	ck_assert_int_eq(lstat(dir.path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));

	/* A symlink is not followed, even to a stale socket. */
	lfd = transport_listen(&target);
	ck_assert_int_ge(lfd, 0);
	close(lfd);
	ck_assert_int_eq(symlink(target.path, link.path), 0);
	ck_assert_int_eq(transport_listen(&link), -EEXIST);
	ck_assert_int_eq(lstat(link.path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(lstat(target.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
}
END_TEST

START_TEST(test_fd_socketpair)
{
	char s[32];
	struct addr a;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, 0);
	snprintf(s, sizeof(s), "fd:%d", sv[0]);
	ck_assert_int_eq(addr_parse(s, &a, NULL, 0), 0);
	ck_assert_int_eq(transport_connect(&a), sv[0]);
	assert_cloexec(sv[0]);
	ck_assert_int_eq(transport_listen(&a), -EOPNOTSUPP);
	exchange(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_fd_not_a_stream)
{
	struct addr a;
	int p[2], sv[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	memset(&a, 0, sizeof(a));
	a.kind = ADDR_FD;

	a.fd = p[0];
	ck_assert_int_eq(transport_connect(&a), -ENOTSOCK);
	a.fd = sv[0];
	ck_assert_int_eq(transport_connect(&a), -EPROTOTYPE);
	close(p[0]);
	a.fd = p[0];
	ck_assert_int_eq(transport_connect(&a), -EBADF);
	a.fd = -1;
	ck_assert_int_eq(transport_connect(&a), -EBADF);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_tune)
{
	int sv[2], p[2], before, after;
	socklen_t len = sizeof(int);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &before, &len), 0);
	ck_assert_int_eq(transport_tune(sv[0]), 0);
	len = sizeof(int);
	ck_assert_int_eq(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &after, &len), 0);
	ck_assert_int_ge(after, before);
	exchange(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(transport_tune(p[0]), -ENOTSOCK);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* vsock needs no peer to be tuned: the buffer's maximum goes up first, so
 * the size asked for is the size read back (set alone, it would be clamped
 * to the 256 KiB default maximum). */
START_TEST(test_tune_vsock)
{
	uint64_t size = 0;
	int fd, sv[2];

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(fd >= 0, "AF_VSOCK: %s", strerror(errno));
	ck_assert_int_eq(transport_vsock_buffer(fd, &size), 0);
	ck_assert_uint_eq(size, 256 * 1024);
	ck_assert_int_eq(transport_tune(fd), 0);
	ck_assert_int_eq(transport_vsock_buffer(fd, &size), 0);
	ck_assert_uint_eq(size, 8 * 1024 * 1024);
	close(fd);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(transport_vsock_buffer(sv[0], &size), -EAFNOSUPPORT);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static int resolver_calls;
static char resolver_name[NITRO_NAME_MAX + 1];

static int fake_resolver(const char *name, uint32_t *cid, char *why, size_t whylen)
{
	(void)cid;
	resolver_calls++;
	snprintf(resolver_name, sizeof(resolver_name), "%s", name);
	snprintf(why, whylen, "no running enclave named '%s'", name);
	return -ENOENT;
}

/* A nitro: address is looked up at every connect (a restarted enclave may
 * have another CID), and the reason a lookup failed is kept for the caller. */
START_TEST(test_nitro_resolved_each_connect)
{
	struct addr a;

	ck_assert_int_eq(addr_parse("nitro:iris", &a, NULL, 0), 0);
	transport_set_nitro_resolver(NULL);
	ck_assert_int_eq(transport_connect(&a), -EAFNOSUPPORT);
	ck_assert_str_eq(transport_connect_why(), "this program cannot look up enclaves");

	transport_set_nitro_resolver(fake_resolver);
	ck_assert_int_eq(transport_connect(&a), -ENOENT);
	ck_assert_int_eq(transport_connect(&a), -ENOENT);
	ck_assert_int_eq(resolver_calls, 2);
	ck_assert_str_eq(resolver_name, "iris");
	ck_assert_str_eq(transport_connect_why(), "no running enclave named 'iris'");
	ck_assert_int_eq(transport_listen(&a), -EINVAL);
	transport_set_nitro_resolver(NULL);
}
END_TEST

/* transport_close_drain: everything written before it reaches the peer,
 * whatever the peer still sends is read and dropped, and fd is closed. */
START_TEST(test_close_drain)
{
	static char big[1 << 20];
	int sv[2];
	pid_t pid;
	size_t got = 0;
	ssize_t n;
	char buf[65536];
	int status;

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the peer: sends something the other side never reads, then
		 * reads until end of stream and closes */
		close(sv[0]);
		if (write(sv[1], "unread", 6) != 6)
			_exit(3);
		while ((n = read(sv[1], buf, sizeof(buf))) > 0)
			got += (size_t)n;
		_exit(got == sizeof(big) ? 0 : 4);
	}
	close(sv[1]);
	for (size_t off = 0; off < sizeof(big); off += (size_t)n) {
		n = write(sv[0], big + off, sizeof(big) - off);
		ck_assert_int_gt(n, 0);
	}
	transport_close_drain(sv[0], 5000);
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *transport_suite(void)
{
	Suite *s = suite_create("transport");
	TCase *tc = tcase_create("addr");
	TCase *tu = tcase_create("sockets");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad);
	tcase_add_test(tc, test_parse_unix_length);
	tcase_add_test(tc, test_parse_err_buffer);
	tcase_add_test(tc, test_format_roundtrip);
	tcase_add_test(tc, test_format_invalid);
	tcase_add_test(tc, test_vsock_any_cannot_connect);
	suite_add_tcase(s, tc);

	/* Unchecked fixtures run in the parent, so the temp dir goes even when
	 * a test fails. */
	tcase_add_unchecked_fixture(tu, make_tmpdir, remove_tmpdir);
	tcase_add_test(tu, test_unix_roundtrip);
	tcase_add_test(tu, test_unix_stale_replaced);
	tcase_add_test(tu, test_unix_live_kept);
	tcase_add_test(tu, test_unix_not_a_socket_refused);
	tcase_add_test(tu, test_fd_socketpair);
	tcase_add_test(tu, test_fd_not_a_stream);
	tcase_add_test(tu, test_tune);
	tcase_add_test(tu, test_tune_vsock);
	tcase_add_test(tu, test_nitro_resolved_each_connect);
	tcase_add_test(tu, test_close_drain);
	suite_add_tcase(s, tu);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(transport_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
