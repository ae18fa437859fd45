"""CONTRL, the syntax and service report: build one for a received interchange, read one back.

The acknowledgement answers in the received interchange's syntax version:
``CONTRL:D:3:UN`` (UN/EDIFACT directory CONTRL, version D release 3) for syntax
versions 1-3, ``CONTRL:4:1:UN`` (ISO 9735 syntax 4 CONTRL) for version 4; the
UNB date is YYMMDD or CCYYMMDD accordingly. Its UNB swaps the received sender
and recipient (component by component, so the received reverse-routing
address becomes our routing address); its UCI names the *subject* interchange
as received (control reference, sender, recipient). Syntax level: the
received one when we support it, UNOC otherwise (the received identifiers are
echoed, so no stricter level is safe).

Action codes (0083): 7 = this level acknowledged (and every lower level not
explicitly rejected), 4 = this level and all lower levels rejected, 8 =
interchange received (``receipt_only``: no syntax verdict). Errors (0085, the
codes the syntax layer gives each ``SyntaxIssue``): an interchange-level error
goes into UCI (with the service segment tag 0013 and the element position S011
when known) and rejects everything; a group error into UCF; an error on UNH or
UNT into UCM; an error in a body segment into UCS (segment position in the
message, UNH = 1) and UCD (element:component position). UCI/UCF/UCM carry one
error code each: further ones on UNH/UNT are reported as UCS/UCD pointing at the
service segment's position. Only fatal issues are reported; warnings never are,
except an interchange error the reader was told to tolerate (``tolerated``: a
UNZ reference that is not the UNB's, code 28): the UCI then acknowledges the
interchange (7) and names the error all the same (0085, 0013, S011), so the
sender learns what ISO 9735 would have rejected.

``report="all"`` puts a UCM for every message (7 or 4) when the messages were
kept (``read_interchange``); a streamed interchange keeps only its rejected
messages, so its CONTRL lists those, which UCI action 7 makes unambiguous.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional, Sequence, Union

from gateway.model.errors import InputError
from gateway.syntaxes.edifact.syntax import (LEVELS, SUPPORTED_VERSIONS, Interchange, Message, MessageReceipt,
                                             Party, Segment, SyntaxIssue, new_interchange, read_interchanges,
                                             write_interchange)

__all__ = ["ACCEPTED", "REJECTED", "RECEIVED", "build_contrl", "contrl_interchange", "read_contrl",
           "parse_contrl", "ContrlReport", "ContrlGroupReport", "ContrlMessageReport", "ContrlSegmentReport",
           "ContrlDataError", "contrl_identifier"]

ACCEPTED = "7"
REJECTED = "4"
RECEIVED = "8"

_MAX_UCS = 999
_MAX_UCD = 99


def contrl_identifier(syntax_version: str) -> list[str]:
    """UNH S009 of the CONTRL answering an interchange of this syntax version."""
    return ["CONTRL", "4", "1", "UN"] if str(syntax_version) == "4" else ["CONTRL", "D", "3", "UN"]


# --------------------------------------------------------------------------- building

def _s011(issue: SyntaxIssue) -> Optional[list[str]]:
    if issue.element is None:
        return None
    return [str(issue.element)] + ([str(issue.component)] if issue.component is not None else [])


def _error_elements(issue: Optional[SyntaxIssue], service: bool = True) -> list:
    """0085, 0013, S011 for a UCI/UCF/UCM (trailing empties dropped by Segment.build)."""
    if issue is None:
        return []
    tag = issue.tag if service and issue.tag and issue.tag.startswith("UN") else None
    return [issue.code, tag, _s011(issue) if tag else None]


def _is_header_issue(issue: SyntaxIssue) -> bool:
    return issue.tag in ("UNH", "UNT")


def _message_segments(receipt: MessageReceipt, identifier_fallback: Sequence[str] = ()) -> list[Segment]:
    """UCM (+ UCS/UCD) for one message."""
    errors = [i for i in receipt.issues if i.fatal]
    action = REJECTED if errors else ACCEPTED
    head = next((i for i in errors if _is_header_issue(i)), None)
    if head is None and errors and all(i.position is None for i in errors):
        head = errors[0]                                   # nothing to point at: the code alone
    ident = list(receipt.identifier) or list(identifier_fallback)
    out = [Segment.build("UCM", receipt.ref, ident, action, *_error_elements(head))]
    by_position: dict[int, list[SyntaxIssue]] = {}
    for issue in errors:
        if issue is head or issue.position is None:
            continue
        by_position.setdefault(issue.position, []).append(issue)
    for position in sorted(by_position)[:_MAX_UCS]:
        issues = by_position[position]
        seg_level = next((i for i in issues if i.element is None), None)
        out.append(Segment.build("UCS", str(position), seg_level.code if seg_level else None))
        for issue in [i for i in issues if i.element is not None][:_MAX_UCD]:
            out.append(Segment.build("UCD", issue.code, _s011(issue)))
    return out


def contrl_interchange(received: Interchange, *, control_ref: str, our_id: Union[Party, str, None] = None,
                       message_ref: str = "1", prepared: Optional[datetime] = None, report: str = "all",
                       receipt_only: bool = False, extra: Iterable[SyntaxIssue] = (),
                       syntax_level: Optional[str] = None, line_break: str = "") -> Interchange:
    """The CONTRL interchange answering ``received`` (see the module docstring)."""
    if received.unb is None:
        raise InputError("no CONTRL can answer this input: its UNB could not be read, so there is no sender "
                         "to address and no interchange reference to acknowledge")
    if report not in ("all", "errors"):
        raise ValueError("report must be 'all' or 'errors'")
    version = received.syntax_version if received.syntax_version in SUPPORTED_VERSIONS else "3"
    level = syntax_level or (received.syntax_level if received.syntax_level in LEVELS else "UNOC")
    sender = Party.of(our_id) if our_id is not None else received.recipient
    recipient = received.sender
    extra = list(extra)

    ic_errors = [i for i in received.issues if i.fatal] + [i for i in extra if i.fatal and i.level == "interchange"]
    tolerated = [i for i in received.issues if i.tolerated and not i.fatal]
    body: list[Segment] = []
    uci_head = ic_errors[0] if ic_errors else tolerated[0] if tolerated else None
    if receipt_only:
        body.append(Segment.build("UCI", received.control_ref, received.sender.components(),
                                  received.recipient.components(), RECEIVED))
    else:
        body.append(Segment.build("UCI", received.control_ref, received.sender.components(),
                                  received.recipient.components(), REJECTED if ic_errors else ACCEPTED,
                                  *_error_elements(uci_head)))
        receipts = [m.receipt() for m in received.messages] if received.contents else list(received.rejected)
        extra_by_ref: dict[str, list[SyntaxIssue]] = {}
        for issue in extra:
            if issue.level == "message" and issue.ref is not None:
                extra_by_ref.setdefault(issue.ref, []).append(issue)
        for r in receipts:
            if r.ref in extra_by_ref:
                r.issues = r.issues + extra_by_ref.pop(r.ref)
        for ref, issues in extra_by_ref.items():           # messages only named by the caller
            receipts.append(MessageReceipt(ref, [], issues))
        if ic_errors or report == "errors":
            receipts = [r for r in receipts if not r.accepted]
        if received.groups:
            for g in received.groups:
                g_errors = [i for i in g.issues if i.fatal]
                body.append(Segment.build("UCF", g.ref, g.application_sender.components(),
                                          g.application_recipient.components(),
                                          REJECTED if g_errors or ic_errors else ACCEPTED,
                                          *_error_elements(g_errors[0] if g_errors else None)))
                for r in receipts:
                    if r.group_ref == g.ref:
                        body.extend(_message_segments(r))
        else:
            for r in receipts:
                body.extend(_message_segments(r))
    msg = Message.build(message_ref, *contrl_identifier(version), body=body)
    return new_interchange(sender=sender, recipient=recipient, control_ref=control_ref, syntax_level=level,
                           syntax_version=version, prepared=prepared, test=received.test, messages=[msg],
                           line_break=line_break)


def build_contrl(received: Interchange, *, control_ref: str, our_id: Union[Party, str, None] = None,
                 message_ref: str = "1", prepared: Optional[datetime] = None, report: str = "all",
                 receipt_only: bool = False, extra: Iterable[SyntaxIssue] = (),
                 syntax_level: Optional[str] = None, line_break: str = "") -> bytes:
    """The CONTRL acknowledging ``received``, as bytes ready to send.

    ``our_id`` is the CONTRL's sender (default: the received interchange's
    recipient); ``extra`` adds issues found by other layers (e.g. code 23
    unknown sender, level "interchange"; or a message-level issue with ``ref``).
    """
    ic = contrl_interchange(received, control_ref=control_ref, our_id=our_id, message_ref=message_ref,
                            prepared=prepared, report=report, receipt_only=receipt_only, extra=extra,
                            syntax_level=syntax_level, line_break=line_break)
    return write_interchange(ic, strict=False)


# --------------------------------------------------------------------------- reading

@dataclass
class ContrlDataError:
    """UCD: an erroneous data element (1-based positions)."""
    code: str
    element: Optional[int]
    component: Optional[int] = None
    occurrence: Optional[int] = None


@dataclass
class ContrlSegmentReport:
    """UCS: a segment in error, by position in the message (UNH = 1), with its UCDs."""
    position: int
    code: Optional[str] = None
    data_errors: list[ContrlDataError] = field(default_factory=list)


@dataclass
class ContrlMessageReport:
    """UCM: one message's verdict."""
    ref: str
    identifier: list[str]
    action: str
    code: Optional[str] = None
    tag: Optional[str] = None
    element: Optional[int] = None
    component: Optional[int] = None
    segments: list[ContrlSegmentReport] = field(default_factory=list)
    group_ref: Optional[str] = None

    @property
    def accepted(self) -> bool:
        return self.action == ACCEPTED

    @property
    def codes(self) -> list[str]:
        """Every error code reported for the message."""
        out = [self.code] if self.code else []
        for s in self.segments:
            if s.code:
                out.append(s.code)
            out.extend(d.code for d in s.data_errors)
        return out


