"""A click group whose commands are named by reference and imported only when they run.

``edigate --help`` lists every command from its ``CommandRef`` (target and summary) without
importing one; ``edigate partner add …`` imports ``gateway.cli.partner`` and nothing of the
other commands. This keeps the command line quick to start, and keeps the translation
commands free of the database, the job queue and the web app.
"""
from __future__ import annotations

import importlib
from typing import Callable, Mapping, Optional

import click

from gateway.extensions import CommandRef

Refs = Callable[[], Mapping[str, CommandRef]]


def resolve(target: str) -> click.Command:
    """The click command ``"package.module:attribute"`` names (its module imported now)."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


def stand_in(name: str, ref: CommandRef) -> click.Command:
    """An empty command with ``ref``'s summary (in the run's language): click shortens it as it
    would the real one's."""
    from gateway.cli.helptext import tr
    summary = tr(ref.summary)
    return click.Command(name, short_help=summary) if ref.whole else click.Command(name, help=summary)


class LazyGroup(click.Group):
    """``refs()`` gives the commands by name, each imported when it is used. Commands added with
    ``add_command`` are listed beside them as usual."""

    def __init__(self, *args, refs: Refs, **kwargs):
        super().__init__(*args, **kwargs)
        self._refs_of = refs

    def refs(self, ctx: click.Context) -> Mapping[str, CommandRef]:
        """The commands by reference, read once per run (extensions' commands included)."""
        key = f"{__name__}.refs.{id(self)}"
        if key not in ctx.meta:
            ctx.meta[key] = dict(self._refs_of())
        return ctx.meta[key]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.refs(ctx)))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        command = super().get_command(ctx, name)
        if command is None and name in self.refs(ctx):
            command = resolve(self.refs(ctx)[name].target)      # imported once: sys.modules keeps it
            from gateway.cli.helptext import localise
            localise(command)                                   # its --help in the run's language
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, from the summaries: listing imports no command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is not None:
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
                continue
            rows.append((name, stand_in(name, self.refs(ctx)[name]).get_short_help_str(limit)))
        from gateway.cli.click_words import gettext as clicks
        with formatter.section(clicks("Commands")):
            formatter.write_dl(rows)
