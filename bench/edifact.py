"""EDIFACT throughput and memory on one large INVOIC D14B interchange (run on demand, not a test).

    .venv/bin/python bench/edifact.py [--invoices N] [--translate N] [--repeat N]

Generates an interchange of N INVOIC D14B messages (default 50,000, about
160 MB) in a temporary file, written as it is generated: the CEN example
message EDIFACT_EXAMPLE1.TXT (or, without the shared corpus, our own
``write_document(model, "edifact-d14b")`` output), repeated with a fresh
message reference, invoice number (BGM) and issue date (DTM+137) each time,
in one UNB/UNZ envelope with the right counts, without line breaks (a layout
many senders use; --line-breaks writes a segment per line, which today makes
(a) fail past line 65535: the message tree builder, gateway/formats/edifact/
tree.py, sets each segment's line as an lxml sourceline, a 16-bit field,
and lxml raises OverflowError). Then each measure runs in a
FRESH SUBPROCESS, so the peak RSS it reports (VmHWM) is its own:

  (a) EDIFACT -> UBL translation streamed message by message:
      iter_messages(open file) -> invoic.read_message -> write_document(.., "ubl"),
      output written to /dev/null; the first --translate invoices of the file
      (default 10,000, about 2.5 minutes; 0 = all of them, about 12 minutes)
  (b) our syntax layer alone: iter_messages over the whole file, every
      segment's elements parsed; and the same on pydifact's prefix
  (c) pydifact 0.2.3 (Parser().parse, its segment iterator) over a prefix of
      the same bytes closed with a UNZ (default 5 MB: it tokenises character
      by character, about 1 MB/s; --pydifact-mb 0 for the whole file),
      decoding included, every segment's elements touched
  (d) Factur-X PDF/A-3 generation per invoice beside CII-only writing, on
      20 corpus invoices (models read beforehand)

(b), (c) and (d) run --repeat times (default 3), each time in a new process:
the table shows the median with the range. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.machine import describe  # noqa: E402

from tests.support.corpus import CORPUS, baseline  # noqa: E402

EXAMPLE = CORPUS / "edifact" / "cen-en16931" / "EDIFACT_EXAMPLE1.TXT"
MB = 1_000_000
MIB = 1 << 20


# --------------------------------------------------------------------------- measuring helpers

def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM; ru_maxrss as a fallback), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # KiB on Linux


def rss_mib() -> float:
    """Current resident set size (VmRSS), MiB (0 when /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --------------------------------------------------------------------------- generating

def source_message():
    """(segments of one INVOIC D14B message, separators, syntax level, where it came from)."""
    from gateway.syntaxes.edifact.syntax import read_interchange
    if EXAMPLE.is_file():
        data, origin = EXAMPLE.read_bytes(), f"corpus {EXAMPLE.relative_to(CORPUS)}"
    else:
        from gateway.syntaxes import write_document
        from tests.support.invoice_builder import build_invoice
        data, origin = write_document(build_invoice(), "edifact-d14b").data, \
            "write_document(build_invoice(), 'edifact-d14b') (no shared corpus)"
    ic = read_interchange(data)
    msg = ic.messages[0]
    assert msg.accepted and msg.type == "INVOIC", msg.issues
    return msg.segments, ic.separators, ic.syntax_level, origin


def generate(path: Path, invoices: int, prefix_bytes: int, line_breaks: bool = False) -> dict:
    """Write the interchange to ``path`` message by message; returns its facts (size, counts, prefix)."""
    from gateway.syntaxes.edifact.syntax import LEVELS, Segment
    segments, seps, level, origin = source_message()
    codec = LEVELS[level].codec if level in LEVELS else "utf-8"
    term = seps.segment + ("\n" if line_breaks else "")
    texts = [s.to_text(seps) for s in segments]
    i_bgm = next(i for i, s in enumerate(segments) if s.tag == "BGM")
    i_dtm = next(i for i, s in enumerate(segments) if s.tag == "DTM" and s.get(1) == "137")
    bgm, dtm = segments[i_bgm].copy(), segments[i_dtm].copy()
    body_count = len(segments) - 2                               # between UNH and UNT
    control_ref = "BENCH" + time.strftime("%y%m%d%H%M")
    head = seps.una() + ("\n" if line_breaks else "") + Segment.build(
        "UNB", [level, "4"], ["4000001000005", "14"], ["4000001000012", "14"],
        [time.strftime("%Y%m%d"), time.strftime("%H%M")], control_ref).to_text(seps) + term
    day0 = date(2015, 1, 1)
    size = prefix_end = prefix_count = 0
    t0 = time.perf_counter()
    with open(path, "wb", buffering=1 << 20) as out:
        size += out.write(head.encode(codec))
        for n in range(1, invoices + 1):
            ref = str(n)
            bgm.elements[1] = [f"BENCH{n:08d}"]                    # BT-1, the invoice number
            dtm.elements[0] = ["137", (day0 + timedelta(days=n % 3650)).strftime("%Y%m%d"), "102"]  # BT-2
            parts = texts[:]
            parts[0] = f"UNH{seps.data}{ref}{seps.data}" + texts[0].split(seps.data, 2)[2]
            parts[i_bgm] = bgm.to_text(seps)
            parts[i_dtm] = dtm.to_text(seps)
            parts[-1] = f"UNT{seps.data}{body_count + 2}{seps.data}{ref}"
            size += out.write((term.join(parts) + term).encode(codec))
            if not prefix_end and size >= prefix_bytes:
                prefix_end, prefix_count = size, n
        trailer = f"UNZ{seps.data}{invoices}{seps.data}{control_ref}" + term
        size += out.write(trailer.encode(codec))
    if not prefix_end:
        prefix_end, prefix_count = size - len(trailer.encode(codec)), invoices
    return {"file": str(path), "bytes": size, "invoices": invoices, "segments": invoices * len(segments) + 2,
            "segments_per_message": len(segments), "codec": codec, "level": level, "origin": origin,
            "line_breaks": line_breaks,
            "control_ref": control_ref, "prefix_bytes": prefix_end, "prefix_invoices": prefix_count,
            "prefix_trailer": f"UNZ{seps.data}{prefix_count}{seps.data}{control_ref}{seps.segment}",
            "generate_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- workers (one per subprocess)

def _prefix(facts: dict) -> bytes:
    """The prefix of the file, closed with a UNZ that counts its messages: a complete interchange."""
    with open(facts["file"], "rb") as f:
        return f.read(facts["prefix_bytes"]) + facts["prefix_trailer"].encode("ascii")


def work_translate(facts: dict, limit: int) -> dict:
    from gateway.syntaxes import write_document
    from gateway.syntaxes.edifact import invoic
    from gateway.syntaxes.edifact.syntax import iter_messages

    with open(facts["file"], "rb") as f:                       # warm-up: mappings, grammar, writers
        first = next(iter(iter_messages(f)))
        write_document(invoic.read_message(first).invoice, "ubl")
    base = rss_mib()
    n = written = problems = 0
    checkpoints = []
    limit = limit or facts["invoices"]
    end = 0
    t0 = time.perf_counter()
    with open(facts["file"], "rb") as f, open(os.devnull, "wb") as sink:
        reader = iter_messages(f)
        for message in reader:
            doc = invoic.read_message(message)
            out = write_document(doc.invoice, "ubl")
            written += sink.write(out.data)
            problems += sum(1 for x in doc.findings if x.fatal)
            n += 1
            end = message.end_offset
            if n in (100, limit // 2):
                checkpoints.append((n, peak_rss_mib()))
            if n >= limit:
                break
        accepted = reader.interchange.accepted if n == facts["invoices"] else None
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "invoices": n, "bytes": end, "ubl_bytes": written, "fatal_findings": problems,
            "accepted": accepted, "rss_base": base, "peak_rss": peak_rss_mib(), "checkpoints": checkpoints}


def _our_parse(stream) -> dict:
    from gateway.syntaxes.edifact.syntax import iter_messages
    segments = messages = fields = 0
    reader = iter_messages(stream)
    for message in reader:
        messages += 1
        for seg in message.segments:
            fields += len(seg.elements)
        segments += len(message.segments)
    ic = reader.interchange
    return {"messages": messages, "segments": segments + 2, "elements": fields,   # + UNB, UNZ
            "accepted": ic.accepted, "issues": [str(i) for i in ic.all_issues()[:3]]}


def work_syntax(facts: dict, prefix: bool) -> dict:
    import io
    from gateway.syntaxes.edifact import syntax  # noqa: F401  (import cost outside the timing)
    if prefix:
        data = _prefix(facts)
        base = rss_mib()
        t0 = time.perf_counter()
        out = _our_parse(io.BytesIO(data))
        size = len(data)
    else:
        base = rss_mib()
        t0 = time.perf_counter()
        with open(facts["file"], "rb") as f:
            out = _our_parse(f)
        size = facts["bytes"]
    out.update(seconds=time.perf_counter() - t0, bytes=size, rss_base=base, peak_rss=peak_rss_mib())
    return out


def work_pydifact(facts: dict) -> dict:
    from pydifact.parser import Parser
    data = _prefix(facts)
    base = rss_mib()
    t0 = time.perf_counter()
    text = data.decode(facts["codec"])
    segments = fields = 0
    for seg in Parser().parse(text):
        segments += 1
        fields += len(seg.elements)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "bytes": len(data), "segments": segments, "elements": fields,
            "rss_base": base, "peak_rss": peak_rss_mib()}


def facturx_inputs(count: int = 20) -> tuple[list, str]:
    """Models of ``count`` corpus invoices the baseline marks PASS (CII and UBL alternately)."""
    from gateway.syntaxes import read_document
    entries = sorted(baseline().items())
    picked = {s: [rel for rel, e in entries if e.status == "PASS" and e.syntax == s] for s in ("CII", "UBL")}
    order = [rel for pair in zip(picked["CII"], picked["UBL"]) for rel in pair]
    order += picked["CII"][len(picked["UBL"]):] + picked["UBL"][len(picked["CII"]):]
    models = [read_document((CORPUS / rel).read_bytes()).invoice for rel in order[:count]]
    if models:
        return models, f"{len(models)} corpus invoices (baseline PASS, CII and UBL)"
    from tests.support.invoice_builder import build_invoice
    return [build_invoice() for _ in range(count)], f"{count} x build_invoice() (no shared corpus)"


def work_facturx() -> dict:
    from gateway.syntaxes import write_document
    models, origin = facturx_inputs()
    write_document(models[0], "facturx")                       # warm-up: fonts, templates, XSDs
    write_document(models[0], "cii")
    base = rss_mib()
    times = {}
    for target in ("facturx", "cii"):
        t0 = time.perf_counter()
        size = 0
        for m in models:
            size += len(write_document(m, target).data)
        times[target] = (time.perf_counter() - t0, size)
    return {"invoices": len(models), "origin": origin, "facturx_s": times["facturx"][0],
            "facturx_bytes": times["facturx"][1], "cii_s": times["cii"][0], "cii_bytes": times["cii"][1],
            "rss_base": base, "peak_rss": peak_rss_mib()}


def worker(kind: str, facts_path: str, limit: int) -> int:
    facts = json.loads(Path(facts_path).read_text()) if facts_path else {}
    if kind == "translate":
        out = work_translate(facts, limit)
    elif kind == "syntax":
        out = work_syntax(facts, prefix=False)
    elif kind == "syntax-prefix":
        out = work_syntax(facts, prefix=True)
    elif kind == "pydifact":
        out = work_pydifact(facts)
    elif kind == "facturx":
        out = work_facturx()
    else:
        raise SystemExit(f"unknown worker {kind}")
    print(json.dumps(out))
    return 0


def run_worker(kind: str, facts_path: Path, limit: int = 0) -> dict:
    """One measurement in a fresh interpreter; its JSON result."""
    cmd = [sys.executable, __file__, "--worker", kind, "--facts", str(facts_path), "--translate", str(limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report

def machine() -> str:
    return describe("lxml", "pydifact", "weasyprint", "pypdf", "factur-x")

def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """median, and [min-max] when there are several values."""
    med = statistics.median(values)
    if len(values) < 2:
        return fmt.format(med)
    return fmt.format(med) + " [" + fmt.format(min(values)) + "-" + fmt.format(max(values)) + "]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=50_000, help="INVOIC messages in the interchange (default 50,000)")
    ap.add_argument("--translate", type=int, default=10_000,
                    help="invoices translated in (a), from the start of the file (default 10,000; 0: all)")
    ap.add_argument("--pydifact-mb", type=float, default=5.0,
                    help="prefix of the file pydifact parses, MB (default 5; 0: the whole file)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of (b), (c), (d), each in a new process (default 3)")
    ap.add_argument("--line-breaks", action="store_true",
                    help="a segment per line (default: no line breaks; see the docstring on line 65535)")
    ap.add_argument("--keep", type=Path, help="write the interchange here and keep it (default: a temp file, removed)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--facts", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.facts, args.translate)
    if args.invoices < 1 or args.repeat < 1 or args.translate < 0:
        ap.error("--invoices and --repeat must be at least 1, --translate at least 0")

    try:
        metadata.version("pydifact")
        have_pydifact = True
    except metadata.PackageNotFoundError:
        have_pydifact = False

    tmp = tempfile.TemporaryDirectory(prefix="edigate-bench-")
    try:
        path = args.keep or Path(tmp.name) / "invoic-d14b.edi"
        load_before = _load()
        prefix = int(args.pydifact_mb * MB) if args.pydifact_mb > 0 else 1 << 62
        print(f"generating {args.invoices:,} invoices into {path} ...", file=sys.stderr)
        facts = generate(path, args.invoices, prefix, args.line_breaks)
        facts_path = Path(tmp.name) / "facts.json"
        facts_path.write_text(json.dumps(facts))
        print(f"  {facts['bytes'] / MB:.1f} MB, {facts['segments']:,} segments in {facts['generate_s']:.1f} s",
              file=sys.stderr)

        limit = min(args.translate or args.invoices, args.invoices)
        print(f"(a) translating {limit:,} invoices to UBL ...", file=sys.stderr)
        a = run_worker("translate", facts_path, limit)
        b, bp, c, d = [], [], [], []
        for i in range(args.repeat):
            print(f"run {i + 1}/{args.repeat}: (b) syntax layer, (c) pydifact, (d) Factur-X ...", file=sys.stderr)
            b.append(run_worker("syntax", facts_path))
            bp.append(run_worker("syntax-prefix", facts_path))
            if have_pydifact:
                c.append(run_worker("pydifact", facts_path))
            d.append(run_worker("facturx", facts_path))
    finally:
        tmp.cleanup()

    for r in b + bp:
        assert r["messages"] in (facts["invoices"], facts["prefix_invoices"]) and r["accepted"], r
    assert b[0]["segments"] == facts["segments"], (b[0]["segments"], facts["segments"])
    for r in c:     # the same segments on the prefix (pydifact yields the UNA as a segment too)
        assert r["segments"] in (bp[0]["segments"], bp[0]["segments"] + 1), (r["segments"], bp[0]["segments"])

    def rate(r: dict, key: str = "bytes", unit: float = MB) -> float:
        return r[key] / unit / r["seconds"]

    def med(values: list[float], fmt: str = "{:.1f}") -> str:
        return fmt.format(statistics.median(values))

    def rss(runs: list[dict]) -> str:
        return f"{med([r['peak_rss'] for r in runs], '{:.0f}')} (base {runs[0]['rss_base']:.0f})"

    rows = []      # (measure, input, seconds, invoices/s, MB/s, segments/s, peak RSS): medians, ranges in []
    a_mbs = rate(a)
    a_inv = a["invoices"] / a["seconds"]
    rows.append(("(a) EDIFACT->UBL translate, streamed", f"{a['invoices']:,} inv, {a['bytes'] / MB:.1f} MB",
                 f"{a['seconds']:.1f}", f"{a_inv:.1f}", f"{a_mbs:.2f}",
                 f"{a_inv * facts['segments_per_message']:,.0f}", rss([a])))
    n_full, pn = facts["invoices"], facts["prefix_invoices"]
    for label, runs, n, secs in (("(b) our syntax layer: iter_messages", b, n_full, "{:.1f}"),
                                 ("    the same, on pydifact's input (in memory)", bp, pn, "{:.2f}"),
                                 ("(c) pydifact 0.2.3: Parser().parse", c, pn, "{:.2f}")):
        if runs:
            rows.append((label, f"{n:,} inv, {runs[0]['bytes'] / MB:.1f} MB", med([r["seconds"] for r in runs], secs),
                         spread([n / r["seconds"] for r in runs], "{:,.0f}"),
                         spread([rate(r) for r in runs], "{:.1f}" if rate(runs[0]) >= 3 else "{:.2f}"),
                         med([r["segments"] / r["seconds"] for r in runs], "{:,.0f}"), rss(runs)))
    n_fx = d[0]["invoices"]
    fx_ms = [1000 * r["facturx_s"] / n_fx for r in d]
    cii_ms = [1000 * r["cii_s"] / n_fx for r in d]
    rows.append(("(d) write_document(.., 'facturx')", f"{n_fx} inv", med([r["facturx_s"] for r in d], "{:.2f}"),
                 spread([n_fx / r["facturx_s"] for r in d]), "", "", rss(d)))
    rows.append(("    write_document(.., 'cii') only", f"{n_fx} inv", med([r["cii_s"] for r in d], "{:.3f}"),
                 spread([n_fx / r["cii_s"] for r in d], "{:.0f}"), "", "", "(same process)"))

    print(f"edigate EDIFACT bench: one INVOIC D14B interchange of {facts['invoices']:,} messages, "
          f"{facts['bytes'] / MB:.1f} MB ({facts['bytes'] / MIB:.1f} MiB), {facts['segments']:,} segments, "
          f"{facts['level']}")
    print(f"message: {facts['origin']}, {facts['segments_per_message']} segments, "
          f"fresh UNH/BGM/DTM+137 each; {'a segment per line' if facts['line_breaks'] else 'no line breaks'}; "
          f"generated in {facts['generate_s']:.1f} s")
    print(machine())
    print(f"load average before / after: {load_before} / {_load()} (other processes skew the numbers)")
    print(f"each row: a fresh process, single-threaded; (b) (c) (d): {args.repeat} runs, medians, "
          "[min-max] of the rates; peak RSS = VmHWM of that process, MiB (base: RSS after imports and warm-up)\n")
    head = ("measure", "input", "seconds", "invoices/s", "MB/s", "segments/s", "peak RSS MiB")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*head))
    for r in rows:
        print(fmt.format(*r))

    print("\nratios (of medians)")
    b_mbs = statistics.median(rate(r) for r in b)
    bp_mbs = statistics.median(rate(r) for r in bp)
    if c:
        c_mbs = statistics.median(rate(r) for r in c)
        print(f"  our syntax layer / pydifact, the same {bp[0]['bytes'] / MB:.1f} MB in memory   "
              f"{bp_mbs / c_mbs:6.1f}x faster")
        print(f"  our syntax layer streaming the {facts['bytes'] / MB:.0f} MB file / pydifact   "
              f"{b_mbs / c_mbs:6.1f}x faster")
        print(f"  translation (a) / pydifact parsing alone, MB/s     {a_mbs / c_mbs:6.2f}x "
              "(> 1: translating is faster than pydifact only parsing)")
    else:
        print("  pydifact is not installed: (c) skipped")
    print(f"  translation (a) / syntax layer alone (b), MB/s    {b_mbs / a_mbs:6.1f}x slower "
          f"({100 * a_mbs / b_mbs:.1f}% of the time is parsing)")
    print(f"  Factur-X / CII-only writing, ms per invoice        "
          f"{statistics.median(fx_ms) / statistics.median(cii_ms):6.1f}x ({med(fx_ms, '{:.0f}')} "
          f"[{min(fx_ms):.0f}-{max(fx_ms):.0f}] vs {med(cii_ms, '{:.1f}')} ms)")
    if a["checkpoints"]:
        cps = ", ".join(f"{rss:.0f} MiB after {n:,}" for n, rss in a["checkpoints"])
        print(f"\n(a) peak RSS as it went: {cps}, {a['peak_rss']:.0f} MiB after {a['invoices']:,} invoices "
              f"({a['ubl_bytes'] / MB:.0f} MB of UBL written)")
    if a["invoices"] < facts["invoices"]:
        print(f"(a) translated the first {a['invoices']:,} of {facts['invoices']:,} invoices "
              f"({a['bytes'] / MB:.1f} of {facts['bytes'] / MB:.1f} MB); --translate 0 for all")
    else:
        print(f"(a) whole interchange translated; accepted after UNZ: {a['accepted']}")
    if c and facts["prefix_invoices"] < facts["invoices"]:
        print(f"(c) pydifact parsed a {c[0]['bytes'] / MB:.1f} MB prefix (the first {pn:,} messages and a UNZ), "
              "not the whole file: at its rate the whole file would take "
              f"{facts['bytes'] / MB / statistics.median(rate(r) for r in c) / 60:.1f} min")
    if a["fatal_findings"]:
        print(f"(a) note: {a['fatal_findings']} fatal reading findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
