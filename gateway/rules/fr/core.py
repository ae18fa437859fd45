"""BR-FR-01 ... BR-FR-32: formats, code lists and mandatory French mentions.

Each rule follows the assert of the UBL Flux 2 stylesheet (FNFE-MPE 1.4.0.03)
and carries its id; where the CII stylesheet means something else the
difference is in ``bindings.py`` and FR-COVERAGE.md. A rule whose context is
an element (an identifier, a date, a line) applies only when the element is
there, and fires once per offending element, as the stylesheet does.

The French mandatory mentions checked here: the seller's SIREN (BR-FR-10),
the buyer's SIREN when the invoice is B2B (BR-FR-11), both electronic
addresses (BR-FR-12, BR-FR-13), the invoicing framework ("cadre de
facturation", BT-23: goods B, services S or both M, BR-FR-08) and the
recovery costs, late payment penalties and discount notes (BR-FR-05).
"""
from __future__ import annotations

from typing import Any, Iterator

from .common import (ATTACHMENT_CODES, BAR_TREATMENTS, BILLING_MODES, DOCUMENT_TYPES, SELF_BILLED_TYPES,
                     VAT_CATEGORIES, VAT_RATES, Hit, bar_treatment, blank, fr, get, items,
                     notes_text, scheme_format_ok, siren_ok, siret_matches_siren, text, valid_date, valid_id)

# --- BR-FR-01, BR-FR-02: invoice numbers ------------------------------------------------------


def _numbers(inv: Any) -> Iterator[tuple[str, str, Any]]:
    """(term, path, value) of BT-1 and every BT-25 that is there."""
    if get(inv, "number") is not None:
        yield "BT-1", "number", inv.number
    for k, ref in items(get(inv, "preceding_invoices")):
        if ref.reference is not None:
            yield "BT-25", f"preceding_invoices[{k}].reference", ref.reference


def _number_rule(rule_id: str, term: str, length: bool, message: str, doc: str) -> None:
    def check(inv: Any) -> Iterator[Hit]:
        for t, path, value in _numbers(inv):
            if t == term and not (len(text(value)) <= 35 if length else valid_id(value)):
                yield Hit(path, message.format(value=text(value)))
    check.__doc__ = doc
    fr(rule_id, terms=(term,))(check)


_TOO_LONG = "{t} has more than 35 characters: {{value!r}}. — L'identifiant {what} ne doit pas dépasser 35 caractères."
_BAD_CHARS = ("{t} holds characters other than letters, digits and + - _ /, or spaces: {{value!r}}. — "
              "L'identifiant {what} contient des caractères non autorisés.")
for _t, _what in (("BT-1", "de facture"), ("BT-25", "de facture référencée")):
    _number_rule(f"BR-FR-01_{_t}-1", _t, True, _TOO_LONG.format(t=_t, what=_what),
                 f"The {'invoice number' if _t == 'BT-1' else 'preceding invoice reference'} ({_t}) has at most 35 "
                 f"characters. — L'identifiant {_what} ne doit pas dépasser 35 caractères.")
    _number_rule(f"BR-FR-01_{_t}-2", _t, False, _BAD_CHARS.format(t=_t, what=_what),
                 f"The {'invoice number' if _t == 'BT-1' else 'preceding invoice reference'} ({_t}) holds only "
                 f"letters, digits and + - _ /, without spaces. — Seuls les caractères alphanumériques et les "
                 f"symboles + - _ / sont autorisés, sans espaces.\n\nThe same test as BR-FR-02_{_t}; the UBL "
                 f"stylesheet makes both asserts, the CII one only BR-FR-02.")
    _number_rule(f"BR-FR-02_{_t}", _t, False, _BAD_CHARS.format(t=_t, what=_what),
                 f"The {'invoice number' if _t == 'BT-1' else 'preceding invoice reference'} ({_t}) is made of "
                 f"letters, digits and - + _ / only: no space, not only spaces. — L'identifiant {_what} doit être "
                 f"composé uniquement de caractères alphanumériques et des caractères - + _ /.")


# --- BR-FR-03: dates from 2000 to 2099 ---------------------------------------------------------

_DOCUMENT_DATES = {"BT-2": "issue_date", "BT-7": "vat_point_date", "BT-9": "due_date",
                   "BT-72": "delivery.actual_delivery_date", "BT-73": "delivery.invoicing_period.start_date",
                   "BT-74": "delivery.invoicing_period.end_date"}


def _dates(inv: Any, term: str) -> Iterator[tuple[str, Any]]:
    """(path, date) of every date of ``term`` that BR-FR-03 checks."""
    if term in _DOCUMENT_DATES:
        path = _DOCUMENT_DATES[term]
        yield path, get(inv, path)
    elif term == "BT-26":
        for k, ref in items(get(inv, "preceding_invoices")):
            yield f"preceding_invoices[{k}].issue_date", ref.issue_date
    else:
        field = "start_date" if term == "BT-134" else "end_date"
        for k, line in items(get(inv, "lines")):
            if line.period is not None:
                yield f"lines[{k}].period.{field}", getattr(line.period, field)