@dataclass
class ContrlGroupReport:
    """UCF: one functional group's verdict."""
    ref: str
    sender: Party
    recipient: Party
    action: str
    code: Optional[str] = None
    tag: Optional[str] = None
    element: Optional[int] = None
    component: Optional[int] = None


@dataclass
class ContrlReport:
    """A CONTRL read back: the verdict on one subject interchange."""
    interchange_ref: str             # the subject interchange's control reference
    sender: Party                    # the subject interchange's sender (as in UCI)
    recipient: Party
    action: str
    code: Optional[str] = None
    tag: Optional[str] = None
    element: Optional[int] = None
    component: Optional[int] = None
    messages: list[ContrlMessageReport] = field(default_factory=list)
    groups: list[ContrlGroupReport] = field(default_factory=list)
    message_identifier: list[str] = field(default_factory=list)     # the CONTRL's own UNH S009
    envelope: Optional[Interchange] = field(default=None, repr=False)

    @property
    def received_only(self) -> bool:
        return self.action == RECEIVED

    @property
    def accepted(self) -> bool:
        """The interchange and every message reported on were accepted."""
        return self.action == ACCEPTED and all(m.accepted for m in self.messages) and \
            all(g.action == ACCEPTED for g in self.groups)

    @property
    def rejected_refs(self) -> list[str]:
        return [m.ref for m in self.messages if not m.accepted]

    def message(self, ref: str) -> Optional[ContrlMessageReport]:
        return next((m for m in self.messages if m.ref == ref), None)


