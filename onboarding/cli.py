"""``edigate onboarding``: import counterparties, set up campaigns and waves, run, follow the funnel.

    edigate onboarding import suppliers.csv [--json]
    edigate onboarding campaign create "Suppliers 2026" --reminders 3 --interval 5 --start
    edigate onboarding wave add "Suppliers 2026" "first" --at now [--segment transport]
    edigate onboarding template preview "Suppliers 2026" invitation --language en
    edigate onboarding run                   # one sweep now: waves, reminders, sends, bounces
    edigate onboarding funnel "Suppliers 2026" [--csv]

Exit codes: 0 done; 1 problems found (``import``: some rows were rejected);
2 bad input (nothing written); 3 setup problem (a setting cannot be used).
Reports go to stdout (``--json``/``--csv`` for machines), errors to stderr.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import click
import sqlalchemy as sa

from gateway.cli.context import CONTEXT_SETTINGS, current
from gateway.cli.errors import EXIT_OK, EXIT_PROBLEMS, BadInput, SetupError
from gateway.cli.words import _
from gateway.config import ConfigError

from . import campaigns
from .campaigns import (CampaignInputError, add_wave, create_campaign, find_campaign, preview, set_template,
                        start_campaign)
from .importer import ImportFileError, import_csv, propose_from_held
from .models import Campaign, Counterparty, Wave
from .tasks import extension
from .templating import TemplateProblem
from .tracking import counterparties_csv, funnel, funnel_csv


def _gateway(immediate: bool = False):
    """The run's gateway (``gateway.cli.context``: built on first use, closed when the run ends);
    ``immediate``: jobs run here as they are queued."""
    return current().gateway(immediate_jobs=immediate)


def _when(text: str) -> datetime:
    if text == "now":
        return datetime.now(timezone.utc)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(_("'%(text)s': expected 'now' or an ISO date and time, e.g. 2026-03-01T09:00+01:00",
                         text=text)) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _campaign(s, ref: str):
    try:
        return find_campaign(s, ref)
    except LookupError as e:
        raise BadInput(f"{e} (edigate onboarding campaign list)") from None


def _refused(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (CampaignInputError, TemplateProblem) as e:
        raise BadInput(str(e)) from None


@click.group("onboarding", context_settings=CONTEXT_SETTINGS)
def onboarding_group() -> None:
    """Onboarding campaigns: counterparties, campaigns, waves, reminders, the funnel."""


# --- import ------------------------------------------------------------------------------------

@onboarding_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The batch and its per-row report as JSON.")
@click.option("--by", "created_by", default=None, help="Who imports (kept with the batch).")
def import_command(file: Path, as_json: bool, created_by: Optional[str]) -> None:
    """Import counterparties from a CSV file (see onboarding/importer.py for the columns). Prints
    what happened to every row; exit 1 when some rows were rejected (the others are imported)."""
    gw = _gateway()
    try:
        with gw.session() as s:
            batch = import_csv(s, file.read_bytes(), filename=file.name, created_by=created_by)
            result = {"batch": batch.id, "filename": batch.filename, "rows": batch.rows_total,
                      "accepted": batch.rows_accepted, "rejected": batch.rows_rejected,
                      "duplicate": batch.rows_duplicate, "report": batch.report}
    except ImportFileError as e:
        raise BadInput(_("%(file)s: %(error)s; nothing imported", file=file, error=e)) from None
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for entry in result["report"]:
            label = f"line {entry['line']}: {entry['outcome']}"
            if entry.get("counterparty_id"):
                label += f" (counterparty {entry['counterparty_id']})"
            click.echo(label + (": " + "; ".join(entry["reasons"]) if entry["reasons"] else ""))
        click.echo(_("%(file)s: %(rows)s row(s): %(accepted)s imported, %(rejected)s rejected, %(duplicate)s "
                     "duplicate (batch %(batch)s)", file=file.name, rows=result["rows"], accepted=result["accepted"],
                     rejected=result["rejected"], duplicate=result["duplicate"], batch=result["batch"]), err=True)
    sys.exit(EXIT_PROBLEMS if result["rejected"] else EXIT_OK)


@onboarding_group.command("propose-held")
def propose_held_command() -> None:
    """Make counterparties of the buyers of held documents (nobody known to deliver to)."""
    counts = propose_from_held(_gateway())
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))


# --- campaigns ---------------------------------------------------------------------------------

@onboarding_group.group("campaign")
def campaign_group() -> None:
    """Create, list, show, start, pause and close campaigns."""


def _campaign_dict(c) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "status": c.status, "description": c.description,
            "information_lead_days": c.information_lead_days, "reminder_count": c.reminder_count,
            "reminder_interval_days": c.reminder_interval_days, "link_valid_days": c.link_valid_days,
            "mail_rate_per_minute": c.mail_rate_per_minute, "from_address": c.from_address,
            "waves": [{"id": w.id, "name": w.name, "segment": w.segment, "send_at": w.send_at.isoformat(),
                       "status": w.status} for w in c.waves]}


@campaign_group.command("create")
@click.argument("name")
@click.option("--description", default=None)
@click.option("--information-days", "information_lead_days", type=int, default=None,
              help="Send an information mail first, and the invitation this many days later.")
@click.option("--reminders", "reminder_count", type=int, default=3, show_default=True)
@click.option("--interval", "reminder_interval_days", type=int, default=5, show_default=True,
              help="Days between a mail and the next reminder.")
@click.option("--link-days", "link_valid_days", type=int, default=30, show_default=True,
              help="Days a registration link stays valid after the last mail carrying it.")
@click.option("--rate", "mail_rate_per_minute", type=int, default=None,
              help="Most mails a minute (default: EDIGATE_MAIL_RATE).")
@click.option("--from", "from_address", default=None, help="Sender address (default: EDIGATE_MAIL_FROM).")
@click.option("--start", is_flag=True, help="Start it at once (running): its waves go on their dates.")
@click.option("--by", "created_by", default=None)
def campaign_create(name: str, start: bool, **settings: Any) -> None:
    """Create a campaign (draft unless --start)."""
    gw = _gateway()
    created_by = settings.pop("created_by")
    with gw.session() as s:
        c = _refused(create_campaign, s, name, created_by=created_by, **settings)
        if start:
            start_campaign(s, c)
        click.echo(_("campaign %(id)s: %(name)s (%(status)s)", id=c.id, name=c.name, status=c.status))


@campaign_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def campaign_list(as_json: bool) -> None:
    with _gateway().session() as s:
        campaigns = s.scalars(sa.select(Campaign).order_by(Campaign.id)).all()
        rows = [_campaign_dict(c) for c in campaigns]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['status']:<8} {r['name']}  ({len(r['waves'])} wave(s), "
                   f"{r['reminder_count']} reminder(s) every {r['reminder_interval_days']} day(s))")


@campaign_group.command("show")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True)
def campaign_show(campaign: str, as_json: bool) -> None:
    """A campaign's settings, waves and funnel."""
    with _gateway().session() as s:
        c = _campaign(s, campaign)
        data = _campaign_dict(c)
        data["funnel"] = [{"stage": f.stage, "count": f.count, "exit": f.exit} for f in funnel(s, c.id)]
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(_("campaign %(id)s: %(name)s (%(status)s)", id=data["id"], name=data["name"], status=data["status"]))
    info = data["information_lead_days"]
    click.echo(f"  information mail: {f'{info} day(s) before the invitation' if info else 'none'}")
    click.echo(f"  reminders: {data['reminder_count']} every {data['reminder_interval_days']} day(s); "
               f"links valid {data['link_valid_days']} day(s)")
    for w in data["waves"]:
        click.echo(f"  wave {w['id']} {w['name']}: segment {w['segment'] or '(all)'}, {w['send_at']}, {w['status']}")
    click.echo("  funnel: " + ", ".join(f"{f['stage']} {f['count']}" for f in data["funnel"]))


