"""The http deposit channel's template and JSON pointer language: known names only, no code run."""
from __future__ import annotations

import pytest

from gateway.channels import http_deposit_template as tpl
from gateway.delivery.channel import ChannelSettingsError


def test_templates_take_known_values_only_and_braces_escaped() -> None:
    assert tpl.check_template("{number}-{{x}}", "s") == "{number}-{{x}}"
    assert tpl.render("{number}-{{x}}", {"number": "F/1 é"}) == "F/1 é-{x}"
    assert tpl.render("/i?n={number}", {"number": "F/1 é"}, url=True) == "/i?n=F%2F1%20%C3%A9"
    assert tpl.render("{buyer_name}", {}) == ""
    for bad, why in (("{__class__}", "unknown value"), ("{number.__class__}", "lone"), ("{ number }", "lone"),
                     ("a}", "lone"), ("x" * 1001, "at most"), ("{deposit_id}", "unknown value")):
        with pytest.raises(ChannelSettingsError, match=why) as e:
            tpl.check_template(bad, "http.url", allowed=set(tpl.NAMES) - {"deposit_id"})
        assert e.value.setting == "http.url"


def test_pointers_read_and_build_json_within_bounds() -> None:
    answer = {"result": {"errors": [{"message": "a"}, {"message": "b"}], "a/b": {"~": 1}}}
    assert tpl.resolve(answer, "/result/errors/1/message") == "b"
    assert tpl.resolve(answer, "/result/a~1b/~0") == 1
    assert tpl.resolve(answer, "/result/errors/9") is None and tpl.resolve(answer, "/nothing/here") is None
    body: dict = {}
    tpl.place(body, "/content/base64", "QUJD")
    tpl.place(body, "/content/filename", "f.xml")
    assert body == {"content": {"base64": "QUJD", "filename": "f.xml"}}
    for bad in ("id", "/" + "/a" * 9, "/a~2", ""):
        with pytest.raises(ChannelSettingsError):
            tpl.check_pointer(bad, "http.deposit_id")
