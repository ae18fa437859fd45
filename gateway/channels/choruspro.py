"""Chorus Pro: invoices to French public buyers deposited over the PISTE API, and followed.

A partner on this channel is Chorus Pro as our technical account reaches it; the
public buyers it carries invoices to are its identifiers (their SIRET, scheme 0009).
Every name of the API (paths, the account header, fields, flow states, invoice
statuses and what they mean for our life cycle) is in ``choruspro.yaml``, second-hand
as that file says; the transport is ``gateway.transports.choruspro``.

Out (``send``), one attempt at a claimed exchange:

1. **Checks public buyers require**, before any deposit: the buyer's SIRET (BT-47, or
   BT-46/BT-49 with scheme 0009), known to Chorus Pro as a structure; its service code
   (BT-10) when the structure demands one, and then one of its active services; its
   commitment number (BT-13) when the structure demands one. The structure's parameters
   and services are looked up (``rechercher``, ``consulter``, ``rechercher/services``)
   and cached (bounded, for ``structure_cache_minutes``). An invoice lacking one is
   **held**: not deposited, the exchange failed with the reason naming the business term,
   and a finding on the document (``CPRO-BT-10``…); an operator's retry checks again.
2. **The deposit** (``deposer/flux``), the file in base64 with the ``syntaxeFlux`` of what
   we wrote, once: see ``gateway.channels.http_deposit_parts`` for how an attempt that
   may have reached Chorus Pro is found again (by invoice number) instead of repeated.
   Its ``numeroFluxDepot`` is kept (``Exchange.mdn_message_id``).

The sweep (``due`` → ``choruspro_follow``) then reads the deposit report (``consulterCR``)
with backoff until the flow is integrated (the exchange ``acknowledged``: the delivery
reached the buyer's platform) or rejected (``failed``; the detailed report's errors per
invoice, ``listeErreurDP``, and technical errors become findings on the document), or
``report_timeout_minutes`` pass. An integrated invoice is followed further
(``rechercher/fournisseur`` by the deposit's number): each status Chorus Pro reports moves
our life cycle as ``choruspro.yaml`` maps it (made available, suspended, refused,
accepted, payment sent…), told to the sender like any status, until a final one or
``follow_days``. Every answer is a note in the exchange's history.

Settings (``channel_settings.choruspro``): ``environment`` (production, sandbox) or
``api_url`` and ``token_url`` (a relay; the tests' stand-in, with ``allow_private``),
``client_id`` and ``client_secret`` (PISTE), ``account_login`` and ``account_password`` (the
technical account), ``syntax`` (UBL, CII, Factur-X), ``check_structures``,
``structure_cache_minutes``, ``timeout_seconds``, ``report_timeout_minutes``,
``follow_days``. Secrets are references (``env:NAME``, ``file:PATH``) read at use.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import yaml

from gateway.db import Exchange, Partner, compare_and_set, utcnow
from gateway.delivery.attempts import settle_failure
from gateway.delivery.channel import ChannelSettingsError, DeliveryPlan
from gateway.delivery.outbound import FileChannel
from gateway.delivery.state import set_status
from gateway.channels import http_deposit_parts as parts
from gateway.channels import settings as checks
from gateway.channels.settings import ChannelConfigError as DepositConfigError
from gateway.model.findings import Finding
from gateway.transports.choruspro import PisteClient, TechnicalAccount
from gateway.transports.http_deposit import DepositHttpError

log = logging.getLogger("edigate.choruspro")

NAME = "choruspro"
DATA_FILE = Path(__file__).with_name("choruspro.yaml")
SYNTAX_CHOICES = {"UBL": "ubl", "CII": "cii", "Factur-X": "facturx"}
DEFAULT_TIMEOUT = 60
DEFAULT_REPORT_TIMEOUT = 2 * 24 * 60          # minutes a flow may stay unprocessed
DEFAULT_FOLLOW_DAYS = 180                     # how long an integrated invoice's status is followed
DEFAULT_CACHE_MINUTES = 60
MAX_CACHED_STRUCTURES = 1000
FIRST_POLL = timedelta(seconds=30)
REPORT_POLL = (timedelta(minutes=1), timedelta(minutes=30))
INVOICE_POLL = (timedelta(minutes=30), timedelta(hours=12))
SIRET_SCHEMES = ("0009",)
MAX_ERRORS = 50


@lru_cache(maxsize=1)
def api() -> dict[str, Any]:
    """The API's names and meanings (``choruspro.yaml``)."""
    return yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))


