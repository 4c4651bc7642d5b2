#!/bin/sh
# Symlinks cross as symlinks (their targets as text, never followed); fifos
# and unix sockets are not transferred: each is reported once in the
# sender's log and everything else still syncs. Nothing is ever read or
# written through a symlink.
. "$top_srcdir/tests/lib.sh"

: "${SYNC_TIMEOUT:=60}"

# make_socket PATH: leaves a unix socket file at PATH.
make_socket() {
	perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Local => $ARGV[0], Listen => 1) or die "$ARGV[0]: $!"' "$1"
}

mkdir -p host/dataset/sub host/model enc outside
echo secret >outside/secret
echo regular >host/dataset/regular
echo nested >host/dataset/sub/nested
ln -s regular host/dataset/link-to-file
ln -s "$SCRATCH/outside/secret" host/dataset/link-outside
ln -s "$SCRATCH/outside" host/dataset/link-to-dir
ln -s does-not-exist host/dataset/sub/dangling
mkfifo host/dataset/fifo
make_socket host/dataset/sub/sock
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'setup: the special files exist' '
	test -h host/dataset/link-to-file &&
	test -p host/dataset/fifo &&
	test -S host/dataset/sub/sock
'

test_expect_success '--once transfers files and symlinks and skips the rest' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host 2>once.log &&
	cmp host/dataset/regular enc/dataset/regular &&
	cmp host/dataset/sub/nested enc/dataset/sub/nested &&
	(cd enc/dataset && find . \( -type f -o -type d \) -print | LC_ALL=C sort) >got &&
	printf "%s\n" . ./regular ./sub ./sub/nested >expect &&
	diff expect got &&
	(cd enc && find . ! -type f ! -type d | LC_ALL=C sort) >others &&
	printf "%s\n" ./dataset/link-outside ./dataset/link-to-dir ./dataset/link-to-file \
		./dataset/sub/dangling >expect &&
	diff expect others &&
	for p in link-to-file link-outside link-to-dir sub/dangling; do
		test -h enc/dataset/$p &&
		test "$(readlink enc/dataset/$p)" = "$(readlink host/dataset/$p)" || exit 1
	done
'

test_expect_success 'each skipped entry is reported once, symlinks are not' '
	test "$(grep -c "dataset/fifo: not transferred" once.log)" -eq 1 &&
	test "$(grep -c "dataset/sub/sock: not transferred" once.log)" -eq 1 &&
	test "$(grep -c "not transferred" once.log)" -eq 2
'

test_expect_success 'a --once host exits 0 although it skipped entries' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host 2>again.log
'

# A watching host for the rest of the script; test_done stops it.
enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" host >"$SCRATCH/host.log" 2>&1 &
host_pid=$!
track_daemon host "$host_pid"

test_expect_success 'a watching host reports the existing special files once' '
	waitline -t 60 host.log "in sync" &&
	test "$(grep -c "not transferred" host.log)" -eq 2
'

test_expect_success 'symlinks created while watching arrive, other special files are skipped' '
	ln -s regular host/dataset/new-link &&
	mkfifo host/dataset/sub/new-fifo &&
	make_socket host/dataset/new-sock &&
	echo after >host/dataset/after &&
	sync_point host 1 &&
	cmp host/dataset/after enc/dataset/after &&
	test -h enc/dataset/new-link && test "$(readlink enc/dataset/new-link)" = regular &&
	test ! -e enc/dataset/sub/new-fifo &&
	test ! -e enc/dataset/new-sock
'

test_expect_success 'special files created while watching are reported once' '
	touch -h host/dataset/new-link &&
	chmod 0600 host/dataset/sub/new-fifo &&
	sync_point host 2 &&
	for p in sub/new-fifo new-sock; do
		test "$(grep -c "dataset/$p: not transferred" host.log)" -eq 1 || exit 1
	done &&
	! grep "dataset/new-link: not transferred" host.log
'

test_expect_success 'a regular file replaced by a symlink becomes that symlink in the enclave' '
	echo soon-a-link >host/dataset/becomes-link &&
	sync_point host 3 &&
	test -f enc/dataset/becomes-link &&
	ln -sf "$SCRATCH/outside/secret" host/dataset/becomes-link &&
	sync_point host 4 &&
	test -h enc/dataset/becomes-link &&
	test "$(readlink enc/dataset/becomes-link)" = "$SCRATCH/outside/secret"
'

test_expect_success 'a directory replaced by a symlink to a directory becomes that symlink' '
	mkdir host/dataset/becomes-dir-link &&
	echo inside >host/dataset/becomes-dir-link/f &&
	sync_point host 5 &&
	test -f enc/dataset/becomes-dir-link/f &&
	rm -r host/dataset/becomes-dir-link &&
	ln -s "$SCRATCH/outside" host/dataset/becomes-dir-link &&
	sync_point host 6 &&
	test -h enc/dataset/becomes-dir-link &&
	test "$(readlink enc/dataset/becomes-dir-link)" = "$SCRATCH/outside"
'

test_expect_success 'nothing outside the trees was read or written' '
	test "$(cat outside/secret)" = secret &&
	ls outside >listing &&
	echo secret >expect &&
	diff expect listing &&
	! grep -r secret enc
'

test_expect_success 'a symlink to a directory is not descended' '
	test -h enc/dataset/link-to-dir &&
	(cd enc && find . -name secret) >found &&
	test ! -s found
'

test_expect_success 'a symlink planted in the enclave is replaced, never written through' '
	mkdir -p enc-outside &&
	ln -s "$SCRATCH/enc-outside" enc/dataset/planted &&
	mkdir -p host/dataset/planted &&
	echo payload >host/dataset/planted/file &&
	sync_point host 7 &&
	test -d enc/dataset/planted && test ! -h enc/dataset/planted &&
	cmp host/dataset/planted/file enc/dataset/planted/file &&
	ls enc-outside >listing &&
	test ! -s listing
'

test_expect_success 'symlinks in the enclave output come back as symlinks, fifos do not' '
	mkdir -p enc/output &&
	echo result >enc/output/result &&
	ln -s result enc/output/link &&
	mkfifo enc/output/fifo &&
	sync_point enclave 1 &&
	cmp enc/output/result host/output/result &&
	test -h host/output/link && test "$(readlink host/output/link)" = result &&
	test ! -e host/output/fifo
'

test_expect_success 'special files in the enclave output are reported in its log' '
	! grep -q "output/link: not transferred" enclave.log &&
	grep -q "output/fifo: not transferred" enclave.log
'

test_expect_success 'the host logged no errors' '
	! grep "error" host.log
'

test_done
