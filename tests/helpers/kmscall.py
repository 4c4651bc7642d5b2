#!/usr/bin/env python3
"""kmscall.py: one AWS KMS call through botocore, for tests (not installed).

  kmscall.py --endpoint URL --ca FILE --region R (--creds AKID:SECRET[:TOKEN] | --imds URL)
             [--recipient DOC.cbor] generate KEYID [K=V...] | decrypt BLOB_B64 [K=V...]
  kmscall.py --imds URL creds        (prints the IMDS credentials as AKID:SECRET:TOKEN)

Prints the answer as JSON (binary fields in base64), or `error: TYPE: MESSAGE`
and exits 1. --imds fetches the instance role's credentials with IMDSv2 from
URL, as the host's own tools would: the tests use it to show that the host,
with the credentials it hands to its enclave, cannot Decrypt a package key.
--recipient adds a Recipient (RSAES_OAEP_SHA_256 and the attestation
document); this botocore predates the field, so that request is signed with
botocore's SigV4Auth and sent with urllib.
"""
import argparse
import base64
import json
import sys
import urllib.request

import botocore.exceptions
import botocore.session


def imds_creds(url):
    rq = urllib.request.Request(url + "/latest/api/token", method="PUT",
                                headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    tok = urllib.request.urlopen(rq, timeout=5).read().decode()
    get = lambda p: urllib.request.urlopen(urllib.request.Request(
        url + p, headers={"X-aws-ec2-metadata-token": tok}), timeout=5).read().decode()
    base = "/latest/meta-data/iam/security-credentials/"
    c = json.loads(get(base + get(base).strip()))
    return c["AccessKeyId"], c["SecretAccessKey"], c["Token"]


def with_recipient(a, akid, secret, token, ctx):
    import ssl
    import urllib.error
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    doc = base64.b64encode(open(a.recipient, "rb").read()).decode()
    if a.op == "generate":
        body = {"KeyId": a.arg, "KeySpec": "AES_256"}
    else:
        body = {"CiphertextBlob": a.arg}
    body["EncryptionContext"] = ctx
    body["Recipient"] = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": doc}
    op = "GenerateDataKey" if a.op == "generate" else "Decrypt"
    rq = botocore.awsrequest.AWSRequest(method="POST", url=a.endpoint, data=json.dumps(body).encode(),
                                        headers={"Content-Type": "application/x-amz-json-1.1",
                                                 "X-Amz-Target": "TrentService." + op})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(akid, secret, token), "kms",
                            a.region).add_auth(rq)
    p = rq.prepare()
    http = urllib.request.Request(p.url, data=p.body, headers=dict(p.headers.items()), method="POST")
    try:
        out = json.loads(urllib.request.urlopen(http, context=ssl.create_default_context(cafile=a.ca)).read())
    except urllib.error.HTTPError as e:
        err = json.loads(e.read())
        print("error: %s: %s" % (err.get("__type"), err.get("message")))
        return 1
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--creds")
    ap.add_argument("--imds")
    ap.add_argument("--recipient")
    ap.add_argument("op", choices=["generate", "decrypt", "creds"])
    ap.add_argument("arg", nargs="?")
    ap.add_argument("context", nargs="*")
    a = ap.parse_args()
    if a.op == "creds":
        print(":".join(imds_creds(a.imds.rstrip("/"))))
        return 0
    if a.imds:
        akid, secret, token = imds_creds(a.imds.rstrip("/"))
    else:
        parts = (a.creds or "").split(":")
        akid, secret, token = parts[0], parts[1], parts[2] if len(parts) > 2 else None
    ctx = dict(kv.split("=", 1) for kv in a.context)
    if a.recipient:
        return with_recipient(a, akid, secret, token, ctx)
    client = botocore.session.get_session().create_client(
        "kms", region_name=a.region, endpoint_url=a.endpoint, verify=a.ca,
        aws_access_key_id=akid, aws_secret_access_key=secret, aws_session_token=token,
        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    try:
        if a.op == "generate":
            out = client.generate_data_key(KeyId=a.arg, KeySpec="AES_256", EncryptionContext=ctx)
        else:
            out = client.decrypt(CiphertextBlob=base64.b64decode(a.arg), EncryptionContext=ctx)
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        print("error: %s: %s" % (err.get("Code"), err.get("Message")))
        return 1
    out.pop("ResponseMetadata", None)
    print(json.dumps({k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
                      for k, v in out.items()}))
    return 0


if __name__ == "__main__":
    import botocore.config
    sys.exit(main())
