#!/bin/sh
# enclaved against bad input: tampered, truncated, foreign, garbage and
# hostile packages, bad manifests and bad job lines. Each is refused with its
# own errno (enclave-sync --run exits 125 and prints the enclave's message),
# nothing of it is left in state/app, nothing is written outside it, and the
# daemon goes on serving a good package.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require tool python3

# hack.py: edits sealed packages and writes the tar archives sealed below.
cat >hack.py <<'PY'
import io, json, struct, sys, tarfile

MAGIC = b"EFSPKG\x00\x01"

def header(path):
    data = open(path, "rb").read()
    assert data[:8] == MAGIC
    (n,) = struct.unpack("<I", data[8:12])
    return data, n

def field_value_at(path, key):
    """Offset in the file of the first byte of a string field's value."""
    data, n = header(path)
    i = data.index(b'"%s":"' % key.encode(), 12, 12 + n)
    return i + len(key) + 4

def cmd_flip(path, off, mask="1"):
    data = bytearray(open(path, "rb").read())
    off = int(off)
    data[off] ^= int(mask, 0)
    open(path, "wb").write(data)

def cmd_hdrlen(path):
    print(header(path)[1])

def cmd_pos(path, what):
    data, n = header(path)
    if what == "created-last-digit":
        print(data.index(b'Z"', 12, 12 + n) - 1)
    else:
        # the first letter of a base64 value: flipping its case keeps valid base64
        i = field_value_at(path, what)
        while not chr(data[i]).isalpha():
            i += 1
        print(i)

def cmd_provider(path, new):
    data, n = header(path)
    h = json.loads(data[12:12 + n])
    h["key"]["provider"] = new
    raw = json.dumps(h, separators=(",", ":")).encode()
    open(path, "wb").write(MAGIC + struct.pack("<I", len(raw)) + raw + data[12 + n:])

MANIFEST = b'{"name":"hostile","version":"1","entries":{"main":{"argv":["true"]}},"default":"main"}'

def reg(tf, name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    tf.addfile(ti, io.BytesIO(data))

def special(tf, name, type, linkname="", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.linkname = linkname
    ti.mode = mode
    if type == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = 1, 3
    tf.addfile(ti)

def sparse_header(name, size):
    """An old-GNU sparse entry ('S') that is one hole of size bytes: no data."""
    def b256(v):
        return b"\x80" + v.to_bytes(11, "big")
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"00000000000\0"          # no data stored
    h[136:148] = b"14700000000\0"
    h[156:157] = b"S"
    h[257:265] = b"ustar  \0"
    h[386:398] = b256(size)                # sparse[0].offset: the end
    h[398:410] = b"00000000000\0"          # sparse[0].numbytes
    h[483:495] = b256(size)                # realsize
    h[148:156] = b"        "
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)

def cmd_tar_dir(out, top, *names):
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
        for n in names:
            tf.add(top + "/" + n, arcname=n)

def cmd_tar(out, kind, arg=""):
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    if kind != "no-manifest":
        reg(tf, "enclave.json", arg.encode() if kind == "manifest" else MANIFEST)
    reg(tf, "ok.txt", b"extracted before the hostile entry\n")
    if kind == "absolute":
        reg(tf, arg, b"escaped\n")
    elif kind == "dotdot":
        reg(tf, "../" + arg, b"escaped\n")
    elif kind == "symlink":
        special(tf, "l", tarfile.SYMTYPE, "/etc")
        reg(tf, "l/" + arg, b"escaped\n")
    elif kind == "symlink-up":
        special(tf, "l", tarfile.SYMTYPE, "../..")
        reg(tf, "l/" + arg, b"escaped\n")
    elif kind == "hardlink":
        special(tf, "pw", tarfile.LNKTYPE, "/etc/passwd")
        reg(tf, "pw", b"overwritten\n")
    elif kind == "hardlink-up":
        special(tf, "pw", tarfile.LNKTYPE, "../../../../../../../../etc/passwd")
        reg(tf, "pw", b"overwritten\n")
    elif kind == "chardev":
        special(tf, "null", tarfile.CHRTYPE)
    elif kind == "setuid":
        reg(tf, "suid", b"#!/bin/sh\n", 0o4755)
    elif kind == "sparse":
        tf.fileobj.write(sparse_header("huge", 17 << 30))
    elif kind == "entries":
        d = tarfile.TarInfo("d")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        block = d.tobuf(format=tarfile.GNU_FORMAT)
        assert len(block) == 512
        tf.fileobj.write(block * 100001)
    reg(tf, "after.txt", b"after\n")
    tf.close()
    open(out, "wb").write(buf.getvalue())
    if kind == "sparse":
        # Python's own reader agrees on what the entry is.
        m = tarfile.open(out).getmember("huge")
        assert m.issparse() and m.size == 17 << 30, (m.sparse, m.size)

globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:])
PY

