"""The registration form's ways of receiving: the self-service channels of the registry, each read
and shown by its registration handler.

``HANDLERS`` holds the dedicated handlers by channel name (e-mail, portal, AS2, SFTP, network),
in the order the form shows them; a self-service channel without one (a plug-in's) gets the
generic handler (``generic``: one text input per setting), after them, in the registry's
order. Nothing here decides which channels are offered: the channels say so
(``self_service``), through ``gateway.delivery.channel.registry``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy.orm import Session

from gateway.delivery.channel import registry

from .. import messages
from . import as2, email, generic, network, portal, sftp
from .base import ChannelForm, ChannelInput, ChannelPart, Errors

__all__ = ["HANDLERS", "Offer", "ChannelForm", "ChannelInput", "ChannelPart", "Errors", "forms", "offers"]

HANDLERS: dict[str, ChannelForm] = {"email": email.FORM, "portal": portal.FORM, "as2": as2.FORM,
                                    "sftp": sftp.FORM, "network": network.FORM}


def forms(lang: str = messages.DEFAULT) -> dict[str, ChannelForm]:
    """The handler of every channel the form offers, by name, in the form's order."""
    offered = registry.self_service()
    out = {name: form for name, form in HANDLERS.items() if name in offered}
    for name in offered:
        if name not in out:
            out[name] = generic.for_channel(registry[name], lang)
    return out


@dataclass(frozen=True)
class Offer:
    """One way of receiving as the page draws it: its radio button and its handler's fragment."""
    name: str
    label: str
    template: str
    section: dict[str, Any]
    disabled: bool = False


def offers(session: Session, lang: str, values: Mapping[str, str]) -> list[Offer]:
    """What the form offers, labelled in ``lang``, each fragment's context drawn from ``values``."""
    labels = messages.channel_labels(lang)
    out = []
    for name, form in forms(lang).items():
        section = form.context(session, values)
        out.append(Offer(name, labels.get(name, name), form.template, section, form.disabled(section)))
    return out
