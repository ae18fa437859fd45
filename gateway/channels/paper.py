"""Paper: pending paper deliveries gathered into one PDF to print and post.

A paper delivery waits ``pending`` with its human-readable rendering (the
Factur-X PDF). ``build_print_batch`` takes every one of them (up to a bound) and
makes one PDF: per invoice a cover sheet (the recipient's postal address where
a window envelope shows it, the sender, the invoice number, the page count)
followed by the invoice's pages. The batch is a ``PrintBatch`` with its PDF in
the payload store; its deliveries become ``delivered`` with ``print_batch_id``.
An operator who has printed and posted it says so (``mark_printed``): its
deliveries become ``acknowledged``.

The address is the partner's ``paper.address`` setting, else the buyer's postal
address on the invoice (BG-8); a delivery with neither fails with the reason.
Deliveries are claimed by compare-and-set (``print_batch_id IS NULL``) in the
transaction that records the batch, so two builders at once never print an
invoice twice: the one that loses the race builds again from what is left.

The sweep builds a batch at most every ``EDIGATE_PAPER_BATCH_HOURS`` (``sweep``);
``edigate paper batch`` builds one now.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping, Optional

import sqlalchemy as sa

from gateway.channels.settings import PostalAddress, buyer_address, postal_address
from gateway.channels.templating import TEMPLATES
from gateway.db import Delivery, Partner, PrintBatch, RenderingRecord, StatusError, compare_and_set, utcnow
from gateway.delivery.channel import Channel, ChannelSettingsError, DeliveryPlan
from gateway.delivery.state import acknowledge_delivery, follow_document
from gateway.i18n import NP_

log = logging.getLogger("edigate.paper")

BATCH_LIMIT = 500                 # invoices per batch (the rest go in the next)
MAX_BATCH_BYTES = 2 * 1024 ** 3
BUILD_LEASE = timedelta(hours=1)  # a batch "building" longer than this lost its builder


@dataclass
class BatchResult:
    """What ``build_print_batch`` did: the batch (None when nothing could be printed) and the
    deliveries that failed for want of an address."""
    batch_id: Optional[int]
    document_count: int = 0
    page_count: int = 0
    payload_key: Optional[str] = None
    failed: list[int] = field(default_factory=list)


@dataclass
class _Letter:
    delivery_id: int
    address: PostalAddress
    invoice: Any
    pdf: bytes
    pages: int


class _Raced(Exception):
    """Another builder took some of these deliveries meanwhile."""


# The cover sheet's words, translated by the catalogue into the letter's language (gateway.i18n);
# their own context: the same English words read otherwise elsewhere ("From" of a date range).
COVER_WORDS = {
    "letter": NP_("paper cover sheet", "Letter"),
    "from": NP_("paper cover sheet", "From"),
    "issue_date": NP_("paper cover sheet", "Issue date"),
    "amount": NP_("paper cover sheet", "Amount due"),
    "due_date": NP_("paper cover sheet", "Due date"),
    "pages": NP_("paper cover sheet", "Enclosed"),
    "pages_after": NP_("paper cover sheet", "page(s) after this cover sheet"),
    "note": NP_("paper cover sheet", "This document was sent to you on paper by an e-invoicing platform on behalf of its issuer."),
    "batch": NP_("paper cover sheet", "Print batch"),
    "delivery": NP_("paper cover sheet", "delivery"),
}


@lru_cache(maxsize=2)
def _labels(lang: str) -> dict[str, str]:
    from gateway import i18n
    return {key: i18n.pgettext(lang, *msg) for key, msg in COVER_WORDS.items()}


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined)
    return env.get_template("cover.html")


def _sender(invoice: Any) -> dict[str, Any]:
    seller = invoice.seller
    a = seller.postal_address if seller is not None else None
    lines = []
    if a is not None:
        lines = [x for x in (a.line1, a.line2, a.line3) if x]
        place = " ".join(x for x in (a.post_code, a.city) if x)
        lines += [x for x in (place, a.country_code) if x]
    return {"name": (seller.name if seller is not None else "") or "", "lines": lines}


COVER_TEXT = 200        # characters of one value on the cover (a name, an address line)


def cover_sheet(letter: _Letter, *, batch: int, index: int, count: int) -> bytes:
    """One A4 page: address in the envelope window, sender, what is enclosed. Laid out like the
    invoice's own page (``render.html_to_pdf``: bounded time and memory), every value from the
    invoice cut and breakable (``render.printable``)."""
    from gateway.syntaxes.render import (FRENCH_COUNTRIES, document_title, format_date, format_money,
                                         html_to_pdf, printable)
    inv = letter.invoice
    lang = "fr" if letter.address.country in FRENCH_COUNTRIES else "en"
    amount = inv.totals.amount_due if inv.totals is not None else None

    def shown(text: str) -> str:
        return printable(text, COVER_TEXT, lang=lang)

    sender = _sender(inv)
    html = _template().render(
        lang=lang, t=_labels(lang), css=(TEMPLATES / "cover.css").read_text(encoding="utf-8"),
        sender={"name": shown(sender["name"]), "lines": [shown(x) for x in sender["lines"][:6]]},
        address=[shown(x) for x in letter.address.label() if x],
        title=document_title(inv, lang), number=shown(inv.number or ""),
        issue_date=format_date(inv.issue_date, lang) if inv.issue_date else "",
        due_date=format_date(inv.due_date, lang) if inv.due_date else "",
        amount=shown(format_money(amount, inv.currency_code, lang)) if amount is not None else "",
        pages=letter.pages, batch=batch, index=index, count=count, delivery=letter.delivery_id)
    return html_to_pdf(html, base_url=str(TEMPLATES))


def paper_address(partner: Optional[Partner], invoice: Any) -> Optional[PostalAddress]:
    """The partner's ``paper.address``, else the buyer's postal address (BG-8) when usable."""
    settings = (partner.channel_settings or {}).get("paper") if partner is not None else None
    if isinstance(settings, dict) and settings.get("address"):
        try:
            return postal_address(settings["address"])
        except ChannelSettingsError:
            pass
    return buyer_address(invoice)


def pending(s, *, limit: int = BATCH_LIMIT) -> list[tuple[int, Optional[int], Optional[str]]]:
    """Paper deliveries waiting for a batch: (delivery id, recipient id, rendering payload key)."""
    rows = s.execute(sa.select(Delivery.id, Delivery.recipient_partner_id, RenderingRecord.payload_key)
                     .outerjoin(RenderingRecord, Delivery.rendering_id == RenderingRecord.id)
                     .where(Delivery.channel == "paper", Delivery.status == "pending",
                            Delivery.print_batch_id.is_(None))
                     .order_by(Delivery.id).limit(limit)).all()
    return [tuple(r) for r in rows]


def _fail(gw, delivery_id: int, reason: str, now: datetime) -> bool:
    with gw.session() as s:
        d = s.get(Delivery, delivery_id)
        if d is None or d.status != "pending" or d.print_batch_id is not None:
            return False
        d.set_status("failed", reason, at=now)
        follow_document(d.document)
        return True


def _letters(gw, rows, now: datetime) -> tuple[list[_Letter], list[int]]:
    from pypdf import PdfReader
    from gateway.syntaxes import read_documents
    letters, failed = [], []
    for delivery_id, partner_id, key in rows:
        try:
            if key is None:
                raise ValueError("no human-readable rendering to print")
            pdf = gw.payloads.get(key)
            invoice = read_documents(pdf)[0].invoice
            pages = len(PdfReader(io.BytesIO(pdf)).pages)
        except Exception as e:
            if _fail(gw, delivery_id, f"paper: cannot print: {type(e).__name__}: {e}", now):
                failed.append(delivery_id)
            continue
        with gw.session() as s:
            address = paper_address(s.get(Partner, partner_id) if partner_id else None, invoice)
        if address is None:
            if _fail(gw, delivery_id, "paper: no postal address (none in the partner's paper settings, and "
                                      "the invoice's buyer postal address BG-8 lacks a street line or a city)", now):
                failed.append(delivery_id)
            continue
        letters.append(_Letter(delivery_id, address, invoice, pdf, pages))
    return letters, failed


def _claim(gw, letters: list[_Letter], now: datetime) -> int:
    """A new batch (``building``) holding the letters' deliveries, claimed by compare-and-set;
    raises ``_Raced`` when another builder has some of them."""
    with gw.session() as s:
        batch = PrintBatch(created_at=now, status="building", document_count=len(letters))
        s.add(batch)
        s.flush()
        ids = [letter.delivery_id for letter in letters]
        claimed = compare_and_set(s, Delivery,
                                  Delivery.id.in_(ids), Delivery.print_batch_id.is_(None), Delivery.status == "pending",
                                  print_batch_id=batch.id)
        if claimed != len(ids):
            s.rollback()
            raise _Raced()
        return batch.id


def _release(gw, batch_id: int) -> None:
    """Give a batch that could not be finished back: its deliveries wait for the next one."""
    with gw.session() as s:
        compare_and_set(s, Delivery, Delivery.print_batch_id == batch_id, Delivery.status == "pending",
                        print_batch_id=None)
        s.execute(sa.delete(PrintBatch).where(PrintBatch.id == batch_id, PrintBatch.status == "building"))


def _pdf(letters: list[_Letter], batch_id: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The batch PDF and each letter's (first page, last page)."""
    from pypdf import PdfReader, PdfWriter
    writer, page, spans = PdfWriter(), 0, []
    for n, letter in enumerate(letters, 1):
        cover = cover_sheet(letter, batch=batch_id, index=n, count=len(letters))
        first = page + 1
        for part in (cover, letter.pdf):
            for p in PdfReader(io.BytesIO(part)).pages:
                writer.add_page(p)
                page += 1
        spans.append((first, page))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), spans


