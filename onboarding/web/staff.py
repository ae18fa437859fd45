"""Onboarding's staff pages under ``/onboarding``: counterparties, imports, campaigns, waves,
templates with preview, and the funnel with its chart and CSV export.

Server-rendered, no JavaScript (the funnel chart is SVG drawn here), every POST
form with its CSRF token, the gateway's strict CSP (the wording page lets its mail preview, a
sandboxed frame, use the few inline styles ``onboarding.wording`` writes, by their hashes).
Every word goes through the catalogue (``_()``, ``words``): a French reader reads French;
times are shown, and read from forms, in the reader's time zone (Europe/Paris by default). Every page wants a logged-in
gateway user of a staff role (``STAFF_ROLES``); recipient logins are refused
(403). The work is done by the onboarding modules (``importer``, ``campaigns``,
``mailing``, ``tracking``): these views only read forms, call them, and show
what they say, field by field.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from typing import Any, Callable, Optional, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import Forbidden

from gateway.db import compare_and_set, utcnow
from gateway.web import bounds
from gateway.web.kit.current import gateway
from gateway.web.kit.display import status_class, when
from gateway.web.kit.errors import OPERATOR_PAGES, page_errors
from gateway.web.kit.headers import CSP, page_headers
from gateway.web.kit.login import login_required
from gateway.web.kit.reader import zone_name

from .. import campaigns as camp
from .. import importer, mailing, reasons, tasks, tracking, wording
from ..counterparties import edit_counterparty, reinvite
from ..models import (CAMPAIGN_KINDS, COUNTERPARTY_STATUSES, LANGUAGES, STEPS, Campaign, CampaignMail,
                      CampaignTemplate, Counterparty, ImportBatch, Invitation, Registration, Wave)
from ..templating import TemplateProblem, TemplateSource, render, resolve, sample_context
from . import funnel_chart, words

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("onboarding", __name__, url_prefix="/onboarding")

STAFF_ROLES = ("admin", "operator", "staff")
PAGE_SIZE = 50
MAX_IMPORT = 20 * 1024 * 1024
SETTINGS = ("description", "information_lead_days", "reminder_count", "reminder_interval_days", "link_valid_days",
            "mail_rate_per_minute", "from_address", "sender_name", "inviter", "kind")


def staff_required(view: F) -> F:
    """A logged-in gateway user (``login_required``: anonymous → login page, recipient → 403) of a
    staff role."""

    @functools.wraps(view)
    def check(*args: Any, **kwargs: Any):
        if g.user.role not in STAFF_ROLES:
            raise Forbidden("The onboarding pages are for staff, operators and admins.")
        return view(*args, **kwargs)

    return login_required(check)  # type: ignore[return-value]


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": status_class, "when": when, "page_url": _page_url, "problem": problem,
            "zone": zone_name(), "kinds": CAMPAIGN_KINDS, **words.helpers()}


def problem(e: Exception) -> str:
    """A ``CampaignInputError``'s message without its ``field: `` prefix (shown next to the field),
    in the reader's language where the refusal kept its reason's code (``reasons``)."""
    said = getattr(e, "said", None)
    if said is not None:
        from gateway.web.kit.reader import current
        return reasons.worded(said, current(), str(e))
    field = getattr(e, "field", None)
    text = str(e)
    return text[len(field) + 2:] if field and text.startswith(f"{field}: ") else text


bp.after_request(page_headers)
page_errors(bp, OPERATOR_PAGES)          # in the operator pages' frame (their base.html)


def _get(s, model, ident: int, what: str):
    row = s.get(model, ident)
    if row is None:
        abort(404, f"There is no {what} {ident}.")
    return row


def _csv(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8-sig"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- counterparties ------------------------------------------------------------------------------

@bp.get("/")
@staff_required
def index():
    return redirect(url_for("onboarding.campaigns"))


def _counterparty_search(args) -> tuple[sa.Select, dict[str, str]]:
    errors: dict[str, str] = {}
    q = sa.select(Counterparty)
    text = (args.get("q") or "").strip()
    if text:
        like = f"%{text.lower()}%"
        compact = "".join(text.split()).upper()
        q = q.where(sa.or_(sa.func.lower(Counterparty.name).like(like), sa.func.lower(Counterparty.email).like(like),
                           Counterparty.siret == compact, Counterparty.siren == compact,
                           Counterparty.vat == compact, Counterparty.gln == compact))
    status = args.get("status") or ""
    if status:
        if status not in COUNTERPARTY_STATUSES:
            errors["status"] = f"{status!r} is not one of: {', '.join(COUNTERPARTY_STATUSES)}"
        else:
            q = q.where(Counterparty.status == status)
    if "segment" in args and args.get("segment") != "*":
        segment = args.get("segment") or ""
        if segment:
            q = q.where(Counterparty.segment == segment)
    return q.order_by(Counterparty.name, Counterparty.id), errors


@bp.get("/counterparties")
@staff_required
def counterparties():
    offset = request.args.get("offset", 0, type=bounds.offset)
    with gateway().session() as s:
        query, errors = _counterparty_search(request.args)
        if errors:
            rows, total = [], 0
        else:
            total = s.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
            rows = s.scalars(query.limit(PAGE_SIZE).offset(offset)).all()
        segments = [x for x in s.scalars(sa.select(Counterparty.segment).distinct().order_by(Counterparty.segment))
                    if x]
        counts = dict(s.execute(sa.select(Counterparty.status, sa.func.count()).group_by(Counterparty.status)).all())
        html = render_template("onboarding/counterparties.html", rows=rows, total=total, offset=offset,
                               page_size=PAGE_SIZE, errors=errors, args=request.args, statuses=COUNTERPARTY_STATUSES,
                               segments=segments, counts=counts)
    return html, 400 if errors else 200


def _page_url(offset: int) -> str:
    args = {k: v for k, v in request.args.items() if k != "offset"}
    if offset:
        args["offset"] = offset
    return url_for(request.endpoint, **(request.view_args or {}), **args)


@bp.get("/counterparties/<int:counterparty_id>")
@staff_required
def counterparty(counterparty_id: int):
    with gateway().session() as s:
        return _counterparty_page(s, _get(s, Counterparty, counterparty_id, "counterparty"))


def _counterparty_page(s, cp: Counterparty, *, values: Optional[dict[str, str]] = None,
                       errors: Optional[dict[str, str]] = None, status: int = 200):
    invitations = s.scalars(sa.select(Invitation).where(Invitation.counterparty_id == cp.id)
                            .order_by(Invitation.id)).all()
    mails = s.scalars(sa.select(CampaignMail).where(CampaignMail.invitation_id.in_([i.id for i in invitations]))
                      .order_by(CampaignMail.due_at, CampaignMail.id)).all() if invitations else []
    registrations = s.scalars(sa.select(Registration).where(Registration.counterparty_id == cp.id)
                              .order_by(Registration.id)).all()
    campaigns = {c.id: c.name for c in s.scalars(sa.select(Campaign))}
    values = values or {"name": cp.name, "email": cp.email or "", "contact_name": cp.contact_name or "",
                        "language": cp.language, "segment": cp.segment or ""}
    return render_template("onboarding/counterparty.html", cp=cp, invitations=invitations, mails=mails,
                           registrations=registrations, events=tracking.timeline(s, cp.id), campaigns=campaigns,
                           values=values, errors=errors or {}, languages=LANGUAGES), status


@bp.post("/counterparties/<int:counterparty_id>")
@staff_required
def counterparty_edit(counterparty_id: int):
    """Correct what the import said (name, e-mail, contact, language, segment)."""
    form = {k: request.form.get(k, "") for k in ("name", "email", "contact_name", "language", "segment")}
    try:
        with gateway().session() as s:
            cp = _get(s, Counterparty, counterparty_id, "counterparty")
            with s.begin_nested():
                changed = edit_counterparty(s, cp, by=g.user.username, **form)
    except camp.CampaignInputError as e:
        with gateway().session() as s:
            return _counterparty_page(s, _get(s, Counterparty, counterparty_id, "counterparty"), values=form,
                                      errors={e.field: problem(e)}, status=422)
    flash(_("Counterparty saved.") if changed else _("Nothing changed."), "info")
    return redirect(url_for("onboarding.counterparty", counterparty_id=counterparty_id), 303)


@bp.post("/invitations/<int:invitation_id>/reinvite")
@staff_required
def invitation_reinvite(invitation_id: int):
    """Send this invitation again now, with a new link (the old ones stop working)."""
    now = utcnow()
    with gateway().session() as s:
        inv = _get(s, Invitation, invitation_id, "invitation")
        cp_id, running = inv.counterparty_id, inv.campaign.status == "running"
        try:
            reinvite(s, inv, now=now, by=g.user.username)
        except camp.CampaignInputError as e:
            flash(_("Not invited again: %(problem)s", problem=problem(e)), "error")
            return redirect(url_for("onboarding.counterparty", counterparty_id=cp_id), 303)
    if running:
        _kick(now)
        flash(_("Invited again: the mail is on its way, with a new link."), "info")
    else:
        flash(_("Invited again: the mail goes when the campaign runs."), "info")
    return redirect(url_for("onboarding.counterparty", counterparty_id=cp_id), 303)


@bp.get("/counterparties.csv")
@staff_required
def counterparties_csv():
    with gateway().session() as s:
        return _csv(tracking.counterparties_csv(s), "counterparties.csv")


# --- imports -------------------------------------------------------------------------------------

@bp.get("/imports")
@staff_required
def imports():
    with gateway().session() as s:
        batches = s.scalars(sa.select(ImportBatch).order_by(ImportBatch.id.desc()).limit(20)).all()
        return render_template("onboarding/imports.html", batches=batches, error=None)


@bp.post("/imports")
@staff_required
def import_upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_refused(_("Choose the CSV file to import."))
    data = upload.read(MAX_IMPORT + 1)
    if len(data) > MAX_IMPORT:
        return _import_refused(_("The file is larger than %(n)s MB: split it.", n=MAX_IMPORT // (1024 * 1024)))
    try:
        with gateway().session() as s:
            batch = importer.import_csv(s, data, filename=upload.filename[:500], created_by=g.user.username)
            batch_id = batch.id
            summary = (batch.rows_accepted, batch.rows_rejected, batch.rows_duplicate)
    except importer.ImportFileError as e:
        from gateway.web.kit.reader import current
        return _import_refused(_("%(file)s: %(problem)s Nothing was imported.", file=upload.filename,
                                 problem=reasons.worded(e.said, current(), str(e))))
    flash(_("Imported %(file)s: %(accepted)s accepted, %(rejected)s rejected, %(duplicate)s duplicate.",
            file=upload.filename, accepted=summary[0], rejected=summary[1], duplicate=summary[2]),
          "info" if not summary[1] else "error")
    return redirect(url_for("onboarding.import_report", batch_id=batch_id), 303)


def _import_refused(message: str):
    with gateway().session() as s:
        batches = s.scalars(sa.select(ImportBatch).order_by(ImportBatch.id.desc()).limit(20)).all()
        return render_template("onboarding/imports.html", batches=batches, error=message), 422


@bp.get("/imports/<int:batch_id>")
@staff_required
def import_report(batch_id: int):
    show = request.args.get("show", "")
    with gateway().session() as s:
        batch = _get(s, ImportBatch, batch_id, "import")
        report = [e for e in batch.report or [] if not show or e.get("outcome") == show]
        outcomes: dict[str, int] = {}
        for e in batch.report or []:
            outcomes[e.get("outcome", "")] = outcomes.get(e.get("outcome", ""), 0) + 1
        return render_template("onboarding/import_report.html", batch=batch, report=report, outcomes=outcomes,
                               show=show)


# --- campaigns -----------------------------------------------------------------------------------

def _funnels(s, campaign: Campaign) -> tuple[funnel_chart.Chart, list[tuple[Wave, funnel_chart.Chart]]]:
    return (funnel_chart.bars(tracking.funnel(s, campaign.id)),
            [(w, funnel_chart.bars(tracking.funnel(s, campaign.id, w.id))) for w in campaign.waves])


@bp.get("/campaigns")
@staff_required
def campaigns():
    with gateway().session() as s:
        return _campaign_list(s, {}, {})


def _campaign_list(s, values: dict[str, str], errors: dict[str, str]):
    rows = s.scalars(sa.select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())).all()
    stats = {c.id: {sc.stage: sc.count for sc in tracking.funnel(s, c.id)} for c in rows}
    return render_template("onboarding/campaigns.html", campaigns=rows, stats=stats, values=values, errors=errors)


def _settings_from(form) -> dict[str, Any]:
    out: dict[str, Any] = {k: form.get(k, "") for k in SETTINGS if k in form}
    if "information_step" in form or "information_lead_days" in form:
        if form.get("information_step") != "yes":
            out["information_lead_days"] = None
    return out


@bp.post("/campaigns")
@staff_required
def campaign_create():
    values = dict(request.form)
    try:
        with gateway().session() as s:
            c = camp.create_campaign(s, request.form.get("name", ""), created_by=g.user.username,
                                     **_settings_from(request.form))
            campaign_id = c.id
    except camp.CampaignInputError as e:
        with gateway().session() as s:
            return _campaign_list(s, values, {e.field: problem(e)}), 422
    flash(_("Campaign created (draft): add its waves, check its wording, then start it."), "info")
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


def _campaign_page(s, c: Campaign, *, errors: Optional[dict[str, str]] = None,
                   values: Optional[dict[str, str]] = None, wave_values: Optional[dict[str, str]] = None,
                   status: int = 200):
    chart, wave_charts = _funnels(s, c)
    segments = [x for x in s.scalars(sa.select(Counterparty.segment).distinct().order_by(Counterparty.segment)) if x]
    overrides = s.scalars(sa.select(CampaignTemplate).where(CampaignTemplate.campaign_id == c.id)
                          .order_by(CampaignTemplate.step, CampaignTemplate.language, CampaignTemplate.segment)).all()
    audience = {w.id: s.scalar(sa.select(sa.func.count()).select_from(mailing.audience(w).subquery()))
                for w in c.waves if w.status == "scheduled"}
    return render_template("onboarding/campaign.html", c=c, chart=chart, wave_charts=wave_charts,
                           segments=segments, overrides=overrides, steps=STEPS, languages=LANGUAGES,
                           errors=errors or {}, values=values, wave_values=wave_values or {},
                           audience=audience, now=utcnow()), status


@bp.get("/campaigns/<int:campaign_id>")
@staff_required
def campaign(campaign_id: int):
    with gateway().session() as s:
        return _campaign_page(s, _get(s, Campaign, campaign_id, "campaign"))


@bp.post("/campaigns/<int:campaign_id>")
@staff_required
def campaign_update(campaign_id: int):
    try:
        with gateway().session() as s:
            c = _get(s, Campaign, campaign_id, "campaign")
            changes = _settings_from(request.form)
            if "name" in request.form:
                changes["name"] = request.form["name"]
            camp.update_campaign(s, c, **changes)
    except camp.CampaignInputError as e:
        with gateway().session() as s:
            return _campaign_page(s, _get(s, Campaign, campaign_id, "campaign"), errors={e.field: problem(e)},
                                  values=dict(request.form), status=422)
    flash(_("Campaign settings saved."), "info")
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


@bp.post("/campaigns/<int:campaign_id>/status")
@staff_required
def campaign_status(campaign_id: int):
    action = request.form.get("action", "")
    actions = {"start": camp.start_campaign, "pause": camp.pause_campaign, "close": camp.close_campaign}
    if action not in actions:
        abort(400, f"Unknown action {action!r}: start, pause or close.")
    if action == "close" and request.form.get("confirm") != "yes":
        flash(_("Not closed: tick the box to confirm that every mail not yet sent is cancelled for good."), "error")
        return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)
    try:
        with gateway().session() as s:
            c = _get(s, Campaign, campaign_id, "campaign")
            actions[action](s, c)
            status = c.status
    except camp.CampaignInputError as e:
        flash(_("Not done: %(problem)s", problem=e), "error")
    else:
        flash({"running": _("Campaign running: its waves start when their date comes."),
               "paused": _("Campaign paused: no mail goes until you start it again."),
               "closed": _("Campaign closed: nothing more is sent.")}.get(status, status), "info")
        if action == "start":
            _kick(utcnow())
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


# --- waves ---------------------------------------------------------------------------------------

def _when(text: str) -> datetime:
    """A ``datetime-local`` value (``2025-03-01T09:30``), read in the reader's time zone (the one
    the pages show times in), as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise camp.CampaignInputError("send_at", _("%(value)s is not a date and time (YYYY-MM-DD HH:MM)",
                                                   value=repr(text))) from None
    if value.tzinfo is None:
        try:
            value = value.replace(tzinfo=ZoneInfo(zone_name()))
        except (KeyError, ValueError):
            value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@bp.post("/campaigns/<int:campaign_id>/waves")
