"""The human-readable side of a Factur-X: the invoice as an HTML page, then a PDF/A-3b.

``render_html(invoice, lang)`` fills ``templates/invoice.html`` (Jinja2, with
``invoice.css`` inlined) from the EN 16931 model; ``render_pdf`` lays it out
as PDF/A-3b: every font embedded (DejaVu Sans, from Debian's
``fonts-dejavu-core``), an sRGB OutputIntent, PDF/A XMP metadata. Two engines
(``engine_of``, ``EDIGATE_RENDER_ENGINE``): "drawn" (the default, ``draw_pdf``)
lays the page out in process with the fixed rules of ``pdf_layout`` and writes
the file with ``pdf_writer``, in milliseconds; "weasyprint" (``html_to_pdf``)
is the reference it is tested against, and lays out any other page (the paper
channel's cover sheets).

Labels exist in English and French: their English is in ``invoice_words`` (msgids), their
French in the one catalogue (``gateway.i18n``, ``gateway/translations``); countries are
named by Babel's CLDR data. ``choose_lang`` takes an explicit ``lang`` ("fr", "fr-FR",
"en" ...: a partner's channel ``lang`` setting, or the reader's) or else the buyer's
country: FR, BE, LU, CH and MC get French, everyone else English. Numbers, amounts,
currencies and dates are formatted by Babel for the language's locale (``i18n.locale``:
fr_FR, en_GB): French groups thousands with a narrow no-break space and uses a decimal
comma ("1 234,56 €"), English uses "1,234.56" ("€1,234.56").

Nothing from the invoice reaches the page unescaped (autoescaping is on), and
WeasyPrint is given a URL fetcher that fetches nothing: an invoice field
holding markup or a URL can neither inject HTML nor make the renderer open a
file or a network connection.

Rendering is bounded (``RenderLimits``, each an ``EDIGATE_RENDER_*`` variable),
and what exceeds a bound is refused with a ``RenderError`` naming it, so that
no invoice can hold a worker for long:

* every value shown is cut at ``max_text`` characters, with a note that the
  rest is in the embedded XML (which always carries the full value), and a
  zero-width break opportunity goes into every run of more than
  ``BREAK_EVERY`` characters without a space: WeasyPrint breaks a long
  unbroken word (``overflow-wrap: anywhere``) in time quadratic in its length
  (8,000 characters: 13 s, 16,000: 32 s), and in linear time once it has
  break opportunities (8,000: 0.5 s);
* at most ``max_lines`` invoice lines, ``max_total_text`` characters shown in
  all (each value counting at least ``VALUE_WEIGHT``) and ``max_pages`` pages;
* WeasyPrint's layout runs in a separate process (``pdf_child.py``, reused from one
  rendering to the next) whose address space is capped at ``max_memory`` and
  which is killed when a rendering outlasts ``timeout`` seconds; the drawn
  engine, linear in the text it is given, checks ``timeout`` as it goes.
"""
from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from babel.dates import format_date as _babel_date
from babel.numbers import format_currency as _babel_currency, format_decimal as _babel_decimal
from babel.numbers import format_percent as _babel_percent

from gateway import i18n
from gateway.model.errors import RenderError
from gateway.model.invoice import Invoice

from . import invoice_words

__all__ = ["choose_lang", "render_html", "render_pdf", "draw_pdf", "engine_of", "ENGINES", "html_to_pdf", "format_number", "format_amount",
           "format_money", "format_percent", "document_title", "printable", "RenderLimits",
           "format_date", "LANGS", "FRENCH_COUNTRIES"]

TEMPLATES = Path(__file__).with_name("templates")
LANGS = ("en", "fr")
FRENCH_COUNTRIES = frozenset({"FR", "BE", "LU", "CH", "MC"})

NNBSP = "\u202f"   # narrow no-break space: French thousands separator
NBSP = "\u00a0"

# --- labels ---------------------------------------------------------------------------------

class _PerLanguage:
    """``TABLE[lang]``: a table of ``invoice_words`` (code → English msgid) in ``lang``, from the catalogue."""

    def __init__(self, table: dict[str, Any]):
        self.table = table

    @lru_cache(maxsize=4)
    def __getitem__(self, lang: str) -> dict[str, str]:
        return {code: i18n.pgettext(lang, *text) if isinstance(text, tuple) else i18n.gettext(lang, text)
                for code, text in self.table.items()}


class _Countries:
    """``COUNTRIES[lang]``: every country's name in ``lang`` (CLDR, through Babel)."""

    def __getitem__(self, lang: str) -> dict[str, str]:
        return i18n.locale(lang).territories


