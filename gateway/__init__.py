"""edigate: an e-invoicing interchange gateway."""

__version__ = "0.1.0"
