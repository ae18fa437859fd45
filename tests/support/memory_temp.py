"""The tests' temporary folders in memory (a tmpfs) where the machine has one with room.

Every gateway home a test makes holds a SQLite database opened with ``synchronous=FULL``, so
each commit waits for the disk (an fsync: milliseconds on a virtual disk, thousands of times
per run), and deleting the folders of old runs is slow there too. On a tmpfs both are
memory operations; what the tests read and write is the same, only nothing waits for a
disk no test can unplug anyway. A folder chosen by the person running the tests
(``--basetemp``, ``TMPDIR``, ``PYTEST_DEBUG_TEMPROOT``) is left alone, and so is a small or
missing ``/dev/shm`` (a container's 64 MiB): then the tests run on the disk as before.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Optional

MEMORY = Path("/dev/shm")
ROOM = 4 << 30          # free space on the tmpfs and memory available, each at least this
CHOSEN = ("TMPDIR", "PYTEST_DEBUG_TEMPROOT")


def _is_tmpfs(folder: Path) -> bool:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            return any(fields[1] == str(folder) and fields[2] == "tmpfs"
                       for fields in (line.split() for line in mounts) if len(fields) > 2)
    except OSError:
        return False


def _memory_available() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory_temp_root(environ: Mapping[str, str], basetemp: Optional[str]) -> Optional[Path]:
    """The tmpfs to put pytest's temporary folders under, or None to leave pytest's choice."""
    if basetemp or any(environ.get(name) for name in CHOSEN) or environ.get("EDIGATE_TEST_TMP") == "disk":
        return None
    if not (MEMORY.is_dir() and os.access(MEMORY, os.W_OK) and _is_tmpfs(MEMORY)):
        return None
    if shutil.disk_usage(MEMORY).free < ROOM or _memory_available() < ROOM:
        return None
    return MEMORY
