"""Peppol Invoice Response (BIS Billing 3, T111): an invoice's status as the Peppol network tells it.

A buyer (or its platform) tells the seller what became of an invoice in a UBL 2.1
``ApplicationResponse`` (CustomizationID ``urn:fdc:peppol.eu:poacc:trns:invoice_response:3``)::

    cbc:CustomizationID, cbc:ProfileID   the transaction and the process (invoice_response:3)
    cbc:ID, cbc:IssueDate[, IssueTime]   the response itself; cbc:Note
    cac:SenderParty                      who answers (the buyer): EndpointID (EAS scheme), its
                                         PartyIdentification, PartyLegalEntity/RegistrationName
    cac:ReceiverParty                    who is told (the seller), the same parts
    cac:DocumentResponse
      cac:Response                       cbc:ResponseCode (UNCL 4343 subset: AB IP UQ CA RE AP PD),
                                         cbc:EffectiveDate, cac:Status (clarifications):
        cac:Status                       cbc:StatusReasonCode listID OPStatusReason (NON REF LEG...)
                                         or OPStatusAction (NOA PIN NIN...), cbc:StatusReason (text),
                                         cac:Condition (AttributeID: a business term, Description)
      cac:DocumentReference              the invoice: cbc:ID (BT-1), IssueDate (BT-2), DocumentTypeCode
      cac:IssuerParty, RecipientParty    the invoice's seller and buyer (identifier, name)

``build_invoice_response(InvoiceResponse(...))`` writes one (the bytes depend only on what is given:
writing it twice gives the same file); ``read_invoice_response(bytes)`` reads one (``gateway.xml.safe``:
no DTD, size and depth bounded, at most ``MAX_STATUSES`` clarifications). It reads what is there;
whether it keeps OpenPeppol's rules is ``gateway.rules.peppol_t111``'s business.

How the response codes meet our life cycle (``gateway/delivery/lifecycle.yaml``) is data, both ways,
with the reason codes: ``invoice_response.yaml`` (``response_for``, ``status_for``, ``peppol_reason``,
``our_reason``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml
from lxml import etree

from gateway.delivery import statuses as lifecycle
from gateway.model.errors import InputError
from gateway.xml import safe

__all__ = ["NS", "ROOT", "MEDIA_TYPE", "IrParty", "Clarification", "InvoiceResponse", "ResponseForm",
           "build_invoice_response", "for_status", "invoice_response_tree", "read_invoice_response", "parse_invoice_response",
           "is_invoice_response", "is_invoice_response_bytes", "spec", "response_for", "status_for",
           "peppol_reason", "our_reason", "response_time", "MAX_BYTES", "MAX_STATUSES", "REASON_LIST", "ACTION_LIST"]

NS = {
    "ar": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ROOT = f"{{{NS['ar']}}}ApplicationResponse"
MEDIA_TYPE = "application/xml"
DATA_FILE = Path(__file__).with_name("invoice_response.yaml")
REASON_LIST, ACTION_LIST = "OPStatusReason", "OPStatusAction"
MAX_BYTES = 2 * 1024 * 1024        # a response is a few KB
MAX_DEPTH = 30
MAX_STATUSES = 100                 # clarifications of one response
MAX_CONDITIONS = 100               # conditions of one clarification
MAX_TEXT = 1000                    # reasons and free texts kept


@lru_cache(maxsize=1)
def spec() -> dict:
    """``invoice_response.yaml``, checked against the life cycle: every status it names is one of ours,
    each one is either sent or said not to be, and every reason code it maps to is the life cycle's."""
    data = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    named = set(data["statuses"]) | set(data["not_sent"]) | {r["in"] for r in data["responses"].values()} \
        | {r["in_core"] for r in data["responses"].values() if r.get("in_core")}
    unknown = sorted(named - set(lifecycle.STATUSES))
    if unknown:
        raise ValueError(f"{DATA_FILE.name}: statuses {unknown} are not in lifecycle.yaml")
    silent = sorted(set(lifecycle.STATUSES) - set(data["statuses"]) - set(data["not_sent"]))
    if silent:
        raise ValueError(f"{DATA_FILE.name}: say whether statuses {silent} are sent (statuses) or not (not_sent)")
    codes = [c for r in data["reasons"].values() for c in ([r["ours"]] if r.get("ours") else []) + r.get("also", [])]
    if set(codes) - set(lifecycle.REASONS):
        raise ValueError(f"{DATA_FILE.name}: reason codes {sorted(set(codes) - set(lifecycle.REASONS))} "
                         "are not the life cycle's")
    if set(data["actions"]) != set(lifecycle.ACTIONS):
        raise ValueError(f"{DATA_FILE.name}: the actions are the life cycle's")
    for form in data["statuses"].values():
        if form["code"] not in data["responses"] or form.get("reason", "OTH") not in data["reasons"] \
                or form.get("action", "OTH") not in data["actions"]:
            raise ValueError(f"{DATA_FILE.name}: {form} names an unknown code")
    return data


