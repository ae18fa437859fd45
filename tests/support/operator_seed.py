"""An exception of every kind for the operator pages' tests, made the way production makes them:
real files received on a real Gateway and run through the pipeline (``portal_seed``'s partners
and senders), life-cycle decisions through ``flow.lifecycle``. Nothing is written to the
document or exchange tables by hand.

On top of ``portal_seed.seed_partners`` (buyer, other, acme, globex; olivia the operator, sam
the staff):

* ``initech`` "Initech": a member that chose AS2 but has no AS2 URL yet (as a partner set up
  half-way is), so an invoice to it fails at planning: a failed delivery;
* held invoices: ``HELD-1``, ``HELD-2``, ``HELD-3``, each to a buyer nobody knows (its own VAT
  number);
* ``GLX-7`` sent twice by Globex: the second is a duplicate;
* ``ACME-2025-001`` refused and ``GLX-8`` disputed by the buyer on its portal;
* a file that is not an invoice: a rejected inbound file;
* ``HOOLI-1`` from ``hooli`` "Hooli", whose validation profile (``retired-rules``) is no longer
  installed: processing fails (an inbound exchange an operator retries once the profile is fixed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from gateway.db import DocumentRecord, Exchange, Partner
from gateway.flow import lifecycle
from gateway.flow.receive import receive_file
from gateway.syntaxes import write_document

from tests.support.portal_seed import INVOICES, Seeded, Spec, invoice_for, seed_documents, seed_partners

# valid French VAT numbers (key and SIREN check digits right): the partner service checks them
HELD = {"HELD-1": ("Nouveau Client SAS", "FR44732829320"), "HELD-2": ("Zeta Distribution", "FR01732829338"),
        "HELD-3": ("Omega Retail", "FR25732829346")}
INITECH_VAT = "FR46732829353"


@dataclass
class Exceptions:
    seeded: Seeded
    docs: dict[str, int] = field(default_factory=dict)         # number -> document id
    exchanges: dict[str, int] = field(default_factory=dict)    # what -> exchange id


def _send_ubl(gw, seeded: Seeded, number: str, buyer: tuple[str, str], *, issued=date(2025, 4, 2),
              net: str = "210.00", filename: str | None = None) -> int:
    inv = invoice_for(Spec(number, issued, net, "globex", seller_name="Globex Corp"))
    inv.buyer.name, inv.buyer.vat_identifier = buyer
    ex = receive_file(gw, write_document(inv, "ubl").data, channel="api", partner_id=seeded.partners["globex"],
                      filename=filename or f"{number}.xml")
    return ex.id


def _document(gw, exchange_id: int) -> DocumentRecord:
    with gw.session() as s:
        return s.scalar(sa.select(DocumentRecord).where(DocumentRecord.exchange_id == exchange_id))


def seed_exceptions(gw) -> Exceptions:
    seeded = seed_documents(gw, seed_partners(gw))
    out = Exceptions(seeded)
    with gw.session() as s:
        initech = Partner(name="Initech", preferred_channel="as2", preferred_format="ubl", as2_id="initech-as2")
        initech.add_identifier("9957", INITECH_VAT)
        s.add(initech)
        s.flush()
        seeded.partners["initech"] = initech.id

    for number, buyer in HELD.items():
        doc = _document(gw, _send_ubl(gw, seeded, number, buyer))
        assert doc.status == "held", (doc.status, doc.findings)
        out.docs[number] = doc.id

    doc = _document(gw, _send_ubl(gw, seeded, "INI-1", ("Initech", INITECH_VAT)))
    with gw.session() as s:
        statuses = [d.status for d in s.get(DocumentRecord, doc.id).deliveries]
    assert statuses == ["failed"], statuses
    out.docs["INI-1"] = doc.id

    glx7 = next(s for s in INVOICES if s.number == "GLX-7")
    inv = invoice_for(glx7)
    ex = receive_file(gw, write_document(inv, "ubl").data, channel="api", partner_id=seeded.partners["globex"],
                      filename="GLX-7-again.xml")
    doc = _document(gw, ex.id)
    assert doc.status == "duplicate", doc.status
    out.docs["GLX-7 (again)"] = doc.id

    with gw.session() as s:
        for number, status, reason in (("ACME-2025-001", "refused", "not ordered by us"),
                                       ("GLX-8", "disputed", "quantity differs from the delivery note")):
            d = s.get(DocumentRecord, seeded.docs[number])
            lifecycle.set_business_status(s, d, status, reason=reason, by="portal:buyer-user")
            out.docs[number] = d.id

    ex = receive_file(gw, b"this is not an invoice, just a note\n", channel="api",
                      partner_id=seeded.partners["globex"], filename="notes.txt")
    with gw.session() as s:
        assert s.get(Exchange, ex.id).status == "rejected"
    out.exchanges["rejected"] = ex.id

    # a sender whose validation profile is no longer installed: processing fails, on record, retryable
    with gw.session() as s:
        hooli = Partner(name="Hooli", preferred_format="ubl")
        s.add(hooli)
        s.flush()
        seeded.partners["hooli"] = hooli.id
        # chosen when it was installed; the rules file has since been taken out of this installation
        s.execute(sa.update(Partner).where(Partner.id == hooli.id).values(validation_profile="retired-rules"))
    inv = invoice_for(Spec("HOOLI-1", date(2025, 4, 3), "77.00", "globex", seller_name="Hooli"))
    ex = receive_file(gw, write_document(inv, "ubl").data, channel="api", partner_id=seeded.partners["hooli"],
                      filename="HOOLI-1.xml")
    with gw.session() as s:
        assert s.get(Exchange, ex.id).status == "failed", s.get(Exchange, ex.id).reason
    out.exchanges["failed"] = ex.id
    return out

