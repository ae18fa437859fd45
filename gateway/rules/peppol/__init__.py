"""Peppol BIS Billing 3.0 rules on the model (rule set ``peppol``), agreeing with OpenPeppol's schematron.

The rules of ``PEPPOL-EN16931-UBL.xslt`` (Peppol BIS Billing 3.0, release
2026.5 in the shared corpus) that the model can carry, one module per family:

* ``document``: PEPPOL-EN16931-R001 ... R061 on the document (business
  process, specification, references, tax totals, electronic addresses);
* ``lines``: R040 ... R046, R110 ... R130 (allowances and charges, lines,
  prices, periods);
* ``identifiers``: PEPPOL-COMMON-R040 ... R057 and CL008 (identifiers by
  scheme: GLN, organisation numbers, electronic address schemes);
* ``codes``: PEPPOL-EN16931-CL0xx and P01xx (code lists, type codes by
  profile, exemption reasons by VAT category);
* the national rules: ``no``, ``dk``, ``it``, ``se``, ``gr``, ``iceland``,
  ``nl``, ``de``.

Code lists are data (``codelists.yaml``, extracted from the stylesheet by
``tools/extract_peppol_codelists.py``). The profile ``peppol``
(``gateway/rules/profiles.yaml``) applies them after the EN 16931 rules;
``gateway/rules/PEPPOL-COVERAGE.md`` lists what is implemented, what is
left to the schematron (syntax-bound rules) and where the model makes us
differ.
"""
from __future__ import annotations

# importing registers the rules; the order of the imports is the order findings are reported in
from . import document, lines, identifiers, codes  # noqa: F401,I001
from . import no, dk, it, se, gr, iceland, nl, de  # noqa: F401,I001

__all__: list[str] = []

# The stylesheet's rules that are not implemented on the model, and why (PEPPOL-COVERAGE.md).
NOT_IMPLEMENTED: dict[str, str] = {
    "PEPPOL-EN16931-R008": "empty elements: the readers read an empty element as an absent term; the model has "
                           "no empty elements",
    "PEPPOL-EN16931-R080": "several project references (AdditionalDocumentReference type 50) on a credit note: "
                           "the model holds one project reference (BT-11)",
    "PEPPOL-EN16931-R043": "the spelling of ChargeIndicator ('true'/'false'): the model holds allowances and "
                           "charges apart; the reader also takes '1'/'0', and an allowance/charge with another "
                           "indicator is not read at all",
    "PEPPOL-EN16931-R044": "a charge at price level: the model holds only a price discount (BT-147); a price "
                           "charge is not read",
    "PEPPOL-EN16931-R051": "currencyID of every amount: the model holds amounts without a currency each (BT-5 "
                           "and BT-6 say it once), as for BR-CL-03",
    "PEPPOL-EN16931-CL007": "currencyID of every amount (ISO 4217): same as R051",
    "PEPPOL-EN16931-F001": "dates written YYYY-MM-DD: the model holds dates, not how they were written; the "
                           "readers refuse a date they cannot read",
    "PEPPOL-EN16931-R100": "several document references on a line: the model holds one invoiced object "
                           "identifier (BT-128) per line",
    "PEPPOL-EN16931-R101": "line document references of another type than 130: the reader only reads type 130 "
                           "(BT-128)",
}
