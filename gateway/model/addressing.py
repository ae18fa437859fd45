"""French electronic addresses (scheme 0225) and the directory lines that answer them.

Since the 2026 reform a French company is addressed as the PPF directory
(annuaire) lists it: its electronic address (BT-49 for a buyer) under scheme
``0225`` is ``SIREN``, ``SIREN_SIRET``, ``SIREN_SIRET_<routing code>`` or
``SIREN_<suffix>`` (an addressing level not tied to an establishment), each a
*directory line* a company may declare, several per company (one per
establishment or service). An invoice goes to the **most specific line** the
directory has for its address: the routing code's line, else the SIRET's,
else the SIREN's. A SIRET (``0009``) or SIREN (``0002``) identifier stands for
the line of the same level, so an address is also answered by a member known
only by its SIRET or SIREN.

Pure functions on text: routing (``gateway.flow.route``) looks the levels up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .problems import IdentifierError

FR_ADDRESS, SIREN, SIRET = "0225", "0002", "0009"

_SIREN = re.compile(r"^\d{9}$")
_SIRET = re.compile(r"^\d{14}$")
# the directory's own patterns (PPF annuaire API 1.11.0: identifiantRoutage, suffixeAdressage)
_ROUTING = re.compile(r"^[-_/@A-Za-z0-9]{1,100}$")
_SUFFIX = re.compile(r"^[-_.@A-Za-z0-9]{1,100}$")


@dataclass(frozen=True)
class FrenchAddress:
    """One 0225 address, split: its SIREN, and the SIRET and routing code or the suffix it names."""
    siren: str
    siret: Optional[str] = None
    routing_code: Optional[str] = None
    suffix: Optional[str] = None

    @property
    def value(self) -> str:
        parts = [self.siren, self.siret, self.routing_code] if self.siret else [self.siren, self.suffix]
        return "_".join(p for p in parts if p)

    def levels(self) -> list[tuple[tuple[str, str], ...]]:
        """The directory lines that may answer this address, most specific first; each level is the
        (scheme, value) keys that name the same line."""
        out: list[tuple[tuple[str, str], ...]] = []
        if self.routing_code or self.suffix:
            out.append(((FR_ADDRESS, self.value),))
        if self.siret:
            out.append(((FR_ADDRESS, f"{self.siren}_{self.siret}"), (SIRET, self.siret)))
        out.append(((FR_ADDRESS, self.siren), (SIREN, self.siren)))
        return out


def french_address(value: str) -> FrenchAddress:
    """``"732829320_73282932000074_SERV-1"`` split into its parts; ``ValueError`` saying what is wrong
    when it is not an address of the directory's shape (the check digits are ``identifiers.check``'s)."""
    text = "".join(value.split())
    siren, sep, rest = text.partition("_")
    if not _SIREN.match(siren):
        raise IdentifierError("address_siren", f"a 0225 address starts with a SIREN of 9 digits, not {siren[:20]!r}",
                              siren=siren[:20])
    if not sep:
        return FrenchAddress(siren)
    second, sep2, routing = rest.partition("_")
    if _SIRET.match(second):
        if not second.startswith(siren):
            raise IdentifierError("address_siret", f"the SIRET {second} of a 0225 address does not start with its "
                                  f"SIREN {siren}", siret=second, siren=siren)
        if not sep2:
            return FrenchAddress(siren, siret=second)
        if not _ROUTING.match(routing):
            raise IdentifierError("address_routing", f"the routing code {routing[:40]!r} of a 0225 address is not "
                                  "1 to 100 of A-Z a-z 0-9 - _ / @", routing=routing[:40])
        return FrenchAddress(siren, siret=second, routing_code=routing)
    if not _SUFFIX.match(rest):
        raise IdentifierError("address_suffix", f"after the SIREN, a 0225 address holds a SIRET of 14 digits or a "
                              f"suffix of 1 to 100 of A-Z a-z 0-9 - _ . @, not {rest[:40]!r}", rest=rest[:40])
    return FrenchAddress(siren, suffix=rest)


def routing_levels(scheme: str, value: str) -> list[tuple[tuple[str, str], ...]]:
    """The keys to look an identifier up by, most specific first: a 0225 address's lines (see
    ``FrenchAddress.levels``), a SIRET's line then its SIREN's, a SIREN's line; any other identifier
    is itself only. Both arguments as ``normalise_identifier`` spells them."""
    try:
        if scheme == FR_ADDRESS:
            return french_address(value).levels()
        if scheme == SIRET and _SIRET.match(value):
            return FrenchAddress(value[:9], siret=value).levels()
        if scheme == SIREN and _SIREN.match(value):
            return FrenchAddress(value).levels()
    except ValueError:
        pass
    return [((scheme, value),)]