@staff_required
def wave_add(campaign_id: int):
    form = request.form
    try:
        with gateway().session() as s:
            c = _get(s, Campaign, campaign_id, "campaign")
            send_at = _when(form.get("send_at", "")) if form.get("send_at", "").strip() else utcnow()
            wave = camp.add_wave(s, c, form.get("name", ""), send_at, form.get("segment", ""))
            name = wave.name
    except camp.CampaignInputError as e:
        with gateway().session() as s:
            return _campaign_page(s, _get(s, Campaign, campaign_id, "campaign"), errors={f"wave.{e.field}": problem(e)},
                                  wave_values=dict(form), status=422)
    flash(_("Wave %(name)s added.", name=name), "info")
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


def _kick(now: datetime) -> dict[str, int]:
    """Run onboarding's sweep now (waves due start, their mails are queued) rather than at the
    next minute; the sweep is idempotent, so racing the scheduled one is harmless."""
    return tasks.extension(gateway()).sweep(now)


@bp.post("/waves/<int:wave_id>/start")
@staff_required
def wave_start(wave_id: int):
    """Send a scheduled wave now: its date becomes now and, if the campaign runs, it starts."""
    now = utcnow()
    with gateway().session() as s:
        wave = _get(s, Wave, wave_id, "wave")
        campaign_id, campaign_status = wave.campaign_id, wave.campaign.status
        moved = compare_and_set(s, Wave, Wave.id == wave_id, Wave.status == "scheduled", send_at=now)
    if not moved:
        flash(_("This wave has already started (or was cancelled)."), "error")
    elif campaign_status != "running":
        flash(_("The wave's date is now; the campaign is %(status)s: start the campaign to send it.",
                status=words.status_word(campaign_status)), "error")
    else:
        counts = _kick(now)
        flash(_("Wave started: %(invitations)s invitation(s), %(mails)s mail(s) queued.",
                invitations=counts.get("invitations", 0), mails=counts.get("mails_prompted", 0)), "info")
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


