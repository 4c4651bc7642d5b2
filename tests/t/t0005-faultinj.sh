#!/bin/sh
# Fault injection: the Nth allocation (malloc, calloc, realloc, strdup...) or
# the Nth open (open, openat, socket) of a program fails, for N = 1, 2, ...
# until a run in which no fault was left to inject. Every run must end with a
# clean error (a documented non-zero status and a message on stderr) or
# success: never a signal, never a hang, never a sanitizer report.
# The shim is tests/helpers/faultinj.so (LD_PRELOAD); sanitizer builds
# interpose malloc themselves: Makefile.am leaves this script out of theirs.
test_timeout=${test_timeout:-600}
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
SHIM=$top_builddir/tests/helpers/faultinj.so
test_require file "$SHIM"

# A first run counts the calls (M); then every N up to FAULT_DENSE, then
# FAULT_SPARSE runs spread over the rest of M (at most FAULT_MAX).
: "${FAULT_DENSE:=150}" "${FAULT_SPARSE:=50}" "${FAULT_MAX:=2000}" "${RUN_TIMEOUT:=30}"
# A daemon whose readiness notification failed (its socket could not be
# made) may still serve: after READY_TIMEOUT it gets SIGTERM like the others.
: "${READY_TIMEOUT:=5}"
REPORT=$SCRATCH/fault.report COUNT=$SCRATCH/fault.count

# faulted KIND N COMMAND...: runs COMMAND with the Nth KIND (MALLOC or OPEN)
# failing (exec: use it last, or under readywait).
faulted() {
	fk=$1 fn=$2
	shift 2
	exec env LD_PRELOAD="$SHIM" EFS_FAULT_REPORT="$REPORT" EFS_FAULT_COUNT="$COUNT" \
		"EFS_FAULT_$fk=$fn" "$@"
}

# judge WHAT STATUS ERRFILE ALLOWED...: a clean end: 0, or one of the ALLOWED
# statuses with a message in ERRFILE; no sanitizer report either way. Sets
# why on failure.
judge() {
	jw=$1 js=$2 je=$3
	shift 3
	if grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:\|Valgrind\|==[0-9]*==" "$je" 2>/dev/null; then
		why="$jw: a sanitizer/valgrind report: $(head -n 5 "$je")"
		return 1
	fi
	if [ "$js" -eq 0 ]; then
		return 0
	fi
	if [ "$js" -eq 124 ] || [ "$js" -eq 137 ]; then
		why="$jw: hung (killed after $RUN_TIMEOUT s)"
		return 1
	fi
	if [ "$js" -gt 128 ]; then
		why="$jw: killed by signal $((js - 128)): $(tail -n 3 "$je")"
		return 1
	fi
	for ja in "$@"; do
		if [ "$js" -eq "$ja" ]; then
			if [ ! -s "$je" ]; then
				why="$jw: exit $js without a message on stderr"
				return 1
			fi
			return 0
		fi
	done
	why="$jw: exit $js (not a documented error status): $(tail -n 3 "$je")"
	return 1
}

# run_daemon KIND N NAME COMMAND...: starts COMMAND faulted under readywait;
# sets dstatus (ready, exited or timeout) and dpid.
run_daemon() {
	rk=$1 rn=$2 rname=$3
	shift 3
	rm -f "$SCRATCH/.fault.fifo"
	mkfifo "$SCRATCH/.fault.fifo" || return 1
	readywait 3 "$READY_TIMEOUT" -- env LD_PRELOAD="$SHIM" EFS_FAULT_REPORT="$REPORT" \
		EFS_FAULT_COUNT="$COUNT" "EFS_FAULT_$rk=$rn" "$@" >"$rname.out" 2>"$rname.err" 3>"$SCRATCH/.fault.fifo" &
	dpid=$!
	dstatus=
	read -r dstatus <"$SCRATCH/.fault.fifo" || :
	rm -f "$SCRATCH/.fault.fifo"
}

# end_daemon WHAT: waits (bounded) for dpid to exit and judges it (0, 1-4).
end_daemon() {
	if ! wait_gone "$RUN_TIMEOUT" "$dpid"; then
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
		why="$1: still running $RUN_TIMEOUT s after SIGTERM"
		return 1
	fi
	ds=0
	wait "$dpid" || ds=$?
	judge "$1" "$ds" "$2" 1 2 3 4
}

# The scenarios: SCENARIO KIND N; 0 when the run ended cleanly.
sync_connect() {
	echo "$2" >host/dataset/n
	s=0
	timeout -k 5 "$RUN_TIMEOUT" sh -c '. "$1"; shift; faulted "$@"' - "$SCRATCH/fns.sh" "$1" "$2" \
		enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host >c.out 2>c.err || s=$?
	judge "enclave-sync --connect" "$s" c.err 1 2 3 4 6
}

sync_listen() {
	rm -rf l.sock lenc &&
	mkdir lenc &&
	run_daemon "$1" "$2" listen enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/l.sock" lenc &&
	case "$dstatus" in
	ready | timeout)
		timeout -k 5 "$RUN_TIMEOUT" enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/l.sock" --once host \
			>/dev/null 2>&1
		kill -TERM "$dpid" 2>/dev/null
		end_daemon "enclave-sync --dev-root "$DEVROOT" --listen" listen.err
		;;
	exited)
		end_daemon "enclave-sync --dev-root "$DEVROOT" --listen (at start)" listen.err
		;;
	*)
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
		why="enclave-sync --dev-root "$DEVROOT" --listen: ${dstatus:-no status} before ready"
		return 1
		;;
	esac
}

