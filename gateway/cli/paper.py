"""``edigate paper``: print batches of the invoices that go by post.

    edigate paper batch -o batch.pdf     # gather every pending paper delivery now (the sweep does it daily)
    edigate paper list                   # the batches, newest first
    edigate paper pdf 3 -o batch-3.pdf   # a batch's PDF again
    edigate paper printed 3 --by alice   # printed and posted: its deliveries become acknowledged

Exit codes: 0 done; 1 nothing to print (``batch``); 2 refused (unknown batch, marked already).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import click
import sqlalchemy as sa

from gateway.channels.paper import build_print_batch, mark_printed
from gateway.cli.common import CONTEXT_SETTINGS, EXIT_PROBLEMS, BadInput, echo_json, iso, table, utc_now
from gateway.cli.context import pass_gateway
from gateway.db import Delivery, PrintBatch, StatusError
from gateway.runtime import Gateway


def _write(path: Path, data: bytes) -> None:
    """Whole or nothing: a temporary name beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@click.group("paper", context_settings=CONTEXT_SETTINGS)
def paper_group() -> None:
    """Print batches: invoices that go by post, each behind a cover sheet with its address."""


@paper_group.command("batch", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write the batch PDF here.")
@click.option("--limit", type=click.IntRange(1, 5000), default=500, show_default=True,
              help="Most invoices in one batch (the rest wait for the next).")
@pass_gateway
def paper_batch(gw: Gateway, output: Optional[Path], limit: int) -> None:
    """Gather every pending paper delivery into one print batch now."""
    result = build_print_batch(gw, utc_now(), limit=limit)
    for delivery_id in result.failed:
        click.echo(f"warning: delivery {delivery_id} failed: no postal address or nothing to print "
                   "(see its history)", err=True)
    if result.batch_id is None:
        click.echo("nothing to print: no paper delivery is waiting")
        raise SystemExit(EXIT_PROBLEMS)
    if output is not None:
        _write(output, gw.payloads.get(result.payload_key))
    click.echo(f"print batch {result.batch_id}: {result.document_count} invoice(s), {result.page_count} page(s)"
               + (f", written to {output}" if output else f" (`edigate paper pdf {result.batch_id} -o FILE`)"))


@paper_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_gateway
def paper_list(gw: Gateway, as_json: bool) -> None:
    """The print batches, newest first, and how many paper deliveries wait for the next one."""
    with gw.session() as s:
        batches = s.scalars(sa.select(PrintBatch).order_by(PrintBatch.id.desc())).all()
        waiting = s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.channel == "paper", Delivery.status == "pending", Delivery.print_batch_id.is_(None)))
        rows = [{"id": b.id, "created_at": iso(b.created_at), "status": b.status,
                 "documents": b.document_count, "pages": b.page_count, "printed_at": iso(b.printed_at),
                 "printed_by": b.printed_by} for b in batches]
    if as_json:
        echo_json({"waiting": waiting, "batches": rows})
        return
    if rows:
        table(["#", "created", "status", "invoices", "pages", "printed"],
              [[str(r["id"]), r["created_at"][:16], r["status"], str(r["documents"]), str(r["pages"]),
                f"{(r['printed_at'] or '')[:16]} {r['printed_by'] or ''}".strip() or "-"] for r in rows])
    else:
        click.echo("no print batch yet")
    click.echo(f"{waiting} paper delivery(ies) waiting for the next batch")


@paper_group.command("pdf", context_settings=CONTEXT_SETTINGS)
@click.argument("batch_id", type=int)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@pass_gateway
def paper_pdf(gw: Gateway, batch_id: int, output: Path) -> None:
    """Write print batch BATCH_ID's PDF to a file."""
    with gw.session() as s:
        batch = s.get(PrintBatch, batch_id)
        if batch is None or not batch.payload_key:
            raise BadInput(f"no print batch {batch_id} (see `edigate paper list`)")
        key = batch.payload_key
    _write(output, gw.payloads.get(key))
    click.echo(f"print batch {batch_id} written to {output}")


@paper_group.command("printed", context_settings=CONTEXT_SETTINGS)
@click.argument("batch_id", type=int)
@click.option("--by", metavar="NAME", default=lambda: os.environ.get("USER") or "operator",
              help="Who printed and posted it (default: $USER).")
@pass_gateway
def paper_printed(gw: Gateway, batch_id: int, by: str) -> None:
    """Print batch BATCH_ID was printed and posted: its deliveries become acknowledged."""
    try:
        n = mark_printed(gw, batch_id, by, at=utc_now())
    except LookupError as e:
        raise BadInput(f"{e.args[0]} (see `edigate paper list`)") from None
    except StatusError as e:
        raise BadInput(str(e)) from None
    click.echo(f"print batch {batch_id} printed by {by}: {n} delivery(ies) acknowledged")
