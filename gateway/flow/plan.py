"""One document on its way to one recipient: which channel, which syntaxes, then the records.

Shared by the pipeline (a new document) and ``reroute_held`` (a held document
whose recipient became known), so both make exactly the same deliveries:

1. ``choose`` (in a session, quick): from the route and the recipient's channel
   profile, the channel, the delivery's format, the syntaxes to write, the
   outbound transport, and why; or a failure reason (unusable settings, no
   postal address, a network accepting nothing we write).
2. ``prepare`` (no transaction, slow): writes each syntax, puts the bytes in the
   payload store, builds the e-mail.
3. ``record`` (inside the caller's transaction): the renderings, the delivery,
   its outbound exchange or its immediate outcome (pull channels are
   ``delivered`` at once, paper waits for a print batch), the portal
   notification; returns the exchanges to prompt after the commit. A delivery to an
   organisation whose approval rules made the invoice wait is recorded ``pending_approval``
   instead, whatever its channel (but the portal, where the approvers read it): nothing
   leaves until the approval releases it (``flow.release``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from gateway.db import ApprovalCase, Delivery, DocumentRecord, Partner, RenderingRecord
from gateway.delivery.channel import ChannelSettingsError, DeliveryPlan, registry
from gateway.delivery.state import follow_document
from gateway.model.findings import FATAL
from gateway.syntaxes import write_document

DEFAULT_FORMAT = "ubl"        # what a recipient gets when it has not said
FALLBACK = "paper"            # where a default channel that cannot reach a recipient falls back to


def settings_of(partner: Any, channel_name: str) -> dict[str, Any]:
    """The partner's stored settings for one channel, validated (``ChannelSettingsError``)."""
    whole = partner.channel_settings or {}
    if not isinstance(whole, dict):
        raise ChannelSettingsError("channel_settings", "expected an object {channel: settings}")
    return registry[channel_name].validate_settings(whole.get(channel_name) or {})


def profile_for(partner: Any, settings: Any, *, invoice: Any = None) -> Any:
    """How ``partner`` receives: its chosen channel's profile, or, when it chose none, the channel
    its records imply (AS2 settings on record), else the gateway's default channel
    (``settings.default_channel``) with ``why`` saying so, falling back to paper when the
    default cannot reach it. Raises ``ChannelSettingsError`` when stored settings are unusable."""
    chosen = registry.get(partner.preferred_channel)
    if chosen is not None:
        return chosen.profile(partner, settings_of(partner, chosen.name), gateway_settings=settings, invoice=invoice)
    for channel in registry:
        if channel.implied_by(partner):
            return channel.profile(partner, settings_of(partner, channel.name), gateway_settings=settings,
                                   invoice=invoice, why=channel.implied_why())
    default = registry[getattr(settings, "default_channel", FALLBACK) or FALLBACK]
    profile = default.fallback_profile(partner, settings_of(partner, default.name), invoice)
    if profile is not None:
        return profile
    fallback = registry[FALLBACK]
    return fallback.profile(partner, settings_of(partner, FALLBACK), gateway_settings=settings, invoice=invoice,
                            why=f"no channel chosen: default {default.label.lower()}, but no address (no contact "
                                "e-mail, no BT-49 with scheme EM): paper")


def choose(s, settings: Any, route: Any, invoice: Any) -> Optional[DeliveryPlan]:
    """The plan for a routed document (None: nobody to deliver to: the document is held)."""
    if route.partner is None:
        return registry[route.via].plan_route(s, route) if route.via else None
    partner: Partner = route.partner
    fmt = partner.preferred_format or DEFAULT_FORMAT
    try:
        profile = profile_for(partner, settings, invoice=invoice)
    except ChannelSettingsError as e:
        return DeliveryPlan(recipient_id=partner.id, channel=partner.preferred_channel or FALLBACK, format=fmt,
                            reason=route.reason, failure=f"the {partner.preferred_channel or 'default'} channel "
                                                         f"settings of {partner.name} cannot be used: {e}")
    reason = route.reason + (f"; {profile.why}" if profile.why else "")
    plan = DeliveryPlan(recipient_id=partner.id, channel=profile.channel, format=fmt, reason=reason,
                        syntaxes=(fmt,), profile=profile, lang=getattr(settings, "language", None) or "en")
    return registry[profile.channel].plan(s, plan, partner, invoice)


