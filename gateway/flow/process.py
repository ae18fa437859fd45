"""The one path every received document takes: detect → read → validate → route → write → deliver.

``process_exchange`` works on an inbound exchange that is ``acknowledged`` (its
bytes are durable). The slow, pure part (reading, checking, writing each
recipient's format, storing renderings in the content-addressed store) runs
outside any transaction; then one short transaction claims the exchange
(compare-and-set ``acknowledged`` → ``processed``) and records documents,
renderings, deliveries and the outbound exchanges together. A crash anywhere
before that commit leaves the exchange ``acknowledged`` for the sweep; a second
worker racing the first finds the claim taken and records nothing: a file is
never processed twice. SQLite refusing a write another connection holds the lock for
(``busy``) is no failure: the work is rolled back and the exchange put off (``PUT_OFF``), tried
again in a few seconds by its job (``gateway.jobs``) and, past that, by the sweep.

Outcomes are on record, never only in a log: an unreadable file makes the
exchange ``rejected`` with the reason and its place in the file; a document
with fatal findings is ``invalid`` with every finding (rule id, business
terms, location) - the rules are those of the sending partner's validation
profile (``gateway.rules.profiles``; EN 16931 unless it says otherwise), and
the document records which. A member subject to the French reform (``french_reform``) is
held to the French rules both ways: its own invoices are checked with the French profile
(``fr``, unless it chose ``fr-extended``), and an invoice routed to it from a sender checked
otherwise gets the French rules too, so one that breaks them is ``invalid`` (refused, the
BR-FR rule named) instead of delivered; a document nobody is known by is ``held`` with the
identifiers that were tried; a same seller + number + year as an earlier valid
document is ``duplicate`` (an invalid one was never accepted: its corrected resend
under the same number goes through). An EDIFACT interchange whose UNZ reference is
not its UNB's is rejected, as ISO 9735 says, unless the sender's options say
``edifact_tolerate_unz_reference``: then each of its documents carries the
mismatch as a warning (EDIFACT-28, with its place) and goes on.

How each recipient receives is its channel profile's business (``gateway.channels``:
AS2, SFTP, e-mail, portal, ERP pull, paper, an interconnected network, or the
default channel for a recipient that chose none); ``flow.plan`` decides,
writes and records each delivery, the same way for a held document rerouted
later (``channels.reroute``). A valid document accepted here is ``deposited``
in its life cycle; a credit note is linked to the invoice it corrects (BT-25).
A file that is a CDAR life-cycle message (the French reform's statuses) or a Peppol
Invoice Response moves the life cycle of the documents it names instead
(``gateway.flow.cdar_status``, ``gateway.flow.invoice_response_status``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Optional

import sqlalchemy as sa

from gateway import approvals, controls
from gateway.db import DocumentRecord, Exchange, ExchangeEvent, compare_and_set, summarise, utcnow
from gateway.db.session import derived_commit
from gateway.delivery.channel import DeliveryPlan
from gateway.delivery.state import FRENCH_PROFILES, deposited_on_arrival
from gateway.flow import cdar_status, invoice_response_status, lifecycle
from gateway.flow import plan as delivery_plan
from gateway.flow.route import resolve
from gateway.model.errors import EdigateError
from gateway.model.findings import FATAL, Finding
from gateway.partners.checks import tolerates_unz_reference
from gateway.rules import DEFAULT_PROFILE, ProfileError
from gateway.syntaxes import read_documents, validate_document

log = logging.getLogger("edigate.pipeline")
PUT_OFF = cdar_status.PUT_OFF       # left acknowledged on purpose: tried again shortly (see process_exchange)

DEFAULT_FORMAT = delivery_plan.DEFAULT_FORMAT      # what a recipient gets when it has not said
_WITH_PARTNER = sa.orm.joinedload(Exchange.partner)


@dataclass
class _Planned:
    """One document of the file, understood and (when deliverable) written for its recipient."""
    position: int
    doc: object
    findings: list[Finding]
    route_reason: str = ""
    delivery: Optional[DeliveryPlan] = None       # None: nobody to deliver to (held)
    profile: str = DEFAULT_PROFILE                # the validation profile the document was checked with


def busy(e: BaseException) -> bool:
    """Whether ``e`` is SQLite refusing a write another connection holds the lock for (a read
    transaction that must become a write one is refused at once, whatever the busy timeout): the
    work was rolled back and is retried, the exchange left ``acknowledged`` for the sweep."""
    return isinstance(e, sa.exc.OperationalError) and "database is locked" in str(e.orig).lower()


def awaiting_processing(gw, *, before: datetime) -> list[int]:
    """Inbound exchanges acknowledged before ``before`` and still unprocessed (for the sweep)."""
    with gw.session() as s:
        return list(s.scalars(sa.select(Exchange.id).where(
            Exchange.direction == "in", Exchange.status == "acknowledged", Exchange.status_at < before)))


def _claim(s, exchange_id: int, status: str, reason: str, now: datetime) -> bool:
    n = compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "acknowledged",
                        status=status, status_at=now, reason=reason)
    if n != 1:
        return False
    s.add(ExchangeEvent(exchange_id=exchange_id, status=status, at=now, reason=reason))
    return True


def _plan(gw, docs, profile: str) -> list[_Planned]:
    """Check every document with the validation ``profile``, find its recipient and how it
    receives, write what it needs (pure work, plus content-addressed payload puts, which are
    idempotent)."""
    planned = [_Planned(i, d, validate_document(d, profile), profile=profile) for i, d in enumerate(docs)]
    with gw.session() as s:
        for p in planned:
            if any(f.severity == FATAL for f in p.findings):
                continue
            route = resolve(s, p.doc.invoice)
            if route.partner is not None and route.partner.french_reform and profile not in STRICT_FRENCH:
                if _held_to_french_rules(p, route.partner.name):
                    continue
            p.route_reason = route.reason
            p.delivery = delivery_plan.choose(s, gw.settings, route, p.doc.invoice)
    for p in planned:
        if p.delivery is not None:
            delivery_plan.prepare(gw, p.delivery, p.doc.invoice, summarise(p.doc.invoice))
    return planned


# the profiles that refuse an invoice breaking a French rule (fr-warning only warns)
STRICT_FRENCH = frozenset(FRENCH_PROFILES - {"fr-warning"})
REFORM_PROFILE = "fr"


def validation_profile(sender) -> str:
    """The profile a sender's documents are checked with: its own (``validation_profile``), else
    the default (EN 16931); for a sender subject to the French reform, a French profile that
    refuses (its own when it is one, else ``fr``)."""
    own = (sender.validation_profile if sender is not None else None) or DEFAULT_PROFILE
    if sender is not None and sender.french_reform and own not in STRICT_FRENCH:
        return REFORM_PROFILE
    return own


def _held_to_french_rules(p: _Planned, recipient: str) -> bool:
    """Check a document for a recipient subject to the French reform with the French rules its
    sender's profile did not apply; True when they refuse it (its findings then say which rule,
    and that the recipient's subjection is why)."""
    seen = {(f.rule, f.location) for f in p.findings}
    extra = [f for f in validate_document(p.doc, REFORM_PROFILE) if (f.rule, f.location) not in seen]
    p.findings = p.findings + extra
    p.profile = REFORM_PROFILE
    fatal = [f for f in extra if f.severity == FATAL]
    if fatal:
        p.route_reason = (f"refused for {recipient}, subject to the French reform: {len(fatal)} French rule(s) "
                          f"broken, first {fatal[0].rule}")
        p.findings.append(Finding("FR-REFORM", p.route_reason, severity="warning", terms=("BT-49",)))
    return bool(fatal)