# --------------------------------------------------------------------------- the mapping

@dataclass(frozen=True)
class ResponseForm:
    """How one status of ours is written: the response code, and the clarification to write when the
    status's own reason code gives none."""
    code: str
    reason: Optional[str] = None
    action: Optional[str] = None


def response_for(status: str) -> Optional[ResponseForm]:
    """The response a status of ours is told as, None when it is not told (``not_sent``)."""
    form = spec()["statuses"].get(status)
    return None if form is None else ResponseForm(form["code"], form.get("reason"), form.get("action"))


def status_for(code: str, cycle: str = "fr") -> Optional[str]:
    """The status of ours an inbound response code sets, on a document of ``cycle`` (``fr`` or
    ``core``); None for a code that is not a T111 response."""
    r = spec()["responses"].get((code or "").strip())
    if r is None:
        return None
    return r["in"] if cycle == "fr" else r.get("in_core", r["in"])


def peppol_reason(reason_code: Optional[str]) -> Optional[str]:
    """The OPStatusReason code for one of our reason codes (a French one, or a Peppol one kept as
    such); None when it has none."""
    if not reason_code:
        return None
    reasons = spec()["reasons"]
    if reason_code in reasons:
        return reason_code
    return next((code for code, r in reasons.items()
                 if reason_code == r.get("ours") or reason_code in r.get("also", ())), None)


def our_reason(code: Optional[str]) -> Optional[str]:
    """The French life-cycle reason code an OPStatusReason code stands for, None when there is none."""
    r = spec()["reasons"].get(code or "")
    return r.get("ours") if r else None


# --------------------------------------------------------------------------- the records

@dataclass(frozen=True)
class IrParty:
    """A party: its electronic address (EndpointID and its EAS scheme), identifier (and its ICD
    scheme) and name (RegistrationName for the sender/receiver, PartyName for the invoice's)."""
    endpoint_id: Optional[str] = None
    endpoint_scheme: Optional[str] = None
    id: Optional[str] = None
    scheme: Optional[str] = None
    name: Optional[str] = None


@dataclass(frozen=True)
class Clarification:
    """One cac:Status: a reason (OPStatusReason) or an action (OPStatusAction) code, its text, and
    conditions (a business term such as BT-9 and the value it should have)."""
    code: Optional[str] = None
    list_id: Optional[str] = REASON_LIST
    reason: Optional[str] = None
    conditions: tuple[tuple[str, Optional[str]], ...] = ()


@dataclass
class InvoiceResponse:
    """A response, to write or as read."""
    response_code: Optional[str]
    invoice_number: Optional[str]
    sender: IrParty                                  # who answers (the buyer's side)
    receiver: IrParty                                # who is told (the seller's side)
    id: Optional[str] = None
    issue_date: Optional[date] = None
    issue_time: Optional[time] = None
    note: Optional[str] = None
    invoice_date: Optional[date] = None
    invoice_type: Optional[str] = "380"
    invoice_issuer: Optional[IrParty] = None         # the invoice's seller
    invoice_recipient: Optional[IrParty] = None      # the invoice's buyer
    effective_date: Optional[date] = None
    clarifications: tuple[Clarification, ...] = ()
    customization_id: Optional[str] = None           # as read (written: the spec's)
    profile_id: Optional[str] = None

    @property
    def reason_codes(self) -> list[str]:
        return [c.code for c in self.clarifications if c.code and c.list_id == REASON_LIST]

    @property
    def action_codes(self) -> list[str]:
        return [c.code for c in self.clarifications if c.code and c.list_id == ACTION_LIST]

    @property
    def reason_code(self) -> Optional[str]:
        """The first clarification reason code (OPStatusReason)."""
        return next(iter(self.reason_codes), None)

    @property
    def reason(self) -> Optional[str]:
        """The texts of the clarifications, and their conditions, in one sentence."""
        parts = []
        for c in self.clarifications:
            if c.reason:
                parts.append(c.reason)
            parts += [f"{a}: {d}" if d else a for a, d in c.conditions]
        return "; ".join(parts)[:MAX_TEXT] or None

    def status(self, cycle: str = "fr") -> Optional[str]:
        """Our status for the response code (``status_for``)."""
        return status_for(self.response_code or "", cycle)


