"""Headless Chromium for the page tests: Playwright driving Debian's ``chromium`` (no browser download).

    def test_login(page, live_url):             # fixtures registered in tests/conftest.py
        page.goto(live_url + "/login") ...

The flags keep Chromium off the network (this machine has none beyond
loopback) and out of any user profile. Tests skip cleanly when Chromium or
Playwright is not installed (``make test`` installs both).
"""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("EDIGATE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (own cookies) and page; downloads accepted."""
    context = browser.new_context(accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(15_000)
    try:
        yield p
    finally:
        context.close()
