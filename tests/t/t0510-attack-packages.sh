#!/bin/sh
# A hostile host against enclaved's packages, speaking the protocol itself
# (tests/helpers/peer.py): it names its own package after another package's
# staging directory and races it, fills the enclave's store so that a
# package's extraction fails, and announces files it never sends. What it
# may learn is only what doc/SECURITY.md lists: no byte, name or size from
# inside another package.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

peer="$top_srcdir/tests/helpers/peer.py"
export PYTHONDONTWRITEBYTECODE=1

enclave-seal keygen -o k.kek >/dev/null

# The victim: a secret and a model big enough that its extraction takes a while.
mkdir -p victim/model
cat >victim/enclave.json <<'JSON'
{"name": "victim", "version": "1", "entries": {"noop": {"argv": ["true"]}}, "default": "noop"}
JSON
echo "VICTIM-SECRET-6d1f" >victim/secret.txt
head -c 40M /dev/urandom >victim/model/weights.bin
enclave-seal seal --kek k.kek -o victim.sealed victim 2>/dev/null

# The host's own package: it shows whatever its /app holds.
mkdir -p spy
cat >spy/enclave.json <<'JSON'
{"name": "spy", "version": "1",
 "entries": {"look": {"argv": ["sh", "-c", "cat /app/*.txt; ls -R /app"]}}, "default": "look"}
JSON
echo "SPY-OWN-FILE" >spy/own.txt
enclave-seal seal --kek k.kek -o spy.sealed spy 2>/dev/null

# A package whose extraction needs 24 MiB for one file with a telling name,
# though the sealed file is small (zstd).
mkdir -p big/src
cat >big/enclave.json <<'JSON'
{"name": "big", "version": "1", "entries": {"noop": {"argv": ["true"]}}, "default": "noop"}
JSON
head -c 24M /dev/zero >big/src/proprietary_pricing_algorithm.py
enclave-seal seal --kek k.kek --zstd -o big.sealed big 2>/dev/null

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek -v

test_expect_success 'a package named after another one'\''s staging directory is refused' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF &&
	spy = open("spy.sealed", "rb").read()
	p.open_host()
	for name in (".staging-victim.sealed", ".staging-victim.sealed.1", ".hidden", "a\\nb",
	             "\\x1b[31mred", "x" * 129):
	    assert p.send_file("encrypted/" + name, spy) == (0, ""), name
	    m = p.wait_package(name)
	    assert m["state"] == FAILED and m["errno"] == errno.EINVAL, (name, m)
	    assert m["message"] == "not a valid package name", m
	for name in (".staging-victim.sealed", ".staging-victim.sealed.1"):
	    r = p.run(name)
	    assert r["job"] == 0 and r["errno"], r
	p.goodbye()
	EOF
	! ls state/app/installed | grep . &&
	! ls state/app/staging | grep .
'

test_expect_success 'racing a re-installed package, a host package only ever sees its own files' '
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" - <<-EOF
	victim = open("victim.sealed", "rb").read()
	spy = open("spy.sealed", "rb").read()
	p.open_host()
	# Names that were, or would be, the directories of the victim'\''s
	# versions under a name-derived layout.
	names = ["victim.sealed.1", "victim.sealed.2", "victim.sealed.3", "1", "2", "3"]
	for n in names:
	    p.start_file("encrypted/" + n, spy)
	assert p.send_file("encrypted/victim.sealed", victim) == (0, "")
	assert p.wait_package("victim.sealed")["state"] == READY
	outs = []
	for round in range(3):
	    # A new version of the victim is extracted while the host runs its own.
	    p.start_file("encrypted/victim.sealed", victim, mtime_ns=round)
	    for n in names:
	        r = p.run(n)
	        assert r["job"], r
	        st, out, err = p.wait_job(r["job"])
	        assert st["state"] == EXITED, st
	        outs.append(out)
	assert p.wait_package("victim.sealed")["state"] == READY
	for out in outs:
	    assert b"SPY-OWN-FILE" in out, out
	    assert b"VICTIM" not in out and b"weights" not in out, out
	p.goodbye()
	EOF
