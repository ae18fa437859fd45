"""Onboarding's own settings, beside the gateway's (``gateway.config``): where bounces come back.

| variable | default | meaning |
|---|---|---|
| EDIGATE_BOUNCE_ADDRESS | bounces@<domain of EDIGATE_MAIL_FROM> | the return path of campaign mail; each mail goes out with ``bounces+<mail id>-<tag>@domain`` (VERP) so a delivery-status notification names its mail |
| EDIGATE_BOUNCE_MAILDIR | (none) | a Maildir the bounce address is delivered to; the sweep reads its ``new/`` and moves what it read to ``cur/`` |

The SMTP server, sender address and rate are the gateway's (``EDIGATE_SMTP_URL``,
``EDIGATE_MAIL_FROM``, ``EDIGATE_MAIL_RATE``); a campaign may set its own
sender and rate.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from gateway.config import PREFIX, ConfigError, Settings

_ADDRESS = re.compile(r"([^@\s+]+)@([^@\s]+\.[^@\s.]+|localhost)")


@dataclass(frozen=True)
class OnboardingSettings:
    bounce_local: str               # "bounces"
    bounce_domain: str              # "example.com"
    bounce_maildir: Optional[Path]

    @property
    def bounce_address(self) -> str:
        return f"{self.bounce_local}@{self.bounce_domain}"


def load(settings: Settings, env: Optional[Mapping[str, str]] = None) -> OnboardingSettings:
    env = os.environ if env is None else env
    address = env.get(PREFIX + "BOUNCE_ADDRESS") or ""
    if not address:
        domain = settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"
        address = f"bounces@{domain}"
    m = _ADDRESS.fullmatch(address.strip())
    if not m:
        raise ConfigError(f"{PREFIX}BOUNCE_ADDRESS={address!r}: expected an address such as bounces@example.com "
                          "(without '+': the mail id is added after one)")
    maildir = env.get(PREFIX + "BOUNCE_MAILDIR") or None
    return OnboardingSettings(bounce_local=m.group(1), bounce_domain=m.group(2),
                              bounce_maildir=Path(maildir).expanduser() if maildir else None)