def _status_command(name: str, action: str):
    @campaign_group.command(name)
    @click.argument("campaign")
    def command(campaign: str) -> None:
        with _gateway().session() as s:
            c = _campaign(s, campaign)
            _refused(getattr(campaigns, action), s, c)
            click.echo(_("campaign %(id)s: %(name)s (%(status)s)", id=c.id, name=c.name, status=c.status))
    command.__doc__ = f"Make a campaign {'running' if name == 'start' else name + 'd'}."
    return command


_status_command("start", "start_campaign")
_status_command("pause", "pause_campaign")
_status_command("close", "close_campaign")


# --- waves -------------------------------------------------------------------------------------

@onboarding_group.group("wave")
def wave_group() -> None:
    """Waves: who a campaign invites, and when."""


@wave_group.command("add")
@click.argument("campaign")
@click.argument("name")
@click.option("--at", "send_at", default="now", show_default=True, help="'now' or an ISO date and time.")
@click.option("--segment", default="", help="Only this segment (default: every segment).")
def wave_add(campaign: str, name: str, send_at: str, segment: str) -> None:
    """Add a wave to a campaign."""
    with _gateway().session() as s:
        c = _campaign(s, campaign)
        w = _refused(add_wave, s, c, name, _when(send_at), segment)
        click.echo(_("wave %(id)s: %(name)s of %(campaign)s, segment %(segment)s, at %(at)s", id=w.id, name=w.name,
                     campaign=c.name, segment=w.segment or _("(all)"), at=w.send_at.isoformat())
                   + ("" if c.status == "running" else
                      _(" (campaign is %(status)s: start it to send)", status=c.status)))


