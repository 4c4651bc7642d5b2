#!/usr/bin/env python3
"""mkeif.py: writes a synthetic Enclave Image File for the tests (doc/EIF.md).

  mkeif.py -o OUT --kernel FILE --cmdline TEXT --ramdisk FILE [--ramdisk FILE...]
           [--metadata JSONTEXT] [--signing-cert PEMFILE] [--version N]
           [--arch x86_64|aarch64] [--order builder|spec] [--mutate KIND]

The layout is the one nitro-cli's builder writes: a 548-byte big-endian
header, then each section as a 12-byte header (type, flags, size) and its
data, back to back, the header's table listing them in file order, and a
CRC-32 (zlib's) over the header's first 544 bytes and every section header
and data in that order.

--order builder: kernel, cmdline, metadata, ramdisks, signature (what the
  builder does); spec: kernel, cmdline, ramdisks, signature, metadata (the
  format description's diagram). The PCRs are the same either way.
--version 4 (the default) always carries a metadata section (a fixed one
  unless --metadata gives it); 2 and 3 only with --metadata.
--signing-cert: a signature section, CBOR [{"signing_certificate": [bytes of
  the PEM file], "signature": [bytes of a COSE_Sign1]}], both as arrays of
  integers 0..255. The COSE_Sign1 has the right shape (ES384 protected
  header, a payload naming PCR0) but a zero register value and a zero
  signature: nothing here signs, and the reader does not verify it.
--mutate KIND damages the image in one way, the CRC recomputed over the
  result unless KIND is crc, so that only the intended check can refuse it:
  crc, size-mismatch, type6, overlap, sections33, out-of-file, flags,
  no-kernel, truncated.

Ramdisks are streamed (1 MiB at a time); runs of zeros become holes in OUT,
so a sparse 2 GiB ramdisk makes a sparse image.
"""
import argparse
import os
import struct
import sys
import zlib

HEADER_SIZE = 548
SECTION_HEADER_SIZE = 12
MAX_SECTIONS = 32
KERNEL, CMDLINE, RAMDISK, SIGNATURE, METADATA = 1, 2, 3, 4, 5
STEP = 1 << 20
ZEROS = bytes(STEP)
DEFAULT_METADATA = ('{"ImageName":"mkeif","ImageVersion":"0","BuildMetadata":'
                    '{"BuildTime":"1970-01-01T00:00:00+00:00","BuildTool":"mkeif.py",'
                    '"BuildToolVersion":"1"},"DockerInfo":{}}')
MUTATIONS = ("crc", "size-mismatch", "type6", "overlap", "sections33", "out-of-file",
             "flags", "no-kernel", "truncated")


class Section:
    def __init__(self, kind, data=None, path=None):
        self.kind = kind
        self.data = data
        self.path = path
        self.size = len(data) if data is not None else os.stat(path).st_size
        self.head_type = kind
        self.head_flags = 0
        self.head_size = self.size

    def chunks(self):
        if self.data is not None:
            yield self.data
            return
        left = self.size
        with open(self.path, "rb") as f:
            while left > 0:
                chunk = f.read(min(STEP, left))
                if not chunk:
                    sys.exit("mkeif.py: %s shrank while being read" % self.path)
                left -= len(chunk)
                yield chunk


def signature_section(pem):
    import cbor2  # only signed images need it (python3-cbor2)

    protected = cbor2.dumps({1: -35})  # alg: ES384
    payload = cbor2.dumps({"register_index": 0, "register_value": [0] * 48})
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, bytes(96)]))
    return cbor2.dumps([{"signing_certificate": list(pem), "signature": list(cose)}])


def sections_for(args):
    kernel = Section(KERNEL, path=args.kernel)
    cmdline = Section(CMDLINE, data=args.cmdline.encode())
    ramdisks = [Section(RAMDISK, path=p) for p in args.ramdisk]
    meta = []
    if args.metadata is not None:
        meta = [Section(METADATA, data=args.metadata.encode())]
    elif args.version >= 4:
        meta = [Section(METADATA, data=DEFAULT_METADATA.encode())]
    sig = []
    if args.signing_cert:
        with open(args.signing_cert, "rb") as f:
            sig = [Section(SIGNATURE, data=signature_section(f.read()))]
    head = [] if args.mutate == "no-kernel" else [kernel]
    if args.order == "builder":
        return head + [cmdline] + meta + ramdisks + sig
    return head + [cmdline] + ramdisks + sig + meta


def main():
    ap = argparse.ArgumentParser(description="write a synthetic Enclave Image File")
    ap.add_argument("-o", dest="out", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cmdline", required=True)
    ap.add_argument("--ramdisk", action="append", required=True)
    ap.add_argument("--metadata")
    ap.add_argument("--signing-cert")
    ap.add_argument("--version", type=int, default=4)
    ap.add_argument("--arch", choices=("x86_64", "aarch64"), default="x86_64")
    ap.add_argument("--order", choices=("builder", "spec"), default="builder")
    ap.add_argument("--mutate", choices=MUTATIONS)
    args = ap.parse_args()

    secs = sections_for(args)
    if len(secs) > MAX_SECTIONS:
        ap.error("%d sections: an image holds at most %d" % (len(secs), MAX_SECTIONS))
    offsets, off = [], HEADER_SIZE
    for s in secs:
        offsets.append(off)
        off += SECTION_HEADER_SIZE + s.size
    end = off
    sizes = [s.size for s in secs]
    count = len(secs)

    m = args.mutate
    if m == "size-mismatch":
        secs[1].head_size += 1
    elif m == "type6":
        secs[1].head_type = 6
    elif m == "flags":
        secs[0].head_flags = 1
    elif m == "overlap":
        offsets[1] = offsets[0] + 1
    elif m == "sections33":
        count = 33
    elif m == "out-of-file":
        sizes[-1] += 4096

    header = bytearray(HEADER_SIZE)
    struct.pack_into(">4sHHQQHH", header, 0, b".eif", args.version,
                     1 if args.arch == "aarch64" else 0, 0, 0, 0, count)
    for i in range(len(secs)):
        struct.pack_into(">Q", header, 0x1C + 8 * i, offsets[i])
        struct.pack_into(">Q", header, 0x11C + 8 * i, sizes[i])
    crc = zlib.crc32(bytes(header[:0x220]))

    with open(args.out, "wb") as f:
        f.seek(HEADER_SIZE)
        for s in secs:
            sh = struct.pack(">HHQ", s.head_type, s.head_flags, s.head_size)
            crc = zlib.crc32(sh, crc)
            f.write(sh)
            for chunk in s.chunks():
                crc = zlib.crc32(chunk, crc)
                if chunk == ZEROS[:len(chunk)]:
                    f.seek(len(chunk), os.SEEK_CUR)
                else:
                    f.write(chunk)
        if m == "crc":
            crc ^= 0xFF
        struct.pack_into(">I", header, 0x220, crc)
        f.seek(0)
        f.write(header)
        f.truncate(end - 1 if m == "truncated" else end)


if __name__ == "__main__":
    main()
