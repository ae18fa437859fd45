"""The one place partner records change: the CLI, the REST API and onboarding's registration
all create and change partners here, with the same checks and the same refusals.

    partners = PartnerService(session)
    p = partners.create({"name": "ACME", "as2_id": "ACME-AS2", "preferred_channel": "as2"},
                        identifiers=[("0009", "73282932000074")])
    partners.update(p, {"as2_url": "https://acme.example/as2", "channel_settings": {"email": None}})
    partners.add_certificate(p, pem)

Identifiers are (scheme, value) pairs, the scheme a code (0009) or a label (SIRET).
Values are the partner's columns (``name``, ``as2_id``, ``as2_url``, ``preferred_format``,
``preferred_channel``, ``contact_email``, ``validation_profile`` (the rules its invoices
are checked with: ``gateway.rules.profiles``), ``status_syntax`` (how it is told of its
invoices' statuses: aperak, cdar, invoice-response, none), ``french_reform`` (subject to the
French reform: its invoices, sent or received, are held to the French rules), ``active``, the
``as2_*`` settings), plus
``as2_identity`` (one of our AS2 names) or ``as2_identity_id``, and ``channel_settings``:
``{channel: settings}`` replacing each channel given (None or ``{}`` removes it), the others
kept. A value of None clears an optional setting; a key left out is left alone.

Every value is checked before anything is written, by the checks the rest of the gateway
uses (``gateway.partners.checks``, ``gateway.model.identifiers``, the channels' own
settings checks through ``gateway.channels``), and what the database holds is asked first:
a name, AS2 id or identifier another partner has, an AS2 name that is ours. A refusal is a
``PartnerError`` naming the field as the API names it (``name``, ``as2.id``, ``identifiers``,
``channel_settings.email.to[0]``…), so each caller words it for its audience: the CLI prints
the message, the API answers 409 (``conflict``) or 422, the registration form marks its field.
Nothing is committed here: the caller's transaction is the unit of work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Union

import sqlalchemy as sa
from sqlalchemy.orm import Session

from gateway import channels
from gateway.db import AS2Identity, Certificate, Organisation, Partner, PartnerIdentifier, audit
from gateway.db.partners import MDN_MODES, MICALG_SPELLINGS, STATUS_SYNTAXES, TRANSFER_ENCODINGS
from gateway.model import identifiers
from gateway.model.problems import problem_of
from gateway.partners import checks
from gateway.partners.errors import Owner, PartnerError     # PartnerError: callers import it from here too
from gateway.rules.profiles import check_profile_name

# The columns a change may set, each with the field name callers see (the API's).
FIELDS: dict[str, str] = {
    "name": "name", "active": "active",
    "preferred_format": "preferred_format", "preferred_channel": "preferred_channel",
    "contact_email": "contact_email", "validation_profile": "validation_profile",
    "status_syntax": "status_syntax", "french_reform": "french_reform",
    "as2_id": "as2.id", "as2_url": "as2.url",
    "as2_signing_algorithm": "as2.signing_algorithm", "as2_encryption_algorithm": "as2.encryption_algorithm",
    "as2_compress": "as2.compress", "as2_compress_before_signing": "as2.compress_before_signing",
    "as2_mdn_mode": "as2.mdn_mode", "as2_mdn_signed": "as2.mdn_signed",
    "as2_require_signed": "as2.require_signed", "as2_require_encrypted": "as2.require_encrypted",
    "as2_micalg_spelling": "as2.micalg_spelling", "as2_content_transfer_encoding": "as2.content_transfer_encoding",
    "as2_options": "as2.options",
}
_FLAGS = ("active", "french_reform", "as2_compress", "as2_compress_before_signing", "as2_mdn_signed",
          "as2_require_signed", "as2_require_encrypted")
_CHOICES = {"as2_mdn_mode": MDN_MODES, "as2_micalg_spelling": MICALG_SPELLINGS,
            "as2_content_transfer_encoding": TRANSFER_ENCODINGS, "status_syntax": STATUS_SYNTAXES}


@dataclass
class Added:
    """A certificate stored, and what the operator should know about it."""
    certificate: Certificate
    also_held_by: list[Certificate] = field(default_factory=list)       # the same certificate elsewhere


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _writable() -> tuple[str, ...]:
    from gateway.syntaxes import writable       # heavy (lxml, mappings): only when a format is given
    return writable()


# what the audit trail keeps of a partner, before and after a change
TRAIL_TEXT = ("name", "preferred_format", "preferred_channel", "contact_email", "validation_profile",
              "status_syntax", "as2_id", "as2_url", "as2_signing_algorithm", "as2_encryption_algorithm",
              "as2_mdn_mode", "as2_micalg_spelling", "as2_content_transfer_encoding")
TRAIL_FLAGS = ("active", "french_reform", "as2_compress", "as2_compress_before_signing", "as2_mdn_signed",
               "as2_require_signed", "as2_require_encrypted")


def snapshot(p: Partner) -> dict[str, Any]:
    """What the audit trail keeps of ``p`` (never a secret: no key, no password)."""
    out = {k: getattr(p, k) for k in TRAIL_TEXT + TRAIL_FLAGS}
    out["identifiers"] = sorted(f"{i.scheme}:{i.value}" for i in p.identifiers)
    out["channel_settings"] = p.channel_settings
    out["as2_identity"] = p.as2_identity.as2_name if p.as2_identity else None
    return out


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The fields whose value changed, each as [before, after]."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


class PartnerService:
    """Partner changes in one session (the caller's transaction). With an ``actor`` (a username
    from the pages, ``api:<user>`` from the REST API, ``cli:<login>`` from the command line),
    every change is also written to the audit trail (``gateway.db.audit``), the same way
    whichever door it came through."""

    def __init__(self, session: Session, actor: Optional[str] = None):
        self.s = session
        self.actor = actor

    def trail(self, action: str, owner: Any, summary: str, detail: dict[str, Any]) -> None:
        """The change on the audit trail, under this service's actor (none: a change not made by someone)."""
        if self.actor:
            kind = "partner" if isinstance(owner, Partner) else "organisation"
            audit.record(self.s, self.actor, action, kind, owner.id, summary, detail)

    # --- whole records ----------------------------------------------------------------------

    def create(self, values: Mapping[str, Any], *, identifiers: Iterable[tuple[str, str]] = (),
               check_digits: bool = True) -> Partner:
        """A new partner from ``values`` (``name`` required) with ``identifiers`` (scheme code,
        value); unset AS2 settings take the safe column defaults. Flushed."""
        if "name" not in values:
            raise PartnerError("name", "a partner needs a name")
        columns = self.check(None, values)
        pairs = self._new_identifiers(None, identifiers, check_digits=check_digits)
        # None given at construction would let the column defaults (sha256, aes_256_cbc) win:
        # insert without them, then clear them on the stored row.
        p = Partner(**{k: v for k, v in columns.items() if v is not None})
        for scheme, value in pairs:
            p.add_identifier(scheme, value)
        self.s.add(p)
        self.s.flush()
        for key in [k for k, v in columns.items() if v is None]:
            setattr(p, key, None)
        self.s.flush()
        self.trail("partner.create", p, f"partner {p.name} created",
                   {k: v for k, v in snapshot(p).items() if v not in (None, False, [], {})})
        return p

    def update(self, partner: Partner, values: Mapping[str, Any], *,
               identifiers: Optional[Iterable[tuple[str, str]]] = None, check_digits: bool = True) -> list[str]:
        """``partner`` changed as ``values`` say; ``identifiers``, when given, becomes its whole
        list (missing ones removed, kept ones keep their rows). Returns the columns whose value
        changed. Flushed."""
        columns = self.check(partner, values)
        wanted = None if identifiers is None else self._identifier_list(partner, identifiers, check_digits)
        before = snapshot(partner) if self.actor else {}
        differ = [k for k, v in columns.items() if getattr(partner, k) != v]
        for key, value in columns.items():
            setattr(partner, key, value)
        if wanted is not None:
            for ident in list(partner.identifiers):
                if (ident.scheme, ident.value) not in wanted:
                    partner.identifiers.remove(ident)
            have = {(i.scheme, i.value) for i in partner.identifiers}
            for scheme, value in wanted:
                if (scheme, value) not in have:
                    partner.add_identifier(scheme, value)
        self.s.flush()
        self._changed(partner, before)
        return differ

    def _changed(self, partner: Partner, before: dict[str, Any]) -> None:
        if self.actor:
            detail = changed(before, snapshot(partner))
            if detail:
                self.trail("partner.update", partner, f"changed {', '.join(sorted(detail))}", detail)

    def set_active(self, partner: Partner, active: bool) -> bool:
        """Exchange with ``partner`` again, or stop (its records stay); False: it already was."""
        if partner.active == active:
            return False
        before = snapshot(partner) if self.actor else {}
        partner.active = active
        self.s.flush()
        self._changed(partner, before)
        return True

    # --- identifiers ----------------------------------------------------------------------

    def add_identifiers(self, partner: Partner, pairs: Iterable[tuple[str, str]], *,
                        check_digits: bool = True) -> list[PartnerIdentifier]:
        """Give ``partner`` the identifiers it does not have yet (those it has are skipped)."""
        before = snapshot(partner) if self.actor else {}
        added = [partner.add_identifier(scheme, value)
                 for scheme, value in self._new_identifiers(partner, pairs, check_digits=check_digits)]
        self.s.flush()
        self._changed(partner, before)
        return added

    def remove_identifier(self, partner: Partner, scheme: str, value: str) -> None:
        """Take an identifier away (no check-digit test: a wrong one must be removable)."""
        try:
            scheme, value = identifiers.normalise_identifier(identifiers.scheme_code(scheme, value), value)
        except ValueError as exc:
            raise PartnerError("identifiers", str(exc)) from None
        ident = next((i for i in partner.identifiers if (i.scheme, i.value) == (scheme, value)), None)
        if ident is None:
            have = ", ".join(f"{i.scheme}:{i.value}" for i in partner.identifiers) or "none"
            raise PartnerError("identifiers", f"partner {partner.name!r} has no identifier {scheme}:{value} "
                                              f"(it has: {have})", value=(scheme, value))
        before = snapshot(partner) if self.actor else {}
        partner.identifiers.remove(ident)
        self.s.flush()
        self._changed(partner, before)

    def _checked_identifier(self, scheme: str, value: str, check_digits: bool) -> tuple[str, str]:
        try:
            scheme, value = identifiers.normalise_identifier(identifiers.scheme_code(scheme, value), value)
        except ValueError as exc:
            raise PartnerError("identifiers", str(exc), problem=problem_of(exc)) from None
        problem = identifiers.check(scheme, value) if check_digits else None
        if problem:
            raise PartnerError("identifiers", f"identifier {scheme}:{value}: {problem}", problem=problem,
                               value=(scheme, value))
        return scheme, value

    def _holder_check(self, partner: Optional[Partner], scheme: str, value: str) -> Optional[Partner]:
        holder = self.s.scalar(Partner.by_identifier(scheme, value))
        if holder is not None and holder is not partner:
            raise PartnerError("identifiers", f"identifier {scheme}:{value} already belongs to partner "
                                              f"{holder.name!r} (#{holder.id})", conflict=True, holder=holder,
                               value=(scheme, value))
        return holder

    def _new_identifiers(self, partner: Optional[Partner], pairs: Iterable[tuple[str, str]], *,
                         check_digits: bool) -> list[tuple[str, str]]:
        """The identifiers in ``pairs`` ``partner`` does not have yet, checked; refused if
        another partner has one."""
        new: list[tuple[str, str]] = []
        for scheme, value in pairs:
            scheme, value = self._checked_identifier(scheme, value, check_digits)
            if self._holder_check(partner, scheme, value) is None and (scheme, value) not in new:
                new.append((scheme, value))
        return new

    def _identifier_list(self, partner: Partner, pairs: Iterable[tuple[str, str]],
                         check_digits: bool) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for scheme, value in pairs:
            scheme, value = self._checked_identifier(scheme, value, check_digits)
            self._holder_check(partner, scheme, value)
            if (scheme, value) not in out:
                out.append((scheme, value))
        return out

    # --- certificates ---------------------------------------------------------------------

    def add_certificate(self, owner: Owner, pem: Union[str, bytes], usage: str = "both",
                        key_ref: Optional[str] = None) -> Added:
        """Store a certificate (PEM) for ``owner`` beside those it has: a rollover keeps both
        active. The same certificate twice for one owner is refused."""
        cert = Certificate.from_pem(pem, usage=usage, key_ref=key_ref)
        what = f"partner {owner.name!r}" if isinstance(owner, Partner) else f"organisation {owner.name!r}"
        for c in owner.certificates:
            if c.fingerprint_sha256 == cert.fingerprint_sha256:
                state = "active" if c.active else "retired"
                raise PartnerError("certificate", f"{what} already has this certificate as #{c.id} ({state}); "
                                                  "nothing imported", conflict=True, holder=owner)
        if isinstance(owner, Partner):
            cert.partner = owner
        else:
            cert.organisation = owner
        self.s.add(cert)
        self.s.flush()
        self.trail("certificate.import", owner,
                   f"certificate #{cert.id} imported ({cert.subject}, until {cert.not_after:%Y-%m-%d})",
                   {"certificate_id": cert.id, "fingerprint_sha256": cert.fingerprint_sha256, "usage": usage})
        elsewhere = self.s.scalars(sa.select(Certificate).where(
            Certificate.fingerprint_sha256 == cert.fingerprint_sha256, Certificate.id != cert.id)).all()
        return Added(cert, list(elsewhere))

    def retire_certificate(self, cert: Certificate) -> bool:
        """Stop using ``cert`` (kept on record, inactive); False: it already was retired."""
        if not cert.active:
            return False
        cert.active = False
        self.s.flush()
        owner = cert.partner if cert.partner is not None else cert.organisation
        self.trail("certificate.retire", owner,
                   f"certificate #{cert.id} retired ({cert.subject}, until {cert.not_after:%Y-%m-%d})",
                   {"certificate_id": cert.id, "fingerprint_sha256": cert.fingerprint_sha256})
        return True

    # --- its account on our SFTP server (gateway.partners.sftp_account) ---------------------

    def sftp_account(self, partner: Partner) -> Optional[Any]:
        """``partner``'s ``SftpAccount`` on our server, or None."""
        from gateway.partners import sftp_account
        return sftp_account.account_of(self, partner)

    def save_sftp_account(self, partner: Partner, username: str, active: Optional[bool] = None,
                          keys_text: Optional[str] = None, where: str = "the key", line_word: str = "line") -> Any:
        """Create ``partner``'s SFTP account (a login and its first keys) or rename, enable, disable it."""
        from gateway.partners import sftp_account
        return sftp_account.save_account(self, partner, username, active, keys_text, where, line_word)

    def add_sftp_keys(self, account: Any, text: str, where: str = "the key", line_word: str = "line") -> list[Any]:
        """The public keys of ``text`` (checked as ``gateway.partners.ssh_keys`` checks) added to ``account``."""
        from gateway.partners import sftp_account
        return sftp_account.add_keys(self, account, text, where, line_word)

    def remove_sftp_keys(self, account: Any, fingerprints: list[str]) -> list[str]:
        """The keys with these SHA256 fingerprints taken off ``account``."""
        from gateway.partners import sftp_account
        return sftp_account.remove_keys(self, account, fingerprints)

    # --- checking values ------------------------------------------------------------------

    def check(self, partner: Optional[Partner], values: Mapping[str, Any]) -> dict[str, Any]:
        """The column values ``values`` ask for, normalised and checked (for ``partner``, or a
        new one); ``PartnerError`` on the first refusal."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in ("channel_settings", "as2_identity", "as2_identity_id"):
                continue
            if key not in FIELDS:
                raise ValueError(f"not a partner setting: {key!r}")
            out[key] = self._column(partner, key, value)
        if "as2_identity" in values or "as2_identity_id" in values:
            out["as2_identity"] = self._identity(values)
        self._settle_channel(partner, values, out)
        return out

    def _column(self, partner: Optional[Partner], key: str, value: Any) -> Any:
        name = FIELDS[key]
        if key in _FLAGS:
            if not isinstance(value, bool):
                raise PartnerError(name, f"{name}: expected true or false")
            return value
        if key == "as2_options":
            if value is not None and not isinstance(value, Mapping):
                raise PartnerError(name, f"{name}: expected an object of options")
            try:
                return checks.partner_options(dict(value)) if value is not None else None
            except ValueError as exc:
                raise PartnerError(f"{name}.{str(exc).partition(':')[0]}", f"{name}.{exc}") from None
        if value is not None and not isinstance(value, str):
            raise PartnerError(name, f"{name}: expected text")
        value = _blank_is_none(value)
        if key == "name":
            return self._name(partner, value)
        if value is None:
            return None
        try:
            if key == "as2_id":
                value = checks.as2_name(value)
                self.as2_name_free(value, partner)
            elif key == "as2_url":
                value = checks.as2_url(value)
            elif key == "as2_signing_algorithm":
                value = checks.signing_algorithm(value)
            elif key == "as2_encryption_algorithm":
                value = checks.encryption_algorithm(value)
            elif key == "contact_email":
                value = channels.email_address(value)
            elif key == "validation_profile":
                value = check_profile_name(value)
            elif key == "preferred_format":
                given, value = value, value.strip().lower()
                if value not in _writable():
                    raise PartnerError(name, f"unknown format {given!r}; choose one of {', '.join(_writable())}")
            elif key == "preferred_channel":
                given, value = value, value.strip().lower()
                if value not in channels.names():
                    raise PartnerError(name, f"unknown channel {given!r}; choose one of "
                                             f"{', '.join(channels.names())}")
            elif key in _CHOICES and value not in _CHOICES[key]:
                raise PartnerError(name, f"{name}: {value!r} is not one of {', '.join(_CHOICES[key])}")
        except PartnerError:
            raise
        except ValueError as exc:
            raise PartnerError(name, str(exc)) from None
        return value

    def _name(self, partner: Optional[Partner], value: Optional[str]) -> str:
        name = (value or "").strip()
        if not name:
            raise PartnerError("name", "a partner needs a name")
        if len(name) > 200:
            raise PartnerError("name", "a partner's name has at most 200 characters")
        other = self.s.scalar(sa.select(Partner).where(Partner.name == name))
        if other is not None and other is not partner:
            raise PartnerError("name", f"a partner named {name!r} already exists (#{other.id})", conflict=True,
                               holder=other, value=name)
        return name

    def as2_name_free(self, name: str, partner: Optional[Partner] = None) -> None:
        """AS2 names identify both ends of a message: one may belong to one party only (ours,
        or ``partner``'s); ``PartnerError`` naming who has it otherwise."""
        ours = self.s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == name))
        if ours is not None:
            raise PartnerError("as2.id", f"AS2 name {name!r} is already ours (organisation {ours.organisation.name})",
                               conflict=True, holder=ours.organisation, value=name)
        other = self.s.scalar(sa.select(Partner).where(Partner.as2_id == name))
        if other is not None and other is not partner:
            raise PartnerError("as2.id", f"AS2 id {name!r} already belongs to partner {other.name!r} (#{other.id})",
                               conflict=True, holder=other, value=name)

    def _identity(self, values: Mapping[str, Any]) -> Optional[AS2Identity]:
        """Which of our AS2 identities talks to the partner: by AS2 name or by id; None: the default."""
        if "as2_identity_id" in values:
            ident_id = values["as2_identity_id"]
            if ident_id is None:
                return None
            ident = self.s.get(AS2Identity, ident_id)
            if ident is None:
                raise PartnerError("as2.identity_id", f"no AS2 identity {ident_id} (see `edigate org list`)",
                                   conflict=True, value=ident_id)
            return ident
        name = _blank_is_none(values["as2_identity"])
        if name is None:
            return None
        ident = self.s.scalar(sa.select(AS2Identity).where(AS2Identity.as2_name == name))
        if ident is None:
            known = ", ".join(self.s.scalars(sa.select(AS2Identity.as2_name).order_by(AS2Identity.as2_name)))
            raise PartnerError("as2.identity_id", f"no AS2 identity of ours named {name!r} "
                                                  f"(known: {known or 'none yet'})", value=name)
        return ident

    def _settle_channel(self, partner: Optional[Partner], values: Mapping[str, Any], out: dict[str, Any]) -> None:
        """The channel settings given replace those channels' settings (each checked by its
        channel), and the resulting channel must be usable (an e-mail channel has an address,
        a network channel its network)."""
        changes = values.get("channel_settings")
        current = {k: dict(v) for k, v in ((partner.channel_settings if partner is not None else None) or {}).items()
                   if isinstance(v, Mapping)}
        if changes is not None:
            if not isinstance(changes, Mapping):
                raise PartnerError("channel_settings", "channel_settings: expected an object {channel: settings}")
            for channel, settings in changes.items():
                if not settings:
                    current.pop(channel, None)
                    continue
                try:
                    normal = channels.validate_channel_settings(channel, settings, session=self.s)
                except channels.ChannelSettingsError as e:
                    raise PartnerError(f"channel_settings.{e.setting}", str(e), problem=e.problem) from None
                if normal:
                    current[channel] = normal
                else:
                    current.pop(channel, None)
            out["channel_settings"] = current
        if changes is not None or "preferred_channel" in out or "contact_email" in out:
            channel = out.get("preferred_channel", partner.preferred_channel if partner is not None else None)
            contact = out.get("contact_email", partner.contact_email if partner is not None else None)
            problem = channels.readiness(channel, current, contact)
            if problem:
                raise PartnerError("channel_settings", problem)


__all__ = ["PartnerService", "PartnerError", "Added", "FIELDS"]
