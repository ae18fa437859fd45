"""Exit codes and refusals shared by every ``edigate`` command.

0 done; 1 problems found (a check failed, a send failed); 2 bad input, refused with
nothing written (also click's usage errors); 3 setup problem (a setting cannot be used).
Each refusal is shown as ``Error: …`` in the reader's language (``gateway.cli.words``).
"""
from __future__ import annotations

from typing import IO, Any, Optional

import click

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT, EXIT_SETUP = 0, 1, 2, 3


class _Worded(click.ClickException):
    """Shown as click shows its exceptions, ``Error:`` included, in the run's language."""

    def show(self, file: Optional[IO[Any]] = None) -> None:
        from gateway.cli.words import _
        click.echo(_("Error: %(message)s", message=self.format_message()), file=file, err=file is None)


class Failed(_Worded):
    """Something asked for is not there or could not be done (exit 1)."""
    exit_code = EXIT_PROBLEMS


class BadInput(_Worded):
    """Refused input: the message says what and why; the command's transaction is rolled back."""
    exit_code = EXIT_BAD_INPUT


class SetupError(_Worded):
    """A setting that cannot be used (``EDIGATE_*``): nothing was done."""
    exit_code = EXIT_SETUP
