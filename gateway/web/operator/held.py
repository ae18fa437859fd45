"""A held invoice's way out, from the pages: give its buyer's identifiers to a partner, or create the
partner, or propose the buyer to onboarding.

Routing finds a recipient by the buyer's identifiers (``flow.route``), so "assign this invoice
to partner P" means: P is known by the identifiers the invoice names (added through
``PartnerService``, with its checks and refusals: an identifier another partner has is
refused, never moved), then ``flow.reroute.reroute_held`` delivers the invoice as the
pipeline would have. Creating the partner is the same with ``PartnerService.create``.
Each change is on the audit trail.

Proposing to onboarding is onboarding's own ``propose_from_held`` (an extension: offered
only when it is installed), which proposes the buyers of held invoices once each.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ... import extensions
from ...db import DocumentRecord, Partner, audit
from ...flow.reroute import reroute_held
from ...model import identifiers as ids
from ...partners.service import PartnerError, PartnerService

ONBOARDING = "onboarding"                                # the extension's entry-point name
PROPOSE = "onboarding.importer:propose_from_held"         # its function proposing held invoices' buyers


class HeldError(Exception):
    """The held invoice cannot be dealt with this way; the message says why, for a person."""


@dataclass
class Outcome:
    partner_id: int
    partner_name: str
    added: list[str] = field(default_factory=list)        # identifiers given to the partner
    delivered: bool = False                               # the invoice left the hold


def buyer_identifiers(doc: DocumentRecord) -> list[tuple[str, str]]:
    """The (scheme, value) pairs routing tries for the invoice's buyer, from its summary: the
    electronic address, the buyer and legal identifiers with their scheme, the VAT number
    (its scheme from its country prefix). Ones without a known scheme are left out; check digits
    are the partner service's to judge (a wrong one is refused there, saying so)."""
    out: list[tuple[str, str]] = []
    raw = [(doc.buyer_endpoint_scheme, doc.buyer_endpoint_id), (doc.buyer_id_scheme, doc.buyer_id)]
    if doc.buyer_vat_id:
        raw.append(("VAT", doc.buyer_vat_id))
    for scheme, value in raw:
        if not scheme or not value:
            continue
        try:
            pair = ids.normalise_identifier(ids.scheme_code(scheme, value), value)
        except ValueError:
            continue
        if pair not in out:
            out.append(pair)
    return out


def _held(s, document_id: int) -> DocumentRecord:
    doc = s.get(DocumentRecord, document_id)
    if doc is None:
        raise LookupError(f"no document {document_id}")
    if doc.status != "held":
        raise HeldError(f"Invoice {doc.number or doc.id} is no longer held (it is {doc.status}): nothing to do.")
    return doc


def _words(e: PartnerError) -> str:
    return str(e)[:1].upper() + str(e)[1:] + "."


def assign(gw, document_id: int, partner_id: int, by: str) -> Outcome:
    """Give partner ``partner_id`` the held invoice's buyer identifiers it lacks, then reroute it."""
    with gw.session() as s:
        doc = _held(s, document_id)
        partner = s.get(Partner, partner_id)
        if partner is None:
            raise HeldError("That partner no longer exists: choose another one.")
        wanted = buyer_identifiers(doc)
        if not wanted:
            raise HeldError(f"Invoice {doc.number or doc.id} names no usable identifier for its buyer, so no partner "
                            "can be found by it: ask the sender for a corrected invoice.")
        try:
            added = PartnerService(s).add_identifiers(partner, wanted)
        except PartnerError as e:
            raise HeldError(_words(e)) from None
        outcome = Outcome(partner.id, partner.name, [f"{i.scheme}:{i.value}" for i in added])
        audit.record(s, by, "document.assign", "document", doc.id,
                     f"held invoice {doc.number or doc.id} assigned to partner {partner.name}",
                     {"partner_id": partner.id, "identifiers_added": outcome.added})
        if added:
            audit.record(s, by, "partner.update", "partner", partner.id,
                         f"identifiers added from held invoice {doc.number or doc.id}",
                         {"identifiers_added": outcome.added})
    outcome.delivered = document_id in reroute_held(gw, document_ids=[document_id])
    return outcome


def create_partner(gw, document_id: int, values: dict[str, Any], by: str) -> Outcome:
    """A new partner (``values``: at least ``name``) known by the held invoice's buyer identifiers,
    then the invoice rerouted to it. ``PartnerError`` names a refused field."""
    with gw.session() as s:
        doc = _held(s, document_id)
        pairs = buyer_identifiers(doc)
        if not pairs:
            raise HeldError(f"Invoice {doc.number or doc.id} names no usable identifier for its buyer: a new "
                            "partner could not be found by it either.")
        partner = PartnerService(s).create(values, identifiers=pairs)
        outcome = Outcome(partner.id, partner.name, [f"{a}:{b}" for a, b in pairs])
        audit.record(s, by, "partner.create", "partner", partner.id,
                     f"partner {partner.name} created from held invoice {doc.number or doc.id}",
                     {"values": {k: v for k, v in values.items()}, "identifiers": outcome.added})
        audit.record(s, by, "document.assign", "document", doc.id,
                     f"held invoice {doc.number or doc.id} assigned to new partner {partner.name}",
                     {"partner_id": partner.id})
    outcome.delivered = document_id in reroute_held(gw, document_ids=[document_id])
    return outcome


def propose_function() -> Optional[Callable[..., dict[str, int]]]:
    """Onboarding's ``propose_from_held``, when the onboarding extension is installed; else None."""
    if not any(ext.name == ONBOARDING for ext in extensions.load()):
        return None
    module, _, name = PROPOSE.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def propose(gw, document_id: int, by: str) -> dict[str, int]:
    """Propose the held invoices' buyers to onboarding now (onboarding's sweep does it too, later)."""
    fn = propose_function()
    if fn is None:
        raise HeldError("Onboarding is not installed on this gateway: assign the invoice to a partner instead.")
    with gw.session() as s:
        doc = _held(s, document_id)
        number = doc.number or doc.id
    counts = fn(gw)
    with gw.session() as s:
        audit.record(s, by, "document.propose", "document", document_id,
                     f"buyer of held invoice {number} proposed to onboarding", dict(counts))
    return counts
