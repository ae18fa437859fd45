"""``edigate partner --channel-setting``: any channel's settings, checked by the channel itself,
so a channel that the tests alone register is chosen and set up from the command line with no
edit to the CLI; and the per-channel options mean the same as the generic one."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.delivery.channel import Channel, ChannelSettingsError, registry


class LoftChannel(Channel):
    """A channel of the tests: one setting, a ring number made of digits."""

    name, label, order = "loft", "Pigeon loft", 95
    settings_keys = ("ring",)

    def validate_settings(self, settings: Mapping[str, Any], *, session: Any = None) -> dict[str, Any]:
        super().validate_settings(settings)
        ring = settings.get("ring")
        if ring is not None and (not isinstance(ring, str) or not ring.isdigit()):
            raise ChannelSettingsError("loft.ring", "a ring number is digits")
        return {"ring": ring} if ring else {}

    def readiness(self, settings: Mapping[str, Any], contact_email: Any) -> Any:
        return None if settings.get("ring") else "the loft channel needs a ring number (loft.ring)"


@pytest.fixture
def loft():
    channel = registry.register(LoftChannel())
    yield channel
    registry.unregister(channel.name)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDIGATE_HOME", str(tmp_path))
    for name in ("EDIGATE_DATABASE_URL", "EDIGATE_JOBS_URL", "EDIGATE_PAYLOAD_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def shown(name: str) -> dict[str, Any]:
    r = run("partner", "show", name, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_a_channel_registered_by_the_tests_is_set_up_from_the_command_line(home, loft) -> None:
    r = run("partner", "add", "Coop", "--channel", "loft", "--channel-setting", "loft.ring=4217")
    assert r.exit_code == 0, r.output
    p = shown("Coop")
    assert (p["channel"], p["channel_settings"]) == ("loft", {"loft": {"ring": "4217"}})

    refused = run("partner", "set", "Coop", "--channel-setting", "loft.ring=ABC")
    assert refused.exit_code == 2 and "loft.ring: a ring number is digits" in refused.output
    unknown = run("partner", "set", "Coop", "--channel-setting", "loft.colour=grey")
    assert unknown.exit_code == 2 and "loft.colour: unknown setting (the loft channel takes: ring)" in unknown.output
    emptied = run("partner", "set", "Coop", "--channel-setting", "loft.ring=")
    assert emptied.exit_code == 2 and "the loft channel needs a ring number" in emptied.output
    assert shown("Coop")["channel_settings"] == {"loft": {"ring": "4217"}}          # refusals wrote nothing


def test_the_generic_option_means_what_the_channel_options_mean(home) -> None:
    r = run("partner", "add", "A", "--channel", "email", "--email-to", "ap@a.example", "--attach", "ubl")
    assert r.exit_code == 0, r.output
    r = run("partner", "add", "B", "--channel", "email", "--channel-setting", 'email.to=["ap@a.example"]',
            "--channel-setting", "email.attach=ubl")
    assert r.exit_code == 0, r.output
    assert shown("A")["channel_settings"] == shown("B")["channel_settings"] == \
        {"email": {"to": ["ap@a.example"], "attach": "ubl"}}


@pytest.mark.parametrize("setting, says", [
    ("ring=1", "expected CHANNEL.KEY=VALUE"),
    ("loft.ring", "expected CHANNEL.KEY=VALUE"),
    ("email.to=[ap@a.example", "the value is not JSON"),
    ("fax.number=1", "'fax' is not one of"),
])
def test_malformed_or_unknown_settings_are_refused(home, setting, says) -> None:
    r = run("partner", "add", "C", "--channel-setting", setting)
    assert r.exit_code == 2 and says in r.output, r.output
    assert run("partner", "list", "--json").stdout.strip() == "[]"
