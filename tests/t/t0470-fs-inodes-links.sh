#!/bin/sh
# Inode numbers, hard links, symlinks, FIFOs and device nodes, the caller's
# umask and files unlinked while open, in dataset/ of a mount with
# -o allow_other (which implies default_permissions).
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool stat readlink mkfifo mknod

PY=/usr/bin/python3

mount_enclave fs mnt -o allow_other
M=$SCRATCH/mnt
D=$M/dataset
CACHE=$SCRATCH/fs.cache

ino() {
	stat -c %i "$1"
}

test_expect_success 'an inode number is the same on every stat, across a rename and drop_caches' '
	echo one >"$D/stable" &&
	i=$(ino "$D/stable") &&
	test "$i" = "$(ino "$D/stable")" &&
	test "$i" = "$(ino "$CACHE/dataset/stable")" &&
	mv "$D/stable" "$D/renamed" &&
	test "$i" = "$(ino "$D/renamed")" &&
	sync && echo 3 >/proc/sys/vm/drop_caches &&
	test "$i" = "$(ino "$D/renamed")" &&
	ls -i "$D" | grep "^ *$i renamed$"
'

test_expect_success 'virtual nodes have fixed inode numbers of their own' '
	r=$(ino "$M") && run=$(ino "$M/.run") && st=$(ino "$M/.status") &&
	test "$r" != "$run" && test "$run" != "$st" && test "$r" != "$st" &&
	test "$r" = "$(ino "$M")" && test "$run" = "$(ino "$M/.run")" &&
	test "$(ino "$M/dataset")" = "$(ino "$CACHE/dataset")"
'

test_expect_success 'hard links: one inode, nlink 2; across trees EXDEV' '
	echo linked >"$D/h1" &&
	ln "$D/h1" "$D/h2" &&
	test "$(ino "$D/h1")" = "$(ino "$D/h2")" &&
	test "$(stat -c %h "$D/h1")" = 2 &&
	test "$(stat -c %h "$CACHE/dataset/h2")" = 2 &&
	echo more >>"$D/h2" &&
	test "$(cat "$D/h1")" = "$(printf "linked\nmore")" &&
	test_must_fail ln "$D/h1" "$M/model/h3" 2>err &&
	grep "Invalid cross-device link" err &&
	test ! -e "$M/model/h3" &&
	rm "$D/h1" &&
	test "$(stat -c %h "$D/h2")" = 1
'

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

test_expect_success 'a write through one name of a hard-linked file reaches every name in the enclave' '
	echo one >"$D/k1" &&
	enclave_has k1 one &&
	ln "$D/k1" "$D/k2" &&
	enclave_has k2 one &&
	echo two >>"$D/k1" &&
	enclave_has k1 "$(printf "one\ntwo")" &&
	enclave_has k2 "$(printf "one\ntwo")" &&
	echo three >>"$D/k2" &&
	enclave_has k1 "$(printf "one\ntwo\nthree")" &&
	enclave_has k2 "$(printf "one\ntwo\nthree")" &&
	: >"$D/k2" &&
	enclave_has k1 "" &&
	rm "$D/k1" "$D/k2"
'

test_expect_success 'symlinks: relative, absolute, dangling, to a directory' '
	mkdir -p "$D/sd/sub" && echo target >"$D/sd/t" &&
	ln -s t "$D/sd/rel" &&
	ln -s "$D/sd/t" "$D/sd/abs" &&
	ln -s nowhere "$D/sd/dangling" &&
	ln -s sub "$D/sd/dirlink" &&
	test "$(readlink "$D/sd/rel")" = t &&
	test "$(readlink "$D/sd/abs")" = "$D/sd/t" &&
	test "$(readlink "$D/sd/dangling")" = nowhere &&
	test "$(cat "$D/sd/rel")" = target &&
	test "$(cat "$D/sd/abs")" = target &&
	test_must_fail cat "$D/sd/dangling" &&
	test -L "$D/sd/dangling" &&
	test "$(stat -c %F "$D/sd/rel")" = "symbolic link" &&
	echo in-sub >"$D/sd/dirlink/f" &&
	test "$(cat "$D/sd/sub/f")" = in-sub &&
	test -L "$CACHE/dataset/sd/dirlink" &&
	test "$(readlink "$CACHE/dataset/sd/abs")" = "$D/sd/t"