_DATE_LABELS = {"BT-2": ("the invoice issue date", "La date d'émission"),
                "BT-7": ("the VAT point date", "La date de fait générateur de la taxe"),
                "BT-9": ("the payment due date", "La date d'échéance"),
                "BT-26": ("the preceding invoice's issue date", "La date d'émission de la facture référencée"),
                "BT-72": ("the actual delivery date", "La date de livraison effective"),
                "BT-73": ("the invoicing period start date", "La date de début de période de facturation"),
                "BT-74": ("the invoicing period end date", "La date de fin de période de facturation"),
                "BT-134": ("the line period start date", "La date de début de période de facturation en ligne"),
                "BT-135": ("the line period end date", "La date de fin de période de facturation en ligne")}


def _date_rule(term: str) -> None:
    label, fr_label = _DATE_LABELS[term]

    def check(inv: Any) -> Iterator[Hit]:
        for path, value in _dates(inv, term):
            if value is not None and not valid_date(value):
                yield Hit(path, f"{label[0].upper() + label[1:]} ({term}) is {value}, not in the years 2000 to "
                                f"2099. — {fr_label} doit contenir une année comprise entre 2000 et 2099.")
    check.__doc__ = (f"{label[0].upper() + label[1:]} ({term}) is a date of the years 2000 to 2099. — {fr_label} "
                     f"doit contenir une année comprise entre 2000 et 2099.")
    if term == "BT-9":
        check.__doc__ += ("\n\nThe UBL stylesheet checks cbc:DueDate, which a CreditNote does not have (its due "
                          "date is in cac:PaymentMeans): credit notes' due dates are checked here as CII does.")
    fr(f"BR-FR-03_{term}", terms=(term,))(check)


for _t in ("BT-2", "BT-7", "BT-9", "BT-26", "BT-72", "BT-73", "BT-74", "BT-134", "BT-135"):
    _date_rule(_t)


# --- BR-FR-04: document types ----------------------------------------------------------------

@fr("BR-FR-04_BT-3", terms=("BT-3",))
def br_fr_04_bt_3(inv: Any) -> Iterator[Hit]:
    """The invoice type code (BT-3) is one of the sixteen the French reform allows. — Le code type de document
    n'est pas autorisé. Valeurs acceptées : 380, 389, 393, 501, 386, 500, 384, 471, 472, 473, 261, 262, 381,
    396, 502, 503."""
    code = get(inv, "type_code")
    if code is not None and text(code) not in DOCUMENT_TYPES:
        yield Hit("type_code", f"The invoice type code (BT-3) {code!r} is not one of {', '.join(DOCUMENT_TYPES)}. "
                               "— Le code type de document n'est pas autorisé.")


# --- BR-FR-05, BR-FR-06: the mandatory notes ----------------------------------------------------

_MENTIONS = {"PMT": ("the fixed compensation for recovery costs", "aux frais de recouvrement"),
             "PMD": ("the late payment penalties", "aux pénalités de retard"),
             "AAB": ("the early payment discount or its absence", "à l'escompte ou à son absence"),
             "TXD": ("a tax mention", "à une mention de taxe")}


def _mention_rule(rule_id: str, code: str) -> None:
    what, fr_what = _MENTIONS[code]

    def check(inv: Any) -> Iterator[Hit]:
        if f"#{code}#" not in notes_text(inv):
            yield Hit("notes", f"No note (BG-1) with subject code {code} (BT-21): {what} must be stated. — "
                               f"La mention relative {fr_what} (code {code}) est absente.")
    check.__doc__ = (f"A note (BG-1) with subject code {code} (BT-21) states {what}. — La mention relative "
                     f"{fr_what} (code {code}) est obligatoire dans les notes.\n\nThe UBL stylesheet looks for "
                     f"#{code}# in the notes joined together, as UBL writes a subject code; the CII one for a "
                     f"note whose subject code is {code}.")
    fr(rule_id, terms=("BT-21", "BT-22"))(check)


def _once_rule(rule_id: str, code: str) -> None:
    what, fr_what = _MENTIONS[code]

    def check(inv: Any) -> Iterator[Hit]:
        n = notes_text(inv).count(f"#{code}#")
        if n > 1:
            yield Hit("notes", f"The subject code {code} (BT-21) is used {n} times in the notes (BG-1); once at "
                               f"most. — Le code sujet {code} ne doit apparaître qu'une seule fois dans les notes.")
    check.__doc__ = (f"The subject code {code} ({what}, BT-21) appears at most once in the notes (BG-1). — Le code "
                     f"sujet {code} ne doit apparaître qu'une seule fois dans les notes.")
    fr(rule_id, terms=("BT-21",))(check)


for _i, _c in enumerate(("PMT", "PMD", "AAB"), 1):
    _mention_rule(f"BR-FR-05_BT-22-{_i}", _c)
for _i, _c in enumerate(("PMT", "PMD", "AAB", "TXD"), 1):
    _once_rule(f"BR-FR-06_BT-21-{_i}", _c)


