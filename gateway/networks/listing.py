"""A network's participant directory as it publishes it: fetched, then read into identifiers.

Another network (a Peppol access point, a French PDP...) says who can be reached
through it by publishing a list of participant identifiers. We read three shapes:

* **CSV**: a header naming the columns ``scheme``, ``value`` and optionally
  ``name`` (any order, further columns ignored; comma or semicolon separated);
* **JSON**: a list of ``{"scheme": …, "value": …, "name": …}`` objects;
* **XML**: any element ``participant`` or ``participantID`` with ``scheme`` and
  ``value`` attributes, which covers the Peppol Directory exports (participant
  list and business cards, where the name is the first ``entity/name/@name``).

Schemes are ISO 6523 ICD / EAS codes or our spellings (``SIRET``, ``GLN``,
``VAT``…, see ``gateway.model.identifiers``); a Peppol participant identifier
(scheme ``iso6523-actorid-upis``, value ``0088:5790000435951``) is split into
the two. Identifiers are checked like an operator's input (check digits): a
listing nobody can be addressed by is worse than no listing.

A bad row is reported with its line and skipped; the rest stands. A file that
cannot be read as a whole (not found, too large, malformed, hostile XML) is a
``DirectoryError`` saying where, and nothing of it is used. The directory is
read whole into memory: the size limit is the guard (100,000 participants are
a few megabytes).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

from gateway.model import identifiers
from gateway.model.errors import EdigateError, InputError
from gateway.db import normalise_identifier

FORMATS = ("csv", "json", "xml")
MAX_BYTES = 100 * 1024 * 1024
TIMEOUT_SECONDS = 60.0              # the longest silence while fetching
TOTAL_SECONDS = 900.0               # the longest whole download
MAX_VALUE = 256                     # NetworkParticipant.value
MAX_NAME = 500                      # NetworkParticipant.name
PEPPOL_ACTOR_SCHEME = "iso6523-actorid-upis"
PARTICIPANT_TAGS = ("participant", "participantID")


class DirectoryError(EdigateError):
    """The directory as a whole cannot be used; ``line``/``column`` say where when known."""

    def __init__(self, message: str, *, line: Optional[int] = None, column: Optional[int] = None):
        self.message, self.line, self.column = message, line, column
        where = f" (line {line}" + (f", column {column}" if column else "") + ")" if line else ""
        super().__init__(message + where)


@dataclass(frozen=True)
class Entry:
    """One listed identifier, normalised like ``PartnerIdentifier``."""
    scheme: str
    value: str
    name: Optional[str]
    line: int


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Listing:
    """What a directory file says: the entries (each identifier once) and the rows skipped."""
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0                   # rows read, valid or not
    repeated: int = 0               # identifiers listed again (the first listing counts)


def is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def guess_format(source: str) -> Optional[str]:
    """``csv``/``json``/``xml`` from the source's file extension, or None."""
    suffix = Path(urlsplit(source).path if is_url(source) else source).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


# --- fetching ---------------------------------------------------------------------------------

def fetch(source: str, *, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_SECONDS,
          total: float = TOTAL_SECONDS) -> bytes:
    """The directory's bytes from a local path or an http(s) URL, at most ``max_bytes``.
    ``timeout``: the longest silence from the server; ``total``: the longest whole download
    (a server trickling bytes would otherwise hold a worker for ever)."""
    if is_url(source):
        return _fetch_url(source, max_bytes, timeout, total)
    if "://" in source:
        raise DirectoryError(f"{source}: only local paths and http(s) URLs are read")
    path = Path(source).expanduser()
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise DirectoryError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise DirectoryError(f"{source}: is a directory, not a file") from None
    except OSError as e:
        raise DirectoryError(f"{source}: cannot read it ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise DirectoryError(f"{source}: larger than the {max_bytes:,} bytes accepted for a directory")
    return data


def _fetch_url(url: str, max_bytes: int, timeout: float, total: float) -> bytes:
    import time

    import requests

    from gateway.transports.safe_http import BodyRefused, read_body
    deadline = time.monotonic() + total
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=True,
                          headers={"Accept": "text/csv, application/json, application/xml, */*"}) as r:
            if r.status_code != 200:
                raise DirectoryError(f"{url}: HTTP {r.status_code} {r.reason or ''}".rstrip())
            try:
                return read_body(r, max_bytes, deadline)
            except BodyRefused as e:
                raise DirectoryError(f"{url}: {e} for a directory" if e.too_large else
                                     f"{url}: not downloaded within {total:g} s ({e.size:,} bytes so far)") from None
    except requests.Timeout:
        raise DirectoryError(f"{url}: no answer within {timeout:g} s") from None
    except requests.RequestException as e:
        raise DirectoryError(f"{url}: {_describe(e, timeout)}") from None