# --- settings --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChorusProProfile:
    format: str = "ubl"
    why: str = ""
    channel: str = field(default=NAME, init=False)


def partner_settings(partner: Optional[Partner]) -> Optional[dict[str, Any]]:
    if partner is None:
        return None
    mine = (partner.channel_settings or {}).get(NAME)
    if not mine:
        return None
    try:
        return channel.validate_settings(mine)
    except ChannelSettingsError:
        return None


def client_for(settings: Mapping[str, Any], certs_dir: Path) -> PisteClient:
    """The PISTE client for validated settings (secrets read now, never kept in settings)."""
    names = api()
    env = names["environments"][settings.get("environment", "production")]
    account = TechnicalAccount(settings["account_login"], checks.resolve_secret(settings["account_password"], certs_dir))
    return PisteClient(settings.get("api_url") or env["api"], token_url=settings.get("token_url") or env["token"],
                       client_id=settings["client_id"],
                       client_secret=checks.resolve_secret(settings["client_secret"], certs_dir),
                       account=account, account_header=names["account_header"], scope=names.get("scope"),
                       allow_private=bool(settings.get("allow_private")),
                       timeout=float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT))


# --- the structures' requirements (cached) ---------------------------------------------------------

@dataclass(frozen=True)
class Structure:
    siret: str
    structure_id: Any
    service_code_required: bool
    commitment_required: bool
    services: tuple[str, ...]          # active service codes


class StructureCache:
    """Structures looked up, by (API, SIRET), each kept ``minutes``; at most ``MAX_CACHED_STRUCTURES``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: "OrderedDict[tuple[str, str], tuple[float, Optional[Structure]]]" = OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[bool, Optional[Structure]]:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < time.monotonic():
                self._items.pop(key, None)
                return False, None
            self._items.move_to_end(key)
            return True, item[1]

    def put(self, key: tuple[str, str], value: Optional[Structure], minutes: int) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + minutes * 60, value)
            self._items.move_to_end(key)
            while len(self._items) > MAX_CACHED_STRUCTURES:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


structures = StructureCache()


def look_up_structure(client: PisteClient, siret: str, minutes: int) -> Optional[Structure]:
    """The structure of a SIRET as Chorus Pro describes it (None: Chorus Pro knows none)."""
    hit, value = structures.get((client.base_url, siret))
    if hit:
        return value
    names = api()
    q = names["structure_search"]
    found = client.post(q["path"], {q["criteria"]: {q["identifier"]: siret, q["identifier_type"]: q["siret_type"]}},
                        what="Chorus Pro structure search")
    rows = [r for r in found.get(q["list"]) or [] if isinstance(r, dict)]
    row = next((r for r in rows if str(r.get(q["identifier"], "")) == siret), rows[0] if rows else None)
    if row is None or row.get(q["structure_id"]) is None:
        structures.put((client.base_url, siret), None, minutes)
        return None
    sid = row[q["structure_id"]]
    c = names["structure"]
    detail = client.post(c["path"], {c["structure_id"]: sid, c["language"]: "fr"}, what="Chorus Pro structure")
    params = detail.get(c["parameters"]) or {}
    service_required = bool(params.get(c["service_code_required"]))
    services: tuple[str, ...] = ()
    if service_required:
        v = names["structure_services"]
        listed = client.post(v["path"], {v["structure_id"]: sid}, what="Chorus Pro structure services")
        services = tuple(str(x.get(v["code"])) for x in listed.get(v["list"]) or []
                         if isinstance(x, dict) and x.get(v["code"]) and x.get(v["active"], True))[:1000]
    value = Structure(siret, sid, service_required, bool(params.get(c["commitment_required"])), services)
    structures.put((client.base_url, siret), value, minutes)
    return value


def buyer_siret(invoice: Any) -> Optional[str]:
    """The buyer's SIRET: BT-47 (14 digits), or BT-46 / BT-49 with scheme 0009."""
    buyer = invoice.buyer
    candidates = [(buyer.legal_registration_identifier, True), (buyer.identifier, False),
                  (buyer.electronic_address, False)]
    for ident, any_scheme in candidates:
        value = (getattr(ident, "value", None) or "").replace(" ", "")
        scheme = getattr(ident, "scheme", None)
        if value.isdigit() and len(value) == 14 and (any_scheme or scheme in SIRET_SCHEMES):
            return value
    return None


