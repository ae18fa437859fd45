"""EDIFACT interchange syntax (ISO 9735 versions 1-4): bytes <-> segments, streaming.

This layer knows envelopes and characters, not message grammars: it turns the
bytes of an interchange into ``Segment`` objects grouped into ``Message``s (and
UNG groups, UNO/UNP packages), checks everything ISO 9735 says about the
envelope, and writes interchanges back. Message grammars (segment groups,
directories) and the mappings to the EN 16931 model sit on top of it.

Why a tokenizer of our own and not pydifact
-------------------------------------------
pydifact 0.2.3 works on ``str`` (so the bytes must be decoded before the UNB
syntax identifier that says *how* to decode them has been read), rewrites
syntax-4 CCYYMMDD dates to YYMMDD, ignores the syntax-4 repetition separator,
knows neither byte offsets nor UNO/UNP packages, checks no control counts,
and tokenises character by character (about 0.8 MB/s, too slow for a 100 MB
interchange). The tokenizer needed here is small: ``bytes.split`` of a bounded
batch (16 KiB) of the input on the segment terminator, re-joining the parts
whose terminator is released (an odd run of release characters before it), an
anchored regular expression for the rare segment longer than a batch, and
``str.split`` on the separators when elements are asked for. It runs at about
15 MB/s in CPython, so it is written here; pydifact is used only by the tests,
as an independent cross-check of the segments.

The model
---------
``Segment(tag, elements, number, offset, line)``: ``elements`` is a list of data
elements, each a list of component strings (release characters removed). The
segment tag is not an element: ``seg.elements[0]`` is the first element after
the tag, ``seg.get(1, 1)`` its first component (positions are 1-based, as in
the directories and in CONTRL). A data element repeated with the syntax-4
repetition separator (``FII+RB+A:1*B:2``) keeps its first occurrence in
``elements`` (so code that does not expect repetitions still reads the first
one) and all its occurrences in ``seg.repeats[position]`` (``{1: [['A','1'],
['B','2']]}``); ``seg.occurrences(pos)`` gives the list for any element. Trailing
empty elements and components are kept as written, so a file re-serialises to
the same bytes. Elements are parsed lazily, on first access: streaming a large
interchange costs a split, a decode and one object per segment.

``number`` is the segment's 1-based position in its interchange (UNB = 1; UNA is
not a segment), ``position`` its position in its message (UNH = 1, the count
CONTRL's UCS uses), ``offset`` the byte offset of its tag in the input and
``line`` the line it starts on.

Characters
----------
The syntax identifier (UNB S001/0001) is read from the raw bytes of the UNB
(service characters and the identifier are ASCII at every level), then the
rest is decoded with its character set: UNOA/UNOB (and IATA/IATB) ISO 646
subsets, UNOC ISO 8859-1, UNOD ISO 8859-2, UNOE -5, UNOF -7, UNOG -3, UNOH -4,
UNOI -6, UNOJ -8, UNOK -9, UNOW UTF-8, UNOY ISO 10646 octets (UTF-8). In
syntax 4 a character encoding 0133 of 7 (UTF-8) is honoured; 0133 values for
UCS-2/UCS-4/UTF-16/EBCDIC code pages are "not supported" (code 2) because the
service characters are then no longer single ASCII octets. UNOX (ISO 2022
escapes) is not supported either. Characters outside UNOA/UNOB's repertoire
(lower case in UNOA, say, which is common in practice) are a warning unless
``strict_charset``; octets a level cannot carry at all are an error.
A UTF-8 byte-order mark at the start, and blanks, tabs and line breaks between
segments, are tolerated; line breaks *inside* a segment are data (a warning).

Separators: from UNA when present (its six characters, a space in the release
or repetition position meaning "not used"); otherwise the ISO defaults of the
UNB's syntax level: ``:+.? '`` plus repetition ``*`` in syntax 4, or, when the
UNB is written with the level-B information separators (IS3 after ``UNB``),
IS1/IS3/IS4 (and IS2 for repetition in syntax 4) with no release character.

Errors: fatal for the interchange, or for one message
-----------------------------------------------------
Nothing is raised for a syntax problem found after the UNB: every problem is
a ``SyntaxIssue`` with its UN/ECE syntax error code (0085), its severity, the
segment number/position, element and component, byte offset and line, kept
where it belongs so that a CONTRL can report it:

* interchange (``Interchange.issues``; the whole interchange is rejected):
  unknown syntax identifier, version or encoding (2), bad UNA (20), a UNB that
  cannot be read (13/12), non-default separators without UNA (22), no UNZ /
  input cut in a segment / unterminated release (13), UNZ count or reference
  wrong (29/28), segments outside any message (33), groups and messages mixed
  (30), package (UNO/UNP) errors;
* group (``Group.issues``; the group's messages are rejected): UNE count or
  reference, missing UNE;
* message (``Message.issues``; only that message is rejected, the others are
  usable): UNT count (29) or reference (28), missing UNT, UNH without its
  identifier, duplicate message reference (26), invalid segment tag, octets
  the character set cannot carry and control characters (21), a segment over
  ``max_segment_length`` (39; the reader skips to the next terminator).

Warnings never reject: repertoire (21) unless ``strict_charset``, line breaks
in data, UNB date written in the other syntax version's format, a test
indicator other than 1, data after the last UNZ (also in ``reader.issues``).

Tolerated deviations: ISO 9735 rejects an interchange whose UNZ reference
(0020) is not its UNB's, and so does the reader by default. Some senders put
another reference there (the CEN EN 16931 EDIFACT examples carry the message
reference); ``tolerate_unz_reference=True`` (a partner's setting, or the CLI's
``--tolerate-unz-reference``) makes that one issue a warning with
``tolerated=True``, still code 28 at the UNZ's element 2, and the interchange is
read on. A CONTRL reports a tolerated issue in its UCI, with action 7
(acknowledged), so the sender learns of it.

Streaming verdicts arrive late: ``iter_messages`` yields each message when its
UNT is read, with its own checks done; group and interchange checks (UNE, UNZ,
truncation) are known only when the reader gets there. ``Message.usable`` is
final once the iteration is over; process messages tentatively and commit
when ``reader.interchanges[i].accepted``.

Writing
-------
``write_interchange`` (or ``InterchangeWriter``, item by item, for large
outbound interchanges) writes UNA when the interchange has one (``ic.una``: kept
from the input when read; set by ``new_interchange`` for every level above
UNOA/UNOB, as EANCOM and most guides require) and whenever its separators are
not the defaults of its syntax version. It recomputes UNT/UNE/UNZ (and UNO/UNP
lengths) unless ``recount=False``, applies release characters, and encodes by
the syntax level, refusing with an ``InputError`` naming segment, element and
component any character the level cannot carry (and, with ``strict``, the
default, characters outside UNOA/UNOB's repertoire and control characters).
``line_break`` defaults to the layout the interchange was read with (nothing,
LF or CRLF after each terminator), so a file written canonically comes back
byte for byte; syntax-4 dates stay CCYYMMDD as written (``new_interchange``
writes CCYYMMDD in syntax 4, YYMMDD before).

Limits: separators are single octets (UNA gives six); a separator above 0x7F is
read but not written. ISO 2022 (UNOX), KECA and the UCS-2/UTF-16 encodings are
"not supported" (code 2). Trailing separators (code 45) are not reported.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Iterable, Iterator, Optional, Sequence, Union

from gateway.model.errors import InputError
from gateway.model.findings import FATAL, WARNING, Finding

__all__ = [
    "Separators", "SyntaxLevel", "LEVELS", "Segment", "SyntaxIssue", "Party",
    "Message", "MessageReceipt", "Group", "Package", "Interchange",
    "InterchangeReader", "InterchangeWriter",
    "iter_messages", "read_interchanges", "read_interchange",
    "write_interchange", "new_interchange", "new_message",
]

BOM = b"\xef\xbb\xbf"

# --------------------------------------------------------------------------- levels

_UNOA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>"
_UNOB = _UNOA + "abcdefghijklmnopqrstuvwxyz_"     # ISO 646 invariant set


@dataclass(frozen=True)
class SyntaxLevel:
    """A syntax identifier (0001): the codec that decodes it and, for the ISO 646 levels, its repertoire."""
    code: str
    codec: str
    repertoire: Optional[str] = None        # allowed printable characters (None: anything the codec decodes)
    description: str = ""


LEVELS: dict[str, SyntaxLevel] = {lv.code: lv for lv in (
    SyntaxLevel("UNOA", "ascii", _UNOA, "ISO 646 upper case"),
    SyntaxLevel("UNOB", "ascii", _UNOB, "ISO 646"),
    SyntaxLevel("IATA", "ascii", _UNOA, "IATA level A (as UNOA)"),
    SyntaxLevel("IATB", "ascii", _UNOB, "IATA level B (as UNOB)"),
    SyntaxLevel("UNOC", "iso8859-1", None, "ISO 8859-1"),
    SyntaxLevel("UNOD", "iso8859-2", None, "ISO 8859-2"),
    SyntaxLevel("UNOE", "iso8859-5", None, "ISO 8859-5"),
    SyntaxLevel("UNOF", "iso8859-7", None, "ISO 8859-7"),
    SyntaxLevel("UNOG", "iso8859-3", None, "ISO 8859-3"),
    SyntaxLevel("UNOH", "iso8859-4", None, "ISO 8859-4"),
    SyntaxLevel("UNOI", "iso8859-6", None, "ISO 8859-6"),
    SyntaxLevel("UNOJ", "iso8859-8", None, "ISO 8859-8"),
    SyntaxLevel("UNOK", "iso8859-9", None, "ISO 8859-9"),
    SyntaxLevel("UNOW", "utf-8", None, "ISO 10646 UTF-8"),
    SyntaxLevel("UNOY", "utf-8", None, "ISO 10646 octets (UTF-8)"),
)}
SUPPORTED_VERSIONS = ("1", "2", "3", "4")
_ENCODING_0133 = {"1": None, "2": None, "7": "utf-8"}     # 0133 values we honour (None: the level's codec)

# --------------------------------------------------------------------------- separators

_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class Separators:
    """Service characters. ``release``/``repetition`` None: not used (a space in UNA)."""
    component: str = ":"
    data: str = "+"
    decimal: str = "."
    release: Optional[str] = "?"
    repetition: Optional[str] = None
    segment: str = "'"

    @classmethod
    def default(cls, version: Union[int, str] = 4, *, level_b: bool = False) -> "Separators":
        """ISO 9735 defaults: ``:+.? '`` (repetition ``*`` in syntax 4), or level B's IS1/IS3/IS4 (IS2)."""
        v4 = str(version) == "4"
        if level_b:
            return cls("\x1f", "\x1d", ".", None, "\x1e" if v4 else None, "\x1c")
        return cls(":", "+", ".", "?", "*" if v4 else None, "'")

    @classmethod
    def from_una(cls, una: str, version: Union[int, str, None] = None) -> "Separators":
        """Separators from the 9 characters ``UNA:+.? '``; InputError if UNA is not usable.

        The repetition position is reserved before syntax 4: with ``version`` 1-3 it is
        ignored; with 4 or None (not known yet) a non-space character there is the
        repetition separator.
        """
        if len(una) != 9 or not una.startswith("UNA"):
            raise InputError(f"UNA must be 'UNA' and six service characters, got {una!r}")
        comp, data, dec, rel, rep, term = una[3:]
        problems = []
        if dec not in ".,":
            problems.append(f"decimal mark {dec!r} is neither '.' nor ','")
        used = [comp, data, term] + ([rel] if rel != " " else []) + \
            ([rep] if rep != " " and str(version) == "4" else [])
        for c in used:
            if c.isalnum() or c == " ":
                problems.append(f"{c!r} cannot be a service character")
        if len(set(used)) != len(used):
            problems.append("the same character is used for two service characters")
        if problems:
            raise InputError("invalid UNA " + repr(una) + ": " + "; ".join(problems))
        repetition = None if rep == " " or (version is not None and str(version) != "4") else rep
        return cls(comp, data, dec, None if rel == " " else rel, repetition, term)

    def una(self, reserved: str = " ") -> str:
        """The UNA service string advice for these separators."""
        return "UNA" + self.component + self.data + self.decimal + (self.release or " ") + \
            (self.repetition or reserved) + self.segment

    @property
    def specials(self) -> str:
        """The characters that must be released in data."""
        return "".join(c for c in (self.component, self.data, self.release, self.repetition, self.segment) if c)

    def escape(self, value: str) -> str:
        """``value`` with the release character in front of every service character."""
        specials = self.specials
        if not any(c in value for c in specials):
            return value
        if not self.release:
            bad = next(c for c in value if c in specials)
            raise InputError(f"{value!r} contains the service character {bad!r} and no release character is in use")
        return "".join(self.release + c if c in specials else c for c in value)


def _pattern(seps: Separators) -> "re.Pattern[bytes]":
    """Anchored pattern: blanks between segments, then a segment up to its unreleased terminator."""
    key = (seps.release, seps.segment, seps.data, seps.component, seps.repetition)
    pat = _PATTERNS.get(key)
    if pat is None:
        gap = "".join(c for c in _WHITESPACE if c not in seps.specials)
        gap_re = (b"[" + re.escape(gap.encode("latin-1")) + b"]*+") if gap else b""
        t = re.escape(seps.segment.encode("latin-1"))
        if seps.release:
            r = re.escape(seps.release.encode("latin-1"))
            body = b"((?:[^" + r + t + b"]++|" + r + b".)*+)" + t
        else:
            body = b"([^" + t + b"]*+)" + t
        pat = _PATTERNS[key] = re.compile(gap_re + body, re.S)
    return pat


_PATTERNS: dict = {}
_INTER_GAP = re.compile(rb"[ \t\r\n\x00\x1a]*+")

# --------------------------------------------------------------------------- segments


class Segment:
    """One segment: tag and data elements, each a list of components (see the module docstring)."""

    __slots__ = ("tag", "_elements", "_repeats", "_raw", "_seps", "number", "offset", "line", "position", "nesting")

    def __init__(self, tag: str, elements: Optional[Sequence[Sequence[str]]] = None, number: Optional[int] = None,
                 offset: Optional[int] = None, line: Optional[int] = None, *,
                 repeats: Optional[dict[int, list[list[str]]]] = None, nesting: tuple[str, ...] = ()):
        self.tag = tag
        self._elements = [list(e) for e in (elements or [])]
        self._repeats = None
        if repeats:
            self._repeats = {}
            for pos, occs in repeats.items():
                occs = [list(o) for o in occs]
                if not 1 <= pos <= len(self._elements) or not occs:
                    raise ValueError(f"repeats[{pos}] does not name an element of {tag}")
                self._elements[pos - 1] = occs[0]
                self._repeats[pos] = occs
        self._raw = None
        self._seps = None
        self.number = number
        self.offset = offset
        self.line = line
        self.position: Optional[int] = None
        self.nesting = tuple(nesting)

    @classmethod
    def build(cls, tag: str, *elements: Union[None, str, Sequence[Optional[str]]]) -> "Segment":
        """A new segment from values: a str is a simple element, a list its components, None empty.

        Trailing empty components and elements are dropped, as ISO 9735 asks of a sender.
        """
        els = []
        for e in elements:
            comps = [""] if e is None else [e] if isinstance(e, str) else ["" if c is None else str(c) for c in e]
            while len(comps) > 1 and comps[-1] == "":
                comps.pop()
            els.append(comps or [""])
        while els and els[-1] == [""]:
            els.pop()
        return cls(tag, els)

    @classmethod
    def _lazy(cls, tag: str, raw: Optional[str], seps: Separators, number: int, offset: int, line: int) -> "Segment":
        s = cls.__new__(cls)
        s.tag = tag
        s._elements = None
        s._repeats = None
        s._raw = raw
        s._seps = seps
        s.number = number
        s.offset = offset
        s.line = line
        s.position = None
        s.nesting = ()
        return s

    @classmethod
    def parse(cls, text: str, separators: Optional[Separators] = None) -> "Segment":
        """A segment from its text, without terminator: ``Segment.parse("BGM+380+123")``."""
        seps = separators or Separators.default(4)
        tag, sep, rest = text.partition(seps.data)
        nesting: tuple[str, ...] = ()
        if seps.component in tag:
            tag, *nest = tag.split(seps.component)
            nesting = tuple(nest)
        s = cls._lazy(tag, rest if sep else None, seps, 0, 0, 0)
        s.number = s.offset = s.line = None
        s.nesting = nesting
        return s

    # -- elements (parsed on first access)

    def _parse(self) -> None:
        raw, seps = self._raw, self._seps
        self._raw = None
        if raw is None:
            self._elements = []
            return
        rel, rep, comp, data = seps.release, seps.repetition, seps.component, seps.data
        if rel is None or rel not in raw:
            parts = raw.split(data)
            if rep and rep in raw:
                elements, repeats = [], {}
                for i, e in enumerate(parts, 1):
                    if rep in e:
                        occs = [o.split(comp) for o in e.split(rep)]
                        elements.append(occs[0])
                        repeats[i] = occs
                    else:
                        elements.append(e.split(comp))
                self._elements, self._repeats = elements, repeats
            else:
                self._elements = [e.split(comp) for e in parts]
            return
        # slow path: release characters present
        elements, repeats = [], {}
        occs: list[list[str]] = []
        comps: list[str] = []
        cur: list[str] = []
        it = iter(raw)
        for ch in it:
            if ch == rel:
                nxt = next(it, None)
                if nxt is not None:
                    cur.append(nxt)
            elif ch == comp:
                comps.append("".join(cur))
                cur = []
            elif ch == data:
                comps.append("".join(cur))
                occs.append(comps)
                elements.append(occs[0])
                if len(occs) > 1:
                    repeats[len(elements)] = occs
                occs, comps, cur = [], [], []
            elif rep is not None and ch == rep:
                comps.append("".join(cur))
                occs.append(comps)
                comps, cur = [], []
            else:
                cur.append(ch)
        comps.append("".join(cur))
        occs.append(comps)
        elements.append(occs[0])
        if len(occs) > 1:
            repeats[len(elements)] = occs
        self._elements, self._repeats = elements, (repeats or None)

    @property
    def elements(self) -> list[list[str]]:
        if self._elements is None:
            self._parse()
        return self._elements

    @elements.setter
    def elements(self, value: Sequence[Sequence[str]]) -> None:
        self._elements = [list(e) for e in value]
        self._repeats = None
        self._raw = None

    @property
    def repeats(self) -> dict[int, list[list[str]]]:
        """Repeated data elements: 1-based element position -> every occurrence (a list of components)."""
        if self._elements is None:
            self._parse()
        return self._repeats or {}

    def occurrences(self, element: int) -> list[list[str]]:
        """Every occurrence of the element at 1-based ``element`` (one unless it was repeated)."""
        reps = self.repeats
        if element in reps:
            return reps[element]
        els = self.elements
        return [els[element - 1]] if 1 <= element <= len(els) else []

    def get(self, element: int, component: int = 1, *, repetition: int = 1,
            default: Optional[str] = None) -> Optional[str]:
        """The value at 1-based element/component (and occurrence); ``default`` when absent or empty."""
        occs = self.occurrences(element)
        if repetition > len(occs):
            return default
        comps = occs[repetition - 1]
        if component > len(comps) or comps[component - 1] == "":
            return default
        return comps[component - 1]

    def components(self, element: int) -> list[str]:
        """The components of the element at 1-based ``element`` (empty list when absent)."""
        els = self.elements
        return list(els[element - 1]) if 1 <= element <= len(els) else []

    # -- text

    def to_text(self, seps: Optional[Separators] = None) -> str:
        """The segment as EDIFACT text, without terminator, with release characters applied."""
        seps = seps or Separators.default(4)
        esc = seps.escape
        reps = self.repeats
        if reps and not seps.repetition:
            raise InputError(f"segment {self.tag} repeats element(s) {sorted(reps)} but no repetition "
                             "separator is in use (syntax 4 only)")
        out = [self.tag]
        for n in self.nesting:
            out.append(seps.component + esc(n))
        for i, comps in enumerate(self.elements, 1):
            occs = reps.get(i, (comps,)) if reps else (comps,)
            out.append(seps.data + seps.repetition.join(seps.component.join(map(esc, o)) for o in occs)
                       if len(occs) > 1 else seps.data + seps.component.join(map(esc, comps)))
        return "".join(out)

    def __str__(self) -> str:
        return self.to_text(self._seps)

    def __repr__(self) -> str:
        r = f", repeats={self.repeats!r}" if self.repeats else ""
        return f"Segment({self.tag!r}, {self.elements!r}{r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segment):
            return NotImplemented
        return (self.tag == other.tag and self.nesting == other.nesting and self.elements == other.elements
                and self.repeats == other.repeats)

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> "Segment":
        return Segment(self.tag, self.elements, self.number, self.offset, self.line,
                       repeats=self.repeats, nesting=self.nesting)


# --------------------------------------------------------------------------- issues

@dataclass
class SyntaxIssue:
    """A syntax problem: UN/ECE syntax error code (0085) and where it is."""
    code: str                        # 0085: "29" control count does not match, ...
    text: str                        # a sentence a person understands
    severity: str = FATAL            # FATAL rejects its level; WARNING never does
    level: str = "message"           # "interchange", "group" or "message": what it rejects
    tag: Optional[str] = None        # segment tag concerned
    segment: Optional[int] = None    # segment number in the interchange (UNB = 1)
    position: Optional[int] = None   # segment position in the message (UNH = 1)
    element: Optional[int] = None    # 1-based data element position
    component: Optional[int] = None  # 1-based component position
    offset: Optional[int] = None     # byte offset in the input
    line: Optional[int] = None
    ref: Optional[str] = None        # message (or group) reference concerned
    tolerated: bool = False          # an error ISO 9735 rejects, accepted by the reader's settings

    @property
    def fatal(self) -> bool:
        return self.severity == FATAL

    @property
    def location(self) -> str:
        parts = []
        if self.level == "message" and self.ref is not None:
            parts.append(f"message {self.ref}")
        elif self.level == "group" and self.ref is not None:
            parts.append(f"group {self.ref}")
        if self.position is not None:
            parts.append(f"segment {self.position}" + (f" ({self.tag})" if self.tag else ""))
        elif self.segment is not None:
            parts.append(f"interchange segment {self.segment}" + (f" ({self.tag})" if self.tag else ""))
        elif self.tag:
            parts.append(self.tag)
        if self.element is not None:
            parts.append(f"element {self.element}")
        if self.component is not None:
            parts.append(f"component {self.component}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        return ", ".join(parts)

    def finding(self) -> Finding:
        extra = {"code": self.code, "level": self.level}
        if self.tolerated:
            extra["tolerated"] = True
        if self.offset is not None:
            extra["offset"] = self.offset
        if self.segment is not None:
            extra["segment"] = self.segment
        return Finding(rule=f"EDIFACT-{self.code}", message=self.text, severity=self.severity,
                       location=self.location or None, line=self.line, extra=extra)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.code}: {self.text}" + (f" @ {self.location}" if self.location else "")


def _issue_at(seg: Optional[Segment], code: str, text: str, *, level: str, element: Optional[int] = None,
              component: Optional[int] = None, severity: str = FATAL, ref: Optional[str] = None) -> SyntaxIssue:
    if seg is None:
        return SyntaxIssue(code, text, severity, level, element=element, component=component, ref=ref)
    return SyntaxIssue(code, text, severity, level, tag=seg.tag, segment=seg.number, position=seg.position,
                       element=element, component=component, offset=seg.offset, line=seg.line, ref=ref)


# --------------------------------------------------------------------------- envelope objects

@dataclass(frozen=True)
class Party:
    """Interchange sender/recipient (S002/S003) or application sender/recipient (S006/S007)."""
    id: str
    qualifier: Optional[str] = None
    internal: tuple[str, ...] = ()     # v3: routing address; v4: internal identification, sub-identification

    @classmethod
    def from_components(cls, comps: Sequence[str]) -> "Party":
        comps = list(comps) + [""] * (2 - len(comps))
        return cls(comps[0], comps[1] or None, tuple(comps[2:]))

    @classmethod
    def of(cls, value: Union["Party", str, Sequence[str]]) -> "Party":
        if isinstance(value, Party):
            return value
        if isinstance(value, str):
            return cls(value)
        return cls.from_components(value)

    def components(self) -> list[str]:
        comps = [self.id, self.qualifier or "", *self.internal]
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        return comps

    def __str__(self) -> str:
        return ":".join(self.components())


@dataclass
class MessageReceipt:
    """What CONTRL needs of a message: its reference, identifier, group and issues."""
    ref: str
    identifier: list[str]            # S009 components: type, version, release, agency, association...
    issues: list[SyntaxIssue]
    group_ref: Optional[str] = None
    index: int = 0

    @property
    def accepted(self) -> bool:
        return not any(i.fatal for i in self.issues)


@dataclass(eq=False)
class Message:
    """One message, UNH to UNT inclusive (``segments[0]`` is UNH; ``body`` is what is between)."""
    segments: list[Segment]
    issues: list[SyntaxIssue] = field(default_factory=list)
    interchange: Optional["Interchange"] = field(default=None, repr=False)
    group: Optional["Group"] = field(default=None, repr=False)
    index: int = 0                       # 1-based position among the interchange's messages
    offset: Optional[int] = None         # byte offset of UNH
    end_offset: Optional[int] = None     # byte offset just after the UNT terminator

    @classmethod
    def build(cls, ref: str, type: str, version: str, release: str, agency: str = "UN",
              association: Optional[str] = None, body: Iterable[Segment] = (), *,
              s009_extra: Sequence[str] = ()) -> "Message":
        """A new message: UNH with S009, the body, and a UNT with the right count."""
        s009 = [type, version, release, agency] + ([association] if association or s009_extra else []) + \
            list(s009_extra)
        segs = [Segment.build("UNH", ref, s009), *body]
        segs.append(Segment("UNT", [[str(len(segs) + 1)], [ref]]))
        return cls(segs)

    @property
    def header(self) -> Segment:
        return self.segments[0]

    @property
    def trailer(self) -> Optional[Segment]:
        last = self.segments[-1] if len(self.segments) > 1 else None
        return last if last is not None and last.tag == "UNT" else None

    @property
    def body(self) -> list[Segment]:
        end = -1 if self.trailer is not None else None
        return self.segments[1:end]

    @property
    def ref(self) -> str:
        return self.header.get(1, default="")

    @property
    def identifier(self) -> list[str]:
        """UNH S009: type, version, release, agency, association code, ..."""
        return self.header.components(2)

    @property
    def type(self) -> str:
        return self.header.get(2, 1, default="")

    @property
    def version(self) -> str:
        return self.header.get(2, 2, default="")

    @property
    def release(self) -> str:
        return self.header.get(2, 3, default="")

    @property
    def agency(self) -> str:
        return self.header.get(2, 4, default="")

    @property
    def association(self) -> Optional[str]:
        return self.header.get(2, 5)

    @property
    def accepted(self) -> bool:
        """No fatal issue in the message itself (group and interchange are judged separately)."""
        return not any(i.fatal for i in self.issues)

    @property
    def usable(self) -> bool:
        """Accepted, and so are its group and interchange (final once the interchange has been read)."""
        return (self.accepted and (self.group is None or self.group.accepted)
                and (self.interchange is None or self.interchange.accepted))

    def receipt(self) -> MessageReceipt:
        return MessageReceipt(self.ref, self.identifier, list(self.issues),
                              self.group.ref if self.group is not None else None, self.index)

    def __repr__(self) -> str:
        return f"<Message {self.ref} {':'.join(self.identifier)} {len(self.segments)} segments" + \
            (f" {len(self.issues)} issues>" if self.issues else ">")


@dataclass(eq=False)
class Package:
    """A syntax-4 object (UNO, the object's octets, UNP)."""
    uno: Segment
    data: bytes
    unp: Optional[Segment] = None
    issues: list[SyntaxIssue] = field(default_factory=list)
    offset: Optional[int] = None

    @property
    def ref(self) -> str:
        return self.uno.get(1, default="")


@dataclass(eq=False)
class Group:
    """A functional group, UNG to UNE."""
    ung: Segment
    une: Optional[Segment] = None
    contents: list = field(default_factory=list, repr=False)    # Message | Package (empty when streaming)
    issues: list[SyntaxIssue] = field(default_factory=list)
    message_count: int = 0
    package_count: int = 0

    @property
    def ref(self) -> str:
        return self.ung.get(5, default="")

    @property
    def group_id(self) -> Optional[str]:
        return self.ung.get(1)

    @property
    def application_sender(self) -> Party:
        return Party.from_components(self.ung.components(2) or [""])

    @property
    def application_recipient(self) -> Party:
        return Party.from_components(self.ung.components(3) or [""])

    @property
    def messages(self) -> list[Message]:
        return [m for m in self.contents if isinstance(m, Message)]

    @property
    def accepted(self) -> bool:
        return not any(i.fatal for i in self.issues)


@dataclass(eq=False)
class Interchange:
    """One interchange: UNA?, UNB, groups or messages/packages, UNZ.

    Header values are read from the UNB segment as written (``date``/``time``)
    and parsed (``prepared``). ``contents`` holds messages, packages or groups in
    order; it stays empty when streaming (``InterchangeReader(retain=False)``),
    where ``rejected`` keeps a receipt of each rejected message for CONTRL.
    """
    unb: Optional[Segment]
    separators: Separators = field(default_factory=Separators)
    una: Optional[str] = None                    # the UNA string as read, None without UNA
    unz: Optional[Segment] = None
    contents: list = field(default_factory=list, repr=False)
    groups: list[Group] = field(default_factory=list, repr=False)
    issues: list[SyntaxIssue] = field(default_factory=list)
    rejected: list[MessageReceipt] = field(default_factory=list, repr=False)
    line_break: str = ""                         # what followed each terminator, as read
    final_line_break: bool = True                # ... including the UNZ's
    offset: int = 0
    end_offset: Optional[int] = None
    message_count: int = 0
    package_count: int = 0
    segment_count: int = 0
    complete: bool = False                        # UNZ read (or the reader finished with it)

    # -- header values

    def _get(self, element: int, component: int = 1) -> Optional[str]:
        return self.unb.get(element, component) if self.unb is not None else None

    @property
    def syntax_level(self) -> str:
        return self._get(1, 1) or ""

    @property
    def syntax_version(self) -> str:
        return self._get(1, 2) or ""

    @property
    def character_encoding(self) -> Optional[str]:
        """Syntax 4 UNB S001/0133 (7 = UTF-8)."""
        return self._get(1, 4)

    @property
    def sender(self) -> Party:
        return Party.from_components(self.unb.components(2) if self.unb else [""])

    @property
    def recipient(self) -> Party:
        return Party.from_components(self.unb.components(3) if self.unb else [""])

    @property
    def date(self) -> Optional[str]:
        """Date of preparation as written: CCYYMMDD in syntax 4, YYMMDD before."""
        return self._get(4, 1)

    @property
    def time(self) -> Optional[str]:
        return self._get(4, 2)

    @property
    def prepared(self) -> Optional[datetime]:
        return _parse_datetime(self.date, self.time)

    @property
    def control_ref(self) -> str:
        return self._get(5) or ""

    @property
    def recipient_reference(self) -> Optional[str]:
        return self._get(6)

    @property
    def application_ref(self) -> Optional[str]:
        return self._get(7)

    @property
    def priority(self) -> Optional[str]:
        return self._get(8)

    @property
    def ack_requested(self) -> bool:
        return self._get(9) == "1"

    @property
    def agreement_id(self) -> Optional[str]:
        return self._get(10)

    @property
    def test(self) -> bool:
        return self._get(11) == "1"

    # -- contents

    @property
    def messages(self) -> list[Message]:
        out = []
        for item in self.contents:
            if isinstance(item, Group):
                out.extend(item.messages)
            elif isinstance(item, Message):
                out.append(item)
        return out

    @property
    def packages(self) -> list[Package]:
        out = []
        for item in self.contents:
            if isinstance(item, Group):
                out.extend(p for p in item.contents if isinstance(p, Package))
            elif isinstance(item, Package):
                out.append(item)
        return out

    def segments(self) -> Iterator[Segment]:
        """Every segment in order, UNB to UNZ (package octets are not segments)."""
        if self.unb is not None:
            yield self.unb
        for item in self.contents:
            yield from _item_segments(item)
        if self.unz is not None:
            yield self.unz

    def add(self, item: Union[Message, Package, Group]) -> "Interchange":
        self.contents.append(item)
        if isinstance(item, Message):
            item.interchange = self
        return self

    @property
    def accepted(self) -> bool:
        return not any(i.fatal for i in self.issues)

    def all_issues(self) -> list[SyntaxIssue]:
        """Interchange, group and message issues (messages: the retained ones, else the rejected receipts)."""
        out = list(self.issues)
        for g in self.groups:
            out.extend(g.issues)
        if self.contents:
            for m in self.messages:
                out.extend(m.issues)
            for p in self.packages:
                out.extend(p.issues)
        else:
            for r in self.rejected:
                out.extend(r.issues)
        return out

    def findings(self) -> list[Finding]:
        return [i.finding() for i in self.all_issues()]


def _item_segments(item) -> Iterator[Segment]:
    if isinstance(item, Message):
        yield from item.segments
    elif isinstance(item, Package):
        yield item.uno
        if item.unp is not None:
            yield item.unp
    elif isinstance(item, Group):
        yield item.ung
        for sub in item.contents:
            yield from _item_segments(sub)
        if item.une is not None:
            yield item.une


def _parse_datetime(date: Optional[str], time: Optional[str]) -> Optional[datetime]:
    if not date or not (date.isascii() and date.isdigit()) or len(date) not in (6, 8):
        return None
    t = time if time and (time.isascii() and time.isdigit()) and len(time) in (4, 6) else "0000"
    try:
        return datetime.strptime(date + t[:4], ("%Y%m%d" if len(date) == 8 else "%y%m%d") + "%H%M")
    except ValueError:
        return None


# --------------------------------------------------------------------------- reading

_ENVELOPE = frozenset(("UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ", "UNO", "UNP"))
_TAG_RE = re.compile(r"[A-Z0-9]{3}\Z")
_CTRL = bytes(c for c in range(32) if c not in (9, 10, 13)) + b"\x7f"
_BATCH = 16384          # octets split at once on the segment terminator


class InterchangeReader:
    """Streams the messages of one or more interchanges from a binary stream.

    Iterating yields each ``Message`` once its UNT (or whatever ends it) has
    been read; with ``packages=True`` UNO/UNP ``Package``s are yielded too.
    Memory stays bounded by ``chunk_size`` + the longest segment (at most
    ``max_segment_length``) + one message, unless ``retain`` keeps everything
    (as ``read_interchanges`` does). ``interchanges`` lists the envelopes seen
    so far, each with its issues; ``issues`` holds problems outside any
    interchange (data after the last UNZ). Input that does not start with
    UNA or UNB raises ``InputError``: it is not EDIFACT at all.
    """

    def __init__(self, stream: BinaryIO, *, chunk_size: int = 1 << 16, max_segment_length: int = 1 << 20,
                 max_object_size: int = 64 << 20, strict_charset: bool = False, retain: bool = False,
                 packages: bool = False, max_tracked_refs: int = 100_000, tolerate_unz_reference: bool = False):
        self._stream = stream
        self.chunk_size = max(1, chunk_size)
        self.max_segment_length = max_segment_length
        self.max_object_size = max_object_size
        self.strict_charset = strict_charset
        self.tolerate_unz_reference = tolerate_unz_reference
        self.retain = retain
        self.yield_packages = packages
        self.max_tracked_refs = max_tracked_refs
        self.interchanges: list[Interchange] = []
        self.issues: list[SyntaxIssue] = []
        self._buf = b""
        self._pos = 0           # next unread byte in _buf
        self._base = 0          # absolute offset of _buf[0]
        self._eof = False
        self._line = 1          # line number at _buf[_line_pos]
        self._line_pos = 0
        self._codec = "latin-1"
        self._level: Optional[SyntaxLevel] = None
        self._gen = self._run()

    def __iter__(self) -> "InterchangeReader":
        return self

    def __next__(self) -> Message:
        return next(self._gen)

    @property
    def interchange(self) -> Optional[Interchange]:
        """The interchange being read (or the last one read)."""
        return self.interchanges[-1] if self.interchanges else None

    # -- buffer

    def _fill(self) -> bool:
        """Read one more chunk (dropping what was consumed); False at the end of the input."""
        if self._eof:
            return False
        data = self._stream.read(self.chunk_size)
        if not data:
            self._eof = True
            return False
        pos = self._pos
        if pos:
            if self._line_pos < pos:
                self._line += self._buf.count(b"\n", self._line_pos, pos)
                self._line_pos = 0
            else:
                self._line_pos -= pos
            self._buf = self._buf[pos:] + data
            self._base += pos
            self._pos = 0
        else:
            self._buf += data
        return True

    def _ensure(self, n: int) -> bool:
        """At least n bytes available from _pos on (False if the input ends first)."""
        while len(self._buf) - self._pos < n:
            if not self._fill():
                return False
        return True

    def _line_at(self, idx: int) -> int:
        """Line number of buffer index idx (idx never goes backwards by more than one segment)."""
        if idx >= self._line_pos:
            self._line += self._buf.count(b"\n", self._line_pos, idx)
        else:
            self._line -= self._buf.count(b"\n", idx, self._line_pos)
        self._line_pos = idx
        return self._line

    def _skip_inter_gap(self) -> bool:
        """Skip blanks/NUL/SUB between interchanges; False at the end of the input."""
        while True:
            self._pos = _INTER_GAP.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return True
            if not self._fill():
                return False

    def _drain(self) -> None:
        """Consume the rest of the input (nothing more can be framed)."""
        self._pos = len(self._buf)
        while self._fill():
            self._pos = len(self._buf)

    # -- driver

    def _run(self) -> Iterator[Message]:
        self._ensure(3)
        if self._buf.startswith(BOM):
            self._pos = 3
        first = True
        while True:
            ic = self._start(first)
            first = False
            if ic is None:
                return
            yield from self._body(ic)

    def _start(self, first: bool) -> Optional[Interchange]:
        """UNA? UNB: the separators and the character set of the next interchange."""
        if not self._skip_inter_gap():
            if first:
                raise InputError("the input is empty")
            return None
        self._ensure(9)
        buf, pos = self._buf, self._pos
        start_abs = self._base + pos
        line = self._line_at(pos)
        una_text: Optional[str] = None
        if buf.startswith(b"UNA", pos):
            if len(buf) - pos < 9:
                if first:
                    raise InputError("the input ends inside the UNA service string advice")
                self.issues.append(SyntaxIssue("13", "the input ends inside a UNA service string advice", FATAL,
                                               "interchange", tag="UNA", offset=start_abs, line=line))
                self._drain()
                return None
            una_text = buf[pos:pos + 9].decode("latin-1")
            self._pos = pos + 9
            if not self._skip_inter_gap():
                self._pos = len(self._buf)
            self._ensure(4)
            buf, pos = self._buf, self._pos
        if not (buf.startswith(b"UNB", pos) and len(buf) - pos >= 4):
            what = bytes(buf[pos:pos + 20])
            where = self._base + pos
            expected = "UNB after the UNA" if una_text is not None else "UNA or UNB"
            if first:
                raise InputError(f"not an EDIFACT interchange: expected {expected}, found {what!r}",
                                 line=self._line_at(pos), location=f"byte {where}")
            issue = SyntaxIssue("33", f"data after the last interchange is not an interchange (expected {expected}, "
                                f"found {what!r})", FATAL, "interchange", offset=where, line=self._line_at(pos))
            self.issues.append(issue)
            if self.interchanges:           # the interchange before it is complete: a warning there
                self.interchanges[-1].issues.append(SyntaxIssue(**{**issue.__dict__, "severity": WARNING}))
            self._drain()
            return None
        unb_abs, unb_line = self._base + pos, self._line_at(pos)
        ic = Interchange(None, Separators(), una_text, offset=start_abs)
        self.interchanges.append(ic)

        def fatal(code: str, text: str, **where) -> Interchange:
            ic.issues.append(SyntaxIssue(code, text, FATAL, "interchange", tag=where.pop("tag", "UNB"),
                                         segment=1, offset=where.pop("offset", unb_abs),
                                         line=where.pop("line", unb_line), **where))
            return ic

        dsep = chr(buf[pos + 3])
        if una_text is not None:
            try:
                seps = Separators.from_una(una_text)
            except InputError as e:
                self._drain()
                return fatal("20", e.message, tag="UNA", offset=start_abs, line=line)
            if dsep != seps.data:
                self._drain()
                return fatal("22", f"the UNB uses {dsep!r} as data element separator, the UNA says {seps.data!r}")
        elif dsep == "+":
            seps = Separators.default(3)
        elif dsep == "\x1d":
            seps = Separators.default(3, level_b=True)
        else:
            self._drain()
            return fatal("22", f"the UNB uses {dsep!r} as data element separator without a UNA to announce it")
        # the UNB segment itself
        pat = _pattern(seps)
        while True:
            m = pat.match(self._buf, self._pos)
            if m is not None:
                break
            if len(self._buf) - self._pos > self.max_segment_length or not self._fill():
                self._drain()
                return fatal("13", "the UNB segment has no terminator: the input is cut, or its segment "
                             f"terminator is not {seps.segment!r}")
        raw = m.group(1)
        probe = Segment.parse(raw.decode("latin-1"), seps)
        level_code, version = probe.get(1, 1, default=""), probe.get(1, 2, default="")
        level = LEVELS.get(level_code)
        codec = level.codec if level else "latin-1"
        problems: list[tuple[str, str, Optional[int], Optional[int]]] = []
        known_version = version if version in SUPPORTED_VERSIONS else None
        if una_text is not None:
            try:
                seps = Separators.from_una(una_text, known_version or "3")
            except InputError as e:
                problems.append(("20", e.message, None, None))
        elif version == "4":
            seps = Separators.default(4, level_b=seps.data == "\x1d")
        if level is None:
            problems.append(("2", f"syntax identifier {level_code!r} is not supported (supported: "
                             f"{', '.join(LEVELS)})", 1, 1))
        if known_version is None:
            problems.append(("2", f"syntax version {version!r} is not supported (1 to 4)", 1, 2))
        enc = probe.get(1, 4) if version == "4" else None
        if enc is not None:
            if enc not in _ENCODING_0133:
                problems.append(("2", f"character encoding 0133 {enc!r} is not supported (only ASCII and UTF-8 "
                                 "keep the service characters single octets)", 1, 4))
            elif _ENCODING_0133[enc]:
                codec = _ENCODING_0133[enc]
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as e:
            text = raw.decode(codec, errors="replace")
            problems.append(("21", f"the UNB has an octet that is not {codec}: {raw[e.start]:#04x}", None, None))
        ic.separators = seps
        unb = Segment.parse(text, seps)
        unb.number, unb.offset, unb.line = 1, self._base + m.start(1), unb_line
        ic.unb = unb
        for code, msg, el, comp in problems:
            ic.issues.append(_issue_at(unb, code, msg, level="interchange", element=el, component=comp))
        self._check_unb(ic, unb, version)
        self._pos = m.end()
        self._codec, self._level = codec, level
        return ic

    @staticmethod
    def _check_unb(ic: Interchange, unb: Segment, version: str) -> None:
        add = ic.issues.append
        for el, comp, name in ((2, 1, "interchange sender"), (3, 1, "interchange recipient"),
                               (4, 1, "date of preparation"), (4, 2, "time of preparation"),
                               (5, 1, "interchange control reference")):
            if unb.get(el, comp) is None:
                add(_issue_at(unb, "13", f"UNB {name} is missing", level="interchange", element=el,
                              component=comp))
        date, time = unb.get(4, 1), unb.get(4, 2)
        if date is not None and time is not None:
            if _parse_datetime(date, time) is None or not (time.isascii() and time.isdigit()) or len(time) not in (4, 6):
                add(_issue_at(unb, "12", f"UNB date/time {date}:{time} is not a valid date and time",
                              level="interchange", element=4))
            elif version in SUPPORTED_VERSIONS and len(date) != (8 if version == "4" else 6):
                add(_issue_at(unb, "12", f"UNB date {date} is not in the syntax {version} format "
                              f"({'CCYYMMDD' if version == '4' else 'YYMMDD'}); read as written",
                              level="interchange", element=4, component=1, severity=WARNING))
        test = unb.get(11)
        if test is not None and test != "1":
            add(_issue_at(unb, "12", f"UNB test indicator {test!r} is not 1", level="interchange",
                          element=11, severity=WARNING))

    # -- the segments of one interchange

    def _body(self, ic: Interchange) -> Iterator[Union[Message, Package]]:
        if ic.unb is None:
            ic.complete = True
            ic.end_offset = self._base + self._pos
            return
        seps = ic.separators
        codec, level = self._codec, self._level
        pat_match = _pattern(seps).match
        dsep, comp = seps.data, seps.component
        term = seps.segment.encode("latin-1")
        term_nl = seps.segment == "\n"
        relb = seps.release.encode("latin-1") if seps.release else None
        rel_int = relb[0] if relb else -1
        gap_chars = "".join(c for c in _WHITESPACE if c not in seps.specials).encode("latin-1")
        gap_ints = frozenset(gap_chars)
        retain = self.retain
        max_len = self.max_segment_length
        lazy = Segment._lazy
        number = 1
        message: Optional[Message] = None
        segs: list = []                      # message.segments of the open message
        group: Optional[Group] = None
        refs: set[str] = set()
        gaps: dict[bytes, int] = {}
        n_gaps = 0
        plain: set[str] = set()              # tags seen valid that are not envelope tags
        ic_warnings = 0
        loose = 0                            # messages and packages outside any group
        # octets to look at: control characters, and for the ISO 646 levels anything outside the repertoire
        ctrl = bytes(c for c in _CTRL if chr(c) not in seps.specials)
        bad_class = re.escape(ctrl)
        if level is not None and level.repertoire is not None:
            allowed = set(level.repertoire) | set(seps.specials) | {seps.decimal}
            bad_class += re.escape(bytes(c for c in range(32, 127) if chr(c) not in allowed)) + rb"\x80-\xff"
        bad_search = re.compile(b"[" + bad_class + b"]").search
        # a service character that is a control character (IS1-IS4, as UNOB and UNA allow) is fine as a
        # separator, but released it would be data: a control character in a value (error 21)
        ctrl_specials = bytes(c for c in _CTRL if chr(c) in seps.specials)
        released_ctrl = None
        if relb is not None and ctrl_specials:
            r_ = re.escape(relb)
            released_ctrl = re.compile(b"(?<!" + r_ + b")(?:" + r_ + r_ + b")*" + r_ + b"[" + re.escape(ctrl_specials)
                                       + b"]").search

        def close_message(msg: Message, end_seg: Optional[Segment], end_abs: int) -> Message:
            msg.end_offset = end_abs
            if msg.trailer is None:
                msg.issues.append(SyntaxIssue(
                    "13", f"message {msg.ref} has no UNT: it ends at "
                    + (f"interchange segment {end_seg.number} ({end_seg.tag})" if end_seg is not None
                       else "the end of the input"),
                    FATAL, "message", tag="UNT", position=len(msg.segments) + 1,
                    offset=end_seg.offset if end_seg is not None else end_abs,
                    line=end_seg.line if end_seg is not None else None, ref=msg.ref))
            if msg.group is not None:
                msg.group.message_count += 1
                if retain:
                    msg.group.contents.append(msg)
            elif retain:
                ic.contents.append(msg)
            if not msg.accepted:
                ic.rejected.append(msg.receipt())
            return msg

        def close_group(g: Group, end_seg: Optional[Segment]) -> None:
            if g.une is None:
                text = f"group {g.ref} has no UNE"
                g.issues.append(_issue_at(end_seg, "13", text, level="group", ref=g.ref) if end_seg is not None
                                else SyntaxIssue("13", text, FATAL, "group", tag="UNE", ref=g.ref))

        def finish(end_abs: int) -> None:
            ic.complete = True
            ic.end_offset = end_abs
            ic.segment_count = number
            ic.line_break = _layout(gaps)
            if ic.line_break:
                ic.final_line_break = self._ensure(len(ic.line_break)) and \
                    self._buf.startswith(ic.line_break.encode("latin-1"), self._pos)

        buf, base, pos = self._buf, self._base, self._pos
        line = self._line_at(pos)
        while True:
            # a batch of complete segments: up to the last unreleased terminator within _BATCH octets
            cut = buf.rfind(term, pos, pos + _BATCH)
            while cut > pos and buf[cut - 1] == rel_int:
                j = cut - 1
                while j >= pos and buf[j] == rel_int:
                    j -= 1
                if (cut - 1 - j) % 2 == 0:
                    break
                cut = buf.rfind(term, pos, cut)
            if cut < 0:
                m = pat_match(buf, pos)                 # one segment longer than a batch?
                if m is not None:
                    cut = m.end(1)
                else:
                    # no complete segment in the buffer: more input, a segment too long, or the end
                    self._pos, self._line, self._line_pos = pos, line, pos
                    if len(buf) - pos > max_len:
                        number += 1
                        self._skip_long_segment(ic, message, number, seps)
                    elif not self._fill():
                        break
                    buf, base, pos = self._buf, self._base, self._pos
                    line = self._line_at(pos)
                    if self._eof and pos >= len(buf):
                        break
                    continue
            batch = buf[pos:cut]
            parts = batch.split(term)
            has_rel = relb is not None and relb in batch
            has_bad = bad_search(batch) is not None or (has_rel and released_ctrl is not None
                                                         and released_ctrl(batch) is not None)
            off = pos                                    # start of the next part in buf
            next_pos = cut + 1                           # where the next batch starts, unless we stop early
            i, n = 0, len(parts)
            while i < n:
                p = parts[i]
                i += 1
                if has_rel and p.endswith(relb):
                    while i < n and (len(p) - len(p.rstrip(relb))) % 2:
                        p = p + term + parts[i]          # a released terminator: it is data
                        i += 1
                start = off
                off = start + len(p) + 1
                if p and p[0] in gap_ints:
                    s = p.lstrip(gap_chars)
                    glen = len(p) - len(s)
                    if glen == 1:
                        if p[0] == 10:
                            line += 1
                    else:
                        line += p.count(b"\n", 0, glen)
                    if n_gaps < 1000:
                        n_gaps += 1
                        gap = p[:glen]
                        gaps[gap] = gaps.get(gap, 0) + 1
                else:
                    s, glen = p, 0
                    if n_gaps < 1000:
                        n_gaps += 1
                        gaps[b""] = gaps.get(b"", 0) + 1
                a = start + glen
                b = off - 1
                number += 1
                seg_line = line
                odd = has_bad
                if 10 in s:
                    line += s.count(b"\n")
                    odd = True
                if term_nl:
                    line += 1
                try:
                    text = s.decode(codec)
                except UnicodeDecodeError:
                    text = s.decode(codec, errors="replace")
                    odd = True
                tag, sep, rest = text.partition(dsep)
                seg = lazy(tag, rest if sep else None, seps, number, base + a, seg_line)
                if not odd and message is not None and tag in plain and b - a <= max_len \
                        and 13 not in s and 9 not in s:
                    seg.position = len(segs) + 1
                    segs.append(seg)
                    continue

                # ---- the slow path: problems in the segment, new tags, envelope segments
                abs_a = base + a
                problems: list[tuple[str, str, str]] = []
                if b - a > max_len:
                    problems.append(("39", f"segment longer than {max_len} octets", FATAL))
                try:
                    s.decode(codec)
                except UnicodeDecodeError as e:
                    problems.append(("21", f"octet {s[e.start]:#04x} at byte {abs_a + e.start} is not valid "
                                     f"{codec} ({ic.syntax_level})", FATAL))
                if has_bad:
                    mm = bad_search(buf, a, b)
                    if mm is not None:
                        problems.append(self._classify(buf, mm.start(), b, bad_search, ic.syntax_level,
                                                       self.strict_charset))
                if released_ctrl is not None:
                    mm = released_ctrl(s)
                    if mm is not None:
                        problems.append(("21", f"control character {s[mm.end() - 1]:#04x} released into data "
                                               "(a service character may be a control character, data may not)",
                                         FATAL))
                if 10 in s or 13 in s or 9 in s:
                    problems.append(("21", "line break or tab inside the segment (kept as data)", WARNING))
                if tag not in plain:
                    info = _tag_info(tag, comp)
                    if info is None:
                        problems.append(("12", f"{tag[:20]!r} is not a segment tag", FATAL))
                    else:
                        seg.tag, seg.nesting = info
                        tag = seg.tag
                        if not info[1] and tag not in _ENVELOPE and tag == text[:3]:
                            plain.add(tag)

                if tag in _ENVELOPE:
                    if tag == "UNH":
                        if message is not None:
                            yield close_message(message, seg, abs_a)
                        if group is None:
                            loose += 1
                            if ic.groups and loose == 1:
                                ic.issues.append(_issue_at(seg, "30", "functional groups and messages/packages are "
                                                           "mixed in one interchange", level="interchange"))
                        message = self._open_message(ic, seg, group, refs)
                        segs = message.segments
                    elif tag == "UNT":
                        if message is None:
                            ic.issues.append(_issue_at(seg, "33", "UNT without UNH", level="interchange"))
                        else:
                            seg.position = len(segs) + 1
                            segs.append(seg)
                            self._check_unt(message, seg)
                            _attach(message, problems, seg)
                            msg, message = message, None
                            yield close_message(msg, None, base + off)
                            continue
                    elif tag in ("UNZ", "UNB", "UNA"):
                        if message is not None:
                            yield close_message(message, seg, abs_a)
                            message = None
                        if group is not None:
                            close_group(group, seg)
                            group = None
                        if tag == "UNZ":
                            self._pos, self._line, self._line_pos = off, line, off
                            ic.unz = seg
                            self._check_unz(ic, seg)
                            for code, text_, sev in problems:
                                ic.issues.append(_issue_at(seg, code, text_, level="interchange", severity=sev))
                            finish(base + off)
                            return
                        # another interchange starts without this one's UNZ: read it again from its start
                        ic.issues.append(_issue_at(seg, "13", f"interchange {ic.control_ref} has no UNZ: a new "
                                                   f"{tag} starts at byte {abs_a}", level="interchange"))
                        number -= 1
                        self._pos, self._line, self._line_pos = a, seg_line, a
                        finish(abs_a)
                        return
                    elif tag == "UNG":
                        if message is not None:
                            yield close_message(message, seg, abs_a)
                            message = None
                        if group is not None:
                            close_group(group, seg)
                        if loose:
                            ic.issues.append(_issue_at(seg, "30", "functional groups and messages/packages are "
                                                       "mixed in one interchange", level="interchange"))
                        group = Group(seg)
                        ic.groups.append(group)
                        if retain:
                            ic.contents.append(group)
                        if seg.get(5) is None:
                            group.issues.append(_issue_at(seg, "13", "UNG group reference number is missing",
                                                          level="group", element=5))
                    elif tag == "UNE":
                        if message is not None:
                            yield close_message(message, seg, abs_a)
                            message = None
                        if group is None:
                            ic.issues.append(_issue_at(seg, "33", "UNE without UNG", level="interchange"))
                        else:
                            group.une = seg
                            self._check_count(group.issues, seg, group.message_count + group.package_count,
                                              group.ref, "group", "messages", alt=group.message_count)
                            group = None
                    elif tag == "UNO":
                        if message is not None:
                            yield close_message(message, seg, abs_a)
                            message = None
                        # the object's octets follow the terminator: read them from the buffer, then re-batch
                        self._pos, self._line, self._line_pos = off, line, off
                        pkg = self._read_object(ic, seg)
                        if pkg.unp is not None:
                            number += 1
                            pkg.unp.number = number
                        if group is not None:
                            group.package_count += 1
                            if retain:
                                group.contents.append(pkg)
                        else:
                            loose += 1
                            if ic.groups and loose == 1:
                                ic.issues.append(_issue_at(seg, "30", "functional groups and messages/packages "
                                                           "are mixed in one interchange", level="interchange"))
                            ic.package_count += 1
                            if retain:
                                ic.contents.append(pkg)
                        if self.yield_packages:
                            yield pkg
                        buf, base, pos = self._buf, self._base, self._pos
                        line = self._line_at(pos)
                        next_pos = -1
                        break
                    elif tag == "UNP":
                        ic.issues.append(_issue_at(seg, "33", "UNP without UNO", level="interchange"))
                if message is not None:
                    if tag != "UNH":
                        seg.position = len(segs) + 1
                        segs.append(seg)
                    _attach(message, problems, seg)
                    continue
                if tag not in _ENVELOPE:
                    ic.issues.append(_issue_at(seg, "33", f"segment {tag} is outside any message",
                                               level="interchange"))
                for code, text_, sev in problems:
                    if sev == WARNING:
                        if ic_warnings >= 10:
                            continue
                        ic_warnings += 1
                    ic.issues.append(_issue_at(seg, code, text_, level="interchange", severity=sev))
            if next_pos >= 0:
                pos = next_pos

        # the input ended before the UNZ
        buf = self._buf
        rest = buf[self._pos:]
        stripped = rest.strip(b" \t\r\n\x00\x1a")
        end_abs = self._base + len(buf)
        if stripped:
            cut = self._pos + len(rest) - len(rest.lstrip(b" \t\r\n"))
            why = "ends inside a segment (no segment terminator)"
            if relb:
                n_rel = len(stripped) - len(stripped.rstrip(relb))
                if n_rel % 2:
                    why = "ends with a release character that releases nothing (unterminated release)"
                elif stripped.endswith(term):
                    why = "ends with a released segment terminator (no segment terminator)"
            ic.issues.append(SyntaxIssue(
                "13", f"the input {why}: {bytes(stripped[:20])!r}... at byte {self._base + cut}; the interchange "
                "is truncated", FATAL, "interchange", tag="UNZ", segment=number + 1, offset=self._base + cut,
                line=self._line_at(cut)))
        if message is not None:
            yield close_message(message, None, end_abs)
        if group is not None:
            close_group(group, None)
        ic.issues.append(SyntaxIssue("13", f"interchange {ic.control_ref} has no UNZ: the input ends after "
                                     f"segment {number}", FATAL, "interchange", tag="UNZ", segment=number + 1,
                                     offset=end_abs))
        self._pos = len(buf)
        finish(end_abs)

    @staticmethod
    def _classify(buf: bytes, i: int, end: int, search, level_code: str, strict: bool) -> tuple[str, str, str]:
        """The worst of the flagged octets in buf[i:end]."""
        worst = None
        while i < end:
            o = buf[i]
            if o < 32 or o == 127:
                return ("21", f"control character {o:#04x} inside a segment", FATAL)
            if o >= 128:
                return ("21", f"octet {o:#04x} is outside the {level_code} character set", FATAL)
            if worst is None:
                worst = ("21", f"character {chr(o)!r} is outside the {level_code} repertoire",
                         FATAL if strict else WARNING)
            mm = search(buf, i + 1, end)
            if mm is None:
                break
            i = mm.start()
        return worst

    def _open_message(self, ic: Interchange, unh: Segment, group: Optional[Group], refs: set) -> Message:
        ic.message_count += 1
        unh.position = 1
        msg = Message([unh], interchange=ic, group=group, index=ic.message_count, offset=unh.offset)
        ref = unh.get(1)
        if ref is None:
            msg.issues.append(_issue_at(unh, "13", "UNH message reference number is missing", element=1,
                                        level="message", ref=""))
        elif ref in refs:
            msg.issues.append(_issue_at(unh, "26", f"message reference {ref} is used twice in interchange "
                                        f"{ic.control_ref}", element=1, level="message", ref=ref))
        elif len(refs) < self.max_tracked_refs:
            refs.add(ref)
        for comp, name in ((1, "message type"), (2, "message version number"), (3, "message release number"),
                           (4, "controlling agency")):
            if unh.get(2, comp) is None:
                msg.issues.append(_issue_at(unh, "13", f"UNH {name} is missing", element=2, component=comp,
                                            level="message", ref=ref or ""))
        return msg

    @staticmethod
    def _check_unt(msg: Message, unt: Segment) -> None:
        count, ref = unt.get(1), unt.get(2)
        n = len(msg.segments)
        if count is None:
            msg.issues.append(_issue_at(unt, "13", "UNT segment count is missing", element=1, level="message",
                                        ref=msg.ref))
        elif not (count.isascii() and count.isdigit()):
            msg.issues.append(_issue_at(unt, "12", f"UNT segment count {count!r} is not a number", element=1,
                                        level="message", ref=msg.ref))
        elif int(count) != n:
            msg.issues.append(_issue_at(unt, "29", f"UNT says {count} segments, message {msg.ref} has {n} "
                                        "(UNH and UNT included)", element=1, level="message", ref=msg.ref))
        if ref is None:
            msg.issues.append(_issue_at(unt, "13", "UNT message reference is missing", element=2, level="message",
                                        ref=msg.ref))
        elif ref != msg.ref:
            msg.issues.append(_issue_at(unt, "28", f"UNT reference {ref!r} does not match UNH reference "
                                        f"{msg.ref!r}", element=2, level="message", ref=msg.ref))

    @staticmethod
    def _check_count(issues: list, seg: Segment, expected: int, ref: str, level: str, what: str,
                     alt: Optional[int] = None) -> None:
        count, r = seg.get(1), seg.get(2)
        if count is None:
            issues.append(_issue_at(seg, "13", f"{seg.tag} control count is missing", element=1, level=level))
        elif not (count.isascii() and count.isdigit()):
            issues.append(_issue_at(seg, "12", f"{seg.tag} control count {count!r} is not a number", element=1,
                                    level=level))
        elif int(count) != expected and (alt is None or int(count) != alt):
            issues.append(_issue_at(seg, "29", f"{seg.tag} says {count} {what}, there are {expected}",
                                    element=1, level=level))
        if r is None:
            issues.append(_issue_at(seg, "13", f"{seg.tag} reference is missing", element=2, level=level))
        elif r != ref:
            issues.append(_issue_at(seg, "28", f"{seg.tag} reference {r!r} does not match {ref!r}", element=2,
                                    level=level))

    def _check_unz(self, ic: Interchange, unz: Segment) -> None:
        before = len(ic.issues)
        if ic.groups:
            self._check_count(ic.issues, unz, len(ic.groups), ic.control_ref, "interchange", "groups")
        else:       # syntax 4 counts messages and packages; a count of the messages alone is accepted too
            self._check_count(ic.issues, unz, ic.message_count + ic.package_count, ic.control_ref, "interchange",
                              "messages and packages" if ic.package_count else "messages", alt=ic.message_count)
        if self.tolerate_unz_reference:
            for issue in ic.issues[before:]:
                if issue.code == "28" and issue.element == 2:       # UNZ 0020 is not the UNB's reference
                    issue.severity, issue.tolerated = WARNING, True
                    issue.text += " (ISO 9735 syntax error 28, tolerated as asked: the interchange is read on)"

    def _read_object(self, ic: Interchange, uno: Segment) -> Package:
        """After a UNO: the object's octets (length in UNO S022/0810), then the UNP right after them."""
        length, before = uno.get(4, 1), uno.get(4, 2)
        pkg = Package(uno, b"", offset=uno.offset)
        problem = None
        if length is None or not (length.isascii() and length.isdigit()):
            problem = ("13" if length is None else "12", "UNO object length (S022/0810) is missing or not a number")
        elif before not in (None, "0"):
            problem = ("15", "UNO with segments before the object (0814) is not supported")
        elif int(length) > self.max_object_size:
            problem = ("39", f"object of {length} octets is larger than the limit of {self.max_object_size}")
        if problem:
            ic.issues.append(_issue_at(uno, problem[0], problem[1], level="interchange", element=4, component=1))
            return pkg
        n = int(length)
        if not self._ensure(n):
            ic.issues.append(_issue_at(uno, "13", f"the input ends inside the {n}-octet object of package {pkg.ref}",
                                       level="interchange", element=4, component=1))
            self._pos = len(self._buf)
            return pkg
        pkg.data = self._buf[self._pos:self._pos + n]
        self._pos += n
        pat = _pattern(ic.separators)
        while True:
            m = pat.match(self._buf, self._pos)
            if m is not None or not self._fill():
                break
        if m is None or m.start(1) != self._pos or not self._buf.startswith(b"UNP", self._pos):
            ic.issues.append(_issue_at(uno, "28", f"no UNP right after the {n}-octet object of package {pkg.ref}: "
                                       "the length in UNO is wrong", level="interchange", element=4, component=1))
            return pkg
        a = m.start(1)
        unp = Segment.parse(m.group(1).decode(self._codec, errors="replace"), ic.separators)
        unp.offset, unp.line = self._base + a, self._line_at(a)
        self._pos = m.end()
        pkg.unp = unp
        if unp.get(1) != length:
            ic.issues.append(_issue_at(unp, "29", f"UNP length {unp.get(1)!r} does not match UNO length {length}",
                                       level="interchange", element=1))
        if unp.get(2) != pkg.ref:
            ic.issues.append(_issue_at(unp, "28", f"UNP reference {unp.get(2)!r} does not match UNO reference "
                                       f"{pkg.ref!r}", level="interchange", element=2))
        return pkg

    def _skip_long_segment(self, ic: Interchange, message: Optional[Message], number: int,
                           seps: Separators) -> Optional[Segment]:
        """A segment longer than max_segment_length: report it, skip to its terminator (None: input ended)."""
        a = _INTER_GAP.match(self._buf, self._pos).end()
        seg = Segment._lazy(self._buf[a:a + 3].decode("latin-1"), None, seps, number, self._base + a,
                            self._line_at(a))
        if message is not None:
            seg.position = len(message.segments) + 1
            message.segments.append(seg)
        (message.issues if message is not None else ic.issues).append(_issue_at(
            seg, "39", f"segment longer than {self.max_segment_length} octets (no terminator within the limit); "
            "skipped", level="message" if message is not None else "interchange",
            ref=message.ref if message is not None else None))
        rel = seps.release.encode("latin-1") if seps.release else None
        term = seps.segment.encode("latin-1")
        self._pos = a + 3
        while True:
            buf, i, n = self._buf, self._pos, len(self._buf)
            while i < n:
                t = buf.find(term, i)
                r = buf.find(rel, i) if rel is not None else -1
                if t < 0 and r < 0:
                    i = n
                elif r >= 0 and (t < 0 or r < t):
                    if r + 1 >= n:          # release at the end of the buffer: decide with the next chunk
                        i = r
                        break
                    i = r + 2
                else:
                    self._pos = t + 1
                    return seg
            self._pos = i
            if not self._fill():
                return None


def _layout(gaps: dict[bytes, int]) -> str:
    """The line break that most often follows a segment terminator ("" if none)."""
    if not gaps:
        return ""
    best = max(gaps.items(), key=lambda kv: kv[1])[0]
    return "\r\n" if best.startswith(b"\r\n") else "\n" if best.startswith(b"\n") else ""


def _tag_info(tag: str, comp: str) -> Optional[tuple[str, tuple[str, ...]]]:
    """(tag, nesting indicators) for a valid segment tag, None otherwise."""
    nesting: tuple[str, ...] = ()
    if tag.startswith("UNA"):
        return ("UNA", ())
    if comp in tag:
        tag, *nest = tag.split(comp)
        nesting = tuple(nest)
    return (tag, nesting) if _TAG_RE.match(tag) else None


def _attach(message: Message, problems: list, seg: Segment) -> None:
    """Problems found in one segment of a message (at most ten warnings per message)."""
    if not problems:
        return
    warnings = sum(1 for i in message.issues if i.severity == WARNING)
    for code, text, sev in problems:
        if sev == WARNING:
            if warnings >= 10:
                continue
            warnings += 1
        message.issues.append(_issue_at(seg, code, text, level="message", severity=sev, ref=message.ref))


def iter_messages(stream: BinaryIO, **options) -> InterchangeReader:
    """Stream the messages of the interchange(s) in ``stream`` (see ``InterchangeReader``)."""
    return InterchangeReader(stream, **options)


def read_interchanges(data: bytes, **options) -> list[Interchange]:
    """Every interchange in ``data``, with all messages kept."""
    reader = InterchangeReader(io.BytesIO(data), retain=True, **options)
    for _ in reader:
        pass
    return reader.interchanges


def read_interchange(data: bytes, **options) -> Interchange:
    """The one interchange in ``data`` (InputError if there are several: use ``read_interchanges``)."""
    ics = read_interchanges(data, **options)
    if len(ics) != 1:
        raise InputError(f"the input holds {len(ics)} interchanges, not one (use read_interchanges)")
    return ics[0]


# --------------------------------------------------------------------------- writing

class InterchangeWriter:
    """Writes an interchange to a binary stream item by item (for large outbound interchanges).

    ``header`` gives the UNB, separators and syntax level; then ``write`` each
    message/package/group and ``close`` (which writes the UNZ with the count).
    """

    def __init__(self, stream: BinaryIO, header: Interchange, *, una: Optional[bool] = None,
                 line_break: Optional[str] = None, recount: bool = True, strict: bool = True):
        if header.unb is None:
            raise InputError("cannot write an interchange without UNB")
        self._out = stream
        self.ic = header
        self.seps = header.separators
        self.recount = recount
        self.strict = strict
        self.line_break = header.line_break if line_break is None else line_break
        level_code = header.syntax_level
        self.level = LEVELS.get(level_code)
        if self.level is None:
            raise InputError(f"cannot write syntax level {level_code!r}: supported are {', '.join(LEVELS)}")
        self.version = header.syntax_version
        codec = self.level.codec
        enc = header.character_encoding
        if self.version == "4" and enc is not None:
            if enc not in _ENCODING_0133:
                raise InputError(f"cannot write character encoding 0133={enc!r}")
            codec = _ENCODING_0133[enc] or codec
        self.codec = codec
        self._check_seps()
        bad = "".join(chr(c) for c in range(32) if chr(c) not in self.seps.specials) + "\x7f"
        if self.level.repertoire is not None:
            allowed = set(self.level.repertoire) | set(self.seps.specials) | {self.seps.decimal}
            strict_bad = "".join(chr(c) for c in range(32, 127) if chr(c) not in allowed)
        else:
            strict_bad = ""
        self._bad_strict = re.compile("[" + re.escape(bad + strict_bad) + "]") if strict else None
        self.count = 0
        self.groups = 0
        self.number = 0
        self._group: Optional[Segment] = None
        self._group_count = 0
        if una is None:
            una = header.una is not None or self.seps != Separators.default(
                self.version or 3, level_b=self.seps.data == "\x1d")
        if una:
            text = header.una if header.una is not None and _same_seps(header.una, self.seps, self.version) \
                else self.seps.una()
            self._emit(text.encode("latin-1"), True)
        self._segment(header.unb)

    def _check_seps(self) -> None:
        for c in self.seps.specials:
            if len(c) != 1 or ord(c) > 127:
                raise InputError(f"service character {c!r} is not a single ASCII character")
        if self.seps.repetition and self.version != "4":
            raise InputError("the repetition separator exists only in syntax version 4")

    def _emit(self, data: bytes, brk: bool) -> None:
        self._out.write(data)
        if brk and self.line_break:
            self._out.write(self.line_break.encode("ascii"))

    def _segment(self, seg: Segment, brk: bool = True) -> None:
        self.number += 1
        try:
            text = seg.to_text(self.seps)
        except InputError as e:
            raise InputError(e.message, location=f"segment {self.number} ({seg.tag})") from None
        if self._bad_strict is not None:
            m = self._bad_strict.search(text)
            if m:
                self._refuse(seg, m.group(), "is outside the repertoire of" if ord(m.group()) >= 32
                             else "is a control character, not allowed in")
        try:
            data = text.encode(self.codec) + self.seps.segment.encode("ascii")
        except UnicodeEncodeError as e:
            self._refuse(seg, e.object[e.start], "cannot be represented in")
        self._emit(data, brk)

    def _refuse(self, seg: Segment, ch: str, why: str) -> None:
        where = f"segment {self.number} ({seg.tag})"
        for i in range(1, len(seg.elements) + 1):
            occs = seg.occurrences(i)
            hit = next(((r, j) for r, o in enumerate(occs, 1) for j, c in enumerate(o, 1) if ch in c), None)
            if hit:
                where += f", element {i}" + (f" occurrence {hit[0]}" if len(occs) > 1 else "") + \
                    f", component {hit[1]}"
                break
        raise InputError(f"character {ch!r} (U+{ord(ch):04X}) {why} syntax level {self.level.code} ({self.codec})",
                         location=where)

    def write(self, item: Union[Message, Package, Group]) -> None:
        if isinstance(item, Group):
            self.begin_group(item.ung)
            for sub in item.contents:
                self.write(sub)
            self.end_group(item.une)
            return
        if isinstance(item, Package):
            uno = item.uno
            if self.recount:
                uno = uno.copy()
                while len(uno.elements) < 4:
                    uno.elements.append([""])
                uno.elements[3][0] = str(len(item.data))
            self._segment(uno, brk=False)
            self._out.write(item.data)
            if item.unp is not None or self.recount:
                self._segment(Segment("UNP", [[str(len(item.data))], [item.ref]]) if self.recount else item.unp)
            self._counted()
            return
        segs = item.segments
        if self.recount:
            body = segs[:-1] if item.trailer is not None else segs
            for s in body:
                self._segment(s)
            self._segment(Segment("UNT", [[str(len(body) + 1)], [item.ref]]))
        else:
            for s in segs:
                self._segment(s)
        self._counted()

    def _counted(self) -> None:
        if self._group is not None:
            self._group_count += 1
        else:
            self.count += 1

    def begin_group(self, ung: Segment) -> None:
        self._group = ung
        self._group_count = 0
        self._segment(ung)

    def end_group(self, une: Optional[Segment] = None) -> None:
        if self._group is None:
            raise InputError("end_group without begin_group")
        if self.recount or une is None:
            une = Segment("UNE", [[str(self._group_count)], [self._group.get(5, default="")]])
        self._segment(une)
        self._group = None
        self.groups += 1

    def close(self, unz: Optional[Segment] = None) -> None:
        """End the interchange: the UNZ (counted, or ``unz`` as given when not recounting)."""
        if self._group is not None:
            self.end_group()
        if self.recount or unz is None:
            unz = Segment("UNZ", [[str(self.groups or self.count)], [self.ic.control_ref]])
        self._segment(unz, brk=self.ic.final_line_break)


def _same_seps(una: str, seps: Separators, version: str) -> bool:
    try:
        return Separators.from_una(una, version or None) == seps
    except InputError:
        return False


def write_interchange(interchange: Interchange, *, una: Optional[bool] = None, line_break: Optional[str] = None,
                      recount: bool = True, strict: bool = True) -> bytes:
    """The interchange as bytes (see the module docstring for UNA, counts, encoding and ``strict``)."""
    out = io.BytesIO()
    w = InterchangeWriter(out, interchange, una=una, line_break=line_break, recount=recount, strict=strict)
    for item in interchange.contents:
        w.write(item)
    if recount or interchange.unz is not None:
        w.close(None if recount else interchange.unz)
    return out.getvalue()


def new_interchange(*, sender: Union[Party, str], recipient: Union[Party, str], control_ref: str,
                    syntax_level: str = "UNOC", syntax_version: Union[int, str] = 4,
                    prepared: Optional[datetime] = None, application_ref: Optional[str] = None,
                    ack_request: bool = False, test: bool = False, recipient_reference: Optional[str] = None,
                    character_encoding: Optional[str] = None, separators: Optional[Separators] = None,
                    una: Optional[bool] = None, line_break: str = "",
                    messages: Iterable[Message] = ()) -> Interchange:
    """A new interchange envelope (UNB built from the arguments; dates CCYYMMDD in syntax 4)."""
    version = str(syntax_version)
    if syntax_level not in LEVELS:
        raise InputError(f"unknown syntax level {syntax_level!r}")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(f"unknown syntax version {version!r}")
    prepared = prepared or datetime.now()
    date = prepared.strftime("%Y%m%d" if version == "4" else "%y%m%d")
    s001 = [syntax_level, version] + (["", character_encoding] if character_encoding else [])
    unb = Segment.build("UNB", s001, Party.of(sender).components(), Party.of(recipient).components(),
                        [date, prepared.strftime("%H%M")], control_ref, recipient_reference, application_ref,
                        None, "1" if ack_request else None, None, "1" if test else None)
    seps = separators or Separators.default(version)
    ic = Interchange(unb, seps, line_break=line_break)
    if una or (una is None and (syntax_level not in ("UNOA", "UNOB", "IATA", "IATB")
                                or seps != Separators.default(version))):
        ic.una = seps.una()
    for m in messages:
        ic.add(m)
    return ic


def new_message(ref: str, type: str, version: str, release: str, agency: str = "UN",
                association: Optional[str] = None, body: Iterable[Segment] = ()) -> Message:
    """A new message (``Message.build``)."""
    return Message.build(ref, type, version, release, agency, association, body)
