#!/bin/sh
# The form mount(8) uses for a fuse.enclave-fs line in fstab: a SOURCE, the
# mountpoint, and everything else inside -o, mixed with FUSE's own options.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse

enclave-seal keygen -o k.kek >/dev/null
mkdir mnt
start_daemon fs enclave-fs none "$SCRATCH/mnt" -f \
	-o "rw,cache=$SCRATCH/c,kek=$SCRATCH/k.kek,max_jobs=2,allow_other,default_permissions"

test_expect_success 'the -o options reach the mount and its development enclave' '
	test -d c/.enclave &&
	test -f c/.lock &&
	/usr/bin/python3 -c "import json,sys; s=json.load(open(sys.argv[1])); \
		assert s[\"connection\"] == \"connected\", s; \
		assert s[\"enclave\"] == \"dev\", s; \
		assert s[\"enclave_status\"][\"max_jobs\"] == 2, s" mnt/.status
'

test_expect_success 'FUSE options are applied: allow_other' '
	grep " $SCRATCH/mnt fuse.enclave-fs " /proc/mounts | grep -q allow_other
'

test_expect_success 'the kek given in -o opens packages' '
	mkdir app &&
	cat >app/enclave.json <<-\JSON &&
	{ "name": "t", "version": "1", "entries": { "hi": { "argv": ["/bin/echo", "hi"] } },
	  "default": "hi" }
	JSON
	enclave-seal seal --kek k.kek -o t.sealed app 2>/dev/null &&
	cp t.sealed mnt/encrypted/ &&
	echo "t.sealed" >mnt/.run &&
	test "$(cat mnt/.run)" = 1
'

rc=0
unmount_enclave fs mnt || rc=$?
test_expect_success 'unmount ends enclave-fs with status 0' '
	test $rc -eq 0 &&
	! grep -q " $SCRATCH/mnt " /proc/mounts
'

test_done
