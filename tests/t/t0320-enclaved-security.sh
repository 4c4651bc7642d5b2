#!/bin/sh
# What a job cannot do, and what the host never sees: a job cannot read
# another package, the state directory or the keys; it has no network; it
# runs unprivileged; decrypted content never reaches the host's trees, and
# the enclave's chunk index never holds it (so deduplication reveals nothing).
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3

marker_a="MARKER-A-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
marker_b="MARKER-B-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

mkdir -p a b host/encrypted host/dataset host/model
cat >a/enclave.json <<'JSON'
{"name": "a", "version": "1",
 "entries": {
  "snoop": {"argv": ["sh", "snoop.sh"], "host_args": true},
  "connect": {"argv": ["python3", "-c",
    "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2); print('connected')"],
    "host_args": true, "stderr": "all"},
  "netdev": {"argv": ["cat", "/proc/net/dev"]},
  "ids": {"argv": ["sh", "-c", "id -u; id -g; cat /proc/self/status"]},
  "use": {"argv": ["sh", "-c", "wc -c <marker.txt >/output/marker-size; wc -c <secret.bin"]}
 }}
JSON
# snoop.sh PATH...: tries to list, read and copy each path, and says which
# worked (READ, LISTED, COPIED) before printing what it got.
cat >a/snoop.sh <<'SH'
echo "root: $(ls / | tr '\n' ' ')"
for p in "$@"; do
	if test -d "$p"; then
		if ls -A "$p" >/dev/null 2>&1; then echo "LISTED $p"; ls -A "$p"; else echo "cannot list $p"; fi
	fi
	if cat "$p" 2>/dev/null; then echo; echo "READ $p"; else echo "cannot read $p"; fi
	if cp -r "$p" /output/ 2>/dev/null; then echo "COPIED $p"; fi
done
exit 0
SH
printf '%s\n' "$marker_a" >a/marker.txt
head -c 2M /dev/urandom >a/secret.bin
cat >b/enclave.json <<'JSON'
{"name": "b", "version": "1", "entries": {"show": {"argv": ["cat", "secret-b.txt"]}},
 "default": "show"}
JSON
printf '%s\n' "$marker_b" >b/secret-b.txt

enclave-seal keygen -o k.kek >/dev/null
enclave-seal seal --kek k.kek -o host/encrypted/a.sealed a 2>/dev/null
enclave-seal seal --kek k.kek -o host/encrypted/b.sealed b 2>/dev/null

# A TCP listener on the host's loopback that logs every connection it accepts
# (it gives up after two idle minutes; test_done stops it before that).
cat >listener.py <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(120)
print("listening", s.getsockname()[1], flush=True)
while True:
    try:
        c, peer = s.accept()
    except socket.timeout:
        break
    print("accepted", peer, flush=True)
    c.close()
PY
python3 listener.py >listener.log 2>&1 &
waitline -t 30 listener.log listening
port=$(sed -n 's/^listening //p' listener.log)

# no_secrets PATH...: no file under PATH holds B's marker, A's marker, a
# 64-byte piece of A's secret.bin or the KEK (as hex or raw bytes).
cat >nosecrets.py <<'PY'
import os, sys
kek_hex = open("k.kek").read().strip()
needles = {
    "the KEK (hex)": kek_hex.encode(),
    "the KEK (HEX)": kek_hex.upper().encode(),
    "the KEK (raw)": bytes.fromhex(kek_hex),
    "marker A": sys.argv[1].encode(),
    "marker B": sys.argv[2].encode(),
}
secret = open("a/secret.bin", "rb").read()
for off in range(0, len(secret) - 64, 256 * 1024 + 4099):
    needles["secret.bin at %d" % off] = secret[off:off + 64]
found = 0
for top in sys.argv[3:]:
    paths = [top]
    if os.path.isdir(top):
        paths = [os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs]
    for p in paths:
        data = open(p, "rb").read()
        for what, n in needles.items():
            if n in data:
                print("%s holds %s" % (p, what), file=sys.stderr)
                found += 1
sys.exit(1 if found else 0)
PY
no_secrets() {
	python3 "$SCRATCH/nosecrets.py" "$marker_a" "$marker_b" "$@"
}

ready=no
start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek -v && ready=yes

run() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "$1" host >out 2>err
}

# stat_is NAME: the figure on the --stats line "  NAME: N".
stat_is() {
	sed -n "s/^  $1: *\([0-9][0-9]*\).*/\1/p" stats
}

test_expect_success 'enclaved --dev signals readiness' '
	test "$ready" = yes
'

