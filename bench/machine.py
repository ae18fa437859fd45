"""What a benchmark ran on: printed at the top of every bench's report."""
from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(*packages: str) -> str:
    """CPU count and model, OS, Python, and the versions of ``packages``."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}\n"
            f"Python {platform.python_version()} ({platform.python_implementation()}), {versions}")