LABELS = _PerLanguage(invoice_words.LABELS)
DOCUMENT_TYPES = _PerLanguage(invoice_words.DOCUMENT_TYPES)
VAT_CATEGORIES = _PerLanguage(invoice_words.VAT_CATEGORIES)
PAYMENT_MEANS = _PerLanguage(invoice_words.PAYMENT_MEANS)
UNITS = _PerLanguage(invoice_words.UNITS)
COUNTRIES = _Countries()

# ISO 6523 ICD / EAS schemes worth a name on paper (the rest is shown as the code)
SCHEMES = {"0002": "SIRENE", "0009": "SIRET", "0007": "SE org.", "0088": "GLN", "0060": "DUNS",
           "0106": "KvK", "0190": "OIN", "0192": "NO org.", "0184": "DK CVR", "0208": "BE KBO",
           "0204": "Leitweg-ID", "0160": "GTIN", "0211": "IT IVA", "0225": "FRCTC",
           "9957": "FR VAT", "9930": "DE VAT", "EM": "email", "SEPA": "SEPA"}

_DATE_PATTERNS = {"fr": "dd/MM/yyyy", "en": "d MMM yyyy"}
_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=[-\d])|(?<=\d)(?=[A-Za-z])")


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


MAX_DIGITS = 40     # a number whose digits would spread further is shown as it is (1E+999999999)


def format_number(value: Any, lang: str, *, min_places: int = 0) -> str:
    """A decimal with at least ``min_places`` decimals; trailing zeros beyond those are dropped."""
    d = _decimal(value)
    if d is None or not d.is_finite():
        return "" if value is None else str(value)
    if d and (d.adjusted() > MAX_DIGITS or d.adjusted() < -MAX_DIGITS
              or len(d.as_tuple().digits) - d.adjusted() > 2 * MAX_DIGITS):
        return str(d)            # written out it would be millions of characters: never expand it
    exp = d.normalize().as_tuple().exponent
    places = max(min_places, -exp if isinstance(exp, int) and exp < 0 else 0)
    try:
        d = d.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:   # more digits than the context holds: show it as it is
        pass
    if d == 0:
        d = abs(d)       # no "-0,00"
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return _babel_decimal(d, pattern, locale=i18n.locale(lang), decimal_quantization=False)


def format_amount(value: Any, lang: str) -> str:
    """An amount or unit price: two decimals at least (more kept if given), grouped thousands."""
    return format_number(value, lang, min_places=2)


def format_money(value: Any, currency: Optional[str], lang: str) -> str:
    """'1 234,56 €' in French, '€1,234.56' in English: the locale's currency pattern and CLDR's
    symbol (through Babel), with the decimals the amount has (two at least)."""
    text = format_amount(value, lang)
    d = _decimal(value)
    if not text or not currency or d is None or not d.is_finite() or (d and (
            d.adjusted() > MAX_DIGITS or d.adjusted() < -MAX_DIGITS
            or len(d.as_tuple().digits) - d.adjusted() > 2 * MAX_DIGITS)):
        return text              # not an amount Babel should expand (format_number shows it as it is)
    exp = d.normalize().as_tuple().exponent
    places = max(2, -exp if isinstance(exp, int) and exp < 0 else 0)
    locale = i18n.locale(lang)
    pattern = locale.currency_formats["standard"].pattern.split(";")[0].replace("0.00", "0." + "0" * places)
    try:
        text = _babel_currency(d if d != 0 else abs(d), currency, format=pattern, locale=locale,
                               currency_digits=False, decimal_quantization=False)
        # CLDR's currency spacing (which Babel leaves out): a no-break space between letters and digits
        return _LETTER_DIGIT.sub("\u00a0", text)
    except Exception:           # noqa: BLE001 - a code Babel cannot place: the amount and the code
        return f"{text}\u00a0{currency}" if lang == "fr" else f"{currency}\u00a0{text}"


def format_percent(value: Any, lang: str) -> str:
    d = _decimal(value)
    if d is None or not d.is_finite():
        return "" if value is None else str(value)
    locale = i18n.locale(lang)
    pattern = locale.percent_formats[None].pattern.split(";")[0].replace("#,##0", "#,##0.##########", 1)
    return _babel_percent(d.scaleb(-2), pattern, locale=locale, decimal_quantization=False)


