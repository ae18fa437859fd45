"""Counterparties from a CSV file, with a report of every row: what was taken, what was not, why.

The file is what staff export from a spreadsheet or an ERP: UTF-8 (with or
without a byte-order mark), separated by ``,`` or ``;`` (whichever the header
line uses), one header line naming the columns in French or English
(``HEADER_ALIASES``: "Raison sociale" or "Company name", "SIRET", "N° TVA" or
"VAT", "GLN", "Courriel" or "E-mail", "Contact", "Segment", "Langue" or
"Language"). Columns we do not know are ignored and said so.

Each row is checked whole, every problem named (a row with a bad SIRET *and*
a bad e-mail says both): the company name is required; SIREN, SIRET (Luhn,
and La Poste's rule), French VAT (its key), GLN (GS1 check digit) through
``gateway.model.identifiers``; SIREN/SIRET/VAT agreeing with each other; one valid
e-mail address (needed to invite); language fr or en. A refused row writes
nothing; the others are imported.

De-duplication, so that nobody is invited twice or invited needlessly:

* within the file: a row naming the same company as an earlier row (same
  SIRET, VAT number, GLN, or same key) is a ``duplicate`` of that line;
* against counterparties on record: the row **updates** the one it matches
  (an opt-out or enrolment on record stays as it is);
* against the gateway's **partners** (any identifier): ``existing_partner``,
  with ``partner_id``, never invited;
* against the directories of **interconnected networks**: ``reachable_elsewhere``,
  with ``network_id``, never invited (``gateway.flow.route.lookup_participant``
  decides which network, as routing would).

``propose_from_held`` makes counterparties of the buyers of held documents
(invoices nobody here could be found for), so staff can invite them.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway.model import identifiers
from gateway.db import NetworkParticipant, Partner, PartnerIdentifier, utcnow
from gateway.model.errors import EdigateError
from gateway.flow.route import VAT_SCHEMES

from .models import LANGUAGES, Counterparty, ImportBatch, TrackingEvent
from .reasons import reason, stored

FIELDS = ("name", "siren", "siret", "vat", "gln", "email", "contact", "segment", "language")
REQUIRED_COLUMNS = ("name", "email")
MAX_ROWS = 100_000
MAX_LENGTH = {"name": 300, "contact": 200, "email": 320, "segment": 64}

# Header spellings (compared without accents, case, punctuation or spaces).
HEADER_ALIASES = {
    "name": ("company name", "company", "name", "company_name", "raison sociale", "nom", "nom de l'entreprise",
             "nom entreprise", "societe", "entreprise", "denomination", "denomination sociale"),
    "siren": ("siren", "numero siren", "n siren", "no siren"),
    "siret": ("siret", "numero siret", "n siret", "no siret"),
    "vat": ("vat", "vat number", "vat id", "vat_number", "tva", "n tva", "no tva", "numero de tva", "numero tva",
            "tva intracommunautaire", "numero de tva intracommunautaire", "n tva intracommunautaire"),
    "gln": ("gln", "code gln", "global location number"),
    "email": ("email", "e-mail", "mail", "courriel", "adresse email", "adresse e-mail", "adresse mail",
              "email address", "e-mail address"),
    "contact": ("contact", "contact name", "contact_name", "nom du contact", "interlocuteur"),
    "segment": ("segment", "categorie", "category"),
    "language": ("language", "langue", "lang", "language code", "code langue"),
}
LANGUAGE_ALIASES = {
    "fr": ("fr", "fra", "fre", "french", "francais", "fr-fr", "fr_fr", "fr-be", "fr-ch"),
    "en": ("en", "eng", "english", "anglais", "en-gb", "en_gb", "en-us", "en_us"),
}
_VAT_GENERIC = re.compile(r"[A-Z]{2}[0-9A-Z+*]{2,13}")
# The shape of VAT numbers by country prefix (EU VIES formats, plus GB, CH, NO); others: the generic one.
VAT_FORMATS = {
    "AT": r"U\d{8}", "BE": r"[01]\d{9}", "BG": r"\d{9,10}", "CY": r"\d{8}[A-Z]", "CZ": r"\d{8,10}",
    "DE": r"\d{9}", "DK": r"\d{8}", "EE": r"\d{9}", "EL": r"\d{9}", "ES": r"[0-9A-Z]\d{7}[0-9A-Z]",
    "FI": r"\d{8}", "HR": r"\d{11}", "HU": r"\d{8}", "IE": r"\d[0-9A-Z+*]\d{5}[A-Z]{1,2}", "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}", "LU": r"\d{8}", "LV": r"\d{11}", "MT": r"\d{8}", "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}", "PT": r"\d{9}", "RO": r"\d{2,10}", "SE": r"\d{12}", "SI": r"\d{8}", "SK": r"\d{10}",
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}", "XI": r"\d{9}|\d{12}", "CH": r"E\d{9}(MWST|TVA|IVA)?",
    "NO": r"\d{9}(MVA)?",
}


class ImportFileError(EdigateError, ValueError):
    """The file as a whole cannot be imported (encoding, header); nothing was written. Its message
    is the English words of its reason, ``said`` the reason's code and values (``reasons``)."""

    def __init__(self, why: Any):
        super().__init__(str(why))
        self.said = stored(why)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "", text)


