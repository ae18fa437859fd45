"""What a registration handler is: how the registration form reads one way of receiving, and shows it.

A handler (``ChannelForm``) is one function that reads the chosen channel's part of
the submitted form (``read``: a ``ChannelInput`` in, a ``ChannelPart`` out, problems
put in ``errors`` under the form field they belong to), one template fragment drawn
under the channel's radio button (``template``, given ``section``: what ``context``
returns), and the text fields it owns (kept and shown back on an error). The
settings it collects are checked by the channel itself (``check_settings``), so
the form refuses what the CLI and the API refuse, in the same words.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from sqlalchemy.orm import Session

from gateway.channels import ChannelSettingsError, validate_channel_settings

from ..messages import DEFAULT as DEFAULT_LANGUAGE, say

# The flavours a counterparty's own system may ask for when it registers for AS2 or SFTP: the
# common ones, not every directory and profile (operators bind a partner to any flavour). Each is
# labelled in the page's language by its mapping file's summary (``messages.format_labels``).
OFFERED_FORMATS = ("ubl", "cii", "facturx", "edifact-d96a", "edifact-d01b")
DEFAULT_FORMAT = "ubl"


def offered_formats() -> list[str]:
    """``OFFERED_FORMATS`` that this gateway writes (a flavour whose mapping is broken is not offered)."""
    from gateway.syntaxes import writable
    can = set(writable())
    return [f for f in OFFERED_FORMATS if f in can]


class Errors(dict):
    """Field name → message, in the page's language (``say``)."""

    def __init__(self, lang: str = DEFAULT_LANGUAGE):
        super().__init__()
        self.lang = lang

    def say(self, key: str, **values: Any) -> str:
        return say(self.lang, key, **values)


@dataclass
class ChannelInput:
    """What a handler reads: the submitted form, its text ``values`` (what the page shows back: a
    handler may normalise its own), the uploads, and what the rest of the form established."""
    session: Session
    form: Mapping[str, str]
    files: Mapping[str, Any]
    values: dict[str, str]
    errors: Errors
    now: datetime
    language: str                                   # the counterparty's: its mails' language
    identifiers: list[tuple[str, str]]              # checked (scheme, value), free to take
    contact_email: str                              # checked, or "" when wrong or missing


@dataclass
class ChannelPart:
    """What a handler read: the partner's ``{channel: settings}`` (checked), its preferred format,
    and the other ``Enrolment`` fields the channel needs (AS2 id, SFTP keys, portal password…)."""
    settings: dict[str, Any] = field(default_factory=dict)
    preferred_format: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)


def _nothing(*_: Any) -> dict[str, Any]:
    return {}


def _never(_: Mapping[str, Any]) -> bool:
    return False


@dataclass(frozen=True)
class ChannelForm:
    """One channel's registration handler (see the module's docstring).

    ``prefill(counterparty)``: its fields' first values; ``context(session, values)``: what its
    fragment draws from (lists, hints); ``disabled(context)``: whether its radio button is off
    (nothing to choose yet)."""
    read: Callable[[ChannelInput], ChannelPart]
    template: str
    fields: tuple[str, ...] = ()
    prefill: Callable[[Any], dict[str, str]] = _nothing
    context: Callable[[Session, Mapping[str, str]], dict[str, Any]] = _nothing
    disabled: Callable[[Mapping[str, Any]], bool] = _never


def _belongs(setting: str, prefix: str) -> bool:
    """Whether ``setting`` (``email.to[1]``) is ``prefix`` (``email.to``) or a part of it."""
    if not setting.startswith(prefix):
        return False
    return len(setting) == len(prefix) or prefix.endswith(".") or setting[len(prefix)] in ".["


def check_settings(inp: ChannelInput, channel: str, settings: dict[str, Any], fields: Mapping[str, str], *,
                   naming: bool = False) -> dict[str, Any]:
    """``{channel: settings}`` checked by the channel (the CLI and the API use the same check, so a
    registration is refused for the same reasons, in the same words); a refusal goes next to the
    form field its setting comes from (``fields``: setting → field; else next to the choice of
    channel), saying which setting when ``naming``."""
    try:
        normal = validate_channel_settings(channel, settings, session=inp.session)
    except ChannelSettingsError as exc:
        target = next((f for prefix, f in fields.items() if _belongs(exc.setting, prefix)), "channel")
        inp.errors.setdefault(target, str(exc) if naming else exc.problem)
        return {}
    return {channel: normal} if normal else {}


def choose_format(inp: ChannelInput, name: str) -> str:
    """The flavour chosen in field ``name`` (one of ``offered_formats()``)."""
    value = inp.values[name] or DEFAULT_FORMAT
    if value not in offered_formats():
        inp.errors[name] = inp.errors.say("e_format")
    return value
