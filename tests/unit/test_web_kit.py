"""The web kit's pieces that need no app: where a login may send someone back to.

The kit inside an app (every error handler and login view is the kit's) is checked in
tests/integration/test_web_kit.py, on a gateway's app."""
from __future__ import annotations

import pytest

from gateway.web.kit.login import safe_next


@pytest.mark.parametrize("target, expected", [
    ("/exchanges?status=failed", "/exchanges?status=failed"),
    ("/", "/"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("/\t/evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("exchanges", "/"),
    ("", "/"),
    (None, "/"),
])
def test_safe_next(target, expected) -> None:
    assert safe_next(target) == expected