def prepare(gw, plan: DeliveryPlan, invoice: Any, summary: dict[str, Any]) -> None:
    """Write the syntaxes, store them, let the channel build what it sends (no database work).
    A syntax that cannot be written, or whose output fails its own checks, becomes ``plan.failure``."""
    if plan.failure:
        return
    channel = registry[plan.channel]
    doc = channel.document(plan, invoice)
    for syntax in plan.syntaxes:
        try:
            r = write_document(doc, syntax, validate=True)
        except Exception as e:
            plan.failure = f"cannot write {syntax}: {type(e).__name__}: {e}"
            return
        plan.renderings.append((r, gw.payloads.put(r.data).key))
        fatal = [f for f in r.findings if f.severity == FATAL]
        if fatal:
            plan.failure = (f"the {syntax} written does not pass its checks: "
                            + "; ".join(f"{f.rule}: {f.message}" for f in fatal))[:1000]
            return
    channel.prepare(gw, plan, invoice, summary)


def _rendering_record(rec: DocumentRecord, rendering: Any, key: str) -> RenderingRecord:
    for existing in rec.renderings:
        if (existing.syntax, existing.mapping) == (rendering.syntax, rendering.mapping):
            return existing
    return RenderingRecord.from_rendering(rendering, payload_key=key, size=len(rendering.data), document=rec)


def _replan(delivery: Delivery, recipient: Partner, plan: DeliveryPlan, now: datetime) -> Delivery:
    """A pending delivery (an operator's redelivery) takes the new plan's channel and format."""
    delivery.recipient, delivery.format, delivery.channel = recipient, plan.format, plan.channel
    delivery.network_id, delivery.print_batch_id = plan.network_id, None
    delivery.exchange_id, delivery.rendering = None, None
    delivery.attempts, delivery.next_attempt_at = 0, now
    return delivery


def awaiting_approval(s, rec: DocumentRecord, plan: DeliveryPlan) -> Optional[str]:
    """The approval rule that holds this delivery (None: it goes now): the recipient organisation's
    case on the document is not approved yet, and the channel is not one the approvers read."""
    if registry[plan.channel].before_approval:
        return None
    return s.scalar(ApprovalCase.withholding(rec.id, plan.document_recipient_id or plan.recipient_id))


def record(s, gw, rec: DocumentRecord, plan: DeliveryPlan, now: datetime, *, fallback_name: str,
           delivery: Optional[Delivery] = None) -> list[int]:
    """The delivery of ``rec`` as planned, in the caller's transaction; the outbound exchanges
    to prompt once it commits. ``delivery``: an existing pending delivery to record it on (a
    redelivery) instead of a new one."""
    recipient = s.get(Partner, plan.recipient_id)
    rec.recipient = s.get(Partner, plan.document_recipient_id or plan.recipient_id)
    if delivery is None:
        delivery = Delivery.new(rec, recipient, format=plan.format, channel=plan.channel, at=now,
                                network_id=plan.network_id)
        s.add(delivery)
    else:
        _replan(delivery, recipient, plan, now)
    records = [_rendering_record(rec, r, key) for r, key in plan.renderings]
    s.add_all(records)
    if records:
        delivery.rendering = records[0]
    if plan.failure:
        delivery.set_status("failed", f"{plan.reason}; {plan.failure}", at=now)
        follow_document(rec)
        return []
    rec.status = "routed"
    rule = awaiting_approval(s, rec, plan)
    if rule is not None:
        delivery.set_status("pending_approval", f"{plan.reason}; waits for approval (rule {rule}) before it "
                                                f"goes over {plan.channel}", at=now)
        follow_document(rec)
        return []
    sends = registry[plan.channel].record(s, gw, rec, delivery, plan, now, fallback_name=fallback_name)
    follow_document(rec)
    return sends
