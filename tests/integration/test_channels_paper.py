"""Paper (gateway/channels/paper.py): pending paper deliveries gathered into one print batch PDF,
checked on the real bytes (page count with pypdf and poppler's pdfinfo, text with pdftotext),
claimed once even by two builders at once, marked printed; the sweep's schedule, a builder that
died, and ``edigate paper``."""
from __future__ import annotations

import io
import shutil
import subprocess
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from pypdf import PdfReader

from gateway.channels import paper
from gateway.config import load_settings
from gateway.db import Delivery, DocumentRecord, Partner, PrintBatch, StatusError, utcnow
from gateway.syntaxes import write_document
from gateway.flow.receive import receive_file
from gateway.runtime import Gateway

from tests.support.invoice_builder import build_invoice

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext") or not shutil.which("pdfinfo"),
                                reason="poppler-utils (pdftotext, pdfinfo) not installed")

ADDRESS_A = {"name": "Alpha SARL", "lines": ["12 rue de la Paix", "Bâtiment B"], "postcode": "75002", "city": "Paris",
             "country": "FR"}
ADDRESS_B = {"name": "Beta GmbH", "lines": ["Hauptstraße 5"], "postcode": "10115", "city": "Berlin", "country": "DE"}


@pytest.fixture
def w(make_gateway, tmp_path):
    gw = make_gateway()
    gw.jobs.send = lambda exchange_id, at=None: None
    return SimpleNamespace(gw=gw, tmp=tmp_path)


def _partner(gw, name, vat, address=None, channel="paper") -> int:
    with gw.session() as s:
        p = Partner(name=name, preferred_channel=channel,
                    channel_settings={"paper": {"address": address}} if address else {})
        p.add_identifier("VAT", vat)
        s.add(p)
        s.flush()
        return p.id


def _send(gw, number, vat, *, lines=1) -> int:
    inv = build_invoice()
    inv.number = number
    inv.buyer.vat_identifier = vat
    for n in range(2, lines + 1):                       # more lines: a longer invoice
        line = build_invoice().lines[0]
        line.identifier = str(n)
        inv.lines.append(line)
    if lines > 1:
        from tests.support.invoice_builder import _refresh_totals
        _refresh_totals(inv)
    ex = receive_file(gw, write_document(inv, "ubl").data, channel="api", filename=f"{number}.xml")
    with gw.session() as s:
        return s.scalar(sa.select(DocumentRecord.id).where(DocumentRecord.exchange_id == ex.id))


def _pdf_text(path, page: int) -> str:
    return subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(path), "-"],
                          capture_output=True, text=True, check=True).stdout


def _pdfinfo_pages(path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[1] for line in out.splitlines() if line.startswith("Pages:")))


def _deliveries(gw) -> list[Delivery]:
    with gw.session() as s:
        rows = s.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        for d in rows:
            _ = d.history, d.document
        return rows


