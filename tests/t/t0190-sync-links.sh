#!/bin/sh
# Symlinks and hard links cross as what they are: targets arrive as the same
# text (relative, absolute, dangling, leading out of the tree), never
# resolved or followed by either side; names of one file within a tree stay
# names of one file; fifos stay on the host without an error; live changes
# to symlinks follow.
. "$top_srcdir/tests/lib.sh"

mkdir -p host/dataset/sub host/model enc outside
echo secret >outside/secret
d=host/dataset
echo regular >$d/regular
ln -s regular $d/rel
ln -s sub/../regular $d/rel-dots
ln -s "$SCRATCH/outside/secret" $d/abs
ln -s /etc/passwd $d/abs-etc
ln -s ../../etc/passwd $d/up
ln -s ../../../../../../../../../../etc/shadow $d/sub/far-up
ln -s does/not/exist $d/dangling
ln -s "$SCRATCH/outside" $d/dir-link
ln -s sub $d/dir-link-inside
head -c 300000 /dev/urandom >$d/big
ln $d/big $d/big-2
ln $d/big $d/sub/big-3
cp $d/big host/model/big
ln host/model/big host/model/big-2
ln $d/regular host/model/cross
mkfifo $d/fifo
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

LINKS="rel rel-dots abs abs-etc up sub/far-up dangling dir-link dir-link-inside"

test_expect_success '--once succeeds without errors, with the fifo skipped' '
	stat -c "%i %Y %s" outside outside/secret >outside.before &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>once.log &&
	grep -q "^  errors: *0$" once.log &&
	grep -q "dataset/fifo: not transferred (fifo)" once.log &&
	test ! -e enc/dataset/fifo
'

test_expect_success 'every symlink arrives as a symlink with the same target text' '
	for l in $LINKS; do
		test -h enc/dataset/$l &&
		test "$(readlink enc/dataset/$l)" = "$(readlink host/dataset/$l)" || exit 1
	done
'

test_expect_success 'symlinks to directories are not descended' '
	test -h enc/dataset/dir-link && test -h enc/dataset/dir-link-inside &&
	(cd enc && find . -name secret) >found &&
	test ! -s found
'

test_expect_success 'nothing outside the trees was touched' '
	stat -c "%i %Y %s" outside outside/secret >outside.after &&
	diff outside.before outside.after &&
	ls outside >listing && echo secret >expect && diff expect listing
'

test_expect_success 'hard links within a tree arrive as one file' '
	cmp host/dataset/big enc/dataset/big &&
	i=$(stat -c %i enc/dataset/big) &&
	test "$(stat -c %i enc/dataset/big-2)" = "$i" &&
	test "$(stat -c %i enc/dataset/sub/big-3)" = "$i" &&
	test "$(stat -c %h enc/dataset/big)" = 3 &&
	test "$(stat -c %i enc/model/big)" = "$(stat -c %i enc/model/big-2)" &&
	test "$(stat -c %h enc/model/big)" = 2
'

test_expect_success 'a hard link across trees arrives as a copy' '
	cmp host/model/cross enc/model/cross &&
	test "$(stat -c %h enc/model/cross)" = 1 &&
	test "$(stat -c %i enc/model/cross)" != "$(stat -c %i enc/dataset/regular)"
'

test_expect_success 'a second pass sends nothing' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>again.log &&
	grep -q "^  files sent: *0 " again.log &&
	grep -q "^  errors: *0$" again.log
'

# A watching host for the rest of the script; test_done stops it.
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host $host_pid

test_expect_success 'live: a symlink created while watching arrives' '
	waitline -t 60 host.log "in sync" &&
	ln -s ../../etc/passwd host/dataset/sub/live &&
	sync_point host 1 &&
	test -h enc/dataset/sub/live &&
	test "$(readlink enc/dataset/sub/live)" = ../../etc/passwd
'

test_expect_success 'live: a retargeted symlink follows' '
	ln -sfn /etc/hostname host/dataset/sub/live &&
	sync_point host 2 &&
	test "$(readlink enc/dataset/sub/live)" = /etc/hostname
'

test_expect_success 'live: a removed symlink is removed' '
	rm host/dataset/sub/live &&
	sync_point host 3 &&
	test ! -h enc/dataset/sub/live
'

test_expect_success 'live: a symlink in a new directory arrives' '
	mkdir -p host/dataset/newdir &&
	ln -s ../regular host/dataset/newdir/l &&
	sync_point host 4 &&
	test "$(readlink enc/dataset/newdir/l)" = ../regular
'

test_expect_success 'live: a new name of a hard-linked file arrives as a link' '
	ln host/dataset/big host/dataset/sub/big-4 &&
	sync_point host 5 &&
	test "$(stat -c %i enc/dataset/sub/big-4)" = "$(stat -c %i enc/dataset/big)" &&
	test "$(stat -c %h enc/dataset/big)" = 4
'

test_expect_success 'the watching host logged no errors' '
	! grep "error" host.log
'

test_done
