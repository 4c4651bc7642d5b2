#!/bin/sh
# A watching host keeps the enclave identical through every kind of change a
# user or an editor makes, and the enclave's output/ flows back the same way.
# Each change is followed by a sync point (SIGUSR1, "synced N" in the log).
. "$top_srcdir/tests/lib.sh"

: "${SYNC_TIMEOUT:=60}"

# next_sync NAME: the number of NAME's next sync point (they count from 1).
next_sync() {
	n=$(($(cat "$SCRATCH/.syncs.$1" 2>/dev/null || echo 0) + 1))
	echo $n >"$SCRATCH/.syncs.$1"
	echo $n
}

# host_sync / enclave_sync: every change made so far on that side is applied
# by the other.
host_sync() {
	sync_point host "$(next_sync host)"
}

enclave_sync() {
	sync_point enclave "$(next_sync enclave)"
}

same_trees() {
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted
}

mkdir -p host/dataset host/model host/encrypted enc
head -c 1000000 /dev/urandom >host/dataset/data.bin
mkdir -p host/dataset/sub/inner
echo "first" >host/dataset/sub/inner/a.txt
echo "second" >host/dataset/sub/b.txt
echo "weights" >host/model/w
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" -v enc
# The watching host signals no readiness: it logs "in sync" after its first
# pass. It runs for the whole script; test_done stops it with the enclave.
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host "$host_pid"

test_expect_success 'the watching host makes its first pass' '
	waitline -t 60 host.log "in sync" &&
	same_trees
'

test_expect_success 'a new file and a new empty file' '
	echo hello >host/dataset/new.txt &&
	: >host/dataset/empty &&
	host_sync &&
	same_trees &&
	test -f enc/dataset/empty
'

test_expect_success 'bytes overwritten in the middle of a file' '
	printf "OVERWRITTEN" | dd of=host/dataset/data.bin bs=1 seek=500000 conv=notrunc 2>/dev/null &&
	host_sync &&
	same_trees
'

test_expect_success 'bytes inserted at the start of a file (same inode)' '
	{ printf "inserted" && cat host/dataset/data.bin; } >inserted &&
	cat inserted >host/dataset/data.bin &&
	host_sync &&
	same_trees
'

test_expect_success 'appends by a writer that closes each time' '
	echo line1 >>host/dataset/sub/b.txt &&
	echo line2 >>host/dataset/sub/b.txt &&
	head -c 300000 /dev/urandom >>host/dataset/data.bin &&
	host_sync &&
	same_trees
'

test_expect_success 'appends by a writer that keeps the file open' '
	exec 3>>host/dataset/growing.log &&
	echo "entry 1" >&3 &&
	host_sync &&
	cmp host/dataset/growing.log enc/dataset/growing.log &&
	echo "entry 2" >&3 &&
	head -c 500000 /dev/urandom >&3 &&
	host_sync &&
	cmp host/dataset/growing.log enc/dataset/growing.log &&
	echo "entry 3" >&3 &&
	exec 3>&- &&
	host_sync &&
	same_trees
'

test_expect_success 'truncation to a shorter length and to zero' '
	truncate -s 123457 host/dataset/data.bin &&
	: >host/dataset/new.txt &&
	host_sync &&
	same_trees &&
	test "$(stat -c %s enc/dataset/data.bin)" -eq 123457 &&
	test ! -s enc/dataset/new.txt
'

test_expect_success 'a file renamed, and renamed over an existing file' '
	echo "to rename" >host/dataset/r1 &&
	echo "target" >host/dataset/r-target &&
	host_sync &&
	mv host/dataset/r1 host/dataset/r2 &&
	host_sync &&
	same_trees &&
	test ! -e enc/dataset/r1 &&
	mv host/dataset/r2 host/dataset/r-target &&
	host_sync &&
	same_trees &&
	test "$(cat enc/dataset/r-target)" = "to rename"
'

test_expect_success 'a directory tree renamed, and renamed over an empty directory' '
	mv host/dataset/sub host/dataset/moved &&
	host_sync &&
	same_trees &&
	test ! -e enc/dataset/sub &&
	mkdir host/dataset/empty-target &&
	host_sync &&
	mv -T host/dataset/moved host/dataset/empty-target &&
	host_sync &&
	same_trees &&
	test -f enc/dataset/empty-target/inner/a.txt
'

test_expect_success 'two files swapped through a third name' '
	echo "left side" >host/dataset/left &&
	echo "right side" >host/dataset/right &&
	host_sync &&
	mv host/dataset/left host/dataset/swap.tmp &&
	mv host/dataset/right host/dataset/left &&
	mv host/dataset/swap.tmp host/dataset/right &&
	host_sync &&
	same_trees &&
	test "$(cat enc/dataset/left)" = "right side" &&
	test ! -e enc/dataset/swap.tmp
