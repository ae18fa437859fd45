"""File names made from what others chose (invoice numbers, uploaded names): one sanitiser.

Letters, digits, ``.``, ``_`` and ``-`` only (any other run becomes ``_``: no path,
no shell or header specials), and no leading or trailing ``._-`` (so never a
hidden file, which SFTP partners and our own pickup listing treat as temporary).
"""
from __future__ import annotations

import re
from typing import Optional

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: Optional[str], default: str = "", *, max_length: int = 100) -> str:
    """``name`` reduced as above to at most ``max_length`` characters; ``default`` if nothing
    is left. ``INV/2025/001`` → ``INV_2025_001``."""
    text = _UNSAFE.sub("_", name or "").strip("._-")[:max_length].strip("._-")
    return text or default
