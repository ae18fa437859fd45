"""The ``http`` channel's small language for what varies per portal: ``{name}`` templates and JSON pointers.

A portal's profile is data an operator types, so it is never evaluated as code: a
template is text with ``{name}`` placeholders taken from a fixed list of values
(``NAMES``: the invoice's number, dates, parties, amounts, and the deposit's own file
name, reference and id), ``{{`` and ``}}`` for literal braces, nothing else; a JSON
pointer (RFC 6901) says where a value is in an answer, or where to put one in a body.
Both are checked when the settings are saved, naming the setting that is wrong, and
bounded (length, depth).
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Optional
from urllib.parse import quote

from gateway.delivery.channel import ChannelSettingsError

NAMES = {
    "number": "the invoice number (BT-1)", "issue_date": "its issue date, YYYY-MM-DD (BT-2)",
    "due_date": "its due date (BT-9)", "type_code": "its type code (BT-3)", "currency": "its currency (BT-5)",
    "seller_name": "BT-27", "seller_vat_id": "BT-31", "seller_id": "BT-29/BT-30",
    "buyer_name": "BT-44", "buyer_vat_id": "BT-48", "buyer_id": "BT-46/BT-47",
    "buyer_endpoint_id": "BT-49", "total_without_vat": "BT-109", "total_vat": "BT-110",
    "total_with_vat": "BT-112", "amount_due": "BT-115",
    "filename": "the file's name", "media_type": "the file's media type", "sha256": "the file's SHA-256",
    "size": "the file's size in bytes", "reference": "our reference of the deposit (unique, fixed before "
                                                      "the first attempt)",
    "deposit_id": "the portal's deposit id (status and lookup URLs only)",
}
MAX_TEMPLATE = 1000
MAX_POINTER = 200
MAX_DEPTH = 8
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]{1,40})\}|[{}]")


def check_template(value: Any, setting: str, *, allowed: Optional[set[str]] = None) -> str:
    """A template whose placeholders are all known (``allowed``: a narrower list)."""
    if not isinstance(value, str) or len(value) > MAX_TEMPLATE or not value.isprintable():
        raise ChannelSettingsError(setting, f"expected a text of at most {MAX_TEMPLATE} printable characters")
    names = allowed if allowed is not None else set(NAMES)
    for m in _PLACEHOLDER.finditer(value):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            raise ChannelSettingsError(setting, "a lone { or }: write {{ or }} for a brace, {name} for a value")
        if m.group(1) not in names:
            raise ChannelSettingsError(setting, f"unknown value {{{m.group(1)}}} (known: "
                                                f"{', '.join(sorted(names))})")
    return value


def render(template: str, values: Mapping[str, Any], *, url: bool = False) -> str:
    """The template filled in (``url``: each value percent-encoded); a missing value is empty."""
    def fill(m: re.Match) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = values.get(m.group(1))
        text = "" if value is None else str(value)
        return quote(text, safe="") if url else text
    return _PLACEHOLDER.sub(fill, template)


def check_pointer(value: Any, setting: str) -> str:
    """A JSON pointer (``/a/b/0``), at most ``MAX_DEPTH`` steps."""
    if not isinstance(value, str) or len(value) > MAX_POINTER or not value.startswith("/") or not value.isprintable():
        raise ChannelSettingsError(setting, "expected a JSON pointer such as /data/id (RFC 6901)")
    if len(_steps(value)) > MAX_DEPTH or re.search(r"~[^01]|~$", value):
        raise ChannelSettingsError(setting, f"a JSON pointer of at most {MAX_DEPTH} steps, ~0 and ~1 as escapes")
    return value


def _steps(pointer: str) -> list[str]:
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer.split("/")[1:]]


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in a JSON value, or None when there is none."""
    node = document
    for step in _steps(pointer):
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
        if node is None:
            return None
    return node


def place(body: dict[str, Any], pointer: str, value: Any) -> None:
    """Put ``value`` at ``pointer`` in a JSON object, making the objects on the way."""
    steps = _steps(pointer)
    node = body
    for step in steps[:-1]:
        nxt = node.get(step)
        if not isinstance(nxt, dict):
            nxt = node[step] = {}
        node = nxt
    node[steps[-1]] = value