_HEADER_INDEX = {_fold(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
_LANGUAGE_INDEX = {_fold(alias): code for code, aliases in LANGUAGE_ALIASES.items() for alias in aliases}


@dataclass
class Row:
    """One checked data row."""
    line: int
    values: dict[str, str]
    reasons: list[str] = field(default_factory=list)
    language_given: bool = True         # False: the cell was blank and the default was taken

    @property
    def ok(self) -> bool:
        return not self.reasons

    def get(self, name: str) -> Optional[str]:
        return self.values.get(name) or None

    @property
    def keys(self) -> list[tuple[str, str]]:
        """(scheme, value) identifiers, strongest first."""
        out = []
        if self.get("siret"):
            out.append(("0009", self.values["siret"]))
        if self.get("vat"):
            out.append(("VAT", self.values["vat"]))
        if self.get("gln"):
            out.append(("0088", self.values["gln"]))
        if self.get("siren"):
            out.append(("0002", self.values["siren"]))
        return out

    @property
    def dedupe_key(self) -> str:
        keys = self.keys
        if keys:
            return f"{keys[0][0]}:{keys[0][1]}"
        return f"EM:{self.values['email'].lower()}"


# --- reading the file --------------------------------------------------------------------------

def decode(data: bytes) -> str:
    """UTF-8, with or without BOM. Anything else is refused with where it went wrong."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ImportFileError(reason("not_utf8", byte=f"{data[e.start]:02X}", line=line)) from None


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(text: str) -> tuple[list[Optional[str]], list[str], list[tuple[int, list[str]]]]:
    """(field of each column or None, ignored header names, [(line, cells)]) of non-blank rows."""
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ImportFileError(reason("nul_byte", line=line))
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise ImportFileError(reason("empty_file"))
    delimiter = sniff_delimiter(lines[first])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    header: Optional[list[str]] = None
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = cells
                continue
            rows.append((line, cells))
            if len(rows) > MAX_ROWS:
                raise ImportFileError(reason("too_many_rows", max=MAX_ROWS))
    except csv.Error as e:
        raise ImportFileError(reason("csv_error", line=reader.line_num, error=str(e))) from None
    assert header is not None
    columns: list[Optional[str]] = []
    ignored: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        fld = _HEADER_INDEX.get(_fold(name))
        if fld is None:
            if name.strip():
                ignored.append(name.strip())
            columns.append(None)
            continue
        if fld in seen:
            raise ImportFileError(reason("same_column", first=seen[fld], first_name=repr(header[seen[fld] - 1].strip()),
                                         second=i, second_name=repr(name.strip()), field=fld))
        seen[fld] = i
        columns.append(fld)
    missing = [f for f in REQUIRED_COLUMNS if f not in seen]
    if missing:
        code = {("name",): "no_name_column", ("email",): "no_email_column"}.get(tuple(missing), "no_columns")
        raise ImportFileError(reason(code, found=", ".join(repr(h.strip()) for h in header if h.strip())))
    return columns, ignored, rows


# --- checking one row --------------------------------------------------------------------------

def _digits_hint(value: str, n: int, what: str) -> Any:
    if (value.isascii() and value.isdigit()) and len(value) == n - 1:
        return reason("hint_leading_zero", what=what, n=n)
    if re.fullmatch(r"\d+([.,]\d+)?E\+?\d+", value, re.IGNORECASE):
        return reason("hint_as_number")
    return ""


def _compact(value: str) -> str:
    return "".join(value.split()).replace("\u00a0", "")


def check_row(line: int, columns: list[Optional[str]], cells: list[str]) -> Row:
    values = {f: "" for f in FIELDS}
    row = Row(line, values)
    extra = [c for c in cells[len(columns):] if c.strip()]
    if extra:
        row.reasons.append(reason("fields_count", found=len(cells), expected=len(columns)))
    for fld, cell in zip(columns, cells):
        if fld is not None:
            values[fld] = " ".join(cell.split())
    for fld, limit in MAX_LENGTH.items():
        if len(values[fld]) > limit:
            row.reasons.append(reason("too_long", field=fld, limit=limit))

    if not values["name"]:
        row.reasons.append(reason("no_name"))

    siren, siret = _compact(values["siren"]), _compact(values["siret"])
    siret_problem = identifiers.check_siret(siret) if siret else None
    siren_problem = identifiers.check_siren(siren) if siren else None
    if siret_problem:
        row.reasons.append(reason("bad_siret", problem=siret_problem, hint=_digits_hint(siret, 14, "SIRET")))
    if siren_problem:
        row.reasons.append(reason("bad_siren", problem=siren_problem, hint=_digits_hint(siren, 9, "SIREN")))
    if siren and siret and not siren_problem and not siret_problem and siret[:9] != siren:
        row.reasons.append(reason("siren_siret_mismatch", siren=siren, siret=siret))
    if siret and not siren and (siret.isascii() and siret.isdigit()) and len(siret) == 14:
        siren = siret[:9]
    values["siren"], values["siret"] = siren, siret

    vat = _compact(values["vat"]).upper().replace(".", "").replace("-", "")
    if vat:
        if vat.startswith("FR"):
            problem = identifiers.check_vat_fr(vat)
            if problem:
                row.reasons.append(reason("bad_vat", problem=problem))
            elif siren and not vat[4:].startswith("000") and vat[4:] != siren:
                row.reasons.append(reason("vat_not_siren", vat=vat, siren=siren, tail=vat[4:]))
        elif vat[:2] in VAT_FORMATS and not re.fullmatch(VAT_FORMATS[vat[:2]], vat[2:]):
            row.reasons.append(reason("vat_shape", vat=repr(vat), country=vat[:2], pattern=VAT_FORMATS[vat[:2]]))
        elif not _VAT_GENERIC.fullmatch(vat):
            row.reasons.append(reason("vat_generic", vat=repr(vat)))
    values["vat"] = vat

    gln = _compact(values["gln"])
    if gln:
        problem = identifiers.check_gln(gln)
        if problem:
            row.reasons.append(reason("bad_gln", problem=problem, hint=_digits_hint(gln, 13, "GLN")))
    values["gln"] = gln

    email = values["email"]
    if not email:
        row.reasons.append(reason("no_email"))
    else:
        display, address = parseaddr(email)
        if "<" in email and address:
            email = address
            if display and not values["contact"]:
                values["contact"] = display
        if re.search(r"[,;\s]", email):
            row.reasons.append(reason("several_emails", email=repr(values["email"])))
        else:
            problem = identifiers.check_email(email)
            if problem:
                row.reasons.append(reason("bad_email", problem=problem))
        values["email"] = email

    lang = values["language"]
    if lang:
        code = _LANGUAGE_INDEX.get(_fold(lang))
        if code is None:
            row.reasons.append(reason("unknown_language", language=repr(lang), expected=", ".join(LANGUAGES)))
        values["language"] = code or ""
    else:
        values["language"] = "en" if vat and not vat.startswith(("FR", "MC")) else "fr"
        row.language_given = False
    return row


# --- matching against what we know ------------------------------------------------------------

def _chunks(items: list, n: int = 500) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _counterparty_index(session: Session, rows: list[Row]) -> dict[tuple[str, str], Counterparty]:
    """Counterparties on record by ("key", dedupe key), ("0009", siret), ("VAT", vat), ("0088", gln)."""
    keys = sorted({r.dedupe_key for r in rows})
    by_col = {"0009": sorted({r.values["siret"] for r in rows if r.values["siret"]}),
              "VAT": sorted({r.values["vat"] for r in rows if r.values["vat"]}),
              "0088": sorted({r.values["gln"] for r in rows if r.values["gln"]})}
    cols = {"0009": Counterparty.siret, "VAT": Counterparty.vat, "0088": Counterparty.gln}
    found: dict[int, Counterparty] = {}
    for chunk in _chunks(keys):
        for cp in session.scalars(sa.select(Counterparty).where(Counterparty.dedupe_key.in_(chunk))):
            found[cp.id] = cp
    for scheme, values in by_col.items():
        for chunk in _chunks(values):
            for cp in session.scalars(sa.select(Counterparty).where(cols[scheme].in_(chunk))):
                found[cp.id] = cp
    index: dict[tuple[str, str], Counterparty] = {}
    for cp in sorted(found.values(), key=lambda c: c.id):
        index.setdefault(("key", cp.dedupe_key), cp)
        for scheme, value in (("0009", cp.siret), ("VAT", cp.vat), ("0088", cp.gln)):
            if value:
                index.setdefault((scheme, value), cp)
    return index


def _partner_index(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Partner]:
    values = sorted({v for _, v in pairs})
    index: dict[tuple[str, str], Partner] = {}
    for chunk in _chunks(values):
        for ident in session.scalars(sa.select(PartnerIdentifier).where(PartnerIdentifier.value.in_(chunk))):
            scheme = "VAT" if ident.scheme in VAT_SCHEMES else ident.scheme
            if (scheme, ident.value) in pairs:
                index.setdefault((scheme, ident.value), ident.partner)
    return index


def _listed(session: Session, scheme: str, value: str) -> Optional[NetworkParticipant]:
    try:
        from gateway.flow.route import lookup_participant
    except ImportError:             # an older gateway: any active network's listing
        from gateway.db import Network
        schemes = VAT_SCHEMES if scheme == "VAT" else (scheme,)
        return session.scalar(sa.select(NetworkParticipant).join(Network)
                              .where(NetworkParticipant.scheme.in_(schemes), NetworkParticipant.value == value,
                                     Network.active.is_(True)).order_by(Network.id).limit(1))
    return lookup_participant(session, scheme, value)


def _network_index(session: Session, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], NetworkParticipant]:
    """Listings of our identifiers: a cheap bulk look first, then routing's own rule for the hits."""
    values = sorted({v for _, v in pairs})
    hits: set[tuple[str, str]] = set()
    for chunk in _chunks(values):
        for scheme, value in session.execute(sa.select(NetworkParticipant.scheme, NetworkParticipant.value)
                                             .where(NetworkParticipant.value.in_(chunk))):
            key = ("VAT" if scheme in VAT_SCHEMES else scheme, value)
            if key in pairs:
                hits.add(key)
    index = {}
    for scheme, value in sorted(hits):
        listing = _listed(session, scheme, value)
        if listing is not None:
            index[(scheme, value)] = listing
    return index


def _identifier_label(scheme: str, value: str) -> str:
    return f"{ {'0009': 'SIRET', '0002': 'SIREN', '0088': 'GLN'}.get(scheme, scheme)} {value}"


# --- the import --------------------------------------------------------------------------------

def _apply(cp: Counterparty, row: Row, now: datetime) -> list[str]:
    """Update a counterparty on record from a row; returns notes for the report."""
    v = row.values
    notes = []
    cp.name = v["name"]
    for attr, key in (("siren", "siren"), ("siret", "siret"), ("vat", "vat"), ("gln", "gln")):
        if v[key]:
            setattr(cp, attr, v[key])
    if v["contact"]:
        cp.contact_name = v["contact"]
    if v["segment"]:
        cp.segment = v["segment"]
    if row.language_given:
        cp.language = v["language"]
    new_email = v["email"]
    if cp.bounced_at is not None and (cp.email or "").lower() != new_email.lower():
        notes.append(reason("new_email_after_bounce", date=f"{cp.bounced_at:%Y-%m-%d}"))
        cp.bounced_at, cp.bounce_reason = None, None
        if cp.status == "bounced":
            cp.status, cp.status_at = "new", now
    cp.email = new_email
    if cp.opted_out_at is not None:
        notes.append(reason("opted_out_on", date=f"{cp.opted_out_at:%Y-%m-%d}"))
    return notes


def import_csv(session: Session, data: bytes, *, filename: Optional[str] = None, created_by: Optional[str] = None,
               now: Optional[datetime] = None) -> ImportBatch:
    """Import a counterparty CSV into the session's transaction (commit is the caller's).

    Returns the ``ImportBatch`` with its per-row ``report``: ``{"line", "outcome", "reasons",
    "counterparty_id", "name"}`` where outcome is created, updated, duplicate, existing_partner,
    reachable_elsewhere or rejected (reasons say why, in English; for the others they are notes; ``said``
    keeps each one's code and values, for pages in the reader's language: ``reasons.py``). A first
    entry with outcome ``header`` lists ignored columns, if any. Raises ``ImportFileError`` when
    the file itself cannot be read (then nothing is written)."""
    now = now or utcnow()
    columns, ignored, table = read_table(decode(data))
    rows = [check_row(line, columns, cells) for line, cells in table]
    good = [r for r in rows if r.ok]

    # within the file
    first_seen: dict[tuple[str, str], int] = {}
    duplicate_of: dict[int, int] = {}
    for r in good:
        marks = [("key", r.dedupe_key)] + [k for k in r.keys if k[0] != "0002"]
        earlier = next((first_seen[m] for m in marks if m in first_seen), None)
        if earlier is not None:
            duplicate_of[r.line] = earlier
            continue
        for m in marks:
            first_seen.setdefault(m, r.line)
    fresh = [r for r in good if r.line not in duplicate_of]

    on_record = _counterparty_index(session, fresh)
    pairs = {k for r in fresh for k in r.keys}
    partners = _partner_index(session, pairs)
    listings = _network_index(session, pairs)

    batch = ImportBatch(filename=filename, created_at=now, created_by=created_by, rows_total=len(rows))
    session.add(batch)
    session.flush()
    report: list[dict[str, Any]] = []
    if ignored:
        report.append({"line": 1, "outcome": "header", "counterparty_id": None, "name": None,
                       "reasons": [reason("column_ignored", column=repr(name)) for name in ignored]})
    created: list[tuple[Row, Counterparty]] = []
    outcomes: dict[int, tuple[str, list[str], Optional[Counterparty]]] = {}
    for r in fresh:
        matches = {m.id: m for m in (on_record.get(k) for k in [("key", r.dedupe_key)] +
                                     [k for k in r.keys if k[0] != "0002"]) if m is not None}
        if len(matches) > 1:
            names = ", ".join(f"#{m.id} {m.name!r}" for m in matches.values())
            outcomes[r.line] = ("rejected", [reason("several_matches", names=names)], None)
            continue
        notes: list[str] = []
        cp = next(iter(matches.values()), None)
        if cp is None:
            cp = Counterparty(name=r.values["name"], email=r.values["email"], language=r.values["language"],
                              segment=r.values["segment"], contact_name=r.values["contact"] or None,
                              siren=r.get("siren"), siret=r.get("siret"), vat=r.get("vat"), gln=r.get("gln"),
                              dedupe_key=r.dedupe_key, status="new", status_at=now, source="import",
                              import_batch_id=batch.id, created_at=now, updated_at=now)
            session.add(cp)
            outcome = "created"
            created.append((r, cp))
        else:
            notes += _apply(cp, r, now)
            if cp.dedupe_key != r.dedupe_key and ("key", r.dedupe_key) not in on_record:
                on_record.pop(("key", cp.dedupe_key), None)
                cp.dedupe_key = r.dedupe_key
                on_record[("key", cp.dedupe_key)] = cp
            outcome = "updated"
        partner = next((partners[k] for k in r.keys if k in partners), None)
        listing = next(((k, listings[k]) for k in r.keys if k in listings), None) if partner is None else None
        if partner is not None:
            cp.partner_id = partner.id
            if cp.status in ("new", "invited", "registering", "reachable_elsewhere", "bounced"):
                cp.status, cp.status_at = "existing_partner", now
            outcome = "existing_partner"
            notes.append(reason("already_partner", partner=partner.name, id=partner.id))
        elif listing is not None:
            (scheme, value), participant = listing
            cp.network_id = participant.network_id
            if cp.status in ("new", "invited", "registering", "bounced"):
                cp.status, cp.status_at = "reachable_elsewhere", now
            outcome = "reachable_elsewhere"
            notes.append(reason("reachable_elsewhere", network=participant.network.code,
                                name=participant.network.name, by=_identifier_label(scheme, value)))
        outcomes[r.line] = (outcome, notes, cp)
        for m in [("key", r.dedupe_key)] + [k for k in r.keys if k[0] != "0002"]:
            on_record.setdefault(m, cp)
    session.flush()
    for r, cp in created:
        session.add(TrackingEvent(counterparty_id=cp.id, kind="imported", at=now,
                                  detail={"import_batch_id": batch.id, "line": r.line}))

    counts = {"accepted": 0, "rejected": 0, "duplicate": 0}
    for r in rows:
        if not r.ok:
            entry = {"line": r.line, "outcome": "rejected", "reasons": r.reasons, "counterparty_id": None,
                     "name": r.values.get("name") or None}
        elif r.line in duplicate_of:
            entry = {"line": r.line, "outcome": "duplicate", "counterparty_id": None, "name": r.values["name"],
                     "reasons": [reason("same_as_line", line=duplicate_of[r.line])]}
        else:
            outcome, notes, cp = outcomes[r.line]
            entry = {"line": r.line, "outcome": outcome, "reasons": notes,
                     "counterparty_id": cp.id if cp is not None else None, "name": r.values["name"]}
        report.append(entry)
        kind = entry["outcome"]
        counts["rejected" if kind == "rejected" else "duplicate" if kind == "duplicate" else "accepted"] += 1
    for entry in report:               # the English words, and their codes to word them again for a reader
        entry["said"] = [stored(r) for r in entry["reasons"]]
        entry["reasons"] = [str(r) for r in entry["reasons"]]
    batch.report = report
    batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate = \
        counts["accepted"], counts["rejected"], counts["duplicate"]
    session.flush()
    return batch


# --- held documents ----------------------------------------------------------------------------

def propose_from_held(gw: Any, *, now: Optional[datetime] = None) -> dict[str, int]:
    """Buyers of held documents (no partner, no network knew them) become counterparties
    (source ``held_document``), once each, so staff can invite them. A buyer known already
    (counterparty, partner, network) is left as it is."""
    from gateway.db import DocumentRecord
    now = now or utcnow()
    counts = {"held_documents": 0, "proposed": 0, "known": 0, "unidentified": 0}
    with gw.session() as s:
        docs = s.scalars(sa.select(DocumentRecord).where(DocumentRecord.status == "held")
                         .order_by(DocumentRecord.id)).all()
        for doc in docs:
            counts["held_documents"] += 1
            values = {f: "" for f in FIELDS}
            values["name"] = (doc.buyer_name or "").strip()[:300]
            for scheme, ident in ((doc.buyer_id_scheme, doc.buyer_id),
                                  (doc.buyer_endpoint_scheme, doc.buyer_endpoint_id)):
                if not ident:
                    continue
                ident = _compact(ident)
                if scheme == "0009" and not identifiers.check_siret(ident):
                    values["siret"] = ident
                elif scheme == "0002" and not identifiers.check_siren(ident):
                    values["siren"] = ident
                elif scheme == "0088" and not identifiers.check_gln(ident):
                    values["gln"] = ident
                elif scheme == "EM" and not identifiers.check_email(ident):
                    values["email"] = ident.lower()
            if doc.buyer_vat_id:
                values["vat"] = _compact(doc.buyer_vat_id).upper()
            if values["siret"] and not values["siren"]:
                values["siren"] = values["siret"][:9]
            row = Row(0, values)
            if not row.keys and not values["email"]:
                counts["unidentified"] += 1
                continue
            if not values["name"]:
                values["name"] = f"Buyer of invoice {doc.number or doc.id}"
            index = _counterparty_index(s, [row])
            if any(k in index for k in [("key", row.dedupe_key)] + row.keys) or \
                    _partner_index(s, set(row.keys)) or _network_index(s, set(row.keys)):
                counts["known"] += 1
                continue
            cp = Counterparty(name=values["name"], email=values["email"] or None,
                              language="en" if values["vat"] and not values["vat"].startswith("FR") else "fr",
                              siren=row.get("siren"), siret=row.get("siret"), vat=row.get("vat"),
                              gln=row.get("gln"), dedupe_key=row.dedupe_key, status="new", status_at=now,
                              source="held_document", created_at=now, updated_at=now)
            try:
                with s.begin_nested():          # another sweep (process) may propose the same buyer now
                    s.add(cp)
                    s.flush()
            except sa.exc.IntegrityError:
                counts["known"] += 1
                continue
            s.add(TrackingEvent(counterparty_id=cp.id, kind="imported", at=now,
                                detail={"held_document_id": doc.id, "number": doc.number}))
            counts["proposed"] += 1
    return counts