@bp.post("/waves/<int:wave_id>/cancel")
@staff_required
def wave_cancel(wave_id: int):
    with gateway().session() as s:
        wave = _get(s, Wave, wave_id, "wave")
        campaign_id = wave.campaign_id
        try:
            camp.cancel_wave(s, wave)
        except camp.CampaignInputError as e:
            flash(_("Not cancelled: %(problem)s", problem=e), "error")
        else:
            flash(_("Wave %(name)s cancelled.", name=wave.name), "info")
    return redirect(url_for("onboarding.campaign", campaign_id=campaign_id), 303)


# --- funnel --------------------------------------------------------------------------------------

@bp.get("/campaigns/<int:campaign_id>/funnel")
@staff_required
def funnel(campaign_id: int):
    wave_id = request.args.get("wave", type=bounds.record_id)
    with gateway().session() as s:
        c = _get(s, Campaign, campaign_id, "campaign")
        wave = _get(s, Wave, wave_id, "wave") if wave_id is not None else None
        if wave is not None and wave.campaign_id != c.id:
            abort(404, f"Wave {wave_id} is not a wave of this campaign.")
        chart = funnel_chart.bars(tracking.funnel(s, c.id, wave_id))
        return render_template("onboarding/funnel.html", c=c, wave=wave, chart=chart)