def requirements(client: PisteClient, invoice: Any, minutes: int) -> list[Finding]:
    """What the buyer's structure demands and the invoice lacks (empty: it may be deposited)."""
    siret = buyer_siret(invoice)
    if siret is None:
        return [Finding("CPRO-BT-47", "Chorus Pro needs the public buyer's SIRET (14 digits) as its legal "
                        "registration identifier (BT-47), or as BT-46 / BT-49 with scheme 0009; the invoice has "
                        "none / SIRET de l'acheteur public absent", terms=("BT-47", "BT-46", "BT-49"))]
    structure = look_up_structure(client, siret, minutes)
    if structure is None:
        return [Finding("CPRO-BT-47", f"Chorus Pro knows no structure with SIRET {siret} (BT-47) / structure "
                        "inconnue de Chorus Pro", terms=("BT-47",))]
    out = []
    service = (invoice.buyer_reference or "").strip()
    if structure.service_code_required and not service:
        out.append(Finding("CPRO-BT-10", f"the public buyer {siret} requires a service code in the buyer "
                           "reference (BT-10); the invoice has none / code service obligatoire absent",
                           terms=("BT-10",)))
    elif structure.service_code_required and structure.services and service not in structure.services:
        out.append(Finding("CPRO-BT-10", f"service code {service!r} (BT-10) is not an active service of the "
                           f"public buyer {siret} / code service inconnu ou inactif", terms=("BT-10",)))
    if structure.commitment_required and not (invoice.purchase_order_reference or "").strip():
        out.append(Finding("CPRO-BT-13", f"the public buyer {siret} requires a commitment number in the purchase "
                           "order reference (BT-13); the invoice has none / numéro d'engagement obligatoire absent",
                           terms=("BT-13",)))
    return out


def _invoice(data: bytes) -> Any:
    from gateway.syntaxes import read_documents
    docs = read_documents(data)
    if not docs:
        raise ValueError("the file holds no invoice")
    return docs[0].invoice


# --- out ---------------------------------------------------------------------------------------------

def _fail(gw: Any, exchange_id: int, why: str, disposition: Optional[str] = None) -> str:
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if disposition is not None:
            ex.mdn_disposition = disposition
        set_status(ex, "failed", why)
        return ex.status


def _hold(gw: Any, exchange_id: int, findings: list[Finding]) -> str:
    why = "held before deposit, not sent to be rejected: " + "; ".join(f"{f.rule}: {f.message}" for f in findings)
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        doc = parts.document_of(s, ex)
        if doc is not None:
            parts.add_findings(doc, findings)
        ex.mdn_disposition = parts.disposition(parts.HELD, "; ".join(f.message for f in findings))
        ex.next_attempt_at = None
        set_status(ex, "failed", why[:2000])
        return ex.status


def _find_again(client: PisteClient, number: Optional[str]) -> Optional[dict[str, Any]]:
    """An invoice of ours Chorus Pro already has under this number (its entry), or None."""
    if not number:
        return None
    q = api()["invoice_search"]
    found = client.post(q["path"], {q["by_number"]: number}, what="Chorus Pro invoice search")
    for row in found.get(q["list"]) or []:
        if isinstance(row, dict) and str(row.get(q["number"])) == number and row.get(q["deposit_id"]):
            return row
    return None


def _what_to_deposit(s: Any, ex: Exchange, data: bytes) -> tuple[str, str, Optional[str]]:
    """The file's name, the format written and the invoice's number (to find it again)."""
    delivery = parts.delivery_of(s, ex)
    return (ex.filename or f"facture-{ex.id}.xml", delivery.format if delivery is not None else "ubl",
            delivery.document.number if delivery is not None else None)


