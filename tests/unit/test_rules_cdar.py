"""FNFE-MPE's CDAR rules in Python (rule set fr-cdar, gateway.rules.cdar) on messages we build, and
``edigate validate`` on CDAR messages: exit 0 valid, 1 a rule broken (named, with its place), 2
unreadable."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.rules import cdar as rules
from gateway.syntaxes import cdar
from gateway.syntaxes.cdar import CdarParty, StatusChange

SELLER = CdarParty("100000009", "0002", "VENDEUR", "SE", "100000009_STATUTS", "0225")
BUYER = CdarParty("200000008", "0002", "ACHETEUR", "BY", "200000008_STATUTS", "0225")
AT = datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc)


def message(status: str = "disputed", **kw) -> bytes:
    values = dict(status=status, at=AT, invoice_number="F2026-001", invoice_date=date(2026, 9, 1), seller=SELLER,
                  recipients=(SELLER,), issuer=BUYER, reason_code="QTE_ERR" if status == "disputed" else None)
    values.update(kw)
    return cdar.build_cdar(StatusChange(**values))


def fired(data: bytes) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in rules.validate(data):
        out[f.rule] = out.get(f.rule, 0) + 1
    return out


def test_our_messages_keep_the_rules() -> None:
    for status in ("deposited", "received", "disputed", "accepted", "payment_sent"):
        assert rules.validate(message(status)) == []


@pytest.mark.parametrize("old, new, expected", [
    (b"<ram:ReasonCode>QTE_ERR</ram:ReasonCode>", b"", {"BR-FR-CDV-15_MDT-113": 1}),
    (b">QTE_ERR<", b">REJ_SEMAN<", {"BR-FR-CDV-CL-09_MDT-113_207": 1}),
    (b">QTE_ERR<", b">NOPE<", {"BR-FR-CDV-CL-09_MDT-113": 1, "BR-FR-CDV-CL-09_MDT-113_207": 1}),
    (b"<ram:TypeCode>23</ram:TypeCode>", b"<ram:TypeCode>305</ram:TypeCode>",
     {"BR-FR-CDV-CL-03_MDT-40_305": 1, "BR-FR-CDV-CL-05_MDT-88_305": 1}),
    (b"<ram:TypeCode>23</ram:TypeCode>", b"<ram:TypeCode>42</ram:TypeCode>", {"BR-FR-CDV-09_MDT-77": 1}),
    (b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCode>999</ram:TypeCode>", {"BR-FR-04_MDT-91": 1}),
    (b">207</ram:ProcessConditionCode>", b">299</ram:ProcessConditionCode>", {"BR-FR-CDV-CL-06_MDT-105": 1}),
    (b"<ram:SequenceNumeric>1</ram:SequenceNumeric>", b"", {"BR-FR-CDV-16_MDT-124-2": 1}),
    (b">REGULATED<", b">B2B<", {"BR-FR-CDV-CL-01_MDT-2": 1}),
    (b">urn.cpro.gouv.fr:1p0:CDV:invoice<", b">urn:other<", {"BR-FR-CDV-02_MDT-3": 1}),
    (b"<ram:RoleCode>BY</ram:RoleCode>", b"<ram:RoleCode>WK</ram:RoleCode>", {"BR-FR-CDV-CL-03_MDT-40_23": 1}),
    (b"<ram:RoleCode>SE</ram:RoleCode>", b"<ram:RoleCode>XX</ram:RoleCode>", {"BR-FR-CDV-CL-04_MDT-59": 1}),
    (b'<ram:URIID schemeID="0225">100000009_STATUTS</ram:URIID>', b"", {"BR-FR-CDV-08_MDT-73": 1}),
    (b"<ram:StatusCode>46</ram:StatusCode>", b"<ram:StatusCode>10</ram:StatusCode>", {"BR-FR-CDV-CL-05_MDT-88_23": 1}),
])
def test_one_change_breaks_the_rule_it_is_about(old: bytes, new: bytes, expected: dict) -> None:
    data = message()
    assert old in data
    assert fired(data.replace(old, new, 1)) == expected


def test_a_finding_says_where() -> None:
    data = message().replace(b">QTE_ERR<", b">REJ_SEMAN<")
    [f] = rules.validate(data)
    assert f.rule_set == "fr-cdar" and f.fatal
    assert f.location.endswith("/ram:SpecifiedDocumentStatus/ram:ReasonCode")
    assert data.splitlines()[f.line - 1].strip().startswith(b"<ram:ReasonCode>REJ_SEMAN")
    assert "REJ_SEMAN" in f.message and "207 (En litige)" in f.message


def test_status_lists_are_warnings() -> None:
    [f] = rules.validate(message().replace(b">207</ram:ProcessConditionCode>", b">299</ram:ProcessConditionCode>"))
    assert not f.fatal


def test_a_public_buyers_refusal() -> None:
    chorus = CdarParty("9999", "0238", "CHORUS PRO")
    data = message("refused", reason_code="RETRAIT_MAN_SERV", sender=chorus)
    assert rules.validate(data) == []
    other = data.replace(b">RETRAIT_MAN_SERV<", b">REJ_SEMAN<")
    assert fired(other) == {"BR-FR-CDV-CL-09_MDT-113_210B2G": 1}
    # the stylesheet's own reading: a sender with any identifier but Chorus Pro's breaks the B2G rule
    b2b = message("refused", reason_code="DOUBLON", sender=CdarParty("123456789", "0002"))
    assert fired(b2b) == {"BR-FR-CDV-CL-09_MDT-113_210B2G": 1}


def test_the_rules_the_stylesheet_cannot_fire_are_not_ours() -> None:
    assert not set(rules.NEVER_FIRE) & set(rules.RULES)
    assert len(rules.RULES) == 36


def test_where_the_stylesheet_stops() -> None:
    ppf = message("deposited", issuer=None, to_ppf=True)
    twice = ppf.replace(b"<ram:GuidelineSpecifiedDocumentContextParameter>",
                        b"<ram:BusinessProcessSpecifiedDocumentContextParameter><ram:ID>A</ram:ID><ram:ID>B</ram:ID>"
                        b"</ram:BusinessProcessSpecifiedDocumentContextParameter>"
                        b"<ram:GuidelineSpecifiedDocumentContextParameter>")
    assert [f.rule for f in rules.validate(twice)] == ["CDAR-UNREADABLE"]


# --- edigate validate ------------------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_edigate_validate_on_cdar_messages(tmp_path: Path) -> None:
    good, bad, broken = tmp_path / "cdv-207.xml", tmp_path / "cdv-213.xml", tmp_path / "cdv-cut.xml"
    good.write_bytes(b"\xef\xbb\xbf" + message())
    bad.write_bytes(message("rejected", issuer=None, reason_code="REJ_SEMAN").replace(b">REJ_SEMAN<", b">AUTRE<"))
    broken.write_bytes(message()[:400])
    r = run("validate", good)
    assert r.exit_code == 0, r.output
    assert f"PASS  {good} (cdar)" in r.output and "(profile" not in r.output.splitlines()[0]
    r = run("validate", bad)
    assert r.exit_code == 1
    assert "[fatal] fr-cdar:BR-FR-CDV-CL-09_MDT-113_213: reason code 'AUTRE' is not one status 213 (Rejetée) takes" \
        in r.output
    assert "@ /rsm:CrossDomainAcknowledgementAndResponse/rsm:AcknowledgementDocument/" in r.output
    assert "(line " in r.output
    r = run("validate", broken)
    assert r.exit_code == 2 and f"ERROR {broken}: Malformed XML" in r.output
    r = run("validate", "--json", good, bad)
    assert r.exit_code == 1
    docs = json.loads(r.stdout)
    assert [(d["syntax"], d["profile"], d["valid"], d["invoice"]) for d in docs] == [
        ("cdar", "fr-cdar", True, "F2026-001"), ("cdar", "fr-cdar", False, "F2026-001")]
    assert {f["rule"] for f in docs[1]["findings"]} == {"BR-FR-CDV-CL-09_MDT-113_213"}
