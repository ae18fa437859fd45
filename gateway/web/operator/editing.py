"""Partners and certificates edited from the pages, through what the command line uses.

* A partner's settings (name, identifiers, format, channel and its settings, validation
  profile, status messages, AS2) go through ``PartnerService`` (``gateway.partners.service``):
  the same checks and refusals as ``edigate partner`` and the API; a refusal is shown beside
  its field and nothing is written.
* Certificates: imported (a partner's, or one of our organisations' with the key of ours it
  certifies, found as ``edigate cert import --org`` finds it) by the partner service's
  ``add_certificate`` from the file read as the CLI reads it
  (``partners.checks.read_certificate_file``: PEM or DER, no private key, not expired unless
  asked); a rollover is an import beside the active one (both accepted until the old is
  retired); retiring keeps the certificate on record, inactive, as ``edigate cert retire``.

Every change is a POST with a CSRF token, needs ``partners.write`` / ``certificates.write``
(``kit.roles``), and is on the audit trail with who made it.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import channels
from ...db import AS2Identity, Certificate, Organisation, Partner, audit, utcnow
from ...db.partners import (CERT_USAGES, ENCRYPTION_ALGORITHMS, MDN_MODES, MICALG_SPELLINGS, SIGNING_ALGORITHMS,
                            STATUS_SYNTAXES, TRANSFER_ENCODINGS)
from ...partners.checks import ExpiredCertificateError, read_certificate_file
from ...partners.service import PartnerError, PartnerService, changed, snapshot
from ...rules.profiles import profile_names
from ..kit.current import gateway
from ..kit.login import login_required
from ..kit.roles import require_permission
from ..kit import words
from .views import back_to, bp

MAX_CERTIFICATE = 64 * 1024          # a certificate file, PEM or DER (a chain too), is far smaller
MAX_SETTINGS = 16 * 1024             # a channel's settings as JSON
TEXT_FIELDS = ("name", "preferred_format", "preferred_channel", "contact_email", "validation_profile",
               "status_syntax", "as2_id", "as2_url", "as2_signing_algorithm", "as2_encryption_algorithm",
               "as2_mdn_mode", "as2_micalg_spelling", "as2_content_transfer_encoding")
FLAGS = ("active", "french_reform", "as2_compress", "as2_compress_before_signing", "as2_mdn_signed",
         "as2_require_signed", "as2_require_encrypted")


# --- partners ---------------------------------------------------------------------------------

def _choices(s) -> dict[str, Any]:
    from ...syntaxes import writable
    return {"formats": writable(), "channel_names": channels.names(), "profiles": profile_names(),
            "status_syntaxes": STATUS_SYNTAXES, "signing": SIGNING_ALGORITHMS, "encryption": ENCRYPTION_ALGORITHMS,
            "mdn_modes": MDN_MODES, "micalg": MICALG_SPELLINGS, "encodings": TRANSFER_ENCODINGS,
            "identities": list(s.scalars(sa.select(AS2Identity.as2_name).order_by(AS2Identity.as2_name)))}


class FormError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_identifiers(text: str) -> list[tuple[str, str]]:
    """One identifier a line, ``scheme:value`` or ``scheme value`` (``0009:12345678900011``, ``SIRET 123…``)."""
    out = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        scheme, sep, value = line.partition(":")
        if not sep:
            scheme, _, value = line.partition(" ")
        if not scheme.strip() or not value.strip():
            raise FormError("identifiers", _("Line %(n)s (%(line)s) is not 'scheme:value', e.g. 0009:12345678900011.",
                                              n=n, line=repr(line)))
        out.append((scheme.strip(), value.strip()))
    if len(out) > 50:
        raise FormError("identifiers", _("At most 50 identifiers."))
    return out


def _channel_settings(form: Any, partner: Optional[Partner]) -> Optional[dict[str, Any]]:
    """``{channel: settings}`` for the channel whose settings the form shows (JSON), or None."""
    channel = (form.get("settings_channel") or "").strip()
    text = form.get("channel_settings")
    if not channel or text is None:
        return None
    if len(text) > MAX_SETTINGS:
        raise FormError("channel_settings", _("At most %(kb)s KB of settings.", kb=MAX_SETTINGS // 1024))
    text = text.strip()
    if not text:
        return {channel: None}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise FormError("channel_settings", _("The %(channel)s settings are not valid JSON (line %(line)s): write them "
                                              "as an object, e.g. {\"to\": [\"ap@buyer.example\"]}.",
                                              channel=channel, line=e.lineno))  # type: ignore[attr-defined]
    if not isinstance(value, dict):
        raise FormError("channel_settings", _("The settings are an object: {\"name\": value, …}."))
    return {channel: value}


def partner_values(form: Any, partner: Optional[Partner]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The form as ``PartnerService`` values, and the identifiers (the whole list)."""
    values: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        if key in form:
            values[key] = form.get(key, "").strip() or None
    if values.get("name") is None:
        values["name"] = ""
    for key in FLAGS:
        values[key] = form.get(key) == "on"
    if "as2_identity" in form:
        values["as2_identity"] = form.get("as2_identity") or None
    settings = _channel_settings(form, partner)
    if settings is not None:
        values["channel_settings"] = settings
    return values, parse_identifiers(form.get("identifiers", ""))


