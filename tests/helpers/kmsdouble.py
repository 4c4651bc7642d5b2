#!/usr/bin/env python3
"""A stand-in for AWS KMS and the EC2 instance metadata service (IMDSv2), for
enclave-fs's tests. Not installed.

It checks what AWS checks, with implementations that are not the project's:
  - every request's SigV4 signature, recomputed with botocore for the
    request's own X-Amz-Date over the headers it signed, the credential
    scope (date, region, service kms), the clock skew (5 min), the body's
    x-amz-content-sha256, and the session token of temporary credentials;
  - the Recipient's attestation document: COSE_Sign1 with protected header
    {1: -35}, ES384 over the Sig_structure by the leaf certificate, the chain
    leaf <- cabundle[n-1] <- ... <- cabundle[0] == --dev-root, each signature
    and validity period at now, digest SHA384, an RSA-2048 public_key;
    then the document's PCR0 against the key's list (its key policy);
  - principals: sealers (--sealer) may only GenerateDataKey; the instance
    role (credentials from IMDS) may only Decrypt, and only with a Recipient
    whose PCR0 the key allows; anyone else's Decrypt is AccessDenied.
It answers CiphertextForRecipient made by `openssl cms -encrypt` to the
recipient's key (RSA-OAEP-SHA256, AES-256-CBC), in either encryptedContent
form, and never a Plaintext with a Recipient.

What it does not do: grants, IAM policy evaluation beyond the rules above,
key rotation, multi-region keys, any operation but GenerateDataKey and
Decrypt. Its CiphertextBlob is its own format (AES-GCM under a per-key
secret, bound to the key ARN and the encryption context).

Files in --state DIR: ca.pem (the CA clients trust), kms.port, imds.port,
requests.log (one JSON line per KMS request), datakeys.log ("ARN HEX" per
data key generated: the test's way to look for key bytes where they must not
be), ready (written last). Control (HTTPS, same server): POST
/__double/fail {"op","status","type","count"}, GET /__double/stats,
POST /__double/expire (the current IMDS credentials expire now).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

BLOB_MAGIC = b"EFSKMSDOUBLE1"
MAX_BODY = 1 << 20


class KmsError(Exception):
    def __init__(self, name, message, status=400):
        super().__init__(message)
        self.name, self.message, self.status = name, message, status


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Double:
    def __init__(self, args):
        self.args = args
        self.state = args.state
        self.region = args.region
        self.lock = threading.Lock()
        self.keys = {}  # arn -> {"pcr0": set, "secret": bytes}
        for spec in args.key:
            arn, _, pcrs = spec.partition("=")
            self.keys[arn] = {
                "pcr0": {p.lower() for p in pcrs.split(",") if p},
                "secret": secrets.token_bytes(32),
            }
        self.aliases = dict(a.split("=", 1) for a in args.alias)
        self.sealers = {}
        for s in args.sealer:
            parts = s.split(":")
            self.sealers[parts[0]] = {"secret": parts[1], "token": parts[2] if len(parts) > 2 else ""}
        self.role = args.host_role
        self.lifetime = args.imds_lifetime
        self.sets = {}  # akid -> {"secret","token","expires"}
        self.current = None
        self.imds_tokens = {}
        self.fails = []
        self.stats = {}
        self.form_flip = False
        self.root_pem_path = args.dev_root
        self.make_ca()

    # --- certificates ------------------------------------------------------
    def make_ca(self):
        now = utcnow()
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enclave-fs test KMS CA")])
        self.ca_name = name
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(self.ca_key, hashes.SHA256()))
        self.srv_key = ec.generate_private_key(ec.SECP256R1())
        import ipaddress
        sans = [x509.DNSName("localhost"), x509.DNSName("kms.%s.amazonaws.com" % self.region),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        srv = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kms double")]))
               .issuer_name(name).public_key(self.srv_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .sign(self.ca_key, hashes.SHA256()))
        with open(os.path.join(self.state, "ca.pem"), "wb") as f:
            f.write(self.ca.public_bytes(serialization.Encoding.PEM))
        self.srv_cert_path = os.path.join(self.state, ".server.pem")
        self.srv_key_path = os.path.join(self.state, ".server.key")
        with open(self.srv_cert_path, "wb") as f:
            f.write(srv.public_bytes(serialization.Encoding.PEM))
        with open(self.srv_key_path, "wb") as f:
            f.write(self.srv_key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.srv_cert_path, self.srv_key_path)
        return ctx

    # --- bookkeeping --------------------------------------------------------
    def count(self, what):
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + 1

    def log(self, rec):
        with self.lock:
            with open(os.path.join(self.state, "requests.log"), "a") as f:
                f.write(json.dumps(rec) + "\n")

    def injected(self, op):
        with self.lock:
            for f in self.fails:
                if f["count"] > 0 and f.get("op", "*") in ("*", op):
                    f["count"] -= 1
                    return KmsError(f.get("type", "KMSInternalException"),
                                    "injected failure", int(f.get("status", 500)))
        return None

    # --- IMDS credentials -----------------------------------------------------
    def imds_set(self):
        now = time.time()
        with self.lock:
            cur = self.sets.get(self.current)
            if not cur or cur["expires"] - now <= 0.4 * self.lifetime:
                akid = "ASIA" + secrets.token_hex(8).upper()
                cur = {"secret": secrets.token_urlsafe(30), "token": secrets.token_urlsafe(60),
                       "expires": int(now + self.lifetime)}
                self.sets[akid] = cur
                self.current = akid
            return self.current, dict(cur)

    def expire_current(self):
        with self.lock:
            if self.current in self.sets:
                self.sets[self.current]["expires"] = int(time.time())

    # --- SigV4 ------------------------------------------------------------------
    def authenticate(self, headers, body):
        h = {k.lower(): v for k, v in headers.items()}
        auth = h.get("authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            raise KmsError("IncompleteSignature", "Authorization header requires AWS4-HMAC-SHA256")
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
            raise KmsError("IncompleteSignature", "Authorization header is incomplete")
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise KmsError("IncompleteSignature", "malformed credential scope")
        akid, date, region, service = scope[:4]
        amz_date = h.get("x-amz-date", "")
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise KmsError("IncompleteSignature", "X-Amz-Date is missing or malformed")
        if abs((utcnow() - t).total_seconds()) > 300:
            raise KmsError("InvalidSignatureException", "Signature expired: request time too skewed")
        if date != amz_date[:8] or region != self.region or service != "kms":
            raise KmsError("InvalidSignatureException", "credential scope does not match")
        principal, secret, token = None, None, ""
        with self.lock:
            if akid in self.sealers:
                principal, secret, token = "sealer", self.sealers[akid]["secret"], self.sealers[akid]["token"]
            elif akid in self.sets:
                s = self.sets[akid]
                principal, secret, token = "host", s["secret"], s["token"]
                if s["expires"] <= time.time():
                    raise KmsError("ExpiredTokenException", "The security token included in the request is expired")
        if not principal:
            raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if token and h.get("x-amz-security-token") != token:
            raise KmsError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if "x-amz-content-sha256" in h and h["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest():
            raise KmsError("InvalidSignatureException", "x-amz-content-sha256 does not match the body")
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            raise KmsError("InvalidSignatureException", "host and x-amz-date must be signed")
        rq = botocore.awsrequest.AWSRequest(method="POST", url="https://%s/" % h.get("host", ""),
                                            data=body,
                                            headers={k: headers[k] for k in headers if k.lower() in signed})
        rq.context["timestamp"] = amz_date
        signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(akid, secret, token or None),
                                         "kms", region)
        canonical = signer.canonical_request(rq)
        want = signer.signature(signer.string_to_sign(rq, canonical), rq)
        if not hmac.compare_digest(want, fields["Signature"]):
            raise KmsError("InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided.")
        return principal, akid

    # --- attestation --------------------------------------------------------------
    def verify_document(self, doc):
        try:
            obj = cbor2.loads(doc)
            if isinstance(obj, cbor2.CBORTag):
                obj = obj.value
            protected, _unprotected, payload, sig = obj
            if cbor2.loads(protected) != {1: -35}:
                raise ValueError("protected header is not {1: -35}")
            p = cbor2.loads(payload)
            if p.get("digest") != "SHA384":
                raise ValueError("digest is not SHA384")
            leaf = x509.load_der_x509_certificate(p["certificate"])
            bundle = [x509.load_der_x509_certificate(c) for c in p["cabundle"]]
            if len(sig) != 96:
                raise ValueError("signature is not 96 bytes")
            der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
            leaf.public_key().verify(der, cbor2.dumps(["Signature1", protected, b"", payload]),
                                     ec.ECDSA(hashes.SHA384()))
            if not self.root_pem_path:
                raise ValueError("the double has no --dev-root to verify against")
            root_der = open(self.root_pem_path, "rb").read()
            root = x509.load_pem_x509_certificate(root_der)
            if not bundle or bundle[0].public_bytes(serialization.Encoding.DER) != root.public_bytes(serialization.Encoding.DER):
                raise ValueError("cabundle[0] is not the trusted root")
            chain = bundle + [leaf]
            now = utcnow()
            for issuer, cert in zip(chain, chain[1:]):
                issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                           ec.ECDSA(cert.signature_hash_algorithm))
            for cert in chain:
                if not cert.not_valid_before <= now <= cert.not_valid_after:
                    raise ValueError("a certificate is not valid now")
            pk = serialization.load_der_public_key(p["public_key"])
            if not isinstance(pk, rsa.RSAPublicKey) or pk.key_size != 2048:
                raise ValueError("public_key is not an RSA-2048 key")
            return p["pcrs"][0].hex(), pk
        except KmsError:
            raise
        except (InvalidSignature, ValueError, KeyError, TypeError, IndexError, cbor2.CBORDecodeError) as e:
            raise KmsError("ValidationException", "the attestation document is not valid: %s" % (e or type(e).__name__))

    def encrypt_to(self, pk, plaintext):
        now = utcnow()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "recipient")]))
                .issuer_name(self.ca_name).public_key(pk).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pk), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        form = self.args.cms_form
        if form == "alternate":
            with self.lock:
                self.form_flip = not self.form_flip
                form = "indefinite" if self.form_flip else "primitive"
        with tempfile.TemporaryDirectory() as d:
            cp, kp = os.path.join(d, "r.pem"), os.path.join(d, "k.bin")
            with open(cp, "wb") as f:
                f.write(cert.public_bytes(serialization.Encoding.PEM))
            with open(kp, "wb") as f:
                f.write(plaintext)
            cmd = ["openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-recip", cp, "-keyid",
                   "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
                   "-keyopt", "rsa_mgf1_md:sha256", "-in", kp, "-outform", "DER"]
            if form == "indefinite":
                cmd.insert(3, "-stream")
            return subprocess.run(cmd, check=True, capture_output=True).stdout

    # --- blobs ---------------------------------------------------------------------
    def resolve(self, key_id):
        arn = self.aliases.get(key_id, key_id)
        if arn not in self.keys:
            raise KmsError("NotFoundException", "Key '%s' does not exist" % key_id)
        return arn

    @staticmethod
    def context_aad(arn, ctx):
        return arn.encode() + b"\0" + json.dumps(ctx or {}, sort_keys=True, separators=(",", ":")).encode()

    def seal_blob(self, arn, ctx, plaintext):
        nonce = secrets.token_bytes(12)
        ct = AESGCM(self.keys[arn]["secret"]).encrypt(nonce, plaintext, self.context_aad(arn, ctx))
        return BLOB_MAGIC + struct.pack(">H", len(arn)) + arn.encode() + nonce + ct

    def open_blob(self, blob, key_id, ctx):
        try:
            if not blob.startswith(BLOB_MAGIC):
                raise ValueError
            n = struct.unpack(">H", blob[len(BLOB_MAGIC):len(BLOB_MAGIC) + 2])[0]
            off = len(BLOB_MAGIC) + 2
            arn = blob[off:off + n].decode()
            nonce, ct = blob[off + n:off + n + 12], blob[off + n + 12:]
        except (ValueError, struct.error, UnicodeDecodeError):
            raise KmsError("InvalidCiphertextException", "")
        if arn not in self.keys:
            raise KmsError("InvalidCiphertextException", "")
        if key_id and self.resolve(key_id) != arn:
            raise KmsError("IncorrectKeyException",
                           "The key ID in the request does not identify a CMK that can perform this operation.")
        try:
            return arn, AESGCM(self.keys[arn]["secret"]).decrypt(nonce, ct, self.context_aad(arn, ctx))
        except InvalidTag:
            raise KmsError("InvalidCiphertextException", "")

    # --- operations -------------------------------------------------------------------
    def recipient(self, req, arn):
        r = req.get("Recipient")
        if r is None:
            return None, None
        if not isinstance(r, dict) or r.get("KeyEncryptionAlgorithm") != "RSAES_OAEP_SHA_256":
            raise KmsError("ValidationException", "Recipient.KeyEncryptionAlgorithm must be RSAES_OAEP_SHA_256")
        try:
            doc = base64.b64decode(r.get("AttestationDocument", ""), validate=True)
        except ValueError:
            raise KmsError("ValidationException", "AttestationDocument is not base64")
        pcr0, pk = self.verify_document(doc)
        return pcr0, pk

    def op_generate(self, principal, req, rec):
        if principal != "sealer":
            raise KmsError("AccessDeniedException", "User: %s is not authorized to perform: kms:GenerateDataKey" % principal)
        arn = self.resolve(req.get("KeyId", ""))
        rec["key"] = arn
        ctx = req.get("EncryptionContext") or {}
        if not isinstance(ctx, dict) or not all(isinstance(v, str) for v in ctx.values()):
            raise KmsError("ValidationException", "EncryptionContext must map strings to strings")
        n = 32 if req.get("KeySpec") == "AES_256" else req.get("NumberOfBytes")
        if not isinstance(n, int) or not 1 <= n <= 1024:
            raise KmsError("ValidationException", "KeySpec or NumberOfBytes is required")
        pcr0, pk = self.recipient(req, arn)
        plaintext = secrets.token_bytes(n)
        blob = self.seal_blob(arn, ctx, plaintext)
        with self.lock:
            with open(os.path.join(self.state, "datakeys.log"), "a") as f:
                f.write("%s %s\n" % (arn, plaintext.hex()))
        out = {"KeyId": arn, "CiphertextBlob": base64.b64encode(blob).decode()}
        if pk:
            out["CiphertextForRecipient"] = base64.b64encode(self.encrypt_to(pk, plaintext)).decode()
        else:
            out["Plaintext"] = base64.b64encode(plaintext).decode()
        return out

    def op_decrypt(self, principal, req, rec):
        try:
            blob = base64.b64decode(req.get("CiphertextBlob", ""), validate=True)
        except ValueError:
            raise KmsError("ValidationException", "CiphertextBlob is not base64")
        ctx = req.get("EncryptionContext") or {}
        arn, plaintext = self.open_blob(blob, req.get("KeyId"), ctx)
        rec["key"] = arn
        who = "arn:aws:sts::111122223333:assumed-role/%s/i-0" % self.role if principal == "host" \
            else "arn:aws:iam::111122223333:user/sealer"
        if principal != "host":
            raise KmsError("AccessDeniedException",
                           "User: %s is not authorized to perform: kms:Decrypt on resource: %s because no "
                           "resource-based policy allows the kms:Decrypt action" % (who, arn))
        pcr0, pk = self.recipient(req, arn)
        rec["recipient"] = pk is not None
        if pk is None:
            raise KmsError("AccessDeniedException",
                           "User: %s is not authorized to perform: kms:Decrypt on resource: %s with an explicit "
                           "deny in a resource-based policy" % (who, arn))
        rec["pcr0"] = pcr0
        if pcr0 not in self.keys[arn]["pcr0"]:
            raise KmsError("AccessDeniedException",
                           "User: %s is not authorized to perform: kms:Decrypt on resource: %s with an explicit "
                           "deny in a resource-based policy (kms:RecipientAttestation:ImageSha384 %s...)"
                           % (who, arn, pcr0[:16]))
        return {"KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                "CiphertextForRecipient": base64.b64encode(self.encrypt_to(pk, plaintext)).decode()}

    def handle_kms(self, headers, body):
        target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
        op = target.split(".", 1)[1] if target.startswith("TrentService.") else target
        rec = {"op": op, "akid": None, "key": None, "status": 200, "error": None, "pcr0": None,
               "recipient": False}
        self.count(op)
        try:
            if {k.lower(): v for k, v in headers.items()}.get("content-type") != "application/x-amz-json-1.1":
                raise KmsError("ValidationException", "content-type must be application/x-amz-json-1.1")
            principal, rec["akid"] = self.authenticate(headers, body)
            fail = self.injected(op)
            if fail:
                raise fail
            try:
                req = json.loads(body)
                if not isinstance(req, dict):
                    raise ValueError
            except ValueError:
                raise KmsError("SerializationException", "the body is not a JSON object")
            if op == "GenerateDataKey":
                out = self.op_generate(principal, req, rec)
            elif op == "Decrypt":
                out = self.op_decrypt(principal, req, rec)
            else:
                raise KmsError("UnknownOperationException", "")
            self.count(op + "_ok")
            self.log(rec)
            return 200, out
        except KmsError as e:
            rec["status"], rec["error"] = e.status, e.name
            self.log(rec)
            return e.status, {"__type": e.name, "message": e.message}


def make_handler(double, kind):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def address_string(self):
            return "client"

        def reply(self, status, body, ctype="application/x-amz-json-1.1"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            if n < 0 or n > MAX_BODY:
                raise ValueError
            return self.rfile.read(n)

        def do_POST(self):
            if kind == "imds":
                return self.reply(405, b"", "text/plain")
            body = self.body()
            if self.path.startswith("/__double/"):
                return self.control("POST", body)
            if self.path != "/":
                return self.reply(404, {"__type": "UnknownOperationException", "message": ""})
            status, out = double.handle_kms(dict(self.headers.items()), body)
            self.reply(status, out)

        def do_GET(self):
            if kind == "imds":
                return self.imds("GET")
            if self.path.startswith("/__double/"):
                return self.control("GET", b"")
            self.reply(404, b"", "text/plain")

        def do_PUT(self):
            if kind == "imds":
                return self.imds("PUT")
            self.reply(405, b"", "text/plain")

        def control(self, method, body):
            what = self.path[len("/__double/"):]
            if what == "stats":
                with double.lock:
                    return self.reply(200, dict(double.stats), "application/json")
            if what == "fail" and method == "POST":
                f = json.loads(body)
                f["count"] = int(f.get("count", 1))
                with double.lock:
                    double.fails.append(f)
                return self.reply(200, {}, "application/json")
            if what == "expire" and method == "POST":
                double.expire_current()
                return self.reply(200, {}, "application/json")
            self.reply(404, b"", "text/plain")

        def imds(self, method):
            if method == "PUT":
                if self.path != "/latest/api/token":
                    return self.reply(404, b"", "text/plain")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
                if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self.reply(400, b"", "text/plain")
                tok = secrets.token_urlsafe(32)
                with double.lock:
                    double.imds_tokens[tok] = time.time() + int(ttl)
                return self.reply(200, tok.encode(), "text/plain")
            tok = self.headers.get("X-aws-ec2-metadata-token", "")
            with double.lock:
                live = double.imds_tokens.get(tok, 0) > time.time()
            if not live:
                return self.reply(401, b"", "text/plain")
            base = "/latest/meta-data/iam/security-credentials/"
            if self.path == base:
                return self.reply(200, double.role.encode(), "text/plain")
            if self.path == base + double.role:
                double.count("imds_creds")
                akid, s = double.imds_set()
                exp = datetime.datetime.fromtimestamp(s["expires"], datetime.timezone.utc)
                return self.reply(200, {
                    "Code": "Success", "LastUpdated": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "Type": "AWS-HMAC", "AccessKeyId": akid, "SecretAccessKey": s["secret"],
                    "Token": s["token"], "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    "text/plain")
            if self.path == "/latest/meta-data/placement/region":
                return self.reply(200, double.region.encode(), "text/plain")
            self.reply(404, b"", "text/plain")

    return Handler


class TlsTcpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(30)
        return self.ctx.wrap_socket(sock, server_side=True), addr


class TlsUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path, handler, ctx):
        self.ctx = ctx
        super().__init__(path, handler)

    def get_request(self):
        sock, _ = self.socket.accept()
        sock.settimeout(30)
        return self.ctx.wrap_socket(sock, server_side=True), ("unix", 0)


class PlainServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--key", action="append", default=[])
    ap.add_argument("--alias", action="append", default=[])
    ap.add_argument("--sealer", action="append", default=[])
    ap.add_argument("--host-role", default="enclave-fs-parent")
    ap.add_argument("--imds", action="store_true")
    ap.add_argument("--imds-lifetime", type=int, default=3600)
    ap.add_argument("--dev-root")
    ap.add_argument("--unix")
    ap.add_argument("--cms-form", choices=["indefinite", "primitive", "alternate"], default="alternate")
    args = ap.parse_args()
    os.makedirs(args.state, exist_ok=True)
    double = Double(args)
    servers = []
    kms = TlsTcpServer(("127.0.0.1", 0), make_handler(double, "kms"), double.tls_context())
    servers.append(kms)
    with open(os.path.join(args.state, "kms.port"), "w") as f:
        f.write("%d\n" % kms.server_address[1])
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        servers.append(TlsUnixServer(args.unix, make_handler(double, "kms"), double.tls_context()))
    if args.imds:
        imds = PlainServer(("127.0.0.1", 0), make_handler(double, "imds"))
        servers.append(imds)
        with open(os.path.join(args.state, "imds.port"), "w") as f:
            f.write("%d\n" % imds.server_address[1])
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tmp = os.path.join(args.state, ".ready")
    with open(tmp, "w") as f:
        f.write("ready\n")
    os.rename(tmp, os.path.join(args.state, "ready"))
    print("kmsdouble: ready", flush=True)
    stop.wait()
    for s in servers:
        s.shutdown()
    if args.unix and os.path.exists(args.unix):
        os.unlink(args.unix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
