"""The mapping language on small hand-written mappings: each feature alone.

These use neither the corpus nor the shipped mapping files, so they pin the
engine's behaviour independently of the UBL/CII bindings.
"""
from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.model import invoice as model
from gateway.model.errors import MappingError
from gateway.mapping import read, write
from gateway.mapping.spec import compile_mapping
from gateway.xml import safe


def mapping(tmp_path: Path, body: str, name: str = "m", head: bool = True) -> object:
    """Compile a mapping written in the test; HEAD supplies name, root and namespaces."""
    f = tmp_path / f"{name}.yaml"
    f.write_text((HEAD if head else "") + textwrap.dedent(body), encoding="utf-8")
    return compile_mapping(f)


HEAD = """
name: m
root: doc
namespaces: {"": "urn:test", t: "urn:test"}
formats: {date: "%Y-%m-%d"}
"""


def xml(spec, invoice) -> str:
    return etree.tostring(write(spec, invoice).root, encoding="unicode")


def parse(text: str):
    return safe.parse(text.encode())


def test_leaf_terms_read_and_write(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BT-1: t:head/t:number
      BT-2: t:head/t:date
      BT-5: t:head/@currency
    """)
    inv = model.Invoice(number="INV-1", issue_date=date(2026, 1, 31), currency_code="EUR")
    out = xml(spec, inv)
    root = etree.fromstring(out)
    head = root.find("{urn:test}head")
    assert (head.get("currency"), head.findtext("{urn:test}number"), head.findtext("{urn:test}date")) == \
        ("EUR", "INV-1", "2026-01-31")
    back = read(spec, parse(out)).invoice
    assert back == inv


def test_constructive_predicates_create_what_they_select(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-4:
        at: t:party
        BT-31: t:tax[t:scheme='VAT']/t:id
        BT-32: t:tax[t:scheme='FC']/t:id
    """)
    inv = model.Invoice(seller=model.Seller(vat_identifier="DE1", tax_registration_identifier="201/1"))
    root = write(spec, inv).root
    taxes = root.findall("{urn:test}party/{urn:test}tax")
    assert [(t.findtext("{urn:test}scheme"), t.findtext("{urn:test}id")) for t in taxes] == \
        [("VAT", "DE1"), ("FC", "201/1")]
    assert read(spec, root).invoice == inv


def test_repeating_groups_and_plus_marker(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-16:
        at: .
        BG-17:
          each: t:means+/t:account
          BT-84: t:iban
        BT-81:
          path: t:means/t:code
          broadcast: true
    """)
    pi = model.PaymentInstructions(means_type_code="58", credit_transfers=[
        model.CreditTransfer(account_identifier="DE02"), model.CreditTransfer(account_identifier="FR76")])
    root = write(spec, model.Invoice(payment_instructions=pi)).root
    means = root.findall("{urn:test}means")
    assert len(means) == 2                                    # "+": one means per account
    assert [m.findtext("{urn:test}code") for m in means] == ["58", "58"]   # broadcast into each
    assert read(spec, root).invoice.payment_instructions == pi


def test_broadcast_copies_that_disagree_are_reported(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-16:
        at: .
        BT-81: {path: t:means/t:code, broadcast: true}
    """)
    res = read(spec, parse('<doc xmlns="urn:test"><means><code>30</code></means>'
                           '<means><code>58</code></means></doc>'))
    assert res.invoice.payment_instructions.means_type_code == "30"
    assert [f.rule for f in res.findings] == ["READ-CONFLICT"]
    assert "'58'" in res.findings[0].message


def test_broadcast_first_writes_into_the_first_element_once_the_others_are_there(tmp_path):
    """UBL's payment means text and a credit note's due date: once among repeated elements."""
    spec = mapping(tmp_path, """
    terms:
      BT-9: {path: t:means/t:due, broadcast: first}
      BG-16:
        at: .
        BG-17:
          each: t:means+/t:account
          BT-84: t:id
        BT-81: {path: t:means/t:code, broadcast: true}
        BT-82: {path: t:means/t:code/@name, broadcast: first}
    """)
    accounts = [model.CreditTransfer("A"), model.CreditTransfer("B")]
    inv = model.Invoice(due_date=date(2026, 3, 31), payment_instructions=model.PaymentInstructions(
        means_type_code="58", means_text="SEPA", credit_transfers=accounts))
    root = write(spec, inv).root
    t = "{urn:test}"
    assert [(m.findtext(f"{t}code"), m.find(f"{t}code").get("name"), m.findtext(f"{t}due"),
             m.findtext(f"{t}account/{t}id")) for m in root.findall(f"{t}means")] == \
        [("58", "SEPA", "2026-03-31", "A"), ("58", None, None, "B")]
    result = read(spec, root)
    assert result.invoice == inv and result.findings == []