def reading_options(sender) -> dict:
    """How a sender's files are read, from its options: it may accept what ISO 9735 rejects, an
    EDIFACT interchange whose UNZ reference is not its UNB's (then a warning on each document)."""
    if sender is not None and tolerates_unz_reference(sender.as2_options):
        return {"tolerate_unz_reference": True}
    return {}


def preceding_number(invoice) -> Optional[str]:
    """What a credit note (or corrective invoice) corrects: the first preceding invoice reference (BT-25)."""
    for ref in invoice.preceding_invoices or ():
        if ref.reference and ref.reference.strip():
            return ref.reference.strip()[:200]
    return None


def _seller_key(d) -> Optional[str]:
    """The seller as the duplicate key sees it (``gateway.db.summarise``), from a record's columns."""
    if d.seller_vat_id:
        return d.seller_vat_id.strip().upper()
    if d.seller_id:
        return f"{d.seller_id_scheme or ''}:{d.seller_id}".upper()
    if d.seller_endpoint_id:
        return f"{d.seller_endpoint_scheme or ''}:{d.seller_endpoint_id}".upper()
    return (d.seller_name or "").strip().upper() or None


def link_correction(s, rec: DocumentRecord, invoice) -> None:
    """``corrects_id``: the earlier valid document of the same seller with the number BT-25 names
    (of the year BT-26 gives, when it does; else the latest)."""
    number = rec.preceding_number
    if not number or _seller_key(rec) is None:
        return
    candidates = [d for d in s.scalars(sa.select(DocumentRecord).where(
        DocumentRecord.number == number, DocumentRecord.valid.is_(True), DocumentRecord.id != rec.id)
        .order_by(DocumentRecord.id.desc())) if _seller_key(d) == _seller_key(rec)]
    years = {ref.issue_date.year for ref in invoice.preceding_invoices or () if ref.issue_date}
    if years:
        candidates = [d for d in candidates if d.issue_date and d.issue_date.year in years] or candidates
    if candidates:
        rec.corrects = candidates[0]


