"""Hardened XML parsing: e-invoices arrive from anyone, so the parser trusts nothing.

An invoice never needs a DTD, so any DOCTYPE (and with it every entity
declaration: billion laughs, XXE, parameter entities, external DTDs) is
rejected *before* libxml2 reads the internal subset. Size is checked before
parsing, nesting depth after it; malformed XML becomes an ``InputError``
carrying line and column, so the sender can be told where the problem is.

Defence in depth, in this order:

1. ``len(data) > max_bytes``: rejected without looking at the content.
2. A prolog scan with a SAX target that stops at the root start tag and
   raises on a DOCTYPE callback (libxml2 reports the DOCTYPE before parsing
   its internal subset, whatever the document encoding).
3. The real parse with ``resolve_entities=False, no_network=True,
   load_dtd=False, huge_tree=False`` (libxml2 limits stay on), then a check
   that the tree really has no DTD.
4. A depth check, one XPath ``/*/*/…`` one level below ``max_depth`` (libxml2 alone
   stops at 256 levels; we stop at ``max_depth``, which therefore cannot usefully
   exceed 256).

Known consequence of ``huge_tree=False``: libxml2 refuses any single text
node over 10,000,000 characters, so an invoice embedding an attachment
(BT-125) larger than about 7.5 MB of binary (10 MB of base64) is rejected
as hostile although ``max_bytes`` would allow it.
"""
from __future__ import annotations

import copy
import re
import threading
from functools import lru_cache
from typing import Union

from lxml import etree

from gateway.model.errors import HostileInputError, InputError

__all__ = ["parse", "serialize", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH"]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_DEPTH = 100

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
DOCTYPE_MESSAGE = "DOCTYPE declarations are not accepted (XXE / entity expansion protection)"

# libxml2 error codes that mean "a protection limit was hit", not "typo".
_LIMIT_CODES = frozenset({
    etree.ErrorTypes.ERR_RESOURCE_LIMIT,   # depth, amplification, huge text nodes
    etree.ErrorTypes.ERR_ENTITY_LOOP,
})

Bytes = Union[bytes, bytearray, memoryview]


def _parser(target: object = None) -> etree.XMLParser:
    # A parser object is cheap and not thread-safe to share: make one per call.
    return etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


class _Doctype(Exception):
    pass


class _RootReached(Exception):
    pass


class _PrologScanner:
    """SAX target: fail on DOCTYPE, stop as soon as the root element starts."""

    def doctype(self, name, pubid, system):  # noqa: D401 - lxml callback
        raise _Doctype()

    def start(self, tag, attrib, nsmap=None):
        raise _RootReached()

    def end(self, tag):
        pass

    def data(self, data):
        pass

    def comment(self, text):
        pass

    def pi(self, target, data=None):
        pass

    def close(self):
        return None


def _syntax_error(exc: etree.XMLSyntaxError) -> InputError:
    line, column = exc.position if exc.position else (exc.lineno, None)
    msg = exc.msg or str(exc)
    # lxml appends ", line L, column C" to the message: keep it out, we carry it separately.
    suffix = f", line {line}, column {column}"
    if msg.endswith(suffix):
        msg = msg[: -len(suffix)]
    if exc.code in _LIMIT_CODES:
        if "depth" in msg.lower():
            limit = re.search(r"\d+", msg)
            return HostileInputError(
                f"XML nesting deeper than the parser limit of {limit.group() if limit else 256} levels",
                line=line, column=column)
        if "text node too long" in msg.lower():
            return HostileInputError(
                "XML text node longer than the parser limit of 10,000,000 characters "
                "(an oversized embedded attachment?)", line=line, column=column)
        return HostileInputError(f"XML exceeds a parser safety limit: {msg}", line=line, column=column)
    return InputError(f"Malformed XML: {msg}", line=line, column=column)


_local = threading.local()


def _prolog_parser() -> etree.XMLParser:
    """This thread's prolog scanner, made once: lxml looks a target's callbacks over when a parser
    first runs, which cost more than the scan itself when each call made its own."""
    parser = getattr(_local, "prolog", None)
    if parser is None:
        parser = _local.prolog = _parser(_PrologScanner())
    return parser


def _check_prolog(data: bytes) -> None:
    try:
        etree.fromstring(data, _prolog_parser())
    except _Doctype:
        raise HostileInputError(DOCTYPE_MESSAGE) from None
    except _RootReached:
        return
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    # A document without a root element always raises a syntax error above.
    raise InputError("Malformed XML: no root element")


@lru_cache(maxsize=8)
def _too_deep(max_depth: int) -> etree.XPath:
    """The elements one level below ``max_depth`` (the root is level 1), in document order:
    ``/*/*/…/*``, evaluated by libxml2 in one pass instead of a Python walk over every element."""
    return etree.XPath("/" + "/".join(["*"] * (max_depth + 1)))


def _check_depth(root: etree._Element, max_depth: int) -> None:
    deeper = [root] if max_depth < 1 else _too_deep(max_depth)(root)
    if deeper:
        el = deeper[0]          # the first in document order: where a walk would have stopped
        raise HostileInputError(
            f"XML nesting deeper than {max_depth} levels (element <{etree.QName(el).localname}>)",
            line=el.sourceline,
        )


def parse(data: Bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
          max_depth: int = DEFAULT_MAX_DEPTH) -> etree._Element:
    """Parse untrusted XML bytes and return the root element (with ``sourceline``).

    Raises ``HostileInputError`` for DOCTYPE/entity declarations, oversize
    input and excessive nesting, ``InputError`` for anything malformed.
    A UTF-8 BOM and any encoding declaration libxml2 knows are handled.
    """
    if isinstance(data, str):
        raise TypeError("parse() takes the raw bytes of the document, not str")
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_bytes:
        raise HostileInputError(
            f"XML document is {len(data):,} bytes, more than the {max_bytes:,} bytes accepted")
    if not data or data.isspace():
        raise InputError("Malformed XML: the document is empty")
    _check_prolog(data)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise HostileInputError(DOCTYPE_MESSAGE)  # unreachable unless the prolog scan is bypassed
    _check_depth(root, max_depth)
    return root


def serialize(root: etree._Element, *, pretty: bool = True, own: bool = False) -> bytes:
    """UTF-8 bytes with an XML declaration.

    ``pretty`` re-indents a copy (the caller's tree is left untouched), so
    that documents reordered by ``sort_children`` or built by a writer come
    out consistently indented whatever whitespace their nodes carried.
    ``own``: the tree is the caller's to give away (a writer's fresh tree, not
    kept): it is indented in place, without the copy.
    """
    if pretty:
        if not own:
            root = copy.deepcopy(root)
        etree.indent(root, space="  ")
        root.tail = None
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False,
                                            pretty_print=pretty)
