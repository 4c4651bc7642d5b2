#!/bin/sh
# Paths up to PATH_MAX below dataset/: a directory chain made with mkdir in
# steps (cd into each), then a file, a symlink, a hard link and a FIFO at the
# bottom, 4094 bytes below dataset/ (the cache path is longer than PATH_MAX).
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

PY=/usr/bin/python3

mount_enclave fs mnt
M=$SCRATCH/mnt
CACHE=$SCRATCH/fs.cache

# deep DIR LEN: in DIR, makes directories of 200 bytes in steps and at the
# bottom does everything a user does to a file whose path below DIR is LEN
# bytes long.
deep() {
	$PY - "$1" "$2" <<'PY'
import os, sys
os.chdir(sys.argv[1])
want = int(sys.argv[2])
total = 0
while total + 201 < want - 50:
    os.mkdir("d" * 200)
    os.chdir("d" * 200)
    total += 201
name = "f" * (want - total)
with open(name, "w") as f:
    f.write("deep\n")
assert open(name).read() == "deep\n"
g = "g" * len(name)
os.rename(name, g)
os.symlink(g, "s")
os.link(g, "h")
os.mkfifo("p")
assert sorted(os.listdir(".")) == sorted([g, "h", "p", "s"])
assert os.stat("h").st_nlink == 2 and os.readlink("s") == g
os.chmod(g, 0o600)
os.truncate(g, 2)
os.utime(g, (0, 0))
assert open("s").read() == "de" and os.stat(g).st_mtime == 0
for n in (g, "s", "h", "p"):
    os.unlink(n)
os.mkdir("x" * 40)
os.rmdir("x" * 40)
PY
}

test_expect_success 'a path of 4000 bytes below dataset/' '
	deep "$M/dataset" 4000
'

test_expect_success 'a path of 4094 bytes below dataset/ (longer than PATH_MAX in the cache)' '
	mkdir "$M/dataset/long" &&
	deep "$M/dataset/long" 4089 &&
	test -d "$CACHE/dataset/long/$(printf "%0200d" 0 | tr 0 d)"
'

test_expect_success 'a file 4094 bytes below dataset/ reaches the enclave' '
	$PY - "$M/dataset" "$CACHE/.enclave/dataset" <<-\PY
	import os, sys, time
	def walk(top, make):
	    os.chdir(top)
	    total = 0
	    while total + 201 < 4094 - 50:
	        if make:
	            os.mkdir("k" * 200)
	        os.chdir("k" * 200)
	        total += 201
	    return "e" * (4094 - total)
	name = walk(sys.argv[1], True)
	with open(name, "w") as f:
	    f.write("far\n")
	for _ in range(120):
	    try:
	        name = walk(sys.argv[2], False)
	        if open(name).read() == "far\n":
	            sys.exit(0)
	    except OSError:
	        pass
	    time.sleep(0.5)
	sys.exit("the enclave does not hold the file")
	PY
'

test_expect_success 'the mount is still connected' '
	cat "$M/.status" >/dev/null
'

rc=0
unmount_enclave fs "$M" || rc=$?

test_expect_success 'the mount exited cleanly' '
	test "$rc" = 0
'

test_done
