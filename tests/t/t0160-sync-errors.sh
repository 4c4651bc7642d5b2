#!/bin/sh
# enclave-sync rejects bad addresses and directories with exit 2 and a message
# that names the problem, and reports an unreachable enclave with exit 3.
. "$top_srcdir/tests/lib.sh"

mkdir host

# expect_exit CODE COMMAND...: runs COMMAND with stdout in out, stderr in err.
test_expect_success 'an unknown address scheme exits 2 and lists the valid ones' '
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect tcp:1.2.3.4 --once host &&
	grep -q "tcp:1.2.3.4" err &&
	grep -q "vsock:CID:PORT" err &&
	grep -q "unix:PATH" err &&
	test ! -s out
'

test_expect_success 'a vsock port that is not a number exits 2' '
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect vsock:x --once host &&
	grep -q "port .x. is not a number" err &&
	expect_exit 2 enclave-sync --dev-root "$DEVROOT" --listen vsock:3:x host &&
	grep -q "port .x. is not a number" err
'

test_expect_success 'an empty unix socket path exits 2' '
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect unix: --once host &&
	grep -q "path is empty" err
'

test_expect_success 'connecting to a socket that does not exist with --once exits 3' '
	expect_exit 3 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/missing.sock" --once host &&
	grep -q "cannot connect to unix:$SCRATCH/missing.sock: No such file or directory" err
'

test_expect_success 'connecting to a socket nobody listens on with --once exits 3' '
	perl -MIO::Socket::UNIX -e "IO::Socket::UNIX->new(Local => \$ARGV[0], Listen => 1) or die" \
		"$SCRATCH/dead.sock" &&
	test -S dead.sock &&
	expect_exit 3 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/dead.sock" --once host &&
	grep -q "cannot connect to unix:$SCRATCH/dead.sock: Connection refused" err
'

test_expect_success 'a DIR that is a file is a runtime error (1)' '
	echo data >afile &&
	expect_exit 1 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/missing.sock" --once afile &&
	grep -q "afile: not a directory" err &&
	expect_exit 1 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/l.sock" afile &&
	grep -q "afile: not a directory" err &&
	test ! -e l.sock
'

test_expect_success 'a DIR that does not exist exits 1 and is not created' '
	expect_exit 1 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/missing.sock" --once nodir &&
	grep -q "nodir: not a directory" err &&
	test ! -e nodir
'

test_expect_success '--once with --listen and a missing DIR argument are usage errors' '
	expect_exit 2 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/l.sock" --once host &&
	grep -q "^enclave-sync: --once works with --connect only$" err &&
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/l.sock" --once &&
	grep -q "^enclave-sync: missing DIR$" err &&
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/l.sock" --listen "unix:$SCRATCH/m.sock" host &&
	grep -q "^enclave-sync: --connect and --listen exclude each other$" err &&
	grep -q "^Try '\''enclave-sync --help'\''.$" err
'

test_expect_success 'listening where the socket cannot be created exits 3' '
	expect_exit 3 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/no/such/dir/s.sock" host &&
	grep -q "cannot listen on unix:$SCRATCH/no/such/dir/s.sock" err
'

test_expect_success 'listening over a regular file exits 3 and leaves the file alone' '
	echo keep >not-a-socket &&
	expect_exit 3 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/not-a-socket" host &&
	grep -q "cannot listen on unix:$SCRATCH/not-a-socket" err &&
	test "$(cat not-a-socket)" = keep
'

test_expect_success 'a socket file left by a dead listener is replaced' '
	rm -f stale.sock &&
	perl -MIO::Socket::UNIX -e "IO::Socket::UNIX->new(Local => \$ARGV[0], Listen => 1) or die" \
		"$SCRATCH/stale.sock" &&
	test -S stale.sock &&
	mkdir -p stale-enc &&
	start_daemon stale enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/stale.sock" stale-enc &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/stale.sock" --once host &&
	stop_daemon stale
'

mkdir -p enc
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/live.sock" enc

test_expect_success 'a second listener on a live socket exits 3; the first keeps serving' '
	expect_exit 3 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/live.sock" enc &&
	grep -q "cannot listen on unix:$SCRATCH/live.sock: Address already in use" err &&
	mkdir -p host/dataset &&
	echo data >host/dataset/f &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/live.sock" --once host &&
	cmp host/dataset/f enc/dataset/f
'

test_done
