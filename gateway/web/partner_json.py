"""A partner described in JSON (POST / PATCH /api/v1/partners), checked and applied.

Algorithms, AS2 names and URLs go through ``gateway.partner_input``, the checks
the administration CLI uses, so both refuse the same things (SHA-1, 3DES, a URL
without a host…) with the same words. Checks types and vocabularies first and reports every problem at once
(``Invalid``: the API answers 422), then looks for clashes with other
partners — same name, AS2 id or identifier (``Conflict``: 409) — before the
database's unique constraints would. ``identifiers``, when given, is the
partner's whole list: identifiers missing from it are removed, kept ones keep
their rows. ``channel_settings`` ({channel: settings}) goes through
``gateway.channels.profiles`` like the CLI's options; each channel given replaces
that channel's settings (null removes them), the others stay.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .. import partner_input as checks
from ..channels import profiles
from ..db import CHANNELS, AS2Identity, Partner, PartnerIdentifier, normalise_identifier
from ..db.partners import MDN_MODES, MICALG_SPELLINGS, TRANSFER_ENCODINGS


class Invalid(ValueError):
    def __init__(self, details: dict[str, str]):
        super().__init__("invalid partner: " + "; ".join(f"{k}: {v}" for k, v in details.items()))
        self.details = details


class Conflict(ValueError):
    def __init__(self, message: str, details: Optional[dict[str, Any]] = None):
        super().__init__(message)
        self.details = details


def _formats() -> tuple[str, ...]:
    from ..formats import WRITABLE
    return WRITABLE


def _string(max_len: int, *, nullable: bool = True) -> Callable[[Any], Optional[str]]:
    def check(v: Any) -> Optional[str]:
        if v is None and nullable:
            return None
        if not isinstance(v, str) or not v.strip() or len(v) > max_len:
            raise ValueError(f"expected a non-empty string of at most {max_len} characters")
        return v.strip()
    return check


def _choice(choices: Callable[[], tuple[str, ...]] | tuple[str, ...], *, nullable: bool = True):
    def check(v: Any) -> Optional[str]:
        allowed = choices() if callable(choices) else choices
        if v is None and nullable:
            return None
        if v not in allowed:
            raise ValueError(f"expected one of: {', '.join(allowed)}" + (" or null" if nullable else ""))
        return v
    return check


def _text_check(check: Callable[[str], str], max_len: int = 128) -> Callable[[Any], Optional[str]]:
    """One of ``gateway.partner_input``'s checks on a JSON string; null stays null."""
    def run(v: Any) -> Optional[str]:
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > max_len:
            raise ValueError(f"expected a string of at most {max_len} characters, or null")
        return check(v)
    return run


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("expected true or false")
    return v


def _object(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("expected an object")
    return v


def _identity(v: Any) -> Optional[int]:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("expected the id of one of our AS2 identities, or null")
    return v


# JSON name → (column, check)
FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", _string(200, nullable=False)),
    "active": ("active", _bool),
    "preferred_format": ("preferred_format", _choice(_formats)),
    "preferred_channel": ("preferred_channel", _choice(CHANNELS)),
    "contact_email": ("contact_email", lambda v: None if v is None else profiles.email_address(v)),
}
AS2_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "id": ("as2_id", _text_check(checks.as2_name)),
    "url": ("as2_url", _text_check(checks.as2_url, 1000)),
    "identity_id": ("as2_identity_id", _identity),
    "signing_algorithm": ("as2_signing_algorithm", _text_check(checks.signing_algorithm)),
    "encryption_algorithm": ("as2_encryption_algorithm", _text_check(checks.encryption_algorithm)),
    "compress": ("as2_compress", _bool),
    "mdn_mode": ("as2_mdn_mode", _choice(MDN_MODES, nullable=False)),
    "mdn_signed": ("as2_mdn_signed", _bool),
    "require_signed": ("as2_require_signed", _bool),
    "require_encrypted": ("as2_require_encrypted", _bool),
    "micalg_spelling": ("as2_micalg_spelling", _choice(MICALG_SPELLINGS, nullable=False)),
    "compress_before_signing": ("as2_compress_before_signing", _bool),
    "content_transfer_encoding": ("as2_content_transfer_encoding", _choice(TRANSFER_ENCODINGS, nullable=False)),
    "options": ("as2_options", _object),
}