# --- BR-FR-08: the invoicing framework ----------------------------------------------------------

@fr("BR-FR-08_BT-23", terms=("BT-23",))
def br_fr_08_bt_23(inv: Any) -> Iterator[Hit]:
    """The invoicing framework ("cadre de facturation", BT-23) is there and one of B1, S1, M1, B2, S2, M2, S3,
    B4, S4, M4, S5, S6, B7, S7, B8, S8, M8, B9, S9, M9 (B goods, S services, M both). — La valeur du cadre de
    facturation est absente ou n'est pas autorisée."""
    value = get(inv, "process_control.business_process")
    if value is None or text(value) not in BILLING_MODES:
        shown = "missing" if value is None else repr(value)
        yield Hit("process_control.business_process",
                  f"The invoicing framework (BT-23) is {shown}; it must be one of {', '.join(BILLING_MODES)}. — "
                  "La valeur du cadre de facturation est absente ou n'est pas autorisée.")


# --- BR-FR-09: SIRET and SIREN --------------------------------------------------------------------

def _first_with_scheme(idents: Any, scheme: str) -> Any:
    for _, ident in items(idents):
        if ident.scheme == scheme:
            return ident
    return None


def _siren_of(ident: Any) -> Any:
    """``CompanyID[@schemeID='0002']``: the value of a legal registration identifier of scheme 0002."""
    return ident.value if ident is not None and ident.scheme == "0002" else None


def _siret_message(term: str, siret: Any, siren: Any) -> str:
    return (f"The SIRET ({term}, scheme 0009) {text(siret)!r} is not 14 digits beginning with the SIREN "
            f"{text(siren)!r}. — Le SIRET doit contenir 14 chiffres et commencer par le SIREN.")


@fr("BR-FR-09_BT-29", terms=("BT-29", "BT-30"))
def br_fr_09_bt_29(inv: Any) -> Iterator[Hit]:
    """A seller identifier of scheme 0009 (SIRET, BT-29) is 14 digits beginning with the seller's SIREN (BT-30,
    scheme 0002). — Le SIRET doit contenir 14 chiffres et commencer par le SIREN."""
    siret = _first_with_scheme(get(inv, "seller.identifiers"), "0009")
    if siret is not None:
        siren = _siren_of(get(inv, "seller.legal_registration_identifier"))
        if not siret_matches_siren(siret.value, siren):
            yield Hit("seller.identifiers", _siret_message("BT-29", siret.value, siren))


@fr("BR-FR-09_BT-46", terms=("BT-46", "BT-47"))
def br_fr_09_bt_46(inv: Any) -> Iterator[Hit]:
    """A buyer identifier of scheme 0009 (SIRET, BT-46) is 14 digits beginning with the buyer's SIREN (BT-47,
    scheme 0002). — Le SIRET doit contenir 14 chiffres et commencer par le SIREN."""
    siret = get(inv, "buyer.identifier")
    if siret is not None and siret.scheme == "0009":
        siren = _siren_of(get(inv, "buyer.legal_registration_identifier"))
        if not siret_matches_siren(siret.value, siren):
            yield Hit("buyer.identifier", _siret_message("BT-46", siret.value, siren))


@fr("BR-FR-09_BT-60", terms=("BT-60", "BT-61"))
def br_fr_09_bt_60(inv: Any) -> Iterator[Hit]:
    """A payee identifier of scheme 0009 (SIRET, BT-60) is 14 digits beginning with the payee's SIREN (BT-61,
    scheme 0002) when there is one. — Le SIRET doit contenir 14 chiffres et commencer par le SIREN."""
    siret = get(inv, "payee.identifier")
    if siret is not None and siret.scheme == "0009":
        siren = _siren_of(get(inv, "payee.legal_registration_identifier"))
        if not text(siren):
            siren = text(siret.value)[:9]
        if not siret_matches_siren(siret.value, siren):
            yield Hit("payee.identifier", _siret_message("BT-60", siret.value, siren))


@fr("BR-FR-09_BT-71", terms=("BT-71",))
def br_fr_09_bt_71(inv: Any) -> Iterator[Hit]:
    """A deliver-to location identifier of scheme 0009 (SIRET, BT-71) is 14 digits. — Le SIRET doit contenir
    14 chiffres et commencer par le SIREN.

    The stylesheets compare it with the deliver-to party's own SIREN, which is not an EN 16931 term (the
    model does not hold it); without one they compare it with its own first nine digits, as here."""
    siret = get(inv, "delivery.deliver_to_location_identifier")
    if siret is not None and siret.scheme == "0009":
        siren = text(siret.value)[:9]
        if not siret_matches_siren(siret.value, siren):
            yield Hit("delivery.deliver_to_location_identifier", _siret_message("BT-71", siret.value, siren))


# --- BR-FR-10, BR-FR-11: SIREN of the seller, and of the buyer in B2B -----------------------------

