#!/bin/sh
# The mount's dataset/ and model/ behave like a local filesystem for the
# commands a user runs on them (create, overwrite, truncate, append, rename,
# chmod, touch, df, fsync, cp, mv, rm, tar, rsync, editors), with the errors
# and messages those commands expect, and what they leave is exactly what the
# enclave and its jobs see after a barrier.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool tar rsync diff md5sum dd truncate sed

PY=/usr/bin/python3

# The test app: "noop" is a barrier and nothing else; "meta" lists /dataset
# and /model with the same script the host uses on its side.
mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "posix", "version": "1",
 "entries": {
  "noop": {"argv": ["true"]},
  "meta": {"argv": ["python3", "meta.py", "/dataset", "/model"]}
 },
 "default": "noop"}
JSON
# One line per entry: its kind, its mode as the enclave stores it (readable
# by everyone: files | 0444, directories | 0555), and for files the size,
# the mtime in nanoseconds and the MD5 of the content.
cat >app/meta.py <<'PY'
import hashlib, os, stat, sys
for top in sys.argv[1:]:
    print("tree", os.path.basename(top))
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = os.path.relpath(dirpath, top)
        if rel != ".":
            st = os.lstat(dirpath)
            print("d %o %s" % (stat.S_IMODE(st.st_mode) & 0o777 | 0o555, rel))
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                print("? %o %s" % (st.st_mode, os.path.relpath(p, top)))
                continue
            with open(p, "rb") as f:
                h = hashlib.md5(f.read()).hexdigest()
            print("f %o %d %d %s %s" % (stat.S_IMODE(st.st_mode) & 0o777 | 0o444, st.st_size,
                                        st.st_mtime_ns, h, os.path.relpath(p, top)))
PY
enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o posix.sealed app 2>/dev/null

# A source tree like a user's data: nested directories, an empty file, an
# empty directory, names with spaces, binary content over several chunks.
mkdir -p src/tree/a/b/c "src/tree/with space" src/tree/empty-dir
echo "top" >src/tree/top.txt
: >src/tree/empty
printf 'line %s\n' $(seq 1 2000) >src/tree/a/lines.txt
head -c 300000 /dev/urandom >src/tree/a/b/random.bin
head -c 5000 /dev/urandom >src/tree/a/b/c/deep.bin
echo "spaced" >"src/tree/with space/file name.txt"
chmod 0750 src/tree/a/b
chmod 0600 src/tree/a/lines.txt
touch -d '2010-01-01 00:00:00 UTC' src/tree/top.txt
head -c 3000000 /dev/urandom >big.bin

mount_enclave fs mnt --kek k.kek
M=$SCRATCH/mnt
D=$M/dataset
STATE=$SCRATCH/fs.cache/.enclave

# pyerr CODE [ARG...]: runs the Python statement CODE (os imported, the
# arguments in a) and prints "OK" or the errno it failed with, number and name.
pyerr() {
	$PY -c '
import errno, os, sys
a = sys.argv[2:]
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(e.errno, errno.errorcode.get(e.errno, "?"))
' "$@"
}

# py_expect WANT CODE [ARG...]: runs pyerr CODE ARG... and checks it printed WANT.
py_expect() {
	want=$1
	shift
	got=$(pyerr "$@") || return 1
	if [ "$got" != "$want" ]; then
		echo "expected $want, got $got from: $1" >&2
		return 1
	fi
}

# run LINE: starts a job through .run (a barrier) and prints its id.
run() {
	echo "$1" >"$M/.run" && cat "$M/.run"
}

test_expect_success 'the test app is accepted: close() returns its verdict' '
	cp posix.sealed "$M/encrypted/" &&
	cmp posix.sealed "$M/encrypted/posix.sealed"
'

test_expect_success 'create, write and read back, in dataset/ and model/' '
	for t in dataset model; do
		echo "hello $t" >"$M/$t/new.txt" &&
		test "$(cat "$M/$t/new.txt")" = "hello $t" &&
		cp big.bin "$M/$t/big.bin" &&
		cmp big.bin "$M/$t/big.bin" &&
		test "$(stat -c %s "$M/$t/big.bin")" = 3000000 &&
		ls "$M/$t" >ls.out &&
		grep -x new.txt ls.out && grep -x big.bin ls.out || exit 1
	done
