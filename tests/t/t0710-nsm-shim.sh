#!/bin/sh
# The NSM client's real ioctl path, end to end: tests/helpers/nsmshim.so
# (LD_PRELOAD) gives a program a /dev/nsm answered by the development NSM;
# nsmtool runs Attestation, DescribePCR, ExtendPCR and LockPCR through
# open("/dev/nsm") and ioctl(NSM_IOCTL_RAW), and enclaved without --dev (the
# production path: /dev/nsm) attests to a host that verifies it. Values are
# checked against openssl.
. "$top_srcdir/tests/lib.sh"

test_require tool openssl od

SHIM=$top_builddir/tests/helpers/nsmshim.so
# A sanitized program loads its runtime first; the shim is not sanitized.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
EFS_NSM_SHIM_ROOT=$DEVROOT
export ASAN_OPTIONS EFS_NSM_SHIM_ROOT

sha384() {
	openssl dgst -sha384 -r "$1" | cut -d" " -f1
}

test_expect_success 'without /dev/nsm the client says so' '
	test ! -e /dev/nsm &&
	expect_exit 1 nsmtool describe-pcr 16 &&
	grep "cannot open /dev/nsm" err
'

test_expect_success 'DescribePCR through the ioctl: PCR16 is zero and unlocked' '
	LD_PRELOAD=$SHIM nsmtool describe-pcr 16 >out &&
	grep "^locked=0$" out &&
	grep "^data=$(printf "%096d" 0)$" out
'

test_expect_success 'ExtendPCR through the ioctl gives SHA-384(PCR || data) (openssl)' '
	LD_PRELOAD=$SHIM nsmtool extend-pcr 16 616263 >out &&
	{ head -c 48 /dev/zero && printf abc; } >ext.bin &&
	grep "^data=$(sha384 ext.bin)$" out
'

test_expect_success 'LockPCR through the ioctl; a PCR locked at boot refuses ExtendPCR' '
	LD_PRELOAD=$SHIM nsmtool lock-pcr 16 &&
	expect_exit 1 env LD_PRELOAD=$SHIM nsmtool extend-pcr 0 61 &&
	grep "ReadOnlyIndex" err
'

test_expect_success 'Attestation through the ioctl: a document the verifier accepts' '
	LD_PRELOAD=$SHIM nsmtool attest --nonce 0a0b0c doc.cbor &&
	test "$(od -An -tx1 -N1 doc.cbor | tr -d " ")" = 84 &&
	enclave-seal attest verify --trust-root "$DEVROOT/root.pem" --nonce 0a0b0c doc.cbor >doc.json &&
	grep "\"verified\": *true" doc.json &&
	grep "\"0\": *\"$(sha384 "$top_builddir/tests/helpers/nsmtool")\"" doc.json
'

mkdir -p host/dataset
echo through-the-device >host/dataset/a
# The production path: no --dev, so enclaved opens /dev/nsm.
start_daemon enclave env LD_PRELOAD="$SHIM" enclaved --listen "unix:$SCRATCH/s.sock" \
	--state "$SCRATCH/state" -v

test_expect_success 'enclaved on /dev/nsm attests to a host that verifies it, and syncs' '
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" -v --once \
		--connect "unix:$SCRATCH/s.sock" host 2>sync.log &&
	grep "PCR0 $(sha384 "$(command -v enclaved)")" sync.log &&
	test "$(cat state/dataset/a)" = through-the-device &&
	grep "isolation nitro" enclave.log
'

stop_daemon enclave
test_done
