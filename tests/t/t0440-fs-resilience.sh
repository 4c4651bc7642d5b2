#!/bin/sh
# enclave-fs keeps going when things around it fail: a development enclave
# killed in the middle of a job is restarted and resynced, a remount resends
# the cache to a brand-new enclave and keeps the job records, unmounting
# cancels running jobs, a cache dir serves one mount at a time, and a mount
# on an enclaved of its own (--connect) reconnects when that enclaved restarts.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool pgrep python3

PY=/usr/bin/python3

# The owner's app: a long job that says it started and then sleeps for as many
# seconds as the host asks (each part of this script asks a different number,
# so its processes can be found with pgrep), a short one, one that writes a
# named file to /output, and one that lists what the enclave has in /dataset.
mkdir -p app data/sub
cat >app/enclave.json <<'JSON'
{"name": "resil", "version": "1",
 "entries": {
  "long": {"argv": ["sh", "long.sh"], "host_args": true},
  "hello": {"argv": ["sh", "-c", "echo hello from the enclave && echo made >/output/hello.txt"]},
  "mark": {"argv": ["sh", "mark.sh"], "host_args": true},
  "list": {"argv": ["sh", "-c", "cd /dataset && find . | LC_ALL=C sort"]}
 },
 "default": "hello"}
JSON
cat >app/long.sh <<'SH'
echo started
sleep "$1"
echo finished
SH
cat >app/mark.sh <<'SH'
echo "mark $1" >"/output/$1"
echo marked
SH
echo "a dataset file" >data/a.txt
seq 1 20000 >data/sub/numbers.txt
echo "a model" >model.bin
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o resil.sealed app 2>/dev/null

# Helpers for test bodies. run LINE: starts a job on the mount at $mnt, leaves
# its id in $id.
run() {
	echo "$1" >"$mnt/.run" &&
	id=$(cat "$mnt/.run") &&
	test -n "$id"
}

# status_py EXPR: true if the python expression EXPR holds for the mount's .status
# (parsed as s).
status_py() {
	$PY -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$mnt/.status" "$1"
}

# The sandboxes of the jobs of this script: "sleep N" with N one of ours
# (440x; t0441 and t0442, which may run at the same time, sleep 4411 and 4421).
sandboxes() {
	pgrep -f "^sleep 440[0-9]\$"
}

# --- 1. a development enclave killed in the middle of a job -----------------------

mnt=$SCRATCH/mnt
mount_enclave fs "$mnt" --kek k.kek

test_expect_success 'setup: a package, a dataset and a model on the mount' '
	cp resil.sealed "$mnt/encrypted/" &&
	cp -r data/. "$mnt/dataset/" &&
	cp model.bin "$mnt/model/" &&
	run "resil.sealed hello" &&
	wait_job fs $id &&
	test "$(cat "$mnt/jobs/$id/log")" = "hello from the enclave" &&
	test "$(cat "$SCRATCH/fs.cache/.enclave/dataset/sub/numbers.txt" | wc -l)" = 20000
'

test_expect_success 'a long job runs' '
	run "resil.sealed long 4401" &&
	echo $id >long1.id &&
	waitline -t 30 "$SCRATCH/fs.cache/jobs/$id/log" started &&
	test "$(cat "$mnt/jobs/$id/state")" = running &&
	test -f "$mnt/jobs/$id/exit" && test ! -s "$mnt/jobs/$id/exit" &&
	pgrep -f "^sleep 4401\$"
'

test_expect_success 'kill -9 of the development enclave: enclave-fs starts a new one' '
	test "$(grep -c "development enclave started" fs.log)" = 1 &&
	child=$(pgrep -P $fs_pid -x enclaved) &&
	test -n "$child" &&
	pgrep -f "enclaved.*$SCRATCH/fs.cache/.enclave" | grep -x "$child" &&
	kill -9 $child &&
	waitline -n 2 -t 30 fs.log "development enclave started" &&
	waitline -n 2 -t 30 fs.log "enclave connected" &&
	new=$(pgrep -P $fs_pid -x enclaved) &&
	test -n "$new" && test "$new" != "$child"
'

test_expect_success 'the job that ran in it is lost: state "lost: ...", exit 255' '
	id=$(cat long1.id) &&
	head -n 1 "$mnt/jobs/$id/state" | grep "^lost: ." &&
	test "$(cat "$mnt/jobs/$id/exit")" = 255 &&
	! grep finished "$mnt/jobs/$id/log"
'

test_expect_success '.status lists the lost job and counts the reconnect' '
	id=$(cat long1.id) &&
	status_py "$id in s[\"lost_jobs\"] and s[\"reconnects\"] >= 1 and s[\"connection\"] == \"connected\""