def send_deposit(gw: Any, exchange_id: int) -> str:
    """One attempt at a claimed outbound exchange (see the module docstring)."""
    names = api()
    opened = parts.open_deposit(gw, exchange_id, settings_of=partner_settings, connect=client_for,
                                setting="choruspro", peer="Chorus Pro", read=_what_to_deposit)
    if isinstance(opened, str):
        return opened
    # committed: our reference is on record before any request
    settings, client, uncertain, by_operator, data = (opened.settings, opened.connection, opened.uncertain,
                                                       opened.by_operator, opened.data)
    name, fmt, number = opened.read
    syntax = names["syntaxes"].get(fmt.split("-")[0])
    if syntax is None:
        return _fail(gw, exchange_id, f"Chorus Pro takes UBL, CII or Factur-X, not {fmt}")
    try:
        invoice = _invoice(data)
    except Exception as e:             # our own rendering unreadable: a bug, on record
        return _fail(gw, exchange_id, f"cannot read the invoice to check it for Chorus Pro: {type(e).__name__}: {e}")
    try:
        if settings.get("check_structures", True):
            lacking = requirements(client, invoice,
                                   int(settings.get("structure_cache_minutes") or DEFAULT_CACHE_MINUTES))
            if lacking:
                return _hold(gw, exchange_id, lacking)
        found = None
        if uncertain:
            found = _find_again(client, number)
            if found is None and not by_operator:
                return settle_failure(gw, exchange_id, "the last attempt may have reached Chorus Pro and no invoice "
                                      f"{number} is found there yet; looking again before any new deposit "
                                      "(uncertain)", retryable=True)
        if found is None:
            d = names["deposit"]
            body = {d["file"]: base64.b64encode(data).decode("ascii"), d["name"]: name[:200],
                    d["syntax"]: syntax, d["signed"]: False}
            answer = client.post(d["path"], body, what="Chorus Pro deposit")
    except DepositHttpError as e:
        return _after_failure(gw, exchange_id, e)
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if found is not None:
            q = names["invoice_search"]
            deposit_id = str(found[q["deposit_id"]])
            how = (f"found deposit {deposit_id} made by an earlier attempt (invoice {number} on Chorus Pro); "
                   f"not deposited again; Chorus Pro answered {parts.answer_text(found)}")
        else:
            d = names["deposit"]
            code = answer.get(d["return_code"])
            if code not in (0, "0") or not answer.get(d["deposit_id"]):
                said = str(answer.get(d["label"]) or "no details")
                ex.mdn_disposition = parts.disposition(f"code {code}", said)
                ex.note(f"Chorus Pro answered {parts.answer_text(answer)}", at=now)
                set_status(ex, "failed", f"Chorus Pro refused the deposit (codeRetour {code}): {said}", at=now)
                return ex.status
            deposit_id = str(answer[d["deposit_id"]])
            how = (f"deposited as flow {deposit_id} ({syntax}, our reference {ex.message_id}); "
                   f"Chorus Pro answered {parts.answer_text(answer)}")
        ex.mdn_message_id = deposit_id
        ex.mdn_disposition = "deposited"
        ex.mdn_at = None
        ex.mdn_due_at = now + timedelta(minutes=int(settings.get("report_timeout_minutes") or DEFAULT_REPORT_TIMEOUT))
        ex.next_attempt_at = now + FIRST_POLL
        ex.note(how, at=now)
        set_status(ex, "awaiting_mdn", f"deposited as flow {deposit_id}; awaiting Chorus Pro's report", at=now)
        status = ex.status
    gw.jobs.prompt("choruspro_follow", exchange_id, at=now + FIRST_POLL)
    return status


def _after_failure(gw: Any, exchange_id: int, e: DepositHttpError) -> str:
    if e.reached is None:
        with gw.session() as s:
            ex = s.get(Exchange, exchange_id)
            ex.mdn_disposition = parts.UNCERTAIN
            ex.note(f"the attempt may have reached Chorus Pro ({e.message}); the next one looks for the invoice "
                    "first, and does not deposit it again unless an operator says so")
        return settle_failure(gw, exchange_id, f"Chorus Pro: {e.message} (uncertain)", retryable=True)
    return settle_failure(gw, exchange_id, f"Chorus Pro: {e.message}", retryable=e.retryable)


# --- following a deposit -----------------------------------------------------------------------------

def follow_deposit(gw: Any, exchange_id: int) -> Optional[str]:
    """Read a deposit's report (or, integrated, its invoice's status) once; returns the exchange's status."""
    following = parts.open_follow(gw, exchange_id, channel=NAME, settings_of=partner_settings)
    if not isinstance(following, parts.Following):
        return following
    settings, phase, deposit_id = following.settings, following.phase, following.deposit_id
    client, error = None, None
    try:
        client = client_for(settings, gw.settings.certs_dir) if settings else None
        error = None if client else "the partner has no usable choruspro settings any more"
    except DepositConfigError as e:
        error = str(e)
    if phase == "awaiting_mdn":
        return _follow_report(gw, exchange_id, deposit_id, client, error)
    return _follow_invoice(gw, exchange_id, deposit_id, client, error, settings or {})


