"""The human-readable PDF is bounded: long tokens broken, text cut, lines, pages, time and memory capped.

WeasyPrint breaks one long unbroken word in time quadratic in its length (a
60,000-character item name took minutes), and a large invoice takes seconds
per hundred lines and megabytes per line. ``gateway/formats/render.py`` shows
every value cut and breakable, refuses what is beyond its caps with a
``RenderError`` naming the cap, and lays the page out in a rendering process it
kills at the time cap and whose memory is capped; the callers (``edigate
translate --to facturx``, e-mail delivery, downloads) turn a refusal into a
clean error. The slow cases run as subprocesses with a generous timeout, so
that a renderer that stalls fails the test instead of hanging the suite;
nothing here asserts a duration.
"""
from __future__ import annotations

import copy
import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.model.errors import RenderError
from gateway.syntaxes import read_document, write_document
from gateway.syntaxes import render
from gateway.syntaxes.render import RenderLimits, ZWSP, format_amount, printable, render_html, render_pdf
from gateway.model.invoice import InvoiceNote

from tests.support.invoice_builder import build_invoice

REPO = Path(__file__).resolve().parents[2]
GUARD = 300          # seconds: only a renderer that stalls gets near this


def _edigate(*args: str, timeout: int = GUARD) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("edigate")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from gateway.cli import main; main()"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def _with_lines(n: int, name=lambda i: f"Widget {i}"):
    """build_invoice() with ``n`` lines of 100.00, the totals adding up."""
    inv = build_invoice()
    line = inv.lines[0]
    inv.lines = []
    for i in range(n):
        x = copy.deepcopy(line)
        x.identifier, x.item.name = str(i + 1), name(i)
        inv.lines.append(x)
    net = Decimal("100.00") * n
    vat = (net * Decimal("0.19")).quantize(Decimal("0.01"))
    inv.vat_breakdown[0].taxable_amount, inv.vat_breakdown[0].tax_amount = net, vat
    t = inv.totals
    t.sum_of_line_net_amounts = t.total_without_vat = net
    t.total_vat, t.total_with_vat, t.amount_due = vat, net + vat, net + vat
    return inv


def _pdf_text(pdf: bytes) -> str:
    """The PDF's text, lines joined with spaces (a long value wraps over many lines)."""
    from pypdf import PdfReader
    return " ".join(" ".join((page.extract_text() or "").splitlines()) for page in PdfReader(io.BytesIO(pdf)).pages)


# --- what the page shows ---------------------------------------------------------------------------

def test_long_runs_get_break_opportunities_and_long_values_are_cut_with_a_note():
    assert printable("seller@example.com", 2000) == "seller@example.com"[:16] + ZWSP + "om"
    assert printable("short words stay as they are", 2000) == "short words stay as they are"
    shown = printable("x" * 60_000, 2000, lang="fr")
    assert shown.replace(ZWSP, "").startswith("x" * 2000 + "… [58\u202f000 caractères de plus dans le XML joint]")
    assert max(len(run) for run in shown.replace(" ", ZWSP).split(ZWSP)) <= render.BREAK_EVERY


def test_every_value_of_the_page_is_bounded_even_inside_macros():
    inv = build_invoice()
    inv.seller.postal_address.line1 = "Z" * 5000            # printed by the address() macro
    inv.seller.name = "S" * 5000                            # also in the footer, on every page
    html = render_html(inv, "en")
    assert "Z" * (render.BREAK_EVERY + 1) not in html and "S" * (render.BREAK_EVERY + 1) not in html
    assert html.count("3,000 more characters in the embedded XML") == 4     # name twice, address, meta author


def test_a_huge_number_is_shown_as_it_is_not_expanded():
    assert format_amount(Decimal("1E+50000"), "en") == "1E+50000"
    assert format_amount(Decimal("1E-50000"), "fr") == "1E-50000"
    assert format_amount(Decimal("1234.5"), "en") == "1,234.50"


# --- the caps, each refused with its name ---------------------------------------------------------

def test_more_lines_than_the_cap_are_refused_before_any_layout():
    with pytest.raises(RenderError, match="has 3 lines; its human-readable PDF shows at most 2") as e:
        render_pdf(_with_lines(3), lang="en", limits=RenderLimits(max_lines=2))
    assert e.value.limit == "lines"


