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
   notification; returns the exchanges to prompt after the commit.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa

from gateway.db import (Delivery, DocumentRecord, Exchange, Network, NetworkParticipant, Partner,
                        RenderingRecord)
from gateway.store.filenames import safe_filename
from gateway.model.findings import FATAL
from gateway.model.invoice import Identifier
from gateway.channels import email as email_channel
from gateway.channels.profiles import (ChannelSettingsError, EmailProfile, NetworkProfile, PaperProfile,
                                       PortalProfile, PullProfile, TransportProfile, buyer_address,
                                       profile_for)

DEFAULT_FORMAT = "ubl"        # what a recipient gets when it has not said
PAPER_FORMAT = "facturx"      # the human-readable PDF (with its XML for whoever scans it)


@dataclass
class DeliveryPlan:
    recipient_id: int                          # who the delivery goes to (a network's access point)
    channel: str                               # Delivery.channel
    format: str                                # Delivery.format ("facturx+ubl" for two attachments)
    reason: str                                # route and channel, for the delivery's history
    syntaxes: tuple[str, ...] = ()             # to write; the first is the delivery's rendering
    transport: Optional[str] = None            # the outbound exchange's channel (as2, sftp, email)
    network_id: Optional[int] = None
    addressing: Optional[tuple[str, str, bool]] = None    # (term, "scheme:value", override) for a network
    failure: Optional[str] = None              # the delivery fails at once with this reason
    profile: Any = None
    lang: str = "en"
    notify: tuple[str, ...] = ()               # portal: who gets the "new invoice" mail
    document_recipient_id: Optional[int] = None    # the member reached through a network, if one
    # filled by prepare()
    renderings: list[tuple[Any, str]] = field(default_factory=list)     # (Rendering, payload key)
    mail_key: Optional[str] = None
    mail_size: int = 0
    message_id: Optional[str] = None


def _lang(invoice: Any, wanted: Optional[str]) -> str:
    from gateway.syntaxes.render import choose_lang
    try:
        return choose_lang(invoice, wanted)
    except ValueError:
        return "en"


def _writable() -> tuple[str, ...]:
    from gateway.syntaxes import WRITABLE
    return WRITABLE


def _for_network(s, network: Network, participant: Optional[tuple[str, str]], reason: str,
                 *, member: Optional[Partner] = None) -> DeliveryPlan:
    access = network.partner
    fmt = next((f for f in (network.formats or []) if f in _writable()), None)
    transport = "as2" if access is not None and access.as2_url else "sftp"
    plan = DeliveryPlan(recipient_id=network.partner_id, channel="network", format=fmt or DEFAULT_FORMAT,
                        reason=reason, syntaxes=(fmt,) if fmt else (), transport=transport,
                        network_id=network.id)
    if not network.active or access is None or not access.active:
        plan.failure = f"network {network.code} is disabled (or its access point partner is)"
    elif fmt is None:
        plan.failure = (f"network {network.code} accepts {', '.join(network.formats or []) or 'no syntax'}, "
                        f"none of which we write ({', '.join(_writable())})")
    elif participant is None:
        plan.failure = (f"{member.name if member else 'the recipient'} is not listed in network "
                        f"{network.code}'s directory by any of its identifiers")
    else:
        options = network.addressing or {}
        term = str(options.get("endpoint", "BT-49")).upper()
        override = str(options.get("override", "")).lower() in ("1", "true", "yes")
        if term == "BT-49":
            plan.addressing = (term, f"{participant[0]}:{participant[1]}", override)
        plan.reason += f"; forwarded to network {network.code} as {fmt} over {transport}"
    return plan


def _member_participant(s, network: Network, partner: Partner) -> Optional[tuple[str, str]]:
    pairs = [(i.scheme, i.value) for i in partner.identifiers]
    if not pairs:
        return None
    row = s.scalar(sa.select(NetworkParticipant).where(
        NetworkParticipant.network_id == network.id,
        sa.or_(*(sa.and_(NetworkParticipant.scheme == sc, NetworkParticipant.value == v) for sc, v in pairs)))
        .order_by(NetworkParticipant.id).limit(1))
    return (row.scheme, row.value) if row is not None else None


