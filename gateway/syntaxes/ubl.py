"""UBL 2.1 Invoice and CreditNote (EN 16931 binding): mappings + the OASIS XSDs."""
from gateway.xml import schemas
from gateway.syntaxes.xml_syntax import XmlSyntax

SYNTAX = XmlSyntax(
    "ubl", ["ubl-creditnote", "ubl-invoice"],
    lambda name: schemas.ubl_creditnote() if name == "ubl-creditnote" else schemas.ubl_invoice())