def format_date(value: Any, lang: str) -> str:
    """'05/03/2018' in French, '5 Mar 2018' in English."""
    if not isinstance(value, _dt.date):
        return "" if value is None else str(value)
    return _babel_date(value, _DATE_PATTERNS.get(lang, _DATE_PATTERNS["en"]), locale=i18n.locale(lang))


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
    if len(text) > FOOTER_CHARS:     # on every page, in a margin box one line high
        text = text[:FOOTER_CHARS] + "…"
    text = _UNBROKEN.sub(_break_run, text)
    body = "".join(c if (c.isalnum() or c == " ") else f"\\{ord(c):06x} " for c in text)
    return Markup(f'"{body}"')


# --- bounds ---------------------------------------------------------------------------------

BREAK_EVERY = 16          # characters without a break opportunity, at most
VALUE_WEIGHT = 20         # what a value shown counts at least against max_total_text (a box to lay out)
FOOTER_CHARS = 300        # the footer (seller name, legal information, VAT number) on every page
ZWSP = "\u200b"            # zero width space: a break opportunity, invisible and not extracted as text
_UNBROKEN = re.compile(rf"[^\s\u200b]{{{BREAK_EVERY + 1},}}")


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class RenderLimits:
    """The caps of one rendering; ``from_env()`` reads the ``EDIGATE_RENDER_*`` variables."""
    timeout: float = 30.0             # seconds, the rendering process's start included
    max_memory: int = 1 << 30         # bytes of address space of the rendering process
    max_pages: int = 200
    max_lines: int = 1000
    max_text: int = 2000              # characters of one value shown
    max_total_text: int = 500_000     # characters shown in all

    @classmethod
    def from_env(cls) -> "RenderLimits":
        """Defaults, overridden by EDIGATE_RENDER_TIMEOUT (s), _MAX_MEMORY (MiB), _MAX_PAGES,
        _MAX_LINES, _MAX_TEXT and _MAX_TOTAL_TEXT."""
        d = cls()
        return cls(timeout=_env_number("EDIGATE_RENDER_TIMEOUT", d.timeout),
                   max_memory=int(_env_number("EDIGATE_RENDER_MAX_MEMORY", d.max_memory / 2**20) * 2**20),
                   max_pages=int(_env_number("EDIGATE_RENDER_MAX_PAGES", d.max_pages)),
                   max_lines=int(_env_number("EDIGATE_RENDER_MAX_LINES", d.max_lines)),
                   max_text=int(_env_number("EDIGATE_RENDER_MAX_TEXT", d.max_text)),
                   max_total_text=int(_env_number("EDIGATE_RENDER_MAX_TOTAL_TEXT", d.max_total_text)))


def _break_run(m: "re.Match[str]") -> str:
    run = m.group(0)
    return ZWSP.join(run[i:i + BREAK_EVERY] for i in range(0, len(run), BREAK_EVERY))


def printable(text: str, max_text: int, *, lang: str = "en") -> str:
    """``text`` as the page shows it: cut at ``max_text`` characters with a note saying how many
    more the embedded XML holds, and a break opportunity in every run of more than BREAK_EVERY
    characters without a space."""
    if len(text) > max_text:
        more = LABELS[lang]["truncated"] % {"n": format_number(len(text) - max_text, lang)}
        text = f"{text[:max_text]}… {more}"
    return _UNBROKEN.sub(_break_run, text)


class _Shown:
    """What a rendering has shown so far, against its limits (kept in the template context)."""

    def __init__(self, limits: RenderLimits, lang: str):
        self.limits, self.lang, self.total = limits, lang, 0

    def __call__(self, text: str) -> str:
        text = printable(text, self.limits.max_text, lang=self.lang)
        self.total += max(len(text), VALUE_WEIGHT)
        if self.total > self.limits.max_total_text:
            raise RenderError(
                f"the invoice holds more text than its human-readable PDF may show (more than "
                f"{self.limits.max_total_text:,} characters, EDIGATE_RENDER_MAX_TOTAL_TEXT); its XML syntaxes "
                "(UBL, CII) carry it", limit="text")
        return text


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
    from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Undefined, pass_context
    from markupsafe import Markup

    @pass_context
    def finalize(context, value: Any) -> Any:
        # every value the template prints passes here: bounded, breakable (markup we made is left alone)
        shown = context.get("_shown")
        if isinstance(value, str) and not isinstance(value, Markup) and isinstance(shown, _Shown):
            return shown(value)
        return value

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, finalize=finalize,
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    # `x is given`: a value is there (not None, and not a missing group's attribute)
    env.tests["given"] = lambda v: v is not None and not isinstance(v, Undefined)
    env.filters["css_string"] = css_string
    return env


def _helpers(lang: str, invoice: Invoice) -> dict[str, Any]:
    labels = LABELS[lang]
    currency = invoice.currency_code

    def code_name(table: _PerLanguage):
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


