#!/bin/sh
# The iris example end to end through the mount (contrib/examples/iris): the
# three ways an owner and a user combine files, as t0330 runs them through
# enclave-sync, here with cp, echo > .run, cat and tail -f. Then a job's log
# and output followed live while it runs, and a job cancelled through ctl.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	skip_all "python3-sklearn (Debian package)"
fi

iris="$top_srcdir/contrib/examples/iris"
PY=/usr/bin/python3
MNT="$SCRATCH/mnt"

# The owner's machine: train a model, build the three packages.
enclave-seal keygen -o owner.kek >/dev/null
$PY "$iris/app/train.py" -d "$iris/data" -o trained >train.out
mkdir -p full model-only app-only
cp -r "$iris/app/." full/ && cp -r trained full/model && mkdir full/data && cp "$iris/data/iris.csv" full/data/
cp -r "$iris/app/." model-only/ && cp -r trained model-only/model
cp -r "$iris/app/." app-only/
enclave-seal seal --kek owner.kek -o iris-full.sealed full 2>/dev/null
enclave-seal seal --kek owner.kek --zstd -o iris-model.sealed model-only 2>/dev/null
enclave-seal seal --kek owner.kek -o iris-app.sealed app-only 2>/dev/null

# A small app to watch a job while it runs: it says "started", waits for
# /dataset/go, writes progress lines to /output/progress.txt, waits for
# /dataset/stop, says "done" and exits 3.
mkdir -p live
cat >live/enclave.json <<'JSON'
{"name": "live", "version": "1",
 "entries": {
  "follow": {"argv": ["sh", "follow.sh"], "timeout_s": 120},
  "sleep": {"argv": ["sh", "-c", "echo sleeping; exec sleep 1000"], "timeout_s": 600}
 },
 "default": "follow"}
JSON
cat >live/follow.sh <<'SH'
echo started
while [ ! -e /dataset/go ]; do sleep 0.1; done
for i in 1 2 3 4 5; do
	echo "progress $i" >>/output/progress.txt
	sleep 0.2
done
echo "progress written"
while [ ! -e /dataset/stop ]; do sleep 0.1; done
echo done
exit 3
SH
enclave-seal seal --kek owner.kek -o live.sealed live 2>/dev/null

mount_enclave fs "$MNT" --kek owner.kek

accuracy() {
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$1"
}

rows() {
	$PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["rows"])' "$1"
}

# run LINE: writes the job line into .run, reads the job id back into $id and
# waits for the job to end.
run() {
	echo "$1" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	test -n "$id" &&
	wait_job fs "$id" >/dev/null
}

test_expect_success 'the owner trained a model' '
	grep "cross-validated accuracy" train.out &&
	test -s trained/model.json
'

test_expect_success 'no job before the first one: .run reads empty, jobs/ is empty' '
	test -z "$(cat "$MNT/.run")" &&
	test -z "$(ls "$MNT/jobs")"
'

test_expect_success '1: app, model and data sealed together' '
	cp iris-full.sealed "$MNT/encrypted/" &&
	cmp iris-full.sealed "$MNT/encrypted/iris-full.sealed" &&
	run "iris-full.sealed predict" &&
	test "$id" = 1 &&
	test "$(cat "$MNT/jobs/$id/cmd")" = "iris-full.sealed predict" &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	grep "accuracy" "$MNT/jobs/$id/log" &&
	test $(wc -l <"$MNT/output/predictions.csv") -eq 151 &&
	$PY -c "import sys; sys.exit(not float(sys.argv[1]) > 0.9)" $(accuracy "$MNT/output/metrics.json")
'

test_expect_success '2: app and model sealed, the user'\''s dataset copied in with cp -r' '
	mkdir -p mydata &&
	{ head -1 "$iris/data/iris.csv" && sed -n "2p;60p;120p" "$iris/data/iris.csv"; } >mydata/mine.csv &&
	cp iris-model.sealed "$MNT/encrypted/" &&
	cp -r mydata "$MNT/dataset/" &&
	cmp mydata/mine.csv "$MNT/dataset/mydata/mine.csv" &&
	run "iris-model.sealed predict -d /dataset/mydata" &&
	test "$id" = 2 &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	grep "3 rows from /dataset/mydata" "$MNT/jobs/$id/log" &&
	grep "enclave-fs: info: sent dataset/mydata/mine.csv (.* in .* s)" fs.log &&
	grep "enclave-fs: info: received output/predictions.csv (.* in .* s)" fs.log &&
	test $(wc -l <"$MNT/output/predictions.csv") -eq 4 &&
	grep -q "^1,setosa" "$MNT/output/predictions.csv" &&
	test "$(rows "$MNT/output/metrics.json")" = 3
'

test_expect_success '3: app sealed, the user'\''s own model.json and dataset' '
	cp iris-app.sealed "$MNT/encrypted/" &&
	cp trained/model.json "$MNT/model/" &&
	cp "$iris/data/iris.csv" "$MNT/dataset/" &&
	run "iris-app.sealed predict -d /dataset -m /model/model.json" &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	grep "150 rows from /dataset" "$MNT/jobs/$id/log" &&
	test $(wc -l <"$MNT/output/predictions.csv") -eq 151 &&
	$PY -c "import sys; sys.exit(not float(sys.argv[1]) > 0.9)" $(accuracy "$MNT/output/metrics.json")
'

test_expect_success '3b: the user trains inside the enclave, then predicts with that model' '
	run "iris-app.sealed train -d /dataset" &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	test -s "$MNT/output/model.json" &&
	cp "$MNT/output/model.json" "$MNT/model/model.json" &&
	cmp "$MNT/output/model.json" "$MNT/model/model.json" &&
	run "iris-app.sealed predict -d /dataset -m /model/model.json" &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	grep accuracy "$MNT/jobs/$id/log"
