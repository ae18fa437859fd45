"""The human-readable side of a Factur-X: the invoice as an HTML page, then a PDF/A-3b.

``render_html(invoice, lang)`` fills ``templates/invoice.html`` (Jinja2, with
``invoice.css`` inlined) from the EN 16931 model; ``render_pdf`` lays it out
with WeasyPrint as PDF/A-3b: every font embedded (DejaVu Sans, from Debian's
``fonts-dejavu-core``), an sRGB OutputIntent, PDF/A XMP metadata.

Labels exist in English and French. ``choose_lang`` takes an explicit
``lang`` ("fr", "fr-FR", "en" ...) or else the buyer's country: FR, BE, LU,
CH and MC get French, everyone else English. Numbers, amounts and dates are
formatted per language here (no locale database, no Babel): French groups
thousands with a narrow no-break space and uses a decimal comma
("1 234,56 €"), English uses "1,234.56" ("€1,234.56").

Nothing from the invoice reaches the page unescaped (autoescaping is on), and
WeasyPrint is given a URL fetcher that fetches nothing: an invoice field
holding markup or a URL can neither inject HTML nor make the renderer open a
file or a network connection.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from ..model import Invoice

__all__ = ["choose_lang", "render_html", "render_pdf", "format_number", "format_amount", "format_money",
           "format_percent", "document_title",
           "format_date", "LANGS", "FRENCH_COUNTRIES"]

TEMPLATES = Path(__file__).with_name("templates")
LANGS = ("en", "fr")
FRENCH_COUNTRIES = frozenset({"FR", "BE", "LU", "CH", "MC"})

NNBSP = "\u202f"   # narrow no-break space: French thousands separator
NBSP = "\u00a0"

# --- labels --------------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice", "number": "Invoice number", "issue_date": "Issue date",
        "due_date": "Due date", "currency": "Currency", "seller": "Seller", "buyer": "Buyer",
        "payee": "Payee", "tax_representative": "Seller's tax representative",
        "deliver_to": "Delivery", "vat_id": "VAT number", "legal_id": "Registration number",
        "tax_reg_id": "Tax registration", "identifier": "Identifier",
        "electronic_address": "Electronic address", "contact": "Contact", "phone": "Phone",
        "email": "Email", "trading_name": "Trading as",
        "references": "References", "buyer_reference": "Buyer reference",
        "purchase_order": "Purchase order", "sales_order": "Sales order", "contract": "Contract",
        "project": "Project", "despatch_advice": "Despatch advice",
        "receiving_advice": "Receiving advice", "tender": "Tender or lot",
        "invoiced_object": "Invoiced object", "buyer_accounting": "Buyer accounting reference",
        "preceding_invoice": "Preceding invoice", "of": "of", "vat_point_date": "VAT point date",
        "invoicing_period": "Invoicing period", "delivery_date": "Delivery date",
        "business_process": "Business process",
        "lines": "Invoice lines", "line_no": "#", "description": "Description",
        "quantity": "Qty", "unit": "Unit", "net_price": "Net price", "vat_rate": "VAT",
        "net_amount": "Net amount", "item_id": "Item no.", "buyer_item_id": "Buyer item no.",
        "standard_id": "Item ID", "origin": "Origin", "period": "Period",
        "order_line": "Order line", "gross_price": "gross price", "discount": "discount",
        "per": "per", "allowance": "Allowance", "charge": "Charge",
        "allowances_charges": "Document allowances and charges", "reason": "Reason",
        "base_amount": "Base", "percentage": "Rate", "amount": "Amount",
        "vat_breakdown": "VAT breakdown", "vat_category": "VAT category",
        "taxable_amount": "Taxable amount", "vat_amount": "VAT amount",
        "exemption": "Exemption reason",
        "totals": "Totals", "sum_lines": "Sum of line net amounts",
        "sum_allowances": "Allowances", "sum_charges": "Charges",
        "total_without_vat": "Total excluding VAT", "total_vat": "Total VAT",
        "total_vat_accounting": "Total VAT in accounting currency",
        "total_with_vat": "Total including VAT", "paid": "Paid amount",
        "rounding": "Rounding", "amount_due": "Amount due",
        "payment": "Payment", "payment_means": "Payment means",
        "remittance": "Payment reference", "iban": "IBAN", "account_name": "Account name",
        "bic": "BIC", "card": "Payment card", "card_holder": "Card holder",
        "mandate": "Mandate reference", "creditor_id": "Creditor identifier",
        "debited_account": "Debited account", "payment_terms": "Payment terms",
        "notes": "Notes", "supporting_documents": "Supporting documents",
        "page": "Page", "page_of": "of", "from": "from", "to": "to",
    },
    "fr": {
        "invoice": "Facture", "number": "Numéro de facture", "issue_date": "Date d'émission",
        "due_date": "Date d'échéance", "currency": "Devise", "seller": "Vendeur",
        "buyer": "Acheteur", "payee": "Bénéficiaire du paiement",
        "tax_representative": "Représentant fiscal du vendeur", "deliver_to": "Livraison",
        "vat_id": "N° TVA intracommunautaire", "legal_id": "Immatriculation",
        "tax_reg_id": "Identifiant fiscal", "identifier": "Identifiant",
        "electronic_address": "Adresse électronique", "contact": "Contact", "phone": "Tél.",
        "email": "Courriel", "trading_name": "Nom commercial",
        "references": "Références", "buyer_reference": "Référence acheteur",
        "purchase_order": "Bon de commande", "sales_order": "Commande client",
        "contract": "Contrat", "project": "Projet", "despatch_advice": "Avis d'expédition",
        "receiving_advice": "Avis de réception", "tender": "Appel d'offres ou lot",
        "invoiced_object": "Objet facturé", "buyer_accounting": "Référence comptable acheteur",
        "preceding_invoice": "Facture antérieure", "of": "du",
        "vat_point_date": "Date d'exigibilité de la TVA", "invoicing_period": "Période de facturation",
        "delivery_date": "Date de livraison", "business_process": "Cadre de facturation",
        "lines": "Lignes de facture", "line_no": "N°", "description": "Désignation",
        "quantity": "Qté", "unit": "Unité", "net_price": "Prix unitaire HT", "vat_rate": "TVA",
        "net_amount": "Montant HT", "item_id": "Réf. article", "buyer_item_id": "Réf. acheteur",
        "standard_id": "Code article", "origin": "Origine", "period": "Période",
        "order_line": "Ligne de commande", "gross_price": "prix brut", "discount": "remise",
        "per": "pour", "allowance": "Remise", "charge": "Frais",
        "allowances_charges": "Remises et frais sur le total", "reason": "Motif",
        "base_amount": "Base", "percentage": "Taux", "amount": "Montant",
        "vat_breakdown": "Détail de la TVA", "vat_category": "Catégorie de TVA",
        "taxable_amount": "Base HT", "vat_amount": "Montant TVA",
        "exemption": "Motif d'exonération",
        "totals": "Totaux", "sum_lines": "Total des lignes HT",
        "sum_allowances": "Remises", "sum_charges": "Frais",
        "total_without_vat": "Total HT", "total_vat": "Total TVA",
        "total_vat_accounting": "Total TVA en devise de comptabilisation",
        "total_with_vat": "Total TTC", "paid": "Acompte versé", "rounding": "Arrondi",
        "amount_due": "Net à payer",
        "payment": "Paiement", "payment_means": "Moyen de paiement",
        "remittance": "Référence de paiement", "iban": "IBAN", "account_name": "Titulaire du compte",
        "bic": "BIC", "card": "Carte de paiement", "card_holder": "Titulaire de la carte",
        "mandate": "Référence du mandat", "creditor_id": "Identifiant créancier SEPA",
        "debited_account": "Compte débité", "payment_terms": "Conditions de paiement",
        "notes": "Notes", "supporting_documents": "Pièces justificatives",
        "page": "Page", "page_of": "sur", "from": "du", "to": "au",
    },
}

# UNTDID 1001 document types
DOCUMENT_TYPES = {
    "en": {"380": "Invoice", "381": "Credit note", "383": "Debit note", "384": "Corrected invoice",
           "386": "Prepayment invoice", "387": "Hire invoice", "388": "Tax invoice",
           "389": "Self-billed invoice", "393": "Factored invoice", "396": "Factored credit note",
           "261": "Self-billed credit note", "262": "Consolidated credit note",
           "326": "Partial invoice", "875": "Partial construction invoice",
           "876": "Partial final construction invoice", "877": "Final construction invoice",
           "751": "Invoice information for accounting purposes", "575": "Insurer's invoice",
           "780": "Freight invoice", "457": "Storno"},
    "fr": {"380": "Facture", "381": "Avoir", "383": "Note de débit", "384": "Facture rectificative",
           "386": "Facture d'acompte", "387": "Facture de location", "388": "Facture fiscale",
           "389": "Autofacture", "393": "Facture affacturée", "396": "Avoir affacturé",
           "261": "Autofacture d'avoir", "262": "Avoir global", "326": "Facture partielle",
           "875": "Situation de travaux", "876": "Situation de travaux finale partielle",
           "877": "Décompte général définitif", "575": "Facture d'assureur",
           "751": "Information de facture (comptabilité)", "780": "Facture de transport",
           "457": "Annulation"},
}

# UNCL 5305 VAT categories
VAT_CATEGORIES = {
    "en": {"S": "Standard rate", "Z": "Zero rated", "E": "Exempt", "AE": "Reverse charge",
           "K": "Intra-community supply", "G": "Export outside the EU", "O": "Not subject to VAT",
           "L": "Canary Islands (IGIC)", "M": "Ceuta and Melilla (IPSI)", "B": "Split payment"},
    "fr": {"S": "Taux normal", "Z": "Taux zéro", "E": "Exonéré", "AE": "Autoliquidation",
           "K": "Livraison intracommunautaire", "G": "Exportation hors UE",
           "O": "Hors champ de la TVA", "L": "Îles Canaries (IGIC)", "M": "Ceuta et Melilla (IPSI)",
           "B": "Paiement fractionné"},
}

# UNCL 4461 payment means
PAYMENT_MEANS = {
    "en": {"1": "Not defined", "10": "Cash", "20": "Cheque", "30": "Credit transfer",
           "31": "Debit transfer", "42": "Payment to bank account", "48": "Bank card",
           "49": "Direct debit", "54": "Credit card", "55": "Debit card", "57": "Standing agreement",
           "58": "SEPA credit transfer", "59": "SEPA direct debit", "68": "Online payment service",
           "97": "Clearing between partners", "ZZZ": "Mutually defined"},
    "fr": {"1": "Non défini", "10": "Espèces", "20": "Chèque", "30": "Virement",
           "31": "Virement (débit)", "42": "Paiement sur compte bancaire", "48": "Carte bancaire",
           "49": "Prélèvement", "54": "Carte de crédit", "55": "Carte de débit",
           "57": "Accord permanent", "58": "Virement SEPA", "59": "Prélèvement SEPA",
           "68": "Service de paiement en ligne", "97": "Compensation entre partenaires",
           "ZZZ": "Défini d'un commun accord"},
}

# UN/ECE Recommendation 20/21 units most seen on invoices
UNITS = {
    "en": {"C62": "unit", "H87": "piece", "EA": "each", "XPP": "piece", "XBX": "box",
           "XPK": "package", "SET": "set", "PR": "pair", "HUR": "hour", "MIN": "minute",
           "DAY": "day", "WEE": "week", "MON": "month", "ANN": "year", "KGM": "kg", "GRM": "g",
           "TNE": "t", "LTR": "l", "MLT": "ml", "MTQ": "m³", "MTR": "m", "MTK": "m²",
           "KMT": "km", "CMT": "cm", "KWH": "kWh", "LS": "lump sum", "P1": "%", "E48": "service"},
    "fr": {"C62": "unité", "H87": "pièce", "EA": "unité", "XPP": "pièce", "XBX": "boîte",
           "XPK": "colis", "SET": "lot", "PR": "paire", "HUR": "heure", "MIN": "minute",
           "DAY": "jour", "WEE": "semaine", "MON": "mois", "ANN": "an", "KGM": "kg", "GRM": "g",
           "TNE": "t", "LTR": "l", "MLT": "ml", "MTQ": "m³", "MTR": "m", "MTK": "m²",
           "KMT": "km", "CMT": "cm", "KWH": "kWh", "LS": "forfait", "P1": "%", "E48": "prestation"},
}

COUNTRIES = {
    "en": {"AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "CH": "Switzerland", "CY": "Cyprus",
           "CZ": "Czechia", "DE": "Germany", "DK": "Denmark", "EE": "Estonia", "ES": "Spain",
           "FI": "Finland", "FR": "France", "GB": "United Kingdom", "GR": "Greece", "HR": "Croatia",
           "HU": "Hungary", "IE": "Ireland", "IS": "Iceland", "IT": "Italy", "LI": "Liechtenstein",
           "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MC": "Monaco", "MT": "Malta",
           "NL": "Netherlands", "NO": "Norway", "PL": "Poland", "PT": "Portugal", "RO": "Romania",
           "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia", "US": "United States",
           "CA": "Canada", "AU": "Australia", "NZ": "New Zealand", "SG": "Singapore", "JP": "Japan",
           "CN": "China"},
    "fr": {"AT": "Autriche", "BE": "Belgique", "BG": "Bulgarie", "CH": "Suisse", "CY": "Chypre",
           "CZ": "Tchéquie", "DE": "Allemagne", "DK": "Danemark", "EE": "Estonie", "ES": "Espagne",
           "FI": "Finlande", "FR": "France", "GB": "Royaume-Uni", "GR": "Grèce", "HR": "Croatie",
           "HU": "Hongrie", "IE": "Irlande", "IS": "Islande", "IT": "Italie", "LI": "Liechtenstein",
           "LT": "Lituanie", "LU": "Luxembourg", "LV": "Lettonie", "MC": "Monaco", "MT": "Malte",
           "NL": "Pays-Bas", "NO": "Norvège", "PL": "Pologne", "PT": "Portugal", "RO": "Roumanie",
           "SE": "Suède", "SI": "Slovénie", "SK": "Slovaquie", "US": "États-Unis",
           "CA": "Canada", "AU": "Australie", "NZ": "Nouvelle-Zélande", "SG": "Singapour",
           "JP": "Japon", "CN": "Chine"},
}

# ISO 6523 ICD / EAS schemes worth a name on paper (the rest is shown as the code)
SCHEMES = {"0002": "SIRENE", "0009": "SIRET", "0007": "SE org.", "0088": "GLN", "0060": "DUNS",
           "0106": "KvK", "0190": "OIN", "0192": "NO org.", "0184": "DK CVR", "0208": "BE KBO",
           "0204": "Leitweg-ID", "0160": "GTIN", "0211": "IT IVA", "0225": "FRCTC",
           "9957": "FR VAT", "9930": "DE VAT", "EM": "email", "SEPA": "SEPA"}

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- language ------------------------------------------------------------------------------

def choose_lang(invoice: Invoice, lang: Optional[str] = None) -> str:
    """'fr' or 'en': an explicit ``lang`` ("fr", "fr-BE", "en_GB") wins, else the buyer's country."""
    if lang:
        base = lang.replace("_", "-").split("-")[0].lower()
        if base not in LANGS:
            raise ValueError(f"no labels for language {lang!r}; choose one of {', '.join(LANGS)}")
        return base
    address = invoice.buyer.postal_address if invoice.buyer else None
    country = (address.country_code or "").strip().upper() if address else ""
    return "fr" if country in FRENCH_COUNTRIES else "en"


