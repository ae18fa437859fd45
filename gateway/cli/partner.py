"""``edigate partner``: trading partners, their identifiers, format, channel and AS2 settings.

``add`` and ``set`` share one set of options, and every change goes through
``gateway.partners.service`` (as the API's and the registration's do), so a setting
is refused for the same reasons whichever way it is given; ``set`` changes only
the options given.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional

import click
import sqlalchemy as sa

from gateway import channels
from gateway.cli.certificates import (active_certs, add_cert, cert_dict, cert_line, read_cert, report_rollover,
                                      soonest_expiry)
from gateway.cli.common import (CONTEXT_SETTINGS, BadInput, actor, checked, day, echo_json, find_partner, iso, table,
                                transaction, utc_now, warn)
from gateway.db import Partner, PartnerIdentifier
from gateway.db.partners import MDN_MODES, MICALG_SPELLINGS, SCHEMES, TRANSFER_ENCODINGS
from gateway.model import identifiers
from gateway.partners.checks import TOLERATE_UNZ_REFERENCE
from gateway.partners.service import PartnerError, PartnerService
from gateway.cli.words import _, identifier_problem, language
from gateway.partners.identifier_words import clause


def _partner_options(f: Callable) -> Callable:
    """The settings ``partner add`` and ``partner set`` share (set changes only those given)."""
    options = [
        click.option("--as2-id", metavar="ID", help="The partner's AS2 name (AS2-From of what it sends)."),
        click.option("--url", metavar="URL", help="Where the partner receives AS2 messages (http/https)."),
        click.option("--format", "fmt", metavar="FORMAT",
                     help="The syntax it wants documents in (ubl, cii, facturx, … see `edigate formats`)."),
        click.option("--channel", metavar="CHANNEL",
                     help="How documents reach it: one of the channels installed (as2, sftp, email, portal, erp, "
                          "paper, network…; another is refused with the list)."),
        click.option("--validation-profile", "validation_profile", metavar="PROFILE",
                     help="The rules the invoices it sends are checked with: en16931 (the default), peppol, fr, "
                          "fr-extended (gateway/rules/profiles.yaml); \"\" for the default."),
        click.option("--status-syntax", "status_syntax", metavar="SYNTAX",
                     help="How it is told of its invoices' statuses: aperak (EDIFACT), cdar (the French "
                          "reform's CDAR messages), invoice-response (Peppol BIS 3 Invoice Response) or none "
                          "(the API only); \"\" for the default (APERAK to an EDIFACT sender)."),
        click.option("--french-reform/--no-french-reform", "french_reform", default=None,
                     help="Subject to the French e-invoicing reform: the invoices it sends or receives are "
                          "checked with the French rules (BR-FR) and refused, naming the rule, when they fail."),
        click.option("--id", "ids", metavar="SCHEME:VALUE", multiple=True,
                     help="An identifier (repeatable): SIRET:…, SIREN:…, GLN:…, VAT:FR…, EM:… or codes (0009:…)."),
        click.option("--cert", "cert_file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False),
                     help="Its certificate (PEM or DER), usage both; see also `edigate cert import`."),
        click.option("--mdn", type=click.Choice(MDN_MODES), help="The receipt (MDN) we ask for."),
        click.option("--mdn-signed/--mdn-unsigned", default=None, help="Ask for signed MDNs (default) or not."),
        click.option("--sign", "sign", metavar="ALG", help="Sign what we send with ALG (sha256, sha384, sha512)."),
        click.option("--no-sign", is_flag=True, help="Do not sign what we send."),
        click.option("--encrypt", metavar="ALG", help="Encrypt what we send with ALG (aes_256_cbc, …)."),
        click.option("--no-encrypt", is_flag=True, help="Do not encrypt what we send."),
        click.option("--require-signed/--no-require-signed", default=None,
                     help="Refuse unsigned messages from it (default: refuse)."),
        click.option("--require-encrypted/--no-require-encrypted", default=None,
                     help="Refuse unencrypted messages from it (default: refuse)."),
        click.option("--micalg-spelling", type=click.Choice(MICALG_SPELLINGS),
                     help="rfc5751: micalg=sha-256 (default); rfc3851: sha256, for older partners."),
        click.option("--compress/--no-compress", default=None, help="Compress what we send."),
        click.option("--compress-before-signing/--compress-after-signing", default=None,
                     help="Where compression goes (default: before signing)."),
        click.option("--cte", type=click.Choice(TRANSFER_ENCODINGS), help="Content-Transfer-Encoding of the payload."),
        click.option("--identity", metavar="OUR_AS2_NAME", help="Which of our AS2 identities talks to it."),
        click.option("--tolerate-unz-reference/--no-tolerate-unz-reference", "tolerate_unz_reference", default=None,
                     help="Read on its EDIFACT interchanges whose UNZ reference is not the UNB's (ISO 9735 "
                          "rejects them, the default); each document then carries a warning EDIFACT-28."),
        # channel settings (gateway.channels); "" clears one
        click.option("--contact-email", metavar="ADDRESS",
                     help="Where to write to it about its invoices (also the e-mail fallback)."),
        click.option("--email-to", metavar="ADDRESS", multiple=True,
                     help="E-mail channel: an address invoices go to (repeatable; replaces the list)."),
        click.option("--email-subject", metavar="TEMPLATE",
                     help="E-mail channel: the subject, a Jinja2 template ({{ number }}, {{ seller }}, "
                          "{{ amount }}, {{ due_date }}…); \"\" for the default."),
        click.option("--email-body-file", metavar="FILE",
                     help="E-mail channel: the body, a Jinja2 template in a UTF-8 file; \"\" for the default."),
        click.option("--attach", metavar="WHAT", help="E-mail channel: what is attached: "
                                                      "facturx, ubl, cii or facturx+ubl (default facturx)."),
        click.option("--mail-lang", metavar="LANG", help="Language of the mails it gets (en, fr; \"\": by the "
                                                         "buyer's country)."),
        click.option("--notify", metavar="ADDRESS", multiple=True,
                     help="Portal channel: who gets the \"new invoice\" mail (repeatable; replaces the list)."),
        click.option("--postal-address", metavar="ADDRESS",
                     help="Paper: \"Name; street line; [more lines;] postcode city; country code\"."),
        click.option("--via-network", metavar="CODE",
                     help="Network channel: the code of the interconnected network it is reached through."),
        click.option("--channel-setting", "channel_setting", metavar="CHANNEL.KEY=VALUE", multiple=True,
                     help="Any channel's setting (repeatable), as its channel checks it: VALUE is text, or "
                          "JSON when it starts with [ or {; an empty VALUE clears it (email.attach=ubl, "
                          "email.to='[\"ap@b.example\"]')."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


EXPIRED_HINT = "ask the partner for its new one; `edigate cert import --allow-expired` imports it anyway"

def _refused(e: PartnerError) -> BadInput:
    """The service's refusal as the command line says it, with what to do where it helps (an
    identifier's problem in the run's language)."""
    if getattr(e.problem, "code", None) is not None and language() != "en":
        if isinstance(e.value, tuple):
            return BadInput(_("identifier %(scheme)s:%(value)s: %(problem)s", scheme=e.value[0], value=e.value[1],
                              problem=clause(identifier_problem(e.problem))))
        return BadInput(identifier_problem(e.problem))
    if e.field == "channel_settings":
        return BadInput(f"{e} (see --email-to, --contact-email, --via-network)")
    if e.field == "as2.identity_id":
        return BadInput(f"{e}; see `edigate org identity add`")
    return BadInput(str(e))


def _values(o: dict[str, Any], partner: Optional[Partner]) -> dict[str, Any]:
    """The partner settings the options ask for, as ``PartnerService`` takes them; options not
    given are left out, and an empty string clears an optional setting (``--url ""``)."""
    values: dict[str, Any] = {}
    for option, column in (("as2_id", "as2_id"), ("url", "as2_url"), ("fmt", "preferred_format"),
                           ("channel", "preferred_channel"), ("contact_email", "contact_email"),
                           ("identity", "as2_identity"), ("validation_profile", "validation_profile"),
                           ("status_syntax", "status_syntax"), ("french_reform", "french_reform")):
        if o[option] is not None:
            values[column] = o[option]
    for flag, alg, column in (("no_sign", "sign", "as2_signing_algorithm"),
                              ("no_encrypt", "encrypt", "as2_encryption_algorithm")):
        if o[flag] and o[alg]:
            raise BadInput(f"--{alg} and --no-{alg} contradict each other")
        if o[flag]:
            values[column] = None
        elif o[alg]:
            values[column] = o[alg]
    for option, column in (("mdn", "as2_mdn_mode"), ("mdn_signed", "as2_mdn_signed"),
                           ("require_signed", "as2_require_signed"),
                           ("require_encrypted", "as2_require_encrypted"),
                           ("micalg_spelling", "as2_micalg_spelling"), ("compress", "as2_compress"),
                           ("compress_before_signing", "as2_compress_before_signing"),
                           ("cte", "as2_content_transfer_encoding")):
        if o[option] is not None:
            values[column] = o[option]
    if o["tolerate_unz_reference"] is not None:      # one switch among the partner's options, the others kept
        options = dict((partner.as2_options if partner is not None else None) or {})
        options[TOLERATE_UNZ_REFERENCE] = o["tolerate_unz_reference"]
        values["as2_options"] = options
    settings = _channel_settings(o, partner)
    if settings is not None:
        values["channel_settings"] = settings
    return values


def _read_template(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--email-body-file {path}: cannot read it as UTF-8 text: {exc}") from None


def _channel_settings(o: dict[str, Any], partner: Optional[Partner]) -> Optional[dict[str, Any]]:
    """The settings of each channel an option changes, merged over the partner's (the options
    change single settings; the service replaces whole channels); None: no channel option given."""
    changes: dict[str, dict[str, Any]] = {}
    if o["email_to"]:
        changes.setdefault("email", {})["to"] = [a for a in o["email_to"] if a.strip()] or None
    if o["email_subject"] is not None:
        changes.setdefault("email", {})["subject"] = _blank_is_none(o["email_subject"])
    if o["email_body_file"] is not None:
        path = _blank_is_none(o["email_body_file"])
        changes.setdefault("email", {})["body"] = None if path is None else _read_template(path)
    if o["attach"] is not None:
        changes.setdefault("email", {})["attach"] = _blank_is_none(o["attach"])
    if o["mail_lang"] is not None:
        for channel in ("email", "portal"):
            changes.setdefault(channel, {})["lang"] = _blank_is_none(o["mail_lang"])
    if o["notify"]:
        changes.setdefault("portal", {})["notify"] = [a for a in o["notify"] if a.strip()] or None
    if o["postal_address"] is not None:
        changes.setdefault("paper", {})["address"] = _blank_is_none(o["postal_address"])
    if o["via_network"] is not None:
        changes.setdefault("network", {})["network"] = _blank_is_none(o["via_network"])
    for text in o["channel_setting"]:
        channel, key, value = _channel_setting(text)
        changes.setdefault(channel, {})[key] = value
    if not changes:
        return None
    settings = (partner.channel_settings if partner is not None else None) or {}
    try:
        for channel, change in changes.items():
            settings = channels.merge(settings, channel, change)
    except channels.ChannelSettingsError as exc:
        raise BadInput(f"{exc}") from None
    return {channel: settings.get(channel) for channel in changes}


def _channel_setting(text: str) -> tuple[str, str, Any]:
    """``CHANNEL.KEY=VALUE`` → (channel, key, value): JSON when the value starts with [ or {,
    else the text; empty: None (the setting is cleared). Whether the channel and the key exist
    is the channel's to say."""
    name, sep, value = text.partition("=")
    channel, dot, key = name.strip().partition(".")
    if not sep or not dot or not channel or not key:
        raise BadInput(f"--channel-setting {text!r}: expected CHANNEL.KEY=VALUE, e.g. email.attach=ubl")
    if value.lstrip().startswith(("[", "{")):
        try:
            return channel, key, json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInput(f"--channel-setting {text!r}: the value is not JSON ({exc})") from None
    return channel, key, _blank_is_none(value)


def _blank_is_none(value: Optional[str]) -> Optional[str]:
    return None if value is not None and not value.strip() else value


def _identifier(text: str) -> tuple[str, str]:
    """``SCHEME:VALUE`` (a code or a label: SIRET, GLN…) → (code, value)."""
    return checked(identifiers.parse, text)


def _warn_incomplete(p: Partner) -> None:
    """An AS2 partner without URL or certificate cannot be sent to yet: say so now, not at 3 a.m."""
    if p.preferred_channel == "paper" and not ((p.channel_settings or {}).get("paper") or {}).get("address"):
        warn(f"partner {p.name!r} gets paper but has no postal address (--postal-address): each invoice's buyer "
             "postal address (BG-8) will be used, and an invoice without one fails")
    if p.preferred_channel != "as2":
        return
    missing = [what for what, ok in (("an AS2 id", p.as2_id), ("a URL", p.as2_url),
                                     ("a certificate", active_certs(p))) if not ok]
    if missing:
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        warn(f"partner {p.name!r} uses AS2 but is still missing {listed}: sending to it will fail")


def _ident_text(i: PartnerIdentifier) -> str:
    return f"{i.scheme}:{i.value}" + (f" ({i.label})" if i.scheme in SCHEMES else "")


def _partner_dict(p: Partner, now: datetime, *, full: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": p.id, "name": p.name, "active": p.active,
        "identifiers": [{"scheme": i.scheme, "value": i.value, "label": i.label} for i in p.identifiers],
        "as2_id": p.as2_id, "format": p.preferred_format, "channel": p.preferred_channel,
        "validation_profile": p.validation_profile or "en16931",
        "status_syntax": p.status_syntax, "french_reform": p.french_reform,
        "certificate_expiry": iso(soonest_expiry(p.certificates)),
    }
    if full:
        d.update({
            "as2_url": p.as2_url, "identity": p.as2_identity.as2_name if p.as2_identity else None,
            "signing_algorithm": p.as2_signing_algorithm, "encryption_algorithm": p.as2_encryption_algorithm,
            "compress": p.as2_compress, "compress_before_signing": p.as2_compress_before_signing,
            "mdn_mode": p.as2_mdn_mode, "mdn_signed": p.as2_mdn_signed,
            "require_signed": p.as2_require_signed, "require_encrypted": p.as2_require_encrypted,
            "micalg_spelling": p.as2_micalg_spelling, "content_transfer_encoding": p.as2_content_transfer_encoding,
            "options": p.as2_options, "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
            "contact_email": p.contact_email, "channel_settings": p.channel_settings or {},
            "certificates": [cert_dict(c, now) for c in sorted(p.certificates, key=lambda c: c.id)],
        })
    return d


def _channel_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """One line per channel with settings: what an operator needs to see, templates summarised."""
    rows = []
    for channel, mine in sorted(settings.items()):
        if not isinstance(mine, dict):
            continue
        parts = []
        for key, value in mine.items():
            if key in ("to", "notify"):
                parts.append(f"{key} {', '.join(value)}")
            elif key in ("subject",):
                parts.append(f"subject {value!r}")
            elif key in ("body", "body_html"):
                parts.append(f"{key} custom ({len(value)} characters)")
            elif key == "address":
                parts.append("address " + channels.postal_address(value).one_line())
            else:
                parts.append(f"{key} {value}")
        rows.append((f"{channel} settings", "; ".join(parts) or "-"))
    return rows


def _show_partner(p: Partner, now: datetime) -> None:
    from gateway.partners.defaults import default_status_syntax
    on = {True: "yes", False: "no"}
    rows = [
        ("identifiers", ", ".join(_ident_text(i) for i in p.identifiers) or "-"),
        ("format", p.preferred_format or "-"), ("channel", p.preferred_channel or "-"),
        ("validation profile", p.validation_profile or "en16931 (default)"),
        ("status syntax", p.status_syntax or (f"(default: {default_status_syntax(p)})" if default_status_syntax(p)
                                              else "(default: APERAK to an EDIFACT sender)")),
        ("French reform", "yes: French rules (BR-FR) on what it sends and receives" if p.french_reform else "no"),
        ("our identity", p.as2_identity.as2_name if p.as2_identity else "(default)"),
        ("AS2 id", p.as2_id or "-"), ("AS2 URL", p.as2_url or "-"),
        ("signing", p.as2_signing_algorithm or "none"), ("encryption", p.as2_encryption_algorithm or "none"),
        ("compression", (("before" if p.as2_compress_before_signing else "after") + " signing")
         if p.as2_compress else "none"),
        ("MDN", f"{p.as2_mdn_mode}" + (", signed" if p.as2_mdn_signed else ", unsigned")),
        ("require signed", on[p.as2_require_signed]), ("require encrypted", on[p.as2_require_encrypted]),
        ("micalg spelling", p.as2_micalg_spelling), ("transfer encoding", p.as2_content_transfer_encoding),
    ]
    if p.as2_options:
        rows.append(("options", json.dumps(p.as2_options, ensure_ascii=False)))
    rows.append(("contact e-mail", p.contact_email or "-"))
    rows += _channel_rows(p.channel_settings or {})
    click.echo(f"partner #{p.id} {p.name} ({'active' if p.active else 'disabled'})")
    for label, value in rows:
        click.echo(f"  {label + ':':<19}{value}")
    click.echo("  certificates:" + ("" if p.certificates else " none"))
    for c in sorted(p.certificates, key=lambda c: c.id):
        click.echo(f"    {cert_line(c, now)}")


@click.group("partner", context_settings=CONTEXT_SETTINGS)
def partner_group() -> None:
    """Trading partners: identifiers, format and channel, AS2 settings, certificates.

    A partner is named by its name, its number, a SCHEME:VALUE identifier or its AS2 id.
    Exit codes: 0 done, 2 refused (nothing written).
    """


@partner_group.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@_partner_options
def partner_add(name: str, **o: Any) -> None:
    """Add partner NAME. Unset AS2 settings take the safe defaults (sha256, aes_256_cbc,
    compression, signed synchronous MDN, signed and encrypted inbound required)."""
    with transaction() as s:
        partners = PartnerService(s, actor=actor())
        values = _values(o, None)
        ids = [_identifier(text) for text in o["ids"]]
        cf = read_cert(o["cert_file"], expired_hint=EXPIRED_HINT) if o["cert_file"] else None
        try:
            p = partners.create({"name": name, **values}, identifiers=ids)
        except PartnerError as e:
            if e.field == "name" and e.conflict:
                raise BadInput(f"{e}; change it with `edigate partner set {e.value!r} …`") from None
            raise _refused(e) from None
        if cf is not None:
            add_cert(s, p, cf, "both")
        if p.identifiers:
            click.echo(_("added partner #%(id)s %(name)s: %(identifiers)s", id=p.id, name=p.name,
                         identifiers=", ".join(_ident_text(i) for i in p.identifiers)))
        else:
            click.echo(_("added partner #%(id)s %(name)s", id=p.id, name=p.name))
            warn(_("partner '%(name)s' has no identifier: documents cannot be routed to it by identifier "
                   "(add one with `edigate partner id add`)", name=p.name))
        _warn_incomplete(p)


@partner_group.command("set", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.option("--rename", metavar="NEW_NAME", help="Give the partner a new name.")
@_partner_options
def partner_set(ref: str, rename: Optional[str], **o: Any) -> None:
    """Change the settings given (the others stay). --id adds identifiers, --cert adds a
    certificate; an empty value clears an optional setting (--url "", --identity "")."""
    with transaction() as s:
        partners = PartnerService(s, actor=actor())
        p = find_partner(s, ref)
        values = _values(o, p)
        if rename is not None:
            values["name"] = rename
        ids = [_identifier(text) for text in o["ids"]]
        cf = read_cert(o["cert_file"], expired_hint=EXPIRED_HINT) if o["cert_file"] else None
        try:
            partners.check(p, values)                   # every setting, before anything changes
            new_ids = [(i.scheme, i.value) for i in partners.add_identifiers(p, ids)]
            changed = partners.update(p, values)
        except PartnerError as e:
            if e.field == "name" and e.conflict:
                raise BadInput(f"cannot rename to {rename!r}: partner #{e.holder_id} has that name") from None
            raise _refused(e) from None
        cert = add_cert(s, p, cf, "both") if cf is not None else None
        what = changed + [f"identifier {sc}:{v}" for sc, v in new_ids] + ([f"certificate #{cert.id}"] if cert else [])
        click.echo(_("partner #%(id)s %(name)s: changed %(what)s", id=p.id, name=p.name, what=", ".join(what))
                   if what else _("partner #%(id)s %(name)s: nothing to change", id=p.id, name=p.name))
        if cert is not None:
            report_rollover(p, cert)
        _warn_incomplete(p)


@partner_group.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def partner_list(as_json: bool) -> None:
    """Every partner: identifiers, AS2 id, format/channel, soonest certificate expiry."""
    now = utc_now()
    with transaction() as s:
        partners = s.scalars(sa.select(Partner).order_by(Partner.name)).all()
        if as_json:
            echo_json([_partner_dict(p, now, full=False) for p in partners])
            return
        if not partners:
            click.echo(_("no partners yet (see `edigate partner add`)"))
            return
        rows = [[str(p.id), p.name + ("" if p.active else " (disabled)"),
                 ", ".join(f"{i.scheme}:{i.value}" for i in p.identifiers) or "-", p.as2_id or "-",
                 f"{p.preferred_format or '-'}/{p.preferred_channel or '-'}", day(soonest_expiry(p.certificates))]
                for p in partners]
        table(["#", "name", "identifiers", "AS2 id", "format/channel", "cert expires"], rows)


@partner_group.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="NAME|ID")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
def partner_show(ref: str, as_json: bool) -> None:
    """Everything about one partner, its certificates and their validity included."""
    now = utc_now()
    with transaction() as s:
        p = find_partner(s, ref)
        if as_json:
            echo_json(_partner_dict(p, now, full=True))
        else:
            _show_partner(p, now)


@partner_group.group("id", context_settings=CONTEXT_SETTINGS)
def partner_id() -> None:
    """A partner's identifiers (SCHEME:VALUE, unique across partners)."""


@partner_id.command("add", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.argument("identifier", metavar="SCHEME:VALUE")
def partner_id_add(ref: str, identifier: str) -> None:
    """Give PARTNER one more identifier."""
    with transaction() as s:
        p = find_partner(s, ref)
        scheme, value = _identifier(identifier)
        try:
            added = PartnerService(s, actor=actor()).add_identifiers(p, [(scheme, value)])
        except PartnerError as e:
            raise _refused(e) from None
        if not added:
            click.echo(_("partner %(name)s already has %(scheme)s:%(value)s", name=p.name, scheme=scheme, value=value))
            return
        click.echo(_("partner %(name)s: added %(identifier)s", name=p.name, identifier=_ident_text(added[0])))


@partner_id.command("remove", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
@click.argument("identifier", metavar="SCHEME:VALUE")
def partner_id_remove(ref: str, identifier: str) -> None:
    """Take an identifier away from PARTNER (no check-digit test: a wrong one must be removable)."""
    with transaction() as s:
        p = find_partner(s, ref)
        scheme, value = _identifier(identifier)
        try:
            PartnerService(s, actor=actor()).remove_identifier(p, scheme, value)
        except PartnerError as e:
            raise _refused(e) from None
        click.echo(_("partner %(name)s: removed %(scheme)s:%(value)s", name=p.name, scheme=scheme, value=value))
        if not p.identifiers:
            warn(_("partner '%(name)s' has no identifier left: documents cannot be routed to it by identifier",
                   name=p.name))


def _set_active(ref: str, active: bool) -> None:
    with transaction() as s:
        p = find_partner(s, ref)
        if not PartnerService(s, actor=actor()).set_active(p, active):
            click.echo(_("partner %(name)s is already enabled", name=p.name) if active
                       else _("partner %(name)s is already disabled", name=p.name))
            return
        click.echo(_("partner %(name)s enabled", name=p.name) if active else _("partner %(name)s disabled", name=p.name))


@partner_group.command("disable", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
def partner_disable(ref: str) -> None:
    """Stop exchanging with PARTNER (its records stay)."""
    _set_active(ref, False)


@partner_group.command("enable", context_settings=CONTEXT_SETTINGS)
@click.argument("ref", metavar="PARTNER")
def partner_enable(ref: str) -> None:
    """Exchange with PARTNER again."""
    _set_active(ref, True)


# the pa channel's webhook on another platform (gateway.cli.pa)
from gateway.cli.pa import pa_subscribe, pa_unsubscribe  # noqa: E402

partner_group.add_command(pa_subscribe)
partner_group.add_command(pa_unsubscribe)
