"""Where a partner's SFTP path lands on our disk: inside its account root, or nowhere.

A partner sees its root as ``/`` (like a chroot): ``/inbound/a.xml``, ``inbound/a.xml``
and ``/outbound/../inbound/a.xml`` are the same file. ``Jail.resolve`` turns what the
client sent into a ``JailPath`` or raises ``JailError``, and logs every refusal (logger
``edigate.sftp``) with the username and the path as requested, so an operator can see
who probes what.

Refused: ``..`` climbing above the root, NUL and other control characters, names
longer than a file system takes (255 bytes) or paths longer than ``max_path``, and any
existing component that is a symbolic link. Partners can never create links (the
server refuses ``symlink``), so a link inside a root was planted by someone on this
machine; it is never followed, whatever it points at, inside or out. The check is made
against the disk at resolve time; files are then opened with ``O_NOFOLLOW`` as a second
guard for the last component. Swapping a directory for a link between check and use
would take write access to the root on this machine, which partners do not have.
"""
from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

log = logging.getLogger("edigate.sftp")

#: Longest single name, in UTF-8 bytes (ext4, xfs, tmpfs: 255).
MAX_NAME_BYTES = 255
#: Longest path a partner may send, in characters.
MAX_PATH_CHARS = 1024


class JailError(PermissionError):
    """A client path that does not resolve inside the account root.

    ``reason`` is short and fixed (``"escapes the root"``, ``"symlink"``, ...), ``path`` is
    the path exactly as the client sent it.
    """

    def __init__(self, reason: str, username: str, path: object):
        super().__init__(f"{username}: path {path!r} refused: {reason}")
        self.reason, self.username, self.path = reason, username, path


@dataclass(frozen=True)
class JailPath:
    """A resolved path: ``parts`` below the account root (``()`` is the root itself)."""

    parts: tuple[str, ...]
    real: Path

    @property
    def virtual(self) -> str:
        """As the partner sees it: ``/inbound/a.xml``."""
        return "/" + "/".join(self.parts)

    @property
    def relative(self) -> str:
        """Relative to the account root: ``inbound/a.xml`` (``""`` for the root)."""
        return "/".join(self.parts)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def area(self) -> Optional[str]:
        """The top-level directory the path is in (``"inbound"``, ``"outbound"``), or None for ``/``."""
        return self.parts[0] if self.parts else None


class Jail:
    """One account's root. ``resolve(path)`` → ``JailPath`` | raises ``JailError`` (logged).

    The root itself is resolved once (an operator may keep roots behind a link, e.g.
    ``/srv/sftp`` → ``/data/sftp``); everything below it must be free of links.
    """

    def __init__(self, root: Union[str, os.PathLike], username: str, *,
                 max_path: int = MAX_PATH_CHARS, max_name_bytes: int = MAX_NAME_BYTES):
        self.root = Path(os.path.realpath(root))
        self.username = username
        self.max_path, self.max_name_bytes = max_path, max_name_bytes

    def resolve(self, path: Union[str, bytes]) -> JailPath:
        parts = self._parts(path)
        real = self.root.joinpath(*parts) if parts else self.root
        self._refuse_links(path, parts)
        return JailPath(parts, real)

    def refuse(self, path: object, reason: str) -> JailError:
        """Log a refusal and return the error to raise."""
        log.warning("sftp %s: path %r refused: %s", self.username, path, reason)
        return JailError(reason, self.username, path)

    def _parts(self, path: Union[str, bytes]) -> tuple[str, ...]:
        if isinstance(path, (bytes, bytearray)):
            try:
                path = bytes(path).decode("utf-8")
            except UnicodeDecodeError:
                raise self.refuse(path, "not UTF-8") from None
        if not isinstance(path, str):
            raise self.refuse(path, "not a path")
        if "\x00" in path:
            raise self.refuse(path, "NUL byte")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            raise self.refuse(path, "control character")
        if len(path) > self.max_path:
            raise self.refuse(path, f"longer than {self.max_path} characters")
        out: list[str] = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not out:
                    raise self.refuse(path, "escapes the root")
                out.pop()
                continue
            if len(part.encode("utf-8")) > self.max_name_bytes:
                raise self.refuse(path, f"name longer than {self.max_name_bytes} bytes")
            out.append(part)
        return tuple(out)

    def _refuse_links(self, path, parts: tuple[str, ...]) -> None:
        cur = self.root
        for part in parts:
            cur = cur / part
            try:
                st = os.lstat(cur)
            except (FileNotFoundError, NotADirectoryError):
                return          # the rest does not exist (yet): nothing to follow
            if stat.S_ISLNK(st.st_mode):
                raise self.refuse(path, "symlink")
