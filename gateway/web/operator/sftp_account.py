"""A partner's account on our SFTP server, from its page: the login, the authorised public keys
(pasted, checked as ``edigate sftp`` checks a key file: type and size allowed, no private key;
each shown by its SHA256 fingerprint), enabled or not.

Every change goes through the partner service (``gateway.partners.sftp_account``) as a POST with
a CSRF token, needs ``partners.write``, and is on the partner's audit trail with who made it and
the fingerprints before and after. A refusal is flashed in the reader's language; nothing is
written then. The password stays a command-line matter (``edigate sftp account set
--password-stdin``): a page is no place to type one for someone else.
"""
from __future__ import annotations

from typing import Any, Optional

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import object_session

from ...db import Partner, SftpAccount
from ...partners.service import PartnerError, PartnerService
from ...partners.sftp_account import SftpRefused, shared_with, stored_keys
from ..kit.current import gateway
from ..kit.login import login_required
from ..kit.reader import current
from ..kit.roles import require_permission
from .views import bp

MAX_KEYS_TEXT = 64 * 1024           # what may be pasted: a few public key lines


@bp.app_template_global()
def sftp_account_of(p: Partner) -> Optional[dict[str, Any]]:
    """What the partner page shows of ``p``'s SFTP account (never a key's data, never the password's hash)."""
    s = object_session(p)
    acc = PartnerService(s).sftp_account(p) if s is not None else None
    if acc is None:
        return None
    return {"username": acc.username, "active": acc.active, "password": bool(acc.password_hash),
            "last_login_at": acc.last_login_at,
            "keys": [{"fingerprint": k.fingerprint if k else None, "type": k.key_type if k else None,
                      "comment": k.comment if k else ""} for _, k in stored_keys(acc)]}


def _refusal(e: PartnerError) -> str:
    return e.worded(current()) if isinstance(e, SftpRefused) else str(e)


def _keys_text() -> str:
    text = request.form.get("keys") or ""
    if len(text) > MAX_KEYS_TEXT:
        abort(413)
    return text


def _done(partner_id: int):
    return redirect(url_for("pages.partner", partner_id=partner_id) + "#sftp", code=303)


def _partner(s, partner_id: int) -> Partner:
    p = s.get(Partner, partner_id)
    if p is None:
        abort(404, _("There is no partner %(id)s.", id=partner_id))
    return p


def _warn_shared(service: PartnerService, acc: SftpAccount, keys: list) -> None:
    for fp, other in shared_with(service, acc, keys):
        flash(_("Key %(fingerprint)s also opens SFTP account %(username)s (partner %(partner)s).",
                fingerprint=fp, username=other.username, partner=other.partner.name), "error")


@bp.post("/partners/<int:partner_id>/sftp")
@login_required
def save_sftp_account(partner_id: int):
    """Create the account (login and first keys) or rename, enable, disable it."""
    require_permission("partners.write")
    with gateway().session() as s:
        p = _partner(s, partner_id)
        service = PartnerService(s, actor=g.user.username)
        existed = service.sftp_account(p) is not None
        try:
            acc = service.save_sftp_account(p, request.form.get("username", ""), request.form.get("active") == "on",
                                            keys_text=None if existed else _keys_text(), where=_("the key"),
                                            line_word=_("line"))
        except PartnerError as e:
            s.rollback()
            flash(_("Not saved: %(reason)s", reason=_refusal(e)), "error")
            return _done(partner_id)
        state = _("enabled") if acc.active else _("disabled")
        if existed:
            flash(_("SFTP account %(username)s saved (%(state)s).", username=acc.username, state=state), "info")
        else:
            keys = [k for _, k in stored_keys(acc) if k is not None]
            flash(_("SFTP account %(username)s created (%(state)s) with the key %(fingerprints)s.",
                    username=acc.username, state=state, fingerprints=", ".join(k.fingerprint for k in keys)), "info")
            _warn_shared(service, acc, keys)
    return _done(partner_id)


@bp.post("/partners/<int:partner_id>/sftp/keys")
@login_required
def add_sftp_keys(partner_id: int):
    """Authorise one or more pasted public keys on the partner's account."""
    require_permission("partners.write")
    with gateway().session() as s:
        p = _partner(s, partner_id)
        service = PartnerService(s, actor=g.user.username)
        acc = service.sftp_account(p)
        if acc is None:
            abort(404)
        try:
            added = service.add_sftp_keys(acc, _keys_text(), where=_("the key"), line_word=_("line"))
        except PartnerError as e:
            s.rollback()
            flash(_("Key not added: %(reason)s", reason=_refusal(e)), "error")
            return _done(partner_id)
        if added:
            flash(_("Key added to SFTP account %(username)s: %(fingerprints)s.", username=acc.username,
                    fingerprints=", ".join(f"{k.key_type} {k.fingerprint}" for k in added)), "info")
            _warn_shared(service, acc, added)
        else:
            flash(_("SFTP account %(username)s already has this key: nothing changed.", username=acc.username), "info")
    return _done(partner_id)


@bp.post("/partners/<int:partner_id>/sftp/keys/remove")
@login_required
def remove_sftp_key(partner_id: int):
    """Take one key off the partner's account (its holder can no longer log in with it)."""
    require_permission("partners.write")
    fingerprint = (request.form.get("fingerprint") or "").strip()[:100]
    with gateway().session() as s:
        p = _partner(s, partner_id)
        service = PartnerService(s, actor=g.user.username)
        acc = service.sftp_account(p)
        if acc is None or not fingerprint:
            abort(404)
        try:
            service.remove_sftp_keys(acc, [fingerprint])
        except PartnerError as e:
            s.rollback()
            flash(_("Key not removed: %(reason)s", reason=_refusal(e)), "error")
            return _done(partner_id)
        flash(_("Key %(fingerprint)s removed from SFTP account %(username)s.", fingerprint=fingerprint,
                username=acc.username), "info")
    return _done(partner_id)