def test_more_text_than_the_cap_is_refused():
    inv = build_invoice()
    inv.notes = [InvoiceNote(note="n") for _ in range(100_000)]     # each a paragraph to lay out
    with pytest.raises(RenderError, match="more than 500,000 characters") as e:
        render_html(inv, "en")
    assert e.value.limit == "text"


@pytest.mark.parametrize("engine", render.ENGINES)
def test_more_pages_than_the_cap_are_refused(engine):
    with pytest.raises(RenderError, match=r"would have \d+ pages, more than the 1 accepted") as e:
        render_pdf(_with_lines(60), lang="en", limits=RenderLimits(max_pages=1), engine=engine)
    assert e.value.limit == "pages"


# the drawn engine lays 1,000 lines out in about a second on a shared 2-core VM, WeasyPrint in minutes:
# each gets a cap far below what it needs
@pytest.mark.parametrize("engine, cap", [("drawn", 0.02), ("weasyprint", 0.5)])
def test_a_rendering_beyond_the_time_cap_is_stopped_and_the_next_one_works(engine, cap):
    with pytest.raises(RenderError, match=rf"took more than {cap:g} s \(EDIGATE_RENDER_TIMEOUT\)") as e:
        render_pdf(_with_lines(1000), lang="en", limits=RenderLimits(timeout=cap), engine=engine)
    assert e.value.limit == "time"
    assert read_document(write_document(build_invoice(), "facturx").data).invoice.number == "INV-2024-001"


def test_a_rendering_beyond_the_memory_cap_is_refused_and_the_next_one_works():
    # WeasyPrint lays out in a process of its own under an address-space cap
    with pytest.raises(RenderError, match=r"memory cap of 220 MiB") as e:
        render_pdf(_with_lines(1000), lang="en", limits=RenderLimits(max_memory=220 << 20), engine="weasyprint")
    assert e.value.limit == "memory"
    assert read_document(write_document(build_invoice(), "facturx").data).invoice.number == "INV-2024-001"


def test_the_drawn_engine_holds_little_memory_for_the_largest_invoice_it_accepts():
    """The drawn engine runs in process: what it holds grows with the (capped) text, not more.
    1,000 lines (the cap) take ~10 MB at the peak; 64 MB would mean something grew out of bounds."""
    import tracemalloc
    inv = _with_lines(1000)
    render_pdf(build_invoice(), lang="en", engine="drawn")           # fonts loaded before measuring
    tracemalloc.start()
    try:
        pdf = render_pdf(inv, lang="en", engine="drawn")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "Widget 999" in _pdf_text(pdf)                           # the last line
    assert peak < 64 << 20, f"{peak:,} bytes held at the peak"


def test_the_caps_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EDIGATE_RENDER_TIMEOUT", "12.5")
    monkeypatch.setenv("EDIGATE_RENDER_MAX_MEMORY", "512")
    monkeypatch.setenv("EDIGATE_RENDER_MAX_LINES", "7")
    monkeypatch.setenv("EDIGATE_RENDER_MAX_PAGES", "nonsense")         # unusable: the default
    limits = RenderLimits.from_env()
    assert (limits.timeout, limits.max_memory, limits.max_lines, limits.max_pages) == (12.5, 512 << 20, 7, 200)


# --- the cases that stalled, end to end through the CLI --------------------------------------------

def test_a_60000_character_item_name_becomes_a_factur_x_whose_xml_keeps_it_whole(tmp_path):
    inv = build_invoice()
    inv.lines[0].item.name = "A" * 60_000
    src, out = tmp_path / "long.xml", tmp_path / "long.pdf"
    src.write_bytes(write_document(inv, "ubl").data)
    r = _edigate("translate", str(src), "--to", "facturx", "-o", str(out))
    assert r.returncode == 0, r.stderr
    pdf = out.read_bytes()
    assert read_document(pdf).invoice.lines[0].item.name == "A" * 60_000
    text = _pdf_text(pdf)
    assert "58\u202f000 caractères de plus dans le XML joint" in text         # buyer in France
    assert "A" * 2001 not in text.replace(" ", "").replace(ZWSP, "")


