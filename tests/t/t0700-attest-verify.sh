#!/bin/sh
# enclave-seal attest verify on the real attestation documents
# (tests/fixtures/nitro/): verified at their own time and refused three hours
# later, debug only when allowed, nonce and PCR pins, usage errors. What it
# prints is compared with python3-cbor2's reading of the same bytes, and its
# verdict on the chain with openssl verify -attime on the certificates
# python3-cbor2 takes out of the document.
. "$top_srcdir/tests/lib.sh"

test_require tool openssl python3
python3 -c "import cbor2" 2>/dev/null || skip_all "python3-cbor2"

FX=$top_srcdir/tests/fixtures/nitro
B=$FX/blocky-2024-09-07.cbor
BD=$FX/blocky-debug-2024-09-07.cbor
EV=$FX/evervault-debug-2023-09-18.cbor
AD="python3 $top_srcdir/tests/helpers/attestdoc.py"
H3=10800000 # three hours, in ms

ts() {
	$AD ts "$1"
}

test_expect_success 'a real document verifies at its own time; the JSON is the document' '
	enclave-seal attest verify --at "$(ts "$B")" "$B" >out 2>err &&
	test ! -s err &&
	$AD check "$B" out &&
	python3 -c "
import json, sys
j = json.load(open(\"out\"))
assert j[\"verified\"] is True and j[\"debug\"] is False, j
assert len(j[\"chain\"]) == 5, j[\"chain\"]
assert j[\"chain\"][-1] == \"CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US\", j[\"chain\"]
assert j[\"module_id\"] in j[\"chain\"][0]
"
'

test_expect_success 'the debug documents verify with --allow-debug, null fields as null' '
	for doc in "$BD" "$EV"; do
		enclave-seal attest verify --allow-debug --at "$(ts "$doc")" "$doc" >out &&
		$AD check "$doc" out &&
		grep -q "\"debug\":true" out || exit 1
	done &&
	test "$($AD field "$EV" public_key)" = null &&
	grep -q "\"public_key\":null" out
'

test_expect_success 'three hours later every document is refused: the leaf expired' '
	for doc in "$B" "$BD" "$EV"; do
		expect_exit 1 enclave-seal attest verify --allow-debug \
			--at "$(($(ts "$doc") + H3))" "$doc" &&
		grep -q "^refused: certificate chain: certificate has expired" err &&
		$AD check "$doc" out &&
		grep -q "\"verified\":false" out || exit 1
	done
'

test_expect_success 'today (the default --at now) the document is refused' '
	expect_exit 1 enclave-seal attest verify "$B" &&
	grep -q "^refused: certificate chain: certificate has expired" err &&
	expect_exit 1 enclave-seal attest verify --at now "$B" &&
	grep -q "^refused: certificate chain: certificate has expired" err
'

test_expect_success 'a debug document is refused without --allow-debug' '
	expect_exit 1 enclave-seal attest verify --at "$(ts "$BD")" "$BD" &&
	grep -q "^refused: debug document (PCR0-2 are zero)$" err &&
	$AD check "$BD" out
'

test_expect_success '- reads the document from stdin' '
	enclave-seal attest verify --at "$(ts "$B")" - <"$B" >out &&
	$AD check "$B" out
'

test_expect_success 'PCR pins: the right value, a wrong one, one of two' '
	pcr0=$($AD pcr "$B" 0) &&
	test ${#pcr0} -eq 96 &&
	enclave-seal attest verify --at "$(ts "$B")" "$B" >out &&
	grep -q "\"0\":\"$pcr0\"" out &&
	wrong=$(printf "%096d" 0 | tr 0 a) &&
	enclave-seal attest verify --at "$(ts "$B")" --pcr "0=$pcr0" "$B" >/dev/null &&
	expect_exit 1 enclave-seal attest verify --at "$(ts "$B")" --pcr "0=$wrong" "$B" &&
	grep -q "^refused: PCR0 is $pcr0, expected $wrong$" err &&
	enclave-seal attest verify --at "$(ts "$B")" --pcr "0=$wrong,$pcr0" "$B" >/dev/null &&
	enclave-seal attest verify --at "$(ts "$B")" --pcr "0=$wrong" --pcr "0=$pcr0" "$B" >/dev/null
'

test_expect_success 'nonce: the document'"'"'s own passes, another is refused' '
	nonce=$($AD field "$B" nonce) &&
	test ${#nonce} -eq 2048 &&
	enclave-seal attest verify --at "$(ts "$B")" --nonce "$nonce" "$B" >/dev/null &&
	expect_exit 1 enclave-seal attest verify --at "$(ts "$B")" --nonce 00112233 "$B" &&
	grep -q "^refused: nonce" err
'

test_expect_success 'usage errors exit 2 with the reason and a pointer to --help on stderr' '
	good=$(printf "%096d" 0) &&
	for args in "" "--pcr 0=zz $B" "--pcr 32=$good $B" "--pcr x $B" "--pcr 0=${good}0 $B" \
		"--pcr 0=$good, $B" "--at yesterday $B" "--at -1 $B" "--nonce abc $B" \
		"--nonce xy $B" "--no-such-option $B" "$B $B"; do
		# shellcheck disable=SC2086
		expect_exit 2 enclave-seal attest verify $args &&
		grep -q "^enclave-seal attest verify: " err &&
		grep -q "^Try '\''enclave-seal attest verify --help'\''.$" err &&
		test ! -s out || { echo "args: $args" && cat err; exit 1; }
	done &&
	expect_exit 2 enclave-seal attest &&
	expect_exit 2 enclave-seal attest sign "$B"
'

test_expect_success 'not a document: missing, empty, oversized, garbage' '
	expect_exit 1 enclave-seal attest verify --at 0 nonexistent.cbor &&
	grep -q "nonexistent.cbor: No such file or directory" err &&
	: >empty &&
	expect_exit 1 enclave-seal attest verify empty &&
	grep -q "^refused: the document is 0 bytes" err &&
	head -c 20000 /dev/zero >big &&
	expect_exit 1 enclave-seal attest verify big &&
	grep -q "^refused: the document is 16385 bytes" err &&
	head -c 3000 "$B" >cut &&
	expect_exit 1 enclave-seal attest verify cut &&
	grep -q "^refused: the document is not well-formed" err &&
	test ! -s out
'

test_expect_success '--trust-root: the AWS root as a PEM verifies; another root is refused' '
	enclave-seal attest verify --trust-root "$FX/aws-nitro-root-g1.pem" --at "$(ts "$B")" \
		"$B" >/dev/null &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout other.key \
		-subj /CN=aws.nitro-enclaves -days 30000 -out other.pem 2>/dev/null &&
	expect_exit 1 enclave-seal attest verify --trust-root other.pem --at "$(ts "$B")" "$B" &&
	grep -q "^refused: certificate chain: " err &&
	expect_exit 1 enclave-seal attest verify --trust-root "$FX/README.md" --at "$(ts "$B")" "$B" &&
	grep -q "not a PEM certificate" err
'

test_expect_success 'openssl verify -attime agrees on each chain, at its time and +3 h' '
	for doc in "$B" "$BD" "$EV"; do
		rm -rf pem && mkdir pem && $AD pem "$doc" pem &&
		openssl x509 -in pem/root.pem -outform DER -out bundled.der &&
		openssl x509 -in "$FX/aws-nitro-root-g1.pem" -outform DER -out pinned.der &&
		cmp bundled.der pinned.der &&
		t=$(($(ts "$doc") / 1000)) &&
		openssl verify -attime "$t" -CAfile "$FX/aws-nitro-root-g1.pem" \
			-untrusted pem/chain.pem pem/leaf.pem >ossl 2>&1 &&
		enclave-seal attest verify --allow-debug --at "$(ts "$doc")" "$doc" >/dev/null &&
		! openssl verify -attime $((t + 10800)) -CAfile "$FX/aws-nitro-root-g1.pem" \
			-untrusted pem/chain.pem pem/leaf.pem >ossl 2>&1 &&
		grep -q "certificate has expired" ossl &&
		expect_exit 1 enclave-seal attest verify --allow-debug --at "$(($(ts "$doc") + H3))" \
			"$doc" || exit 1
	done
'

test_done
