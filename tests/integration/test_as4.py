"""AS4 over real HTTP on loopback: our sender, our receiver (tests.support.as4_endpoint), and the
``as4`` package from PyPI as the other access point (tests.peers.as4_lib: written by others from
the same Peppol specifications; phase4, the reference, is Java and cannot be fetched here).

What is proven, each by its outcome: an invoice envelope crosses signed and encrypted and comes
back with a Receipt we verify (our MessageId, our digests); the other implementation takes our
message and answers a Receipt we verify, and takes our Receipt for its message; a tampered
header, a tampered attachment, a signature-wrapped header, an unknown sender are refused with
the right ebMS error and nothing is stored; a duplicate gets the same Receipt and is stored once;
a receiver that is down, then up, gets the message once under the same MessageId; a store that
fails is a 503 without a Receipt; a 50 MB payload is received by a separate process whose peak
memory stays within a bound.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from lxml import etree

from gateway.certs import make_self_signed
from gateway.networks.peppol.identifiers import BIS3_INVOICE, BIS3_PROCESS
from gateway.transports import as4
from gateway.transports.as4 import ns
from gateway.transports.as4.signals import check_signal
from tests.peers import as4_lib
from tests.support.as4_endpoint import As4Receiver
from tests.support.ports import steady_port

DOCTYPE = "busdox-docid-qns::" + BIS3_INVOICE
INVOICE = (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
           b'<cbc:ID>INV-1</cbc:ID></Invoice>')


def sbd(sender: str = "0088:1", receiver: str = "0088:2", body: bytes = INVOICE) -> bytes:
    from gateway.syntaxes.sbdh import Participant, Sbdh, build_sbdh
    return build_sbdh(Sbdh(Participant(sender), Participant(receiver), BIS3_INVOICE, BIS3_PROCESS,
                           country_c1="FR"), body)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("as4keys")
    out = {}
    for name in ("PAP000001", "PAP000002", "PAP000666"):
        kp = make_self_signed(name, key_size=2048)
        (d / f"{name}.key").write_bytes(kp.key_pem)
        (d / f"{name}.crt").write_bytes(kp.cert_pem)
        out[name] = (kp, d / f"{name}.key", d / f"{name}.crt")
    return out


@pytest.fixture
def sender(keys):
    return as4.As4Identity(keys["PAP000001"][0])


@pytest.fixture
def receiver(keys):
    r = As4Receiver(as4.As4Identity(keys["PAP000002"][0]),
                    [as4.As4Partner("PAP000001", [keys["PAP000001"][0].cert_pem])]).start()
    yield r
    r.stop()


def addressing(to: str = "PAP000002") -> as4.Addressing:
    return as4.Addressing("PAP000001", to, "0088:1", "0088:2", BIS3_PROCESS, "cenbii-procid-ubl", DOCTYPE)


def partner_b(keys, url: str) -> as4.As4Partner:
    return as4.As4Partner("PAP000002", [keys["PAP000002"][0].cert_pem], url=url, allow_private=True)


def test_round_trip_with_a_verified_receipt(keys, sender, receiver):
    doc = sbd()
    out = as4.build(doc, identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
    result = as4.send(out)
    assert result.delivered, result.summary
    assert result.ref_to == out.message_id
    assert receiver.stored[out.message_id]["payload"] == doc
    meta = receiver.stored[out.message_id]["meta"]
    assert (meta["from_party"], meta["final_recipient"], meta["action"]) == ("PAP000001", "0088:2", DOCTYPE)
    # what we signed, and the receipt proved: the Messaging, the Body, the attachment
    assert [r.uri.split("-")[0].split(":")[0] for r in out.sent] == ["#msg", "#id", "cid"]


def test_receipt_that_does_not_prove_our_digests_is_not_delivery(keys, sender, receiver):
    out = as4.build(sbd(), identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
    result = as4.send(out)
    assert result.delivered
    other = as4.build(sbd(), identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing(),
                      message_id=out.message_id)        # same id, other digests (new key, new IV)
    judged = check_signal(result.raw, message_id=other.message_id,
                          receiver_certs=other.partner.certificates, sent=other.sent)
    assert not judged.delivered and "digests we sent" in judged.summary
    forged = check_signal(result.raw, message_id=out.message_id,
                          receiver_certs=[keys["PAP000666"][0].certificate], sent=out.sent)
    assert not forged.delivered and not forged.verified


def _tamper_soap(out: as4.OutboundMessage, change) -> bytes:
    body = out.body
    start = body.index(b"\r\n\r\n") + 4
    end = body.index(b"\r\n--", start)
    root = etree.fromstring(body[start:end])
    change(root)
    return body[:start] + etree.tostring(root) + body[end:]


def _post(url: str, out: as4.OutboundMessage, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers=out.headers, timeout=30)


def _error_code(answer: bytes) -> str:
    return as4.read_envelope(answer).signal.get("errorCode")


def test_tampering_refused_and_nothing_stored(keys, sender, receiver):
    out = as4.build(sbd(), identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
    EB = "{%s}" % ns.EB

    def recipient(root):
        for p in root.iter(EB + "Property"):
            if p.get("name") == "finalRecipient":
                p.text = "0088:999"

    def wrapping(root):
        header = root.find("{%s}Header" % ns.S12)
        signed = header.find(EB + "Messaging")
        forged = copy.deepcopy(signed)
        forged.set(ns.WSU_ID, "forged")
        forged.find(f"{EB}UserMessage/{EB}MessageInfo/{EB}MessageId").text = "forged@attacker"
        header.replace(signed, forged)
        etree.SubElement(header, "{urn:x}Wrapper").append(signed)

    answers = {}
    for name, change in (("header", recipient), ("wrapping", wrapping)):
        resp = _post(receiver.url, out, _tamper_soap(out, change))
        answers[name] = _error_code(resp.content)
    cipher = bytearray(out.body)
    cipher[-200] ^= 0x01                                   # a bit of the encrypted attachment
    answers["attachment"] = _error_code(_post(receiver.url, out, bytes(cipher)).content)
    assert answers == {"header": "EBMS:0101", "wrapping": "EBMS:0101", "attachment": "EBMS:0102"}
    assert receiver.store_calls == 0 and receiver.stored == {}


def test_unknown_access_point_and_wrong_recipient_refused(keys, receiver):
    stranger = as4.As4Identity(keys["PAP000666"][0])
    out = as4.build(sbd(), identity=stranger, partner=partner_b(keys, receiver.url),
                    addressing=as4.Addressing("PAP000666", "PAP000002", "0088:1", "0088:2", BIS3_PROCESS,
                                              "cenbii-procid-ubl", DOCTYPE))
    result = as4.send(out)
    assert (result.kind, result.error_code) == ("error", "EBMS:0101")
    assert "not a known partner" in result.error_detail
    me = as4.As4Identity(keys["PAP000001"][0])
    out = as4.build(sbd(), identity=me, partner=partner_b(keys, receiver.url), addressing=addressing(to="PAP000003"))
    assert as4.send(out).error_code == "EBMS:0010"
    assert receiver.store_calls == 0


def test_chunked_body_spooled_and_bounded(keys, sender):
    """A body without Content-Length (chunked) is spooled as it comes, past the in-memory part, and
    received; one over the limit is refused with 413 once the count passes it, nothing stored."""
    receiver = As4Receiver(as4.As4Identity(keys["PAP000002"][0]),
                           [as4.As4Partner("PAP000001", [keys["PAP000001"][0].cert_pem])],
                           max_bytes=4 * 1024 * 1024).start()
    try:
        doc = sbd(body=INVOICE.replace(b"</Invoice>", os.urandom(1536 * 1024).hex().encode() + b"</Invoice>"))
        out = as4.build(doc, identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
        assert 1024 * 1024 < len(out.body) < 3 * 1024 * 1024

        def chunked(data: bytes):
            for i in range(0, len(data), 64 * 1024):
                yield data[i:i + 64 * 1024]
        resp = requests.post(receiver.url, data=chunked(out.body), headers=out.headers, timeout=60)
        assert resp.status_code == 200 and as4.read_envelope(resp.content).kind == "receipt"
        assert receiver.stored[out.message_id]["payload"] == doc
        big = as4.build(doc, identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
        resp = requests.post(receiver.url, data=chunked(big.body + b" " * (4 * 1024 * 1024)), headers=big.headers,
                             timeout=60)                 # the count passes the limit before the end
        assert resp.status_code == 413 and _error_code(resp.content) == "EBMS:0004"
        assert list(receiver.stored) == [out.message_id]
    finally:
        receiver.stop()


def test_duplicate_gets_the_same_receipt_and_is_stored_once(keys, sender, receiver):
    out = as4.build(sbd(), identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing())
    first = as4.send(out)
    again = as4.build(sbd(), identity=sender, partner=partner_b(keys, receiver.url), addressing=addressing(),
                      message_id=out.message_id)        # a resend: same MessageId, built anew
    second = as4.send(again)
    third = as4.send(out)
    assert first.delivered and third.delivered
    assert second.raw == first.raw == third.raw          # the receipt of the first copy, byte for byte
    assert receiver.store_calls == 1 and list(receiver.stored) == [out.message_id]


def test_receiver_down_then_up_same_message_id(keys, sender):
    port = steady_port()                # started on three times: out of the range connections take
    out = as4.build(sbd(), identity=sender, partner=partner_b(keys, f"http://127.0.0.1:{port}/as4"),
                    addressing=addressing())
    with pytest.raises(as4.As4SendError) as e:
        as4.send(out, timeout=(2, 10))
    assert e.value.retryable
    failing = As4Receiver(as4.As4Identity(keys["PAP000002"][0]),
                          [as4.As4Partner("PAP000001", [keys["PAP000001"][0].cert_pem])], fail_store=True).start(port)
    try:
        with pytest.raises(as4.As4SendError) as e:      # up, but cannot store: 503, no receipt
            as4.send(out)
        assert e.value.retryable and e.value.http_status == 503
    finally:
        failing.stop()
    up = As4Receiver(as4.As4Identity(keys["PAP000002"][0]),
                     [as4.As4Partner("PAP000001", [keys["PAP000001"][0].cert_pem])]).start(port)
    try:
        result = as4.send(out)
        assert result.delivered and result.ref_to == out.message_id
        assert list(up.stored) == [out.message_id] and up.store_calls == 1
    finally:
        up.stop()


def test_an_answer_cut_short_is_a_retryable_send_error(keys, sender):
    """The receiver dies while its answer is on the wire (headers sent, body cut, as a SIGKILL of
    the server does): no signal came back, so the message is to be sent again, as any other
    transport failure, not an exception of the HTTP library's that ends the sender."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_then_die() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            seen = b""
            while b"\r\n\r\n" not in seen:
                seen += conn.recv(65536)
            head, _, body = seen.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 5813\r\n\r\n<env:")

    t = threading.Thread(target=answer_then_die, daemon=True)
    t.start()
    out = as4.build(sbd(), identity=sender, partner=partner_b(keys, f"http://127.0.0.1:{port}/as4"),
                    addressing=addressing())
    try:
        with pytest.raises(as4.As4SendError) as e:
            as4.send(out, timeout=(2, 10))
        assert e.value.retryable and "IncompleteRead" in str(e.value)
    finally:
        t.join(5)
        listener.close()


