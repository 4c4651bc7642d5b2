#!/bin/sh
# The kernel keeps what the mount tells it of every tree for a day (entries,
# attributes, pages), so output/ and jobs/, which the enclave changes behind
# it, must be dropped from its cache each time the link changes them. Here a
# job's files are looked at (stat, ls, cat) through the mount, then the job
# replaces a file with a longer one, grows another in place, removes one,
# makes a directory and ends: each change shows through the mount at once,
# read through the same kernel entries that were cached before it.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "coherence", "version": "1",
 "entries": {"change": {"argv": ["sh", "change.sh"], "timeout_s": 120}},
 "default": "change"}
JSON
cat >app/change.sh <<'SH'
echo one >/output/replaced
echo one >/output/grown
echo one >/output/removed
echo "first part"
while [ ! -e /dataset/go ]; do sleep 0.1; done
echo "two two two" >/output/replaced.tmp && mv /output/replaced.tmp /output/replaced
echo "and more" >>/output/grown
rm /output/removed
mkdir /output/made
echo "second part"
exit 3
SH
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o coherence.sealed app 2>/dev/null

MNT=$SCRATCH/mnt
mount_enclave fs "$MNT" --kek k.kek

# until SECONDS CMD...: runs CMD every 0.1 s until it succeeds, for at most
# SECONDS.
until_ok() {
	uo_n=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		uo_n=$((uo_n - 1))
		[ "$uo_n" -gt 0 ] || return 1
		sleep 0.1
	done
}
is() { test "$(cat "$1")" = "$2"; }
nonempty() { test -n "$(cat "$1")"; }

test_expect_success 'setup: the job wrote its first files, seen through the mount' '
	cp coherence.sealed "$MNT/encrypted/" &&
	echo coherence.sealed >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	echo "$id" >id &&
	until_ok 30 is "$MNT/output/removed" one &&
	until_ok 30 is "$MNT/output/grown" one &&
	until_ok 30 is "$MNT/output/replaced" one &&
	until_ok 30 grep -q "first part" "$MNT/jobs/$id/log" &&
	test "$(stat -c %s "$MNT/output/replaced")" = 4 &&
	test "$(stat -c %s "$MNT/output/grown")" = 4 &&
	ls "$MNT/output" >ls.before &&
	grep -qx removed ls.before &&
	! grep -qx made ls.before &&
	test "$(cat "$MNT/jobs/$id/state")" = running &&
	test -z "$(cat "$MNT/jobs/$id/exit")" &&
	! test -e "$MNT/output/made"
'

test_expect_success 'what the job changes shows at once through the cached entries' '
	id=$(cat id) &&
	touch "$MNT/dataset/go" &&
	until_ok 60 nonempty "$MNT/jobs/$id/exit" &&
	test "$(cat "$MNT/jobs/$id/exit")" = 3 &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	until_ok 30 grep -q "second part" "$MNT/jobs/$id/log" &&
	until_ok 30 is "$MNT/output/replaced" "two two two" &&
	test "$(stat -c %s "$MNT/output/replaced")" = 12 &&
	until_ok 30 is "$MNT/output/grown" "$(printf "one\nand more")" &&
	test "$(stat -c %s "$MNT/output/grown")" = 13 &&
	until_ok 30 test ! -e "$MNT/output/removed" &&
	until_ok 30 test -d "$MNT/output/made" &&
	ls "$MNT/output" >ls.after &&
	! grep -qx removed ls.after &&
	grep -qx made ls.after
'

unmount_enclave fs "$MNT"

test_done
