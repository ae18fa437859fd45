"""The EN 16931 model as JSON: what the ERP pull API hands out, lossless both ways.

``to_dict(invoice)`` gives plain JSON values and ``from_dict(data)`` the same
``Invoice`` back (``from_dict(to_dict(i)) == i``). The keys are the model's field
names (``gateway/model.py``), each the name of one business term or group;
``term_paths()`` lists every key path with its EN 16931 id, e.g.
``seller.electronic_address.scheme`` → ``BT-34-1``, ``lines[].price.net_price`` →
``BT-146``. Values:

* amounts, quantities, rates: strings, exactly as held (``"100.00"``, never a
  float, so no client loses a cent or a trailing zero);
* dates: ``YYYY-MM-DD``; attachments (BT-125 content): base64;
* absent terms (None, empty lists) are left out; a present group is an object,
  a repeating one an array of objects.

``from_dict`` refuses what it cannot take (an unknown key, a wrong type, a bad
decimal or date, a number out of its data type's bounds, ``gateway/numbers.py``)
with ``ModelJsonError`` naming the path, so a hand-written or damaged file never
becomes a silently different invoice. This module imports only the model and
those bounds.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from gateway.model.invoice import Invoice, term_fields
from gateway.model.numbers import NumberError, checked

FORMAT = "en16931-json/1"          # named in the API, so a later change of shape is a new name


class ModelJsonError(ValueError):
    """A JSON form that is not an invoice of this model: ``path`` says where."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or '(root)'}: {message}")
        self.path = path


# --- model → JSON ----------------------------------------------------------------------------

def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if dataclasses.is_dataclass(value):
        return _group(value)
    return value


def _group(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in term_fields(type(obj)):
        value = getattr(obj, f.name)
        if value is None or (f.repeats and not value):
            continue
        out[f.name] = [_value(v) for v in value] if f.repeats else _value(value)
    return out


def to_dict(invoice: Invoice) -> dict[str, Any]:
    """The invoice as JSON values (see the module docstring for the conventions)."""
    if not isinstance(invoice, Invoice):
        raise TypeError(f"expected an Invoice, got {type(invoice).__name__}")
    return _group(invoice)


# --- JSON → model ----------------------------------------------------------------------------

def _scalar(kind: type, value: Any, path: str, tid: str = "") -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ModelJsonError(path, f"expected a string, got {type(value).__name__}")
        return value
    if kind is Decimal:
        # numbers written as JSON numbers are taken too (ERP exports), but through their
        # text, never a float; booleans are not numbers here
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ModelJsonError(path, f"expected a decimal as a string, got {type(value).__name__}")
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):     # ValueError: an int past Python's str() limit
            raise ModelJsonError(path, f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise ModelJsonError(path, f"{value!r} is not a finite decimal number")
        try:
            return checked(number, tid, str(value))     # bounded as every reader bounds it
        except NumberError as exc:
            raise ModelJsonError(path, f"{tid}: {exc}") from None
    if kind is date:
        if not isinstance(value, str):
            raise ModelJsonError(path, f"expected a date YYYY-MM-DD, got {type(value).__name__}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ModelJsonError(path, f"{value!r} is not a date YYYY-MM-DD") from None
    if kind is bytes:
        if not isinstance(value, str):
            raise ModelJsonError(path, f"expected base64 text, got {type(value).__name__}")
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ModelJsonError(path, "is not valid base64") from None
    raise TypeError(f"no JSON form for {kind!r}")        # a model change this module missed


def _item(kind: type, value: Any, path: str, tid: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, path)
    return _scalar(kind, value, path, tid)


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ModelJsonError(path, f"expected an object, got {type(data).__name__}")
    fields = {f.name: f for f in term_fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ModelJsonError(path, f"unknown key(s) {', '.join(map(repr, unknown))} "
                                   f"(not a term of {cls.__name__})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        here = f"{path}.{name}" if path else name
        if value is None:
            continue
        if f.repeats:
            if not isinstance(value, list):
                raise ModelJsonError(here, f"expected an array, got {type(value).__name__}")
            values[name] = [_item(f.type, v, f"{here}[{i}]", f.term) for i, v in enumerate(value)]
        else:
            values[name] = _item(f.type, value, here, f.term)
    return cls(**values)


def from_dict(data: Any) -> Invoice:
    """The invoice of a JSON form made by ``to_dict`` (or by hand, to the same rules)."""
    return _build(Invoice, data, "")


# --- documentation ---------------------------------------------------------------------------

def _paths(cls: type, prefix: str, tid_prefix: str) -> Iterator[tuple[str, str]]:
    for f in term_fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        key += "[]" if f.repeats else ""
        # sub-values of a compound term carry suffixes: BT-29 + "-1" = BT-29-1
        tid = tid_prefix + f.term if f.term == "" or f.term.startswith("-") else f.term
        if dataclasses.is_dataclass(f.type):
            yield key, tid
            compound = any(sub.term == "" for sub in term_fields(f.type))    # BT-n with BT-n-1 …
            yield from _paths(f.type, key, tid if compound else "")
        else:
            yield key, tid


def term_paths() -> dict[str, str]:
    """Every key path of the JSON form and its EN 16931 id (``lines[].item.name`` → ``BT-153``)."""
    return dict(_paths(Invoice, "", ""))