def test_compound_identifier_with_scheme(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-4:
        at: t:seller
        BT-29: {each: "t:pid+/t:id", BT-29-1: "@scheme"}
    """)
    ids = [model.Identifier("123", "0088"), model.Identifier("ABC", None)]
    root = write(spec, model.Invoice(seller=model.Seller(identifiers=ids))).root
    assert read(spec, root).invoice.seller.identifiers == ids
    assert root.find("{urn:test}seller/{urn:test}pid/{urn:test}id").get("scheme") == "0088"


def test_alternatives_with_conditions(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-7:
        at: t:buyer
        BT-46:
          path: [{path: t:gid, when: BT-46-1}, t:id]
          BT-46-1: "@scheme"
    """)
    with_scheme = model.Invoice(buyer=model.Buyer(identifier=model.Identifier("4000", "0088")))
    without = model.Invoice(buyer=model.Buyer(identifier=model.Identifier("C-7")))
    b1 = write(spec, with_scheme).root.find("{urn:test}buyer")
    assert [(c.tag, c.text, c.get("scheme")) for c in b1] == [("{urn:test}gid", "4000", "0088")]
    b2 = write(spec, without).root.find("{urn:test}buyer")
    assert [(c.tag, c.text, c.get("scheme")) for c in b2] == [("{urn:test}id", "C-7", None)]
    for inv in (with_scheme, without):
        assert read(spec, write(spec, inv).root).invoice == inv


def test_code_lists_translate_both_ways(tmp_path):
    spec = mapping(tmp_path, """
    codelists:
      vat_point: {"3": "5", "35": "29", "432": "72"}
    terms:
      BT-8: {path: t:due/t:code, codes: vat_point}
    """)
    root = write(spec, model.Invoice(vat_point_date_code="35")).root
    assert root.findtext("{urn:test}due/{urn:test}code") == "29"
    assert read(spec, root).invoice.vat_point_date_code == "35"


def test_text_template_splits_and_composes(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-1:
        each: t:note
        text: "[#{BT-21}#]{BT-22}"
    """)
    notes = [model.InvoiceNote("AAI", "General info"), model.InvoiceNote(None, "Plain note")]
    root = write(spec, model.Invoice(notes=notes)).root
    assert [n.text for n in root] == ["#AAI#General info", "Plain note"]
    assert read(spec, root).invoice.notes == notes


def test_absent_placeholder_and_fill_constants(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BT-13: {path: t:order/t:id, absent: NA}
      BT-14: {path: t:order/t:sales, const: {../t:id: NA}}
    """)
    only_sales = model.Invoice(sales_order_reference="SO-1")
    root = write(spec, only_sales).root
    assert root.findtext("{urn:test}order/{urn:test}id") == "NA"      # syntax needs it
    assert read(spec, root).invoice == only_sales                       # and it means "no value"
    both = model.Invoice(purchase_order_reference="PO-9", sales_order_reference="SO-1")
    root = write(spec, both).root
    assert root.findtext("{urn:test}order/{urn:test}id") == "PO-9"    # a const never overwrites