def _has_legal_entity(inv: Any) -> bool:
    """Whether UBL has the seller's cac:PartyLegalEntity: it holds BT-27, BT-30 and BT-33."""
    seller = get(inv, "seller")
    return seller is not None and any(v is not None for v in (
        seller.name, seller.legal_registration_identifier, seller.additional_legal_information))


@fr("BR-FR-10_BT-30", terms=("BT-30",))
def br_fr_10_bt_30(inv: Any) -> Iterator[Hit]:
    """The seller's SIREN (legal registration identifier BT-30 with scheme 0002) is there and nine digits. —
    Le SIREN du vendeur est obligatoire et doit être composé exactement de 9 chiffres.

    UBL checks it in the seller's cac:PartyLegalEntity (which the seller name BT-27 needs anyway); CII on
    every invoice."""
    if not _has_legal_entity(inv):
        return
    ident = get(inv, "seller.legal_registration_identifier")
    if ident is None or ident.scheme != "0002" or not siren_ok(ident.value):
        shown = "missing" if ident is None or ident.scheme != "0002" else repr(text(ident.value))
        yield Hit("seller.legal_registration_identifier",
                  f"The seller's SIREN (BT-30, scheme 0002) is {shown}; it is mandatory and nine digits. — Le "
                  "SIREN du vendeur est obligatoire et doit être composé exactement de 9 chiffres.")


@fr("BR-FR-11_BT-47", terms=("BT-47", "BT-22"))
def br_fr_11_bt_47(inv: Any) -> Iterator[Hit]:
    """When the note with subject code BAR says B2B, the buyer's SIREN (BT-47 with scheme 0002) is there and
    nine digits. — Si une note contient le code sujet BAR avec la valeur 'B2B', alors le SIREN de l'acheteur
    est obligatoire et doit être composé exactement de 9 chiffres."""
    if bar_treatment(inv) != "B2B":
        return
    ident = get(inv, "buyer.legal_registration_identifier")
    if ident is None or ident.scheme != "0002" or not siren_ok(ident.value):
        shown = "missing" if ident is None or ident.scheme != "0002" else repr(text(ident.value))
        yield Hit("buyer.legal_registration_identifier",
                  f"The invoice is B2B (note BAR) and the buyer's SIREN (BT-47, scheme 0002) is {shown}. — Le "
                  "SIREN de l'acheteur est obligatoire et doit être composé exactement de 9 chiffres.")


# --- BR-FR-12, BR-FR-13: electronic addresses -----------------------------------------------------

@fr("BR-FR-12_BT-49", terms=("BT-49",))
def br_fr_12_bt_49(inv: Any) -> Iterator[Hit]:
    """The buyer's electronic address (BT-49) is there. — Le BT-49 est obligatoire."""
    if blank(get(inv, "buyer.electronic_address.value")):
        yield Hit("buyer.electronic_address", "The buyer's electronic address (BT-49) is missing. — Le BT-49 est "
                                              "obligatoire.")


@fr("BR-FR-13_BT-34", terms=("BT-34",))
def br_fr_13_bt_34(inv: Any) -> Iterator[Hit]:
    """The seller's electronic address (BT-34) is there. — Le BT-34 est obligatoire."""
    if blank(get(inv, "seller.electronic_address.value")):
        yield Hit("seller.electronic_address", "The seller's electronic address (BT-34) is missing. — Le BT-34 "
                                               "est obligatoire.")


# --- BR-FR-15, BR-FR-16: VAT categories and rates ---------------------------------------------------

def _allowance_charges(inv: Any) -> Iterator[tuple[str, Any]]:
    """(path, group) of every document level allowance (BG-20) and charge (BG-21), as UBL orders them."""
    for k, a in items(get(inv, "allowances")):
        yield f"allowances[{k}]", a
    for k, c in items(get(inv, "charges")):
        yield f"charges[{k}]", c


