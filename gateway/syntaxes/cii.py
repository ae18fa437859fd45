"""UN/CEFACT Cross Industry Invoice D16B (EN 16931 binding): mapping + the EN 16931 profile XSD."""
from gateway.xml import schemas
from gateway.syntaxes.xml_syntax import XmlSyntax

SYNTAX = XmlSyntax("cii", ["cii"], lambda name: schemas.cii())
