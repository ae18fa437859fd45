"""The Invoice Response syntax on its own: what it refuses to write and to read, its bounds, and the
life-cycle mapping's data checks (the official judges are in tests/conformance)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from gateway.model.errors import InputError
from gateway.rules import peppol_t111
from gateway.syntaxes import invoice_response as ir
from gateway.syntaxes.invoice_response import Clarification, InvoiceResponse, IrParty

AT = datetime(2026, 9, 2, 10, 30, tzinfo=timezone.utc)
BUYER = IrParty("7330001000000", "0088", name="Buyer")
SELLER = IrParty("5798000012349", "0088", name="Seller")


def response(**kw) -> InvoiceResponse:
    values = dict(response_code="AP", invoice_number="F1", sender=BUYER, receiver=SELLER, id="R1",
                  issue_date=date(2026, 9, 2))
    values.update(kw)
    return InvoiceResponse(**values)


@pytest.mark.parametrize("change, says", [
    (dict(response_code="ZZ"), "response code 'ZZ'"),
    (dict(response_code="RE"), "needs a clarification code"),
    (dict(id=None), "own identifier"),
    (dict(invoice_number=" "), "invoice number"),
    (dict(sender=IrParty(name="Buyer")), "sender's electronic address"),
    (dict(receiver=IrParty("1", "0088")), "receiver's registration name"),
    (dict(clarifications=(Clarification("NOPE"),)), "clarification 'NOPE'"),
    (dict(clarifications=(Clarification("PPD", reason="half"),)), "PPD"),
    (dict(clarifications=(Clarification("NOA", ir.ACTION_LIST, conditions=(("", "x"),)),)), "AttributeID"),
])
def test_what_would_break_the_rules_is_not_written(change, says) -> None:
    with pytest.raises(ValueError, match=says):
        ir.build_invoice_response(response(**change))


def test_what_is_written_keeps_the_rules_and_reads_back() -> None:
    r = response(response_code="PD", clarifications=(Clarification("PPD", reason="half of it"),),
                 invoice_date=date(2026, 9, 1), note="n")
    data = ir.build_invoice_response(r)
    assert peppol_t111.validate(data) == []
    back = ir.read_invoice_response(data)
    assert (back.response_code, back.reason_codes, back.reason, back.status(), back.invoice_date) == (
        "PD", ["PPD"], "half of it", "payment_sent", date(2026, 9, 1))


def test_what_is_not_an_invoice_response_is_refused() -> None:
    data = ir.build_invoice_response(response())
    with pytest.raises(InputError, match="CustomizationID is not"):
        ir.read_invoice_response(data.replace(b"trns:invoice_response:3", b"trns:mlr:3"))
    with pytest.raises(InputError, match="root element is Invoice"):
        ir.read_invoice_response(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>')
    with pytest.raises(InputError, match="about no invoice"):
        ir.read_invoice_response(data.replace(b"<cbc:ID>F1</cbc:ID>", b""))
    with pytest.raises(InputError, match="not a date"):
        ir.read_invoice_response(data.replace(b"2026-09-02", b"02/09/2026"))
    with pytest.raises(InputError):                                   # no DTD
        ir.read_invoice_response(b'<!DOCTYPE x [<!ENTITY e "e">]>' + data.split(b"?>", 1)[1])
    many = data.replace(b"</cbc:ResponseCode>", b"</cbc:ResponseCode>" + b"<cac:Status/>" * (ir.MAX_STATUSES + 1))
    with pytest.raises(InputError, match="more than"):
        ir.read_invoice_response(many)
    with pytest.raises(InputError):
        ir.read_invoice_response(b" " * (ir.MAX_BYTES + 1))
    assert ir.is_invoice_response_bytes(data) and not ir.is_invoice_response_bytes(b"<CrossDomain...")


def test_the_mapping_is_checked_against_the_life_cycle() -> None:
    spec = ir.spec()
    assert set(spec["actions"]) == {"NOA", "PIN", "NIN", "CNF", "CNP", "CNA", "OTH"}
    assert ir.status_for("ZZ") is None and ir.response_for("deposited") is None
    assert ir.peppol_reason("DEST_INC") == "REC" and ir.peppol_reason("JUSTIF_ABS") is None
    assert ir.our_reason("PPD") is None and ir.our_reason("OTH") == "AUTRE"


def test_edigate_validate_judges_an_invoice_response_by_the_t111_rules(tmp_path) -> None:
    from click.testing import CliRunner

    from gateway.cli import main
    good = tmp_path / "good.xml"
    good.write_bytes(ir.build_invoice_response(response()))
    bad = tmp_path / "bad.xml"
    bad.write_bytes(good.read_bytes().replace(b">380<", b">9999<"))
    r = CliRunner().invoke(main, ["validate", str(good)])
    assert r.exit_code == 0 and "PASS" in r.output and "invoice-response" in r.output, r.output
    r = CliRunner().invoke(main, ["validate", str(bad)])
    assert r.exit_code == 1 and "PEPPOL-T111-B04201" in r.output, r.output