def _finish(gw, batch_id: int, letters: list[_Letter], key: str, spans: list[tuple[int, int]],
            now: datetime) -> BatchResult:
    with gw.session() as s:
        batch = s.get(PrintBatch, batch_id)
        batch.payload_key, batch.page_count, batch.status = key, spans[-1][1], "ready"
        for n, (letter, (first, last)) in enumerate(zip(letters, spans), 1):
            d = s.get(Delivery, letter.delivery_id)
            d.set_status("delivered", f"in print batch {batch_id}, letter {n} of {len(letters)} (pages "
                                      f"{first}-{last}), to be posted to {letter.address.one_line()}", at=now)
            follow_document(d.document)
        return BatchResult(batch_id, len(letters), batch.page_count, key)


def build_print_batch(gw, now: Optional[datetime] = None, *, limit: int = BATCH_LIMIT) -> BatchResult:
    """Gather pending paper deliveries into one print batch (see the module docstring)."""
    now = now or utcnow()
    failed: list[int] = []
    for _ in range(5):
        with gw.session() as s:
            rows = pending(s, limit=limit)
        letters, no_address = _letters(gw, rows, now)
        failed += no_address
        if not letters:
            return BatchResult(None, failed=failed)
        try:
            batch_id = _claim(gw, letters, now)
        except _Raced:
            continue
        try:
            data, spans = _pdf(letters, batch_id)
            key = gw.payloads.put(data, max_size=MAX_BATCH_BYTES).key
            result = _finish(gw, batch_id, letters, key, spans, now)
        except BaseException:
            _release(gw, batch_id)
            raise
        result.failed = failed
        log.info("print batch %s: %d invoice(s), %d page(s)", result.batch_id, result.document_count,
                 result.page_count)
        return result
    return BatchResult(None, failed=failed)


