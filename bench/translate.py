"""Translation and validation throughput over the shared corpus (run on demand, not a test).

    .venv/bin/python bench/translate.py [--repeat N]

Every UBL and CII XML file the corpus baseline marks PASS (the official CEN
schematron finds nothing fatal) is measured, single-threaded, in passes over
the whole set; each pass is repeated N times after one untimed warm-up pass,
and the table shows the MEDIAN pass (best pass in brackets). The Peppol BIS
Billing 3.0 rules are measured against OpenPeppol's schematron on every UBL
invoice of the corpus (those the agreement test checks). See bench/README.md.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.machine import describe  # noqa: E402

from lxml import etree  # noqa: E402

from tests.support.corpus import CORPUS, baseline, rel, ubl_invoice, ubl_invoices  # noqa: E402


def files_by_syntax() -> dict[str, list[tuple[str, bytes]]]:
    """{'UBL': [(relative path, bytes)], 'CII': [...]} for the baseline's PASS entries."""
    out: dict[str, list[tuple[str, bytes]]] = {"UBL": [], "CII": []}
    for rel, entry in sorted(baseline().items()):
        if entry.status == "PASS" and entry.syntax in out:   # "CII(pdf:...)" entries are PDFs: left out
            out[entry.syntax].append((rel, (CORPUS / rel).read_bytes()))
    return out


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


def machine() -> str:
    libxml2 = ".".join(map(str, etree.LIBXML_VERSION))
    return describe("lxml", "saxonche") + f" (libxml2 {libxml2})"

