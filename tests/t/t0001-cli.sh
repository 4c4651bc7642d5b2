#!/bin/sh
# The command-line front ends answer --help and --version and reject bad usage.
. "$top_srcdir/tests/lib.sh"

test_require tool groff

test_expect_success 'enclave-sync --version prints the package version' '
	enclave-sync --version >out &&
	grep -q "^enclave-sync [0-9][0-9.]*$" out
'

test_expect_success 'enclave-sync --help describes the addresses' '
	enclave-sync --help >out &&
	grep -q "vsock:CID:PORT" out &&
	grep -q "unix:PATH" out
'

test_expect_success 'an unknown option exits 2, names the option and points to --help' '
	rc=0 &&
	enclave-sync --no-such-option >out 2>err || rc=$? &&
	test $rc -eq 2 &&
	grep -q "^enclave-sync: unrecognized option '\''--no-such-option'\''$" err &&
	grep -q "^Try '\''enclave-sync --help'\''.$" err &&
	! grep -q "usage:" err &&
	test ! -s out
'

test_expect_success 'enclave-fs --version and --help' '
	enclave-fs --version >out &&
	grep -q "^enclave-fs [0-9][0-9.]*$" out &&
	enclave-fs --help >out &&
	grep -q "fusermount3 -u MOUNTPOINT" out &&
	grep -q "connect=ADDR, cache=DIR, kek=FILE" out
'

test_expect_success 'enclave-fs usage errors exit 2 and mount nothing' '
	mkdir m &&
	for args in "" "--no-such-option m" "a b c" "--connect fd:3 m" "--connect tcp:1 m" \
		"--max-jobs 0 m" "-o max_jobs=x m"; do
		rc=0 &&
		# shellcheck disable=SC2086
		enclave-fs $args >out 2>err || rc=$? &&
		test $rc -eq 2 || { echo "enclave-fs $args: exit $rc" && cat err; exit 1; } &&
		test -s err || exit 1
	done &&
	! mountpoint -q m
'

test_expect_success 'man pages render without warnings' '
	for page in enclave-fs.1 enclaved.8 enclave-seal.1 enclave-sync.1; do
		groff -man -Tutf8 -ww -z "$top_srcdir/doc/$page" 2>err &&
		test ! -s err || { cat err; exit 1; }
	done
'

test_done
