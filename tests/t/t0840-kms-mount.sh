#!/bin/sh
# The kms key provider end to end, through the mount and a development
# enclave, against the KMS and IMDS double (tests/helpers/kmsdouble.py: it
# checks every SigV4 signature with botocore and every Recipient's
# attestation document against the development root, and answers
# CiphertextForRecipient made by `openssl cms -encrypt`):
#   - the owner seals with --kms-key (GenerateDataKey, the sealer's
#     credentials from the environment);
#   - the mount hands the instance role's credentials (IMDSv2) to the enclave,
#     whose key process calls Decrypt with a Recipient through a unix socket
#     standing for the parent's vsock-proxy (the development enclave has no
#     network), TLS and SNI to kms.us-east-1.amazonaws.com;
#   - the host's own Decrypt with the same credentials is refused;
#   - a key whose policy names another PCR0 fails the package at close()
#     with EKEYREJECTED and KMS's message;
#   - throttling is retried; credentials that expire mid-run are refreshed;
#     50 jobs on one package make one Decrypt call;
#   - the data key is in no host file and no log.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool openssl python3

ACCOUNT=111122223333
ARN1=arn:aws:kms:us-east-1:$ACCOUNT:key/11111111-2222-3333-4444-555555555555
ARN2=arn:aws:kms:us-east-1:$ACCOUNT:key/99999999-8888-7777-6666-555555555555
PCR0=$(openssl dgst -sha384 -r "$(command -v enclaved)" | cut -d" " -f1)
OTHER=$(printf "%096d" 5)
SEALER=AKIASEALER0000000001:sealersecret0000000000000000000000000001
LIFETIME=20

K=$SCRATCH/kms
mkdir -p "$K"
python3 "$top_srcdir/tests/helpers/kmsdouble.py" --state "$K" --region us-east-1 \
	--key "$ARN1=$PCR0" --key "$ARN2=$OTHER" --alias "alias/enclave-fs=$ARN1" \
	--sealer "$SEALER" --imds --imds-lifetime "$LIFETIME" --dev-root "$DEVROOT/root.pem" \
	--unix "$K/kms.sock" >"$SCRATCH/kms.log" 2>&1 &
track_daemon kms $!
if ! waitline -t 60 "$K/ready" ready; then
	echo "Bail out! the KMS double did not start"
	sed 's/^/# /' "$SCRATCH/kms.log"
	exit 99
fi
KMS=https://127.0.0.1:$(cat "$K/kms.port")/
export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(cat "$K/imds.port")

