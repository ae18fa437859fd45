"""CDAR: an invoice's life-cycle status as the French e-invoicing reform sends it, and read back.

Since 1 September 2026 French platforms tell each other (and the PPF) of every status of
an invoice in a UN/CEFACT *Cross Domain Acknowledgement and Response* message (D22B, XSD
``CrossDomainAcknowledgementAndResponse_100pD22B.xsd``), FNFE-MPE's "CDV" profile
(``urn.cpro.gouv.fr:1p0:CDV:invoice``; the copy to the PPF ``...:CDV:einvoicingF2``). The
statuses, their codes (200-228) and the reason codes are ``gateway/delivery/lifecycle.yaml``'s;
what a status looks like in a message (phase, MDT-88 code, issuer's role, copy to the PPF)
is ``cdar.yaml``'s.

``build_cdar(StatusChange(...))`` writes one message (the MDT numbers are XP Z12-012's)::

    rsm:ExchangedDocumentContext      MDT-2 framework (REGULATED...), MDT-3 the profile
    rsm:ExchangedDocument             MDT-4 id, MDT-5 name, MDT-8 when written,
                                      sender (MDT-21 WK: the platform), issuer (who sets the
                                      status: MDT-38 its SIREN, MDT-40 its role), recipients
                                      (MDT-57 id, MDT-59 role, MDT-73 electronic address)
    rsm:AcknowledgementDocument       MDT-74 one invoice, MDT-77 phase (305 transmission,
                                      23 processing), MDT-78 when the status was set
      ram:ReferenceReferencedDocument MDT-87 invoice number (BT-1), MDT-88, MDT-91 type (BT-3),
                                      MDT-95 received, MDT-100 issue date (BT-2),
                                      MDT-105 status code, MDT-106 its name, MDT-129 the seller
        ram:SpecifiedDocumentStatus   MDT-113 reason code, MDT-114 reason, MDT-121/122 the
                                      action asked for, MDT-124-2 its number, details (MDT-207
                                      type, MDT-215 amount, MDT-224 VAT rate)

Times are written as format 204 (CCYYMMDDHHMMSS) in UTC, and read as UTC. The bytes depend
only on the change (no clock), so writing the same change twice gives the same file.

``read_cdar(bytes)`` reads a message (parsed by ``gateway.xml.safe``: no DTD, size and depth
bounded, at most ``MAX_REFERENCES`` invoices and ``MAX_DETAILS`` details each) into a
``CdarMessage``: its parties and one ``StatusRecord`` per invoice (number, date, seller,
status code and our status name, reasons). It reads what is there; whether the message keeps
FNFE's rules is ``gateway.rules.cdar``'s business.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml
from lxml import etree

from gateway.delivery import statuses as lifecycle
from gateway.model.errors import InputError
from gateway.xml import safe

__all__ = ["NS", "ROOT", "MEDIA_TYPE", "CdarParty", "Characteristic", "StatusDetail", "StatusChange",
           "StatusRecord", "CdarMessage", "build_cdar", "cdar_tree", "read_cdar", "parse_cdar", "is_cdar",
           "spec", "MAX_BYTES", "MAX_REFERENCES", "MAX_DETAILS"]

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
ROOT = f"{{{NS['rsm']}}}CrossDomainAcknowledgementAndResponse"
MEDIA_TYPE = "application/xml"
DATA_FILE = Path(__file__).with_name("cdar.yaml")
MAX_BYTES = 2 * 1024 * 1024       # a status message is a few KB
MAX_DEPTH = 30
MAX_REFERENCES = 1000             # invoices in one (MULTI) message
MAX_DETAILS = 100                 # status details of one invoice
MAX_TEXT = 1000                   # reason and free texts kept


@lru_cache(maxsize=1)
def spec() -> dict:
    """``cdar.yaml``, checked against the life cycle: every status code it lists is one of ours."""
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    unknown = [c for c in data["statuses"] if lifecycle.by_code(str(c)) is None]
    if unknown:
        raise ValueError(f"{DATA_FILE.name}: status codes {unknown} are not in lifecycle.yaml")
    data["statuses"] = {str(k): v for k, v in data["statuses"].items()}
    return data


# --------------------------------------------------------------------------- the records

@dataclass(frozen=True)
class CdarParty:
    """A party of a message: identifier (GlobalID and its scheme: 0002 SIREN, 0009 SIRET, 0238
    a platform's number), name, role (UNCL 3035: BY, SE, WK...) and electronic address."""
    id: Optional[str] = None
    scheme: Optional[str] = None
    name: Optional[str] = None
    role: Optional[str] = None
    uri: Optional[str] = None
    uri_scheme: Optional[str] = None


@dataclass(frozen=True)
class Characteristic:
    """A detail of a status (MDG-43): its type (MEN amount cashed, DIV wrong value...), the
    business term it is about, a name, an amount and a percentage."""
    type_code: str
    id: Optional[str] = None
    name: Optional[str] = None
    location: Optional[str] = None
    amount: Optional[Decimal] = None
    currency: Optional[str] = None
    percent: Optional[Decimal] = None
    changed: Optional[bool] = None


@dataclass(frozen=True)
class StatusDetail:
    """MDG-37: why (reason code and text) and what is asked (action code and text)."""
    reason_code: Optional[str] = None
    reason: Optional[str] = None
    action_code: Optional[str] = None
    action: Optional[str] = None
    sequence: Optional[int] = None
    status_code: Optional[str] = None          # MDT-115, a status for this detail
    characteristics: tuple[Characteristic, ...] = ()


@dataclass
class StatusChange:
    """What to write: a status of an invoice, who sets it, for whom."""
    status: str                                # our name (lifecycle.yaml) or a French code ("205")
    at: datetime                               # when it was set (MDT-78)
    invoice_number: str                        # BT-1
    invoice_date: Optional[date]               # BT-2
    seller: CdarParty                          # the invoice's seller (MDT-129: its SIREN)
    recipients: tuple[CdarParty, ...] = ()     # who is told (the seller for a buyer's status...)
    issuer: Optional[CdarParty] = None         # who sets it (default: a platform, role WK)
    sender: Optional[CdarParty] = None         # the platform sending it (role WK; Chorus Pro: 0238 "9999")
    invoice_type: str = "380"                  # BT-3
    reason_code: Optional[str] = None
    reason: Optional[str] = None
    action_code: Optional[str] = None
    characteristics: tuple[Characteristic, ...] = ()
    received_at: Optional[datetime] = None     # MDT-95, when the invoice was received
    message_id: Optional[str] = None           # MDT-4 (default: number_code_time#type_date)
    written_at: Optional[datetime] = None      # MDT-8 (default: ``at``)
    business_process: Optional[str] = None     # MDT-2 (default REGULATED)
    to_ppf: bool = False                       # the PPF's copy: PPF profile, the PPF as only recipient

    @property
    def code(self) -> str:
        st = lifecycle.STATUSES.get(self.status) or lifecycle.by_code(self.status)
        if st is None:
            raise ValueError(f"no French life-cycle code for status {self.status!r}")
        return st.code


@dataclass
class StatusRecord:
    """One invoice's status as a message tells it."""
    invoice_number: Optional[str]
    code: Optional[str]                        # MDT-105
    status: Optional[str]                      # our name for it (None: a code we do not know)
    label: Optional[str] = None                # MDT-106
    status_code: Optional[str] = None          # MDT-88
    invoice_type: Optional[str] = None
    invoice_date: Optional[date] = None
    received_at: Optional[datetime] = None
    seller: Optional[CdarParty] = None         # MDT-129...
    details: list[StatusDetail] = field(default_factory=list)

    @property
    def reason_code(self) -> Optional[str]:
        return next((d.reason_code for d in self.details if d.reason_code), None)

    @property
    def reason(self) -> Optional[str]:
        return next((d.reason for d in self.details if d.reason), None)


@dataclass
class CdarMessage:
    """A message read: its header, parties, and the status of each invoice it is about."""
    id: Optional[str]
    name: Optional[str]
    written_at: Optional[datetime]
    business_process: Optional[str]
    guideline: Optional[str]
    sender: Optional[CdarParty]
    issuer: Optional[CdarParty]
    recipients: list[CdarParty]
    phase: Optional[str]                       # MDT-77
    at: Optional[datetime]                     # MDT-78
    multiple: Optional[bool]
    statuses: list[StatusRecord]

    @property
    def status(self) -> StatusRecord:
        """The one invoice's status of a MONO message (the first of a MULTI one)."""
        return self.statuses[0]


# --------------------------------------------------------------------------- writing

def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def _sub(parent: etree._Element, local: str, text: Optional[str] = None, prefix: str = "ram",
         **attrib: Optional[str]) -> etree._Element:
    el = etree.SubElement(parent, _q(prefix, local), {k: v for k, v in attrib.items() if v})
    if text is not None:
        el.text = text
    return el


def _stamp(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: give status times a time zone (UTC)")
    return value.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def _datetime(parent: etree._Element, local: str, value: datetime) -> None:
    _sub(_sub(parent, local), "DateTimeString", _stamp(value), prefix="udt", format="204")


def _party(parent: etree._Element, local: str, p: CdarParty) -> etree._Element:
    el = _sub(parent, local)
    if p.id:
        _sub(el, "GlobalID", p.id, schemeID=p.scheme)
    if p.name:
        _sub(el, "Name", p.name)
    if p.role:
        _sub(el, "RoleCode", p.role)
    if p.uri:
        _sub(_sub(el, "URIUniversalCommunication"), "URIID", p.uri, schemeID=p.uri_scheme)
    return el


def _number(value: Decimal) -> str:
    return format(value, "f")


def _check(change: StatusChange, code: str, rules: dict) -> None:
    st = lifecycle.by_code(code)
    if not change.invoice_number or not change.invoice_number.strip():
        raise ValueError("a status message names its invoice: give the invoice number (BT-1)")
    if change.invoice_date is None:
        raise ValueError("a status message gives the invoice's issue date (BT-2, MDG-35)")
    if not change.seller.id:
        raise ValueError("a status message names the invoice's seller (MDT-129: its SIREN)")
    if st.reason_code_required and not change.reason_code:
        raise ValueError(f"status {code} ({st.fr}) needs a reason code (BR-FR-CDV-15), one of: "
                         + ", ".join(st.reasons or lifecycle.REASONS))
    if change.reason_code:
        public = change.sender is not None and change.sender.scheme == "0238" and change.sender.id == "9999"
        allowed = lifecycle.B2G_REFUSAL_REASONS if code == "210" and public else st.reasons
        if change.reason_code not in lifecycle.REASONS or (allowed is not None and change.reason_code not in allowed):
            raise ValueError(f"reason code {change.reason_code!r} is not one status {code} takes: "
                             + ", ".join(allowed or lifecycle.REASONS))
    if change.action_code and change.action_code not in lifecycle.ACTIONS:
        raise ValueError(f"action code {change.action_code!r} is not one of: {', '.join(lifecycle.ACTIONS)}")
    for needed in rules.get("characteristics") or ():
        found = [c for c in change.characteristics if c.type_code == needed]
        if not found or any(c.amount is None or c.percent is None for c in found):
            raise ValueError(f"status {code} ({st.fr}) needs a {needed} detail with its amount and VAT rate "
                             "(BR-FR-CDV-14)")
    types = spec()["characteristic_types"]
    for c in change.characteristics:
        if c.type_code not in types:
            raise ValueError(f"characteristic type {c.type_code!r} is not one of: {', '.join(types)}")
    process = change.business_process or spec()["default_business_process"]
    if not change.to_ppf and process not in spec()["business_processes"]:
        raise ValueError(f"business process {process!r} is not one of: {', '.join(spec()['business_processes'])}")
    for r in change.recipients:
        if r.role not in ("WK", "DFH") and not r.uri:
            raise ValueError(f"recipient {r.name or r.id or '?'} ({r.role}) needs its electronic address "
                             "(MDT-73, BR-FR-CDV-08)")


def cdar_tree(change: StatusChange) -> etree._Element:
    """The message as an lxml tree (see the module docstring); ValueError when the change cannot
    make a message FNFE's rules accept (no invoice date, a reason code missing or not allowed...)."""
    code = change.code
    data = spec()
    rules = data["statuses"].get(code)
    if rules is None:
        raise ValueError(f"status {code} has no CDAR form in {DATA_FILE.name}")
    _check(change, code, rules)
    st = lifecycle.by_code(code)
    root = etree.Element(ROOT, nsmap=NS)
    ctx = _sub(root, "ExchangedDocumentContext", prefix="rsm")
    if change.to_ppf:
        recipients: tuple[CdarParty, ...] = (CdarParty(**data["ppf"]),)
        guideline = data["guideline_ppf"]
        process = None
    else:
        recipients = change.recipients
        guideline = data["guideline"]
        process = change.business_process or data["default_business_process"]
    if not recipients:
        raise ValueError("a status message is told to someone: give its recipients")
    if process:
        _sub(_sub(ctx, "BusinessProcessSpecifiedDocumentContextParameter"), "ID", process)
    _sub(_sub(ctx, "GuidelineSpecifiedDocumentContextParameter"), "ID", guideline)

    doc = _sub(root, "ExchangedDocument", prefix="rsm")
    at = change.at
    stamp = _stamp(at)
    date_text = change.invoice_date.strftime("%Y%m%d")
    _sub(doc, "ID", change.message_id or f"{change.invoice_number}_{code}_{stamp}#{change.invoice_type}_{date_text}")
    _sub(doc, "Name", f"CDV-{code}_{st.fr}")
    _datetime(doc, "IssueDateTime", change.written_at or at)
    sender = change.sender or CdarParty()
    _party(doc, "SenderTradeParty", CdarParty(sender.id, sender.scheme, sender.name, "WK"))
    issuer = change.issuer or CdarParty(role=rules["issuer"])
    if rules["phase"] == "305":
        issuer = CdarParty(name=issuer.name, role="WK")          # a platform; no identifier (BR-FR-CDV-07)
    elif not issuer.role:
        issuer = CdarParty(issuer.id, issuer.scheme, issuer.name, rules["issuer"], issuer.uri, issuer.uri_scheme)
    if rules["phase"] == "23" and not issuer.id:
        raise ValueError(f"status {code} is set by a party: give its identifier (MDT-38, BR-FR-CDV-07)")
    _party(doc, "IssuerTradeParty", issuer)
    for r in recipients:
        _party(doc, "RecipientTradeParty", r)

    ack = _sub(root, "AcknowledgementDocument", prefix="rsm")
    _sub(_sub(ack, "MultipleReferencesIndicator"), "Indicator", "false", prefix="udt")
    _sub(ack, "TypeCode", rules["phase"])
    _datetime(ack, "IssueDateTime", at)
    ref = _sub(ack, "ReferenceReferencedDocument")
    _sub(ref, "IssuerAssignedID", change.invoice_number.strip())
    if rules.get("status"):
        _sub(ref, "StatusCode", rules["status"])
    _sub(ref, "TypeCode", change.invoice_type)
    if change.received_at is not None:
        _datetime(ref, "ReceiptDateTime", change.received_at)
    _sub(_sub(ref, "FormattedIssueDateTime"), "DateTimeString", date_text, prefix="qdt", format="102")
    _sub(ref, "ProcessConditionCode", code)
    _sub(ref, "ProcessCondition", st.fr)
    seller = change.seller
    _party(ref, "IssuerTradeParty", CdarParty(seller.id, seller.scheme or "0002"))
    if change.reason_code or change.reason or change.action_code or change.characteristics:
        det = _sub(ref, "SpecifiedDocumentStatus")
        if change.reason_code:
            _sub(det, "ReasonCode", change.reason_code)
        reason = change.reason or (lifecycle.REASONS[change.reason_code].fr if change.reason_code else None)
        if reason:
            _sub(det, "Reason", " ".join(reason.split())[:MAX_TEXT])
        if change.action_code:
            _sub(det, "RequestedActionCode", change.action_code)
            _sub(det, "RequestedAction", lifecycle.ACTIONS[change.action_code].fr)
        _sub(det, "SequenceNumeric", "1")
        for c in change.characteristics:
            el = _sub(det, "SpecifiedDocumentCharacteristic")
            if c.id:
                _sub(el, "ID", c.id)
            _sub(el, "TypeCode", c.type_code)
            if c.changed is not None:
                _sub(_sub(el, "ValueChangedIndicator"), "Indicator", "true" if c.changed else "false", prefix="udt")
            if c.name:
                _sub(el, "Name", c.name)
            if c.location:
                _sub(el, "Location", c.location)
            if c.amount is not None:
                _sub(el, "ValueAmount", _number(c.amount), currencyID=c.currency)
            if c.percent is not None:
                _sub(el, "ValuePercent", _number(c.percent))
    return root


def build_cdar(change: StatusChange) -> bytes:
    """The message as UTF-8 bytes with an XML declaration."""
    return safe.serialize(cdar_tree(change))


# --------------------------------------------------------------------------- reading

def is_cdar(root: etree._Element) -> bool:
    return root.tag == ROOT


def _one(el: Optional[etree._Element], path: str) -> Optional[etree._Element]:
    if el is None:
        return None
    found = el.find(path, NS)
    return found


def _text(el: Optional[etree._Element], path: Optional[str] = None) -> Optional[str]:
    node = el if path is None else _one(el, path)
    if node is None or node.text is None:
        return None
    text = " ".join(node.text.split())
    return text[:MAX_TEXT] or None


def _when(el: Optional[etree._Element], path: str, where: str) -> Optional[datetime]:
    node = _one(el, path)
    if node is None:
        return None
    value = _text(node, "udt:DateTimeString")
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        pass
    try:
        return datetime.strptime(value, "%Y%m%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise InputError(f"CDAR {where}: {value!r} is not a date and time (CCYYMMDDHHMMSS)",
                         line=node.sourceline) from None


def _day(el: Optional[etree._Element], path: str, where: str) -> Optional[date]:
    node = _one(el, path)
    value = _text(node, "qdt:DateTimeString") if node is not None else None
    if value is None:
        return None
    try:
        return datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        raise InputError(f"CDAR {where}: {value!r} is not a date (CCYYMMDD)", line=node.sourceline) from None


def _read_party(el: Optional[etree._Element]) -> Optional[CdarParty]:
    if el is None:
        return None
    gid = _one(el, "ram:GlobalID")
    uri = _one(el, "ram:URIUniversalCommunication/ram:URIID")
    return CdarParty(id=_text(gid), scheme=gid.get("schemeID") if gid is not None else None,
                     name=_text(el, "ram:Name"), role=_text(el, "ram:RoleCode"), uri=_text(uri),
                     uri_scheme=uri.get("schemeID") if uri is not None else None)


def _decimal(el: Optional[etree._Element], path: str) -> Optional[Decimal]:
    value = _text(el, path)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _characteristic(el: etree._Element) -> Characteristic:
    amount = _one(el, "ram:ValueAmount")
    changed = _text(el, "ram:ValueChangedIndicator/udt:Indicator") or _text(el, "ram:ValueChangedIndicator/udt:IndicatorString")
    return Characteristic(type_code=_text(el, "ram:TypeCode") or "", id=_text(el, "ram:ID"), name=_text(el, "ram:Name"),
                          location=_text(el, "ram:Location"), amount=_decimal(el, "ram:ValueAmount"),
                          currency=amount.get("currencyID") if amount is not None else None,
                          percent=_decimal(el, "ram:ValuePercent"),
                          changed=None if changed is None else changed.lower() == "true")


def _detail(el: etree._Element) -> StatusDetail:
    seq = _text(el, "ram:SequenceNumeric")
    chars = el.findall("ram:SpecifiedDocumentCharacteristic", NS)
    if len(chars) > MAX_DETAILS:
        raise InputError(f"CDAR: more than {MAX_DETAILS} characteristics in one status detail", line=el.sourceline)
    return StatusDetail(reason_code=_text(el, "ram:ReasonCode"), reason=_text(el, "ram:Reason"),
                        action_code=_text(el, "ram:RequestedActionCode"), action=_text(el, "ram:RequestedAction"),
                        sequence=int(seq) if seq and seq.isdigit() and len(seq) < 10 else None,
                        status_code=_text(el, "ram:ProcessConditionCode"),
                        characteristics=tuple(_characteristic(c) for c in chars))


def parse_cdar(root: etree._Element) -> CdarMessage:
    """A parsed message as a ``CdarMessage``; InputError when it is no CDAR, names no invoice,
    or holds more than the bounds allow."""
    if not is_cdar(root):
        raise InputError(f"not a CDAR message: the root element is {etree.QName(root).localname}")
    ctx = _one(root, "rsm:ExchangedDocumentContext")
    doc = _one(root, "rsm:ExchangedDocument")
    acks = root.findall("rsm:AcknowledgementDocument", NS)
    if doc is None or not acks:
        raise InputError("CDAR message without its ExchangedDocument or AcknowledgementDocument")
    ack = acks[0]
    refs = [r for a in acks for r in a.findall("ram:ReferenceReferencedDocument", NS)]
    if not refs:
        raise InputError("CDAR message about no invoice (no ReferenceReferencedDocument)", line=ack.sourceline)
    if len(refs) > MAX_REFERENCES:
        raise InputError(f"CDAR message about more than {MAX_REFERENCES} invoices")
    records = []
    for ref in refs:
        dets = ref.findall("ram:SpecifiedDocumentStatus", NS)
        if len(dets) > MAX_DETAILS:
            raise InputError(f"CDAR: more than {MAX_DETAILS} status details for one invoice", line=ref.sourceline)
        code = _text(ref, "ram:ProcessConditionCode")
        known = lifecycle.by_code(code) if code else None
        number = _text(ref, "ram:IssuerAssignedID")
        records.append(StatusRecord(
            invoice_number=number, code=code, status=known.name if known else None,
            label=_text(ref, "ram:ProcessCondition"), status_code=_text(ref, "ram:StatusCode"),
            invoice_type=_text(ref, "ram:TypeCode"),
            invoice_date=_day(ref, "ram:FormattedIssueDateTime", f"invoice {number}: issue date"),
            received_at=_when(ref, "ram:ReceiptDateTime", f"invoice {number}: receipt time"),
            seller=_read_party(_one(ref, "ram:IssuerTradeParty")), details=[_detail(d) for d in dets]))
    indicator = _text(ack, "ram:MultipleReferencesIndicator/udt:Indicator")
    return CdarMessage(
        id=_text(doc, "ram:ID"), name=_text(doc, "ram:Name"),
        written_at=_when(doc, "ram:IssueDateTime", "message time (MDT-8)"),
        business_process=_text(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"),
        guideline=_text(ctx, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
        sender=_read_party(_one(doc, "ram:SenderTradeParty")), issuer=_read_party(_one(doc, "ram:IssuerTradeParty")),
        recipients=[p for p in (_read_party(r) for r in doc.findall("ram:RecipientTradeParty", NS)) if p],
        phase=_text(ack, "ram:TypeCode"), at=_when(ack, "ram:IssueDateTime", "status time (MDT-78)"),
        multiple=None if indicator is None else indicator.lower() == "true", statuses=records)


def read_cdar(data: bytes) -> CdarMessage:
    """A CDAR message from its bytes (a UTF-8 BOM is fine); ``InputError`` / ``HostileInputError``
    when it is not XML we accept or not a CDAR message."""
    return parse_cdar(safe.parse(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH))
