#!/bin/sh
# A peer that ends every conversation right after its HELLO is retried with
# growing delays (100 ms doubling to 5 s): the backoff returns to 100 ms only
# after a conversation completed its initial pass.
. "$top_srcdir/tests/lib.sh"

test_require tool python3

# delays: the delays the host announced, in order, on one line.
delays() {
	grep -o "reconnecting in [0-9]* ms" host.log | awk '{ printf "%s%s", sep, $3; sep = " " } END { print "" }'
}

mkdir -p host/dataset enc/output
echo data >host/dataset/a

# A peer that answers every connection with a HELLO in the host's own role
# (a fatal error for the host) and closes; sessgate runs the attested
# session in front of it.
cat >peer.py <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
name = b"same-role"
body = struct.pack("<IHBI", 0x01534645, 1, 1, 0) + struct.pack("<H", len(name)) + name
frame = struct.pack("<IHH", len(body), 1, 0) + body
print("listening", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(frame)
    except OSError:
        pass
    c.close()
PY
python3 peer.py "$SCRATCH/inner.sock" >peer.log 2>&1 &
peer_pid=$!
waitline -t 60 peer.log listening
start_daemon gate sessgate enclave --listen "unix:$SCRATCH/s.sock" --dev-root "$DEVROOT" \
	--to "unix:$SCRATCH/inner.sock"

enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host "$host_pid"

test_expect_success 'a peer that fails every conversation early is retried less and less often' '
	waitline -t 60 host.log "reconnecting in 800 ms" &&
	grep -q "peer has our role" host.log &&
	test "$(delays | cut -d" " -f1-4)" = "100 200 400 800"
'

kill "$peer_pid"
wait "$peer_pid" 2>/dev/null || true
stop_daemon gate || true
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'a conversation that gets in sync resets the backoff' '
	waitline -t 60 host.log "in sync" &&
	test -f enc/dataset/a &&
	n=$(grep -c "reconnecting in" host.log) &&
	test "$(delays | awk "{ print \$$n }")" -gt 100 &&
	kill "$enclave_pid" &&
	waitline -t 60 -n $((n + 1)) host.log "reconnecting in" &&
	test "$(delays | awk "{ print \$$((n + 1)) }")" = 100
'

test_done