'

test_expect_success 'renamed and then written at once' '
	mv host/dataset/left host/dataset/left-renamed &&
	echo "appended after the rename" >>host/dataset/left-renamed &&
	mv host/dataset/empty-target host/dataset/dir-renamed &&
	echo "new in renamed dir" >host/dataset/dir-renamed/new &&
	echo "reuses the old name" >host/dataset/left &&
	host_sync &&
	same_trees
'

test_expect_success 'a file renamed into a new directory and across trees' '
	mkdir -p host/dataset/x/y &&
	mv host/dataset/r-target host/dataset/x/y/z &&
	mv host/dataset/new.txt host/model/new.txt &&
	host_sync &&
	same_trees
'

test_expect_success 'files moved in from outside and out of the trees' '
	echo outside >outside.txt &&
	mkdir -p outside-dir/deeper &&
	echo deep >outside-dir/deeper/f &&
	mv outside.txt host/dataset/came-in.txt &&
	mv outside-dir host/dataset/came-in-dir &&
	host_sync &&
	same_trees &&
	test -f enc/dataset/came-in-dir/deeper/f &&
	mv host/dataset/came-in.txt gone.txt &&
	mv host/dataset/came-in-dir gone-dir &&
	host_sync &&
	same_trees &&
	test ! -e enc/dataset/came-in.txt &&
	test ! -e enc/dataset/came-in-dir
'

test_expect_success 'deleted files and deleted trees' '
	mkdir -p host/dataset/doomed/a/b/c &&
	echo 1 >host/dataset/doomed/a/f1 &&
	echo 2 >host/dataset/doomed/a/b/c/f2 &&
	echo 3 >host/dataset/doomed-file &&
	host_sync &&
	same_trees &&
	rm host/dataset/doomed-file &&
	rm -r host/dataset/doomed &&
	host_sync &&
	same_trees &&
	test ! -e enc/dataset/doomed &&
	test ! -e enc/dataset/doomed-file
'

test_expect_success 'nested directories created at once with files inside' '
	mkdir -p host/dataset/n1/n2/n3/n4 &&
	echo quick >host/dataset/n1/n2/n3/n4/f &&
	echo quick >host/dataset/n1/f &&
	cp -r host/dataset/n1 host/dataset/n1-copy &&
	host_sync &&
	same_trees
'

test_expect_success 'an editor saves atomically: temporary file renamed over the original' '
	echo "version 1" >host/dataset/doc.txt &&
	host_sync &&
	echo "version 2" >host/dataset/.doc.txt.tmp &&
	mv host/dataset/.doc.txt.tmp host/dataset/doc.txt &&
	host_sync &&
	same_trees &&
	test "$(cat enc/dataset/doc.txt)" = "version 2" &&
	test ! -e enc/dataset/.doc.txt.tmp
'

test_expect_success 'an editor saves with a backup: original renamed away, new written, backup deleted' '
	mv host/dataset/doc.txt host/dataset/doc.txt~ &&
	echo "version 3" >host/dataset/doc.txt &&
	rm host/dataset/doc.txt~ &&
	host_sync &&
	same_trees &&
	test "$(cat enc/dataset/doc.txt)" = "version 3" &&
	test ! -e enc/dataset/doc.txt~
'

test_expect_success 'a file that exists only briefly leaves no trace' '
	echo short-lived >host/dataset/ephemeral &&
	rm host/dataset/ephemeral &&
	host_sync &&
	same_trees &&
	test ! -e enc/dataset/ephemeral
'

test_expect_success 'a file rewritten many times ends with its last content' '
	i=0 && while [ $i -lt 200 ]; do
		echo "revision $i" >host/dataset/busy && i=$((i + 1)) || exit 1
	done &&
	host_sync &&
	same_trees &&
	test "$(cat enc/dataset/busy)" = "revision 199"
'

test_expect_success 'chmod of files' '
	chmod 0600 host/dataset/doc.txt &&
	chmod 0755 host/dataset/busy &&
	host_sync &&
	test "$(stat -c %a enc/dataset/doc.txt)" = 600 &&
	test "$(stat -c %a enc/dataset/busy)" = 755 &&
	chmod 0644 host/dataset/doc.txt &&
	host_sync &&
	test "$(stat -c %a enc/dataset/doc.txt)" = 644 &&
	same_trees
'

test_expect_success 'chmod of a directory' '
	chmod 0700 host/dataset/x &&
	host_sync &&
	test "$(stat -c %a enc/dataset/x)" = 700 &&
	chmod 0750 host/dataset/x &&
	host_sync &&
	test "$(stat -c %a enc/dataset/x)" = 750