def _follow_report(gw: Any, exchange_id: int, deposit_id: str, client: Optional[PisteClient],
                   error: Optional[str]) -> str:
    names = api()
    r, states = names["report"], names["flow_states"]
    report, detail = None, None
    if client is not None:
        try:
            report = client.post(r["path"], {r["deposit_id"]: deposit_id}, what="Chorus Pro deposit report")
            state = str(report.get(r["state"]) or "")
            if state in states["rejected"]:
                rd = names["report_detailed"]
                detail = client.post(rd["path"], {rd["deposit_id"]: deposit_id},
                                     what="Chorus Pro detailed deposit report")
        except DepositHttpError as e:
            error = e.message
    now = utcnow()
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex.status != "awaiting_mdn" or ex.mdn_message_id != deposit_id:
            return ex.status
        state = str(report.get(r["state"]) or "") if report is not None else ""
        if state in states["integrated"] or state in states["rejected"]:
            if compare_and_set(s, Exchange, Exchange.id == exchange_id, Exchange.status == "awaiting_mdn",
                               Exchange.mdn_at.is_(None), mdn_at=now) != 1:
                s.rollback()
                return s.get(Exchange, exchange_id).status
            ex.mdn_at = now
            ex.note(f"flow {deposit_id}: Chorus Pro's report {parts.answer_text(report)}", at=now)
            if state in states["integrated"]:
                ex.mdn_disposition = parts.disposition(state)
                ex.mdn_due_at = now + timedelta(days=int(
                    (partner_settings(ex.partner) or {}).get("follow_days") or DEFAULT_FOLLOW_DAYS))
                ex.next_attempt_at = now + INVOICE_POLL[0]
                set_status(ex, "acknowledged", f"Chorus Pro integrated flow {deposit_id} ({state})", at=now)
                return ex.status
            findings = _errors(detail or {})
            if detail is not None:
                ex.note(f"flow {deposit_id}: Chorus Pro's detailed report {parts.answer_text(detail)}", at=now)
                ex.mdn_payload_key = gw.payloads.put(json.dumps(detail, ensure_ascii=False).encode("utf-8")).key
            doc = parts.document_of(s, ex)
            if doc is not None and findings:
                parts.add_findings(doc, findings)
            said = "; ".join(f.message for f in findings) or str(report.get(r["label"]) or "without details")
            ex.mdn_disposition = parts.disposition(state, said)
            ex.next_attempt_at = None
            set_status(ex, "failed", f"Chorus Pro rejected flow {deposit_id} ({state}): {said}"[:2000], at=now)
            return ex.status
        if ex.mdn_due_at is not None and now >= ex.mdn_due_at:
            ex.next_attempt_at = None
            set_status(ex, "failed", f"no report of flow {deposit_id} by {ex.mdn_due_at:%Y-%m-%d %H:%M:%S}Z"
                       + (f" (last answer: {error})" if error else f" (still {state or 'unknown'})"), at=now)
            return ex.status
        ex.next_attempt_at = parts.next_poll(now, ex.status_at, *REPORT_POLL)
        if state and state != (ex.mdn_disposition or ""):
            ex.mdn_disposition = parts.disposition(state)
            ex.note(f"flow {deposit_id}: Chorus Pro's report {parts.answer_text(report)}", at=now)
        if error:
            ex.note(f"flow {deposit_id}: cannot read its report now ({error}); next look at "
                    f"{ex.next_attempt_at:%Y-%m-%d %H:%M:%S}Z", at=now)
        return ex.status


def _errors(detail: Mapping[str, Any]) -> list[Finding]:
    """The detailed report's errors as findings: per invoice (``listeErreurDP``), then technical."""
    rd = api()["report_detailed"]
    e, t = rd["invoice_error"], rd["technical_error"]
    out = []
    for row in (detail.get(rd["invoice_errors"]) or [])[:MAX_ERRORS]:
        if not isinstance(row, dict):
            continue
        code = row.get(e["code"])
        where = f"invoice {row.get(e['number'])}" if row.get(e["number"]) else None
        out.append(Finding(f"CPRO-{code}" if code else "CPRO-DP", str(row.get(e["text"]) or "rejected")[:1000],
                           location=where, extra={"platform": NAME}))
    for row in (detail.get(rd["technical_errors"]) or [])[:MAX_ERRORS]:
        if isinstance(row, dict):
            code = row.get(t["code"])
            out.append(Finding(f"CPRO-{code}" if code else "CPRO-TECH", str(row.get(t["text"]) or "technical error")[:1000],
                               extra={"platform": NAME, "nature": row.get(t["nature"])}))
    return out


