# Shell test library: source it from tests/t/tNNNN-*.sh.
#
#   . "$top_srcdir/tests/lib.sh"
#   test_require tool rsync
#   test_expect_success 'what it shows' '
#       cmd1 &&
#       cmd2
#   '
#   test_done
#
# Every test script runs in its own scratch directory ($SCRATCH, under the
# build tree, never the source tree) and prints TAP. Cleanup registered with
# test_when_finished runs after the test that registered it, pass or fail;
# daemons started with start_daemon are stopped when the script ends.
# With CI=true a missing requirement is a failure, never a skip.
#
# Nothing outlives or hangs a script:
# - an EXIT trap lazily unmounts whatever is mounted below $SCRATCH and kills
#   every process the script started (TERM, then KILL after $KILL_GRACE s),
#   whether the script ends normally, fails or is killed;
# - a watchdog ends the script after $test_timeout seconds (set it before
#   sourcing this file; default 300; EFS_TEST_TIMEOUT overrides both) with
#   "Bail out! ... timed out", killing everything it started;
# - a body whose commands are not chained with && is a harness error naming
#   the line (tests/helpers/chainlint.awk parses the body; nothing runs);
# - stop_daemon and unmount_enclave require the daemon to exit with status 0
#   within $STOP_TIMEOUT (30) seconds, else it is killed and the script fails;
#   test_done stops, under the same rule, every daemon still running.
# Scripts that need their own exit-time cleanup register it with test_atexit
# instead of setting an EXIT trap.

set -u

: "${top_builddir:?top_builddir must be set (make check sets it)}"
: "${top_srcdir:?top_srcdir must be set (make check sets it)}"

TEST_NAME=$(basename "$0" .sh)
SCRATCH="$top_builddir/tests/scratch/$TEST_NAME"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SCRATCH" || exit 99
# /usr/bin before anything a user put first (a pyenv python3, say): tests use
# the system's python3 and the Debian packages quickstart installs for it.
PATH="$top_builddir:$top_builddir/tests/helpers:/usr/bin:/bin:$PATH"
export PATH SCRATCH

# A development root for the test's enclaves: every enclave side started
# with --dev-root "$DEVROOT" attests with it, and every host trusts it with
# --trust-root "$DEVROOT/root.pem" (the attested session, doc/PROTOCOL.md).
DEVROOT="$SCRATCH/devroot"
EFS_DEVROOT=$DEVROOT # tests/helpers/peer.py runs its sessions with it
export EFS_DEVROOT
if ! enclave-seal dev-root -o "$DEVROOT" >"$SCRATCH/devroot.log" 2>&1; then
	cat "$SCRATCH/devroot.log" >&2
	echo "Bail out! cannot make a development root" && exit 99
fi

test_count=0
test_failed=0
test_cleanup=
test_finished=
test_atexit_cmds=
: "${STOP_TIMEOUT:=30}" "${KILL_GRACE:=5}"
test_timeout=${EFS_TEST_TIMEOUT:-${test_timeout:-300}}
: >"$SCRATCH/.daemons"
: >"$SCRATCH/.harness"

say() {
	printf '# %s\n' "$*"
}

skip_all() {
	if [ "${CI:-}" = true ]; then
		echo "Bail out! $TEST_NAME needs $* (CI=true: a missing requirement fails)"
		exit 99
	fi
	echo "1..0 # SKIP $*"
	test_finished=1
	exit 0
}

# harness_error MESSAGE: records a failure of the harness rules (a daemon
# that did not exit cleanly, say); test_done reports each as a failed test.
# Works from a test body too.
harness_error() {
	printf '%s\n' "$*" >>"$SCRATCH/.harness"
	printf 'harness: %s\n' "$*" >&2
}

# proc_running PID: the process exists and is not a zombie.
proc_running() {
	[ -r "/proc/$1/stat" ] || return 1
	case "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" in
	Z | X | '') return 1 ;;
	esac
	return 0
}

