"""What a partner that chose nothing gets, by what the partner is: asked of the channels, whose
data says it, in one place for the flow, the command line and the pages.

A status syntax left empty (``Partner.status_syntax`` None) is not one value for everybody: a
partner that stands for another Peppol access point hears of its invoices' statuses as Invoice
Responses (that network's status message), where an EDIFACT sender hears APERAK. Each channel
may say, through ``default_status_syntax(partner)``, what the partners it recognises hear; the
first channel that answers sets the default. A partner's own choice (``none`` included) always
wins, and is what is kept: the default follows the partner as it is now (a certificate imported,
``peppol.network`` set), with nothing to migrate or to keep in step.
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["status_syntax", "default_status_syntax"]


def default_status_syntax(partner: Any) -> Optional[str]:
    """The status syntax a channel gives ``partner`` when it chose none, or None (the flow's
    own default then: APERAK, to an EDIFACT sender only)."""
    from gateway.delivery.channel import registry
    for channel in registry:
        ask = getattr(channel, "default_status_syntax", None)
        chosen = ask(partner) if ask is not None else None
        if chosen:
            return chosen
    return None


def status_syntax(partner: Any) -> Optional[str]:
    """``partner``'s own status syntax, else its default (``default_status_syntax``)."""
    return getattr(partner, "status_syntax", None) or default_status_syntax(partner)
