"""What the pages put in front of a person: plain reasons (no program's words, no secrets),
findings arranged to be read, amounts in the invoice's precision, times in a time zone."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from gateway.web.kit.display import amount, when
from gateway.web.kit.plain import explain, mask
from gateway.web.operator.findings import arrange, clean_message

RECORDED = [
    ("cannot build the AS2 message: ValueError: partner Initech has no AS2 URL",
     "The partner's channel settings are incomplete."),
    ("AS2 POST to https://as2.acme.example/receive: HTTPConnectionPool(host='as2.acme.example', port=443): "
     "Max retries exceeded with url: /receive (Caused by NewConnectionError('Connection refused'))",
     "The partner's server could not be reached."),
    ("internal error while reading: KeyError: 'BT-1'", "The gateway could not process this file"),
    ("unreadable in notes.txt: not a document edigate recognises", "The file could not be read as an invoice."),
    ("2 document(s), none valid: 3 fatal finding(s), first BR-CO-10: sum", "None of the invoices in this file"),
    ("TypeError: unsupported operand type(s) for +: 'NoneType' and 'Decimal'", "Something failed"),
]


@pytest.mark.parametrize("reason, what", RECORDED)
def test_a_recorded_reason_is_told_plainly(reason, what) -> None:
    plain = explain(reason)
    assert plain.what.startswith(what)
    assert "Error" not in plain.what + plain.todo and "HTTPConnectionPool" not in plain.what + plain.todo
    assert plain.todo                                   # and what to do
    assert plain.detail == reason                       # the recorded text, one click away


def test_our_own_sentences_are_shown_as_they_are() -> None:
    plain = explain("pipeline crashed")
    assert (plain.what, plain.todo, plain.detail) == ("pipeline crashed", "", None)
    assert explain(None) is None and explain("  ") is None


def test_secrets_never_reach_the_page() -> None:
    text = ("POST https://erp:s3cret-pass@erp.example/api?token=abc123def456 failed; Authorization: Bearer "
            "eyJhbGciOiJIUzI1NiJ9.payload.sig; password=hunter22; edg_AbCdEfGh12345678")
    masked = mask(text)
    for secret in ("s3cret-pass", "abc123def456", "eyJhbGciOiJIUzI1NiJ9", "hunter22", "AbCdEfGh12345678"):
        assert secret not in masked, secret
    assert "erp.example/api" in masked
    assert "s3cret" not in explain("ConnectionError: " + text).detail


def test_findings_fatal_first_warnings_grouped() -> None:
    findings = [{"rule": "READ-UNMAPPED", "severity": "warning", "message": f"value {i}"} for i in range(112)]
    findings.insert(60, {"rule": "BR-CO-10", "severity": "fatal", "message": "[BR-CO-10]-Sum of line net amounts"})
    findings.append({"rule": "BR-FR-12", "severity": "warning", "message": "BR-FR-12: the buyer's SIREN"})
    arranged = arrange(findings)
    assert [f["rule"] for f in arranged.fatal] == ["BR-CO-10"]
    assert arranged.fatal[0]["message"] == "Sum of line net amounts"
    assert [(g.rule, g.count) for g in arranged.warnings] == [("READ-UNMAPPED", 112), ("BR-FR-12", 1)]
    assert arranged.warnings[1].message == "The buyer's SIREN" and arranged.total == 114


def test_a_message_keeps_a_rule_id_it_only_mentions() -> None:
    assert clean_message("BR-CO-10", "Unlike BR-CO-10 says, the sum…") == "Unlike BR-CO-10 says, the sum…"


@pytest.mark.parametrize("value, currency, shown", [
    (Decimal("120.0000"), "EUR", "120.00"), (Decimal("15.5050"), "EUR", "15.505"), (Decimal("1200.0000"), "JPY", "1,200"),
    (Decimal("1.2340"), "KWD", "1.234"), (Decimal("7"), None, "7.00"), (None, "EUR", "—"),
])
def test_amounts_in_the_invoice_precision(value, currency, shown) -> None:
    assert amount(value, currency) == shown


def test_times_in_paris_by_default_outside_a_request() -> None:
    assert when(datetime(2025, 7, 1, 8, 0, tzinfo=timezone.utc)) == "2025-07-01 10:00:00 CEST"
    assert when(datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)) == "2025-01-06 10:00:00 CET"
