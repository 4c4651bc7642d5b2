#!/bin/sh
# Bad input through the mount: broken, foreign and non-packages in
# encrypted/, bad job lines, writes into the read-only trees and the control
# files, over-long names and symlinks planted in the cache. Each case runs
# the real command, checks its exit status and message, and that nothing else
# changed (the good package keeps working, no job appears, nothing extracted).
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

PY=/usr/bin/python3
MNT="$SCRATCH/mnt"
CACHE="$SCRATCH/fs.cache"
ENC="$CACHE/.enclave"

mkdir -p app
cat >app/enclave.json <<'JSON'
{"name": "bad", "version": "1",
 "entries": {
  "hello": {"argv": ["sh", "-c", "echo hello from the enclave; echo made >/output/made.txt"]},
  "echo": {"argv": ["sh", "-c", "echo \"args:$*\"", "sh"], "host_args": true}
 },
 "default": "hello"}
JSON
enclave-seal keygen -o k.kek >/dev/null
enclave-seal keygen -o other.kek >/dev/null
enclave-seal seal --kek k.kek -o good.sealed app 2>/dev/null
enclave-seal seal --kek other.kek -o other.sealed app 2>/dev/null
# One byte flipped inside the last segment; the file cut short; plain text.
$PY -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) - 40] ^= 0x01; open(sys.argv[2], "wb").write(b)' \
	good.sealed corrupt.sealed
head -c $(($(wc -c <good.sealed) - 50)) good.sealed >truncated.sealed
# The wrapped data key changed (still valid base64): the key unwrap fails.
$PY -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); i = b.index(b"\"wrapped\":\"") + 11
b[i] = ord("B") if b[i] == ord("A") else ord("A"); open(sys.argv[2], "wb").write(b)' good.sealed rejected.sealed
echo "just some text, not a package" >notpkg.sealed
echo "a local file" >local.txt

# Planted in the cache before the mount: the first sync scans dataset/.
mkdir -p "$CACHE/dataset"
echo "planted before the mount" >"$CACHE/dataset/planted.txt"
ln -s /etc/passwd "$CACHE/dataset/early-passwd"
ln -s early-b "$CACHE/dataset/early-a"
ln -s early-a "$CACHE/dataset/early-b"

mount_enclave fs "$MNT" --kek k.kek

# write_to FILE TEXT / append_to FILE TEXT: echo TEXT into FILE (coreutils' echo:
# dash's builtin says only "I/O error" when a write fails), as a
# user types it (a separate shell, so that its failure is an exit status).
write_to() {
	sh -c '/bin/echo "$2" >"$1"' sh "$1" "$2"
}
append_to() {
	sh -c '/bin/echo "$2" >>"$1"' sh "$1" "$2"
}

# status_pkg NAME FIELD: a field of a package in .status.
status_pkg() {
	$PY -c 'import json, sys
s = json.load(open(sys.argv[1]))
p = [p for p in s["packages"] if p["name"] == sys.argv[2]]
print(p[0][sys.argv[3]] if p else "absent")' "$MNT/.status" "$1" "$2"
}

# run_ok LINE: starts a job, waits for it, echoes its id.
run_ok() {
	echo "$1" >"$MNT/.run" &&
	id=$(cat "$MNT/.run") &&
	wait_job fs "$id" >/dev/null &&
	echo "$id"
}

# njobs: how many job directories there are.
njobs() {
	ls "$MNT/jobs" | grep -c '^[0-9]*$'
}

# nothing_extracted NAME: the enclave holds no app directory for NAME: the
# good package's is the only one installed, and nothing is being staged.
nothing_extracted() {
	test "$(ls -A "$ENC/app/installed" | wc -l)" = 1 &&
	test -z "$(ls -A "$ENC/app/staging")" &&
	test "$(status_pkg "$1" state)" = failed
}

test_expect_success 'a good package installs and runs' '
	cp good.sealed "$MNT/encrypted/" &&
	test "$(status_pkg good.sealed state)" = ready &&
	id=$(run_ok good.sealed) &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	grep -x "hello from the enclave" "$MNT/jobs/$id/log" &&
	test "$(cat "$MNT/output/made.txt")" = made &&
	echo "$id" >first.id
'

