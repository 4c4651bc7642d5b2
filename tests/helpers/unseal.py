#!/usr/bin/env python3
"""An independent implementation of the sealed-package format (doc/PACKAGE.md),
written from that document alone, with Python's `cryptography` package (Debian:
python3-cryptography). It exists to prove the document is sufficient and that
enclave/package.c interoperates with another AES-GCM and RFC 5649 implementation.

  unseal.py unseal KEKFILE PACKAGE [OUT]      plaintext to OUT (default stdout)
  unseal.py seal [--segment N] [--zstd] KEKFILE IN OUT
  unseal.py wrap KEKFILE HEXKEY               RFC 5649 wrap, in hex
  unseal.py id KEKFILE                        the KEK id

Errors: "unseal.py: ERRNAME: message" on stderr, exit status 1.
"""
import argparse
import base64
import binascii
import datetime
import hashlib
import json
import math
import os
import re
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

MAGIC = b"EFSPKG\x00\x01"
HEADER_MAX = 65536
SEG_MIN, SEG_MAX = 4096, 16 * 1024 * 1024
TAG = 16
FIELDS = {"format", "key", "aead", "segment", "nonce", "compression", "created"}


class PkgError(Exception):
    def __init__(self, name, msg):
        super().__init__(msg)
        self.name = name