# --- the other implementation ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    try:
        python = as4_lib.ensure_venv()
    except as4_lib.PeerUnavailable as e:
        pytest.skip(str(e))
    return as4_lib.As4LibPeer(python, tmp_path_factory.mktemp("as4peer"))


def test_the_as4_package_receives_ours(keys, sender, peer):
    doc = sbd()
    out = as4.build(doc, identity=sender, partner=as4.As4Partner("PAP000002", [keys["PAP000002"][0].cert_pem]),
                    addressing=addressing())
    _, key, cert = keys["PAP000002"]
    answer = peer.receive(key=key, cert=cert, party_id="PAP000002", sender_cert=keys["PAP000001"][2],
                          headers=out.headers, body=out.body)
    assert answer["successful"], answer
    assert answer["message_id"] == out.message_id
    assert b"INV-1" in answer["payload"]
    judged = check_signal(answer["signal"], message_id=out.message_id,
                          receiver_certs=[keys["PAP000002"][0].certificate], sent=out.sent)
    assert judged.delivered, judged.summary


def test_we_receive_the_as4_package(keys, peer, receiver):
    _, key, cert = keys["PAP000001"]
    built = peer.build(key=key, cert=cert, party_id="PAP000001", remote_cert=keys["PAP000002"][2],
                       remote_id="PAP000002", payload=INVOICE, sender="0088:1", recipient="0088:2",
                       doctype=BIS3_INVOICE, process=BIS3_PROCESS)
    resp = requests.post(receiver.url, data=built["body"], headers=built["headers"], timeout=30)
    assert resp.status_code == 200
    assert as4.read_envelope(resp.content).kind == "receipt"
    stored = receiver.stored[built["message_id"]]["payload"]
    from gateway.syntaxes.sbdh import read_sbdh
    env = read_sbdh(stored)
    assert env.receiver.value == "0088:2" and b"<ID>1</ID>" not in env.payload and b"INV-1" in env.payload
    verdict = peer.check_receipt(receiver_cert=keys["PAP000002"][2], signal=resp.content,
                                 sent_path=built["sent_path"])
    assert verdict["ok"], verdict
    assert verdict["ref_to"] == built["message_id"]


