"""The public pages' message catalogue (``onboarding/web/messages.py``) has every message in
every language. The pages speaking the counterparty's language, on a gateway's web app, are
tested in tests/integration/test_onboarding_web_i18n.py."""
from __future__ import annotations

from onboarding.web.messages import MESSAGES


def test_every_language_has_every_message() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])
