"""The French e-invoicing rules (FNFE-MPE 1.4.0.03, XP Z12-012), rule sets ``fr`` and ``fr-warning``.

``fr`` is the business rules of the Flux 2 schematrons (BR-FR-Flux2-Schematron-UBL
and -CII) on the model, each with the id the UBL stylesheet gives its assert,
the business terms, the place and the rule's meaning in English and in the
French of the stylesheet's message. Families, one module each: ``core``
(BR-FR-01 ... BR-FR-32), ``coherence`` (BR-FR-CO), ``decimals`` (BR-FR-DEC),
``multivendor`` (BR-FR-MV, BR-FR-BD). The severity is the standard
stylesheets' flag: fatal, for every one.

FNFE-MPE also publishes a "WARNING" version of the same stylesheets for the
transition (on reception until 30 September 2026, on sending until 31 August
2026): the same asserts, all flagged warning but 26 multi-vendor and
bidirectional ones. ``fr-warning`` is that version: the same rules with its
flags (profile ``fr-warning``).

``NOT_IMPLEMENTED`` names the asserts of the stylesheets left to them, with
why; ``bindings`` maps the CII stylesheet's ids to ours and lists where the
two bindings differ. FR-COVERAGE.md tells the whole story.
"""
from __future__ import annotations

from ..registry import FATAL, RULE_SETS, WARNING, register
from . import core  # noqa: F401 - importing registers the rules; core first: families report in this order
from . import coherence, decimals, multivendor  # noqa: F401,E402
from .common import RULE_SET

__all__ = ["RULE_SET", "WARNING_SET", "NOT_IMPLEMENTED", "FATAL_IN_WARNING_VERSION"]

WARNING_SET = "fr-warning"

_EXTENDED_PARTY = ("the {what} is an EXTENDED-CTC-FR group (EXT-FR-FE-{n}), not an EN 16931 term: the model does not "
                   "hold it")
_PARTIES = {"06": "buyer's agent", "12": "buyer's agent", "29": "payee's electronic address",
            "46": "payer (direct debit mandate)", "52": "payer (direct debit mandate)", "69": "seller's agent",
            "75": "seller's agent", "92": "invoicee", "98": "invoicee", "115": "invoicer", "121": "invoicer"}
_LINE_REF = ("a line's own reference to a preceding invoice (EXT-FR-FE-136 to 138) is an EXTENDED-CTC-FR term, not an "
             "EN 16931 one: the model does not hold it")
_LINE_DELIVERY = ("a line's deliver-to place (EXT-FR-FE-146 to 158) is an EXTENDED-CTC-FR term, not an EN 16931 one: "
                  "the model does not hold it")
_MULTI = ("checks the EXTENDED-CTC-FR structure of multi-vendor and bidirectional invoices (line sub-types GROUP, "
          "DETAIL, INFORMATION EXT-FR-FE-163, parent lines EXT-FR-FE-162, each line's seller EXT-FR-FE-164 to 177, "
          "line VAT totals EXT-FR-FE-181 to 184), which are not EN 16931 terms: the model does not hold them, and "
          "judging a framework S8, B8, M8, S9, B9 or M9 without them would reject every such invoice")
_ONE = "the model holds one {what} (EN 16931: 0..1), so two of the same scheme cannot be told"

