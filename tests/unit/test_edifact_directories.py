"""INVOIC of other UN/EDIFACT directories: D.93A, D.97A, D.07A, D.10A, and EANCOM 2002 on D.01B.

Each directory is a grammar generated from the UN directory (tools/edifact_grammar.py) and a
mapping that extends the nearest existing one. Judged here:

* the grammars against what the UN directories say of INVOIC in each release (group numbers,
  where segments moved, what was added or removed), so a grammar generated from the wrong
  release, or a table shifted by one group, fails;
* an invoice built by the tests written to each flavour, through the syntax layer, and read back:
  the same model except the terms the writer reported as dropped, valid by the EN 16931 rules,
  with what sets each directory apart in the bytes (the UNH, the renumbered groups);
* the corpus sample of these versions (an EDIFICE D.97A invoice from EDI.Net's tests), read and
  translated to UBL: every value not read is reported, and what the XSD and the CEN schematron
  find in the UBL are the EN 16931 gaps of the sample itself, already found by our rules.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import yaml

from gateway.model import invoice as model
from gateway.model.errors import InputError
from gateway.rules import validate
from gateway.syntaxes import read_document, read_documents, registry, write_document
from gateway.syntaxes.edifact import grammar as grammars
from gateway.syntaxes.edifact import invoic
from gateway.xml import schematron
from tests.support.corpus import CORPUS, requires_corpus
from tests.support.invoice_builder import add_allowance, add_charge, build_invoice

# flavour -> (its mapping, the mapping it extends, UNH S009 written)
NEW = {
    "edifact-d93a": ("edifact-invoic-d93a", "edifact-invoic-d96a", "INVOIC:D:93A:UN"),
    "edifact-d97a": ("edifact-invoic-d97a", "edifact-invoic-d96a", "INVOIC:D:97A:UN"),
    "edifact-d07a": ("edifact-invoic-d07a", "edifact-invoic-d01b", "INVOIC:D:07A:UN"),
    "edifact-d10a": ("edifact-invoic-d10a", "edifact-invoic-d14b", "INVOIC:D:10A:UN"),
    "edifact-eancom-d01b": ("edifact-invoic-eancom-d01b", "edifact-invoic-d01b", "INVOIC:D:01B:UN:EAN010"),
}


def _table(g: grammars.Grammar) -> list:
    """The segment table as (name, trigger tag, min, max, children) without layouts."""
    def walk(entries):
        return [(e.name, e.tag, e.min, e.max, walk(e.children[1:]) if e.group else None) for e in entries]
    return walk(g.structure)


def _group(g: grammars.Grammar, name: str) -> grammars.Entry:
    return g.groups()[name]


def _members(entry: grammars.Entry) -> list[str]:
    return [c.name for c in entry.children]


def _layout(g: grammars.Grammar, tag: str) -> list:
    return [(e.name, [c.name for c in e.components]) for e in g.segments[tag].elements]


# --- the grammars: what the UN directories say ---------------------------------------------------

def test_d97a_adds_a_line_group_that_numbers_the_summary_one_further():
    d96a, d97a = grammars.load("invoic-d96a"), grammars.load("invoic-d97a")
    assert (_group(d96a, "SG25").tag, _group(d97a, "SG25").tag) == ("LIN", "LIN")
    assert _group(d97a, "SG48").tag == "GIS" and "G_SG48" in [c.element_name for c in _group(d97a, "SG25").children]
    # totals, their references, VAT breakdown, summary allowances: SG48..51 in D.96A, SG49..52 in D.97A
    assert [(_group(d96a, f"SG{n}").tag, _group(d97a, f"SG{n + 1}").tag) for n in range(48, 52)] == \
        [("MOA", "MOA"), ("RFF", "RFF"), ("TAX", "TAX"), ("ALC", "ALC")]
    assert (_group(d97a, "SG49").min, _group(d97a, "SG49").max) == (1, 100)
    assert "SG53" not in d97a.groups()
    assert _members(_group(d96a, "SG1")) == ["RFF", "DTM"]
    assert _members(_group(d97a, "SG1")) == ["RFF", "DTM", "GIR", "LOC", "MEA", "QTY", "FTX", "MOA"]
    assert _layout(d96a, "BGM")[1] == ("D_1004", []) and _layout(d97a, "BGM")[1] == ("C_C106", ["D_1004", "D_1056", "D_1060"])


def test_d93a_has_no_tdt_reference_adjustment_or_instruction_groups():
    d93a, d96a = grammars.load("invoic-d93a"), grammars.load("invoic-d96a")
    groups = d93a.groups()
    assert [groups[f"SG{n}"].tag for n in (9, 10, 11, 12, 14, 21, 22)] == ["TDT", "LOC", "TOD", "PAC", "ALC", "RCS", "LIN"]
    assert [_group(d96a, f"SG{n}").tag for n in (11, 23, 24, 25)] == ["RFF", "AJT", "INP", "LIN"]
    assert not any(g.tag in ("AJT", "INP") for g in groups.values())
    assert (groups["SG22"].min, groups["SG22"].max) == (0, 200000)
    assert [groups[f"SG{n}"].tag for n in (45, 46, 47, 48)] == ["MOA", "RFF", "TAX", "ALC"] and len(groups) == 48
    assert _members(groups["SG8"]) == ["PAT", "DTM", "PCD", "MOA"]           # D.96A: PAI and FII too
    assert "PAI" in [e.name for e in d93a.structure]                       # the message's own PAI
    nad = dict(_layout(d93a, "NAD"))
    assert nad["C_C059"] == ["D_3042", "D_3042_2", "D_3042_3"]
    assert d93a.segments["NAD"].elements[1].components[0].repr.max_length == 17    # C082 3039 an..17


def test_d07a_takes_pyt_where_d01b_had_pat_and_keeps_its_numbering():
    d01b, d07a, d14b = (grammars.load(n) for n in ("invoic-d01b", "invoic-d07a", "invoic-d14b"))
    names = lambda g: [(n, e.min) for n, e in g.groups().items()]    # noqa: E731
    assert names(d07a) == names(d01b)
    assert [n for n, e in d07a.groups().items() if e.tag != _group(d01b, n).tag] == ["SG8", "SG28", "SG49"]
    assert (_group(d01b, "SG49").tag, _group(d07a, "SG49").tag, _group(d07a, "SG49").max) == ("GIS", "GEI", 999)
    assert (_group(d01b, "SG8").tag, _group(d07a, "SG8").tag) == ("PAT", "PYT")
    assert (_group(d01b, "SG28").tag, _group(d07a, "SG28").tag) == ("PAT", "PYT")
    assert "PAT" not in d07a.segment_tags() and "GIS" not in d07a.segment_tags()
    assert _layout(d07a, "PYT") == _layout(d14b, "PYT")


def test_d10a_has_the_d14b_table_group_for_group():
    d10a, d14b = grammars.load("invoic-d10a"), grammars.load("invoic-d14b")
    strip = lambda t: [(n, tag, mn, strip(ch) if ch is not None else None) for n, tag, mn, _, ch in t]  # noqa: E731
    assert strip(_table(d10a)) == strip(_table(d14b))                      # repeats aside (SG32 PAC: 10 / 999)
    assert _group(d10a, "SG26").tag == "EFI" and _group(d10a, "SG27").tag == "LIN"
    differ = sorted(t for t in d10a.segments if t in d14b.segments and _layout(d10a, t) != _layout(d14b, t))
    assert differ == ["BGM", "TDT"]
    assert [n for n, _ in _layout(d14b, "BGM")][-2:] == ["D_1373", "D_3453"]


@pytest.mark.parametrize("name, directory, neighbour", [
    ("invoic-d93a", "D.93A", "D96A"), ("invoic-d97a", "D.97A", "D96A"),
    ("invoic-d07a", "D.07A", "D01B"), ("invoic-d10a", "D.10A", "D14B")])
def test_each_new_grammar_names_its_source_and_its_differences(name, directory, neighbour):
    text = (grammars.GRAMMARS_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    head = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert f"from the UN/EDIFACT {directory} directory" in head and "Bots grammar files" in head
    assert f"# Compared with {neighbour} " in head
    assert yaml.safe_load(text)["directory"] == directory.replace(".", "")


# --- mappings: each extends the nearest one --------------------------------------------------------

@pytest.mark.parametrize("flavour", NEW)
def test_each_new_flavour_is_a_mapping_file_extending_its_nearest(flavour):
    name, base, _ = NEW[flavour]
    found = registry.flavour(flavour)
    assert (found.syntax, found.mappings) == ("edifact", (name,))
    own = yaml.safe_load(registry.mapping_file(name).path.read_text(encoding="utf-8"))
    assert own["extends"] == base
    assert len(own.get("terms") or {}) <= 12      # what differs, not a copy of the base


@pytest.mark.parametrize("s009, flavour", [
    (("INVOIC", "D", "93A", ""), "edifact-d93a"),
    (("INVOIC", "D", "97A", ""), "edifact-d97a"),
    (("INVOIC", "D", "97A", "EDIN03"), "edifact-d97a"),
    (("INVOIC", "D", "07A", ""), "edifact-d07a"),
    (("INVOIC", "D", "10A", ""), "edifact-d10a"),
    (("INVOIC", "D", "01B", "EAN010"), "edifact-eancom-d01b"),
    (("INVOIC", "D", "01B", "EAN011"), "edifact-eancom-d01b"),
    (("INVOIC", "D", "01B", ""), "edifact-d01b"),
    (("INVOIC", "D", "96A", "EAN008"), "edifact-eancom"),
])
def test_the_unh_picks_the_directory(s009, flavour):
    assert invoic.flavour_for(*s009) == flavour


# --- an invoice built here, through each flavour and back ----------------------------------------------

def rich_invoice() -> model.Invoice:
    """The builder's valid invoice with what the directories place differently: a document allowance
    and charge, payment terms and means with an account, references, GLNs, a GTIN."""
    inv = add_charge(add_allowance(build_invoice()))
    inv.due_date = date(2024, 3, 31)
    inv.purchase_order_reference = "PO-77"
    inv.invoiced_object_identifier = model.Identifier("OBJ-1", None)
    inv.preceding_invoices = [model.PrecedingInvoiceReference("INV-2023-9", date(2023, 12, 1))]
    inv.seller.identifiers = [model.Identifier("4012345500004", "0088")]
    inv.buyer.identifier = model.Identifier("5412345000013", "0088")
    inv.payment_instructions = model.PaymentInstructions(
        means_type_code="58", credit_transfers=[model.CreditTransfer("DE89370400440532013000", None, "COBADEFFXXX")])
    inv.lines[0].item.standard_identifier = model.Identifier("4000862141404", "0160")
    inv.lines[0].item.sellers_identifier = "ART-1"
    return inv


def _terms(inv: model.Invoice) -> dict:
    return {(t, p): v for t, p, v in model.iter_terms(inv)}


# what each flavour cannot carry of rich_invoice(), besides the seller's e-mail address (BT-34),
# which no EDIFACT mapping places
CANNOT = {
    "edifact-d93a": {"BT-18"},                                       # no GIR in SG1 before D.97A
    "edifact-d97a": set(), "edifact-d07a": set(), "edifact-d10a": set(),
    "edifact-eancom-d01b": {"BT-29-1", "BT-46-1"},                    # a GLN is "agency 9", no ICD
}


@pytest.mark.parametrize("flavour", NEW)
def test_a_built_invoice_goes_through_each_flavour_and_back(flavour):
    inv = rich_invoice()
    assert [f.rule for f in validate(inv) if f.fatal] == []
    out = write_document(inv, flavour)
    assert [str(f) for f in out.findings if f.fatal] == []
    assert {d.term for d in out.dropped} == CANNOT[flavour] | {"BT-34", "BT-34-1"}
    text = out.data.decode("latin-1")
    assert f"UNH+1+{NEW[flavour][2]}'" in text
    again = read_document(out.data)
    assert again.mapping == NEW[flavour][0]
    assert again.findings == []                    # nothing misplaced, nothing unread
    before, after = _terms(inv), _terms(again.invoice)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed == {(d.term, d.path) for d in out.dropped}
    assert [f.rule for f in validate(again.invoice) if f.fatal] == []


def _segments(flavour: str) -> list[str]:
    return [ln for ln in write_document(rich_invoice(), flavour).data.decode("latin-1").split("'\n")]


def test_d93a_writes_the_payment_means_in_the_message_pai_and_lines_in_sg22():
    segs = _segments("edifact-d93a")
    assert segs.index("PAI+::58") < segs.index(next(s for s in segs if s.startswith("NAD+SE")))
    assert not any(s.startswith("GIR") for s in segs)
    written = invoic.write_message(rich_invoice(), "edifact-d93a")
    root = invoic.tree_of(written, "edifact-d93a")
    assert root.find("G_SG22/S_LIN") is not None and root.find("G_SG45/S_MOA") is not None
    assert root.find("G_SG47/S_TAX") is not None and root.find("G_SG8/S_PAI") is None


def test_d97a_writes_bgm_c106_the_invoiced_object_and_totals_in_sg49():
    segs = _segments("edifact-d97a")
    assert "BGM+380+INV-2024-001" in segs
    assert segs[segs.index("RFF+ATS") + 1] == "GIR+14+OBJ-1"
    root = invoic.tree_of(invoic.write_message(rich_invoice(), "edifact-d97a"), "edifact-d97a")
    assert root.findtext("S_BGM/C_C106/D_1004") == "INV-2024-001"
    assert root.find("G_SG48") is None                                       # SG48 is a line group now
    assert [m.findtext("C_C516/D_5025") for m in root.findall("G_SG49/S_MOA")] == ["79", "260", "259", "125", "176", "77", "9"]
    assert root.find("G_SG51/S_TAX") is not None


def test_d07a_writes_payment_terms_as_pyt():
    segs = _segments("edifact-d07a")
    assert "PYT+1" in segs and not any(s.startswith("PAT") for s in segs)
    assert segs[segs.index("PYT+1") + 1] == "DTM+13:20240331:102"


def test_eancom_2002_writes_glns_with_agency_9_and_the_currency_qualifier():
    segs = _segments("edifact-eancom-d01b")
    assert [s.split("++")[0] for s in segs if s.startswith("NAD")] == ["NAD+SU+4012345500004::9", "NAD+BY+5412345000013::9"]
    assert "CUX+2:EUR:4" in segs and "LIN+1++4000862141404:SRV" in segs and "PIA+1+ART-1:SA" in segs
    assert "MOA+204:10" in segs and "MOA+23:5" in segs


def test_eancom_2002_reads_eancom_1997_allowance_amounts():
    """MOA 8 (EANCOM 1997's allowance or charge amount) is read as the amount too."""
    written = invoic.write_message(rich_invoice(), "edifact-eancom-d01b")
    segs = [s for s in written.segments]
    for s in segs:
        if s.tag == "MOA" and s.elements[0][0] in ("204", "23"):
            s.elements[0][0] = "8"
    doc = invoic.read_message(segs)
    assert [a.amount for a in doc.invoice.allowances] == [Decimal("10.00")]
    assert [c.amount for c in doc.invoice.charges] == [Decimal("5.00")]
    assert doc.findings == []


# --- the corpus: an EDIFICE D.97A invoice ----------------------------------------------------------------

SAMPLE_D97A = CORPUS / "edifact" / "edi-net" / "edifact.Issue256.INVOIC.edi"


@requires_corpus
def test_the_d97a_corpus_sample_is_read_and_whatever_is_not_read_is_reported():
    [doc] = read_documents(SAMPLE_D97A.read_bytes())
    assert doc.mapping == "edifact-invoic-d97a"
    assert [f for f in doc.findings if f.fatal] == []
    # the syntax layer's only remarks: lower-case letters beyond the declared UNOA repertoire
    assert {f.rule for f in doc.findings} == {"EDIFACT-21", "READ-UNMAPPED"}
    inv = doc.invoice
    assert (inv.number, inv.type_code, str(inv.issue_date), inv.currency_code) == ("CD29031973", "380", "2024-02-17", "USD")
    assert (inv.seller.name, inv.seller.vat_identifier) == ("COMPANY2", "DE350936201")
    assert inv.purchase_order_reference == "07634/1844/2023/GO"
    assert [(ln.identifier, ln.quantity, ln.quantity_unit_code, ln.net_amount, ln.price.gross_price, ln.item.name)
            for ln in inv.lines] == [(str(n), Decimal(1000), "PCE", Decimal("13.078"), Decimal("13.078"), "85423900")
                                     for n in (1, 2, 3)]
    assert (inv.totals.sum_of_line_net_amounts, inv.totals.total_with_vat) == (Decimal("3923.4"), Decimal("3923.4"))
    # the invoicee (NAD+IV) is no EN 16931 party, and the VAT summary has no VAT tax type: reported
    unread = {f.location: f.message for f in doc.findings if f.rule == "READ-UNMAPPED"}
    assert any("'COMPANY1'" in m for m in unread.values())
    assert any("'0.00000'" in m for m in unread.values())
    assert any("'0LMCHZHEPB'" in m for m in unread.values())              # RFF+DQ, a delivery note number


@requires_corpus
def test_the_d97a_corpus_sample_in_ubl_breaks_only_what_the_sample_lacks():
    """The sample is no complete EN 16931 invoice (no buyer, no VAT breakdown): its UBL cannot be
    valid. What the XSD and the CEN schematron find must be exactly those gaps, already found by
    our rules in the model read from the EDIFACT, and every value lost on the way reported."""
    [doc] = read_documents(SAMPLE_D97A.read_bytes())
    ours = {f.rule for f in validate(doc.invoice) if f.fatal}
    assert {"BR-07", "BR-CO-18"} <= ours                        # no buyer, no VAT breakdown
    out = write_document(doc.invoice, "ubl", validate=True)
    xsd = [f.message for f in out.findings if f.rule == "XSD"]
    assert xsd and all("AccountingCustomerParty" in m for m in xsd)       # the buyer it has not (BR-07)
    cen = {f.rule for f in schematron.cen_ubl().run(out.data) if f.fatal}
    assert ours <= cen
    assert {r for r in cen - ours if not r.startswith("UBL-")} == set()
    # BT-149/BT-150 (PRI's base quantity 1 PCE) have no place in UBL without a net price: reported
    assert {d.term for d in out.dropped} - {"BT-110"} == {"BT-149", "BT-150"}
    before, after = _terms(doc.invoice), _terms(read_document(out.data).invoice)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    # nothing else is lost; the one addition may be the total VAT the sample lacks (BR-CO-14
    # territory), which UBL's TaxTotal/TaxAmount needs: 0, the sum of no VAT breakdown
    assert changed - {(d.term, d.path) for d in out.dropped} <= {("BT-110", "totals.total_vat")}
    assert before.get(("BT-110", "totals.total_vat")) is None
    assert after.get(("BT-110", "totals.total_vat")) in (None, Decimal(0))


@requires_corpus
def test_the_eancom_2002_corpus_sample_is_refused_by_the_syntax_layer_for_its_envelope():
    """EDI.Net's EAN011 sample has a UNT that counts 13 segments of 102 and names another message:
    the interchange is refused, naming both (its content is read in test_edifact_invoic.py)."""
    path = CORPUS / "edifact" / "edi-net" / "edifact.Issue203.edi"
    with pytest.raises(InputError) as err:
        read_documents(path.read_bytes())
    assert re.search(r"UNT says 13 segments.*UNT reference '1' does not match UNH reference '12'", str(err.value))


# --- D10A and the CEN artefacts of D14B ----------------------------------------------------------------

def _valid_sources() -> list:
    from tests.support.corpus import baseline
    return sorted(CORPUS / p for p, e in baseline().items() if e.status == "PASS" and p.split("/")[0] in ("ubl", "cii"))


@requires_corpus
def test_d10a_trees_are_the_d14b_trees_but_for_the_release():
    """D10A has D14B's table and the D14B binding: what we write is the CEN ISO 20625 rendering the
    CEN EDIFACT schematron and XSD judge (for D14B, in test_edifact_invoic.py), but for UNH 0054."""
    from lxml import etree
    sources = _valid_sources()
    assert len(sources) >= 80
    for path in sources:
        invoice = read_document(path.read_bytes()).invoice
        d14b = invoic.tree_of(invoic.write_message(invoice, "edifact-d14b"), "edifact-d14b")
        d10a = invoic.tree_of(invoic.write_message(invoice, "edifact-d10a"), "edifact-d10a")
        assert (d14b.findtext("S_UNH/C_S009/D_0054"), d10a.findtext("S_UNH/C_S009/D_0054")) == ("14B", "10A")
        for t in (d14b, d10a):
            t.find("S_UNH/C_S009/D_0054").text = "-"
        assert etree.tostring(d10a) == etree.tostring(d14b), path


def test_edigate_formats_lists_the_new_flavours():
    from click.testing import CliRunner
    from gateway.cli import main
    r = CliRunner().invoke(main, ["formats"])
    assert r.exit_code == 0, r.output
    for flavour, (name, _, _) in NEW.items():
        line = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == [name])
        assert line.split()[1:4] == ["edifact", "reads,", "writes"] and f"({flavour})" in line
        assert flavour in r.stdout.splitlines()[-1].split("translate --to: ")[1].split(". Input")[0].split(", ")