'

test_expect_success 'overwrite with shorter and longer content' '
	printf "a fairly long first line\n" >"$D/over.txt" &&
	printf "short\n" >"$D/over.txt" &&
	test "$(cat "$D/over.txt")" = short &&
	test "$(stat -c %s "$D/over.txt")" = 6 &&
	printf "now a much longer line than before\n" >"$D/over.txt" &&
	test "$(cat "$D/over.txt")" = "now a much longer line than before" &&
	head -c 100000 big.bin >"$M/model/big.bin" &&
	head -c 100000 big.bin | cmp - "$M/model/big.bin" &&
	dd if=/dev/zero of="$D/big.bin" bs=1k seek=1 count=1 conv=notrunc 2>/dev/null &&
	{ head -c 1024 big.bin && head -c 1024 /dev/zero && tail -c +2049 big.bin; } >expect.bin &&
	cmp expect.bin "$D/big.bin"
'

test_expect_success 'truncate shorter and longer, by path and through an open file' '
	printf abcdefgh >"$D/trunc.txt" &&
	truncate -s 3 "$D/trunc.txt" &&
	test "$(cat "$D/trunc.txt")" = abc &&
	truncate -s 10 "$D/trunc.txt" &&
	printf "abc\0\0\0\0\0\0\0" | cmp - "$D/trunc.txt" &&
	py_expect OK "os.truncate(a[0], 2)" "$D/trunc.txt" &&
	test "$(cat "$D/trunc.txt")" = ab &&
	py_expect OK "fd = os.open(a[0], os.O_RDWR); os.ftruncate(fd, 5); os.pwrite(fd, b\"Z\", 4); os.close(fd)" "$D/trunc.txt" &&
	printf "ab\0\0Z" | cmp - "$D/trunc.txt" &&
	: >"$D/trunc.txt" &&
	test "$(stat -c %s "$D/trunc.txt")" = 0
'

test_expect_success 'append with >> and O_APPEND' '
	echo one >"$D/log.txt" &&
	echo two >>"$D/log.txt" &&
	printf "three\n" | dd of="$D/log.txt" oflag=append conv=notrunc 2>/dev/null &&
	printf "one\ntwo\nthree\n" | cmp - "$D/log.txt" &&
	echo m1 >"$M/model/log.txt" && echo m2 >>"$M/model/log.txt" &&
	printf "m1\nm2\n" | cmp - "$M/model/log.txt"
'

test_expect_success 'rename a file, and over an existing file' '
	echo first >"$D/r1" &&
	mv "$D/r1" "$D/r2" &&
	test ! -e "$D/r1" &&
	test "$(cat "$D/r2")" = first &&
	echo target >"$D/r3" &&
	mv "$D/r2" "$D/r3" &&
	test ! -e "$D/r2" &&
	test "$(cat "$D/r3")" = first &&
	echo again >"$D/r4" &&
	py_expect OK "os.rename(a[0], a[1])" "$D/r4" "$D/r3" &&
	test "$(cat "$D/r3")" = again &&
	test ! -e "$D/r4" &&
	ls "$D" >ls.out &&
	! grep -x -e r1 -e r2 -e r4 ls.out
'

test_expect_success 'rename a directory with its contents, and over an empty directory' '
	mkdir -p "$D/dir1/sub" &&
	echo inside >"$D/dir1/sub/f" &&
	mv "$D/dir1" "$D/dir2" &&
	test ! -e "$D/dir1" &&
	test "$(cat "$D/dir2/sub/f")" = inside &&
	mkdir "$D/emptydir" &&
	py_expect OK "os.rename(a[0], a[1])" "$D/dir2" "$D/emptydir" &&
	test ! -e "$D/dir2" &&
	test "$(cat "$D/emptydir/sub/f")" = inside &&
	mkdir "$M/model/mdir" && echo m >"$M/model/mdir/f" &&
	mv "$M/model/mdir" "$M/model/mdir2" &&
	test "$(cat "$M/model/mdir2/f")" = m
