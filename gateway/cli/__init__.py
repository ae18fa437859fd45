"""``edigate``: the command line (the root group and its commands)."""
from gateway.cli.documents import main

__all__ = ["main"]