def render_html(invoice: Invoice, lang: str, *, limits: Optional[RenderLimits] = None) -> str:
    """The invoice as a self-contained HTML page (CSS inlined, no external resource).

    Every value is bounded and breakable (``printable``); ``RenderError`` when the invoice
    has more lines or text than ``limits`` (default: ``RenderLimits.from_env()``) allow."""
    if lang not in LANGS:
        raise ValueError(f"no labels for language {lang!r}")
    limits = limits or RenderLimits.from_env()
    if len(invoice.lines) > limits.max_lines:
        raise RenderError(
            f"the invoice has {len(invoice.lines):,} lines; its human-readable PDF shows at most "
            f"{limits.max_lines:,} (EDIGATE_RENDER_MAX_LINES): send it as UBL or CII", limit="lines")
    env = _environment()
    css = (TEMPLATES / "invoice.css").read_text(encoding="utf-8")
    return env.get_template("invoice.html").render(
        inv=invoice, css=css, title=document_title(invoice, lang), _shown=_Shown(limits, lang),
        **_helpers(lang, invoice))


ENGINES = ("drawn", "weasyprint")


def engine_of(engine: Optional[str] = None) -> str:
    """The engine that lays the invoice page out: ``engine``, else ``EDIGATE_RENDER_ENGINE``, else
    "drawn" (``pdf_layout``: milliseconds, in process); "weasyprint" is the reference."""
    name = (engine or os.environ.get("EDIGATE_RENDER_ENGINE") or ENGINES[0]).strip().lower()
    if name not in ENGINES:
        raise ValueError(f"no rendering engine {name!r}; choose one of {', '.join(ENGINES)}")
    return name


def render_pdf(invoice: Invoice, *, lang: str, limits: Optional[RenderLimits] = None,
               engine: Optional[str] = None) -> bytes:
    """The invoice as PDF/A-3b bytes: fonts embedded, sRGB OutputIntent, XMP.

    Laid out by ``engine`` (``engine_of``), within ``limits`` (default: ``RenderLimits.from_env()``),
    else ``RenderError``."""
    limits = limits or RenderLimits.from_env()
    html = render_html(invoice, lang, limits=limits)
    if engine_of(engine) == "weasyprint":
        return html_to_pdf(html, variant="pdf/a-3b", limits=limits)
    return draw_pdf(html, limits=limits)


def draw_pdf(html: str, *, limits: Optional[RenderLimits] = None, metadata: Any = None,
             attachments: Any = ()) -> bytes:
    """The page ``render_html`` wrote, laid out and drawn directly as PDF/A-3b (``pdf_layout``).

    ``metadata`` (a ``pdf_writer.Metadata``) replaces what the page's head says (its ``lang`` kept
    when it names none); ``attachments`` are embedded with their AFRelationship. In process: the
    time cap is checked as the layout goes, pages are capped; the text caps were applied to the page."""
    import dataclasses
    from gateway.syntaxes import pdf_layout
    limits = limits or RenderLimits.from_env()
    laid = pdf_layout.layout(html, max_pages=limits.max_pages, timeout=limits.timeout)
    meta = laid.metadata
    if metadata is not None:
        meta = metadata if metadata.lang else dataclasses.replace(metadata, lang=meta.lang)
    return laid.document.write(meta, attachments)


# --- the rendering process -----------------------------------------------------------------

_CHILD = Path(__file__).with_name("pdf_child.py")
RENDERS_PER_PROCESS = 200      # a rendering process is replaced after this many (WeasyPrint caches grow)


class _Died(Exception):
    """The rendering process is gone (it was killed, crashed, or closed its pipe)."""


