#!/usr/bin/env python3
"""A scriptable peer of the enclave-fs protocol for attack tests, written from
doc/PROTOCOL.md alone (Python 3 standard library and python3-xxhash). It plays
the host against `enclaved --listen`, or the enclave for `enclave-sync
--connect` and `enclave-fs --connect`, and it will send anything it is told to.

Library (from a shell test: python3 - <<EOF, with
sys.path.insert(0, "$top_srcdir/tests/helpers"); from peer import *):

  p = Peer.connect("unix:PATH")         a connected Peer
  l = listen("unix:PATH")               bound and listening: l.accept(timeout) -> Peer
  p = Peer.listen("unix:PATH")          the same in one call

  Sending
  p.send_raw(type, body=b"", flags=0)   one frame; type is a name ("RUN") or a number
  p.send_bytes(raw)                     any bytes (half frames, lying headers)
  p.send(type, *args)                   p.send_raw(type, enc.<type>(*args))
  p.hello(role, name="peer", flags=0)   role HOST or ENCLAVE
  p.summary(entries); p.summary_end(n)  entries: (kind, path, mode, size, mtime) tuples,
                                        (SYMLINK, path, 0o777, len, mtime, target) for symlinks
  p.start_file(path, data, mode=0o644, mtime_ns=None, id=None, chunk=64 KiB) -> id
                                        FILE_BEGIN, FILE_CHUNKS, FILE_END; WANTs for it
                                        are answered with DATA while p.auto is on
  p.send_file(path, data, ...) -> (errno, message)   start_file, then wait for FILE_ACK
  p.barrier() -> [(type, msg), ...]     BARRIER, wait for its ack; returns what came meanwhile
  p.run(line, req=None) -> RUN_REPLY msg
  p.goodbye(); p.close()

  Receiving: every message is a (type name, dict) pair; dict keys are the
  field names of doc/PROTOCOL.md (errno, message, path, job, state, ...).
  p.recv(timeout) -> (type, msg)        the next message; raises Timeout, Closed
  p.expect(type, timeout, **fields) -> msg
                                        the next message of that type (whose fields
                                        equal the keywords); others are handled and
                                        kept; a fatal ERROR or the end raises PeerError
  p.expect_error(errnum=None, fatal=True) -> ERROR msg   (other messages are skipped)
  p.expect_close(timeout) -> [(type, msg), ...]   everything up to the peer's close
  p.read_summary() -> {path: entry}     the peer's SUMMARY frames up to SUMMARY_END
  p.wait_package(name, states=(READY, FAILED, REMOVED)) -> PKG_STATE msg
  p.wait_job(job) -> (JOB_STATE msg, stdout bytes, stderr bytes)   its final state

  Openings (HELLO, summaries, both initial passes closed by their barriers):
  p.open_host(holds=None, initial=None) -> {path: entry}
                                        as the host; holds: our summary entries
                                        (default: what p.files holds in output/);
                                        initial(): what to send before our first
                                        barrier; returns the peer's summary
  p.open_enclave(holds=None, initial=None, status={...}, packages=()) -> {path: entry}
                                        the same as the enclave, with STATUS (None:
                                        none) and one PKG_STATE per (name, state,
                                        errno, digest, message) after HELLO

  What the peer keeps (filled as messages arrive, whatever waits for them):
  p.received [(type, msg)], p.peer_hello, p.errors, p.status (parsed JSON),
  p.packages {name: PKG_STATE}, p.replies {req: RUN_REPLY},
  p.jobs {job: JOB_STATE}, p.logs {job: {1: bytes, 2: bytes}},
  p.file_acks {id: (errno, message)}, p.store (the last STORE); and while p.auto is on (the default) it
  is a correct receiver: WANT for every chunk, hashes checked, FILE_ACK,
  BARRIER_ACK in order, metadata applied; p.files {path: bytes} and
  p.attrs {path: (mode, mtime)} hold what was received, p.dirs the directories.
  Set p.auto = False to answer by hand.

  Encoders: enc.hello(role, flags, name), enc.run(req, line), ... one per
  message, each returning a body; frame(type, body, flags=0, length=None).
  Field encoders u8 u16 u32 u64, text (u16 length; str or bytes, any length),
  blob (u32 length); decode(type, body) -> dict; h128(data) is the canonical
  XXH3-128.

The attested session (doc/PROTOCOL.md): every connection starts with it. When
$EFS_DEVROOT names a development root (tests/lib.sh sets it), Peer.connect()
runs the host's side through `sessgate host` (trusting $EFS_DEVROOT/root.pem,
with the key $EFS_DEVROOT/host.key that the test's other hosts use too) and
listen() runs the enclave's side through `sessgate enclave` (attesting with
$EFS_DEVROOT): the script speaks plaintext frames, the session around them
is real. Without $EFS_DEVROOT the peer speaks on the raw socket.

Command line:
  peer.py --connect unix:PATH SCRIPT.py|-
  peer.py --listen unix:PATH SCRIPT.py|-
runs SCRIPT with `p`, the connected Peer, and this module's names in scope;
exit status 0 when it returns, 1 (with the traceback) when it raises. With
--listen it binds, reports READY=1 to $NOTIFY_SOCKET if set, then accepts
one connection.
"""
import argparse
import atexit
import collections
import errno
import json
import os
import socket
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import xxhash

