"""The archive that proves itself, on a real Gateway with a real time-stamping authority.

The TSA is one of the tests' own (``tests.support.tsa.LocalTsa``): OpenSSL's ``openssl ts
-reply`` behind a small HTTP server on loopback, its certificate issued by a test CA made by the
test. Everything else is the gateway's own path: files received through ``receive_file`` and
the pipeline, the sweep's catch-up and seal, ``edigate archive`` on the command line, and the
exported bundle checked by its shipped ``verify.sh`` with nothing but ``sh``, ``sha256sum`` and
``openssl`` on the PATH.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography import x509

from gateway.archive import catchup, purge, seal as sealing, tsp, verify
from gateway.cli import main
from gateway.db import DocumentRecord, DocumentStatusEvent, Exchange, RenderingRecord
from gateway.db.archive import ArchiveEntry, ArchiveSeal
from gateway.flow import lifecycle
from gateway.flow.receive import receive_file
from tests.support.portal_seed import INVOICES, seed_partners, send
from tests.support.tsa import LocalTsa

ACME_1 = INVOICES[0]
UTC = timezone.utc


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    with LocalTsa(tmp_path_factory.mktemp("tsa")) as t:
        yield t


@pytest.fixture
def env(tsa, tmp_path, monkeypatch):
    """Settings for the gateway under test and for the command line on the same home."""
    values = {"EDIGATE_HOME": str(tmp_path / "home"), "EDIGATE_ARCHIVE_TSA_URL": tsa.url,
              "EDIGATE_ARCHIVE_TSA_CA": str(tsa.ca_pem), "EDIGATE_ARCHIVE_TSA_ALLOW_PRIVATE": "true"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_JOBS_URL", "EDIGATE_PAYLOAD_DIR", "EDIGATE_ARCHIVE_RETENTION"):
        monkeypatch.delenv(name, raising=False)
    return values


@pytest.fixture
def gw(make_gateway, env):
    return make_gateway(home=Path(env["EDIGATE_HOME"]), **{k: v for k, v in env.items() if k != "EDIGATE_HOME"})


def cli(*args):
    return CliRunner().invoke(main, ["archive", *[str(a) for a in args]])


def _files(gw, n: int) -> list[str]:
    """``n`` files received over the API (left unprocessed: the archive takes them as stored)."""
    keys = []
    with gw.session() as s:
        start = s.scalar(sa.select(sa.func.count()).select_from(Exchange))
    for i in range(start, start + n):
        ex = receive_file(gw, f"payload number {i}\n".encode() * (i + 1), channel="api", filename=f"f{i}.txt",
                          message_id=f"upload-{i}")
        keys.append(ex.content_sha256)
    return keys


def _entries(gw) -> list[ArchiveEntry]:
    with gw.session() as s:
        return s.scalars(sa.select(ArchiveEntry).order_by(ArchiveEntry.seq)).all()


def _writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


# --- the hooks: a real inbound invoice through the path ------------------------------------------

def test_an_inbound_invoice_gets_its_original_renderings_and_status_message_archived(gw) -> None:
    seeded = seed_partners(gw)
    doc_id = send(gw, seeded, ACME_1)                      # EDIFACT over SFTP, to a portal recipient in UBL
    with gw.session() as s:
        lifecycle.set_business_status(s, s.get(DocumentRecord, doc_id), "received")
        event = lifecycle.set_business_status(s, s.get(DocumentRecord, doc_id), "refused",
                                              reason="prices do not match order PO-77").id
    aperak = lifecycle.report_to_sender(gw, event)
    assert aperak is not None

    counts = gw.jobs.sweep(datetime.now(UTC) + timedelta(seconds=1))      # the gateway's own sweep
    assert counts["archived"] >= 3 and counts["sealed"] == 1

    with gw.session() as s:
        doc = s.get(DocumentRecord, doc_id)
        original = doc.exchange
        renderings = s.scalars(sa.select(RenderingRecord).where(RenderingRecord.document_id == doc_id)).all()
        status_out = s.get(Exchange, aperak)
        assert s.get(DocumentStatusEvent, event).report_exchange_id == aperak
        expected = {("original", original.content_sha256, f"exchange:{original.id}"),
                    ("status", status_out.content_sha256, f"exchange:{aperak}")}
        expected |= {("rendering", r.payload_key, f"rendering:{r.id}") for r in renderings}
    assert renderings, "the portal delivery writes the invoice in the recipient's UBL"
    got = {(e.kind, e.sha256, e.owner) for e in _entries(gw)}
    assert expected <= got
    status_entry = next(e for e in _entries(gw) if e.kind == "status")
    assert (status_entry.document_id, status_entry.exchange_id) == (doc_id, aperak)
    rendering_entry = next(e for e in _entries(gw) if e.kind == "rendering")
    assert (rendering_entry.document_id, rendering_entry.exchange_id) == (doc_id, original.id)

    # idempotent: the sweep again, and a catch-up from the start, add nothing
    before = len(_entries(gw))
    assert gw.jobs.sweep(datetime.now(UTC) + timedelta(seconds=2))["archived"] == 0
    assert cli("catch-up", "--all").output.strip() == "0 entries appended"
    assert len(_entries(gw)) == before
    r = cli("verify")
    assert r.exit_code == 0, r.output
    assert "intact" in r.output and "1 seal(s) checked" in r.output


# --- verify names what was altered ----------------------------------------------------------------

def test_verify_names_an_altered_byte_a_deleted_payload_and_reordered_entries(gw) -> None:
    keys = _files(gw, 6)
    assert catchup.catch_up(gw) == 6
    sealing.seal(gw)
    r = cli("verify")
    assert r.exit_code == 0, r.output
    entries = {e.seq: e for e in _entries(gw)}
    assert [entries[n].sha256 for n in range(1, 7)] == keys

    # one stored byte changed
    path = _writable(gw.payloads.path(keys[1]))
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    # one payload deleted behind the archive's back
    os.unlink(gw.payloads.path(keys[2]))
    # entries #4 and #5 swapped
    with gw.session() as s:
        for a, b in ((4, -1), (5, 4), (-1, 5)):
            s.execute(sa.update(ArchiveEntry).where(ArchiveEntry.seq == a).values(seq=b))

    r = cli("verify", "--json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    problems = report["problems"]
    assert f"payload {keys[1]} altered (entry #2 original of exchange:2): its content hashes to " \
           f"{__import__('hashlib').sha256(bytes(data)).hexdigest()}" in problems
    assert f"payload {keys[2]} missing (entry #3 original of exchange:3): deleted without a deletion entry " \
           "in the chain" in problems
    assert f"entry #4 is out of place: it was written as entry #5 (original {keys[4]} of exchange:5); " \
           "entries reordered" in problems
    assert f"entry #5 is out of place: it was written as entry #4 (original {keys[3]} of exchange:4); " \
           "entries reordered" in problems
    assert len(problems) == 4, problems
    text = cli("verify").output
    assert text.count("ALTERED: ") == 4 and "4 problem(s)" in text


def test_a_removed_entry_and_a_changed_field_are_named(gw) -> None:
    keys = _files(gw, 4)
    catchup.catch_up(gw)
    sealing.seal(gw)
    with gw.session() as s:
        s.execute(sa.update(ArchiveEntry).where(ArchiveEntry.seq == 2).values(size=1))
        s.execute(sa.delete(ArchiveEntry).where(ArchiveEntry.seq == 3))
    report = verify.verify(gw)
    assert report.problems[0].startswith(f"entry #2 altered (original {keys[1]} of exchange:2): its fields hash to ")
    assert report.problems[1] == "entry #3 missing: the chain jumps from #2 to #4 (entries removed)"
    assert len(report.problems) == 2, report.problems
    # the head removed: only the seal can tell
    with gw.session() as s:
        s.execute(sa.delete(ArchiveEntry).where(ArchiveEntry.seq == 4))
    report = verify.verify(gw)
    assert any(p.startswith("seal 1 (entry #4,") and p.endswith("covers entry #4, which is no longer in the chain")
               for p in report.problems), report.problems


# --- seals ------------------------------------------------------------------------------------------

def test_seals_are_verified_and_a_tampered_seal_is_refused(gw, tsa) -> None:
    _files(gw, 2)
    catchup.catch_up(gw)
    first = sealing.seal(gw)
    assert sealing.seal(gw) is None                      # the head did not move: nothing to seal
    _files(gw, 1)
    catchup.catch_up(gw)
    second = sealing.seal(gw)
    assert (first.head_seq, second.head_seq) == (2, 3) and tsa.requests >= 2
    anchors = tsp.load_anchors(tsa.ca_pem)
    token = tsp.check_response(second.response, bytes.fromhex(second.head_hash), anchors)
    assert (token.digest, token.signer) == (second.head_hash, "CN=edigate test TSA,O=edigate tests")
    assert token.policy == "1.3.6.1.4.1.55555.1.1" and token.gen_time == second.gen_time
    assert verify.verify(gw).ok

    # the same token is no proof for another hash, nor under another trust anchor
    with pytest.raises(tsp.TimestampError, match="message imprint"):
        tsp.check_response(second.response, bytes(32), anchors)
    with pytest.raises(tsp.TimestampError, match="does not chain to a trust anchor"):
        tsp.check_response(second.response, bytes.fromhex(second.head_hash), tsp.load_anchors(tsa.other_ca_pem))

    # a byte of the signature changed (the last bytes of the token), then a byte of the signed time
    broken = bytearray(second.response)
    broken[-1] ^= 0x01
    with gw.session() as s:
        s.get(ArchiveSeal, second.id).response = bytes(broken)
    problems = verify.verify(gw).problems
    assert problems == [f"seal {second.id} (entry #3, {second.gen_time.isoformat()}) refused: the token's "
                        "signature does not verify with the TSA certificate: the token was altered"]
    r = cli("verify")
    assert r.exit_code == 1 and f"ALTERED: seal {second.id} (entry #3" in r.output

    time_changed = bytearray(second.response)
    at = time_changed.index(b"\x18\x0f" + second.gen_time.strftime("%Y").encode())
    time_changed[at + 2] = ord("1")                      # 2026 -> 1026
    with gw.session() as s:
        s.get(ArchiveSeal, second.id).response = bytes(time_changed)
    assert verify.verify(gw).problems == [
        f"seal {second.id} (entry #3, {second.gen_time.isoformat()}) refused: the signed message-digest does not "
        "match the TSTInfo: the token was altered"]

    # a seal moved onto another entry's hash
    with gw.session() as s:
        s.get(ArchiveSeal, second.id).response = second.response
        s.get(ArchiveSeal, first.id).head_hash = second.head_hash
    problems = verify.verify(gw).problems
    assert problems[0].startswith(f"seal {first.id} (entry #2, ") and "no longer matches the chain" in problems[0]


def test_the_sweep_seals_at_its_interval_only(make_gateway, env) -> None:
    gw = make_gateway(home=Path(env["EDIGATE_HOME"]), **{k: v for k, v in env.items() if k != "EDIGATE_HOME"},
                      EDIGATE_ARCHIVE_SEAL_INTERVAL="1h")
    _files(gw, 1)
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    assert gw.jobs.sweep(t0)["sealed"] == 1
    _files(gw, 1)
    counts = gw.jobs.sweep(t0 + timedelta(minutes=30))
    assert counts["archived"] == 1 and "sealed" not in counts          # the head moved, but within the hour
    assert gw.jobs.sweep(t0 + timedelta(minutes=61))["sealed"] == 1
    assert "sealed" not in gw.jobs.sweep(t0 + timedelta(hours=3))       # nothing new to seal
    with gw.session() as s:
        assert [x.head_seq for x in s.scalars(sa.select(ArchiveSeal).order_by(ArchiveSeal.id))] == [1, 2]


# --- retention ----------------------------------------------------------------------------------------

def test_retention_per_document_type_purge_before_refuses_after_deletes_and_the_chain_says_so(
        make_gateway, env, tmp_path, monkeypatch) -> None:
    policy = tmp_path / "retention.yaml"            # data: invoices 10 years, anything else 1
    policy.write_text("default_years: 1\ntypes:\n  invoice: {years: 10, codes: ['380']}\n")
    monkeypatch.setenv("EDIGATE_ARCHIVE_RETENTION", str(policy))
    gw = make_gateway(home=Path(env["EDIGATE_HOME"]), **{k: v for k, v in env.items() if k != "EDIGATE_HOME"},
                      EDIGATE_ARCHIVE_RETENTION=str(policy))
    seeded = seed_partners(gw)
    doc_id = send(gw, seeded, ACME_1)                    # an invoice (380): 10 years
    (loose,) = _files(gw, 1)                             # no document: 1 year
    catchup.catch_up(gw)
    with gw.session() as s:
        invoice_original = s.get(DocumentRecord, doc_id).exchange.content_sha256

    r = cli("purge", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "0 payload(s) due;" in r.output
    r = cli("purge", "--payload", invoice_original)
    assert r.exit_code == 2
    assert f"payload {invoice_original} must be kept until" in r.output and "invoice: 10 years" in r.output
    assert gw.payloads.exists(invoice_original)

    later = datetime.now(UTC) + timedelta(days=366 * 2)
    plan = purge.purge(gw, now=later, dry_run=True)
    assert [i.sha256 for i in plan.due] == [loose]       # the invoice's payloads stay; the loose file may go
    result = purge.purge(gw, now=later)
    assert [i.sha256 for i in result.deleted] == [loose] and not gw.payloads.exists(loose)
    assert gw.payloads.exists(invoice_original)
    deletion = _entries(gw)[-1]
    original = next(e for e in _entries(gw) if e.sha256 == loose and e.kind == "original")
    assert (deletion.kind, deletion.sha256, deletion.ref_seq, deletion.owner) == \
        ("deletion", loose, original.seq, f"entry:{original.seq}")
    assert deletion.note.startswith("retention of 1 years (no document) ended ")
    report = verify.verify(gw)
    assert report.ok and report.purged == 1, report.problems            # the entry stays, the content went

    much_later = datetime.now(UTC) + timedelta(days=366 * 11)
    result = purge.purge(gw, now=much_later)
    assert invoice_original in {i.sha256 for i in result.deleted}
    assert not gw.payloads.exists(invoice_original)
    assert verify.verify(gw).ok
    assert purge.purge(gw, now=much_later).deleted == []                 # nothing twice


# --- export ----------------------------------------------------------------------------------------------

def _restricted_path(tmp_path: Path) -> Path:
    """A PATH with sh, sha256sum and openssl, and nothing else."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "sha256sum", "openssl"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed by the auditor's script"
        (bindir / tool).symlink_to(found)
    return bindir