# --- formatting ----------------------------------------------------------------------------

def _decimal(value: Any) -> Optional[Decimal]:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _localise(text: str, lang: str) -> str:
    """'-1,234.56' as formatted by Python -> the language's separators."""
    if lang == "fr":
        return text.replace(",", NNBSP).replace(".", ",")
    return text


def format_number(value: Any, lang: str, *, min_places: int = 0) -> str:
    """A decimal with at least ``min_places`` decimals; trailing zeros beyond those are dropped."""
    d = _decimal(value)
    if d is None or not d.is_finite():
        return "" if value is None else str(value)
    exp = d.normalize().as_tuple().exponent
    places = max(min_places, -exp if isinstance(exp, int) and exp < 0 else 0)
    try:
        d = d.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:   # more digits than the context holds: show it as it is
        pass
    if d == 0:
        d = abs(d)       # no "-0,00"
    return _localise(f"{d:,f}", lang)


def format_amount(value: Any, lang: str) -> str:
    """An amount or unit price: two decimals at least (more kept if given), grouped thousands."""
    return format_number(value, lang, min_places=2)


def format_money(value: Any, currency: Optional[str], lang: str) -> str:
    """'1 234,56 €' in French, '€1,234.56' in English; unknown symbols use the ISO code."""
    text = format_amount(value, lang)
    if not text or not currency:
        return text
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    if lang == "fr":
        return f"{text}{NBSP}{symbol}"
    if symbol == currency:
        return f"{currency}{NBSP}{text}"
    if text.startswith("-"):
        return f"-{symbol}{text[1:]}"
    return f"{symbol}{text}"


