"""Run inside the ``as4`` package's own virtualenv (tests/peers/as4_lib.py): one operation per call.

    python as4_lib_script.py build   JOB.json   → writes the message (headers JSON + body) it builds
    python as4_lib_script.py receive JOB.json   → parses a message, writes the signal it answers
    python as4_lib_script.py receipt JOB.json   → verifies a receipt against what was sent

JOB.json holds file paths and identifiers; the answer is one JSON line on stdout.
This file imports nothing of edigate: it is the other implementation.
"""
import json
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from as4 import AS4LocalPrivateKey, SecurityPolicy, pinned_certificates
from as4.peppol import (build_peppol_message, create_peppol_external_party, create_peppol_internal_party,
                        parse_peppol_message, parse_peppol_receipt)


def party(job, prefix):
    cert = x509.load_pem_x509_certificate(Path(job[prefix + "_cert"]).read_bytes())
    key = job.get(prefix + "_key")
    if key:
        pk = serialization.load_pem_private_key(Path(key).read_bytes(), None)
        return create_peppol_internal_party(job[prefix + "_id"], cert, AS4LocalPrivateKey(pk)), cert
    return create_peppol_external_party(job[prefix + "_id"], cert), cert


def main():
    op, job = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    out = Path(job["out"])
    if op == "build":
        me, _ = party(job, "local")
        them, _ = party(job, "remote")
        msg = build_peppol_message(Path(job["payload"]).read_bytes(), local_party=me, remote_party=them,
                                   sender=job["sender"], recipient=job["recipient"], sender_country_id=job["country"],
                                   document_type_identifier_scheme="busdox-docid-qns",
                                   document_type_identifier_value=job["doctype"], process_identifier=job["process"])
        body, boundary = msg.get_request_data()
        headers = msg.get_http_headers(boundary)
        (out / "body").write_bytes(body)
        (out / "headers.json").write_text(json.dumps(headers))
        refs = [r.model_dump() for r in msg.signed_references]
        (out / "sent.json").write_text(json.dumps(refs))
        print(json.dumps({"message_id": msg.message_id}))
    elif op == "receive":
        me, _ = party(job, "local")
        sender = x509.load_pem_x509_certificate(Path(job["sender_cert"]).read_bytes())
        policy = SecurityPolicy(signer_resolver=pinned_certificates(sender))
        headers = json.loads(Path(job["headers"]).read_text())
        ex = parse_peppol_message(headers, Path(job["body"]).read_bytes(), me, security_policy=policy)
        _, signal = ex.build_signal()
        (out / "signal").write_bytes(signal)
        payload = next(iter(ex.message.decrypted_data.values()), b"") if ex.successful else b""
        (out / "payload").write_bytes(payload)
        err = ex.error
        print(json.dumps({"successful": ex.successful, "message_id": ex.message.message_id if ex.message else None,
                          "error_code": err.error_code if err else None,
                          "error": str(getattr(err, "error_detail", "") or "") if err else None}))
    elif op == "receipt":
        signer = x509.load_pem_x509_certificate(Path(job["receiver_cert"]).read_bytes())
        try:
            r = parse_peppol_receipt(Path(job["signal"]).read_bytes(), signer)
            from as4.models.dsig.reference import ComparableReferenceFields
            sent = [ComparableReferenceFields(**d) for d in json.loads(Path(job["sent"]).read_text())]
            r.verify_non_repudiation(sent)
            print(json.dumps({"ok": True, "ref_to": r.original_message_id}))
        except Exception as e:
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))


if __name__ == "__main__":
    main()