test_expect_success 'setup: both packages run and are extracted in the enclave' '
	run "b.sealed" &&
	test "$(cat out)" = "$marker_b" &&
	run "a.sealed use" &&
	test "$(cat out)" = 2097152 &&
	test "$(cat host/output/marker-size)" = $((${#marker_a} + 1)) &&
	grep -x "$marker_b" "$SCRATCH"/state/app/installed/*/secret-b.txt &&
	cmp a/secret.bin "$SCRATCH"/state/app/installed/*/secret.bin
'

test_expect_success 'the job runs unprivileged: not uid 0, no_new_privs, no capabilities' '
	run "a.sealed ids" &&
	cat out &&
	test "$(sed -n 1p out)" != 0 &&
	test "$(sed -n 2p out)" != 0 &&
	grep -E "^Uid:[[:space:]]+[1-9][0-9]*[[:space:]]+[1-9][0-9]*[[:space:]]+[1-9][0-9]*[[:space:]]+[1-9][0-9]*\$" out &&
	grep -E "^NoNewPrivs:[[:space:]]+1\$" out &&
	grep -E "^CapEff:[[:space:]]+0+\$" out &&
	grep -E "^CapPrm:[[:space:]]+0+\$" out &&
	grep -E "^CapBnd:[[:space:]]+0+\$" out &&
	grep -E "^CapAmb:[[:space:]]+0+\$" out
'

test_expect_success 'a job cannot read another package, the state directory or the keys' '
	bdir=$(dirname "$SCRATCH"/state/app/installed/*/secret-b.txt) &&
	run "a.sealed snoop /app/enclave.json /tmp \
		$bdir $bdir/secret-b.txt /proc/1/root$bdir/secret-b.txt \
		$SCRATCH/state $SCRATCH/state/app $SCRATCH/state/encrypted \
		$SCRATCH/state/encrypted/b.sealed $SCRATCH/k.kek $SCRATCH /etc/shadow" &&
	cat out err &&
	grep -E "^(READ|LISTED|COPIED) " out >worked &&
	printf "%s\n" "READ /app/enclave.json" "COPIED /app/enclave.json" "LISTED /tmp" \
		"COPIED /tmp" >expected &&
	sort expected >expected.sorted &&
	sort worked >worked.sorted &&
	diff expected.sorted worked.sorted &&
	grep -x "cannot read $bdir/secret-b.txt" out &&
	grep -x "cannot read $SCRATCH/k.kek" out &&
	grep -x "cannot read /etc/shadow" out &&
	no_secrets out err host/output
'

test_expect_success 'the job sees only its own root: no host directories' '
	sed -n "s/^root: //p" out | tr " " "\n" | sed "/^\$/d" >root &&
	grep -x app root &&
	grep -x usr root &&
	{ grep -v -x -E "app|bin|dataset|dev|etc|lib|lib32|lib64|libx32|model|output|proc|sbin|tmp|usr" \
		root >extra || true; } &&
	test ! -s extra
'

test_expect_success 'the host can reach the test listener (control)' '
	python3 -c "import socket; socket.create_connection((\"127.0.0.1\", $port), 2)" &&
	waitline -t 30 listener.log accepted
'

test_expect_success 'a job cannot open a network connection' '
	rc=0 && run "a.sealed connect $port" || rc=$? &&
	cat out err &&
	test $rc -ne 0 &&
	test $rc -ne 125 &&
	! grep connected out &&
	grep -E "Network is unreachable|Connection refused|timed out|Cannot assign requested address" err &&
	test "$(grep -c accepted listener.log)" -eq 1
'

test_expect_success 'the job has no network interface but lo' '
	run "a.sealed netdev" &&
	cat out &&
	sed -n "3,\$s/^ *\([^:]*\):.*/\1/p" out >ifaces &&
	test "$(cat ifaces)" = lo
'

test_expect_success 'decrypted content never reaches the host trees' '
	! grep -r "$marker_a" host/ &&
	! grep -r "$marker_b" host/ &&
	no_secrets host &&
	for f in host/encrypted/*; do
		enclave-seal inspect "$f" >/dev/null || exit 1
	done
'

test_expect_success 'nor any synced tree of the enclave (only state/app holds it)' '
	no_secrets "$SCRATCH/state/encrypted" "$SCRATCH/state/dataset" \
		"$SCRATCH/state/model" "$SCRATCH/state/output" &&
	test -z "$(find "$SCRATCH/state" -mindepth 1 -maxdepth 1 ! -name app ! -name encrypted \
		! -name dataset ! -name model ! -name output ! -name uids ! -name .efs-staging)" &&
	test -z "$(ls -A "$SCRATCH/state/.efs-staging")"
'

# stats_pass: one pass with --stats. enclave-sync --once is refused by
# enclaved (see the last test), so the pass is that of --run with a job that
# writes nothing.
stats_pass() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --stats --run "a.sealed netdev" host \
		>/dev/null 2>stats
	rc=$?
	cat stats
	return $rc
}

test_expect_success 'dedup reveals nothing: a host offering the app plaintext sends every chunk' '
	cp a/secret.bin host/dataset/secret.bin &&
	stats_pass &&
	test "$(stat_is "files sent")" -eq 1 &&
	test "$(stat_is "chunks deduplicated")" -eq 0 &&
	total=$(stat_is "chunks sent") &&
	test "$total" -ge 8 &&
	cmp a/secret.bin "$SCRATCH/state/dataset/secret.bin" &&
	echo "$total" >secret.chunks
'

test_expect_success 'control: a second copy of it is deduplicated entirely' '
	cp a/secret.bin host/dataset/copy.bin &&
	stats_pass &&
	test "$(stat_is "files sent")" -eq 1 &&
	test "$(stat_is "chunks sent")" -eq 0 &&
	test "$(stat_is "chunks deduplicated")" -eq "$(cat secret.chunks)"
'

test_expect_success 'enclave-sync --once (no job) syncs with enclaved' '
	echo once >host/dataset/once.txt &&
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --once host &&
	test "$(cat "$SCRATCH/state/dataset/once.txt")" = once
'

test_done
