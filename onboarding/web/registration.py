"""The public pages a counterparty reaches from its invitation: register, opt out, and the open pixel.

* ``/register/<token>``: the self-service registration. A refused link
  (forged, unknown, expired, used, revoked) gets a page saying which and what
  to do (404 or 410), never a stack trace. The first visit records ``clicked``,
  the first submission ``registration_started``; a valid submission becomes an
  active partner in one transaction (``onboarding.enrol``), then the browser
  is sent to ``/register/done`` (post/redirect/get: a reload does not submit
  again; a second submit of the same link gets the "already used" page).
* ``/optout/<token>``: confirm with a POST button (a mail scanner following
  links must not unsubscribe anyone); records the opt-out, which stops reminders.
* ``/t/<token>.gif``: a 1×1 GIF that records ``opened``; it never fails visibly.

No login on these pages (the signed, single-use link is the credential), CSRF on
every form, a strict CSP (no script at all: the pages work without JavaScript),
and no Referer (the token is in the URL).
"""
from __future__ import annotations

import logging
from typing import Any, Optional
from urllib.parse import urlsplit

import sqlalchemy as sa
from markupsafe import Markup, escape
from flask import (Blueprint, Response, abort, current_app, g, redirect, render_template, request,
                   session as cookie, url_for)
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

from gateway.db import AS2Identity, Certificate, Network, Partner, SftpAccount, utcnow
from gateway.web.kit import language
from gateway.web.kit.current import gateway
from gateway.web.kit.errors import ErrorPages, page_errors
from gateway.web.kit.headers import public_page_headers

from .. import links, tracking
from ..enrol import AlreadyUsed, EnrolmentConflict, enrol, release_held
from ..models import Invitation, Registration
from . import channel_forms, messages
from . import registration_form as rf
from .credentials import fingerprint_of

log = logging.getLogger("edigate.onboarding.web")

bp = Blueprint("register", __name__)

SESSION_KEY = "onboarding_registrations"          # registrations this browser submitted (for /register/done)
# 43 bytes: the smallest transparent GIF89a, 1×1.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

# Each refused link's HTTP status; its wording is in ``messages`` (``<kind>_title/_what/_todo``).
LINK_STATUS: dict[str, int] = {"forged": 404, "unknown": 404, "expired": 410, "used": 410, "revoked": 410}


def _secret() -> Any:
    """The key links are signed with: the app's (``gateway.web.secret_key``), as the mailer signs them."""
    return current_app.secret_key


def _contact() -> str:
    return gateway().settings.mail_from


def page_language(counterparty: Any = None) -> str:
    """The pages' language: ``?lang=`` when given (the FR/EN switch), else the counterparty's,
    else the browser's preference, else the gateway's (``EDIGATE_LANGUAGE``, French unless set);
    remembered for the request and told to Flask-Babel, so that every word of the page, the
    kit's error pages and the "done" and "already used" pages included, is in that language."""
    asked = request.args.get("lang")
    if asked in messages.LANGUAGES:
        g.onboarding_lang = asked
    elif counterparty is not None:
        g.onboarding_lang = messages.pick(counterparty.language)
    elif "onboarding_lang" not in g:
        g.onboarding_lang = request.accept_languages.best_match(messages.LANGUAGES) or gateway().settings.language
    language.speak(g.onboarding_lang)        # the whole page, the kit's words and error pages included
    return g.onboarding_lang


def t(key: str, **values: Any) -> str:
    """A message of the catalogue in the page's language (templates call it)."""
    return messages.say(page_language(), key, **values)


def tm(key: str, **values: Any) -> Markup:
    """``t`` for a sentence holding markup given as values (a link, a <strong> name): the wording
    is escaped, each value too unless it is ``Markup`` already."""
    return Markup(escape(messages.say(page_language(), key))) % values


@bp.context_processor
def _i18n() -> dict[str, Any]:
    lang = page_language()
    return {"t": t, "tm": tm, "Markup": Markup, "lang": lang, "other_lang": "en" if lang == "fr" else "fr",
            "format_options": lambda flavours: messages.format_labels(lang, flavours),
            "lang_arg": request.args.get("lang") if request.args.get("lang") in messages.LANGUAGES else None}


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, contact=_contact(), **context), status


def _speak_for_refused_link() -> None:
    """A refused link that is ours (used, revoked, expired) still names its invitation: the page
    saying so speaks its counterparty's language, as the form did (never English mid-way)."""
    token = (request.view_args or {}).get("token")
    if "onboarding_lang" in g or not token or request.endpoint not in ("register.form", "register.submit"):
        return
    try:
        payload = links._load(_secret(), links.REGISTER_SALT, token, "registration")
        with gateway().session() as s:
            inv = s.get(Invitation, payload[0])
            if inv is not None:
                page_language(inv.counterparty)
    except Exception:                  # noqa: BLE001 - forged or unknown: the browser's language
        return


