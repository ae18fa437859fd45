"""A shared-service centre for the approval tests, made the way production makes it: partners and
logins on a real Gateway, rules stored through ``gateway.approvals.rules.save`` (what the API and
the CLI call), and real UBL invoices received by ``receive_file`` and run through the pipeline.

* ``centre`` "Centre SSC" (VAT FR12345678901): the buyer organisation, receiving by ERP pull
  (``erp``); its logins ``alice``, ``bob`` (approvers), ``dave`` (a colleague who stands in),
  ``carol`` (where escalations go) and ``erp`` (its ERP's token);
* ``vendeur`` "Vendeur SA" (SIREN 100000009): a supplier sending UBL over SFTP that chose CDAR as
  its status syntax (French cycle: a refusal needs a reason code); its SFTP account ``vendeur``
  finds our CDAR messages in its ``outbound/`` for pickup;
* ``globex`` "Globex": a supplier sending UBL over the API (told through the API only).

``RULES``: invoices of 1000 EUR and more (BT-112) wait for alice then bob (reminder after 24 h,
escalation to carol after 48 h); invoices with buyer reference SERVICES wait for any two of
alice, bob and dave.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa

from gateway.approvals import rules
from gateway.db import DocumentRecord, Exchange, Partner, SftpAccount, User, issue_token
from gateway.flow.receive import receive_file
from gateway.model.invoice import Identifier
from gateway.syntaxes import write_document

from tests.support.invoice_builder import build_invoice
from tests.support.portal_seed import BUYER_VAT, PASSWORD

SIREN = "100000009"
USERS = ("alice", "bob", "dave", "carol", "erp")
RULES = """\
rules:
  - name: large invoices
    when:
      min_amount: 1000          # BT-112, total with VAT
    approvers: [alice, bob]
    order: in_order
    remind_after_hours: 24
    escalate_after_hours: 48
    escalate_to: [carol]
  - name: services
    when:
      buyer_reference: [SERVICES]
    approvers: [alice, bob, dave]
    order: any_of
    required: 2
"""


@dataclass
class Centre:
    partners: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def seed(gw, *, with_rules: bool = True) -> Centre:
    out = Centre()
    with gw.session() as s:
        centre = Partner(name="Centre SSC", preferred_channel="erp", preferred_format="ubl")
        centre.add_identifier("9957", BUYER_VAT)
        vendeur = Partner(name="Vendeur SA", preferred_channel="sftp", preferred_format="ubl", status_syntax="cdar")
        globex = Partner(name="Globex", preferred_format="ubl")
        s.add_all([centre, vendeur, globex])
        s.flush()
        s.add(SftpAccount(partner_id=vendeur.id, username="vendeur"))
        out.partners.update(centre=centre.id, vendeur=vendeur.id, globex=globex.id)
        for name in USERS:
            user = User.create(name, PASSWORD, "recipient", partner_id=centre.id)
            s.add(user)
            s.flush()
            out.users[name] = user.id
            out.tokens[name] = issue_token(s, user, f"{name}-test")[1]
        for name, role in (("olivia", "operator"), ("root", "admin")):
            user = User.create(name, PASSWORD, role)
            s.add(user)
            s.flush()
            out.users[name] = user.id
            out.tokens[name] = issue_token(s, user, f"{name}-test")[1]
        if with_rules:
            rules.save(s, centre.id, RULES, by="test")
    return out


def invoice(number: str, net: str, *, buyer_reference: Optional[str] = None, issued: date = date(2026, 9, 1)):
    inv = build_invoice(net=Decimal(net))
    inv.number, inv.issue_date, inv.buyer_reference = number, issued, buyer_reference
    inv.seller.name = "Vendeur SA"
    inv.seller.legal_registration_identifier = Identifier(SIREN, "0002")
    inv.buyer.name, inv.buyer.vat_identifier = "Centre SSC", BUYER_VAT
    return inv


def send(gw, centre: Centre, inv, *, sender: str = "vendeur") -> int:
    """Receive ``inv`` from ``sender`` (vendeur over SFTP, globex over the API); the document id."""
    data = write_document(inv, "ubl").data
    if sender == "vendeur":
        ex = receive_file(gw, data, channel="sftp", partner_id=centre.partners["vendeur"], filename=f"{inv.number}.xml",
                          message_id=f"sftp:/inbound/{inv.number}.xml")
    else:
        ex = receive_file(gw, data, channel="api", partner_id=centre.partners["globex"], filename=f"{inv.number}.xml")
    with gw.session() as s:
        processed = s.get(Exchange, ex.id)
        assert processed.status == "processed", processed.reason
        doc = s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == ex.id))
        assert doc.recipient_partner_id == centre.partners["centre"], (doc.status, doc.findings)
        return doc.id
