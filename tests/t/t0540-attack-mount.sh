#!/bin/sh
# The mount against its own users and its own enclave: another local user
# of an -o allow_other mount, a job line written in small pieces, and a job
# whose /output nests deeper than the enclave's descriptor limit.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool setpriv prlimit

MNT="$SCRATCH/mnt"
CACHE="$SCRATCH/fs.cache"
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

enclave-seal keygen -o k.kek >/dev/null
mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "m", "version": "1",
 "entries": {
  "echo": {"argv": ["sh", "-c", "echo \"$*\"", "sh"], "args": {"--text": "text"}},
  "nest": {"argv": ["sh", "-c", "cd /output && echo top >top.txt && i=0 && while [ $i -lt 1100 ]; do mkdir n && cd n || exit 1; i=$((i+1)); done && echo bottom >bottom.txt"]}
 }}
JSON
enclave-seal seal --kek k.kek -o m.sealed app 2>/dev/null

# The mount and its development enclave with few descriptors.
mkdir -p "$MNT"
start_daemon fs prlimit --nofile=512 -- enclave-fs -f -v --cache "$CACHE" --kek k.kek \
	-o allow_other "$MNT"

njobs() {
	ls "$MNT/jobs" | grep -c '^[0-9]*$' || :
}

test_expect_success 'allow_other brings default_permissions' '
	grep " $MNT fuse" /proc/mounts >m &&
	grep "default_permissions" m &&
	grep "allow_other" m
'

test_expect_success 'another user cannot write where the mode says no, start jobs or chown to root' '
	test_must_fail $NOBODY touch "$MNT/dataset/x" &&
	test ! -e "$CACHE/dataset/x" &&
	test_must_fail $NOBODY sh -c "echo m.sealed >$MNT/.run" &&
	chmod 1777 "$MNT/dataset" &&
	$NOBODY sh -c "echo mine >$MNT/dataset/mine && chmod 4755 $MNT/dataset/mine && mkdir -m 2755 $MNT/dataset/d" &&
	test "$(stat -c %a:%u "$CACHE/dataset/mine")" = 755:65534 &&
	test "$(stat -c %a "$CACHE/dataset/d")" = 755 &&
	test_must_fail $NOBODY chown 0 "$MNT/dataset/mine" &&
	test "$(stat -c %u "$CACHE/dataset/mine")" = 65534 &&
	chmod 4755 "$MNT/dataset/mine" &&
	test "$(stat -c %a "$CACHE/dataset/mine")" = 755
'

test_expect_success 'the cache is closed to other users' '
	test "$(stat -c %a "$CACHE")" = 700
'

test_expect_success 'a job line written in 32-byte pieces starts one job with the whole line' '
	cp m.sealed "$MNT/encrypted/" &&
	before=$(njobs) &&
	line="m.sealed echo --text 0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz" &&
	echo "$line" | dd of="$MNT/.run" bs=32 2>/dev/null &&
	test "$(njobs)" = "$((before + 1))" &&
	id=$(cat "$MNT/.run") &&
	test "$(cat "$MNT/jobs/$id/cmd")" = "$line" &&
	wait_job fs "$id" &&
	grep -x -- "--text 0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz" \
		"$MNT/jobs/$id/log"
'

test_expect_success 'a line without a newline runs at close' '
	before=$(njobs) &&
	printf "m.sealed echo --text last" >"$MNT/.run" &&
	test "$(njobs)" = "$((before + 1))"
'

test_expect_success 'a job nesting 1,100 directories leaves the link working' '
	echo "m.sealed nest" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	wait_job fs "$id" &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	test "$(cat "$MNT/output/top.txt")" = top &&
	echo "m.sealed echo --text after" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	wait_job fs "$id" &&
	grep -x -- "--text after" "$MNT/jobs/$id/log" &&
	grep "more than 128 levels below its tree" fs.log
'

rc=0
unmount_enclave fs "$MNT" || rc=$?
test_expect_success 'unmount ends the mount with status 0' '
	test "$rc" = 0 &&
	! grep -q " $MNT " /proc/mounts
'

test_done