def format_percent(value: Any, lang: str) -> str:
    text = format_number(value, lang)
    if not text:
        return ""
    return f"{text}{NNBSP}%" if lang == "fr" else f"{text}%"


def format_date(value: Any, lang: str) -> str:
    """'05/03/2018' in French, '5 Mar 2018' in English."""
    if not isinstance(value, _dt.date):
        return "" if value is None else str(value)
    if lang == "fr":
        return value.strftime("%d/%m/%Y")
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def format_iban(value: Optional[str]) -> str:
    """IBANs in groups of four; any other account identifier unchanged."""
    if not value:
        return ""
    compact = "".join(value.split())
    if len(compact) > 12 and compact[:2].isalpha() and compact[2:4].isdigit() and compact.isalnum():
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return value


def css_string(value: Any) -> Any:
    """A CSS string literal that no content can break out of (for text placed in a stylesheet).

    Everything but letters, digits and spaces becomes a CSS hex escape (six digits and the one
    space that ends it), so neither a quote, a
    backslash, a newline nor ``</style>`` survives; the result is marked safe for HTML.
    """
    from markupsafe import Markup
    text = "" if value is None else str(value)
    body = "".join(c if (c.isalnum() or c == " ") else f"\\{ord(c):06x} " for c in text)
    return Markup(f'"{body}"')