'

test_expect_success 'rename onto a non-empty directory fails: ENOTEMPTY' '
	mkdir -p "$D/full/x" "$D/src-dir" &&
	py_expect "39 ENOTEMPTY" "os.rename(a[0], a[1])" "$D/src-dir" "$D/full" &&
	test_must_fail mv -T "$D/src-dir" "$D/full" 2>err &&
	grep "Directory not empty" err &&
	test -d "$D/src-dir" && test -d "$D/full/x"
'

test_expect_success 'unlink' '
	echo gone >"$D/unlinked" &&
	rm "$D/unlinked" &&
	test ! -e "$D/unlinked" &&
	! ls "$D" | grep -x unlinked &&
	test_must_fail cat "$D/unlinked" 2>err &&
	grep "No such file or directory" err &&
	rm "$M/model/new.txt" && test ! -e "$M/model/new.txt"
'

test_expect_success 'mkdir, mkdir -p, rmdir, and rmdir of a non-empty directory: ENOTEMPTY' '
	mkdir "$D/md" &&
	test -d "$D/md" &&
	mkdir -p "$D/md/p/q/r" &&
	test -d "$D/md/p/q/r" &&
	rmdir "$D/md/p/q/r" &&
	test ! -e "$D/md/p/q/r" &&
	test_must_fail rmdir "$D/md" 2>err &&
	grep "Directory not empty" err &&
	test -d "$D/md/p/q" &&
	mkdir "$M/model/md" && rmdir "$M/model/md" && test ! -e "$M/model/md"
'

test_expect_success 'chmod: the mode is visible' '
	echo x >"$D/modes" &&
	chmod 600 "$D/modes" &&
	test "$(stat -c %a "$D/modes")" = 600 &&
	chmod 754 "$D/modes" &&
	test "$(stat -c %a "$D/modes")" = 754 &&
	test -x "$D/modes" &&
	chmod 700 "$D/md" &&
	test "$(stat -c %a "$D/md")" = 700 &&
	chmod 640 "$M/model/log.txt" &&
	test "$(stat -c %a "$M/model/log.txt")" = 640
'

test_expect_success 'touch -d: mtime and atime are visible through stat' '
	touch -d "2001-02-03 04:05:06.123456789 UTC" "$D/modes" &&
	test "$(stat -c %Y "$D/modes")" = 981173106 &&
	test "$(TZ=UTC stat -c %y "$D/modes")" = "2001-02-03 04:05:06.123456789 +0000" &&
	touch -a -d "2002-01-01 00:00:00 UTC" "$D/modes" &&
	test "$(stat -c %X "$D/modes")" = 1009843200 &&
	test "$(stat -c %Y "$D/modes")" = 981173106 &&
	touch -d "2003-01-01 00:00:00 UTC" "$D/md" &&
	test "$(stat -c %Y "$D/md")" = 1041379200 &&
	touch -d "2004-01-01 00:00:00 UTC" "$D/touched-new" &&
	test -f "$D/touched-new" &&
	test "$(stat -c "%s %Y" "$D/touched-new")" = "0 1072915200"
'

test_expect_success 'statfs: df and stat -f work and describe the backing filesystem' '
	df "$D" >df.out &&
	grep " $M\$" df.out &&
	df -i "$M/model" >/dev/null &&
	stat -f -c "%b %S" "$D" >statfs.out &&
	stat -f -c "%b %S" "$SCRATCH/fs.cache" | cmp - statfs.out &&
	test "$(stat -f -c %a "$D")" -gt 0 &&
	test "$(stat -f -c %l "$D")" = 255
'

test_expect_success 'fsync and fdatasync' '
	dd if=big.bin of="$D/fsynced.bin" bs=64k conv=fsync 2>/dev/null &&
	cmp big.bin "$D/fsynced.bin" &&
	dd if=big.bin of="$M/model/fdatasynced.bin" bs=1M conv=fdatasync 2>/dev/null &&
	cmp big.bin "$M/model/fdatasynced.bin" &&
	sync "$D/fsynced.bin" &&
	py_expect OK "fd = os.open(a[0], os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b\"synced\"); os.fsync(fd); os.fdatasync(fd); os.close(fd)" "$D/pysync" &&
	test "$(cat "$D/pysync")" = synced &&
	py_expect OK "fd = os.open(a[0], os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)" "$D"