'

test_expect_success 'the package is verified again: a new job runs and writes output' '
	run "resil.sealed mark after-kill.txt" &&
	wait_job fs $id &&
	test "$(cat "$mnt/jobs/$id/state")" = exited &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0 &&
	test "$(cat "$mnt/jobs/$id/log")" = marked &&
	test "$(cat "$mnt/output/after-kill.txt")" = "mark after-kill.txt" &&
	status_py "[p[\"state\"] for p in s[\"packages\"] if p[\"name\"] == \"resil.sealed\"] == [\"ready\"]"
'

test_expect_success 'what dataset/ held before the kill is still in the enclave' '
	(cd "$mnt/dataset" && find . | LC_ALL=C sort) >expect &&
	run "resil.sealed list" &&
	wait_job fs $id &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0 &&
	diff -u expect "$mnt/jobs/$id/log"
'

test_expect_success 'a lost job does not keep running' '
	! pgrep -f "^sleep 4401\$"
'

# --- 4. a cache dir serves one mount ------------------------------------------------

test_expect_success 'a second mount of the same cache dir fails: "in use", exit 1' '
	mkdir -p mnt2 &&
	test_when_finished "fusermount3 -u mnt2 2>/dev/null || :" &&
	rc=0 && timeout 30 enclave-fs -f --cache "$SCRATCH/fs.cache" --kek k.kek mnt2 2>err || rc=$? &&
	cat err &&
	test $rc = 1 &&
	grep "in use" err &&
	! mountpoint -q mnt2 &&
	test "$(cat "$mnt/jobs/1/state")" = exited
'

# --- 2. remount: resync to a brand-new enclave ---------------------------------------

cat "$mnt/.run" >last.id
unmount_enclave fs "$mnt"
echo "rc=$?" >umount1.rc

test_expect_success 'unmount returns 0 and stops the development enclave' '
	test "$(cat umount1.rc)" = rc=0 &&
	! mountpoint -q "$mnt" &&
	! pgrep -f "enclaved.*$SCRATCH/fs.cache/.enclave" &&
	test -s fs.cache/.enclave/output/after-kill.txt
'

rm -rf "$SCRATCH/fs.cache/.enclave"
mount_enclave fs2 "$mnt" --cache "$SCRATCH/fs.cache" --kek k.kek

test_expect_success 'remount: old jobs are still listed with their states' '
	last=$(cat last.id) &&
	test "$last" -ge 4 &&
	test "$(ls "$mnt/jobs" | LC_ALL=C sort -n | tail -n 1)" = "$last" &&
	test "$(cat "$mnt/jobs/1/state")" = exited &&
	test "$(cat "$mnt/jobs/1/log")" = "hello from the enclave" &&
	head -n 1 "$mnt/jobs/$(cat long1.id)/state" | grep "^lost: " &&
	test "$(cat "$mnt/jobs/$last/cmd")" = "resil.sealed list"
'

test_expect_success 'remount: the new enclave receives encrypted/, dataset/ and model/ again' '
	run "resil.sealed hello" &&
	wait_job fs2 $id &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0 &&
	for t in encrypted dataset model; do
		diff -r "$mnt/$t" "$SCRATCH/fs.cache/.enclave/$t" || return 1
	done &&
	cmp resil.sealed "$SCRATCH/fs.cache/.enclave/encrypted/resil.sealed" &&
	status_py "s[\"sync\"][\"files_sent\"] >= 4" &&
	status_py "[p[\"state\"] for p in s[\"packages\"] if p[\"name\"] == \"resil.sealed\"] == [\"ready\"]"
'

test_expect_success 'remount: job ids keep counting, and a new job works' '
	last=$(cat last.id) &&
	test "$(ls "$mnt/jobs" | LC_ALL=C sort -n | tail -n 1)" = $((last + 1)) &&
	run "resil.sealed mark remount.txt" &&
	test "$id" = $((last + 2)) &&
	wait_job fs2 $id &&
	test "$(cat "$mnt/jobs/$id/log")" = marked &&
	test "$(cat "$mnt/output/remount.txt")" = "mark remount.txt"
'

unmount_enclave fs2 "$mnt"
echo "rc=$?" >umount2.rc
mount_enclave fs3 "$mnt" --cache "$SCRATCH/fs.cache" --kek k.kek

