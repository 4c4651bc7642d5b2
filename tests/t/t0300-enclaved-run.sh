#!/bin/sh
# enclaved runs jobs from a sealed package: enclave-sync --run streams their
# output, brings output/ back before it exits, and passes their status on.
. "$top_srcdir/tests/lib.sh"

test_require root

mkdir -p app host/encrypted host/dataset host/model
cat >app/enclave.json <<'JSON'
{"name": "demo", "version": "1",
 "entries": {
  "hello": {"argv": ["sh", "hello.sh"], "host_args": true, "stderr": "all"},
  "status": {"argv": ["sh", "-c", "exit 7"]},
  "signal": {"argv": ["sh", "-c", "kill -9 $$"]},
  "sleeper": {"argv": ["sleep", "1000"], "timeout_s": 1},
  "long": {"argv": ["sleep", "1000"]},
  "slow": {"argv": ["sleep", "1000"], "timeout_s": 4},
  "rodata": {"argv": ["sh", "-c", "echo x >/dataset/new"], "stderr": "all"},
  "version": {"argv": ["cat", "VERSION"]}
 },
 "default": "hello"}
JSON
cat >app/hello.sh <<'SH'
for a in "$@"; do printf 'arg:%s|\n' "$a"; done
echo "to stderr" >&2
cat /dataset/input.txt
echo "made in the enclave" >/output/hello.txt
SH
echo 1 >app/VERSION
echo "the host's data" >host/dataset/input.txt
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o host/encrypted/demo.sealed app 2>/dev/null

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek --max-jobs 1 -v

run() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "$1" host >out 2>err
}

test_expect_success 'a job runs with the host arguments, quoted words intact' '
	run "demo.sealed hello a \"b c\" '\''\$HOME'\''" &&
	grep -x "arg:a|" out &&
	grep -x "arg:b c|" out &&
	grep -x "arg:\$HOME|" out &&
	grep -x "the host'\''s data" out
'

test_expect_success 'stdout and stderr stay apart' '
	grep -x "to stderr" err &&
	! grep "to stderr" out
'

test_expect_success 'output/ is on the host when --run exits' '
	test "$(cat host/output/hello.txt)" = "made in the enclave"
'

test_expect_success 'the default entry is used with PACKAGE -- ARGS' '
	run "demo.sealed -- x" &&
	grep -x "arg:x|" out
'

test_expect_success 'the exit status is passed on' '
	rc=0 && run "demo.sealed status" || rc=$? &&
	test $rc -eq 7
'

test_expect_success 'a job killed by a signal exits 128+N' '
	rc=0 && run "demo.sealed signal" || rc=$? &&
	test $rc -eq 137
'

test_expect_success 'the manifest timeout ends a job: 124' '
	rc=0 && run "demo.sealed sleeper" || rc=$? &&
	test $rc -eq 124 &&
	grep "timed out" err
'

test_expect_success 'the datasets are read-only for jobs' '
	rc=0 && run "demo.sealed rodata" || rc=$? &&
	test $rc -ne 0 &&
	grep -i "read-only" err &&
	test ! -e "$SCRATCH/state/dataset/new"
'

# One host connection at a time: each of these clients is alone while it waits.
# Test bodies run in a subshell, which cannot wait for this client: its
# status goes to long.rc.
(
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "demo.sealed long" host >long.out 2>long.err &
	echo $! >long.pid
	rc=0 && wait $! || rc=$?
	echo "rc=$rc" >long.rc
) &

# (Background jobs of a script ignore SIGINT, so the test sends SIGTERM.)
test_expect_success 'SIGTERM to enclave-sync --run cancels the job: 128+15' '
	waitline -t 60 enclave.log "demo.sealed long started" &&
	kill -TERM "$(cat long.pid)" &&
	waitline -t 60 long.rc "rc=" &&
	test "$(cat long.rc)" = rc=143 &&
	grep cancelled long.err
'

enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "demo.sealed slow" host >slow.out 2>slow.err &
slow_pid=$!

test_expect_success 'a job keeps running when its client goes away' '
	waitline -t 60 enclave.log "demo.sealed slow started" &&
	kill -KILL $slow_pid &&
	{ wait $slow_pid || :; } &&
	waitline -t 60 enclave.log "connection ended: Connection reset"
'

test_expect_success 'with --max-jobs 1 a second job is refused: EBUSY, 125' '
	rc=0 && run "demo.sealed status" || rc=$? &&
	test $rc -eq 125 &&
	grep "Device or resource busy" err &&
	waitline -t 60 enclave.log "job 8: timed out"
'

test_expect_success 'a new version of the package replaces the old one' '
	echo 2 >app/VERSION &&
	enclave-seal seal --kek k.kek -o new.sealed app 2>/dev/null &&
	mv new.sealed host/encrypted/demo.sealed &&
	run "demo.sealed version" &&
	test "$(cat out)" = 2
'

test_expect_success 'a removed package cannot run: ENOENT, 125' '
	cp host/encrypted/demo.sealed saved.sealed &&
	rm host/encrypted/demo.sealed &&
	rc=0 && run "demo.sealed version" || rc=$? &&
	test $rc -eq 125 &&
	grep "No such file or directory" err &&
	mv saved.sealed host/encrypted/demo.sealed
'

test_expect_success 'the enclave reports its isolation' '
	enclave-sync -v --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "demo.sealed version" host >out 2>err &&
	grep "\"isolation\":\"dev\"" err
'

test_expect_success 'no decrypted file ever reaches the host' '
	! grep -r "hello.sh" host/output host/dataset host/model &&
	! grep -r "made in the enclave" host/encrypted
'

stop_daemon enclave || true
start_daemon enclave2 enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek -v

test_expect_success 'after a restart the packages in the state directory run again' '
	run "demo.sealed version" &&
	test "$(cat out)" = 2 &&
	test "$(ls "$SCRATCH/state/app/installed" | wc -l)" = 1 &&
	test -z "$(ls -A "$SCRATCH/state/app/staging" "$SCRATCH/state/app/trash" | grep -v ":\$" | grep .)"
'

test_done