MAGIC = 0x01534645
VERSION = 1
FRAME_MAX_BODY = (1 << 20) + 64
HOST, ENCLAVE = 1, 2
FILE, DIR, SYMLINK = 1, 2, 3
HELLO_F_READABLE = 1
CHUNK_MIN, CHUNK_MAX = 16 << 10, 256 << 10
BATCH_MAX = 256
SUMMARY_MAX = 4096
RECEIVED, VERIFIED, READY, FAILED, REMOVED = 1, 2, 3, 4, 5
RUNNING, EXITED, KILLED, TIMEOUT, CANCELLED, FAILED_TO_START = 1, 2, 3, 4, 5, 6
STDOUT, STDERR = 1, 2
HOST_TREES = ("encrypted", "dataset", "model")
ENCLAVE_TREES = ("output",)
DEFAULT_TIMEOUT = float(os.environ.get("PEER_TIMEOUT", "60"))

TYPES = {
    "HELLO": 0x0001, "ERROR": 0x0002, "GOODBYE": 0x0003,
    "SUMMARY": 0x0010, "SUMMARY_END": 0x0011,
    "FILE_BEGIN": 0x0020, "FILE_CHUNKS": 0x0021, "FILE_END": 0x0022, "FILE_ABORT": 0x0023,
    "WANT": 0x0024, "DATA": 0x0025, "FILE_ACK": 0x0026, "APPEND": 0x0027,
    "FILE_HOLE": 0x0028,
    "MKDIR": 0x0030, "RENAME": 0x0031, "REMOVE": 0x0032, "SETATTR": 0x0033,
    "SYMLINK": 0x0034, "LINK": 0x0035,
    "BARRIER": 0x0040, "BARRIER_ACK": 0x0041, "STORE": 0x0042,
    "STATUS": 0x0050, "PKG_STATE": 0x0051, "RUN": 0x0052, "RUN_REPLY": 0x0053,
    "JOB_STATE": 0x0054, "JOB_LOG": 0x0055, "JOB_CANCEL": 0x0056, "JOBS": 0x0057,
}
NAMES = {v: k for k, v in TYPES.items()}


class PeerError(Exception):
    """The conversation went wrong: a fatal ERROR, a malformed message, ..."""


class Timeout(PeerError):
    pass


class Closed(PeerError):
    """The other side closed the connection."""


def h128(data):
    return xxhash.xxh3_128_digest(data)


# --- field and frame encoders -----------------------------------------------------

