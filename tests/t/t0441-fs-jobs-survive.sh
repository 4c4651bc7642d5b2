#!/bin/sh
# A job outlives a crashed mount. enclave-fs on an enclaved of its own
# (--connect, --max-jobs 1) is killed with SIGKILL while a job runs: the job
# keeps running in the enclave and holds its slot. The next mount on the same
# cache and enclaved reports it running (not lost), refuses a second job
# (EBUSY), cancels it through jobs/N/ctl (cancelled, 130), and then runs a new
# one. A job that ends while no mount is connected gets its real state, exit
# code, output and the log lines it wrote meanwhile at the next mount.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool pgrep python3

PY=/usr/bin/python3

# long N: says it started and sleeps N seconds (found with pgrep by N);
# gate N: says it started and waits until /dataset/go-N exists (the test makes
# it in the enclave's state while no mount is connected), then writes
# /output/gate-N.txt and exits 3.
mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "survive", "version": "1",
 "entries": {
  "long": {"argv": ["sh", "long.sh"], "host_args": true},
  "gate": {"argv": ["sh", "gate.sh"], "host_args": true},
  "hello": {"argv": ["sh", "-c", "echo hello from the enclave"]}
 },
 "default": "hello"}
JSON
cat >app/long.sh <<'SH'
echo started
sleep "$1"
echo finished
SH
cat >app/gate.sh <<'SH'
echo started
while [ ! -e "/dataset/go-$1" ]; do sleep 0.1; done
echo "after the gate $1"
echo "gate $1" >"/output/gate-$1.txt"
exit 3
SH
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o survive.sealed app 2>/dev/null

run() {
	echo "$1" >"$mnt/.run" &&
	id=$(cat "$mnt/.run") &&
	test -n "$id"
}

status_py() {
	$PY -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$mnt/.status" "$1"
}

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/enclaved.sock" --state "$SCRATCH/estate" \
	--kek k.kek --max-jobs 1 -v
mnt=$SCRATCH/mnt
cache=$SCRATCH/fs.cache
# A record of an earlier job in the cache: the mount's ids start at 8 while
# the enclave's start at 1, so the two must be told apart.
mkdir -p "$cache/jobs/7"
echo "survive.sealed hello" >"$cache/jobs/7/cmd"
echo exited >"$cache/jobs/7/state"
echo 0 >"$cache/jobs/7/exit"
mount_enclave fs "$mnt" --cache "$cache" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success 'setup: a package and a long job' '
	cp survive.sealed "$mnt/encrypted/" &&
	run "survive.sealed long 4411" &&
	test "$id" = 8 &&
	echo $id >long.id &&
	waitline -t 30 "$cache/jobs/$id/log" started &&
	test "$(cat "$mnt/jobs/$id/state")" = running &&
	pgrep -f "^sleep 4411\$"
'

# SIGKILL of the mount; its dead FUSE mount is detached.
stop_daemon fs KILL
echo "rc=$?" >kill1.rc
fusermount3 -u -z "$mnt" 2>/dev/null

test_expect_success 'SIGKILL of the mount: the job keeps running in the enclave' '
	test "$(cat kill1.rc)" = rc=137 &&
	kill -0 $enclave_pid &&
	pgrep -f "^sleep 4411\$" &&
	test "$(cat "$cache/jobs/$(cat long.id)/state")" = running
'

mount_enclave fs2 "$mnt" --cache "$cache" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success 'the next mount reports the job running, not lost' '
	id=$(cat long.id) &&
	waitline -t 30 fs2.log "job $id is running: the enclave still holds it" &&
	test "$(cat "$mnt/jobs/$id/state")" = running &&
	test -f "$mnt/jobs/$id/exit" && test ! -s "$mnt/jobs/$id/exit" &&
	test "$(cat "$mnt/jobs/$id/log")" = started &&
	status_py "$id in [j[\"id\"] for j in s[\"jobs\"]] and $id not in s[\"lost_jobs\"]" &&
	test "$(wc -l <"$cache/jobs/$id/origin")" = 1 &&
	grep -E "^[0-9a-f]{32} 1\$" "$cache/jobs/$id/origin"