hack() {
	python3 "$SCRATCH/hack.py" "$@"
}

mkdir -p good host/encrypted host/dataset host/model
cat >good/enclave.json <<'JSON'
{"name": "good", "version": "1",
 "entries": {"main": {"argv": ["sh", "-c", "echo good ran"]}},
 "default": "main"}
JSON
enclave-seal keygen -o k.kek >/dev/null
enclave-seal keygen -o other.kek >/dev/null
enclave-seal seal --kek k.kek -o host/encrypted/good.sealed good 2>/dev/null

# The package the tampering cases start from: several 4 KiB segments, a
# manifest in the first one.
mkdir -p multi
cat >multi/enclave.json <<'JSON'
{"name": "multi", "version": "1",
 "entries": {"main": {"argv": ["cat", "data.bin"]}, "echo": {"argv": ["echo", "x"]}}}
JSON
head -c 20000 /dev/urandom >multi/data.bin
hack tar-dir multi.tar multi enclave.json data.bin
pkgtool seal -s 4096 k.kek multi.tar multi.sealed
sha256sum /etc/passwd >passwd.sum
stat -c '%h %i %s %Y' /etc/passwd >passwd.stat

ready=no
start_daemon enclave enclaved --dev --dev-root "$DEVROOT" --listen "unix:$SCRATCH/s.sock" --state "$SCRATCH/state" \
	--kek k.kek -v && ready=yes

run() {
	enclave-sync --trust-root "$DEVROOT/root.pem" --key "$DEVROOT/host.key" --connect "unix:$SCRATCH/s.sock" --run "$1" host >out 2>err
}

# expect_refused LINE ERRNO-TEXT: the job is refused: exit 125 and the
# enclave's message for LINE ends with (ERRNO-TEXT).
expect_refused() {
	set +e
	run "$1"
	rc=$?
	set -e
	if [ $rc -ne 125 ]; then
		echo "exit $rc, expected 125: $1" >&2
		sed 's/^/  | /' err >&2
		return 1
	fi
	if ! grep -F "enclave-sync: $1: " err | grep -F "($2)"; then
		echo "no refusal with ($2) for: $1" >&2
		sed 's/^/  | /' err >&2
		return 1
	fi
}

# package_failed NAME ERRNO-TEXT: the enclave reported NAME as failed with
# that errno (a PKG_STATE naming the package).
package_failed() {
	grep "^enclave-sync: warning: package $1: .*($2)\$" err
}

# still_serving: the daemon is alive and runs a good package.
still_serving() {
	kill -0 "$enclave_pid" &&
	run "good.sealed" &&
	test "$(cat out)" = "good ran"
}

# nothing_left [NAME]: no directory of NAME and no staging directory in
# state/app, and the enclave still serves a good package.
nothing_left() {
	find "$SCRATCH/state/app/staging" -mindepth 1 >left &&
	if test -s left; then
		echo "left in state/app:" >&2 && cat left >&2 && return 1
	fi &&
	still_serving
}

# bad_package NAME ERRNO-TEXT: NAME (already in host/encrypted) is refused
# for that reason, leaves nothing, and is removed again for the next case.
bad_package() {
	test_when_finished "rm -f 'host/encrypted/$1'" &&
	expect_refused "$1 main" "$2" &&
	package_failed "$1" "$2" &&
	nothing_left "$1"
}

test_expect_success 'enclaved --dev signals readiness' '
	test "$ready" = yes
'

test_expect_success 'setup: a good package runs, the tampering base is sound' '
	run "good.sealed" &&
	test "$(cat out)" = "good ran" &&
	cp multi.sealed host/encrypted/multi.sealed &&
	run "multi.sealed main" &&
	cmp out multi/data.bin &&
	test $(($(stat -c %s multi.sealed) - 12 - $(hack hdrlen multi.sealed))) -gt $((3 * 4112)) &&
	rm host/encrypted/multi.sealed
'

# flip_case NAME OFFSET [MASK]: a copy of multi.sealed with one byte changed.
flip_case() {
	cp multi.sealed "host/encrypted/$1" &&
	hack flip "host/encrypted/$1" "$2" ${3:-}
}

