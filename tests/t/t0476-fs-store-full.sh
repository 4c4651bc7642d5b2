#!/bin/sh
# A dataset file the enclave's store cannot hold: its close() fails with
# ENOSPC when it is larger than the free space the enclave last reported;
# one whose writer never heard (it exited) fails the next .run, which names
# the file in its log line and in .status, and no job starts without it.
# Once the file is removed, the next .run starts a job that sees the files
# that fit.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool python3

PY=/usr/bin/python3

enclave-seal keygen -o k.kek >/dev/null
mkdir app
cat >app/enclave.json <<'JSON'
{"name": "lister", "version": "1",
 "entries": {"ls": {"argv": ["sh", "-c", "ls /dataset"]}},
 "default": "ls"}
JSON
enclave-seal seal --kek k.kek -o lister.sealed app 2>/dev/null
head -c 1M /dev/urandom >fits
head -c 12M /dev/urandom >big

status_py() {
	$PY -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$mnt/.status" "$1"
}

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/enclaved.sock" --state "$SCRATCH/estate" \
	--kek k.kek --max-store 8M -v
mnt=$SCRATCH/mnt
mount_enclave fs "$mnt" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/enclaved.sock"

test_expect_success 'setup: a package and a file that fit' '
	cp lister.sealed "$mnt/encrypted/" &&
	cp fits "$mnt/dataset/fits" &&
	echo "lister.sealed ls" >"$mnt/.run" &&
	id=$(cat "$mnt/.run") &&
	wait_job fs "$id" &&
	grep -x fits "$mnt/jobs/$id/log" &&
	status_py "s[\"failed\"][\"count\"] == 0 and s[\"last_error\"] is None" &&
	status_py "s[\"enclave_store\"][\"max\"] == 8 << 20"
'

test_expect_success 'a 12 MiB file in dataset/: cp fails at close() with ENOSPC' '
	test_must_fail cp big "$mnt/dataset/big" 2>err &&
	cat err &&
	grep "No space left on device" err &&
	grep "dataset/big: 12582912 bytes do not fit in the enclave'\''s store" fs.log &&
	rm "$mnt/dataset/big"
'

test_expect_success 'a 12 MiB file whose writer exited without hearing: .run fails with ENOSPC and names it' '
	$PY -c "
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, open(\"big\", \"rb\").read())
os._exit(0)
" "$mnt/dataset/big" &&
	last=$(cat "$mnt/.run") &&
	test_must_fail sh -c "/bin/echo lister.sealed ls >\"\$1\"" sh "$mnt/.run" 2>err &&
	cat err &&
	grep "No space left on device" err &&
	grep "dataset/big: No space left on device: the enclave'\''s store is full" fs.log &&
	test "$(cat "$mnt/.run")" = "error: dataset/big: No space left on device: the enclave'\''s store is full" &&
	test "$last" -ge 1 &&
	status_py "s[\"failed\"][\"count\"] == 1" &&
	status_py "s[\"failed\"][\"files\"] == [{\"path\": \"dataset/big\", \"errno\": 28, \"error\": \"No space left on device\"}]" &&
	status_py "\"dataset/big\" in s[\"last_error\"]" &&
	test -n "$(find "$SCRATCH/estate" -path "*/dataset/fits")" &&
	test -z "$(find "$SCRATCH/estate" -path "*/dataset/big")"
'

test_expect_success 'the file removed: the next .run starts a job that sees what fits' '
	rm "$mnt/dataset/big" &&
	echo "lister.sealed ls" >"$mnt/.run" &&
	id=$(cat "$mnt/.run") &&
	wait_job fs "$id" &&
	grep -x fits "$mnt/jobs/$id/log" &&
	! grep big "$mnt/jobs/$id/log" &&
	status_py "s[\"failed\"][\"count\"] == 0 and s[\"last_error\"] is None"
'

unmount_enclave fs "$mnt"
stop_daemon enclave
test_done
