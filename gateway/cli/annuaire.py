"""``edigate annuaire``: the PPF directory, as routing sees it (its local mirror), and our lines in it.

The annuaire says which certified platform receives for each French directory
line; routing reads the local mirror of it (``gateway.networks.annuaire``),
refreshed by the job sweep every EDIGATE_ANNUAIRE_REFRESH, or now with
``refresh``. A partner of ours is platform NNNN when it has the identifier
``PA:NNNN`` (``edigate partner set P --id PA:0042``).

Exit codes: 0 done; 1 problems (``refresh``: it failed, the mirror is kept;
``lookup``: no line answers; ``publish``: lines refused, or the annuaire could
not be reached); 2 bad input; 3 the annuaire is not configured.
"""
from __future__ import annotations

from typing import Any

import click

from gateway.cli.common import (CONTEXT_SETTINGS, EXIT_PROBLEMS, BadInput, SetupError, current, echo_json, iso,
                                minute, transaction, utc_now, warn)
from gateway.model import identifiers
from gateway.model.addressing import FR_ADDRESS


class Failed(click.ClickException):
    """Tried and not (entirely) done: exit 1, the message says why."""
    exit_code = EXIT_PROBLEMS


def _configured() -> Any:
    settings = current().settings
    if not settings.annuaire_url:
        raise SetupError("the annuaire is not configured: set EDIGATE_ANNUAIRE_URL, EDIGATE_ANNUAIRE_TOKEN_URL, "
                         "EDIGATE_ANNUAIRE_CLIENT_ID and EDIGATE_ANNUAIRE_CLIENT_SECRET")
    return settings


def _identifier(text: str) -> tuple[str, str]:
    """``0225:SIREN_SIRET_CODE``, ``SIRET:…``, ``SIREN:…`` or a bare address (0225)."""
    text = text.strip()
    try:
        scheme, value = identifiers.parse(text) if ":" in text else identifiers.normalise_identifier(FR_ADDRESS, text)
    except ValueError as e:
        raise BadInput(str(e)) from None
    problem = identifiers.check(scheme, value)
    if problem:
        raise BadInput(problem)
    return scheme, value


@click.group("annuaire", context_settings=CONTEXT_SETTINGS)
def annuaire_group() -> None:
    """The PPF directory (annuaire): its local mirror, lookups, our members' lines.

    Routing reads the mirror only; the sweep refreshes it. Exit codes: 0 done,
    1 problems, 2 bad input, 3 not configured.
    """


@annuaire_group.command("refresh", context_settings=CONTEXT_SETTINGS)
def annuaire_refresh() -> None:
    """Read the whole directory now, whatever the schedule. A failed refresh keeps the mirror
    (exit 1, the error is recorded)."""
    from gateway.networks.annuaire import refresh
    _configured()
    result = refresh(current().gateway(), utc_now(), force=True)
    if result is None:
        raise Failed("another refresh is under way")
    if not result.ok:
        raise Failed(result.error or "refresh failed")
    click.echo(result.summary)
    for problem in result.problems:
        warn(f"skipped {problem}")
    if result.masked:
        click.echo(f"  {result.masked} masked line(s) left out (the annuaire says they may not be used)")
    if result.problem_count:
        raise Failed(f"{result.problem_count} invalid line(s) skipped; the rest is in the mirror")


