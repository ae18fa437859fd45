"""``archive export``: a bundle an auditor verifies with ``sha256sum`` and ``openssl`` alone.

The whole chain goes in (its lines are small, and a seal over a head can only be checked with
every entry before it); the payloads of the entries archived within the range asked for; every
seal as a ``.tsr`` with the certificates its token carried and the trust anchor; the
verification script (``bundle.VERIFY_SH``) and a README.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import sqlalchemy as sa
from asn1crypto import tsp as asn1_tsp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.db.archive import ArchiveEntry, ArchiveSeal
from gateway.model.errors import EdigateError
from gateway.store import PayloadNotFound
from . import bundle
from .chain import manifest_line, timestamp


class ExportError(EdigateError):
    """The export cannot be written where asked."""


@dataclass
class Exported:
    entries: int = 0
    first: int = 0
    last: int = 0
    files: int = 0
    seals: int = 0
    missing: list[str] = field(default_factory=list)


def _certificates(response: bytes) -> list[bytes]:
    try:
        token = asn1_tsp.TimeStampResp.load(response)["time_stamp_token"]
        return [c.chosen.dump() for c in token["content"]["certificates"] or [] if c.name == "certificate"]
    except (ValueError, TypeError, KeyError):
        return []                      # a damaged seal: exported as it is, the script says so


def export(gw, out: Path, *, since: Optional[datetime] = None, until: Optional[datetime] = None,
           now: Optional[datetime] = None) -> Exported:
    """Write the bundle into ``out`` (a new or empty directory)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty directory")
    now = now or datetime.now(timezone.utc)
    result = Exported()
    for sub in ("payloads", "seals", "tsa"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    sums = []
    with gw.session() as s:
        deleted = set(s.scalars(sa.select(ArchiveEntry.ref_seq).where(ArchiveEntry.kind == "deletion")))
        rows = s.scalars(sa.select(ArchiveEntry).order_by(ArchiveEntry.seq).execution_options(yield_per=1000))
        copied: set[str] = set()
        with open(out / "chain.tsv", "w", encoding="ascii", newline="\n") as chain:
            for e in rows:
                chain.write(manifest_line(e) + "\n")
                result.entries += 1
                if (since is not None and e.at < since) or (until is not None and e.at >= until):
                    continue
                result.first = result.first or e.seq
                result.last = e.seq
                if e.kind == "deletion" or e.seq in deleted or e.sha256 in copied:
                    continue
                try:
                    with gw.payloads.open(e.sha256) as src, open(out / "payloads" / e.sha256, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1024 * 1024)
                except PayloadNotFound:
                    result.missing.append(f"payload {e.sha256} of entry #{e.seq} is missing from the store")
                    continue
                copied.add(e.sha256)
                sums.append(f"{e.sha256}  payloads/{e.sha256}\n")
        result.files = len(copied)
        (out / "RANGE").write_text(f"{result.first}\t{result.last}\n", encoding="ascii")
        (out / "SHA256SUMS").write_text("".join(sums), encoding="ascii")
        certs: dict[bytes, None] = {}
        lines = []
        for seal in s.scalars(sa.select(ArchiveSeal).order_by(ArchiveSeal.head_seq, ArchiveSeal.id)):
            name = f"seal-{seal.id:06d}.tsr"
            (out / "seals" / name).write_bytes(seal.response)
            lines.append(f"{name}\t{seal.head_seq}\t{seal.head_hash}\t{timestamp(seal.gen_time)}\n")
            certs.update(dict.fromkeys(_certificates(seal.response)))
            result.seals += 1
        (out / "seals" / "seals.tsv").write_text("".join(lines), encoding="ascii")
    (out / "tsa" / "untrusted.pem").write_bytes(b"".join(
        x509.load_der_x509_certificate(c).public_bytes(Encoding.PEM) for c in certs))
    anchor = gw.settings.archive_tsa_ca
    (out / "tsa" / "anchor.pem").write_bytes(Path(anchor).read_bytes() if anchor else b"")
    (out / "verify.sh").write_text(bundle.VERIFY_SH, encoding="ascii")
    os.chmod(out / "verify.sh", 0o755)
    (out / "README.txt").write_text(bundle.README.format(
        made=timestamp(now), head=result.entries, first=result.first, last=result.last,
        since=timestamp(since) if since else "the start", until=timestamp(until) if until else "now",
        files=result.files, seals=result.seals), encoding="utf-8")
    return result
