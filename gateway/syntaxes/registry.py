"""Which flavours there are: found from the mapping files' own ``syntax:`` key.

Code knows *syntaxes* (``SYNTAXES``: how bytes become a tree and back); the mapping
files on the search path (``gateway.mapping.search_path``) name the *flavours*: a
file with a ``syntax`` (its own or its base's) serves the flavour its ``flavour`` key
names, or the flavour of its own name. UBL and CII flavours may have several files
(Invoice and CreditNote), chosen on write by ``select``; an EDIFACT or CSV flavour is
one file. A container syntax carries another flavour's document (Factur-X carries the
CII in a PDF) and is a flavour of its own as long as that one exists; a flavour of the
carried syntax whose own file has a section named after the container syntax (``facturx:``,
a Factur-X profile) is carried too, by a container flavour of the name that section gives
(``facturx-minimum`` carries ``cii-minimum``).

What can be read and written, ``translate --to``, a partner's preferred format, the
CLI help and ``edigate formats`` all come from here. A file that cannot be read is not
a flavour: ``flavour(name)`` raises its error, ``broken`` lists it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from gateway import mapping
from gateway.mapping.spec import load_raw, read_file
from gateway.mapping.summaries import pick, summaries as own_summaries
from gateway.model.errors import MappingError


@dataclass(frozen=True)
class Syntax:
    """A syntax the code reads and writes; its flavours come from mapping files."""
    name: str
    reads: str                      # what it reads, as ``edigate formats`` says it
    extension: str                  # of a written file
    media_type: str
    several: str = ""               # when a file may hold several invoices, what holds them
    files_per_flavour: int = 1      # 0: any number, chosen on write by ``select``
    carries: str = ""               # a container: the flavour whose document it carries
    summary: str = ""               # a container's one line (others: their mapping files')
    summary_fr: str = ""            # the same in French


SYNTAXES: dict[str, Syntax] = {s.name: s for s in (
    Syntax("ubl", "UBL 2.1 Invoice/CreditNote", ".xml", "application/xml", files_per_flavour=0),
    Syntax("cii", "CII D16B", ".xml", "application/xml", files_per_flavour=0),
    Syntax("facturx", "Factur-X/ZUGFeRD 2 PDF", ".pdf", "application/pdf", carries="cii",
           summary="Factur-X / ZUGFeRD PDF/A-3 with its CII XML",
           summary_fr="PDF/A-3 Factur-X / ZUGFeRD avec son XML CII"),
    Syntax("edifact", "EDIFACT INVOIC interchanges", ".edi", "application/EDIFACT",
           several="an interchange may hold several invoices"),
    Syntax("csv", "CSV exports", ".csv", "text/csv", several="a CSV file may hold several invoices"),
)}


@dataclass(frozen=True)
class Flavour:
    """A name to read and write by: its syntax and the mapping files that serve it."""
    name: str
    syntax: str
    mappings: tuple[str, ...]       # mapping names; a container's: those of the flavour it carries
    summary: str
    carries: Optional[str] = None   # a container: the flavour it carries
    summaries: dict = field(default_factory=dict, hash=False, compare=False)   # language -> summary

    def summary_in(self, lang: str) -> str:
        """The summary in ``lang`` (its mapping file's ``summary_fr``...), else the English one."""
        return pick(self.summaries, lang) or self.summary

    @property
    def extension(self) -> str:
        return SYNTAXES[self.syntax].extension

    @property
    def media_type(self) -> str:
        return SYNTAXES[self.syntax].media_type


@dataclass(frozen=True)
class MappingFile:
    """One file on the search path, as ``edigate formats`` lists it."""
    name: str
    path: Path
    syntax: str = ""                # "" : a base for others, no flavour of its own
    flavour: str = ""
    description: str = ""
    summary: str = ""
    summaries: dict = field(default_factory=dict, hash=False)    # language -> summary (``summary_fr``...)
    select: dict = field(default_factory=dict, hash=False)
    replaces: Optional[Path] = None  # the file of the same name before it on the path
    error: Optional[MappingError] = field(default=None, hash=False)
    carried_as: dict = field(default_factory=dict, hash=False)   # container syntax -> its own section there
    data: dict = field(default_factory=dict, hash=False, repr=False)   # its content, ``extends`` applied


@dataclass(frozen=True)
class Registry:
    folders: tuple[Path, ...]
    files: tuple[MappingFile, ...]
    flavours: dict[str, Flavour] = field(hash=False)          # usable ones, in listing order
    broken: dict[str, MappingError] = field(hash=False)       # flavour or file name -> why not


def registry() -> Registry:
    """The flavours of the current search path (read once per search path)."""
    return _registry(mapping.folders())


def forget() -> None:
    """Read the mapping files again on next use (after changing them)."""
    _registry.cache_clear()
    mapping.forget()


def flavours() -> list[Flavour]:
    """Every usable flavour, in listing order (by syntax, then shipped ones first)."""
    return list(registry().flavours.values())


def flavour(name: str) -> Flavour:
    """The flavour ``name``; ValueError naming the choices when there is none, the file's
    MappingError when its file is broken."""
    reg = registry()
    found = reg.flavours.get(name)
    if found is not None:
        return found
    if name in reg.broken:
        raise reg.broken[name]
    raise ValueError(f"unknown flavour {name!r}; choose one of {', '.join(reg.flavours)}")


def writable() -> tuple[str, ...]:
    """The names to write by (``translate --to``, a partner's preferred format)."""
    return tuple(registry().flavours)


def mapping_file(name: str) -> MappingFile:
    """The mapping file ``name`` as found (its content read without compiling it)."""
    for f in registry().files:
        if f.name == name:
            return f
    raise ValueError(f"no mapping {name!r} on the search path")


def of_syntax(syntax: str) -> list[Flavour]:
    """The usable flavours of one syntax, in listing order."""
    return [f for f in registry().flavours.values() if f.syntax == syntax]


@lru_cache(maxsize=16)
def _registry(folders: tuple[Path, ...]) -> Registry:
    files = [_describe(name, path, folders) for name, path in mapping.files().items()]
    groups: dict[str, list[MappingFile]] = {}
    broken: dict[str, MappingError] = {}
    for f in files:
        if f.error is not None:
            broken[f.name] = f.error
        elif f.syntax:
            groups.setdefault(f.flavour, []).append(f)
    found: dict[str, Flavour] = {}
    for name, members in groups.items():
        try:
            found[name] = _flavour(name, members)
        except MappingError as exc:
            broken[name] = exc
    by_name = {f.name: f for f in files}
    for syntax in SYNTAXES.values():      # containers, named after their syntax
        carried = found.get(syntax.carries) if syntax.carries else None
        if carried is None:
            continue
        found[syntax.name] = Flavour(syntax.name, syntax.name, carried.mappings, syntax.summary,
                                     carries=carried.name,
                                     summaries={"en": syntax.summary, "fr": syntax.summary_fr})
        for inner in [f for f in found.values() if f.syntax == carried.syntax]:
            section = by_name[inner.mappings[0]].carried_as.get(syntax.name)
            if not section:
                continue
            name = container_name(syntax.name, section)
            if name in found or name in broken:
                broken[name] = MappingError(
                    f"{by_name[inner.mappings[0]].path}: {syntax.name}: flavour {name!r} is already another "
                    "flavour's name")
                continue
            label = str(section.get("conformance") or "")
            if label.replace(" ", "").lower() != str(section.get("profile")).replace("-", "").lower():
                label = str(section.get("profile")).upper()     # EXTENDED-CTC-FR, whose XMP says EXTENDED
            english = f"{syntax.summary}, {label} profile"
            found[name] = Flavour(name, syntax.name, inner.mappings, english, carries=inner.name,
                                  summaries={"en": english, "fr": f"{syntax.summary_fr}, profil {label}"})
    order = list(SYNTAXES)
    position = {name: i for i, name in enumerate(found)}
    profile = {f.name for f in found.values() if not f.carries and by_name[f.mappings[0]].carried_as}
    # a profile flavour (cii-minimum) restricts what is written: the plain flavour (cii) is listed,
    # and so reads, first
    listed = sorted(found.values(), key=lambda f: (order.index(f.syntax), f.name in profile, position[f.name]))
    return Registry(folders, tuple(files), {f.name: f for f in listed}, broken)


def container_name(container: str, section: dict) -> str:
    """The name of the container flavour a mapping file's ``container:`` section asks for."""
    return str(section.get("flavour") or f"{container}-{section.get('profile')}")


def section(name: str, container: str) -> Optional[dict]:
    """The ``container:`` section (``facturx:``, a Factur-X profile) that makes the flavour ``name`` what
    it is: its own file's, for a flavour of the carried syntax (``cii-minimum``) and for the container
    flavour carrying it (``facturx-minimum``); None for any other flavour (``cii``, ``facturx``)."""
    try:
        found = flavour(name)
    except (ValueError, MappingError):
        return None
    if found.syntax == container and found.name == container:
        return None                         # the container itself carries the plain flavour
    return mapping_file(found.mappings[0]).carried_as.get(container) or None


def _describe(name: str, path: Path, folders: tuple[Path, ...]) -> MappingFile:
    """One file: what it says of itself, with what it inherits through ``extends``."""
    before = folders[:folders.index(path.parent)] if path.parent in folders else ()
    replaced = [f / path.name for f in before if (f / path.name).is_file()]
    replaces = replaced[-1] if replaced else None
    try:
        own = read_file(path)
        merged = load_raw(path, mapping.find)
    except MappingError as exc:
        return MappingFile(name, path, replaces=replaces, error=exc)
    flavour_name = own.get("flavour") or name
    if flavour_name in SYNTAXES and SYNTAXES[flavour_name].carries:
        return MappingFile(name, path, replaces=replaces, error=MappingError(
            f"{path}: flavour {flavour_name!r} is the name of the syntax that carries "
            f"{SYNTAXES[flavour_name].carries}; a mapping file cannot serve it"))
    description = own.get("description") or ""
    carried_as = {s.name: own[s.name] for s in SYNTAXES.values() if s.carries and own.get(s.name)}
    return MappingFile(name, path, syntax=merged.get("syntax") or "", flavour=flavour_name,
                       description=description, summary=own.get("summary") or description,
                       summaries=own_summaries(own),
                       select=merged.get("select") or {}, replaces=replaces, carried_as=carried_as,
                       data=merged)


def _flavour(name: str, members: list[MappingFile]) -> Flavour:
    syntaxes = {m.syntax for m in members}
    files = ", ".join(m.path.name for m in members)
    if len(syntaxes) > 1:
        raise MappingError(f"flavour {name!r}: its files ({files}) are of different syntaxes "
                           f"({', '.join(sorted(syntaxes))})")
    syntax = SYNTAXES[members[0].syntax]
    if syntax.files_per_flavour and len(members) > syntax.files_per_flavour:
        raise MappingError(f"flavour {name!r} has several files ({files}); a {syntax.name} flavour is one file "
                           "(several files are chosen among by 'select' in UBL and CII only)")
    default = next((m for m in members if not m.select), members[0])
    return Flavour(name, syntax.name, tuple(m.name for m in members), default.summary,
                   summaries=default.summaries)
