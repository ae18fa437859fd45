"""``edigate archive``: the tamper-evident archive of every payload, its seals, retention, export.

    edigate archive catch-up             # append what the records name and the chain lacks (the sweep does it)
    edigate archive seal                 # time-stamp the chain's head now (the sweep does it hourly)
    edigate archive verify               # every hash, link and seal again; anything altered named
    edigate archive purge --dry-run      # what is past its retention; without --dry-run, delete it
    edigate archive export OUT           # a bundle an auditor verifies with sha256sum and openssl

Exit codes: 0 done (verify: all intact); 1 problems found (verify: something altered or
missing; export: a payload missing); 2 refused (purge --payload within its retention, an
export directory that is not empty); 3 setup problem (no TSA or trust anchor configured).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import click

from gateway.archive import catchup, export as exporting, purge as purging, seal as sealing, verify as verifying
from gateway.archive.retention import RetentionError
from gateway.cli.common import CONTEXT_SETTINGS, EXIT_PROBLEMS, BadInput, SetupError, echo_json, utc_now
from gateway.cli.context import pass_gateway
from gateway.runtime import Gateway

_WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


def _utc(value: Optional[datetime]) -> Optional[datetime]:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


@click.group("archive", context_settings=CONTEXT_SETTINGS)
def archive_group() -> None:
    """The archive: payloads in a sealed hash chain, retention, verify, export.

    Every stored original, rendering, receipt and status message in a hash chain sealed by an
    RFC 3161 time-stamping authority, kept for its retention, checked and exported."""


@archive_group.command("catch-up", context_settings=CONTEXT_SETTINGS)
@click.option("--all", "from_start", is_flag=True, help="Read every record again from the start (idempotent).")
@pass_gateway
def archive_catch_up(gw: Gateway, from_start: bool) -> None:
    """Append to the chain every payload the records name and the chain lacks."""
    if from_start:
        catchup.reset(gw)
    n = catchup.catch_up(gw, now=utc_now(), max_batches=1_000_000)
    click.echo(f"{n} entr{'y' if n == 1 else 'ies'} appended")


@archive_group.command("seal", context_settings=CONTEXT_SETTINGS)
@pass_gateway
def archive_seal(gw: Gateway) -> None:
    """Time-stamp the chain's head now (EDIGATE_ARCHIVE_TSA_URL)."""
    try:
        row = sealing.seal(gw, now=utc_now())
    except sealing.SealError as e:
        if not gw.settings.archive_tsa_url or not gw.settings.archive_tsa_ca:
            raise SetupError(str(e)) from None
        click.echo(f"error: {e}", err=True)
        raise SystemExit(EXIT_PROBLEMS)
    if row is None:
        click.echo("nothing to seal: the head is sealed already (or the chain is empty)")
    else:
        click.echo(f"sealed entry #{row.head_seq} ({row.head_hash}): TSA time {row.gen_time.isoformat()}, "
                   f"serial {row.serial}")


@archive_group.command("verify", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@pass_gateway
def archive_verify(gw: Gateway, as_json: bool) -> None:
    """Re-hash every archived payload still present, re-compute the chain, check every seal.
    Exit 0 when all is intact, 1 naming each thing altered, missing or refused."""
    try:
        report = verifying.verify(gw)
    except sealing.SealError as e:
        raise SetupError(str(e)) from None
    if as_json:
        echo_json({"ok": report.ok, "entries": report.entries, "payloads": report.payloads,
                   "purged": report.purged, "seals": report.seals, "sealed_to": report.sealed_to,
                   "problems": report.problems, "notes": report.notes})
    else:
        for p in report.problems:
            click.echo(f"ALTERED: {p}")
        for n in report.notes:
            click.echo(f"note: {n}")
        click.echo(f"{report.entries} entries, {report.payloads} payload(s) re-hashed, {report.purged} deleted "
                   f"after retention, {report.seals} seal(s) checked: "
                   + ("intact" if report.ok else f"{len(report.problems)} problem(s)"))
    if not report.ok:
        raise SystemExit(EXIT_PROBLEMS)


@archive_group.command("purge", context_settings=CONTEXT_SETTINGS)
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--payload", "only", metavar="SHA256", help="Only this payload (refused if its retention is not over).")
@pass_gateway
def archive_purge(gw: Gateway, dry_run: bool, only: Optional[str]) -> None:
    """Delete the payloads past their retention (per document type); the chain records each deletion."""
    def said(item: purging.Item) -> None:          # as it goes: the chain is read a batch at a time
        entries = ", ".join(f"#{seq} {kind}" for seq, kind, _, _ in item.entries) or "deletion recorded before"
        click.echo(f"{'would delete' if dry_run else 'deleted'} {item.sha256} ({item.size} bytes; retention "
                   f"ended {item.until.date().isoformat()}; {entries})")

    try:
        result = purging.purge(gw, now=utc_now(), dry_run=dry_run, only=only, each=said)
    except purging.RetentionNotOver as e:
        raise BadInput(str(e)) from None
    except RetentionError as e:
        raise SetupError(str(e)) from None
    count = result.due_count if dry_run else result.deleted_count
    click.echo(f"{count} payload(s) {'due' if dry_run else 'deleted'}; {result.kept} still within retention")


@archive_group.command("export", context_settings=CONTEXT_SETTINGS)
@click.option("--from", "since", type=_WHEN, help="Payloads archived from this time (UTC).")
@click.option("--to", "until", type=_WHEN, help="... up to (not including) this time (UTC).")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@pass_gateway
def archive_export(gw: Gateway, since: Optional[datetime], until: Optional[datetime], out: Path) -> None:
    """Write a bundle to OUT (files, chain, seals, TSA certificates, README, verify.sh) that an
    auditor verifies with sha256sum and openssl alone: `sh OUT/verify.sh`."""
    try:
        result = exporting.export(gw, out, since=_utc(since), until=_utc(until), now=utc_now())
    except exporting.ExportError as e:
        raise BadInput(str(e)) from None
    for m in result.missing:
        click.echo(f"MISSING: {m}")
    click.echo(f"exported to {out}: {result.entries} entries, {result.files} payload(s) of entries "
               f"#{result.first} to #{result.last}, {result.seals} seal(s); check with `sh {out}/verify.sh`")
    if result.missing:
        raise SystemExit(EXIT_PROBLEMS)
