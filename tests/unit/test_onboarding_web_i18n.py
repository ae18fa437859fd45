"""The public pages' message catalogue (``onboarding/web/messages.py``) has every message in
every language. The pages speaking the counterparty's language, on a gateway's web app, are
tested in tests/integration/test_onboarding_web_i18n.py."""
from __future__ import annotations

from onboarding.web import messages
from onboarding.web.messages import MESSAGES


def test_every_language_has_every_message() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])


def test_a_format_is_labelled_by_the_catalogue_else_by_its_flavours_summary() -> None:
    from gateway.syntaxes import flavour
    from onboarding.web.channel_forms.base import offered_formats
    assert offered_formats() == ["ubl", "cii", "facturx", "edifact-d96a", "edifact-d01b"]
    labels = messages.format_labels("fr", ["facturx", "edifact-d97a", "nonsense"])
    assert labels == {"facturx": "Factur-X (PDF avec le XML CII intégré)",
                      "edifact-d97a": flavour("edifact-d97a").summary, "nonsense": "nonsense"}
    assert messages.format_labels("en", ["facturx"]) == {"facturx": "Factur-X (PDF with embedded CII XML)"}
    assert all(f"fmt_{f}" in messages.MESSAGES[lang] for f in offered_formats() for lang in messages.LANGUAGES)
