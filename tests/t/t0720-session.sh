#!/bin/sh
# The attested session (doc/PROTOCOL.md): every connection is attested and
# encrypted. A host that completes it syncs; a second host, a relay that
# terminates TLS, a replayed document, a wrong PCR pin and another root are
# refused, and nothing is synced through them. The PCR0 the host sees is
# checked against openssl's SHA-384 of the enclave binary.
. "$top_srcdir/tests/lib.sh"

test_require tool openssl python3

# sha384 FILE: the hex SHA-384 of FILE, computed by openssl.
sha384() {
	openssl dgst -sha384 -r "$1" | cut -d" " -f1
}

ES=$(command -v enclave-sync)
TR="--trust-root $DEVROOT/root.pem"

mkdir -p host/dataset host2/dataset enc/output
echo data >host/dataset/a
echo other >host2/dataset/b
start_daemon enc enclave-sync --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" enc

test_expect_success 'a host that verifies the enclave syncs; its key is made 0600' '
	enclave-sync $TR --once -v --connect "unix:$SCRATCH/s.sock" host 2>log &&
	test "$(cat enc/dataset/a)" = data &&
	test "$(stat -c %a host/.efs-host-key)" = 600 &&
	grep "enclave attested: module dev-" log &&
	grep "root $DEVROOT/root.pem" log
'

test_expect_success 'the PCR0 it saw is the SHA-384 of the enclave binary (openssl)' '
	grep "PCR0 $(sha384 "$ES")" log
'

test_expect_success 'a second host (another key) is refused with a clear error, syncs nothing' '
	expect_exit 6 enclave-sync $TR --once --connect "unix:$SCRATCH/s.sock" host2 &&
	grep "the enclave refused this host: this enclave is bound to host key" err &&
	test ! -e enc/dataset/b
'

test_expect_success 'the bound host still syncs after the refusal' '
	echo more >host/dataset/c &&
	enclave-sync $TR --once --connect "unix:$SCRATCH/s.sock" host &&
	test "$(cat enc/dataset/c)" = more
'

test_expect_success 'a host pinning a wrong PCR0 is refused and syncs nothing' '
	echo pinned >host/dataset/d &&
	expect_exit 6 enclave-sync $TR --once --expect-pcr "0=$(printf "%096d" 0)" \
		--connect "unix:$SCRATCH/s.sock" host &&
	grep "attestation refused: PCR0" err &&
	test ! -e enc/dataset/d
'

test_expect_success 'a pin that lists the right PCR0 among others is accepted' '
	expect_exit 0 enclave-sync $TR --once \
		--expect-pcr "0=$(printf "%096d" 1),$(sha384 "$ES")" \
		--connect "unix:$SCRATCH/s.sock" host &&
	test "$(cat enc/dataset/d)" = pinned
'

test_expect_success 'a host trusting another root refuses the enclave' '
	enclave-seal dev-root -o other-root >/dev/null &&
	echo root >host/dataset/e &&
	expect_exit 6 enclave-sync --trust-root other-root/root.pem --once \
		--connect "unix:$SCRATCH/s.sock" host &&
	grep "attestation refused: certificate chain" err &&
	test ! -e enc/dataset/e
'

test_expect_success 'by default the host trusts only the AWS Nitro root' '
	expect_exit 6 enclave-sync --once --connect "unix:$SCRATCH/s.sock" host &&
	grep "attestation refused: certificate chain" err
'

start_daemon mitm sessgate mitm --listen "unix:$SCRATCH/m.sock" --connect "unix:$SCRATCH/s.sock"

test_expect_success 'a relay that terminates TLS with its own key is refused' '
	expect_exit 6 enclave-sync $TR --once --connect "unix:$SCRATCH/m.sock" host &&
	grep "the TLS key is not the attested key" err &&
	test ! -e enc/dataset/e
'

test_expect_success 'a replayed document (an old nonce) is refused' '
	sessgate record --connect "unix:$SCRATCH/s.sock" --out doc.cbor &&
	test -s doc.cbor
'
start_daemon replay sessgate replay --listen "unix:$SCRATCH/r.sock" --doc "$SCRATCH/doc.cbor"
test_expect_success 'a replayed document (an old nonce) is refused: the host says so' '
	expect_exit 6 enclave-sync $TR --once --connect "unix:$SCRATCH/r.sock" host &&
	grep "attestation refused: nonce" err
'

test_expect_success 'a peer that sends garbage instead of a hello costs the enclave nothing' '
	printf "GET / HTTP/1.0\r\n\r\n" | python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
try:
    s.recv(1)
except ConnectionResetError:
    pass" "$SCRATCH/s.sock" &&
	waitline -t 30 enc.log "session refused: no session hello" &&
	echo after >host/dataset/f &&
	enclave-sync $TR --once --connect "unix:$SCRATCH/s.sock" host &&
	test "$(cat enc/dataset/f)" = after
'

stop_daemon replay
stop_daemon mitm
stop_daemon enc

# The fingerprint as openssl computes it: SHA-256 of the DER public key.
fpr=$(openssl pkey -in host2/.efs-host-key -pubout -outform DER | openssl dgst -sha256 -r | cut -d" " -f1)
mkdir enc2
start_daemon enc2 enclave-sync --dev-root "$DEVROOT" --host-key "$fpr" --listen "unix:$SCRATCH/s2.sock" enc2

test_expect_success 'an enclave started with --host-key serves that host only' '
	expect_exit 6 enclave-sync $TR --once --connect "unix:$SCRATCH/s2.sock" host &&
	grep "refused this host" err &&
	enclave-sync $TR --once --connect "unix:$SCRATCH/s2.sock" host2 &&
	test "$(cat enc2/dataset/b)" = other
'
stop_daemon enc2

test_expect_success 'bad session options are usage errors' '
	expect_exit 2 enclave-sync --expect-pcr 0=zz --once --connect unix:x host &&
	grep "expect-pcr" err &&
	expect_exit 2 enclave-sync --expect-pcr 99=$(printf "%096d" 0) --once --connect unix:x host &&
	expect_exit 2 enclave-sync --dev-root d --connect unix:x host &&
	expect_exit 2 enclave-sync --trust-root x.pem --listen unix:x enc
'

test_done