def _settings_text(p: Optional[Partner], channel: Optional[str]) -> str:
    settings = ((p.channel_settings or {}) if p is not None else {}).get(channel or "", None)
    return json.dumps(settings, indent=2, ensure_ascii=False) if settings else ""


def _edit_page(s, p: Optional[Partner], form: Any, errors: dict[str, str], status: int = 200):
    channel = (form.get("settings_channel") if form else None) or (p.preferred_channel if p else None) or ""
    return render_template("partner_edit.html", p=p, form=form, errors=errors, settings_channel=channel,
                           settings_text=(form.get("channel_settings") if form and "channel_settings" in form
                                          else _settings_text(p, channel)),
                           identifiers_text=(form.get("identifiers") if form else None) if form else
                           "\n".join(f"{i.scheme}:{i.value}" for i in (p.identifiers if p else [])),
                           **_choices(s)), status


def _refused(e: Exception) -> tuple[str, str]:
    field = getattr(e, "field", "") or ""
    key = field.split(".")[0].split("[")[0]
    if field.startswith("as2."):
        key = "as2_" + field.split(".")[1]
    message = words.refusal(e)           # an identifier's problem in the reader's language
    return key or "form", message[:1].upper() + message[1:] + ("" if message.endswith((".", "?", "!")) else ".")




@bp.route("/partners/<int:partner_id>/edit", methods=["GET", "POST"])
@login_required
def edit_partner(partner_id: int):
    require_permission("partners.write")
    with gateway().session() as s:
        p = s.get(Partner, partner_id)
        if p is None:
            abort(404, _("There is no partner %(id)s.", id=partner_id))
        if request.method == "GET":
            return _edit_page(s, p, None, {})
        before = snapshot(p)
        try:
            values, identifiers = partner_values(request.form, p)
            PartnerService(s, actor=g.user.username).update(p, values, identifiers=identifiers)   # on the trail
        except (PartnerError, FormError) as e:
            s.rollback()
            p = s.get(Partner, partner_id)
            key, message = _refused(e)
            return _edit_page(s, p, request.form, {key: message}, 422)
        detail = changed(before, snapshot(p))
        if detail:
            flash(_("Partner %(name)s saved: %(fields)s changed.", name=p.name,
                    fields=", ".join(sorted(detail)).replace("_", " ")), "info")
        else:
            flash(_("Partner %(name)s: nothing changed.", name=p.name), "info")
        return redirect(url_for("pages.partner", partner_id=p.id), code=303)


@bp.route("/partners/new", methods=["GET", "POST"])
@login_required
def new_partner():
    require_permission("partners.write")
    with gateway().session() as s:
        if request.method == "GET":
            return _edit_page(s, None, None, {})
        try:
            values, identifiers = partner_values(request.form, None)
            p = PartnerService(s, actor=g.user.username).create(values, identifiers=identifiers)     # on the trail
        except (PartnerError, FormError) as e:
            s.rollback()
            key, message = _refused(e)
            return _edit_page(s, None, request.form, {key: message}, 422)
        flash(_("Partner %(name)s created.", name=p.name), "info")
        return redirect(url_for("pages.partner", partner_id=p.id), code=303)


# --- certificates -----------------------------------------------------------------------------

def _owner(s, kind: str, owner_id: int):
    model = Partner if kind == "partner" else Organisation
    owner = s.get(model, owner_id)
    if owner is None:
        abort(404, _("There is no partner %(id)s.", id=owner_id) if kind == "partner"
              else _("There is no organisation %(id)s.", id=owner_id))
    return owner


