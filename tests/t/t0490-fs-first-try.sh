#!/bin/sh
# What a new user sees: a mount that cannot start says why on the terminal
# and exits 1, leaving nothing mounted; a mistyped job line is refused with
# the entries named and its reason stays readable in .run; a job can be
# waited for (jobs/N/wait), and its record shows what runs.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

enclave-seal keygen -o k.kek >/dev/null
mkdir m app
cat >app/enclave.json <<'JSON'
{ "name": "demo", "version": "1.2 beta",
  "entries": { "main": { "argv": ["/bin/sh", "run.sh"], "host_args": true },
               "other": { "argv": ["/bin/true"] } },
  "default": "main" }
JSON
# It prints its arguments, then waits for /dataset/go (so a test decides
# when it ends), then exits with the status in it.
cat >app/run.sh <<'SH'
echo "args: $*"
i=0
while [ ! -e /dataset/go ] && [ $i -lt 600 ]; do
	echo "tick $i"
	i=$((i + 1))
	sleep 0.1
done
exit "$(cat /dataset/go 2>/dev/null || echo 9)"
SH
enclave-seal seal --kek k.kek -o demo.sealed app 2>/dev/null

not_mounted() {
	! grep -q " $SCRATCH/$1 " /proc/mounts
}

test_expect_success 'a missing key file: exit 1, the reason on the terminal, nothing mounted' '
	expect_exit 1 enclave-fs --cache c0 --kek /nonexistent.kek m &&
	test "$(cat err)" = "enclave-fs: error: key file /nonexistent.kek: No such file or directory" &&
	test ! -s out &&
	not_mounted m
'

test_expect_success 'an enclave that cannot be reached: exit 1 after -o connect_timeout, with the reason' '
	expect_exit 1 enclave-fs --cache c1 -o connect_timeout=2 --connect unix:$SCRATCH/nobody.sock m &&
	grep -x "enclave-fs: error: no enclave within 2 s: cannot reach unix:$SCRATCH/nobody.sock: No such file or directory" err &&
	grep -x "enclave-fs: error: -o connect_timeout=S waits longer; -o reconnect mounts at once and waits for the enclave" err &&
	not_mounted m
'

test_expect_success 'a development enclave that cannot start: exit 1 with its own reason' '
	echo garbage >bad.kek &&
	expect_exit 1 enclave-fs --cache c2 --kek bad.kek m &&
	grep -x "enclave-fs: error: the development enclave did not start: $SCRATCH/bad.kek: not a key-encryption key file (Invalid argument)" err &&
	not_mounted m
'

test_expect_success '-o reconnect mounts at once; .status says why it is still connecting' '
	expect_exit 0 enclave-fs --cache c3 -o reconnect --connect unix:$SCRATCH/nobody.sock m &&
	test_when_finished "fusermount3 -u m" &&
	grep -q " $SCRATCH/m " /proc/mounts &&
	/usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1])); \
		assert s[\"connection\"] == \"connecting\", s; \
		assert s[\"link_error\"] == \"cannot reach unix:$SCRATCH/nobody.sock: No such file or directory\", s" m/.status
'

test_expect_success 'the mount goes to the background once ready (exit 0)' '
	expect_exit 0 enclave-fs --cache c --kek k.kek m &&
	grep -q " $SCRATCH/m " /proc/mounts &&
	test ! -s err
'

test_expect_success 'a second mount of the same cache says it is in use' '
	mkdir m2 &&
	expect_exit 1 enclave-fs --cache c --kek k.kek m2 &&
	test "$(cat err)" = "enclave-fs: error: cache dir $SCRATCH/c is in use by another mount" &&
	not_mounted m2
'

test_expect_success 'a mistyped entry is refused, naming the entries; .run and .status keep the reason' '
	cp demo.sealed m/encrypted/ &&
	! /bin/echo "demo.sealed nosuchentry" >m/.run 2>werr &&
	grep "No such file or directory" werr &&
	why="no entry '"'"'nosuchentry'"'"' in demo.sealed; entries: main, other (arguments for the default entry '"'"'main'"'"': demo.sealed -- ARGS)" &&
	test "$(cat m/.run)" = "error: $why" &&
	/usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1])); \
		assert s[\"last_error\"] == sys.argv[2], s[\"last_error\"]" m/.status "$why" &&
	test ! -e m/jobs/1
'

test_expect_success 'a bad line keeps its syntax error readable too' '
	! echo "demo.sealed '"'"'unterminated" >m/.run 2>/dev/null &&
	grep "^error: .*unterminated single quote" m/.run
'

test_expect_success 'PACKAGE -- ARGS runs the default entry with the arguments; .run reads the id' '
	echo "demo.sealed -- -x y" >m/.run &&
	id=$(cat m/.run) &&
	test "$id" = 1 &&
	test -f m/jobs/1/exit && test ! -s m/jobs/1/exit &&
	test "$(cat m/jobs/1/state)" = running
'

test_expect_success 'the record shows the manifest and the package digest' '
	printf "name=demo\nversion=1.2 beta\nentry=main\n" >want &&
	cmp want m/jobs/1/manifest &&
	test "$(cat m/jobs/1/digest)" = "$(sha256sum demo.sealed | cut -c1-64)" &&
	ls m/jobs/1 >names &&
	grep -x wait names && grep -x ctl names && grep -x manifest names && grep -x digest names
'

test_expect_success 'the log grows while the job runs (tail -f follows it)' '
	s1=$(stat -c %s m/jobs/1/log) &&
	sleep 1.5 &&
	s2=$(stat -c %s m/jobs/1/log) &&
	test "$s2" -gt "$s1" &&
	grep -x "args: -x y" m/jobs/1/log
'

test_expect_success 'an interrupted wait ends at once and leaves the mount working' '
	test_must_fail timeout 1 cat m/jobs/1/wait &&
	test $rc -eq 124 &&
	test "$(cat m/jobs/1/state)" = running
'

# The waiting reader and a tail -f that ends with it, as a user starts them.
cat m/jobs/1/wait >w1 &
wpid=$!
tail -n +1 -f --pid=$wpid m/jobs/1/log >tailed &
tpid=$!

gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		[ $i -lt 300 ] || return 1
		i=$((i + 1))
		sleep 0.1
	done
}

