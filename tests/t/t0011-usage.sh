#!/bin/sh
# Usage errors name what is wrong in one line and point to --help, with the
# program (and subcommand) that complains; a missing key file is a runtime
# error. Exit status: 2 for a usage error, 1 for a runtime error.
. "$top_srcdir/tests/lib.sh"

# expect_usage CODE "LINE" CMD...: CMD exits CODE, prints nothing on stdout
# and exactly LINE on stderr, then "Try 'PROG --help'." for PROG, the words
# of LINE before its first ": ".
expect_usage() {
	eu_code=$1 eu_line=$2
	shift 2
	expect_exit "$eu_code" "$@" &&
	eu_prog=${eu_line%%: *} &&
	printf "%s\nTry '%s --help'.\n" "$eu_line" "$eu_prog" >err.want &&
	test ! -s out &&
	if ! cmp -s err.want err; then
		echo "stderr of: $*" >&2 &&
		diff -u err.want err >&2
		return 1
	fi
}

test_expect_success 'setup: a key and an application' '
	enclave-seal keygen -o k.kek >/dev/null &&
	mkdir -p app host enc &&
	echo hi >app/hello
'

test_expect_success 'enclave-seal without or with an unknown command' '
	expect_usage 2 "enclave-seal: missing command (keygen, seal, policy, inspect, eif, dev-root or attest)" enclave-seal &&
	expect_usage 2 "enclave-seal: unknown command '\''frobnicate'\''" enclave-seal frobnicate &&
	expect_usage 2 "enclave-seal: unrecognized option '\''--frob'\''" enclave-seal --frob=secret &&
	expect_usage 2 "enclave-seal attest: missing command (verify)" enclave-seal attest
'

test_expect_success 'enclave-seal keygen' '
	expect_usage 2 "enclave-seal keygen: unrecognized option '\''--bogus'\''" enclave-seal keygen --bogus &&
	expect_usage 2 "enclave-seal keygen: option '\''-o'\'' requires an argument" enclave-seal keygen -o &&
	expect_usage 2 "enclave-seal keygen: missing -o FILE" enclave-seal keygen &&
	expect_exit 1 enclave-seal keygen -o no/such/dir/k.kek &&
	grep -q "no/such/dir/k.kek" err
'

test_expect_success 'enclave-seal seal' '
	expect_usage 2 "enclave-seal seal: unrecognized option '\''--bogus'\''" enclave-seal seal --bogus &&
	expect_usage 2 "enclave-seal seal: option '\''--kek'\'' requires an argument" enclave-seal seal --kek &&
	expect_usage 2 "enclave-seal seal: missing --kek FILE or --kms-key KEY" enclave-seal seal -o p app &&
	expect_usage 2 "enclave-seal seal: missing -o PACKAGE" enclave-seal seal --kek k.kek app &&
	expect_usage 2 "enclave-seal seal: missing APPDIR" enclave-seal seal --kek k.kek -o p &&
	expect_usage 2 "enclave-seal seal: --entry takes NAME=COMMAND, not '\''x'\''" enclave-seal seal --kek k.kek --entry x -o p app &&
	expect_usage 2 "enclave-seal seal: option '\''--zstd'\'' doesn'\''t allow an argument" enclave-seal seal --zstd=yes &&
	expect_exit 1 enclave-seal seal --kek missing.kek --entry "x=/bin/true" -o p app &&
	grep -q "missing.kek: not a key-encryption key file: No such file or directory" err &&
	test ! -e p
'

test_expect_success 'enclave-seal inspect, eif, dev-root, policy' '
	expect_usage 2 "enclave-seal inspect: unrecognized option '\''--bogus'\''" enclave-seal inspect --bogus &&
	expect_usage 2 "enclave-seal inspect: missing PACKAGE" enclave-seal inspect &&
	expect_exit 1 enclave-seal inspect missing.sealed &&
	expect_usage 2 "enclave-seal eif: unrecognized option '\''--bogus'\''" enclave-seal eif --bogus &&
	expect_usage 2 "enclave-seal eif: missing FILE.eif" enclave-seal eif &&
	expect_exit 1 enclave-seal eif missing.eif &&
	expect_usage 2 "enclave-seal dev-root: unrecognized option '\''--bogus'\''" enclave-seal dev-root --bogus &&
	expect_usage 2 "enclave-seal dev-root: option '\''-o'\'' requires an argument" enclave-seal dev-root -o &&
	expect_usage 2 "enclave-seal dev-root: missing -o DIR" enclave-seal dev-root &&
	expect_usage 2 "enclave-seal policy: unrecognized option '\''--bogus'\''" enclave-seal policy --bogus &&
	expect_usage 2 "enclave-seal policy: option '\''--pcr0'\'' requires an argument" enclave-seal policy --pcr0 &&
	expect_usage 2 "enclave-seal policy: missing --key-account ID" enclave-seal policy
