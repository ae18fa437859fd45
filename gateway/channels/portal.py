"""The recipient portal: the invoice is available at once in the portal, with a notification mail.

A delivery over the portal is ``delivered`` when it is recorded (the recipient can
see it); its download acknowledges it. The "new invoice" mail is a durable ``email``
exchange, sent once (claimed before sending, and recorded once per delivery).

A recipient's portal settings (``portal`` in its channel settings): ``notify`` (who
gets the mail; default its contact e-mail), ``lang`` (else its portal users' language, the
buyer's country, the gateway's language: ``templating.reader_language``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional

from gateway.channels import email, templating
from gateway.channels.settings import addresses, language
from gateway.delivery.channel import Channel, DeliveryPlan
from gateway.store.filenames import safe_filename


@dataclass(frozen=True)
class PortalProfile:
    notify: tuple[str, ...] = ()
    lang: Optional[str] = None
    why: str = ""
    channel: str = field(default="portal", init=False)


class PortalChannel(Channel):
    name, label = "portal", "Portal"
    self_service = True
    before_approval = True          # the approvers' own place: they read what waits for them here
    settings_keys = ("notify", "lang")

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        out: dict[str, Any] = {}
        if "notify" in settings:
            out["notify"] = addresses(settings["notify"], "portal.notify", required=False)
        if settings.get("lang") is not None:
            out["lang"] = language(settings["lang"], "portal.lang")
        return out

    def settings_schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "properties": {
            "notify": {"type": "array", "items": {"type": "string", "format": "email"}, "maxItems": 20},
            "lang": {"type": ["string", "null"], "enum": [*templating.LANGS, None]}}}

    def profile(self, partner: Any, settings: Mapping[str, Any], *, gateway_settings: Any,
                invoice: Any = None, why: str = "") -> PortalProfile:
        notify = settings.get("notify") or ([partner.contact_email] if partner.contact_email else [])
        return PortalProfile(notify=tuple(notify), lang=settings.get("lang"), why=why)

    def plan(self, session: Any, plan: DeliveryPlan, partner: Any, invoice: Any) -> DeliveryPlan:
        plan.lang = templating.reader_language(session, partner, invoice, plan.profile.lang, plan.lang)
        return plan

    def record(self, session: Any, gw: Any, rec: Any, delivery: Any, plan: DeliveryPlan, now: datetime,
               *, fallback_name: str) -> list[int]:
        session.flush()
        sends, told = [], ""
        if plan.profile.notify:
            out_id = _notify(session, gw, rec, plan, now)
            sends.append(out_id)
            told = f"; notification to {', '.join(plan.profile.notify)} (exchange {out_id})"
        delivery.set_status("delivered", f"{plan.reason}; available in the portal as {plan.format}{told}", at=now)
        return sends


def _notify(session: Any, gw: Any, rec: Any, plan: DeliveryPlan, now: datetime) -> int:
    """The "new invoice" mail, as a durable ``email`` exchange."""
    message_id = email.new_message_id(gw.settings.mail_from)
    link = f"{gw.settings.public_url.rstrip('/')}/portal/documents/{rec.id}"
    raw = email.build_notification(plan.profile.notify, templating.record_summary(rec), link=link, lang=plan.lang,
                                   mail_from=gw.settings.mail_from, message_id=message_id)
    ref = gw.payloads.put(raw)
    out = email.outbound(partner_id=plan.recipient_id, raw_key=ref.key, raw_size=ref.size,
                         message_id=message_id, at=now,
                         filename=f"notification-{safe_filename(rec.number, str(rec.id))}.eml")
    session.add(out)
    session.flush()
    out.note(f"portal notification for document {rec.id}", at=now)
    return out.id


channel = PortalChannel()