def mark_printed(gw, batch_id: int, by: str, *, at: Optional[datetime] = None) -> int:
    """The batch was printed and posted: its deliveries become ``acknowledged``. Returns how many.
    Raises ``LookupError`` for an unknown batch, ``StatusError`` for one marked already."""
    at = at or utcnow()
    with gw.session() as s:
        batch = s.get(PrintBatch, batch_id)
        if batch is None:
            raise LookupError(f"no print batch {batch_id}")
        n = compare_and_set(s, PrintBatch, PrintBatch.id == batch_id, PrintBatch.status == "ready",
                            status="printed", printed_at=at, printed_by=by[:200])
        if n != 1:
            s.refresh(batch)
            raise StatusError(f"print batch {batch_id} was already marked printed"
                              + (f" by {batch.printed_by} at {batch.printed_at:%Y-%m-%d %H:%M}Z"
                                 if batch.printed_at else ""))
        done = 0
        for d in s.scalars(sa.select(Delivery).where(Delivery.print_batch_id == batch_id).order_by(Delivery.id)):
            done += acknowledge_delivery(s, d, f"printed and posted (print batch {batch_id}, marked by {by})", at)
        return done


def batch_due(gw, now: datetime) -> bool:
    """Whether the sweep should build a batch: paper waiting, and none built in the last
    ``paper_batch_hours`` (0: never automatically)."""
    hours = float(getattr(gw.settings, "paper_batch_hours", 24.0))
    if hours <= 0:
        return False
    with gw.session() as s:
        if not pending(s, limit=1):
            return False
        last = s.scalar(sa.select(sa.func.max(PrintBatch.created_at)))
    return last is None or last <= now - timedelta(hours=hours)


