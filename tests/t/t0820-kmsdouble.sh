#!/bin/sh
# The KMS and IMDS double (tests/helpers/kmsdouble.py) that t0840 relies on,
# driven by botocore (tests/helpers/kmscall.py) and openssl, so that what it
# accepts and refuses is shown without the project's own client: SigV4
# checks, the principals' rights, attestation documents from the development
# NSM (nsmtool through the NSM shim), CiphertextForRecipient that openssl
# opens, its blob's binding to key and context, injected throttling, and
# credentials that expire.
. "$top_srcdir/tests/lib.sh"

test_require tool openssl python3 od

SHIM=$top_builddir/tests/helpers/nsmshim.so
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
EFS_NSM_SHIM_ROOT=$DEVROOT
export ASAN_OPTIONS EFS_NSM_SHIM_ROOT

ARN=arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000001
ARN2=arn:aws:kms:us-east-1:111122223333:key/aaaaaaaa-0000-0000-0000-000000000002
PCR0=$(openssl dgst -sha384 -r "$top_builddir/tests/helpers/nsmtool" | cut -d" " -f1)
SEALER=AKIASEALER0000000002:sealersecret0000000000000000000000000002
K=$SCRATCH/kms
mkdir -p "$K"
python3 "$top_srcdir/tests/helpers/kmsdouble.py" --state "$K" --key "$ARN=$PCR0" \
	--key "$ARN2=$(printf %096d 3)" --alias "alias/t=$ARN" --sealer "$SEALER" --imds \
	--dev-root "$DEVROOT/root.pem" >"$SCRATCH/kms.log" 2>&1 &
track_daemon kms $!
if ! waitline -t 60 "$K/ready" ready; then
	echo "Bail out! the KMS double did not start"
	sed 's/^/# /' "$SCRATCH/kms.log"
	exit 99
fi
EP=https://127.0.0.1:$(cat "$K/kms.port")/
IMDS=http://127.0.0.1:$(cat "$K/imds.port")