def for_status(status: str, *, at: datetime, response_id: str, invoice_number: str, buyer: IrParty,
               seller: IrParty, invoice_date: Optional[date] = None, invoice_type: str = "380",
               reason: Optional[str] = None, reason_code: Optional[str] = None) -> Optional[InvoiceResponse]:
    """The response telling the seller that an invoice of the buyer's reached ``status`` of our life
    cycle at ``at`` (None when that status is not told: ``not_sent``). The reason code, French or
    Peppol, becomes the clarification reason it stands for (``peppol_reason``), else the status's
    default one (OTH for CA, UQ and RE, which need one), with the reason as its text; a status's
    default action (PIN for suspended) follows. A reason without a clarification is the Note."""
    form = response_for(status)
    if form is None:
        return None
    text = _clean(reason)
    code = peppol_reason(reason_code)
    if code == "PPD" and form.code != "PD":
        code = None                             # PPD only says how much of a payment (R005)
    if code == "PPD" and not text:
        text = spec()["reasons"]["PPD"]["en"]   # R004: PPD says what was paid
    code = code or form.reason
    if code == "OTH" and not text:
        text = lifecycle.STATUSES[status].en    # R002: OTH says why
    clarifications = []
    if code:
        clarifications.append(Clarification(code, REASON_LIST, text))
    if form.action:
        clarifications.append(Clarification(form.action, ACTION_LIST))
    day, clock = response_time(at)
    return InvoiceResponse(response_code=form.code, invoice_number=invoice_number, sender=buyer, receiver=seller,
                           id=response_id, issue_date=day, issue_time=clock, note=None if code else text,
                           invoice_date=invoice_date, invoice_type=invoice_type,
                           invoice_issuer=IrParty(id=seller.id, scheme=seller.scheme, name=seller.name)
                           if seller.name else None,
                           clarifications=tuple(clarifications), effective_date=day,
                           customization_id=spec()["customization"], profile_id=spec()["profile"])


# --------------------------------------------------------------------------- writing

def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def _sub(parent: etree._Element, local: str, text: Optional[str] = None, prefix: str = "cbc",
         **attrib: Optional[str]) -> etree._Element:
    el = etree.SubElement(parent, _q(prefix, local), {k: v for k, v in attrib.items() if v})
    if text is not None:
        el.text = text
    return el


def _clean(text: Optional[str]) -> Optional[str]:
    text = " ".join((text or "").split())[:MAX_TEXT]
    return text or None


def _party(parent: etree._Element, local: str, p: IrParty, where: str) -> None:
    if not p.endpoint_id or not p.endpoint_scheme:
        raise ValueError(f"an Invoice Response gives the {where}'s electronic address and its scheme "
                         "(EndpointID, PEPPOL-T111-B00801/B02001)")
    if not p.name:
        raise ValueError(f"an Invoice Response gives the {where}'s registration name (PEPPOL-T111-B01401/B02601)")
    el = _sub(parent, local, prefix="cac")
    _sub(el, "EndpointID", p.endpoint_id, schemeID=p.endpoint_scheme)
    if p.id:
        _sub(_sub(el, "PartyIdentification", prefix="cac"), "ID", p.id, schemeID=p.scheme)
    _sub(_sub(el, "PartyLegalEntity", prefix="cac"), "RegistrationName", _clean(p.name))


def _document_party(parent: etree._Element, local: str, p: IrParty) -> None:
    if not p.name:
        raise ValueError(f"the invoice's {'seller' if local == 'IssuerParty' else 'buyer'} is named "
                         "(PartyName, PEPPOL-T111-B04301/B04901)")
    el = _sub(parent, local, prefix="cac")
    if p.id:
        _sub(_sub(el, "PartyIdentification", prefix="cac"), "ID", p.id, schemeID=p.scheme)
    _sub(_sub(el, "PartyName", prefix="cac"), "Name", _clean(p.name))