def test_a_print_batch_holds_a_cover_sheet_with_the_address_before_each_invoice(w):
    _partner(w.gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
    _partner(w.gw, "Beta GmbH", "DE987654321", ADDRESS_B)
    doc_a = _send(w.gw, "A-1", "FR12345678901", lines=40)
    doc_b = _send(w.gw, "B-1", "DE987654321")
    assert {(d.channel, d.status, d.print_batch_id) for d in _deliveries(w.gw)} == {("paper", "pending", None)}

    result = paper.build_print_batch(w.gw)
    assert result.failed == [] and result.document_count == 2
    with w.gw.session() as s:
        invoice_pages = {d.document_id: len(PdfReader(io.BytesIO(w.gw.payloads.get(d.rendering.payload_key))).pages)
                         for d in s.scalars(sa.select(Delivery))}
        batch = s.get(PrintBatch, result.batch_id)
        assert (batch.status, batch.document_count, batch.payload_key) == ("ready", 2, result.payload_key)
    assert invoice_pages[doc_a] >= 2                               # a long invoice: several pages
    path = w.tmp / "batch.pdf"
    path.write_bytes(w.gw.payloads.get(result.payload_key))
    expected = 1 + invoice_pages[doc_a] + 1 + invoice_pages[doc_b]
    assert result.page_count == batch.page_count == expected == _pdfinfo_pages(path)

    cover_a, cover_b = _pdf_text(path, 1), _pdf_text(path, 2 + invoice_pages[doc_a])
    for line in ("Alpha SARL", "12 rue de la Paix", "Bâtiment B", "75002 Paris", "Facture A-1",
                 f"{invoice_pages[doc_a]} page(s) après cette page de garde", "Seller AG"):
        assert line in cover_a, (line, cover_a)
    for line in ("Beta GmbH", "Hauptstraße 5", "10115 Berlin", "Invoice B-1", "1 page(s) after this cover sheet"):
        assert line in cover_b, (line, cover_b)
    assert "A-1" in _pdf_text(path, 2) and "B-1" in _pdf_text(path, expected)      # each invoice behind its cover

    a, b = _deliveries(w.gw)
    assert (a.status, a.print_batch_id, b.status, b.print_batch_id) == ("delivered", batch.id, "delivered", batch.id)
    assert a.reason == (f"in print batch {batch.id}, letter 1 of 2 (pages 1-{1 + invoice_pages[doc_a]}), to be posted "
                        "to Alpha SARL, 12 rue de la Paix, Bâtiment B, 75002 Paris, FR")
    assert (a.document.status, a.document.business_status) == ("delivered", "received")
    assert paper.build_print_batch(w.gw).batch_id is None          # nothing left: nothing printed twice

    assert paper.mark_printed(w.gw, batch.id, "alice") == 2
    assert [d.status for d in _deliveries(w.gw)] == ["acknowledged", "acknowledged"]
    with pytest.raises(StatusError, match="already marked printed by alice"):
        paper.mark_printed(w.gw, batch.id, "bob")
    with pytest.raises(LookupError):
        paper.mark_printed(w.gw, 999, "bob")


def test_the_buyers_postal_address_is_used_when_the_partner_has_none(w):
    _partner(w.gw, "Alpha SARL", "FR12345678901")
    inv = build_invoice()
    inv.buyer.postal_address.line1, inv.buyer.postal_address.post_code = "3 quai Voltaire", "75007"
    receive_file(w.gw, write_document(inv, "ubl").data, channel="api", filename="x.xml")
    result = paper.build_print_batch(w.gw)
    path = w.tmp / "b.pdf"
    path.write_bytes(w.gw.payloads.get(result.payload_key))
    cover = _pdf_text(path, 1)
    assert "Buyer SARL" in cover and "3 quai Voltaire" in cover and "75007 Paris" in cover


def test_a_delivery_whose_address_went_away_fails_at_batch_time_and_the_rest_print(w):
    alpha = _partner(w.gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
    _partner(w.gw, "Beta GmbH", "DE987654321", ADDRESS_B)
    _send(w.gw, "A-1", "FR12345678901")
    _send(w.gw, "B-1", "DE987654321")
    with w.gw.session() as s:
        s.get(Partner, alpha).channel_settings = {}           # and the invoice's BG-8 has only a city
    result = paper.build_print_batch(w.gw)
    a, b = _deliveries(w.gw)
    assert result.failed == [a.id] and result.document_count == 1
    assert a.status == "failed" and a.reason.startswith("paper: no postal address")
    assert (b.status, b.print_batch_id) == ("delivered", result.batch_id)


def test_two_builders_at_once_print_each_invoice_once(w):
    _partner(w.gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
    for n in range(6):
        _send(w.gw, f"A-{n}", "FR12345678901")
    results, barrier = [], threading.Barrier(2)

    def build():
        barrier.wait()
        results.append(paper.build_print_batch(w.gw))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r for r in results if r.batch_id is not None]
    assert sum(r.document_count for r in made) == 6
    deliveries = _deliveries(w.gw)
    assert {d.status for d in deliveries} == {"delivered"}
    with w.gw.session() as s:
        batches = s.scalars(sa.select(PrintBatch)).all()
        assert sorted(b.document_count for b in batches) == sorted(r.document_count for r in made)
        for b in batches:           # each batch's PDF holds exactly its own letters
            assert len(PdfReader(io.BytesIO(w.gw.payloads.get(b.payload_key))).pages) == b.page_count == \
                2 * b.document_count
            assert len([d for d in deliveries if d.print_batch_id == b.id]) == b.document_count


def test_the_sweep_builds_a_batch_at_most_every_interval_and_gives_back_a_dead_builders(w):
    _partner(w.gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
    _send(w.gw, "A-1", "FR12345678901")
    t0 = utcnow()
    # a builder claimed it and died before writing the PDF
    with w.gw.session() as s:
        rows = paper.pending(s)
    letters, _ = paper._letters(w.gw, rows, t0)
    paper._claim(w.gw, letters, t0)
    assert paper.build_print_batch(w.gw, t0).batch_id is None      # claimed: not printable again meanwhile
    counts = w.gw.jobs.sweep(t0 + paper.BUILD_LEASE + timedelta(minutes=1))
    assert counts["print_batches_released"] == 1 and counts["print_batch_documents"] == 1
    with w.gw.session() as s:
        (batch,) = s.scalars(sa.select(PrintBatch)).all()       # the dead one removed, a new one made
        assert (batch.status, batch.document_count) == ("ready", 1)
    (d,) = _deliveries(w.gw)
    assert (d.status, d.print_batch_id) == ("delivered", batch.id)
    _send(w.gw, "A-2", "FR12345678901")
    later = t0 + paper.BUILD_LEASE + timedelta(hours=2)
    assert "print_batch_documents" not in w.gw.jobs.sweep(later)    # one a day
    assert w.gw.jobs.sweep(batch.created_at + timedelta(hours=24))["print_batch_documents"] == 1


def test_no_automatic_batch_when_the_interval_is_zero(tmp_path):
    gw = Gateway(load_settings({"EDIGATE_HOME": str(tmp_path), "EDIGATE_PAPER_BATCH_HOURS": "0"}), immediate_jobs=True)
    try:
        _partner(gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
        _send(gw, "A-1", "FR12345678901")
        assert "print_batch_documents" not in gw.jobs.sweep(utcnow())
        assert [d.status for d in _deliveries(gw)] == ["pending"]
    finally:
        gw.close()


def test_edigate_paper_commands(w, monkeypatch):
    from gateway.cli import main
    monkeypatch.setenv("EDIGATE_HOME", str(w.tmp / "home"))
    monkeypatch.delenv("EDIGATE_DATABASE_URL", raising=False)
    _partner(w.gw, "Alpha SARL", "FR12345678901", ADDRESS_A)
    _send(w.gw, "A-1", "FR12345678901")
    run = CliRunner().invoke
    out = w.tmp / "out.pdf"
    r = run(main, ["paper", "batch", "-o", str(out)])
    assert r.exit_code == 0, r.output
    with w.gw.session() as s:
        (batch,) = s.scalars(sa.select(PrintBatch)).all()
        assert out.read_bytes() == w.gw.payloads.get(batch.payload_key)
    assert f"print batch {batch.id}: 1 invoice(s), 2 page(s), written to {out}" in r.output
    r = run(main, ["paper", "batch"])
    assert r.exit_code == 1 and "nothing to print" in r.output
    r = run(main, ["paper", "list", "--json"])
    assert r.exit_code == 0 and '"waiting": 0' in r.output and f'"id": {batch.id}' in r.output
    r = run(main, ["paper", "printed", str(batch.id), "--by", "bob"])
    assert r.exit_code == 0 and "1 delivery(ies) acknowledged" in r.output, r.output
    r = run(main, ["paper", "printed", str(batch.id), "--by", "bob"])
    assert r.exit_code == 2 and "already marked printed by bob" in r.output
    r = run(main, ["paper", "pdf", "77", "-o", str(out)])
    assert r.exit_code == 2 and "no print batch 77" in r.output
    assert [d.status for d in _deliveries(w.gw)] == ["acknowledged"]
