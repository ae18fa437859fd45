"""connectors (see DESIGN.md)."""
