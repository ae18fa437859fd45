"""``edigate partner pa-subscribe`` / ``pa-unsubscribe``: our webhook on another platform's Flow Service.

A partner on the ``pa`` channel is a certified platform we reach through its XP Z12-013
Flow Service (``gateway.channels.pa``). What it sends us (invoices for our members, CDAR
statuses, news of our own flows) comes by the webhook we register there: its callback is
``EDIGATE_PUBLIC_URL`` + ``/pa/webhook/<partner id>``. The signing key the platform answers
with is written to a file only we can read, under the certificates folder; the partner's
settings keep the webhook's id and where the key is, never the key, and it is never printed.
"""
from __future__ import annotations

from typing import Any, Optional

import click

from gateway.cli.common import CONTEXT_SETTINGS, BadInput, current_settings, find_partner, transaction, warn


def _pa(s: Any, ref: str) -> tuple[Any, dict[str, Any]]:
    """The partner and its pa settings, or a refusal saying what is missing."""
    from gateway.channels.pa import NAME, channel
    from gateway.delivery.channel import ChannelSettingsError

    p = find_partner(s, ref)
    try:
        mine = channel.validate_settings((p.channel_settings or {}).get(NAME) or {})
    except ChannelSettingsError as e:
        raise BadInput(f"partner {p.name}: its pa settings cannot be used: {e}") from None
    problem = channel.readiness(mine, None)
    if problem:
        raise BadInput(f"partner {p.name}: {problem} (edigate partner set {p.name!r} --channel-setting "
                       "pa.flow_url=… --channel-setting pa.token=env:NAME)")
    return p, mine


def _client(mine: dict[str, Any]) -> Any:
    from gateway.channels.pa import PaConfigError, client_for
    try:
        return client_for(mine, current_settings().certs_dir)
    except PaConfigError as e:
        raise BadInput(f"cannot reach the platform's Flow Service: {e}") from None


def _save(ref: str, changes: dict[str, Optional[str]]) -> None:
    from gateway.channels import merge
    from gateway.channels.pa import NAME
    from gateway.partners.service import PartnerError, PartnerService

    with transaction() as s:
        p = find_partner(s, ref)
        try:
            whole = merge(p.channel_settings or {}, NAME, changes)
            PartnerService(s).update(p, {"channel_settings": {NAME: whole.get(NAME)}})
        except (PartnerError, ValueError) as e:
            raise BadInput(str(e)) from None


@click.command("pa-subscribe", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.option("--direction", type=click.Choice(["In", "Out"]), default=None,
              help="Only flows of this direction (In: sent to us; Out: ours, as the platform acknowledges "
                   "them). Default: both.")
@click.option("--flow-type", "flow_types", metavar="TYPE", multiple=True,
              help="Only flows of this FlowType (repeatable; e.g. SupplierInvoice, CustomerInvoiceLC).")
@click.option("--callback-url", metavar="URL",
              help="Where the platform calls us (default: EDIGATE_PUBLIC_URL/pa/webhook/<partner id>).")
def pa_subscribe(ref: str, direction: Optional[str], flow_types: tuple[str, ...], callback_url: Optional[str]) -> None:
    """Register our webhook on PARTNER's Flow Service (a partner on the pa channel) and keep its
    signing key; a webhook registered before is replaced (removed once the new one is kept)."""
    from gateway.channels.pa import PATH, store_webhook_key
    from gateway.transports.xp_z12013 import FlowServiceError

    settings = current_settings()
    with transaction() as s:
        p, mine = _pa(s, ref)
        partner_id, name, old = p.id, p.name, mine.get("webhook_id")
    client = _client(mine)
    url = callback_url or f"{settings.public_url}{PATH}/{partner_id}"
    try:
        made = client.create_webhook(url, flow_types=list(flow_types) or None, flow_direction=direction)
    except FlowServiceError as e:
        raise BadInput(f"the platform refused the webhook: {e}") from None
    key_ref = store_webhook_key(settings.certs_dir, partner_id, made["signingKey"])
    _save(str(partner_id), {"webhook_id": made["webhookId"], "webhook_secret": key_ref})
    click.echo(f"partner {name}: webhook {made['webhookId']} calls {url}; its signing key is kept in "
               f"{key_ref.partition(':')[2]}")
    if old and old != made["webhookId"].lower():
        try:
            client.delete_webhook(old)
            click.echo(f"partner {name}: the previous webhook {old} was removed")
        except FlowServiceError as e:
            warn(f"the previous webhook {old} could not be removed ({e}); remove it on the platform")


@click.command("pa-unsubscribe", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
def pa_unsubscribe(ref: str) -> None:
    """Remove our webhook from PARTNER's Flow Service and forget its signing key."""
    from gateway.transports.xp_z12013 import FlowServiceError

    with transaction() as s:
        p, mine = _pa(s, ref)
        partner_id, name, old, key_ref = p.id, p.name, mine.get("webhook_id"), mine.get("webhook_secret")
    if not old:
        raise BadInput(f"partner {name} has no webhook of ours on record")
    try:
        _client(mine).delete_webhook(old)
    except FlowServiceError as e:
        if e.http_status != 404:
            raise BadInput(f"the platform did not remove webhook {old}: {e}") from None
    _save(str(partner_id), {"webhook_id": None, "webhook_secret": None})
    if key_ref and key_ref.startswith("file:"):
        from pathlib import Path
        path = Path(key_ref[len("file:"):])
        if path.is_absolute():
            path.unlink(missing_ok=True)
    click.echo(f"partner {name}: webhook {old} removed")
