"""A partner's account on our SFTP server changed through the partner service: its login, its
authorised public keys (added and removed with the checks of ``gateway.partners.ssh_keys``),
enabled or not. ``edigate sftp account`` and the operator's partner page both come here.

Refusals are ``SftpRefused`` (a ``PartnerError`` naming its field: ``sftp.username``,
``sftp.keys``), worded in English by ``str()`` and in the reader's language by ``worded(lang)``.
With an actor, each change is on the audit trail under the partner: who, what, and the keys'
fingerprints before and after (never a key itself, never a password).
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

import sqlalchemy as sa

from gateway.db import Partner, SftpAccount
from gateway.db.sftp import key_lines
from gateway.i18n import N_
from gateway.partners.errors import PartnerError
from gateway.partners.ssh_keys import KeyRefused, PublicKey, parse_public_key, public_keys_in


class PartnerService(Protocol):
    """What these functions need of ``gateway.partners.service.PartnerService``: its session and
    its audit trail (named here, not imported: the service calls this module)."""
    s: Any

    def trail(self, action: str, owner: Any, summary: str, detail: dict[str, Any]) -> None: ...


class SftpRefused(PartnerError):
    """An SFTP account change refused: ``str()`` in English, ``worded(lang)`` in the reader's language."""

    def __init__(self, field: str, msgid: str, **values: Any):
        super().__init__(field, msgid % values)
        self.msgid, self.values = msgid, values

    def worded(self, lang: str) -> str:
        from gateway import i18n
        return i18n.gettext(lang, self.msgid, **self.values)


def stored_keys(acc: SftpAccount) -> list[tuple[str, Optional[PublicKey]]]:
    """(line, parsed key or None when the stored line does not parse) for each stored key."""
    out: list[tuple[str, Optional[PublicKey]]] = []
    for ln in key_lines(acc.authorized_keys):
        try:
            out.append((ln, parse_public_key(ln, "stored key")))
        except KeyRefused:
            out.append((ln, None))
    return out


def fingerprints(acc: Optional[SftpAccount]) -> list[str]:
    return [k.fingerprint if k else "(unreadable)" for _, k in stored_keys(acc)] if acc is not None else []


def _keys_text(lines: list[str]) -> Optional[str]:
    return "\n".join(lines) + "\n" if lines else None


def account_of(service: PartnerService, partner: Partner) -> Optional[SftpAccount]:
    return service.s.scalar(sa.select(SftpAccount).where(SftpAccount.partner_id == partner.id))


def _trail(service: PartnerService, action: str, acc: SftpAccount, summary: str,
           before: list[str], extra: Optional[dict[str, Any]] = None) -> None:
    service.trail(action, acc.partner, summary,
                  {"username": acc.username, "keys_before": before, "keys_after": fingerprints(acc),
                   "active": acc.active, **(extra or {})})


def save_account(service: PartnerService, partner: Partner, username: str,
                 active: Optional[bool] = None, keys_text: Optional[str] = None, where: str = "the key",
                 line_word: str = "line") -> SftpAccount:
    """Create ``partner``'s account (``username`` and at least one key from ``keys_text``), or
    rename it / enable or disable it. Flushed."""
    username = (username or "").strip()
    try:
        SftpAccount(username=username)
    except ValueError:
        raise SftpRefused("sftp.username", N_("An SFTP username is 1 to 64 lower-case letters, digits, '.', '_' or '-', "
                                          "starting with a letter or digit.")) from None
    acc = account_of(service, partner)
    other = service.s.scalar(sa.select(SftpAccount).where(SftpAccount.username == username))
    if other is not None and other is not acc:
        raise SftpRefused("sftp.username", N_("SFTP username %(username)s is taken (partner %(partner)s)."),
                      username=username, partner=other.partner.name)
    if acc is None:
        keys = _keys(keys_text or "", where, line_word)
        acc = SftpAccount(username=username, partner=partner, authorized_keys=_keys_text([k.line for k in keys]),
                          active=True if active is None else active)
        service.s.add(acc)
        service.s.flush()
        _trail(service, "sftp.account.create", acc, f"SFTP account {acc.username} created with key(s) "
               + ", ".join(k.fingerprint for k in keys), [])
        return acc
    before, was = fingerprints(acc), (acc.username, acc.active)
    acc.username = username
    if active is not None:
        acc.active = active
    service.s.flush()
    if (acc.username, acc.active) != was:
        _trail(service, "sftp.account.update", acc,
               f"SFTP account {acc.username}: " + ", ".join(
                   ([f"renamed from {was[0]}"] if acc.username != was[0] else [])
                   + ([("enabled" if acc.active else "disabled")] if acc.active != was[1] else [])),
               before, {"username_before": was[0], "active_before": was[1]})
    return acc


