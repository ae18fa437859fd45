"""The administration commands (``edigate partner``, ``edigate cert``, ``edigate org``), one
module per group plus what they share (``common``). ``gateway.admin_cli`` is the entry point
the main command line registers; see it for the overview and the exit codes."""