test_expect_success 'a package with one byte flipped: cp fails, Bad message' '
	test_must_fail cp corrupt.sealed "$MNT/encrypted/" 2>err &&
	cat err &&
	grep "corrupt.sealed.*Bad message" err &&
	test "$(status_pkg corrupt.sealed state)" = failed &&
	test "$(status_pkg corrupt.sealed errno)" = 74 &&
	test -n "$(status_pkg corrupt.sealed error)" &&
	nothing_extracted corrupt.sealed &&
	grep "package corrupt.sealed: .*(Bad message)" fs.log
'

test_expect_success 'a truncated package: cp fails, Bad message' '
	test_must_fail cp truncated.sealed "$MNT/encrypted/" 2>err &&
	cat err &&
	grep "truncated.sealed.*Bad message" err &&
	test "$(status_pkg truncated.sealed state)" = failed &&
	test "$(status_pkg truncated.sealed errno)" = 74 &&
	test -n "$(status_pkg truncated.sealed error)" &&
	nothing_extracted truncated.sealed
'

test_expect_success 'a package sealed for another key: cp fails, Required key not available' '
	test_must_fail cp other.sealed "$MNT/encrypted/" 2>err &&
	cat err &&
	grep "other.sealed.*Required key not available" err &&
	test "$(status_pkg other.sealed state)" = failed &&
	test "$(status_pkg other.sealed errno)" = 126 &&
	test -n "$(status_pkg other.sealed error)" &&
	nothing_extracted other.sealed
'

test_expect_success 'a wrapped key that fails its check: cp fails, Key was rejected by service' '
	test_must_fail cp rejected.sealed "$MNT/encrypted/" 2>err &&
	cat err &&
	grep "rejected.sealed.*Key was rejected by service" err &&
	test "$(status_pkg rejected.sealed state)" = failed &&
	test "$(status_pkg rejected.sealed errno)" = 129 &&
	nothing_extracted rejected.sealed
'

test_expect_success 'a file that is no package: cp fails, Exec format error' '
	test_must_fail cp notpkg.sealed "$MNT/encrypted/" 2>err &&
	cat err &&
	grep "notpkg.sealed.*Exec format error" err &&
	test "$(status_pkg notpkg.sealed state)" = failed &&
	test "$(status_pkg notpkg.sealed errno)" = 8 &&
	nothing_extracted notpkg.sealed
'

# A job line naming a package that failed fails with the package's own error.
test_expect_success 'the bad packages cannot run, the good one still can' '
	before=$(njobs) &&
	for p in "corrupt:Bad message" "truncated:Bad message" \
		"other:Required key not available" "rejected:Key was rejected by service" \
		"notpkg:Exec format error"; do
		test_must_fail write_to "$MNT/.run" "${p%%:*}.sealed" 2>err &&
		cat err &&
		grep "write error: ${p#*:}" err || return 1
	done &&
	test "$(njobs)" = "$before" &&
	test "$(status_pkg good.sealed state)" = ready &&
	test "$(status_pkg good.sealed state)" = ready &&
	id=$(run_ok "good.sealed echo x") &&
	grep -x "args:x" "$MNT/jobs/$id/log" &&
	echo "$id" >last.id
'

# bad_run LINE MESSAGE: the .run write fails with MESSAGE, and no job appears.
bad_run() {
	before=$(njobs) &&
	test_must_fail write_to "$MNT/.run" "$1" 2>err &&
	cat err &&
	grep "$2" err &&
	grep "^error: ." "$MNT/.run" &&
	test "$(njobs)" = "$before" &&
	test ! -e "$MNT/jobs/$(($(cat last.id) + 1))"
}

test_expect_success '.run: an unknown package is No such file or directory' '
	bad_run "nosuch.sealed" "No such file or directory" &&
	grep "nosuch.sealed.*No such file or directory" fs.log
'

test_expect_success '.run: an unterminated quote is Invalid argument' '
	bad_run "good.sealed echo '\''oops" "Invalid argument" &&
	bad_run "good.sealed echo \"oops" "Invalid argument" &&
	bad_run "good.sealed echo oops\\" "Invalid argument"
'

test_expect_success '.run: a line without words is Invalid argument' '
	bad_run "   " "Invalid argument"
'

test_expect_success '.run: arguments to an entry without host_args: Operation not permitted' '
	bad_run "good.sealed hello x" "Operation not permitted" &&
	bad_run "good.sealed -- x" "Operation not permitted" &&
	bad_run "good.sealed x" "No such file or directory"
'

