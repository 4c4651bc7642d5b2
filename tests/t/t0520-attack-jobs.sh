#!/bin/sh
# Jobs as attackers of each other and of the enclave, and the host's other
# users as attackers of jobs: a package's job rewriting another package's
# output, holding every process slot, eating memory; a job reading the
# daemon's command line, making namespaces; a host process of the job's uid
# reading a running job's files; a state dir that already existed open.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3 setpriv pgrep
python3 -c 'import xxhash' 2>/dev/null || skip_all "python3-xxhash"

peer="$top_srcdir/tests/helpers/peer.py"
export PYTHONDONTWRITEBYTECODE=1
PY=/usr/bin/python3

enclave-seal keygen -o k.kek >/dev/null

mkdir -p alpha beta
cat >alpha/enclave.json <<'JSON'
{"name": "alpha", "version": "1",
 "entries": {
  "write": {"argv": ["sh", "-c", "echo A1 >/output/shared.csv && id -u >/output/alpha.uid"]},
  "rewrite": {"argv": ["sh", "-c", "echo A2 >/output/shared.csv && cat /output/shared.csv"]},
  "fork": {"argv": ["python3", "-c", "import os\nfor i in range(50):\n    if os.fork() == 0:\n        os._exit(0)\nfor i in range(50):\n    os.wait()\nprint('forked 50')"]},
  "sleep": {"argv": ["sh", "-c", "echo sleeping; exec sleep 60"]}
 }}
JSON
echo "alpha's code" >alpha/code.txt
cat >beta/enclave.json <<'JSON'
{"name": "beta", "version": "1",
 "entries": {
  "clobber": {"argv": ["python3", "clobber.py"]},
  "hold": {"argv": ["python3", "hold.py"]},
  "mem": {"argv": ["python3", "-c", "import sys\ntry:\n    b = bytearray(900 << 20)\n    print('allocated')\nexcept MemoryError:\n    print('refused')"]},
  "probe": {"argv": ["sh", "probe.sh"]},
  "tail": {"argv": ["sh", "-c", "for i in 1 2 3 4 5; do echo e$i >&2; done; echo out"],
           "stderr": {"last": 2}},
  "quiet": {"argv": ["sh", "-c", "echo Traceback quoting secret source >&2; echo out"]},
  "loud": {"argv": ["sh", "-c", "echo all of it >&2; echo out"], "stderr": "all"},
  "readdata": {"argv": ["sh", "-c", "cat /dataset/link /dataset/dirlink/code.txt; echo rc=$?; readlink /dataset/link"]}
 }}
JSON
cat >beta/clobber.py <<'PY'
import os
def attempt(what, fn):
    try:
        fn()
        print(what, "done")
    except OSError as e:
        print(what, "refused", e.errno)
def write():
    with open("/output/shared.csv", "w") as f:
        f.write("B\n")
def replace():
    with open("/output/beta.tmp", "w") as f:
        f.write("B\n")
    os.replace("/output/beta.tmp", "/output/shared.csv")
attempt("write", write)
attempt("replace", replace)
attempt("unlink", lambda: os.unlink("/output/shared.csv"))
attempt("chmod", lambda: os.chmod("/output/shared.csv", 0o666))
PY
cat >beta/hold.py <<'PY'
import os, time
n = 0
try:
    for i in range(400):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError:
    pass
print("held", n, flush=True)
time.sleep(30)
PY
cat >beta/probe.sh <<'SH'
unshare -U true 2>/dev/null; echo "unshare=$?"
cat /proc/1/cmdline >/dev/null 2>&1; echo "cmdline=$?"
test -e /proc/1; echo "pid1=$?"
ln -s /app/probe.sh /tmp/link 2>/dev/null; echo "symlink=$?"
SH
enclave-seal seal --kek k.kek -o alpha.sealed alpha 2>/dev/null
enclave-seal seal --kek k.kek -o beta.sealed beta 2>/dev/null

# A state dir that already exists, open to everyone.
mkdir -m 0755 state
start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek --job-mem 512M -v

# host: the opening, both packages, then the script given on stdin.
host() {
	{
		cat <<-'PY' &&
		p.open_host()
		for n in ("alpha.sealed", "beta.sealed"):
		    assert p.send_file("encrypted/" + n, open(n, "rb").read()) == (0, "")
		    assert p.wait_package(n)["state"] == READY, p.packages
		def job(line):
		    r = p.run(line)
		    assert r["job"], r
		    st, out, err = p.wait_job(r["job"])
		    return st, out.decode()
		PY
		cat
	} >host.py &&
	python3 "$peer" --connect "unix:$SCRATCH/s.sock" host.py
}

test_expect_success 'an existing state dir is closed to everyone (0700)' '
	test "$(stat -c %a state)" = 700
'

