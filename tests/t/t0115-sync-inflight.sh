#!/bin/sh
# A file that changes (grows, is rewritten, renamed or deleted) while its
# transfer is still in flight: the next sync point still leaves the enclave
# identical to the host.
#
# Each round starts a watching host whose initial pass sends encrypted/mark-N
# and then a large file in dataset/. The sender does not wait between files,
# so once the enclave logs that it received the marker, the large file's
# transfer has begun and is not yet acknowledged: that is when it is changed.
. "$top_srcdir/tests/lib.sh"

: "${SYNC_TIMEOUT:=60}"

same_trees() {
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted
}

# start_round N: a new large file and marker, and a watching host (host_N,
# its log host_N.log) whose initial pass sends them.
start_round() {
	echo "marker $1" >host/encrypted/mark-$1
	cp base.bin host/dataset/big-$1
	printf "round %s" "$1" | dd of=host/dataset/big-$1 bs=1 seek=1000 conv=notrunc 2>/dev/null
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v "host" >"$SCRATCH/host_$1.log" 2>&1 &
	track_daemon "host_$1" $!
}

mkdir -p host/dataset host/model host/encrypted enc
head -c 256M /dev/urandom >base.bin
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" -v -v enc

start_round 1
test_expect_success 'a file appended to while its transfer is in flight' '
	waitline -t 60 enclave.log "received encrypted/mark-1" &&
	echo "appended while in flight" >>host/dataset/big-1 &&
	sync_point host_1 1 &&
	same_trees
'
stop_daemon host_1 || true

start_round 2
test_expect_success 'a file rewritten while its transfer is in flight' '
	waitline -t 60 enclave.log "received encrypted/mark-2" &&
	echo "small now" >host/dataset/big-2 &&
	sync_point host_2 1 &&
	same_trees
'
stop_daemon host_2 || true

start_round 3
test_expect_success 'a file renamed while its transfer is in flight' '
	waitline -t 60 enclave.log "received encrypted/mark-3" &&
	mv host/dataset/big-3 host/dataset/big-3-renamed &&
	sync_point host_3 1 &&
	same_trees &&
	test ! -e enc/dataset/big-3
'
stop_daemon host_3 || true

start_round 4
test_expect_success 'a file deleted while its transfer is in flight' '
	waitline -t 60 enclave.log "received encrypted/mark-4" &&
	rm host/dataset/big-4 &&
	sync_point host_4 1 &&
	same_trees &&
	test ! -e enc/dataset/big-4
'
stop_daemon host_4 || true

test_expect_success 'no temporary file is left in the enclave' '
	ls -A enc/.efs-staging >tmpfiles &&
	test ! -s tmpfiles
'

test_done