def _describe(e: Exception, timeout: float) -> str:
    """The cause of a failed fetch in a few words (requests nests it deep inside urllib3's text)."""
    text = str(e)
    if "timed out" in text.lower():
        return f"stopped sending for more than {timeout:g} s"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return f"cannot connect: {errno.group(1).strip()}"
    return f"{type(e).__name__}: {text[:300]}"


# --- reading ----------------------------------------------------------------------------------

def read(data: bytes, fmt: str) -> Listing:
    """The entries of a directory file in format ``fmt`` (csv, json, xml)."""
    if fmt not in FORMATS:
        raise DirectoryError(f"directory format {fmt!r} is not one of {', '.join(FORMATS)}")
    listing = Listing()
    seen: set[tuple[str, str]] = set()
    reader = {"csv": _csv_rows, "json": _json_rows, "xml": _xml_rows}[fmt]
    for row in reader(data):
        listing.rows += 1
        if isinstance(row, Problem):
            listing.problems.append(row)
            continue
        line, scheme, value, name = row
        try:
            entry = entry_of(scheme, value, name, line)
        except ValueError as e:
            listing.problems.append(Problem(line, str(e)))
            continue
        key = (entry.scheme, entry.value)
        if key in seen:
            listing.repeated += 1
            continue
        seen.add(key)
        listing.entries.append(entry)
    return listing


def entry_of(scheme: Any, value: Any, name: Any, line: int) -> Entry:
    """One row checked and normalised; ``ValueError`` says what is wrong with it."""
    for what, text in (("scheme", scheme), ("value", value)):
        if text is not None and not isinstance(text, str):
            raise ValueError(f"the {what} {json.dumps(text)} is not text (write it in quotes, "
                             "so that leading zeros are kept)")
        if not text or not text.strip():
            raise ValueError(f"no {what}")
    scheme, value = scheme.strip(), value.strip()
    if scheme.lower() == PEPPOL_ACTOR_SCHEME:
        icd, sep, rest = value.partition(":")
        if not sep or not icd.strip() or not rest.strip():
            raise ValueError(f"a Peppol participant identifier is ICD:VALUE (e.g. 0088:5790000435951), "
                             f"not {value!r}")
        scheme, value = icd, rest
    try:
        code = identifiers.scheme_code(scheme, value)
    except ValueError:
        if scheme.strip().upper() != "VAT":
            raise
        code = "VAT"            # a VAT number of a country without its own code here: routing tries "VAT"
    code, norm = normalise_identifier(code, value)
    if len(norm) > MAX_VALUE:
        raise ValueError(f"the value is longer than {MAX_VALUE} characters")
    test = identifiers.CHECKS.get(code)
    problem = test(norm) if test else None
    if problem:
        raise ValueError(problem)
    if name is not None and not isinstance(name, str):
        name = str(name)
    name = " ".join(name.split())[:MAX_NAME] if name else None
    return Entry(code, norm, name or None, line)


