"""Documents for the life-cycle and portal tests, made the way production makes them: real
invoice files (UBL, EDIFACT) received on a real Gateway (SQLite and payload store under
tmp_path) and run through the pipeline. Nothing is written to the document tables by hand.

Partners:
* ``buyer`` "Buyer SARL" (VAT FR12345678901) and ``other`` "Other Buyer GmbH" (VAT
  DE811111111): recipients that chose the portal, each with a recipient login
  (``buyer-user`` / ``other-user``) and an API token;
* ``acme`` "ACME EDI": an EDI sender that sends EDIFACT INVOIC over SFTP (its SFTP account
  ``acme`` on our server gets our APERAKs in its ``outbound/`` for pickup);
* ``globex`` "Globex": sends UBL over the API (told of statuses through the API only).

``seed_documents`` sends the set in ``INVOICES`` (numbers, dates, amounts, senders chosen so
that every search, sort and filter of the portal has something to tell apart).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange, Partner, SftpAccount, User, issue_token
from gateway.syntaxes import write_document
from gateway.flow.receive import receive_file
from gateway.channels.sftp import accounts_root

from tests.support.invoice_builder import build_invoice

PASSWORD = "correct horse battery"
BUYER_VAT = "FR12345678901"
OTHER_VAT = "DE811111111"
UNKNOWN_VAT = "FR99999999999"
RECIPIENTS = {"buyer": ("Buyer SARL", BUYER_VAT), "other": ("Other Buyer GmbH", OTHER_VAT),
              "nobody": ("Unknown Buyer SA", UNKNOWN_VAT)}


@dataclass(frozen=True)
class Spec:
    number: str
    issued: date
    net: str
    sender: str            # acme (EDIFACT over SFTP) or globex (UBL over the API)
    to: str = "buyer"      # buyer, other, or nobody (a VAT number no partner has: held)
    seller_name: str = ""


INVOICES = (
    Spec("ACME-2025-001", date(2025, 1, 10), "100.00", "acme", seller_name="ACME Industries"),
    Spec("ACME-2025-002", date(2025, 2, 14), "2500.00", "acme", seller_name="ACME Industries"),
    Spec("GLX-7", date(2025, 1, 31), "40.00", "globex", seller_name="Globex Corp"),
    Spec("GLX-8", date(2025, 3, 3), "990.00", "globex", seller_name="Globex Corp"),
    Spec("GLX-9", date(2025, 3, 20), "15.50", "globex", seller_name="Globex Corp"),
    Spec("OTHER-1", date(2025, 2, 1), "300.00", "globex", to="other", seller_name="Globex Corp"),
)


@dataclass
class Seeded:
    partners: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    docs: dict[str, int] = field(default_factory=dict)          # invoice number -> document id
    files: dict[str, bytes] = field(default_factory=dict)       # invoice number -> the file sent

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def invoice_for(spec: Spec):
    inv = build_invoice(net=Decimal(spec.net))
    inv.number, inv.issue_date = spec.number, spec.issued
    inv.seller.name = spec.seller_name or inv.seller.name
    inv.buyer.name, inv.buyer.vat_identifier = RECIPIENTS[spec.to]
    return inv


def seed_partners(gw, out: Seeded | None = None) -> Seeded:
    out = out or Seeded()
    with gw.session() as s:
        buyer = Partner(name="Buyer SARL", preferred_channel="portal", preferred_format="ubl")
        buyer.add_identifier("9957", BUYER_VAT)
        other = Partner(name="Other Buyer GmbH", preferred_channel="portal", preferred_format="cii")
        other.add_identifier("9930", OTHER_VAT)
        acme = Partner(name="ACME EDI", preferred_channel="sftp", preferred_format="edifact-d96a")
        globex = Partner(name="Globex", preferred_format="ubl")
        s.add_all([buyer, other, acme, globex])
        s.flush()
        s.add(SftpAccount(partner_id=acme.id, username="acme"))
        out.partners.update(buyer=buyer.id, other=other.id, acme=acme.id, globex=globex.id)
        for name, role, partner in (("buyer-user", "recipient", buyer), ("other-user", "recipient", other),
                                    ("acme-user", "recipient", acme), ("olivia", "operator", None),
                                    ("sam", "staff", None)):
            user = User.create(name, PASSWORD, role, partner_id=partner.id if partner is not None else None)
            s.add(user)
            s.flush()
            out.users[name] = user.id
            out.tokens[name] = issue_token(s, user, f"{name}-test")[1]
    return out


def send(gw, seeded: Seeded, spec: Spec) -> int:
    """Send one invoice the way its sender does; returns the document id."""
    inv = invoice_for(spec)
    if spec.sender == "acme":
        data = write_document(inv, "edifact-d96a").data
        ex = receive_file(gw, data, channel="sftp", partner_id=seeded.partners["acme"],
                          filename=f"{spec.number}.edi", message_id=f"sftp:/inbound/{spec.number}.edi")
    else:
        data = write_document(inv, "ubl").data
        ex = receive_file(gw, data, channel="api", partner_id=seeded.partners["globex"],
                          filename=f"{spec.number}.xml")
    with gw.session() as s:
        processed = s.get(Exchange, ex.id)
        assert processed.status == "processed", processed.reason
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        if spec.to == "nobody":
            assert doc.status == "held", (doc.status, doc.findings)
        else:
            assert doc.recipient_partner_id == seeded.partners[spec.to], (doc.status, doc.findings)
        seeded.docs[spec.number] = doc.id
        seeded.files[spec.number] = data
        return doc.id


def seed_documents(gw, seeded: Seeded, specs=INVOICES) -> Seeded:
    for spec in specs:
        send(gw, seeded, spec)
    return seeded


def pickup_dir(gw, username: str = "acme") -> Path:
    """Where a partner's SFTP account finds what we place for pickup."""
    return accounts_root(gw) / username / "outbound"


def by_number(seeded: Seeded) -> SimpleNamespace:
    return SimpleNamespace(**{n.replace("-", "_").lower(): i for n, i in seeded.docs.items()})
