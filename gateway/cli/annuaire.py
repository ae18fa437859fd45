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
from gateway.cli import errors
from gateway.cli.words import _, identifier_problem, label_rows
from gateway.i18n import N_
from gateway.model import identifiers
from gateway.model.addressing import FR_ADDRESS


# the mirror's states (``status``; its JSON keeps the English word)
STATES = {"off": N_("off"), "never refreshed": N_("never refreshed"), "refresh failed": N_("refresh failed"),
          "lines skipped": N_("lines skipped"), "ok": "ok"}

# a line's level, as the lookup names it
LEVELS = {"routing code": N_("routing code"), "suffix": N_("suffix"), "SIRET": "SIRET", "SIREN": "SIREN"}


class Failed(errors.Failed):
    """Tried and not (entirely) done: exit 1, the message says why."""
    exit_code = EXIT_PROBLEMS


def _configured() -> Any:
    settings = current().settings
    if not settings.annuaire_url:
        raise SetupError(_("the annuaire is not configured: set EDIGATE_ANNUAIRE_URL, EDIGATE_ANNUAIRE_TOKEN_URL, "
                           "EDIGATE_ANNUAIRE_CLIENT_ID and EDIGATE_ANNUAIRE_CLIENT_SECRET"))
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
        raise BadInput(identifier_problem(problem))
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
        raise Failed(_("another refresh is under way"))
    if not result.ok:
        raise Failed(result.error or _("refresh failed"))
    click.echo(result.summary)
    for problem in result.problems:
        warn(_("skipped %(problem)s", problem=problem))
    if result.masked:
        click.echo(_("  %(n)s masked line(s) left out (the annuaire says they may not be used)", n=result.masked))
    if result.problem_count:
        raise Failed(_("%(n)s invalid line(s) skipped; the rest is in the mirror", n=result.problem_count))


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
    click.echo(_("annuaire: %(url)s (%(state)s)", url=data["url"] or _("not configured (EDIGATE_ANNUAIRE_URL)"),
                 state=_(STATES[state])))
    rows = [(N_("our platform"), settings.platform_id or _("- (EDIGATE_PLATFORM_ID not set)")),
            (N_("lines"), f"{row.line_count:,}"),
            (N_("last refresh"), minute(row.refreshed_at) + (" UTC" if row.refreshed_at else "")),
            (N_("last success"), minute(row.succeeded_at) + (" UTC" if row.succeeded_at else "")),
            (N_("next refresh"), "-" if not settings.annuaire_url else _("now") if nxt is None
             else minute(nxt) + " UTC")]
    if row.refresh_error:
        rows.append((N_("error") if state == "refresh failed" else N_("note"), row.refresh_error))
    for line in label_rows(rows):
        click.echo(line)


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
            raise Failed(_("%(address)s: no line of the annuaire's mirror answers it (in effect today)",
                           address=scheme + ":" + value))
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
    level = _(LEVELS.get(data["level"], data["level"]))
    said = {"address": data["asked"], "line": data["line"], "level": level,
            "platform": line.platform_id + (f" ({line.platform_name})" if line.platform_name else "")}
    click.echo(_("%(address)s is answered by the line %(line)s (%(level)s line): received by platform %(platform)s",
                 **said) if found.level == 0 else
               _("%(address)s is answered by the line %(line)s (%(level)s line, a less specific one): received by "
                 "platform %(platform)s", **said))
    if ours:
        click.echo(_("  that is our platform (EDIGATE_PLATFORM_ID): a member of ours must be known by it"))
    elif partner is not None:
        click.echo(_("  routed to partner %(name)s (#%(id)s), which is that platform", name=partner.name, id=partner.id))
    else:
        click.echo(_("  no partner of ours is platform %(platform)s: add one with the identifier PA:%(platform)s",
                     platform=line.platform_id))
    span = (_("  in effect from %(start)s to %(end)s", start=data["starts_on"] or "-", end=data["ends_on"])
            if data["ends_on"] else _("  in effect from %(start)s", start=data["starts_on"] or "-"))
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
        raise SetupError(_("EDIGATE_PLATFORM_ID is not set: the lines would name no platform"))
    report = publish_lines(current().gateway(), now=utc_now())
    for label, instance in report.posted:
        click.echo(_("posted %(line)s (idInstance %(instance)s)", line=label, instance=instance if instance is not None else "?"))
    click.echo(_("%(posted)s line(s) posted, %(already)s published before", posted=len(report.posted),
                 already=report.already)
               + (_(", %(n)s being posted by another run", n=report.busy) if report.busy else "")
               + (_(", %(n)s refused", n=len(report.refused)) if report.refused else ""))
    for label, text in report.refused:
        warn(_("refused %(line)s: %(reason)s", line=label, reason=text))
    if report.error:
        raise Failed(report.error)
    if report.refused:
        raise Failed(_("%(n)s line(s) refused (listed above); they are tried again next time", n=len(report.refused)))
