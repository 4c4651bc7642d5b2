#!/bin/sh
# tests/helpers/peer.py, the scriptable peer of the attack tests, against the
# real programs: as the host of enclaved (files, a sealed package, a job, its
# log and its output), as a hostile host that enclaved drops, and as the
# enclave of enclave-sync (a file each way).
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

peer="$top_srcdir/tests/helpers/peer.py"
# Importing peer.py must not leave a __pycache__ in the source tree.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "demo", "version": "1",
 "entries": {"hello": {"argv": ["sh", "hello.sh"], "host_args": true, "stderr": "all"}},
 "default": "hello"}
JSON
cat >app/hello.sh <<'SH'
for a in "$@"; do printf 'arg:%s|\n' "$a"; done
echo "to stderr" >&2
cat /dataset/input.txt
echo "made in the enclave" >/output/hello.txt
SH
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o demo.sealed app 2>/dev/null
head -c 5M /dev/urandom >big.bin

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek -v

# The host's whole session; run by peer.py --connect with `p` connected.
cat >host.py <<'PY'
import hashlib

sealed = open("demo.sealed", "rb").read()
big = open("big.bin", "rb").read()
p.open_host()
assert p.peer_hello["role"] == ENCLAVE, p.peer_hello
assert p.status["isolation"] == "dev", p.status
assert p.send_file("dataset/input.txt", b"the host's data\n") == (0, "")
# 16 KiB chunks: 320 of them, two FILE_CHUNKS batches.
assert p.send_file("dataset/big.bin", big, chunk=16 << 10) == (0, "")
assert p.send_file("encrypted/demo.sealed", sealed, mode=0o600) == (0, "")
pkg = p.wait_package("demo.sealed")
assert pkg["state"] == READY, pkg
assert pkg["digest"] == hashlib.sha256(sealed).digest(), pkg

reply = p.run('demo.sealed hello a "b c"')
assert reply["errno"] == 0 and reply["job"] > 0, reply
state, out, err = p.wait_job(reply["job"])
assert state["state"] == EXITED and state["code"] == 0, state
assert out == b"arg:a|\narg:b c|\nthe host's data\n", out
assert err == b"to stderr\n", err
# The job's output came as a file transfer, before its final state.
assert p.files["output/hello.txt"] == b"made in the enclave\n", sorted(p.files)
kinds = [t for t, m in p.received]
begin = [i for i, (t, m) in enumerate(p.received)
         if t == "FILE_BEGIN" and m["path"] == "output/hello.txt"]
assert begin and "FILE_CHUNKS" in kinds[begin[0]:] and "FILE_END" in kinds[begin[0]:], kinds
assert begin[0] < p.received.index(("JOB_STATE", state)), kinds

refused = p.run("nosuch.sealed")
assert refused["job"] == 0 and refused["errno"] == errno.ENOENT, refused
p.barrier()
p.goodbye()
PY

test_expect_success 'as the host: files, a package, a job, its log and its output' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" host.py &&
	test "$(cat state/dataset/input.txt)" = "the host'\''s data" &&
	cmp big.bin state/dataset/big.bin &&
	cmp demo.sealed state/encrypted/demo.sealed
'

test_expect_success 'as a hostile host (library use): a fatal ERROR, then enclaved hangs up' '
	python3 - <<-EOF
	import os, sys
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	p = Peer.connect("unix:$SCRATCH/s.sock")
	p.open_host()
	p.send("STATUS", {"isolation": "forged"})
	e = p.expect_error(errno.EPROTO)
	assert "STATUS from the host" in e["message"], e
	p.expect_close()
	p = Peer.connect("unix:$SCRATCH/s.sock")
	p.hello(HOST)
	p.send_raw("RUN", u32(1) + text("demo.sealed", length=500))
	p.expect_error(errno.EBADMSG)
	p.expect_close()
	EOF
'

test_expect_success 'enclaved serves the next host, its package still ready' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF
	p.open_host()
	assert p.wait_package("demo.sealed")["state"] == READY, p.packages
	assert "dataset/big.bin" in p.peer_summary, p.peer_summary
	p.goodbye()
	EOF
'

# The enclave's side: what enclave-sync sends is received, and a file sent
# into output/ during the initial pass is on the client when --once exits.
cat >enclave.py <<'PY'
def initial():
    p.start_file("output/from-enclave.txt", b"made by the peer\n", mode=0o640,
                 mtime_ns=1500000000123456789)

p.open_enclave(initial=initial,
               packages=[("demo.sealed", READY, 0, bytes(32), "ready")])
assert p.peer_hello["role"] == HOST, p.peer_hello
assert p.files["dataset/in.txt"] == b"from the host\n", sorted(p.files)
assert p.attrs["dataset/in.txt"][0] == 0o604, p.attrs
assert p.files["model/m/deep.bin"] == open("deep.bin", "rb").read(), sorted(p.files)
assert p.dirs.get("model/m") is not None, p.dirs
assert p.file_acks == {1: (0, "")}, p.file_acks
p.expect_close()
PY

test_expect_success 'as the enclave: enclave-sync --once sends a file and receives one' '
	mkdir -p client/dataset client/model/m &&
	echo "from the host" >client/dataset/in.txt &&
	chmod 604 client/dataset/in.txt &&
	head -c 300K /dev/urandom >deep.bin &&
	cp deep.bin client/model/m/ &&
	rm -f ready && mkfifo ready &&
	test_when_finished "cat peer.out" &&
	{ readywait 3 60 -- python3 "$peer" --listen "unix:$SCRATCH/e.sock" enclave.py \
		>peer.out 2>&1 3>ready & } &&
	pid=$! &&
	read -r status <ready &&
	test "$status" = ready &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/e.sock" --once client &&
	wait $pid &&
	test "$(cat client/output/from-enclave.txt)" = "made by the peer" &&
	test "$(stat -c %a:%Y client/output/from-enclave.txt)" = 640:1500000000
'

stop_daemon enclave || true
test_done