def test_a_default_is_written_for_a_missing_term_and_reported_as_added(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-22:
        at: t:totals
        BT-109: t:net
        BT-110: {path: t:vat, default: {sum: BT-117}}
        BT-113: {path: t:paid, default: "0.00"}
      BG-23:
        each: t:breakdown
        BT-117: t:tax
    """)
    inv = model.Invoice(totals=model.DocumentTotals(total_without_vat=Decimal("100.00")),
                        vat_breakdown=[model.VatBreakdown(tax_amount=Decimal("1.50")),
                                       model.VatBreakdown(tax_amount=Decimal("2.25"))])
    result = write(spec, inv)
    totals = result.root.find("{urn:test}totals")
    assert (totals.findtext("{urn:test}vat"), totals.findtext("{urn:test}paid")) == ("3.75", "0.00")
    assert [(f.rule, f.severity, f.terms, f.path) for f in result.findings] == [
        ("WRITE-ADDED", "warning", ("BT-110",), "totals.total_vat"),
        ("WRITE-ADDED", "warning", ("BT-113",), "totals.paid_amount")]
    assert "3.75" in result.findings[0].message and "sum of BT-117" in result.findings[0].message
    assert result.dropped == []
    back = read(spec, result.root).invoice.totals
    assert (back.total_vat, back.paid_amount) == (Decimal("3.75"), Decimal("0.00"))
    # a value the invoice has is written as it is, and nothing is reported
    inv.totals.total_vat, inv.totals.paid_amount = Decimal("3.70"), Decimal("5.00")
    result = write(spec, inv)
    assert result.root.findtext("{urn:test}totals/{urn:test}vat") == "3.70" and result.findings == []


@pytest.mark.parametrize("default, message", [
    ("{sum: BT-118}", "BT-118 is not of the data type of BT-110"),
    ("{sum: BG-23}", "a computed default is {sum: BT-n}"),
    ("{sum: BT-117, times: 2}", "BT-110/default/times: unknown keys ['times']"),
])
def test_a_default_that_cannot_be_computed_is_refused_by_name(tmp_path, default, message):
    with pytest.raises(MappingError) as err:
        mapping(tmp_path, f"""
        terms:
          BG-22:
            at: t:totals
            BT-110: {{path: t:vat, default: {default}}}
        """)
    assert message in str(err.value) and "BT-110" in str(err.value)


def test_terms_without_a_place_are_reported_as_dropped(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BT-1: t:number
      BG-25:
        each: t:line
        BT-126: t:id
    """)
    inv = model.Invoice(number="1", payment_terms="30 days", lines=[
        model.InvoiceLine(identifier="1", note="fragile", price=model.PriceDetails(net_price=Decimal("2")))])
    dropped = {(d.term, d.path) for d in write(spec, inv).dropped}
    assert dropped == {("BT-20", "payment_terms"), ("BT-127", "lines[0].note"),
                       ("BT-146", "lines[0].price.net_price")}