# --- templates ---------------------------------------------------------------------------------

@onboarding_group.group("template")
def template_group() -> None:
    """Mail wording: preview, set a campaign's own."""


@template_group.command("preview")
@click.argument("campaign")
@click.argument("step", type=click.Choice(["information", "invitation", "reminder"]))
@click.option("--language", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--segment", default="")
@click.option("--counterparty", "counterparty_id", type=int, default=None, help="With this counterparty's data.")
@click.option("--html", "show_html", is_flag=True, help="Show the HTML part too.")
def template_preview(campaign: str, step: str, language: str, segment: str, counterparty_id: Optional[int],
                     show_html: bool) -> None:
    gw = _gateway()
    with gw.session() as s:
        c = _campaign(s, campaign)
        cp = s.get(Counterparty, counterparty_id) if counterparty_id else None
        if counterparty_id and cp is None:
            raise BadInput(_("no counterparty %(id)s", id=counterparty_id))
        r = _refused(preview, c, step, language, segment, cp, public_url=gw.settings.public_url)
    click.echo(f"[{r.origin} wording]")
    click.echo(f"Subject: {r.subject}\n")
    click.echo(r.text)
    if show_html and r.html:
        click.echo("\n--- HTML ---\n" + r.html)


@template_group.command("set")
@click.argument("campaign")
@click.argument("step", type=click.Choice(["information", "invitation", "reminder"]))
@click.option("--language", type=click.Choice(["fr", "en"]), required=True)
@click.option("--segment", default="")
@click.option("--subject", required=True)
@click.option("--text", "text_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--html", "html_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Ignored: the HTML part is drawn from the text, so both say the same.")
def template_set(campaign: str, step: str, language: str, segment: str, subject: str, text_file: Path,
                 html_file: Optional[Path]) -> None:
    """Give a campaign its own wording for a step/language/segment (checked by rendering it)."""
    with _gateway().session() as s:
        c = _campaign(s, campaign)
        t = _refused(set_template, s, c, step, language, subject=subject,
                     body_text=text_file.read_text(encoding="utf-8"),
                     body_html=html_file.read_text(encoding="utf-8") if html_file else None, segment=segment)
        segment = t.segment or _("(any segment)")
        click.echo(_("template %(which)s of %(campaign)s saved", which="/".join((t.step, t.language, segment)),
                     campaign=c.name))


# --- running and following ---------------------------------------------------------------------

@onboarding_group.command("run")
@click.option("--now", "now_text", default="now", help="The time to run at (tests, catching up): ISO or 'now'.")
def run_command(now_text: str) -> None:
    """One onboarding sweep now, in this process: start due waves, schedule due reminders, send
    what is due (at the campaigns' rates), read the bounce mailbox."""
    gw = _gateway(immediate=True)
    try:
        counts = extension(gw).sweep(_when(now_text))
    except ConfigError as e:
        raise SetupError(str(e)) from None
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()) or _("nothing to do"))


@onboarding_group.command("funnel")
@click.argument("campaign")
@click.option("--wave", "wave_name", default=None, help="One wave only.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV (per wave and overall).")
@click.option("--counterparties", is_flag=True, help="With --csv: one line per counterparty instead.")
def funnel_command(campaign: str, wave_name: Optional[str], as_csv: bool, counterparties: bool) -> None:
    """A campaign's funnel: invited, sent, opened, clicked, started registering, enrolled; and
    who bounced or opted out."""
    with _gateway().session() as s:
        c = _campaign(s, campaign)
        wave_id = None
        if wave_name is not None:
            wave_id = s.scalar(sa.select(Wave.id).where(Wave.campaign_id == c.id, Wave.name == wave_name))
            if wave_id is None:
                raise BadInput(_("campaign '%(campaign)s' has no wave '%(wave)s'", campaign=c.name, wave=wave_name))
        if as_csv:
            click.echo(counterparties_csv(s, c.id, wave_id) if counterparties else funnel_csv(s, c.id, wave_id),
                       nl=False)
            return
        stages = funnel(s, c.id, wave_id)
    top = max((f.count for f in stages if not f.exit), default=0) or 1
    for f in stages:
        bar = "#" * round(30 * f.count / top)
        click.echo(f"{f.label:<22} {f.count:>7}  {bar}")
