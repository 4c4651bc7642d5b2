#!/bin/sh
# The conformance checks of t0600 on the mount's dataset/, mounted with
# -o allow_other,default_permissions (the permission cases run as uid
# 65534): every errno case, the fsx-like runs (buffered, mmap, O_DIRECT,
# every fallocate mode: the cache is on a disk file system that has them)
# and the fsstress-like run must give what they give natively. Then, after a
# barrier, dataset/ through the mount, the cache behind it and the
# development enclave's copy hold the same tree: types, contents, modes
# (the enclave's as it stores them: readable by everyone) and symlink targets.
# FSX_OPS (default 20000), STRESS_PROCS and STRESS_OPS set the run lengths.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

PY=/usr/bin/python3
FSX_OPS=${FSX_OPS:-20000}
STRESS_PROCS=${STRESS_PROCS:-4}
STRESS_OPS=${STRESS_OPS:-3000}

# The test app: "noop" is the barrier and nothing else.
mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "conform", "version": "1",
 "entries": {"noop": {"argv": ["true"]}},
 "default": "noop"}
JSON
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o conform.sealed app 2>/dev/null

# One line per entry under a tree, sorted: type, mode, and for files the size
# and MD5, for symlinks the target. With --enclave the modes are as the
# enclave stores them (permission bits only, files | 0444, directories | 0555:
# doc/PROTOCOL.md, the receiver strips setuid, setgid and sticky bits).
cat >tree.py <<'PY'
import hashlib, os, stat, sys
enclave = sys.argv[1] == "--enclave"
top = sys.argv[-1]
out = []
for dirpath, dirnames, filenames in os.walk(top):
    for name in dirnames + filenames:
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, top)
        st = os.lstat(p)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            out.append("l %s -> %s" % (rel, os.readlink(p)))
        elif stat.S_ISDIR(st.st_mode):
            out.append("d %o %s" % (mode & 0o777 | 0o555 if enclave else mode, rel))
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                h = hashlib.md5(f.read()).hexdigest()
            out.append("f %o %d %s %s" % (mode & 0o777 | 0o444 if enclave else mode, st.st_size, h, rel))
        elif not enclave:
            # FIFOs, sockets and device nodes stay on the host (not synced).
            out.append("%s %o %s" % (stat.filemode(st.st_mode)[0], mode, rel))
print("\n".join(sorted(out)))
PY

mount_enclave fs mnt --kek k.kek -o allow_other,default_permissions
M=$SCRATCH/mnt
D=$M/dataset
CACHE=$SCRATCH/fs.cache/dataset
STATE=$SCRATCH/fs.cache/.enclave

test_expect_success 'mounted with allow_other,default_permissions; the app is accepted' '
	grep " $M fuse.enclave-fs " /proc/mounts >m &&
	grep allow_other m && grep default_permissions m &&
	cp conform.sealed "$M/encrypted/"
'

test_expect_success 'errno suite on the mount: every case passes' '
	fsconform errno "$D" >errno.out 2>&1 || { grep -v "^ok" errno.out; exit 1; } &&
	! grep "^not ok" errno.out &&
	test "$(grep -c "^ok" errno.out)" -gt 250
'

test_expect_success "fsx on the mount: $FSX_OPS buffered and mmap ops, every fallocate mode" '
	fsconform fsx "$D/fsx-buffered" -N "$FSX_OPS" -S 1 -m -u >fsx1.out 2>&1 ||
	{ cat fsx1.out; exit 1; } &&
	grep "^ok - fsx" fsx1.out &&
	grep "^# unsupported: 0$" fsx1.out
'

test_expect_success "fsx on the mount: $FSX_OPS ops with O_DIRECT" '
	fsconform fsx "$D/fsx-direct" -N "$FSX_OPS" -S 2 -Z -m -u >fsx2.out 2>&1 ||
	{ cat fsx2.out; exit 1; } &&
	grep "^ok - fsx" fsx2.out &&
	grep "^# dwrite: [1-9][0-9]* done, 0 unsupported$" fsx2.out
'

test_expect_success "fsx on the mount: 4 concurrent writers, each in its region of one file" '
	fsconform fsx "$D/fsx-shared" -N "$((FSX_OPS / 4))" -S 4 -P 4 -m -u >fsx4.out 2>&1 ||
	{ grep -v "^#" fsx4.out; exit 1; } &&
	grep "^ok - fsx .*: 4 concurrent writers match their models" fsx4.out &&
	test "$(grep -c "^ok - fsx .* writer [0-3]: " fsx4.out)" = 4
'

test_expect_success "stress on the mount: $STRESS_PROCS processes x $STRESS_OPS ops, no unexpected error" '
	fsconform stress "$D" -p "$STRESS_PROCS" -n "$STRESS_OPS" -S 1 >stress.out 2>&1 ||
	{ grep -v "^#" stress.out; exit 1; } &&
	grep "^ok - stress" stress.out &&
	test -n "$(ls -A "$D/stress")"
'

test_expect_success 'the mount shows exactly what its cache holds' '
	$PY tree.py "$D" >mount.tree &&
	$PY tree.py "$CACHE" >cache.tree &&
	diff mount.tree cache.tree &&
	test "$(wc -l <mount.tree)" -gt 100
'

test_expect_success 'after a barrier the enclave holds the same tree' '
	echo "conform.sealed noop" >"$M/.run" &&
	test -n "$(cat "$M/.run")" &&
	$PY tree.py --enclave "$D" >mount.etree &&
	$PY tree.py --enclave "$STATE/dataset" >enclave.etree &&
	diff mount.etree enclave.etree
'

unmount_enclave fs "$M"

test_done