def _categories(inv: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(path, VAT category code) of the allowances and charges, the breakdowns or the lines."""
    if where == "allowances":
        for path, ac in _allowance_charges(inv):
            yield f"{path}.vat_category_code", ac.vat_category_code
    elif where == "breakdown":
        for k, b in items(get(inv, "vat_breakdown")):
            yield f"vat_breakdown[{k}].category_code", b.category_code
    else:
        for k, line in items(get(inv, "lines")):
            if get(line, "vat") is not None:
                yield f"lines[{k}].vat.category_code", line.vat.category_code


def _category_rules(valid_id_: str, lm_id: str, where: str, terms: tuple[str, ...], label: str) -> None:
    def valid(inv: Any) -> Iterator[Hit]:
        for path, code in _categories(inv, where):
            if code is not None and text(code) not in VAT_CATEGORIES:
                yield Hit(path, f"The VAT category code ({'/'.join(terms)}) {code!r} is not one of "
                                f"{', '.join(VAT_CATEGORIES)}. — Code de catégorie de TVA invalide.")
    valid.__doc__ = (f"The VAT category code of {label} ({'/'.join(terms)}) is one of S, E, AE, K, G, O, Z. — "
                     "Veuillez utiliser un code valide : S, E, AE, K, G, O, Z.")

    def lm(inv: Any) -> Iterator[Hit]:
        for path, code in _categories(inv, where):
            if text(code) in ("L", "M"):
                yield Hit(path, f"The VAT category code ({'/'.join(terms)}) {code!r} (Canary Islands, Ceuta and "
                                "Melilla) has no use in France. — Les codes 'L' et 'M' ne sont pas pertinents en "
                                "France.")
    lm.__doc__ = (f"The VAT category code of {label} ({'/'.join(terms)}) is not L or M (Canary Islands, Ceuta and "
                  "Melilla). — Les codes 'L' et 'M' ne sont pas pertinents en France.")
    fr(valid_id_, terms=terms)(valid)
    fr(lm_id, terms=terms)(lm)


_category_rules("BR-FR-15_BT-95_BT-102-1", "BR-FR-15_BT-95_BT-102-2", "allowances", ("BT-95", "BT-102"),
                "a document level allowance or charge")
_category_rules("BR-FR-15_BT-118-1", "BR-FR-15_BT-118-2", "breakdown", ("BT-118",), "a VAT breakdown")
# the UBL stylesheet's id for the L/M test on lines is BR-FR-08_BT-151-2 (a slip of its authors), kept as is
_category_rules("BR-FR-15_BT-151-1", "BR-FR-08_BT-151-2", "lines", ("BT-151",), "an invoice line")


def _rates(inv: Any, where: str) -> Iterator[tuple[str, Any]]:
    if where == "allowances":
        for path, ac in _allowance_charges(inv):
            yield f"{path}.vat_rate", ac.vat_rate
    elif where == "breakdown":
        for k, b in items(get(inv, "vat_breakdown")):
            yield f"vat_breakdown[{k}].rate", b.rate
    else:
        for k, line in items(get(inv, "lines")):
            yield f"lines[{k}].vat.rate", get(line, "vat.rate")


def _rate_rule(rule_id: str, where: str, terms: tuple[str, ...], label: str, extra: str = "") -> None:
    def check(inv: Any) -> Iterator[Hit]:
        for path, rate in _rates(inv, where):
            if rate is not None and text(rate) not in VAT_RATES:
                yield Hit(path, f"The VAT rate ({'/'.join(terms)}) {text(rate)!r} is not a French VAT rate "
                                "(0, 0.9, 1.05, 1.75, 2.1, 5.5, 7, 8.5, 9.2, 9.6, 10, 13, 19.6, 20, 20.6 with up to "
                                "two decimals). — Le taux de TVA doit faire partie des valeurs autorisées.")
    check.__doc__ = (f"The VAT rate of {label} ({'/'.join(terms)}) is a French rate, written as a percentage "
                     "with at most two decimals: 0, 0.9, 1.05, 1.75, 2.1, 5.5, 7, 8.5, 9.2, 9.6, 10, 13, 19.6, 20 "
                     "or 20.6. — Le taux de TVA doit être exprimé en pourcentage sans symbole « % » et faire "
                     "partie des valeurs autorisées." + extra)
    fr(rule_id, terms=terms)(check)


_rate_rule("BR-FR-16_BT-96", "allowances", ("BT-96", "BT-103"), "a document level allowance or charge",
           "\n\nThe UBL stylesheet's BR-FR-16_BT-103 has the same context in the same pattern and so never fires: "
           "this rule checks the charges too (CII: BR-FR-16_BT-96_BT-103).")
_rate_rule("BR-FR-16_BT-119", "breakdown", ("BT-119",), "a VAT breakdown")
_rate_rule("BR-FR-16_BT-152", "lines", ("BT-152",), "an invoice line",
           "\n\nThe UBL stylesheet's context names cac:InvoiceLine only; credit note lines are checked here "
           "too, as CII does.")


# --- BR-FR-17, BR-FR-18: attachments ------------------------------------------------------------

@fr("BR-FR-17_BT-123", terms=("BT-123",))
def br_fr_17_bt_123(inv: Any) -> Iterator[Hit]:
    """The description of a supporting document (BT-123), when there, is one of the French attachment codes
    (RIB, LISIBLE, FEUILLE_DE_STYLE, PJA, BORDEREAU_SUIVI, DOCUMENT_ANNEXE, BON_LIVRAISON, BON_COMMANDE,
    BORDEREAU_SUIVI_VALIDATION, ETAT_ACOMPTE, FACTURE_PAIEMENT_DIRECT, RECAPITULATIF_COTRAITANCE). — Le code
    de qualification de la pièce jointe doit appartenir à la liste des codes autorisés."""
    for k, doc in items(get(inv, "supporting_documents")):
        if doc.description is not None and text(doc.description) not in ATTACHMENT_CODES:
            yield Hit(f"supporting_documents[{k}].description",
                      f"The supporting document description (BT-123) {doc.description!r} is not a French "
                      "attachment code. — Le code de qualification de la pièce jointe est invalide.")


@fr("BR-FR-18_BT-123", terms=("BT-123",))
def br_fr_18_bt_123(inv: Any) -> Iterator[Hit]:
    """At most one supporting document (BG-24) is described LISIBLE (BT-123): the readable copy. — Il ne peut y
    avoir qu'un seul document additionnel dont la description est "LISIBLE"."""
    n = sum(1 for _, doc in items(get(inv, "supporting_documents")) if doc.description == "LISIBLE")
    if n > 1:
        yield Hit("supporting_documents", f"{n} supporting documents (BG-24) are described LISIBLE (BT-123); one "
                                          "at most. — Il ne peut y avoir qu'un seul document \"LISIBLE\".")


# --- BR-FR-20 to BR-FR-22: the BAR note (B2B, B2C ...) ----------------------------------------------

@fr("BR-FR-20_BT-21", terms=("BT-21", "BT-22"))
def br_fr_20_bt_21(inv: Any) -> Iterator[Hit]:
    """A note with subject code BAR (BT-21) says B2B, B2BINT, B2C, B2CINT, OUTOFSCOPE or ARCHIVEONLY (BT-22). —
    Lorsqu'une note a pour code sujet « BAR », la valeur associée doit être l'une des suivantes : B2B, B2BINT,
    B2C, B2CINT, OUTOFSCOPE, ARCHIVEONLY.

    UBL reads the value after the first #BAR# of the notes joined together, up to the next #; CII checks
    each note of subject code BAR."""
    value = bar_treatment(inv)
    if value and value not in BAR_TREATMENTS:
        yield Hit("notes", f"The note with subject code BAR says {value!r}, not one of {', '.join(BAR_TREATMENTS)}. "
                           "— La valeur associée au code sujet « BAR » n'est pas autorisée.")


def _endpoint_starts_with_siren(party: Any) -> bool:
    """``starts-with(EndpointID, CompanyID[@schemeID='0002']) and EndpointID/@schemeID = '0225'``."""
    endpoint = get(party, "electronic_address")
    siren = _siren_of(get(party, "legal_registration_identifier"))
    return text(get(endpoint, "value")).startswith(text(siren)) and get(endpoint, "scheme") == "0225"


@fr("BR-FR-21_BT-49", terms=("BT-49", "BT-47", "BT-3"))
def br_fr_21_bt_49(inv: Any) -> Iterator[Hit]:
    """When the invoice is B2B (note BAR) and not self-billed (BT-3 not 389, 501, 500, 471, 473, 261, 502), the
    buyer's electronic address (BT-49) has scheme 0225 and begins with the buyer's SIREN (BT-47). — Si le
    traitement est BAR/B2B hors autofacture, le BT-49 doit commencer par le SIREN et le schemeID doit être égal
    à "0225"."""
    if bar_treatment(inv) != "B2B" or text(get(inv, "type_code")) in SELF_BILLED_TYPES:
        return
    if not _endpoint_starts_with_siren(get(inv, "buyer")):
        yield Hit("buyer.electronic_address",
                  "The invoice is B2B (note BAR): the buyer's electronic address (BT-49) must have scheme 0225 "
                  "and begin with the buyer's SIREN (BT-47). — Le BT-49 doit commencer par le SIREN et le "
                  "schemeID doit être égal à \"0225\".")


@fr("BR-FR-22_BT-34", terms=("BT-34", "BT-30", "BT-3"))
def br_fr_22_bt_34(inv: Any) -> Iterator[Hit]:
    """When a note with subject code BAR names a treatment and the invoice is self-billed (BT-3 389, 501, 500,
    471, 473, 261, 502), the seller's electronic address (BT-34) has scheme 0225 and begins with the seller's
    SIREN (BT-30). — Si le traitement est BAR/B2B et en autofacture, le BT-34 doit commencer par le SIREN et le
    schemeID doit être égal à "0225".

    The UBL stylesheet applies it whatever the BAR treatment (B2B, B2C ...); CII only to B2B."""
    if not bar_treatment(inv) or text(get(inv, "type_code")) not in SELF_BILLED_TYPES:
        return
    if not _endpoint_starts_with_siren(get(inv, "seller")):
        yield Hit("seller.electronic_address",
                  "The invoice is self-billed with a BAR treatment: the seller's electronic address (BT-34) must "
                  "have scheme 0225 and begin with the seller's SIREN (BT-30). — Le BT-34 doit commencer par le "
                  "SIREN et le schemeID doit être égal à \"0225\".")


# --- BR-FR-23 to BR-FR-26: electronic addresses and private identifiers ---------------------------------

_ENDPOINTS = (("BT-34", "seller.electronic_address"), ("BT-49", "buyer.electronic_address"))


def _private_ids(inv: Any, term: str) -> Iterator[tuple[str, Any]]:
    """(path, identifier) of the seller's (BT-29) or buyer's (BT-46) identifiers of scheme 0224."""
    if term == "BT-29":
        for k, ident in items(get(inv, "seller.identifiers")):
            if ident.scheme == "0224":
                yield f"seller.identifiers[{k}]", ident
    else:
        ident = get(inv, "buyer.identifier")
        if ident is not None and ident.scheme == "0224":
            yield "buyer.identifier", ident


def _endpoint_rule(rule_id: str, term: str, path: str, length: bool) -> None:
    who = "seller" if term == "BT-34" else "buyer"

    def check(inv: Any) -> Iterator[Hit]:
        ep = get(inv, path)
        if ep is None:
            return
        if length and len(text(ep.value)) > 125:
            yield Hit(path, f"The {who}'s electronic address ({term}) has {len(text(ep.value))} characters, more "
                            "than 125. — L'adresse électronique dépasse 125 caractères.")
        if not length and ep.scheme == "0225" and not scheme_format_ok(ep.value):
            yield Hit(path, f"The {who}'s electronic address ({term}, scheme 0225) {text(ep.value)!r} holds "
                            "characters other than letters, digits and - _ . — L'adresse électronique ne "
                            "respecte pas le format autorisé.")
    check.__doc__ = (f"The {who}'s electronic address ({term}) has at most 125 characters. — L'adresse "
                     "électronique ne doit pas dépasser 125 caractères." if length else
                     f"The {who}'s electronic address ({term}) of scheme 0225 (an address of the French "
                     "directory) holds only letters, digits and + - _ . — Seuls les caractères alphanumériques et "
                     "les symboles \"-\", \"_\", \".\" sont autorisés.")
    fr(rule_id, terms=(term,))(check)


def _private_rule(rule_id: str, term: str, length: bool) -> None:
    who = "seller" if term == "BT-29" else "buyer"

    def check(inv: Any) -> Iterator[Hit]:
        for path, ident in _private_ids(inv, term):
            if length and len(text(ident.value)) > 100:
                yield Hit(path, f"The {who}'s private identifier ({term}, scheme 0224) has "
                                f"{len(text(ident.value))} characters, more than 100. — L'identifiant privé "
                                "dépasse 100 caractères.")
            if not length and not scheme_format_ok(ident.value):
                yield Hit(path, f"The {who}'s private identifier ({term}, scheme 0224) {text(ident.value)!r} holds "
                                "characters other than letters, digits and - _ . — L'identifiant privé ne respecte "
                                "pas le format autorisé.")
    check.__doc__ = (f"A {who} identifier ({term}) of scheme 0224 (private identifier) has at most 100 "
                     "characters. — L'identifiant privé ne doit pas dépasser 100 caractères." if length else
                     f"A {who} identifier ({term}) of scheme 0224 (private identifier) holds only letters, digits "
                     "and + - _ . — Seuls les caractères alphanumériques et les symboles \"-\", \"_\", \".\" sont "
                     "autorisés.")
    fr(rule_id, terms=(term,))(check)


for _t, _p in _ENDPOINTS:
    _endpoint_rule(f"BR-FR-23_{_t}", _t, _p, False)
for _t in ("BT-29", "BT-46"):
    _private_rule(f"BR-FR-24_{_t}", _t, False)
for _t, _p in _ENDPOINTS:
    _endpoint_rule(f"BR-FR-25_{_t}", _t, _p, True)
for _t in ("BT-29", "BT-46"):
    _private_rule(f"BR-FR-26_{_t}", _t, True)


# --- BR-FR-27, BR-FR-28: item attributes ---------------------------------------------------------------

def _attributes(inv: Any) -> Iterator[tuple[str, Any]]:
    for k, line in items(get(inv, "lines")):
        for j, attr in items(get(line, "item.attributes")):
            yield f"lines[{k}].item.attributes[{j}]", attr


@fr("BR-FR-27_BG-32", terms=("BG-32", "BT-160"))
def br_fr_27_bg_32(inv: Any) -> Iterator[Hit]:
    """An item attribute (BG-32) has a name (BT-160) or a code. — Le groupe Attribut d'article doit contenir
    soit un nom d'attribut d'article (BT-160), soit un code d'attribut d'article (EXT-FR-FE-159).

    As the CII stylesheet checks it: the UBL one's context (cac:Item right under the root) matches nothing.
    The attribute code (EXT-FR-FE-159) is not an EN 16931 term: an attribute without a name fires here."""
    for path, attr in _attributes(inv):
        if attr.name is None:
            yield Hit(path, "An item attribute (BG-32) has neither a name (BT-160) nor a code. — Le groupe "
                            "Attribut d'article doit contenir soit un nom, soit un code d'attribut.")


@fr("BR-FR-28-Value", terms=("BG-32", "BT-161"))
def br_fr_28_value(inv: Any) -> Iterator[Hit]:
    """An item attribute (BG-32) has a value (BT-161) or a quantity with its unit, not both. — La valeur
    d'attribut ou la valeur avec unité de mesure doivent être présents, mais pas les deux.

    The quantity with its unit (EXT-FR-FE-160) is not an EN 16931 term: an attribute without a value fires
    here."""
    for path, attr in _attributes(inv):
        if attr.value is None:
            yield Hit(f"{path}.value", "An item attribute (BG-32) has no value (BT-161). — La valeur d'attribut "
                                       "ou la valeur avec unité de mesure doit être présente.")


# --- BR-FR-29, BR-FR-30: invoiced object identifiers AFL and AVV ---------------------------------------

def _object_rule(rule_id: str, scheme: str, line: bool) -> None:
    term = "BT-128" if line else "BT-18"

    def check(inv: Any) -> Iterator[Hit]:
        found = ([(f"lines[{k}].object_identifier", get(ln, "object_identifier"))
                  for k, ln in items(get(inv, "lines"))] if line
                 else [("invoiced_object_identifier", get(inv, "invoiced_object_identifier"))])
        for path, ident in found:
            if ident is not None and ident.scheme == scheme and blank(ident.value):
                yield Hit(path, f"The invoiced object identifier ({term}) of scheme {scheme} is empty. — "
                                f"L'identifiant associé au schéma \"{scheme}\" ne doit pas être vide.")
    check.__doc__ = (f"An invoiced object identifier{' of a line' if line else ''} ({term}) of scheme {scheme} "
                     f"({'sub-invoice number' if scheme == 'AFL' else 'invoicing framework of the sub-invoice'}) "
                     f"is not empty. — L'identifiant associé au schéma \"{scheme}\" ne doit pas être vide.")
    fr(rule_id, terms=(term,))(check)


_object_rule("BR-FR-29_AFL", "AFL", False)
_object_rule("BR-FR-29_AVV", "AVV", False)
_object_rule("BR-FR-30_AFL", "AFL", True)
_object_rule("BR-FR-30_AVV", "AVV", True)


# --- BR-FR-31: one BAR treatment ----------------------------------------------------------------------

@fr("BR-FR-30_BT-21", terms=("BT-21", "BT-22"))
def br_fr_31_bt_21(inv: Any) -> Iterator[Hit]:
    """BR-FR-31: the notes with subject code BAR name one treatment (B2B, B2BINT, B2C, B2CINT, OUTOFSCOPE or
    ARCHIVEONLY) at most. — Il ne peut y avoir qu'une seule valeur associée au code sujet « BAR ».

    The UBL stylesheet's id for this BR-FR-31 assert is BR-FR-30_BT-21 (kept as is; CII: BR-FR-31_BT-21).
    UBL counts ``BAR#B2B#`` ... in the notes holding #BAR#, joined."""
    bar_notes = []
    for _, note in items(get(inv, "notes")):
        one = (f"#{note.subject_code}#" if note.subject_code is not None else "") + text(note.note)
        if "#BAR#" in one:
            bar_notes.append(one)
    joined = "".join(bar_notes) + "#"
    n = sum(joined.count(f"BAR#{t}#") for t in BAR_TREATMENTS)
    if n > 1:
        yield Hit("notes", f"The notes with subject code BAR name {n} treatments; one at most. — Il ne peut y "
                           "avoir qu'une seule valeur associée au code sujet « BAR ».")


# --- BR-FR-32: SIREN are nine digits ----------------------------------------------------------------

@fr("BR-FR-32-LEGALID", terms=("BT-30", "BT-47", "BT-61"))
def br_fr_32_legalid(inv: Any) -> Iterator[Hit]:
    """A legal registration identifier of scheme 0002 (SIREN: BT-30, BT-47, BT-61) is nine digits. — Tout
    identifiant légal d'une Partie avec schemeID = '0002' DOIT être composé de 9 chiffres."""
    for term, path in (("BT-30", "seller.legal_registration_identifier"),
                       ("BT-47", "buyer.legal_registration_identifier"),
                       ("BT-61", "payee.legal_registration_identifier")):
        ident = get(inv, path)
        if ident is not None and ident.scheme == "0002" and not siren_ok(ident.value):
            yield Hit(path, f"The SIREN ({term}, scheme 0002) {text(ident.value)!r} is not nine digits. — Tout "
                            "identifiant légal avec schemeID = '0002' DOIT être composé de 9 chiffres.", (term,))


@fr("BR-FR-32-ID", terms=("BT-29", "BT-46", "BT-60"))
def br_fr_32_id(inv: Any) -> Iterator[Hit]:
    """A party identifier of scheme 0002 (SIREN) or 0231 (member of a single VAT taxable person: BT-29, BT-46,
    BT-60) is nine digits. — Tout identifiant d'une Partie avec schemeID = '0002' DOIT être composé de 9
    chiffres."""
    found = [("BT-29", f"seller.identifiers[{k}]", ident) for k, ident in items(get(inv, "seller.identifiers"))]
    found += [("BT-46", "buyer.identifier", get(inv, "buyer.identifier")),
              ("BT-60", "payee.identifier", get(inv, "payee.identifier"))]
    for term, path, ident in found:
        if ident is not None and ident.scheme in ("0002", "0231") and not siren_ok(ident.value):
            yield Hit(path, f"The identifier ({term}, scheme {ident.scheme}) {text(ident.value)!r} is not nine "
                            "digits. — Tout identifiant d'une Partie avec schemeID = '0002' DOIT être composé de 9 "
                            "chiffres.", (term,))