def b64(s, what):
    if not isinstance(s, str) or not re.fullmatch(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", s) or not s:
        raise PkgError("EINVAL", f"{what} is not base64")
    raw = base64.b64decode(s, validate=True)
    if base64.b64encode(raw).decode() != s:
        raise PkgError("EINVAL", f"{what} is not canonical base64")
    return raw


def read_kek(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != 65 or data[64:] != b"\n" or not re.fullmatch(rb"[0-9a-f]{64}", data[:64]):
        raise PkgError("EINVAL", f"{path}: not a KEK file")
    return bytes.fromhex(data[:64].decode())


def kek_id(kek):
    return hashlib.sha256(b"enclave-fs kek id v1" + kek).digest()[:8].hex()


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise PkgError("EINVAL", f"duplicate key {k!r}")
        d[k] = v
    return d


def parse_header(f, size):
    prefix = f.read(12)
    if len(prefix) < 8 or prefix[:8] != MAGIC:
        raise PkgError("ENOEXEC", "not a sealed package")
    if len(prefix) < 12:
        raise PkgError("EINVAL", "truncated header length")
    (hlen,) = struct.unpack("<I", prefix[8:12])
    if not 1 <= hlen <= HEADER_MAX:
        raise PkgError("EINVAL", "header length out of range")
    raw = f.read(hlen)
    if len(raw) != hlen:
        raise PkgError("EINVAL", "truncated header")
    if raw[:1] != b"{" or raw[-1:] != b"}" or b"\x00" in raw:
        raise PkgError("EINVAL", "header is not a JSON object")
    try:
        h = json.loads(raw.decode("utf-8"), object_pairs_hook=no_dups)
    except (UnicodeDecodeError, ValueError) as e:
        raise PkgError("EINVAL", f"header JSON: {e}")
    if not isinstance(h, dict):
        raise PkgError("EINVAL", "header is not a JSON object")
    if not is_int(h.get("format")):
        raise PkgError("EINVAL", "format is not an integer")
    if h["format"] != 1:
        raise PkgError("EPROTONOSUPPORT", f"format {h['format']}")
    if set(h) != FIELDS:
        raise PkgError("EINVAL", f"header fields {sorted(h)}")
    if not isinstance(h["aead"], str):
        raise PkgError("EINVAL", "aead is not a string")
    if h["aead"] != "AES-256-GCM":
        raise PkgError("EPROTONOSUPPORT", f"aead {h['aead']}")
    key = h["key"]
    if not isinstance(key, dict) or not isinstance(key.get("provider"), str):
        raise PkgError("EINVAL", "key")
    if key["provider"] != "kek":
        # This tool only has the kek provider.
        raise PkgError("EPROTONOSUPPORT", f"provider {key['provider']}")
    if set(key) != {"provider", "id", "wrapped"}:
        raise PkgError("EINVAL", "key fields")
    if not isinstance(key["id"], str) or not re.fullmatch(r"[0-9a-f]{16}", key["id"]):
        raise PkgError("EINVAL", "key id")
    wrapped = b64(key["wrapped"], "key.wrapped")
    if len(wrapped) != 40:
        raise PkgError("EINVAL", "key.wrapped length")
    seg = h["segment"]
    if not is_int(seg) or not SEG_MIN <= seg <= SEG_MAX or seg & (seg - 1):
        raise PkgError("EINVAL", "segment")
    nonce = b64(h["nonce"], "nonce")
    if len(nonce) != 8:
        raise PkgError("EINVAL", "nonce length")
    if h["compression"] not in ("none", "zstd"):
        raise PkgError("EINVAL", "compression")
    if not isinstance(h["created"], str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["created"]):
        raise PkgError("EINVAL", "created")
    return {
        "raw": raw,
        "digest": hashlib.sha256(raw).digest(),
        "id": key["id"],
        "wrapped": wrapped,
        "segment": seg,
        "nonce": nonce,
        "body_offset": 12 + hlen,
    }


def iv(prefix, digest, i, last):
    idx = struct.pack(">I", i)
    return prefix + idx, digest + idx + (b"\x01" if last else b"\x00")


def unseal(kek, path, out):
    size = os.stat(path).st_size
    with open(path, "rb") as f:
        h = parse_header(f, size)
        body = size - h["body_offset"]
        full = h["segment"] + TAG
        n = max(1, math.ceil(body / full))
        last = body - (n - 1) * full - TAG
        if last < 0 or (last == 0 and n > 1) or n > 2**32:
            raise PkgError("EBADMSG", "truncated or malformed segment layout")
        if h["id"] != kek_id(kek):
            raise PkgError("ENOKEY", f"no KEK with id {h['id']}")
        try:
            dek = aes_key_unwrap_with_padding(kek, h["wrapped"])
        except InvalidUnwrap:
            raise PkgError("EKEYREJECTED", "the wrapped key does not unwrap")
        if len(dek) != 32:
            raise PkgError("EKEYREJECTED", "the wrapped key is not 32 bytes")
        gcm = AESGCM(dek)
        f.seek(h["body_offset"])
        for i in range(n):
            is_last = i == n - 1
            ln = last if is_last else h["segment"]
            ct = f.read(ln + TAG)
            if len(ct) != ln + TAG:
                raise PkgError("EBADMSG", f"segment {i} is short")
            nonce, aad = iv(h["nonce"], h["digest"], i, is_last)
            try:
                out.write(gcm.decrypt(nonce, ct, aad))
            except InvalidTag:
                raise PkgError("EBADMSG", f"segment {i} failed authentication")


def seal(kek, inp, out, segment, zstd):
    dek = os.urandom(32)
    prefix = os.urandom(8)
    header = {
        "format": 1,
        "key": {
            "provider": "kek",
            "id": kek_id(kek),
            "wrapped": base64.b64encode(aes_key_wrap_with_padding(kek, dek)).decode(),
        },
        "aead": "AES-256-GCM",
        "segment": segment,
        "nonce": base64.b64encode(prefix).decode(),
        "compression": "zstd" if zstd else "none",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    digest = hashlib.sha256(raw).digest()
    gcm = AESGCM(dek)
    out.write(MAGIC + struct.pack("<I", len(raw)) + raw)
    # Read one piece ahead: a piece is the last one only if nothing follows it.
    i = 0
    piece = inp.read(segment)
    while True:
        nxt = inp.read(segment) if len(piece) == segment else b""
        is_last = not nxt
        nonce, aad = iv(prefix, digest, i, is_last)
        out.write(gcm.encrypt(nonce, piece, aad))
        if is_last:
            break
        piece = nxt
        i += 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("unseal")
    p.add_argument("kek")
    p.add_argument("package")
    p.add_argument("out", nargs="?")
    p = sub.add_parser("seal")
    p.add_argument("--segment", type=int, default=1048576)
    p.add_argument("--zstd", action="store_true")
    p.add_argument("kek")
    p.add_argument("inp")
    p.add_argument("out")
    p = sub.add_parser("wrap")
    p.add_argument("kek")
    p.add_argument("hexkey")
    p = sub.add_parser("id")
    p.add_argument("kek")
    a = ap.parse_args()
    try:
        kek = read_kek(a.kek)
        if a.cmd == "unseal":
            if a.out:
                with open(a.out, "wb") as out:
                    unseal(kek, a.package, out)
            else:
                unseal(kek, a.package, sys.stdout.buffer)
        elif a.cmd == "seal":
            with open(a.inp, "rb") as inp, open(a.out, "wb") as out:
                seal(kek, inp, out, a.segment, a.zstd)
        elif a.cmd == "wrap":
            print(aes_key_wrap_with_padding(kek, binascii.unhexlify(a.hexkey)).hex())
        else:
            print(kek_id(kek))
    except PkgError as e:
        print(f"unseal.py: {e.name}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
