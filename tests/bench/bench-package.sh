#!/bin/sh
# Package benchmark (make bench): in one run,
#   1. decrypt + extract of a 1 GiB package inside enclaved (its own timing
#      of unwrap, segment decryption, extraction and manifest check), beside
#      `openssl speed -evp aes-256-gcm` single-threaded with 16 KiB blocks;
#   2. time from the RUN message to the job's exec for a trivial entry
#      (enclave-sync --run --stats "job start ms"), median of 20;
#   3. peak RSS of enclaved (VmHWM) after receiving and opening the package.
# Usage: bench-package.sh [BUILD_DIR]. Needs root (enclaved --dev) and ~3 GiB
# in $TMPDIR. KEEP_SCRATCH=1 keeps the work directory.
set -eu

build=${1:-${top_builddir:-.}}
build=$(cd "$build" && pwd)
for b in enclaved enclave-seal enclave-sync tests/helpers/readywait tests/helpers/waitline; do
	[ -x "$build/$b" ] || { echo "bench: $build/$b missing (make first)" >&2; exit 1; }
done
PATH="$build:$build/tests/helpers:$PATH"
size_mib=${BENCH_PKG_MIB:-1024}

work=$(mktemp -d "${TMPDIR:-/tmp}/efs-bench-pkg.XXXXXX")
daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ "${KEEP_SCRATCH:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM
cd "$work"
say() { echo "# $*"; }

say "building a ${size_mib} MiB application and sealing it"
mkdir -p app small host/encrypted
head -c "${size_mib}M" /dev/urandom >app/weights.bin
printf '{"name":"big","version":"1","entries":{"true":{"argv":["true"]}}}' >app/enclave.json
printf '{"name":"small","version":"1","entries":{"true":{"argv":["true"]}}}' >small/enclave.json
enclave-seal keygen -o k.kek >/dev/null
t0=$(date +%s.%N)
enclave-seal seal --kek k.kek -o host/encrypted/big.sealed app 2>/dev/null
t1=$(date +%s.%N)
enclave-seal seal --kek k.kek -o host/encrypted/small.sealed small 2>/dev/null
seal_mbs=$(echo "$t0 $t1" | awk -v b="$(stat -c %s app/weights.bin)" '{ printf "%.0f", b / 1e6 / ($2 - $1) }')
rm -f app/weights.bin

mkfifo ready
enclave-seal dev-root -o "$work/devroot" >/dev/null
readywait 3 120 -- enclaved --dev --dev-root "$work/devroot" --listen "unix:$work/s.sock" --state "$work/state" \
	--kek k.kek -v >enclaved.log 2>&1 3>ready &
daemon=$!
read -r status <ready
[ "$status" = ready ] || { cat enclaved.log; echo "bench: enclaved did not start" >&2; exit 1; }

say "sending it to the enclave and waiting for it to be opened"
enclave-sync --trust-root "$work/devroot/root.pem" --key "$work/host.key" --connect "unix:$work/s.sock" --once host 2>/dev/null
waitline -t 600 enclaved.log "package big.sealed: ready" >/dev/null
line=$(grep "package big.sealed: opened in" enclaved.log)
open_s=$(echo "$line" | sed 's/.* opened in \([0-9.]*\) s.*/\1/')
sealed=$(echo "$line" | sed 's/.*(\([0-9]*\) bytes sealed.*/\1/')
open_mbs=$(awk -v b="$sealed" -v s="$open_s" 'BEGIN { printf "%.0f", (s > 0 ? b / 1e6 / s : 0) }')
hwm=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$daemon/status")

say "openssl speed -evp aes-256-gcm (single thread, 16 KiB blocks)"
ossl=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null |
	awk '/^AES-256-GCM|^aes-256-gcm/ { v = $NF; sub("k", "", v); printf "%.0f", v * 1000 / 1e6 }')

say "20 runs of a trivial entry"
i=0
: >starts
while [ $i -lt 20 ]; do
	enclave-sync --trust-root "$work/devroot/root.pem" --key "$work/host.key" --connect "unix:$work/s.sock" --stats --run "small.sealed true" host 2>stats >/dev/null
	grep "job start ms" stats | awk '{ print $NF }' >>starts
	i=$((i + 1))
done
median=$(sort -n starts | awk '{ a[NR] = $1 } END { printf "%.1f", (a[10] + a[11]) / 2 }')
lo=$(sort -n starts | head -1)
hi=$(sort -n starts | tail -1)

echo
echo "enclave-fs package benchmark (2 cores, $(date -u '+%Y-%m-%d %H:%M UTC'))"
printf '%s MiB package, decrypt + extract in enclaved: %s s = %s MB/s   openssl aes-256-gcm 16 KiB: %s MB/s   ratio %s\n' \
	"$size_mib" "$open_s" "$open_mbs" "$ossl" "$(awk -v a="$open_mbs" -v b="$ossl" 'BEGIN { printf "%.2f", a / b }')"
printf 'seal (tar + encrypt) of the same app:      %s MB/s\n' "$seal_mbs"
printf 'run message -> job exec, trivial entry:     median %s ms of 20 (min %s, max %s)\n' "$median" "$lo" "$hi"
printf 'enclaved peak RSS (receive + open):         %s MiB\n' "$hwm"