# --- 50 MB with bounded memory -------------------------------------------------------------------------

@pytest.mark.slow
def test_50mb_payload_received_with_bounded_memory(keys, sender, tmp_path):
    """The receiver runs in its own process: its peak RSS (VmHWM) after taking a 50 MB payload,
    less its peak before, is the memory receiving it cost. Each line carries a random token, so
    the message is several MB on the wire too. The request body is spooled to a temporary file,
    the attachment decrypted, hashed and inflated from it a chunk at a time into another, and the
    stand-in's store reads the payload as a stream: the growth is a fixed amount (windows of a
    MB, the SOAP header, the code first run), under half the payload, not a multiple of it."""
    _, key, cert = keys["PAP000002"]
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.as4_endpoint", str(key), str(cert),
                             str(keys["PAP000001"][2])], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        start = json.loads(proc.stdout.readline())
        url = f"http://127.0.0.1:{start['port']}"
        line = b"<Line><ID>%08d</ID><Token>%s</Token><Note>" + b"edigate AS4 payload " * 8 + b"</Note></Line>\n"
        count = 50 * 1024 * 1024 // len(line % (0, os.urandom(6).hex().encode()))
        body = b"".join(line % (i, os.urandom(6).hex().encode()) for i in range(count))
        doc = INVOICE.replace(b"</Invoice>", body + b"</Invoice>")     # the transport carries bytes
        assert len(doc) >= 50 * 1024 * 1024 - 2 * len(line)
        out = as4.build(doc, identity=sender, partner=partner_b(keys, url + "/as4"), addressing=addressing())
        before = requests.get(url + "/stats", timeout=10).json()
        result = as4.send(out)
        assert result.delivered, result.summary
        after = requests.get(url + "/stats", timeout=10).json()
        assert after["stored"][out.message_id]["size"] == len(doc)
        growth = after["VmHWM"] - before["VmHWM"]
        print(f"50 MB payload ({len(doc)} bytes, {len(out.body)} on the wire): receiver peak RSS growth "
              f"{growth / 1e6:.0f} MB")
        assert len(out.body) > 2 * 1024 * 1024                          # spooled to a file, not kept in memory
        assert growth < len(doc) // 2
    finally:
        proc.terminate()
        proc.wait(10)