def choose(s, settings: Any, route: Any, invoice: Any) -> Optional[DeliveryPlan]:
    """The plan for a routed document (None: nobody to deliver to: the document is held)."""
    if route.partner is None:
        if route.network is None:
            return None
        return _for_network(s, route.network, route.participant, route.reason)
    partner: Partner = route.partner
    fmt = partner.preferred_format or DEFAULT_FORMAT
    reason = route.reason
    try:
        profile = profile_for(partner, settings, invoice=invoice)
    except ChannelSettingsError as e:
        return DeliveryPlan(recipient_id=partner.id, channel=partner.preferred_channel or "paper", format=fmt,
                            reason=reason, failure=f"the {partner.preferred_channel or 'default'} channel "
                                                   f"settings of {partner.name} cannot be used: {e}")
    if profile.why:
        reason += "; " + profile.why
    plan = DeliveryPlan(recipient_id=partner.id, channel=profile.channel, format=fmt, reason=reason,
                        syntaxes=(fmt,), profile=profile)
    if isinstance(profile, TransportProfile):
        plan.transport = profile.channel
    elif isinstance(profile, EmailProfile):
        plan.format, plan.syntaxes, plan.transport = profile.attach, profile.syntaxes, "email"
        plan.lang = _lang(invoice, profile.lang)
    elif isinstance(profile, PortalProfile):
        plan.notify, plan.lang = profile.notify, _lang(invoice, profile.lang)
    elif isinstance(profile, PaperProfile):
        plan.format, plan.syntaxes = PAPER_FORMAT, (PAPER_FORMAT,)
        address = profile.address or buyer_address(invoice)
        if address is None:
            plan.failure = (f"paper: no postal address for {partner.name}: none in its settings (paper.address; "
                            "`edigate partner set … --postal-address`) and the invoice's buyer postal address "
                            "(BG-8) lacks a street line (BT-50) or a city (BT-52)")
        else:
            source = "" if profile.address else " (the buyer's postal address, BG-8)"
            plan.reason += f"; on paper to {address.one_line()}{source}"
    elif isinstance(profile, NetworkProfile):
        network = s.scalar(sa.select(Network).where(Network.code == profile.network))
        if network is None:
            plan.failure = f"{partner.name} is to be reached through network {profile.network!r}, which is unknown"
            return plan
        plan = _for_network(s, network, _member_participant(s, network, partner), reason, member=partner)
        plan.document_recipient_id = partner.id
        return plan
    elif isinstance(profile, PullProfile):
        pass
    return plan


def _addressed(invoice: Any, plan: DeliveryPlan) -> Any:
    """The invoice as the network needs it: the participant identifier in BT-49 when absent."""
    if plan.addressing is None or invoice.buyer is None:
        return invoice
    _, ident, override = plan.addressing
    scheme, value = ident.split(":", 1)
    current = invoice.buyer.electronic_address
    if current is not None and current.value and not override:
        return invoice
    out = copy.deepcopy(invoice)
    out.buyer.electronic_address = Identifier(value, scheme)
    return out


def prepare(gw, plan: DeliveryPlan, invoice: Any, summary: dict[str, Any]) -> None:
    """Write the syntaxes, store them, build the mail (no database work). A syntax that cannot
    be written, or whose output fails its own checks, becomes ``plan.failure``."""
    from gateway.syntaxes import write_document
    if plan.failure:
        return
    doc = _addressed(invoice, plan)
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
    if plan.transport == "email":
        number = summary.get("number")
        attachments = [(_filename(number, r.syntax, "invoice"), r.media_type, r.data) for r, _ in plan.renderings]
        if len({name for name, _, _ in attachments}) < len(attachments):      # ubl and cii both .xml
            attachments = [(f"{name.rsplit('.', 1)[0]}-{r.syntax}.{name.rsplit('.', 1)[1]}", mt, data)
                           for (name, mt, data), (r, _) in zip(attachments, plan.renderings)]
        plan.message_id = email_channel.new_message_id(gw.settings.mail_from)
        raw = email_channel.build_invoice_mail(plan.profile, summary, attachments, lang=plan.lang,
                                               mail_from=gw.settings.mail_from, message_id=plan.message_id)
        ref = gw.payloads.put(raw)
        plan.mail_key, plan.mail_size = ref.key, ref.size


