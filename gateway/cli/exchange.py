"""``edigate exchange``: what came in and went out, its history, and the operator's retry.

    edigate exchange list --status failed --direction out --since 2026-03-01 [--json]
    edigate exchange show 42 [--json]       # status history, MDN, documents read from it
    edigate exchange retry 42 [--now]       # the same retry as the API's and the operator pages'

``list`` takes the filters the REST API takes (``GET /api/v1/exchanges``), with the same
meaning: ``--since``/``--until`` an ISO date or date-time (no zone: UTC; a bare date as
``--until`` includes that whole day), ``--partner`` a partner as the other commands name it.

Exit codes: 0 done; 1 ``retry --now``: the retry failed again; 2 refused (no such exchange,
or not one a retry accepts: nothing changed).
"""
from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Optional

import click
import sqlalchemy as sa

from gateway.cli.common import BadInput, echo_json, find_partner, iso, table
from gateway.cli.context import CONTEXT_SETTINGS, current
from gateway.cli.errors import EXIT_PROBLEMS
from gateway.cli.words import _
from gateway import channels
from gateway.db import DIRECTIONS, Exchange, StatusError
from gateway.db.exchanges import STATUSES

DEFAULT_LIMIT, MAX_LIMIT = 50, 500          # as the API's pages
FINAL_FAILURES = ("failed", "rejected")


class Moment(click.ParamType):
    """An ISO 8601 date or date-time as an aware UTC datetime (no zone: UTC); with
    ``end_of_day``, a bare date means the end of that day (``--until 2026-03-01``)."""
    name = "DATE[THH:MM[:SS]][ZONE]"

    def __init__(self, *, end_of_day: bool = False):
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                start = datetime.combine(day, time(), tzinfo=timezone.utc)
                return start + timedelta(days=1) if self.end_of_day else start
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 date or date-time (2026-03-01, 2026-03-01T09:00Z)", param, ctx)
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _channel(value: Optional[str]) -> Optional[str]:
    """A channel the gateway knows (its registry, asked only when the option is given)."""
    if value is not None and value not in channels.names():
        raise click.BadParameter(f"{value!r} is not one of {', '.join(map(repr, channels.names()))}")
    return value


def _partner_name(ex: Exchange) -> Optional[str]:
    return ex.partner.name if ex.partner is not None else None


def _summary(ex: Exchange) -> dict[str, Any]:
    """An exchange as the API writes it (its field names), times in ISO 8601."""
    return {
        "id": ex.id, "direction": ex.direction, "channel": ex.channel,
        "partner": {"id": ex.partner.id, "name": ex.partner.name} if ex.partner is not None else None,
        "organisation_id": ex.organisation_id, "as2_from": ex.as2_from, "as2_to": ex.as2_to,
        "message_id": ex.message_id, "filename": ex.filename, "content_type": ex.content_type,
        "payload_key": ex.payload_key, "payload_size": ex.payload_size,
        "content_sha256": ex.content_sha256, "content_size": ex.content_size,
        "mdn": {"mode": ex.mdn_mode, "message_id": ex.mdn_message_id, "payload_key": ex.mdn_payload_key,
                "disposition": ex.mdn_disposition, "at": iso(ex.mdn_at), "due_at": iso(ex.mdn_due_at),
                "url": ex.mdn_url},
        "mic": ex.mic, "mic_algorithm": ex.mic_algorithm,
        "status": ex.status, "status_at": iso(ex.status_at), "reason": ex.reason, "attempts": ex.attempts,
        "next_attempt_at": iso(ex.next_attempt_at), "retryable": ex.retryable,
        "created_at": iso(ex.created_at), "updated_at": iso(ex.updated_at),
    }


def _detail(ex: Exchange) -> dict[str, Any]:
    return {**_summary(ex),
            "history": [{"status": e.status, "at": iso(e.at), "reason": e.reason} for e in ex.history],
            "documents": [d.id for d in ex.documents]}


def _when(dt: Optional[datetime]) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def _about(ex: Exchange) -> str:
    """What the exchange carried, in a few words: its file, else its message id."""
    return ex.filename or ex.message_id or "-"


@click.group("exchange", context_settings=CONTEXT_SETTINGS)
def exchange_group() -> None:
    """Exchanges: what came in and went out, their history, and retries.

    An exchange is one message over one channel (an AS2 message, an SFTP file, an upload,
    an e-mail…), with its status history. Exit codes: 0 done, 1 a retry run here (--now)
    failed again, 2 refused (nothing changed).
    """


@exchange_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--direction", type=click.Choice(DIRECTIONS), help="in: received; out: sent.")
@click.option("--status", type=click.Choice(STATUSES), help="Only exchanges in this status.")
@click.option("--partner", "partner_ref", metavar="PARTNER",
              help="Only this partner's (name, number, SCHEME:VALUE identifier or AS2 id).")
@click.option("--channel", metavar="CHANNEL", callback=lambda ctx, param, value: _channel(value),
              help="Only this channel's (as2, sftp, email, portal…).")
@click.option("--message-id", metavar="ID", help="Only the exchange(s) with this message id, exactly.")
@click.option("--since", type=Moment(), help="Created at or after (a date, or a date-time; UTC when no zone).")
@click.option("--until", type=Moment(end_of_day=True), help="Created before; a bare date includes that whole day.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=DEFAULT_LIMIT, show_default=True,
              help="At most this many, newest first.")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout: {items, total, limit, offset}.")