@annuaire_group.command("status", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def annuaire_status(as_json: bool) -> None:
    """The mirror: last refresh, lines, error, next refresh."""
    from gateway.db import AnnuaireState
    from gateway.db.annuaire import STATE_ID
    from gateway.networks.annuaire import is_failed, next_refresh
    settings = current().settings
    with transaction() as s:
        row = s.get(AnnuaireState, STATE_ID)
        nxt = next_refresh(row, settings.annuaire_refresh_seconds) if settings.annuaire_url else None
        state = ("off" if not settings.annuaire_url else "never refreshed" if row.refreshed_at is None
                 else "refresh failed" if is_failed(row) else "lines skipped" if row.refresh_error else "ok")
        data = {"configured": bool(settings.annuaire_url), "url": settings.annuaire_url,
                "platform_id": settings.platform_id, "state": state, "lines": row.line_count,
                "refreshed_at": iso(row.refreshed_at), "succeeded_at": iso(row.succeeded_at),
                "next_refresh": iso(nxt) if settings.annuaire_url else None, "refresh_error": row.refresh_error}
    if as_json:
        echo_json(data)
        return
    click.echo(f"annuaire: {data['url'] or 'not configured (EDIGATE_ANNUAIRE_URL)'} ({state})")
    rows = [("our platform", settings.platform_id or "- (EDIGATE_PLATFORM_ID not set)"),
            ("lines", f"{row.line_count:,}"),
            ("last refresh", minute(row.refreshed_at) + (" UTC" if row.refreshed_at else "")),
            ("last success", minute(row.succeeded_at) + (" UTC" if row.succeeded_at else "")),
            ("next refresh", "-" if not settings.annuaire_url else "now" if nxt is None else minute(nxt) + " UTC")]
    for label, value in rows:
        click.echo(f"  {label + ':':<15}{value}")
    if row.refresh_error:
        click.echo(f"  {'error:' if state == 'refresh failed' else 'note:':<15}{row.refresh_error}")


@annuaire_group.command("lookup", context_settings=CONTEXT_SETTINGS)
@click.argument("address", metavar="ADDRESS")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def annuaire_lookup(address: str, as_json: bool) -> None:
    """Which platform receives for ADDRESS, by the mirror: a 0225 address (SIREN, SIREN_SIRET,
    SIREN_SIRET_CODE, SIREN_SUFFIX, with or without "0225:"), or SIRET:… / SIREN:…. Says which
    line answered and the partner of ours that is that platform. Exit 1: no line answers."""
    from gateway.networks.annuaire import lookup, own_platform, platform_partner
    scheme, value = _identifier(address)
    with transaction() as s:
        found = lookup(s, scheme, value)
        if found is None:
            raise Failed(f"{scheme}:{value}: no line of the annuaire's mirror answers it (in effect today)")
        line = found.line
        ours = line.platform_id == own_platform(s)
        partner = None if ours else platform_partner(s, line.platform_id)
        data = {"asked": f"{scheme}:{value}", "line": line.label,
                "level": ("routing code" if line.routing_code else "suffix" if line.suffix
                          else "SIRET" if line.siret else "SIREN"),
                "most_specific": found.level == 0, "platform_id": line.platform_id,
                "platform_name": line.platform_name, "ours": ours,
                "partner": partner.name if partner is not None else None,
                "starts_on": line.starts_on.isoformat() if line.starts_on else None,
                "ends_on": line.ends_on.isoformat() if line.ends_on else None, "id_instance": line.id_instance}
    if as_json:
        echo_json(data)
        return
    name = f" ({line.platform_name})" if line.platform_name else ""
    click.echo(f"{scheme}:{value} is answered by the line {data['line']} ({data['level']} line"
               + ("" if found.level == 0 else ", a less specific one") + f"): received by platform "
               f"{line.platform_id}{name}")
    if ours:
        click.echo("  that is our platform (EDIGATE_PLATFORM_ID): a member of ours must be known by it")
    elif partner is not None:
        click.echo(f"  routed to partner {partner.name} (#{partner.id}), which is that platform")
    else:
        click.echo(f"  no partner of ours is platform {line.platform_id}: add one with the identifier "
                   f"PA:{line.platform_id}")
    span = f"  in effect from {data['starts_on'] or '-'}" + (f" to {data['ends_on']}" if data["ends_on"] else "")
    click.echo(span + (f", idInstance {line.id_instance}" if line.id_instance is not None else ""))


@annuaire_group.command("publish", context_settings=CONTEXT_SETTINGS)
def annuaire_publish() -> None:
    """Post our members' directory lines naming our platform (EDIGATE_PLATFORM_ID): each line
    of a partner known by a 0225 address, a SIRET or a SIREN, except platforms and networks'
    access points. A line posted before is not posted again. Exit 1: refusals (in the
    annuaire's words) or the annuaire could not be reached."""
    from gateway.networks.annuaire import publish_lines
    settings = _configured()
    if not settings.platform_id:
        raise SetupError("EDIGATE_PLATFORM_ID is not set: the lines would name no platform")
    report = publish_lines(current().gateway(), now=utc_now())
    for label, instance in report.posted:
        click.echo(f"posted {label} (idInstance {instance if instance is not None else '?'})")
    click.echo(f"{len(report.posted)} line(s) posted, {report.already} published before"
               + (f", {report.busy} being posted by another run" if report.busy else "")
               + (f", {len(report.refused)} refused" if report.refused else ""))
    for label, text in report.refused:
        warn(f"refused {label}: {text}")
    if report.error:
        raise Failed(report.error)
    if report.refused:
        raise Failed(f"{len(report.refused)} line(s) refused (listed above); they are tried again next time")
