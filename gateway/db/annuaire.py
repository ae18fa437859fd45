"""The local mirror of the PPF directory (annuaire), and the lines we published in it.

Since September 2026 the PPF annuaire says which certified platform (its
matricule) receives the invoices of each French directory line (SIREN,
SIREN+SIRET, SIREN+SIRET+routing code, SIREN+suffix). Routing reads a copy of
it kept here, never the network (``gateway.networks.annuaire`` refreshes it).

* ``AnnuaireLine``: one line of one *generation* of the mirror. A refresh
  writes a new generation beside the current one, then makes it current by
  changing ``AnnuaireState.generation`` in one statement; readers join the
  state row in the same statement, so they see the old mirror or the new one,
  never a mix, and never wait for a refresh.
* ``AnnuaireState``: the one row (``id`` 1) saying which generation is
  current, when the last refresh was tried and what it found or why it failed.
* ``AnnuairePublication``: a line we posted for a member of ours (its
  ``idInstance`` as the annuaire gave it), so a second run does not post twice.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, utcnow

STATE_ID = 1


class AnnuaireState(Base):
    __tablename__ = "annuaire_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))          # what readers see
    last_generation: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))     # highest handed out
    line_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    refreshed_at: Mapped[Optional[datetime]]            # the last refresh tried (claimed), failed or not
    succeeded_at: Mapped[Optional[datetime]]            # the last refresh that replaced the mirror
    refresh_error: Mapped[Optional[str]] = mapped_column(sa.Text)
    source: Mapped[Optional[str]] = mapped_column(sa.String(1000))      # the API it was read from
    platform_id: Mapped[Optional[str]] = mapped_column(sa.String(4))    # ours, as the last refresh knew it

    def __repr__(self) -> str:
        return f"<AnnuaireState generation {self.generation}, {self.line_count} line(s)>"


class AnnuaireLine(Base):
    __tablename__ = "annuaire_lines"
    __table_args__ = (
        sa.Index(None, "generation", "address"),
        sa.UniqueConstraint("generation", "id_instance"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int]
    # The line as a 0225 address, normalised like PartnerIdentifier (SIREN[_SIRET[_code]] or SIREN_suffix).
    address: Mapped[str] = mapped_column(sa.String(256))
    siren: Mapped[str] = mapped_column(sa.String(9))
    siret: Mapped[Optional[str]] = mapped_column(sa.String(14))
    routing_code: Mapped[Optional[str]] = mapped_column(sa.String(100))        # identifiantRoutage
    suffix: Mapped[Optional[str]] = mapped_column(sa.String(100))              # suffixeAdressage
    platform_id: Mapped[str] = mapped_column(sa.String(4))                     # matriculePlateforme
    platform_name: Mapped[Optional[str]] = mapped_column(sa.String(200))
    platform_type: Mapped[Optional[str]] = mapped_column(sa.String(3))         # PDP, PPF, AP, NA
    starts_on: Mapped[Optional[date]] = mapped_column(sa.Date)                 # dateDebutEffet
    ends_on: Mapped[Optional[date]] = mapped_column(sa.Date)                   # dateFinEffet / dateFinEffective
    id_instance: Mapped[Optional[int]] = mapped_column(sa.BigInteger)
    addressing_id: Mapped[Optional[str]] = mapped_column(sa.String(125))       # identifiantAdressage

    @property
    def label(self) -> str:
        """``123456789_12345678900011_SERV1``: the line as routing names it (parts as published)."""
        if self.siret:
            return "_".join(p for p in (self.siren, self.siret, self.routing_code) if p)
        return "_".join(p for p in (self.siren, self.suffix) if p)

    def __repr__(self) -> str:
        return f"<AnnuaireLine {self.label} -> {self.platform_id}>"


class AnnuairePublication(Base):
    """A directory line we posted (or are posting: no ``published_at`` yet) for a member."""
    __tablename__ = "annuaire_publications"
    __table_args__ = (sa.UniqueConstraint("address", "platform_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("partners.id", ondelete="SET NULL"), index=True)
    address: Mapped[str] = mapped_column(sa.String(256))
    platform_id: Mapped[str] = mapped_column(sa.String(4))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[Optional[datetime]]
    id_instance: Mapped[Optional[int]] = mapped_column(sa.BigInteger)
    addressing_id: Mapped[Optional[str]] = mapped_column(sa.String(125))

    def __repr__(self) -> str:
        return f"<AnnuairePublication {self.address} by {self.platform_id}>"