NOT_IMPLEMENTED: dict[str, str] = {
    **{f"BR-FR-{r}_EXT-FR-FE-{n}": _EXTENDED_PARTY.format(what=w, n=n)
       for n, w in _PARTIES.items() for r in ("09", "23", "25", "CO-10") if (r, n) in {
           ("09", "06"), ("09", "46"), ("09", "69"), ("09", "92"), ("09", "115"),
           ("23", "12"), ("23", "29"), ("23", "52"), ("23", "75"), ("23", "98"), ("23", "121"),
           ("25", "12"), ("25", "29"), ("25", "52"), ("25", "75"), ("25", "98"), ("25", "121")}},
    **{f"BR-FR-CO-10_EXT-FR-FE-{n}-{k}": _EXTENDED_PARTY.format(what=_PARTIES[n], n=n)
       for n in ("06", "46", "69", "92", "115") for k in (1, 2)},
    "BR-FR-01_EXT-FR-FE-136-1": _LINE_REF, "BR-FR-01_EXT-FR-FE-136-2": _LINE_REF,
    "BR-FR-02_EXT-FR-FE-136": _LINE_REF, "BR-FR-03_EXT-FR-FE-138": _LINE_REF,
    "BR-FR-04_EXT-FR-FE-137": _LINE_REF,
    "BR-FR-04_EXT-FR-FE-02": "the type of the preceding invoice (EXT-FR-FE-02) is an EXTENDED-CTC-FR term, not an "
                             "EN 16931 one: the model does not hold it",
    "BR-FR-03_EXT-FR-FE-158": _LINE_DELIVERY, "BR-FR-09_EXT-FR-FE-146": _LINE_DELIVERY,
    "BR-FR-CO-10_EXT-FR-FE-146-1": _LINE_DELIVERY, "BR-FR-CO-10_EXT-FR-FE-146-2": _LINE_DELIVERY,
    "BR-FR-16_BT-103": "never fires: the UBL stylesheet's rule has the same context as BR-FR-16_BT-96 in the same "
                       "pattern, which checks charges' rates too (CII: one assert, BR-FR-16_BT-96_BT-103)",
    "BR-FR-DEC-01_BT-111": "never fires: in both stylesheets the rule has the same context as BR-FR-DEC-01_BT-110 in "
                           "the same pattern, which checks the VAT total in the accounting currency too",
    "BR-FR-27_BT-160": "the reader reads a blank attribute name as no name, which BR-FR-27_BG-32 reports; the UBL "
                       "stylesheet's context matches nothing",
    "BR-FR-27_EXT-FR-FE-159": "the attribute code (EXT-FR-FE-159) is an EXTENDED-CTC-FR term, not an EN 16931 one",
    "BR-FR-29_BT-18": "the model holds one invoiced object identifier (EN 16931 BT-18: 0..1); the UBL stylesheet "
                      "counts within one cac:AdditionalDocumentReference, so it never fires there",
    "BR-FR-30_BT-128": "never fires: the UBL stylesheet counts within one cac:DocumentReference (one cbc:ID), the CII "
                       "one under the line item, where CII does not put BT-128",
    "BR-FR-CO-10_BT-46-2": _ONE.format(what="buyer identifier (BT-46)"),
    "BR-FR-CO-10_BT-60-2": _ONE.format(what="payee identifier (BT-60)"),
    "BR-FR-CO-10_BT-71-2": _ONE.format(what="deliver-to location identifier (BT-71)"),
    **{rule_id: _MULTI for rule_id in (
        "BR-FR-MV-01_EXT-FR-FE-163", "BR-FR-MV-02_EXT-FR-FE-163", "BR-FR-MV-03_EXT-FR-FE-164",
        "BR-FR-MV-03_EXT-FR-FE-167", "BR-FR-MV-03_EXT-FR-FE-177", "BR-FR-MV-03_EXT-FR-FE-181",
        "BR-FR-MV-03_EXT-FR-FE-182", "BR-FR-MV-03_BT-128_AFL", "BR-FR-MV-03_BT-128_AVV",
        "BR-FR-MV-05_EXT-FR-FE-BG-12", "BR-FR-MV-06_EXT-FR-FE-167", "BR-FR-MV-07_BT-128", "BR-FR-MV-08_BT-128",
        "BR-FR-MV-09_EXT-FR-FE-181", "BR-FR-MV-10_EXT-FR-FE-184", "BR-FR-MV-11_BT-128", "BR-FR-MV-12_BT-128",
        "BR-FR-MV-14-EXT-FR-FE-136", "BR-FR-MV-14-EXT-FR-FE-138", "BR-FR-BD-02_EXT-FR-FE-163",
        "BR-FR-BD-02_BT-30", "BR-FR-BD-02_BT-47", "BR-FR-BD-14-EXT-FR-FE-136", "BR-FR-BD-14-EXT-FR-FE-138")},
}

# the asserts the "WARNING" version of the stylesheets keeps fatal (the same ids in UBL and CII, but for
# the CII names of two: BR-FR-BD-02_BT-31 and BR-FR-BD-13_BT-3)
FATAL_IN_WARNING_VERSION = frozenset({
    "BR-FR-BD-02_BT-30", "BR-FR-BD-02_BT-47", "BR-FR-BD-02_EXT-FR-FE-163", "BR-FR-BD-14-EXT-FR-FE-136",
    "BR-FR-BD-14-EXT-FR-FE-138", "BR-FR-MV-01_EXT-FR-FE-163", "BR-FR-MV-02_EXT-FR-FE-163",
    "BR-FR-MV-03_BT-128_AFL", "BR-FR-MV-03_BT-128_AVV", "BR-FR-MV-03_EXT-FR-FE-164", "BR-FR-MV-03_EXT-FR-FE-167",
    "BR-FR-MV-03_EXT-FR-FE-177", "BR-FR-MV-03_EXT-FR-FE-181", "BR-FR-MV-03_EXT-FR-FE-182",
    "BR-FR-MV-05_EXT-FR-FE-BG-12", "BR-FR-MV-06_EXT-FR-FE-167", "BR-FR-MV-07_BT-128", "BR-FR-MV-08_BT-128",
    "BR-FR-MV-09_EXT-FR-FE-181", "BR-FR-MV-10_EXT-FR-FE-184", "BR-FR-MV-11_BT-128", "BR-FR-MV-12_BT-128",
    "BR-FR-MV-13_BT-3", "BR-FR-MV-14-EXT-FR-FE-136", "BR-FR-MV-14-EXT-FR-FE-138", "BR-FR-MV-BD_BT-3"})


def _register_warning_version() -> None:
    for r in list(RULE_SETS[RULE_SET].values()):
        register(r.id, r.check, terms=r.terms, description=r.description, rule_set=WARNING_SET, family=r.family,
                 severity=FATAL if r.id in FATAL_IN_WARNING_VERSION else WARNING)


if WARNING_SET not in RULE_SETS:
    _register_warning_version()
