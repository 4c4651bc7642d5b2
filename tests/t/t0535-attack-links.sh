#!/bin/sh
# A hostile peer and symlinks or hard links: a symlink pointing out of the
# tree, then a file, a directory, a symlink and links under it or through
# it; a LINK naming a symlink, a path outside the trees, another tree.
# Each is refused and nothing outside the receiver's trees is written or
# read. Both sides: a host against `enclave-sync --dev-root "$DEVROOT" --listen`, an enclave
# against `enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect`.
. "$top_srcdir/tests/lib.sh"

test_require tool python3
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

export PYTHONDONTWRITEBYTECODE=1
mkdir -p enc host/dataset outside
echo secret >outside/secret
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

# snapshot DIR: every entry below DIR with its type, size and mtime.
snapshot() {
	(cd "$1" && find . -printf '%y %s %T@ %p\n' | LC_ALL=C sort)
}

test_expect_success 'a hostile host: a symlink out of the tree, then writes through it' '
	snapshot outside >outside.before &&
	python3 - <<-EOF
	import os, sys
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	p = Peer.connect("unix:$SCRATCH/s.sock")
	p.open_host()
	out = "$SCRATCH/outside"
	p.send("SYMLINK", "dataset/evil", out, 0)
	p.send_file("dataset/plain", b"plain\n")
	p.barrier()
	assert os.readlink("enc/dataset/evil") == out
	err, msg = p.send_file("dataset/evil/x", b"payload\n")
	assert err != 0, msg
	err, msg = p.send_file("dataset/evil/secret", b"overwritten\n")
	assert err != 0, msg
	p.send("MKDIR", "dataset/evil/sub", 0o755, 0)
	p.send("SYMLINK", "dataset/evil/y", "/etc/passwd", 0)
	p.send("LINK", "dataset/evil/secret", "dataset/stolen")
	p.send("LINK", "dataset/evil", "dataset/link-of-symlink")
	p.send("LINK", "dataset/plain", "dataset/evil/planted")
	p.send("SETATTR", "dataset/evil/secret", 0o777, 0)
	p.send("APPEND", "dataset/evil/secret", 7, 0, b"more")
	p.send("REMOVE", "dataset/evil/secret")
	p.send("RENAME", "dataset/plain", "dataset/evil/renamed")
	got = p.barrier()
	errors = [m for t, m in got if t == "ERROR"]
	assert len(errors) >= 6, errors
	assert all(not m["fatal"] for m in errors), errors
	p.goodbye()
	EOF
'

test_expect_success 'nothing outside the tree was written, and nothing was read from it' '
	snapshot outside >outside.after &&
	diff outside.before outside.after &&
	test "$(cat outside/secret)" = secret &&
	test -h enc/dataset/evil &&
	test ! -e enc/dataset/stolen && test ! -h enc/dataset/link-of-symlink &&
	! grep -r secret enc
'

test_expect_success 'a LINK to another tree, or out of the trees, ends the connection' '
	python3 - <<-EOF
	import errno, os, sys
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	for src, dst, err in (("dataset/plain", "model/plain", errno.EPERM),
	                      ("dataset/plain", "output/plain", errno.EPERM),
	                      ("output/x", "dataset/x", errno.EPERM),
	                      ("dataset/plain", "dataset/../../outside/x", errno.EINVAL),
	                      ("dataset/plain", "/tmp/x", errno.EINVAL),
	                      ("dataset/plain", "dataset", errno.EPERM)):
	    p = Peer.connect("unix:$SCRATCH/s.sock")
	    p.open_host()
	    p.send("LINK", src, dst)
	    m = p.expect_error(fatal=True)
	    assert m["errno"] == err, (src, dst, m)
	    p.close()
	EOF
'

test_expect_success 'a SYMLINK with an empty target or a path out of the trees ends the connection' '
	python3 - <<-EOF
	import errno, os, sys
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	for path, target, err in (("dataset/e", "", errno.EINVAL),
	                          ("../outside/l", "x", errno.EINVAL),
	                          ("output/l", "x", errno.EPERM),
	                          ("dataset", "/", errno.EPERM)):
	    p = Peer.connect("unix:$SCRATCH/s.sock")
	    p.open_host()
	    p.send("SYMLINK", path, target, 0)
	    m = p.expect_error(fatal=True)
	    assert m["errno"] == err, (path, target, m)
	    p.close()
	EOF
'

test_expect_success 'still nothing outside the tree' '
	snapshot outside >outside.after2 &&
	diff outside.before outside.after2 &&
	test ! -e "$SCRATCH/x"
'

test_expect_success 'a hostile enclave: a symlink in output/ out of the tree, then a file under it' '
	mkdir -p host-outside && echo mine >host-outside/mine &&
	snapshot host-outside >host-outside.before &&
	python3 - <<-EOF &&
	import os, sys, subprocess
	sys.path.insert(0, os.environ["top_srcdir"] + "/tests/helpers")
	from peer import *
	l = listen("unix:$SCRATCH/e.sock")
	host = subprocess.Popen(["enclave-sync", "--trust-root", "$DEVROOT/root.pem", "--key", "$DEVROOT/host.key",
	                         "--connect", "unix:$SCRATCH/e.sock", "--once", "host"],
	                        stderr=open("hostile-enclave.log", "w"))
	p = l.accept(60)
	def initial():
	    p.send("SYMLINK", "output/evil", "$SCRATCH/host-outside", 0)
	    p.start_file("output/evil/x", b"payload\n")
	    p.send("LINK", "output/evil/mine", "output/stolen")
	p.open_enclave(initial=initial)
	host.wait(60)
	EOF
	snapshot host-outside >host-outside.after &&
	diff host-outside.before host-outside.after &&
	test -h host/output/evil &&
	test ! -e host/output/stolen &&
	grep -q "output/evil/x" hostile-enclave.log
'

stop_daemon enclave

test_done