test_expect_success '.run: two lines in one write start two jobs; a bad second line fails the write' '
	before=$(njobs) &&
	/usr/bin/printf "good.sealed\ngood.sealed\n" >"$MNT/.run" &&
	test "$(njobs)" = "$((before + 2))" &&
	cat "$MNT/.run" >two.id &&
	test_must_fail /usr/bin/printf "good.sealed\nnosuch.sealed\n" >"$MNT/.run" 2>err &&
	grep "No such file or directory" err &&
	test "$(njobs)" = "$((before + 3))"
'

test_expect_success 'output/ is read-only: Read-only file system, nothing changes' '
	ls -la "$MNT/output" >before &&
	test_must_fail write_to "$MNT/output/x" x 2>err &&
	grep "Read-only file system" err &&
	test_must_fail touch "$MNT/output/t" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail touch "$MNT/output/made.txt" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail mkdir "$MNT/output/d" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail rm -f "$MNT/output/made.txt" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail append_to "$MNT/output/made.txt" more 2>err &&
	grep "Read-only file system" err &&
	test "$(cat "$MNT/output/made.txt")" = made &&
	ls -la "$MNT/output" >after &&
	diff before after &&
	test ! -e "$CACHE/output/x" && test ! -e "$CACHE/output/t" && test ! -e "$CACHE/output/d"
'

test_expect_success 'mv into output/: Read-only file system, the source stays' '
	echo "to move" >"$MNT/dataset/move-me" &&
	test_must_fail mv "$MNT/dataset/move-me" "$MNT/output/" 2>err &&
	cat err &&
	grep "Read-only file system" err &&
	test "$(cat "$MNT/dataset/move-me")" = "to move" &&
	test_must_fail mv local.txt "$MNT/output/" 2>err &&
	cat err &&
	grep "Read-only file system" err &&
	test -f local.txt &&
	test ! -e "$MNT/output/move-me" && test ! -e "$MNT/output/local.txt"
'

test_expect_success 'jobs/ is read-only: Read-only file system' '
	id=$(cat first.id) &&
	cp "$MNT/jobs/$id/log" log.before &&
	test_must_fail write_to "$MNT/jobs/$id/log" x 2>err &&
	grep "Read-only file system" err &&
	test_must_fail write_to "$MNT/jobs/$id/exit" 0 2>err &&
	grep "Read-only file system" err &&
	test_must_fail touch "$MNT/jobs/$id/new" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail mkdir "$MNT/jobs/999" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail rm -f "$MNT/jobs/$id/log" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail rm -rf "$MNT/jobs/$id" 2>err &&
	grep "Read-only file system" err &&
	test_must_fail mv "$MNT/dataset/move-me" "$MNT/jobs/" 2>err &&
	grep "Read-only file system" err &&
	cmp log.before "$MNT/jobs/$id/log" &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	test ! -e "$MNT/jobs/999"
'

test_expect_success '.status cannot be written: Permission denied' '
	test_must_fail write_to "$MNT/.status" "{}" 2>err &&
	cat err &&
	grep "Permission denied" err &&
	test "$(status_pkg good.sealed state)" = ready
'

test_expect_success 'the top level is fixed: Operation not permitted' '
	test_must_fail mkdir "$MNT/newdir" 2>err &&
	grep "Operation not permitted" err &&
	test_must_fail touch "$MNT/newfile" 2>err &&
	grep "Operation not permitted" err &&
	test_must_fail rmdir "$MNT/model" 2>err &&
	grep "Operation not permitted" err &&
	test ! -e "$MNT/newdir" && test ! -e "$MNT/newfile" && test -d "$MNT/model" &&
	test ! -e "$CACHE/newdir"
'

test_expect_success 'jobs/N/ctl takes only "cancel": Invalid argument' '
	id=$(cat first.id) &&
	test_must_fail write_to "$MNT/jobs/$id/ctl" stop 2>err &&
	cat err &&
	grep "Invalid argument" err &&
	test_must_fail write_to "$MNT/jobs/$id/ctl" "cancel now" 2>err &&
	grep "Invalid argument" err &&
	test "$(cat "$MNT/jobs/$id/state")" = exited &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0
'

test_expect_success 'cancelling a job that is not running: No such process' '
	id=$(cat first.id) &&
	test_must_fail write_to "$MNT/jobs/$id/ctl" cancel 2>err &&
	cat err &&
	grep "No such process" err &&
	test "$(cat "$MNT/jobs/$id/state")" = exited
'