def invoice_response_tree(r: InvoiceResponse) -> etree._Element:
    """The response as an lxml tree (see the module docstring); ValueError when it would break
    OpenPeppol's rules (no response id, date or code, a code outside the lists, a party without
    its electronic address or name, CA/UQ/RE without a clarification, PPD outside PD...)."""
    data = spec()
    if not r.id or not r.id.strip() or r.issue_date is None:
        raise ValueError("an Invoice Response has its own identifier and issue date")
    if r.response_code not in data["responses"]:
        raise ValueError(f"response code {r.response_code!r} is not one of: {', '.join(data['responses'])}")
    if not r.invoice_number or not r.invoice_number.strip():
        raise ValueError("an Invoice Response names its invoice: give the invoice number (BT-1)")
    if not r.invoice_type:
        raise ValueError("an Invoice Response gives the invoice's type code (BT-3, PEPPOL-T111-B03902)")
    for c in r.clarifications:
        allowed = data["reasons"] if c.list_id == REASON_LIST else data["actions"] if c.list_id == ACTION_LIST else {}
        if c.code not in allowed:
            raise ValueError(f"clarification {c.code!r} ({c.list_id}) is not one of: {', '.join(allowed) or '-'}")
        if c.code == "PPD" and (r.response_code != "PD" or not c.reason):
            raise ValueError("PPD (partially paid) goes with PD and a reason saying what was paid (PEPPOL-T111-R004)")
        if any(not a for a, _ in c.conditions):
            raise ValueError("a condition names what it is about (AttributeID, PEPPOL-T111-B03601)")
    if data["responses"][r.response_code].get("clarified") and not any(c.code for c in r.clarifications):
        raise ValueError(f"response {r.response_code} needs a clarification code (PEPPOL-T111-R001)")
    root = etree.Element(ROOT, nsmap={None: NS["ar"], "cac": NS["cac"], "cbc": NS["cbc"]})
    _sub(root, "CustomizationID", data["customization"])
    _sub(root, "ProfileID", r.profile_id if r.profile_id in data["profiles"] else data["profile"])
    _sub(root, "ID", r.id.strip())
    _sub(root, "IssueDate", r.issue_date.isoformat())
    if r.issue_time is not None:
        _sub(root, "IssueTime", r.issue_time.replace(microsecond=0).isoformat())
    if _clean(r.note):
        _sub(root, "Note", _clean(r.note))
    _party(root, "SenderParty", r.sender, "sender")
    _party(root, "ReceiverParty", r.receiver, "receiver")
    dr = _sub(root, "DocumentResponse", prefix="cac")
    resp = _sub(dr, "Response", prefix="cac")
    _sub(resp, "ResponseCode", r.response_code)
    if r.effective_date is not None:
        _sub(resp, "EffectiveDate", r.effective_date.isoformat())
    for c in r.clarifications:
        st = _sub(resp, "Status", prefix="cac")
        _sub(st, "StatusReasonCode", c.code, listID=c.list_id)
        if _clean(c.reason):
            _sub(st, "StatusReason", _clean(c.reason))
        for attribute, description in c.conditions:
            cond = _sub(st, "Condition", prefix="cac")
            _sub(cond, "AttributeID", _clean(attribute))
            if _clean(description):
                _sub(cond, "Description", _clean(description))
    ref = _sub(dr, "DocumentReference", prefix="cac")
    _sub(ref, "ID", r.invoice_number.strip())
    if r.invoice_date is not None:
        _sub(ref, "IssueDate", r.invoice_date.isoformat())
    _sub(ref, "DocumentTypeCode", r.invoice_type)
    if r.invoice_issuer is not None:
        _document_party(dr, "IssuerParty", r.invoice_issuer)
    if r.invoice_recipient is not None:
        _document_party(dr, "RecipientParty", r.invoice_recipient)
    return root


def build_invoice_response(r: InvoiceResponse) -> bytes:
    """The response as UTF-8 bytes with an XML declaration."""
    return safe.serialize(invoice_response_tree(r))


# --------------------------------------------------------------------------- reading

def is_invoice_response(root: etree._Element) -> bool:
    """An ApplicationResponse whose CustomizationID is the Invoice Response's (T111)."""
    if root.tag != ROOT:
        return False
    cid = root.find("cbc:CustomizationID", NS)
    return cid is not None and (cid.text or "").strip().startswith(spec()["customization"])


def is_invoice_response_bytes(data: bytes) -> bool:
    """Whether a received file looks like an Invoice Response (its root and customization named in
    its first KB; ``is_invoice_response`` decides on the parsed tree)."""
    head = data[:4096]
    return b"ApplicationResponse" in head and b"poacc:trns:invoice_response:" in head


def _text(el: Optional[etree._Element], path: Optional[str] = None) -> Optional[str]:
    node = el if path is None or el is None else el.find(path, NS)
    if node is None:
        return None
    return _clean("".join(node.itertext()))


