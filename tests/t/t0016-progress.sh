#!/bin/sh
# enclave-seal seal and enclave-sync show a progress line on a terminal
# (script(1) gives them one), ending at 100% with the total, and none when
# stderr is not a terminal.
. "$top_srcdir/tests/lib.sh"

test_require tool script

# on_tty FILE CMD: runs CMD (one string) with a pseudo-terminal as stdin,
# stdout and stderr; what it wrote goes to FILE, with the \r made newlines.
on_tty() {
	script -qfec "$2" /dev/null >"$1.raw" </dev/null &&
	tr "\r" "\n" <"$1.raw" >"$1"
}

test_expect_success 'setup: a key and an application of 5 MiB' '
	enclave-seal keygen -o k.kek >/dev/null &&
	mkdir -p app/sub &&
	head -c 3145728 /dev/urandom >app/a.bin &&
	head -c 2097152 /dev/urandom >app/sub/b.bin &&
	echo hi >app/hello
'

test_expect_success 'seal on a terminal: a progress line that ends at 100% of the total' '
	on_tty seal.out "enclave-seal seal --kek k.kek --entry x=/bin/true -o p1.sealed app" &&
	grep "^enclave-seal seal: 5.0 MiB / 5.0 MiB  100%.*3/3 files" seal.out &&
	test -s p1.sealed
'

test_expect_success 'seal without a terminal: no progress line, unless --progress' '
	enclave-seal seal --kek k.kek --entry x=/bin/true -o p2.sealed app 2>seal.err &&
	! grep -q "MiB" seal.err &&
	! grep -q "$(printf "\r")" seal.err &&
	enclave-seal seal --progress --kek k.kek --entry x=/bin/true -o p3.sealed app 2>seal.err &&
	tr "\r" "\n" <seal.err | grep -q "5.0 MiB / 5.0 MiB  100%" &&
	on_tty seal.out "enclave-seal seal --no-progress --kek k.kek --entry x=/bin/true -o p4.sealed app" &&
	! grep -q "MiB" seal.out
'

test_expect_success 'setup: a host tree of 5 MiB' '
	mkdir -p host/dataset enc &&
	head -c 4194304 /dev/urandom >host/dataset/big &&
	head -c 1048576 /dev/urandom >host/dataset/small
'

start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

SYNC="enclave-sync --trust-root $DEVROOT/root.pem --key $DEVROOT/host.key --connect unix:$SCRATCH/s.sock --once"

test_expect_success 'enclave-sync --once on a terminal: the bytes both ways, ending at 100%' '
	on_tty sync.out "$SYNC host" &&
	grep "^enclave-sync: 5.0 MiB / 5.0 MiB  100%.*2/2 files" sync.out &&
	cmp host/dataset/big enc/dataset/big
'

test_expect_success 'enclave-sync without a terminal: no progress line; --stats still prints' '
	head -c 1048576 /dev/urandom >host/dataset/more &&
	$SYNC --stats host 2>sync.err &&
	! grep -q "MiB" sync.err &&
	grep -q "files sent:          1 (1048576 bytes)" sync.err &&
	cmp host/dataset/more enc/dataset/more
'

test_expect_success '-v logs each completed transfer at info level, the default does not' '
	head -c 65536 /dev/urandom >host/dataset/v1 &&
	$SYNC -v host 2>v.err &&
	grep -q "info: sent dataset/v1 (64.0 KiB in [0-9.]* s)" v.err &&
	head -c 65536 /dev/urandom >host/dataset/v2 &&
	$SYNC host 2>q.err &&
	! grep -q "sent dataset/v2" q.err
'

stop_daemon enclave
test_done
