"""The registration handler of a self-service channel without a dedicated one (a plug-in's): one
text input per entry of its ``settings_keys``, read into its settings and checked by the channel
itself. A refusal is shown next to its input, naming the setting.

An input's name is ``<channel>-<key>`` (``pigeon-ring``): channel names have no dash, so these
never meet the form's other fields. An empty input leaves its setting out (the channel's default).
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from gateway.delivery.channel import Channel

from .. import messages
from .base import ChannelForm, ChannelInput, ChannelPart, check_settings


def field_name(channel: str, key: str) -> str:
    return f"{channel}-{key}"


def for_channel(channel: Channel, lang: str = messages.DEFAULT) -> ChannelForm:
    """``channel``'s handler; its inputs are labelled in ``lang`` (a catalogue's ``ch_<name>_<key>``
    when it has one, else the key)."""
    name, keys = channel.name, tuple(channel.settings_keys)
    fields = tuple(field_name(name, key) for key in keys)

    def read(inp: ChannelInput) -> ChannelPart:
        wanted: dict[str, Any] = {}
        for key, f in zip(keys, fields):
            inp.values[f] = value = inp.values[f].strip()
            if value:
                wanted[key] = value
        settings = check_settings(inp, name, wanted, {f"{name}.{key}": f for key, f in zip(keys, fields)},
                                  naming=True)
        return ChannelPart(settings=settings)

    def prefill(cp: Any) -> dict[str, str]:
        return dict.fromkeys(fields, "")

    def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
        return {"inputs": [(f, messages.say_or(lang, f"ch_{name}_{key}", key)) for key, f in zip(keys, fields)]}

    return ChannelForm(read=read, template="onboarding/_channel_settings.html", fields=fields, prefill=prefill,
                       context=context)
