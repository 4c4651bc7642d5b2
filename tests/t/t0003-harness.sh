#!/bin/sh
# The harness itself: &&-chain lint, the per-test timeout, the clean-exit
# rule for daemons and the EXIT trap that kills what a script started.
. "$top_srcdir/tests/lib.sh"

# sub NAME: writes the script NAME.sh (from stdin) that sources lib.sh, runs
# it with the harness's environment and keeps its output in NAME.out and its
# status in NAME.rc.
sub() {
	{ echo '. "$top_srcdir/tests/lib.sh"' && cat; } >"$1.sh" &&
	rc=0 &&
	env -u test_timeout EFS_TEST_TIMEOUT="${2:-60}" KILL_GRACE=1 \
		${SHELL:-/bin/sh} "./$1.sh" >"$1.out" 2>&1 || rc=$? &&
	echo "$rc" >"$1.rc"
}

test_expect_success 'bodies chained with && pass the lint' '
	sub h-good <<-\EOS &&
	test_expect_success "good" "
		case x in
		x) : ;;
		esac &&
		for i in 1 2; do
			test \$i -gt 0 || exit 1
		done &&
		cat >f <<-EOH &&
		a; b
		EOH
		if test -f f; then
			: | cat
		fi &&
		(cd . &&
		 true) &&
		{ true; } &&
		echo a \\
			b
	"
	test_done
	EOS
	test "$(cat h-good.rc)" = 0 &&
	grep "^ok 1 - good" h-good.out
'

test_expect_success 'a broken &&-chain is a harness error naming the line' '
	sub h-broken <<-\EOS &&
	test_expect_success "broken" "
		true &&
		false
		touch ran
	"
	test_done
	EOS
	test "$(cat h-broken.rc)" = 1 &&
	grep "^not ok 1 - broken # harness error: broken &&-chain" h-broken.out &&
	grep "body line 3:.*false" h-broken.out &&
	test ! -e "$top_builddir/tests/scratch/h-broken/ran"
'

test_expect_success 'set -e works inside a body' '
	sub h-sete <<-\EOS &&
	test_expect_success "set -e" "
		for i in 1; do false; touch ran; done
	"
	test_done
	EOS
	test "$(cat h-sete.rc)" = 1 &&
	grep "^not ok 1 - set -e" h-sete.out &&
	test ! -e "$top_builddir/tests/scratch/h-sete/ran"
'

test_expect_success 'the timeout kills a hanging script and all it started' '
	sub h-hang 3 <<-\EOS &&
	sleep 1000 &
	echo $! >"$SCRATCH/bg.pid"
	test_expect_success "hangs" "
		sleep 1000
	"
	test_done
	EOS
	test "$(cat h-hang.rc)" -ne 0 &&
	grep "^Bail out! h-hang timed out after 3 s" h-hang.out &&
	! kill -0 "$(cat "$top_builddir/tests/scratch/h-hang/bg.pid")" 2>/dev/null
'

test_expect_success 'a script that dies still has its processes killed' '
	sub h-die <<-\EOS &&
	sleep 1000 &
	echo $! >"$SCRATCH/bg.pid"
	exit 3
	EOS
	test "$(cat h-die.rc)" = 3 &&
	grep "^Bail out! h-die ended (status 3) before test_done" h-die.out &&
	! kill -0 "$(cat "$top_builddir/tests/scratch/h-die/bg.pid")" 2>/dev/null
'

cat >daemon.sh <<'EOF2'
#!/bin/sh
# A toy daemon: READY=1, then on TERM exits with $1 (or ignores TERM: "hang").
[ "$1" = hang ] && trap '' TERM || trap "exit $1" TERM
python3 -c 'import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(os.environ["NOTIFY_SOCKET"]); s.send(b"READY=1")'
while :; do sleep 1; done
EOF2
chmod +x daemon.sh

test_expect_success 'a daemon must exit 0 on TERM, within STOP_TIMEOUT' '
	sub h-daemons <<-EOS &&
	start_daemon good "$SCRATCH/daemon.sh" 0
	start_daemon bad "$SCRATCH/daemon.sh" 3
	start_daemon hung "$SCRATCH/daemon.sh" hang
	start_daemon forgotten "$SCRATCH/daemon.sh" 4
	STOP_TIMEOUT=2
	stop_daemon good && touch "\$SCRATCH/good-ok"
	stop_daemon bad || touch "\$SCRATCH/bad-failed"
	stop_daemon hung || touch "\$SCRATCH/hung-failed"
	test_done
	EOS
	test "$(cat h-daemons.rc)" = 1 &&
	s=$top_builddir/tests/scratch/h-daemons &&
	test -e $s/good-ok && test -e $s/bad-failed && test -e $s/hung-failed &&
	grep "^not ok 1 - harness: daemon bad exited with status 3 after SIGTERM" h-daemons.out &&
	grep "^not ok 2 - harness: daemon hung (pid [0-9]*) still running 2 s after SIGTERM: killed" h-daemons.out &&
	grep "^not ok 3 - harness: daemon forgotten exited with status 4 after SIGTERM" h-daemons.out &&
	grep "^1\.\.3$" h-daemons.out
'

test_done
