"""A document's findings arranged to be read: fatal ones first, one by one; warnings grouped by rule.

A file with a hundred values the mapping does not read has a hundred ``READ-UNMAPPED``
warnings: listed one per row they push the first fatal finding out of sight. Here each
fatal finding is its own row (they are what must be fixed), and warnings come as one
group per rule with its count, the rows inside a group shown on demand (``<details>``),
at most ``MAX_SHOWN`` per group. A message that starts with its own rule id
(``[BR-CO-10]-Sum …``, ``BR-CO-10: Sum …``) has it taken off: the rule column says it. A
control's finding is said in the reader's language from its code (``controls.wording``); every
other message is shown in its own words, English (``said_in``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

MAX_SHOWN = 200          # rows shown inside one group of warnings (the count says how many there are)


@dataclass
class Group:
    rule: str
    severity: str
    rule_set: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    @property
    def message(self) -> str:
        """The group's message when all its findings say the same, else the first one's."""
        return self.findings[0]["message"] if self.findings else ""

    @property
    def same_message(self) -> bool:
        return len({f["message"] for f in self.findings}) <= 1


@dataclass
class Arranged:
    fatal: list[dict[str, Any]]
    warnings: list[Group]
    other: list[Group]                   # severities other than fatal and warning (information)

    @property
    def total(self) -> int:
        return len(self.fatal) + sum(g.count for g in self.warnings + self.other)


def clean_message(rule: str, message: str) -> str:
    """``message`` without its own rule id in front."""
    if not rule or not message:
        return message or ""
    pattern = rf"^\s*(?:\[{re.escape(rule)}\]|\(?{re.escape(rule)}\)?)\s*[-:–—]?\s*"
    cleaned = re.sub(pattern, "", message, count=1, flags=re.IGNORECASE)
    return cleaned[:1].upper() + cleaned[1:] if cleaned else message


def _row(f: Mapping[str, Any]) -> dict[str, Any]:
    from ...controls.wording import worded
    from ..kit.reader import current
    row = dict(f)
    lang = current()
    text = worded(f, lang)
    row["said_in"] = lang if text else "en"
    row["message"] = clean_message(str(f.get("rule") or ""), text or str(f.get("message") or ""))
    return row


def arrange(findings: Iterable[Mapping[str, Any]]) -> Arranged:
    """Fatal findings first (in their order), then warnings by rule (most frequent first)."""
    fatal: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], Group] = {}
    for f in findings:
        severity = str(f.get("severity") or "warning")
        if severity == "fatal":
            fatal.append(_row(f))
            continue
        key = (severity, str(f.get("rule") or ""))
        g = groups.setdefault(key, Group(key[1], severity, str(f.get("rule_set") or "")))
        g.count += 1
        if len(g.findings) < MAX_SHOWN:
            g.findings.append(_row(f))
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.rule))
    return Arranged(fatal, [g for g in ordered if g.severity == "warning"],
                    [g for g in ordered if g.severity != "warning"])