class _Renderer:
    """One rendering process (``pdf_child.py``) and its pipes."""

    def __init__(self, max_memory: int):
        self.max_memory = max_memory
        self.owner = os.getpid()
        self.renders = 0
        self.proc = subprocess.Popen([sys.executable, "-I", str(_CHILD), str(max_memory)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     close_fds=True)
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None and self.renders < RENDERS_PER_PROCESS

    def _write(self, data: bytes, deadline: float) -> None:
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, writable, _ = select.select([], [fd], [], left)
            if writable:
                try:
                    view = view[os.write(fd, view[:1 << 16]):]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise _Died() from None

    def _read(self, n: int, deadline: float) -> bytes:
        fd, chunks, left_bytes = self.proc.stdout.fileno(), [], n
        while left_bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                try:
                    chunk = os.read(fd, min(left_bytes, 1 << 20))
                except BlockingIOError:
                    continue
                if not chunk:
                    raise _Died()
                chunks.append(chunk)
                left_bytes -= len(chunk)
        return b"".join(chunks)

    def render(self, header: dict, html: bytes, deadline: float) -> tuple[dict, bytes]:
        body = json.dumps(header).encode("utf-8")
        self._write(struct.pack(">I", len(body)) + body + struct.pack(">Q", len(html)) + html, deadline)
        reply = json.loads(self._read(struct.unpack(">I", self._read(4, deadline))[0], deadline))
        pdf = self._read(struct.unpack(">Q", self._read(8, deadline))[0], deadline)
        self.renders += 1
        return reply, pdf

    def death(self) -> str:
        """How the process ended ("killed by SIGSEGV", "exit status 1"), waiting for it briefly."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def close(self, *, kill: bool = False) -> None:
        """Stop the process: at once (``kill``), or by closing its input (it ends when idle)."""
        if self.owner != os.getpid():
            return                        # a forked copy: the process belongs to the parent
        if kill and self.proc.poll() is None:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Renderers:
    """Idle rendering processes kept for the next rendering, and a bound on those running at once
    (``EDIGATE_RENDER_WORKERS``, default 2): each may take ``max_memory``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Renderer] = []
        self.slots = threading.BoundedSemaphore(int(_env_number("EDIGATE_RENDER_WORKERS", 2)))

    def take(self, max_memory: int) -> _Renderer:
        with self.lock:
            while self.idle:
                r = self.idle.pop()
                if r.usable() and r.max_memory == max_memory:
                    return r
                r.close()
        return _Renderer(max_memory)

    def give(self, r: _Renderer) -> None:
        with self.lock:
            if r.usable() and len(self.idle) < 4:
                self.idle.append(r)
                return
        r.close()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for r in idle:
            r.close()


_RENDERERS = _Renderers()
atexit.register(lambda: _RENDERERS.close())


def _forget_renderers() -> None:
    """In a forked child: the parent's rendering processes are the parent's; start afresh."""
    global _RENDERERS
    _RENDERERS = _Renderers()


os.register_at_fork(after_in_child=_forget_renderers)


def html_to_pdf(html: str, *, variant: Optional[str] = None, base_url: Optional[str] = None,
                limits: Optional[RenderLimits] = None) -> bytes:
    """A self-contained HTML page as PDF bytes (WeasyPrint, ``variant`` e.g. "pdf/a-3b"), laid out in
    a rendering process within ``limits`` (time, memory, pages); ``RenderError`` beyond them."""
    import importlib.util
    if importlib.util.find_spec("weasyprint") is None:
        _require("weasyprint", "weasyprint")          # says which package to install
    limits = limits or RenderLimits.from_env()
    header = {"variant": variant, "base_url": base_url or str(TEMPLATES), "max_pages": limits.max_pages}
    data = html.encode("utf-8")
    pool = _RENDERERS
    with pool.slots:
        deadline = time.monotonic() + limits.timeout
        for attempt in (1, 2):
            renderer = pool.take(limits.max_memory)
            try:
                reply, pdf = renderer.render(header, data, deadline)
            except TimeoutError:
                renderer.close(kill=True)
                raise RenderError(f"laying out the human-readable PDF took more than {limits.timeout:g} s "
                                  "(EDIGATE_RENDER_TIMEOUT); it was stopped", limit="time") from None
            except _Died:
                how = renderer.death()
                renderer.close(kill=True)
                if attempt == 1 and renderer.renders > 0:
                    continue              # an idle process that had died meanwhile: once more, afresh
                raise RenderError(
                    f"the PDF rendering process died ({how}) while laying out the human-readable PDF, most "
                    f"likely at its memory cap of {limits.max_memory // 2**20:,} MiB (EDIGATE_RENDER_MAX_MEMORY)",
                    limit="memory") from None
            pool.give(renderer)
            break
    if reply.get("ok"):
        return pdf
    limit = reply.get("limit")
    if limit == "pages":
        raise RenderError(f"the human-readable PDF would have {reply.get('pages'):,} pages, more than the "
                          f"{limits.max_pages:,} accepted (EDIGATE_RENDER_MAX_PAGES)", limit="pages")
    if limit == "memory":
        raise RenderError(f"laying out the human-readable PDF needed more than its memory cap of "
                          f"{limits.max_memory // 2**20:,} MiB (EDIGATE_RENDER_MAX_MEMORY)", limit="memory")
    raise RenderError(f"the human-readable PDF could not be laid out: {reply.get('message')}", limit="renderer")