def _duplicate(rec: DocumentRecord, earlier: DocumentRecord) -> None:
    rec.status, rec.duplicate_of = "duplicate", earlier
    rec.findings = rec.findings + [Finding(
        "DUPLICATE", f"same seller, number {rec.number} and year as document {earlier.id}",
        terms=("BT-1", "BT-2"), severity="warning").as_dict()]


def _deposit(s, records: list[DocumentRecord], now: datetime) -> tuple[set[int], list[tuple]]:
    """Which of a file's new (unflushed) records are accepted (``id()`` of each): valid and not
    a duplicate (same seller + number + year as an earlier valid document). Those are
    ``deposited`` on arrival, duplicates of a document on record marked so; a duplicate of one
    earlier in the same file is returned with it, to be marked once that one has its id."""
    first_of: dict[str, DocumentRecord] = {}
    kept: set[int] = set()
    in_file: list[tuple] = []
    for rec in records:
        if not rec.valid:
            continue
        if rec.duplicate_key:
            earlier = s.scalar(DocumentRecord.duplicates_of(rec).where(DocumentRecord.valid.is_(True)).limit(1))
            if earlier is not None:
                _duplicate(rec, earlier)
                continue
            if rec.duplicate_key in first_of:
                rec.status = "duplicate"
                in_file.append((rec, first_of[rec.duplicate_key]))
                continue
            first_of[rec.duplicate_key] = rec
        deposited_on_arrival(rec, at=now)
        kept.add(id(rec))
    return kept, in_file