def _read_upload(allow_expired: bool):
    """The uploaded certificate read as the CLI reads a file (``read_certificate_file``)."""
    upload = request.files.get("certificate")
    if upload is None or not upload.filename:
        raise ValueError(_("Choose the certificate file (PEM or DER) to import."))
    data = upload.stream.read(MAX_CERTIFICATE + 1)
    if len(data) > MAX_CERTIFICATE:
        raise ValueError(_("That file is larger than a certificate (%(kb)s KB at most).", kb=MAX_CERTIFICATE // 1024))
    name = Path(upload.filename.replace("\\", "/")).name or "certificate"
    with tempfile.TemporaryDirectory(prefix="edigate-cert-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_certificate_file(path, allow_expired=allow_expired)


def _back(kind: str, owner_id: int) -> str:
    return url_for("pages.partner", partner_id=owner_id) if kind == "partner" else url_for("pages.certificates")


@bp.post("/<any(partner, organisation):kind>s/<int:owner_id>/certificates")
@login_required
def import_certificate(kind: str, owner_id: int):
    """Import a certificate beside the owner's others (a rollover when one is active)."""
    require_permission("certificates.write")
    usage = request.form.get("usage") or "both"
    if usage not in CERT_USAGES:
        abort(400, _("Choose the certificate's usage: %(usages)s.", usages=", ".join(CERT_USAGES)))
    replaces = request.form.get("replaces") or None
    with gateway().session() as s:
        owner = _owner(s, kind, owner_id)
        try:
            cf = _read_upload(request.form.get("allow_expired") == "on")
        except ExpiredCertificateError as e:
            flash(_("Not imported: %(reason)s. Tick 'import it even though it has expired' if that is what you want.",
                    reason=e), "error")
            return redirect(back_to(_back(kind, owner_id)), code=303)
        except ValueError as e:
            flash(_("Not imported: %(reason)s", reason=str(e).replace(str(Path(tempfile.gettempdir())), "")), "error")
            return redirect(back_to(_back(kind, owner_id)), code=303)
        key_ref = None
        if isinstance(owner, Organisation):
            from ...cli.org import key_for_certificate          # how `edigate cert import --org` finds it
            key_ref = key_for_certificate(owner, cf)
        try:
            added = PartnerService(s).add_certificate(owner, cf.pem, usage, key_ref)
        except PartnerError as e:
            s.rollback()
            flash(_("Not imported: %(reason)s.", reason=e), "error")
            return redirect(back_to(_back(kind, owner_id)), code=303)
        cert = added.certificate
        active = [c for c in owner.certificates if c.active and c.id != cert.id]
        audit.record(s, g.user.username, "certificate.import", kind, owner.id,
                     f"certificate #{cert.id} imported ({cert.subject}, until {cert.not_after:%Y-%m-%d})"
                     + (f", rolling over #{replaces}" if replaces else ""),
                     {"certificate_id": cert.id, "fingerprint_sha256": cert.fingerprint_sha256, "usage": usage,
                      "replaces": replaces, "key_ref": bool(key_ref)})
        notes = list(cf.notes) + [_("The same certificate is also #%(id)s of another owner.", id=c.id)
                                  for c in added.also_held_by]
        if active:
            notes.append(_("%(count)s certificates are active now, and all are accepted: retire the old "
                           "one once the switch is done.", count=len(active) + 1))
        if isinstance(owner, Organisation) and key_ref is None:
            notes.append(_("No key of ours matches it: it cannot sign or decrypt until its key is added "
                           "(edigate org identity add … --key FILE --cert FILE)."))
        if cert.not_after <= utcnow():
            notes.append(_("It has expired (imported as asked)."))
        flash(_("Certificate #%(id)s imported for %(owner)s: %(subject)s, usage %(usage)s, valid until %(until)s.",
                id=cert.id, owner=owner.name, subject=cert.subject, usage=words.USAGES.get(usage, usage),
                until=cert.not_after.strftime("%Y-%m-%d")) + " " + " ".join(notes), "info")
    return redirect(back_to(_back(kind, owner_id)), code=303)


@bp.post("/certificates/<int:cert_id>/retire")
@login_required
def retire_certificate(cert_id: int):
    """Stop using a certificate (kept on record, inactive), as ``edigate cert retire``."""
    require_permission("certificates.write")
    now = utcnow()
    with gateway().session() as s:
        c = s.get(Certificate, cert_id)
        if c is None:
            abort(404, _("There is no certificate %(id)s.", id=cert_id))
        owner = c.partner if c.partner is not None else c.organisation
        kind = "partner" if c.partner is not None else "organisation"
        back = _back(kind, owner.id)
        if not PartnerService(s, actor=g.user.username).retire_certificate(c):     # on the trail
            flash(_("Certificate #%(id)s of %(owner)s was already retired.", id=c.id, owner=owner.name), "info")
            return redirect(back_to(back), code=303)
        left = [use for use in ("signing", "encryption")
                if not any(x.valid_at(now) and x.usage in (use, "both") for x in owner.certificates)]
        flash(_("Certificate #%(id)s of %(owner)s retired: it is kept on record and no longer used.",
                id=c.id, owner=owner.name)
              + (" " + _("Careful: %(owner)s has no valid active certificate for %(usages)s left.", owner=owner.name,
                         usages=_("%(first)s nor %(second)s", first=words.USAGES["signing"],
                                                   second=words.USAGES["encryption"])
                         if len(left) == 2 else words.USAGES.get(left[0], left[0]))
                 if left else ""), "error" if left else "info")
    return redirect(back_to(back), code=303)
