"""Extensions: packages installed beside the gateway that bring their own jobs, pages and commands.

A distribution declares its extension under the ``edigate.extensions`` entry-point group::

    [project.entry-points."edigate.extensions"]
    onboarding = "onboarding"

The object named there (a module or any object) may provide any of three hooks; the
gateway looks for each and skips what is absent:

``register_jobs(jobs) -> object``
    called once per ``gateway.jobs.Jobs``: register tasks on ``jobs.huey``; the object
    returned is kept in ``jobs.extensions[name]``, and its ``sweep(now) -> dict[str, int]``,
    if it has one, runs in every sweep.
``init_app(app, csrf) -> None``
    called once per web app: register blueprints (and exempt from CSRF what must be).
``commands: Mapping[str, CommandRef]``
    commands of ``edigate``, by reference: listing them imports nothing, the command's module
    is imported when it runs.

Loading an extension should be cheap (the command line loads every extension to list its
commands): keep the entry point's module light and import the heavy parts in the hooks.
Entry points are read each time (a scan of the installed distributions' metadata, a few
milliseconds), so an extension installed while a process runs is seen by the next app or
jobs it builds.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping, NamedTuple

GROUP = "edigate.extensions"


class CommandRef(NamedTuple):
    """A command by reference: ``target`` is ``"package.module:attribute"``, imported when the
    command runs; ``summary`` is what ``edigate --help`` lists without importing it: the first
    paragraph of the command's help, cut to fit like click does, or (``whole``) the command's
    own ``short_help``, shown whole."""
    target: str
    summary: str
    whole: bool = False


@dataclass(frozen=True)
class Extension:
    """One extension: its entry-point name and the object it names."""
    name: str
    obj: Any

    def hook(self, attribute: str) -> Any:
        """The hook ``attribute`` of the extension, or None when it does not provide one."""
        return getattr(self.obj, attribute, None)

    @property
    def commands(self) -> Mapping[str, CommandRef]:
        return {name: CommandRef(*ref) for name, ref in (self.hook("commands") or {}).items()}


class ExtensionError(RuntimeError):
    """An extension that cannot be loaded: the gateway does not start half-extended."""


def load() -> list[Extension]:
    """Every installed extension, by name (a name declared twice: the first distribution found)."""
    found: dict[str, Extension] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue
        try:
            found[ep.name] = Extension(ep.name, ep.load())
        except Exception as exc:
            raise ExtensionError(f"extension {ep.name!r} ({ep.value}) cannot be loaded: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return [found[name] for name in sorted(found)]


def with_hook(attribute: str) -> list[tuple[Extension, Any]]:
    """(extension, hook) for every extension that provides ``attribute``."""
    return [(ext, hook) for ext in load() if (hook := ext.hook(attribute)) is not None]
