"""How old a received message may be: the signed eb:Timestamp against an acceptance window.

Duplicate detection (by MessageId, in the receiver's records) keeps a message that is
sent again from being stored twice, for as long as those records are kept. The
window bounds what a captured message is worth to whoever replays it: its
``eb:Timestamp`` sits inside the ``eb:Messaging`` the signature must cover
(``wss.verify``), so it cannot be refreshed without the sender's key, and a message
older than ``max_age`` (or dated more than ``skew`` ahead of our clock) is refused.

Which error. ebMS 3 Core §6.7.2 names two: EBMS:0101 FailedAuthentication, "the
signature ... could not be validated by the Security module", and EBMS:0103
PolicyNoncompliance, "the processor determined that the message's security methods,
parameters, scope or other security policy-level requirements or agreements were not
satisfied". A stale message *is* authenticated (its signature verifies: the check
runs after it); what it fails is the freshness the receiving policy requires, so it is
EBMS:0103. A message whose MessageId was altered to dodge duplicate detection fails
the signature instead (EBMS:0101: the digest of the eb:Messaging no longer matches).

A message already received is answered as a duplicate whatever its age (its first
Receipt again, nothing stored: the sender learns nothing new, and a sender resending
late still gets its proof of delivery); the window judges only what is new. So the
check runs after the signature and the duplicate lookup, before anything is stored
(the Peppol channel runs it first in its payload check). ``max_age`` is generous by
default (an hour): AS4 senders resend the very same bytes (reception awareness
retries) for some minutes when a receipt does not come back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from .errors import As4Refusal

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class Freshness:
    """The acceptance window: at most ``max_age`` old, at most ``skew`` in the future."""
    max_age: timedelta = timedelta(hours=1)
    skew: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_age <= timedelta(0) or self.skew < timedelta(0):
            raise ValueError("the acceptance window needs a positive age and a skew of zero or more")


def parse_timestamp(text: Optional[str]) -> datetime:
    """An ``xsd:dateTime`` as ebMS writes it (UTC; a value without a zone is read as UTC);
    As4Refusal EBMS:0009 when missing or not one."""
    m = _STAMP.fullmatch((text or "").strip())
    if not m:
        raise As4Refusal("EBMS:0009", f"eb:Timestamp {str(text)[:40]!r} is missing or not an xsd:dateTime")
    day, clock, frac, zone = m.groups()
    micro = (frac or ".0")[1:7].ljust(6, "0")
    try:
        when = datetime.fromisoformat(f"{day}T{clock}.{micro}")
    except ValueError:
        raise As4Refusal("EBMS:0009", f"eb:Timestamp {text[:40]!r} is not a valid date and time") from None
    if zone in (None, "Z"):
        return when.replace(tzinfo=timezone.utc)
    sign = 1 if zone[0] == "+" else -1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    return (when - sign * timedelta(hours=hours, minutes=minutes)).replace(tzinfo=timezone.utc)


def check(timestamp: Optional[str], window: Freshness, now: Optional[datetime] = None) -> datetime:
    """The message's time, or As4Refusal EBMS:0103 when it is outside ``window``."""
    now = now or datetime.now(timezone.utc)
    when = parse_timestamp(timestamp)
    if when < now - window.max_age:
        raise As4Refusal("EBMS:0103", f"the message is dated {when:%Y-%m-%dT%H:%M:%SZ}, older than the "
                                      f"{_span(window.max_age)} this access point accepts (a replay?)")
    if when > now + window.skew:
        raise As4Refusal("EBMS:0103", f"the message is dated {when:%Y-%m-%dT%H:%M:%SZ}, more than "
                                      f"{_span(window.skew)} ahead of this access point's clock")
    return when


def _span(d: timedelta) -> str:
    s = int(d.total_seconds())
    return f"{s // 3600} h" if s % 3600 == 0 and s >= 3600 else f"{s // 60} min" if s % 60 == 0 else f"{s} s"