def exchange_list(direction: Optional[str], status: Optional[str], partner_ref: Optional[str],
                  channel: Optional[str], message_id: Optional[str], since: Optional[datetime],
                  until: Optional[datetime], limit: int, offset: int, as_json: bool) -> None:
    """Exchanges matching every filter given, newest first."""
    with current().transaction() as s:
        partner_id = find_partner(s, partner_ref).id if partner_ref is not None else None
        query = Exchange.search(partner_id=partner_id, status=status, direction=direction, channel=channel,
                                message_id=message_id, since=since, until=until)
        total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
        found = s.scalars(query.limit(limit).offset(offset)).all()
        if as_json:
            echo_json({"items": [_summary(ex) for ex in found], "total": total, "limit": limit, "offset": offset})
            return
        if not found:
            click.echo(_("no exchange matches") if total == 0
                       else _("no exchange past %(offset)s (there are %(total)s)", offset=offset, total=total))
            return
        table(["#", "created (UTC)", "dir", "channel", "partner", "status", "file / message id"],
              [[str(ex.id), _when(ex.created_at), ex.direction, ex.channel, _partner_name(ex) or "-", ex.status,
                _about(ex)] for ex in found])
        if offset + len(found) < total:
            click.echo(_("%(first)s–%(last)s of %(total)s; --offset %(last)s for more", first=offset + 1,
                         last=offset + len(found), total=total), err=True)


@exchange_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("exchange_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout (the API's fields, history and documents).")
def exchange_show(exchange_id: int, as_json: bool) -> None:
    """One exchange: its status history, its MDN and the documents read from it."""
    with current().transaction() as s:
        ex = s.get(Exchange, exchange_id)
        if ex is None:
            raise BadInput(_("no exchange %(id)s (see `edigate exchange list`)", id=exchange_id))
        if as_json:
            echo_json(_detail(ex))
            return
        to_from = "from" if ex.direction == "in" else "to"
        click.echo(f"exchange #{ex.id} {ex.direction} over {ex.channel} {to_from} {_partner_name(ex) or '(unknown)'}: "
                   f"{ex.status}" + (f" ({ex.reason})" if ex.reason else ""))
        rows = [("message id", ex.message_id or "-")]
        if ex.as2_from or ex.as2_to:
            rows.append(("AS2", f"{ex.as2_from or '?'} → {ex.as2_to or '?'}"))
        rows.append(("file", f"{ex.filename or '-'} ({ex.content_type or 'no type'}"
                             + (f", {ex.payload_size} bytes)" if ex.payload_size is not None else ")")))
        if ex.content_sha256:
            rows.append(("content", f"sha256 {ex.content_sha256}"
                                    + (f" ({ex.content_size} bytes)" if ex.content_size is not None else "")))
        rows.append(("attempts", str(ex.attempts) + (f"; next {_when(ex.next_attempt_at)} UTC"
                                                    if ex.next_attempt_at and not ex.retryable else "")))
        if ex.mdn_mode or ex.mdn_disposition or ex.mdn_message_id:
            mdn = [ex.mdn_mode or "-"]
            if ex.mdn_disposition:
                mdn.append(ex.mdn_disposition)
            if ex.mdn_at:
                mdn.append(f"at {_when(ex.mdn_at)} UTC")
            elif ex.mdn_due_at:
                mdn.append(f"due by {_when(ex.mdn_due_at)} UTC")
            if ex.mdn_message_id:
                mdn.append(f"message id {ex.mdn_message_id}")
            rows.append(("MDN", "; ".join(mdn)))
        if ex.mic:
            rows.append(("MIC", f"{ex.mic} ({ex.mic_algorithm or '?'})"))
        rows += [("created", f"{_when(ex.created_at)} UTC"), ("updated", f"{_when(ex.updated_at)} UTC"),
                 ("retryable", "yes (`edigate exchange retry " + str(ex.id) + "`)" if ex.retryable else "no")]
        for label, value in rows:
            click.echo(f"  {label + ':':<12}{value}")
        click.echo("  history:")
        for event in ex.history:
            click.echo(f"    {_when(event.at)}  {event.status:<13}" + (f" {event.reason}" if event.reason else ""))
        click.echo("  documents:" + ("" if ex.documents else " none"))
        for doc in ex.documents:
            click.echo(f"    #{doc.id} {doc.number or '(no number)'}: {doc.status}")


@exchange_group.command("retry", context_settings=CONTEXT_SETTINGS)
@click.argument("exchange_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--by", metavar="NAME", default=lambda: os.environ.get("USER") or "operator",
              help="Who asks (kept in the history; default: $USER).")
@click.option("--now", is_flag=True, help="Run the retry in this process instead of queueing it for the server.")
def exchange_retry(exchange_id: int, by: str, now: bool) -> None:
    """Retry a failed or refused send (same Message-ID), or a failed inbound processing.

    The same operation as the API's and the operator pages' retry. Exit 0 when queued again
    (with --now: when it did not fail again), 1 when --now ran it and it failed again, 2 when
    refused (no such exchange, or not failed: nothing changed)."""
    gw = current().gateway(immediate_jobs=now)      # --now: the send or the processing runs here
    try:
        gw.retry_exchange(exchange_id, by=by)
    except LookupError:
        raise BadInput(_("no exchange %(id)s (see `edigate exchange list`)", id=exchange_id)) from None
    except StatusError as e:
        raise BadInput(_("%(problem)s; nothing changed", problem=str(e))) from None
    with gw.session() as s:
        ex = s.get(Exchange, exchange_id)
        status, reason = ex.status, ex.reason
    if not now:
        click.echo(_("exchange %(id)s: %(status)s again (%(reason)s); the server's workers take it from here",
                     id=exchange_id, status=status, reason=reason))
        return
    click.echo(f"exchange {exchange_id}: {status}" + (f" ({reason})" if reason else ""))
    if status in FINAL_FAILURES:
        raise SystemExit(EXIT_PROBLEMS)
