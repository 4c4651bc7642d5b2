#!/bin/bash
# soak.sh [SECONDS]: the long writer trial of the sync engine, outside
# `make check`. One writer replaces files the way editors and rsync do (a
# temporary file renamed over the target), deletes and appends, in the
# watched trees of an `enclave-sync --connect`, attested through a development
# root made for the trial (doc/PROTOCOL.md); every KILL_EVERY seconds one
# side (host and enclave in turn) gets SIGKILL and is restarted. At the end
# the writer stops, the host reaches a sync point, and the host's and the
# enclave's trees must be identical byte for byte, modes included, and the
# enclave must hold no more than the host's disk usage plus 10%.
#
# Run from the build directory after `make`:  tests/soak/soak.sh 3600
# Environment: KILL_EVERY (seconds, default 180), FILES (names the writer
# uses, default 300), SOAK_DIR (default a fresh directory in /dev/shm).
set -euo pipefail

dur=${1:-3600}
kill_every=${KILL_EVERY:-180}
nfiles=${FILES:-300}
bin=$(cd "$(dirname "$0")/../.." && pwd)
work=${SOAK_DIR:-$(mktemp -d /dev/shm/efs-soak.XXXXXX)}
cd "$work"
mkdir -p host/dataset host/model host/encrypted enc/output
"$bin/enclave-seal" dev-root -o devroot >devroot.log 2>&1 || { cat devroot.log >&2; exit 1; }
sock="unix:$work/s.sock"
host_pid= enc_pid= writer_pid=

cleanup() {
	kill -KILL $writer_pid $host_pid $enc_pid 2>/dev/null || :
	wait 2>/dev/null || :
}
trap cleanup EXIT

start_enc() {
	"$bin/enclave-sync" --dev-root devroot --listen "$sock" -v enc >>enc.log 2>&1 &
	enc_pid=$!
	for _ in $(seq 100); do [ -S s.sock ] && return 0; sleep 0.1; done
	echo "soak: the enclave side did not listen" >&2
	return 1
}
start_host() {
	"$bin/enclave-sync" --trust-root devroot/root.pem --connect "$sock" -v host >>host.log 2>&1 &
	host_pid=$!
}

# The writer: bash's RANDOM, seeded, so that a failing trial can be rerun.
writer() {
	RANDOM=${SEED:-$$}
	local end=$((SECONDS + dur)) n=0
	while [ $SECONDS -lt $end ]; do
		local d=host/dataset/d$((RANDOM % 8)) f
		mkdir -p "$d"
		f=$d/f$((RANDOM % nfiles))
		case $((RANDOM % 10)) in
		0 | 1 | 2 | 3 | 4) # replace through a temporary file
			head -c $((RANDOM * (RANDOM % 8 + 1))) /dev/urandom >"$d/.tmp.$n"
			mv -f "$d/.tmp.$n" "$f" ;;
		5 | 6) rm -f "$f" ;;
		7 | 8) head -c $((RANDOM % 4096 + 1)) /dev/urandom >>"$f" ;;
		9) # a sparse file: a little data far apart
			truncate -s $((RANDOM % 64 + 1))M "$f.sparse" &&
				dd if=/dev/urandom of="$f.sparse" bs=4096 count=4 seek=$((RANDOM % 4000)) \
					conv=notrunc status=none ;;
		esac
		n=$((n + 1))
	done
	echo "soak: writer made $n changes"
}

rm -f s.sock
start_enc
start_host
writer &
writer_pid=$!
echo "soak: $dur s in $work, a SIGKILL every $kill_every s"

side=host kills=0
while kill -0 $writer_pid 2>/dev/null; do
	for _ in $(seq "$kill_every"); do
		kill -0 $writer_pid 2>/dev/null || break 2
		sleep 1
	done
	if [ $side = host ]; then
		kill -KILL $host_pid; wait $host_pid 2>/dev/null || :
		start_host
		side=enclave
	else
		kill -KILL $enc_pid; wait $enc_pid 2>/dev/null || :
		rm -f s.sock
		start_enc
		side=host
	fi
	kills=$((kills + 1))
done
wait $writer_pid
writer_pid=

# A sync point: every change made so far is applied by the enclave.
before=$(grep -c "synced " host.log || :)
kill -USR1 $host_pid
for _ in $(seq 600); do
	[ "$(grep -c "synced " host.log || :)" -gt "$before" ] && break
	sleep 1
done
grep "synced " host.log | tail -1

rc=0
diff -r host/dataset enc/dataset >diff.out || { echo "soak: FAIL: trees differ"; head -20 diff.out; rc=1; }
(cd host && find dataset -printf '%y %m %s %p\n' | sort) >host.list
(cd enc && find dataset -printf '%y %m %s %p\n' | sort) >enc.list
cmp -s host.list enc.list || { echo "soak: FAIL: modes or sizes differ"; diff host.list enc.list | head; rc=1; }
hkb=$(du -sk host/dataset | cut -f1)
ekb=$(du -sk enc/dataset | cut -f1)
echo "soak: $kills kills; host holds $hkb KiB, enclave $ekb KiB ($(awk "BEGIN { printf \"%.2f\", $ekb / ($hkb ? $hkb : 1) }")x)"
if [ "$ekb" -gt $((hkb + hkb / 10 + 64)) ]; then
	echo "soak: FAIL: the enclave holds more than the host's usage plus 10%"
	rc=1
fi
stray=$(ls -A enc/.efs-staging | wc -l)
[ "$stray" -eq 0 ] || { echo "soak: FAIL: $stray files left in the enclave's staging directory"; rc=1; }
[ $rc -eq 0 ] && echo "soak: PASS" && rm -rf "$work"
exit $rc
