#!/bin/sh
# enclaved's key process (doc/SECURITY.md "Key process"): the process that
# parses host frames never holds a package's data key, the key process holds
# it (its cache) until the package is removed, and .status reports the key
# providers that actually started. The data key is computed independently
# (pkgtool dek) and searched for in each process's memory through /proc.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool python3

# memhas PID HEX: true if the process's readable memory holds the bytes.
memhas() {
	python3 - "$1" "$2" <<'PY'
import re, sys
pid, needle = sys.argv[1], bytes.fromhex(sys.argv[2])
found = False
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        lo, hi, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        # Not readable, the kernel's, or a sanitizer's shadow reservation
        # (terabytes, never the heap of these processes).
        if perms[0] != "r" or "[vvar" in line or "[vsyscall" in line or hi - lo > 1 << 32:
            continue
        tail = b""
        try:
            mem.seek(lo)
            while lo < hi and not found:
                block = mem.read(min(hi - lo, 16 << 20))
                if not block:
                    break
                found = needle in tail + block
                tail = block[-(len(needle) - 1):]
                lo += len(block)
        except (OSError, ValueError, OverflowError):
            pass
        if found:
            break
sys.exit(0 if found else 1)
PY
}

# The enclaved processes under this test's scratch: the main one (its parent
# is not an enclaved) and the key process (its child that stays).
enclaved_pids() {
	ps -eo pid=,ppid=,args= | awk -v s="$SCRATCH" '$3 ~ /enclaved$/ && index($0, s) { print $1, $2 }'
}
enclave-seal keygen -o k.kek >/dev/null
mkdir app
echo '{"name": "hello", "version": "1", "entries": {"hi": {"argv": ["echo", "hi"]}}}' >app/enclave.json
enclave-seal seal --kek k.kek -o hello.sealed app 2>/dev/null
DEK=$(pkgtool dek k.kek hello.sealed)
mkdir keep
echo '{"name": "keep", "version": "1", "entries": {"hi": {"argv": ["echo", "kept"]}}}' >keep/enclave.json
enclave-seal seal --kek k.kek -o keep.sealed keep 2>/dev/null

mnt=$SCRATCH/mnt
mount_enclave dev "$mnt" --kek k.kek

test_expect_success 'the key process is a child of enclaved, of its own' '
	enclaved_pids >pids &&
	test "$(wc -l <pids)" = 2 &&
	awk "NR == FNR { pid[\$1] = 1; next } !(\$2 in pid) { print \$1 }" pids pids >main.pid &&
	awk "NR == FNR { pid[\$1] = 1; next } (\$2 in pid) { print \$1 }" pids pids >keyd.pid &&
	test "$(wc -l <main.pid)" = 1 && test "$(wc -l <keyd.pid)" = 1 &&
	grep -qx "$(cat keyd.pid) $(cat main.pid)" pids
'

test_expect_success '.status reports the providers that started: kek (one key) and kms' '
	python3 -c "import json, sys
s = json.load(open(sys.argv[1]))[\"enclave_status\"][\"keys\"]
assert s[\"providers\"] == [\"kek\", \"kms\"], s
assert s[\"keks\"] == 1, s
assert s[\"nsm\"] == \"development\", s
assert s[\"kms\"][\"credentials\"] is None, s" "$mnt/.status"
'

test_expect_success 'a package opens: the key process unwrapped its key once' '
	cp hello.sealed "$mnt/encrypted/" &&
	echo "hello.sealed hi" >"$mnt/.run" &&
	wait_job dev 1 &&
	test "$(cat "$mnt/jobs/1/exit")" = 0 &&
	python3 -c "import json, sys
c = json.load(open(sys.argv[1]))[\"enclave_status\"][\"keys\"][\"cache\"]
assert c[\"unwraps\"] == 1 and c[\"entries\"] == 1, c" "$mnt/.status"
'

test_expect_success 'the data key is in the key process (its cache), not in enclaved' '
	memhas "$(cat keyd.pid)" "$DEK" &&
	! memhas "$(cat main.pid)" "$DEK"
'

test_expect_success 'a copy of the same package under another name is a cache hit' '
	cp hello.sealed "$mnt/encrypted/again.sealed" &&
	echo "again.sealed hi" >"$mnt/.run" &&
	wait_job dev 2 &&
	python3 -c "import json, sys
c = json.load(open(sys.argv[1]))[\"enclave_status\"][\"keys\"][\"cache\"]
assert c[\"unwraps\"] == 1 and c[\"hits\"] == 1, c" "$mnt/.status"
'

test_expect_success 'removing the package wipes its data key from the key process' '
	rm "$mnt/encrypted/hello.sealed" "$mnt/encrypted/again.sealed" &&
	cp keep.sealed "$mnt/encrypted/" &&
	echo "keep.sealed hi" >"$mnt/.run" &&
	wait_job dev 3 &&
	python3 -c "import json, sys
c = json.load(open(sys.argv[1]))[\"enclave_status\"][\"keys\"][\"cache\"]
assert c[\"entries\"] == 1 and c[\"unwraps\"] == 2, c" "$mnt/.status" &&
	! memhas "$(cat keyd.pid)" "$DEK" &&
	! memhas "$(cat main.pid)" "$DEK" &&
	memhas "$(cat keyd.pid)" "$(pkgtool dek k.kek keep.sealed)"
'

test_expect_success 'the data key is in no host file and no log' '
	! grep -rqi "$DEK" "$SCRATCH/dev.cache" "$SCRATCH/dev.log" &&
	raw=$(printf %s "$DEK" | python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read()))" | base64) &&
	! grep -rqF "$raw" "$SCRATCH/dev.cache" "$SCRATCH/dev.log"
'

unmount_enclave dev "$mnt"

mnt2=$SCRATCH/mnt2
mount_enclave nokek "$mnt2"

test_expect_success 'without --kek only the kms provider starts; a kek package is refused' '
	python3 -c "import json, sys
s = json.load(open(sys.argv[1]))[\"enclave_status\"][\"keys\"]
assert s[\"providers\"] == [\"kms\"], s" "$mnt2/.status" &&
	test_must_fail cp hello.sealed "$mnt2/encrypted/" 2>err &&
	grep -q "no kek key provider" "$mnt2/.status"
'

unmount_enclave nokek "$mnt2"
test_done