def parse(body: Any, *, creating: bool) -> tuple[dict[str, Any], Optional[list[tuple[str, str]]]]:
    """The column values and the identifier list (None: unchanged) a body asks for."""
    if not isinstance(body, dict):
        raise Invalid({"body": "expected a JSON object"})
    errors: dict[str, str] = {}
    columns: dict[str, Any] = {}
    known = set(FIELDS) | {"identifiers", "as2", "channel_settings"}
    for key in body:
        if key not in known:
            errors[key] = "unknown field"
    if creating and "name" not in body:
        errors["name"] = "required"
    for key, (column, check) in FIELDS.items():
        if key in body:
            try:
                columns[column] = check(body[key])
            except ValueError as e:
                errors[key] = str(e)
    as2 = body.get("as2")
    if as2 is not None:
        if not isinstance(as2, dict):
            errors["as2"] = "expected an object"
        else:
            for key in as2:
                if key not in AS2_FIELDS:
                    errors[f"as2.{key}"] = "unknown field"
            for key, (column, check) in AS2_FIELDS.items():
                if key in as2:
                    try:
                        columns[column] = check(as2[key])
                    except ValueError as e:
                        errors[f"as2.{key}"] = str(e)
    if "channel_settings" in body:
        given = body["channel_settings"]
        if not isinstance(given, dict):
            errors["channel_settings"] = "expected an object {channel: settings or null}"
        else:
            changes: dict[str, Any] = {}
            for channel, settings in given.items():
                if channel not in CHANNELS:
                    errors[f"channel_settings.{channel}"] = f"not a channel; expected one of {', '.join(CHANNELS)}"
                    continue
                try:
                    changes[channel] = None if settings is None else \
                        profiles.validate_channel_settings(channel, settings)
                except profiles.ChannelSettingsError as e:
                    errors[f"channel_settings.{e.setting}"] = e.problem
            columns["channel_settings"] = changes
    identifiers: Optional[list[tuple[str, str]]] = None
    if "identifiers" in body:
        identifiers = []
        raw = body["identifiers"]
        if not isinstance(raw, list):
            errors["identifiers"] = "expected a list of {scheme, value}"
            raw = []
        for n, item in enumerate(raw):
            try:
                if not isinstance(item, dict) or set(item) - {"scheme", "value", "label"} \
                        or not isinstance(item.get("scheme"), str) or not isinstance(item.get("value"), str):
                    raise ValueError("expected {\"scheme\": \"0009\", \"value\": \"…\"}")
                pair = normalise_identifier(item["scheme"], item["value"])
                if len(pair[0]) > 16 or len(pair[1]) > 256:
                    raise ValueError("scheme at most 16 characters, value at most 256")
                if pair in identifiers:
                    raise ValueError(f"{pair[0]}:{pair[1]} is listed twice")
                identifiers.append(pair)
            except ValueError as e:
                errors[f"identifiers[{n}]"] = str(e)
    if errors:
        raise Invalid(errors)
    return columns, identifiers


def _clashes(s: Session, partner_id: Optional[int], columns: Mapping[str, Any],
             identifiers: Optional[list[tuple[str, str]]]) -> None:
    other = (Partner.id != partner_id) if partner_id is not None else sa.true()
    if "name" in columns and s.scalar(sa.select(Partner.id).where(Partner.name == columns["name"], other)):
        raise Conflict(f"a partner named {columns['name']!r} exists already", {"field": "name"})
    if columns.get("as2_id") and s.scalar(sa.select(Partner.id).where(Partner.as2_id == columns["as2_id"], other)):
        raise Conflict(f"AS2 id {columns['as2_id']!r} belongs to another partner", {"field": "as2.id"})
    for scheme, value in identifiers or ():
        owner = s.scalar(sa.select(PartnerIdentifier.partner_id)
                         .where(PartnerIdentifier.scheme == scheme, PartnerIdentifier.value == value))
        if owner is not None and owner != partner_id:
            raise Conflict(f"identifier {scheme}:{value} belongs to partner {owner}",
                           {"field": "identifiers", "partner": owner})


def _settle_channel(s: Session, partner: Optional[Partner], columns: dict[str, Any]) -> None:
    """The channel settings given merged over the partner's, and the resulting channel usable
    (an e-mail channel has an address, a network channel a known network)."""
    changes = columns.pop("channel_settings", None)
    current = dict((partner.channel_settings if partner is not None else None) or {})
    if changes is not None:
        for channel, settings in changes.items():
            if settings:
                current[channel] = settings
            else:
                current.pop(channel, None)
        network = current.get("network")
        if network and "network" in changes:
            try:
                profiles.validate_channel_settings("network", network, session=s)
            except profiles.ChannelSettingsError as e:
                raise Invalid({"channel_settings.network.network": e.problem}) from None
        columns["channel_settings"] = current
    if changes is not None or "preferred_channel" in columns or "contact_email" in columns:
        channel = columns.get("preferred_channel", partner.preferred_channel if partner is not None else None)
        contact = columns.get("contact_email", partner.contact_email if partner is not None else None)
        problem = profiles.readiness(channel, current, contact)
        if problem:
            raise Invalid({"channel_settings": problem})


def apply(s: Session, partner: Optional[Partner], body: Any) -> Partner:
    """A new partner from ``body`` (``partner`` None) or ``partner`` updated by it; flushed."""
    columns, identifiers = parse(body, creating=partner is None)
    identity = columns.get("as2_identity_id")
    if identity is not None and s.get(AS2Identity, identity) is None:
        raise Invalid({"as2.identity_id": f"no AS2 identity {identity}"})
    _clashes(s, partner.id if partner is not None else None, columns, identifiers)
    _settle_channel(s, partner, columns)
    if partner is None:
        partner = Partner()
        s.add(partner)
    for column, value in columns.items():
        setattr(partner, column, value)
    if identifiers is not None:
        wanted = set(identifiers)
        for ident in list(partner.identifiers):
            if (ident.scheme, ident.value) not in wanted:
                partner.identifiers.remove(ident)
        have = {(i.scheme, i.value) for i in partner.identifiers}
        for scheme, value in identifiers:
            if (scheme, value) not in have:
                partner.add_identifier(scheme, value)
    s.flush()
    return partner