def _date(el: etree._Element, path: str, where: str) -> Optional[date]:
    node = el.find(path, NS)
    value = _text(node)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"Invoice Response {where}: {value!r} is not a date (YYYY-MM-DD)",
                         line=node.sourceline) from None


def _time(el: etree._Element) -> Optional[time]:
    value = _text(el, "cbc:IssueTime")
    if value is None:
        return None
    try:
        return time.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _read_party(el: Optional[etree._Element]) -> Optional[IrParty]:
    if el is None:
        return None
    ep = el.find("cbc:EndpointID", NS)
    pid = el.find("cac:PartyIdentification/cbc:ID", NS)
    name = _text(el, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(el, "cac:PartyName/cbc:Name")
    return IrParty(endpoint_id=_text(ep), endpoint_scheme=ep.get("schemeID") if ep is not None else None,
                   id=_text(pid), scheme=pid.get("schemeID") if pid is not None else None, name=name)


def _clarification(st: etree._Element) -> Clarification:
    code = st.find("cbc:StatusReasonCode", NS)
    conditions = st.findall("cac:Condition", NS)
    if len(conditions) > MAX_CONDITIONS:
        raise InputError(f"Invoice Response: more than {MAX_CONDITIONS} conditions in one clarification",
                         line=st.sourceline)
    return Clarification(code=_text(code), list_id=code.get("listID") if code is not None else None,
                         reason=_text(st, "cbc:StatusReason"),
                         conditions=tuple((_text(c, "cbc:AttributeID") or "", _text(c, "cbc:Description"))
                                          for c in conditions))


def parse_invoice_response(root: etree._Element) -> InvoiceResponse:
    """A parsed response as an ``InvoiceResponse``; InputError when it is no Invoice Response, names
    no invoice, or holds more than the bounds allow."""
    if not is_invoice_response(root):
        raise InputError(f"not a Peppol Invoice Response: the root element is {etree.QName(root).localname}"
                         + ("" if root.tag != ROOT else f" but its CustomizationID is not {spec()['customization']}"))
    dr = root.find("cac:DocumentResponse", NS)
    if dr is None:
        raise InputError("Invoice Response without its DocumentResponse")
    resp = dr.find("cac:Response", NS)
    ref = dr.find("cac:DocumentReference", NS)
    if ref is None or _text(ref, "cbc:ID") is None:
        raise InputError("Invoice Response about no invoice (no DocumentReference/ID)", line=dr.sourceline)
    statuses = resp.findall("cac:Status", NS) if resp is not None else []
    if len(statuses) > MAX_STATUSES:
        raise InputError(f"Invoice Response: more than {MAX_STATUSES} clarifications", line=resp.sourceline)
    number = _text(ref, "cbc:ID")
    return InvoiceResponse(
        response_code=_text(resp, "cbc:ResponseCode") if resp is not None else None,
        invoice_number=number, sender=_read_party(root.find("cac:SenderParty", NS)) or IrParty(),
        receiver=_read_party(root.find("cac:ReceiverParty", NS)) or IrParty(),
        id=_text(root, "cbc:ID"), issue_date=_date(root, "cbc:IssueDate", "issue date"), issue_time=_time(root),
        note=_text(root, "cbc:Note"), invoice_date=_date(ref, "cbc:IssueDate", f"invoice {number}: issue date"),
        invoice_type=_text(ref, "cbc:DocumentTypeCode"),
        invoice_issuer=_read_party(dr.find("cac:IssuerParty", NS)),
        invoice_recipient=_read_party(dr.find("cac:RecipientParty", NS)),
        effective_date=_date(resp, "cbc:EffectiveDate", "effective date") if resp is not None else None,
        clarifications=tuple(_clarification(s) for s in statuses),
        customization_id=_text(root, "cbc:CustomizationID"), profile_id=_text(root, "cbc:ProfileID"))


def read_invoice_response(data: bytes) -> InvoiceResponse:
    """An Invoice Response from its bytes (a UTF-8 BOM is fine); ``InputError`` / ``HostileInputError``
    when it is not XML we accept or not an Invoice Response."""
    return parse_invoice_response(safe.parse(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH))


def response_time(at: datetime) -> tuple[date, time]:
    """A status time as the response's IssueDate and IssueTime, in UTC."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("naive datetime: give status times a time zone (UTC)")
    at = at.astimezone(timezone.utc).replace(microsecond=0)
    return at.date(), at.time().replace(tzinfo=None)

