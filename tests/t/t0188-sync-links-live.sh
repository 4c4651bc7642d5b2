#!/bin/sh
# Hard links made while enclave-sync watches the tree: a new name of a file
# that was sent while it had one name arrives as a link to it, a write through
# one name reaches every name of the file in the enclave, and removing one
# name leaves the others.
. "$top_srcdir/tests/lib.sh"

mkdir -p host/dataset/sub host/model enc
printf 'first line\n' >host/dataset/a
printf 'other\n' >host/dataset/sub/c
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc
# The watching host; test_done stops it.
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host $host_pid

test_expect_success 'the initial pass sends a as a file with one name' '
	waitline -t 60 host.log "in sync" &&
	cmp host/dataset/a enc/dataset/a &&
	test "$(stat -c %h enc/dataset/a)" = 1
'

test_expect_success 'ln a b after the initial pass arrives as a hard link' '
	ln host/dataset/a host/dataset/b &&
	sync_point host 1 &&
	test "$(stat -c %i enc/dataset/b)" = "$(stat -c %i enc/dataset/a)" &&
	test "$(stat -c %h enc/dataset/a)" = 2 &&
	cmp host/dataset/a enc/dataset/b
'

test_expect_success 'echo x >> b changes the content of a in the enclave too' '
	echo x >>host/dataset/b &&
	sync_point host 2 &&
	cmp host/dataset/a enc/dataset/a &&
	cmp host/dataset/b enc/dataset/b &&
	test "$(tail -n 1 enc/dataset/a)" = x &&
	test "$(stat -c %i enc/dataset/b)" = "$(stat -c %i enc/dataset/a)" &&
	test "$(stat -c %h enc/dataset/a)" = 2
'

test_expect_success 'a rewrite through a (same inode) reaches b' '
	printf "rewritten\n" >host/dataset/a &&
	sync_point host 3 &&
	test "$(cat enc/dataset/b)" = rewritten &&
	test "$(stat -c %i enc/dataset/b)" = "$(stat -c %i enc/dataset/a)"
'

test_expect_success 'a third name in another directory, then a chmod through it' '
	ln host/dataset/b host/dataset/sub/third &&
	chmod 600 host/dataset/sub/third &&
	sync_point host 4 &&
	test "$(stat -c %i enc/dataset/sub/third)" = "$(stat -c %i enc/dataset/a)" &&
	test "$(stat -c %h enc/dataset/a)" = 3 &&
	test "$(stat -c %a enc/dataset/a)" = 600
'

test_expect_success 'rm a leaves b (and the third name) with the content' '
	rm host/dataset/a &&
	sync_point host 5 &&
	test ! -e enc/dataset/a &&
	test "$(cat enc/dataset/b)" = rewritten &&
	test "$(stat -c %i enc/dataset/b)" = "$(stat -c %i enc/dataset/sub/third)" &&
	test "$(stat -c %h enc/dataset/b)" = 2
'

test_expect_success 'a name renamed, then written through: the other name follows' '
	mv host/dataset/sub/third host/dataset/renamed &&
	echo more >>host/dataset/renamed &&
	sync_point host 6 &&
	cmp host/dataset/b enc/dataset/b &&
	test "$(stat -c %i enc/dataset/b)" = "$(stat -c %i enc/dataset/renamed)" &&
	test ! -e enc/dataset/sub/third
'

test_expect_success 'the watching host logged no errors' '
	! grep "error" host.log
'

test_done
