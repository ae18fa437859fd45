"""Comparing our verdict on a document with an official stylesheet's: the verdict and the fatal rule ids.

``compare`` takes our fatal rule ids and the stylesheet's (with counts) and
says whether they agree: the official ids are first translated to ours
(``ours_id``), those of rules we leave to the stylesheet are set aside
(``left_to_them``: their firing can only change the verdict, which is then
explained), and where our rule deliberately follows another binding
(``differences``: rule id -> (kind, why)) only the documented direction is
accepted. What remains is a problem. Used by the French agreement tests
(rule sets ``fr`` and ``fr-extended``); the kinds are those of
``gateway.rules.fr.bindings``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, Optional

from gateway.rules.fr.bindings import DIFFERS, OURS_STRICTER, THEIRS_STRICTER

__all__ = ["Verdicts", "compare", "OURS_STRICTER", "THEIRS_STRICTER", "DIFFERS"]


@dataclass
class Verdicts:
    """One document judged both ways, and how the two judgements compare."""
    ours: set[str]                      # our fatal rule ids
    official: Counter                   # the stylesheet's fatal rule ids, with counts
    mine: set[str]                      # ours, as compared
    theirs: set[str]                    # the stylesheet's, translated and restricted to what we implement
    problems: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)      # documented differences seen

    @property
    def same_ids(self) -> bool:
        return self.mine == self.theirs

    @property
    def same_verdict(self) -> bool:
        return bool(self.ours) == bool(+self.official)


def compare(syntax: str, ours: Collection[str], official: Counter, *, ours_id: Callable[[str], str] = str,
            left_to_them: Collection[str] = (), only_ours: Collection[str] = (),
            differences: Mapping[str, tuple[str, str]] = {}, covered: Optional[Collection[str]] = None) -> Verdicts:
    """Our fatal ids against the stylesheet's; ``covered``, when given, is every rule id we implement (the
    others are the stylesheet's alone); ``only_ours`` are ids of ours the stylesheet of ``syntax`` has no
    assert for."""
    theirs = {ours_id(r) for r in official} - set(left_to_them)
    mine = set(ours) - set(only_ours)
    if covered is not None:
        theirs &= set(covered)
        mine &= set(covered)
    v = Verdicts(set(ours), Counter(official), mine, theirs)
    for rule_id in sorted(mine ^ theirs):
        kind, why = differences.get(rule_id, (None, ""))
        we = rule_id in mine
        if kind == DIFFERS or (we and kind == OURS_STRICTER) or (not we and kind == THEIRS_STRICTER):
            v.tolerated.append(f"{rule_id}: {'we fire, it does not' if we else 'it fires, we do not'} ({why})")
        else:
            v.problems.append(f"{rule_id}: we {'fire' if we else 'do not fire'}, the {syntax} stylesheet "
                              f"{'does not' if we else 'does'}")
    if not v.same_verdict and not v.problems and not v.tolerated:
        theirs_alone = sorted(r for r in official if ours_id(r) not in mine)
        if not theirs_alone:
            v.problems.append(f"verdict: we say {'invalid' if v.ours else 'valid'}, the stylesheet the other")
        else:
            v.tolerated.append("verdict: the stylesheet fires only rules we leave to it: " + ", ".join(theirs_alone))
    return v


def format_table(rows: Mapping[str, Mapping[str, int]], seen: Mapping[str, Counter]) -> str:
    """An agreement run as text: per kind of document, checked, skipped, same verdict, same fatal ids
    and problems; then every difference seen, most frequent first (the French tests' ``__main__``)."""
    out = [f"{'documents':<14} {'checked':>7} {'skipped':>7} {'same verdict':>12} {'same ids':>8} {'problems':>8}"]
    for kind, c in rows.items():
        out.append(f"{kind:<14} {c['checked']:>7} {c['skipped']:>7} {c['same verdict']:>12} "
                   f"{c['same fatal ids']:>8} {c['problems']:>8}")
    for kind, c in seen.items():
        out.append(f"\ndifferences in {kind}:")
        out += [f"  {n:>4} x {what}" for what, n in c.most_common()]
    return "\n".join(out)