def _filename(number: Optional[str], syntax: str, fallback: str) -> str:
    from gateway.syntaxes import EXTENSIONS
    return safe_filename(number, fallback) + EXTENSIONS.get(syntax, ".dat")


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


def record(s, gw, rec: DocumentRecord, plan: DeliveryPlan, now: datetime, *, fallback_name: str,
           delivery: Optional[Delivery] = None) -> list[int]:
    """The delivery of ``rec`` as planned, in the caller's transaction; the outbound exchanges
    to prompt once it commits. ``delivery``: an existing pending delivery to record it on (a
    redelivery) instead of a new one."""
    from gateway.delivery.attempts import follow_document
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
    primary, key = plan.renderings[0]
    sends: list[int] = []
    if plan.transport in ("as2", "sftp"):
        out = Exchange.outbound(plan.transport, partner_id=recipient.id, at=now,
                                filename=_filename(rec.number, plan.syntaxes[0], fallback_name),
                                content_type=primary.media_type, content_sha256=key,
                                content_size=len(primary.data))
        s.add(out)
        s.flush()
        delivery.exchange_id = out.id
        how = "" if plan.channel == "network" else f"; as {plan.format} over {plan.transport}"
        delivery.note(f"{plan.reason}{how} (exchange {out.id})", at=now)
        sends.append(out.id)
    elif plan.transport == "email":
        out = email_channel.outbound(partner_id=recipient.id, raw_key=plan.mail_key, raw_size=plan.mail_size,
                                     message_id=plan.message_id, at=now,
                                     filename=_filename(rec.number, plan.syntaxes[0], fallback_name),
                                     content_sha256=key, content_size=len(primary.data))
        s.add(out)
        s.flush()
        delivery.exchange_id = out.id
        delivery.note(f"{plan.reason}; as {plan.format} by e-mail to {', '.join(plan.profile.addresses)} "
                      f"(exchange {out.id})", at=now)
        sends.append(out.id)
    elif plan.channel == "paper":
        delivery.note(f"{plan.reason}; as {plan.format}: waiting for the next print batch", at=now)
    elif plan.channel == "portal":
        s.flush()
        told = ""
        if plan.notify:
            out_id = _notify(s, gw, rec, recipient, plan, now)
            sends.append(out_id)
            told = f"; notification to {', '.join(plan.notify)} (exchange {out_id})"
        delivery.set_status("delivered", f"{plan.reason}; available in the portal as {plan.format}{told}", at=now)
    else:                                   # erp, api: the recipient pulls
        delivery.set_status("delivered", f"{plan.reason}; available to pull ({plan.channel}) as {plan.format}",
                            at=now)
    follow_document(rec)
    return sends


def _notify(s, gw, rec: DocumentRecord, recipient: Partner, plan: DeliveryPlan, now: datetime) -> int:
    """The "new invoice" mail for the portal, as a durable ``email`` exchange (sent once: the
    exchange is claimed before sending, and this runs once per delivery)."""
    from gateway.channels.templating import record_summary
    message_id = email_channel.new_message_id(gw.settings.mail_from)
    link = f"{gw.settings.public_url.rstrip('/')}/portal/documents/{rec.id}"
    raw = email_channel.build_notification(plan.notify, record_summary(rec), link=link, lang=plan.lang,
                                           mail_from=gw.settings.mail_from, message_id=message_id)
    ref = gw.payloads.put(raw)
    out = email_channel.outbound(partner_id=recipient.id, raw_key=ref.key, raw_size=ref.size,
                                 message_id=message_id, at=now,
                                 filename=f"notification-{safe_filename(rec.number, str(rec.id))}.eml")
    s.add(out)
    s.flush()
    out.note(f"portal notification for document {rec.id}", at=now)
    return out.id