def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="timed passes per measure (default 7)")
    args = ap.parse_args()

    if not (CORPUS / "VALIDATION_BASELINE.txt").is_file():
        print(f"bench skipped: the shared corpus is not at {CORPUS} "
              "(VALIDATION_BASELINE.txt missing); nothing to measure.", file=sys.stderr)
        return 0

    from gateway.syntaxes import read_document, write_document
    from gateway.rules import validate
    from gateway.xml import schematron

    files = files_by_syntax()
    load_before = _load()
    other = {"UBL": "cii", "CII": "ubl"}
    rows: list[tuple[str, int, float, float]] = []      # (measure, docs, median s, best s)
    results: dict[tuple[str, str], float] = {}           # (syntax, measure key) -> median s
    compile_s: dict[str, float] = {}
    rulesets: dict[str, str] = {}

    for syntax, docs in files.items():
        if not docs:
            continue
        n = len(docs)
        target = other[syntax]
        models = [read_document(data).invoice for _, data in docs]
        outputs = [write_document(m, target).data for m in models]
        assert all(read_document(o).syntax == target for o in outputs)

        def translate() -> None:
            for _, data in docs:
                write_document(read_document(data).invoice, target)

        def translate_xsd() -> None:
            for _, data in docs:
                write_document(read_document(data).invoice, target, validate=True)

        def read_only() -> None:
            for _, data in docs:
                read_document(data)

        def write_only() -> None:
            for m in models:
                write_document(m, target)

        from gateway import mapping
        from gateway.mapping import compiled, engine

        def interpreted() -> None:       # the same translation through the reference interpreter
            mapping.read, mapping.write = engine.read, engine.write
            try:
                translate()
            finally:
                mapping.read, mapping.write = compiled.read, compiled.write

        def floor() -> None:
            for _, data in docs:
                etree.tostring(etree.fromstring(data))

        def rules() -> None:            # as the pipeline judges a document: by its syntax's binding
            for m in models:
                validate(m, syntax=syntax.lower())

        def rules_unguarded() -> None:
            for m in models:
                validate(m, syntax=syntax.lower(), guards=False)

        t0 = time.perf_counter()
        sch = schematron.cen_ubl() if syntax == "UBL" else schematron.cen_cii()
        compile_s[syntax] = getattr(sch, "compile_seconds", time.perf_counter() - t0)
        rulesets[syntax] = sch.ruleset

        def official() -> None:
            for _, data in docs:
                sch.run(data)

        measures = [
            ("translate", f"(a) {syntax}->{target.upper()} translate: read + write", translate),
            ("interpreted", "    the same through the interpreter (gateway.mapping.engine)", interpreted),
            ("floor", f"(b) lxml floor: fromstring + tostring ({syntax})", floor),
            ("read", f"    read_document only ({syntax})", read_only),
            ("write", f"    write_document only (->{target.upper()})", write_only),
            ("translate_xsd", f"    {syntax}->{target.upper()} + XSD check (what the CLI does)", translate_xsd),
            ("rules", f"(d) our rules: gateway.rules.validate ({syntax} models)", rules),
            ("rules_unguarded", "    the same, every rule run (guards=False)", rules_unguarded),
            ("schematron", f"(c) CEN schematron run ({syntax}, compile excluded)", official),
        ]
        for key, label, fn in measures:
            med, best = timed(fn, args.repeat)
            rows.append((label, n, med, best))
            results[(syntax, key)] = med
            print(f"  measured {label.strip()}: {med:.3f} s", file=sys.stderr)

    peppol_docs = [(rel(p), ubl_invoice(p)) for p in ubl_invoices()]
    peppol_models = [read_document(data).invoice for _, data in peppol_docs]
    peppol_sch = None
    try:
        peppol_sch = schematron.peppol_ubl()
        compile_s["Peppol"] = peppol_sch.compile_seconds
        rulesets["Peppol"] = peppol_sch.ruleset
    except schematron.SchematronNotFoundError as exc:
        print(f"  Peppol schematron not measured: {exc}", file=sys.stderr)
    if peppol_sch is not None and peppol_docs:
        n = len(peppol_docs)

        def peppol_rules() -> None:
            for m in peppol_models:
                validate(m, profile="peppol", rule_sets=("peppol",))

        def peppol_unguarded() -> None:
            for m in peppol_models:
                validate(m, profile="peppol", rule_sets=("peppol",), guards=False)

        def peppol_profile() -> None:
            for m in peppol_models:
                validate(m, profile="peppol")

        def peppol_official() -> None:
            for _, data in peppol_docs:
                peppol_sch.run(data)

        for key, label, fn in [
            ("rules", "(e) our Peppol rules: the peppol rule set (UBL models)", peppol_rules),
            ("rules_unguarded", "    the same, every rule run (guards=False)", peppol_unguarded),
            ("profile", "    profile peppol: EN 16931 + Peppol rule sets", peppol_profile),
            ("schematron", "(f) Peppol schematron run (UBL, compile excluded)", peppol_official),
        ]:
            med, best = timed(fn, args.repeat)
            rows.append((label, n, med, best))
            results[("Peppol", key)] = med
            print(f"  measured {label.strip()}: {med:.3f} s", file=sys.stderr)

    from bench import french        # the French rules against the FNFE-MPE stylesheets (bench/french.py)
    fr_rows, fr_results, fr_compiled = french.measures(timed, args.repeat, lambda s: print(s, file=sys.stderr))
    rows += fr_rows
    results.update(fr_results)
    for name, (seconds, ruleset) in fr_compiled.items():
        compile_s[name], rulesets[name] = seconds, ruleset

    print(f"edigate translation bench: {sum(map(len, files.values()))} corpus files whose baseline is PASS "
          f"({len(files['UBL'])} UBL, {len(files['CII'])} CII)")
    print(machine())
    print(f"Peppol: {len(peppol_docs)} UBL invoices of the corpus (ubl/, fr/ubl/, SBDH payloads of peppol/)")
    print(f"load average before / after: {load_before} / {_load()} (other processes skew the numbers)")
    print(f"each measure: one warm-up pass, then {args.repeat} timed passes over the files; "
          "median pass shown, best pass in brackets; single-threaded\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'docs':>4}  {'pass s':>14}  {'docs/s':>7}  {'ms/doc':>6}")
    for label, n, med, best in rows:
        print(f"{label:<{w}}  {n:>4}  {med:>6.3f} [{best:.3f}]  {n / med:>7.0f}  {1000 * med / n:>6.2f}")

    print("\nratios (of median pass times; > 1 means the first is slower)")
    ratios = []
    for syntax in files:
        if (syntax, "translate") not in results:
            continue
        r = {k: v for (s, k), v in results.items() if s == syntax}
        pair = f"{syntax}->{other[syntax].upper()}"
        ratios += [(f"{pair} translate / lxml floor", r["translate"] / r["floor"]),
                   (f"{pair} interpreter / compiled mappings", r["interpreted"] / r["translate"]),
                   (f"{syntax} schematron / our rules", r["schematron"] / r["rules"]),
                   (f"{syntax} our rules, every rule run / with guards", r["rules_unguarded"] / r["rules"]),
                   (f"{syntax} schematron / {pair} translate", r["schematron"] / r["translate"]),
                   (f"{pair} translate + XSD / translate", r["translate_xsd"] / r["translate"])]
    if ("Peppol", "rules") in results:
        r = {k: v for (s, k), v in results.items() if s == "Peppol"}
        ratios += [("Peppol schematron / our Peppol rules", r["schematron"] / r["rules"]),
                   ("Peppol schematron / our Peppol rules, every rule run", r["schematron"] / r["rules_unguarded"]),
                   ("Peppol schematron / our profile peppol (EN 16931 + Peppol)", r["schematron"] / r["profile"])]
    ratios += french.ratios(results)
    w = max(len(label) for label, _ in ratios)
    for label, value in ratios:
        print(f"  {label:<{w}}  {value:6.1f}x")
    print("\nschematron stylesheet compile (once per process, excluded above):")
    for syntax, seconds in compile_s.items():
        print(f"  {syntax}: {seconds:.2f} s  ({rulesets[syntax]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