'

test_expect_success 'ENOENT: reading, listing, removing and renaming what is not there' '
	test_must_fail cat "$D/nope" 2>err && grep "No such file or directory" err &&
	test_must_fail ls "$D/nope" 2>err && grep "No such file or directory" err &&
	test_must_fail rm "$D/nope" 2>err && grep "No such file or directory" err &&
	test_must_fail mv "$D/nope" "$D/nope2" 2>err && grep "No such file or directory" err &&
	test_must_fail sh -c "echo x >\"\$1/no/such/dir/f\"" sh "$D" 2>err &&
	grep -i "No such file\|nonexistent" err &&
	py_expect "2 ENOENT" "os.stat(a[0])" "$M/model/nope"
'

test_expect_success 'EEXIST: mkdir of an existing name, O_EXCL' '
	test_must_fail mkdir "$D/md" 2>err && grep "File exists" err &&
	test_must_fail mkdir "$D/over.txt" 2>err && grep "File exists" err &&
	py_expect "17 EEXIST" "os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY)" "$D/over.txt" &&
	py_expect "17 EEXIST" "os.mkdir(a[0])" "$M/model/mdir2"
'

test_expect_success 'EISDIR: reading or writing a directory as a file' '
	test_must_fail cat "$D/md" 2>err && grep "Is a directory" err &&
	test_must_fail sh -c "echo x >\"\$1\"" sh "$D/md" 2>err && grep "Is a directory" err &&
	py_expect "21 EISDIR" "os.open(a[0], os.O_WRONLY)" "$M/model/mdir2" &&
	test_must_fail sh -c "echo x >\"\$1\"" sh "$D" 2>err && grep "Is a directory" err
'

test_expect_success 'ENOTDIR: a file used as a directory' '
	test_must_fail ls "$D/over.txt/x" 2>err && grep "Not a directory" err &&
	test_must_fail mkdir "$D/over.txt/x" 2>err && grep "Not a directory" err &&
	test_must_fail cat "$D/over.txt/" 2>err && grep "Not a directory" err &&
	test_must_fail rmdir "$D/over.txt" 2>err && grep "Not a directory" err &&
	py_expect "20 ENOTDIR" "os.rename(a[0], a[1])" "$D/md" "$D/over.txt" &&
	py_expect "20 ENOTDIR" "os.listdir(a[0])" "$M/model/log.txt"
'

test_expect_success 'EXDEV: rename(2) between dataset/ and model/ fails; mv copies instead' '
	echo "crossing" >"$D/cross.txt" &&
	py_expect "18 EXDEV" "os.rename(a[0], a[1])" "$D/cross.txt" "$M/model/cross.txt" &&
	test -f "$D/cross.txt" && test ! -e "$M/model/cross.txt" &&
	mv "$D/cross.txt" "$M/model/cross.txt" &&
	test ! -e "$D/cross.txt" &&
	test "$(cat "$M/model/cross.txt")" = crossing &&
	mkdir -p "$M/model/crossdir/in" && echo deep >"$M/model/crossdir/in/f" &&
	py_expect "18 EXDEV" "os.rename(a[0], a[1])" "$M/model/crossdir" "$D/crossdir" &&
	mv "$M/model/crossdir" "$D/" &&
	test ! -e "$M/model/crossdir" &&
	test "$(cat "$D/crossdir/in/f")" = deep
'

