"""onboarding (see DESIGN.md)."""
