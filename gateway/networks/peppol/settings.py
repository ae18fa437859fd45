"""Peppol settings: environment variables over defaults, beside the gateway's own ``Settings``.

| variable | default | meaning |
|---|---|---|
| EDIGATE_PEPPOL_SML_ZONE | edelivery.tech.ec.europa.eu | the SML's DNS zone (test network: acc.edelivery.tech.ec.europa.eu) |
| EDIGATE_PEPPOL_SML_LEGACY | false | look participants up by the older CNAME name (``B-`` + MD5) instead of U-NAPTR |
| EDIGATE_PEPPOL_DNS_SERVER | (the system's) | the name server asked (an IP address); tests point it at their own |
| EDIGATE_PEPPOL_DNS_PORT | 53 | its port |
| EDIGATE_PEPPOL_DNS_TIMEOUT | 5 | seconds one DNS lookup may take, all tries included |
| EDIGATE_PEPPOL_LOOKUP_TIMEOUT | 20 | seconds a whole discovery (DNS, SMP, redirect) may take |
| EDIGATE_PEPPOL_SMP_TRUST | (none) | PEM file of the CA certificates an SMP's signing certificate must chain to (production: OpenPeppol's SMP CA); without it no SMP answer is trusted |
| EDIGATE_PEPPOL_ALLOW_PRIVATE | false | let DNS answers and SMP URLs be loopback or private addresses (tests, a private network) |
| EDIGATE_PEPPOL_CACHE_TTL | 1h | how long a discovery answer is kept (90s, 30m, 12h…) |
| EDIGATE_PEPPOL_NEGATIVE_TTL | 5m | how long "not registered" / "no such service" is kept |
| EDIGATE_PEPPOL_TRANSPORT_PROFILE | peppol-transport-as4-v2_0 | the transport profile we send by |
| EDIGATE_PEPPOL_SMP_KEY | (dev key under the certs dir) | the private key our own SMP signs its answers with (PEM) |
| EDIGATE_PEPPOL_SMP_CERT | (beside the key) | its certificate (PEM) |
| EDIGATE_PEPPOL_AP_CERT | (the SMP certificate) | our access point's certificate, published in our endpoints |
| EDIGATE_PEPPOL_AP_KEY | (the SMP key) | our access point's private key (PEM), with EDIGATE_PEPPOL_AP_CERT |
| EDIGATE_PEPPOL_AP_NEXT_CERT, EDIGATE_PEPPOL_AP_NEXT_KEY | (none) | the next access point certificate and its key, for a rollover: published in our SMP from EDIGATE_PEPPOL_AP_SWITCH_AT on (before it, the current one), and both decrypt what comes in meanwhile |
| EDIGATE_PEPPOL_AP_SWITCH_AT | (the next certificate's notBefore) | when the next certificate takes over (ISO 8601 date and time, UTC unless it says otherwise): our SMP's endpoints change at that instant, and we sign with it from then on |
| EDIGATE_PEPPOL_AP_TRUST | (none) | PEM file of the network's root and AP CA certificates (OpenPeppol's): access points not on record are accepted when their certificate's whole chain leads to one (with EDIGATE_PEPPOL_AS4_ALLOW_STRANGERS; ``ap_trust``) |
| EDIGATE_PEPPOL_AS4_PATH | /as4 | where our AS4 endpoint answers, under EDIGATE_PUBLIC_URL |
| EDIGATE_PEPPOL_AS4_MAX_AGE | 1h | a new AS4 message dated (signed eb:Timestamp) longer ago than this is refused, EBMS:0103 (a replay) |
| EDIGATE_PEPPOL_AS4_CLOCK_SKEW | 15m | … and one dated further ahead of our clock than this |

They are read from the process environment (``load(settings)``); tests build
``PeppolSettings`` directly or pass ``env``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Optional

from gateway.config import ConfigError, Settings, parse_duration, parse_flag

PREFIX = "EDIGATE_PEPPOL_"
PRODUCTION_ZONE = "edelivery.tech.ec.europa.eu"
TEST_ZONE = "acc.edelivery.tech.ec.europa.eu"
AS4_PROFILE = "peppol-transport-as4-v2_0"


@dataclass(frozen=True)
class PeppolSettings:
    home: Path                                   # the gateway's home: the discovery cache lives there
    public_url: str
    certs_dir: Path
    sml_zone: str = PRODUCTION_ZONE
    sml_legacy: bool = False
    dns_server: Optional[str] = None
    dns_port: int = 53
    dns_timeout: float = 5.0
    lookup_timeout: float = 20.0
    smp_trust: Optional[Path] = None
    allow_private: bool = False
    cache_ttl: int = 3600
    negative_ttl: int = 300
    transport_profile: str = AS4_PROFILE
    smp_key: Optional[Path] = None
    smp_cert: Optional[Path] = None
    ap_cert: Optional[Path] = None
    as4_path: str = "/as4"
    ap_next_cert: Optional[Path] = None
    ap_next_key: Optional[Path] = None
    ap_switch_at: Optional[datetime] = None
    ap_trust: Optional[Path] = None
    as4_max_age: int = 3600
    as4_clock_skew: int = 900

    @property
    def cache_dir(self) -> Path:
        return self.home / "peppol" / "discovery-cache"

    @property
    def smp_url(self) -> str:
        """Where our own SMP answers (``gateway.web.smp``)."""
        return self.public_url.rstrip("/") + "/smp"

    @property
    def endpoint_url(self) -> str:
        """Our AS4 endpoint, as our SMP publishes it."""
        return self.public_url.rstrip("/") + self.as4_path

    def with_(self, **changes) -> "PeppolSettings":
        return replace(self, **changes)


def _instant(text: Optional[str], name: str) -> Optional[datetime]:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected an ISO 8601 date and time such as 2027-03-01T00:00:00Z") \
            from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _seconds(text: str, name: str) -> float:
    try:
        n = float(text)
    except ValueError:
        n = 0.0
    if not 0 < n <= 600:
        raise ConfigError(f"{name}={text!r}: expected seconds, more than 0 and at most 600")
    return n


def load(settings: Settings, env: Optional[Mapping[str, str]] = None) -> PeppolSettings:
    """The Peppol settings of a gateway: ``env`` (default ``os.environ``) over the defaults."""
    import ipaddress
    env = os.environ if env is None else env

    def get(name: str) -> Optional[str]:
        value = env.get(PREFIX + name)
        return value.strip() if value not in (None, "") and value.strip() else None

    server = get("DNS_SERVER")
    if server is not None:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ConfigError(f"{PREFIX}DNS_SERVER={server!r}: expected an IP address") from None
    port_text = get("DNS_PORT") or "53"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{PREFIX}DNS_PORT={port_text!r}: expected a port number (1-65535)")
    zone = (get("SML_ZONE") or PRODUCTION_ZONE).strip(".").lower()
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", zone):
        raise ConfigError(f"{PREFIX}SML_ZONE={zone!r}: expected a DNS zone such as {PRODUCTION_ZONE}")
    as4_path = get("AS4_PATH") or "/as4"
    if not as4_path.startswith("/"):
        raise ConfigError(f"{PREFIX}AS4_PATH={as4_path!r}: expected a path starting with /")

    def path(name: str) -> Optional[Path]:
        value = get(name)
        return Path(value).expanduser() if value else None

    key = path("SMP_KEY")
    cert = path("SMP_CERT")
    if key is not None and cert is None:
        cert = key.with_name(key.name.replace(".key.pem", ".cert.pem"))
    return PeppolSettings(
        home=settings.home, public_url=settings.public_url, certs_dir=settings.certs_dir,
        sml_zone=zone,
        sml_legacy=parse_flag(get("SML_LEGACY") or "false", PREFIX + "SML_LEGACY"),
        dns_server=server, dns_port=int(port_text),
        dns_timeout=_seconds(get("DNS_TIMEOUT") or "5", PREFIX + "DNS_TIMEOUT"),
        lookup_timeout=_seconds(get("LOOKUP_TIMEOUT") or "20", PREFIX + "LOOKUP_TIMEOUT"),
        smp_trust=path("SMP_TRUST"),
        allow_private=parse_flag(get("ALLOW_PRIVATE") or "false", PREFIX + "ALLOW_PRIVATE"),
        cache_ttl=parse_duration(get("CACHE_TTL") or "1h", PREFIX + "CACHE_TTL"),
        negative_ttl=parse_duration(get("NEGATIVE_TTL") or "5m", PREFIX + "NEGATIVE_TTL"),
        transport_profile=get("TRANSPORT_PROFILE") or AS4_PROFILE,
        smp_key=key, smp_cert=cert, ap_cert=path("AP_CERT"), as4_path=as4_path.rstrip("/") or "/as4",
        ap_next_cert=path("AP_NEXT_CERT"), ap_next_key=path("AP_NEXT_KEY"),
        ap_switch_at=_instant(get("AP_SWITCH_AT"), PREFIX + "AP_SWITCH_AT"), ap_trust=path("AP_TRUST"),
        as4_max_age=parse_duration(get("AS4_MAX_AGE") or "1h", PREFIX + "AS4_MAX_AGE", minimum=1),
        as4_clock_skew=parse_duration(get("AS4_CLOCK_SKEW") or "15m", PREFIX + "AS4_CLOCK_SKEW"),
    )


def of(gw_settings: "Settings | PeppolSettings") -> PeppolSettings:
    """``PeppolSettings`` as given, or loaded for a gateway's ``Settings``."""
    return gw_settings if isinstance(gw_settings, PeppolSettings) else load(gw_settings)