enclaved_start() {
	rm -rf tmpfs/state e.sock &&
	run_daemon "$1" "$2" enclaved enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
		--state "$SCRATCH/tmpfs/state" --kek k.kek &&
	case "$dstatus" in
	ready | timeout)
		kill -TERM "$dpid" 2>/dev/null
		end_daemon "enclaved" enclaved.err
		;;
	exited)
		end_daemon "enclaved (at start)" enclaved.err
		;;
	*)
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
		why="enclaved: ${dstatus:-no status} before ready"
		return 1
		;;
	esac
}

seal() {
	rm -f app.sealed
	s=0
	timeout -k 5 "$RUN_TIMEOUT" sh -c '. "$1"; shift; faulted "$@"' - "$SCRATCH/fns.sh" "$1" "$2" \
		enclave-seal seal --kek k.kek -o app.sealed app >s.out 2>s.err || s=$?
	judge "enclave-seal seal" "$s" s.err 1 2 || return 1
	[ "$s" -eq 0 ] || return 0
	timeout -k 5 "$RUN_TIMEOUT" sh -c '. "$1"; shift; faulted "$@"' - "$SCRATCH/fns.sh" "$1" "$2" \
		enclave-seal inspect app.sealed >s.out 2>s.err || s=$?
	judge "enclave-seal inspect" "$s" s.err 1 2
}

mount_fs() {
	fusermount3 -uz mnt 2>/dev/null
	rm -rf fs.cache &&
	mkdir -p mnt &&
	run_daemon "$1" "$2" fs enclave-fs -f --cache "$SCRATCH/fs.cache" --kek k.kek "$SCRATCH/mnt" &&
	case "$dstatus" in
	ready | timeout)
		fusermount3 -u mnt 2>/dev/null || kill -TERM "$dpid" 2>/dev/null
		end_daemon "enclave-fs" fs.err
		;;
	exited)
		end_daemon "enclave-fs (at start)" fs.err
		;;
	*)
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
		fusermount3 -uz mnt 2>/dev/null
		why="enclave-fs: ${dstatus:-no status} before ready"
		return 1
		;;
	esac
}

# fault_loop SCENARIO KIND: N = 1, 2, ... until a run with no fault left to
# inject; stops at the first unclean run.
fault_loop() {
	rm -f "$COUNT"
	if ! "$1" "$2" 0; then
		echo "$1 without a fault: $why"
		return 1
	fi
	case "$2" in
	MALLOC) fl_m=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$COUNT" 2>/dev/null) ;;
	OPEN) fl_m=$(awk '$5 > m { m = $5 } END { print m + 0 }' "$COUNT" 2>/dev/null) ;;
	esac
	[ -n "$fl_m" ] || fl_m=0
	fl_stride=$(((fl_m - FAULT_DENSE) / FAULT_SPARSE))
	[ "$fl_stride" -ge 1 ] || fl_stride=1
	fl_n=1 fl_runs=0
	while [ "$fl_n" -le "$FAULT_MAX" ]; do
		rm -f "$REPORT"
		why=
		if ! "$1" "$2" "$fl_n"; then
			echo "$1 with the ${fl_n}th $2 failing: $why"
			return 1
		fi
		fl_runs=$((fl_runs + 1))
		[ -s "$REPORT" ] || break
		if [ "$fl_n" -lt "$FAULT_DENSE" ]; then
			fl_n=$((fl_n + 1))
		else
			fl_n=$((fl_n + fl_stride))
		fi
	done
	say "$1 $2: $fl_m calls, $fl_runs runs (N up to $fl_n)"
	echo "$1 $2: $fl_m calls, $fl_runs runs (N up to $fl_n)" >>"$SCRATCH/runs"
	[ "$fl_n" -le "$FAULT_MAX" ] || echo "$1 $2: still injecting at N=$FAULT_MAX (cap)"
}

# faulted() again, for "sh -c" under timeout (which needs a program).
cat >fns.sh <<EOF
SHIM='$SHIM' REPORT='$REPORT' COUNT='$COUNT'
faulted() {
	fk=\$1 fn=\$2
	shift 2
	exec env LD_PRELOAD="\$SHIM" EFS_FAULT_REPORT="\$REPORT" EFS_FAULT_COUNT="\$COUNT" \\
		"EFS_FAULT_\$fk=\$fn" "\$@"
}
EOF

mkdir -p host/dataset host/model host/encrypted enc app tmpfs
mount -t tmpfs -o size=64m tmpfs tmpfs
echo hello >host/dataset/a
head -c 200000 /dev/urandom >host/model/w.bin
enclave-seal keygen -o k.kek >/dev/null
cat >app/enclave.json <<'JSON'
{"name": "demo", "version": "1", "entries": {"hello": {"argv": ["sh", "-c", "echo hi"]}}}
JSON
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

for scenario in sync_connect sync_listen enclaved_start seal mount_fs; do
	for kind in MALLOC OPEN; do
		test_expect_success "$scenario: every ${kind} failure ends cleanly" "
			fault_loop $scenario $kind
		"
	done
done

test_expect_success 'every program and kind ran to the end' '
	test "$(wc -l <runs)" -eq 10
'
sed 's/^/# /' runs

stop_daemon enclave
test_done