'

test_expect_success 'a symlink to a host file: O_NOFOLLOW gives ELOOP, cat reads it as the caller' '
	ln -s /etc/hostname "$D/host" &&
	$PY -c "
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDONLY | os.O_NOFOLLOW)
    sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.ELOOP else 1)
" "$D/host" &&
	cat "$D/host" >got &&
	cmp got /etc/hostname
'

test_expect_success 'mkfifo, a socket and (as root) a character device' '
	mkfifo "$D/fifo" &&
	test -p "$D/fifo" && test -p "$CACHE/dataset/fifo" &&
	$PY -c "import os, sys; os.mknod(sys.argv[1], 0o600 | 0o140000)" "$D/sock" &&
	test -S "$D/sock" &&
	mknod "$D/null" c 1 3 &&
	test -c "$D/null" &&
	test "$(stat -c %t,%T "$D/null")" = 1,3 &&
	rm "$D/fifo" "$D/sock" "$D/null" &&
	test ! -e "$CACHE/dataset/fifo"
'

test_expect_success 'the caller'"'"'s umask applies: 0777 with umask 0, 0750 with umask 027' '
	(umask 0 && mkdir -m 0777 "$D/u0" && $PY -c "import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o777))" "$D/u0f") &&
	test "$(stat -c %a "$D/u0")" = 777 &&
	test "$(stat -c %a "$D/u0f")" = 777 &&
	(umask 027 && mkdir "$D/u027" && $PY -c "import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o777))" "$D/u027f") &&
	test "$(stat -c %a "$D/u027")" = 750 &&
	test "$(stat -c %a "$D/u027f")" = 750
'

test_expect_success 'a file unlinked while open: fstat, read and write keep working' '
	$PY -c "
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"hello\")
os.unlink(p)
assert not os.path.exists(p)
assert os.fstat(fd).st_size == 5
assert os.pread(fd, 5, 0) == b\"hello\"
os.pwrite(fd, b\"J\", 0)
assert os.pread(fd, 5, 0) == b\"Jello\"
assert os.fstat(fd).st_nlink == 0
os.close(fd)
" "$D/open-unlinked" &&
	test -z "$(find "$D" -name ".fuse_hidden*")" &&
	test ! -e "$CACHE/dataset/open-unlinked"
'

test_expect_success 'a directory renamed while a file below it is open: writes reach the enclave under the new name' '
	mkdir -p "$D/od/sub" &&
	$PY -c "
import os, sys
d = sys.argv[1]
fd = os.open(d + \"/od/sub/f\", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"first\")
os.rename(d + \"/od\", d + \"/nd\")
os.write(fd, b\" second\")
os.close(fd)
" "$D" &&
	test "$(cat "$D/nd/sub/f")" = "first second" &&
	enclave_has nd/sub/f "first second" &&
	test ! -e "$CACHE/dataset/od" &&
	rm -r "$D/nd"
'

test_expect_success 'nothing named .fuse_hidden or kept in a .hidden dir, after files were unlinked while open' '
	test -z "$(find "$M/dataset" "$M/model" "$CACHE" -name ".fuse_hidden*")" &&
	test ! -e "$CACHE/.hidden"
'

test_expect_success 'thousands of lookups forgotten: inode numbers stay, names stay right' '
	mkdir "$D/many" &&
	for i in $(seq 300); do echo $i >"$D/many/f$i" || return 1; done &&
	i1=$(ino "$D/many/f1") &&
	sync && echo 3 >/proc/sys/vm/drop_caches &&
	test "$i1" = "$(ino "$D/many/f1")" &&
	test "$(cat "$D/many/f300")" = 300 &&
	mv "$D/many" "$D/many2" &&
	echo 3 >/proc/sys/vm/drop_caches &&
	test "$(cat "$D/many2/f7")" = 7 &&
	test "$i1" = "$(ino "$D/many2/f1")" &&
	rm -r "$D/many2"
'

rc=0
unmount_enclave fs "$M" || rc=$?

test_expect_success 'the mount exited cleanly' '
	test "$rc" = 0 &&
	test -z "$(find "$CACHE/dataset" -name ".fuse_hidden*")"
'

test_done
