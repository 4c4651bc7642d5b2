#!/bin/sh
# KMS benchmark (make bench): in one run, through the mount and a development
# enclave, against the KMS double (tests/helpers/kmsdouble.py, HTTPS on a
# unix socket standing for the parent's vsock-proxy):
#   1. time from `cp` of a 100 MiB package into encrypted/ to close()
#      returning (sent, unwrapped, decrypted, extracted, ready), for packages
#      sealed with --kms-key against packages sealed with --kek, alternated;
#   2. the key's own cost as the package worker measured it (enclaved's log:
#      "kek key in X ms", "kms key in X ms"), cold (a new package: RSA-2048
#      key pair, attestation, Decrypt, CMS) and cached (the same package under
#      another name: the key process's cache).
# Usage: bench-kms.sh [BUILD_DIR]. Needs root (FUSE, enclaved --dev).
# BENCH_KMS_MIB (default 100) and BENCH_KMS_ROUNDS (default 5).
set -eu

build=${1:-${top_builddir:-.}}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
for b in enclave-fs enclaved enclave-seal tests/helpers/readywait tests/helpers/waitline; do
	[ -x "$build/$b" ] || { echo "bench: $build/$b missing (make first)" >&2; exit 1; }
done
PATH="$build:$build/tests/helpers:/usr/bin:/bin:$PATH"
mib=${BENCH_KMS_MIB:-100}
rounds=${BENCH_KMS_ROUNDS:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/efs-bench-kms.XXXXXX")
mnt=$work/mnt
fs= double=
cleanup() {
	[ -n "$fs" ] && { fusermount3 -u "$mnt" 2>/dev/null; wait "$fs" 2>/dev/null; }
	[ -n "$double" ] && kill "$double" 2>/dev/null && wait "$double" 2>/dev/null
	[ "${KEEP_SCRATCH:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM
cd "$work"
say() { echo "# $*"; }

arn=arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555
pcr0=$(openssl dgst -sha384 -r "$build/enclaved" | cut -d" " -f1)
sealer=AKIASEALER0000000001:sealersecret0000000000000000000000000001
mkdir kms
python3 "$src/tests/helpers/kmsdouble.py" --state kms --key "$arn=$pcr0" --sealer "$sealer" \
	--imds --unix "$work/kms/kms.sock" --dev-root "$work/cache/.enclave/dev-root/root.pem" \
	>double.log 2>&1 &
double=$!

say "sealing $rounds + $rounds packages of $mib MiB (kek and kms)"
mkdir app
head -c "${mib}M" /dev/urandom >app/weights.bin
enclave-seal keygen -o k.kek >/dev/null
mkdir -p cache/.enclave
enclave-seal dev-root -o cache/.enclave/dev-root >/dev/null
waitline -t 60 kms/ready ready >/dev/null || { cat double.log; exit 1; }
for i in $(seq "$rounds"); do
	printf '{"name":"big%s","version":"1","entries":{"true":{"argv":["true"]}}}' "$i" >app/enclave.json
	enclave-seal seal --kek k.kek -o "kek$i.sealed" app 2>/dev/null
	AWS_ACCESS_KEY_ID=${sealer%%:*} AWS_SECRET_ACCESS_KEY=${sealer#*:} \
		enclave-seal seal --kms-key "$arn" --kms-endpoint "https://127.0.0.1:$(cat kms/kms.port)/" \
		--kms-ca kms/ca.pem -o "kms$i.sealed" app 2>/dev/null
done
rm -f app/weights.bin

mkdir -p "$mnt"
mkfifo ready
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(cat kms/imds.port) \
	readywait 3 120 -- enclave-fs -f -v --cache "$work/cache" --kek k.kek --aws-credentials imds \
	--kms-proxy "unix:$work/kms/kms.sock" --kms-ca kms/ca.pem "$mnt" >fs.log 2>&1 3>ready &
fs=$!
read -r status <ready
[ "$status" = ready ] || { cat fs.log; echo "bench: enclave-fs did not start" >&2; exit 1; }
waitline -t 30 fs.log "AWS credentials sent to the enclave" >/dev/null

# cp_ms FILE NAME: milliseconds from the start of cp to its close() returning.
cp_ms() {
	t0=$(date +%s%N)
	cp "$1" "$mnt/encrypted/$2"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
key_ms() { # NAME: the key's cost the worker logged for package NAME (enclaved -v, in fs.log)
	grep -h "package $1: opened in" fs.log | tail -1 | sed 's/.* key in \([0-9.]*\) ms.*/\1/'
}

say "cp into encrypted/ until close() returns, alternating"
: >kek.ms
: >kms.ms
: >cached.ms
for i in $(seq "$rounds"); do
	cp_ms "kek$i.sealed" "kek$i.sealed" >>kek.ms
	cp_ms "kms$i.sealed" "kms$i.sealed" >>kms.ms
	cp_ms "kms$i.sealed" "again$i.sealed" >>cached.ms
done
med() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for i in $(seq "$rounds"); do
	echo "$(key_ms "kek$i.sealed")" >>kek.key
	echo "$(key_ms "kms$i.sealed")" >>kms.key
	echo "$(key_ms "again$i.sealed")" >>cached.key
done

kek=$(med kek.ms) kms=$(med kms.ms) cached=$(med cached.ms)
echo "kms key release, ${mib} MiB packages, median of $rounds (ms):"
printf '  cp to close(), kek provider:          %6s\n' "$kek"
printf '  cp to close(), kms provider:          %6s   (%s x kek)\n' "$kms" \
	"$(awk -v a="$kms" -v b="$kek" 'BEGIN { printf "%.2f", a / b }')"
printf '  cp to close(), kms, key cached:       %6s   (same content, another name)\n' "$cached"
printf '  key alone, kek (unwrap RFC 5649):     %6s\n' "$(med kek.key)"
printf '  key alone, kms cold (RSA, NSM, Decrypt, CMS): %s\n' "$(med kms.key)"
printf '  key alone, kms cached:                %6s\n' "$(med cached.key)"