# --- rendering ------------------------------------------------------------------------------

def _require(module: str, package: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeError(f"Factur-X output needs the Python package {package!r} "
                           f"(pip install {package}): {exc}") from exc


@lru_cache(maxsize=1)
def _environment():
    _require("jinja2", "Jinja2")
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    # `x is given`: a value is there (not None, and not a missing group's attribute)
    env.tests["given"] = lambda v: v is not None and not isinstance(v, Undefined)
    env.filters["css_string"] = css_string
    return env


def _helpers(lang: str, invoice: Invoice) -> dict[str, Any]:
    labels = LABELS[lang]
    currency = invoice.currency_code

    def code_name(table: dict[str, dict[str, str]]):
        def name(code: Optional[str]) -> str:
            if not code:
                return ""
            return table[lang].get(str(code).strip(), str(code))
        return name

    def scheme(code: Optional[str]) -> str:
        return SCHEMES.get(code, code) if code else ""

    def country(code: Optional[str]) -> str:
        if not code:
            return ""
        return COUNTRIES[lang].get(code.strip().upper(), code)

    return {
        "t": labels, "lang": lang, "currency": currency or "",
        "amount": lambda v: format_amount(v, lang),
        "money": lambda v, cur=None: format_money(v, cur or currency, lang),
        "qty": lambda v: format_number(v, lang),
        "pct": lambda v: format_percent(v, lang),
        "date": lambda v: format_date(v, lang),
        "iban": format_iban,
        "doc_type": code_name(DOCUMENT_TYPES),
        "vat_category": code_name(VAT_CATEGORIES),
        "means": code_name(PAYMENT_MEANS),
        "unit": code_name(UNITS),
        "country": country, "scheme": scheme,
    }


def document_title(invoice: Invoice, lang: str) -> str:
    """'Facture', 'Avoir', 'Invoice', 'Credit note' ... from BT-3."""
    code = (invoice.type_code or "380").strip()
    default = "Credit note" if invoice.is_credit_note else "Invoice"
    if lang == "fr":
        default = "Avoir" if invoice.is_credit_note else "Facture"
    return DOCUMENT_TYPES[lang].get(code, default)


def render_html(invoice: Invoice, lang: str) -> str:
    """The invoice as a self-contained HTML page (CSS inlined, no external resource)."""
    if lang not in LANGS:
        raise ValueError(f"no labels for language {lang!r}")
    env = _environment()
    css = (TEMPLATES / "invoice.css").read_text(encoding="utf-8")
    return env.get_template("invoice.html").render(
        inv=invoice, css=css, title=document_title(invoice, lang), **_helpers(lang, invoice))


def _no_fetch(url: str, *args: Any, **kwargs: Any):
    raise ValueError(f"the invoice renderer fetches no external resource ({url[:80]!r})")


def render_pdf(invoice: Invoice, *, lang: str) -> bytes:
    """The invoice as PDF/A-3b bytes (WeasyPrint): fonts embedded, sRGB OutputIntent, XMP."""
    HTML = _require("weasyprint", "weasyprint").HTML
    html = render_html(invoice, lang)
    return HTML(string=html, base_url=str(TEMPLATES), url_fetcher=_no_fetch).write_pdf(
        pdf_variant="pdf/a-3b", uncompressed_pdf=False)
