#!/bin/sh
# The receiver builds what it receives in ROOT/.efs-staging, outside the
# trees, and renames it into place: what a crash left there is removed when
# the receiver starts and never appears in a tree; a user's names that look
# like the engine's own (.efs-tmp..., .efs-staging inside a tree) sync like
# any other; the mount shows no staging directory.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

: "${SYNC_TIMEOUT:=60}"

mkdir -p host/dataset/.efs-staging host/model/.efs-tmp-dir host/encrypted \
	enc/.efs-staging/d enc/output
echo stale >enc/.efs-staging/1234.5
echo stale >enc/.efs-staging/d/x
echo user >host/dataset/.efs-tmp.1.2
echo user >host/dataset/.efs-staging/f
echo user >host/model/.efs-tmp-dir/x
echo out >enc/output/.efs-tmp.7.7

start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" -v enc

test_expect_success 'stale staged files are removed when the receiver starts' '
	test "$(stat -c %a enc/.efs-staging)" = 700 &&
	ls -A enc/.efs-staging >staged &&
	test ! -s staged
'

test_expect_success 'names like the engine'"'"'s own sync like any other, both ways' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r enc/output host/output &&
	test "$(cat enc/dataset/.efs-tmp.1.2)" = user &&
	test "$(cat enc/dataset/.efs-staging/f)" = user &&
	test "$(cat host/output/.efs-tmp.7.7)" = out
'

test_expect_success 'the stale files appear in no tree, and both staging directories are empty' '
	! grep -r stale enc/dataset enc/model enc/encrypted enc/output host &&
	ls -A enc/.efs-staging host/.efs-staging >staged &&
	printf "enc/.efs-staging:\n\nhost/.efs-staging:\n" >expect &&
	diff expect staged
'
stop_daemon enclave

test_expect_success 'a receiving tree on another file system is refused with a clear error' '
	mkdir -p other/dataset &&
	mount -t tmpfs -o size=1m other-dataset other/dataset &&
	test_when_finished "umount \"$SCRATCH/other/dataset\"" &&
	test_must_fail enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/other.sock" other 2>err &&
	grep "other/dataset: the tree is on another file system than other" err &&
	test ! -e other.sock
'

mkdir -p "$SCRATCH/fs.cache/.efs-staging"
echo stale >"$SCRATCH/fs.cache/.efs-staging/99.1"
mount_enclave fs mnt
M=$SCRATCH/mnt
CACHE=$SCRATCH/fs.cache

test_expect_success 'the mount'"'"'s cache has a staging directory, emptied at start' '
	test -d "$CACHE/.efs-staging" &&
	test ! -e "$CACHE/.efs-staging/99.1"
'

test_expect_success 'the mount does not show the staging directory' '
	ls -A "$M" >top &&
	! grep -x ".efs-staging" top &&
	test_must_fail stat "$M/.efs-staging" &&
	grep -x dataset top
'

test_expect_success 'names like the engine'"'"'s own are ordinary names in the mount' '
	echo mine >"$M/dataset/.efs-tmp.3.4" &&
	echo mine >"$M/dataset/.efs-staging" &&
	ls -A "$M/dataset" >names &&
	grep -x ".efs-tmp.3.4" names &&
	grep -x ".efs-staging" names &&
	test "$(cat "$CACHE/dataset/.efs-staging")" = mine &&
	test -d "$CACHE/.efs-staging"
'

rc=0
unmount_enclave fs "$M" || rc=$?

test_expect_success 'the mount exited cleanly' '
	test "$rc" = 0
'

test_done
