"""``--help`` in the run's language: the English help texts looked up in the catalogue when shown.

A command's help is its docstring and its options' ``help=``, read by click when the command is
defined, before any language is known; so they are translated when click formats them, not
before. The English text (as click cleans it: ``inspect.cleandoc``, cut at ``\\f``) is the
msgid, under the ``cli help`` context; ``texts()`` lists every one of them for the catalogue's
extraction (``tools/translations.py``), since docstrings carry no ``_()`` mark.

``localise()`` gives a command (its subcommands too) the ``Localised`` behaviour: its
``format_help`` and ``get_short_help_str`` work on a copy whose help texts are in the run's
language. In English the copy reads as the command itself.
"""
from __future__ import annotations

import copy
import inspect
from functools import lru_cache
from typing import Iterator, Optional

import click

CONTEXT = "cli help"


def clean(text: str) -> str:
    """A help text as click shows it (the msgid)."""
    return inspect.cleandoc(text).partition("\f")[0]


def tr(text: Optional[str]) -> Optional[str]:
    """``text`` (a help text) in the run's language; ``None`` stays ``None``."""
    if not text:
        return text
    from gateway import i18n
    from gateway.cli.words import language
    lang, msgid = language(), clean(text)
    return msgid if lang == i18n.SOURCE else i18n.pgettext(lang, CONTEXT, msgid)


def _in_language(command: click.Command) -> click.Command:
    """A shallow copy of ``command`` with its help, short help, epilog and options' help translated."""
    shadow = copy.copy(command)
    shadow.help, shadow.short_help, shadow.epilog = tr(command.help), tr(command.short_help), tr(command.epilog)
    params = []
    for param in command.params:
        if getattr(param, "help", None):
            param = copy.copy(param)
            param.help = tr(param.help)
        params.append(param)
    shadow.params = params
    return shadow


class Localised(click.Command):
    """Mixed in before a command's own class: its help is formatted in the run's language."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super(Localised, _in_language(self)).format_help(ctx, formatter)

    def get_help_option(self, ctx: click.Context) -> Optional[click.Option]:
        """click makes ``--help`` once per command, its help worded in the language of that first
        run: worded again for this one."""
        option = super().get_help_option(ctx)
        if option is not None:
            from gateway.cli.click_words import gettext as clicks
            option.help = clicks("Show this message and exit.")
        return option

    def get_short_help_str(self, limit: int = 45) -> str:
        shadow = copy.copy(self)
        shadow.help, shadow.short_help = tr(self.help), tr(self.short_help)
        return super(Localised, shadow).get_short_help_str(limit)


@lru_cache(maxsize=None)
def _localised_class(cls: type) -> type:
    return type(cls.__name__, (Localised, cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})


def localise(command: click.Command) -> click.Command:
    """``command`` and its subcommands, their help shown in the run's language (the same objects)."""
    if not isinstance(command, Localised):
        command.__class__ = _localised_class(type(command))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            localise(sub)
    return command


def texts(command: click.Command) -> Iterator[str]:
    """Every help text of ``command`` and its subcommands, as msgids (for the catalogue)."""
    for text in (command.help, command.short_help, command.epilog):
        if text and clean(text):
            yield clean(text)
    for param in command.params:
        text = getattr(param, "help", None)
        if text and not getattr(param, "hidden", False) and clean(text):
            yield clean(text)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            if not sub.hidden:
                yield from texts(sub)


__all__ = ["CONTEXT", "clean", "tr", "Localised", "localise", "texts"]
