"""The directory lines the Directory Service answers from, and the resources made of them.

Two sources, most authoritative first (a line both know is answered once, by the first):

1. our members: every active partner's French identifiers, each one line of its company
   (``gateway.model.addressing``): a 0225 address (SIREN, SIREN_SIRET, SIREN_SIRET_routing
   code, SIREN_suffix), a SIRET (0009: its SIREN_SIRET line), a SIREN (0002: its SIREN line);
   they are received here, so their platform type is ``WK`` (a platform, not the PPF) and the
   line is ``Enabled``;
2. the local mirror of the PPF directory (``gateway.db.AnnuaireLine``, the current generation
   kept by ``gateway.networks.annuaire``), when one has been loaded: its lines with their
   platform type (PPF → ``DFH``, a platform → ``WK``) and status from their dates.

``SOURCES`` is the list; a further source is one function ``(session, narrowing) -> lines``.
Every answer is bounded (``MAX_LINES`` lines read per request).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Optional

import sqlalchemy as sa

from ...db import Partner, PartnerIdentifier
from ...model.addressing import FR_ADDRESS, SIREN, SIRET, french_address

MAX_LINES = 20000
ROUTING_PATTERN_CHARS = frozenset("-_/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True)
class Line:
    """One directory line and who declared it."""
    address: str                           # the addressing identifier: SIREN[_SIRET[_code]] or SIREN_suffix
    siren: str
    siret: Optional[str] = None
    routing_code: Optional[str] = None
    suffix: Optional[str] = None
    name: Optional[str] = None             # the company's name as we know it
    platform_type: str = "WK"              # UNTDID 3035: WK a platform, DFH the PPF
    status: str = "Enabled"                # Enabled, Disabled, Upcoming

    @property
    def routing_ok(self) -> bool:
        """Whether the routing code keeps the specification's own pattern (no ``@``)."""
        return bool(self.routing_code) and set(self.routing_code) <= ROUTING_PATTERN_CHARS


Narrowing = dict[str, str]          # siren / siret / address the request names exactly, to read less
Source = Callable[[Any, Narrowing], Iterable[Line]]


def _member_line(scheme: str, value: str, name: str) -> Optional[Line]:
    try:
        if scheme == FR_ADDRESS:
            a = french_address(value)
            return Line(a.value, a.siren, a.siret, a.routing_code, a.suffix, name)
        if scheme == SIRET and len(value) == 14 and value.isdigit():
            return Line(f"{value[:9]}_{value}", value[:9], value, name=name)
        if scheme == SIREN and len(value) == 9 and value.isdigit():
            return Line(value, value, name=name)
    except ValueError:
        return None
    return None


def members(s, narrowing: Narrowing) -> Iterable[Line]:
    """Our active members' lines."""
    q = (sa.select(PartnerIdentifier.scheme, PartnerIdentifier.value, Partner.name)
         .join(Partner, Partner.id == PartnerIdentifier.partner_id)
         .where(Partner.active.is_(True), PartnerIdentifier.scheme.in_((FR_ADDRESS, SIRET, SIREN))))
    siren = narrowing.get("siren") or (narrowing.get("siret") or "")[:9] or (narrowing.get("address") or "")[:9]
    if siren:
        q = q.where(PartnerIdentifier.value.startswith(siren, autoescape=True))
    for scheme, value, name in s.execute(q.order_by(PartnerIdentifier.id).limit(MAX_LINES)):
        line = _member_line(scheme, value, name)
        if line is not None:
            yield line


def _status(starts: Optional[date], ends: Optional[date], today: date) -> str:
    if ends is not None and ends <= today:
        return "Disabled"
    if starts is not None and starts > today:
        return "Upcoming"
    return "Enabled"


def annuaire(s, narrowing: Narrowing) -> Iterable[Line]:
    """The current generation of the PPF directory's local mirror (nothing when none was loaded)."""
    try:
        from ...db.annuaire import STATE_ID, AnnuaireLine, AnnuaireState
    except ImportError:             # a gateway without the mirror
        return
    q = (sa.select(AnnuaireLine).join(AnnuaireState, AnnuaireState.id == STATE_ID)
         .where(AnnuaireLine.generation == AnnuaireState.generation))
    siren = narrowing.get("siren") or (narrowing.get("siret") or "")[:9] or (narrowing.get("address") or "")[:9]
    if siren:
        q = q.where(AnnuaireLine.siren == siren)
    today = date.today()
    for row in s.scalars(q.order_by(AnnuaireLine.id).limit(MAX_LINES)):
        yield Line(row.label, row.siren, row.siret, row.routing_code, row.suffix, None,
                   "DFH" if (row.platform_type or "").upper() == "PPF" else "WK",
                   _status(row.starts_on, row.ends_on, today))


SOURCES: list[Source] = [members, annuaire]


def lines(s, narrowing: Optional[Narrowing] = None) -> list[Line]:
    """Every line the sources know (narrowed to a SIREN when the request names one), each once."""
    seen: dict[str, Line] = {}
    for source in SOURCES:
        for line in source(s, narrowing or {}):
            if line.address not in seen:
                seen[line.address] = line
            elif seen[line.address].name is None and line.name:
                seen[line.address] = line
            if len(seen) >= MAX_LINES:
                return list(seen.values())
    return list(seen.values())


# --- resources, as the specification writes them ---------------------------------------------------

def legal_unit(siren: str, name: Optional[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"siren": siren, "administrativeStatus": "A"}
    if name:
        out["businessName"] = name[:150]
    return out


def facility(siret: str, name: Optional[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"siret": siret, "siren": siret[:9], "administrativeStatus": "A"}
    if name:
        out["name"] = name[:100]
    return out


def routing_code(line: Line) -> dict[str, Any]:
    return {"routingIdentifier": line.routing_code, "siret": line.siret, "administrativeStatus": "A"}


def directory_line(line: Line) -> dict[str, Any]:
    out: dict[str, Any] = {"addressingIdentifier": line.address[:125], "platformType": line.platform_type,
                           "directoryLineStatus": line.status, "siren": line.siren}
    if line.siret:
        out["siret"] = line.siret
    if line.routing_code and line.routing_ok:
        out["routingIdentifier"] = line.routing_code
    if line.suffix:
        out["addressingSuffix"] = line.suffix
    return out


def legal_units(all_lines: list[Line]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line in all_lines:
        if line.siren not in out or ("businessName" not in out[line.siren] and line.name):
            out[line.siren] = legal_unit(line.siren, line.name)
    return out


def facilities(all_lines: list[Line]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line in all_lines:
        if line.siret and (line.siret not in out or ("name" not in out[line.siret] and line.name)):
            out[line.siret] = facility(line.siret, line.name)
    return out
