"""The controls' switches and thresholds: ``defaults.yaml``, then the gateway's overrides, then one
organisation's (a recipient partner), each level only saying what it changes.

Stored as ``ControlSetting`` rows (``partner_id`` NULL: the whole gateway). A threshold's value is
checked against the bounds the defaults give, so a typo cannot switch a control off by making
it blind (a factor of 0, a window of a million days).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
import yaml

from gateway.db import ControlSetting, Partner, utcnow
from gateway.model.errors import EdigateError

DEFAULTS = Path(__file__).with_name("defaults.yaml")


class SettingError(EdigateError, ValueError):
    """A control or threshold that does not exist, or a value out of its bounds; the message says which."""


@dataclass(frozen=True)
class Definition:
    """One control as ``defaults.yaml`` describes it."""
    name: str
    rules: tuple[str, ...]
    action: str
    enabled: bool
    en: str
    fr: str
    thresholds: dict[str, dict[str, Any]]

    def default_thresholds(self) -> dict[str, float]:
        return {k: v["default"] for k, v in self.thresholds.items()}


@dataclass
class Effective:
    """What applies to one organisation: on or off, the thresholds, and where each came from."""
    name: str
    enabled: bool
    thresholds: dict[str, float]
    source: dict[str, str] = field(default_factory=dict)     # "enabled"/threshold -> default|gateway|organisation


@lru_cache(maxsize=1)
def definitions() -> dict[str, Definition]:
    data = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))
    out = {}
    for name, d in data["controls"].items():
        out[name] = Definition(name=name, rules=tuple(d["rules"]), action=d["action"], enabled=bool(d["enabled"]),
                               en=d["en"], fr=d["fr"], thresholds=dict(d.get("thresholds") or {}))
    return out


def definition(name: str) -> Definition:
    try:
        return definitions()[name]
    except KeyError:
        raise SettingError(f"no control {name!r} (known: {', '.join(definitions())})") from None


def check_threshold(control: str, name: str, value: Any) -> float:
    """``value`` as a number within the bounds ``defaults.yaml`` gives (``SettingError`` otherwise)."""
    spec = definition(control).thresholds.get(name)
    if spec is None:
        known = ", ".join(definition(control).thresholds) or "none"
        raise SettingError(f"control {control} has no threshold {name!r} (known: {known})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{control}.{name}={value!r}: expected a number") from None
    if not spec["min"] <= number <= spec["max"]:
        raise SettingError(f"{control}.{name}={value!r}: expected from {spec['min']} to {spec['max']}")
    return int(number) if number == int(number) else number


_GATEWAY_ROWS = sa.select(ControlSetting).where(ControlSetting.partner_id.is_(None))
_ROWS = sa.select(ControlSetting).where(sa.or_(ControlSetting.partner_id.is_(None),
                                               ControlSetting.partner_id == sa.bindparam("partner_id")))


def _rows(s, partner_id: Optional[int]) -> dict[tuple[Optional[int], str], ControlSetting]:
    rows = s.scalars(_GATEWAY_ROWS) if partner_id is None else s.scalars(_ROWS, {"partner_id": partner_id})
    return {(r.partner_id, r.control): r for r in rows}


def effective(s, partner_id: Optional[int]) -> dict[str, Effective]:
    """Every control as it applies to ``partner_id``'s invoices (None: the gateway's level only).
    One query: the rows of the gateway and of that organisation."""
    rows = _rows(s, partner_id)
    out = {}
    for name, d in definitions().items():
        eff = Effective(name, d.enabled, d.default_thresholds(), {"enabled": "default"})
        levels = [(None, "gateway")] + ([(partner_id, "organisation")] if partner_id is not None else [])
        for level, who in levels:
            row = rows.get((level, name))
            if row is None:
                continue
            if row.enabled is not None:
                eff.enabled, eff.source["enabled"] = bool(row.enabled), who
            for k, v in (row.thresholds or {}).items():
                if k in eff.thresholds:
                    eff.thresholds[k], eff.source[k] = v, who
        out[name] = eff
    return out


def set_control(s, control: str, *, partner_id: Optional[int] = None, enabled: Optional[bool] = None,
                thresholds: Optional[dict[str, Any]] = None, clear: bool = False, by: str = "operator") -> ControlSetting:
    """Change one control for one organisation (``partner_id``) or the whole gateway (None): switch
    it (``enabled``), set thresholds (merged over what that level said), or ``clear`` that level's
    word (back to the level above)."""
    definition(control)
    if partner_id is not None and s.get(Partner, partner_id) is None:
        raise SettingError(f"no partner {partner_id}")
    checked = {k: check_threshold(control, k, v) for k, v in (thresholds or {}).items()}
    row = s.scalar(sa.select(ControlSetting).where(
        ControlSetting.control == control,
        ControlSetting.partner_id.is_(None) if partner_id is None else ControlSetting.partner_id == partner_id))
    if row is None:
        row = ControlSetting(partner_id=partner_id, control=control, thresholds={})
        s.add(row)
    if clear:
        row.enabled, row.thresholds = None, {}
    if enabled is not None:
        row.enabled = enabled
    if checked:
        row.thresholds = {**(row.thresholds or {}), **checked}
    row.updated_by, row.updated_at = by[:200], utcnow()
    s.flush()
    return row
