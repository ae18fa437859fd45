"""Validation profiles: which rule sets a validation applies, as data (``profiles.yaml``).

A *rule set* is a group of rules registered under one name (``en16931``, the
CEN rules; ``peppol``, Peppol BIS Billing 3.0; ``fr``, ``fr-extended``, the
French ones), each by the module ``profiles.yaml`` names for it, imported the
first time the set is used. A *profile* is a name, a label in English and
French, and the rule sets it applies in order (each possibly bound to some
syntaxes, possibly without some of its rules). ``gateway.rules.validate(invoice,
profile=NAME)`` runs a profile.

    get_profile("peppol").rule_sets        # (RuleSetUse('en16931'), RuleSetUse('peppol'))
    profile_names()                        # ('en16931', 'peppol', 'fr', 'fr-extended')
    check_profile_name("peppol")           # the name, or ProfileError saying what is wrong

Nothing is imported or checked at import time beyond reading the YAML: a
profile naming a rule set nobody registers is refused when it is *used*
(``RuleSetUnavailableError`` names the set and the module that should
register it), never at import.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml

from gateway.model.errors import EdigateError

from .registry import DEFAULT_RULE_SET, RULE_SETS, VARIANTS, Rule, binding_of, variants_version

__all__ = ["DEFAULT_PROFILE", "PROFILES_FILE", "Profile", "RuleSetUse", "RuleSetInfo", "ProfileError",
           "UnknownProfileError", "RuleSetUnavailableError", "profiles", "profile_names", "get_profile",
           "check_profile_name", "rule_set_info", "load_rule_set", "rule_order", "reload"]

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
DEFAULT_PROFILE = "en16931"
SYNTAXES = ("ubl", "cii", "facturx", "edifact", "csv")


class ProfileError(EdigateError, ValueError):
    """A profile that cannot be used: unknown, or naming a rule set that is not available."""


class UnknownProfileError(ProfileError):
    """No profile has this name."""


class RuleSetUnavailableError(ProfileError):
    """A profile names a rule set whose rules nobody registers (yet)."""


@dataclass(frozen=True)
class RuleSetUse:
    """One rule set as a profile applies it."""
    name: str
    syntaxes: tuple[str, ...] = ()          # empty: documents of any syntax (and bare models)
    without: frozenset[str] = frozenset()   # rule ids of the set the profile leaves out

    def applies_to(self, syntax: Optional[str]) -> bool:
        return not self.syntaxes or syntax is None or syntax in self.syntaxes


@dataclass(frozen=True)
class RuleSetInfo:
    name: str
    module: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Profile:
    name: str
    labels: dict[str, str]
    rule_sets: tuple[RuleSetUse, ...]

    def label(self, lang: str = "en") -> str:
        """The profile's label in ``lang`` (en, fr), English when there is none."""
        return self.labels.get(lang) or self.labels.get("en") or self.name

    def set_names(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.rule_sets)

    def unavailable(self) -> list[str]:
        """The rule sets of this profile that cannot be loaded, each with why (nothing imported:
        for a module not imported yet, only whether it exists is checked)."""
        out = []
        for use in self.rule_sets:
            why = _unavailable_reason(use.name)
            if why:
                out.append(why)
        return out

    def require(self) -> None:
        """Load every rule set of the profile; ``RuleSetUnavailableError`` when one cannot be."""
        for use in self.rule_sets:
            try:
                load_rule_set(use.name)
            except RuleSetUnavailableError as exc:
                raise RuleSetUnavailableError(f"profile {self.name!r} cannot be used: {exc}") from None

    def plan(self, syntax: Optional[str] = None) -> tuple[list[Rule], list[RuleSetUse]]:
        """``rules(syntax)``, kept until a rule set of the profile changes (or ``reload()``)."""
        key = (self.name, syntax)
        sizes = _sizes(self)
        cached = _plans.get(key)
        if cached is not None and cached[0] == sizes:
            return cached[1], cached[2]
        rules, skipped = self.rules(syntax)
        _plans[key] = (_sizes(self), rules, skipped)
        return rules, skipped

    def rules(self, syntax: Optional[str] = None) -> tuple[list[Rule], list[RuleSetUse]]:
        """The rules this profile applies to a document of ``syntax`` (None: a bare model), in
        reporting order, and the rule sets left out because they are bound to other syntaxes.
        A rule id of a later set replaces the same id of an earlier one. A rule with a variant for
        the binding of ``syntax`` (``registry.BINDINGS``: CII for cii and facturx) is that variant."""
        self.require()
        chosen: dict[str, Rule] = {}
        skipped = []
        for use in self.rule_sets:
            if not use.applies_to(syntax):
                skipped.append(use)
                continue
            for rule_id, r in RULE_SETS.get(use.name, {}).items():
                if rule_id not in use.without:
                    chosen.pop(rule_id, None)       # a redefinition takes the later set's place
                    chosen[rule_id] = r
        position = {u.name: i for i, u in enumerate(self.rule_sets)}
        ordered = sorted(chosen.values(), key=lambda r: (position[r.rule_set], rule_order(r)))
        binding = binding_of(syntax)
        ordered = [VARIANTS.get((r.rule_set, r.id), {}).get(binding, r) for r in ordered]
        return ordered, skipped