'

test_expect_success 'enclave-seal attest verify' '
	expect_usage 2 "enclave-seal attest verify: unrecognized option '\''--bogus'\''" enclave-seal attest verify --bogus &&
	expect_usage 2 "enclave-seal attest verify: option '\''--nonce'\'' requires an argument" enclave-seal attest verify --nonce &&
	expect_usage 2 "enclave-seal attest verify: missing DOC" enclave-seal attest verify &&
	expect_exit 1 enclave-seal attest verify --trust-root missing.pem doc &&
	expect_exit 1 enclave-seal attest verify missing.doc
'

test_expect_success '--help of every subcommand goes to stdout and exits 0' '
	for cmd in "" keygen seal inspect eif dev-root policy attest "attest verify"; do
		# shellcheck disable=SC2086
		enclave-seal $cmd --help >out 2>err &&
		test -s out && test ! -s err || { echo "enclave-seal $cmd --help" && exit 1; }
	done
'

test_expect_success 'enclaved' '
	expect_usage 2 "enclaved: unrecognized option '\''--bogus'\''" enclaved --bogus &&
	expect_usage 2 "enclaved: option '\''--state'\'' requires an argument" enclaved --listen unix:x --state &&
	expect_usage 2 "enclaved: missing --state DIR" enclaved --listen unix:x &&
	expect_usage 2 "enclaved: missing --listen ADDR" enclaved --state st &&
	expect_usage 2 "enclaved: --max-jobs takes a number from 1 to 1024, not '\''lots'\''" enclaved --max-jobs lots &&
	enclaved --help >out &&
	grep -q "usage: enclaved" out
'

# Needs the development enclave's namespaces (root): the key file is read
# by the key process, after the arguments.
if [ "$(id -u)" = 0 ]; then
	test_expect_success 'enclaved: a missing key file exits 1' '
		expect_exit 1 enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/d.sock" \
			--state st --kek missing.kek --no-kms &&
		grep -q "missing.kek: not a key-encryption key file" err
	'
fi

test_expect_success 'enclave-sync' '
	expect_usage 2 "enclave-sync: unrecognized option '\''--bogus'\''" enclave-sync --bogus &&
	expect_usage 2 "enclave-sync: option '\''--connect'\'' requires an argument" enclave-sync host --connect &&
	expect_usage 2 "enclave-sync: missing DIR" enclave-sync --connect unix:x --once &&
	expect_usage 2 "enclave-sync: missing --connect ADDR or --listen ADDR" enclave-sync host &&
	expect_usage 2 "enclave-sync: --max-store takes a size in bytes (K, M, G, T), not '\''lots'\''" enclave-sync --max-store lots &&
	expect_exit 1 enclave-sync --trust-root "$DEVROOT/root.pem" --key missing/host.key --connect "unix:$SCRATCH/none.sock" --once host &&
	grep -q "missing/host.key" err
'

test_expect_success 'enclave-fs' '
	expect_usage 2 "enclave-fs: unrecognized option '\''--bogus'\''" enclave-fs --bogus m &&
	expect_usage 2 "enclave-fs: option '\''--cache'\'' requires an argument" enclave-fs --cache &&
	expect_usage 2 "enclave-fs: missing MOUNTPOINT" enclave-fs -f &&
	expect_usage 2 "enclave-fs: --connect-timeout takes seconds (1 to 86400), not '\''soon'\''" \
		enclave-fs --connect-timeout soon m &&
	expect_usage 2 "enclave-fs: --ready takes mounted or synced, not '\''now'\''" enclave-fs --ready now m &&
	mkdir -p m &&
	expect_exit 1 enclave-fs --cache c --kek missing.kek m &&
	grep -x "enclave-fs: error: key file missing.kek: No such file or directory" err
'

test_done
