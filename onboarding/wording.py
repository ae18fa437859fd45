"""What campaign mails say by default, in English marked for the catalogue, and the HTML part made
from the text part.

Why one source: a mail has a plain-text part and an HTML part, and staff edit the wording. Two
sources drifted (an edit of the text left the HTML saying the old thing); here the text is the
wording and the HTML part is drawn from it (``html_of``): paragraphs, links, the registration
link as a button, the footer after ``--`` in small print. Nothing is in the HTML that the text
does not say.

The defaults are data: per step (information, invitation, reminder) and campaign kind
(customers, suppliers), a subject and paragraphs, each an English message the French
catalogue (``gateway/translations``) translates. ``default_source(step, lang, kind)`` turns
them into the same Jinja2 text a campaign's own wording is (``%(company)s`` becomes
``{{ company }}``), so staff start editing from the default in the counterparty's language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Optional

from gateway import i18n
from gateway.channels.wording import linked
from gateway.i18n import N_

LINK = "{{ registration_url }}"          # a paragraph of its own: the button in the HTML part
SEPARATOR = "--"                         # what follows is the footer


@dataclass(frozen=True)
class Default:
    subject: str
    paragraphs: tuple[str, ...]          # msgids; LINK stands for the registration link
    footer: tuple[str, ...]


_FOOTER = (N_("To stop receiving these messages: %(optout_url)s"),)
_PERSONAL = (N_("This link is personal: please do not forward it."),) + _FOOTER

_CUSTOMER_CHANNELS = N_("Registering takes a few minutes and costs you nothing: you choose how you receive "
                        "our invoices (e-mail, our portal, AS2, SFTP, your certified platform or Peppol).")
_SUPPLIER_CHANNELS = N_("Registering takes a few minutes and costs you nothing: you tell us how you will send "
                        "us your invoices (upload on our portal, e-mail, AS2, SFTP, your certified platform or "
                        "Peppol) and how you wish to receive what we send you.")

DEFAULTS: dict[tuple[str, str], Default] = {
    ("information", "customers"): Default(
        N_("%(inviter)s: your invoices from us are going electronic"),
        (N_("Electronic invoicing between businesses is becoming mandatory in France. So that %(inviter)s "
            "and %(company)s keep exchanging invoices without paper or retyping, we will invite you to join "
            "our exchange platform."),
         N_("In a few days you will receive a personal registration link at this address."),
         _CUSTOMER_CHANNELS,
         N_("There is nothing to do until then.")),
        _FOOTER),
    ("information", "suppliers"): Default(
        N_("%(inviter)s: sending us your invoices electronically"),
        (N_("Electronic invoicing between businesses is becoming mandatory in France. %(inviter)s will "
            "receive the invoices of %(company)s electronically, and we will invite you to join our "
            "exchange platform."),
         N_("In a few days you will receive a personal registration link at this address."),
         _SUPPLIER_CHANNELS,
         N_("There is nothing to do until then.")),
        _FOOTER),
    ("invitation", "customers"): Default(
        N_("%(inviter)s invites %(company)s to electronic invoicing"),
        (N_("%(inviter)s invites you to register %(company)s on its electronic invoice exchange platform. "
            "Here is your personal registration link:"),
         LINK,
         N_("It is valid until %(expires_on)s and works once. There you confirm your company's details, "
            "name a contact and choose how you receive our invoices: by e-mail, on our portal, over AS2, "
            "over SFTP, through your certified platform or over Peppol.")),
        _PERSONAL),
    ("invitation", "suppliers"): Default(
        N_("%(inviter)s invites %(company)s to send its invoices electronically"),
        (N_("%(inviter)s invites you to register %(company)s, as its supplier, on its electronic invoice "
            "exchange platform. Here is your personal registration link:"),
         LINK,
         N_("It is valid until %(expires_on)s and works once. There you confirm your company's details, "
            "name a contact and tell us how you will send us your invoices: upload on our portal, e-mail "
            "to our address, AS2, SFTP, your certified platform (PA) or Peppol.")),
        _PERSONAL),
    ("reminder", "customers"): Default(
        N_("Reminder %(reminder_number)s/%(reminder_count)s: %(company)s, your registration with %(inviter)s"),
        (N_("As far as we can tell, %(company)s has not yet registered on the electronic invoice exchange "
            "platform of %(inviter)s. Your personal link is still valid, until %(expires_on)s:"),
         LINK,
         N_("Registering takes a few minutes. If you have already done it, please ignore this message.")),
        _FOOTER),
    ("reminder", "suppliers"): Default(
        N_("Reminder %(reminder_number)s/%(reminder_count)s: %(company)s, how will you send your invoices "
           "to %(inviter)s?"),
        (N_("As far as we can tell, %(company)s has not yet told %(inviter)s how it will send its invoices "
            "electronically. Your personal link is still valid, until %(expires_on)s:"),
         LINK,
         N_("Registering takes a few minutes. If you have already done it, please ignore this message.")),
        _FOOTER),
}

GREETING = N_("Dear %(contact)s,")
GREETING_ANYONE = N_("Dear Sir or Madam,")
SIGN_OFF = N_("Kind regards,")
BUTTON = N_("Open my registration page")
BUTTON_FALLBACK = N_("If the button does not work, copy this address into your browser: %(url)s")

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _jinja(text: str) -> str:
    """A catalogue message as Jinja2 source: ``%(name)s`` → ``{{ name }}``, braces kept as text."""
    text = text.replace("{{", "{{ '{{' }}").replace("{%", "{{ '{%' }}")
    return _PLACEHOLDER.sub(lambda m: "{{ " + m.group(1) + " }}", text).replace("%%", "%")


def default_source(step: str, lang: str, kind: str = "customers") -> tuple[str, str]:
    """(subject, text) of the default wording of ``step`` for a campaign of ``kind``, in ``lang``,
    as Jinja2 source."""
    d = DEFAULTS[(step, kind if (step, kind) in DEFAULTS else "customers")]
    say = lambda msgid: _jinja(i18n.gettext(lang, msgid))        # noqa: E731
    body = ["{{ greeting }}"]
    body += [("    " + LINK) if p == LINK else say(p) for p in d.paragraphs]
    body.append(say(SIGN_OFF) + "\n{% if sender %}{{ sender }}\n{% endif %}{{ inviter }}")
    text = "\n\n".join(body) + "\n\n" + SEPARATOR + "\n" + "\n".join(say(f) for f in d.footer) + "\n"
    return say(d.subject), text


def greeting(lang: str, contact: Optional[str]) -> str:
    return i18n.gettext(lang, GREETING, contact=contact) if contact else i18n.gettext(lang, GREETING_ANYONE)


_BUTTON_STYLE = ("display: inline-block; padding: .6em 1.2em; background: #1d4ed8; color: #fff; "
                 "text-decoration: none; border-radius: 4px")


def html_of(text: str, *, lang: str, title: str, registration_url: Optional[str]) -> str:
    """The HTML part of a mail whose text part is ``text`` (already rendered): the same words, laid
    out. A paragraph that is the registration link alone becomes a button."""
    body, footer = text, ""
    parts = re.split(r"\n--[ \t]*\n", text, maxsplit=1)
    if len(parts) == 2:
        body, footer = parts
    blocks = []
    for para in re.split(r"\n[ \t]*\n", body.strip("\n")):
        if not para.strip():
            continue
        if registration_url and para.strip() == registration_url:
            url = escape(registration_url)
            blocks.append(f'<p><a href="{url}" style="{_BUTTON_STYLE}">{escape(i18n.gettext(lang, BUTTON))}</a></p>')
            blocks.append('<p style="font-size: small; color: #555">'
                          + linked(i18n.gettext(lang, BUTTON_FALLBACK, url=registration_url)) + "</p>")
            continue
        blocks.append("<p>" + "<br>\n".join(linked(line.strip()) for line in para.strip("\n").split("\n")) + "</p>")
    if footer.strip():
        blocks.append('<hr style="border: 0; border-top: 1px solid #ddd">')
        blocks.append('<p style="font-size: small; color: #555">'
                      + "<br>\n".join(linked(line.strip()) for line in footer.strip("\n").split("\n")) + "</p>")
    return (f'<!DOCTYPE html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8"><title>{escape(title)}'
            '</title></head>\n<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">\n'
            + "\n".join(blocks) + "\n</body></html>\n")