def test_values_that_do_not_parse_are_findings_with_a_line(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BT-2: t:date
      BG-22: {at: t:totals, BT-112: t:total}
    """)
    res = read(spec, parse('<doc xmlns="urn:test">\n<date>31/01/2026</date>\n'
                           '<totals>\n<total>12,50</total></totals></doc>'))
    assert res.invoice.issue_date is None and res.invoice.totals is None
    by_term = {f.terms[0]: f for f in res.findings}
    assert by_term["BT-2"].line == 2 and "format" in by_term["BT-2"].message
    assert by_term["BT-112"].line == 4 and "decimal" in by_term["BT-112"].message
    assert by_term["BT-112"].location == "/doc/totals/total"


def test_findings_are_located_through_the_source_map(tmp_path):
    from gateway.model.findings import Finding
    spec = mapping(tmp_path, """
    terms:
      BG-25:
        each: t:line
        BT-131: t:amount
    """)
    res = read(spec, parse('<doc xmlns="urn:test">\n<line><amount>1</amount></line>\n'
                           '<line>\n<amount>2</amount></line></doc>'))
    f = Finding("BR-X", "test", path="lines[1].net_amount")
    missing = Finding("BR-Y", "test", path="lines[1].price.net_price")   # absent value: its line group
    res.source_map.locate([f, missing])
    assert (f.location, f.line) == ("/doc/line[2]/amount", 4)
    assert missing.location == "/doc/line[2]"
    absent = Finding("BR-Z", "test", path="vat_breakdown")              # nothing of it in the file
    res.source_map.locate([absent])
    assert (absent.location, absent.line) == ("/doc", 1)


def test_extends_overrides_and_removes(tmp_path):
    mapping(tmp_path, """
    terms:
      BT-1: t:number
      BT-10: t:buyer-ref
    """, name="base")
    flavour = mapping(tmp_path, head=False, body="""
    name: flavour
    extends: base
    terms:
      BT-1: t:invoice-no
      BT-10: ~
    """, name="flavour")
    assert flavour.name == "flavour"
    root = write(flavour, model.Invoice(number="7", buyer_reference="X")).root
    assert root.findtext("{urn:test}invoice-no") == "7"
    assert root.find("{urn:test}buyer-ref") is None


def test_rename_replaces_whole_names_in_what_the_base_says_all_at_once(tmp_path):
    """A base over one segment table, carried to a table numbered otherwise: G_SG4 and G_SG48 are
    different names, and two renames that meet (SG48 -> SG49, SG49 -> SG50) do not chain."""
    mapping(tmp_path, """
    structural: ["//t:G_SG48/t:q"]
    terms:
      BT-1: "t:G_SG4/t:number"
      BT-10: "t:G_SG48[t:q='R']/t:ref"
      BT-11: "t:G_SG49/t:project"
      BT-12: {path: "t:G_SG4/t:contract", const: {"../t:G_SG48": "x"}}
    """, name="base")
    flavour = mapping(tmp_path, head=False, body="""
    name: flavour
    extends: base
    rename: {G_SG48: G_SG49, G_SG49: G_SG50}
    terms:
      BT-11: "t:G_SG7/t:project"
    """, name="flavour")
    assert "rename" not in flavour.raw
    root = write(flavour, model.Invoice(number="7", buyer_reference="R1", project_reference="P",
                                        contract_reference="C")).root
    ns = {"t": "urn:test"}
    assert root.xpath("t:G_SG4/t:number/text()", namespaces=ns) == ["7"]
    assert root.xpath("t:G_SG49[t:q='R']/t:ref/text()", namespaces=ns) == ["R1"]     # SG48 -> SG49
    assert root.xpath("t:G_SG7/t:project/text()", namespaces=ns) == ["P"]            # the file's own path
    assert root.xpath("t:G_SG4/t:G_SG49/text()", namespaces=ns) == ["x"]             # a const's key too
    assert root.find("{urn:test}G_SG48") is None and root.find("{urn:test}G_SG50") is None
    assert [x.path for x in flavour.structural] == ["//t:G_SG49/t:q"]
    # a file extending the renamed one meets the new names, not the rename again
    third = mapping(tmp_path, head=False, body="""
    name: third
    extends: flavour
    """, name="third")
    assert [x.path for x in third.structural] == ["//t:G_SG49/t:q"]


def test_rename_needs_a_base(tmp_path):
    with pytest.raises(MappingError) as err:
        mapping(tmp_path, """
        rename: {G_SG1: G_SG2}
        terms:
          BT-1: t:number
        """, name="alone")
    assert "alone.yaml" in str(err.value) and "'rename'" in str(err.value) and "extends" in str(err.value)


@pytest.mark.parametrize("body, message", [
    ("terms:\n  BT-999: t:x\n", "BT-999 is not a term of Invoice"),
    ("terms:\n  BG-4:\n    at: t:s\n    BT-44: t:name\n", "BT-44 is not a term of Seller"),
    ("terms:\n  BT-1: {each: t:x}\n", "occurs at most once"),
    ("terms:\n  BT-1: {path: t:x, colour: red}\n", "unknown keys"),
    ("terms:\n  BT-1: x:unknown\n", "unknown namespace prefix"),
    ("terms:\n  BT-1: \"t:x[\"\n", "unbalanced"),
])
def test_mistakes_in_mapping_files_name_file_and_term(tmp_path, body, message):
    with pytest.raises(MappingError) as err:
        spec = mapping(tmp_path, body, name="broken")
        write(spec, model.Invoice(number="1"))
    assert message in str(err.value)
    assert "broken.yaml" in str(err.value)


def test_shipped_mappings_compile_and_cover_every_term_they_can():
    """Every shipped mapping compiles; UBL and CII each place every EN 16931 term."""
    from gateway.mapping import available, load

    def mapped(node, prefix=()):
        out = set()
        for tid, child in node.children.items():
            out.add(tid)
            out |= {tid + s for s in getattr(child, "subs", {})}
            if hasattr(child, "children"):
                out |= mapped(child)
            if getattr(child, "text", None):
                import re
                out |= set(re.findall(r"\{((?:BT|BG)-\d+)\}", child.text))
        return out

    def every_term(cls):
        out = set()
        for f in model.term_fields(cls):
            out.add(f.term)
            if model.is_compound(f.type):
                out |= {f.term + s.term for s in model.term_fields(f.type) if s.term}
            elif hasattr(f.type, "__dataclass_fields__"):
                out |= every_term(f.type)
        return out

    assert {"ubl-invoice", "ubl-creditnote", "cii"} <= set(available())
    all_terms = every_term(model.Invoice)
    assert len(all_terms) > 190
    for name in ("ubl-invoice", "ubl-creditnote", "cii"):
        spec = load(name)
        missing = all_terms - mapped(spec.tree)
        if name.startswith("ubl"):
            # The UBL binding gives BG-1's subject code a place only inside the note text (template).
            missing -= {"BT-21", "BT-22"}
        assert missing == set(), (name, sorted(missing))


def test_broadcast_compound_values_keep_their_scheme(tmp_path):
    """A broadcast identifier is written with its scheme in every copy (it once lost it silently)."""
    spec = mapping(tmp_path, """
    terms:
      BG-25:
        each: t:row
        BT-126: t:line
      BG-4:
        at: .
        BT-34: {path: "t:row/t:endpoint", broadcast: true, BT-34-1: "@scheme"}
    """)
    inv = model.Invoice(seller=model.Seller(electronic_address=model.Identifier("123456789", "0009")),
                        lines=[model.InvoiceLine(identifier="1"), model.InvoiceLine(identifier="2")])
    res = write(spec, inv)
    assert res.dropped == []
    eps = res.root.findall("{urn:test}row/{urn:test}endpoint")
    assert [(e.text, e.get("scheme")) for e in eps] == [("123456789", "0009")] * 2
    assert read(spec, res.root).invoice == inv


def test_decimal_separator_applies_both_ways(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-22: {at: t:totals, BT-112: t:total}
    """)
    spec.formats["decimal_separator"] = ","
    inv = model.Invoice(totals=model.DocumentTotals(total_with_vat=Decimal("-1234.50")))
    root = write(spec, inv).root
    assert root.findtext("{urn:test}totals/{urn:test}total") == "-1234,50"
    assert read(spec, root).invoice == inv