test_expect_success 'another package'\''s job cannot rewrite, replace, remove or chmod a job'\''s output' '
	host <<-'\''PY'\'' &&
	st, out = job("alpha.sealed write")
	assert st["state"] == EXITED and st["code"] == 0, st
	st, out = job("beta.sealed clobber")
	for what in ("write", "replace", "unlink", "chmod"):
	    assert what + " refused" in out, out
	assert p.files["output/shared.csv"] == b"A1\n", p.files.get("output/shared.csv")
	st, out = job("alpha.sealed rewrite")
	assert out == "A2\n", out
	PY
	test "$(cat state/output/shared.csv)" = A2 &&
	test "$(stat -c %a state/output)" = 1777
'

test_expect_success 'each application has a uid of its own that no host account has' '
	uid=$(cat state/output/alpha.uid) &&
	test "$uid" -ge 2000000000 &&
	! getent passwd "$uid" &&
	! getent group "$uid" &&
	test "$(stat -c %u state/output/shared.csv)" = "$uid"
'

test_expect_success 'a job holding every process slot of its uid does not stop another package'\''s job' '
	host <<-'\''PY'\''
	r = p.run("beta.sealed hold")
	assert r["job"], r
	p.wait_for(lambda: b"held" in p.logs.get(r["job"], {}).get(1, b""))
	held = int(p.logs[r["job"]][1].split()[1])
	assert held >= 200, held
	st, out = job("alpha.sealed fork")
	assert st["state"] == EXITED and out == "forked 50\n", (st, out)
	p.send("JOB_CANCEL", r["job"])
	st, out, err = p.wait_job(r["job"])
	assert st["state"] == CANCELLED, st
	PY
'

test_expect_success 'a job cannot allocate more than --job-mem' '
	host <<-'\''PY'\''
	st, out = job("beta.sealed mem")
	assert out == "refused\n", out
	PY
'

test_expect_success 'a job makes no namespace or mount, sees no other process and no daemon command line' '
	host <<-'\''PY'\''
	st, out = job("beta.sealed probe")
	for want in ("unshare=1", "cmdline=1", "pid1=1", "symlink=1"):
	    assert want in out.split(), (want, out)
	PY
'

test_expect_success 'the host sees stderr only as the manifest says: none, all or the last lines' '
	host <<-'\''PY'\''
	for entry, want in (("quiet", b""), ("loud", b"all of it\n"), ("tail", b"e4\ne5\n")):
	    r = p.run("beta.sealed " + entry)
	    assert r["job"], r
	    st, out, err = p.wait_job(r["job"])
	    assert st["state"] == EXITED and out == b"out\n", (entry, st, out)
	    assert err == want, (entry, err)
	PY
'

test_expect_success 'a job never follows the host'\''s symlinks in /dataset (to its own /app)' '
	host <<-'\''PY'\''
	p.send("SYMLINK", "dataset/link", "/app/probe.sh", 0)
	p.send("SYMLINK", "dataset/dirlink", "../app", 0)
	p.barrier()
	st, out = job("beta.sealed readdata")
	assert st["state"] == EXITED, (st, out)
	assert "rc=1" in out.split() and "/app/probe.sh" in out.split(), out
	assert "unshare" not in out, out
	PY
'

# job_pid UID COMM: the live process COMM of uid UID below this script's
# enclaved (pgrep -u would also find another script's job of the same
# application, which has the same uid, when tests run in parallel).
job_pid() {
	for p in $(descendants "$enclave_pid"); do
		[ "$(ps -o uid=,comm= -p "$p" | tr -s ' ' | sed 's/^ //')" = "$1 $2" ] && echo "$p"
	done
	:
}

mkfifo go
test_expect_success 'a host process of uid nobody cannot read a running job'\''s files' '
	host >host.out <<-'\''PY'\'' &
	import os
	r = p.run("alpha.sealed sleep")
	assert r["job"], r
	p.wait_for(lambda: b"sleeping" in p.logs.get(r["job"], {}).get(1, b""))
	print("sleeping", flush=True)
	open("go").read()
	p.send("JOB_CANCEL", r["job"])
	p.wait_job(r["job"])
	PY
	bg=$! &&
	test_when_finished "test -e go.done || timeout 10 sh -c \"echo >go\" || :" &&
	waitline -t 60 host.out sleeping &&
	uid=$(cat state/output/alpha.uid) &&
	pid=$(job_pid "$uid" sleep) &&
	test -n "$pid" && test "$(echo "$pid" | wc -l)" = 1 &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups \
		cat "/proc/$pid/root/app/code.txt" &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups ls "/proc/$pid/cwd/" &&
	test "$(cat "/proc/$pid/root/app/code.txt")" = "alpha'\''s code" &&
	echo >go && touch go.done &&
	wait $bg
'

stop_daemon enclave
test_done
