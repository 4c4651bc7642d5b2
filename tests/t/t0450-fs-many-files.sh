#!/bin/sh
# Many small files: 20,000 files of 4 KiB in 100 directories, unpacked with
# tar into dataset/, all reach the enclave and a job sees every one of them.
# Timings are printed as TAP comments; they never fail the test.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool tar diff

PY=/usr/bin/python3
NDIRS=100
PERDIR=200
NFILES=$((NDIRS * PERDIR))

now() {
	date +%s.%N
}

# since START WHAT: prints how long WHAT took, as a TAP comment, on the
# script's stdout (fd 9) even from inside a test body.
exec 9>&1
since() {
	say "$(awk -v a="$1" -v b="$(now)" -v w="$2" 'BEGIN { printf "%s: %.2f s", w, b - a }')" >&9
}

mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "many", "version": "1",
 "entries": {
  "count": {"argv": ["sh", "-c", "find /dataset -type f | wc -l | tee /output/count"]}
 },
 "default": "count"}
JSON
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o many.sealed app 2>/dev/null

# The source: distinct content in every file (its name, then random bytes),
# under one top directory (extracting "." would set dataset/'s own times).
$PY - src/many "$NDIRS" "$PERDIR" <<'PY'
import os, sys
top, ndirs, perdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(ndirs):
    dd = os.path.join(top, "d%03d" % d)
    os.makedirs(dd)
    for f in range(perdir):
        name = "f%04d.dat" % f
        head = ("%s/%s\n" % (dd, name)).encode()
        with open(os.path.join(dd, name), "wb") as out:
            out.write(head + os.urandom(4096 - len(head)))
PY
tar cf src.tar -C src many

mount_enclave fs mnt --kek k.kek
M=$SCRATCH/mnt
STATE=$SCRATCH/fs.cache/.enclave

test_expect_success "the source: $NFILES files of 4 KiB in $NDIRS directories, in a tar" '
	test "$(find src -type f | wc -l)" = "$NFILES" &&
	test "$(find src/many -mindepth 1 -type d | wc -l)" = "$NDIRS" &&
	test "$(find src -type f -size 4096c | wc -l)" = "$NFILES" &&
	test "$(find src -type f -exec md5sum {} + | cut -d" " -f1 | sort -u | wc -l)" = "$NFILES"
'

test_expect_success 'the package is accepted' '
	cp many.sealed "$M/encrypted/"
'

test_expect_success 'tar xf into dataset/' '
	t0=$(now) &&
	tar xf src.tar -C "$M/dataset" &&
	since "$t0" "tar xf of $NFILES files"
'

test_expect_success 'a job counts every file in /dataset' '
	t0=$(now) &&
	echo "many.sealed count" >"$M/.run" &&
	since "$t0" ".run (the barrier: everything reached the enclave)" &&
	id=$(cat "$M/.run") &&
	wait_job fs "$id" &&
	since "$t0" "the job, from .run to its end" &&
	test "$(cat "$M/jobs/$id/exit")" = 0 &&
	test "$(cat "$M/jobs/$id/log")" = "$NFILES" &&
	test "$(cat "$M/output/count")" = "$NFILES"
'

test_expect_success 'the mount holds exactly the source' '
	t0=$(now) &&
	diff -r src "$M/dataset" &&
	since "$t0" "diff -r of the source and the mount"
'

# The mount equals the source (above), so comparing the enclave with the
# source compares it with the mount, without a second pass through FUSE.
test_expect_success 'the enclave holds exactly what the mount shows' '
	t0=$(now) &&
	diff -r src "$STATE/dataset" &&
	since "$t0" "diff -r of the source and the enclave" &&
	test "$(find "$STATE/dataset" -type f | wc -l)" = "$NFILES"
'

test_expect_success 'ls -lR of the mount lists every file' '
	t0=$(now) &&
	ls -lR "$M/dataset" >ls.out &&
	since "$t0" "ls -lR of the mount" &&
	test "$(wc -l <ls.out)" = "$(ls -lR src | wc -l)" &&
	test "$(grep -c "^-rw-r--r-- .* 4096 .* f[0-9]*\.dat$" ls.out)" = "$NFILES"
'

test_expect_success 'rm -r of the tree empties dataset/ here and in the enclave' '
	t0=$(now) &&
	rm -r "$M/dataset/"* &&
	since "$t0" "rm -r of $NFILES files" &&
	test -z "$(ls -A "$M/dataset")" &&
	echo "many.sealed count" >"$M/.run" &&
	id=$(cat "$M/.run") &&
	wait_job fs "$id" &&
	test "$(cat "$M/jobs/$id/log")" = 0 &&
	test -z "$(ls -A "$STATE/dataset")"
'

unmount_enclave fs "$M"

test_done
