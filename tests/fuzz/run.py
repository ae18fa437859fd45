"""``make fuzz``: the long coverage-guided run over every readable syntax, and its report.

    python tests/fuzz/run.py --runs 1000000 --out fuzz-report

Seeds come from the shared corpus (``seeds.corpus_seeds``; Factur-X: the XML
each PDF carries, plus a few small PDFs). The runs are shared out equally
between EDIFACT, UBL, CII, CSV and Factur-X and done in rounds of at most
``--round`` inputs per syntax, one atheris process at a time
(``harness.py``: single process, no -fork/-jobs), each round going on from the
corpus the earlier ones grew. A process that ends early (a phase over
``--phase-seconds``: a hang; more than ``--rss-mb`` resident: a memory blow-up)
is recorded with its input and a new one takes over the remaining runs.

The report (``OUT/report.json`` and ``OUT/report.txt``, rewritten after every
round) gives per syntax: inputs tried, read, clean refusals (and the most
frequent kinds), invoices validated and written, PDF layouts, rendering
refusals, crashes (new and known, one entry per signature with its saved
inputs under ``OUT/crashes``), hangs and memory blow-ups (inputs under
``OUT/hangs`` and ``OUT/memory``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fuzz.oracle import SYNTAXES  # noqa: E402

HARNESS = Path(__file__).with_name("harness.py")
MAX_LEN = 32768           # bytes: above every corpus seed but one 34 KB CII (taken truncated)
COUNTS = ("inputs", "read", "refused", "documents", "validated", "written", "laid_out", "render_refused",
          "write_refused", "crashes", "known_crashes", "memory")


def prepare_seeds(corpus: Path, out: Path) -> dict[str, int]:
    """OUT/seeds/<syntax>/: the corpus seeds as files (what libFuzzer starts from)."""
    from tests.fuzz.seeds import corpus_seeds, embed, embedded_xml
    seeds = corpus_seeds(corpus)
    made = {}
    for syntax in SYNTAXES:
        folder = out / "seeds" / syntax
        if folder.is_dir():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        items = seeds[syntax]
        if syntax == "facturx":
            xmls = [(name, embedded_xml(pdf)) for name, pdf in items]
            xmls = [(name, xml) for name, xml in xmls if xml]
            smallest = sorted(xmls, key=lambda item: len(item[1]))[:5]
            items = xmls + [(f"{name} in a pdf", embed(xml)) for name, xml in smallest]
        for i, (_, data) in enumerate(items):
            (folder / f"seed-{i:04d}").write_bytes(data[:MAX_LEN])
        made[syntax] = len(items)
        (out / "corpus" / syntax).mkdir(parents=True, exist_ok=True)
    return made


class Totals:
    """Everything the rounds found, per syntax."""

    def __init__(self, out: Path):
        self.out = out
        self.syntax: dict[str, dict[str, Any]] = {
            s: {"counts": dict.fromkeys(COUNTS, 0), "refusals": {}, "render_limits": {}, "crashes": {},
                "hangs": [], "memory_blowups": [], "harness_deaths": [], "seconds": 0.0, "processes": 0}
            for s in SYNTAXES}
        self.started = time.time()

    def resume(self) -> int:
        """Fold in every process OUT/state holds and the early ends the last report listed;
        the number of the last process."""
        previous = self.out / "report.json"
        if previous.is_file():
            for syntax, old in json.loads(previous.read_text(encoding="utf-8"))["syntaxes"].items():
                if syntax in self.syntax:
                    for key in ("hangs", "memory_blowups", "harness_deaths"):
                        self.syntax[syntax][key] = old.get(key, [])
                        self.syntax[syntax]["counts"]["inputs"] += len(old.get(key, []))
        last = 0
        for state in sorted((self.out / "state").glob("*-*")):
            number, syntax = state.name.split("-", 1)
            if syntax in self.syntax:
                self.add_stats(syntax, state)
                last = max(last, int(number))
        return last

    def add_stats(self, syntax: str, state: Path) -> int:
        """Fold a finished process's stats.json in; how many inputs it tried."""
        path = state / "stats.json"
        if not path.is_file():
            return 0
        stats = json.loads(path.read_text(encoding="utf-8"))
        t = self.syntax[syntax]
        t["processes"] += 1
        t["seconds"] += stats["seconds"]
        for k in COUNTS:
            t["counts"][k] += stats["counts"].get(k, 0)
        for key, n in stats["refusals"].items():
            t["refusals"][key] = t["refusals"].get(key, 0) + n
        for key, n in stats["render_limits"].items():
            t["render_limits"][key] = t["render_limits"].get(key, 0) + n
        for crash in stats["crashes"]:
            entry = t["crashes"].setdefault(crash["signature"], {**crash, "count": 0, "inputs": []})
            entry["count"] += crash["count"]
            for rel in crash["inputs"]:
                if len(entry["inputs"]) < 5:
                    dest = self.out / "crashes" / Path(rel).name
                    dest.parent.mkdir(exist_ok=True)
                    for suffix in (".bin", ".txt"):
                        src = (state / rel).with_suffix(suffix)
                        if src.is_file():
                            shutil.copyfile(src, dest.with_suffix(suffix))
                    entry["inputs"].append(f"crashes/{dest.name}")
        return stats["counts"]["inputs"]

    def add_death(self, syntax: str, kind: str, state: Path, log_tail: str) -> None:
        """A process that ended early: keep its last input, phase and the end of its log."""
        data = (state / "current.bin").read_bytes() if (state / "current.bin").is_file() else b""
        phase = (state / "current.phase").read_text().strip() if (state / "current.phase").is_file() else "?"
        folder = {"hang": "hangs", "memory": "memory"}.get(kind, "deaths")
        name = f"{syntax}-{hashlib.sha1(data).hexdigest()[:16]}"
        (self.out / folder).mkdir(exist_ok=True)
        (self.out / folder / f"{name}.bin").write_bytes(data)
        (self.out / folder / f"{name}.txt").write_text(f"{kind} in phase {phase}\n\n{log_tail}", encoding="utf-8")
        key = {"hang": "hangs", "memory": "memory_blowups"}.get(kind, "harness_deaths")
        self.syntax[syntax][key].append({"phase": phase, "input": f"{folder}/{name}.bin", "size": len(data)})
        self.syntax[syntax]["counts"]["inputs"] += 1      # the input it died on was tried too

    def report(self, planned: int, settings: dict, running: Optional[tuple[str, Path]] = None) -> dict:
        """Write OUT/report.json and report.txt; ``running``: (syntax, state) of a process still at
        work, whose counts so far are included."""
        if running is not None and (running[1] / "stats.json").is_file():
            saved = json.loads(json.dumps(self.syntax[running[0]]))
            self.add_stats(*running)
            try:
                return self.report(planned, settings)
            finally:
                self.syntax[running[0]] = saved
        total = {k: sum(t["counts"][k] for t in self.syntax.values()) for k in COUNTS}
        summary = {
            "planned_inputs": planned, "settings": settings, "elapsed_seconds": round(time.time() - self.started),
            "total": {**total, "new_crash_signatures": sum(1 for t in self.syntax.values() for c in t["crashes"].values()
                                                           if not c["known"]),
                      "hangs": sum(len(t["hangs"]) for t in self.syntax.values()),
                      "memory_blowups": sum(len(t["memory_blowups"]) for t in self.syntax.values()),
                      "harness_deaths": sum(len(t["harness_deaths"]) for t in self.syntax.values())},
            "syntaxes": {s: {**t, "crashes": list(t["crashes"].values()),
                             "refusals": dict(sorted(t["refusals"].items(), key=lambda kv: -kv[1])[:15])}
                         for s, t in self.syntax.items()},
        }
        (self.out / "report.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        (self.out / "report.txt").write_text(_text(summary), encoding="utf-8")
        return summary


def _text(summary: dict) -> str:
    t = summary["total"]
    lines = [f"edigate fuzz report: {t['inputs']:,} inputs of {summary['planned_inputs']:,} planned, "
             f"{summary['elapsed_seconds']:,} s",
             f"settings: {summary['settings']}", "",
             f"{'syntax':<9} {'inputs':>10} {'read':>9} {'refused':>10} {'written':>8} {'layouts':>7} "
             f"{'render-refused':>14} {'crashes':>7} {'known':>5} {'hangs':>5} {'memory':>6}"]
    for s, x in summary["syntaxes"].items():
        c = x["counts"]
        lines.append(f"{s:<9} {c['inputs']:>10,} {c['read']:>9,} {c['refused']:>10,} {c['written']:>8,} "
                     f"{c['laid_out']:>7,} {c['render_refused']:>14,} {c['crashes'] + c['memory']:>7,} "
                     f"{c['known_crashes']:>5,} {len(x['hangs']):>5} {len(x['memory_blowups']):>6}")
    lines.append(f"{'total':<9} {t['inputs']:>10,} {t['read']:>9,} {t['refused']:>10,} {t['written']:>8,} "
                 f"{t['laid_out']:>7,} {t['render_refused']:>14,} {t['crashes'] + t['memory']:>7,} "
                 f"{t['known_crashes']:>5,} {t['hangs']:>5} {t['memory_blowups']:>6}")
    lines.append("")
    for s, x in summary["syntaxes"].items():
        for c in x["crashes"]:
            lines.append(f"{'KNOWN ' if c['known'] else ''}CRASH {s}: {c['signature']} x{c['count']}: "
                         f"{c['message'][:200]} ({', '.join(c['inputs'])})")
        for kind in ("hangs", "memory_blowups", "harness_deaths"):
            for h in x[kind]:
                lines.append(f"{kind.upper()} {s}: phase {h['phase']}, input {h['input']} ({h['size']} bytes)")
    lines.append("")
    lines.append("most frequent clean refusals per syntax:")
    for s, x in summary["syntaxes"].items():
        for key, n in list(x["refusals"].items())[:5]:
            lines.append(f"  {s}: {n:,} x {key}")
    return "\n".join(lines) + "\n"


def shares(runs: int, syntaxes: tuple[str, ...], weights: str) -> dict[str, int]:
    """The runs per syntax: equal, or as ``weights`` ("ubl=2,csv=1"; a syntax not named weighs 1)."""
    given = dict((k.strip(), float(v)) for k, v in (w.split("=") for w in weights.split(",") if w.strip()))
    w = {s: given.get(s, 1.0) for s in syntaxes}
    out = {s: int(runs * w[s] / sum(w.values())) for s in syntaxes}
    out[syntaxes[0]] += runs - sum(out.values())
    return out


def _classify(rc: int, log_tail: str, done: bool) -> str:
    if done and rc == 0:
        return "done"
    if any(m in log_tail for m in ("Phase timeout:", "Timeout (0:", "ALARM: working on the last Unit",
                                   "libFuzzer: timeout")):
        return "hang"
    if "out-of-memory" in log_tail or "MemoryError" in log_tail or rc == -9:
        return "memory"
    return "death"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=int(os.environ.get("FUZZ_RUNS", "1000000")))
    ap.add_argument("--out", type=Path, default=REPO / "fuzz-report")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--round", type=int, default=50_000, help="inputs per syntax per round, at most")
    ap.add_argument("--phase-seconds", type=float, default=10.0)
    ap.add_argument("--rss-mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--syntax", action="append", choices=SYNTAXES, help="only these (repeatable)")
    ap.add_argument("--weights", default="", help="share of the runs per syntax, e.g. 'ubl=2,csv=1' (default: equal)")
    ap.add_argument("--resume", action="store_true", help="go on from what OUT/state already holds")
    args = ap.parse_args(argv[1:])
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}: nothing to seed the fuzzer with", file=sys.stderr)
        return 2
    syntaxes = tuple(args.syntax or SYNTAXES)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    seeds = prepare_seeds(args.corpus, out)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    settings = {"commit": commit or "?", "phase_seconds": args.phase_seconds, "rss_limit_mb": args.rss_mb, "max_len": MAX_LEN,
                "seed": args.seed, "seeds": seeds, "round": args.round, "python": sys.version.split()[0]}
    totals = Totals(out)
    share = shares(args.runs, syntaxes, args.weights)
    done = dict.fromkeys(syntaxes, 0)
    launch = totals.resume() if args.resume else 0
    for syntax in syntaxes:
        done[syntax] = totals.syntax[syntax]["counts"]["inputs"]
    while any(done[s] < share[s] for s in syntaxes):
        for syntax in syntaxes:
            goal = min(share[syntax], done[syntax] + args.round)
            while done[syntax] < goal:
                launch += 1
                want = goal - done[syntax]
                state = out / "state" / f"{launch:04d}-{syntax}"
                state.mkdir(parents=True, exist_ok=True)
                env = {**os.environ, "FUZZ_TARGET_RUNS": str(want), "FUZZ_PHASE_SECONDS": str(args.phase_seconds),
                       "PYTHONHASHSEED": "0"}
                cmd = [sys.executable, str(HARNESS), syntax, str(state), f"-rss_limit_mb={args.rss_mb}",
                       f"-timeout={int(args.phase_seconds * 12)}", f"-max_len={MAX_LEN}",
                       f"-seed={args.seed + launch}", f"-artifact_prefix={state}/", f"-runs={want + 10_000}",
                       "-print_final_stats=1", "-reload=0",
                       str(out / "corpus" / syntax), str(out / "seeds" / syntax)]
                print(f"[{time.strftime('%H:%M:%S')}] {syntax}: {want:,} inputs (process {launch})", flush=True)
                with open(state / "log.txt", "wb") as log:
                    child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
                    while True:                 # the report follows the running process too
                        try:
                            rc = child.wait(timeout=30)
                            break
                        except subprocess.TimeoutExpired:
                            totals.report(args.runs, settings, running=(syntax, state))
                tried = totals.add_stats(syntax, state)
                tail = (state / "log.txt").read_bytes()[-6000:].decode("utf-8", "replace")
                kind = _classify(rc, tail, tried >= want)
                if kind != "done":
                    totals.add_death(syntax, kind, state, tail)
                    print(f"  process {launch} ended early ({kind}, exit {rc}) after {tried:,} inputs", flush=True)
                if tried == 0 and "Traceback" in tail and "atheris.Fuzz" not in tail and "_warm_up" in tail:
                    print(f"  the {syntax} harness cannot start (its warm-up failed): see {state}/log.txt",
                          file=sys.stderr, flush=True)
                    return 2
                done[syntax] += max(tried, 1)
                summary = totals.report(args.runs, settings)
                shutil.rmtree(state / "crashes", ignore_errors=True)
                t = summary["total"]
                print(f"  total {t['inputs']:,} inputs: {t['crashes'] + t['memory']} crashes "
                      f"({t['known_crashes']} known), {t['hangs']} hangs, {t['memory_blowups']} memory blow-ups",
                      flush=True)
    print((out / "report.txt").read_text(encoding="utf-8"))
    t = totals.report(args.runs, settings)["total"]
    return 1 if (t["crashes"] or t["memory"] or t["hangs"] or t["memory_blowups"] or t["harness_deaths"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
