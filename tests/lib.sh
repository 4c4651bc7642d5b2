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

test_count=0
test_failed=0
test_cleanup=
daemon_pids=

say() {
	printf '# %s\n' "$*"
}

skip_all() {
	if [ "${CI:-}" = true ]; then
		echo "Bail out! $TEST_NAME needs $* (CI=true: a missing requirement fails)"
		exit 99
	fi
	echo "1..0 # SKIP $*"
	exit 0
}

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
	if (eval "set -e; $body") >"$SCRATCH/.out.$test_count" 2>&1; then
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
	fifo="$SCRATCH/.ready.$name"
	rm -f "$fifo"
	mkfifo "$fifo"
	readywait 3 "${DAEMON_TIMEOUT:-60}" -- "$@" >>"$SCRATCH/$name.log" 2>&1 3>"$fifo" &
	pid=$!
	status=
	read -r status <"$fifo" || true
	rm -f "$fifo"
	eval "${name}_pid=$pid"
	daemon_pids="$daemon_pids $pid"
	echo "$pid" >>"$SCRATCH/.daemons"
	if [ "$status" != ready ]; then
		echo "daemon $name did not become ready: ${status:-no status}" >&2
		sed 's/^/  | /' "$SCRATCH/$name.log" >&2
		return 1
	fi
}

# stop_daemon NAME [SIGNAL]: signals the daemon (TERM by default) and waits for
# it to exit; returns its exit status. (A daemon started inside a test body
# is only known by pid there: start daemons at the top level of a script.)
stop_daemon() {
	eval "pid=\${${1}_pid:-}"
	[ -n "$pid" ] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	eval "${1}_pid="
	return $rc
}

test_done() {
	for pid in $daemon_pids $(cat "$SCRATCH/.daemons" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	echo "1..$test_count"
	if [ "$test_failed" -eq 0 ] && [ "${KEEP_SCRATCH:-}" != 1 ]; then
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

# unmount_enclave NAME MNT: unmounts and waits for enclave-fs to exit;
# returns its exit status.
unmount_enclave() {
	fusermount3 -u "$2" || return 1
	eval "pid=\${${1}_pid:-}"
	rc=0
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || rc=$?
	eval "${1}_pid="
	return $rc
}

# wait_job NAME ID: waits until job ID of the mount NAME has ended (its log
# says so; the job's exit file is written just before).
wait_job() {
	waitline -t "${JOB_TIMEOUT:-120}" "$SCRATCH/$1.log" "enclave-fs: info: job $2: "
}
