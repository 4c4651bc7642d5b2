#!/bin/sh
# O_DIRECT through the mount: dd oflag=direct and iflag=direct into dataset/
# work with the cache on ext4 (a loop-mounted image), which refuses
# unaligned O_DIRECT requests, and on the scratch file system.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool mkfs.ext4 losetup dd cmp

dd if=/dev/zero of=ext4.img bs=1M count=64 2>/dev/null
mkfs.ext4 -q -F ext4.img
mkdir -p ext4
mount -o loop ext4.img ext4 || { echo "Bail out! cannot loop-mount an ext4 image"; exit 99; }
head -c 4194304 /dev/urandom >src.bin

mount_enclave fs mnt --cache "$SCRATCH/ext4/cache"
mount_enclave tmp tmpmnt
M=$SCRATCH/mnt

for m in mnt tmpmnt; do
	test_expect_success "dd oflag=direct and iflag=direct in $m/dataset/" '
		dd if=/dev/zero of="$m/dataset/zero" bs=1M count=4 oflag=direct &&
		test "$(stat -c %s "$m/dataset/zero")" = 4194304 &&
		dd if=src.bin of="$m/dataset/rand" bs=1M oflag=direct &&
		cmp src.bin "$m/dataset/rand" &&
		dd if="$m/dataset/rand" of=back.bin bs=1M iflag=direct &&
		cmp src.bin back.bin &&
		dd if=src.bin of="$m/dataset/odd" bs=1000 count=7 oflag=direct &&
		head -c 7000 src.bin | cmp - "$m/dataset/odd"
	'
done

test_expect_success 'the cache of the first mount is on ext4' '
	test "$(stat -f -c %T "$SCRATCH/ext4")" = ext2/ext3 &&
	cmp src.bin "$SCRATCH/ext4/cache/dataset/rand"
'

rc=0
unmount_enclave fs "$M" || rc=$?
unmount_enclave tmp "$SCRATCH/tmpmnt" || rc=$?
umount "$SCRATCH/ext4"

test_expect_success 'both mounts exited cleanly' '
	test "$rc" = 0
'

test_done
