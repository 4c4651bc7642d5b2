#!/bin/sh
# A file the enclave's store cannot hold: enclave-sync's sync points say so
# (--once exits 5, --run 125, a SIGUSR1 sync point logs "not synced N")
# naming the file, and once space is freed on the enclave (a host file
# removed) the file arrives without a reconnect.
. "$top_srcdir/tests/lib.sh"

: "${SYNC_TIMEOUT:=60}"

# expect_exit CODE COMMAND...: runs COMMAND with stdout in out, stderr in err.
mkdir -p host/dataset host/model host/encrypted enc
head -c 2M /dev/urandom >host/dataset/a
head -c 1M /dev/urandom >host/dataset/b
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --max-store 4M -v enc

test_expect_success '--max-store needs --listen' '
	expect_exit 2 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --max-store 1M --once host &&
	expect_exit 2 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/x.sock" --max-store lots host
'

test_expect_success 'what fits in the store: --once exits 0' '
	expect_exit 0 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	cmp host/dataset/a enc/dataset/a &&
	cmp host/dataset/b enc/dataset/b
'

test_expect_success 'a file beyond the store: --once exits 5 and names it' '
	head -c 2M /dev/urandom >host/dataset/big &&
	expect_exit 5 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	cat err &&
	grep -x "enclave-sync: not synced: dataset/big: No space left on device" err &&
	test ! -e enc/dataset/big &&
	cmp host/dataset/a enc/dataset/a &&
	cmp host/dataset/b enc/dataset/b
'

test_expect_success '--run does not start the job when a file is not stored' '
	expect_exit 125 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "pkg entry" host &&
	grep -x "enclave-sync: not synced: dataset/big: No space left on device" err &&
	! grep "runs no packages" "$SCRATCH/enclave.log"
'

enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v host >"$SCRATCH/watcher.log" 2>&1 &
track_daemon watcher $!

test_expect_success 'a sync point of a watching host reports the file' '
	waitline -t 60 "$SCRATCH/watcher.log" "connected to enclave" &&
	sync_point watcher 1 &&
	grep "not synced 1: dataset/big: No space left on device" "$SCRATCH/watcher.log" &&
	test ! -e enc/dataset/big
'

test_expect_success 'space freed on the enclave: the file arrives, no reconnect' '
	rm host/dataset/a &&
	sync_point watcher 2 &&
	! grep "not synced 2" "$SCRATCH/watcher.log" &&
	grep "synced 2" "$SCRATCH/watcher.log" &&
	cmp host/dataset/big enc/dataset/big &&
	test ! -e enc/dataset/a &&
	diff -r host/dataset enc/dataset &&
	test "$(grep -c "connected to enclave" "$SCRATCH/watcher.log")" = 1
'

# A refusal on the way is reported in the exit status (1) of a watching host.
watcher_rc=0
stop_daemon watcher INT || watcher_rc=$?
test_expect_success 'the watching host exits 1: a file was refused on the way' '
	test "$watcher_rc" = 1
'
stop_daemon enclave
test_done
