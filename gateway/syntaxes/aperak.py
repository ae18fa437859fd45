"""APERAK: an invoice's life-cycle status told back to an EDI sender, and read back.

When the recipient of an invoice accepts, refuses, disputes or pays it, a
sender that trades EDIFACT learns it the way EDI partners expect: an
application acknowledgement (UN/EDIFACT ``APERAK:D:96A:UN``) in its own
interchange, sent back over the channel the invoice came by. The envelope is
written as ``edigate ack`` writes a CONTRL (``syntaxes.edifact.contrl``): the
received UNB's parties swapped, the received syntax version, UNOC unless a
character needs UNOW (UTF-8).

The message (segment table of APERAK D.96A)::

    UNH+1+APERAK:D:96A:UN'
    BGM+:::Invoice status+<report number>+<1225>+<4343>'     function and response type: the table
    DTM+137:<CCYYMMDDHHMM>:203'                              when the status was set (UTC)
    FTX+ACD++<reason code>+<reason, 5 x 70 characters>'      the reason (up to 9 FTX), when given
    DOC+<380|381|...>+<invoice number>:<1373>'               SG1: the invoice and its document status
    DTM+137:<CCYYMMDD>:102'                                  its issue date (BT-2)
    RFF+IV:<invoice number>'                                 SG2: the reference, as EANCOM does
    DTM+171:<CCYYMMDD>:102'
    RFF+ACW:<UNB control reference>:<UNH reference>'         the INVOIC message answered, when EDIFACT
    NAD+MS+<id>::<agency>++<name>'                           SG3: who set the status (the buyer)
    NAD+MR+<id>::<agency>++<name>'                           who it is told to (the seller)
    ERC+<life-cycle code>::ZZZ'                              SG4: the status as a code
    FTX+AAI+++<status>'                                      and as a word
    UNT

The status codes (``STATUS_CODES``; UNCL 1225 message function, UNCL 4343
response type, UNCL 1373 document status; the life-cycle code is the French
e-invoicing status list, 200-series, carried in ERC 9321 with agency ZZZ,
mutually defined):

    ============  ====  ====  ====  ====  =========================================
    status        1225  4343  1373  ERC   meaning
    ============  ====  ====  ====  ====  =========================================
    deposited     9     AB          200   taken in by the gateway (not sent: the MDN told it)
    received      6     AB          202   made available to the recipient
    accepted      29    AP    1     205   approved for payment
    refused       27    RE    8     210   refused; FTX ACD says why
    disputed      11    CA    3     207   in dispute; FTX ACD says why
    payment_sent  11    AP          211   payment sent
    paid          11    AP          212   paid (cashed by the seller)
    ============  ====  ====  ====  ====  =========================================

Party identifiers in NAD: a GLN (scheme 0088) gets agency 9 (GS1), anything
else ZZZ. The bytes depend only on the report (no clock, no counter), so
writing the same status report twice gives the same file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Optional

from gateway.model.errors import InputError
from gateway.syntaxes.edifact.syntax import (SUPPORTED_VERSIONS, Interchange, Message, Party, Segment,
                                             new_interchange, read_interchanges, write_interchange)

__all__ = ["StatusCode", "STATUS_CODES", "AperakParty", "StatusReport", "build_aperak", "aperak_interchange",
           "read_aperak", "parse_aperak", "IDENTIFIER", "MEDIA_TYPE"]

IDENTIFIER = ("APERAK", "D", "96A", "UN")
MEDIA_TYPE = "application/EDIFACT"
TEXT_CHUNK = 70            # 4440 is an..70 in D.96A
TEXT_CHUNKS = 5            # C108 has five
MAX_FTX = 9                # the header FTX repeats up to 9 times


@dataclass(frozen=True)
class StatusCode:
    """How one life-cycle status is said in an APERAK."""
    status: str
    function: str                    # BGM 1225 message function
    response: str                    # BGM 4343 response type
    document_status: Optional[str]   # DOC C503/1373 document status
    lifecycle: str                   # ERC 9321: French e-invoicing life-cycle status code
    label: str


STATUS_CODES: dict[str, StatusCode] = {c.status: c for c in (
    StatusCode("deposited", "9", "AB", None, "200", "Deposited"),
    StatusCode("received", "6", "AB", None, "202", "Received"),
    StatusCode("accepted", "29", "AP", "1", "205", "Accepted"),
    StatusCode("refused", "27", "RE", "8", "210", "Refused"),
    StatusCode("disputed", "11", "CA", "3", "207", "Disputed"),
    StatusCode("payment_sent", "11", "AP", None, "211", "Payment sent"),
    StatusCode("paid", "11", "AP", None, "212", "Paid"),
)}
_BY_LIFECYCLE = {c.lifecycle: c for c in STATUS_CODES.values()}


@dataclass(frozen=True)
class AperakParty:
    """A party named in NAD: identifier (and its scheme, for the agency) and name."""
    id: Optional[str] = None
    scheme: Optional[str] = None
    name: Optional[str] = None

    def agency(self) -> Optional[str]:
        if not self.id:
            return None
        return "9" if self.scheme == "0088" else "ZZZ"


@dataclass
class StatusReport:
    """What an APERAK says: which invoice, which status (when, by whom, why)."""
    status: str
    at: datetime
    number: str                              # BGM 1004: this report's own number
    document_number: str                     # BT-1 of the invoice
    document_type: str = "380"               # BT-3
    document_date: Optional[date] = None     # BT-2
    reason: Optional[str] = None
    reason_code: Optional[str] = None
    issuer: AperakParty = field(default_factory=AperakParty)       # the buyer, who set the status
    addressee: AperakParty = field(default_factory=AperakParty)    # the seller, who is told
    interchange_ref: Optional[str] = None    # the INVOIC's UNB 0020, when it came as EDIFACT
    message_ref: Optional[str] = None        # its UNH 0062


def _chunks(text: str, size: int = TEXT_CHUNK) -> list[str]:
    text = " ".join(text.split())            # no line breaks or tabs in EDIFACT text
    return [text[i:i + size] for i in range(0, len(text), size)]


def _day(value: Optional[date]) -> Optional[str]:
    return value.strftime("%Y%m%d") if value else None


def _nad(qualifier: str, party: AperakParty) -> Segment:
    name = _chunks(party.name or "", 35)[:5] if party.name else None
    return Segment.build("NAD", qualifier, [party.id[:35] if party.id else None, None, party.agency()], None, name)


def _message(report: StatusReport, ref: str) -> Message:
    try:
        code = STATUS_CODES[report.status]
    except KeyError:
        raise ValueError(f"no APERAK code for status {report.status!r}; known: {', '.join(STATUS_CODES)}") from None
    if report.at.tzinfo is None:
        raise ValueError("naive datetime: give the status time a time zone (UTC)")
    at = report.at.astimezone(timezone.utc)
    body = [Segment.build("BGM", [None, None, None, "Invoice status"], report.number[:35], code.function,
                          code.response),
            Segment.build("DTM", ["137", at.strftime("%Y%m%d%H%M"), "203"])]
    if report.reason or report.reason_code:
        chunks = _chunks(report.reason or "")
        groups = [chunks[i:i + TEXT_CHUNKS] for i in range(0, len(chunks), TEXT_CHUNKS)][:MAX_FTX] or [[]]
        for n, text in enumerate(groups):
            body.append(Segment.build("FTX", "ACD", None, (report.reason_code or None) if n == 0 else None,
                                      text or None))
    number = report.document_number[:35]
    body += [Segment.build("DOC", report.document_type or "380", [number, code.document_status])]
    if report.document_date:
        body.append(Segment.build("DTM", ["137", _day(report.document_date), "102"]))
    body.append(Segment.build("RFF", ["IV", number]))
    if report.document_date:
        body.append(Segment.build("DTM", ["171", _day(report.document_date), "102"]))
    if report.interchange_ref:
        body.append(Segment.build("RFF", ["ACW", report.interchange_ref[:35], (report.message_ref or "")[:6]]))
    body += [_nad("MS", report.issuer), _nad("MR", report.addressee),
             Segment.build("ERC", [code.lifecycle, None, "ZZZ"]),
             Segment.build("FTX", "AAI", None, None, [code.label])]
    return Message.build(ref, *IDENTIFIER, body=body)


def _fits_latin1(message: Message) -> bool:
    for seg in message.segments:
        for element in seg.elements:
            for comp in element:
                try:
                    comp.encode("latin-1")
                except UnicodeEncodeError:
                    return False
    return True


def aperak_interchange(report: StatusReport, *, sender: Party, recipient: Party, control_ref: str,
                       syntax_version: str = "3", message_ref: str = "1") -> Interchange:
    """The interchange carrying one APERAK from ``sender`` (us: the invoice's UNB recipient)
    to ``recipient`` (the invoice's UNB sender)."""
    version = syntax_version if syntax_version in SUPPORTED_VERSIONS else "3"
    msg = _message(report, message_ref)
    level = "UNOC" if _fits_latin1(msg) else "UNOW"
    if level == "UNOW" and version not in ("3", "4"):
        version = "3"           # UNOW (ISO 10646) is a syntax 3/4 character set
    return new_interchange(sender=sender, recipient=recipient, control_ref=control_ref[:14], syntax_level=level,
                           syntax_version=version, prepared=report.at.astimezone(timezone.utc),
                           messages=[msg], line_break="\n")


def build_aperak(report: StatusReport, *, sender: Party, recipient: Party, control_ref: str,
                 syntax_version: str = "3", message_ref: str = "1") -> bytes:
    """The APERAK interchange as bytes ready to send (see the module docstring)."""
    return write_interchange(aperak_interchange(report, sender=sender, recipient=recipient,
                                                control_ref=control_ref, syntax_version=syntax_version,
                                                message_ref=message_ref))


# --------------------------------------------------------------------------- reading

def _date(value: Optional[str]) -> Optional[date]:
    try:
        return datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _party(seg: Segment) -> AperakParty:
    agency = seg.get(2, 3)
    return AperakParty(id=seg.get(2, 1), scheme="0088" if agency == "9" else None,
                       name=" ".join(c for c in seg.components(4) if c) or None)


def parse_aperak(message: Message) -> StatusReport:
    """An APERAK message (as read by the syntax layer) as a ``StatusReport``; the status comes
    from ERC (the life-cycle code), checked against BGM."""
    if message.type != "APERAK":
        raise InputError(f"message {message.ref} is a {message.type}, not an APERAK")
    values: dict = {}
    reason: list[str] = []
    last_rff = None
    for seg in message.body:
        if seg.tag == "BGM":
            values["number"], values["function"] = seg.get(2, default=""), seg.get(3)
        elif seg.tag == "DTM" and seg.get(1, 1) == "137" and seg.get(1, 3) == "203" and "at" not in values:
            try:
                values["at"] = datetime.strptime(seg.get(1, 2) or "", "%Y%m%d%H%M").replace(tzinfo=timezone.utc)
            except ValueError:
                raise InputError(f"APERAK {message.ref}: DTM 137 {seg.get(1, 2)!r} is not CCYYMMDDHHMM",
                                 location=f"segment {seg.position}") from None
        elif seg.tag == "DTM" and seg.get(1, 1) == "137" and seg.get(1, 3) == "102":
            values["document_date"] = _date(seg.get(1, 2))
        elif seg.tag == "FTX" and seg.get(1) == "ACD":
            values.setdefault("reason_code", seg.get(3, 1))
            reason.append("".join(seg.components(4)))
        elif seg.tag == "DOC":
            values["document_type"], values["document_number"] = seg.get(1, 1), seg.get(2, 1)
        elif seg.tag == "RFF":
            last_rff = seg.get(1, 1)
            if last_rff == "ACW":
                values["interchange_ref"], values["message_ref"] = seg.get(1, 2), seg.get(1, 3)
        elif seg.tag == "NAD" and seg.get(1) in ("MS", "MR"):
            values["issuer" if seg.get(1) == "MS" else "addressee"] = _party(seg)
        elif seg.tag == "ERC":
            code = _BY_LIFECYCLE.get(seg.get(1, 1) or "")
            if code is None:
                raise InputError(f"APERAK {message.ref}: unknown life-cycle code {seg.get(1, 1)!r} in ERC",
                                 location=f"segment {seg.position}")
            values["status"] = code.status
    for needed in ("status", "at", "document_number"):
        if not values.get(needed):
            raise InputError(f"APERAK {message.ref} has no {needed.replace('_', ' ')}")
    function = values.pop("function", None)
    if function != STATUS_CODES[values["status"]].function:
        raise InputError(f"APERAK {message.ref}: BGM function {function!r} does not match the status "
                         f"{values['status']} (expected {STATUS_CODES[values['status']].function})")
    text = "".join(reason).strip()
    return StatusReport(reason=text or None, **values)


def read_aperak(data: bytes) -> list[StatusReport]:
    """Every APERAK in ``data`` (other messages are ignored); InputError when there is none or
    an interchange is not sound."""
    out = []
    for ic in read_interchanges(data):
        fatal = [i for i in ic.all_issues() if i.fatal]
        if fatal:
            raise InputError("the APERAK interchange is not sound: " + "; ".join(str(i) for i in fatal[:5]))
        for m in ic.messages:
            if m.type == "APERAK":
                out.append(parse_aperak(m))
    if not out:
        raise InputError("no APERAK message in the input")
    return out
