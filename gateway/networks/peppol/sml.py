"""The SML: which SMP a participant's metadata is published by, asked of the DNS.

The current rule (Peppol Policy for use of Identifiers 4.4.0, POLICY 7; SML 1.3.0;
as peppol-commons' ``PeppolNaptrURLProvider`` has it):

    name = strip-trailing(base32(sha256(lowercase(VALUE))), "=") + "." + SCHEME + "." + ZONE

(VALUE the participant value ``0088:123abc``, SCHEME ``iso6523-actorid-upis``;
the base32 text lower-cased, DNS names being case-insensitive), then a U-NAPTR
lookup (RFC 4848): records with flag ``U`` and service ``Meta:SMP``, the
lowest order then preference first, whose regexp ``!^.*$!<url>!`` gives the
SMP's URL.

The older rule (PeppolURLProvider, replaced in 2025; ``sml_legacy``):
``"B-" + hex(md5(lowercase(VALUE))) + "." + SCHEME + "." + ZONE``, a
CNAME/A record, and the SMP at ``http://<that name>/`` (port 80, root path).

The resolver is dnspython's, pointed at ``dns_server``:``dns_port`` when set
(tests run their own server), bounded by ``dns_timeout`` and the caller's
deadline. An answer that points at a loopback, private or reserved address is
refused unless ``allow_private``: the SML is public data anyone can register
in, and must not make us reach our own network. (For a host name in a NAPTR
URL the address check happens again when the SMP is connected to:
``gateway.transports.safe_http``.)
"""
from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Optional

from gateway.networks.peppol.identifiers import ParticipantId
from gateway.networks.peppol.refusal import DiscoveryError
from gateway.networks.peppol.settings import PeppolSettings
from gateway.transports.safe_http import is_public, url_problem

NAPTR_SERVICE = "Meta:SMP"
MAX_RECORDS = 32                    # NAPTR records looked at for one name


def naptr_name(participant: ParticipantId, zone: str) -> str:
    """The DNS name whose U-NAPTR record gives the participant's SMP."""
    digest = hashlib.sha256(participant.value.lower().encode("utf-8")).digest()
    label = base64.b32encode(digest).decode("ascii").rstrip("=").lower()
    return _join(label, participant.scheme.lower(), zone)


def legacy_name(participant: ParticipantId, zone: str) -> str:
    """The older CNAME name: ``B-`` + hex MD5 of the lower-cased value."""
    digest = hashlib.md5(participant.value.lower().encode("utf-8"), usedforsecurity=False).hexdigest()
    return _join("B-" + digest, participant.scheme.lower(), zone)


def _join(*labels: str) -> str:
    return ".".join(label.strip(".") for label in labels if label and label.strip("."))


@dataclass(frozen=True)
class SmpLocation:
    """Where a participant's SMP answers: ``url`` (its base); ``address`` set when the DNS gave
    the address itself (legacy form), to connect to it rather than resolve the name again."""
    url: str
    dns_name: str
    address: Optional[str] = None


def _resolver(settings: PeppolSettings, deadline: float):
    import dns.resolver
    if settings.dns_server:
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [settings.dns_server]
        r.port = settings.dns_port
    else:
        r = dns.resolver.Resolver()
    left = deadline - time.monotonic()
    if left <= 0:
        raise DiscoveryError("timeout", "no time left for the SML lookup")
    r.lifetime = min(settings.dns_timeout, left)
    r.timeout = min(2.0, r.lifetime)
    r.cache = None
    return r


def _query(settings: PeppolSettings, name: str, rdtype: str, deadline: float):
    import dns.exception
    import dns.resolver
    try:
        return _resolver(settings, deadline).resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        raise DiscoveryError("not_registered", f"{name}: no such name in the SML zone "
                                               "(the participant is not registered)") from None
    except (dns.resolver.LifetimeTimeout, dns.exception.Timeout):
        raise DiscoveryError("timeout", f"{name}: the DNS did not answer in time") from None
    except dns.resolver.NoNameservers as e:
        raise DiscoveryError("dns_failed", f"{name}: no name server answered ({e})") from None
    except dns.exception.DNSException as e:
        raise DiscoveryError("dns_failed", f"{name}: DNS lookup failed ({type(e).__name__}: {e})") from None


def _text(value) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def url_from_regexp(regexp: str) -> Optional[str]:
    """The URL of a U-NAPTR regexp ``!^.*$!<url>!`` (any delimiter), or None when it is not of
    that form: U-NAPTR replaces the whole name, so any other expression is not ours to run."""
    if len(regexp) < 4:
        return None
    delim = regexp[0]
    parts = regexp[1:].split(delim)
    if len(parts) != 3 or parts[2] not in ("", "i") or parts[0] != "^.*$" or not parts[1]:
        return None
    return parts[1]


def _naptr(settings: PeppolSettings, participant: ParticipantId, deadline: float) -> SmpLocation:
    name = naptr_name(participant, settings.sml_zone)
    answer = _query(settings, name, "NAPTR", deadline)
    records = sorted(list(answer)[:MAX_RECORDS], key=lambda r: (r.order, r.preference))
    seen = []
    for rr in records:
        flags, service = _text(rr.flags), _text(rr.service)
        if flags.upper() != "U" or service.lower() != NAPTR_SERVICE.lower():
            seen.append(f"{flags}/{service}")
            continue
        url = url_from_regexp(_text(rr.regexp))
        if url is None:
            raise DiscoveryError("bad_answer", f"{name}: NAPTR regexp {_text(rr.regexp)[:200]!r} is not "
                                               "of the U-NAPTR form !^.*$!<url>!")
        problem = url_problem(url, allow_private=settings.allow_private)
        if problem:
            code = "forbidden_address" if "address" in problem or "host" in problem else "bad_answer"
            raise DiscoveryError(code, f"{name}: the SMP URL {url[:200]!r} is refused: {problem}")
        return SmpLocation(url=url.rstrip("/"), dns_name=name)
    if seen:
        raise DiscoveryError("not_registered", f"{name}: no U-NAPTR record for service {NAPTR_SERVICE} "
                                               f"(found {', '.join(seen[:5])})")
    raise DiscoveryError("not_registered", f"{name}: no NAPTR record (the participant is not registered)")


def _legacy(settings: PeppolSettings, participant: ParticipantId, deadline: float) -> SmpLocation:
    name = legacy_name(participant, settings.sml_zone)
    answer = _query(settings, name, "A", deadline)
    addresses = [rr.address for rr in answer]
    if not addresses:
        raise DiscoveryError("not_registered", f"{name}: no address record (the participant is not registered)")
    for address in addresses:
        if settings.allow_private or is_public(address):
            return SmpLocation(url=f"http://{name}", dns_name=name, address=address)
    raise DiscoveryError("forbidden_address", f"{name} is at {', '.join(addresses[:4])}, which is not a "
                                              "public address")


def locate_smp(settings: PeppolSettings, participant: ParticipantId, *,
               deadline: Optional[float] = None) -> SmpLocation:
    """The participant's SMP, by U-NAPTR (or the legacy CNAME form); raises ``DiscoveryError``.
    ``deadline``: a ``time.monotonic()`` value no lookup goes past."""
    deadline = deadline if deadline is not None else time.monotonic() + settings.dns_timeout
    if settings.sml_legacy:
        return _legacy(settings, participant, deadline)
    return _naptr(settings, participant, deadline)


