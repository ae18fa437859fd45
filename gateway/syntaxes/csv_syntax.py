"""ERP CSV dialects: bytes <-> one element tree per invoice, through the mapping engine.

A dialect is a mapping file (``mappings/csv-*.yaml``): its ``terms`` say where each
business term lives in the tree, in the same language as UBL and CII; its ``csv:`` key
says how the bytes look (delimiter, quote, encoding, line terminator, the ordered column
list, the layout and how a file holding several invoices is split). This module only
knows CSV: it turns records into a tree per invoice and back. It holds no business code.

The tree of one invoice::

    lines layout     <invoice><row n="2"><c n="Invoice Number">INV-1</c>...</row>...</invoice>
    records layout   <invoice><rec type="H" n="2">...</rec><rec type="L" n="3">
                                 <rec type="LA" n="4">...</rec></rec>...</invoice>

one ``row``/``rec`` per CSV record (``n`` = its 1-based row number in the file, the header
is row 1), one ``c`` per non-empty cell named by its header; in the records layout ``type``
is the record-type column, and a record type declared with a ``parent`` nests under the
closest record of that type above it. Paths such as ``row/c[@n='Unit Price']`` or
``rec[@type='H']/c[@n='Invoice Number']`` create the row and the cell on write.

What the adapter does beside building trees, all of it syntax, none of it business:

* decimal separator: the engine reads ``formats.decimal_separator``; on write the cells of
  the columns that carry a decimal term (known from the mapping) get it;
* formula injection: a *text* cell starting with ``= + - @`` (or tab/CR) is written with
  the ``formula_escape`` prefix (``'``) so spreadsheets show it as text; reading removes
  it again; decimal columns are never touched, so negative amounts stay numbers;
* hostile or broken input (wrong encoding, ragged rows, missing header columns, an
  unterminated quote, oversized fields, rows or files) is an ``InputError`` naming the
  row and the column (``HostileInputError`` for the size limits); input is processed
  record by record, never decoded as a whole.

The ``csv:`` key of a dialect's mapping file::

    csv:
      layout: lines | records
      delimiter: ";"                 quote: '"'
      encoding: utf-8-sig            # written with it (utf-8-sig: with a BOM); ASCII-compatible only
      read_encodings: [utf-8, cp1252]  # without a BOM, the first the whole file decodes in
                                     # (the last one is used regardless, errors named by row/column);
                                     # a UTF-8 BOM always means UTF-8. Default: [encoding]
      line_terminator: "\\r\\n"        # or "\\n"
      columns: [...]                 # the ordered column list, written with a header row; read by
                                     # header name (any order, case-insensitive); every column a term
                                     # uses must be listed
      required: [...]                # header columns a file must have; sniffing looks for them
      invoice_column: Invoice Number   # lines: consecutive rows with one value are one invoice
      record_type_column: Record Type  # records: becomes the tree's type attribute
      records: {H: {}, L: {}, LA: {parent: L}}   # records: the types, in write order
      invoice_record: H              # records: the type that starts an invoice
      formula_escape: "'"            # prefix for text cells starting with = + - @ (null: off)
      limits: {field_chars: 100000, record_chars: 1000000, rows: 100000}

plus, as in every mapping, ``formats: {date: ..., decimal_separator: ...}`` and ``codelists``.
A partner flavour ``extends`` a dialect and overrides any of it; every mapping file of
syntax ``csv`` on the search path is a dialect (``dialects()``).
"""
from __future__ import annotations

import codecs
import csv
import dataclasses
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Iterable, Iterator, Optional

from lxml import etree

from gateway import mapping
from gateway.model.errors import HostileInputError, InputError, MappingError
from gateway.mapping import Dropped
from gateway.mapping.paths import Path
from gateway.mapping.spec import GroupNode, LeafNode, MappingSpec, Node
from gateway.model.findings import Finding
from gateway.model.invoice import Invoice
from gateway.syntaxes import registry
from gateway.syntaxes.base import Document, Rendering, unread_findings
from gateway.syntaxes.registry import Flavour

__all__ = ["CsvSyntax", "dialect", "dialects", "detect_dialect", "MEDIA_TYPE"]

MEDIA_TYPE = registry.SYNTAXES["csv"].media_type
_BOM = b"\xef\xbb\xbf"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SNIFF_BYTES = 64 * 1024
_CHECK_CHUNK = 1 << 20


# --- dialect settings (the mapping file's csv: key) ------------------------------------------

