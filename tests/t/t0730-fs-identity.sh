#!/bin/sh
# What the mount's .status says of the enclave's identity: the development
# enclave is verified through its own root; PCR0 is the SHA-384 of enclaved
# and PCR16 the chain of ready packages' manifests (both recomputed here with
# openssl and Python's hashlib); a wrong pin refuses the enclave, shows both
# values, syncs nothing and fails .run with EIO.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool openssl python3

sha384() {
	openssl dgst -sha384 -r "$1" | cut -d" " -f1
}

# status_py MNT EXPR: true if the python expression EXPR holds for MNT's
# .status (parsed as s); prints .status when it does not.
status_py() {
	python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
if not eval(sys.argv[2]):
    json.dump(s, sys.stderr, indent=1)
    sys.exit(1)' "$1/.status" "$2"
}

ENCLAVED=$(command -v enclaved)
PCR0=$(sha384 "$ENCLAVED")
enclave-seal keygen -o k.kek >/dev/null
mkdir app
echo '{"name": "hello", "version": "1", "entries": {"hi": {"argv": ["echo", "hi"]}}}' >app/enclave.json
enclave-seal seal --kek k.kek -o hello.sealed app 2>/dev/null

mnt=$SCRATCH/mnt
mount_enclave dev "$mnt" --kek k.kek

test_expect_success 'the development enclave is verified through its own root' '
	waitline -t 60 dev.log "enclave connected" &&
	status_py "$mnt" "s[\"identity\"][\"verified\"] is True" &&
	status_py "$mnt" "s[\"identity\"][\"root\"] == \"development\"" &&
	status_py "$mnt" "s[\"identity\"][\"debug\"] is False" &&
	status_py "$mnt" "s[\"identity\"][\"module_id\"].startswith(\"dev-\")" &&
	status_py "$mnt" "s[\"identity\"][\"error\"] is None" &&
	status_py "$mnt" "sorted(s[\"identity\"][\"pcrs\"]) == [\"0\", \"1\", \"16\", \"2\", \"3\", \"4\", \"8\"]"
'

test_expect_success '.status PCR0 is the SHA-384 of enclaved (openssl)' '
	status_py "$mnt" "s[\"identity\"][\"pcrs\"][\"0\"] == \"$PCR0\""
'

test_expect_success '.status names the host key by its SHA-256 (openssl)' '
	fpr=$(openssl pkey -in "$SCRATCH/dev.cache/.host-key" -pubout -outform DER |
		openssl dgst -sha256 -r | cut -d" " -f1) &&
	status_py "$mnt" "s[\"identity\"][\"host_key\"] == \"$fpr\"" &&
	test "$(stat -c %a "$SCRATCH/dev.cache/.host-key")" = 600
'

test_expect_success 'a ready package extends PCR16 with its manifest (hashlib)' '
	cp hello.sealed "$mnt/encrypted/" &&
	want=$(python3 -c "import hashlib, sys
m = hashlib.sha384(open(sys.argv[1], \"rb\").read()).digest()
print(hashlib.sha384(bytes(48) + m).hexdigest())" app/enclave.json) &&
	status_py "$mnt" "s[\"enclave_status\"][\"app_pcr\"] == {\"index\": 16, \"value\": \"$want\"}"
'

unmount_enclave dev "$mnt"

start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
	--state "$SCRATCH/estate" --kek k.kek -v
wrong=$(printf "%096d" 7)
mount_enclave pinned "$mnt" --ready mounted --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
	--expect-pcr "0=$wrong" --connect "unix:$SCRATCH/e.sock"

test_expect_success 'a wrong PCR0 pin refuses the enclave; .status shows both values' '
	waitline -t 60 pinned.log "refused: attestation refused: PCR0" &&
	status_py "$mnt" "s[\"identity\"][\"verified\"] is False" &&
	status_py "$mnt" "s[\"identity\"][\"pins_matched\"] is False" &&
	status_py "$mnt" "s[\"identity\"][\"pcrs\"][\"0\"] == \"$PCR0\"" &&
	status_py "$mnt" "s[\"identity\"][\"pins\"] == [{\"pcr\": 0, \"values\": [\"$wrong\"]}]" &&
	status_py "$mnt" "\"PCR0\" in s[\"identity\"][\"error\"]" &&
	grep "$PCR0" pinned.log
'

test_expect_success 'the refused enclave gets nothing, and .run fails with EIO' '
	echo secret >"$mnt/dataset/x" &&
	test_must_fail sh -c "echo \"hello.sealed hi\" >\"$mnt/.run\"" 2>run.err &&
	grep "I/O error\|Input/output error" run.err &&
	test ! -e "$SCRATCH/estate/dataset/x" &&
	grep "^error: the enclave was refused: .*PCR0" "$mnt/.run" &&
	status_py "$mnt" "s[\"connection\"] == \"refused\"" &&
	status_py "$mnt" "s[\"link_error\"].startswith(\"the enclave was refused: \")"
'

unmount_enclave pinned "$mnt"

test_expect_success 'without --ready mounted, a refused enclave ends the mount at once: exit 1, the reason' '
	mkdir -p m2 &&
	expect_exit 1 enclave-fs --cache "$SCRATCH/pinned2.cache" --trust-root "$DEVROOT/root.pem" \
		--key "$DEVROOT/host.key" --expect-pcr "0=$wrong" --connect "unix:$SCRATCH/e.sock" m2 &&
	grep "^enclave-fs: error: the enclave was refused: .*PCR0" err &&
	! grep -q " $SCRATCH/m2 " /proc/mounts
'

mount_enclave ok "$mnt" --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
	-o "expect_pcr0=$wrong:$PCR0" --connect "unix:$SCRATCH/e.sock" --cache "$SCRATCH/pinned.cache"

test_expect_success '-o expect_pcr0=A:B accepts the enclave when one value matches; it syncs' '
	waitline -t 60 ok.log "enclave connected" &&
	status_py "$mnt" "s[\"identity\"][\"verified\"] is True" &&
	status_py "$mnt" "s[\"identity\"][\"pins_matched\"] is True" &&
	cp hello.sealed "$mnt/encrypted/" &&
	echo "hello.sealed hi" >"$mnt/.run" &&
	test "$(cat "$SCRATCH/estate/dataset/x")" = secret
'
unmount_enclave ok "$mnt"
stop_daemon enclave
test_done
