"""Records as JSON: what the API answers, one function per kind of record.

Flask's own JSON would write datetimes as RFC 822 dates and lose nothing
else we care about only by luck; here every datetime is ISO 8601 in UTC
(``2025-01-06T09:00:00Z``), dates are ``YYYY-MM-DD`` and amounts are strings
(``"1250.0000"``), so no client reads an amount through a float.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional

from ..db import (Certificate, Delivery, DocumentRecord, DocumentStatusEvent, Exchange, Partner,
                  PartnerIdentifier, RenderingRecord)

EXPIRY_WARNING = timedelta(days=30)


def iso(value: Any) -> Any:
    """datetime → ISO 8601 UTC with ``Z``; date → ``YYYY-MM-DD``; Decimal → str; else as is."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def retryable(ex: Exchange) -> bool:
    """What ``Gateway.retry_exchange`` accepts (``Exchange.retryable``)."""
    return ex.retryable


def history(events: Any) -> list[dict[str, Any]]:
    return [{"status": e.status, "at": iso(e.at), "reason": e.reason} for e in events]


# --- partners ----------------------------------------------------------------------------

def identifier(i: PartnerIdentifier) -> dict[str, Any]:
    return {"scheme": i.scheme, "label": i.label, "value": i.value}


def as2_settings(p: Partner) -> dict[str, Any]:
    return {
        "id": p.as2_id, "url": p.as2_url, "identity_id": p.as2_identity_id,
        "signing_algorithm": p.as2_signing_algorithm, "encryption_algorithm": p.as2_encryption_algorithm,
        "compress": p.as2_compress, "mdn_mode": p.as2_mdn_mode, "mdn_signed": p.as2_mdn_signed,
        "require_signed": p.as2_require_signed, "require_encrypted": p.as2_require_encrypted,
        "micalg_spelling": p.as2_micalg_spelling, "compress_before_signing": p.as2_compress_before_signing,
        "content_transfer_encoding": p.as2_content_transfer_encoding, "options": dict(p.as2_options or {}),
    }


def certificate(c: Certificate, *, now: Optional[datetime] = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    return {
        "id": c.id, "usage": c.usage, "subject": c.subject, "issuer": c.issuer, "serial": c.serial,
        "fingerprint_sha256": c.fingerprint_sha256, "not_before": iso(c.not_before),
        "not_after": iso(c.not_after), "active": c.active, "valid_now": c.valid_at(now),
        "expires_soon": c.active and c.not_after <= now + EXPIRY_WARNING,
    }


def partner(p: Partner, *, detail: bool = False) -> dict[str, Any]:
    out = {
        "id": p.id, "name": p.name, "active": p.active,
        "preferred_format": p.preferred_format, "preferred_channel": p.preferred_channel,
        "identifiers": [identifier(i) for i in p.identifiers],
        "as2": as2_settings(p),
        "contact_email": p.contact_email, "channel_settings": p.channel_settings or {},
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
    }
    if detail:
        out["certificates"] = [certificate(c) for c in sorted(p.certificates, key=lambda c: c.id)]
    return out


# --- exchanges ---------------------------------------------------------------------------

def exchange(ex: Exchange, *, detail: bool = False) -> dict[str, Any]:
    out = {
        "id": ex.id, "direction": ex.direction, "channel": ex.channel,
        "partner": {"id": ex.partner.id, "name": ex.partner.name} if ex.partner is not None else None,
        "organisation_id": ex.organisation_id,
        "as2_from": ex.as2_from, "as2_to": ex.as2_to, "message_id": ex.message_id,
        "filename": ex.filename, "content_type": ex.content_type,
        "payload_key": ex.payload_key, "payload_size": ex.payload_size,
        "content_sha256": ex.content_sha256, "content_size": ex.content_size,
        "mdn": {
            "mode": ex.mdn_mode, "message_id": ex.mdn_message_id, "payload_key": ex.mdn_payload_key,
            "disposition": ex.mdn_disposition, "at": iso(ex.mdn_at), "due_at": iso(ex.mdn_due_at),
            "url": ex.mdn_url,
        },
        "mic": ex.mic, "mic_algorithm": ex.mic_algorithm,
        "status": ex.status, "status_at": iso(ex.status_at), "reason": ex.reason,
        "attempts": ex.attempts, "next_attempt_at": iso(ex.next_attempt_at),
        "retryable": retryable(ex),
        "created_at": iso(ex.created_at), "updated_at": iso(ex.updated_at),
    }
    if detail:
        out["history"] = history(ex.history)
        out["documents"] = [d.id for d in ex.documents]
    return out


# --- documents ---------------------------------------------------------------------------

_SUMMARY = ("number", "type_code", "issue_date", "due_date", "currency",
            "seller_name", "seller_vat_id", "seller_id_scheme", "seller_id", "seller_endpoint_scheme",
            "seller_endpoint_id", "buyer_name", "buyer_vat_id", "buyer_id_scheme", "buyer_id",
            "buyer_endpoint_scheme", "buyer_endpoint_id", "total_without_vat", "total_vat",
            "total_with_vat", "amount_due", "line_count")


def rendering(r: RenderingRecord) -> dict[str, Any]:
    return {"id": r.id, "syntax": r.syntax, "mapping": r.mapping, "size": r.size, "media_type": r.media_type,
            "dropped": list(r.dropped or []), "created_at": iso(r.created_at)}


def delivery(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id, "recipient": {"id": d.recipient.id, "name": d.recipient.name},
        "format": d.format, "channel": d.channel, "rendering_id": d.rendering_id, "exchange_id": d.exchange_id,
        "network_id": d.network_id, "print_batch_id": d.print_batch_id,
        "status": d.status, "status_at": iso(d.status_at), "reason": d.reason, "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at), "history": history(d.history),
    }


def status_event(e: DocumentStatusEvent) -> dict[str, Any]:
    """One step of the invoice's life cycle, and how its sender was told (an APERAK exchange)."""
    return {"id": e.id, "status": e.status, "at": iso(e.at), "reason": e.reason, "reason_code": e.reason_code,
            "set_by": e.set_by, "reported_at": iso(e.reported_at), "report_exchange_id": e.report_exchange_id}


def document(doc: DocumentRecord, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": doc.id, "exchange_id": doc.exchange_id, "position": doc.position,
                           "syntax": doc.syntax, "mapping": doc.mapping}
    out.update({name: iso(getattr(doc, name)) for name in _SUMMARY})
    out.update({
        "sender_partner_id": doc.sender_partner_id, "recipient_partner_id": doc.recipient_partner_id,
        "valid": doc.valid, "fatal_count": doc.fatal_count, "warning_count": doc.warning_count,
        "duplicate_of_id": doc.duplicate_of_id, "status": doc.status,
        "business_status": doc.business_status, "business_status_at": iso(doc.business_status_at),
        "created_at": iso(doc.created_at), "updated_at": iso(doc.updated_at),
    })
    if detail:
        out["status_events"] = [status_event(e) for e in doc.status_events]
        out["findings"] = list(doc.findings or [])
        out["renderings"] = [rendering(r) for r in doc.renderings]
        out["deliveries"] = [delivery(d) for d in doc.deliveries]
    return out

