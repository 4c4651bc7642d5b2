#!/bin/sh
# CiphertextForRecipient (kms/cms.c) against the independent tool: openssl
# cms -encrypt makes envelopes of KMS's structure (RSA-OAEP with SHA-256 and
# MGF1-SHA-256, AES-256-CBC) in both encryptedContent forms, and cmstool
# opens them to the same bytes (which openssl cms -decrypt also gets). A
# wrong recipient, an OAEP label, SHA-1 OAEP, truncations and other content
# ciphers are refused. The KMS samples parse to the values in their notes.
. "$top_srcdir/tests/lib.sh"

test_require tool openssl od

FX=$top_srcdir/tests/fixtures/cms
OAEP="-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256"

# hexof FILE: FILE's bytes as one line of lower-case hex.
hexof() {
	od -An -v -tx1 "$1" | tr -d " \n"
}

# seal IN OUT [openssl cms options]: an envelope of IN for cert.pem.
seal() {
	in=$1 out=$2
	shift 2
	# shellcheck disable=SC2086 # OAEP is a list of options
	openssl cms -encrypt -binary -recip cert.pem -outform DER -in "$in" -out "$out" "$@"
}

test_expect_success 'setup: two RSA-2048 keys, a certificate, a data key' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
		-subj /CN=enclave -days 1 2>/dev/null &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	head -c 32 /dev/urandom >dk.bin &&
	head -c 1000 /dev/urandom >long.bin &&
	test "$(wc -c <dk.bin)" = 32
'

test_expect_success 'the KMS samples parse to the values in their notes' '
	cmstool parse "$FX/input_ber.der" >out &&
	grep -qx "{\"rid_is_ski\":true,\"rid_len\":32,\"ek_len\":256,\"iv\":\"688c6d5f7f31b0fecedf09f2e7c99ac9\",\"ct_len\":48}" out &&
	cmstool parse "$FX/input_ber_w_ctx.der" >out &&
	grep -qx "{\"rid_is_ski\":true,\"rid_len\":32,\"ek_len\":256,\"iv\":\"e66c1172aee0f2f7be34e3afc6b0e4fe\",\"ct_len\":16}" out
'

test_expect_success 'without -stream: [0] primitive; cmstool opens it to the data key' '
	seal dk.bin prim.der -aes-256-cbc -keyid $OAEP &&
	openssl asn1parse -inform DER -in prim.der >asn &&
	grep -q "prim: cont \[ 0 \]" asn &&
	! grep -q "l=inf  *cons: cont \[ 0 \]" asn &&
	cmstool parse prim.der >out &&
	grep -q "\"rid_is_ski\":true,\"rid_len\":20,\"ek_len\":256," out &&
	grep -q "\"ct_len\":48}" out &&
	cmstool decrypt key.pem prim.der >got &&
	test "$(cat got)" = "$(hexof dk.bin)" &&
	openssl cms -decrypt -binary -inform DER -in prim.der -inkey key.pem -out ref.bin &&
	test "$(hexof ref.bin)" = "$(cat got)"
'

test_expect_success 'with -stream: [0] constructed indefinite; the same bytes' '
	seal dk.bin strm.der -stream -aes-256-cbc -keyid $OAEP &&
	openssl asn1parse -inform DER -in strm.der >asn &&
	grep -q "l=inf  *cons: cont \[ 0 \]" asn &&
	grep -q "prim: *EOC" asn &&
	test "$(grep -A3 "l=inf  *cons: cont \[ 0 \]" asn | grep -c "prim: OCTET STRING")" -ge 1 &&
	cmstool parse strm.der >out &&
	grep -q "\"ct_len\":48}" out &&
	cmstool decrypt key.pem strm.der >got &&
	test "$(cat got)" = "$(hexof dk.bin)"
'

test_expect_success 'issuerAndSerialNumber as rid (no -keyid) opens too' '
	seal dk.bin ias.der -aes-256-cbc $OAEP &&
	cmstool parse ias.der >out &&
	grep -q "\"rid_is_ski\":false" out &&
	cmstool decrypt key.pem ias.der >got &&
	test "$(cat got)" = "$(hexof dk.bin)"
'

test_expect_success 'content longer than 32 bytes decrypts, in both forms' '
	seal long.bin long-prim.der -aes-256-cbc -keyid $OAEP &&
	seal long.bin long-strm.der -stream -aes-256-cbc -keyid $OAEP &&
	for f in long-prim.der long-strm.der; do
		cmstool decrypt key.pem $f >got &&
		test "$(cat got)" = "$(hexof long.bin)" || exit 1
	done &&
	cmstool parse long-strm.der >out &&
	grep -q "\"ct_len\":1008}" out
'

test_expect_success 'content of several kilobytes: several OCTET STRING pieces' '
	head -c 5000 /dev/urandom >big.bin &&
	seal big.bin big.der -stream -aes-256-cbc -keyid $OAEP &&
	test "$(openssl asn1parse -inform DER -in big.der | grep -c "prim: OCTET STRING")" -ge 4 &&
	cmstool decrypt key.pem big.der >got &&
	test "$(cat got)" = "$(hexof big.bin)"
'

test_expect_success 'another RSA key (a wrong recipient) is rejected' '
	for f in prim.der strm.der; do
		expect_exit 1 cmstool decrypt other.pem $f &&
		grep -q "^refused: rejected: RSA-OAEP" err &&
		test ! -s out || exit 1
	done
'

test_expect_success 'an OAEP label (pSource 0102) is refused' '
	seal dk.bin label.der -aes-256-cbc -keyid $OAEP -keyopt rsa_oaep_label:0102 &&
	openssl asn1parse -inform DER -in label.der | grep -q pSpecified &&
	expect_exit 1 cmstool decrypt key.pem label.der &&
	grep -q "^refused: keyEncryptionAlgorithm: OAEP label is not empty" err &&
	test ! -s out
'

test_expect_success 'SHA-1 OAEP is refused by parse' '
	seal dk.bin sha1.der -aes-256-cbc -keyid -keyopt rsa_padding_mode:oaep \
		-keyopt rsa_oaep_md:sha1 &&
	openssl cms -decrypt -binary -inform DER -in sha1.der -inkey key.pem -out ref.bin &&
	test "$(hexof ref.bin)" = "$(hexof dk.bin)" &&
	expect_exit 1 cmstool parse sha1.der &&
	grep -q "SHA-1" err &&
	expect_exit 1 cmstool decrypt key.pem sha1.der &&
	grep -q "SHA-1" err
'

test_expect_success '3DES and aes-128-cbc content are refused' '
	seal dk.bin des3.der -des3 -keyid $OAEP &&
	seal dk.bin aes128.der -aes-128-cbc -keyid $OAEP &&
	for f in des3.der aes128.der; do
		expect_exit 1 cmstool parse $f &&
		grep -q "contentEncryptionAlgorithm: not aes-256-cbc" err &&
		expect_exit 1 cmstool decrypt key.pem $f &&
		test ! -s out || exit 1
	done
'

test_expect_success 'every truncation of both forms is refused' '
	for f in prim.der strm.der; do
		n=$(wc -c <$f) &&
		i=0 && while [ $i -lt "$n" ]; do
			head -c $i $f >cut &&
			expect_exit 1 cmstool parse cut &&
			grep -q "^refused: " err &&
			i=$((i + 1)) || exit 1
		done || exit 1
	done
'

test_expect_success 'trailing bytes after a good envelope are refused' '
	cat prim.der >trail.der &&
	printf "\000\000" >>trail.der &&
	expect_exit 1 cmstool decrypt key.pem trail.der &&
	grep -q "trailing bytes" err
'

test_done
