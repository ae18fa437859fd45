"""``edigate send``: a file to a partner over AS2, as the same durable job the gateway's own sends are."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa

from gateway.cli.context import current
from gateway.cli.words import _
from gateway.db import Exchange, Partner
from gateway.channels.as2 import queue_file
from gateway.syntaxes import detect


@click.command("send")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "partner_ref", required=True, help="Partner name, AS2 id or database id.")
@click.option("--content-type", default=None, help="MIME type (default: from the file's syntax).")
@click.option("--wait", "wait_seconds", type=float, default=None,
              help="Wait up to this many seconds for the final state (the server's workers send it).")
@click.option("--now", is_flag=True, help="Send from this process instead of queueing for the server.")
def send_command(file: Path, partner_ref: str, content_type: str | None, wait_seconds: float | None,
                 now: bool) -> None:
    """Send FILE to a partner over AS2 as a durable job; prints the exchange and its outcome.

    Exit 0 when acknowledged (or sent, when no MDN was asked; or queued, without --wait/--now),
    1 when it failed or was refused, 3 when --wait/--now ended before a final state (retrying,
    awaiting an MDN: the server goes on with it)."""
    gw = current().gateway(immediate_jobs=now)
    number = int(partner_ref) if partner_ref.isascii() and partner_ref.isdigit() else -1
    with gw.session() as s:
        q = sa.select(Partner).where(sa.or_(Partner.name == partner_ref, Partner.as2_id == partner_ref,
                                            Partner.id == number))
        partner = s.scalar(q)
        if partner is None:
            click.echo(_("error: no partner '%(ref)s' (edigate partner list)", ref=partner_ref), err=True)
            sys.exit(2)
        partner_id, name = partner.id, partner.name
        if not partner.as2_url:
            click.echo(_("error: partner %(name)s has no AS2 URL, so nothing can be sent to it over AS2: set it "
                         "(edigate partner set '%(name)s' --url https://…), or send the file in for routing "
                         "(POST /api/v1/documents) to reach it over the channel it chose (%(channel)s)",
                         name=name, channel=partner.preferred_channel or "as2"), err=True)
            sys.exit(2)
    data = file.read_bytes()
    ctype = content_type or _content_type(data)
    ex = queue_file(gw, data, partner_id=partner_id, filename=file.name, content_type=ctype)
    click.echo(_("exchange %(id)s: %(file)s (%(size)s bytes, %(type)s) to %(partner)s", id=ex.id, file=file.name,
                 size=len(data), type=ctype, partner=name))
    deadline = time.monotonic() + (wait_seconds or 0)
    while True:
        with gw.session() as s:
            ex = s.get(Exchange, ex.id)
            status, reason = ex.status, ex.reason
        final = status in ("acknowledged", "sent", "failed", "rejected")
        if final or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    click.echo(f"exchange {ex.id}: {status}" + (f" ({reason})" if reason else ""))
    if status in ("failed", "rejected"):
        sys.exit(1)
    waited = wait_seconds is not None or now
    sys.exit(0 if status in ("acknowledged", "sent") or not waited else 3)


def _content_type(data: bytes) -> str:
    try:
        kind = detect(data)
    except Exception:
        return "application/octet-stream"
    if kind in ("ubl", "cii"):
        return "application/xml"
    if kind == "pdf":
        return "application/pdf"
    if kind == "edifact":
        return "application/EDIFACT"
    return "text/csv" if kind.startswith("csv") else "application/octet-stream"
