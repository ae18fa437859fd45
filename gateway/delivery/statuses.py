"""The life-cycle statuses as data (``lifecycle.yaml``): names, French codes, moves, reasons.

The file is read once, checked (every move names a known status, codes are unique and in
the 200-series, names fit the database column, the core cycle is closed), and offered as:

* ``STATUSES``: name -> ``Status`` (code, French and English names, who sets it, reason
  rules, moves), in listing order (the core cycle first, then by code);
* ``NAMES`` (every name, in that order), ``CORE`` (the gateway's own cycle);
* ``by_code("207")`` -> the ``Status`` of a French status code;
* ``REASONS`` / ``ACTIONS``: the reason codes (MDT-113) and requested actions (MDT-121) with
  their French and English names; ``B2G_REFUSAL_REASONS``.

This module imports nothing of the gateway (``gateway.db`` takes its status names from it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

__all__ = ["Status", "Label", "STATUSES", "NAMES", "CORE", "START", "REASONS", "ACTIONS", "B2G_REFUSAL_REASONS",
           "by_code", "DATA_FILE", "MAX_NAME", "load"]

DATA_FILE = Path(__file__).with_name("lifecycle.yaml")
MAX_NAME = 16                # DocumentRecord.business_status, DocumentStatusEvent.status
_WHO = frozenset({"gateway", "platform", "buyer", "seller", "factor"})


@dataclass(frozen=True)
class Label:
    fr: str
    en: str

    def __call__(self, lang: str = "en") -> str:
        return self.fr if lang == "fr" else self.en


@dataclass(frozen=True)
class Status:
    name: str
    code: str                         # French life-cycle code (MDT-105)
    label: Label
    core: bool                        # part of the gateway's own cycle
    by: str                           # who sets it
    reason_required: bool             # a reason (text) is needed
    reason_code_required: bool        # French cycle: a reason code is needed (BR-FR-CDV-15)
    reasons: Optional[tuple[str, ...]]  # the reason codes allowed (None: any of REASONS)
    decision: bool                    # a recipient's decision (implies ``received`` from ``deposited``)
    moves: tuple[str, ...]
    final: bool

    @property
    def fr(self) -> str:
        return self.label.fr

    @property
    def en(self) -> str:
        return self.label.en


def load(path: Path = DATA_FILE) -> tuple[dict[str, Status], tuple[str, ...], dict[str, Label], dict[str, Label],
                                           tuple[str, ...]]:
    """(statuses, start, reasons, actions, b2g refusal reasons) from the file; ValueError saying
    what is wrong with it."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    reasons = {code: Label(v["fr"], v["en"]) for code, v in raw["reasons"].items()}
    actions = {code: Label(v["fr"], v["en"]) for code, v in raw["actions"].items()}
    statuses: dict[str, Status] = {}
    codes: set[str] = set()
    for name, v in raw["statuses"].items():
        where = f"{path.name}: status {name}"
        if len(name) > MAX_NAME or not name.replace("_", "").isalpha() or not name.islower():
            raise ValueError(f"{where}: a name is 1 to {MAX_NAME} lower-case letters and _")
        code = str(v["code"])
        if not (code.isdigit() and len(code) == 3 and code.startswith("2")) or code in codes:
            raise ValueError(f"{where}: code {code!r} is not a new 200-series code")
        codes.add(code)
        if v.get("by") not in _WHO:
            raise ValueError(f"{where}: by is one of {', '.join(sorted(_WHO))}")
        allowed = v.get("reasons")
        if allowed is not None and set(allowed) - set(reasons):
            raise ValueError(f"{where}: unknown reason codes {sorted(set(allowed) - set(reasons))}")
        final = bool(v.get("final"))
        moves = tuple(v.get("moves") or ())
        if final and moves:
            raise ValueError(f"{where}: a final status has no moves")
        statuses[name] = Status(name, code, Label(v["fr"], v["en"]), bool(v.get("core")), v["by"],
                                v.get("reason") == "required", v.get("reason_code") == "required",
                                tuple(allowed) if allowed is not None else None, bool(v.get("decision")),
                                moves, final)
    start = tuple(raw["start"])
    for s in statuses.values():
        unknown = [m for m in s.moves if m not in statuses]
        if unknown:
            raise ValueError(f"{path.name}: status {s.name} moves to unknown statuses {unknown}")
    if set(start) - set(statuses):
        raise ValueError(f"{path.name}: start names unknown statuses {sorted(set(start) - set(statuses))}")
    b2g = tuple(raw.get("b2g_refusal_reasons") or ())
    if set(b2g) - set(reasons):
        raise ValueError(f"{path.name}: b2g_refusal_reasons: unknown codes {sorted(set(b2g) - set(reasons))}")
    return statuses, start, reasons, actions, b2g


STATUSES, START, REASONS, ACTIONS, B2G_REFUSAL_REASONS = load()
NAMES: tuple[str, ...] = tuple(STATUSES)
CORE: tuple[str, ...] = tuple(n for n, s in STATUSES.items() if s.core)
_BY_CODE = {s.code: s for s in STATUSES.values()}


def by_code(code: str) -> Optional[Status]:
    """The status of a French life-cycle code ("205"), None when it is none of ours."""
    return _BY_CODE.get((code or "").strip())
