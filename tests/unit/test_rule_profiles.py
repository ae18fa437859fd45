"""Validation profiles as data: rule sets, profiles.yaml, and every place a verdict names its profile.

The shipped profiles are read from gateway/rules/profiles.yaml. The tests that
need a profile of their own point the profiles file at a copy holding the
shipped entries plus the tests' ones (``example``: EN 16931 + the rule set of
tests/support/example_rule_set.py; ``nowhere``: a rule set whose module does
not exist), as a national rule set would be added. A partner's profile, the pipeline using it and
the API and pages naming it, on a gateway, are tested in tests/integration/test_rule_profiles.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.rules import (RULE_SETS, RULES, ProfileError, RuleSetUnavailableError, UnknownProfileError,
                           get_profile, profile_names, validate)
from gateway.rules import profiles as profiles_module
from gateway.rules.profiles import check_profile_name
from tests.support.invoice_builder import build_invoice


# --- the shipped profiles ----------------------------------------------------------------------

def test_the_shipped_profiles_are_those_the_gateway_promises() -> None:
    assert profile_names()[:4] == ("en16931", "peppol", "fr", "fr-extended")
    assert get_profile().name == "en16931"
    assert get_profile("en16931").set_names() == ("en16931",)
    assert get_profile("peppol").set_names() == ("en16931", "peppol")
    assert get_profile("fr").set_names() == ("en16931", "fr")
    assert get_profile("fr-extended").set_names()[-2:] == ("fr", "fr-extended")
    for p in profiles_module.profiles().values():
        assert p.label("en") and p.label("fr"), p.name
        for use in p.rule_sets:
            assert profiles_module.rule_set_info(use.name).module


def test_the_default_profile_is_the_en16931_rules_as_before() -> None:
    inv = build_invoice()
    inv.totals.amount_due += 1
    inv.number = None
    default, named = validate(inv, strict=True), validate(inv, profile="en16931", strict=True)
    assert [(f.rule, f.path) for f in default] == [(f.rule, f.path) for f in named]
    assert {f.rule for f in default} == {"BR-02", "BR-CO-16"}
    assert {f.rule_set for f in default} == {"en16931"}
    assert all(f.as_dict()["rule_set"] == "en16931" for f in default)
    assert all(r.rule_set == "en16931" for r in RULES.values()) and RULES is RULE_SETS["en16931"]


def test_an_unknown_profile_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownProfileError) as e:
        validate(build_invoice(), profile="pepol")
    assert str(e.value) == "unknown profile 'pepol'; choose one of " + ", ".join(profile_names())
    with pytest.raises(ProfileError):
        check_profile_name("pepol")
    assert check_profile_name("  PEPPOL ", usable=False) == "peppol"


def test_findings_other_than_rules_carry_no_rule_set() -> None:
    from gateway.model.findings import Finding
    assert "rule_set" not in Finding("XSD", "bad").as_dict()


# --- profiles of the tests' own ------------------------------------------------------------------

@pytest.fixture
def example_profiles(tmp_path: Path):
    """The shipped profiles plus ``example``, ``example-ubl``, ``nowhere`` and ``silent``."""
    doc = yaml.safe_load(profiles_module.PROFILES_FILE.read_text(encoding="utf-8"))
    doc["rule_sets"].update({
        "example": {"module": "tests.support.example_rule_set", "label": {"en": "Example rules"}},
        "nowhere": {"module": "tests.support.no_such_rule_set", "label": {"en": "Rules nobody wrote"}},
        "silent": {"module": "tests.support.invoice_builder", "label": {"en": "A module registering nothing"}},
    })
    doc["profiles"].update({
        "example": {"label": {"en": "Example", "fr": "Exemple"}, "rule_sets": ["en16931", "example"]},
        "example-ubl": {"label": {"en": "Example, UBL only"},
                        "rule_sets": ["en16931", {"set": "example", "syntaxes": ["ubl"], "without": ["EX-02"]}]},
        "nowhere": {"label": {"en": "Nowhere"}, "rule_sets": ["en16931", "nowhere"]},
        "silent": {"label": {"en": "Silent"}, "rule_sets": ["en16931", "silent"]},
    })
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    shipped = profiles_module.PROFILES_FILE
    profiles_module.PROFILES_FILE = path
    profiles_module.reload()
    try:
        yield path
    finally:
        profiles_module.PROFILES_FILE = shipped
        profiles_module.reload()


def _unreferenced():
    inv = build_invoice()
    inv.buyer_reference = None
    inv.notes = []
    return inv


def _referenced():
    from gateway.model.invoice import InvoiceNote
    inv = build_invoice()
    inv.buyer_reference = "PO-4711"
    inv.notes = [InvoiceNote(note="Thank you")]
    return inv


def test_a_profile_applies_its_rule_sets_and_each_finding_names_its_set(example_profiles) -> None:
    inv = _unreferenced()
    assert not validate(inv, strict=True)
    found = validate(inv, profile="example", strict=True)
    assert [(f.rule, f.rule_set, f.severity) for f in found] == [
        ("EX-01", "example", "fatal"), ("EX-02", "example", "warning")]
    assert found[0].path == "buyer_reference" and found[0].terms == ("BT-10",)


def test_a_later_rule_set_redefines_a_rule_of_the_same_id(example_profiles) -> None:
    inv = build_invoice()
    inv.number = "0"
    assert not [f for f in validate(inv, strict=True) if f.rule == "BR-02"]     # EN 16931: a number is a number
    redefined = [f for f in validate(inv, profile="example", strict=True) if f.rule == "BR-02"]
    assert [(f.rule_set, f.message) for f in redefined] == [("example", "BR-02: the invoice number is missing or 0")]
    inv.number = None                   # fires once, from the set that redefines it, not from both
    assert [f.rule_set for f in validate(inv, profile="example", strict=True) if f.rule == "BR-02"] == ["example"]


def test_a_rule_set_bound_to_a_syntax_is_left_out_elsewhere_and_says_so(example_profiles) -> None:
    inv = _unreferenced()
    on_ubl = validate(inv, profile="example-ubl", syntax="ubl", strict=True)
    assert [f.rule for f in on_ubl] == ["EX-01"]            # EX-02 is left out by the profile
    on_cii = validate(inv, profile="example-ubl", syntax="cii", strict=True)
    assert [(f.rule, f.severity, f.rule_set) for f in on_cii] == [("PROFILE-SYNTAX", "warning", "example")]
    assert "applies to ubl documents; not applied to this cii document" in on_cii[0].message


def test_a_profile_naming_a_rule_set_nobody_registers_says_so_when_used(example_profiles) -> None:
    p = get_profile("nowhere")                                # reading the profiles does not fail
    assert p.unavailable() == ["rule set 'nowhere' is not available: its module tests.support.no_such_rule_set "
                               "is not installed"]
    with pytest.raises(RuleSetUnavailableError, match="profile 'nowhere' cannot be used: rule set 'nowhere'"):
        validate(build_invoice(), profile="nowhere")
    with pytest.raises(RuleSetUnavailableError, match="tests.support.invoice_builder registers no rule"):
        validate(build_invoice(), profile="silent")
    with pytest.raises(RuleSetUnavailableError, match="cannot be used yet"):
        check_profile_name("nowhere")


@pytest.mark.parametrize("text, problem", [
    ("profiles: {en16931: {label: {en: E}, rule_sets: [en16931]}, x: {label: {en: X}, rule_sets: [nope]}}\n"
     "rule_sets: {en16931: {module: gateway.rules, label: {en: E}}}", "rule set 'nope' is not declared"),
    ("profiles: {x: {label: {en: X}, rule_sets: [en16931]}}\n"
     "rule_sets: {en16931: {module: gateway.rules, label: {en: E}}}", "the default profile 'en16931' is missing"),
    ("profiles: {en16931: {label: {fr: E}, rule_sets: [en16931]}}\n"
     "rule_sets: {en16931: {module: gateway.rules, label: {en: E}}}", "label must be a mapping"),
    ("profiles: {en16931: {label: {en: E}, rule_sets: [{set: en16931, syntaxes: [xml]}]}}\n"
     "rule_sets: {en16931: {module: gateway.rules, label: {en: E}}}", "syntaxes are among"),
])
def test_a_wrong_profiles_file_is_refused_naming_the_problem(tmp_path, monkeypatch, text, problem) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(profiles_module, "PROFILES_FILE", path)
    profiles_module.reload()
    try:
        with pytest.raises(ValueError, match=problem):
            profile_names()
    finally:
        monkeypatch.undo()
        profiles_module.reload()


# --- the command line ------------------------------------------------------------------------------

def _cli(*args):
    from gateway.cli import main
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    from gateway.syntaxes import write_document
    good = tmp_path / "good.xml"
    good.write_bytes(write_document(_referenced(), "ubl").data)
    unreferenced = tmp_path / "unreferenced.xml"
    unreferenced.write_bytes(write_document(_unreferenced(), "ubl").data)
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<Invoice")
    return good, unreferenced, broken


def test_validate_profile_exit_codes(files, example_profiles) -> None:
    good, unreferenced, broken = files
    r = _cli("validate", unreferenced)
    assert r.exit_code == 0 and "(profile" not in r.output            # the default's report as it always was
    assert json.loads(_cli("validate", "--json", unreferenced).stdout)[0]["profile"] == "en16931"
    r = _cli("validate", "--profile", "example", good)
    assert r.exit_code == 0 and "PASS" in r.output and "warning" not in r.output, r.output
    r = _cli("validate", "--profile", "example", unreferenced)
    assert r.exit_code == 1 and "[fatal] example:EX-01 (BT-10)" in r.output and "(profile example)" in r.output
    r = _cli("validate", "--profile", "example", "--json", unreferenced)
    (report,) = json.loads(r.stdout)
    assert report["profile"] == "example" and report["valid"] is False
    assert {(f["rule"], f["rule_set"]) for f in report["findings"]} >= {("EX-01", "example")}
    assert _cli("validate", "--profile", "example", broken).exit_code == 2
    r = _cli("validate", "--profile", "pepol", good)
    assert r.exit_code == 2 and "unknown profile 'pepol'; choose one of" in r.output
    r = _cli("validate", "--profile", "nowhere", good)
    assert r.exit_code == 3 and "rule set 'nowhere' is not available" in r.output


def test_translate_checks_the_source_with_the_profile(files, example_profiles, tmp_path) -> None:
    _, unreferenced, _ = files
    assert _cli("translate", unreferenced, "--to", "cii", "-o", tmp_path / "a.xml").exit_code == 0
    r = _cli("translate", unreferenced, "--to", "cii", "--profile", "example", "-o", tmp_path / "b.xml")
    assert r.exit_code == 1
    assert "the source breaks the example profile: [fatal] example:EX-01" in r.output
    assert (tmp_path / "b.xml").is_file()           # written all the same, as for EN 16931 findings
    assert _cli("translate", unreferenced, "--to", "cii", "--profile", "pepol").exit_code == 2