long=$(printf "%0256d" 0)
test_expect_success 'a name longer than 255 bytes: File name too long' '
	test_must_fail touch "$MNT/dataset/$long" 2>err &&
	grep "File name too long" err &&
	test_must_fail cp local.txt "$MNT/dataset/$long" 2>err &&
	grep "File name too long" err &&
	test_must_fail mkdir "$MNT/model/$long" 2>err &&
	grep "File name too long" err &&
	test_must_fail cp local.txt "$MNT/encrypted/$long" 2>err &&
	grep "File name too long" err &&
	test -z "$(ls "$CACHE/dataset" | grep 0000000000)" &&
	touch "$MNT/dataset/$(printf "%0255d" 0)" &&
	rm "$MNT/dataset/$(printf "%0255d" 0)"
'

test_expect_success 'symlinks, hard links and fifos cannot be made in encrypted/: Operation not permitted' '
	test_must_fail ln -s /etc/passwd "$MNT/encrypted/link" 2>err &&
	grep "Operation not permitted" err &&
	test_must_fail mkfifo "$MNT/encrypted/fifo" 2>err &&
	grep "Operation not permitted" err &&
	test_must_fail ln "$MNT/dataset/move-me" "$MNT/encrypted/hard" 2>err &&
	grep "Invalid cross-device link" err &&
	test ! -e "$CACHE/encrypted/link" && test ! -L "$CACHE/encrypted/link" &&
	test ! -e "$CACHE/encrypted/hard" && test ! -e "$CACHE/encrypted/fifo"
'

test_expect_success 'a symlink made in dataset/ is never followed by the mount' '
	ln -s /etc/passwd "$MNT/dataset/made-link" &&
	test -L "$CACHE/dataset/made-link" &&
	test "$(readlink "$CACHE/dataset/made-link")" = /etc/passwd &&
	$PY -c "
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDONLY | os.O_NOFOLLOW)
    sys.exit(1)
except OSError as e:
    sys.exit(0 if e.errno == errno.ELOOP else 1)
" "$MNT/dataset/made-link" &&
	rm "$MNT/dataset/made-link" &&
	test ! -L "$CACHE/dataset/made-link"
'

test_expect_success 'a symlink loop planted in the cache: Too many levels of symbolic links' '
	ln -s b "$CACHE/dataset/a" &&
	ln -s a "$CACHE/dataset/b" &&
	test_must_fail cat "$MNT/dataset/a" 2>err &&
	cat err &&
	grep "Too many levels of symbolic links" err &&
	test_must_fail cat "$MNT/dataset/early-a" 2>err &&
	grep "Too many levels of symbolic links" err
'

test_expect_success 'planted symlinks are listed as such and cross only as symlinks' '
	ln -s /etc/passwd "$CACHE/dataset/passwd" &&
	test -L "$MNT/dataset/passwd" &&
	test "$(readlink "$MNT/dataset/passwd")" = /etc/passwd &&
	ls -l "$MNT/dataset" >ls.out &&
	grep "^l.* passwd -> /etc/passwd" ls.out &&
	grep "^l.* early-passwd -> /etc/passwd" ls.out &&
	echo "after the plant" >"$MNT/dataset/after.txt" &&
	id=$(run_ok good.sealed) &&
	test "$(cat "$MNT/jobs/$id/exit")" = 0 &&
	test "$(cat "$ENC/dataset/after.txt")" = "after the plant" &&
	test "$(cat "$ENC/dataset/planted.txt")" = "planted before the mount" &&
	for f in early-passwd early-a early-b; do
		test -L "$ENC/dataset/$f" &&
		test "$(readlink "$ENC/dataset/$f")" = "$(readlink "$CACHE/dataset/$f")" || return 1
	done &&
	# Planted behind the mount: seen at its next scan, and only as symlinks.
	for f in passwd a b; do
		if test -L "$ENC/dataset/$f"; then
			test "$(readlink "$ENC/dataset/$f")" = "$(readlink "$CACHE/dataset/$f")"
		else
			test ! -e "$ENC/dataset/$f"
		fi || return 1
	done &&
	! grep -r "^root:" "$ENC/dataset"
'

test_expect_success 'the mount logged no crash and is still connected' '
	grep "\"connection\": \"connected\"" "$MNT/.status" &&
	test "$(status_pkg good.sealed state)" = ready &&
	! grep -i "assert\|sanitizer\|segfault" fs.log
'

rc=0 && unmount_enclave fs "$MNT" || rc=$?
test_expect_success 'unmount after all of it exits 0' '
	test $rc = 0 &&
	! mountpoint -q "$MNT"
'

test_done