def _text(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DirectoryError("not UTF-8 text", line=line, column=column) from None


Row = tuple[int, Any, Any, Any]         # line, scheme, value, name (as found: checked by entry_of)


def _csv_rows(data: bytes) -> Iterator[Row | Problem]:
    text = _text(data)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DirectoryError("a NUL character in a CSV directory", line=line)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    columns: Optional[dict[str, int]] = None
    last = 0
    try:
        for row in reader:
            line, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = _header(row, line)
                continue
            needed = max(columns["scheme"], columns["value"]) + 1
            if len(row) < needed:
                yield Problem(line, f"{len(row)} column(s), expected at least {needed} "
                                    f"(the header says {', '.join(sorted(columns, key=columns.get))})")
                continue
            name = row[columns["name"]] if "name" in columns and columns["name"] < len(row) else None
            yield line, row[columns["scheme"]], row[columns["value"]], name
    except csv.Error as e:
        raise DirectoryError(f"CSV: {e}", line=last + 1) from None
    if columns is None:
        raise DirectoryError("the CSV directory is empty: expected a header scheme,value,name and rows")


def _header(row: list[str], line: int) -> dict[str, int]:
    names = [cell.strip().lower() for cell in row]
    columns = {n: i for i, n in reversed(list(enumerate(names))) if n in ("scheme", "value", "name")}
    missing = [n for n in ("scheme", "value") if n not in columns]
    if missing:
        raise DirectoryError(f"the CSV header must name the columns scheme,value[,name]; "
                             f"found {','.join(row)!r}", line=line)
    return columns


def _json_rows(data: bytes) -> Iterator[Row | Problem]:
    """Items one by one (``raw_decode``), so each is reported with the line it starts on."""
    text = _text(data)
    decoder = json.JSONDecoder()
    try:
        pos = _skip_ws(text, 0)
        if not text.startswith("[", pos):
            raise DirectoryError('a JSON directory is a list of {"scheme", "value", "name"} objects',
                                 line=text.count("\n", 0, pos) + 1)
        pos, line, counted = _skip_ws(text, pos + 1), 1, 0
        closing = text.startswith("]", pos)
        while not closing:
            line += text.count("\n", counted, pos)
            counted = pos
            item, pos = decoder.raw_decode(text, pos)
            if isinstance(item, dict):
                yield line, item.get("scheme"), item.get("value"), item.get("name")
            else:
                yield Problem(line, f'expected an object {{"scheme", "value", "name"}}, '
                                    f"found {type(item).__name__}")
            pos = _skip_ws(text, pos)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
            elif text.startswith("]", pos):
                closing = True
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter or ']'", text, pos)
        end = _skip_ws(text, pos + 1)
        if end != len(text):
            raise json.JSONDecodeError("Extra data after the list", text, end)
    except json.JSONDecodeError as e:
        raise DirectoryError(f"malformed JSON: {e.msg}", line=e.lineno, column=e.colno) from None
    except RecursionError:
        raise DirectoryError("JSON nested too deeply") from None


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _xml_rows(data: bytes) -> Iterator[Row | Problem]:
    from lxml import etree
    from gateway.xml.safe import parse
    try:
        root = parse(data, max_bytes=MAX_BYTES)
    except InputError as e:
        raise DirectoryError(f"XML: {e.message}", line=e.line, column=e.column) from None
    found = False
    for el in root.iter(etree.Element):
        if etree.QName(el).localname not in PARTICIPANT_TAGS:
            continue
        found = True
        yield el.sourceline or 0, el.get("scheme"), el.get("value"), el.get("name") or _card_name(el)
    if not found:
        raise DirectoryError(f"no <participant scheme=… value=…> element in the XML directory "
                             f"(root <{etree.QName(root).localname}>)", line=root.sourceline)


def _card_name(el) -> Optional[str]:
    """A Peppol business card's first entity name: ``businesscard/entity/name/@name``."""
    from lxml import etree
    card = el.getparent()
    if card is None:
        return None
    for entity in card:
        if isinstance(entity.tag, str) and etree.QName(entity).localname == "entity":
            for name in entity:
                if isinstance(name.tag, str) and etree.QName(name).localname == "name":
                    return name.get("name") or (name.text or "").strip() or None
    return None