def _audit(bundle: Path, bindir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bindir / "sh"), "verify.sh"], cwd=bundle, env={"PATH": str(bindir)},
                          capture_output=True, text=True, timeout=120)


def test_an_export_is_verified_by_its_own_script_with_only_openssl_and_sha256sum(gw, tsa, tmp_path) -> None:
    keys = _files(gw, 3)
    t0 = datetime.now(UTC)
    catchup.catch_up(gw, now=t0)
    sealing.seal(gw, now=t0)
    later = _files(gw, 2)
    catchup.catch_up(gw, now=t0 + timedelta(hours=1))             # archived an hour later: the range below
    sealing.seal(gw, now=t0 + timedelta(hours=1))
    gone = purge.purge(gw, now=datetime.now(UTC) + timedelta(days=366 * 11), only=keys[0])
    assert [i.sha256 for i in gone.deleted] == [keys[0]]
    bundle = tmp_path / "bundle"
    r = CliRunner().invoke(main, ["archive", "export", str(bundle)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (bundle / "payloads").iterdir()) == sorted(keys[1:] + later)
    assert sorted(p.name for p in (bundle / "seals").iterdir()) == ["seal-000001.tsr", "seal-000002.tsr", "seals.tsv"]
    assert (bundle / "README.txt").read_text().startswith("Archive export of edigate")
    carried = x509.load_pem_x509_certificates((bundle / "tsa" / "untrusted.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in carried] == ["CN=edigate test TSA,O=edigate tests"]
    assert (bundle / "tsa" / "anchor.pem").read_bytes() == tsa.ca_pem.read_bytes()

    bindir = _restricted_path(tmp_path)
    ok = _audit(bundle, bindir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok: chain of 6 entries" in ok.stdout and "checked: 4 payload(s)" in ok.stdout
    assert "checked: 2 seal(s)" in ok.stdout and ok.stdout.rstrip().endswith("VERIFIED")
    sums = subprocess.run([str(bindir / "sha256sum"), "-c", "SHA256SUMS"], cwd=bundle, capture_output=True,
                          text=True, env={"PATH": str(bindir)})
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 4

    # one byte of a payload, one field of the chain, one byte of a seal: each named
    altered = tmp_path / "altered-payload"
    shutil.copytree(bundle, altered)
    f = _writable(altered / "payloads" / later[0])
    f.write_bytes(f.read_bytes()[:-1] + b"?")
    out = _audit(altered, bindir)
    assert out.returncode == 1
    assert f"FAIL: payload {later[0]} (entry #4, original of exchange:4) altered" in out.stdout

    altered = tmp_path / "altered-chain"
    shutil.copytree(bundle, altered)
    lines = (altered / "chain.tsv").read_text().splitlines(keepends=True)
    fields = lines[1].split("\t")
    fields[4] = str(int(fields[4]) + 1)                 # entry #2's size
    lines[1] = "\t".join(fields)
    (altered / "chain.tsv").write_text("".join(lines))
    out = _audit(altered, bindir)
    assert out.returncode == 1 and "FAIL: chain: entry #2 altered: its fields hash to" in out.stdout

    altered = tmp_path / "reordered-chain"
    shutil.copytree(bundle, altered)
    lines = (altered / "chain.tsv").read_text().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    (altered / "chain.tsv").write_text("".join(lines))
    out = _audit(altered, bindir)
    assert out.returncode == 1 and "FAIL: chain: entry #3 expected, found #4" in out.stdout

    altered = tmp_path / "altered-seal"
    shutil.copytree(bundle, altered)
    tsr = _writable(altered / "seals" / "seal-000002.tsr")
    data = bytearray(tsr.read_bytes())
    data[-1] ^= 0x01
    tsr.write_bytes(bytes(data))
    out = _audit(altered, bindir)
    assert out.returncode == 1 and "FAIL: seal seal-000002.tsr (entry #5," in out.stdout

    # a range: the payloads archived then, the whole chain and every seal still checkable
    assert cli("export", str(bundle)).exit_code == 2                    # not an empty directory: refused
    part = tmp_path / "part"
    r = cli("export", "--from", (t0 + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"), str(part))
    assert r.exit_code == 0, r.output
    assert (part / "RANGE").read_text().split() == ["4", "6"]           # #6: the deletion, dated by the purge
    assert sorted(p.name for p in (part / "payloads").iterdir()) == sorted(later)
    audited = _audit(part, bindir)
    assert audited.returncode == 0 and "checked: 2 payload(s) of entries #4 to #6" in audited.stdout