def _keys(text: str, where: str, line_word: str = "line") -> list[PublicKey]:
    try:
        return public_keys_in(text, where, line_word)
    except KeyRefused as e:
        raise SftpRefused("sftp.keys", e.msgid, **e.values) from None


def add_keys(service: PartnerService, acc: SftpAccount, text: str, where: str = "the key",
             line_word: str = "line") -> list[PublicKey]:
    """The keys of ``text`` added to ``acc`` (those it already has are left as they are); the
    ones added are returned. Flushed."""
    return add_parsed_keys(service, acc, _keys(text, where, line_word))


def add_parsed_keys(service: PartnerService, acc: SftpAccount, keys: list[PublicKey]) -> list[PublicKey]:
    before = fingerprints(acc)
    stored = stored_keys(acc)
    have = {k.fingerprint for _, k in stored if k is not None}
    added = [k for k in keys if k.fingerprint not in have]
    if added:
        acc.authorized_keys = _keys_text([ln for ln, _ in stored] + [k.line for k in added])
        service.s.flush()
        _trail(service, "sftp.key.add", acc, f"SFTP account {acc.username}: added key(s) "
               + ", ".join(f"{k.key_type} {k.fingerprint}" for k in added), before,
               {"added": [k.fingerprint for k in added]})
    return added


def remove_keys(service: PartnerService, acc: SftpAccount, wanted: list[str]) -> list[str]:
    """The keys with these SHA256 fingerprints removed from ``acc``; refused when one is not
    there or when the account would be left with neither a password nor a key. Flushed."""
    wanted = [fp if fp.startswith("SHA256:") else f"SHA256:{fp}" for fp in (w.strip().rstrip("=") for w in wanted)]
    before = fingerprints(acc)
    stored = stored_keys(acc)
    for fp in wanted:
        if not any(k is not None and k.fingerprint == fp for _, k in stored):
            raise SftpRefused("sftp.keys", N_("SFTP account %(username)s has no key %(fingerprint)s (it has: %(have)s)."),
                          username=acc.username, fingerprint=fp, have=", ".join(before) or "-")
    left = [(ln, k) for ln, k in stored if k is None or k.fingerprint not in wanted]
    if not left and not acc.password_hash:
        raise SftpRefused("sftp.keys", N_("SFTP account %(username)s would be left with neither a password nor a key: "
                                      "add the new key first, or disable the account."), username=acc.username)
    acc.authorized_keys = _keys_text([ln for ln, _ in left])
    service.s.flush()
    _trail(service, "sftp.key.remove", acc, f"SFTP account {acc.username}: removed key(s) {', '.join(wanted)}",
           before, {"removed": wanted})
    return wanted


def shared_with(service: PartnerService, acc: SftpAccount, keys: list[PublicKey]) -> list[tuple[str, SftpAccount]]:
    """(fingerprint, other account) for each of ``keys`` that also opens another account: legal,
    but its holder can then log in as both, which is rarely meant."""
    fps = {k.fingerprint for k in keys}
    out = []
    for other in service.s.scalars(sa.select(SftpAccount).where(SftpAccount.id != acc.id)):
        for _, k in stored_keys(other):
            if k is not None and k.fingerprint in fps:
                out.append((k.fingerprint, other))
    return out