'

test_expect_success 'it holds the only job slot: a new job is refused with EBUSY' '
	njobs=$(ls "$mnt/jobs" | wc -l) &&
	test_must_fail sh -c "/bin/echo survive.sealed hello >\"\$1\"" sh "$mnt/.run" 2>err &&
	cat err &&
	grep "Device or resource busy" err &&
	test "$(cat "$mnt/.run")" = "error: 1 jobs are running (--max-jobs)" &&
	test "$(ls "$mnt/jobs" | wc -l)" = "$njobs"
'

test_expect_success 'cancel through jobs/N/ctl: cancelled, 130, the sandbox ends' '
	id=$(cat long.id) &&
	echo cancel >"$mnt/jobs/$id/ctl" &&
	wait_job fs2 $id &&
	test "$(cat "$mnt/jobs/$id/state")" = cancelled &&
	test "$(cat "$mnt/jobs/$id/exit")" = 130 &&
	! grep finished "$mnt/jobs/$id/log" &&
	! pgrep -f "^sleep 4411\$"
'

test_expect_success 'the slot is free again: a new job runs' '
	run "survive.sealed hello" &&
	test "$id" = $(($(cat long.id) + 1)) &&
	wait_job fs2 $id &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0 &&
	test "$(cat "$mnt/jobs/$id/log")" = "hello from the enclave"
'

test_expect_success 'a job that will end while no mount is connected' '
	run "survive.sealed gate 1" &&
	echo $id >gate.id &&
	waitline -t 30 "$cache/jobs/$id/log" started
'

stop_daemon fs2 KILL
echo "rc=$?" >kill2.rc
fusermount3 -u -z "$mnt" 2>/dev/null

test_expect_success 'it ends while no mount is connected' '
	test "$(cat kill2.rc)" = rc=137 &&
	waitline -n 2 -t 30 enclave.log "connection ended" &&
	touch "$SCRATCH/estate/dataset/go-1" &&
	waitline -t 30 enclave.log "ended while no host was connected" &&
	test "$(cat estate/output/gate-1.txt)" = "gate 1" &&
	test "$(cat "$cache/jobs/$(cat gate.id)/state")" = running
'

mount_enclave fs3 "$mnt" --cache "$cache" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success 'the next mount gets its real end, its log and its output' '
	id=$(cat gate.id) &&
	wait_job fs3 $id &&
	test "$(cat "$mnt/jobs/$id/state")" = exited &&
	test "$(cat "$mnt/jobs/$id/exit")" = 3 &&
	printf "started\nafter the gate 1\n" >expect &&
	diff -u expect "$mnt/jobs/$id/log" &&
	test "$(cat "$mnt/output/gate-1.txt")" = "gate 1" &&
	status_py "s[\"jobs\"] == [] and s[\"lost_jobs\"] == []"
'

test_expect_success 'earlier records are unchanged, and job ids keep counting' '
	test "$(cat "$mnt/jobs/$(cat long.id)/state")" = cancelled &&
	run "survive.sealed hello" &&
	test "$id" = $(($(cat gate.id) + 1)) &&
	wait_job fs3 $id &&
	test "$(cat "$mnt/jobs/$id/exit")" = 0
'

unmount_enclave fs3 "$mnt"
echo "rc=$?" >umount3.rc

test_expect_success 'unmount returns 0; the enclaved keeps running with no job' '
	test "$(cat umount3.rc)" = rc=0 &&
	kill -0 $enclave_pid &&
	! pgrep -f "^sleep 4411\$"
'

stop_daemon enclave
echo "rc=$?" >estop.rc

test_expect_success 'the enclaved exits 0 when stopped' '
	test "$(cat estop.rc)" = rc=0
'

test_done