call() {
	python3 "$top_srcdir/tests/helpers/kmscall.py" --endpoint "$EP" --ca "$K/ca.pem" \
		--region us-east-1 "$@"
}
field() { # FILE NAME: a field of a JSON answer
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
unb64() { python3 -c 'import base64, sys; sys.stdout.buffer.write(base64.b64decode(sys.argv[1]))' "$1"; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k.pem 2>/dev/null
SPKI=$(openssl pkey -in k.pem -pubout -outform DER | od -An -v -tx1 | tr -d ' \n')

test_expect_success 'a sealer generates a data key; an alias resolves to the key ARN' '
	call --creds "$SEALER" generate alias/t package=p >gen.json &&
	test "$(field gen.json KeyId)" = "$ARN" &&
	test "$(unb64 "$(field gen.json Plaintext)" | wc -c)" = 32 &&
	field gen.json CiphertextBlob >blob
'

test_expect_success 'a wrong secret or an unknown key id is refused' '
	test_must_fail call --creds "${SEALER%%:*}:wrong" generate "$ARN" >out &&
	grep -q "InvalidSignatureException" out &&
	test_must_fail call --creds "AKIANOBODY:x" generate "$ARN" >out &&
	grep -q "UnrecognizedClientException" out
'

test_expect_success 'Decrypt without a Recipient is denied, to the instance role and to the sealer' '
	test_must_fail call --imds "$IMDS" decrypt "$(cat blob)" package=p >out &&
	grep -q "AccessDeniedException" out &&
	test_must_fail call --creds "$SEALER" decrypt "$(cat blob)" package=p >out &&
	grep -q "AccessDeniedException" out
'

test_expect_success 'with an attested Recipient openssl cms opens the key, in both CMS forms' '
	LD_PRELOAD=$SHIM nsmtool attest --public-key "$SPKI" doc.cbor &&
	for i in 1 2; do
		call --imds "$IMDS" --recipient doc.cbor decrypt "$(cat blob)" package=p >dec.json &&
		unb64 "$(field dec.json CiphertextForRecipient)" >cfr$i.der &&
		openssl cms -decrypt -binary -inform DER -in cfr$i.der -inkey k.pem \
			-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
			-keyopt rsa_mgf1_md:sha256 -out key$i.bin &&
		test "$(od -An -v -tx1 key$i.bin | tr -d " \n")" = \
			"$(unb64 "$(field gen.json Plaintext)" | od -An -v -tx1 | tr -d " \n")" || exit 1
	done &&
	! grep -q Plaintext dec.json &&
	openssl asn1parse -inform DER -in cfr1.der >a1 && openssl asn1parse -inform DER -in cfr2.der >a2 &&
	! cmp -s a1 a2
'

test_expect_success 'a key whose policy names another PCR0 is denied' '
	call --creds "$SEALER" generate "$ARN2" package=p >gen2.json &&
	test_must_fail call --imds "$IMDS" --recipient doc.cbor decrypt "$(field gen2.json CiphertextBlob)" \
		package=p >out &&
	grep -q "AccessDeniedException.*ImageSha384" out
'

test_expect_success 'a document from another root, or a key that is not RSA, is not valid' '
	enclave-seal dev-root -o other >/dev/null &&
	EFS_NSM_SHIM_ROOT=$SCRATCH/other LD_PRELOAD=$SHIM nsmtool attest --public-key "$SPKI" other.cbor &&
	test_must_fail call --imds "$IMDS" --recipient other.cbor decrypt "$(cat blob)" package=p >out &&
	grep -q "ValidationException.*trusted root" out &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec.pem 2>/dev/null &&
	LD_PRELOAD=$SHIM nsmtool attest --public-key \
		"$(openssl pkey -in ec.pem -pubout -outform DER | od -An -v -tx1 | tr -d " \n")" ec.cbor &&
	test_must_fail call --imds "$IMDS" --recipient ec.cbor decrypt "$(cat blob)" package=p >out &&
	grep -q "ValidationException.*RSA" out
'

test_expect_success 'the blob is bound to its context and key' '
	test_must_fail call --imds "$IMDS" --recipient doc.cbor decrypt "$(cat blob)" package=q >out &&
	grep -q "InvalidCiphertextException" out &&
	bad=$(python3 -c "import base64, sys; b = bytearray(base64.b64decode(sys.argv[1])); b[-1] ^= 1; print(base64.b64encode(bytes(b)).decode())" "$(cat blob)") &&
	test_must_fail call --imds "$IMDS" --recipient doc.cbor decrypt "$bad" package=p >out &&
	grep -q "InvalidCiphertextException" out
'

test_expect_success 'injected throttling is answered as many times as asked, then the call succeeds' '
	python3 -c "import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
rq = urllib.request.Request(sys.argv[2] + \"__double/fail\", method=\"POST\",
    data=b\"{\\\"op\\\":\\\"GenerateDataKey\\\",\\\"status\\\":400,\\\"type\\\":\\\"ThrottlingException\\\",\\\"count\\\":2}\")
urllib.request.urlopen(rq, context=ctx).read()" "$K/ca.pem" "$EP" &&
	test_must_fail call --creds "$SEALER" generate "$ARN" >out && grep -q ThrottlingException out &&
	test_must_fail call --creds "$SEALER" generate "$ARN" >out && grep -q ThrottlingException out &&
	call --creds "$SEALER" generate "$ARN" >out && grep -q CiphertextBlob out
'

test_expect_success 'IMDS needs its token; expired credentials are refused' '
	python3 -c "import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + \"/latest/meta-data/placement/region\")
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 401 else 1)
sys.exit(1)" "$IMDS" &&
	old=$(call --imds "$IMDS" creds) &&
	python3 -c "import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
urllib.request.urlopen(urllib.request.Request(sys.argv[2] + \"__double/expire\", method=\"POST\", data=b\"\"), context=ctx).read()" \
		"$K/ca.pem" "$EP" &&
	test_must_fail call --creds "$old" --recipient doc.cbor decrypt "$(cat blob)" package=p >out &&
	grep -q "ExpiredTokenException" out &&
	test "$(call --imds "$IMDS" creds)" != "$old"
'

stop_daemon kms
test_done
