#!/bin/sh
# Readiness and status for a supervisor (systemd's Type=notify): enclave-fs,
# enclaved and enclave-sync send READY=1 exactly once, from the process the
# supervisor started, only when they are ready (checked at that moment by
# tests/helpers/notifylisten.py), STATUS= lines with the connection's state,
# and nothing from their children; log lines carry journal priorities when
# stderr is the journal's stream. And the nitro:NAME address: the CID is
# looked up with nitro-cli at every connect, and a failed lookup says why.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

PY=/usr/bin/python3

# listen NAME [CHECK]: a notification socket $SCRATCH/NAME.sock whose
# datagrams go to $SCRATCH/NAME.notify.
listen() {
	$PY "$top_srcdir/tests/helpers/notifylisten.py" "$SCRATCH/$1.sock" "$SCRATCH/$1.notify" \
		${2:+"$2"} &
	echo $! >"$SCRATCH/$1.lpid"
	waitline -t 30 "$SCRATCH/$1.notify" "listening"
}

# readies NAME: how many READY=1 datagrams arrived.
readies() {
	grep -c "	READY=1" "$SCRATCH/$1.notify" || :
}

enclave-seal keygen -o k.kek >/dev/null

# --- enclaved ------------------------------------------------------------------------
listen ed "test -S $SCRATCH/e.sock"
NOTIFY_SOCKET=$SCRATCH/ed.sock enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
	--state "$SCRATCH/estate" --kek k.kek -v >ed.log 2>&1 &
track_daemon enclave $!
ed_pid=$enclave_pid

test_expect_success 'enclaved: READY=1 once it listens, from its own pid' '
	waitline -t 60 ed.notify "READY=1" &&
	grep -q "^check	ok" ed.notify &&
	grep "READY=1" ed.notify | grep -q "^$enclave_pid	" &&
	waitline -t 30 ed.notify "STATUS=listening; no host"
'

mkdir -p sh
sync_pid=
test_expect_success 'enclaved: a host connecting and leaving is a STATUS line each' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
		--connect "unix:$SCRATCH/e.sock" --once sh >once.log 2>&1 &&
	waitline -t 30 ed.notify "STATUS=host " &&
	waitline -t 30 ed.notify "STATUS=listening; the host left"
'

# --- enclave-sync --connect -----------------------------------------------------------
mkdir -p sh/dataset && echo hello >sh/dataset/x
listen es "test -f $SCRATCH/estate/dataset/x"
NOTIFY_SOCKET=$SCRATCH/es.sock enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
	--connect "unix:$SCRATCH/e.sock" -v sh >es.log 2>&1 &
track_daemon esync $!

test_expect_success 'enclave-sync --connect: READY=1 once in sync (the file is in the enclave)' '
	waitline -t 60 es.notify "READY=1" &&
	grep -q "^check	ok" es.notify &&
	grep "READY=1" es.notify | grep -q "^$esync_pid	" &&
	waitline -t 30 es.notify "STATUS=in sync with unix:"
'

stop_daemon enclave
NOTIFY_SOCKET= enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
	--state "$SCRATCH/estate" --kek k.kek -v >ed2.log 2>&1 &
track_daemon enclave2 $!
test_expect_success 'enclave-sync: the enclave restarts; STATUS says so, and no second READY' '
	waitline -t 30 es.notify "STATUS=connection to unix:$SCRATCH/e.sock ended" &&
	waitline -t 60 -n 2 es.notify "STATUS=in sync with" &&
	test "$(readies es)" = 1
'
stop_daemon esync
stop_daemon enclave2

# --- enclave-sync --listen ------------------------------------------------------------
mkdir -p lst
listen el "test -S $SCRATCH/l.sock"
NOTIFY_SOCKET=$SCRATCH/el.sock enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/l.sock" \
	-v lst >el.log 2>&1 &
track_daemon elisten $!
test_expect_success 'enclave-sync --listen: READY=1 once it listens' '
	waitline -t 60 el.notify "READY=1" &&
	grep -q "^check	ok" el.notify &&
	grep "READY=1" el.notify | grep -q "^$elisten_pid	" &&
	test "$(readies el)" = 1
'
stop_daemon elisten

# --- enclave-fs -----------------------------------------------------------------------
mnt=$SCRATCH/mnt
mkdir -p "$mnt"
listen fs "mountpoint -q $mnt && $PY -c \"import json,sys; sys.exit(json.load(open(\\\"$mnt/.status\\\"))[\\\"connection\\\"] != \\\"connected\\\")\""
# no -f: under a supervisor it must stay the process that was started
NOTIFY_SOCKET=$SCRATCH/fs.sock enclave-fs -v --cache "$SCRATCH/fs.cache" --kek k.kek "$mnt" \
	>fs.log 2>&1 &
track_daemon fs $!

test_expect_success 'enclave-fs: READY=1 once mounted and in sync, from the pid started (no fork)' '
	waitline -t 60 fs.notify "READY=1" &&
	grep -q "^check	ok" fs.notify &&
	grep "READY=1" fs.notify | grep -q "^$fs_pid	" &&
	proc_running $fs_pid &&
	waitline -t 30 fs.notify "STATUS=connected to the enclave at (development)"
'

test_expect_success 'enclave-fs: the development enclave dies and comes back; one READY' '
	dev=$(pgrep -P $fs_pid -x enclaved | head -1) &&
	test -n "$dev" &&
	kill -KILL $dev &&
	waitline -t 30 fs.notify "STATUS=enclave link lost" &&
	waitline -t 60 -n 2 fs.notify "STATUS=connected to the enclave" &&
	test "$(readies fs)" = 1
'

