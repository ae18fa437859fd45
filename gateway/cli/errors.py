"""Exit codes and refusals shared by every ``edigate`` command.

0 done; 1 problems found (a check failed, a send failed); 2 bad input, refused with
nothing written (also click's usage errors); 3 setup problem (a setting cannot be used).
"""
from __future__ import annotations

import click

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT, EXIT_SETUP = 0, 1, 2, 3


class BadInput(click.ClickException):
    """Refused input: the message says what and why; the command's transaction is rolled back."""
    exit_code = EXIT_BAD_INPUT


class SetupError(click.ClickException):
    """A setting that cannot be used (``EDIGATE_*``): nothing was done."""
    exit_code = EXIT_SETUP