test_expect_success 'a flipped byte in the header JSON that breaks it: EINVAL' '
	flip_case flip-brace.sealed 12 &&
	bad_package flip-brace.sealed "Invalid argument" &&
	grep "malformed package header" err && ! grep "JSON" err
'

test_expect_success 'a flipped digit in the header (still valid): EBADMSG' '
	flip_case flip-created.sealed $(hack pos multi.sealed created-last-digit) &&
	bad_package flip-created.sealed "Bad message"
'

test_expect_success 'a flipped letter case in the nonce (still valid base64): EBADMSG' '
	flip_case flip-nonce.sealed $(hack pos multi.sealed nonce) 0x20 &&
	bad_package flip-nonce.sealed "Bad message"
'

test_expect_success 'a flipped letter case in the wrapped key: EKEYREJECTED' '
	flip_case flip-wrapped.sealed $(hack pos multi.sealed wrapped) 0x20 &&
	bad_package flip-wrapped.sealed "Key was rejected by service"
'

test_expect_success 'a flipped byte in the first segment: EBADMSG' '
	flip_case flip-seg0.sealed $((12 + $(hack hdrlen multi.sealed) + 100)) &&
	bad_package flip-seg0.sealed "Bad message"
'

test_expect_success 'a flipped byte in the middle of the package: EBADMSG' '
	flip_case flip-mid.sealed $(($(stat -c %s multi.sealed) / 2)) &&
	bad_package flip-mid.sealed "Bad message"
'

test_expect_success 'a flipped byte in the last tag (all of the tar was read): EBADMSG' '
	flip_case flip-tag.sealed $(($(stat -c %s multi.sealed) - 1)) &&
	bad_package flip-tag.sealed "Bad message"
'

test_expect_success 'a package cut inside its last segment: EBADMSG' '
	cp multi.sealed host/encrypted/cut-last.sealed &&
	truncate -s $(($(stat -c %s multi.sealed) - 30)) host/encrypted/cut-last.sealed &&
	bad_package cut-last.sealed "Bad message"
'

test_expect_success 'a package cut right after its header: EBADMSG' '
	cp multi.sealed host/encrypted/cut-header.sealed &&
	truncate -s $((12 + $(hack hdrlen multi.sealed))) host/encrypted/cut-header.sealed &&
	bad_package cut-header.sealed "Bad message"
'

test_expect_success 'a package sealed with a KEK the enclave lacks: ENOKEY' '
	pkgtool seal other.kek multi.tar host/encrypted/foreign.sealed &&
	bad_package foreign.sealed "Required key not available" &&
	grep "no key for this package in the enclave" err
'

test_expect_success 'an unknown key provider: EPROTONOSUPPORT' '
	cp multi.sealed host/encrypted/xyz.sealed &&
	hack provider host/encrypted/xyz.sealed xyz &&
	grep -q "\"provider\":\"xyz\"" host/encrypted/xyz.sealed &&
	bad_package xyz.sealed "Protocol not supported"
'

test_expect_success 'random bytes instead of a package: ENOEXEC' '
	head -c 50000 /dev/urandom >host/encrypted/garbage.sealed &&
	bad_package garbage.sealed "Exec format error"
'

test_expect_success 'an empty file instead of a package: ENOEXEC' '
	: >host/encrypted/empty.sealed &&
	bad_package empty.sealed "Exec format error"
'

# hostile KIND ARG: a sealed archive with a hostile entry, refused with EPERM.
hostile() {
	hack tar "hostile-$1.tar" "$1" "${2:-}" &&
	pkgtool seal k.kek "hostile-$1.tar" "host/encrypted/hostile-$1.sealed" &&
	bad_package "hostile-$1.sealed" "Operation not permitted"
}

# nothing_outside NAME: no file NAME appeared around state/app, nor anywhere
# in the scratch directory.
nothing_outside() {
	for d in "$SCRATCH/state/app" "$SCRATCH/state" "$SCRATCH" "$top_builddir/tests/scratch" \
		/etc /; do
		if test -e "$d/$1" || test -L "$d/$1"; then
			echo "$d/$1 exists" >&2
			return 1
		fi
	done &&
	find "$SCRATCH" -name "$1" >found &&
	test ! -s found
}

passwd_intact() {
	sha256sum -c passwd.sum >/dev/null &&
	test "$(stat -c "%h %i %s %Y" /etc/passwd)" = "$(cat passwd.stat)"
}