def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def _bytes(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8", "surrogateescape")


def text(s, length=None):
    """str: u16 length + bytes. `length` overrides the length field (a lie)."""
    b = _bytes(s)
    return u16(len(b) if length is None else length) + b


def blob(b, length=None):
    """bytes with a u32 length."""
    b = _bytes(b)
    return u32(len(b) if length is None else length) + b


def type_code(t):
    return TYPES[t] if isinstance(t, str) else t


def frame(t, body=b"", flags=0, length=None):
    body = bytes(body)
    return struct.pack("<IHH", len(body) if length is None else length, type_code(t), flags) + body


def _entry(e):
    if isinstance(e, dict):
        e = (e["kind"], e["path"], e["mode"], e["size"], e["mtime"]) + \
            ((e["target"],) if e["kind"] == SYMLINK else ())
    kind, path, mode, size, mtime = e[:5]
    tail = text(e[5]) if len(e) > 5 else b""
    return u8(kind) + text(path) + u32(mode) + u64(size) + u64(mtime) + tail


class enc:
    """One body encoder per message, fields in the order of doc/PROTOCOL.md."""

    @staticmethod
    def hello(role, flags=0, name="peer", magic=MAGIC, version=VERSION):
        return u32(magic) + u16(version) + u8(role) + u32(flags) + text(name)

    @staticmethod
    def error(errnum, fatal=False, path="", message=""):
        return u32(errnum) + u8(int(fatal)) + text(path) + text(message)

    @staticmethod
    def goodbye():
        return b""

    @staticmethod
    def summary(entries, count=None):
        entries = list(entries)
        return u32(len(entries) if count is None else count) + b"".join(map(_entry, entries))

    @staticmethod
    def summary_end(total):
        return u32(total)

    @staticmethod
    def file_begin(id, path, mode, size, mtime):
        return u32(id) + text(path) + u32(mode) + u64(size) + u64(mtime)

    @staticmethod
    def file_chunks(id, first, chunks, count=None):
        """chunks: [(hash16, length), ...]"""
        chunks = list(chunks)
        return (u32(id) + u32(first) + u32(len(chunks) if count is None else count) +
                b"".join(bytes(h) + u32(n) for h, n in chunks))

    @staticmethod
    def file_end(id, nchunks, file_hash):
        return u32(id) + u32(nchunks) + bytes(file_hash)

    @staticmethod
    def file_abort(id):
        return u32(id)

    @staticmethod
    def want(id, first, indices):
        indices = list(indices)
        return u32(id) + u32(first) + u32(len(indices)) + b"".join(map(u32, indices))

    @staticmethod
    def data(id, index, payload):
        return u32(id) + u32(index) + bytes(payload)

    @staticmethod
    def file_ack(id, errnum=0, message=""):
        return u32(id) + u32(errnum) + text(message)

    @staticmethod
    def append(path, offset, mtime, payload):
        return text(path) + u64(offset) + u64(mtime) + bytes(payload)

    @staticmethod
    def mkdir(path, mode, mtime):
        return text(path) + u32(mode) + u64(mtime)

    setattr = mkdir

    @staticmethod
    def rename(src, dst):
        return text(src) + text(dst)

    @staticmethod
    def remove(path):
        return text(path)

    @staticmethod
    def file_hole(id, offset, length):
        return u32(id) + u64(offset) + u64(length)

    @staticmethod
    def symlink(path, target, mtime=0):
        return text(path) + text(target) + u64(mtime)

    @staticmethod
    def link(existing, path):
        return text(existing) + text(path)

    @staticmethod
    def barrier(seq):
        return u64(seq)

    barrier_ack = barrier

    @staticmethod
    def store(held, max):
        return u64(held) + u64(max)

    @staticmethod
    def status(obj):
        """obj: a dict (sent as JSON) or the raw bytes/str."""
        return blob(json.dumps(obj).encode() if isinstance(obj, dict) else obj)

    @staticmethod
    def pkg_state(name, state, errnum=0, digest=bytes(32), message=""):
        return text(name) + u8(state) + u32(errnum) + bytes(digest) + text(message)

    @staticmethod
    def run(req, line):
        return u32(req) + text(line)

    @staticmethod
    def run_reply(req, job, errnum=0, message=""):
        return u32(req) + u32(job) + u32(errnum) + text(message)

    @staticmethod
    def job_state(job, state, code=0, message=""):
        return u32(job) + u8(state) + u32(code & 0xffffffff) + text(message)

    @staticmethod
    def job_log(job, stream, payload):
        return u32(job) + u8(stream) + bytes(payload)

    @staticmethod
    def job_cancel(job):
        return u32(job)

    @staticmethod
    def jobs(instance, jobs, count=None):
        jobs = list(jobs)
        return bytes(instance) + u32(len(jobs) if count is None else count) + b"".join(map(u32, jobs))


# --- decoders -----------------------------------------------------------------------

class _Reader:
    def __init__(self, t, body):
        self.t, self.b, self.off = t, bytes(body), 0

    def take(self, n):
        if len(self.b) - self.off < n:
            raise PeerError("%s: truncated body (%d bytes)" % (self.t, len(self.b)))
        v = self.b[self.off:self.off + n]
        self.off += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def text(self):
        s = self.take(self.u16())
        if b"\0" in s:
            raise PeerError("%s: NUL in a string" % self.t)
        return s.decode("utf-8", "surrogateescape")

    def rest(self):
        return self.take(len(self.b) - self.off)

    def end(self, msg):
        if self.off != len(self.b):
            raise PeerError("%s: %d trailing bytes" % (self.t, len(self.b) - self.off))
        return msg


def decode(t, body):
    """The fields of one message body as a dict; PeerError when malformed."""
    t = NAMES.get(type_code(t), t)
    r = _Reader(t, body)
    if t == "HELLO":
        m = dict(magic=r.u32(), version=r.u16(), role=r.u8(), flags=r.u32(), name=r.text())
    elif t == "ERROR":
        m = dict(errno=r.u32(), fatal=bool(r.u8()), path=r.text(), message=r.text())
    elif t == "GOODBYE":
        m = {}
    elif t == "SUMMARY":
        m = dict(entries=[])
        for _ in range(r.u32()):
            e = dict(kind=r.u8(), path=r.text(), mode=r.u32(), size=r.u64(), mtime=r.u64())
            if e["kind"] == SYMLINK:
                e["target"] = r.text()
            m["entries"].append(e)
    elif t == "SUMMARY_END":
        m = dict(total=r.u32())
    elif t == "FILE_BEGIN":
        m = dict(id=r.u32(), path=r.text(), mode=r.u32(), size=r.u64(), mtime=r.u64())
    elif t == "FILE_CHUNKS":
        m = dict(id=r.u32(), first=r.u32())
        m["chunks"] = [(r.take(16), r.u32()) for _ in range(r.u32())]
    elif t == "FILE_END":
        m = dict(id=r.u32(), nchunks=r.u32(), hash=r.take(16))
    elif t in ("FILE_ABORT", "JOB_CANCEL"):
        m = {"id" if t == "FILE_ABORT" else "job": r.u32()}
    elif t == "WANT":
        m = dict(id=r.u32(), first=r.u32())
        m["indices"] = [r.u32() for _ in range(r.u32())]
    elif t == "DATA":
        m = dict(id=r.u32(), index=r.u32(), data=r.rest())
    elif t == "FILE_ACK":
        m = dict(id=r.u32(), errno=r.u32(), message=r.text())
    elif t == "APPEND":
        m = dict(path=r.text(), offset=r.u64(), mtime=r.u64(), data=r.rest())
    elif t in ("MKDIR", "SETATTR"):
        m = dict(path=r.text(), mode=r.u32(), mtime=r.u64())
    elif t == "RENAME":
        m = {"from": r.text(), "to": r.text()}
    elif t == "REMOVE":
        m = dict(path=r.text())
    elif t == "FILE_HOLE":
        m = dict(id=r.u32(), offset=r.u64(), length=r.u64())
    elif t == "SYMLINK":
        m = dict(path=r.text(), target=r.text(), mtime=r.u64())
    elif t == "LINK":
        m = {"from": r.text(), "to": r.text()}
    elif t in ("BARRIER", "BARRIER_ACK"):
        m = dict(seq=r.u64())
    elif t == "STORE":
        m = dict(held=r.u64(), max=r.u64())
    elif t == "STATUS":
        raw = r.take(r.u32())
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        m = dict(json=raw, status=parsed)
    elif t == "PKG_STATE":
        m = dict(name=r.text(), state=r.u8(), errno=r.u32(), digest=r.take(32), message=r.text())
    elif t == "RUN":
        m = dict(request=r.u32(), line=r.text())
    elif t == "RUN_REPLY":
        m = dict(request=r.u32(), job=r.u32(), errno=r.u32(), message=r.text())
    elif t == "JOB_STATE":
        m = dict(job=r.u32(), state=r.u8(), code=struct.unpack("<i", r.take(4))[0],
                 message=r.text())
    elif t == "JOB_LOG":
        m = dict(job=r.u32(), stream=r.u8(), data=r.rest())
    elif t == "JOBS":
        m = dict(instance=r.take(16))
        m["jobs"] = [r.u32() for _ in range(r.u32())]
    else:
        raise PeerError("unknown message type %r" % (t,))
    return r.end(m)


# --- connections ----------------------------------------------------------------------

def _unix_path(addr):
    if not addr.startswith("unix:") or len(addr) == 5:
        raise ValueError("address %r: only unix:PATH is supported" % addr)
    return addr[5:]


def _left(deadline):
    """Seconds until deadline (a time.monotonic() value); Timeout once it passed,
    so that a peer that never stops talking cannot keep a wait going."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout("nothing in time from the peer")
    return left


def sd_notify_ready():
    """READY=1 to $NOTIFY_SOCKET (as sd_notify does), so tests wait for it."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1", "\0" + path[1:] if path.startswith("@") else path)


