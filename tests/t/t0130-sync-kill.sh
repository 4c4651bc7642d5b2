#!/bin/sh
# Killing either side with SIGKILL in the middle of a large transfer leaves no
# partial file in the enclave, and the next pass (or the watching host's own
# reconnection) makes the trees identical.
. "$top_srcdir/tests/lib.sh"

: "${SYNC_TIMEOUT:=60}"

same_trees() {
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted &&
	diff -r enc/output host/output
}

# no_partial_files: the enclave's trees hold no name the host's do not (no
# temporary file), and the large file is either absent or complete.
no_partial_files() {
	(cd enc && find dataset model encrypted | sort) >enc-names &&
	(cd host && find dataset model encrypted | sort) >host-names &&
	comm -23 enc-names host-names >tmpfiles &&
	test ! -s tmpfiles &&
	{ test ! -e enc/model/big || cmp host/model/big enc/model/big; }
}

# staging_empty: the enclave's staging directory holds nothing (it is
# emptied when the enclave starts, and a commit leaves nothing there).
staging_empty() {
	ls -A enc/.efs-staging >staged &&
	test ! -s staged
}

# open_tmpfiles PID: the number of unlinked files PID holds open.
open_tmpfiles() {
	ls -l "/proc/$1/fd" | grep -c "(deleted)" || true
}

# start_enclave: (re)starts the enclave, logging debug lines to enclave.log.
start_enclave() {
	start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" -v -v enc
}

mkdir -p host/dataset host/model host/encrypted enc/output
# The initial pass sends encrypted/ before model/ and does not wait between
# files: once the enclave has received the marker, it is building the large
# file in an anonymous temporary file (checked in /proc).
echo marker >host/encrypted/marker
head -c 1G /dev/urandom >host/model/big
echo data >host/dataset/small
echo result >enc/output/result
start_enclave

test_expect_success 'SIGKILL of a --once host mid-transfer leaves no partial file' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host >host1.log 2>&1 &
	pid=$! &&
	waitline -t 60 enclave.log "received encrypted/marker" &&
	test "$(open_tmpfiles $enclave_pid)" -ge 1 &&
	kill -9 $pid &&
	{ rc=0 && wait $pid || rc=$?; } &&
	test $rc -eq 137 &&
	waitline -t 60 enclave.log "connection ended" &&
	! grep -q "received model/big" enclave.log &&
	no_partial_files &&
	test ! -e enc/model/big &&
	test "$(open_tmpfiles $enclave_pid)" -eq 0
'

test_expect_success 'the next --once completes the interrupted transfer' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	same_trees &&
	no_partial_files &&
	staging_empty
'

test_expect_success 'SIGKILL of the enclave mid-transfer makes the --once host exit 3' '
	rm enc/model/big &&
	echo marker2 >host/encrypted/marker2 &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host >host2.log 2>&1 &
	pid=$! &&
	waitline -t 60 enclave.log "received encrypted/marker2" &&
	test "$(open_tmpfiles $enclave_pid)" -ge 1 &&
	kill -9 $enclave_pid &&
	{ rc=0 && wait $pid || rc=$?; } &&
	cat host2.log &&
	test $rc -eq 3 &&
	grep -q "connection to unix:$SCRATCH/s.sock lost" host2.log &&
	no_partial_files &&
	test ! -e enc/model/big
'

start_enclave

test_expect_success 'after a restart of the enclave the next --once makes identical trees' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	same_trees &&
	no_partial_files &&
	staging_empty
'

# A watching host for the rest of the script; test_done stops it.
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host "$host_pid"

test_expect_success 'a watching host gets in sync' '
	waitline -t 60 host.log "in sync" &&
	echo before >host/dataset/before &&
	kill -USR1 $host_pid &&
	waitline -t 60 host.log "synced 1" &&
	same_trees
'

test_expect_success 'SIGKILL of the enclave: the watching host keeps retrying' '
	kill -9 $enclave_pid &&
	waitline -t 60 host.log "reconnecting in" &&
	echo "written while the enclave was down" >host/dataset/while-down &&
	rm host/dataset/before &&
	kill -0 $host_pid
'

start_enclave

test_expect_success 'the watching host reconnects on its own and catches up' '
	waitline -t 60 -n 2 host.log "in sync" &&
	echo after >host/dataset/after &&
	kill -USR1 $host_pid &&
	waitline -t 60 -n 2 host.log "synced 1" &&
	same_trees &&
	test -f enc/dataset/while-down &&
	test ! -e enc/dataset/before &&
	no_partial_files &&
	staging_empty
'

test_expect_success 'output written in the restarted enclave reaches the host' '
	echo "new result" >enc/output/result2 &&
	sync_point enclave 1 &&
	same_trees
'

test_done
