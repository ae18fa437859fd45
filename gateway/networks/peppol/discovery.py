"""Find a Peppol participant's endpoint: SML (DNS), then its SMP, verified, with a cache.

    answer = find_endpoint(gw.settings, "iso6523-actorid-upis::0208:0123456789",
                           BIS3_INVOICE, BIS3_PROCESS)
    if isinstance(answer, Refusal): ...        # answer.reason, answer.final
    else: answer.url, answer.certificate       # an Endpoint

This is what routing calls for a recipient that is neither a member nor listed
by an interconnected network (``gateway.flow.route`` does not call it yet).
It never raises for the network's faults: every failure is a ``Refusal``
saying why. It never waits longer than ``lookup_timeout`` in all (DNS,
SMP, a redirect), so a document is never held by it without a bound; a
``Refusal`` that is not ``final`` (time-out, SMP down) is worth asking again
later, and is not cached.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Optional, Union

from gateway.config import Settings
from gateway.networks.peppol import cache, sml, smp
from gateway.networks.peppol.identifiers import DocumentTypeId, IdentifierError, ParticipantId, ProcessId
from gateway.networks.peppol.refusal import DiscoveryError, Refusal
from gateway.networks.peppol.settings import PeppolSettings, of

log = logging.getLogger("edigate.peppol")

Answer = Union[smp.Endpoint, Refusal]


def _ids(participant, doctype, process):
    p = participant if isinstance(participant, ParticipantId) else ParticipantId.parse(participant)
    d = doctype if isinstance(doctype, DocumentTypeId) else DocumentTypeId.parse(doctype)
    r = process if isinstance(process, ProcessId) else ProcessId.parse(process)
    return p, d, r


def find_endpoint(gw_settings: "Settings | PeppolSettings", participant: "ParticipantId | str",
                  doctype: "DocumentTypeId | str", process: "ProcessId | str", *,
                  transport_profile: Optional[str] = None, now: Optional[datetime] = None,
                  use_cache: bool = True, timeout: Optional[float] = None) -> Answer:
    """The endpoint to send ``doctype`` under ``process`` to ``participant`` by our transport
    profile, or a ``Refusal``. ``timeout``: at most this many seconds (default the setting)."""
    settings = of(gw_settings)
    now = now or datetime.now(timezone.utc)
    try:
        p, d, r = _ids(participant, doctype, process)
    except IdentifierError as e:
        return Refusal("bad_identifier", str(e))
    profile = transport_profile or settings.transport_profile
    k = cache.key(settings.sml_zone, "legacy" if settings.sml_legacy else "naptr", p.key, d.uri, r.uri, profile)
    if use_cache:
        kept = cache.load(settings.cache_dir, k, now)
        if kept is not None:
            return kept
    answer = _discover(settings, p, d, r, profile, now, timeout)
    cache.store(settings.cache_dir, k, answer, now, ttl=settings.cache_ttl, negative_ttl=settings.negative_ttl)
    return answer


def _discover(settings: PeppolSettings, participant: ParticipantId, doctype: DocumentTypeId,
              process: ProcessId, profile: str, now: datetime, timeout: Optional[float]) -> Answer:
    deadline = time.monotonic() + (timeout if timeout is not None else settings.lookup_timeout)
    try:
        location = sml.locate_smp(settings, participant, deadline=deadline)
        metadata = smp.fetch_service_metadata(
            location.url, participant, doctype, trust=settings.smp_trust, deadline=deadline,
            allow_private=settings.allow_private, address=location.address, at=now)
        endpoint = smp.choose(metadata, process, profile, now)
    except DiscoveryError as e:
        log.info("peppol discovery of %s for %s refused: %s", participant, doctype.value[:80], e.reason)
        return e.refusal
    problem = smp_url_problem(settings, endpoint.url)
    if problem:
        return Refusal("forbidden_address", f"{participant}'s endpoint {endpoint.url[:200]} is refused: {problem}")
    return endpoint


def smp_url_problem(settings: PeppolSettings, url: str) -> Optional[str]:
    """Why an endpoint URL an SMP published may not be sent to (None: it may)."""
    from gateway.transports.safe_http import url_problem
    return url_problem(url, allow_private=settings.allow_private)


def forget(gw_settings: "Settings | PeppolSettings", participant, doctype, process, *,
           transport_profile: Optional[str] = None) -> None:
    """Drop the kept answer (an operator's "look again now")."""
    settings = of(gw_settings)
    p, d, r = _ids(participant, doctype, process)
    profile = transport_profile or settings.transport_profile
    cache.forget(settings.cache_dir, cache.key(settings.sml_zone, "legacy" if settings.sml_legacy else "naptr",
                                               p.key, d.uri, r.uri, profile))