# seal NAME KEY OUT: an app NAME whose entry prints its name, sealed with
# the sealer's credentials.
seal() {
	mkdir -p "app-$1" &&
	printf '{"name": "%s", "version": "1", "entries": {"hi": {"argv": ["echo", "%s says hi"]}}}\n' \
		"$1" "$1" >"app-$1/enclave.json" &&
	AWS_ACCESS_KEY_ID=${SEALER%%:*} AWS_SECRET_ACCESS_KEY=${SEALER#*:} AWS_REGION=us-east-1 \
		enclave-seal seal --kms-key "$2" --context team=research --kms-endpoint "$KMS" \
		--kms-ca "$K/ca.pem" -o "$3" "app-$1"
}

# double POST PATH JSON: a control request to the double.
double() {
	python3 -c 'import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
rq = urllib.request.Request(sys.argv[2], data=sys.argv[3].encode(), method="POST")
urllib.request.urlopen(rq, context=ctx).read()' "$K/ca.pem" "${KMS}__double/$1" "$2"
}

# header FILE EXPR: prints EXPR of the package header h (Python).
header() {
	python3 -c 'import json, struct, sys
d = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", d[8:12])[0]
h = json.loads(d[12:12 + n])
print(eval(sys.argv[2]))' "$1" "$2"
}

# decrypts OK [KEY]: the number of Decrypt requests the double answered
# with 200 (for KEY).
decrypts() {
	python3 -c 'import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("op") == "Decrypt" and r.get("status") == 200 and (len(sys.argv) < 3 or r.get("key") == sys.argv[2]):
        n += 1
print(n)' "$K/requests.log" "$@"
}

test_expect_success 'enclave-seal --kms-key: GenerateDataKey, the header keeps the key, blob and context' '
	seal hello "alias/enclave-fs" hello.sealed 2>seal.err &&
	grep -q "data key from KMS key $ARN1" seal.err &&
	test "$(header hello.sealed "h[\"key\"][\"provider\"]")" = kms &&
	test "$(header hello.sealed "h[\"key\"][\"id\"]")" = "$ARN1" &&
	test "$(header hello.sealed "json.dumps(h[\"key\"][\"context\"], sort_keys=True)")" = \
		"{\"package\": \"hello\", \"team\": \"research\"}" &&
	test "$(header hello.sealed "len(h[\"key\"][\"wrapped\"]) > 40")" = True
'

test_expect_success 'a wrong sealer secret: KMS refuses the signature, no package is left' '
	mkdir -p app-x && cp app-hello/enclave.json app-x/ &&
	AWS_ACCESS_KEY_ID=${SEALER%%:*} AWS_SECRET_ACCESS_KEY=wrong \
		test_must_fail enclave-seal seal --kms-key "$ARN1" --kms-endpoint "$KMS" \
		--kms-ca "$K/ca.pem" -o x.sealed app-x 2>err &&
	grep -q InvalidSignatureException err &&
	! ls x.sealed* 2>/dev/null
'

# The mount's development enclave attests with the root the double trusts.
mkdir -p "$SCRATCH/dev.cache/.enclave"
cp -r "$DEVROOT" "$SCRATCH/dev.cache/.enclave/dev-root"

mnt=$SCRATCH/mnt
mount_enclave dev "$mnt" --aws-credentials imds --kms-proxy "unix:$K/kms.sock" --kms-ca "$K/ca.pem"

test_expect_success 'the mount hands the instance credentials to the enclave' '
	waitline -t 30 "$SCRATCH/dev.log" "AWS credentials sent to the enclave" &&
	python3 -c "import json, sys
s = json.load(open(sys.argv[1]))
assert s[\"aws_credentials\"][\"source\"] == \"imds\", s
assert s[\"aws_credentials\"][\"region\"] == \"us-east-1\", s
assert s[\"enclave_status\"][\"keys\"][\"providers\"] == [\"kms\"], s
print(s[\"aws_credentials\"][\"expires\"])" "$mnt/.status" >first.expires &&
	test "$(cat first.expires)" -gt "$(date +%s)"
'

test_expect_success 'a kms-sealed package opens in the enclave and its job runs' '
	cp hello.sealed "$mnt/encrypted/" &&
	echo "hello.sealed hi" >"$mnt/.run" &&
	wait_job dev 1 &&
	test "$(cat "$mnt/jobs/1/exit")" = 0 &&
	grep -q "hello says hi" "$mnt/jobs/1/log" &&
	test "$(decrypts "$ARN1")" = 1
'

test_expect_success 'the host itself, with the same instance credentials, gets AccessDenied' '
	blob=$(header hello.sealed "h[\"key\"][\"wrapped\"]") &&
	test_must_fail python3 "$top_srcdir/tests/helpers/kmscall.py" --endpoint "$KMS" \
		--ca "$K/ca.pem" --region us-east-1 --imds "$AWS_EC2_METADATA_SERVICE_ENDPOINT" \
		decrypt "$blob" package=hello team=research >out 2>&1 &&
	grep -q "AccessDeniedException" out
'

test_expect_success 'a key whose policy names another PCR0: close() fails with EKEYREJECTED' '
	seal other "$ARN2" other.sealed 2>/dev/null &&
	test_must_fail cp other.sealed "$mnt/encrypted/" 2>err &&
	grep -q "Key was rejected by service" err &&
	python3 -c "import json, sys
s = json.load(open(sys.argv[1]))
p = [p for p in s[\"packages\"] if p[\"name\"] == \"other.sealed\"][0]
assert p[\"state\"] == \"failed\", p
assert \"AccessDeniedException\" in p[\"error\"] and \"ImageSha384\" in p[\"error\"], p" "$mnt/.status"
'

test_expect_success 'KMS throttling is retried with backoff' '
	seal busy "$ARN1" busy.sealed 2>/dev/null &&
	double fail "{\"op\":\"Decrypt\",\"status\":400,\"type\":\"ThrottlingException\",\"count\":2}" &&
	before=$(decrypts "$ARN1") &&
	cp busy.sealed "$mnt/encrypted/" &&
	test "$(decrypts "$ARN1")" = $((before + 1)) &&
	test "$(grep -c ThrottlingException "$K/requests.log")" = 2
'

test_expect_success '50 jobs on one package make no further Decrypt call' '
	before=$(decrypts) &&
	for i in $(seq 50); do echo "hello.sealed hi" >"$mnt/.run" || exit 1; done &&
	wait_job dev 51 &&
	test "$(cat "$mnt/jobs/51/exit")" = 0 &&
	test "$(decrypts)" = "$before"
'

test_expect_success 'credentials that expire mid-run are refreshed before they do' '
	python3 -c "import sys, time; time.sleep(max(0, int(sys.argv[1]) + 1 - time.time()))" \
		"$(cat first.expires)" &&
	seal late "$ARN1" late.sealed 2>/dev/null &&
	cp late.sealed "$mnt/encrypted/" &&
	echo "late.sealed hi" >"$mnt/.run" &&
	wait_job dev 52 &&
	grep -q "late says hi" "$mnt/jobs/52/log" &&
	test "$(grep -c "AWS credentials sent to the enclave" "$SCRATCH/dev.log")" -ge 2 &&
	python3 -c "import json, sys
ok = [json.loads(l) for l in open(sys.argv[1])]
ok = [r[\"akid\"] for r in ok if r.get(\"op\") == \"Decrypt\" and r.get(\"status\") == 200]
assert ok[0] != ok[-1], ok" "$K/requests.log"
'

test_expect_success 'no data key reaches a host file or log' '
	test -s "$K/datakeys.log" &&
	while read -r arn key; do
		! grep -rqi "$key" "$SCRATCH/dev.cache" "$SCRATCH/dev.log" &&
		b64=$(printf %s "$key" | python3 -c "import base64, sys; print(base64.b64encode(bytes.fromhex(sys.stdin.read())).decode())") &&
		! grep -rqF "$b64" "$SCRATCH/dev.cache" "$SCRATCH/dev.log" || exit 1
	done <"$K/datakeys.log"
'

unmount_enclave dev "$mnt"

# The same through enclave-sync and a standalone enclaved: its key process
# reaches KMS through --kms-proxy, the host sends IMDS credentials.
start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/e.sock" \
	--state "$SCRATCH/estate" --kms-proxy "unix:$K/kms.sock" --kms-ca "$K/ca.pem" -v

test_expect_success 'enclave-sync without credentials: the package fails with ENOKEY, saying why' '
	mkdir -p host/encrypted &&
	cp hello.sealed host/encrypted/ &&
	expect_exit 125 enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
		--connect "unix:$SCRATCH/e.sock" --aws-credentials none --run "hello.sealed hi" \
		host >out 2>err &&
	grep -q "no AWS credentials yet" err
'

test_expect_success 'enclave-sync --run with IMDS credentials: the package opens, its job runs' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" \
		--connect "unix:$SCRATCH/e.sock" --aws-credentials imds --run "hello.sealed hi" \
		host >out 2>err &&
	grep -q "hello says hi" out &&
	grep -q "AWS credentials ASIA" "$SCRATCH/enclave.log" &&
	grep -q "opening again with the new credentials" "$SCRATCH/enclave.log"
'

stop_daemon enclave
stop_daemon kms
test_done
