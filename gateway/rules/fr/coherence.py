"""BR-FR-CO-03 ... BR-FR-CO-15: terms that go together in a French invoice.

The invoice type (BT-3) and the invoicing framework ("cadre de facturation",
BT-23) decide what else must be there: the contract and period of a global
discount credit note, the preceding invoice of a corrective invoice or a credit
note, a paid invoice's amounts and date. The other rules concern identifiers'
schemes, invoices in a currency other than the euro and members of a single
VAT taxable person (assujetti unique, scheme 0231).
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import Hit, after_code, blank, fr, get, items, notes_text, text

# --- the invoice type and its references -----------------------------------------------------------


@fr("BR-FR-CO-03_BT-3", terms=("BT-3", "BT-12", "BG-14"))
def br_fr_co_03(inv: Any) -> Iterator[Hit]:
    """A global discount credit note (BT-3 = 262) has the contract reference (BT-12) and the invoicing period
    with its start and end dates (BG-14). — Si le code type de la facture est égal à 262 (Avoir Remise Globale),
    alors le numéro de contrat (BT-12) doit être présent et la période de facturation (BG-14) renseignée.

    The UBL stylesheet checks CreditNote documents only (a 262 under an Invoice root is not checked there)."""
    if text(get(inv, "type_code")) != "262":
        return
    if blank(get(inv, "contract_reference")) or get(inv, "delivery.invoicing_period.start_date") is None \
            or get(inv, "delivery.invoicing_period.end_date") is None:
        yield Hit("type_code", "A global discount credit note (BT-3 262) needs the contract reference (BT-12) and the "
                               "invoicing period's start and end dates (BG-14). — Le numéro de contrat (BT-12) et la "
                               "période de facturation (BG-14) doivent être renseignés.")


@fr("BR-FR-CO-04_BT-3", terms=("BT-3", "BG-3"))
def br_fr_co_04(inv: Any) -> Iterator[Hit]:
    """A corrective invoice (BT-3 = 384, 471, 472, 473) references exactly one preceding invoice (BG-3). — Si
    le type de facture est une facture rectificative (384, 471, 472, 473), alors une et une seule référence à
    une facture antérieure (BT-25) avec sa date (BT-26) doit être présente."""
    if text(get(inv, "type_code")) not in ("384", "471", "472", "473"):
        return
    n = sum(1 for _ in items(get(inv, "preceding_invoices")))
    if n != 1:
        yield Hit("preceding_invoices", f"A corrective invoice (BT-3 {inv.type_code}) references {n} preceding "
                                        "invoices (BG-3); exactly one. — Une et une seule référence à une facture "
                                        "antérieure doit être présente.")


@fr("BR-FR-CO-05_BT-3", terms=("BT-3", "BT-25", "BT-26"))
def br_fr_co_05(inv: Any) -> Iterator[Hit]:
    """A credit note (BT-3 = 261, 381, 396, 502, 503) references a preceding invoice with its number and date
    (BT-25, BT-26), or each of its lines does. — Si le type de facture est un avoir, au moins une référence à
    une facture antérieure (BT-25) avec sa date (BT-26) doit être présente au niveau entête, ou chaque ligne
    doit en contenir une.

    The lines' own references to a preceding invoice (EXT-FR-FE-136, EXT-FR-FE-138) are not EN 16931 terms:
    on the model a credit note with lines needs the reference at document level. The UBL stylesheet checks
    CreditNote documents only (a 502 or 503 written under an Invoice root is not checked there)."""
    if text(get(inv, "type_code")) not in ("261", "381", "396", "502", "503"):
        return
    header = sum(1 for _, ref in items(get(inv, "preceding_invoices"))
                 if ref.reference is not None and ref.issue_date is not None)
    lines = sum(1 for _ in items(get(inv, "lines")))
    if header == 0 and lines:
        yield Hit("preceding_invoices", f"A credit note (BT-3 {inv.type_code}) references no preceding invoice with "
                                        "its number (BT-25) and date (BT-26). — Au moins une référence à une facture "
                                        "antérieure avec sa date doit être présente.")


@fr("BR-FR-CO-07_BT-9", terms=("BT-9", "BT-2", "BT-3", "BT-23"))
def br_fr_co_07(inv: Any) -> Iterator[Hit]:
    """The payment due date (BT-9), when there, is not before the issue date (BT-2), unless the invoice is a
    prepayment one (BT-3 = 386, 500, 503) or already paid (BT-23 = B2, S2, M2). — La date d'échéance, si
    présente, doit être postérieure ou égale à la date de facture, sauf facture d'acompte ou cadre de
    facturation B2, S2 ou M2.

    As the CII stylesheet checks it: the UBL one reads cbc:DueDate, which a CreditNote does not have."""
    due, issued = get(inv, "due_date"), get(inv, "issue_date")
    if due is None or issued is None or due >= issued:
        return
    if text(get(inv, "type_code")) in ("386", "500", "503") or \
            text(get(inv, "process_control.business_process")) in ("B2", "S2", "M2"):
        return
    yield Hit("due_date", f"The payment due date (BT-9) {due} is before the issue date (BT-2) {issued}. — La date "
                          "d'échéance doit être postérieure ou égale à la date de facture.")


@fr("BR-FR-CO-08_BT-23", terms=("BT-23", "BT-3"))
def br_fr_co_08(inv: Any) -> Iterator[Hit]:
    """A final invoice after prepayments (BT-23 = B4, S4, M4) is no prepayment invoice or credit note (BT-3 =
    386, 500, 503). — Si le cadre de facturation est B4, S4 ou M4, alors le type de facture ne peut pas être une
    facture ou un avoir d'acompte (386, 500, 503)."""
    if text(get(inv, "process_control.business_process")) in ("B4", "S4", "M4") and \
            text(get(inv, "type_code")) in ("386", "500", "503"):
        yield Hit("process_control.business_process",
                  f"The invoicing framework (BT-23) {inv.process_control.business_process} (final invoice after "
                  f"prepayments) does not go with the prepayment type (BT-3) {inv.type_code}. — Le type de facture "
                  "ne peut pas être une facture ou un avoir d'acompte.")


