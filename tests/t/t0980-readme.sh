#!/bin/sh
# The README as a new user reads it: every ```sh block, in order, run as
# written in a scratch directory that holds the built programs and
# contrib/ (as the top of a built source tree does). Blocks marked
# <!-- readme-test: ci --> are the ones CI runs itself (contrib/quickstart
# and the tarball build, which make distcheck does).
test_timeout=${test_timeout:-600}
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
/usr/bin/python3 -c "import sklearn" 2>/dev/null || skip_all "python3-sklearn"

for p in enclave-fs enclave-seal enclave-sync enclaved; do
	ln -s "$top_builddir/$p" "$p"
done
ln -s "$top_srcdir/contrib" contrib

/usr/bin/python3 - "$top_srcdir/README.md" >readme.sh 3>skipped <<'PY'
import os, re, sys
text = open(sys.argv[1]).read().split("\n")
skipped = os.fdopen(3, "w")
out, block, ci, prev = [], None, False, ""
for line in text:
    if block is None:
        if line.startswith("```sh"):
            block, ci = [], prev.startswith("<!-- readme-test: ci")
        elif line.strip():
            prev = line
        continue
    if line.startswith("```"):
        if ci:
            skipped.write("\n".join(block) + "\n")
        else:
            out.append("\n".join(block))
        block, prev = None, ""
        continue
    block.append(line)
print("set -ex")
print("\n".join(out))
PY

SCRATCH_REAL=$(realpath "$SCRATCH")
CACHE=/var/lib/enclave-fs/$(printf %s "$SCRATCH_REAL/mnt" | sed 's|^/||; s|/|-|g')
rm -rf "$CACHE"
test_when_finished_top() {
	grep -q " $SCRATCH_REAL/mnt " /proc/mounts && fusermount3 -u "$SCRATCH_REAL/mnt"
	rm -rf "$CACHE"
}
test_atexit test_when_finished_top

test_expect_success 'only the quick start and the tarball build are left to CI' '
	grep -x "contrib/quickstart demo .*" skipped &&
	grep -x "contrib/quickstart check .*" skipped &&
	grep -x "./configure && make && make check && make install" skipped &&
	test "$(grep -c . skipped)" = 4
'

rc=0
sh readme.sh >readme.out 2>&1 || rc=$?

test_expect_success 'every command of the README runs as written, in order' '
	test $rc -eq 0 || { tail -n 40 readme.out && exit 1; }
'

test_expect_success 'the first job ran: the wait printed its exit status 0, its output is there' '
	grep -x "0" readme.out &&
	grep "\"accuracy\"" readme.out &&
	test -s iris-app/model/model.json &&
	grep -x "name=iris" readme.out && grep -x "entry=predict" readme.out
'

test_expect_success 'the mistyped line printed its reason from .run' '
	grep "^error: no entry .predcit. in iris.sealed; entries: predict, train" readme.out
'

test_expect_success 'the mount was unmounted; enclaved and enclave-sync ran their jobs' '
	! grep -q " $SCRATCH_REAL/mnt " /proc/mounts &&
	test -s work/output/metrics.json &&
	test -f mirror/dataset/iris.csv
'

test_done