'

test_expect_success 'a file replaced by a directory and a directory by a file' '
	rm host/dataset/busy &&
	mkdir host/dataset/busy &&
	echo inside >host/dataset/busy/f &&
	rm -r host/dataset/n1-copy &&
	echo "now a file" >host/dataset/n1-copy &&
	host_sync &&
	same_trees &&
	test -d enc/dataset/busy &&
	test -f enc/dataset/n1-copy
'

test_expect_success 'a hard link arrives as a link (t0188 covers more)' '
	echo linked >host/dataset/hl-a &&
	ln host/dataset/hl-a host/dataset/hl-b &&
	host_sync &&
	same_trees &&
	test "$(stat -c %i enc/dataset/hl-b)" = "$(stat -c %i enc/dataset/hl-a)" &&
	test "$(stat -c %h enc/dataset/hl-b)" = 2
'

test_expect_success 'an mtime change alone reaches the enclave' '
	touch -d "2003-04-05 06:07:08.5" host/dataset/hl-a &&
	host_sync &&
	test "$(stat -c %y enc/dataset/hl-a)" = "$(stat -c %y host/dataset/hl-a)"
'

test_expect_success 'a file overwritten longer from its start by a writer that keeps it open' '
	test_when_finished "rm -f host/dataset/overwritten" &&
	echo 0123456789 >host/dataset/overwritten &&
	host_sync &&
	cmp host/dataset/overwritten enc/dataset/overwritten &&
	exec 3<>host/dataset/overwritten &&
	echo ABCDEFGHIJKLMNOPQRST >&3 &&
	host_sync &&
	cmp host/dataset/overwritten enc/dataset/overwritten &&
	exec 3>&- &&
	host_sync &&
	cmp host/dataset/overwritten enc/dataset/overwritten
'

test_expect_success 'a file truncated and rewritten longer by a writer that keeps it open' '
	test_when_finished "rm -f host/dataset/rewritten" &&
	echo 0123456789 >host/dataset/rewritten &&
	host_sync &&
	cmp host/dataset/rewritten enc/dataset/rewritten &&
	exec 3>host/dataset/rewritten &&
	echo ABCDEFGHIJKLMNOPQRST >&3 &&
	host_sync &&
	cmp host/dataset/rewritten enc/dataset/rewritten &&
	exec 3>&- &&
	host_sync &&
	cmp host/dataset/rewritten enc/dataset/rewritten
'

test_expect_success 'a file changed in the middle and grown by a writer that keeps it open' '
	test_when_finished "rm -f host/dataset/db" &&
	head -c 102400 /dev/urandom >host/dataset/db &&
	host_sync &&
	cmp host/dataset/db enc/dataset/db &&
	exec 3<>host/dataset/db &&
	dd bs=51200 count=1 <&3 >/dev/null 2>&1 &&
	echo "CHANGED IN THE MIDDLE" >&3 &&
	cat <&3 >/dev/null &&
	echo "appended at the end" >&3 &&
	host_sync &&
	cmp host/dataset/db enc/dataset/db &&
	exec 3>&- &&
	host_sync &&
	cmp host/dataset/db enc/dataset/db
'

test_expect_success 'a new file written in large pieces by a writer that keeps it open' '
	test_when_finished "rm -f host/dataset/streamed" &&
	exec 3>host/dataset/streamed &&
	head -c 20M /dev/urandom >&3 &&
	head -c 20M /dev/urandom >&3 &&
	host_sync &&
	cmp host/dataset/streamed enc/dataset/streamed &&
	exec 3>&- &&
	host_sync &&
	cmp host/dataset/streamed enc/dataset/streamed
'

test_expect_success 'output written in the enclave comes back to the host' '
	mkdir -p enc/output/run1 &&
	echo result >enc/output/run1/result.txt &&
	head -c 200000 /dev/urandom >enc/output/run1/blob &&
	enclave_sync &&
	diff -r enc/output host/output
'

test_expect_success 'output edited, renamed and deleted in the enclave' '
	echo more >>enc/output/run1/result.txt &&
	mv enc/output/run1/blob enc/output/blob-moved &&
	mkdir enc/output/run2 &&
	echo x >enc/output/run2/x &&
	enclave_sync &&
	diff -r enc/output host/output &&
	rm -r enc/output/run1 &&
	mv enc/output/run2 enc/output/run3 &&
	enclave_sync &&
	diff -r enc/output host/output &&
	test ! -e host/output/run1
'

test_expect_success 'the host and the enclave logged no errors' '
	! grep -E "error|warning" host.log enclave.log
'

test_done
