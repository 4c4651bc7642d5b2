#!/bin/sh
# A hostile peer against both sides, and a hostile job against the link: a
# host that streams summary entries without end, a job that nests 1,100
# directories in /output under a low descriptor limit, names and text with
# newlines and terminal escapes from a host, an enclave and a job.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3 script
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

peer="$top_srcdir/tests/helpers/peer.py"
export PYTHONDONTWRITEBYTECODE=1
ESC=$(printf '\033')

enclave-seal keygen -o k.kek >/dev/null
mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "deep", "version": "1",
 "entries": {
  "nest": {"argv": ["python3", "nest.py"]},
  "hello": {"argv": ["sh", "-c", "echo hello >/output/hello.txt; echo hello"]},
  "esc": {"argv": ["sh", "-c", "printf 'plain \\033[2J\\033]0;owned\\007 end\\n'"]}
 }}
JSON
cat >app/nest.py <<'PY'
import os
open("/output/top.txt", "w").write("top\n")
fd = os.open("/output", os.O_RDONLY)
os.mkdir("nest", dir_fd=fd)
for i in range(1100):
    sub = os.open("nest", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = sub
    os.mkdir("nest", dir_fd=fd)
with open(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
    f.write("bottom\n")
print("nested", flush=True)
PY
enclave-seal seal --kek k.kek -o deep.sealed app 2>/dev/null

# enclaved with few descriptors: a walk that held one per level would run out.
start_daemon enclave prlimit --nofile=256 -- enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" \
	--state "$SCRATCH/state" --kek k.kek -v

test_expect_success 'a host streaming summary entries is cut off at the limit; memory stays bounded' '
	python3 - <<-EOF &&
	import os, sys, re
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	p = Peer.connect("unix:$SCRATCH/s.sock")
	p.hello(HOST)
	p.auto = False
	n = 0
	try:
	    while n < 3000000:
	        p.send("SUMMARY", [(FILE, "output/%07d" % (n + i), 0o644, 1, 0) for i in range(4096)])
	        n += 4096
	except (Closed, BrokenPipeError, ConnectionResetError):
	    pass
	e = p.expect_error(fatal=True)
	assert "1000000" in e["message"], e
	EOF
	pid=$(pgrep -o -f "^enclaved --dev --dev-root "$DEVROOT" --listen unix:$SCRATCH/s.sock") &&
	hwm=$(awk "/VmHWM/ { print \$2 }" /proc/$pid/status) &&
	echo "enclaved peak RSS: $hwm kB" &&
	test "$hwm" -lt 300000 &&
	grep "1000000" enclave.log
'

test_expect_success 'a job nesting 1,100 directories in /output does not break the link' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF &&
	p.open_host()
	assert p.send_file("encrypted/deep.sealed", open("deep.sealed", "rb").read()) == (0, "")
	assert p.wait_package("deep.sealed")["state"] == READY
	r = p.run("deep.sealed nest")
	assert r["job"], r
	st, out, err = p.wait_job(r["job"], timeout=120)
	assert st["state"] == EXITED and st["code"] == 0, st
	assert out == b"nested\n", out
	assert p.files.get("output/top.txt") == b"top\n", sorted(p.files)[:5]
	assert not any(f.endswith("bottom.txt") for f in p.files)
	r = p.run("deep.sealed hello")
	st, out, err = p.wait_job(r["job"])
	assert st["state"] == EXITED and out == b"hello\n", (st, out)
	assert p.files["output/hello.txt"] == b"hello\n"
	p.goodbye()
	EOF
	grep "more than 128 levels below its tree" enclave.log
'

test_expect_success 'the next host connects and syncs with the deep tree still there' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF
	p.open_host()
	assert p.files.get("output/top.txt") == b"top\n"
	r = p.run("deep.sealed hello")
	st, out, err = p.wait_job(r["job"])
	assert st["state"] == EXITED, st
	p.goodbye()
	EOF
'

test_expect_success 'a package name with a newline and escapes reaches enclaved'\''s log escaped' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF &&
	p.open_host()
	name = "evil\\nenclaved: error: forged\\x1b[31m"
	assert p.send_file("encrypted/" + name, b"x") == (0, "")
	assert p.wait_package(name)["state"] == FAILED
	p.goodbye()
	EOF
	grep "evil\\\\x0aenclaved: error: forged\\\\x1b\\[31m" enclave.log &&
	! grep "^enclaved: error: forged" enclave.log &&
	! grep -q "$ESC" enclave.log
'

test_expect_success 'a job'\''s escape sequences reach a terminal escaped through enclave-sync --run' '
	mkdir -p client/encrypted &&
	cp deep.sealed client/encrypted/ &&
	script -qec "enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect unix:$SCRATCH/s.sock --run \"deep.sealed esc\" client" \
		typescript >/dev/null &&
	grep "plain \\\\x1b\\[2J\\\\x1b\\]0;owned\\\\x07 end" typescript &&
	! grep -q "$ESC" typescript &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect unix:$SCRATCH/s.sock --run "deep.sealed esc" client >raw &&
	grep -q "$ESC" raw
'

stop_daemon enclave

test_expect_success 'names and text from a hostile enclave reach enclave-fs'\''s log escaped' '
	mkdir -p mnt &&
	rm -f ready && mkfifo ready &&
	{ readywait 3 60 -- python3 "$peer" --listen "unix:$SCRATCH/e.sock" - >peer.out 2>&1 3>ready <<-EOF &
	p.open_enclave(packages=[("x\\nenclave-fs: error: forged\\x1b[2J", FAILED, 22, bytes(32),
	                          "bad\\x1b]0;owned\\x07\\nenclave-fs: error: forged too")])
	p.barrier()
	p.goodbye()
	EOF
	} &&
	read -r status <ready &&
	test "$status" = ready &&
	enclave-fs -f -v --cache "$SCRATCH/fs.cache" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/e.sock" mnt >fs.log 2>&1 &
	fspid=$! &&
	test_when_finished "fusermount3 -u mnt 2>/dev/null; wait $fspid || :" &&
	waitline -t 60 fs.log "package x" &&
	! grep "^enclave-fs: error: forged" fs.log &&
	! grep -q "$ESC" fs.log &&
	grep "x\\\\x0aenclave-fs: error: forged\\\\x1b\\[2J" fs.log
'

test_done