_gates = []


def _stop_gates():
    for g, d in _gates:
        if g.poll() is None:
            g.terminate()
            try:
                g.wait(5)
            except subprocess.TimeoutExpired:
                g.kill()
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_stop_gates)


def _gate(mode, *args, plain=None):
    """Starts sessgate MODE ARGS with --listen unix:PLAIN (host) or --to
    unix:PLAIN (enclave); waits for its READY=1; returns PLAIN (a new path
    when not given)."""
    d = tempfile.mkdtemp(prefix="peer")
    plain = plain or os.path.join(d, "p.sock")
    ready = os.path.join(d, "n.sock")
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.bind(ready)
    n.settimeout(DEFAULT_TIMEOUT)
    where = ["--listen", "unix:" + plain] if mode == "host" else ["--to", "unix:" + plain]
    g = subprocess.Popen(["sessgate", mode, *args, *where],
                         env=dict(os.environ, NOTIFY_SOCKET=ready))
    _gates.append((g, d))
    try:
        if n.recv(64) != b"READY=1":
            raise PeerError("sessgate %s: no READY" % mode)
    except socket.timeout:
        raise Timeout("sessgate %s did not start" % mode) from None
    finally:
        n.close()
    return plain


class Listener:
    def __init__(self, addr):
        self.path = _unix_path(addr)
        devroot = os.environ.get("EFS_DEVROOT")
        if devroot:
            # The session's enclave side listens at addr and relays each
            # session to this socket.
            inner = os.path.join(tempfile.mkdtemp(prefix="peer"), "e.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(inner)
            self.sock.listen(1)
            if os.path.exists(self.path):
                os.unlink(self.path)
            _gate("enclave", "--listen", addr, "--dev-root", devroot, plain=inner)
            return
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def accept(self, timeout=DEFAULT_TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            conn, _ = self.sock.accept()
        except socket.timeout:
            raise Timeout("nobody connected to %s within %ss" % (self.path, timeout)) from None
        conn.settimeout(None)
        return Peer(conn)

    def close(self):
        self.sock.close()


def listen(addr):
    return Listener(addr)


class _RxFile:
    def __init__(self, m):
        self.id, self.path, self.mode = m["id"], m["path"], m["mode"]
        self.size, self.mtime = m["size"], m["mtime"]
        self.chunks = []     # [(hash, length)]
        self.holes = {}      # chunk index -> bytes of holes before it
        self.data = {}       # index -> bytes
        self.ended = False
        self.hash = None
        self.aborted = False

    def complete(self):
        return self.aborted or (self.ended and len(self.data) == len(self.chunks))


class Peer:
    def __init__(self, sock):
        self.sock = sock
        self.rbuf = bytearray()
        self.auto = True
        self.role = None
        self.peer_hello = None
        self.peer_summary = {}
        self.received = []
        self.errors = []
        self.status = None
        self.packages = {}
        self.replies = {}
        self.jobs = {}
        self.held_jobs = None  # the enclave's JOBS: dict(instance, jobs)
        self.store = None      # the peer's last STORE: dict(held, max)
        self.logs = collections.defaultdict(lambda: {STDOUT: b"", STDERR: b""})
        self.file_acks = {}
        self.files, self.attrs, self.dirs = {}, {}, {}
        self.symlinks = {}           # path -> target received
        self.hardlinks = {}          # path -> the path it was linked to
        self.peer_barriers = []      # sequence numbers of the peer's barriers we acknowledged
        self.barrier_acks = set()    # ours the peer acknowledged
        self.closed = False
        self._rx = {}                # open incoming transfers by id
        self._ops = collections.deque()
        self._tx = {}                # our transfers by id: [(offset, length), ...], data
        self._next_id = 1
        self._next_seq = 1
        self._next_req = 1

    @classmethod
    def connect(cls, addr, timeout=DEFAULT_TIMEOUT):
        devroot = os.environ.get("EFS_DEVROOT")
        path = _unix_path(addr)
        if devroot:
            path = _gate("host", "--connect", addr, "--trust-root",
                         os.path.join(devroot, "root.pem"), "--key",
                         os.path.join(devroot, "host.key"))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        s.settimeout(None)
        return cls(s)

    @classmethod
    def listen(cls, addr, timeout=DEFAULT_TIMEOUT):
        l = Listener(addr)
        try:
            return l.accept(timeout)
        finally:
            l.close()

    def close(self):
        self.sock.close()

    # --- sending

    def send_bytes(self, raw):
        try:
            self.sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True
            raise Closed("the peer closed the connection") from None

    def send_raw(self, t, body=b"", flags=0):
        self.send_bytes(frame(t, body, flags))

    def send(self, t, *args, flags=0):
        name = NAMES[type_code(t)]
        self.send_raw(name, getattr(enc, name.lower())(*args), flags)

    def hello(self, role, name="peer", flags=0):
        self.role = role
        self.send("HELLO", role, flags, name)

    def summary(self, entries):
        entries = list(entries)
        for i in range(0, len(entries), SUMMARY_MAX):
            self.send("SUMMARY", entries[i:i + SUMMARY_MAX])

    def summary_end(self, total):
        self.send("SUMMARY_END", total)

    def goodbye(self):
        self.send("GOODBYE")

    def start_file(self, path, data, mode=0o644, mtime_ns=None, id=None, chunk=64 << 10):
        """Sends one whole transfer without waiting; returns its id."""
        data = bytes(data)
        chunk = min(max(chunk, CHUNK_MIN), CHUNK_MAX)
        if id is None:
            id = self._next_id
        self._next_id = max(self._next_id, id + 1)
        mtime = time.time_ns() if mtime_ns is None else mtime_ns
        cuts = [(o, min(chunk, len(data) - o)) for o in range(0, len(data), chunk)]
        self._tx[id] = (cuts, data)
        self.send("FILE_BEGIN", id, path, mode, len(data), mtime)
        for first in range(0, len(cuts), BATCH_MAX):
            batch = cuts[first:first + BATCH_MAX]
            self.send("FILE_CHUNKS", id, first, [(h128(data[o:o + n]), n) for o, n in batch])
        self.send("FILE_END", id, len(cuts), h128(data))
        return id

    def send_file(self, path, data, mode=0o644, mtime_ns=None, id=None, chunk=64 << 10,
                  timeout=DEFAULT_TIMEOUT):
        """The whole conversation of one file: returns the FILE_ACK's (errno, message)."""
        id = self.start_file(path, data, mode, mtime_ns, id, chunk)
        self.expect("FILE_ACK", timeout, id=id)
        return self.file_acks[id]

    def barrier(self, timeout=DEFAULT_TIMEOUT):
        seq = self._next_seq
        self._next_seq += 1
        mark = len(self.received)
        self.send("BARRIER", seq)
        self.expect("BARRIER_ACK", timeout, seq=seq)
        return self.received[mark:-1]

    def run(self, line, req=None, timeout=DEFAULT_TIMEOUT):
        if req is None:
            req = self._next_req
        self._next_req = max(self._next_req, req + 1)
        self.send("RUN", req, line)
        return self.expect("RUN_REPLY", timeout, request=req)

    # --- receiving

    def _fill(self, deadline):
        self.sock.settimeout(_left(deadline))
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout("nothing from the peer in time") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed("the peer closed the connection")
        self.rbuf += chunk

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """The next message as (type name, dict); handled (see auto) and kept."""
        deadline = time.monotonic() + timeout
        while len(self.rbuf) < 8:
            self._fill(deadline)
        length, t, flags = struct.unpack_from("<IHH", self.rbuf)
        if length > FRAME_MAX_BODY or flags or t not in NAMES:
            raise PeerError("bad frame header: length %d type %#x flags %#x" % (length, t, flags))
        while len(self.rbuf) < 8 + length:
            self._fill(deadline)
        body = bytes(self.rbuf[8:8 + length])
        del self.rbuf[:8 + length]
        name = NAMES[t]
        m = decode(name, body)
        self.received.append((name, m))
        self._handle(name, m)
        return name, m

    def expect(self, t, timeout=DEFAULT_TIMEOUT, **fields):
        deadline = time.monotonic() + timeout
        t = NAMES[type_code(t)]
        while True:
            try:
                name, m = self.recv(_left(deadline))
            except Timeout:
                raise Timeout("no %s %s within %ss" % (t, fields or "", timeout)) from None
            except Closed:
                raise Closed("the peer closed the connection while we waited for %s" % t) from None
            if name == t and all(m.get(k) == v for k, v in fields.items()):
                return m
            if name == "ERROR" and m["fatal"]:
                raise PeerError("fatal ERROR while waiting for %s: %s %s (errno %d)" %
                                (t, m["path"], m["message"], m["errno"]))

    def expect_error(self, errnum=None, fatal=True, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            name, m = self.recv(_left(deadline))
            if name != "ERROR":
                continue
            if m["fatal"] == fatal and errnum in (None, m["errno"]):
                return m
            if m["fatal"]:
                raise PeerError("fatal ERROR errno %d (%s), expected %s errno %s" %
                                (m["errno"], m["message"], "a fatal" if fatal else "an", errnum))

    def expect_close(self, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        mark = len(self.received)
        try:
            while True:
                self.recv(_left(deadline))
        except Closed:
            return self.received[mark:]

    def read_summary(self, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        n = 0
        while True:
            name, m = self.recv(_left(deadline))
            if name == "SUMMARY":
                for e in m["entries"]:
                    self.peer_summary[e["path"]] = e
                n += len(m["entries"])
            elif name == "SUMMARY_END":
                if m["total"] != n:
                    raise PeerError("SUMMARY_END says %d entries, got %d" % (m["total"], n))
                return self.peer_summary
            elif name == "ERROR" and m["fatal"]:
                raise PeerError("fatal ERROR during the summary: %s" % m["message"])

    def wait_for(self, done, timeout=DEFAULT_TIMEOUT, what="the condition"):
        """Receives until done() is true."""
        deadline = time.monotonic() + timeout
        while not done():
            try:
                name, m = self.recv(_left(deadline))
            except Timeout:
                raise Timeout("%s did not happen within %ss" % (what, timeout)) from None
            if name == "ERROR" and m["fatal"]:
                raise PeerError("fatal ERROR while waiting for %s: %s" % (what, m["message"]))

    def wait_package(self, name, states=(READY, FAILED, REMOVED), timeout=DEFAULT_TIMEOUT):
        self.wait_for(lambda: self.packages.get(name, {}).get("state") in states, timeout,
                      "package %s" % name)
        return self.packages[name]

    def wait_job(self, job, timeout=DEFAULT_TIMEOUT):
        self.wait_for(lambda: self.jobs.get(job, {}).get("state", RUNNING) != RUNNING, timeout,
                      "the end of job %d" % job)
        return self.jobs[job], self.logs[job][STDOUT], self.logs[job][STDERR]

    # --- the standard openings

    def _holds(self, trees):
        return [(FILE, p, self.attrs[p][0], len(d), self.attrs[p][1])
                for p, d in sorted(self.files.items()) if p.split("/")[0] in trees]

    def _open(self, role, holds, name, flags, announce, initial, timeout):
        deadline = time.monotonic() + timeout
        self.hello(role, name, flags)
        self.peer_hello = self.expect("HELLO", timeout)
        announce()
        holds = self._holds(ENCLAVE_TREES if role == HOST else HOST_TREES) if holds is None \
            else list(holds)
        self.summary(holds)
        self.summary_end(len(holds))
        self.read_summary(_left(deadline))
        if initial:
            initial()
        self.barrier(_left(deadline))
        self.wait_for(lambda: self.peer_barriers, _left(deadline),
                      "the peer's initial pass")
        return self.peer_summary

    def open_host(self, holds=None, initial=None, name="peer", flags=0,
                  timeout=DEFAULT_TIMEOUT):
        """HELLO as the host; our summary of output/ (holds, default: what
        p.files holds there); the peer's summary; initial() (our initial
        pass: what to send before our first barrier); our barrier; the peer's
        first barrier. Returns the peer's summary."""
        return self._open(HOST, holds, name, flags, lambda: None, initial, timeout)

    def open_enclave(self, holds=None, initial=None, name="peer", flags=0,
                     status={"isolation": "dev", "version": "peer", "max_jobs": 1},
                     packages=(), timeout=DEFAULT_TIMEOUT):
        """As open_host, for the enclave, with STATUS (None: none) and one
        PKG_STATE per (name, state, errno, digest, message) after HELLO."""
        def announce():
            if status is not None:
                self.send("STATUS", status)
            for pkg in packages:
                self.send("PKG_STATE", *pkg)
        return self._open(ENCLAVE, holds, name, flags, announce, initial, timeout)

    # --- bookkeeping, and the well-behaved receiver while self.auto is on

    def _handle(self, t, m):
        if t == "HELLO":
            self.peer_hello = m
        elif t == "ERROR":
            self.errors.append(m)
        elif t == "STATUS":
            self.status = m["status"]
        elif t == "PKG_STATE":
            self.packages[m["name"]] = m
        elif t == "RUN_REPLY":
            self.replies[m["request"]] = m
        elif t == "JOB_STATE":
            self.jobs[m["job"]] = m
        elif t == "JOB_LOG":
            self.logs[m["job"]][m["stream"]] += m["data"]
        elif t == "JOBS":
            self.held_jobs = m
        elif t == "STORE":
            self.store = m
        elif t == "FILE_ACK":
            self.file_acks[m["id"]] = (m["errno"], m["message"])
            self._tx.pop(m["id"], None)
        elif t == "BARRIER_ACK":
            self.barrier_acks.add(m["seq"])
        elif t == "GOODBYE":
            self.closed = True
        if self.auto:
            self._answer(t, m)

    def _answer(self, t, m):
        if t == "WANT" and m["id"] in self._tx:
            cuts, data = self._tx[m["id"]]
            for i in m["indices"]:
                o, n = cuts[i]
                self.send("DATA", m["id"], i, data[o:o + n])
        elif t == "FILE_BEGIN":
            if m["id"] in self._rx:
                raise PeerError("FILE_BEGIN reuses open id %d" % m["id"])
            f = self._rx[m["id"]] = _RxFile(m)
            self._ops.append(("file", f))
        elif t == "FILE_CHUNKS":
            f = self._rxfile(t, m["id"])
            if m["first"] != len(f.chunks) or f.ended:
                raise PeerError("%s: FILE_CHUNKS first %d out of turn" % (f.path, m["first"]))
            f.chunks += m["chunks"]
            self.send("WANT", m["id"], m["first"], range(m["first"], len(f.chunks)))
        elif t == "DATA":
            f = self._rxfile(t, m["id"])
            i = m["index"]
            if i >= len(f.chunks) or i in f.data:
                raise PeerError("%s: DATA for chunk %d that was not wanted" % (f.path, i))
            h, n = f.chunks[i]
            if len(m["data"]) != n or h128(m["data"]) != h:
                raise PeerError("%s: chunk %d does not match its announcement" % (f.path, i))
            f.data[i] = m["data"]
        elif t == "FILE_END":
            f = self._rxfile(t, m["id"])
            if m["nchunks"] != len(f.chunks):
                raise PeerError("%s: FILE_END says %d chunks, %d were announced" %
                                (f.path, m["nchunks"], len(f.chunks)))
            f.ended, f.hash = True, m["hash"]
        elif t == "FILE_HOLE":
            f = self._rxfile(t, m["id"])
            n = len(f.chunks)
            f.holes[n] = f.holes.get(n, 0) + m["length"]
        elif t == "FILE_ABORT":
            self._rxfile(t, m["id"]).aborted = True
            del self._rx[m["id"]]
        elif t in ("MKDIR", "SETATTR", "RENAME", "REMOVE", "BARRIER", "SYMLINK", "LINK"):
            self._ops.append((t, m))
        elif t == "APPEND":
            old = self.files.get(m["path"])
            if old is None or len(old) != m["offset"]:
                self.send("ERROR", errno.ESTALE, False, m["path"], "file differs from the sender's")
            else:
                self.files[m["path"]] = old + m["data"]
        self._apply()

    def _rxfile(self, t, id):
        if id not in self._rx:
            raise PeerError("%s for unknown id %d" % (t, id))
        return self._rx[id]

    def _apply(self):
        while self._ops:
            kind, x = self._ops[0]
            if kind == "file":
                if not x.complete():
                    return
                if not x.aborted:
                    self._commit(x)
            elif kind == "BARRIER":
                self.send("BARRIER_ACK", x["seq"])
                self.peer_barriers.append(x["seq"])
            elif kind == "REMOVE":
                for d in (self.files, self.attrs, self.dirs):
                    for p in [p for p in d if p == x["path"] or p.startswith(x["path"] + "/")]:
                        del d[p]
            elif kind == "RENAME":
                src, dst = x["from"], x["to"]
                for d in (self.files, self.attrs, self.dirs):
                    for p in [p for p in d if p == src or p.startswith(src + "/")]:
                        d[dst + p[len(src):]] = d.pop(p)
            elif kind == "MKDIR":
                self.dirs[x["path"]] = (x["mode"], x["mtime"])
            elif kind == "SYMLINK":
                self.files.pop(x["path"], None)
                self.symlinks[x["path"]] = x["target"]
            elif kind == "LINK":
                if x["from"] in self.files:
                    self.files[x["to"]] = self.files[x["from"]]
                    self.hardlinks[x["to"]] = x["from"]
                else:
                    self.send("ERROR", errno.ENOENT, False, x["to"], "cannot link to the file")
            elif kind == "SETATTR":
                target = self.dirs if x["path"] in self.dirs else self.attrs
                target[x["path"]] = (x["mode"], x["mtime"])
            self._ops.popleft()

    def _commit(self, f):
        data = b"".join(b"\0" * f.holes.get(i, 0) + (f.data[i] if i < len(f.chunks) else b"")
                        for i in range(len(f.chunks) + 1))
        if len(data) != f.size or h128(data) != f.hash:
            raise PeerError("%s: the received file does not match its hash or size" % f.path)
        del self._rx[f.id]
        self.files[f.path] = data
        self.attrs[f.path] = (f.mode, f.mtime)
        self.send("FILE_ACK", f.id, 0, "")


def main():
    ap = argparse.ArgumentParser(description="Run a peer script over one connection.")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--connect", metavar="unix:PATH")
    where.add_argument("--listen", metavar="unix:PATH")
    ap.add_argument("script", help="a Python file, or - for standard input")
    args = ap.parse_args()
    code = sys.stdin.read() if args.script == "-" else open(args.script).read()
    if args.listen:
        l = Listener(args.listen)
        sd_notify_ready()
        p = l.accept()
        l.close()
    else:
        p = Peer.connect(args.connect)
    scope = dict(globals(), __name__="__peer_script__", p=p)
    try:
        exec(compile(code, args.script, "exec"), scope)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        p.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
