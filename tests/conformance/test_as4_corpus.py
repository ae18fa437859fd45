"""Captured AS4 messages (phase4's test files, messages and receipts of real access points) read by our AS4.

Signatures are checked where the capture carries the signer's certificate (a
``BinarySecurityToken``), with that certificate standing in for the partner's
record. What each capture proves:

* TestReceipt12 and helger.as4in: phase4's signed Receipts verify (signature,
  eb:Messaging and Body digests), and their NonRepudiationInformation lists the
  three references of a Peppol message (Messaging, Body, the attachment);
* dataport1.as4in (a Holodeck B2B receipt): its eb:Messaging digest does *not*
  match the bytes on the wire: the sender's serialiser wrote the
  ``mustUnderstand`` attribute with the prefix ``soapenv`` after signing it as
  ``mustUnderstand:``; with that one prefix put back, the digest matches, which
  shows the check is right to refuse it (the ``as4`` package refuses it too);
* dump-raw.as4out (phase4's outbound Peppol UserMessage): read as a Peppol
  UserMessage (roles, agreement, process, document type, properties, one gzip'd
  encrypted attachment); its signature over eb:Messaging and Body verifies, and a
  changed byte in the Messaging makes it fail; the attachment (encrypted to a
  test key we do not have) is not opened;
* WrongCompression.mime: a payload whose CompressionType is ``application/rar``
  (its bytes are in fact gzip): refused with EBMS:0303 before anything else is
  looked at, as phase4 refuses it; bytes that are not gzip are refused by the
  inflater with the same code.
"""
from __future__ import annotations

import base64
import email

import pytest
from cryptography import x509

from gateway.certs import make_self_signed
from gateway.transports.as4 import As4Identity, As4Refusal, inflate, read_envelope, receive
from gateway.transports.as4 import ns, wss
from gateway.transports.as4.message import unpack
from gateway.transports.as4.signals import read_signal
from tests.support.corpus import CORPUS, requires_corpus

AS4 = CORPUS / "peppol" / "as4"
pytestmark = requires_corpus


def _http(name: str) -> tuple[dict, bytes]:
    raw = (AS4 / name).read_bytes()
    a, b = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    head, body = (raw[:a], raw[a + 4:]) if a >= 0 and (b < 0 or a < b) else (raw[:b], raw[b + 2:])
    msg = email.message_from_bytes(head + b"\r\n\r\n")
    return {k.lower(): " ".join(str(v).split()) for k, v in msg.items()}, body.lstrip(b"\r\n")


def _soap(name: str) -> bytes:
    raw = (AS4 / name).read_bytes()
    if name.endswith(".as4in"):
        return raw[raw.find(b"<?xml"):]
    return raw


def _embedded(env) -> x509.Certificate:
    cert = wss.embedded_certificate(env.security, env.security.find(wss.q(ns.DS, "Signature")))
    assert cert is not None
    return cert


@pytest.mark.parametrize("name", ["TestReceipt12.xml", "helger.as4in"])
def test_phase4_receipts_verify(name):
    env = read_signal(_soap(name))
    assert env.kind == "receipt" and env.ref_to and env.ref_to.endswith("@phase4")
    verified = wss.verify(env.root, env.security, [_embedded(env)], [env.messaging, env.body])
    assert verified.digest_algorithms == {"sha256"}
    uris = [r.get("URI") for r in env.signal.iter(wss.q(ns.DS, "Reference"))]
    assert len(uris) == 3 and uris[2].startswith("cid:")


def test_holodeck_receipt_refused_and_why():
    xml = _soap("dataport1.as4in")
    env = read_signal(xml)
    with pytest.raises(As4Refusal) as e:
        wss.verify(env.root, env.security, [_embedded(env)], [env.messaging, env.body])
    assert e.value.code == "EBMS:0101" and "#id-4b28412d2948bca" in e.value.detail
    fixed = xml.replace(b'f4a2-48fe-8503-d3693f501057" soapenv:mustUnderstand="true"',
                        b'f4a2-48fe-8503-d3693f501057" mustUnderstand:mustUnderstand="true"')
    assert fixed != xml
    env = read_signal(fixed)
    wss.verify(env.root, env.security, [_embedded(env)], [env.messaging, env.body])


def test_phase4_user_message_read_and_signature_verified():
    headers, body = _http("dump-raw.as4out")
    soap, attachments = unpack(headers["content-type"], body)
    env = read_envelope(soap)
    assert env.kind == "user" and env.message_id.endswith("@phase4")
    assert (env.from_type, env.from_role, env.to_role) == (ns.PEPPOL_PARTY_TYPE, ns.INITIATOR, ns.RESPONDER)
    assert env.agreement == ns.PEPPOL_AGREEMENT and env.service_type == "cenbii-procid-ubl"
    assert env.action.startswith("busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2")
    assert env.prop(ns.FINAL_RECIPIENT) == "9915:helger"
    assert [(p.compression, p.mime_type) for p in env.parts] == [(ns.GZIP, "application/xml")]
    assert list(attachments) == [env.parts[0].cid]
    verified = wss.verify(env.root, env.security, [_embedded(env)], [env.messaging, env.body], [env.parts[0].cid])
    assert list(verified.attachment_digests) == [env.parts[0].cid]
    from gateway.transports.as4 import xenc
    encrypted = xenc.read(env.security)            # the policy accepts phase4's algorithms
    assert encrypted.parts == {env.parts[0].cid: ns.AES128_GCM}
    tampered = soap.replace(b"9915:helger", b"9915:helgex")
    env2 = read_envelope(tampered)
    with pytest.raises(As4Refusal) as e:
        wss.verify(env2.root, env2.security, [_embedded(env2)], [env2.messaging, env2.body])
    assert e.value.code == "EBMS:0101"


def test_wrong_compression_refused():
    headers, body = _http("WrongCompression.mime")
    soap, attachments = unpack(headers["content-type"], body)
    env = read_envelope(soap)
    assert env.security is None and env.parts[0].compression == "application/rar"
    assert b"NonRepudiationInformation" in inflate(attachments[env.parts[0].cid], 1 << 20)
    me = As4Identity(make_self_signed("APP_1000000101", key_size=2048))
    result = receive({"Content-Type": headers["content-type"]}, body, identity=me,
                     find_partner=lambda *a: pytest.fail("no partner is looked up"),
                     find_duplicate=lambda *a: None, store=lambda *a: pytest.fail("nothing is stored"))
    assert (result.status, result.error_code) == ("refused", "EBMS:0303")
    assert b'errorCode="EBMS:0303"' in result.response_body
    with pytest.raises(As4Refusal) as e:
        inflate(b"\x1f\x8b" + attachments[env.parts[0].cid][2:40].tobytes(), 1 << 20)
    assert e.value.code == "EBMS:0303"


def test_plain_soap_examples_read():
    env = read_envelope(_soap("test-2023-03-15.xml"))
    assert env.from_party == "PDE000556" and env.prop("originalSender") == "9930:de322532962"
    with pytest.raises(As4Refusal) as e:        # a payload in the SOAP Body: not the Peppol profile
        read_envelope(_soap("UserMessage12.xml"))
    assert e.value.code == "EBMS:0002"
