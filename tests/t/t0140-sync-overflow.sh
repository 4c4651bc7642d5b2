#!/bin/sh
# When the inotify queue overflows, the watching host rescans and still
# leaves the enclave identical: its queue is made tiny by lowering
# fs.inotify.max_queued_events (read when an inotify instance is created)
# while the host starts.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require file /proc/sys/fs/inotify/max_queued_events

: "${SYNC_TIMEOUT:=60}"
MAXQ=/proc/sys/fs/inotify/max_queued_events

same_trees() {
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted
}

saved_maxq=$(cat $MAXQ)
# The limit is system-wide: restore it however the script ends.
test_atexit 'echo "$saved_maxq" >$MAXQ'

mkdir -p host/dataset host/model host/encrypted enc
echo seed >host/dataset/seed
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc
echo 64 >$MAXQ
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" -v host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host "$host_pid"

test_expect_success 'a watching host with a 64-event queue gets in sync' '
	waitline -t 60 host.log "in sync" &&
	same_trees
'

# Every inotify instance the host will use exists now.
echo "$saved_maxq" >$MAXQ

test_expect_success 'the system limit is restored' '
	test "$(cat $MAXQ)" = "$saved_maxq"
'

# During a burst the host is stopped (SIGSTOP): it cannot read, so its
# queue surely overflows while the kernel keeps queueing for it. The burst
# goes to directories that are already watched: files in a new directory
# would only be found by listing it, without any event.
test_expect_success '2,000 files created in a burst arrive after the queue overflows' '
	for d in 0 1 2 3 4 5 6 7 8 9; do
		mkdir -p host/dataset/burst/d$d || exit 1
	done &&
	sync_point host 1 &&
	kill -STOP $host_pid &&
	for d in 0 1 2 3 4 5 6 7 8 9; do
		i=0 && while [ $i -lt 200 ]; do
			echo "file $d/$i" >host/dataset/burst/d$d/f$i && i=$((i + 1)) || exit 1
		done || exit 1
	done &&
	kill -CONT $host_pid &&
	sync_point host 2 &&
	grep -q "change notifications overflowed: rescanning" host.log &&
	same_trees &&
	test "$(find enc/dataset/burst -type f | wc -l)" -eq 2000
'

test_expect_success 'changes after the overflow are still seen' '
	echo changed >host/dataset/burst/d3/f7 &&
	rm host/dataset/burst/d4/f9 &&
	mkdir host/dataset/later &&
	echo later >host/dataset/later/f &&
	sync_point host 3 &&
	same_trees
'

test_expect_success 'a burst of renames, rewrites and deletions overflows again' '
	overflows=$(grep -c "overflowed" host.log || true) &&
	kill -STOP $host_pid &&
	for d in 0 1 2 3 4; do
		mv host/dataset/burst/d$d host/model/moved-d$d || exit 1
	done &&
	perl -e '"'"'
		chdir "host/dataset/burst" or die;
		for my $i (0 .. 199) {
			rename("d5/f$i", "d6/g$i") or die "rename d5/f$i: $!";
			open(my $f, ">", "d7/f$i") or die "d7/f$i: $!";
			print $f "FILE 7/$i\n";
			close($f) or die;
		}'"'"' &&
	rm -r host/dataset/burst/d8 &&
	kill -CONT $host_pid &&
	sync_point host 4 &&
	test "$(grep -c "overflowed" host.log)" -gt "$overflows" &&
	same_trees &&
	test ! -e enc/dataset/burst/d5/f0 &&
	test -f enc/dataset/burst/d6/g199 &&
	test -d enc/model/moved-d4
'

test_done