@dataclass(frozen=True)
class Settings:
    layout: str                               # "lines" or "records"
    delimiter: str
    quote: str
    encoding: str                             # written with this
    read_encodings: tuple[str, ...]           # tried in order when there is no UTF-8 BOM
    line_terminator: str
    columns: tuple[str, ...]                  # the ordered column list (header row)
    required: tuple[str, ...]                 # header columns a file must have (and sniffing looks for);
                                              # always includes the invoice / record-type column
    invoice_column: Optional[str]             # lines: the column whose value identifies an invoice
    record_type_column: Optional[str]         # records: the record-type column
    records: dict                             # records: code -> parent code (or None), in write order
    invoice_record: Optional[str]             # records: the type that starts an invoice
    decimal_separator: str
    decimal_columns: frozenset                # columns that carry decimal terms
    formula_escape: Optional[str]
    field_chars: int
    record_chars: int
    rows: int

    @property
    def row_tag(self) -> str:
        return "rec" if self.layout == "records" else "row"


def _column_of(path: Path) -> Optional[str]:
    """The column a mapping path ends at: the name in its last step's ``[@n='...']``."""
    if path.target_attribute:
        return None
    steps = path.element_steps()
    if not steps:
        return None
    for lhs, rhs in steps[-1].builders:
        if lhs == ["@n"] and rhs[:1] in ("'", '"'):
            return rhs[1:-1]
    return None


def _mapped_columns(spec: MappingSpec) -> dict[str, set[str]]:
    """Column -> kinds ("decimal", "text") of the terms the mapping puts there."""
    out: dict[str, set[str]] = {}

    def add(path: Path, kind: str, where: str) -> None:
        col = _column_of(path)
        if col is None:
            raise MappingError(f"{spec.file}: {where}: a CSV term's path must end at a column, "
                               f"c[@n='Name'] (got {path.text!r})")
        out.setdefault(col, set()).add(kind)

    def walk(node: Node) -> None:
        if isinstance(node, GroupNode):
            for child in node.children.values():
                walk(child)
            return
        assert isinstance(node, LeafNode)
        kind = "decimal" if node.field.type is Decimal else "text"
        for alt in node.places + (node.write_places or []):
            add(alt.path, kind, node.source)
        for p in node.subs.values():
            add(p, "text", node.source)

    walk(spec.tree)
    return out