def release_stale(gw, now: datetime, *, after: timedelta = BUILD_LEASE) -> int:
    """Batches left ``building`` by a process that stopped: their deliveries go back to waiting."""
    with gw.session() as s:
        stale = list(s.scalars(sa.select(PrintBatch.id).where(PrintBatch.status == "building",
                                                              PrintBatch.created_at < now - after)))
    for batch_id in stale:
        _release(gw, batch_id)
    return len(stale)


def sweep(gw, now: datetime) -> dict[str, int]:
    """The sweep's part: give back dead builders' batches, build one when due."""
    counts = {"print_batches_released": release_stale(gw, now)}
    if batch_due(gw, now):
        result = build_print_batch(gw, now)
        counts.update(print_batch_documents=result.document_count, paper_failed=len(result.failed))
    return {k: v for k, v in counts.items() if v}


# --- the channel ----------------------------------------------------------------------------

FORMAT = "facturx"      # the human-readable PDF (with its XML for whoever scans it)


@dataclass(frozen=True)
class PaperProfile:
    address: Optional[PostalAddress] = None      # None: the buyer's postal address (BG-8)
    why: str = ""
    channel: str = field(default="paper", init=False)


class PaperChannel(Channel):
    """Letters: the deliveries wait for the next print batch (``due``) and are posted by hand."""

    name, label = "paper", "Paper"
    settings_keys = ("address",)

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        if settings.get("address") is not None:
            return {"address": postal_address(settings["address"]).as_dict()}
        return {}

    def settings_schema(self) -> dict[str, Any]:
        line = {"type": "string", "maxLength": 200}
        return {"type": "object", "additionalProperties": False, "properties": {"address": {
            "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": False, "properties": {
                "name": line, "lines": {"type": "array", "items": line, "minItems": 1, "maxItems": 4},
                "postcode": {"type": "string", "maxLength": 20}, "city": {"type": "string", "maxLength": 100},
                "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}}]}}}

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> PaperProfile:
        address = postal_address(settings["address"]) if settings.get("address") else None
        return PaperProfile(address=address, why=why)

    def fallback_profile(self, partner: Any, settings: Mapping[str, Any], invoice: Any) -> PaperProfile:
        return self.profile(partner, settings, gateway_settings=None, why="no channel chosen: default paper")

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.format, plan.syntaxes = FORMAT, (FORMAT,)
        address = plan.profile.address or buyer_address(invoice)
        if address is None:
            plan.failure = (f"paper: no postal address for {partner.name}: none in its settings (paper.address; "
                            "`edigate partner set … --postal-address`) and the invoice's buyer postal address "
                            "(BG-8) lacks a street line (BT-50) or a city (BT-52)")
        else:
            source = "" if plan.profile.address else " (the buyer's postal address, BG-8)"
            plan.reason += f"; on paper to {address.one_line()}{source}"
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        delivery.note(f"{plan.reason}; as {plan.format}: waiting for the next print batch", at=now)
        return []

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        return sweep(gw, now)


channel = PaperChannel()