_plans: dict[tuple[str, Optional[str]], tuple[tuple[int, ...], list[Rule], list[RuleSetUse]]] = {}


def _sizes(profile: Profile) -> tuple[int, ...]:
    """What a plan depends on: how many rules each set of the profile has, and how many have variants."""
    return tuple(len(RULE_SETS.get(u.name, ())) for u in profile.rule_sets) + variants_version()


# --- reading profiles.yaml ------------------------------------------------------------------

def _labels(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("en"), str) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValueError(f"{PROFILES_FILE.name}: {where}: label must be a mapping of languages to text, with 'en'")
    return dict(raw)


_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@lru_cache(maxsize=1)
def _document() -> tuple[dict[str, RuleSetInfo], dict[str, Profile]]:
    with PROFILES_FILE.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    sets: dict[str, RuleSetInfo] = {}
    for name, raw in (doc.get("rule_sets") or {}).items():
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(raw, dict) \
                or not isinstance(raw.get("module"), str):
            raise ValueError(f"{PROFILES_FILE.name}: rule set {name!r}: needs a lower-case name and a module")
        sets[name] = RuleSetInfo(name, raw["module"], _labels(raw.get("label"), f"rule set {name}"))
    found: dict[str, Profile] = {}
    for name, raw in (doc.get("profiles") or {}).items():
        where = f"profile {name!r}"
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(raw, dict):
            raise ValueError(f"{PROFILES_FILE.name}: {where}: needs a lower-case name and a mapping")
        uses = []
        for entry in raw.get("rule_sets") or ():
            if isinstance(entry, str):
                entry = {"set": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("set"), str) \
                    or set(entry) - {"set", "syntaxes", "without"}:
                raise ValueError(f"{PROFILES_FILE.name}: {where}: a rule set is a name or "
                                 "{set, syntaxes, without}")
            if entry["set"] not in sets:
                raise ValueError(f"{PROFILES_FILE.name}: {where}: rule set {entry['set']!r} is not declared "
                                 "under rule_sets")
            syntaxes = tuple(entry.get("syntaxes") or ())
            if set(syntaxes) - set(SYNTAXES):
                raise ValueError(f"{PROFILES_FILE.name}: {where}: syntaxes are among {', '.join(SYNTAXES)}")
            uses.append(RuleSetUse(entry["set"], syntaxes, frozenset(entry.get("without") or ())))
        if not uses:
            raise ValueError(f"{PROFILES_FILE.name}: {where}: applies no rule set")
        found[name] = Profile(name, _labels(raw.get("label"), where), tuple(uses))
    if DEFAULT_PROFILE not in found:
        raise ValueError(f"{PROFILES_FILE.name}: the default profile {DEFAULT_PROFILE!r} is missing")
    return sets, found


