"""A plain-text mail with an HTML alternative, written as SMTP-ready bytes in one pass.

Why not the ``email`` package: building an ``EmailMessage`` (header objects parsed
and refolded, MIME parts made and flattened) took about 2 ms a campaign mail, more
than everything else the sender does for it. What a campaign mail needs is small
and fixed, so it is written directly here (about 0.05 ms), and the ``email``
package stays the reference: ``onboarding.compose`` falls back to it for any value
this writer does not take on (``NotPlain``), and the tests read both back with the
standard parser and compare them.

What is written: 7-bit bytes, CRLF line ends, header lines folded at spaces to at
most 78 characters where the value allows it (never more than ``MAX_LINE``);
unstructured text (a subject) and display names that are not plain ASCII as RFC
2047 encoded words (UTF-8, base 64, whole characters per word); bodies in UTF-8,
quoted-printable (base 64 when most of the text is not ASCII), each ending with a
line end, the boundary one that neither encoding can produce (``=_`` is not valid
quoted-printable, ``-`` is not in the base 64 alphabet). Dot-stuffing is SMTP's
business (``smtplib`` does it).
"""
from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Iterable, Optional

FOLD_AT = 78            # RFC 5322's "should"
MAX_LINE = 998          # its "must"
_WORD_BYTES = 39        # UTF-8 bytes per encoded word: 52 base 64 characters, a 64-character word

_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")     # a display name needing no quotes
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_NOT_ASCII = bytes(range(0x80, 0x100))


class NotPlain(ValueError):
    """A value this writer leaves to the ``email`` package (an address that is not plain ASCII
    ``local@domain``, a header that cannot be folded within ``MAX_LINE``)."""


def plain_address(address: str) -> bool:
    """An ASCII dot-atom ``local@domain.tld``: what this writer puts in a header as is."""
    return _ADDRESS.fullmatch(address) is not None


def _ascii_line(value: str) -> bool:
    return _PRINTABLE.fullmatch(value) is not None and "=?" not in value and "  " not in value \
        and value == value.strip()


def _fold(name: str, words: Iterable[str]) -> str:
    """``name: w1 w2 …`` folded at the spaces between words (unfolding gives the value back); a
    word that does not fit starts a line of its own, even the first."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if line and len(line) + 1 + len(word) > FOLD_AT:
            lines.append(line)
            line = ""
        line += " " + word
        if len(line) > MAX_LINE:
            raise NotPlain(f"{name}: a word too long for one line")
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def header(name: str, value: str) -> str:
    """A header whose value is printable ASCII (an URL in angle brackets, a Message-ID, a date),
    folded at its spaces; a word that does not fit starts a line of its own."""
    if not _ascii_line(value):
        raise NotPlain(f"{name}: not a plain ASCII value")
    return _fold(name, value.split(" ")) if value else f"{name}:\r\n"


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 encoded words (UTF-8, base 64) for ``text``, never splitting a character."""
    data = text.encode("utf-8")
    words, i = [], 0
    while True:
        j = min(i + _WORD_BYTES, len(data))
        while j < len(data) and data[j] & 0xC0 == 0x80:       # not inside a character's bytes
            j -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[i:j]).decode('ascii')}?=")
        if j >= len(data):
            return words
        i = j


def unstructured(name: str, text: str) -> str:
    """A free-text header (a subject): as is when plain ASCII, else encoded words."""
    if "\r" in text or "\n" in text:
        raise NotPlain(f"{name}: a line break in a header")
    if _ascii_line(text):
        return _fold(name, text.split(" ")) if text else f"{name}:\r\n"
    return _fold(name, _encoded_words(text))


def _phrase(text: str) -> list[str]:
    """A display name as words: ASCII words as they are, each run of words holding other
    characters as encoded words (the spaces inside a run encoded with it: RFC 2047 readers drop
    the space *between* encoded words)."""
    out: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if word and "=?" not in word and _ATOMS.fullmatch(word):        # an atom: no quoting, no encoding
            if run:
                out.extend(_encoded_words(" ".join(run)))
                run = []
            out.append(word)
        else:
            run.append(word)
    if run:
        out.extend(_encoded_words(" ".join(run)))
    return out


def mailbox(name: str, display_name: str, address: str) -> str:
    """``name: display name <address>``: the name bare when it is atoms and spaces, quoted when it is
    other printable ASCII, else its ASCII words bare and the others encoded."""
    if not plain_address(address):
        raise NotPlain(f"{name}: {address!r} is not a plain address")
    if display_name != " ".join(display_name.split()):
        raise NotPlain(f"{name}: a display name with unusual spaces")
    if not display_name:
        return header(name, address)
    if _ascii_line(display_name):
        words = (display_name if _ATOMS.fullmatch(display_name) else
                 '"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"').split(" ")
    else:
        words = _phrase(display_name)
    return _fold(name, [*words, f"<{address}>"])


def _body(text: str) -> tuple[str, bytes]:
    """(transfer encoding, encoded bytes) of a UTF-8 text body, CRLF line ends, a final line end."""
    data = b"\r\n".join(text.encode("utf-8").splitlines()) + b"\r\n"
    if 6 * (len(data) - len(data.translate(None, _NOT_ASCII))) > len(data):     # as the email package: the shorter
        return "base64", base64.encodebytes(data).replace(b"\n", b"\r\n")
    return "quoted-printable", binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)


def _part_head(subtype: str, cte: str) -> str:
    return f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'


def message(headers: list[str], text: str, html: Optional[str], *, boundary: Optional[str] = None) -> bytes:
    """The whole message: ``headers`` (lines from the functions above), ``MIME-Version``, then the
    text body alone, or ``multipart/alternative`` of the text and the HTML."""
    head = "".join(headers) + "MIME-Version: 1.0\r\n"
    cte, body = _body(text)
    if html is None:
        return (head + _part_head("plain", cte) + "\r\n").encode("ascii") + body
    boundary = boundary or f"=_{secrets.token_hex(12)}"
    html_cte, html_body = _body(html)
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    return b"".join((
        (head + f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n').encode("ascii"),
        f"--{boundary}\r\n".encode("ascii"), (_part_head("plain", cte) + "\r\n").encode("ascii"), body,
        delimiter, (_part_head("html", html_cte) + "\r\n").encode("ascii"), html_body,
        f"\r\n--{boundary}--\r\n".encode("ascii")))
