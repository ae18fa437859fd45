"""Replayed AS4 messages at our Peppol access point: the real receiver (the peppol channel's
``/as4`` on a gateway's database) over loopback, our AS4 sender as the other access point.

The sender's clock is what dates a message (its signed eb:Timestamp): a sender whose clock is
hours behind or ahead stands for a captured message replayed late and for a forged date, each
signed with the sender's real key. Proven, each by its outcome: a new message dated outside the
acceptance window (``EDIGATE_PEPPOL_AS4_MAX_AGE`` / ``AS4_CLOCK_SKEW``) is refused with EBMS:0103
and nothing stored; a captured message sent again is answered with its first Receipt, byte for
byte, and stored once, also after the gateway was closed and opened again, and also once it is
older than the window (duplicates are judged by MessageId in the database, whatever their age);
the same capture with its MessageId changed (to pass as new) fails the signature, EBMS:0101.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from gateway.certs import KeyPair
from gateway.db import Certificate, Exchange, Partner
from gateway.networks.peppol import identifiers as ids
from gateway.transports import as4
from tests.support.peppol_pki import PeppolTestCA
from tests.support.ports import free_port

MEMBER = ids.ParticipantId.parse("0208:0123456749")
SENDER = ids.ParticipantId.parse("0208:1928374648")
INVOICE = (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
           b'<cbc:ID>REPLAY-1</cbc:ID></Invoice>')


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = PeppolTestCA("edigate TEST AP CA")
    them = ca.issue("PAP000001", ou="PEPPOL TEST AP").write(d, "them")
    us = ca.issue("PAP000002", ou="PEPPOL TEST AP").write(d, "us")
    return {"them": them, "us": us}


@pytest.fixture
def home(tmp_path, pki, monkeypatch):
    key, cert = pki["us"]
    monkeypatch.setenv("EDIGATE_PEPPOL_AP_KEY", str(key))
    monkeypatch.setenv("EDIGATE_PEPPOL_AP_CERT", str(cert))
    return tmp_path / "gw"


def _records(gw, pki) -> None:
    with gw.session() as s:
        member = Partner(name="Member")
        member.add_identifier(*ids.partner_key(MEMBER))
        ap = Partner(name="Access point 1")
        s.add_all([member, ap])
        s.flush()
        s.add(Certificate.from_pem(pki["them"][1].read_bytes(), usage="signing", partner_id=ap.id))


@contextmanager
def receiving(gw):
    """The peppol channel's AS4 endpoint of ``gw`` on a loopback port."""
    from gateway.channels.peppol import channel
    (path, app), = channel.wsgi_mounts(gw).items()
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{path}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def build(pki, url: str, monkeypatch, *, clock: timedelta = timedelta(0)) -> as4.OutboundMessage:
    """A signed, encrypted Peppol message to our member, dated by a sender clock ``clock`` off ours."""
    from gateway.channels.peppol import wrap
    from gateway.transports.as4 import message
    doctype = ids.DocumentTypeId(ids.DEFAULT_DOCTYPE_SCHEME, ids.BIS3_INVOICE)
    process = ids.ProcessId.parse(ids.BIS3_PROCESS)
    sbd = wrap(INVOICE, SENDER.value, MEMBER.value, doctype, process, "BE")
    me = as4.As4Identity(KeyPair.load(*pki["them"]))
    them = as4.As4Partner("PAP000002", [pki["us"][1].read_bytes()], url=url, allow_private=True)
    when = datetime.now(timezone.utc) + clock
    with monkeypatch.context() as m:
        m.setattr(message, "now_stamp", lambda: when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        return as4.build(sbd, identity=me, partner=them, addressing=as4.Addressing(
            from_party="PAP000001", to_party="PAP000002", original_sender=SENDER.value,
            final_recipient=MEMBER.value, process=process.value, process_scheme=process.scheme,
            action=doctype.uri))


def post(url: str, out: as4.OutboundMessage, body: bytes | None = None) -> bytes:
    r = requests.post(url, data=out.body if body is None else body, headers=out.headers, timeout=30)
    assert r.status_code == 200, r.text[:300]
    return r.content


def stored(gw) -> list[str]:
    with gw.session() as s:
        return list(s.scalars(sa.select(Exchange.message_id).where(
            Exchange.direction == "in", Exchange.channel == "peppol", Exchange.refused.is_(False))))


def refusals(gw) -> list[tuple[str, str]]:
    with gw.session() as s:
        return [(r.mdn_disposition, r.reason) for r in s.scalars(sa.select(Exchange).where(
            Exchange.direction == "in", Exchange.channel == "peppol", Exchange.refused.is_(True)))]


def test_messages_dated_outside_the_window_are_refused(make_gateway, home, pki, monkeypatch):
    gw = make_gateway(home)
    _records(gw, pki)
    with receiving(gw) as url:
        codes = {}
        for name, clock in (("two hours old", timedelta(hours=-2)), ("an hour ahead", timedelta(hours=1))):
            result = as4.send(build(pki, url, monkeypatch, clock=clock))
            codes[name] = (result.kind, result.error_code)
        fresh = as4.send(build(pki, url, monkeypatch, clock=timedelta(minutes=-5)))
    assert codes == {"two hours old": ("error", "EBMS:0103"), "an hour ahead": ("error", "EBMS:0103")}
    assert fresh.delivered, fresh.summary                       # within the window: taken
    assert stored(gw) == [fresh.ref_to]
    why = refusals(gw)
    assert [code for code, _ in why] == ["EBMS:0103", "EBMS:0103"]
    assert "older than the 1 h" in why[0][1] and "ahead of this access point's clock" in why[1][1]


def test_a_captured_message_replayed_is_stored_once_whatever_its_age(make_gateway, home, pki, monkeypatch):
    gw = make_gateway(home)
    _records(gw, pki)
    with receiving(gw) as url:
        captured = build(pki, url, monkeypatch, clock=timedelta(minutes=-30))
        first = as4.send(captured)
        assert first.delivered, first.summary
        assert post(url, captured) == first.raw                  # at once: the first Receipt again
    gw.close()
    monkeypatch.setenv("EDIGATE_PEPPOL_AS4_MAX_AGE", "10m")       # the capture is now older than the window
    again = make_gateway(home)                                    # closed and opened again: the records remain
    with receiving(again) as url:
        assert post(url, captured) == first.raw
        late = as4.send(build(pki, url, monkeypatch, clock=timedelta(minutes=-30)))   # new, as old: refused
        assert (late.kind, late.error_code) == ("error", "EBMS:0103")
    assert stored(again) == [captured.message_id]


def test_a_replay_with_its_message_id_changed_fails_the_signature(make_gateway, home, pki, monkeypatch):
    gw = make_gateway(home)
    _records(gw, pki)
    with receiving(gw) as url:
        captured = build(pki, url, monkeypatch)
        assert as4.send(captured).delivered
        renamed = captured.body.replace(captured.message_id.encode(), b"replayed-" + captured.message_id.encode())
        assert renamed != captured.body
        answer = as4.read_envelope(post(url, captured, renamed))
    assert (answer.kind, answer.signal.get("errorCode")) == ("error", "EBMS:0101")
    assert "does not match" in (answer.signal.findtext(f"{{{as4.ns.EB}}}ErrorDetail") or "")
    assert stored(gw) == [captured.message_id]
