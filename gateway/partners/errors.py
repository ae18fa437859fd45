"""The refusal of a partner change, apart from the service so that its helpers (``sftp_account``)
can raise it without importing the service back."""
from __future__ import annotations

from typing import Any, Optional, Union

from gateway.db import Organisation, Partner

Owner = Union[Partner, Organisation]


class PartnerError(ValueError):
    """A partner change refused. ``field`` names what (``as2.id``); ``problem`` is what is wrong
    with it, ``str()`` the whole sentence. ``conflict``: the value is someone else's (``holder``:
    the partner or organisation that has it; ``holder_id`` its id), rather than unusable."""

    def __init__(self, field: str, message: str, *, problem: Optional[str] = None, conflict: bool = False,
                 holder: Optional[Owner] = None, value: Any = None):
        super().__init__(message)
        self.field, self.problem, self.conflict, self.holder, self.value = \
            field, problem or message, conflict, holder, value
        self.holder_id = holder.id if holder is not None else None     # readable after the session ends