@bp.get("/campaigns/<int:campaign_id>/funnel.csv")
@staff_required
def funnel_csv(campaign_id: int):
    wave_id = request.args.get("wave", type=bounds.record_id)
    with gateway().session() as s:
        _get(s, Campaign, campaign_id, "campaign")
        return _csv(tracking.funnel_csv(s, campaign_id, wave_id),
                    f"funnel-{campaign_id}" + (f"-wave-{wave_id}" if wave_id else "") + ".csv")


@bp.get("/campaigns/<int:campaign_id>/counterparties.csv")
@staff_required
def campaign_counterparties_csv(campaign_id: int):
    wave_id = request.args.get("wave", type=bounds.record_id)
    with gateway().session() as s:
        _get(s, Campaign, campaign_id, "campaign")
        return _csv(tracking.counterparties_csv(s, campaign_id, wave_id),
                    f"campaign-{campaign_id}-counterparties.csv")


# --- templates -----------------------------------------------------------------------------------

def _template_args(step: str, language: str) -> None:
    if step not in STEPS:
        abort(404, f"There is no step {step!r} (steps: {', '.join(STEPS)}).")
    if language not in LANGUAGES:
        abort(404, f"There is no language {language!r} (languages: {', '.join(LANGUAGES)}).")


def _preview(s, c: Campaign, step: str, language: str, segment: str, counterparty: Optional[Counterparty],
             draft: Optional[TemplateSource]):
    """The mail as ``counterparty`` (else sample data) would get it: the saved wording, or ``draft``."""
    if draft is None:
        return camp.preview(c, step, language, segment, counterparty, public_url=gateway().settings.public_url)
    base = sample_context(language, segment, public_url=gateway().settings.public_url, campaign=c.name)
    mail_step = "reminder-1" if step == "reminder" else step
    if counterparty is not None:
        ctx = camp.mail_context(c, counterparty, registration_url=base["registration_url"],
                                optout_url=base["optout_url"], expires_at=utcnow() + timedelta(days=c.link_valid_days),
                                step=mail_step)
        ctx["language"], ctx["segment"] = language, segment or ctx["segment"]
    else:
        ctx = dict(base, reminder_number=1 if step == "reminder" else 0, reminder_count=c.reminder_count)
    ctx["inviter"] = camp.inviter_of(s, c)
    ctx["sender"] = c.sender_name or ""
    ctx["greeting"] = wording.greeting(language, ctx.get("contact"))
    return render(draft, ctx)