def _follow_invoice(gw: Any, exchange_id: int, deposit_id: str, client: Optional[PisteClient],
                    error: Optional[str], settings: Mapping[str, Any]) -> str:
    names = api()
    q = names["invoice_search"]
    rows: list[dict[str, Any]] = []
    if client is not None:
        try:
            found = client.post(q["path"], {q["by_deposit"]: deposit_id}, what="Chorus Pro invoice search")
            rows = [x for x in found.get(q["list"]) or [] if isinstance(x, dict)]
        except DepositHttpError as e:
            error = e.message
    now = utcnow()
    told = None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        if ex.status != "acknowledged" or ex.next_attempt_at is None:
            return ex.status
        doc = parts.document_of(s, ex)
        row = next((x for x in rows if doc is not None and str(x.get(q["number"])) == doc.number), rows[0] if rows else None)
        status = str(row.get(q["status"]) or "") if row is not None else ""
        meaning = names["invoice_statuses"].get(status) if status else None
        comment = str(row.get(q["comment"]) or "") if row is not None else ""
        if status and parts.disposition(status, comment) != ex.mdn_disposition:
            ex.mdn_disposition = parts.disposition(status, comment)
            ex.note(f"invoice of flow {deposit_id}: Chorus Pro says {parts.answer_text(row)}", at=now)
            if meaning is None:
                ex.note(f"Chorus Pro status {status} is not in choruspro.yaml: the life cycle is not moved", at=now)
            elif meaning.get("status") and doc is not None:
                partner_name = ex.partner.name if ex.partner is not None else NAME
                moved, why = parts.move_life_cycle(
                    s, doc, meaning["status"], via=meaning.get("via") or (),
                    reason=f"Chorus Pro: {status}" + (f" ({comment})" if comment else ""),
                    reason_code=meaning.get("reason_code"), by=f"partner:{partner_name}", cycle="fr",
                    public_buyer=True, at=now)
                if why:
                    ex.note(f"Chorus Pro status {status}: the life cycle cannot follow ({why})", at=now)
                if moved:
                    told = doc.id
        final = bool(meaning and meaning.get("final"))
        if final or (ex.mdn_due_at is not None and now >= ex.mdn_due_at):
            ex.next_attempt_at = None
            ex.note(f"invoice of flow {deposit_id}: no longer followed ({'final status ' + status if final else 'follow_days passed'})",
                    at=now)
        else:
            ex.next_attempt_at = parts.next_poll(now, ex.mdn_at, *INVOICE_POLL)
            if error:
                ex.note(f"invoice of flow {deposit_id}: cannot read its status now ({error})", at=now)
        result = ex.status
    if told is not None:
        from gateway.flow import lifecycle
        lifecycle.report_pending(gw, document_id=told)
    return result


# --- the channel ---------------------------------------------------------------------------------------

