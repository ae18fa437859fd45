"""Factur-X PDF/A-3 rendering per invoice: the drawn page against WeasyPrint (run on demand, not a test).

    .venv/bin/python bench/render.py [--repeat N] [--reference-repeat M] [--profile]

Every UBL and CII XML file the corpus baseline marks PASS is read into the
model once; each measure is a pass writing all of them, single-threaded, after
one untimed warm-up pass (fonts, templates, the rendering process). The table
shows ms per invoice of the median pass (best in brackets): ``facturx.write``
with each engine, and its parts: the CII XML (mapping + profile XSD, the same
for both, not rendering), the HTML page (Jinja2, the same for both), the
layout and the PDF. ``--profile`` adds a cProfile of one drawn pass. See
bench/README.md.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.machine import describe  # noqa: E402

from tests.support.corpus import CORPUS, baseline  # noqa: E402


def timed(fn: Callable[[], None], repeat: int) -> tuple[float, float]:
    """(median, best) seconds of ``repeat`` calls of ``fn``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


COLD = """
import time; t0 = time.perf_counter()
from gateway.syntaxes import facturx, read_document
inv = read_document(open({path!r}, 'rb').read()).invoice
t1 = time.perf_counter(); facturx.write(inv, engine="drawn"); t2 = time.perf_counter()
facturx.write(inv, engine="drawn"); t3 = time.perf_counter()
print(f"{{(t2 - t1) * 1000:.1f}} {{(t3 - t2) * 1000:.1f}}")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timed passes of the drawn measures (default 5)")
    ap.add_argument("--reference-repeat", type=int, default=1, help="timed passes with WeasyPrint (default 1)")
    ap.add_argument("--profile", action="store_true", help="profile one drawn pass (cProfile)")
    args = ap.parse_args()
    if not (CORPUS / "VALIDATION_BASELINE.txt").is_file():
        print(f"bench skipped: the shared corpus is not at {CORPUS}; nothing to measure.", file=sys.stderr)
        return 0
    import facturx as fxlib
    from gateway.syntaxes import facturx, pdf_layout, read_document, render
    from gateway.syntaxes.pdf_writer import Attachment
    from gateway.xml import safe

    models = []
    for rel, entry in sorted(baseline().items()):
        if entry.status == "PASS" and entry.syntax in ("UBL", "CII"):
            models.append(read_document((CORPUS / rel).read_bytes()).invoice)
    langs = [render.choose_lang(inv) for inv in models]
    n = len(models)
    print(describe("weasyprint", "factur-x", "pypdf", "fonttools", "Jinja2", "lxml"))
    print(f"load average before: {_load()} (other processes skew the numbers)\n")
    print(f"Factur-X PDF/A-3b per invoice: {n} corpus invoices (baseline PASS, UBL and CII), "
          f"{sum(len(i.lines) for i in models)} lines in all, single-threaded")

    xmls = {}

    def xml_part() -> None:
        for i, inv in enumerate(models):
            x = facturx._choose(inv, None)
            facturx._xsd_errors(x.level, x.root)
            xmls[i] = (x, safe.serialize(x.root))

    htmls: list[str] = []

    def html_part() -> None:
        htmls[:] = [render.render_html(inv, lang) for inv, lang in zip(models, langs)]

    laid: list = []

    def layout_part() -> None:
        laid[:] = [pdf_layout.layout(h) for h in htmls]

    def pdf_part() -> None:
        for i, one in enumerate(laid):
            one.document.write(one.metadata, [Attachment("factur-x.xml", xmls[i][1], "text/xml", "Data")])

    weasy_pdfs: list[bytes] = []

    def weasy_layout_part() -> None:
        weasy_pdfs[:] = [render.html_to_pdf(h, variant="pdf/a-3b") for h in htmls]

    def combine_part() -> None:
        for i, base in enumerate(weasy_pdfs):
            x, data = xmls[i]
            out = fxlib.generate_from_binary(base, data, flavor="factur-x", level=facturx.PROFILES[x.level].package_level,
                                             check_xsd=False, pdf_metadata=facturx._pdf_metadata(models[i], langs[i]),
                                             afrelationship="data", xmp_compression=False)
            facturx._align_info_with_xmp(out)

    pages: list[int] = []

    def write_drawn() -> None:
        pages[:] = []
        for inv in models:
            pdf = facturx.write(inv, engine="drawn").data
            pages.append(pdf.count(b"/Type /Page "))

    def write_reference() -> None:
        for inv in models:
            facturx.write(inv, engine="weasyprint")

    rows = []
    print("measuring (progress on stderr) ...", file=sys.stderr)
    for label, fn, repeat in (
            ("facturx.write, drawn (default)", write_drawn, args.repeat),
            ("facturx.write, WeasyPrint + factur-x (reference)", write_reference, args.reference_repeat),
            ("  CII XML: mapping + profile XSD (both; not rendering)", xml_part, args.repeat),
            ("  HTML page: Jinja2 (both)", html_part, args.repeat),
            ("  drawn: layout (pdf_layout)", layout_part, args.repeat),
            ("  drawn: PDF/A-3b written, XML attached (pdf_writer)", pdf_part, args.repeat),
            ("  reference: WeasyPrint layout + PDF (rendering process)", weasy_layout_part, args.reference_repeat),
            ("  reference: factur-x combine + Info/XMP alignment (pypdf)", combine_part, args.reference_repeat)):
        print(f"  {label.strip()}", file=sys.stderr)
        median, best = timed(fn, repeat)
        rows.append((label, median / n * 1000, best / n * 1000, repeat))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  ms/invoice  (best)  passes")
    for label, med, best, repeat in rows:
        print(f"{label:<{width}}  {med:10.2f}  ({best:.2f})  {repeat}")
    by = {r[0].strip(): r[1] for r in rows}
    drawn_total, ref_total = by["facturx.write, drawn (default)"], by["facturx.write, WeasyPrint + factur-x (reference)"]
    xml = by["CII XML: mapping + profile XSD (both; not rendering)"]
    drawn_render = drawn_total - xml
    ref_render = ref_total - xml
    print(f"\nrendering alone (write minus the CII XML): drawn {drawn_render:.2f} ms/invoice, "
          f"reference {ref_render:.2f} ms/invoice")
    print(f"ratio reference / drawn: {ref_total / drawn_total:.1f}x for facturx.write, "
          f"{ref_render / drawn_render:.1f}x for the rendering alone")
    print(f"pages per invoice (drawn): {min(pages)}-{max(pages)}, {sum(pages)} in all")
    slowest = []
    for inv in models:
        t0 = time.perf_counter()
        facturx.write(inv, engine="drawn")
        slowest.append((time.perf_counter() - t0) * 1000)
    print(f"drawn facturx.write per invoice: median {statistics.median(slowest):.1f} ms, "
          f"slowest {max(slowest):.1f} ms")
    first = next(rel for rel, e in sorted(baseline().items()) if e.status == "PASS" and e.syntax == "UBL")
    cold = subprocess.run([sys.executable, "-c", COLD.format(path=str(CORPUS / first))], capture_output=True,
                          text=True, cwd=REPO, timeout=300)
    if cold.returncode == 0:
        a, b = cold.stdout.split()
        print(f"a fresh process: first drawn facturx.write {a} ms (fonts read, templates and mappings compiled), "
              f"the second {b} ms")
    print(f"load average after: {_load()}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        write_drawn()
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(
            r"gateway/syntaxes/(facturx|render|pdf_layout|pdf_writer|pdf_fonts)|mapping|jinja2/environment", 30)
        print("\ncProfile of one drawn pass (cumulative, our modules):")
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
