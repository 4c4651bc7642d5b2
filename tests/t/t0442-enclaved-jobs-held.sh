#!/bin/sh
# enclaved holds jobs for the next host: a host (tests/helpers/peer.py) starts
# two jobs and goes away; one keeps running, the other writes 200,005 bytes
# and ends while no host is connected. The next host is told both (JOBS, same
# instance), gets the last 64 KiB of what was written with a line counting
# what was dropped, the real end of the one that ended, and can cancel the
# one still running although another connection started it. A restarted
# enclaved reports a new instance and no jobs.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3 pgrep
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

peer="$top_srcdir/tests/helpers/peer.py"
export PYTHONDONTWRITEBYTECODE=1

mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "held", "version": "1",
 "entries": {
  "sleep": {"argv": ["sh", "-c", "echo sleeping; exec sleep 4421"]},
  "flood": {"argv": ["sh", "flood.sh"], "host_args": true}
 }}
JSON
cat >app/flood.sh <<'SH'
echo start
while [ ! -e "/dataset/go-$1" ]; do sleep 0.1; done
head -c 200000 /dev/zero | tr '\0' x
printf '\nend\n'
SH
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o held.sealed app 2>/dev/null

estart() {
	start_daemon "$1" enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
		--kek k.kek --max-jobs 2 -v
}

# host: opens as the host, then runs the script given on stdin.
host() {
	{ echo "p.open_host()" && cat; } >host.py &&
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" host.py
}

estart enclave

test_expect_success 'a host starts two jobs and goes away' '
	host <<-'\''PY'\'' &&
	assert p.held_jobs is not None and p.held_jobs["jobs"] == [], p.held_jobs
	assert p.held_jobs["instance"] != bytes(16)
	open("instance", "w").write(p.held_jobs["instance"].hex())
	assert p.send_file("encrypted/held.sealed", open("held.sealed", "rb").read()) == (0, "")
	assert p.wait_package("held.sealed")["state"] == READY, p.packages
	ids = []
	for line, word in (("held.sealed sleep", b"sleeping"), ("held.sealed flood 1", b"start")):
	    r = p.run(line)
	    assert r["job"], r
	    p.wait_for(lambda: word in p.logs[r["job"]][STDOUT])
	    ids.append(r["job"])
	open("ids", "w").write("%d %d\n" % tuple(ids))
	PY
	waitline -t 30 enclave.log "connection ended" &&
	pgrep -f "^sleep 4421\$"
'

test_expect_success 'the second job writes and ends while no host is connected' '
	touch state/dataset/go-1 &&
	waitline -t 30 enclave.log "ended while no host was connected" &&
	pgrep -f "^sleep 4421\$"
'

test_expect_success 'the next host is told both jobs, gets what was held and the real end' '
	host <<-'\''PY'\''
	a, b = map(int, open("ids").read().split())
	assert p.held_jobs["jobs"] == [a, b], (p.held_jobs, a, b)
	assert p.held_jobs["instance"].hex() == open("instance").read()
	st, out, err = p.wait_job(b)
	assert st["state"] == EXITED and st["code"] == 0, st
	whole = b"x" * 200000 + b"\nend\n"
	assert out == whole[-65536:], (len(out), out[-16:])
	want = "enclaved: %d bytes of this job%ss output were dropped while no host was connected\n" % (
	    len(whole) - 65536, chr(39))
	assert err == want.encode(), err
	assert p.logs[a][STDOUT] == b"" and a not in p.jobs, (p.logs[a], p.jobs.get(a))
	p.send("JOB_CANCEL", a)
	st, out, err = p.wait_job(a)
	assert st["state"] == CANCELLED, st
	PY
'

test_expect_success 'a job whose end a host was told is not held any more' '
	! pgrep -f "^sleep 4421\$" &&
	host <<-'\''PY'\''
	assert p.held_jobs["jobs"] == [], p.held_jobs
	PY
'

stop_daemon enclave
echo "rc=$?" >stop1.rc
estart enclave2

test_expect_success 'a restarted enclaved is another instance, holding no job' '
	test "$(cat stop1.rc)" = rc=0 &&
	host <<-'\''PY'\''
	assert p.held_jobs["jobs"] == [], p.held_jobs
	assert p.held_jobs["instance"].hex() != open("instance").read()
	assert p.held_jobs["instance"] != bytes(16)
	PY
'

test_done
