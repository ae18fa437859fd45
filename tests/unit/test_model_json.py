"""The JSON form of the EN 16931 model (``gateway.model.json_form``) on its own: lossless both
ways, every key a documented path naming its business term, and refusals that say where.
The ERP pull API that hands it out is tested on a gateway in tests/integration/test_erp_pull.py."""
from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal

import pytest

from gateway.model.invoice import (BinaryObject, Identifier, InvoiceNote, LineAllowance, PaymentInstructions,
                                   CreditTransfer, PrecedingInvoiceReference, SupportingDocument)
from gateway.model.json_form import ModelJsonError, from_dict, term_paths, to_dict

from tests.support.invoice_builder import build_invoice

D = Decimal


def _rich_invoice():
    inv = build_invoice()
    inv.notes = [InvoiceNote(subject_code="AAI", note="Merci"), InvoiceNote(note="")]
    inv.preceding_invoices = [PrecedingInvoiceReference("INV-2023-9", date(2023, 12, 1))]
    inv.payment_instructions = PaymentInstructions(means_type_code="58", credit_transfers=[
        CreditTransfer(account_identifier="FR7630006000011234567890189")])
    inv.supporting_documents = [SupportingDocument(reference="TS-1", attachment=BinaryObject(
        b"%PDF-1.7\x00\xff binary", "application/pdf", "timesheet.pdf"))]
    inv.lines[0].allowances = [LineAllowance(amount=D("0.50"), percentage=D("2.5000"), reason="bulk")]
    inv.seller.identifiers = [Identifier("123", "0088"), Identifier("XYZ", None)]
    inv.totals.paid_amount = D("0")
    inv.lines[0].quantity = D("2.000")
    return inv


def test_model_json_round_trip_is_lossless() -> None:
    inv = _rich_invoice()
    data = to_dict(inv)
    text = json.dumps(data)                       # plain JSON: no Decimal, date or bytes left
    back = from_dict(json.loads(text))
    assert back == inv
    assert data["lines"][0]["quantity"] == "2.000"                     # scale kept
    assert data["lines"][0]["allowances"][0]["percentage"] == "2.5000"
    assert data["preceding_invoices"][0]["issue_date"] == "2023-12-01"
    assert base64.b64decode(data["supporting_documents"][0]["attachment"]["content"]) == b"%PDF-1.7\x00\xff binary"
    assert data["notes"][1] == {"note": ""}                             # an empty text is not an absent one
    assert "payee" not in data and "allowances" not in data             # absent terms are left out
    assert str(back.lines[0].quantity) == "2.000"


def test_model_json_paths_name_their_business_terms() -> None:
    paths = term_paths()
    assert paths["number"] == "BT-1"
    assert paths["seller.electronic_address.value"] == "BT-34"
    assert paths["seller.electronic_address.scheme"] == "BT-34-1"
    assert paths["lines[].price.net_price"] == "BT-146"
    assert paths["lines[]"] == "BG-25"
    assert paths["supporting_documents[].attachment"] == "BT-125"
    assert paths["supporting_documents[].attachment.filename"] == "BT-125-2"
    # every key to_dict writes for a rich invoice is a documented path
    def walk(obj, prefix=""):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, list):
                key += "[]"
                for x in v:
                    if isinstance(x, dict):
                        yield key
                        yield from walk(x, key)
                    else:
                        yield key
            elif isinstance(v, dict):
                yield key
                yield from walk(v, key)
            else:
                yield key
    written = set(walk(to_dict(_rich_invoice())))
    assert written - set(paths) == set()
    assert len(written) > 40


@pytest.mark.parametrize("data, path", [
    ({"number": "1", "colour": "red"}, "(root)"),
    ({"totals": {"total_vat": "12,50"}}, "totals.total_vat"),
    ({"totals": {"total_vat": 1.5e400}}, "totals.total_vat"),
    ({"totals": {"total_vat": True}}, "totals.total_vat"),
    ({"issue_date": "01.03.2024"}, "issue_date"),
    ({"lines": {"identifier": "1"}}, "lines"),
    ({"lines": [{"quantity": "NaN"}]}, "lines[0].quantity"),
    ({"seller": "Seller AG"}, "seller"),
    ({"supporting_documents": [{"attachment": {"content": "***"}}]}, "supporting_documents[0].attachment.content"),
    ({"number": 42}, "number"),
    ([], "(root)"),
])
def test_model_json_refuses_what_is_not_an_invoice_and_says_where(data, path) -> None:
    with pytest.raises(ModelJsonError) as e:
        from_dict(data)
    assert str(e.value).startswith(path + ":")