def _int(value: Optional[str]) -> Optional[int]:
    return int(value) if value is not None and (value.isascii() and value.isdigit()) else None


def _error_fields(seg: Segment, first: int) -> tuple:
    """(code, tag, element, component) from 0085, 0013, S011 starting at element ``first``."""
    return (seg.get(first), seg.get(first + 1), _int(seg.get(first + 2, 1)), _int(seg.get(first + 2, 2)))


def parse_contrl(message: Message) -> ContrlReport:
    """A CONTRL message (as read by the syntax layer) as a ``ContrlReport``."""
    if message.type != "CONTRL":
        raise InputError(f"message {message.ref} is a {message.type}, not a CONTRL")
    report: Optional[ContrlReport] = None
    group: Optional[ContrlGroupReport] = None
    current: Optional[ContrlMessageReport] = None
    seg_report: Optional[ContrlSegmentReport] = None
    for seg in message.body:
        if seg.tag == "UCI":
            report = ContrlReport(seg.get(1, default=""), Party.from_components(seg.components(2) or [""]),
                                  Party.from_components(seg.components(3) or [""]), seg.get(4, default=""),
                                  *_error_fields(seg, 5), message_identifier=message.identifier,
                                  envelope=message.interchange)
        elif report is None:
            raise InputError(f"CONTRL {message.ref}: {seg.tag} before UCI", location=f"segment {seg.position}")
        elif seg.tag == "UCF":
            group = ContrlGroupReport(seg.get(1, default=""), Party.from_components(seg.components(2) or [""]),
                                      Party.from_components(seg.components(3) or [""]), seg.get(4, default=""),
                                      *_error_fields(seg, 5))
            report.groups.append(group)
        elif seg.tag == "UCM":
            current = ContrlMessageReport(seg.get(1, default=""), seg.components(2), seg.get(3, default=""),
                                          *_error_fields(seg, 4), group_ref=group.ref if group else None)
            report.messages.append(current)
            seg_report = None
        elif seg.tag == "UCS":
            if current is None:
                raise InputError(f"CONTRL {message.ref}: UCS outside a UCM", location=f"segment {seg.position}")
            seg_report = ContrlSegmentReport(_int(seg.get(1)) or 0, seg.get(2))
            current.segments.append(seg_report)
        elif seg.tag == "UCD":
            if seg_report is None:
                raise InputError(f"CONTRL {message.ref}: UCD outside a UCS", location=f"segment {seg.position}")
            seg_report.data_errors.append(ContrlDataError(seg.get(1, default=""), _int(seg.get(2, 1)),
                                                          _int(seg.get(2, 2)), _int(seg.get(2, 3))))
        else:
            raise InputError(f"CONTRL {message.ref}: unexpected segment {seg.tag}",
                             location=f"segment {seg.position}")
    if report is None:
        raise InputError(f"CONTRL {message.ref} has no UCI")
    return report


def read_contrl(data: bytes) -> list[ContrlReport]:
    """Every CONTRL in ``data`` (one per CONTRL message; other messages are ignored)."""
    out = []
    for ic in read_interchanges(data):
        for m in ic.messages:
            if m.type == "CONTRL":
                out.append(parse_contrl(m))
    if not out:
        raise InputError("no CONTRL message in the input")
    return out
