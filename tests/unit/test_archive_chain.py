"""The archive's canonical entry text, its hash, and the retention policy as data (no database)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from gateway.archive.chain import GENESIS, canonical, clean_note, entry_hash, manifest_line
from gateway.archive.retention import RetentionError, add_years, load_policy
from gateway.archive.tsp import request
from gateway.db.archive import ArchiveEntry

AT = datetime(2026, 3, 1, 9, 30, 0, 1234, tzinfo=timezone.utc)


def _entry(**kw) -> ArchiveEntry:
    values = dict(seq=1, at=AT, kind="original", sha256="ab" * 32, size=12, owner="exchange:7", exchange_id=7,
                  document_id=None, ref_seq=None, note=None, prev_hash=GENESIS, entry_hash="")
    values.update(kw)
    return ArchiveEntry(**values)


def test_the_canonical_text_and_its_hash() -> None:
    e = _entry()
    text = canonical(e)
    assert text == "\t".join(["1", "2026-03-01T09:30:00.001234Z", "original", "ab" * 32, "12", "exchange:7", "7",
                              "-", "-", "-", GENESIS])
    assert entry_hash(e) == hashlib.sha256(text.encode()).hexdigest()
    e.entry_hash = entry_hash(e)
    assert manifest_line(e) == f"{text}\t{e.entry_hash}"
    assert entry_hash(e, seq=2) != e.entry_hash                  # the place is part of what is hashed
    assert entry_hash(_entry(size=13)) != e.entry_hash


def test_notes_and_fields_stay_one_printable_ascii_line() -> None:
    assert clean_note("retention\tof 10 years\nended") == "retention?of 10 years?ended"
    assert clean_note("  ") is None and clean_note("-") == "(-)" and len(clean_note("x" * 900)) == 500
    with pytest.raises(ValueError, match="printable ASCII"):
        canonical(_entry(owner="exchange:\t7"))
    with pytest.raises(ValueError, match="naive"):
        canonical(_entry(at=datetime(2026, 3, 1)))


def test_retention_is_data(tmp_path) -> None:
    shipped = load_policy()
    assert shipped.years_for({"380"}) == ("invoice", 10) and shipped.years_for({"381"}) == ("credit_note", 10)
    assert shipped.years_for(set()) == ("no document", 10)
    policy = tmp_path / "r.yaml"
    policy.write_text("default_years: 6\ntypes:\n  invoice: {years: 10, codes: ['380']}\n  note: {years: 2, codes: ['999']}\n")
    p = load_policy(policy)
    assert p.years_for({"380", "999"}) == ("invoice", 10)      # the longest of the documents'
    assert p.years_for({"999", "123"}) == ("type 123, 999", 6)   # an unknown type keeps the default
    policy.write_text("types: {}\n")
    with pytest.raises(RetentionError, match="default_years"):
        load_policy(policy)
    assert add_years(datetime(2028, 2, 29, tzinfo=timezone.utc), 10) == datetime(2038, 2, 28, tzinfo=timezone.utc)


def test_a_timestamp_request_is_over_a_sha256_digest() -> None:
    from asn1crypto import tsp
    req = tsp.TimeStampReq.load(request(b"\x01" * 32, nonce=42))
    assert req["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert (req["message_imprint"]["hashed_message"].native, req["nonce"].native, req["cert_req"].native) == \
        (b"\x01" * 32, 42, True)
    with pytest.raises(ValueError):
        request(b"short")
