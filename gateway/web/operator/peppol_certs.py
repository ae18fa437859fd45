"""Our Peppol certificates among the operator's certificates (``peppol_certificates()`` in the
certificates page and the dashboard's expiry warnings): the access point's, a rollover's next one,
the SMP's, the trust anchors. They are settings, read by ``gateway.networks.peppol.certificates``;
they cannot be downloaded or retired here (they are files the operator changes)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

from ..api.serialise import EXPIRY_WARNING
from ..kit.current import gateway
from .views import bp


def _peppol_certificates(expiring: bool = False, within: Optional[timedelta] = None) -> list:
    from ...networks.peppol.certificates import of_gateway
    listed = of_gateway(gateway().settings)
    if not expiring:
        return listed
    now = datetime.now(timezone.utc)
    return [c for c in listed if c.expiring(within or EXPIRY_WARNING, now)]


@bp.context_processor
def _peppol() -> dict:
    from ...networks.peppol.certificates import word
    return {"peppol_certificates": _peppol_certificates, "peppol_word": word}