test_expect_success 'remount keeping the enclave state: output/ of earlier jobs is still there' '
	test "$(cat umount2.rc)" = rc=0 &&
	test "$(cat "$mnt/output/remount.txt")" = "mark remount.txt" &&
	test "$(cat "$mnt/output/hello.txt")" = made &&
	run "resil.sealed list" &&
	wait_job fs3 $id &&
	(cd "$mnt/dataset" && find . | LC_ALL=C sort) >expect &&
	diff -u expect "$mnt/jobs/$id/log" &&
	test "$(cat "$mnt/output/remount.txt")" = "mark remount.txt"
'

# --- 3. unmounting while a job runs ----------------------------------------------------

test_expect_success 'a long job runs before the unmount' '
	run "resil.sealed long 4403" &&
	echo $id >long3.id &&
	waitline -t 30 "$SCRATCH/fs.cache/jobs/$id/log" started &&
	pgrep -f "^sleep 4403\$"
'

# unmount_enclave waits at most STOP_TIMEOUT (30 s) for enclave-fs to exit
# with 0: the job would sleep for 4403 s, so ending at all shows it was not
# waited for (no wall-clock assertion: under load a bound of seconds is a race).
unmount_enclave fs3 "$mnt"
echo "rc=$?" >umount3.rc

# enclave-fs cancels the job and waits up to 5 s for its end: the sandbox ends on
# the cancel, so the record reads "cancelled" (130), never "lost".
test_expect_success 'unmount with a running job: exit 0 within bounds, the job is cancelled' '
	test "$(cat umount3.rc)" = rc=0 &&
	! mountpoint -q "$mnt" &&
	id=$(cat long3.id) &&
	test "$(cat "$SCRATCH/fs.cache/jobs/$id/state")" = cancelled &&
	test "$(cat "$SCRATCH/fs.cache/jobs/$id/exit")" = 130 &&
	grep "unmounting: cancelling job $id" fs3.log
'

test_expect_success 'after the unmount no enclaved and no sandbox of this script remains' '
	! pgrep -f "enclaved.*$SCRATCH/fs.cache/.enclave" &&
	! pgrep -f "^sleep 4403\$" &&
	! sandboxes
'

# --- 5. --connect: an enclaved of its own, restarted ----------------------------------

estart() {
	start_daemon "$1" enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/enclaved.sock" --state "$SCRATCH/estate" \
		--kek k.kek -v
}
estart enclave
mnt=$SCRATCH/cmnt
mount_enclave cfs "$mnt" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success '--connect: no development enclave is started, jobs run' '
	! pgrep -P $cfs_pid -x enclaved &&
	! grep "development enclave" cfs.log &&
	test ! -e cfs.cache/.enclave &&
	status_py "s[\"enclave\"] == \"unix:$SCRATCH/enclaved.sock\" and s[\"connection\"] == \"connected\"" &&
	cp resil.sealed "$mnt/encrypted/" &&
	cp -r data/. "$mnt/dataset/" &&
	run "resil.sealed hello" &&
	wait_job cfs $id &&
	test "$(cat "$mnt/jobs/$id/log")" = "hello from the enclave" &&
	test "$(cat "$mnt/output/hello.txt")" = made &&
	test "$(cat estate/output/hello.txt)" = made
'

test_expect_success '--connect: a long job runs' '
	run "resil.sealed long 4405" &&
	echo $id >long5.id &&
	waitline -t 30 "$SCRATCH/cfs.cache/jobs/$id/log" started &&
	pgrep -f "^sleep 4405\$"
'

stop_daemon enclave
echo "rc=$?" >estop.rc
estart enclave2

test_expect_success '--connect: the mount reconnects to the restarted enclaved' '
	test "$(cat estop.rc)" = rc=0 &&
	waitline -n 2 -t 30 cfs.log "enclave connected" &&
	status_py "s[\"reconnects\"] >= 1"
'

test_expect_success '--connect: the job running at the stop is lost' '
	id=$(cat long5.id) &&
	head -n 1 "$mnt/jobs/$id/state" | grep "^lost: ." &&
	test "$(cat "$mnt/jobs/$id/exit")" = 255 &&
	status_py "$id in s[\"lost_jobs\"]" &&
	! pgrep -f "^sleep 4405\$"
'

test_expect_success '--connect: a new job works after the reconnect' '
	echo "more" >"$mnt/dataset/more.txt" &&
	run "resil.sealed list" &&
	wait_job cfs $id &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0 &&
	(cd "$mnt/dataset" && find . | LC_ALL=C sort) >expect &&
	diff -u expect "$mnt/jobs/$id/log"
'

unmount_enclave cfs "$mnt"
echo "rc=$?" >umount5.rc

test_expect_success '--connect: unmount returns 0; the enclaved keeps running' '
	test "$(cat umount5.rc)" = rc=0 &&
	kill -0 $enclave2_pid &&
	! sandboxes
'

test_done