def test_a_wildcard_step_that_matches_nothing_drops_the_term(tmp_path):
    """A path step such as t:*[...] names no element to create: with nothing to match, the term
    has no place and is reported as dropped (it once became an element named '*' and crashed)."""
    spec = mapping(tmp_path, """
    terms:
      BG-25:
        each: t:line
        BT-126: t:id
        BG-29:
          at: t:agreement
          BT-146: t:net/t:amount
          BT-149: {path: "t:*[self::t:net or self::t:gross]/t:base", broadcast: true}
          BT-150: {path: "t:*[self::t:net or self::t:gross]/t:base/@unit", broadcast: true}
    """)
    priced = model.InvoiceLine("1", price=model.PriceDetails(net_price=Decimal("5"), base_quantity=Decimal("2"),
                                                             base_quantity_unit_code="C62"))
    unpriced = model.InvoiceLine("2", price=model.PriceDetails(base_quantity_unit_code="C62"))
    result = write(spec, model.Invoice(lines=[priced, unpriced]))
    assert [(d.term, d.path) for d in result.dropped] == [("BT-150", "lines[1].price.base_quantity_unit_code")]
    base = result.root.find("{urn:test}line/{urn:test}agreement/{urn:test}net/{urn:test}base")
    assert (base.text, base.get("unit")) == ("2", "C62")
    assert read(spec, result.root).invoice.lines == [priced, model.InvoiceLine("2")]


def test_when_with_several_terms_needs_them_all(tmp_path):
    spec = mapping(tmp_path, """
    terms:
      BG-25:
        each: t:line
        BT-126: t:id
        BG-29:
          at: t:price
          BT-146: t:amount
          BT-149: {path: t:base, write: [{path: t:base, when: BT-146}]}
          BT-150: {path: t:base/@unit, write: [{path: t:base/@unit, when: [BT-146, BT-149]}]}
    """)
    lines = [model.InvoiceLine("1", price=model.PriceDetails(net_price=Decimal("5"), base_quantity_unit_code="C62")),
             model.InvoiceLine("2", price=model.PriceDetails(base_quantity=Decimal("2"),
                                                             base_quantity_unit_code="C62")),
             model.InvoiceLine("3", price=model.PriceDetails(net_price=Decimal("5"), base_quantity=Decimal("2"),
                                                             base_quantity_unit_code="C62"))]
    result = write(spec, model.Invoice(lines=lines))
    assert [(d.term, d.path) for d in result.dropped] == [
        ("BT-150", "lines[0].price.base_quantity_unit_code"),
        ("BT-149", "lines[1].price.base_quantity"), ("BT-150", "lines[1].price.base_quantity_unit_code")]
    assert read(spec, result.root).invoice.lines[2] == lines[2]