def link_refused(kind: str) -> tuple[str, int]:
    _speak_for_refused_link()
    kind = kind if kind in LINK_STATUS else "forged"
    return _page("onboarding/link_refused.html", LINK_STATUS[kind], title=t(f"{kind}_title"),
                 what=t(f"{kind}_what"), todo=t(f"{kind}_todo"), kind=kind)


bp.after_request(public_page_headers)          # the token is in the URL: no Referer


# --- errors: the kit's, drawn as these pages in the visitor's language ---------------------------

def _message_page(status: int, title: str, message: str) -> tuple[str, int]:
    return _page("onboarding/public_message.html", status, title=title, message=message)


def _describe(e: HTTPException) -> str:
    if e.code == 413:
        return t("too_large")
    return e.description or ""


def _unexpected(e: Exception) -> tuple[str, str]:
    log.exception("public onboarding page failed")
    return t("oops_title"), t("oops_message")


PUBLIC_PAGES = ErrorPages(page=_message_page, csrf=lambda: (t("csrf_title"), t("csrf_message")),
                          describe=_describe, payload_missing=None, unexpected=_unexpected)
page_errors(bp, PUBLIC_PAGES, also={links.LinkError: lambda e: link_refused(e.kind)})


# --- registration ----------------------------------------------------------------------------

def _form_context(s, inv: Invitation, token: str, values: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    return {"token": token, "values": values, "errors": errors, "counterparty": inv.counterparty,
            "invitation": inv, "channels": channel_forms.offers(s, page_language(inv.counterparty), values)}


@bp.get("/register/<token>")
def form(token: str):
    now = utcnow()
    with gateway().session() as s:
        inv = links.read_registration_token(s, _secret(), token, now)
        tracking.record_click(s, inv, now)
        page_language(inv.counterparty)
        return _page("onboarding/register.html", **_form_context(s, inv, token, rf.prefill(inv.counterparty), {}))


@bp.post("/register/<token>")
def submit(token: str):
    now = utcnow()
    gw = gateway()
    with gw.session() as s:
        inv = links.read_registration_token(s, _secret(), token, now)
        tracking.record_registration_started(s, inv, now)
        checked = rf.check_registration(s, request.form, request.files, now=now, language=inv.counterparty.language,
                                        page_language=page_language(inv.counterparty),
                                        asks_sending=inv.campaign.kind == "suppliers")
        invitation_id = inv.id
    if checked.enrolment is None:
        # Read the link again, after the checks: if a concurrent submit (another tab) enrolled
        # meanwhile, its partner now owns these identifiers; say "already used", as the loser of
        # the compare-and-set is told, rather than "your SIRET belongs to a partner".
        with gw.session() as s:
            inv = links.read_registration_token(s, _secret(), token, now)
            return _page("onboarding/register.html", 422,
                         **_form_context(s, inv, token, checked.values, checked.errors))
    try:
        with gw.session() as s:
            enrolled = enrol(s, invitation_id, checked.enrolment, now=now, remote_addr=request.remote_addr)
    except AlreadyUsed:
        return link_refused("used")
    except (EnrolmentConflict, IntegrityError) as exc:
        field = exc.field if isinstance(exc, EnrolmentConflict) else "name"
        message = str(exc) if isinstance(exc, EnrolmentConflict) else t("conflict")
        with gw.session() as s:
            inv = links.read_registration_token(s, _secret(), token, now)
            return _page("onboarding/register.html", 422,
                         **_form_context(s, inv, token, checked.values, {field: message}))
    release_held(gw, enrolled.partner_id)
    mine = [r for r in cookie.get(SESSION_KEY, []) if isinstance(r, int)][-4:]
    cookie[SESSION_KEY] = mine + [enrolled.registration_id]
    return redirect(url_for("register.done", r=enrolled.registration_id,
                            lang=request.args.get("lang") if request.args.get("lang") in messages.LANGUAGES else None), 303)


@bp.get("/register/done")
def done():
    """What happens next, for the registration this browser just submitted."""
    wanted = request.args.get("r", type=int)
    mine = cookie.get(SESSION_KEY, [])
    if wanted is None or wanted not in mine:
        abort(404, t("no_registration"))
    gw = gateway()
    with gw.session() as s:
        reg = s.get(Registration, wanted)
        if reg is None or reg.partner is None:
            abort(404, t("registration_gone"))
        page_language(reg.counterparty)
        return _page("onboarding/registered.html", **_next_steps(s, reg, gw.settings))


def _next_steps(s, reg: Registration, settings: Any) -> dict[str, Any]:
    p: Partner = reg.partner
    out: dict[str, Any] = {"partner": p, "registration": reg, "channel": p.preferred_channel,
                           "channel_label": messages.channel_labels(page_language()).get(p.preferred_channel or "", ""),
                           "settings": (p.channel_settings or {}).get(p.preferred_channel or "", {}),
                           "public_url": settings.public_url}
    identity = s.scalar(sa.select(AS2Identity).where(AS2Identity.active.is_(True)).order_by(AS2Identity.id))
    out["our_as2_id"] = identity.as2_name if identity else None
    out["our_as2_url"] = settings.public_url + "/as2"
    out["our_certificate"] = _our_certificate(s) is not None
    if p.preferred_channel == "sftp":
        account = s.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == p.id))
        out["sftp_account"] = account
        out["sftp_fingerprints"] = [fingerprint_of(line) for line in (account.authorized_keys or "").split("\n")
                                    if line.strip()] if account else []
        out["sftp_host"] = urlsplit(settings.public_url).hostname or "localhost"
        out["sftp_port"] = settings.sftp_port
    if p.preferred_channel == "network":
        code = out["settings"].get("network")
        out["network"] = s.scalar(sa.select(Network).where(Network.code == code)) if code else None
    out["portal_username"] = reg.data.get("contact_email") if p.preferred_channel == "portal" else None
    out["portal_url"] = settings.public_url + _portal_path()
    return out