def reload() -> None:
    """Read ``PROFILES_FILE`` again at next use (tests pointing it at another file)."""
    _document.cache_clear()
    _plans.clear()


def profiles() -> dict[str, Profile]:
    """Every profile, by name, in the file's order."""
    return dict(_document()[1])


def profile_names() -> tuple[str, ...]:
    return tuple(_document()[1])


def get_profile(name: Optional[str] = None) -> Profile:
    """The profile called ``name`` (None: the default); ``UnknownProfileError`` names the known ones."""
    name = DEFAULT_PROFILE if name is None else name
    found = _document()[1].get(name)
    if found is None:
        raise UnknownProfileError(f"unknown profile {name!r}; choose one of {', '.join(profile_names())}")
    return found


def check_profile_name(name: str, *, usable: bool = True) -> str:
    """``name`` normalised (trimmed, lower case) when it names a profile (and, with ``usable``,
    one whose rule sets are all there); else ``ProfileError`` saying why. Imports nothing."""
    given = name
    name = name.strip().lower()
    p = get_profile(name) if name else get_profile(given)
    if usable:
        missing = p.unavailable()
        if missing:
            raise RuleSetUnavailableError(f"profile {name!r} cannot be used yet: {'; '.join(missing)}")
    return name


def rule_set_info(name: str) -> RuleSetInfo:
    info = _document()[0].get(name)
    if info is None:
        raise RuleSetUnavailableError(f"rule set {name!r} is not declared in {PROFILES_FILE.name}")
    return info


# --- loading rule sets ----------------------------------------------------------------------

_load_lock = threading.Lock()


def _module_missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def _unavailable_reason(name: str) -> Optional[str]:
    try:
        info = rule_set_info(name)
    except RuleSetUnavailableError as exc:
        return str(exc)
    if RULE_SETS.get(name):
        return None
    if _module_missing(info.module):
        return f"rule set {name!r} is not available: its module {info.module} is not installed"
    return None


def load_rule_set(name: str) -> dict[str, Rule]:
    """The rules of rule set ``name``, importing the module that registers them the first time;
    ``RuleSetUnavailableError`` when the set is not declared, its module is not there, or it
    registers no rule of that set."""
    rules = RULE_SETS.get(name)
    if rules:
        return rules
    info = rule_set_info(name)
    with _load_lock:
        if _module_missing(info.module):
            raise RuleSetUnavailableError(f"rule set {name!r} is not available: its module {info.module} "
                                          "is not installed")
        importlib.import_module(info.module)
    rules = RULE_SETS.get(name)
    if not rules:
        raise RuleSetUnavailableError(f"rule set {name!r} is not available: {info.module} registers no rule "
                                      "of that set")
    return rules


# --- reporting order ------------------------------------------------------------------------

# EN 16931 families in the order findings are reported
_EN16931_ORDER = ("BR", "BR-CO", "BR-DEC", "BR-CL", "BR-S", "BR-Z", "BR-E", "BR-AE", "BR-IC", "BR-G", "BR-O",
                  "BR-AF", "BR-AG", "BR-B")
_PARTS = re.compile(r"(\d+)")


def rule_order(r: Rule) -> tuple:
    """Where a rule's findings come within its set: EN 16931 by family then number, other sets by
    family in registration order then the numbers in the id."""
    if r.rule_set == DEFAULT_RULE_SET:
        fam = _EN16931_ORDER.index(r.family) if r.family in _EN16931_ORDER else len(_EN16931_ORDER)
        num = r.id.rsplit("-", 1)[1]
        return fam, int(num) if (num.isascii() and num.isdigit()) else 0, r.id
    families = list(dict.fromkeys(x.family for x in RULE_SETS.get(r.rule_set, {}).values()))
    pieces = tuple(int(p) if p.isascii() and p.isdigit() else 0 for p in _PARTS.split(r.id)[1::2])
    return families.index(r.family), pieces, r.id

