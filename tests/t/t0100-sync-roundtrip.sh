#!/bin/sh
# One --once pass mirrors a tree full of edge cases into an empty enclave
# (contents, modes, mtimes) and brings the enclave's output/ back.
. "$top_srcdir/tests/lib.sh"

# list_modes DIR: one line per entry below DIR: its type, mode, size for
# files, and name.
list_modes() {
	(cd "$1" && find . -mindepth 1 \( -type f -printf 'f %m %s %P\n' \) -o \
		\( -type d -printf 'd %m %P\n' \) -o -printf '%y %P\n') | LC_ALL=C sort
}

# list_mtimes DIR: one line per file below DIR: its mtime (with the
# nanoseconds), size and name.
list_mtimes() {
	(cd "$1" && find . -mindepth 1 -type f -printf '%T@ %s %P\n') | LC_ALL=C sort -k3
}

test_expect_success 'setup: a host tree with edge cases and an enclave' '
	mkdir -p host/dataset host/model host/encrypted enc/output &&
	d=host/dataset &&
	: >$d/empty &&
	printf x >$d/one-byte &&
	printf "\n" >$d/newline &&
	for n in 16383 16384 16385 65536 262144 262145; do
		head -c $n /dev/urandom >$d/size-$n || exit 1
	done &&
	mkdir -p "$d/a b" &&
	echo unicode >"$d/a b/ü ñ 字.txt" &&
	echo spaces >"$d/a b/  leading and trailing  " &&
	echo odd >"$d/a b/-dash \\ back\"slash *star ?q" &&
	printf "new\nline\n" >"$d/a b/line
break" &&
	echo hidden >"$d/.hidden" &&
	long=$(printf "%0255d" 0) &&
	echo long >"$d/$long" &&
	deep=$d/deep &&
	i=1 && while [ $i -le 30 ]; do deep=$deep/level$i && i=$((i + 1)) || exit 1; done &&
	mkdir -p "$deep" &&
	echo bottom >"$deep/file" &&
	mkdir -p $d/empty-dir/empty-sub &&
	mkdir -p $d/many &&
	i=0 && while [ $i -lt 5000 ]; do
		echo "small file $i" >$d/many/f$i && i=$((i + 1)) || exit 1
	done &&
	head -c 300M /dev/urandom >host/model/weights.bin &&
	head -c 100000 /dev/urandom >host/encrypted/blob.enc &&
	echo private >host/dataset/private && chmod 0600 host/dataset/private &&
	echo "#!/bin/sh" >host/dataset/run.sh && chmod 0755 host/dataset/run.sh &&
	echo readonly >host/dataset/ro && chmod 0444 host/dataset/ro &&
	mkdir host/dataset/closed && echo inside >host/dataset/closed/f &&
	chmod 0700 host/dataset/closed &&
	echo suid >host/dataset/suid && chmod 4755 host/dataset/suid &&
	touch -d "2001-02-03 04:05:06.123456789" host/dataset/one-byte &&
	touch -d "1999-12-31 23:59:59" host/dataset/empty &&
	echo result >enc/output/result.txt &&
	mkdir -p enc/output/logs/deep &&
	head -c 300000 /dev/urandom >enc/output/logs/deep/run.log &&
	: >enc/output/logs/empty &&
	touch -d "2010-10-10 10:10:10.5" enc/output/result.txt
'

start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'enclave-sync --once into an empty enclave exits 0' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>host.err &&
	grep -q "^  errors: *0$" host.err
'

test_expect_success 'the host trees arrive with identical contents' '
	diff -r host/dataset enc/dataset &&
	diff -r host/model enc/model &&
	diff -r host/encrypted enc/encrypted &&
	test -f "enc/dataset/a b/ü ñ 字.txt" &&
	test -d enc/dataset/empty-dir/empty-sub &&
	test "$(ls enc/dataset/many | wc -l)" -eq 5000 &&
	test "$(stat -c %s enc/model/weights.bin)" -eq 314572800
'

test_expect_success 'the enclave output comes back to the host' '
	diff -r enc/output host/output &&
	test -f host/output/logs/empty
'

test_expect_success 'file and directory modes survive' '
	test "$(stat -c %a enc/dataset/private)" = 600 &&
	test "$(stat -c %a enc/dataset/run.sh)" = 755 &&
	test "$(stat -c %a enc/dataset/ro)" = 444 &&
	test "$(stat -c %a enc/dataset/closed)" = 700 &&
	for t in dataset model encrypted; do
		list_modes host/$t | grep -v " suid$" >host-$t.modes &&
		list_modes enc/$t | grep -v " suid$" >enc-$t.modes &&
		diff host-$t.modes enc-$t.modes || exit 1
	done &&
	list_modes host/output >host-output.modes &&
	list_modes enc/output >enc-output.modes &&
	diff enc-output.modes host-output.modes
'

test_expect_success 'setuid, setgid and sticky bits are stripped' '
	test "$(stat -c %a host/dataset/suid)" = 4755 &&
	test "$(stat -c %a enc/dataset/suid)" = 755
'

test_expect_success 'file mtimes survive to the nanosecond' '
	test "$(stat -c %Y enc/dataset/one-byte)" = "$(stat -c %Y host/dataset/one-byte)" &&
	test "$(stat -c %y enc/dataset/one-byte)" = "$(stat -c %y host/dataset/one-byte)" &&
	test "$(stat -c %Y enc/dataset/empty)" = "$(stat -c %Y host/dataset/empty)" &&
	test "$(stat -c %Y enc/model/weights.bin)" = "$(stat -c %Y host/model/weights.bin)" &&
	test "$(stat -c %y host/output/result.txt)" = "$(stat -c %y enc/output/result.txt)" &&
	for t in dataset model encrypted; do
		list_mtimes host/$t >host-$t.list &&
		list_mtimes enc/$t >enc-$t.list &&
		diff host-$t.list enc-$t.list || exit 1
	done &&
	list_mtimes host/output >host-output.list &&
	list_mtimes enc/output >enc-output.list &&
	diff enc-output.list host-output.list
'

test_expect_success 'nothing but the trees and the empty staging directory appear in the enclave' '
	(cd enc && ls -A) >top &&
	printf ".efs-staging\ndataset\nencrypted\nmodel\noutput\n" >expect &&
	diff expect top &&
	ls -A enc/.efs-staging host/.efs-staging >tmpfiles &&
	printf "enc/.efs-staging:\n\nhost/.efs-staging:\n" >expect &&
	diff expect tmpfiles &&
	test "$(stat -c %a enc/.efs-staging)" = 700
'

test_expect_success 'a second --once into the synced enclave changes nothing' '
	list_modes enc/dataset >before &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	list_modes enc/dataset >after &&
	diff before after &&
	diff -r host/dataset enc/dataset
'

test_done