# wait_gone SECONDS PID...: waits until none of the PIDs runs; fails if one
# still runs after SECONDS.
wait_gone() {
	wg_left=$(($1 * 10))
	shift
	for wg_pid in "$@"; do
		while proc_running "$wg_pid"; do
			[ "$wg_left" -gt 0 ] || return 1
			sleep 0.1
			wg_left=$((wg_left - 1))
		done
	done
	return 0
}

# descendants ROOT [EXCLUDE]: the pids of all live processes below ROOT,
# leaving out EXCLUDE and everything below it.
descendants() {
	ps -e -o pid= -o ppid= -o stat= 2>/dev/null | awk -v root="$1" -v excl="${2:-0}" '
		$3 !~ /^Z/ && $1 != excl { kids[$2] = kids[$2] " " $1 }
		END {
			n = split(kids[root], q, " ")
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], more, " ")
				for (j = 1; j <= m; j++)
					q[++n] = more[j]
			}
		}'
}

# unmount_scratch: lazily unmounts everything mounted below $SCRATCH,
# deepest first.
unmount_scratch() {
	awk -v top="$SCRATCH" '
		function unoct(s,    out, i, c) {
			out = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == "\\") {
					out = out sprintf("%c", (substr(s, i + 1, 1) * 64) + (substr(s, i + 2, 1) * 8) + substr(s, i + 3, 1))
					i += 3
				} else
					out = out c
			}
			return out
		}
		{
			for (i = 7; $i != "-"; i++)
				;
			mp = unoct($5)
			if (index(mp "/", top "/") == 1)
				print length(mp) "\t" $(i + 1) "\t" mp
		}' /proc/self/mountinfo | sort -rn | while IFS='	' read -r _ fstype mp; do
		case "$fstype" in
		fuse*) fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ;;
		*) umount -l "$mp" 2>/dev/null ;;
		esac
	done
}

# kill_tree ROOT [EXCLUDE]: TERM to every process below ROOT (but EXCLUDE),
# KILL to those still there after $KILL_GRACE seconds.
kill_tree() {
	kt_pids=$(descendants "$1" "${2:-0}")
	[ -n "$kt_pids" ] || return 0
	# shellcheck disable=SC2086
	kill -TERM $kt_pids 2>/dev/null
	# shellcheck disable=SC2086
	wait_gone "$KILL_GRACE" $kt_pids && return 0
	kt_pids="$kt_pids $(descendants "$1" "${2:-0}")"
	# shellcheck disable=SC2086
	kill -KILL $kt_pids 2>/dev/null
	# shellcheck disable=SC2086
	wait_gone "$KILL_GRACE" $kt_pids
	return 0
}

# test_atexit COMMAND: runs COMMAND (eval) when the script exits, after the
# processes it started are gone and before its mounts are checked.
test_atexit() {
	test_atexit_cmds="$*
$test_atexit_cmds"
}

test_stop_watchdog() {
	kill_tree "$test_watchdog"
	kill -TERM "$test_watchdog" 2>/dev/null
	wait "$test_watchdog" 2>/dev/null
	test_watchdog=
}

test_exit_trap() {
	te_rc=$?
	trap - EXIT TERM INT HUP
	if [ -n "${test_watchdog:-}" ]; then
		test_stop_watchdog
	fi
	unmount_scratch
	kill_tree $$
	unmount_scratch
	if [ -n "$test_atexit_cmds" ]; then
		eval "$test_atexit_cmds"
	fi
	if [ -e "$SCRATCH/.timedout" ]; then
		echo "Bail out! $TEST_NAME timed out after $test_timeout s (set test_timeout before sourcing lib.sh, or EFS_TEST_TIMEOUT): it and everything it started were killed"
		exit 1
	fi
	if [ -z "$test_finished" ]; then
		echo "Bail out! $TEST_NAME ended (status $te_rc) before test_done"
		[ "$te_rc" -ne 0 ] || te_rc=1
	fi
	exit "$te_rc"
}

