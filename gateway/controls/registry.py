"""The controls, in the order they run: one module each, named in ``defaults.yaml``."""
from __future__ import annotations

from . import amount, bank_account, issue_date, near_duplicate, vat_rate
from .base import Control
from .settings import definitions

CONTROLS: tuple[Control, ...] = (bank_account.control, amount.control, issue_date.control,
                                 near_duplicate.control, vat_rate.control)


def by_name() -> dict[str, Control]:
    return {c.name: c for c in CONTROLS}


def _check_agreement() -> None:
    """Every control has its defaults, and every default its control."""
    names = {c.name for c in CONTROLS}
    if names != set(definitions()):
        raise RuntimeError(f"controls and defaults.yaml disagree: {sorted(names ^ set(definitions()))}")


_check_agreement()