'

test_expect_success 'app directories are numbered, 0700, and never named by the host' '
	test "$(stat -c %a state)" = 700 &&
	test "$(stat -c %a state/app)" = 700 &&
	test "$(stat -c %a state/app/installed)" = 700 &&
	ls state/app/installed >dirs &&
	test -s dirs &&
	! grep -v "^[0-9][0-9]*$" dirs
'

stop_daemon enclave

# A small store for the space tests: the state on a 64 MiB tmpfs.
mkdir -p small
mount -t tmpfs -o size=64m tmpfs small
# (lib.sh's EXIT trap unmounts it lazily)

# --max-store larger than the file system, on purpose: the host can fill it.
start_daemon full enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/f.sock" --state "$SCRATCH/small/state" \
	--kek k.kek --max-store 1G -v

test_expect_success 'a FILE_BEGIN reserves no space; an extraction that runs out names nothing' '
	python3 "$peer" --connect "unix:$SCRATCH/f.sock" - <<-EOF &&
	import os, hashlib
	big = open("big.sealed", "rb").read()
	def free():
	    s = os.statvfs("small")
	    return s.f_bavail * s.f_frsize
	p.open_host()
	before = free()
	# 60 MiB announced, nothing sent: nothing may be taken on its word.
	p.auto = False
	p.send("FILE_BEGIN", 900, "dataset/claimed", 0o644, 60 << 20, 0)
	p.send("FILE_CHUNKS", 900, 0, [(bytes(16), 256 << 10)] * 4)
	p.expect("WANT", id=900)
	assert before - free() < (1 << 20), (before, free())
	p.send("FILE_ABORT", 900)
	p.auto = True
	# Fill the store until the package no longer has room to extract
	# (with data: zeros would be stored as holes and take nothing).
	fill = free() - len(big) - (12 << 20)
	assert p.send_file("dataset/fill", os.urandom(fill)) == (0, "")
	assert p.send_file("encrypted/big.sealed", big) == (0, "")
	m = p.wait_package("big.sealed")
	assert m["state"] == FAILED and m["errno"] == errno.ENOSPC, m
	assert m["message"] == "the enclave'\''s store is full", m
	assert m["digest"] == hashlib.sha256(big).digest(), m
	p.goodbye()
	EOF
	! grep -i "proprietary\|pricing" full.log &&
	! ls small/state/app/staging | grep . &&
	! ls small/state/app/installed | grep .
'

stop_daemon full
rm -rf small/state

# The default quota: half of the free space when enclaved starts.
start_daemon quota enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/q.sock" --state "$SCRATCH/small/state" \
	--kek k.kek -v

test_expect_success 'the default store quota refuses a file over it with a fixed message, and frees on remove' '
	python3 "$peer" --connect "unix:$SCRATCH/q.sock" - <<-EOF &&
	import os
	# Data, not zeros: runs of zeros are stored as holes and take nothing.
	p.open_host()
	e, msg = p.send_file("dataset/too-big", os.urandom(40 << 20))
	assert e == errno.ENOSPC, (e, msg)
	assert "too-big" not in msg, msg
	assert p.send_file("dataset/a", os.urandom(20 << 20)) == (0, "")
	e, msg = p.send_file("dataset/b", os.urandom(20 << 20))
	assert e == errno.ENOSPC, (e, msg)
	p.send("REMOVE", "dataset/a")
	p.barrier()
	assert p.send_file("dataset/b", os.urandom(20 << 20)) == (0, "")
	p.goodbye()
	EOF
	test ! -e small/state/dataset/too-big &&
	test ! -e small/state/dataset/a &&
	test -e small/state/dataset/b &&
	! ls -a small/state/dataset | grep "efs-tmp"
'

stop_daemon quota
test_done