test_expect_success 'symlinks, hard links, fifos and sockets are made in dataset/ and model/' '
	for t in dataset model; do
		ln -s new.txt "$M/$t/sym" &&
		test "$(readlink "$M/$t/sym")" = new.txt &&
		ln "$M/$t/big.bin" "$M/$t/hard" &&
		test "$(stat -c %i "$M/$t/big.bin")" = "$(stat -c %i "$M/$t/hard")" &&
		test "$(stat -c %h "$M/$t/hard")" = 2 &&
		mkfifo "$M/$t/fifo" &&
		test -p "$M/$t/fifo" &&
		py_expect "OK" "os.mknod(a[0], 0o600 | 0o140000)" "$M/$t/sock" &&
		test -S "$M/$t/sock" &&
		rm "$M/$t/sym" "$M/$t/hard" "$M/$t/fifo" "$M/$t/sock" &&
		test "$(stat -c %h "$M/$t/big.bin")" = 1 || exit 1
	done
'

# The kernel keeps the names and attributes of dataset/ and model/ for long:
# every name of a file with several names must stay reachable while the
# others are linked, renamed and removed.
test_expect_success 'each name of a hard-linked file stays reachable as the others come and go' '
	for t in dataset model; do
		echo one >"$M/$t/l1" &&
		test "$(stat -c %h "$M/$t/l1")" = 1 &&
		mkdir "$M/$t/ld" &&
		ln "$M/$t/l1" "$M/$t/l2" &&
		ln "$M/$t/l1" "$M/$t/ld/l3" &&
		stat "$M/$t/l2" "$M/$t/ld/l3" >/dev/null &&
		rm "$M/$t/l2" &&
		test "$(cat "$M/$t/l1")" = one &&
		mv "$M/$t/ld/l3" "$M/$t/ld/l4" &&
		rm "$M/$t/ld/l4" &&
		test "$(stat -c %h "$M/$t/l1")" = 1 &&
		test "$(cat "$M/$t/l1")" = one &&
		ln "$M/$t/l1" "$M/$t/l5" &&
		rm "$M/$t/l1" &&
		test "$(cat "$M/$t/l5")" = one &&
		echo two >>"$M/$t/l5" &&
		ln "$M/$t/l5" "$M/$t/l6" &&
		mv "$M/$t/l6" "$M/$t/ld/l6" &&
		rm "$M/$t/l5" &&
		test "$(cat "$M/$t/ld/l6")" = "$(printf "one\ntwo")" &&
		test "$(stat -c %h "$M/$t/ld/l6")" = 1 &&
		rm -r "$M/$t/ld" || exit 1
	done
'

test_expect_success 'only packages in encrypted/: EPERM; output/ is read-only: EROFS' '
	py_expect "1 EPERM" "os.symlink(\"x\", a[0])" "$M/encrypted/sym" &&
	py_expect "1 EPERM" "os.mkfifo(a[0])" "$M/encrypted/fifo" &&
	py_expect "30 EROFS" "os.symlink(\"x\", a[0])" "$M/output/sym" &&
	py_expect "30 EROFS" "os.mkfifo(a[0])" "$M/output/fifo" &&
	test ! -e "$M/encrypted/sym" && test ! -e "$M/encrypted/fifo" &&
	test ! -e "$M/output/sym" && test ! -e "$M/output/fifo"
'

test_expect_success 'cp -r of a tree' '
	cp -r src/tree "$D/cp-r" &&
	diff -r src/tree "$D/cp-r" &&
	test -d "$D/cp-r/empty-dir" &&
	test -f "$D/cp-r/empty" && test ! -s "$D/cp-r/empty"
'

# find's view of a tree: type, mode, size of files, mtime of files.
tree_list() {
	(cd "$1" && find . \( -type f -printf "%y %m %s %T@ %p\n" \) -o -printf "%y %m %p\n" | sort)
}

test_expect_success 'cp -a keeps modes and times' '
	cp -a src/tree "$D/cp-a" 2>err &&
	test ! -s err &&
	diff -r src/tree "$D/cp-a" &&
	tree_list src/tree >expect &&
	tree_list "$D/cp-a" >actual &&
	diff expect actual
'

test_expect_success 'mv of a tree within dataset/, then rm -r' '
	mv "$D/cp-r" "$D/moved" &&
	test ! -e "$D/cp-r" &&
	diff -r src/tree "$D/moved" &&
	rm -r "$D/moved" &&
	test ! -e "$D/moved" &&
	cp -r src/tree "$M/model/tree" &&
	rm -rf "$M/model/tree" &&
	test ! -e "$M/model/tree"
