"""Reasons on record, told to a person: what failed and what to do, the technical text one click away.

A reason the gateway records is often the exception a library raised
(``HTTPConnectionPool(host=…): Max retries exceeded``, ``ValueError: …``). The pages never
show that as the message: ``explain(reason)`` gives a ``Plain`` with a sentence saying what
failed (``what``), one saying what to do (``todo``), and the recorded text (``detail``) for a
``<details>`` element, with anything secret in it masked (passwords in URLs, tokens,
``password=`` values). The sentences are data (``RULES``: a pattern, what, to do; the first
match wins), in the reader's language (``lazy_gettext``: translated when a page shows them); a reason none of them matches is shown as is when it reads like a sentence of
ours, else under a general sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from flask_babel import lazy_gettext as _l

MAX_DETAIL = 4000

# (pattern searched in the reason, what failed, what to do): the first that matches wins
RULES: tuple[tuple[str, Any, Any], ...] = (
    ('internal error while',
     _l('The gateway could not process this file because of a fault of its own.'),
     _l('Retry it. If it fails again, send the technical detail below to your support.')),
    ('validation profile',
     _l("The sender's validation profile is not installed on this gateway."),
     _l("Choose one that is on the sender's partner page (Edit), then retry.")),
    ('^unreadable|not an? (?:invoice|X\\.509)|holds no invoice|cannot be read',
     _l('The file could not be read as an invoice.'),
     _l('Ask the sender to check the file and send it again; the detail says where reading stopped.')),
    ('none valid: \\d+ fatal',
     _l('None of the invoices in this file passed the checks.'),
     _l('Open its documents to see which rules they break; the sender must correct them and send again.')),
    ('same seller, number .* and year|duplicate',
     _l('This invoice was already received (same seller, number and year).'),
     _l('Nothing to do if it is a resend; if it is a new invoice, the sender must give it a new number.')),
    ('no (?:AS2 URL|URL|host|address|postal address|e-mail address|network)|has no '
     '.*(?:url|address)|channel settings|not ready',
     _l("The partner's channel settings are incomplete."),
     _l("Complete them on the partner's page, then redeliver.")),
    ('certificate|SSL|TLS|CERTIFICATE_VERIFY',
     _l('The secure connection to the partner, or a certificate, failed.'),
     _l("Check the partner's certificates and address on its page (or ask the partner which certificate "
         'it uses), then retry.')),
    ('signature|MIC|decrypt',
     _l("The message's signature or encryption did not check out."),
     _l("Check that the partner's current certificate is on record (Certificates), then ask it to send "
         'again.')),
    ('Max retries exceeded|Connection ?refused|ConnectionError|Name or service not known|nodename nor '
     'servname|getaddrinfo|No route to host|Network is unreachable|timed? ?out|Temporary failure in name '
     'resolution|unreachable|connection reset',
     _l("The partner's server could not be reached."),
     _l("Check the partner's address on its page and whether its server is up, then retry.")),
    ('\\bHTTP (?:4\\d\\d|5\\d\\d)\\b|status (?:4\\d\\d|5\\d\\d)|\\b(?:4\\d\\d|5\\d\\d) (?:Client|Server) '
     'Error',
     _l("The partner's server refused the message."),
     _l('The detail gives its answer; correct what it names, or ask the partner, then retry.')),
    ('SMTP|mailbox|recipient address rejected|relay',
     _l('The mail server did not accept the e-mail.'),
     _l("Check the recipient's e-mail address on the partner's page, then redeliver.")),
    ('negative MDN|disposition.*(?:error|failed)|MDN',
     _l('The partner answered that it did not accept the message.'),
     _l('The detail gives its answer; correct what it names, or ask the partner, then retry.')),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), what, todo) for p, what, todo in RULES)

GENERAL = (_l("Something failed while handling this."),
           _l("Retry it if a retry is offered. If it fails again, send the technical detail below to your support."))

# what in a recorded text reads as a program's words, not a sentence of ours
_TECHNICAL = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Pool)\b|Traceback|errno|\bObject at 0x|<[a-z_.]+ object",
                        re.IGNORECASE)

_SECRETS = (
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), r"\1***:***@"),
    (re.compile(r"(?i)\b(password|passwd|secret|token|api[_-]?key|client_secret|authorization)(\s*[=:]\s*)"
                r"(?:bearer\s+)?[^\s,;&'\"]+"), r"\1\2***"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer ***"),
    (re.compile(r"\bedg_[A-Za-z0-9_-]{8,}"), "edg_***"),
)


def mask(text: str) -> str:
    """``text`` with anything secret in it replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class Plain:
    what: Any                         # what failed, a sentence (translated when shown: a lazy string)
    todo: Any                         # what to do, a sentence ("" when the reason is already plain)
    detail: Optional[str]             # the recorded text, secrets masked (None: nothing more to show)


def explain(reason: Optional[str]) -> Optional[Plain]:
    """``reason`` for a person (None when there is none)."""
    if not reason or not reason.strip():
        return None
    detail = mask(reason.strip())[:MAX_DETAIL]
    for pattern, what, todo in _COMPILED:
        if pattern.search(reason):
            return Plain(what, todo, detail)
    if _TECHNICAL.search(reason):
        return Plain(GENERAL[0], GENERAL[1], detail)
    return Plain(detail, "", None)