def _ascii_compatible(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
        probe = "\r\n;,\"'|\t aZ09"
        encoded = probe.encode(encoding)
        return encoded.removeprefix(_BOM) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def load_settings(spec: MappingSpec) -> Settings:
    """The ``csv:`` key of a mapping file, checked against its terms."""
    raw = spec.raw.get("csv")

    def bad(msg: str) -> MappingError:
        return MappingError(f"{spec.file}: csv: {msg}")

    if not isinstance(raw, dict):
        raise bad("missing: a CSV dialect needs a 'csv:' key (see gateway/syntaxes/csv_syntax.py)")
    layout = raw.get("layout", "lines")
    if layout not in ("lines", "records"):
        raise bad(f"layout is 'lines' or 'records', not {layout!r}")
    delimiter, quote = str(raw.get("delimiter", ",")), str(raw.get("quote", '"'))
    if len(delimiter) != 1 or len(quote) != 1 or delimiter == quote or {delimiter, quote} & {"\r", "\n"}:
        raise bad(f"delimiter and quote must be two different single characters, not newlines "
                  f"({delimiter!r}, {quote!r})")
    encoding = str(raw.get("encoding", "utf-8"))
    read_encodings = tuple(str(e) for e in (raw.get("read_encodings") or [encoding]))
    for enc in (encoding,) + read_encodings:
        if not _ascii_compatible(enc):
            raise bad(f"encoding {enc!r} is unknown or not ASCII-compatible (UTF-16 is not supported)")
    terminator = str(raw.get("line_terminator", "\r\n"))
    if terminator not in ("\r\n", "\n"):
        raise bad(f"line_terminator is '\\r\\n' or '\\n', not {terminator!r}")
    columns = tuple(str(c) for c in raw.get("columns") or [])
    if not columns:
        raise bad("'columns' (the ordered column list) is missing")
    if len(set(c.casefold() for c in columns)) != len(columns):
        dup = sorted({c for c in columns if [x.casefold() for x in columns].count(c.casefold()) > 1})
        raise bad(f"columns listed twice: {dup}")
    required = tuple(str(c) for c in raw.get("required") or [])
    invoice_column = raw.get("invoice_column")
    type_column = raw.get("record_type_column")
    records: dict = {}
    invoice_record = None
    if layout == "lines":
        if not invoice_column or invoice_column not in columns:
            raise bad("the lines layout needs 'invoice_column', one of the columns")
    else:
        if not type_column or type_column not in columns:
            raise bad("the records layout needs 'record_type_column', one of the columns")
        for code, opts in (raw.get("records") or {}).items():
            parent = (opts or {}).get("parent")
            if parent is not None and str(parent) not in records:
                raise bad(f"record type {code!r}: parent {parent!r} must be declared before it")
            records[str(code)] = None if parent is None else str(parent)
        invoice_record = str(raw.get("invoice_record", next(iter(records), "")))
        if invoice_record not in records or records[invoice_record] is not None:
            raise bad(f"invoice_record {invoice_record!r} must be a declared top-level record type")
        if len({c.casefold() for c in records}) != len(records):
            raise bad("record type codes must differ (case-insensitively)")
    # the column that splits the file (and the record type) must be there; sniffing needs some
    for key_column in (invoice_column if layout == "lines" else type_column,):
        if key_column not in required:
            required = (key_column,) + required
    missing = [c for c in required if c not in columns]
    if missing:
        raise bad(f"required columns {missing} are not in 'columns'")
    used = _mapped_columns(spec)
    unknown = sorted(c for c in used if c not in columns)
    if unknown:
        raise bad(f"the terms use columns missing from 'columns': {unknown}")
    if type_column in used:
        raise bad(f"the record-type column {type_column!r} is the tree's 'type' attribute, not a term's column")
    mixed = sorted(c for c, kinds in used.items() if len(kinds) > 1)
    if mixed:
        raise bad(f"columns holding both decimal and text terms: {mixed}")
    sep = str(spec.formats.get("decimal_separator", "."))
    if len(sep) != 1:
        raise bad(f"formats.decimal_separator must be one character, not {sep!r}")
    limits = raw.get("limits") or {}
    escape = raw.get("formula_escape", "'")
    return Settings(
        layout=layout, delimiter=delimiter, quote=quote, encoding=encoding, read_encodings=read_encodings,
        line_terminator=terminator, columns=columns, required=required,
        invoice_column=invoice_column if layout == "lines" else None,
        record_type_column=type_column if layout == "records" else None, records=records,
        invoice_record=invoice_record, decimal_separator=sep,
        decimal_columns=frozenset(c for c, kinds in used.items() if kinds == {"decimal"}),
        formula_escape=str(escape) if escape else None,
        field_chars=int(limits.get("field_chars", 100_000)),
        record_chars=int(limits.get("record_chars", 1_000_000)),
        rows=int(limits.get("rows", 200_000)))


# --- scanning a record's text, to say where a parse error is -----------------------------

@dataclass
class _Scan:
    field: int                 # 0-based index of the field where the scan stopped
    problem: Optional[str]     # None, "quote" (never closed), "after_quote", "long"
    offset: int                # where (for "quote" and a long quoted field: where the quote opened)
    quoted: bool = False       # "long": inside a quoted field


def _scan(text: str, delimiter: str, quote: str, max_field: int) -> _Scan:
    """Walk one record's text as the csv module does (strict), stopping at the first problem."""
    fld, start, i, n = 0, 0, 0, len(text)
    in_quote, after_quote, at_start, opened = False, False, True, -1
    while i < n:
        ch = text[i]
        if in_quote:
            if ch == quote:
                if i + 1 < n and text[i + 1] == quote:
                    i += 2
                    continue
                in_quote, after_quote = False, True
            i += 1
        elif ch == delimiter:
            fld, start, at_start, after_quote = fld + 1, i + 1, True, False
            i += 1
            continue
        elif ch in "\r\n":
            i += 1
            continue
        elif after_quote:
            return _Scan(fld, "after_quote", i)
        else:
            if ch == quote and at_start:
                in_quote, opened = True, i
            at_start = False
            i += 1
        if i - start > max_field:
            return _Scan(fld, "long", opened if in_quote else i, in_quote)
    if in_quote:
        return _Scan(fld, "quote", opened)
    return _Scan(fld, None, n)


@dataclass
class _Row:
    n: int                      # row number in the file (header = 1)
    line: int                   # physical line it starts on
    type: Optional[str]         # records layout: the record type
    cells: list                 # [(column, value)], non-empty values only
    key: str = ""               # lines layout: the invoice column's value


@dataclass
class _Group:
    """The rows of one invoice."""
    rows: list = field(default_factory=list)
    key: str = ""


class _Parser:
    """One pass over the bytes: physical lines -> csv records -> rows -> invoices."""

    def __init__(self, syntax: "CsvSyntax", data: bytes):
        self.syntax = syntax
        self.s = syntax.settings
        self.data = data
        self.n = 0                   # records read (row number of the last one)
        self.line_no = 0             # physical lines read
        self.start_line = 1          # where the current record starts
        self.pending: list[str] = []
        self.pending_chars = 0
        self.header: Optional[list[str]] = None
        self.encoding, self.offset = self._encoding()

    # -- errors ------------------------------------------------------------------------
    def column(self, index: int) -> str:
        if self.header is None:
            return f"column {index + 1} of the header"
        if index < len(self.header):
            return f"column '{self.header[index]}'"
        return f"column {index + 1} (no header)"

    def error(self, message: str, row: int, line: Optional[int], column: Optional[str] = None,
              hostile: bool = False) -> InputError:
        where = f"row {row}" + (f", {column}" if column else "")
        cls = HostileInputError if hostile else InputError
        return cls(f"{self.syntax.name}: {message}", line=line, location=where)

    def diagnose(self, reason: str) -> InputError:
        """A parse problem inside the current record: find the column from its text."""
        text = "".join(self.pending)
        scan = _scan(text, self.s.delimiter, self.s.quote, self.s.field_chars)
        row = self.n + 1
        if scan.problem == "quote":
            line = self.start_line + text.count("\n", 0, scan.offset)
            return self.error(f"a quoted field opened on line {line} is never closed "
                              f"(unterminated quote{'' if reason == 'eof' else '; ' + reason})",
                              row, line, self.column(scan.field))
        if scan.problem == "after_quote":
            line = self.start_line + text.count("\n", 0, scan.offset)
            return self.error(f"unexpected {text[scan.offset]!r} after a closing quote "
                              f"(a quote inside a field must be doubled)", row, line, self.column(scan.field))
        if scan.problem == "long":
            hint = ""
            if scan.quoted:
                hint = (f" (inside a quoted field opened on line "
                        f"{self.start_line + text.count(chr(10), 0, scan.offset)}: is its closing quote missing?)")
            return self.error(f"field longer than {self.s.field_chars} characters{hint}", row, self.start_line,
                              self.column(scan.field), hostile=True)
        if reason == "long_record":
            return self.error(f"record longer than {self.s.record_chars} characters", row, self.start_line,
                              self.column(scan.field), hostile=True)
        return self.error(f"not valid CSV: {reason}", row, self.start_line, self.column(scan.field))

    # -- bytes -> lines --------------------------------------------------------------------
    def _encoding(self) -> tuple[str, int]:
        if self.data.startswith(_BOM):
            return "utf-8", len(_BOM)
        encs = [("utf-8" if e.replace("_", "-").lower() == "utf-8-sig" else e) for e in self.s.read_encodings]
        for enc in encs[:-1]:
            if _decodes(self.data, enc):
                return enc, 0
        return encs[-1], 0

    def lines(self) -> Iterator[str]:
        data, pos, end = self.data, self.offset, len(self.data)
        max_bytes = self.s.record_chars * 4
        while pos < end:
            nl = data.find(b"\n", pos, pos + max_bytes + 1)
            if nl < 0 and end - pos > max_bytes:
                self.pending.append(data[pos:pos + max_bytes].decode(self.encoding, errors="replace"))
                raise self.diagnose("long_record")
            stop = end if nl < 0 else nl + 1
            raw = data[pos:stop]
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self.pending.append(raw[:exc.start].decode(self.encoding, errors="replace"))
                scan = _scan("".join(self.pending), self.s.delimiter, self.s.quote, 1 << 62)
                raise self.error(f"bytes {raw[exc.start:exc.end]!r} are not valid {self.encoding} "
                                 f"(is the file in another encoding?)",
                                 self.n + 1, self.line_no + 1, self.column(scan.field)) from None
            bad = _CONTROL.search(text)
            if bad:
                self.pending.append(text[:bad.start()])
                scan = _scan("".join(self.pending), self.s.delimiter, self.s.quote, 1 << 62)
                raise self.error(f"control character U+{ord(bad.group()):04X} is not allowed in a text file "
                                 f"(is this a binary file?)", self.n + 1, self.line_no + 1, self.column(scan.field))
            self.line_no += 1
            self.pending.append(text)
            self.pending_chars += len(text)
            if self.pending_chars > self.s.record_chars:
                raise self.diagnose("long_record")
            yield text
            pos = stop

    # -- lines -> records ------------------------------------------------------------------
    def records(self) -> Iterator[tuple[int, int, list[str]]]:
        reader = csv.reader(self.lines(), delimiter=self.s.delimiter, quotechar=self.s.quote,
                            doublequote=True, strict=True, skipinitialspace=False)
        while True:
            self.pending, self.pending_chars = [], 0
            self.start_line = self.line_no + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                msg = str(exc)
                raise self.diagnose("eof" if "unexpected end of data" in msg else msg) from None
            self.n += 1
            yield self.n, self.start_line, fields

    # -- records -> rows -----------------------------------------------------------------
    def rows(self) -> Iterator[_Row]:
        s = self.s
        text_escape = s.formula_escape
        canonical = {c.casefold(): c for c in s.columns}
        width = 0
        type_index = key_index = -1
        for n, line, fields in self.records():
            if not any(f.strip() for f in fields):
                continue                                   # blank line or only delimiters
            if self.header is None:
                self.header = self.read_header(n, line, fields, canonical)
                width = len(self.header)
                if s.record_type_column:
                    type_index = self.header.index(s.record_type_column)
                if s.invoice_column in self.header:
                    key_index = self.header.index(s.invoice_column)
                continue
            if n - 1 > s.rows:
                raise self.error(f"more than {s.rows} rows in one file", n, line, hostile=True)
            if len(fields) > width:
                extra = next((i for i in range(width, len(fields)) if fields[i].strip()), None)
                if extra is not None:        # extra empty fields (a trailing delimiter) are harmless
                    raise self.error(f"ragged row: {len(fields)} fields but the header has {width}",
                                     n, line, self.column(extra))
                fields = fields[:width]
            elif len(fields) < width:
                missing = ", ".join(repr(h) for h in self.header[len(fields):][:5])
                raise self.error(f"ragged row: {len(fields)} fields but the header has {width} "
                                 f"(missing {missing})", n, line, self.column(len(fields)))
            cells = []
            rtype = None
            for i, value in enumerate(fields):
                if len(value) > s.field_chars:
                    raise self.error(f"field longer than {s.field_chars} characters", n, line, self.column(i),
                                     hostile=True)
                if i == type_index:
                    rtype = self.record_type(value, n, line)
                    continue
                if not value.strip():
                    continue
                name = self.header[i]
                if text_escape and name not in s.decimal_columns and value.startswith(text_escape) \
                        and value[len(text_escape):][:1] in _FORMULA_START + (text_escape[:1],):
                    value = value[len(text_escape):]
                cells.append((name, value))
            key = next((v.strip() for c, v in cells if c == s.invoice_column), "") if key_index >= 0 else ""
            yield _Row(n, line, rtype, cells, key)

    def read_header(self, n: int, line: int, fields: list[str], canonical: dict) -> list[str]:
        names = [f.strip() for f in fields]
        while names and not names[-1]:
            names.pop()                                    # a trailing delimiter
        seen: dict[str, int] = {}
        out = []
        for i, name in enumerate(names):
            if not name:
                raise self.error("a header cell is empty (every column needs a name)", n, line,
                                 f"column {i + 1} of the header")
            name = canonical.get(name.casefold(), name)
            if name in seen:
                raise self.error(f"column {name!r} appears twice in the header (columns {seen[name] + 1} "
                                 f"and {i + 1})", n, line, f"column '{name}'")
            seen[name] = i
            out.append(name)
        missing = [c for c in self.s.required if c not in seen]
        if missing:
            listed = ", ".join(repr(c) for c in missing)
            raise self.error(f"the header row lacks the required column{'s' if len(missing) > 1 else ''} "
                             f"{listed} (is this a {self.syntax.name} file?)", n, line,
                             f"column '{missing[0]}'")
        return out

    def record_type(self, value: str, n: int, line: int) -> str:
        code = value.strip()
        for known in self.s.records:
            if known.casefold() == code.casefold():
                return known
        expected = ", ".join(self.s.records)
        raise self.error(f"unknown record type {code!r} (expected one of {expected})", n, line,
                         f"column '{self.s.record_type_column}'")

    # -- rows -> invoices ----------------------------------------------------------------
    def invoices(self) -> Iterator[_Group]:
        s = self.s
        current: Optional[_Group] = None
        finished: dict[str, int] = {}
        last_of_type: dict[str, _Row] = {}
        for row in self.rows():
            if s.layout == "records":
                if row.type == s.invoice_record:
                    if current is not None:
                        yield current
                    current, last_of_type = _Group(), {}
                elif current is None:
                    raise self.error(f"a {row.type!r} record before the first {s.invoice_record!r} record "
                                     f"(each invoice starts with one)", row.n, row.line,
                                     f"column '{s.record_type_column}'")
                parent = s.records.get(row.type)
                if parent is not None and parent not in last_of_type:
                    raise self.error(f"a {row.type!r} record belongs to a {parent!r} record, and there is "
                                     f"none above it in this invoice", row.n, row.line,
                                     f"column '{s.record_type_column}'")
                last_of_type[row.type] = row
                current.rows.append(row)
                continue
            key = row.key
            if current is not None and (not key or not current.key or key == current.key):
                current.key = current.key or key
                current.rows.append(row)
                continue
            if current is not None:
                if current.key:
                    finished[current.key] = current.rows[0].n
                yield current
            if key in finished:
                raise self.error(f"rows of invoice {key!r} are not together: it began on row "
                                 f"{finished[key]} and another invoice came between", row.n, row.line,
                                 f"column '{s.invoice_column}'")
            current = _Group(key=key)
            current.rows.append(row)
        if self.header is None:
            raise InputError(f"{self.syntax.name}: the file is empty (no header row)", location="row 1")
        if current is not None:
            yield current


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether the whole input decodes, checked in chunks (no full copy)."""
    dec = codecs.getincrementaldecoder(encoding)()
    try:
        for i in range(0, len(data), _CHECK_CHUNK):
            dec.decode(data[i:i + _CHECK_CHUNK])
        dec.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False


# --- the syntax ------------------------------------------------------------------------------

class CsvSyntax:
    """One CSV dialect: its mapping file gives the terms and, under ``csv:``, the byte layout."""

    media_type = MEDIA_TYPE
    extension = registry.SYNTAXES["csv"].extension

    def __init__(self, name: str, mapping_name: Optional[str] = None):
        self.name = name
        self.mapping_name = mapping_name or name
        self._cached: Optional[tuple[MappingSpec, Settings]] = None

    def __repr__(self) -> str:
        return f"CsvSyntax({self.name!r})"

    @property
    def spec(self) -> MappingSpec:
        return mapping.load(self.mapping_name)

    @property
    def settings(self) -> Settings:
        spec = self.spec
        if self._cached is None or self._cached[0] is not spec:
            self._cached = (spec, load_settings(spec))
        return self._cached[1]

    # -- reading ---------------------------------------------------------------------------
    def _groups(self, data: bytes) -> Iterator[_Group]:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("CSV input is bytes")
        return _Parser(self, bytes(data)).invoices()

    def tree(self, group: _Group) -> etree._Element:
        """The element tree of one invoice's rows."""
        s = self.settings
        root = etree.Element(self.spec.root or "invoice")
        last_of_type: dict[str, etree._Element] = {}
        for row in group.rows:
            parent = root
            if s.layout == "records":
                parent_type = s.records.get(row.type)
                if parent_type is not None:
                    parent = last_of_type[parent_type]
            el = etree.SubElement(parent, s.row_tag)
            if row.type is not None:
                el.set("type", row.type)
                last_of_type[row.type] = el
            el.set("n", str(row.n))
            if row.line <= 65535:
                el.sourceline = row.line
            for name, value in row.cells:
                c = etree.SubElement(el, "c", n=name)
                c.text = value
                if row.line <= 65535:
                    c.sourceline = row.line
        if len(root) and root[0].sourceline:
            root.sourceline = root[0].sourceline
        return root

    def read_tree(self, root: etree._Element) -> Document:
        spec = self.spec
        result = mapping.read(spec, root, describe=describe)
        findings = result.findings + unread_findings(result.source_map, spec)
        return Document(self.name, spec.name, result.invoice, result.source_map, findings)

    def iter_documents(self, data: bytes) -> Iterator[Document]:
        """Invoice after invoice, reading the file as it goes (for large batches)."""
        for group in self._groups(data):
            yield self.read_tree(self.tree(group))

    def read_all(self, data: bytes) -> list[Document]:
        """Every invoice of the file, in file order. The whole file is parsed and checked
        before any invoice is mapped, so a broken row late in the file costs no mapping work."""
        groups = list(self._groups(data))
        return [self.read_tree(self.tree(g)) for g in groups]

    def read_bytes(self, data: bytes) -> Document:
        """The one invoice of the file; an InputError when it holds none or several."""
        groups = list(self._groups(data))
        if len(groups) != 1:
            if not groups:
                raise InputError(f"{self.name}: the file holds no invoice (only a header row)", location="row 2")
            starts = ", ".join(f"row {g.rows[0].n}" for g in groups[:5])
            raise InputError(f"{self.name}: the file holds {len(groups)} invoices (starting on {starts}"
                             f"{', ...' if len(groups) > 5 else ''}); read it with read_all",
                             location=f"row {groups[1].rows[0].n}")
        return self.read_tree(self.tree(groups[0]))

    def sniff(self, data: bytes) -> bool:
        """Whether the header row is this dialect's: all its required columns are there."""
        return self._header_score(data) is not None

    def _header_score(self, data: bytes) -> Optional[int]:
        s = self.settings
        head = bytes(data[:_SNIFF_BYTES])
        if head.startswith(_BOM):
            head, encs = head[len(_BOM):], ("utf-8",)
        else:
            encs = tuple("utf-8" if e.lower().replace("_", "-") == "utf-8-sig" else e for e in s.read_encodings)
        head = head.lstrip(b"\r\n")
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        for enc in encs:
            try:
                text = first.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            return None
        try:
            names = next(csv.reader([text], delimiter=s.delimiter, quotechar=s.quote), [])
        except csv.Error:
            return None
        folded = {n.strip().casefold() for n in names}
        if not all(c.casefold() in folded for c in s.required):
            return None
        return sum(1 for c in s.columns if c.casefold() in folded)

    # -- writing ---------------------------------------------------------------------------
    def _rows_of(self, root: etree._Element) -> list[list[str]]:
        """The CSV records of one written tree, in column order."""
        s = self.settings
        order = {code: i for i, code in enumerate(s.records)}
        out: list[list[str]] = []

        def fail(msg: str) -> MappingError:
            return MappingError(f"{self.spec.file}: {msg}")

        def emit(el: etree._Element) -> None:
            cells: dict[str, str] = {}
            nested = []
            for child in el:
                if child.tag == "c":
                    name = child.get("n")
                    if name in cells:
                        raise fail(f"two values for column {name!r} in one row")
                    if name not in s.columns:
                        raise fail(f"the terms wrote column {name!r}, which is not in csv.columns")
                    cells[name] = child.text or ""
                elif child.tag == s.row_tag:
                    nested.append(child)
                else:
                    raise fail(f"the terms wrote <{child.tag}>, which is neither a row nor a column")
            rtype = el.get("type")
            if s.layout == "records":
                if rtype not in s.records:
                    raise fail(f"a record written without a declared record type ({rtype!r})")
                cells[s.record_type_column] = rtype
            out.append([_cell(s, col, cells.get(col, "")) for col in s.columns])
            for child in sorted(nested, key=lambda e: order.get(e.get("type"), len(order))):
                emit(child)

        top = [el for el in root if el.tag == s.row_tag]
        if len(top) != len(root):
            other = next(el for el in root if el.tag != s.row_tag)
            raise fail(f"the terms wrote <{other.tag}> at the top, not a {s.row_tag}")
        if s.layout == "records":
            top.sort(key=lambda e: order.get(e.get("type"), len(order)))
            if not top or top[0].get("type") != s.invoice_record:
                top.insert(0, etree.Element(s.row_tag, type=s.invoice_record))   # an invoice starts with it
        for el in top:
            emit(el)
        return out

    def _encode(self, rows: list[list[str]]) -> bytes:
        s = self.settings
        text = "".join(_line(s, r) for r in rows)
        try:
            return text.encode(s.encoding)
        except UnicodeEncodeError:
            for i, r in enumerate(rows):
                for col, value in zip(s.columns, r):
                    try:
                        value.encode(s.encoding)
                    except UnicodeEncodeError as exc:
                        raise InputError(f"{self.name}: {value[exc.start:exc.end]!r} cannot be written in "
                                         f"{s.encoding}", location=f"row {i + 1}, column '{col}'") from None
            raise

    def _written(self, invoice: Invoice) -> tuple[list[list[str]], list[Dropped], list[Finding]]:
        result = mapping.write(self.spec, invoice)
        return self._rows_of(result.root), result.dropped, result.findings

    def write(self, invoice: Invoice) -> Rendering:
        """One invoice as a CSV file: the header row, then its rows."""
        rows, dropped, added = self._written(invoice)
        data = self._encode([list(self.settings.columns)] + rows)
        return Rendering(self.name, self.spec.name, data, dropped, added, MEDIA_TYPE, self.extension)

    def write_all(self, invoices: Iterable[Invoice]) -> Rendering:
        """Several invoices in one file. Dropped terms are named ``invoices[i].<model path>``."""
        s = self.settings
        rows: list[list[str]] = [list(s.columns)]
        dropped: list[Dropped] = []
        added: list[Finding] = []
        keys: dict[str, int] = {}
        invoices = list(invoices)
        for i, inv in enumerate(invoices):
            inv_rows, inv_dropped, inv_added = self._written(inv)
            if s.layout == "lines" and len(invoices) > 1:
                col = s.columns.index(s.invoice_column)
                key = next((r[col] for r in inv_rows if r[col]), "")
                if not key or key in keys:
                    why = "has no" if not key else f"has the same {s.invoice_column!r} ({key!r}) as invoice {keys[key] + 1} in"
                    raise InputError(f"{self.name}: invoice {i + 1} {why} column {s.invoice_column!r}; "
                                     f"the invoices of one file could not be told apart",
                                     location=f"column '{s.invoice_column}'")
                keys[key] = i
            rows.extend(inv_rows)
            dropped.extend(Dropped(d.term, f"invoices[{i}].{d.path}") for d in inv_dropped)
            added.extend(dataclasses.replace(f, path=f"invoices[{i}].{f.path}") for f in inv_added)
        return Rendering(self.name, self.spec.name, self._encode(rows), dropped, added, MEDIA_TYPE,
                         self.extension)


def _cell(s: Settings, column: str, text: str) -> str:
    """One value as written: decimal separator for decimal columns, formulas neutralised in text ones."""
    if not text:
        return text
    if column in s.decimal_columns:
        return text.replace(".", s.decimal_separator) if s.decimal_separator != "." else text
    esc = s.formula_escape
    if esc and (text.startswith(_FORMULA_START) or
                (text.startswith(esc) and text[len(esc):][:1] in _FORMULA_START + (esc[:1],))):
        return esc + text
    return text


def _line(s: Settings, fields: list[str]) -> str:
    """One record: quoted where it holds the delimiter, the quote or a line break."""
    q = s.quote
    out = []
    for f in fields:
        if s.delimiter in f or q in f or "\n" in f or "\r" in f:
            f = q + f.replace(q, q + q) + q
        out.append(f)
    return s.delimiter.join(out) + s.line_terminator


def describe(el: etree._Element, attribute: Optional[str] = None) -> str:
    """Where a tree element is in the CSV file: "row 3, column 'Unit Price'"."""
    def row_text(row: etree._Element) -> str:
        kind = row.get("type")
        return f"row {row.get('n')}" + (f" ({kind} record)" if kind else "")

    if el.tag == "c":
        row = el.getparent()
        return f"{row_text(row)}, column '{el.get('n')}'"
    if el.tag in ("row", "rec") and el.get("n"):
        if attribute == "type":
            return f"{row_text(el)}, record-type column"
        return row_text(el) + (f", attribute {attribute}" if attribute and attribute != "n" else "")
    rows = [r for r in el.iter("row", "rec") if r.get("n")]
    if not rows:
        return "the file"
    first, last = rows[0].get("n"), max(int(r.get("n")) for r in rows)
    return f"rows {first}-{last}" if str(last) != first else f"row {first}"


def dialects() -> list[CsvSyntax]:
    """Every CSV flavour on the search path, in listing order (shipped ones first)."""
    return [_dialect(f) for f in registry.of_syntax("csv")]


def dialect(name: str) -> CsvSyntax:
    """The CSV flavour ``name`` (ValueError when ``name`` is no CSV flavour)."""
    found = registry.flavour(name)
    if found.syntax != "csv":
        raise ValueError(f"{name} is not a CSV flavour ({found.syntax})")
    return _dialect(found)


@lru_cache(maxsize=64)
def _dialect(flavour: Flavour) -> CsvSyntax:
    return CsvSyntax(flavour.name, flavour.mappings[0])


def detect_dialect(data: bytes) -> Optional[CsvSyntax]:
    """The dialect whose header row this is (the one recognising most columns; of equals, the
    first listed), or None."""
    best: Optional[CsvSyntax] = None
    best_score = -1
    for candidate in dialects():
        score = candidate._header_score(data)
        if score is not None and score > best_score:
            best, best_score = candidate, score
    return best
