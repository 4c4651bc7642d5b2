#!/bin/sh
# A package the enclave cannot store fails its writer at close() with
# ENOSPC (the enclave's FILE_ACK), instead of blocking it; a package that
# fits is still opened, and the refused one is stored once it is written
# again after space was freed.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

enclave-seal keygen -o k.kek >/dev/null
mkdir app
echo '{"name": "small", "version": "1", "entries": {"hello": {"argv": ["echo", "hi"]}}}' >app/enclave.json
enclave-seal seal --kek k.kek -o small.sealed app 2>/dev/null
head -c 3M /dev/urandom >app/blob
enclave-seal seal --kek k.kek -o big.sealed app 2>/dev/null

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/enclaved.sock" --state "$SCRATCH/estate" \
	--kek k.kek --max-store 1M -v
mnt=$SCRATCH/mnt
mount_enclave fs "$mnt" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success 'a package larger than the enclave'\''s store: cp fails with ENOSPC' '
	test_must_fail timeout 120 cp big.sealed "$mnt/encrypted/" 2>cp.err &&
	cat cp.err &&
	grep "No space left on device" cp.err &&
	grep "package big.sealed: the enclave could not store the package" fs.log
'

test_expect_success 'the mount is still alive: a package that fits opens' '
	cp small.sealed "$mnt/encrypted/" &&
	echo "small.sealed hello" >"$mnt/.run" &&
	test -n "$(cat "$mnt/.run")"
'

stop_daemon enclave
start_daemon enclave2 enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/enclaved.sock" --state "$SCRATCH/estate" \
	--kek k.kek --max-store 64M -v

test_expect_success 'with space, the same package written again is opened' '
	waitline -t 60 fs.log "enclave connected" &&
	cp big.sealed "$mnt/encrypted/big.sealed" &&
	cmp big.sealed "$mnt/encrypted/big.sealed"
'

unmount_enclave fs "$mnt"
stop_daemon enclave2
test_done
