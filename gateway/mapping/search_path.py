"""Where mapping files are found: the built-in folder, then overlay folders.

``mappings/`` ships with edigate. ``EDIGATE_MAPPINGS`` names overlay folders (a path
list, ``os.pathsep``-separated, the last one winning): a file in an overlay adds a
mapping, or replaces the one of the same name in the folders before it, one file at a
time; everything else stays as shipped. A file may ``extends`` the very mapping it
replaces: it then refines the one below it on the path (a partner's ``csv-lines`` that
changes only the delimiter).

Setting ``EDIGATE_MAPPINGS`` to a single folder that holds a copy of every shipped
file, as it was used before overlays, still works: each copy replaces its original.

Files are read once per process and search path; ``forget()`` drops what was read.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from gateway.model.errors import MappingError
from .spec import MappingSpec, compile_mapping

ENV = "EDIGATE_MAPPINGS"
BUILTIN = Path(__file__).resolve().parents[2] / "mappings"


def builtin_dir() -> Path:
    """The folder of the mappings that ship with edigate."""
    return BUILTIN


def folders() -> tuple[Path, ...]:
    """The search path, lowest priority first: the built-in folder, then each overlay."""
    return _folders(os.environ.get(ENV, ""))


@lru_cache(maxsize=16)
def _folders(setting: str) -> tuple[Path, ...]:
    """The folders of one value of EDIGATE_MAPPINGS, resolved once (every load asks for them)."""
    out = [BUILTIN]
    for entry in setting.split(os.pathsep):
        if not entry.strip():
            continue
        folder = Path(entry.strip()).expanduser().resolve()
        if not folder.is_dir():
            raise MappingError(f"{ENV}: {entry.strip()} is not a folder")
        if folder not in out:
            out.append(folder)
    return tuple(out)


def files() -> dict[str, Path]:
    """Every mapping by name and the file that wins for it; shipped names first, in name order,
    then each overlay's new ones (a replaced mapping keeps its place)."""
    return dict(_files(folders()))


@lru_cache(maxsize=16)
def _files(path: tuple[Path, ...]) -> tuple[tuple[str, Path], ...]:
    found: dict[str, Path] = {}
    for folder in path:
        for file in sorted(folder.glob("*.yaml")):
            found[file.stem] = file
    return tuple(found.items())


def find(name: str, below: Optional[Path] = None) -> Path:
    """The file of the mapping ``name``: the last on the search path, or, for ``below`` (the file
    that extends ``name``), the last one before ``below`` when ``below`` is itself a ``name``."""
    candidates = [f / f"{name}.yaml" for f in reversed(folders())]
    candidates = [c for c in candidates if c.is_file()]
    if below is not None:
        mine = below.resolve()
        for i, c in enumerate(candidates):
            if c.resolve() == mine:
                candidates = candidates[i + 1:]
                break
    if not candidates:
        where = ", ".join(str(f) for f in folders())
        raise MappingError(f"{below.name + ': ' if below else ''}no mapping {name!r} ({name}.yaml) in {where}")
    return candidates[0]


def available() -> list[str]:
    """The names of every mapping on the search path, sorted."""
    return sorted(files())


_LOADED: dict[tuple[str, str], MappingSpec] = {}


def load(name: str) -> MappingSpec:
    """The compiled mapping ``name`` (cached per search path). Every document asks several times:
    the answer is found by the setting's text and the name, without comparing folder paths."""
    setting = os.environ.get(ENV, "")
    spec = _LOADED.get((setting, name))
    if spec is None:
        spec = _LOADED[(setting, name)] = _load(_folders(setting), name)
    return spec


@lru_cache(maxsize=None)
def _load(path: tuple[Path, ...], name: str) -> MappingSpec:
    spec = compile_mapping(find(name), find)
    if spec.name != name:
        raise MappingError(f"{spec.file}: name {spec.name!r} differs from the file's name {name!r} "
                           "(a mapping is found by its file name)")
    return spec


def forget() -> None:
    """Drop what was read: the next use reads the files again."""
    _folders.cache_clear()
    _files.cache_clear()
    _load.cache_clear()
    _LOADED.clear()
