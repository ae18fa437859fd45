"""Channel profiles: how one recipient receives, as data checked once and read by the pipeline.

``Partner.preferred_channel`` says which channel; ``Partner.channel_settings``
holds each channel's settings under its name, so a partner can switch channel
without losing the others (a postal address stays for the paper fallback)::

    {"email":   {"to": ["ap@buyer.example"], "subject": "…", "body": "…", "attach": "facturx+ubl",
                 "lang": "fr"},
     "portal":  {"notify": ["ap@buyer.example"]},
     "paper":   {"address": {"name": "Buyer SARL", "lines": ["12 rue de la Paix"],
                             "postcode": "75002", "city": "Paris", "country": "FR"}},
     "network": {"network": "PEPPOL-AP-X"}}

``validate_channel_settings(channel, settings)`` checks one channel's settings
and returns them normalised (the CLI, the REST API and onboarding's registration
all call it, so all refuse the same things with the same words: each message
names the setting, e.g. ``email.to[1]: 'bob@' is not an e-mail address``).
``profile_for(partner, settings)`` turns a partner into the ``ChannelProfile`` the
pipeline follows, including the fallback for a recipient that chose nothing:
the gateway's default channel (``EDIGATE_DEFAULT_CHANNEL``: paper or e-mail; an
e-mail fallback writes to the partner's contact e-mail, else to the buyer's
electronic address BT-49 when its scheme is ``EM``, else goes to paper). Every
profile carries ``why``: the words the delivery's history gets.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from ..db import CHANNELS
from . import templating

ATTACH = ("facturx", "ubl", "cii", "facturx+ubl")
DEFAULT_ATTACH = "facturx"
PULL_CHANNELS = ("portal", "erp", "api")           # the recipient fetches: available at once
TRANSPORT_CHANNELS = ("as2", "sftp")
KEYS: dict[str, tuple[str, ...]] = {
    "email": ("to", "subject", "body", "body_html", "attach", "lang"),
    "portal": ("notify", "lang"),
    "erp": (), "api": (), "as2": (), "sftp": (),
    "paper": ("address",),
    "network": ("network",),
}
MAX_ADDRESSES = 20
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NETWORK_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class ChannelSettingsError(ValueError):
    """A setting we cannot use; ``setting`` names it (``email.to[0]``), the message says why."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting, self.problem = setting, message


# --- checks of single values ---------------------------------------------------------------------

def email_address(text: Any) -> str:
    """One e-mail address (``local@domain``), domain lower-cased; display names and lists refused."""
    if not isinstance(text, str):
        raise ValueError("expected an e-mail address")
    value = text.strip()
    if len(value) > 254 or not _EMAIL.match(value) or ".." in value:
        raise ValueError(f"{text!r} is not an e-mail address (expected name@domain.example)")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def _addresses(value: Any, setting: str, *, required: bool) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,;\s]+", value) if v]
    if not isinstance(value, list):
        raise ChannelSettingsError(setting, "expected a list of e-mail addresses")
    if required and not value:
        raise ChannelSettingsError(setting, "at least one e-mail address is required")
    if len(value) > MAX_ADDRESSES:
        raise ChannelSettingsError(setting, f"at most {MAX_ADDRESSES} addresses")
    out: list[str] = []
    for n, item in enumerate(value):
        try:
            address = email_address(item)
        except ValueError as e:
            raise ChannelSettingsError(f"{setting}[{n}]", str(e)) from None
        if address not in out:
            out.append(address)
    return out


