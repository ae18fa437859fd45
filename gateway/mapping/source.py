"""Python source put together line by line, and the objects it names kept beside it.

The generated readers and writers (``gen_read``, ``gen_write``) are plain Python
functions, one per group of a mapping, written out as text once per mapping and
compiled with ``compile``/``exec``: paths, tags, field names and what each term needs
become constants and straight-line code instead of per-document decisions. Objects
that cannot be literals (nodes, classes, parsers) are bound as names of the module
namespace the code runs in.
"""
from __future__ import annotations

from typing import Any


class Source:
    """Lines of code with indentation, and the namespace its names come from."""

    def __init__(self, filename: str):
        self.filename = filename
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self._ids: dict[int, str] = {}
        self._keep: list[Any] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append("    " * self.depth + text if text else "")

    def indent(self) -> "_Indent":
        return _Indent(self)

    def name(self, obj: Any, prefix: str = "c") -> str:
        """A module-level name bound to ``obj`` (the same object always gets the same name)."""
        got = self._ids.get(id(obj))
        if got is None:
            got = f"{prefix}{len(self._ids)}"
            self._ids[id(obj)] = got
            self._keep.append(obj)          # ids stay unique while the source lives
            self.names[got] = obj
        return got

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def build(self) -> dict[str, Any]:
        """The namespace after running the source: the functions it defines among the names."""
        namespace = dict(self.names)
        exec(compile(self.text(), self.filename, "exec"), namespace)
        return namespace


class _Indent:
    def __init__(self, src: Source):
        self.src = src

    def __enter__(self) -> None:
        self.src.depth += 1

    def __exit__(self, *exc: Any) -> None:
        self.src.depth -= 1
