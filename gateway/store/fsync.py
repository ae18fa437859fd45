"""Making a directory entry durable: after creating, renaming or removing a file, the
directory itself must be fsync'd, or a power cut can undo the name change."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union


def fsync_dir(directory: Union[str, os.PathLike]) -> None:
    fd = os.open(Path(directory), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