# The watchdog: a background loop that, once the time is up, marks the
# script as timed out, unmounts, and kills the script's processes and then
# the script (TERM, then KILL). It ends on its own when the script is gone.
test_start_watchdog() {
	(
		trap - EXIT TERM INT HUP
		me=$(exec sh -c 'echo $PPID')
		left=$test_timeout
		while [ "$left" -gt 0 ]; do
			sleep 1
			kill -0 $$ 2>/dev/null || exit 0
			left=$((left - 1))
		done
		: >"$SCRATCH/.timedout"
		unmount_scratch
		kill -TERM $(descendants $$ "$me") 2>/dev/null
		kill -TERM $$ 2>/dev/null
		sleep "$KILL_GRACE"
		unmount_scratch
		kill -KILL $(descendants $$ "$me") 2>/dev/null
		kill -0 $$ 2>/dev/null || exit 0
		sleep "$KILL_GRACE"
		kill -KILL $$ 2>/dev/null
	) </dev/null >/dev/null 2>&1 &
	test_watchdog=$!
}

trap test_exit_trap EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
test_start_watchdog

# test_require root | fuse | tool NAME... | file PATH
test_require() {
	case "$1" in
	root)
		[ "$(id -u)" = 0 ] || skip_all "root"
		;;
	fuse)
		[ -c /dev/fuse ] && [ -w /dev/fuse ] || skip_all "/dev/fuse"
		command -v fusermount3 >/dev/null || skip_all "fusermount3 (package fuse3)"
		;;
	tool)
		shift
		for t in "$@"; do
			command -v "$t" >/dev/null || skip_all "the tool $t"
		done
		;;
	file)
		[ -e "$2" ] || skip_all "$2"
		;;
	*)
		echo "Bail out! test_require: unknown requirement $1"
		exit 99
		;;
	esac
}

# Bodies run in a subshell, so cleanup commands and daemon pids are kept in
# files the script itself reads back.
test_when_finished() {
	printf '{ %s\n} ; ' "$*" | cat - "$SCRATCH/.cleanup" >"$SCRATCH/.cleanup.new" 2>/dev/null
	mv "$SCRATCH/.cleanup.new" "$SCRATCH/.cleanup"
}

test_expect_success() {
	desc=$1
	body=$2
	test_count=$((test_count + 1))
	: >"$SCRATCH/.cleanup"
	say "running: $desc"
	printf '%s\n' "$body" >"$SCRATCH/.body"
	if ! lint=$(awk -f "$top_srcdir/tests/helpers/chainlint.awk" "$SCRATCH/.body" 2>&1); then
		echo "not ok $test_count - $desc # harness error: broken &&-chain"
		echo "#   harness error: the body's commands are not chained with && at body $lint"
		test_failed=$((test_failed + 1))
		return 0
	fi
	# Not in an if: set -e then works inside the body's subshell.
	rc=0
	(eval "set -e; $body") >"$SCRATCH/.out.$test_count" 2>&1 || rc=$?
	if [ "$rc" -eq 0 ]; then
		result=ok
	else
		result="not ok"
		test_failed=$((test_failed + 1))
	fi
	test_cleanup="$(cat "$SCRATCH/.cleanup") :"
	if ! (eval "$test_cleanup") >>"$SCRATCH/.out.$test_count" 2>&1 && [ "$result" = ok ]; then
		echo "cleanup failed" >>"$SCRATCH/.out.$test_count"
		result="not ok"
		test_failed=$((test_failed + 1))
	fi
	if [ "$result" != ok ]; then
		sed 's/^/#   /' "$SCRATCH/.out.$test_count"
	fi
	echo "$result $test_count - $desc"
}

# Run a command expected to fail (non-zero exit, not a crash by signal).
# expect_exit CODE CMD...: runs CMD with its output in ./out and ./err and
# fails (showing err) unless it exits with CODE.
expect_exit() {
	want=$1
	shift
	set +e
	"$@" >out 2>err
	rc=$?
	set -e
	if [ $rc -ne "$want" ]; then
		echo "exit $rc, expected $want: $*" >&2
		sed 's/^/  | /' err >&2
		return 1
	fi
}

