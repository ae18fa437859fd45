"""Checks shared by the channels' settings: e-mail addresses, languages, texts, postal addresses,
secrets by reference (``env:NAME`` / ``file:PATH``, never the secret itself), URLs we may ask,
switches and bounded numbers.

Each channel validates its own settings (``Channel.validate_settings``); these are
the values several of them hold, checked with the same words everywhere (the CLI,
the REST API and onboarding's registration all go through the channels).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from gateway.delivery.channel import ChannelSettingsError

MAX_ADDRESSES = 20
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
LANGS = ("en", "fr")           # what mails are written in (their wording: channels/wording.py)


def email_address(text: Any) -> str:
    """One e-mail address (``local@domain``), domain lower-cased; display names and lists refused."""
    if not isinstance(text, str):
        raise ValueError("expected an e-mail address")
    value = text.strip()
    if len(value) > 254 or not EMAIL_PATTERN.match(value) or ".." in value:
        raise ValueError(f"{text!r} is not an e-mail address (expected name@domain.example)")
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def addresses(value: Any, setting: str, *, required: bool) -> list[str]:
    """E-mail addresses from a list or a text (``a@x, b@y``): checked, without repeats."""
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


def language(value: Any, setting: str) -> Optional[str]:
    """A language we write mails in (``fr``, ``en``), or None: the partner's portal users' language,
    else the buyer's country, else the gateway's (``templating.reader_language``)."""
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower()[:2] not in LANGS:
        raise ChannelSettingsError(setting, f"expected one of {', '.join(LANGS)} (or null: the portal "
                                            "users' language, else the buyer's country)")
    return value.strip().lower()[:2]


def required_text(value: Any, setting: str, max_len: int) -> str:
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
    name = required_text(value.get("name"), f"{setting}.name", 200)
    lines = value.get("lines")
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list) or not 1 <= len(lines) <= 4:
        raise ChannelSettingsError(f"{setting}.lines", "expected 1 to 4 street lines")
    lines = [required_text(line, f"{setting}.lines[{n}]", 200) for n, line in enumerate(lines)]
    postcode = required_text(value.get("postcode"), f"{setting}.postcode", 20)
    city = required_text(value.get("city"), f"{setting}.city", 100)
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


# --- values many channels take: secrets by reference, URLs, switches, bounded numbers, short texts ---

_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SECRET_SCHEMA = {"type": "string", "pattern": r"^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:.{1,500})$",
                 "description": "where the secret is kept: env:NAME or file:PATH (never the secret itself)"}


class ChannelConfigError(Exception):
    """A partner's settings that cannot be used now (a secret that cannot be read…)."""


def secret_reference(value: Any, setting: str) -> str:
    """A secret's reference: ``env:NAME`` (an environment variable of the gateway's processes) or
    ``file:PATH`` (a file, relative paths under the certificates folder). The secret itself is
    refused: settings are shown by the API and the command line."""
    if isinstance(value, str):
        text = value.strip()
        kind, sep, rest = text.partition(":")
        if sep and kind == "env" and _ENV.match(rest):
            return text
        if sep and kind == "file" and 0 < len(rest) <= 500 and "\x00" not in rest:
            return text
    raise ChannelSettingsError(setting, "expected where the secret is kept, env:NAME or file:PATH (the secret "
                                        "itself is not stored in settings, which the API shows)")


def resolve_secret(reference: str, certs_dir: Path) -> str:
    """The secret a reference names (``secret_reference``); ``ChannelConfigError`` when it cannot be read."""
    kind, _, rest = reference.partition(":")
    if kind == "env":
        value = os.environ.get(rest, "").strip()
        if not value:
            raise ChannelConfigError(f"the environment variable {rest} is not set")
        return value
    path = Path(rest).expanduser()
    if not path.is_absolute():
        path = Path(certs_dir) / path
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ChannelConfigError(f"cannot read the secret file {path}: {type(e).__name__}") from None
    if not value:
        raise ChannelConfigError(f"the secret file {path} is empty")
    return value


def url_setting(value: Any, setting: str, allow_private: bool, *, template: bool = False) -> str:
    """An http(s) URL we may ask (``safe_http.url_problem``; ``template``: may hold ``{name}``
    placeholders, judged with them filled)."""
    from gateway.transports.safe_http import url_problem
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise ChannelSettingsError(setting, "expected an http(s) URL")
    url = value.strip()
    probe = re.sub(r"\{[a-z_.]{1,40}\}", "x", url) if template else url
    problem = url_problem(probe, allow_private=allow_private)
    if problem:
        hint = " (allow_private=true allows a private or loopback address for this partner)" \
            if "address" in problem or "host" in problem else ""
        raise ChannelSettingsError(setting, f"{problem}{hint}")
    if urlsplit(probe).fragment:
        raise ChannelSettingsError(setting, "expected a URL without a fragment")
    return url


def bounded(value: Any, setting: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ChannelSettingsError(setting, f"expected a whole number from {low} to {high}")
    return value


def flag(value: Any, setting: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
        return value.strip().lower() in ("true", "yes", "1", "on")
    raise ChannelSettingsError(setting, "expected true or false")


def text(value: Any, setting: str, max_len: int = 200) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_len or not value.isprintable():
        raise ChannelSettingsError(setting, f"expected a text of 1 to {max_len} printable characters")
    return value.strip()
