"""EN 16931 business rules on hand-built invoices.

Each case takes a minimal valid invoice (tests/support/invoice_builder.py), breaks
one thing, and checks which rules fire: exactly the expected set, nothing
else. The sets sometimes hold more than one rule because the schematron's
rules overlap (a missing BT-106 is BR-12 *and* breaks the BR-CO-10 sum).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Callable

import pytest

from gateway.model.findings import FATAL, WARNING
from gateway.model.invoice import (DocumentAllowance, Identifier, InvoiceLine, InvoiceNote, InvoicingPeriod,
                                   ItemAttribute, ClassificationIdentifier, DeliverToAddress,
                                   DeliveryInformation, LineAllowance, LineCharge, LinePeriod, Payee,
                                   PaymentCard, PaymentInstructions, CreditTransfer,
                                   PrecedingInvoiceReference, SellerTaxRepresentative, SupportingDocument,
                                   BinaryObject, TaxRepresentativePostalAddress, VatBreakdown, Invoice)
from gateway.rules import RULES, covered_rule_ids, rules_by_family, validate
from gateway.rules.xpath import fraction_digits, round2, xround

from tests.support.invoice_builder import add_allowance, add_charge, build_invoice, clone

D = Decimal
Mutation = Callable[[Invoice], Any]


def fired(inv: Invoice) -> set[str]:
    return {f.rule for f in validate(inv, strict=True)}


def run_case(mutate: Mutation, base: Invoice | None = None) -> set[str]:
    inv = clone(base) if base is not None else build_invoice()
    mutate(inv)
    return fired(inv)


def setattrs(path: str, value: Any) -> Mutation:
    """A mutation setting ``inv.<path>`` (dotted, with [i] indexes) to ``value``."""
    def mutate(inv: Invoice) -> None:
        obj: Any = inv
        parts = path.split(".")
        for part in parts[:-1]:
            name, _, idx = part.partition("[")
            obj = getattr(obj, name)
            if idx:
                obj = obj[int(idx[:-1])]
        setattr(obj, parts[-1], value)
    return mutate


def do(*mutations: Mutation) -> Mutation:
    def mutate(inv: Invoice) -> None:
        for m in mutations:
            m(inv)
    return mutate


# --- the baseline ---------------------------------------------------------------------------

@pytest.mark.parametrize("category", ["S", "Z", "E", "AE", "K", "G", "O", "L", "M"])
def test_valid_invoice_has_no_findings(category: str) -> None:
    assert validate(build_invoice(category), strict=True) == []
    assert validate(add_charge(add_allowance(build_invoice(category))), strict=True) == []


def test_registry_shape() -> None:
    fams = rules_by_family()
    assert len(fams["BR-CO"]) == 23 and len(fams["BR-DEC"]) == 21 and len(fams["BR-CL"]) == 22
    for fam in ("BR-S", "BR-Z", "BR-E", "BR-AE", "BR-G", "BR-AF", "BR-AG"):
        assert len(fams[fam]) == 10, fam
    assert len(fams["BR-IC"]) == 12 and len(fams["BR-O"]) == 14
    for rid, r in RULES.items():
        assert r.id == rid and r.terms and r.description and r.severity in (FATAL, WARNING)
    assert covered_rule_ids() == set(RULES)
    assert RULES["BR-51"].severity == WARNING


def test_validate_never_raises_on_weird_models() -> None:
    assert {f.rule for f in validate(Invoice())} >= {"BR-01", "BR-02", "BR-16", "BR-CO-18"}
    weird = build_invoice()
    weird.lines.append(None)  # type: ignore[arg-type]
    weird.lines[0].vat = "S"  # type: ignore[assignment]
    weird.totals = 42  # type: ignore[assignment]
    weird.vat_breakdown = None  # type: ignore[assignment]
    validate(weird)  # must not raise
    validate(object())


def test_finding_shape() -> None:
    inv = build_invoice()
    inv.totals.sum_of_line_net_amounts = D("90.00")
    f = next(f for f in validate(inv) if f.rule == "BR-CO-10")
    assert f.severity == FATAL and f.path == "totals.sum_of_line_net_amounts"
    assert f.terms == ("BT-106", "BT-131")
    assert f.message.startswith("BR-CO-10: ") and "90.00" in f.message and "100.00" in f.message


# --- BR-01 ... BR-65 -------------------------------------------------------------------------------

def _rep(**kw: Any) -> Mutation:
    def mutate(inv: Invoice) -> None:
        rep = SellerTaxRepresentative(name="Rep GmbH", vat_identifier="DE999999999",
                                      postal_address=TaxRepresentativePostalAddress(country_code="DE"))
        for k, v in kw.items():
            setattr(rep, k, v)
        inv.tax_representative = rep
    return mutate


def _payment(code: str, *transfers: CreditTransfer) -> Mutation:
    return setattrs("payment_instructions", PaymentInstructions(means_type_code=code, credit_transfers=list(transfers)))


CORE_CASES: list[tuple[str, Mutation, set[str]]] = [
    ("BR-01", setattrs("process_control.specification_identifier", " "), {"BR-01"}),
    ("BR-02", setattrs("number", ""), {"BR-02"}),
    ("BR-03", setattrs("issue_date", None), {"BR-03"}),
    ("BR-04", setattrs("type_code", None), {"BR-04"}),
    ("BR-05", setattrs("currency_code", None), {"BR-05"}),
    ("BR-06", setattrs("seller.name", None), {"BR-06"}),
    ("BR-07", setattrs("buyer.name", "  "), {"BR-07"}),
    ("BR-08", setattrs("seller.postal_address", None), {"BR-08"}),
    ("BR-09", setattrs("seller.postal_address.country_code", None), {"BR-09"}),
    ("BR-10", setattrs("buyer.postal_address", None), {"BR-10"}),
    ("BR-11", setattrs("buyer.postal_address.country_code", None), {"BR-11"}),
    ("BR-11 empty code is also no ISO code", setattrs("buyer.postal_address.country_code", ""), {"BR-11", "BR-CL-14"}),
    ("BR-12", setattrs("totals.sum_of_line_net_amounts", None), {"BR-12", "BR-CO-10", "BR-CO-13"}),
    ("BR-13", setattrs("totals.total_without_vat", None), {"BR-13", "BR-CO-13", "BR-CO-15"}),
    ("BR-14", setattrs("totals.total_with_vat", None), {"BR-14", "BR-CO-15", "BR-CO-16"}),
    ("BR-15", setattrs("totals.amount_due", None), {"BR-15", "BR-CO-16"}),
    ("BR-15 no totals at all", setattrs("totals", None),
     {"BR-12", "BR-13", "BR-14", "BR-15", "BR-CO-10", "BR-CO-13", "BR-CO-14", "BR-CO-15", "BR-CO-16"}),
    ("BR-16", setattrs("lines", []), {"BR-16", "BR-CO-10", "BR-S-01", "BR-S-08"}),
    ("BR-17 no name", setattrs("payee", Payee(identifier=Identifier("P1"))), {"BR-17"}),
    ("BR-17 seller trading name", do(setattrs("seller.trading_name", "Shop"), setattrs("payee", Payee(name="Shop"))),
     {"BR-17"}),
    ("BR-17 seller identifier", do(setattrs("seller.identifiers", [Identifier("ID9", "0088")]),
                                   setattrs("payee", Payee(name="Factor", identifier=Identifier("ID9")))),
     {"BR-17"}),
    ("BR-18", _rep(name=None), {"BR-18"}),
    ("BR-19", _rep(postal_address=None), {"BR-19"}),
    ("BR-20", _rep(postal_address=TaxRepresentativePostalAddress(city="Bonn")), {"BR-20"}),
    ("BR-56", _rep(vat_identifier=None), {"BR-56"}),
    ("BR-21", setattrs("lines[0].identifier", " "), {"BR-21"}),
    ("BR-22", setattrs("lines[0].quantity", None), {"BR-22"}),
    ("BR-23", setattrs("lines[0].quantity_unit_code", None), {"BR-23"}),
    ("BR-24", setattrs("lines[0].net_amount", None), {"BR-24", "BR-CO-10", "BR-S-08"}),
    ("BR-25", setattrs("lines[0].item.name", None), {"BR-25"}),
    ("BR-26", setattrs("lines[0].price.net_price", None), {"BR-26", "BR-27"}),
    ("BR-27", setattrs("lines[0].price.net_price", D("-1")), {"BR-27"}),
    ("BR-28", setattrs("lines[0].price.gross_price", D("-0.01")), {"BR-28"}),
    ("BR-29", setattrs("delivery", DeliveryInformation(invoicing_period=InvoicingPeriod(date(2024, 2, 1), date(2024, 1, 31)))),
     {"BR-29"}),
    ("BR-30", setattrs("lines[0].period", LinePeriod(date(2024, 2, 1), date(2024, 1, 31))), {"BR-30"}),
    ("BR-41", setattrs("lines[0].allowances", [LineAllowance(reason="x")]), {"BR-41"}),
    ("BR-42", setattrs("lines[0].allowances", [LineAllowance(amount=D("1"))]), {"BR-42", "BR-CO-23"}),
    ("BR-43", setattrs("lines[0].charges", [LineCharge(reason_code="FC")]), {"BR-43"}),
    ("BR-44", setattrs("lines[0].charges", [LineCharge(amount=D("1"))]), {"BR-44", "BR-CO-24"}),
    ("BR-45", setattrs("vat_breakdown[0].taxable_amount", None), {"BR-45", "BR-CO-17", "BR-S-08", "BR-S-09"}),
    ("BR-46", setattrs("vat_breakdown[0].tax_amount", None), {"BR-46", "BR-CO-14", "BR-CO-17", "BR-S-09"}),
    ("BR-47", setattrs("vat_breakdown[0].category_code", None), {"BR-47", "BR-S-01"}),
    ("BR-48", setattrs("vat_breakdown[0].rate", None), {"BR-48", "BR-CO-17", "BR-S-09"}),
    ("BR-49", setattrs("payment_instructions", PaymentInstructions(means_text="cash")), {"BR-49"}),
    ("BR-50", _payment("30", CreditTransfer(account_identifier=" ")), {"BR-50"}),
    ("BR-61", _payment("58"), {"BR-61"}),
    ("BR-50+61", _payment("30", CreditTransfer(account_name="x")), {"BR-50", "BR-61"}),
    ("BR-51", setattrs("payment_instructions", PaymentInstructions(
        means_type_code="48", payment_card=PaymentCard(primary_account_number="1234567890123"))), {"BR-51"}),
    ("BR-52", setattrs("supporting_documents", [SupportingDocument(description="x")]), {"BR-52"}),
    ("BR-53", setattrs("vat_accounting_currency_code", "USD"), {"BR-53"}),
    ("BR-54", setattrs("lines[0].item.attributes", [ItemAttribute(name="colour")]), {"BR-54"}),
    ("BR-55", setattrs("preceding_invoices", [PrecedingInvoiceReference(issue_date=date(2024, 1, 1))]), {"BR-55"}),
    ("BR-57", setattrs("delivery", DeliveryInformation(deliver_to_address=DeliverToAddress(city="Lyon"))), {"BR-57"}),
    ("BR-62", setattrs("seller.electronic_address", Identifier("a@b.c", None)), {"BR-62"}),
    ("BR-63", setattrs("buyer.electronic_address", Identifier("a@b.c", None)), {"BR-63"}),
    ("BR-64", setattrs("lines[0].item.standard_identifier", Identifier("4012345678901", None)), {"BR-64"}),
    ("BR-65", setattrs("lines[0].item.classification_identifiers", [ClassificationIdentifier("1234")]), {"BR-65"}),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CORE_CASES], ids=[c[0] for c in CORE_CASES])
def test_core_rules(mutate: Mutation, expected: set[str]) -> None:
    assert run_case(mutate) == expected


def _allowance_case(field: str, value: Any) -> Mutation:
    return setattrs(f"allowances[0].{field}", value)


def _charge_case(field: str, value: Any) -> Mutation:
    return setattrs(f"charges[0].{field}", value)


AC_CASES: list[tuple[str, Mutation, set[str]]] = [
    # a missing amount leaves the sum BT-107/BT-108 and the S taxable amount wrong too
    ("BR-31", _allowance_case("amount", None), {"BR-31", "BR-CO-11", "BR-S-08"}),
    ("BR-32", _allowance_case("vat_category_code", None), {"BR-32", "BR-S-08"}),
    ("BR-33", do(_allowance_case("reason", None), _allowance_case("reason_code", None)), {"BR-33", "BR-CO-21"}),
    ("BR-36", _charge_case("amount", None), {"BR-36", "BR-CO-12", "BR-S-08"}),
    ("BR-37", _charge_case("vat_category_code", None), {"BR-37", "BR-S-08"}),
    ("BR-38", do(_charge_case("reason", None), _charge_case("reason_code", None)), {"BR-38", "BR-CO-22"}),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in AC_CASES], ids=[c[0] for c in AC_CASES])
def test_allowance_charge_rules(mutate: Mutation, expected: set[str]) -> None:
    assert run_case(mutate, add_charge(add_allowance(build_invoice()))) == expected


# --- BR-CO ------------------------------------------------------------------------------------------

def _bump_totals_vat(tax: Decimal) -> Mutation:
    def mutate(inv: Invoice) -> None:
        inv.vat_breakdown[0].tax_amount = tax
        inv.totals.total_vat = tax
        inv.totals.total_with_vat = inv.totals.total_without_vat + tax
        inv.totals.amount_due = inv.totals.total_with_vat
    return mutate


CO_CASES: list[tuple[str, Mutation, set[str]]] = [
    ("BR-CO-03", do(setattrs("vat_point_date", date(2024, 3, 1)), setattrs("vat_point_date_code", "3")), {"BR-CO-03"}),
    ("BR-CO-04", setattrs("lines[0].vat", None), {"BR-CO-04", "BR-S-01", "BR-S-08"}),
    ("BR-CO-09 seller", setattrs("seller.vat_identifier", "XX123456"), {"BR-CO-09"}),
    ("BR-CO-09 buyer", setattrs("buyer.vat_identifier", "123456"), {"BR-CO-09"}),
    ("BR-CO-09 greece EL ok", setattrs("seller.vat_identifier", "EL123456789"), set()),
    ("BR-CO-09 one char passes (substring test)", setattrs("seller.vat_identifier", "D"), set()),
    ("BR-CO-10", setattrs("totals.sum_of_line_net_amounts", D("90.00")), {"BR-CO-10", "BR-CO-13"}),
    ("BR-CO-13", setattrs("totals.total_without_vat", D("99.99")), {"BR-CO-13", "BR-CO-15"}),
    ("BR-CO-14", setattrs("totals.total_vat", D("19.01")), {"BR-CO-14", "BR-CO-15"}),
    ("BR-CO-15", setattrs("totals.total_with_vat", D("120.00")), {"BR-CO-15", "BR-CO-16"}),
    ("BR-CO-15 no BT-110", setattrs("totals.total_vat", None), {"BR-CO-14", "BR-CO-15"}),
    ("BR-CO-16", setattrs("totals.amount_due", D("118.00")), {"BR-CO-16"}),
    ("BR-CO-16 paid", setattrs("totals.paid_amount", D("19.00")), {"BR-CO-16"}),
    ("BR-CO-16 paid ok", do(setattrs("totals.paid_amount", D("19.00")), setattrs("totals.amount_due", D("100.00"))), set()),
    ("BR-CO-16 rounding ok", do(setattrs("totals.rounding_amount", D("0.40")), setattrs("totals.amount_due", D("119.40"))), set()),
    ("BR-CO-17", _bump_totals_vat(D("20.01")), {"BR-CO-17", "BR-S-09"}),
    ("BR-CO-17 within 1", _bump_totals_vat(D("19.99")), set()),
    ("BR-CO-18", setattrs("vat_breakdown", []), {"BR-CO-18", "BR-S-01"}),
    ("BR-CO-19", setattrs("delivery", DeliveryInformation(invoicing_period=InvoicingPeriod())), {"BR-CO-19"}),
    ("BR-CO-19 with BT-8", do(setattrs("delivery", DeliveryInformation(invoicing_period=InvoicingPeriod())),
                              setattrs("vat_point_date_code", "35")), set()),
    ("BR-CO-20", setattrs("lines[0].period", LinePeriod()), {"BR-CO-20"}),
    ("BR-CO-23", setattrs("lines[0].allowances", [LineAllowance(amount=D("1"))]), {"BR-42", "BR-CO-23"}),
    ("BR-CO-24", setattrs("lines[0].charges", [LineCharge(amount=D("1"))]), {"BR-44", "BR-CO-24"}),
    ("BR-CO-26", do(setattrs("seller.vat_identifier", None), setattrs("seller.tax_registration_identifier", "12/345")),
     {"BR-CO-26"}),
    ("BR-CO-26 SEPA does not count", do(setattrs("seller.vat_identifier", None),
                                        setattrs("seller.tax_registration_identifier", "12/345"),
                                        setattrs("seller.identifiers", [Identifier("DE98ZZZ09999999999", "SEPA")])),
     {"BR-CO-26"}),
    ("BR-CO-26 legal id", do(setattrs("seller.vat_identifier", None), setattrs("seller.tax_registration_identifier", "1"),
                             setattrs("seller.legal_registration_identifier", Identifier("HRB 1"))), set()),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CO_CASES], ids=[c[0] for c in CO_CASES])
def test_calculation_rules(mutate: Mutation, expected: set[str]) -> None:
    assert run_case(mutate) == expected


CO_AC_CASES: list[tuple[str, Mutation, set[str]]] = [
    ("BR-CO-11", setattrs("totals.sum_of_allowances", D("11.00")), {"BR-CO-11", "BR-CO-13"}),
    ("BR-CO-11 missing", setattrs("totals.sum_of_allowances", None), {"BR-CO-11", "BR-CO-13"}),
    ("BR-CO-12", setattrs("totals.sum_of_charges", D("6.00")), {"BR-CO-12", "BR-CO-13"}),
    ("BR-CO-21", do(_allowance_case("reason", None), _allowance_case("reason_code", None)), {"BR-33", "BR-CO-21"}),
    ("BR-CO-22", do(_charge_case("reason", None), _charge_case("reason_code", None)), {"BR-38", "BR-CO-22"}),
    ("BR-CO-05/06 never fire", do(_allowance_case("reason", "Freight"), _charge_case("reason", "Discount")), set()),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CO_AC_CASES], ids=[c[0] for c in CO_AC_CASES])
def test_calculation_rules_with_allowances(mutate: Mutation, expected: set[str]) -> None:
    assert run_case(mutate, add_charge(add_allowance(build_invoice()))) == expected


def test_never_firing_rules_are_registered() -> None:
    for rid in ("BR-CO-05", "BR-CO-06", "BR-CO-07", "BR-CO-08", "BR-DEC-13", "BR-DEC-15"):
        assert rid in RULES and "never fires" in RULES[rid].description


# --- rounding as XPath does it ---------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("2.5", 3), ("-2.5", -2), ("0.5", 1), ("-0.5", 0), ("1.49", 1), ("-1.51", -2), ("0", 0)])
def test_xpath_round_halves_up(value: str, expected: int) -> None:
    assert xround(D(value)) == expected


@pytest.mark.parametrize("value,expected", [
    ("10.005", "10.01"), ("-10.005", "-10.00"), ("0.125", "0.13"), ("-0.125", "-0.12"), ("2.344999", "2.34")])
def test_round2(value: str, expected: str) -> None:
    assert round2(D(value)) == D(expected)


def _two_lines(a: str, b: str, total: str) -> Invoice:
    inv = build_invoice()
    second = clone(inv.lines[0])
    inv.lines[0].net_amount, second.net_amount = D(a), D(b)
    second.identifier = "2"
    inv.lines.append(second)
    inv.totals.sum_of_line_net_amounts = D(total)
    return inv


@pytest.mark.parametrize("a,b,total,fires", [
    ("50.005", "50.000", "100.01", False),   # 100.005 rounds half up
    ("50.005", "50.000", "100.00", True),
    ("-50.005", "0", "-50.00", False),       # -50.005 rounds toward +infinity
    ("-50.005", "0", "-50.01", True),
])
def test_br_co_10_rounds_like_xpath(a: str, b: str, total: str, fires: bool) -> None:
    findings = RULES["BR-CO-10"].run(_two_lines(a, b, total), strict=True)
    assert bool(findings) is fires


def test_br_co_13_exact_without_allowances_and_charges() -> None:
    inv = build_invoice()
    inv.totals.sum_of_line_net_amounts = D("100.004")
    inv.totals.total_without_vat = D("100.00")
    assert RULES["BR-CO-13"].run(inv, strict=True)          # no rounding in the UBL binding here
    inv.totals.sum_of_allowances = D("0.00")
    assert not RULES["BR-CO-13"].run(inv, strict=True)      # ... but rounded as soon as BT-107 is there


@pytest.mark.parametrize("tax,fires", [("19.99", False), ("18.01", False), ("20.00", True), ("18.00", True)])
def test_br_co_17_and_s_09_strict_tolerance(tax: str, fires: bool) -> None:
    inv = build_invoice()
    inv.vat_breakdown[0].tax_amount = D(tax)
    assert bool(RULES["BR-CO-17"].run(inv, strict=True)) is fires
    assert bool(RULES["BR-S-09"].run(inv, strict=True)) is fires


def test_br_co_17_rate_rounding_to_zero() -> None:
    inv = build_invoice()
    inv.vat_breakdown[0].rate = D("0.4")          # round(0.4) = 0: the tax must round to 0
    inv.vat_breakdown[0].tax_amount = D("0.40")
    assert not RULES["BR-CO-17"].run(inv, strict=True)
    inv.vat_breakdown[0].tax_amount = D("0.50")   # round(0.5) = 1
    assert RULES["BR-CO-17"].run(inv, strict=True)


@pytest.mark.parametrize("taxable,fires", [("100.99", False), ("99.01", False), ("101.00", True), ("99.00", True)])
def test_br_s_08_tolerance(taxable: str, fires: bool) -> None:
    inv = build_invoice()
    inv.vat_breakdown[0].taxable_amount = D(taxable)
    assert bool(RULES["BR-S-08"].run(inv, strict=True)) is fires


def test_br_s_08_per_rate() -> None:
    inv = build_invoice()
    inv.vat_breakdown.append(VatBreakdown(D("0.00"), D("0.00"), "S", D("7")))   # a rate nothing uses
    assert [f.path for f in RULES["BR-S-08"].run(inv, strict=True)] == ["vat_breakdown[1].taxable_amount"]


def test_br_z_08_is_exact() -> None:
    inv = build_invoice("Z")
    inv.vat_breakdown[0].taxable_amount = D("100.01")
    assert fired(inv) == {"BR-Z-08"}


# --- BR-DEC ------------------------------------------------------------------------------------------

DEC_CASES = [
    ("BR-DEC-01", "allowances[0].amount"), ("BR-DEC-02", "allowances[0].base_amount"),
    ("BR-DEC-05", "charges[0].amount"), ("BR-DEC-06", "charges[0].base_amount"),
    ("BR-DEC-09", "totals.sum_of_line_net_amounts"), ("BR-DEC-10", "totals.sum_of_allowances"),
    ("BR-DEC-11", "totals.sum_of_charges"), ("BR-DEC-12", "totals.total_without_vat"),
    ("BR-DEC-14", "totals.total_with_vat"), ("BR-DEC-16", "totals.paid_amount"),
    ("BR-DEC-17", "totals.rounding_amount"), ("BR-DEC-18", "totals.amount_due"),
    ("BR-DEC-19", "vat_breakdown[0].taxable_amount"), ("BR-DEC-20", "vat_breakdown[0].tax_amount"),
    ("BR-DEC-23", "lines[0].net_amount"), ("BR-DEC-24", "lines[0].allowances[0].amount"),
    ("BR-DEC-25", "lines[0].allowances[0].base_amount"), ("BR-DEC-27", "lines[0].charges[0].amount"),
    ("BR-DEC-28", "lines[0].charges[0].base_amount"),
]


def _dec_base() -> Invoice:
    inv = add_charge(add_allowance(build_invoice()))
    inv.allowances[0].base_amount = D("100.00")
    inv.charges[0].base_amount = D("100.00")
    inv.lines[0].allowances = [LineAllowance(amount=D("1.00"), base_amount=D("10.00"), reason="x")]
    inv.lines[0].charges = [LineCharge(amount=D("1.00"), base_amount=D("10.00"), reason="x")]
    inv.totals.paid_amount = D("0.00")
    inv.totals.rounding_amount = D("0.00")
    return inv


@pytest.mark.parametrize("rule_id,path", DEC_CASES, ids=[c[0] for c in DEC_CASES])
def test_decimal_rules(rule_id: str, path: str) -> None:
    base = _dec_base()
    assert fired(base) == set()

    def third_decimal(inv: Invoice) -> None:
        # same value, written with a third decimal: only the decimals rule cares
        obj: Any = inv
        parts = path.split(".")
        for part in parts[:-1]:
            name, _, idx = part.partition("[")
            obj = getattr(obj, name)
            obj = obj[int(idx[:-1])] if idx else obj
        value = getattr(obj, parts[-1])
        setattr(obj, parts[-1], D(format(value, "f") + "0"))
    assert run_case(third_decimal, base) == {rule_id}


@pytest.mark.parametrize("text,digits", [("10", 0), ("10.", 0), ("10.5", 1), ("10.500", 3), ("-0.001", 3), ("1E+2", 0)])
def test_fraction_digits_as_written(text: str, digits: int) -> None:
    assert fraction_digits(D(text)) == digits


def test_dec_13_and_15_never_fire_as_in_ubl() -> None:
    inv = build_invoice()
    inv.totals.total_vat = D("19.000")
    inv.vat_accounting_currency_code = "USD"
    inv.totals.total_vat_in_accounting_currency = D("20.123")
    assert not ({"BR-DEC-13", "BR-DEC-15"} & fired(inv))


# --- BR-CL -------------------------------------------------------------------------------------------

CL_CASES: list[tuple[str, Mutation, set[str]]] = [
    ("BR-CL-01", setattrs("type_code", "999"), {"BR-CL-01"}),
    ("BR-CL-01 credit note code", setattrs("type_code", "381"), set()),
    ("BR-CL-04", setattrs("currency_code", "EURO"), {"BR-CL-04"}),
    ("BR-CL-05", do(setattrs("vat_accounting_currency_code", "XYZ"),
                    setattrs("totals.total_vat_in_accounting_currency", D("1.00"))), {"BR-CL-05"}),
    ("BR-CL-06", setattrs("vat_point_date_code", "5"), {"BR-CL-06"}),
    ("BR-CL-07", setattrs("invoiced_object_identifier", Identifier("OBJ1", "ZZZZ")), {"BR-CL-07"}),
    ("BR-CL-07 line", setattrs("lines[0].object_identifier", Identifier("OBJ1", "ZZZZ")), {"BR-CL-07"}),
    ("BR-CL-08", setattrs("notes", [InvoiceNote(subject_code="A1B", note="x")]), {"BR-CL-08"}),
    ("BR-CL-08 UBL only checks 3 characters", setattrs("notes", [InvoiceNote(subject_code="A1BC", note="x")]), set()),
    ("BR-CL-08 ok", setattrs("notes", [InvoiceNote(subject_code="AAI", note="x")]), set()),
    ("BR-CL-10", setattrs("seller.identifiers", [Identifier("1", "9999")]), {"BR-CL-10"}),
    ("BR-CL-10 SEPA for seller", setattrs("seller.identifiers", [Identifier("1", "SEPA")]), set()),
    ("BR-CL-10 SEPA not for buyer", setattrs("buyer.identifier", Identifier("1", "SEPA")), {"BR-CL-10"}),
    ("BR-CL-11", setattrs("buyer.legal_registration_identifier", Identifier("1", "00")), {"BR-CL-11"}),
    ("BR-CL-13", setattrs("lines[0].item.classification_identifiers", [ClassificationIdentifier("1", "QQ")]),
     {"BR-CL-13"}),
    ("BR-CL-14", setattrs("buyer.postal_address.country_code", "XX"), {"BR-CL-14"}),
    ("BR-CL-15", setattrs("lines[0].item.country_of_origin", "XX"), {"BR-CL-15"}),
    ("BR-CL-16", setattrs("payment_instructions", PaymentInstructions(means_type_code="999")), {"BR-CL-16"}),
    ("BR-CL-19", setattrs("lines[0].allowances", [LineAllowance(amount=D("1"), reason_code="1")]), {"BR-CL-19"}),
    ("BR-CL-20", setattrs("lines[0].charges", [LineCharge(amount=D("1"), reason_code="ZZZZ")]), {"BR-CL-20"}),
    ("BR-CL-21", setattrs("lines[0].item.standard_identifier", Identifier("1", "GTIN")), {"BR-CL-21"}),
    ("BR-CL-22", setattrs("vat_breakdown[0].exemption_reason_code", "VATEX-XX"), {"BR-CL-22", "BR-S-10"}),
    ("BR-CL-23", setattrs("lines[0].quantity_unit_code", "PIECES"), {"BR-CL-23"}),
    ("BR-CL-23 base quantity", do(setattrs("lines[0].price.base_quantity", D("1")),   # the unit of a
                                  setattrs("lines[0].price.base_quantity_unit_code", "X")),   # quantity
     {"BR-CL-23"}),
    ("BR-CL-24", setattrs("supporting_documents", [SupportingDocument(
        reference="A1", attachment=BinaryObject(b"x", "application/zip", "a.zip"))]), {"BR-CL-24"}),
    ("BR-CL-25", setattrs("buyer.electronic_address", Identifier("x", "9999")), {"BR-CL-25"}),
    ("BR-CL-26", setattrs("delivery", DeliveryInformation(deliver_to_location_identifier=Identifier("1", "ABC"))),
     {"BR-CL-26"}),
]


@pytest.mark.parametrize("mutate,expected", [c[1:] for c in CL_CASES], ids=[c[0] for c in CL_CASES])
def test_code_list_rules(mutate: Mutation, expected: set[str]) -> None:
    assert run_case(mutate) == expected


def test_br_cl_17_and_18_vat_category_codes() -> None:
    inv = build_invoice()
    inv.lines[0].vat.category_code = "X"
    inv.vat_breakdown[0].category_code = "X"
    assert fired(inv) == {"BR-CL-17", "BR-CL-18"}


def test_br_cl_22_is_case_insensitive() -> None:
    inv = build_invoice("E")
    inv.vat_breakdown[0].exemption_reason_code = "vatex-eu-132"
    assert fired(inv) == set()


def test_codelists_yaml_comes_from_the_schematron() -> None:
    from gateway.rules.codelists import code_list, source
    assert "1.3.16" in source()
    assert "EUR" in code_list("ISO_4217") and "EL" in code_list("VAT_ID_PREFIX")
    assert {"S", "Z", "E", "AE", "K", "G", "O", "L", "M", "B"} == set(code_list("UNTDID_5305"))


# --- VAT categories -----------------------------------------------------------------------------------
# (family, code) of the nine categories that have the ten rules
FAMILIES = [("S", "S"), ("Z", "Z"), ("E", "E"), ("AE", "AE"), ("IC", "K"), ("G", "G"), ("O", "O"),
            ("AF", "L"), ("AG", "M")]
RATE_BASED = {"S", "L", "M"}     # tax = taxable x rate; the others carry no tax
EXEMPT = {"E", "AE", "K", "G", "O"}


def _drop_seller_vat(inv: Invoice) -> None:
    inv.seller.vat_identifier = None
    inv.seller.legal_registration_identifier = Identifier("HRB 1")   # keeps BR-CO-26 quiet


def _break_parties(code: str) -> Mutation:
    if code == "O":
        return setattrs("buyer.vat_identifier", "FR12345678901")
    if code == "AE":
        return setattrs("buyer.vat_identifier", None)
    if code == "K":
        return setattrs("buyer.vat_identifier", None)
    return _drop_seller_vat


def _bad_rate(code: str) -> Decimal | None:
    return {"S": D("0"), "L": D("-1"), "M": D("-1"), "O": D("0")}.get(code, D("5"))


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_01_category_in_breakdown(family: str, code: str) -> None:
    inv = build_invoice(code)
    if code in RATE_BASED:
        # used on the line but not in the breakdown, which now lists another rate-based category
        other, other_family = ("L", "AF") if code == "S" else ("S", "S")
        inv.vat_breakdown[0].category_code = other
        assert fired(inv) == {f"BR-{family}-01", f"BR-{other_family}-01", f"BR-{other_family}-08"}
    else:
        # twice in the breakdown (the second one, with a zero base, also breaks the exact -08 sum)
        inv.vat_breakdown.append(clone(inv.vat_breakdown[0]))
        inv.vat_breakdown[1].taxable_amount = D("0.00")
        assert fired(inv) == {f"BR-{family}-01", f"BR-{family}-08"}


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_02_to_04_parties(family: str, code: str) -> None:
    inv = build_invoice(code)
    _break_parties(code)(inv)
    assert fired(inv) == {f"BR-{family}-02"}
    inv = add_charge(add_allowance(build_invoice(code)))
    _break_parties(code)(inv)
    assert fired(inv) == {f"BR-{family}-02", f"BR-{family}-03", f"BR-{family}-04"}


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_05_to_07_rates(family: str, code: str) -> None:
    bad = _bad_rate(code)
    # for rate-based categories the taxable amount is checked per rate, so -08 follows
    per_rate = {f"BR-{family}-08"} if code in RATE_BASED else set()
    inv = build_invoice(code)
    inv.lines[0].vat.rate = bad
    assert fired(inv) == {f"BR-{family}-05"} | per_rate
    inv = add_charge(add_allowance(build_invoice(code)))
    inv.allowances[0].vat_rate = bad
    inv.charges[0].vat_rate = bad
    assert fired(inv) == {f"BR-{family}-06", f"BR-{family}-07"} | per_rate


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_08_taxable_amount(family: str, code: str) -> None:
    inv = build_invoice(code)
    inv.vat_breakdown[0].taxable_amount = D("150.00")
    expected = {f"BR-{family}-08"} | ({f"BR-{family}-09", "BR-CO-17"} if code in RATE_BASED else set())
    assert fired(inv) == expected


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_09_tax_amount(family: str, code: str) -> None:
    inv = build_invoice(code)
    tax = inv.vat_breakdown[0].tax_amount + D("5.00")
    _bump_totals_vat(tax)(inv)
    assert fired(inv) == {f"BR-{family}-09", "BR-CO-17"}


@pytest.mark.parametrize("family,code", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_vat_10_exemption_reason(family: str, code: str) -> None:
    inv = build_invoice(code)
    vb = inv.vat_breakdown[0]
    if code in EXEMPT:
        vb.exemption_reason = None
    else:
        vb.exemption_reason_code = "VATEX-EU-79-C"
    assert fired(inv) == {f"BR-{family}-10"}


def test_br_ic_11_and_12() -> None:
    inv = build_invoice("K")
    inv.delivery.actual_delivery_date = None
    assert fired(inv) == {"BR-IC-11"}
    inv.vat_point_date_code = "3"        # UBL: anything in the InvoicePeriod will do
    assert fired(inv) == set()
    inv = build_invoice("K")
    inv.delivery.deliver_to_address = None
    assert fired(inv) == {"BR-IC-12"}


@pytest.mark.parametrize("rule_id,mutate", [
    ("BR-O-11", lambda inv: inv.vat_breakdown.append(VatBreakdown(D("0"), D("0"), "E", D("0"), "x"))),
    ("BR-O-12", lambda inv: inv.lines.append(InvoiceLine("2", quantity=D("1"), quantity_unit_code="C62",
                                                         net_amount=D("0"), vat=build_invoice("Z").lines[0].vat,
                                                         price=build_invoice().lines[0].price,
                                                         item=build_invoice().lines[0].item))),
    ("BR-O-13", lambda inv: inv.allowances.append(DocumentAllowance(D("0"), vat_category_code="Z", vat_rate=D("0"),
                                                                    reason="x"))),
])
def test_not_subject_to_vat_excludes_other_categories(rule_id: str, mutate: Mutation) -> None:
    inv = build_invoice("O")
    if rule_id == "BR-O-13":
        inv.totals.sum_of_allowances = D("0.00")
    mutate(inv)
    assert rule_id in fired(inv)


def test_br_b_split_payment() -> None:
    inv = build_invoice("S")
    for obj in (inv.lines[0].vat, inv.vat_breakdown[0]):
        obj.category_code = "B"
    inv.seller.postal_address.country_code = inv.buyer.postal_address.country_code = "IT"
    inv.seller.vat_identifier, inv.buyer.vat_identifier = "IT12345678901", "IT10987654321"
    assert fired(inv) == set()
    inv.buyer.postal_address.country_code = "FR"
    assert fired(inv) == {"BR-B-01"}
    inv.buyer.postal_address.country_code = "IT"
    inv.allowances.append(DocumentAllowance(D("0.00"), vat_category_code="S", vat_rate=D("22"), reason="x"))
    inv.totals.sum_of_allowances = D("0.00")
    assert "BR-B-02" in fired(inv)


def test_codelists_yaml_is_what_the_tool_extracts() -> None:
    """gateway/rules/codelists.yaml is current with the CEN stylesheet (tools/extract_codelists.py --check)."""
    import importlib.util
    from pathlib import Path
    tool = Path(__file__).resolve().parents[2] / "tools" / "extract_codelists.py"
    spec = importlib.util.spec_from_file_location("extract_codelists", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    if not module.DEFAULT_UBL.is_file():
        pytest.skip(f"CEN stylesheet not found at {module.DEFAULT_UBL}")
    assert module.main(["--check"]) == 0


# --- binding variants: the CII (and EDIFACT) meaning of some rules -----------------------------------

def cii_fired(inv: Invoice) -> set[str]:
    return {f.rule for f in validate(inv, strict=True, syntax="cii") if f.fatal}


def test_syntaxes_take_the_binding_of_their_schematron() -> None:
    from gateway.rules.registry import CII, EDIFACT, UBL, binding_of
    assert binding_of(None) == binding_of("ubl") == binding_of("csv") == binding_of("csv-lines") == UBL
    assert binding_of("cii") == binding_of("facturx") == binding_of("cii-en16931") == binding_of("facturx-basic") == CII
    assert binding_of("edifact") == binding_of("edifact-d96a") == EDIFACT
    assert binding_of("a-partner-dialect") == UBL


@pytest.mark.parametrize("category", ["S", "Z", "E", "AE", "K", "G", "O", "L", "M"])
def test_valid_invoice_is_valid_in_every_binding(category: str) -> None:
    for syntax in ("cii", "facturx", "edifact"):
        assert validate(build_invoice(category), strict=True, syntax=syntax) == []
        assert validate(add_charge(add_allowance(build_invoice(category))), strict=True, syntax=syntax) == []


def test_without_total_vat_only_ubl_needs_bt_110() -> None:
    """CII and EDIFACT accept an invoice without BT-110 whose BT-112 is BT-109; UBL needs BT-110."""
    inv = build_invoice("O")
    inv.totals.total_vat = None
    for syntax in (None, "ubl", "csv"):
        assert {f.rule for f in validate(inv, strict=True, syntax=syntax)} == {"BR-CO-14", "BR-CO-15"}
    for syntax in ("cii", "facturx", "edifact"):
        assert validate(inv, strict=True, syntax=syntax) == []
    inv.totals.total_with_vat = D("100.01")                   # then BT-112 shall be BT-109
    assert {f.rule for f in validate(inv, strict=True, syntax="cii")} == {"BR-CO-15", "BR-CO-16"}
    assert {f.rule for f in validate(inv, strict=True, syntax="edifact")} >= {"BR-CO-15"}


def test_cii_checks_bt_110_even_without_vat_breakdown() -> None:
    inv = build_invoice()
    inv.vat_breakdown = []
    inv.totals.total_vat = D("0.00")
    assert "BR-CO-14" not in fired(inv)
    assert "BR-CO-14" not in cii_fired(inv)                   # the sum of nothing is 0
    inv.totals.total_vat = D("19.00")
    assert "BR-CO-14" in cii_fired(inv)


def test_cii_variants_on_built_invoices() -> None:
    inv = build_invoice()
    inv.seller.postal_address = None                          # BR-09 at the root in CII
    assert fired(inv) == {"BR-08"} and cii_fired(inv) == {"BR-08", "BR-09"}
    inv = build_invoice()
    inv.lines[0].vat.category_code = inv.vat_breakdown[0].category_code = "O"
    inv.lines[0].vat.rate = inv.vat_breakdown[0].rate = None
    inv.vat_breakdown[0].exemption_reason = "Not subject to VAT"
    inv.seller.vat_identifier = inv.buyer.vat_identifier = None
    inv.seller.legal_registration_identifier = Identifier("HRB 1")
    inv.vat_breakdown[0].tax_amount = inv.totals.total_vat = D("0.00")
    inv.totals.total_with_vat = inv.totals.amount_due = D("100.00")
    inv.vat_breakdown[0].taxable_amount = D("100.001")      # O breakdowns are shadowed in CII
    assert fired(inv) == {"BR-DEC-19", "BR-O-08"} and cii_fired(inv) == {"BR-O-08"}
    inv = build_invoice()
    inv.lines = []
    inv.vat_breakdown = []
    assert "BR-CO-18" in fired(inv) and "BR-CO-18" not in cii_fired(inv)    # CII checks it per line


def test_br_51_is_fatal_in_cii_and_a_warning_in_ubl() -> None:
    inv = build_invoice()
    inv.payment_instructions = PaymentInstructions(means_type_code="48",
                                                   payment_card=PaymentCard(primary_account_number="1234567890123"))
    [ubl] = [f for f in validate(inv, strict=True) if f.rule == "BR-51"]
    [cii] = [f for f in validate(inv, strict=True, syntax="cii") if f.rule == "BR-51"]
    assert (ubl.severity, cii.severity) == (WARNING, FATAL) and ubl.message == cii.message


def test_rules_with_a_cii_variant_left_the_difference_table() -> None:
    from gateway.rules.bindings import CII_DIFFERENCES
    from gateway.rules.registry import CII, VARIANTS, variants_of
    with_variant = {rid for (rs, rid), by in VARIANTS.items() if rs == "en16931" and CII in by}
    assert len(with_variant) >= 60 and {"BR-CO-14", "BR-CO-15"} <= with_variant
    # a variant whose rule stays in the table narrows the difference to what the reader does not keep
    assert set(CII_DIFFERENCES) & with_variant == {"BR-61", "BR-DEC-15"}
    for rid in with_variant:
        v = variants_of(rid)[CII]
        assert (v.id, v.rule_set, v.terms, v.binding) == (rid, "en16931", RULES[rid].terms, CII)
        assert v.guard == RULES[rid].guard or rid in ("BR-DEC-13", "BR-DEC-15")   # never fire in UBL only


def test_variants_are_registered_for_existing_rules_once() -> None:
    from gateway.rules.registry import CII, register_variant
    with pytest.raises(ValueError, match="before its variants"):
        register_variant("BR-NOPE", CII, lambda inv: ())
    with pytest.raises(ValueError, match="variant already"):
        register_variant("BR-CO-14", CII, lambda inv: ())
    with pytest.raises(ValueError, match="binding"):
        register_variant("BR-01", "ubl", lambda inv: ())


def test_cii_code_lists_are_the_cii_stylesheets() -> None:
    """The CII variants' lists (codelists.yaml's lists with its ``cii_differences``) are those the CII
    stylesheet's asserts hold."""
    import re
    from lxml import etree
    from gateway.rules.codelists import cii_code_set
    from tests.support.corpus import CORPUS
    xslt = CORPUS / "schematron" / "EN16931-CII-validation.xslt"
    if not xslt.is_file():
        pytest.skip(f"CEN CII stylesheet not found at {xslt}")
    tests: dict[str, str] = {}
    for el in etree.parse(str(xslt)).iter("{*}failed-assert"):
        rid = next(("".join(a.itertext()).strip() for a in el.iter("{*}attribute") if a.get("name") == "id"), None)
        test = el.getparent().getparent().find("{*}when")
        if rid and test is not None:
            tests[rid] = test.get("test")
    for rid, name in (("BR-CL-14", "ISO_3166"), ("BR-CL-15", "ISO_3166"), ("BR-CL-08", "UNTDID_4451"),
                      ("BR-CO-09", "VAT_ID_PREFIX"), ("BR-CL-10", "ISO_6523_ICD"), ("BR-CL-18", "UNTDID_5305")):
        [codes] = [set(m.split()) for m in re.findall(r"'( [A-Z0-9 ]{10,} )'", tests[rid])]
        assert cii_code_set(name) == codes, rid


def test_a_variant_registered_later_reaches_the_cached_plans(monkeypatch) -> None:
    from gateway.rules.registry import CII, VARIANTS, Hit, register_variant
    inv = build_invoice()
    assert validate(inv, syntax="cii") == []                  # a plan for CII documents, cached
    monkeypatch.setitem(VARIANTS, ("en16931", "BR-02"), {})
    register_variant("BR-02", CII, lambda inv: iter([Hit("number", "always")]))
    assert [f.rule for f in validate(inv, syntax="cii")] == ["BR-02"]
    assert validate(inv) == [] and validate(inv, syntax="ubl") == []
