"""The coverage-guided target for one syntax, run by ``tests/fuzz/run.py`` (``make fuzz``) under atheris.

    python tests/fuzz/harness.py SYNTAX STATE_DIR [libFuzzer options] CORPUS_DIR SEED_DIR

Each input goes through ``oracle.check`` (read or refuse cleanly, validate,
write to every syntax); for Factur-X an input that is not a PDF is the invoice
XML, wrapped into a PDF first (``seeds.embed``). Nothing the oracle calls a
crash stops the run: it is counted and its input saved under
``STATE_DIR/crashes`` (three per signature). What the oracle cannot catch ends
this process and is told by ``run.py`` from what it left in STATE_DIR:

* a phase (read, validate, one write) using more than ``FUZZ_PHASE_SECONDS``
  (10) of CPU: the ``Watchdog`` dumps the stacks and exits (and libFuzzer's
  ``-timeout`` ends an input stuck in wall time); ``STATE_DIR/current.bin`` and
  ``current.phase`` say what;
* more than 1 GiB resident: libFuzzer's ``-rss_limit_mb`` (given by run.py).

Mutations are libFuzzer's, and for ``FUZZ_STRUCTURAL_SHARE`` (20 %) of them the
structural mutators of ``seeds.py`` (elements, segments, rows deleted or
duplicated, hostile values, deep nesting), which keep a document readable far
enough to reach the mapping, the rules and the writers.

Writers are deterministic functions of the model, so the writes of an input
whose model brings nothing new would repeat earlier ones: a model is written to
every syntax when it has a *shape* not written before (per group of the model,
which terms are there and what kind of value each holds: empty, short, long or
huge text, control or bidi characters, markup, the sign, magnitude and scale of
a number, list sizes), and one in ``FUZZ_WRITE_EVERY`` (20) of the others
anyway. Factur-X is written with the PDF layout of a fixed page
(``oracle.fixed_layout``) but for one in ``FUZZ_LAYOUT_EVERY`` (25) of the
written models, laid out for real in the bounded renderer
(``EDIGATE_RENDER_TIMEOUT`` 8 s here, so that a slow layout is a clean refusal
inside the 10 s of its phase). ``STATE_DIR/stats.json`` holds the counts.
"""
from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import random
import sys
import threading
import time
from dataclasses import fields, is_dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PHASE_SECONDS = float(os.environ.get("FUZZ_PHASE_SECONDS", "10"))
WRITE_EVERY = int(os.environ.get("FUZZ_WRITE_EVERY", "20"))
LAYOUT_EVERY = int(os.environ.get("FUZZ_LAYOUT_EVERY", "25"))
TARGET_RUNS = int(os.environ.get("FUZZ_TARGET_RUNS", "0"))      # stop after this many inputs (0: libFuzzer's -runs)
STRUCTURAL_SHARE = float(os.environ.get("FUZZ_STRUCTURAL_SHARE", "0.2"))   # custom mutations (seeds.mutate)
SAVED_PER_SIGNATURE = 3
INSTRUMENTED = [m for m in os.environ.get("FUZZ_INSTRUMENT", "gateway").split(",") if m]   # coverage from these
os.environ.setdefault("EDIGATE_RENDER_TIMEOUT", "8")


# --- what a model looks like, for deciding whether to write it --------------------------------------

def _bucket(n: int) -> str:
    return "0" if n == 0 else "1" if n == 1 else "2-16" if n <= 16 else "17-256" if n <= 256 else \
        "257-4096" if n <= 4096 else "4097+"


