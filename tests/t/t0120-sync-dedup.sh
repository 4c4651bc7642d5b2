#!/bin/sh
# Only chunks the enclave lacks cross the wire: the --stats figures of
# enclave-sync --once after small edits, copies and no change at all.
. "$top_srcdir/tests/lib.sh"

# once_stats: one --once pass; its statistics end up in stats (and in the
# test's output, shown if it fails).
once_stats() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>stats
	rc=$?
	cat stats
	return $rc
}

# stat_is NAME: the figure on the statistics line "  NAME: N".
stat_is() {
	sed -n "s/^  $1: *\([0-9][0-9]*\).*/\1/p" stats
}

# flip_byte FILE OFFSET: replaces the byte at OFFSET by a different one.
flip_byte() {
	perl -e 'open(my $f, "+<", $ARGV[0]) or die "$ARGV[0]: $!"; binmode $f;
		seek($f, $ARGV[1], 0); read($f, my $c, 1) == 1 or die "short read";
		seek($f, $ARGV[1], 0); print $f chr(ord($c) ^ 0xff); close($f) or die' "$1" "$2"
}

same_trees() {
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted
}

mkdir -p host/dataset host/model enc
head -c 32M /dev/urandom >host/dataset/big
head -c 1M /dev/urandom >host/model/small
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'the first pass sends every chunk' '
	once_stats &&
	same_trees &&
	test "$(stat_is "files sent")" -eq 2 &&
	test "$(stat_is "chunks sent")" -ge 132 &&
	test "$(stat_is "chunks deduplicated")" -eq 0 &&
	test "$(stat_is "wire bytes sent")" -gt 34603008
'

test_expect_success 'a pass over an unchanged tree sends no chunk' '
	once_stats &&
	test "$(stat_is "chunks sent")" -eq 0 &&
	same_trees
'

test_expect_success 'a pass over an unchanged tree sends no file and almost no bytes' '
	once_stats &&
	test "$(stat_is "files sent")" -eq 0 &&
	test "$(stat_is "wire bytes sent")" -lt 4096
'

test_expect_success 'a 1-byte overwrite in the middle of 32 MiB sends at most 2 chunks' '
	flip_byte host/dataset/big 16777216 &&
	once_stats &&
	n=$(stat_is "chunks sent") &&
	test "$n" -ge 1 && test "$n" -le 2 &&
	test "$(stat_is "wire bytes sent")" -lt 1048576 &&
	same_trees
'

test_expect_success 'bytes inserted at the start of 32 MiB send at most 2 chunks' '
	{ printf "%0100d" 7 && cat host/dataset/big; } >big.new &&
	mv big.new host/dataset/big &&
	once_stats &&
	n=$(stat_is "chunks sent") &&
	test "$n" -ge 1 && test "$n" -le 2 &&
	same_trees
'

test_expect_success 'a 1 MiB append sends about 1 MiB' '
	head -c 1M /dev/urandom >>host/dataset/big &&
	once_stats &&
	n=$(stat_is "chunks sent") &&
	test "$n" -ge 4 && test "$n" -le 66 &&
	test "$(stat_is "wire bytes sent")" -lt 1572864 &&
	same_trees
'

test_expect_success 'a copy under a second name in dataset/ sends no chunk' '
	cp host/dataset/big host/dataset/big-copy &&
	once_stats &&
	test "$(stat_is "chunks sent")" -eq 0 &&
	test "$(stat_is "chunks deduplicated")" -ge 132 &&
	test "$(stat_is "wire bytes sent")" -lt 1048576 &&
	same_trees
'

test_expect_success 'a copy in another tree sends no chunk' '
	mkdir -p host/encrypted/sub &&
	cp host/model/small host/encrypted/sub/small.enc &&
	once_stats &&
	test "$(stat_is "chunks sent")" -eq 0 &&
	same_trees
'

test_expect_success 'a renamed file sends no chunk' '
	mv host/dataset/big-copy host/dataset/renamed &&
	once_stats &&
	test "$(stat_is "chunks sent")" -eq 0 &&
	same_trees &&
	test ! -e enc/dataset/big-copy
'

test_expect_success 'a file whose old version was deleted in the enclave is sent whole' '
	rm enc/model/small enc/encrypted/sub/small.enc &&
	flip_byte host/model/small 1000 &&
	once_stats &&
	test "$(stat_is "chunks sent")" -ge 4 &&
	same_trees
'

test_done
