#!/bin/sh
# The command-line front ends answer --help and --version and reject bad usage.
. "$top_srcdir/tests/lib.sh"

test_expect_success 'enclave-sync --version prints the package version' '
	enclave-sync --version >out &&
	grep -q "^enclave-sync [0-9][0-9.]*$" out
'

test_expect_success 'enclave-sync --help describes the addresses' '
	enclave-sync --help >out &&
	grep -q "vsock:CID:PORT" out &&
	grep -q "unix:PATH" out
'

test_expect_success 'an unknown option exits 2 with usage on stderr' '
	set +e
	enclave-sync --no-such-option >out 2>err
	rc=$?
	set -e
	test $rc -eq 2 &&
	grep -q "usage:" err &&
	test ! -s out
'

test_done
