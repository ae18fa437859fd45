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

import yaml

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

def _tables() -> dict:
    with open(TEMPLATES / "labels.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


_TABLES = _tables()
LABELS: dict[str, dict[str, str]] = _TABLES["labels"]
DOCUMENT_TYPES: dict[str, dict[str, str]] = _TABLES["document_types"]
VAT_CATEGORIES: dict[str, dict[str, str]] = _TABLES["vat_categories"]
PAYMENT_MEANS: dict[str, dict[str, str]] = _TABLES["payment_means"]
UNITS: dict[str, dict[str, str]] = _TABLES["units"]
COUNTRIES: dict[str, dict[str, str]] = _TABLES["countries"]

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
