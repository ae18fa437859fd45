"""An operator's word on what the controls hold: the pages' button, the API and the CLI call these.

``confirm_account``: the new bank account of a held invoice is the supplier's (checked with
it by a known channel): it goes on record (source ``confirmed``, who, when), the previous
ones are retired, and every invoice of that supplier held for that account only is released
and delivered through the same planning as a held invoice rerouted (``flow.reroute``).
``set_account``: an operator records a supplier's account directly (the same release follows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional

import sqlalchemy as sa

from gateway.db import ControlHold, SupplierAccount, utcnow
from gateway.model.errors import EdigateError

from .bank_account import RULE as BANK_RULE
from .bank_account import on_record
from .facts import normalise_account

CONFIRM_ROLES = ("admin", "operator")        # who may confirm a bank account or set one
MAX_LIST = 500


class ControlError(EdigateError):
    """Nothing to confirm: the document is not held by a control, or no longer (``done``: it was
    confirmed already); the message says which."""

    def __init__(self, message: str, *, done: bool = False):
        super().__init__(message)
        self.done = done


@dataclass
class Release:
    supplier: str
    accounts: list[str]
    released: list[int] = field(default_factory=list)      # documents whose hold ended
    delivered: list[int] = field(default_factory=list)     # of those, the ones on their way now


def open_holds(s, *, limit: int = MAX_LIST) -> list[ControlHold]:
    """Holds waiting for an operator, oldest first."""
    return list(s.scalars(sa.select(ControlHold).where(ControlHold.released_at.is_(None))
                          .order_by(ControlHold.opened_at, ControlHold.id).limit(limit)))


def _record(s, key: str, accounts: Iterable[str], *, source: str, by: str, now: datetime,
            document_id: Optional[int], replace: bool) -> list[str]:
    accounts = [a for a in dict.fromkeys(accounts) if a]
    existing = {a.account: a for a in s.scalars(sa.select(SupplierAccount).where(SupplierAccount.supplier_key == key))}
    for account in accounts:
        row = existing.get(account)
        if row is None:
            s.add(SupplierAccount(supplier_key=key, account=account, source=source, since=now,
                                  document_id=document_id, set_by=by[:200]))
        else:
            row.retired_at, row.source, row.since, row.set_by = None, source, now, by[:200]
    if replace:
        for account, row in existing.items():
            if account not in accounts and row.retired_at is None:
                row.retired_at = now
    s.flush()
    return accounts


def _release_satisfied(s, key: str, *, by: str, now: datetime) -> list[int]:
    """End every open bank-account hold of ``key`` whose new accounts are all on record now."""
    known = {a.account for a in on_record(s, key)}
    released = []
    for hold in s.scalars(sa.select(ControlHold).where(ControlHold.supplier_key == key,
                                                       ControlHold.control == BANK_RULE,
                                                       ControlHold.released_at.is_(None))):
        if set(hold.evidence.get("new_accounts") or ()) <= known:
            hold.released_at, hold.released_by = now, by[:200]
            released.append(hold.document_id)
    return released


def _deliver(gw, release: Release, now: datetime) -> Release:
    from gateway.flow.reroute import reroute_held
    if release.released:
        release.delivered = reroute_held(gw, document_ids=release.released, now=now)
    return release


def confirm_account(gw, document_id: int, *, by: str, now: Optional[datetime] = None) -> Release:
    """The bank account a held invoice names is confirmed as its supplier's; see the module."""
    now = now or utcnow()
    with gw.session() as s:
        hold = s.scalar(sa.select(ControlHold).where(ControlHold.document_id == document_id,
                                                     ControlHold.control == BANK_RULE))
        if hold is None:
            raise ControlError(f"document {document_id} is not held for a bank account confirmation")
        if hold.released_at is not None:
            raise ControlError(f"document {document_id}'s bank account was confirmed already, by "
                               f"{hold.released_by} at {hold.released_at.isoformat()}", done=True)
        key = hold.supplier_key
        accounts = _record(s, key, hold.evidence.get("new_accounts") or (), source="confirmed", by=by, now=now,
                           document_id=document_id, replace=True)
        release = Release(key, accounts, _release_satisfied(s, key, by=by, now=now))
    return _deliver(gw, release, now)


def set_account(gw, supplier: str, account: str, *, by: str, replace: bool = True,
                now: Optional[datetime] = None) -> Release:
    """An operator records ``account`` as ``supplier``'s (its key: VAT identifier…); ``replace``:
    its other accounts are retired. Invoices held for that account are released."""
    now = now or utcnow()
    key = (supplier or "").strip().upper()
    normalised = normalise_account(account)
    if not key or not normalised:
        raise ControlError("a supplier (its VAT identifier, or the key the controls show) and an account are needed")
    with gw.session() as s:
        accounts = _record(s, key, [normalised], source="operator", by=by, now=now, document_id=None,
                           replace=replace)
        release = Release(key, accounts, _release_satisfied(s, key, by=by, now=now))
    return _deliver(gw, release, now)


def accounts(s, supplier: str) -> list[SupplierAccount]:
    """A supplier's accounts, current and retired, oldest first."""
    return list(s.scalars(sa.select(SupplierAccount).where(SupplierAccount.supplier_key == supplier.strip().upper())
                          .order_by(SupplierAccount.id)))
