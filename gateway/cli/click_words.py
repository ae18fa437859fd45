"""click's own words (usage errors, ``Usage:``, ``Options``, ``--help``'s line) in the run's language.

click marks its messages with the standard library's ``gettext`` (``from gettext import gettext
as _`` in each of its modules) and ships no translations. ``install()`` points those names, in
click's modules only, at our catalogue: each message click says is looked up under the
``click`` context (``MESSAGES`` marks the ones a user of ``edigate`` can meet), in the language
of the run (``gateway.cli.words.language``); an English run, or a message not listed, reads as
click wrote it. Only the command line installs it (``gateway.cli.main``).
"""
from __future__ import annotations

import importlib

from gateway.i18n import NP_

CONTEXT = "click"

# what a user can read from click; its messages for programmers (bad declarations) stay English
MESSAGES = (
    NP_("click", "Aborted!"),
    NP_("click", "deprecated"),
    NP_("click", "Options"),
    NP_("click", "Positional arguments"),
    NP_("click", "Commands"),
    NP_("click", "Got unexpected extra argument ({args})"),
    NP_("click", "Got unexpected extra arguments ({args})"),
    NP_("click", "Missing command."),
    NP_("click", "Takes {nargs} values but 1 was given."),
    NP_("click", "Takes {nargs} values but {len} were given."),
    NP_("click", "env var: {var}"),
    NP_("click", "default: {default}"),
    NP_("click", "(dynamic)"),
    NP_("click", "required"),
    NP_("click", "Do you want to continue?"),
    NP_("click", "Confirm the action without prompting."),
    NP_("click", "%(prog)s, version %(version)s"),
    NP_("click", "Show the version and exit."),
    NP_("click", "Show this message and exit."),
    NP_("click", "Did you mean {possibility}?"),
    NP_("click", "(Did you mean one of: {possibilities}?)"),
    NP_("click", "Error: {message}"),
    NP_("click", "Try '{command} {option}' for help."),
    NP_("click", "Invalid value: {message}"),
    NP_("click", "Invalid value for {param_hint}: {message}"),
    NP_("click", "Missing argument"),
    NP_("click", "Missing option"),
    NP_("click", "Missing parameter"),
    NP_("click", "Missing {param_type}"),
    NP_("click", "Missing parameter: {param_name}"),
    NP_("click", "No such option {name!r}."),
    NP_("click", "No such command {name!r}."),
    NP_("click", "unknown error"),
    NP_("click", "Could not open file {filename!r}: {message}"),
    NP_("click", "Usage:"),
    NP_("click", "Argument {name!r} takes {nargs} values."),
    NP_("click", "Option {name!r} does not take a value."),
    NP_("click", "Option {name!r} requires an argument."),
    NP_("click", "Option {name!r} requires {nargs} arguments."),
    NP_("click", "Repeat for confirmation"),
    NP_("click", "Error: The two entered values do not match."),
    NP_("click", "Error: invalid input"),
    NP_("click", "Press any key to continue..."),
    NP_("click", "Choose from:\n\t{choices}"),
    NP_("click", "{value!r} is not {choice}."),
    NP_("click", "{value!r} is not one of {choices}."),
    NP_("click", "{value!r} does not match the format {format}."),
    NP_("click", "{value!r} does not match the formats {formats}."),
    NP_("click", "{value!r} is not a valid {number_type}."),
    NP_("click", "{value} is not in the range {range}."),
    NP_("click", "{value!r} is not a valid boolean. Recognized values: {states}"),
    NP_("click", "{value!r} is not a valid UUID."),
    NP_("click", "file"),
    NP_("click", "directory"),
    NP_("click", "path"),
    NP_("click", "{name} {filename!r} does not exist."),
    NP_("click", "{name} {filename!r} is a file."),
    NP_("click", "{name} {filename!r} is a directory."),
    NP_("click", "{name} {filename!r} is not readable."),
    NP_("click", "{name} {filename!r} is not writable."),
    NP_("click", "{name} {filename!r} is not executable."),
    NP_("click", "{len_type} values are required, but {len_value} was given."),
    NP_("click", "{len_type} values are required, but {len_value} were given."),
)

# click's modules that say something to a user
MODULES = ("click.core", "click.decorators", "click.exceptions", "click.formatting", "click.parser",
           "click.termui", "click.types", "click.utils")


def gettext(message: str) -> str:
    """``message`` (one of click's) in the run's language; as click wrote it when not translated."""
    from gateway import i18n
    from gateway.cli.words import language
    lang = language()
    return message if lang == i18n.SOURCE else i18n.pgettext(lang, CONTEXT, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` (each form a message of its own in ``MESSAGES``; French takes 0 as singular)."""
    from gateway.cli.words import language
    one = n == 1 or (n == 0 and language() == "fr")
    return gettext(singular if one else plural)


def install() -> None:
    """click's ``_`` and ``ngettext`` read our catalogue from now on, in this process."""
    for name in MODULES:
        module = importlib.import_module(name)
        if getattr(module, "_", None) is not None:
            module._ = gettext            # type: ignore[attr-defined]
        if getattr(module, "ngettext", None) is not None:
            module.ngettext = ngettext    # type: ignore[attr-defined]


__all__ = ["CONTEXT", "MESSAGES", "gettext", "ngettext", "install"]
