"""Declarative mappings between syntaxes and the EN 16931 model.

``load(name)`` gives the compiled mapping ``mappings/<name>.yaml``; the engine
(`read`, `write`) applies it. Set EDIGATE_MAPPINGS to use another folder
(partner flavours live there as small files that ``extends`` a base).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from .engine import Dropped, ReadResult, SourceMap, WriteResult, read, write
from .spec import MappingSpec, compile_mapping

__all__ = ["load", "available", "mappings_dir", "read", "write", "MappingSpec", "ReadResult",
           "WriteResult", "SourceMap", "Dropped"]


def mappings_dir() -> Path:
    env = os.environ.get("EDIGATE_MAPPINGS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "mappings"


@lru_cache(maxsize=None)
def _load(directory: str, name: str) -> MappingSpec:
    return compile_mapping(Path(directory) / f"{name}.yaml")


def load(name: str) -> MappingSpec:
    """The compiled mapping called ``name`` (cached)."""
    return _load(str(mappings_dir()), name)


def available() -> list[str]:
    return sorted(p.stem for p in mappings_dir().glob("*.yaml"))
