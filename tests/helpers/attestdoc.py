#!/usr/bin/python3
"""Reads an attestation document with python3-cbor2, independently of the
verifier in attest/: `attestdoc.py ts DOC` prints the payload's timestamp,
`attestdoc.py field DOC KEY` a field (hex for bytes, `null` for null),
`attestdoc.py pcr DOC N` PCR N in hex,
`attestdoc.py pem DOC DIR` writes DIR/leaf.pem, DIR/root.pem (cabundle[0])
and DIR/chain.pem (cabundle[1:]), and `attestdoc.py check DOC JSON` compares
what `enclave-seal attest verify` printed with the document, field by field."""
import base64
import json
import ssl
import sys

import cbor2


def payload(path):
    doc = cbor2.loads(open(path, "rb").read())
    if isinstance(doc, cbor2.CBORTag):
        doc = doc.value
    return cbor2.loads(doc[2])


def pem(der):
    return ssl.DER_cert_to_PEM_cert(der)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    p = payload(path)
    if cmd == "ts":
        print(p["timestamp"])
    elif cmd == "field":
        v = p.get(sys.argv[3])
        print("null" if v is None else v.hex() if isinstance(v, bytes) else v)
    elif cmd == "pcr":
        print(p["pcrs"][int(sys.argv[3])].hex())
    elif cmd == "pem":
        d = sys.argv[3]
        open(d + "/leaf.pem", "w").write(pem(p["certificate"]))
        open(d + "/root.pem", "w").write(pem(p["cabundle"][0]))
        open(d + "/chain.pem", "w").write("".join(pem(c) for c in p["cabundle"][1:]))
    elif cmd == "check":
        j = json.load(open(sys.argv[3]))
        want = {
            "module_id": p["module_id"],
            "timestamp": p["timestamp"],
            "digest": p["digest"],
            "pcrs": {str(k): v.hex() for k, v in p["pcrs"].items()},
            "debug": all(p["pcrs"][i] == bytes(48) for i in (0, 1, 2)),
        }
        for k in ("public_key", "user_data", "nonce"):
            v = p.get(k)
            want[k] = None if v is None else base64.b64encode(v).decode()
        bad = [k for k in want if j.get(k) != want[k]]
        if bad:
            sys.exit("differs from the document: " + ", ".join(bad))
    else:
        sys.exit("usage: attestdoc.py ts|field|pcr|pem|check DOC [ARG]")


main()