'

test_expect_success 'without a model the app-only package fails with a clear message' '
	rm "$MNT/model/model.json" &&
	run "iris-app.sealed predict -d /dataset" &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 1 &&
	grep -x "error: no model: copy a model.json into model/ or give -m /model/NAME" \
		"$MNT/jobs/$id/log" &&
	! grep Traceback "$MNT/jobs/$id/log"
'

# bad_run LINE ERRNO-TEXT: writing LINE into .run fails with ERRNO-TEXT and
# starts no job.
# bad_run LINE ERRNO-TEXT [REASON]: the write fails with that errno, no job
# starts, and .run reads "error: " and the enclave's reason.
bad_run() {
	njobs=$(ls "$MNT/jobs" | wc -l) &&
	test_must_fail sh -c '/bin/echo "$1" >"$2"' sh "$1" "$MNT/.run" 2>err &&
	cat err &&
	grep "$2" err &&
	grep "^error: ${3:-}" "$MNT/.run" &&
	test "$(ls "$MNT/jobs" | wc -l)" = "$njobs"
}

test_expect_success 'arguments outside the declaration: the write to .run fails, no job starts' '
	bad_run "iris-app.sealed predict -m /app/common.py" "Invalid argument" &&
	bad_run "iris-app.sealed predict -m /dataset/iris.csv" "Invalid argument" &&
	bad_run "iris-app.sealed predict -d /dataset/../app" "Invalid argument" &&
	bad_run "iris-app.sealed predict -m" "Invalid argument" &&
	bad_run "iris-app.sealed predict --model /model/x" "Operation not permitted" \
		"'\''--model'\'' is not an option of entry '\''predict'\''" &&
	bad_run "iris-app.sealed predict -dm /dataset" "Operation not permitted" &&
	bad_run "iris-app.sealed train /dataset" "Operation not permitted"
'

test_expect_success 'a job is followed live: its log and its output while it runs' '
	cp live.sealed "$MNT/encrypted/" &&
	echo "live.sealed" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	echo "$id" >live.id &&
	{ tail -f "$MNT/jobs/$id/log" >tail.out 2>tail.err & } &&
	tail_pid=$! &&
	test_when_finished "kill $tail_pid" &&
	waitline -t 30 tail.out started &&
	test "$(cat "$MNT/jobs/$id/state")" = running &&
	test -f "$MNT/jobs/$id/exit" && test ! -s "$MNT/jobs/$id/exit" &&
	{ tail -F "$MNT/output/progress.txt" >progress.out 2>progress.err & } &&
	progress_pid=$! &&
	test_when_finished "kill $progress_pid" &&
	touch "$MNT/dataset/go" &&
	waitline -t 30 progress.out "progress 5" &&
	waitline -t 30 tail.out "progress written" &&
	test "$(cat "$MNT/jobs/$id/state")" = running &&
	test -f "$MNT/jobs/$id/exit" && test ! -s "$MNT/jobs/$id/exit" &&
	! grep done tail.out &&
	test "$(grep -c "^progress [1-5]$" progress.out)" = 5 &&
	touch "$MNT/dataset/stop" &&
	wait_job fs "$id" &&
	waitline -t 30 tail.out done &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 3 &&
	grep -x done "$MNT/jobs/$id/log" &&
	cmp tail.out "$MNT/jobs/$id/log" &&
	test "$(cat "$MNT/.run")" = "$id" &&
	test "$(cat "$MNT/output/progress.txt")" = "$(printf "progress %s\n" 1 2 3 4 5)"
'

test_expect_success 'a job is cancelled through jobs/ID/ctl: cancelled, 130' '
	echo "live.sealed sleep" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	test "$id" = $(($(cat live.id) + 1)) &&
	{ tail -f "$MNT/jobs/$id/log" >sleep.out 2>sleep.err & } &&
	tail_pid=$! &&
	test_when_finished "kill $tail_pid" &&
	waitline -t 30 sleep.out sleeping &&
	test "$(cat "$MNT/jobs/$id/state")" = running &&
	echo cancel >"$MNT/jobs/$id/ctl" &&
	wait_job fs "$id" &&
	test "$(cat "$MNT/jobs/$id/state")" = cancelled &&
	test "$(cat "$MNT/jobs/$id/exit")" = 130 &&
	test "$(cat "$MNT/.run")" = "$id" &&
	grep "\"jobs\": \[\]" "$MNT/.status"
'

test_expect_success 'every job is listed with its record' '
	ls "$MNT/jobs" | sort -n >jobs.list &&
	test "$(cat jobs.list)" = "$(seq 1 $(cat "$MNT/.run"))" &&
	for j in $(cat jobs.list); do
		test -f "$MNT/jobs/$j/cmd" && test -f "$MNT/jobs/$j/log" &&
		test -s "$MNT/jobs/$j/exit" || return 1
	done
'

test_expect_success 'the sealed code, model and data never appear in plaintext in the mount' '
	! grep -r "classifies iris" "$MNT/encrypted" "$MNT/output" "$MNT/dataset" "$MNT/model" &&
	! grep -rl "sepal_length" "$MNT/encrypted" &&
	! grep -rl "progress" "$MNT/encrypted"
'

rc=0 && unmount_enclave fs "$MNT" || rc=$?
test_expect_success 'unmount exits 0' '
	test $rc = 0 &&
	! mountpoint -q "$MNT"
'

test_done
