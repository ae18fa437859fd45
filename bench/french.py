"""The French rules (rule set fr) against the FNFE-MPE Flux 2 stylesheets, timed (run on demand, not a test).

    .venv/bin/python bench/french.py [--repeat N]

Every UBL and CII XML file of the corpus the French agreement test checks
(ubl/, cii/, fr/ubl/, fr/cii/) is read into the model once; then, in passes
over the whole set as bench/translate.py does (one untimed warm-up, N timed
passes, the median shown, the best in brackets, single-threaded):

* our ``fr`` rules on the models (the rule set alone, as the stylesheet is
  BR-FR alone), and the ``fr`` profile (EN 16931 + BR-FR);
* the official stylesheet of each file's syntax (BR-FR-Flux2-Schematron-UBL
  or -CII.xslt through saxonche, compile excluded, reported apart).

bench/translate.py runs the same measures (``measures``) in its table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.corpus import CORPUS, rel  # noqa: E402
from tests.support.fr_schematron import FNFE_DIR, stylesheet  # noqa: E402

Timer = Callable[[Callable[[], None], int], tuple[float, float]]


def documents() -> list[tuple[str, str, bytes]]:
    """(relative path, syntax, bytes) of the corpus files the French agreement test checks."""
    out = []
    for top, syntax in (("ubl", "UBL"), ("fr/ubl", "UBL"), ("cii", "CII"), ("fr/cii", "CII")):
        for p in sorted((CORPUS / top).rglob("*.xml")) if (CORPUS / top).is_dir() else ():
            out.append((rel(p), syntax, p.read_bytes()))
    return out


def measures(timer: Timer, repeat: int, log: Callable[[str], None] = lambda s: None) -> tuple[list, dict, dict]:
    """(rows, results, compile seconds): rows of (label, docs, median s, best s) in bench/translate.py's
    table; results {("FR", key): median s}; {"FR UBL"/"FR CII": (compile s, rule set)}. Empty without the
    corpus or the stylesheets."""
    from gateway.rules import load_rule_set, validate
    from gateway.syntaxes import read_document
    if not FNFE_DIR.is_dir():
        log(f"  French stylesheets not measured: not found at {FNFE_DIR}")
        return [], {}, {}
    sheets = {s: stylesheet(s) for s in ("UBL", "CII")}
    compiled = {f"FR {s}": (sh.compile_seconds, sh.ruleset) for s, sh in sheets.items()}
    docs, models = [], []
    for path, syntax, data in documents():
        try:
            sheets[syntax].run(data)                   # a document the stylesheet stops on is left out
            models.append(read_document(data).invoice)
        except Exception:  # noqa: BLE001 - unreadable, or the stylesheet's type error
            continue
        docs.append((path, syntax, data))
    rules = list(load_rule_set("fr").values())

    def ours() -> None:
        for m in models:
            for r in rules:
                r.run(m)

    def profile() -> None:
        for m in models:
            validate(m, profile="fr")

    def official() -> None:
        for _, syntax, data in docs:
            sheets[syntax].run(data)

    rows, results = [], {}
    for key, label, fn in [
        ("rules", "(g) our French rules: the fr rule set (UBL and CII models)", ours),
        ("profile", "    profile fr: EN 16931 + BR-FR rule sets", profile),
        ("schematron", "(h) FNFE-MPE Flux 2 stylesheets run (compile excluded)", official),
    ]:
        med, best = timer(fn, repeat)
        rows.append((label, len(docs), med, best))
        results[("FR", key)] = med
        log(f"  measured {label.strip()}: {med:.3f} s")
    return rows, results, compiled


def ratios(results: dict) -> list[tuple[str, float]]:
    if ("FR", "rules") not in results:
        return []
    r = {k: v for (s, k), v in results.items() if s == "FR"}
    return [("French stylesheets / our fr rules", r["schematron"] / r["rules"]),
            ("French stylesheets / our profile fr (EN 16931 + BR-FR)", r["schematron"] / r["profile"])]


def main() -> int:
    from bench.translate import _load, machine, timed
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="timed passes per measure (default 7)")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        print(f"bench skipped: the shared corpus is not at {CORPUS}", file=sys.stderr)
        return 0
    load_before = _load()
    t0 = time.perf_counter()
    rows, results, compiled = measures(timed, args.repeat, lambda s: print(s, file=sys.stderr))
    if not rows:
        return 0
    print(f"edigate French rules bench: {rows[0][1]} UBL and CII corpus files (ubl/, cii/, fr/ubl/, fr/cii/)")
    print(machine())
    print(f"load average before / after: {load_before} / {_load()} (other processes skew the numbers)")
    print(f"each measure: one warm-up pass, then {args.repeat} timed passes; median pass shown, best in brackets; "
          f"single-threaded; {time.perf_counter() - t0:.0f} s in all\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'docs':>4}  {'pass s':>14}  {'docs/s':>7}  {'ms/doc':>6}")
    for label, n, med, best in rows:
        print(f"{label:<{w}}  {n:>4}  {med:>6.3f} [{best:.3f}]  {n / med:>7.0f}  {1000 * med / n:>6.2f}")
    print("\nratios (of median pass times; > 1 means the first is slower)")
    for label, value in ratios(results):
        print(f"  {label}  {value:6.1f}x")
    print("\nstylesheet compile (once per process, excluded above):")
    for name, (seconds, ruleset) in compiled.items():
        print(f"  {name}: {seconds:.2f} s  ({ruleset})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