test_expect_success 'nothing but the started process spoke (not the development enclave, its key process or workers)' '
	test -z "$(grep -v "^listening	" fs.notify | grep -v "^check	" | grep -v "^$fs_pid	")" &&
	test -z "$(grep -v "^listening	" ed.notify | grep -v "^check	" | grep -v "^$ed_pid	")"
'
rc=0
unmount_enclave fs "$mnt" || rc=$?
test_expect_success 'enclave-fs: STOPPING=1 at unmount, and a clean exit' '
	test "$rc" = 0 &&
	grep -q "STOPPING=1" fs.notify
'

# An enclave that cannot be reached: not ready, and the status says why
# (-o reconnect: it keeps trying instead of giving up after 15 s).
listen fs2
NOTIFY_SOCKET=$SCRATCH/fs2.sock enclave-fs -v -o reconnect --cache "$SCRATCH/fs2.cache" \
	--trust-root "$DEVROOT/root.pem" --connect "unix:$SCRATCH/nobody.sock" "$mnt" >fs2.log 2>&1 &
track_daemon fs2 $!
test_expect_success 'enclave-fs: an unreachable enclave is no READY; STATUS names the reason' '
	waitline -t 60 -n 2 fs2.notify "STATUS=cannot reach the enclave at unix:$SCRATCH/nobody.sock: No such file or directory" &&
	test "$(readies fs2)" = 0
'
rc=0
unmount_enclave fs2 "$mnt" || rc=$?
test_expect_success '... and it unmounts cleanly' 'test "$rc" = 0'

listen fs3 "mountpoint -q $mnt"
NOTIFY_SOCKET=$SCRATCH/fs3.sock enclave-fs --ready mounted -v --cache "$SCRATCH/fs3.cache" \
	--trust-root "$DEVROOT/root.pem" --connect "unix:$SCRATCH/nobody.sock" "$mnt" >fs3.log 2>&1 &
track_daemon fs3 $!
test_expect_success 'enclave-fs --ready mounted: READY=1 once mounted, with no enclave yet' '
	waitline -t 60 fs3.notify "READY=1" &&
	grep -q "^check	ok" fs3.notify &&
	grep -q "STATUS=mounted; connecting to the enclave at unix:" fs3.notify
'
rc=0
unmount_enclave fs3 "$mnt" || rc=$?
test_expect_success '... and it unmounts cleanly' 'test "$rc" = 0'

# --- the journal ----------------------------------------------------------------------
test_expect_success 'with stderr the journal stream, log lines carry their priority as <N>' '
	: >j.log &&
	js=$(stat -c "%d:%i" j.log) &&
	test_must_fail env JOURNAL_STREAM=$js enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect "unix:$SCRATCH/nobody.sock" --once sh 2>>j.log &&
	grep -q "^<3>error: cannot connect to unix:" j.log &&
	test_must_fail env JOURNAL_STREAM=1:1 enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect "unix:$SCRATCH/nobody.sock" --once sh 2>plain.log &&
	grep -q "^enclave-sync: error: cannot connect to unix:" plain.log
'

# --- nitro:NAME -----------------------------------------------------------------------
cat >nitro-cli <<'EOS'
#!/bin/sh
# describe-enclaves from a file the test writes; each call is logged
echo "$*" >>"$NITRO_LOG"
[ "$*" = describe-enclaves ] || exit 9
cat "$NITRO_STATE"
EOS
chmod +x nitro-cli
NITRO_LOG=$SCRATCH/nitro.log NITRO_STATE=$SCRATCH/nitro.json
export NITRO_LOG NITRO_STATE

test_expect_success 'nitro:NAME: no enclave of that name; the reason is logged, nothing is synced' '
	echo "[{\"EnclaveName\": \"other\", \"EnclaveCID\": 16, \"State\": \"RUNNING\"}]" >nitro.json &&
	test_must_fail env EFS_NITRO_CLI=$SCRATCH/nitro-cli enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect nitro:iris --once sh 2>n1.log &&
	grep -q "cannot connect to nitro:iris: no running enclave is named .iris." n1.log &&
	test_must_fail env EFS_NITRO_CLI=$SCRATCH/nitro-cli enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect nitro: --once sh 2>n2.log &&
	grep -q "cannot connect to nitro:: " n2.log &&
	echo "[{\"EnclaveName\": \"a\", \"EnclaveCID\": 16, \"State\": \"RUNNING\"}, {\"EnclaveName\": \"b\", \"EnclaveCID\": 17, \"State\": \"RUNNING\"}]" >nitro.json &&
	test_must_fail env EFS_NITRO_CLI=$SCRATCH/nitro-cli enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect nitro: --once sh 2>n3.log &&
	grep -q "2 enclaves are running (a, b); name one: nitro:NAME" n3.log &&
	test_must_fail env PATH=/usr/bin:/bin:$top_builddir enclave-sync --trust-root "$DEVROOT/root.pem" \
		--connect nitro:iris --once sh 2>n4.log &&
	grep -q "nitro-cli is not installed" n4.log
'

: >nitro.log
echo "[]" >nitro.json
listen nn
NOTIFY_SOCKET=$SCRATCH/nn.sock EFS_NITRO_CLI=$SCRATCH/nitro-cli enclave-sync \
	--trust-root "$DEVROOT/root.pem" --connect nitro:iris sh >nn.log 2>&1 &
track_daemon nn $!
test_expect_success 'nitro:NAME: the CID is looked up again at every reconnect' '
	waitline -t 60 -n 2 nn.log "reconnecting in" &&
	test "$(grep -c describe-enclaves nitro.log)" -ge 2 &&
	grep -q "STATUS=cannot connect to nitro:iris: no running enclave is named .iris." nn.notify &&
	test "$(readies nn)" = 0
'
stop_daemon nn

for p in "$SCRATCH"/*.lpid; do kill "$(cat "$p")" 2>/dev/null || :; done
test_done