def _paid(inv: Any) -> bool:
    return text(get(inv, "process_control.business_process")) in ("B2", "S2", "M2")


def _number(value: Any) -> float:
    """XPath ``number()`` of an amount: NaN when there is none."""
    return float("nan") if value is None else float(value)


@fr("BR-FR-CO-09_BT-23-1", terms=("BT-23", "BT-113", "BT-112"))
def br_fr_co_09_1(inv: Any) -> Iterator[Hit]:
    """An already paid invoice (BT-23 = B2, S2, M2) has the paid amount (BT-113) equal to the total with VAT
    (BT-112). — Si le cadre de facturation est B2, S2 ou M2 (facture déjà payée), alors le montant déjà payé
    (BT-113) doit être égal au montant total TTC (BT-112)."""
    if _paid(inv) and not _number(get(inv, "totals.paid_amount")) == _number(get(inv, "totals.total_with_vat")):
        yield Hit("totals.paid_amount", f"The invoice is already paid (BT-23 {inv.process_control.business_process}): "
                                        "the paid amount (BT-113) must equal the total with VAT (BT-112). — Le "
                                        "montant déjà payé doit être égal au montant total TTC.")


@fr("BR-FR-CO-09_BT-23-2", terms=("BT-23", "BT-115"))
def br_fr_co_09_2(inv: Any) -> Iterator[Hit]:
    """An already paid invoice (BT-23 = B2, S2, M2) has an amount due (BT-115) of 0. — Si le cadre de
    facturation est B2, S2 ou M2, alors le net à payer (BT-115) doit être égal à 0."""
    if _paid(inv) and not _number(get(inv, "totals.amount_due")) == 0:
        yield Hit("totals.amount_due", f"The invoice is already paid (BT-23 {inv.process_control.business_process}): "
                                       "the amount due (BT-115) must be 0. — Le net à payer doit être égal à 0.")


@fr("BR-FR-CO-09_BT-23-3", terms=("BT-23", "BT-9"))
def br_fr_co_09_3(inv: Any) -> Iterator[Hit]:
    """An already paid invoice (BT-23 = B2, S2, M2) has a payment due date (BT-9): the date it was paid. — Si
    le cadre de facturation est B2, S2 ou M2, alors la date d'échéance (BT-9) doit être renseignée et
    correspondre à la date de paiement."""
    if _paid(inv) and get(inv, "due_date") is None:
        yield Hit("due_date", f"The invoice is already paid (BT-23 {inv.process_control.business_process}): the "
                              "payment due date (BT-9) must be there. — La date d'échéance doit être renseignée.")


# --- identifiers' schemes ------------------------------------------------------------------------