def _portal_path() -> str:
    """Where recipient logins sign in (the gateway's recipient portal), when the app has one."""
    try:
        return url_for("portal.index")
    except BuildError:
        return "/"


def _our_certificate(s) -> Optional[Certificate]:
    """The certificate of our AS2 identity partners talk to (the first active one), valid now."""
    identity = s.scalar(sa.select(AS2Identity).where(AS2Identity.active.is_(True)).order_by(AS2Identity.id))
    if identity is None:
        return None
    now = utcnow()
    certs = [c for c in identity.organisation.certificates
             if c.active and c.usage in ("both", "encryption") and c.valid_at(now)]
    return max(certs, key=lambda c: (c.not_before, c.id)) if certs else None


@bp.get("/register/certificate.pem")
def our_certificate():
    """Our AS2 certificate (public data): what a new AS2 partner encrypts to and checks us by."""
    with gateway().session() as s:
        cert = _our_certificate(s)
        if cert is None:
            abort(404, t("no_certificate"))
        pem = cert.pem
    return Response(pem, mimetype="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="edigate-as2.pem"'})


@bp.get("/register/terms")
def terms():
    return _page("onboarding/terms.html")


# --- opt-out -----------------------------------------------------------------------------------

@bp.get("/optout/<token>")
def optout_form(token: str):
    with gateway().session() as s:
        inv = links.read_optout_token(s, _secret(), token)
        page_language(inv.counterparty)
        return _page("onboarding/optout.html", token=token, counterparty=inv.counterparty,
                     already=inv.counterparty.opted_out_at is not None)


@bp.post("/optout/<token>")
def optout(token: str):
    """The confirmation button, or a mail provider's RFC 8058 one-click POST (body
    ``List-Unsubscribe=One-Click``, no cookie, no CSRF token: the signed token is the
    credential). The view is exempt from the global CSRF check (``init_app``) so the
    one-click POST gets through; every other POST is checked here, as before."""
    if request.form.get("List-Unsubscribe") != "One-Click":
        current_app.extensions["csrf"].protect()          # raises CSRFError: the human form needs its token
    now = utcnow()
    with gateway().session() as s:
        cp = tracking.record_opt_out(s, _secret(), token, now)
        page_language(cp)
        return _page("onboarding/optout_done.html", counterparty=cp)


# --- open pixel --------------------------------------------------------------------------------

@bp.get("/t/<token>.gif")
def pixel(token: str):
    """Records ``opened`` when the token is good; answers the same GIF whatever happens."""
    try:
        with gateway().session() as s:
            tracking.record_open(s, _secret(), token, utcnow())
    except Exception:                    # noqa: BLE001 - a mail client must never see an error here
        log.debug("open pixel %s not recorded", token[:12], exc_info=True)
    return Response(PIXEL, mimetype="image/gif",
                    headers={"Cache-Control": "no-store, max-age=0", "Content-Length": str(len(PIXEL))})
