#!/bin/sh
# enclave-sync on a DIR it cannot write (a read-only file system: chmod does
# not stop root) reports the error and exits 3; it used to crash on the way
# out of the engine's setup.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool mount umount

mkdir ro
mount -t tmpfs -o ro,size=1m none "$SCRATCH/ro" ||
	skip_all "a read-only tmpfs mount"

# expect_exit CODE COMMAND...: runs COMMAND with stdout in out, stderr in err.
test_expect_success 'connecting with a read-only DIR exits 3 and names the error' '
	expect_exit 3 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/missing.sock" --once ro &&
	grep -q "ro: Read-only file system" err &&
	test -z "$(ls -A ro)"
'

test_expect_success 'listening with a read-only DIR exits 3 and creates no socket' '
	expect_exit 3 enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/l.sock" ro &&
	grep -q "ro: Read-only file system" err &&
	test ! -e l.sock
'

umount "$SCRATCH/ro"
test_done
