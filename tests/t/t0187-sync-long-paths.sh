#!/bin/sh
# Paths up to PATH_MAX - 1 bytes below a tree sync: a file 4095 bytes below
# dataset/ (made with mkdir in steps, 200-byte components; longer than
# PATH_MAX from either side's root) arrives, is renamed and removed. A path
# 4096 bytes below the tree is refused with a clear error, and the rest of
# the pass goes on over the same connection.
. "$top_srcdir/tests/lib.sh"

test_require tool python3

# deep DIR LEN ACTION: in DIR, walks (with "make": makes) directories of 200
# bytes so that the file at the bottom is LEN bytes below DIR, then: make
# (writes it), show (prints its content and whether it has its first name
# "f..." or its second "g..."), rename (to the second name), gone (fails
# unless neither name exists), rm (removes it).
deep() {
	python3 - "$@" <<'PY'
import os, sys
top, want, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.chdir(top)
total = 0
while total + 201 < want - 50:
    if action == "make" and not os.path.isdir("d" * 200):
        os.mkdir("d" * 200)
    os.chdir("d" * 200)
    total += 201
name, new = "f" * (want - total), "g" * (want - total)
if action == "make":
    with open(name, "w") as f:
        f.write("deep %d\n" % want)
elif action == "show":
    have = [n for n in (name, new) if os.path.exists(n)]
    assert len(have) == 1, have
    sys.stdout.write(open(have[0]).read())
    print(have[0][0])
elif action == "rename":
    os.rename(name, new)
elif action == "gone":
    sys.exit(1 if os.path.exists(name) or os.path.exists(new) else 0)
elif action == "rm":
    os.unlink(new)
PY
}

mkdir -p host/dataset host/model host/encrypted enc
start_daemon enclave enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" -v enc

test_expect_success 'setup: a file 4095 bytes below dataset/ and one of 4096' '
	deep host/dataset 4095 make &&
	mkdir host/dataset/too-long &&
	deep host/dataset/too-long 4087 make &&
	echo beside >host/dataset/beside
'

test_expect_success 'a file 4095 bytes below dataset/ arrives; 4096 bytes are refused with a clear error' '
	test_must_fail enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host 2>once.err &&
	deep enc/dataset 4095 show >got &&
	printf "deep 4095\nf\n" >expect &&
	diff expect got &&
	test "$(cat enc/dataset/beside)" = beside &&
	grep "error: not transferred: an entry whose path would be more than 4095 bytes below its tree, in dataset/too-long/d" once.err &&
	test -d enc/dataset/too-long &&
	test_must_fail deep enc/dataset/too-long 4087 show &&
	rm -r host/dataset/too-long
'

test_expect_success 'the long path is renamed in the enclave' '
	deep host/dataset 4095 rename &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host 2>/dev/null &&
	deep enc/dataset 4095 show >got &&
	printf "deep 4095\ng\n" >expect &&
	diff expect got
'

test_expect_success 'the long path is removed in the enclave' '
	deep host/dataset 4095 rm &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host 2>/dev/null &&
	deep enc/dataset 4095 gone
'

test_expect_success 'the enclave logged no error and its staging directory is empty' '
	! grep -i "error" "$SCRATCH/enclave.log" &&
	ls -A enc/.efs-staging >staged &&
	test ! -s staged
'
stop_daemon enclave

test_done
