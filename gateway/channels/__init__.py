"""The channels documents reach recipients by: one module each, found through the registry.

Each module (``as2``, ``sftp``, ``email``, ``portal``, ``pull`` for erp and api,
``paper``, ``network``) implements ``gateway.delivery.channel.Channel`` and is
listed as an ``edigate.channels`` entry point; nothing else names them. Shared
checks of settings values are in ``settings``, mail texts in ``templating``.

What the rest of the gateway asks of "the channels" as a whole, by name:

* ``validate_channel_settings(channel, settings)`` / ``validate_all({channel: …})``:
  a partner's stored settings checked and normalised (the CLI, the REST API and
  onboarding's registration all call these, so all refuse the same things with the
  same words: each message names the setting, e.g. ``email.to[1]: 'bob@' is not an
  e-mail address``); ``merge`` applies changes to one channel's settings;
* ``readiness(channel, settings, contact)``: what stops a chosen channel from working.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from gateway.channels.settings import EMAIL_PATTERN, PostalAddress, email_address, postal_address
from gateway.delivery.channel import Channel, ChannelSettingsError, registry

__all__ = ["ChannelSettingsError", "PostalAddress", "EMAIL_PATTERN", "email_address", "postal_address",
           "names", "validate_channel_settings", "validate_all", "merge", "readiness", "registry", "Channel"]


def names() -> tuple[str, ...]:
    """Every channel a partner may choose, in their usual order."""
    return registry.names()


def validate_channel_settings(channel: str, settings: Any, *, session: Any = None) -> dict[str, Any]:
    """One channel's settings checked and normalised; ``ChannelSettingsError`` names what is wrong.
    With a ``session``, what the settings name must exist (a network)."""
    found = registry.get(channel)
    if found is None:
        raise ChannelSettingsError("channel", f"{channel!r} is not one of: {', '.join(registry.names())}")
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ChannelSettingsError(channel, "expected an object of settings")
    return found.validate_settings(settings, session=session)


def validate_all(value: Any, *, session: Any = None) -> dict[str, dict[str, Any]]:
    """A whole ``channel_settings`` object ({channel: settings}) checked and normalised."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ChannelSettingsError("channel_settings", "expected an object {channel: settings}")
    out = {}
    for channel, settings in value.items():
        if registry.get(channel) is None:
            raise ChannelSettingsError(str(channel), f"not a channel; expected one of {', '.join(registry.names())}")
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
    found = registry.get(channel)
    if found is None:
        return None
    return found.readiness((channel_settings or {}).get(channel or "", {}) or {}, contact_email)
