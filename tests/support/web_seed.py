"""Fixtures for the web tests: a real Gateway on SQLite under tmp_path, users, tokens, and a
small, fully known set of partners, exchanges and documents written through the ORM and
the payload store (nothing mocked)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from gateway.config import load_settings
from gateway.db import (Certificate, Delivery, DocumentRecord, Exchange, Organisation, Partner, RenderingRecord,
                        User, issue_token)
from gateway.runtime import Gateway
from gateway.web import create_app

UTC = timezone.utc
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"

RAW_IN = b"Message-ID: <in-1@acme>\r\nAS2-From: acme-as2\r\n\r\n\x00\x01binary body\xff"
CONTENT_IN = b"<Invoice>INV/2025/001</Invoice>\n"
MDN_IN = b"Content-Type: multipart/report\r\n\r\nprocessed\r\n"
RENDERING_CII = b"<rsm:CrossIndustryInvoice>INV/2025/001</rsm:CrossIndustryInvoice>\n"
RAW_OUT = b"outbound raw message bytes\n"


@pytest.fixture
def gw(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_LANGUAGE": "en", "EDIGATE_HOME": str(tmp_path)}), immediate_jobs=True)
    yield gw
    gw.close()


@pytest.fixture
def app(gw):
    return create_app(gw, testing=True)


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class People:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def people(gw) -> People:
    """Users ``admin``, ``olivia`` (operator), ``sam`` (staff), each with a token."""
    out = People()
    with gw.session() as s:
        for name, role in (("admin", "admin"), ("olivia", "operator"), ("sam", "staff")):
            user = User.create(name, PASSWORD, role)
            s.add(user)
            s.flush()
            out.ids[name] = user.id
            out.tokens[name] = issue_token(s, user, f"{name}-test")[1]
    return out


def _self_signed(days_valid: int, *, name: str, before: datetime) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(before)
            .not_valid_after(datetime.now(UTC) + timedelta(days=days_valid)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _inbound(at: datetime, channel: str, statuses: list[tuple[str, str | None]], **columns) -> Exchange:
    ex = Exchange.inbound(channel, at=at, **columns)
    for n, (status, reason) in enumerate(statuses, start=1):
        ex.set_status(status, reason, at=at + timedelta(minutes=n))
    return ex


def _outbound(at: datetime, statuses: list[tuple[str, str | None]], **columns) -> Exchange:
    ex = Exchange.outbound("as2", at=at, **columns)
    for n, (status, reason) in enumerate(statuses, start=1):
        ex.set_status(status, reason, at=at + timedelta(minutes=n))
    return ex


@pytest.fixture
def seeded(gw) -> SimpleNamespace:
    """Two partners, four exchanges (one per interesting state), two documents with a
    rendering and a delivery; returns their ids."""
    p = gw.payloads
    raw_in, content_in, mdn_in = p.put(RAW_IN), p.put(CONTENT_IN), p.put(MDN_IN)
    rendering, raw_out = p.put(RENDERING_CII), p.put(RAW_OUT)
    with gw.session() as s:
        ours = Organisation(name="Our Company")
        acme = Partner(name="ACME Supplies", as2_id="acme-as2", as2_url="https://as2.acme.example/receive",
                       preferred_format="ubl", preferred_channel="as2")
        acme.add_identifier("0009", "123 456 789 00011")
        acme.add_identifier("9957", "FR12345678901")
        globex = Partner(name="Globex", preferred_format="cii", preferred_channel="as2", as2_id="globex-as2")
        globex.add_identifier("0088", "5412345000013")
        s.add_all([ours, acme, globex])
        s.flush()
        s.add_all([
            Certificate.from_pem(_self_signed(10, name="acme-soon", before=T0), usage="signing", partner=acme),
            Certificate.from_pem(_self_signed(400, name="acme-later", before=T0), usage="encryption",
                                 partner=acme),
        ])

        in_ok = _inbound(T0, "as2", [("stored", None), ("acknowledged", "MDN sent"), ("processed", "1 document")],
                         partner=acme, organisation=ours, as2_from="acme-as2", as2_to="ours-as2",
                         message_id="<in-1@acme>", filename="/inbox/acme/INV-2025-001.xml",
                         content_type="application/pkcs7-mime",
                         payload_key=raw_in.key, payload_size=raw_in.size,
                         content_sha256=content_in.key, content_size=content_in.size,
                         mdn_mode="sync", mdn_message_id="<mdn-1@ours>", mdn_payload_key=mdn_in.key,
                         mdn_disposition="automatic-action/MDN-sent-automatically; processed",
                         mdn_at=T0 + timedelta(minutes=2), mic="dGVzdG1pYw==", mic_algorithm="sha-256")
        out_failed = _outbound(T0 + timedelta(days=1),
                               [("sending", None), ("failed", "connection refused by as2.globex.example")],
                               partner=globex, organisation=ours, message_id="<out-1@ours>",
                               payload_key=raw_out.key, payload_size=raw_out.size)
        in_failed = _inbound(T0 + timedelta(days=2), "api",
                             [("stored", None), ("acknowledged", None), ("failed", "pipeline crashed")],
                             filename="upload.xml", payload_key=content_in.key, payload_size=content_in.size,
                             content_sha256=content_in.key, content_size=content_in.size)
        out_ok = _outbound(T0 + timedelta(days=3), [("sending", None), ("acknowledged", "MDN processed")],
                           partner=acme, organisation=ours, message_id="<out-2@ours>")
        s.add_all([in_ok, out_failed, in_failed, out_ok])
        s.flush()

        doc1 = DocumentRecord(
            exchange=in_ok, position=0, syntax="ubl", mapping="ubl-invoice", number="INV/2025/001",
            type_code="380", issue_date=date(2025, 1, 5), due_date=date(2025, 2, 5), currency="EUR",
            seller_name="ACME Supplies", buyer_name="Our Company",
            total_without_vat=Decimal("100.00"), total_vat=Decimal("20.00"), total_with_vat=Decimal("120.00"),
            amount_due=Decimal("120.00"), line_count=1, sender=acme, recipient=globex, valid=True,
            fatal_count=0, warning_count=1, status="routed", created_at=T0 + timedelta(minutes=3),
            findings=[{"rule": "READ-UNMAPPED", "message": "a value the mapping does not read",
                       "severity": "warning", "terms": ["BT-22"], "path": None,
                       "location": "/Invoice/cbc:Note[2]", "line": 14}])
        doc2 = DocumentRecord(
            exchange=in_failed, position=0, syntax="cii", mapping="cii", number="INV-2",
            issue_date=date(2025, 2, 10), currency="EUR", seller_name="Unknown Seller", valid=False,
            fatal_count=1, warning_count=0, status="invalid", created_at=T0 + timedelta(days=2, minutes=5),
            findings=[{"rule": "BR-CO-10", "message": "Sum of line net amounts does not match",
                       "severity": "fatal", "terms": ["BT-106", "BT-131"], "path": "totals.line_total",
                       "location": "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction", "line": 80}])
        s.add_all([doc1, doc2])
        s.flush()
        r1 = RenderingRecord(document=doc1, syntax="cii", mapping="cii", payload_key=rendering.key,
                             size=rendering.size, media_type="application/xml",
                             dropped=[{"term": "BT-147", "path": "lines[0].price.discount"}])
        s.add(r1)
        s.flush()
        d1 = Delivery.new(doc1, globex, format="cii", channel="as2", at=T0 + timedelta(minutes=4), rendering=r1)
        d1.set_status("sending", at=T0 + timedelta(minutes=5))
        d1.set_status("failed", "connection refused by as2.globex.example", at=T0 + timedelta(minutes=6))
        d1.exchange = out_failed
        s.add(d1)
        s.flush()
        return SimpleNamespace(
            ours=ours.id, acme=acme.id, globex=globex.id,
            in_ok=in_ok.id, out_failed=out_failed.id, in_failed=in_failed.id, out_ok=out_ok.id,
            doc1=doc1.id, doc2=doc2.id, rendering=r1.id, delivery=d1.id,
            raw_in=raw_in.key, content_in=content_in.key, mdn_in=mdn_in.key)


class Prompts:
    """Records the job prompts a test makes, instead of running them."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def recorder(self, kind: str):
        return lambda exchange_id, *a, **k: self.calls.append((kind, exchange_id))