def test_a_900_kb_csv_of_long_fields_becomes_a_factur_x(tmp_path):
    inv = _with_lines(9, name=lambda i: chr(ord("A") + i) * 99_000)   # under the CSV's field limit
    src, out = tmp_path / "export.csv", tmp_path / "export.pdf"
    src.write_bytes(write_document(inv, "csv-lines").data)
    assert src.stat().st_size > 890_000
    r = _edigate("translate", str(src), "--to", "facturx", "-o", str(out))
    assert r.returncode == 0, r.stderr
    back = read_document(out.read_bytes()).invoice
    assert [line.item.name for line in back.lines] == [line.item.name for line in inv.lines]


def test_a_csv_with_more_lines_than_the_cap_is_refused_cleanly(tmp_path):
    src, out = tmp_path / "export.csv", tmp_path / "export.pdf"
    src.write_bytes(write_document(_with_lines(1001), "csv-lines").data)
    r = _edigate("translate", str(src), "--to", "facturx", "-o", str(out))
    assert r.returncode == 1, r.stderr
    assert "cannot write facturx: the invoice has 1,001 lines; its human-readable PDF shows at most 1,000 " \
           "(EDIGATE_RENDER_MAX_LINES)" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


# --- the gateway's callers ---------------------------------------------------------------------------

def test_an_email_delivery_whose_pdf_is_refused_fails_naming_the_cap_and_mails_nothing(tmp_path, smtp_server,
                                                                                     monkeypatch):
    from tests.integration.test_channels import _doc, _gateway, _partner, _receive
    monkeypatch.setenv("EDIGATE_RENDER_MAX_LINES", "2")
    w = _gateway(tmp_path, smtp_server)
    try:
        _partner(w.gw, channel="email", settings={"email": {"to": ["ap@buyer.example"], "attach": "facturx+ubl"}})
        (d,) = _doc(w.gw, _receive(w.gw, _with_lines(3))).deliveries
        assert (d.channel, d.status) == ("email", "failed")
        assert "cannot write facturx" in d.reason and "(EDIGATE_RENDER_MAX_LINES)" in d.reason
        assert w.prompts == [] and smtp_server.messages == []
    finally:
        w.gw.close()


def test_a_download_whose_pdf_is_refused_cannot_be_rendered_and_keeps_nothing(tmp_path, smtp_server, monkeypatch):
    from gateway.flow.renderings import CannotRender, rendering_for
    from tests.integration.test_channels import _doc, _gateway, _partner, _receive
    w = _gateway(tmp_path, smtp_server)
    try:
        _partner(w.gw, channel="erp", fmt="ubl")
        doc = _doc(w.gw, _receive(w.gw, _with_lines(3)))
        monkeypatch.setenv("EDIGATE_RENDER_MAX_LINES", "2")
        with pytest.raises(CannotRender, match=r"the facturx cannot be written: the invoice has 3 lines"):
            rendering_for(w.gw, doc.id, "facturx")
        assert [r.syntax for r in _doc(w.gw, doc.exchange_id).renderings] == ["ubl"]
        monkeypatch.delenv("EDIGATE_RENDER_MAX_LINES")
        assert rendering_for(w.gw, doc.id, "facturx").syntax == "facturx"
    finally:
        w.gw.close()


def test_a_paper_cover_sheet_shows_long_values_cut_and_is_laid_out_within_the_caps(monkeypatch):
    from gateway.channels.paper import _Letter, cover_sheet
    from gateway.channels import PostalAddress
    inv = build_invoice()
    inv.seller.name = "Seller " * 20_000                       # 140,000 characters, on the cover twice
    address = PostalAddress("Buyer SARL", ("B" * 50_000,), "75001", "Paris", "FR")     # as BG-8 gives it
    letter = _Letter(1, address, inv, b"", 1)
    text = _pdf_text(cover_sheet(letter, batch=1, index=1, count=1))
    assert "caractères de plus dans le XML joint" in text and "Paris" in text
    assert "B" * 201 not in text.replace(" ", "").replace(ZWSP, "")
    monkeypatch.setenv("EDIGATE_RENDER_TIMEOUT", "0.01")          # the cover goes through the same caps
    with pytest.raises(RenderError) as e:
        cover_sheet(letter, batch=1, index=1, count=1)
    assert e.value.limit == "time"
