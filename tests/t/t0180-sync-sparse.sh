#!/bin/sh
# Sparse files cross as sparse files: holes are sent as holes (not as
# zeros), a chunk repeated in one file is sent once, and the receiver stores
# holes and runs of zeros as holes, so it holds about what the data takes.
. "$top_srcdir/tests/lib.sh"

test_require tool python3

# data_map FILE: the file's data extents as "start end" lines (SEEK_DATA /
# SEEK_HOLE), then its size.
data_map() {
	python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
off = 0
while off < size:
    try:
        d = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    print(d, h)
    off = h
print("size", size)
' "$1"
}

# kib FILE: the KiB the file takes (allocated).
kib() {
	du -k "$1" | cut -f1
}

# put_random FILE MIB_OFFSET KIB: KIB random KiB at MIB_OFFSET MiB.
put_random() {
	head -c "$3"K /dev/urandom >"$SCRATCH/piece" &&
	dd if="$SCRATCH/piece" of="$1" bs=1M seek="$2" conv=notrunc status=none
}

test_expect_success 'setup: a 1 GiB sparse file, and data around 64 MiB of zeros' '
	mkdir -p host/dataset host/model host/encrypted enc/output &&
	f=host/dataset/sparse.img &&
	truncate -s 1G $f &&
	put_random $f 0 512 &&
	put_random $f 3 1024 &&
	put_random $f 100 700 &&
	put_random $f 517 1024 &&
	put_random $f 900 300 &&
	put_random $f 1023 1024 &&
	head -c 5000 /dev/urandom >piece &&
	dd if=piece of=$f bs=1 seek=300000001 conv=notrunc status=none &&
	z=host/model/zeros-inside.bin &&
	head -c 4M /dev/urandom >$z &&
	head -c 64M /dev/zero >>$z &&
	head -c 4M /dev/urandom >>$z &&
	test "$(stat -c %s $f)" -eq 1073741824 &&
	test "$(kib $f)" -lt 10240 &&
	data_map $f >host.map &&
	test "$(wc -l <host.map)" -gt 3
'

start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'enclave-sync --once sends them without errors' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>host.err &&
	grep -q "^  errors: *0$" host.err
'

test_expect_success 'the contents arrive identical' '
	cmp host/dataset/sparse.img enc/dataset/sparse.img &&
	cmp host/model/zeros-inside.bin enc/model/zeros-inside.bin
'

test_expect_success 'the receiver holds about what the sender holds' '
	h=$(kib host/dataset/sparse.img) && e=$(kib enc/dataset/sparse.img) &&
	say "sparse.img: host $h KiB, enclave $e KiB" &&
	test "$e" -le $((h + h / 10 + 1024)) &&
	test "$e" -ge $((h - h / 10 - 1024))
'

test_expect_success 'the hole boundaries are kept' '
	data_map enc/dataset/sparse.img >enc.map &&
	diff host.map enc.map
'

test_expect_success 'the run of zeros inside data is stored as a hole' '
	e=$(kib enc/model/zeros-inside.bin) &&
	say "zeros-inside.bin: host $(kib host/model/zeros-inside.bin) KiB, enclave $e KiB" &&
	test "$e" -le $((8192 + 819 + 1024)) &&
	data_map enc/model/zeros-inside.bin >zeros.map &&
	head -n 1 zeros.map >first &&
	echo "0 4194304" >expect &&
	diff expect first
'

test_expect_success 'the wire carries the data, not the holes or the zeros' '
	data=$(( (512 + 1024 + 700 + 1024 + 300 + 1024 + 5 + 8192) * 1024 )) &&
	wire=$(sed -n "s/^  wire bytes sent: *//p" host.err) &&
	holes=$(sed -n "s/^  bytes sent as holes: *//p" host.err) &&
	say "data $data bytes, wire $wire bytes, holes $holes bytes" &&
	test "$wire" -lt $((2 * data)) &&
	test "$holes" -gt $((1000 * 1024 * 1024))
'

test_expect_success 'a second pass sends no chunk' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>again.err &&
	grep -q "^  chunks sent: *0$" again.err &&
	cmp host/dataset/sparse.img enc/dataset/sparse.img
'

test_expect_success 'a sparse file changed in place keeps its holes' '
	put_random host/dataset/sparse.img 700 256 &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once --stats host 2>edit.err &&
	grep -q "^  errors: *0$" edit.err &&
	cmp host/dataset/sparse.img enc/dataset/sparse.img &&
	data_map host/dataset/sparse.img >host2.map &&
	data_map enc/dataset/sparse.img >enc2.map &&
	diff host2.map enc2.map
'

stop_daemon enclave

test_done
