#!/bin/sh
# The mount's inode table (libfuse's low-level API): files unlinked while
# open are unlinked in the cache and leave nothing behind, open files follow
# renames of their directories to the enclave, inode numbers stay the same
# after the kernel forgets inodes (drop_caches), names reused after a forget
# name the new file, and large directories list whole across readdir calls.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool stat find

PY=/usr/bin/python3

mount_enclave fs mnt -o allow_other
M=$SCRATCH/mnt
D=$M/dataset
CACHE=$SCRATCH/fs.cache

ino() {
	stat -c %i "$1"
}

forget() {
	sync && echo 3 >/proc/sys/vm/drop_caches
}

# enclave_has FILE TEXT: waits (60 s at most) until the development
# enclave's copy of dataset/FILE holds TEXT.
enclave_has() {
	for _ in $(seq 120); do
		[ "$(cat "$CACHE/.enclave/dataset/$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.5
	done
	echo "the enclave's dataset/$1 holds: $(cat "$CACHE/.enclave/dataset/$1" 2>&1)" >&2
	return 1
}

# enclave_lacks PATH: waits (60 s at most) until the development enclave has
# no dataset/PATH.
enclave_lacks() {
	for _ in $(seq 120); do
		[ ! -e "$CACHE/.enclave/dataset/$1" ] && return 0
		sleep 0.5
	done
	echo "the enclave still has dataset/$1" >&2
	return 1
}

test_expect_success 'unlinked while open: fstat, read and write work across a forget; nothing is left anywhere' '
	echo keep >"$D/u-sync" &&
	enclave_has u-sync keep &&
	$PY -c "
import os, sys
d = sys.argv[1]
fd = os.open(d + \"/u-sync\", os.O_RDWR)
os.unlink(d + \"/u-sync\")
assert not os.path.exists(d + \"/u-sync\")
assert os.listdir(d).count(\"u-sync\") == 0
with open(\"/proc/sys/vm/drop_caches\", \"w\") as f:
    f.write(\"3\")
assert os.fstat(fd).st_nlink == 0
assert os.pread(fd, 5, 0) == b\"keep\n\"
os.pwrite(fd, b\"KEEP and more\", 0)
assert os.fstat(fd).st_size == 13
assert os.pread(fd, 13, 0) == b\"KEEP and more\"
os.close(fd)
" "$D" &&
	test ! -e "$CACHE/dataset/u-sync" &&
	test -z "$(find "$M" "$CACHE" -name ".fuse_hidden*")" &&
	test ! -e "$CACHE/.hidden" &&
	enclave_lacks u-sync
'

test_expect_success 'directories renamed twice above an open file: its writes reach the enclave under the newest path' '
	mkdir -p "$D/r1/r2/r3" &&
	$PY -c "
import os, sys
d = sys.argv[1]
fd = os.open(d + \"/r1/r2/r3/f\", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"one\")
os.rename(d + \"/r1/r2\", d + \"/r1/q2\")
os.rename(d + \"/r1\", d + \"/q1\")
with open(\"/proc/sys/vm/drop_caches\", \"w\") as f:
    f.write(\"3\")
os.write(fd, b\" two\")
os.close(fd)
" "$D" &&
	test "$(cat "$D/q1/q2/r3/f")" = "one two" &&
	enclave_has q1/q2/r3/f "one two" &&
	enclave_lacks r1 &&
	rm -r "$D/q1" &&
	enclave_lacks q1
'

test_expect_success 'inode numbers of a tree are the same after the kernel forgot them, by stat and by readdir' '
	mkdir -p "$D/st/a/b" &&
	for k in $(seq 50); do echo $k >"$D/st/a/b/f$k" || exit 1; done &&
	ln "$D/st/a/b/f1" "$D/st/hard" &&
	(cd "$D/st" && find . -exec stat -c "%i %n" {} + | sort) >before &&
	forget &&
	(cd "$D/st" && find . -exec stat -c "%i %n" {} + | sort) >after &&
	diff -u before after &&
	(cd "$CACHE/dataset/st" && find . -exec stat -c "%i %n" {} + | sort) >cache &&
	diff -u before cache &&
	test "$(ino "$D/st/hard")" = "$(ino "$D/st/a/b/f1")" &&
	test "$(stat -c %h "$D/st/hard")" = 2 &&
	forget &&
	ls -i "$D/st/a/b" | sort >ls.ino &&
	(cd "$D/st/a/b" && stat -c "%i %n" f* | sort) >stat.ino &&
	diff -u stat.ino ls.ino
'

test_expect_success 'a name reused after a forget names the new file' '
	for k in $(seq 20); do
		echo "v$k" >"$D/reuse" &&
		test "$(cat "$D/reuse")" = "v$k" &&
		i=$(ino "$D/reuse") &&
		test "$i" = "$(ino "$CACHE/dataset/reuse")" &&
		rm "$D/reuse" &&
		forget || exit 1
	done &&
	mkdir "$D/reuse" &&
	test -d "$D/reuse" &&
	rmdir "$D/reuse" &&
	echo file >"$D/reuse" &&
	test -f "$D/reuse" &&
	rm "$D/reuse"
'

test_expect_success 'a file replaced by rename while open: the old fd reads the old file, the name the new one' '
	echo old >"$D/rep" &&
	echo new >"$D/rep.tmp" &&
	exec 7<"$D/rep" &&
	mv "$D/rep.tmp" "$D/rep" &&
	forget &&
	test "$(cat <&7)" = old &&
	exec 7<&- &&
	test "$(cat "$D/rep")" = new &&
	test "$(ino "$D/rep")" = "$(ino "$CACHE/dataset/rep")" &&
	enclave_has rep new &&
	rm "$D/rep"
'

test_expect_success 'a directory of 3000 entries lists whole, with each name once' '
	mkdir "$D/big" &&
	(cd "$D/big" && seq -f "entry-with-a-longer-name-%04g" 3000 | xargs touch) &&
	test "$(ls "$D/big" | wc -l)" = 3000 &&
	test "$(ls "$D/big" | sort -u | wc -l)" = 3000 &&
	$PY -c "
import os, sys
names = [e.name for e in os.scandir(sys.argv[1])]
assert len(names) == 3000 and len(set(names)) == 3000, len(names)
" "$D/big" &&
	rm -r "$D/big"
'

rc=0
unmount_enclave fs "$M" || rc=$?

test_expect_success 'the mount exited cleanly and left no .fuse_hidden file or .hidden dir' '
	test "$rc" = 0 &&
	test -z "$(find "$CACHE" -name ".fuse_hidden*")" &&
	test ! -e "$CACHE/.hidden"
'

test_done