test_must_fail() {
	set +e
	"$@"
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		echo "expected failure, got success: $*" >&2
		return 1
	fi
	if [ $rc -gt 128 ] && [ $rc -ne 255 ]; then
		echo "died by signal $((rc - 128)): $*" >&2
		return 1
	fi
	return 0
}

# start_daemon NAME COMMAND [ARG...]: starts COMMAND in the background with its
# output in $SCRATCH/NAME.log, waits for its readiness notification
# (sd_notify READY=1) and sets ${NAME}_pid. Fails if it exits or times out first.
start_daemon() {
	name=$1
	shift
	# A daemon started again under its name: the old one must be gone (a
	# test killed it on purpose; a SIGKILL takes a moment to finish the
	# process, after it closed its sockets); reap it.
	eval "sd_old=\${${name}_pid:-}"
	if [ -n "$sd_old" ]; then
		if ! wait_gone 10 "$sd_old"; then
			harness_error "daemon $name started again while still running"
		else
			wait "$sd_old" 2>/dev/null
			grep -v "^$sd_old " "$SCRATCH/.daemons" >"$SCRATCH/.daemons.new" || true
			mv "$SCRATCH/.daemons.new" "$SCRATCH/.daemons"
		fi
	fi
	fifo="$SCRATCH/.ready.$name"
	rm -f "$fifo"
	mkfifo "$fifo"
	readywait 3 "${DAEMON_TIMEOUT:-60}" -- "$@" >>"$SCRATCH/$name.log" 2>&1 3>"$fifo" &
	pid=$!
	status=
	read -r status <"$fifo" || true
	rm -f "$fifo"
	eval "${name}_pid=$pid"
	echo "$pid $name ${BASHPID:-$$}" >>"$SCRATCH/.daemons"
	if [ "$status" != ready ]; then
		echo "daemon $name did not become ready: ${status:-no status}" >&2
		sed 's/^/  | /' "$SCRATCH/$name.log" >&2
		return 1
	fi
}

# track_daemon NAME PID: a daemon the script started itself in the background
# (without start_daemon): sets ${NAME}_pid, and test_done stops it with the
# same clean-exit rule. Helper processes that are not the project's daemons
# need no registration: the EXIT trap kills them.
track_daemon() {
	eval "${1}_pid=$2"
	echo "$2 $1 ${BASHPID:-$$}" >>"$SCRATCH/.daemons"
}

# stop_daemon NAME [SIGNAL]: signals the daemon (TERM by default) and waits
# at most $STOP_TIMEOUT seconds for it to exit; returns its exit status. After
# TERM a daemon must exit with status 0: anything else (or still running, when
# it gets KILL) fails the script as a harness error. Daemons are started and
# stopped at the top level of a script, never inside a test body.
stop_daemon() {
	eval "sd_pid=\${${1}_pid:-}"
	[ -n "$sd_pid" ] || return 0
	sd_sig=${2:-TERM}
	kill "-$sd_sig" "$sd_pid" 2>/dev/null || true
	daemon_reap "$1" "$sd_pid" "SIG$sd_sig" "$sd_sig"
}

