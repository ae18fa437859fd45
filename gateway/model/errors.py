"""Errors raised on input we cannot accept: each says what and where.

They never carry a traceback to the sender; they carry a message, and where
known a position in the file. Callers keep the raw bytes regardless.
"""
from __future__ import annotations

from typing import Optional


class EdigateError(Exception):
    """Base of every error edigate raises on purpose."""


class InputError(EdigateError):
    """The input cannot be read as a document we handle."""

    def __init__(self, message: str, *, line: Optional[int] = None,
                 column: Optional[int] = None, location: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.location = location

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.location:
            where.append(self.location)
        return self.message + (f" ({'; '.join(where)})" if where else "")


class HostileInputError(InputError):
    """The input tries something a document never needs (DTD, entities, absurd size or depth)."""


class UnknownFormatError(InputError):
    """No syntax we know was recognised in the input."""


class RenderError(InputError):
    """The document cannot be laid out for people within the renderer's caps.

    ``limit`` names the cap: "lines", "text", "pages", "time", "memory" or
    "renderer" (the rendering process failed otherwise). The document itself may
    be fine: its XML syntaxes can still be written."""

    def __init__(self, message: str, *, limit: str):
        super().__init__(message)
        self.limit = limit


class MappingError(EdigateError):
    """A mapping file is wrong: a bug in data, reported with the file and the term."""

