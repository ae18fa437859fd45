"""Our SMP (Peppol SMP 1.x, read-only): how other access points discover our members.

    GET /smp/{participant}                      the ServiceGroup
    GET /smp/{participant}/services/{doctype}   the SignedServiceMetadata

``{participant}`` and ``{doctype}`` are ``scheme::value`` identifiers,
percent-encoded (``iso6523-actorid-upis%3A%3A0208%3A0123456789``). A member
is an active partner with an identifier under an ISO 6523 ICD scheme (0208,
0088, 0009, 0225…): it is published for the services of
``gateway/networks/peppol/services.yaml``, with our AS4 endpoint
(``EDIGATE_PUBLIC_URL`` + ``EDIGATE_PEPPOL_AS4_PATH``) and our access point's
certificate, signed with our SMP key (``gateway.networks.peppol.publish``).
Anyone else, and any other document type, is a 404, as the SMP specification
asks.

Public, like the AS2 endpoint: no login, GET only, nothing written. Bounded:
a path longer than an identifier pair can be is refused before any lookup,
and an answer is one indexed query and one signature.
"""
from __future__ import annotations

import threading
from typing import Optional

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request

from gateway.networks.peppol import identifiers as ids
from gateway.networks.peppol import publish
from gateway.networks.peppol.settings import PeppolSettings, load

from ..kit.current import gateway

bp = Blueprint("smp", __name__, url_prefix="/smp")

KEY = "edigate.peppol.smp"
MAX_PATH = 2 * (ids.MAX_SCHEME + 2) + ids.MAX_PARTICIPANT_VALUE + ids.MAX_DOCTYPE_VALUE + len("/services/")
XML = "application/xml; charset=utf-8"
_lock = threading.Lock()


class _Ours:
    """This app's Peppol settings and SMP signer, made on first use."""

    def __init__(self, settings: PeppolSettings, signer: publish.Signer):
        self.settings, self.signer = settings, signer


def _ours() -> _Ours:
    ours = current_app.extensions.get(KEY)
    if ours is not None:
        return ours
    with _lock:
        ours = current_app.extensions.get(KEY)
        if ours is None:
            settings = load(gateway().settings)
            if settings.smp_key is not None:
                key, cert = settings.smp_key, settings.smp_cert
            else:
                from gateway.certs import ensure_dev_keypair
                kp = ensure_dev_keypair(settings.certs_dir / "dev", "peppol-smp", common_name="edigate SMP")
                key, cert = kp.key_path, kp.cert_path
            ours = _Ours(settings, publish.Signer.load(key, cert, settings.ap_cert,
                                                       next_cert_path=settings.ap_next_cert,
                                                       switch_at=settings.ap_switch_at))
            current_app.extensions[KEY] = ours
    return ours


def _answer(body: bytes | str, status: int = 200) -> Response:
    r = Response(body, status=status, content_type=XML if status == 200 else "text/plain; charset=utf-8")
    r.headers["X-Content-Type-Options"] = "nosniff"
    r.headers["Cache-Control"] = "public, max-age=300" if status == 200 else "no-store"
    return r


def _member(participant: ids.ParticipantId) -> bool:
    from gateway.db import Partner, PartnerIdentifier
    key = ids.partner_key(participant)
    if key is None:
        return False
    with gateway().session() as s:
        return s.scalar(sa.select(Partner.id).join(PartnerIdentifier)
                        .where(PartnerIdentifier.scheme == key[0], PartnerIdentifier.value == key[1],
                               Partner.active.is_(True)).limit(1)) is not None


def _participant(text: str) -> Optional[ids.ParticipantId]:
    try:
        p = ids.ParticipantId.parse(text, default_scheme=None)
    except ids.IdentifierError:
        return None
    return p if p.scheme == ids.PARTICIPANT_SCHEME else None


@bp.get("/<path:rest>")
def smp(rest: str):
    if len(rest) > MAX_PATH or request.query_string:
        return _answer("not found\n", 404)
    head, sep, tail = rest.partition("/services/")
    participant = _participant(head)
    if participant is None:
        return _answer("not a Peppol participant identifier (iso6523-actorid-upis::ICD:value)\n", 400)
    if not _member(participant):
        return _answer("no such participant here\n", 404)
    ours = _ours()
    offered = publish.services()
    if not sep:
        return _answer(publish.service_group(participant, ours.settings.smp_url, offered))
    try:
        doctype = ids.DocumentTypeId.parse(tail, default_scheme=None)
    except ids.IdentifierError:
        return _answer("not a document type identifier (scheme::value)\n", 400)
    processes = [s.process for s in offered if s.document_type == doctype]
    if not processes:
        return _answer("this document type is not served for this participant\n", 404)
    return _answer(publish.service_metadata(participant, doctype, processes,
                                            endpoint_url=ours.settings.endpoint_url,
                                            transport_profile=ours.settings.transport_profile,
                                            signer=ours.signer))
