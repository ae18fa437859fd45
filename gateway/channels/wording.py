"""What the gateway's own mails to partners say (an invoice by e-mail, a portal notification), in
English marked for the catalogue, and the HTML part drawn from the text part.

Why here and not in template files per language: one wording, translated by the one catalogue
(``gateway/translations``) like every other word the gateway writes, so French and English
cannot say different things, and a new language is a catalogue, not a set of files. Why the
HTML part is drawn from the text (``html_of``): two sources drift; here the HTML says what the
text says, laid out (paragraphs, links, indented blocks).

A mail is data: a subject and paragraphs of lines. A line is a message (or an invoice /
credit note pair of messages: French says *la facture* but *l'avoir*), shown when the field it
depends on is not empty. The values are the template fields of ``templating.fields`` (already
formatted for the reader's language). A partner's own subject or body (its channel settings)
still wins over these: ``email.build_invoice_mail``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any, Mapping, Optional, Union

from gateway import i18n
from gateway.i18n import N_, NP_

Message = Union[str, tuple[str, str]]     # a msgid, or (context, msgid) where the English is the same
Said = Union[str, tuple[Message, Message]]    # a msgid, or (for an invoice, for a credit note): a
                                              # (context, msgid) only ever inside such a pair


@dataclass(frozen=True)
class Line:
    said: Said
    when: Optional[str] = None            # a field that must not be empty for the line to show
    indent: bool = False                  # an indented block (the portal mail's summary)


@dataclass(frozen=True)
class Wording:
    subject: Said
    paragraphs: tuple[tuple[Line, ...], ...]


GREETING = Line(N_("Hello,"))
AMOUNT = N_("Amount: %(amount)s")
DUE = N_("Due date: %(due_date)s")
TITLE_LINE = N_("%(title)s %(number)s from %(seller)s")

INVOICE = Wording(
    subject=TITLE_LINE,
    paragraphs=(
        (GREETING,),
        (Line((N_("%(seller)s sends you invoice %(number)s of %(issue_date)s."),
               N_("%(seller)s sends you credit note %(number)s of %(issue_date)s.")), when="issue_date"),
         Line((N_("%(seller)s sends you invoice %(number)s."),
               N_("%(seller)s sends you credit note %(number)s.")), when="-issue_date")),
        (Line(AMOUNT), Line(DUE, when="due_date")),
        (Line((N_("The invoice is attached (%(attachments)s)."),
               N_("The credit note is attached (%(attachments)s)."))),),
        (Line(N_("This message was sent by an e-invoicing gateway on behalf of %(seller)s.")),
         Line((N_("Please do not answer it: write to %(seller)s about this invoice."),
               N_("Please do not answer it: write to %(seller)s about this credit note.")))),
    ))

NOTIFICATION = Wording(
    subject=(N_("New invoice %(number)s from %(seller)s"), N_("New credit note %(number)s from %(seller)s")),
    paragraphs=(
        (GREETING,),
        (Line((N_("A new invoice is waiting for you in your portal:"),
               N_("A new credit note is waiting for you in your portal:"))),),
        (Line(TITLE_LINE, indent=True), Line(AMOUNT, indent=True), Line(DUE, when="due_date", indent=True)),
        (Line((N_("Open it: %(link)s"), NP_("credit note", "Open it: %(link)s"))),),
    ))

INDENT = "  "


def _shown(line: Line, values: Mapping[str, Any]) -> bool:
    if line.when is None:
        return True
    if line.when.startswith("-"):
        return not values.get(line.when[1:])
    return bool(values.get(line.when))


def say(lang: str, said: Said, values: Mapping[str, Any]) -> str:
    """One message in ``lang`` with ``values``; of a pair, the credit note's when ``credit_note``."""
    msgid = said[1 if values.get("credit_note") else 0] if isinstance(said, tuple) else said
    values = {k: ("" if v is None else v) for k, v in values.items()}
    if isinstance(msgid, tuple):
        return i18n.pgettext(lang, *msgid, **values)
    return i18n.gettext(lang, msgid, **values)


def subject(wording: Wording, lang: str, values: Mapping[str, Any]) -> str:
    return say(lang, wording.subject, values)


def text(wording: Wording, lang: str, values: Mapping[str, Any]) -> str:
    """The plain-text part: paragraphs separated by a blank line, lines by a line break."""
    paragraphs = []
    for paragraph in wording.paragraphs:
        lines = [(INDENT if line.indent else "") + say(lang, line.said, values)
                 for line in paragraph if _shown(line, values)]
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) + "\n"


_URL = re.compile(r"https?://[^\s<>\"]+")


def linked(line: str) -> str:
    """``line`` escaped, its web addresses as links (the HTML part of every mail we word, onboarding's
    too)."""
    out, last = [], 0
    for m in _URL.finditer(line):
        url = m.group(0).rstrip(".,;:)")
        out.append(escape(line[last:m.start()]))
        out.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        last = m.start() + len(url)
    out.append(escape(line[last:]))
    return "".join(out)


def html_of(text: str, *, lang: str, title: str) -> str:
    """The HTML part of a mail whose text part is ``text`` (already rendered): the same words, laid
    out: a paragraph per blank-line block, its lines kept, an indented block set off, links linked."""
    blocks = []
    for para in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = [line for line in para.split("\n") if line.strip()]
        if not lines:
            continue
        indented = all(line.startswith(INDENT) for line in lines)
        style = ' style="margin-left: 1.5em; padding-left: .8em; border-left: 3px solid #ddd"' if indented else ""
        blocks.append(f"<p{style}>" + "<br>\n".join(linked(line.strip()) for line in lines) + "</p>")
    return (f'<!DOCTYPE html>\n<html lang="{escape(lang)}"><head><meta charset="utf-8"><title>{escape(title)}'
            '</title></head>\n<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em">\n'
            + "\n".join(blocks) + "\n</body></html>\n")


__all__ = ["INVOICE", "NOTIFICATION", "Wording", "Line", "say", "subject", "text", "html_of"]