def process_exchange(gw, exchange_id: int) -> Optional[str]:
    """Process one acknowledged inbound exchange; returns its final status, None when it was
    not ours to process (already done, not inbound, not acknowledged), or ``PUT_OFF`` when it is
    left ``acknowledged`` on purpose, to be tried again shortly (the database was busy; a status
    message waits for an older one)."""
    with gw.session() as s:
        loaded = s.get(Exchange, exchange_id, options=[_WITH_PARTNER])     # one statement, the sender with it
        if loaded is None or loaded.direction != "in" or loaded.status != "acknowledged":
            return None
        content_key, filename = loaded.content_sha256, loaded.filename
        profile = validation_profile(loaded.partner)
        reading = reading_options(loaded.partner)
    now = utcnow()
    try:
        data = gw.payloads.get(content_key)
        apply = cdar_status.apply_cdar if cdar_status.is_cdar_bytes(data) else \
            invoice_response_status.apply_invoice_response \
            if invoice_response_status.is_invoice_response_bytes(data) else None
        if apply is not None:                       # a life-cycle status message, not invoices
            status, touched = apply(gw, exchange_id, data, now)
            for document_id in touched:             # the other side of each invoice hears of it, once
                lifecycle.report_pending(gw, document_id=document_id)
            return status
        docs = read_documents(data, **reading)
        if not docs:
            raise EdigateError("the file holds no invoice")
    except EdigateError as e:
        where = f" in {PurePosixPath(filename).name}" if filename else ""
        with gw.session() as s:
            if _claim(s, exchange_id, "rejected", f"unreadable{where}: {e}", now):
                return "rejected"
        return None
    except Exception as e:          # a bug of ours: keep the exchange for an operator's retry
        if busy(e):                 # another writer held the database: not a failure, tried again shortly
            log.warning("processing exchange %s put off: the database was busy (%s)", exchange_id, e.orig)
            return PUT_OFF
        log.exception("processing exchange %s failed", exchange_id)
        with gw.session() as s:
            if _claim(s, exchange_id, "failed", f"internal error while reading: {type(e).__name__}: {e}", now):
                return "failed"
        return None

    try:
        planned = _plan(gw, docs, profile)
    except ProfileError as e:       # the sender's profile names rules that are not there: on record, retryable
        with gw.session() as s:
            if _claim(s, exchange_id, "failed", f"cannot check with the sender's validation profile: {e}", now):
                return "failed"
        return None
    except Exception as e:          # a bug of ours while checking/routing/writing: on record, retryable
        if busy(e):
            log.warning("processing exchange %s put off: the database was busy (%s)", exchange_id, e.orig)
            return PUT_OFF
        log.exception("processing exchange %s failed", exchange_id)
        with gw.session() as s:
            if _claim(s, exchange_id, "failed", f"internal error while checking or routing: "
                                                 f"{type(e).__name__}: {e}", now):
                return "failed"
        return None

    sends: list[int] = []
    with gw.session() as s:
        derived_commit(s)               # worked out from durable bytes: no fsync of its own
        fatal_of = [sum(1 for f in p.findings if f.severity == FATAL) for p in planned]
        accepted = sum(1 for n in fatal_of if n == 0)
        if accepted == 0:
            status = "rejected"
            first = next((f for p in planned for f in p.findings if f.severity == FATAL), None)
            reason = (f"{len(planned)} document(s), none valid: {sum(fatal_of)} fatal finding(s)"
                      + (f", first {first.rule}: {first.message}" if first else ""))
        else:
            status = "processed"
            reason = f"{len(planned)} document(s): {accepted} valid, {len(planned) - accepted} invalid"
        if not _claim(s, exchange_id, status, reason[:2000], now):
            s.rollback()
            return None
        ex = s.merge(loaded, load=False)        # the records name their sender: no second read of it
        records = [(p, DocumentRecord.from_invoice(p.doc.invoice, syntax=p.doc.syntax, mapping=p.doc.mapping,
                                                   exchange=ex, findings=p.findings, position=p.position,
                                                   validation_profile=p.profile,
                                                   preceding_number=preceding_number(p.doc.invoice)))
                   for p in planned]
        with s.no_autoflush:                    # the records are not in the session yet
            deposited, in_file = _deposit(s, [rec for _, rec in records], now)
        for p, rec in records:                  # nobody to deliver to: held, said before the insert
            if id(rec) in deposited and p.delivery is None:
                rec.status = "held"
                rec.findings = rec.findings + [Finding("ROUTE", p.route_reason, severity="warning",
                                                       terms=("BT-49", "BT-46", "BT-47", "BT-48")).as_dict()]
        s.add_all([rec for _, rec in records])
        s.flush()                               # every record has its id before what names it
        for rec, earlier in in_file:
            _duplicate(rec, earlier)
        for p, rec in records:
            if id(rec) not in deposited:
                continue
            link_correction(s, rec, p.doc.invoice)
            approvals.screen(s, rec, p.doc.invoice, p.delivery, now)    # a rule may make it wait for approval
            if controls.screen(s, rec, p.doc.invoice, p.delivery, now) and p.delivery is not None:
                continue            # anomaly controls: held until an operator confirms (gateway.controls)
            if p.delivery is None:
                continue
            sends += delivery_plan.record(s, gw, rec, p.delivery, now,
                                          fallback_name=f"document-{exchange_id}-{p.position}")
    for out_id in sends:
        gw.jobs.send(out_id)
    return status