def _scheme_missing(rule_id: str, term: str, path: str, who: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        ident = get(inv, path)
        if ident is not None and ident.scheme is None:
            yield Hit(path, f"The {who} identifier ({term}) has no scheme ({term}-1). — Si l'identifiant global "
                            f"est renseigné, alors son schéma ({term}-1) doit également être renseigné.")
    check.__doc__ = (f"The {who} identifier ({term}) has a scheme ({term}-1). — Si l'identifiant global du "
                     f"{who} est renseigné, alors son schéma ({term}-1) doit également être renseigné.")
    fr(rule_id, terms=(term,))(check)


@fr("BR-FR-CO-10_BT-29-1", terms=("BT-29",))
def br_fr_co_10_bt_29_1(inv: Any) -> Iterator[Hit]:
    """Every seller identifier (BT-29) has a scheme (BT-29-1). — Chaque identifiant global du vendeur (BT-29)
    doit avoir un attribut schemeID (BT-29-1).

    The CII stylesheet checks ram:GlobalID only; an identifier without a scheme is a ram:ID there."""
    if any(ident.scheme is None for _, ident in items(get(inv, "seller.identifiers"))):
        yield Hit("seller.identifiers", "A seller identifier (BT-29) has no scheme (BT-29-1). — Chaque identifiant "
                                        "global du vendeur doit avoir un attribut schemeID.")


@fr("BR-FR-CO-10_BT-29-2", terms=("BT-29",))
def br_fr_co_10_bt_29_2(inv: Any) -> Iterator[Hit]:
    """No two seller identifiers (BT-29) have the same scheme (BT-29-1). — Chaque schemeID ne peut apparaître
    qu'une seule fois dans l'identifiant du vendeur (BT-29).

    UBL keeps the SEPA creditor identifier (BT-90) among the seller's identifiers, scheme SEPA: it counts."""
    schemes = [ident.scheme for _, ident in items(get(inv, "seller.identifiers")) if ident.scheme is not None]
    if get(inv, "payment_instructions.direct_debit.creditor_identifier") is not None:
        schemes.append("SEPA")
    if len(set(schemes)) != len(schemes):
        yield Hit("seller.identifiers", "Two seller identifiers (BT-29) have the same scheme (BT-29-1). — Chaque "
                                        "schemeID ne peut apparaître qu'une seule fois.")


_scheme_missing("BR-FR-CO-10_BT-46-1", "BT-46", "buyer.identifier", "buyer")
_scheme_missing("BR-FR-CO-10_BT-60-1", "BT-60", "payee.identifier", "payee")
_scheme_missing("BR-FR-CO-10_BT-71-1", "BT-71", "delivery.deliver_to_location_identifier", "deliver-to location")


# --- currency ----------------------------------------------------------------------------------

@fr("BR-FR-CO-12_BT-5", terms=("BT-5", "BT-6", "BT-111"))
def br_fr_co_12(inv: Any) -> Iterator[Hit]:
    """An invoice in another currency than the euro (BT-5) has EUR as VAT accounting currency (BT-6) and its
    total VAT in euros (BT-111). — Si la devise de facture est différente de EUR, alors la devise de
    comptabilité (BT-6) doit être présente et égale à EUR et le montant de TVA en devise de comptabilité
    (BT-111) doit être renseigné."""
    currency = get(inv, "currency_code")
    if currency is None or text(currency) == "EUR":
        return
    if text(get(inv, "vat_accounting_currency_code")) != "EUR" or \
            get(inv, "totals.total_vat_in_accounting_currency") is None:
        yield Hit("vat_accounting_currency_code",
                  f"The invoice is in {currency} (BT-5): the VAT accounting currency (BT-6) must be EUR and the total "
                  "VAT in euros (BT-111) must be there. — La devise de comptabilité doit être EUR et le montant de "
                  "TVA en devise de comptabilité doit être renseigné.")


# --- members of a single VAT taxable person (assujetti unique) ------------------------------------------

def _single_taxable_member(inv: Any) -> bool:
    return any(ident.scheme == "0231" for _, ident in items(get(inv, "seller.identifiers")))


@fr("BR-FR-CO-14_BT-29-1", terms=("BT-29-1", "BT-21", "BT-22"))
def br_fr_co_14(inv: Any) -> Iterator[Hit]:
    """A seller identified with scheme 0231 (member of a single VAT taxable person) says so in a note of
    subject code TXD: MEMBRE_ASSUJETTI_UNIQUE. — Si le schéma d'identification du vendeur est '0231', une note
    avec le code sujet 'TXD' et le texte 'MEMBRE_ASSUJETTI_UNIQUE' doit être présente."""
    if _single_taxable_member(inv) and after_code(notes_text(inv), "TXD") != "MEMBRE_ASSUJETTI_UNIQUE":
        yield Hit("notes", "The seller is a member of a single VAT taxable person (BT-29-1 0231): a note of subject "
                           "code TXD must say MEMBRE_ASSUJETTI_UNIQUE. — Une note TXD avec le texte "
                           "'MEMBRE_ASSUJETTI_UNIQUE' doit être présente.")


@fr("BR-FR-CO-15_BT-29-1", terms=("BT-29-1", "BG-11", "BT-63"))
def br_fr_co_15(inv: Any) -> Iterator[Hit]:
    """A seller identified with scheme 0231 (member of a single VAT taxable person) has the tax representative
    (BG-11) with the single taxable person's VAT identifier (BT-63). — Si le vendeur est membre d'un assujetti
    unique, alors le bloc représentant fiscal (BG-11) doit être présent et contenir le numéro de TVA de
    l'assujetti unique (BT-63)."""
    if _single_taxable_member(inv) and blank(get(inv, "tax_representative.vat_identifier")):
        yield Hit("tax_representative", "The seller is a member of a single VAT taxable person (BT-29-1 0231): the "
                                        "tax representative (BG-11) with its VAT identifier (BT-63) must be there. "
                                        "— Le bloc représentant fiscal doit contenir le numéro de TVA de "
                                        "l'assujetti unique.")