def _lang(value: Any, setting: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower()[:2] not in templating.LANGS:
        raise ChannelSettingsError(setting, f"expected one of {', '.join(templating.LANGS)} (or null: by the "
                                            "buyer's country)")
    return value.strip().lower()[:2]


def _text(value: Any, setting: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ChannelSettingsError(setting, f"expected a non-empty text of at most {max_len} characters")
    return value.strip()


# --- postal addresses --------------------------------------------------------------------------

@dataclass(frozen=True)
class PostalAddress:
    """Where a letter goes: a name, 1-4 street lines, postcode, city, ISO country code."""
    name: str
    lines: tuple[str, ...]
    postcode: str
    city: str
    country: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lines": list(self.lines), "postcode": self.postcode, "city": self.city,
                "country": self.country}

    def label(self) -> list[str]:
        """The lines printed in the envelope window."""
        return [self.name, *self.lines, f"{self.postcode} {self.city}".strip(), self.country]

    def one_line(self) -> str:
        return ", ".join(x for x in self.label() if x)


def postal_address(value: Any, setting: str = "paper.address") -> PostalAddress:
    """From ``{"name", "lines", "postcode", "city", "country"}``, or the text form
    ``"Name; line 1; [line 2;] postcode city; CC"`` (what ``--postal-address`` takes)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError as e:
                raise ChannelSettingsError(setting, f"not valid JSON: {e}") from None
        else:
            parts = [p.strip() for p in text.split(";")]
            if len(parts) < 4 or not all(parts):
                raise ChannelSettingsError(setting, "expected \"Name; street line; [more lines;] postcode city; "
                                                    "country code\", e.g. \"Buyer SARL; 12 rue de la Paix; "
                                                    "75002 Paris; FR\"")
            place = parts[-2].split(None, 1)
            if len(place) < 2:
                raise ChannelSettingsError(setting, f"{parts[-2]!r}: expected \"postcode city\"")
            value = {"name": parts[0], "lines": parts[1:-2], "postcode": place[0], "city": place[1],
                     "country": parts[-1]}
    if not isinstance(value, dict):
        raise ChannelSettingsError(setting, "expected {name, lines, postcode, city, country}")
    unknown = set(value) - {"name", "lines", "postcode", "city", "country"}
    if unknown:
        raise ChannelSettingsError(f"{setting}.{sorted(unknown)[0]}", "unknown field (expected name, lines, "
                                                                      "postcode, city, country)")
    name = _text(value.get("name"), f"{setting}.name", 200)
    lines = value.get("lines")
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list) or not 1 <= len(lines) <= 4:
        raise ChannelSettingsError(f"{setting}.lines", "expected 1 to 4 street lines")
    lines = [_text(line, f"{setting}.lines[{n}]", 200) for n, line in enumerate(lines)]
    postcode = _text(value.get("postcode"), f"{setting}.postcode", 20)
    city = _text(value.get("city"), f"{setting}.city", 100)
    country = value.get("country")
    if not isinstance(country, str) or not _COUNTRY.match(country.strip().upper()):
        raise ChannelSettingsError(f"{setting}.country", "expected a two-letter ISO 3166 country code (FR, DE…)")
    return PostalAddress(name, tuple(lines), postcode, city, country.strip().upper())


def buyer_address(invoice: Any) -> Optional[PostalAddress]:
    """The buyer's postal address (BG-8) when a letter could reach it: a street line and a city."""
    buyer = getattr(invoice, "buyer", None)
    a = getattr(buyer, "postal_address", None) if buyer is not None else None
    if a is None or not (a.line1 or "").strip() or not (a.city or "").strip():
        return None
    lines = tuple(x.strip() for x in (a.line1, a.line2, a.line3) if x and x.strip())
    return PostalAddress(name=(buyer.name or "").strip(), lines=lines, postcode=(a.post_code or "").strip(),
                         city=a.city.strip(), country=(a.country_code or "").strip().upper())


# --- validation ----------------------------------------------------------------------------------

def validate_channel_settings(channel: str, settings: Any, *, session: Any = None) -> dict[str, Any]:
    """One channel's settings checked and normalised; ``ChannelSettingsError`` names what is wrong.
    With a ``session``, a network named must exist."""
    if channel not in CHANNELS:
        raise ChannelSettingsError("channel", f"{channel!r} is not one of: {', '.join(CHANNELS)}")
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ChannelSettingsError(channel, "expected an object of settings")
    allowed = KEYS[channel]
    for key in settings:
        if key not in allowed:
            raise ChannelSettingsError(f"{channel}.{key}", "unknown setting" + (
                f" (the {channel} channel takes: {', '.join(allowed)})" if allowed else
                f" (the {channel} channel takes no settings)"))
    out: dict[str, Any] = {}
    if channel == "email":
        if "to" in settings:
            out["to"] = _addresses(settings["to"], "email.to", required=False)
        for key, html in (("subject", False), ("body", False), ("body_html", True)):
            if settings.get(key) is not None:
                try:
                    out[key] = templating.check(settings[key], html=html)
                except templating.TemplateProblem as e:
                    raise ChannelSettingsError(f"email.{key}", str(e)) from None
        if "subject" in out and len(out["subject"]) > 500:
            raise ChannelSettingsError("email.subject", "at most 500 characters")
        attach = settings.get("attach")
        if attach is not None:
            norm = attach.strip().lower().replace(" ", "") if isinstance(attach, str) else attach
            norm = {"ubl+facturx": "facturx+ubl", "pdf": "facturx", "factur-x": "facturx"}.get(norm, norm)
            if norm not in ATTACH:
                raise ChannelSettingsError("email.attach", f"{attach!r}: expected one of {', '.join(ATTACH)}")
            out["attach"] = norm
        if settings.get("lang") is not None:
            out["lang"] = _lang(settings["lang"], "email.lang")
    elif channel == "portal":
        if "notify" in settings:
            out["notify"] = _addresses(settings["notify"], "portal.notify", required=False)
        if settings.get("lang") is not None:
            out["lang"] = _lang(settings["lang"], "portal.lang")
    elif channel == "paper":
        if settings.get("address") is not None:
            out["address"] = postal_address(settings["address"]).as_dict()
    elif channel == "network":
        code = settings.get("network")
        if not isinstance(code, str) or not _NETWORK_CODE.match(code.strip()):
            raise ChannelSettingsError("network.network", "expected the code of the network the partner is "
                                                          "reached through (e.g. PEPPOL-AP-X)")
        out["network"] = code.strip()
        if session is not None:
            from ..db import Network
            import sqlalchemy as sa
            if session.scalar(sa.select(Network.id).where(Network.code == out["network"])) is None:
                raise ChannelSettingsError("network.network", f"no network {out['network']!r} is known "
                                                              "(see `edigate network list`)")
    return out


def validate_all(value: Any, *, session: Any = None) -> dict[str, dict[str, Any]]:
    """A whole ``channel_settings`` object ({channel: settings}) checked and normalised."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ChannelSettingsError("channel_settings", "expected an object {channel: settings}")
    out = {}
    for channel, settings in value.items():
        if channel not in CHANNELS:
            raise ChannelSettingsError(str(channel), f"not a channel; expected one of {', '.join(CHANNELS)}")
        if settings is None:
            continue
        normal = validate_channel_settings(channel, settings, session=session)
        if normal:
            out[channel] = normal
    return out


def merge(current: Optional[Mapping[str, Any]], channel: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` channel_settings with ``changes`` made to one channel's settings (a value of
    None removes that setting), the channel's result validated."""
    whole = {k: dict(v) for k, v in (current or {}).items() if isinstance(v, Mapping)}
    mine = dict(whole.get(channel, {}))
    for key, value in changes.items():
        if value is None:
            mine.pop(key, None)
        else:
            mine[key] = value
    normal = validate_channel_settings(channel, mine)
    if normal:
        whole[channel] = normal
    else:
        whole.pop(channel, None)
    return whole


def readiness(channel: Optional[str], channel_settings: Optional[Mapping[str, Any]],
              contact_email: Optional[str]) -> Optional[str]:
    """What stops ``channel`` from working with these settings (None: nothing): an e-mail
    channel without any address, a network channel without its network."""
    mine = (channel_settings or {}).get(channel or "", {}) or {}
    if channel == "email" and not mine.get("to") and not contact_email:
        return "the email channel needs at least one address (email.to, or a contact e-mail)"
    if channel == "network" and not mine.get("network"):
        return "the network channel needs the network's code (network.network)"
    return None


# --- profiles -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmailProfile:
    addresses: tuple[str, ...]
    subject: Optional[str] = None          # None: the shipped default in the reader's language
    body: Optional[str] = None
    body_html: Optional[str] = None
    attach: str = DEFAULT_ATTACH
    lang: Optional[str] = None             # None: by the buyer's country
    why: str = ""
    channel: str = field(default="email", init=False)

    @property
    def syntaxes(self) -> tuple[str, ...]:
        return tuple(self.attach.split("+"))


@dataclass(frozen=True)
class PortalProfile:
    notify: tuple[str, ...] = ()
    lang: Optional[str] = None
    why: str = ""
    channel: str = field(default="portal", init=False)


@dataclass(frozen=True)
class PullProfile:
    """ERP pull (or the API): the recipient fetches; nothing to configure here."""
    channel: str = "erp"
    why: str = ""


@dataclass(frozen=True)
class PaperProfile:
    address: Optional[PostalAddress] = None      # None: the buyer's postal address (BG-8)
    why: str = ""
    channel: str = field(default="paper", init=False)


@dataclass(frozen=True)
class NetworkProfile:
    network: str = ""
    why: str = ""
    channel: str = field(default="network", init=False)


@dataclass(frozen=True)
class TransportProfile:
    """AS2 or SFTP: the transport's own records (partner AS2 settings, SFTP account or remote) say how."""
    channel: str = "as2"
    why: str = ""


ChannelProfile = Union[EmailProfile, PortalProfile, PullProfile, PaperProfile, NetworkProfile, TransportProfile]


def _settings_of(partner: Any, channel: str) -> dict[str, Any]:
    whole = partner.channel_settings or {}
    if not isinstance(whole, Mapping):
        raise ChannelSettingsError("channel_settings", "expected an object {channel: settings}")
    return validate_channel_settings(channel, whole.get(channel) or {})


def _email_of_buyer(invoice: Any) -> Optional[str]:
    buyer = getattr(invoice, "buyer", None)
    ident = getattr(buyer, "electronic_address", None) if buyer is not None else None
    if ident is None or (ident.scheme or "").strip().upper() != "EM" or not ident.value:
        return None
    try:
        return email_address(ident.value)
    except ValueError:
        return None


def _paper(partner: Any, why: str) -> PaperProfile:
    mine = _settings_of(partner, "paper")
    address = postal_address(mine["address"]) if mine.get("address") else None
    return PaperProfile(address=address, why=why)


def profile_for(partner: Any, settings: Any, *, invoice: Any = None) -> ChannelProfile:
    """How ``partner`` receives: its chosen channel's profile, or the fallback (``settings.default_channel``)
    with ``why`` saying so. Raises ``ChannelSettingsError`` when stored settings are unusable."""
    channel = partner.preferred_channel
    if channel in TRANSPORT_CHANNELS:
        return TransportProfile(channel=channel)
    if channel in ("erp", "api"):
        return PullProfile(channel=channel)
    if channel == "portal":
        mine = _settings_of(partner, "portal")
        notify = mine.get("notify") or ([partner.contact_email] if partner.contact_email else [])
        return PortalProfile(notify=tuple(notify), lang=mine.get("lang"))
    if channel == "email":
        mine = _settings_of(partner, "email")
        to = mine.get("to") or ([partner.contact_email] if partner.contact_email else [])
        if not to:
            raise ChannelSettingsError("email.to", "the email channel needs at least one address "
                                                   "(email.to, or the partner's contact e-mail)")
        return EmailProfile(addresses=tuple(to), subject=mine.get("subject"), body=mine.get("body"),
                            body_html=mine.get("body_html"), attach=mine.get("attach", DEFAULT_ATTACH),
                            lang=mine.get("lang"))
    if channel == "paper":
        return _paper(partner, "")
    if channel == "network":
        mine = _settings_of(partner, "network")
        if not mine.get("network"):
            raise ChannelSettingsError("network.network", "the network channel needs the network's code")
        return NetworkProfile(network=mine["network"])
    # Nothing chosen. A partner with AS2 settings on record has chosen AS2 in all but name
    # (what edigate did before channels existed): keep it.
    if partner.as2_id and partner.as2_url:
        return TransportProfile(channel="as2", why="no channel chosen; AS2 settings on record: AS2")
    default = getattr(settings, "default_channel", "paper")
    if default == "email":
        mine = _settings_of(partner, "email")
        to, source = None, ""
        if mine.get("to"):
            to, source = list(mine["to"]), "its e-mail settings"
        elif partner.contact_email:
            to, source = [partner.contact_email], "its contact e-mail"
        else:
            buyer = _email_of_buyer(invoice)
            if buyer:
                to, source = [buyer], "the buyer's electronic address (BT-49, scheme EM)"
        if to:
            return EmailProfile(addresses=tuple(to), subject=mine.get("subject"), body=mine.get("body"),
                                body_html=mine.get("body_html"), attach=mine.get("attach", DEFAULT_ATTACH),
                                lang=mine.get("lang"),
                                why=f"no channel chosen: default e-mail to {', '.join(to)} ({source})")
        return _paper(partner, "no channel chosen: default e-mail, but no address (no contact e-mail, no "
                               "BT-49 with scheme EM): paper")
    return _paper(partner, "no channel chosen: default paper")