# daemon_reap NAME PID WHAT [SIGNAL]: waits (bounded) for the daemon NAME to
# exit after WHAT and reaps it; its status must be 0 when SIGNAL is TERM or
# empty. Returns the status.
daemon_reap() {
	eval "${1}_pid="
	dr_owner=$(awk -v p="$2" '$1 == p { print $3 }' "$SCRATCH/.daemons")
	grep -v "^$2 " "$SCRATCH/.daemons" >"$SCRATCH/.daemons.new" || true # empty: no line left
	mv "$SCRATCH/.daemons.new" "$SCRATCH/.daemons"
	if [ -n "$dr_owner" ] && [ "$dr_owner" != "${BASHPID:-$$}" ]; then
		harness_error "daemon $1 stopped by another shell than the one that started it (a test body?): start and stop daemons at the top level"
		wait_gone "$STOP_TIMEOUT" "$2" || kill -KILL "$2" 2>/dev/null
		return 1
	fi
	if ! wait_gone "$STOP_TIMEOUT" "$2"; then
		kill -KILL "$2" 2>/dev/null
		wait "$2" 2>/dev/null
		harness_error "daemon $1 (pid $2) still running $STOP_TIMEOUT s after $3: killed"
		sed 's/^/  | /' "$SCRATCH/$1.log" 2>/dev/null | tail -n 20 >&2
		return 1
	fi
	dr_rc=0
	wait "$2" 2>/dev/null || dr_rc=$?
	case "${4-TERM}" in
	TERM | '')
		if [ "$dr_rc" -ne 0 ]; then
			harness_error "daemon $1 exited with status $dr_rc after $3 (a clean exit is 0)"
			sed 's/^/  | /' "$SCRATCH/$1.log" 2>/dev/null | tail -n 20 >&2
		fi
		;;
	esac
	return "$dr_rc"
}

test_done() {
	while read -r td_pid td_name td_owner; do
		[ -n "$td_pid" ] || continue
		if [ "$td_owner" != "$$" ]; then
			if proc_running "$td_pid"; then
				harness_error "daemon $td_name, started in a test body, outlived it: killed"
				kill -KILL "$td_pid" 2>/dev/null
			fi
			continue
		fi
		say "stopping the daemon $td_name, never stopped by the script"
		eval "${td_name}_pid=$td_pid"
		stop_daemon "$td_name" >&2 || true
	done <<EOF
$(cat "$SCRATCH/.daemons")
EOF
	while IFS= read -r td_msg; do
		[ -n "$td_msg" ] || continue
		test_count=$((test_count + 1))
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - harness: $td_msg"
	done <"$SCRATCH/.harness"
	echo "1..$test_count"
	test_finished=1
	if [ "$test_failed" -eq 0 ] && [ "${KEEP_SCRATCH:-}" != 1 ]; then
		test_stop_watchdog
		test_watchdog=
		unmount_scratch
		kill_tree $$
		cd "$top_builddir" && rm -rf "$SCRATCH"
	fi
	[ "$test_failed" -eq 0 ]
	exit $?
}

# sync_point NAME N: asks the enclave-sync daemon NAME (started with
# start_daemon) for its N-th sync point (SIGUSR1) and waits until it logs
# "synced N": every change made before the call is then applied by its peer.
sync_point() {
	eval "pid=\${${1}_pid:-}"
	kill -USR1 "$pid" &&
	waitline -t "${SYNC_TIMEOUT:-120}" "$SCRATCH/$1.log" "synced $2"
}

# mount_enclave NAME MNT [ARG...]: mounts enclave-fs on MNT (created) in the
# foreground with a development enclave, its cache in $SCRATCH/NAME.cache and
# its log (-v) in $SCRATCH/NAME.log; returns once it reports ready (mounted
# and connected). Call it at the top level of a script, like start_daemon.
mount_enclave() {
	name=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	start_daemon "$name" enclave-fs -f -v --cache "$SCRATCH/$name.cache" "$@" "$mnt"
}

# unmount_enclave NAME MNT: unmounts and waits (at most $STOP_TIMEOUT s) for
# enclave-fs to exit; it must exit with status 0 (see stop_daemon). Returns
# its exit status.
unmount_enclave() {
	fusermount3 -u "$2" || return 1
	eval "ue_pid=\${${1}_pid:-}"
	[ -n "$ue_pid" ] || return 0
	daemon_reap "$1" "$ue_pid" "fusermount3 -u" ""
}

# wait_job NAME ID: waits until job ID of the mount NAME has ended (its log
# says so; the job's exit file is written just before).
wait_job() {
	waitline -t "${JOB_TIMEOUT:-120}" "$SCRATCH/$1.log" "enclave-fs: info: job $2: "
}