'

test_expect_success 'tar xf into the mount, tar cf from it' '
	tar cf tree.tar --format=posix -C src tree &&
	mkdir "$D/untarred" &&
	tar xf tree.tar -C "$D/untarred" &&
	diff -r src/tree "$D/untarred/tree" &&
	tree_list src/tree >expect &&
	tree_list "$D/untarred/tree" >actual &&
	diff expect actual &&
	tar cf back.tar --format=posix -C "$D/untarred" tree &&
	mkdir back && tar xf back.tar -C back &&
	diff -r src/tree back/tree &&
	tree_list back/tree >actual &&
	diff expect actual
'

# files_sent in .status
files_sent() {
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["sync"]["files_sent"])' "$M/.status"
}

test_expect_success 'tar xf sends each file once: the modes and times it sets after writing follow as attributes' '
	mkdir -p once &&
	for i in $(seq 1 40); do echo "line $i" >once/f$i || exit 1; done &&
	chmod 700 once/f1 once/f2 &&
	touch -d @1000000000 once/* &&
	tar cf once.tar once &&
	id=$(run "posix.sealed noop") &&
	n0=$(files_sent) &&
	tar xf once.tar -C "$D" &&
	id=$(run "posix.sealed noop") &&
	n1=$(files_sent) &&
	test $((n1 - n0)) = 40 &&
	test "$(stat -c "%a %Y" "$STATE/dataset/once/f1")" = "744 1000000000" &&
	test "$(stat -c "%a %Y" "$STATE/dataset/once/f40")" = "644 1000000000" &&
	diff -r once "$STATE/dataset/once" &&
	touch -d @1100000000 "$D/once/f3" &&
	chmod 750 "$D/once/f4" &&
	id=$(run "posix.sealed noop") &&
	test "$(files_sent)" = "$n1" &&
	test "$(stat -c "%a %Y" "$STATE/dataset/once/f3")" = "644 1100000000" &&
	test "$(stat -c %a "$STATE/dataset/once/f4")" = 754 &&
	rm -r "$D/once"
'

test_expect_success 'rsync -a into the mount, then an incremental rsync' '
	rsync -a src/tree/ "$M/model/rsynced/" &&
	diff -r src/tree "$M/model/rsynced" &&
	tree_list src/tree >expect &&
	tree_list "$M/model/rsynced" >actual &&
	diff expect actual &&
	cp -a src/tree tree2 &&
	echo changed >>tree2/a/lines.txt &&
	rm tree2/top.txt &&
	echo added >tree2/a/b/added.txt &&
	rsync -a --delete tree2/ "$M/model/rsynced/" &&
	diff -r tree2 "$M/model/rsynced"
'

test_expect_success 'an editor-style save: write a temporary file, rename it over the original' '
	printf "version 1\nkeep\n" >"$D/edit.txt" &&
	chmod 640 "$D/edit.txt" &&
	sed -i "s/version 1/version 2/" "$D/edit.txt" &&
	printf "version 2\nkeep\n" | cmp - "$D/edit.txt" &&
	test "$(stat -c %a "$D/edit.txt")" = 640 &&
	py_expect OK "
fd = os.open(a[0] + \".swp\", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.fchmod(fd, 0o640)
os.write(fd, b\"version 3\n\")
os.fsync(fd)
os.close(fd)
os.rename(a[0] + \".swp\", a[0])" "$D/edit.txt" &&
	test "$(cat "$D/edit.txt")" = "version 3" &&
	test ! -e "$D/edit.txt.swp" &&
	ls -a "$D" >ls.out && ! grep "edit.txt." ls.out
'

# What rsync does for every file (strace): mkstemp, fchmod of the open
# file, write, close, utimensat, rename over the target. A hundred of them
# catch a change that is lost while the temporary file is still in flight.
test_expect_success 'a hundred rsync-style saves reach the enclave whole, with their mtimes' '
	mkdir "$D/saves" &&
	py_expect OK "
for i in range(100):
    tmp = \"%s/.f%03d.XXXXXX\" % (a[0], i)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    os.write(fd, b\"content of file %d\\n\" % i)
    os.close(fd)
    os.utime(tmp, ns=(1000000000 * (1500000000 + i), 1000000000 * (1500000000 + i) + i))
    os.rename(tmp, \"%s/f%03d\" % (a[0], i))" "$D/saves" &&
	test "$(cat "$D/saves/f042")" = "content of file 42" &&
	test "$(stat -c %Y "$D/saves/f042")" = 1500000042 &&
	run "posix.sealed noop" >/dev/null &&
	diff -r "$D/saves" "$STATE/dataset/saves" &&
	$PY app/meta.py "$D/saves" >expect &&
	$PY app/meta.py "$STATE/dataset/saves" >actual &&
	diff expect actual
'

test_expect_success 'a file unlinked while open stays readable and writable through its descriptor' '
	py_expect OK "
fd = os.open(a[0], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"BEFORE unlink\")
os.unlink(a[0])
assert not os.path.exists(a[0])
os.pwrite(fd, b\"AFTER!\", 0)
os.write(fd, b\" and more\")
assert os.pread(fd, 100, 0) == b\"AFTER! unlink and more\", os.pread(fd, 100, 0)
os.ftruncate(fd, 5)
assert os.pread(fd, 100, 0) == b\"AFTER\", os.pread(fd, 100, 0)
os.close(fd)
assert not os.path.exists(a[0])" "$D/open-unlinked" &&
	ls "$D" >ls.out && ! grep open-unlinked ls.out
'

test_expect_success 'fstat, cat and >& of a file unlinked while open (exec 3<>file; rm file)' '
	py_expect OK "
fd = os.open(a[0], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"12345\")
os.unlink(a[0])
st = os.fstat(fd)
assert st.st_size == 5, st
os.close(fd)" "$D/fstat-unlinked" &&
	echo "shell data" >"$D/sh-unlinked" &&
	exec 3<>"$D/sh-unlinked" &&
	rm "$D/sh-unlinked" &&
	test ! -e "$D/sh-unlinked" &&
	test "$(cat <&3)" = "shell data" &&
	echo "appended after rm" >&3 &&
	printf "shell data\nappended after rm\n" >expect.sh &&
	$PY -c "import os, sys; sys.stdout.buffer.write(os.pread(3, 100, 0))" | cmp - expect.sh &&
	exec 3>&- &&
	test ! -e "$D/sh-unlinked" &&
	ls "$D" >ls.out && ! grep unlinked ls.out
'

test_expect_success 'after a barrier the enclave holds exactly dataset/ and model/' '
	id=$(run "posix.sealed noop") &&
	test -n "$id" &&
	diff -r "$D" "$STATE/dataset" &&
	diff -r "$M/model" "$STATE/model" &&
	$PY app/meta.py "$D" "$M/model" >host.meta &&
	$PY app/meta.py "$STATE/dataset" "$STATE/model" >enclave.meta &&
	diff host.meta enclave.meta &&
	test "$(stat -c "%a %s %Y" "$STATE/dataset/modes")" = "754 2 981173106" &&
	test "$(stat -c %a "$STATE/model/log.txt")" = 644 &&
	test "$(stat -c %a "$STATE/dataset/md")" = 755 &&
	test ! -e "$STATE/dataset/open-unlinked" &&
	test ! -e "$STATE/dataset/sh-unlinked" &&
	test ! -e "$STATE/dataset/fstat-unlinked" &&
	test ! -e "$STATE/dataset/edit.txt.swp"
'

test_expect_success 'the job sees the same files, modes, sizes, times and contents' '
	id=$(run "posix.sealed meta") &&
	wait_job fs "$id" &&
	test "$(cat "$M/jobs/$id/exit")" = 0 &&
	$PY app/meta.py "$D" "$M/model" >host.meta &&
	diff host.meta "$M/jobs/$id/log" &&
	test "$(grep -c "^f " "$M/jobs/$id/log")" = "$(find "$D" "$M/model" -type f | wc -l)" &&
	test "$(grep -c "^f " "$M/jobs/$id/log")" -gt 20
'

unmount_enclave fs "$M"

test_done
