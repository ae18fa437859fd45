"""Registering to receive invoices on our web portal: a recipient login (the contact's e-mail
address and a password chosen here), and notifications to the contact."""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from gateway.db import User

from .base import ChannelForm, ChannelInput, ChannelPart, check_settings

MIN_PORTAL_PASSWORD = 10


def read(inp: ChannelInput) -> ChannelPart:
    """The password (never shown back, never kept but as the login's hash) and the notifications;
    the contact's address must not be a login already."""
    password = inp.form.get("portal_password") or ""
    if len(password) < MIN_PORTAL_PASSWORD:
        inp.errors["portal_password"] = inp.errors.say("e_password", n=MIN_PORTAL_PASSWORD)
    elif password != (inp.form.get("portal_password2") or ""):
        inp.errors["portal_password2"] = inp.errors.say("e_password2")
    contact = inp.contact_email
    if contact and inp.session.scalar(sa.select(User.id).where(User.username == contact)):
        inp.errors["contact_email"] = _("a portal login %(login)s already exists: give another contact address",
                                         login=repr(contact))
    settings = check_settings(inp, "portal", {"notify": [contact] if contact else [], "lang": inp.language},
                              {"portal.notify": "contact_email"})
    return ChannelPart(settings=settings, preferred_format="facturx", extra={"portal_password": password})


def context(session: Session, values: Mapping[str, str]) -> dict[str, Any]:
    return {"min_password": MIN_PORTAL_PASSWORD}


FORM = ChannelForm(read=read, template="onboarding/_channel_portal.html", context=context)