def _template_page(s, c: Campaign, step: str, language: str, *, segment: str, counterparty_id: Optional[int],
                   draft: Optional[TemplateSource] = None, error: Optional[str] = None, status: int = 200):
    source = resolve(s, c.id, step, language, segment)
    shown = draft or source
    counterparty = s.get(Counterparty, counterparty_id) if counterparty_id else None
    choices = s.scalars(sa.select(Counterparty).join(Invitation, Invitation.counterparty_id == Counterparty.id)
                        .where(Invitation.campaign_id == c.id).order_by(Counterparty.name).limit(200)).all()
    if not choices:
        q = sa.select(Counterparty).order_by(Counterparty.name).limit(200)
        if segment:
            q = q.where(Counterparty.segment == segment)
        choices = s.scalars(q).all()
    if counterparty is not None and counterparty not in choices:
        choices = [counterparty, *choices]
    rendered, preview_error = None, None
    try:
        rendered = _preview(s, c, step, language, segment, counterparty, draft)
    except (TemplateProblem, camp.CampaignInputError) as e:
        preview_error = str(e)
    response = make_response(render_template(
        "onboarding/template.html", c=c, step=step, language=language, segment=segment, source=shown,
        origin=source.origin, counterparty=counterparty, choices=choices, rendered=rendered, error=error,
        preview_error=preview_error), status)
    response.headers["Content-Security-Policy"] = _preview_csp()
    return response