class ChorusProChannel(FileChannel):
    name = NAME
    label = "Chorus Pro (public buyers)"
    labels = {"en": "Chorus Pro (public buyers)", "fr": "Chorus Pro (acheteurs publics)"}
    settings_keys = ("environment", "api_url", "token_url", "client_id", "client_secret", "account_login",
                     "account_password", "allow_private", "syntax", "check_structures", "structure_cache_minutes",
                     "timeout_seconds", "report_timeout_minutes", "follow_days")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        given = {k: v for k, v in settings.items() if v is not None and v != ""}
        out: dict[str, Any] = {}
        private = checks.flag(given.get("allow_private", False), "choruspro.allow_private")
        if private:
            out["allow_private"] = True
        env = given.get("environment", "production")
        if not isinstance(env, str) or env not in api()["environments"]:
            raise ChannelSettingsError("choruspro.environment", f"expected one of {', '.join(api()['environments'])}")
        if env != "production":
            out["environment"] = env
        urls = [k for k in ("api_url", "token_url") if k in given]
        if urls and len(urls) != 2:
            raise ChannelSettingsError("choruspro.api_url", "give both api_url and token_url (a relay), or neither")
        for k in urls:
            out[k] = checks.url_setting(given[k], f"choruspro.{k}", private).rstrip("/")
        for k in ("client_id", "account_login"):
            if k in given:
                out[k] = checks.text(given[k], f"choruspro.{k}", 200)
        for k in ("client_secret", "account_password"):
            if k in given:
                out[k] = checks.secret_reference(given[k], f"choruspro.{k}")
        syntax = given.get("syntax", "UBL")
        match = next((c for c in SYNTAX_CHOICES if isinstance(syntax, str) and c.lower() == syntax.strip().lower()),
                     None)
        if match is None:
            raise ChannelSettingsError("choruspro.syntax", f"expected one of {', '.join(SYNTAX_CHOICES)}")
        if "syntax" in given:
            out["syntax"] = match
        if "check_structures" in given:
            out["check_structures"] = checks.flag(given["check_structures"], "choruspro.check_structures")
        for k, low, high in (("structure_cache_minutes", 1, 1440), ("timeout_seconds", 1, 600),
                             ("report_timeout_minutes", 1, 43200), ("follow_days", 1, 730)):
            if k in given:
                out[k] = checks.bounded(given[k], f"choruspro.{k}", low, high)
        return out

    def settings_schema(self) -> dict[str, Any]:
        url = {"type": "string", "format": "uri", "maxLength": 1000}
        return {
            "type": "object", "additionalProperties": False,
            "properties": {
                "environment": {"type": "string", "enum": list(api()["environments"]), "default": "production"},
                "api_url": {**url, "description": "instead of the environment's: a relay (with token_url)"},
                "token_url": url,
                "client_id": {"type": "string", "maxLength": 200, "description": "PISTE application's client id"},
                "client_secret": checks.SECRET_SCHEMA,
                "account_login": {"type": "string", "maxLength": 200, "description": "Chorus Pro technical account"},
                "account_password": checks.SECRET_SCHEMA,
                "allow_private": {"type": "boolean"},
                "syntax": {"type": "string", "enum": list(SYNTAX_CHOICES), "default": "UBL"},
                "check_structures": {"type": "boolean", "default": True,
                                     "description": "check the buyer's SIRET, service code and commitment number "
                                                    "against Chorus Pro's structures before depositing"},
                "structure_cache_minutes": {"type": "integer", "minimum": 1, "maximum": 1440,
                                            "default": DEFAULT_CACHE_MINUTES},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 600, "default": DEFAULT_TIMEOUT},
                "report_timeout_minutes": {"type": "integer", "minimum": 1, "maximum": 43200,
                                           "default": DEFAULT_REPORT_TIMEOUT},
                "follow_days": {"type": "integer", "minimum": 1, "maximum": 730, "default": DEFAULT_FOLLOW_DAYS},
            },
        }

    def readiness(self, settings: Mapping[str, Any], contact_email: Optional[str]) -> Optional[str]:
        missing = [k for k in ("client_id", "client_secret", "account_login", "account_password") if not settings.get(k)]
        if missing:
            return f"the choruspro channel needs {', '.join('choruspro.' + k for k in missing)}"
        return None

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> ChorusProProfile:
        problem = self.readiness(settings, None)
        if problem:
            raise ChannelSettingsError("choruspro.client_id", problem)
        return ChorusProProfile(format=SYNTAX_CHOICES[settings.get("syntax", "UBL")], why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.format, plan.syntaxes, plan.transport = plan.profile.format, (plan.profile.format,), NAME
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        ids = super().record(session, gw, rec, delivery, plan, now, fallback_name=fallback_name)
        for ex_id in ids:
            session.get(Exchange, ex_id).mdn_mode = parts.DEPOSIT
        return ids

    def send(self, gw: Any, exchange_id: int) -> str:
        return send_deposit(gw, exchange_id)

    def lease_expired(self, session: Any, exchange: Any) -> Optional[str]:
        exchange.mdn_disposition = parts.UNCERTAIN          # it may have deposited: look before depositing
        return None

    def tasks(self) -> dict[str, Callable[..., Any]]:
        return {"choruspro_follow": follow_deposit}

    def due(self, gw: Any, now: datetime) -> dict[str, int]:
        ids = parts.claim_follows(gw, NAME, now)
        for exchange_id in ids:
            gw.jobs.prompt("choruspro_follow", exchange_id)
        return {"choruspro_follows": len(ids)}

    deposit_view = staticmethod(parts.deposit_view)


channel = ChorusProChannel()
