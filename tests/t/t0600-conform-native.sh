#!/bin/sh
# The conformance checks (tests/helpers/fsconform) on native file systems,
# the reference for t0610, which runs them on the mount: every errno case,
# the fsx-like runs (alone and with concurrent writers) and the fsstress-like
# run pass on a tmpfs here, and the fsx-like run passes on the build tree's
# file system (ext4 or xfs), where every fallocate mode is supported (tmpfs
# has no FALLOC_FL_ZERO_RANGE, so the tmpfs runs leave it out).
# FSX_OPS (default 20000), STRESS_PROCS and STRESS_OPS set the run lengths.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool rm

FSX_OPS=${FSX_OPS:-20000}
STRESS_PROCS=${STRESS_PROCS:-4}
STRESS_OPS=${STRESS_OPS:-3000}

mkdir -p native disk
mount -t tmpfs -o size=256m,mode=0755 tmpfs native
N=$SCRATCH/native

test_expect_success 'the scratch tmpfs is mounted' '
	test "$(stat -f -c %T "$N")" = tmpfs
'

test_expect_success 'errno suite on tmpfs: every case passes' '
	fsconform errno "$N" >errno.out 2>&1 || { grep -v "^ok" errno.out; exit 1; } &&
	! grep "^not ok" errno.out &&
	test "$(grep -c "^ok" errno.out)" -gt 250
'

test_expect_success "fsx on tmpfs: $FSX_OPS buffered and mmap ops match the model" '
	fsconform fsx "$N/fsx-buffered" -N "$FSX_OPS" -S 1 -m -u -x zero-range >fsx1.out 2>&1 ||
	{ cat fsx1.out; exit 1; } &&
	grep "^ok - fsx" fsx1.out &&
	grep "^# unsupported: 0$" fsx1.out
'

test_expect_success "fsx on tmpfs: $FSX_OPS ops with O_DIRECT match the model" '
	fsconform fsx "$N/fsx-direct" -N "$FSX_OPS" -S 2 -Z -m -u -x zero-range >fsx2.out 2>&1 ||
	{ cat fsx2.out; exit 1; } &&
	grep "^ok - fsx" fsx2.out &&
	grep "^# dwrite: [1-9][0-9]* done, 0 unsupported$" fsx2.out
'

test_expect_success "fsx on the build tree's file system: every fallocate mode, $FSX_OPS ops" '
	fsconform fsx "$SCRATCH/disk/fsx-all" -N "$FSX_OPS" -S 3 -m -u >fsx3.out 2>&1 ||
	{ cat fsx3.out; exit 1; } &&
	grep "^ok - fsx" fsx3.out &&
	grep "^# zero-range: [1-9][0-9]* done, 0 unsupported$" fsx3.out &&
	grep "^# punch: [1-9][0-9]* done, 0 unsupported$" fsx3.out
'

test_expect_success "fsx on tmpfs: 4 concurrent writers, each in its region of one file" '
	fsconform fsx "$N/fsx-shared" -N "$((FSX_OPS / 4))" -S 4 -P 4 -m -u -x zero-range >fsx4.out 2>&1 ||
	{ grep -v "^#" fsx4.out; exit 1; } &&
	grep "^ok - fsx .*: 4 concurrent writers match their models" fsx4.out &&
	test "$(grep -c "^ok - fsx .* writer [0-3]: " fsx4.out)" = 4
'

test_expect_success "stress on tmpfs: $STRESS_PROCS processes x $STRESS_OPS ops, no unexpected error" '
	fsconform stress "$N" -p "$STRESS_PROCS" -n "$STRESS_OPS" -S 1 >stress.out 2>&1 ||
	{ grep -v "^#" stress.out; exit 1; } &&
	grep "^ok - stress" stress.out &&
	! grep "^not ok" stress.out &&
	test -n "$(ls -A "$N/stress")"
'

umount "$N"

test_done