test_expect_success 'cat jobs/N/wait ends with the job and prints its exit status; tail -f --pid ends too' '
	sleep 0.5 &&
	kill -0 $wpid &&
	echo 5 >m/dataset/go &&
	gone $wpid &&
	gone $tpid &&
	test "$(cat w1)" = 5 &&
	test "$(cat m/jobs/1/exit)" = 5 &&
	grep -x "args: -x y" tailed &&
	test "$(cat m/jobs/1/wait)" = 5
'

test_expect_success 'the idiom of the README: id=$(cat .run) && cat jobs/$id/wait' '
	echo "demo.sealed other" >m/.run &&
	id=$(cat m/.run) && st=$(cat m/jobs/$id/wait) &&
	test "$id" = 2 && test "$st" = 0 &&
	grep -x "entry=other" m/jobs/2/manifest
'

test_expect_success 'wait of a job that does not exist: ENOENT' '
	! cat m/jobs/99/wait 2>err &&
	grep "No such file or directory" err
'

test_expect_success 'unmount' '
	fusermount3 -u m &&
	not_mounted m
'

# Progress: an enclaved reached through a relay that passes 4 MB/s to it,
# so that a 64 MiB copy stays in flight for seconds.
start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
	--state "$SCRATCH/estate" --kek k.kek
/usr/bin/python3 "$top_srcdir/tests/helpers/slowproxy.py" "$SCRATCH/slow.sock" "$SCRATCH/e.sock" 4000000 &
track_daemon slowproxy $!
i=0
while [ ! -S slow.sock ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
mkdir -p slow
# (expect_exit turns set -e on: it belongs in test bodies, not here)
slow_rc=0
enclave-fs --cache cslow --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
	--connect "unix:$SCRATCH/slow.sock" -o connect_timeout=60 slow 2>slow.err || slow_rc=$?

# status_until SECONDS PYTHON-EXPRESSION: polls slow/.status until s (its
# JSON) makes the expression true.
status_until() {
	/usr/bin/python3 - "$SCRATCH/slow/.status" "$1" "$2" <<-\PY
	import json, sys, time
	path, secs, expr = sys.argv[1], float(sys.argv[2]), sys.argv[3]
	end = time.time() + secs
	while True:
	    s = json.load(open(path))
	    t = s["transfers"]["to_enclave"]
	    if eval(expr, {"s": s, "t": t}):
	        break
	    if time.time() > end:
	        sys.exit("not within %s s: %s; transfers: %s" % (secs, expr, s["transfers"]))
	    time.sleep(0.1)
	PY
}

test_expect_success 'a copy in flight shows in .status: the file, its bytes done of its size, a rate' '
	test $slow_rc -eq 0 && test ! -s slow.err &&
	head -c 67108864 /dev/urandom >big &&
	cp big slow/dataset/big &&
	status_until 120 "t[\"files_in_flight\"] == 1 and t[\"bytes_in_flight\"] == 67108864 and 0 < t[\"bytes_done\"] < 67108864 and t[\"bytes_per_second\"] > 0"
'

test_expect_success 'then it is done: in the totals, nothing in flight' '
	status_until 300 "t[\"files_in_flight\"] == 0 and t[\"bytes_total\"] >= 67108864 and t[\"bytes_per_second\"] == 0" &&
	cmp big "$SCRATCH/estate/dataset/big"
'

test_expect_success 'unmount the relayed mount' '
	fusermount3 -u slow &&
	not_mounted slow
'
stop_daemon slowproxy
stop_daemon enclave

test_done