test_expect_success 'an absolute path entry: EPERM, nothing written there' '
	hostile absolute "$SCRATCH/escaped-abs" &&
	grep "the archive breaks the extraction rules" err && ! grep "absolute path" err &&
	nothing_outside escaped-abs
'

test_expect_success 'a ../ entry: EPERM, nothing written above' '
	hostile dotdot escaped-dotdot &&
	grep "the archive breaks the extraction rules" err && ! grep "component" err &&
	nothing_outside escaped-dotdot
'

test_expect_success 'a symlink to /etc and a file through it: EPERM' '
	hostile symlink escaped-symlink &&
	grep "the archive breaks the extraction rules" err && ! grep "absolute" err &&
	nothing_outside escaped-symlink &&
	passwd_intact
'

test_expect_success 'a symlink that climbs out of the tree: EPERM' '
	hostile symlink-up escaped-symlink-up &&
	grep "the archive breaks the extraction rules" err && ! grep "leaves the tree" err &&
	nothing_outside escaped-symlink-up
'

test_expect_success 'a hard link to /etc/passwd: EPERM, /etc/passwd untouched' '
	hostile hardlink &&
	passwd_intact
'

test_expect_success 'a hard link climbing to /etc/passwd: EPERM, /etc/passwd untouched' '
	hostile hardlink-up &&
	passwd_intact
'

test_expect_success 'a character device: EPERM' '
	hostile chardev &&
	grep "the archive breaks the extraction rules" err && ! grep "character device" err
'

test_expect_success 'a setuid file: EPERM' '
	hostile setuid &&
	grep "the archive breaks the extraction rules" err && ! grep "'\''suid'\''" err
'

test_expect_success 'a sparse file larger than the 16 GiB file limit: EFBIG' '
	hack tar sparse.tar sparse &&
	test $(stat -c %s sparse.tar) -lt 100000 &&
	pkgtool seal k.kek sparse.tar host/encrypted/sparse.sealed &&
	bad_package sparse.sealed "File too large" &&
	grep "the archive exceeds the enclave'\''s limits" err && ! grep "huge" err
'

test_expect_success 'more than 100000 entries: EFBIG' '
	hack tar entries.tar entries &&
	pkgtool seal k.kek entries.tar host/encrypted/entries.sealed &&
	bad_package entries.sealed "File too large" &&
	grep "the archive exceeds the enclave'\''s limits" err && ! grep "100000" err
'

test_expect_success 'a package without enclave.json: ENOENT' '
	hack tar noman.tar no-manifest &&
	pkgtool seal k.kek noman.tar host/encrypted/noman.sealed &&
	bad_package noman.sealed "No such file or directory" &&
	grep "the package has no manifest" err
'

test_expect_success 'an invalid enclave.json (no entries): EINVAL' '
	hack tar badman.tar manifest "{\"name\":\"x\",\"version\":\"1\",\"entries\":{}}" &&
	pkgtool seal k.kek badman.tar host/encrypted/badman.sealed &&
	bad_package badman.sealed "Invalid argument" &&
	grep "the package'\''s manifest is not valid" err && ! grep "entries" err
'

test_expect_success 'an unknown entry (no default entry): ENOENT' '
	cp multi.sealed host/encrypted/multi.sealed &&
	expect_refused "multi.sealed nosuch" "No such file or directory" &&
	grep "no entry .nosuch. in multi.sealed; entries: " err &&
	nothing_left
'

test_expect_success 'host arguments for an entry without host_args: EPERM' '
	expect_refused "multi.sealed echo extra" "Operation not permitted" &&
	grep "takes no arguments" err &&
	nothing_left
'

test_expect_success 'a job line with an unterminated quote: EINVAL' '
	expect_refused "multi.sealed echo \"abc" "Invalid argument" &&
	nothing_left
'

test_expect_success 'an unknown package: ENOENT' '
	expect_refused "nosuch.sealed main" "No such file or directory" &&
	nothing_left
'

test_expect_success 'the valid package still runs after all of it' '
	run "multi.sealed echo" &&
	test "$(cat out)" = x &&
	run "multi.sealed main" &&
	cmp out multi/data.bin
'

test_expect_success 'state/app holds only the good packages, nothing half-extracted' '
	test "$(ls -A "$SCRATCH/state/app/installed" | wc -l)" = 2 &&
	test -z "$(ls -A "$SCRATCH/state/app/staging")" &&
	test -z "$(ls -A "$SCRATCH/state/app/trash")"
'

test_done