def _kind(value: Any) -> str:
    """What kind of value a term holds, coarsely: what a writer may behave differently on."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return f"b{value}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return "d:special"
        exp = value.as_tuple().exponent
        return (f"d:{'-' if value < 0 else '0' if value == 0 else '+'}:{_bucket(max(value.adjusted(), 0))}"
                f":{_bucket(max(-exp, 0) if isinstance(exp, int) else 0)}:{_bucket(len(value.as_tuple().digits))}")
    if isinstance(value, date):
        return "date"
    if isinstance(value, (bytes, bytearray)):
        return f"bytes:{_bucket(len(value))}"
    if isinstance(value, str):
        marks = "".join(sorted({"c" if ord(ch) < 32 or 0x7f <= ord(ch) < 0xa0 else
                                "b" if 0x200b <= ord(ch) <= 0x202e or 0x2066 <= ord(ch) <= 0x2069 else
                                "m" if ch in "<>&\"'=+-@;,:?" else "u" if ord(ch) > 0x7f else
                                "s" if ch.isspace() else "" for ch in value[:4096]}))
        return f"s:{_bucket(len(value))}:{marks}:{value.strip() == value}"
    if isinstance(value, (int, float)):
        return f"n:{'-' if value < 0 else '+'}"
    return type(value).__name__


def model_shapes(obj: Any, path: str = "", out: set | None = None) -> set:
    """The shapes of every group of a model: (path with list positions dropped, its terms' kinds)."""
    out = set() if out is None else out
    shape = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            shape.append((f.name, f"list:{_bucket(len(value))}"))
            for item in value[:50]:
                if is_dataclass(item):
                    model_shapes(item, f"{path}.{f.name}[]", out)
                else:
                    shape.append((f.name + "[]", _kind(item)))
        elif is_dataclass(value):
            shape.append((f.name, "group"))
            model_shapes(value, f"{path}.{f.name}", out)
        else:
            shape.append((f.name, _kind(value)))
    out.add((path, tuple(shape)))
    return out


# --- the run's state -------------------------------------------------------------------------------

class Watchdog(threading.Thread):
    """Ends the process when a phase has used more than ``limit`` seconds of CPU.

    CPU time, not wall time: the machine is shared, and other work must not turn a slow
    moment into a hang. A phase blocked without using CPU is caught by libFuzzer's
    ``-timeout`` (wall time per input, set by run.py)."""

    def __init__(self, limit: float):
        super().__init__(daemon=True, name="phase-watchdog")
        self.limit = limit
        self.current: Optional[tuple[str, float]] = None      # (phase, CPU seconds at its start)
        self.start()

    def start_phase(self, name: Optional[str]) -> None:
        self.current = None if name is None else (name, time.process_time())

    def run(self) -> None:
        while True:
            time.sleep(0.2)
            current = self.current
            if current is not None and time.process_time() - current[1] > self.limit:
                sys.stderr.write(f"\nPhase timeout: {current[0]} used more than {self.limit:g} s of CPU\n")
                faulthandler.dump_traceback(all_threads=True)
                sys.stderr.flush()
                os._exit(70)


class State:
    """Counts and saved inputs of this process, in STATE_DIR (cumulative over its life)."""

    def __init__(self, syntax: str, folder: Path):
        self.syntax, self.folder = syntax, folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "crashes").mkdir(exist_ok=True)
        self.counts = {k: 0 for k in ("inputs", "read", "refused", "documents", "validated", "written",
                                      "laid_out", "render_refused", "write_refused", "crashes",
                                      "known_crashes", "memory")}
        self.signatures: dict[str, dict] = {}
        self.refusals: dict[str, int] = {}
        self.render_limits: dict[str, int] = {}
        self.shapes: set = set()
        self.readable = 0
        self.started = time.time()
        self.last_flush = 0.0
        self.watchdog = Watchdog(PHASE_SECONDS)
        self.current = open(folder / "current.bin", "wb", buffering=0)
        self.phase_fd = os.open(folder / "current.phase", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)

    def begin(self, data: bytes) -> None:
        self.current.seek(0)
        self.current.truncate()
        self.current.write(data)

    def phase(self, name: str) -> None:
        os.pwrite(self.phase_fd, name.encode().ljust(32), 0)
        self.watchdog.start_phase(name)

    def idle(self) -> None:
        self.watchdog.start_phase(None)

    def save_crash(self, data: bytes, crash: Any) -> None:
        entry = self.signatures.setdefault(crash.signature, {
            "signature": crash.signature, "phase": crash.phase, "type": crash.type, "where": crash.where,
            "message": crash.message, "known": crash.known, "count": 0, "inputs": []})
        entry["count"] += 1
        if len(entry["inputs"]) < SAVED_PER_SIGNATURE:
            digest = hashlib.sha1(data).hexdigest()[:16]
            name = f"{self.syntax}-{hashlib.sha1(crash.signature.encode()).hexdigest()[:8]}-{digest}"
            (self.folder / "crashes" / f"{name}.bin").write_bytes(data)
            (self.folder / "crashes" / f"{name}.txt").write_text(
                f"{crash.signature}\n{crash.message}\n\n{crash.traceback}", encoding="utf-8")
            entry["inputs"].append(f"crashes/{name}.bin")

    def flush(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_flush < 2:
            return
        self.last_flush = now
        stats = {"syntax": self.syntax, "counts": self.counts, "seconds": round(now - self.started, 1),
                 "shapes": len(self.shapes), "refusals": dict(sorted(self.refusals.items(), key=lambda kv: -kv[1])[:40]),
                 "render_limits": self.render_limits, "crashes": list(self.signatures.values())}
        tmp = self.folder / "stats.json.part"
        tmp.write_text(json.dumps(stats, indent=1), encoding="utf-8")
        os.replace(tmp, self.folder / "stats.json")


def main(argv: list[str]) -> None:
    import atheris
    syntax, folder = argv[1], Path(argv[2])
    state = State(syntax, folder)
    with atheris.instrument_imports(include=INSTRUMENTED):
        import gateway.syntaxes          # noqa: F401 - instrumented: the code under test
        import gateway.rules            # noqa: F401
    from tests.fuzz.oracle import check
    from tests.fuzz.seeds import embed, mutate

    def write_this(doc: Any) -> bool:
        shapes = model_shapes(doc.invoice)
        new = not shapes <= state.shapes
        state.shapes |= shapes
        state.readable += 1
        return new or state.readable % WRITE_EVERY == 0

    def one(data: bytes) -> None:
        state.begin(data)
        if syntax == "facturx" and not data.lstrip()[:5] == b"%PDF-":
            data = embed(data)                       # the input is the invoice XML
        laid_out = state.counts["written"] % LAYOUT_EVERY == 0
        out = check(data, syntax, phase=state.phase, layout=laid_out, write_filter=write_this)
        state.idle()
        c = state.counts
        c["inputs"] += 1
        if out.refused:
            c["refused"] += 1
            key = out.refusal.split(":", 1)[0] + ": " + _shorten(out.refusal.split(": ", 1)[-1])
            if key in state.refusals or len(state.refusals) < 2000:
                state.refusals[key] = state.refusals.get(key, 0) + 1
        elif out.documents:
            c["read"] += 1
        c["documents"] += out.documents
        c["validated"] += out.validated
        c["written"] += out.written
        c["laid_out"] += out.written if laid_out and out.written else 0
        c["write_refused"] += out.write_refusals
        for limit in out.render_refusals:
            c["render_refused"] += 1
            state.render_limits[limit] = state.render_limits.get(limit, 0) + 1
        if out.crash is not None:
            c["memory" if out.memory else "known_crashes" if out.crash.known else "crashes"] += 1
            state.save_crash(data, out.crash)
        state.flush(force=out.crash is not None)
        if TARGET_RUNS and c["inputs"] >= TARGET_RUNS:
            state.flush(force=True)
            os._exit(0)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # mostly libFuzzer's own byte mutations; sometimes a structural one (seeds.py) that keeps
        # the document readable far enough to reach the mapping, the rules and the writers
        rng = random.Random(seed)
        if rng.random() < STRUCTURAL_SHARE and data and not data.lstrip()[:5] == b"%PDF-":
            try:
                return mutate(rng, data, syntax)[:max_size]
            except Exception:          # noqa: BLE001 - a mutator's slip is no finding: mutate otherwise
                pass
        return atheris.Mutate(data, max_size)

    _warm_up(syntax, check)
    atheris.Setup([argv[0], *argv[3:]], one, custom_mutator=mutator)
    try:
        atheris.Fuzz()
    finally:
        state.flush(force=True)


def _warm_up(syntax: str, check: Any) -> None:
    """Load what the first inputs would otherwise load under the watchdog (mappings, XSDs, the
    rendering process): one valid invoice in this syntax, read, validated and written everywhere."""
    from tests.fuzz.oracle import warm_up_input
    out = check(warm_up_input(syntax), syntax)
    if out.crash is not None or not out.documents:
        raise SystemExit(f"the warm-up invoice did not go through: {out.crash or out.refusal}")


def _shorten(message: str) -> str:
    """A refusal's message without its particulars (numbers, quoted values), to count kinds of refusal."""
    import re
    message = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "#", message)
    return message[:90]


if __name__ == "__main__":
    main(sys.argv)