@functools.lru_cache(maxsize=1)
def _preview_csp() -> str:
    """The gateway's CSP, letting the preview frame (``srcdoc``, sandboxed: no script, no form, no
    navigation) use the inline styles ``onboarding.wording`` writes, named by their hashes: the
    mail looks as it will, and nothing else inline is allowed."""
    styles = set(re.findall(r'style="([^"]+)"', wording.html_of(
        "a\n\n    https://x.example/r\n\n--\nb", lang="en", title="t", registration_url="https://x.example/r")))
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(v.encode()).digest()).decode()}'"
                      for v in sorted(styles))
    return CSP.replace("style-src 'self'", f"style-src 'self' 'unsafe-hashes' {hashes}")


@bp.get("/campaigns/<int:campaign_id>/templates/<step>/<language>")
@staff_required
def template(campaign_id: int, step: str, language: str):
    _template_args(step, language)
    with gateway().session() as s:
        c = _get(s, Campaign, campaign_id, "campaign")
        try:
            segment = camp.check_segment(request.args.get("segment", ""))
        except camp.CampaignInputError as e:
            abort(400, str(e))
        return _template_page(s, c, step, language, segment=segment,
                              counterparty_id=request.args.get("counterparty", type=bounds.record_id))


@bp.post("/campaigns/<int:campaign_id>/templates/<step>/<language>")
@staff_required
def template_save(campaign_id: int, step: str, language: str):
    _template_args(step, language)
    form = request.form
    action = form.get("action", "save")
    counterparty_id = form.get("counterparty", type=int)
    draft = TemplateSource(form.get("subject", ""), form.get("body_text", "").replace("\r\n", "\n"), None,
                           _("draft (not saved)"))
    with gateway().session() as s:
        c = _get(s, Campaign, campaign_id, "campaign")
        try:
            segment = camp.check_segment(form.get("segment", ""))
        except camp.CampaignInputError as e:
            return _template_page(s, c, step, language, segment="", counterparty_id=counterparty_id, draft=draft,
                                  error=str(e), status=422)
        if action == "reset":
            camp.delete_template(s, c, step, language, segment)
            flash(_("Back to the wording it inherits."), "info")
        elif action == "preview":
            return _template_page(s, c, step, language, segment=segment, counterparty_id=counterparty_id,
                                  draft=draft)
        else:
            try:
                with s.begin_nested():
                    camp.set_template(s, c, step, language, subject=draft.subject, body_text=draft.body_text,
                                      segment=segment, updated_by=g.user.username)
            except (TemplateProblem, camp.CampaignInputError) as e:
                return _template_page(s, c, step, language, segment=segment, counterparty_id=counterparty_id,
                                      draft=draft, error=str(e), status=422)
            flash(_("Wording saved."), "info")
    args = {"segment": segment} if segment else {}
    if counterparty_id:
        args["counterparty"] = counterparty_id
    return redirect(url_for("onboarding.template", campaign_id=campaign_id, step=step, language=language, **args),
                    303)
