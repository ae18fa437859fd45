"""What one fuzzed input must do: be read or cleanly refused, then validated and written everywhere.

``check(data, syntax)`` runs the path every document takes in the gateway:

* ``read``: ``read_documents`` (format detected) gives invoices, or raises an
  ``InputError`` (any subclass: ``HostileInputError``, ``UnknownFormatError``
  …), which is a clean refusal;
* ``validate``: ``validate_document`` (reading findings + EN 16931 rules) on
  each invoice;
* ``write:<syntax>``: ``write_document`` to every writable syntax
  (``gateway.syntaxes.writable()``, what ``edigate formats`` lists); a writer may
  report dropped terms and findings, and may refuse with an ``InputError``
  (the PDF renderer's ``RenderError`` beyond its caps), nothing else.

A message that is not an invoice (``MESSAGE_SYNTAXES``) takes its own path: read
(an ``InputError`` a clean refusal), judged by its rules, and written back from
what was read (a writer may refuse what it cannot write with a ``ValueError``
naming the missing part: counted as a write refusal). CDAR: FNFE's CDAR rules,
each status written back; Peppol Invoice Response: the T111 rules, the response
written back; SBDH: the payload given back parsed on its own (it must stand alone and be the
document the header names), the envelope written again around it, and the payload read as a
document.

Any other exception is a crash, located at the innermost frame in
``gateway/``. A crash whose message matches ``KNOWN`` is a defect already being
fixed elsewhere: reported as known, kept apart from new crashes.
"""
from __future__ import annotations

import re
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from gateway.model.errors import InputError, RenderError

MESSAGE_SYNTAXES = ("cdar", "invoice-response", "sbdh")   # status messages and envelopes, read apart
SYNTAXES = ("edifact", "ubl", "cii", "csv", "facturx") + MESSAGE_SYNTAXES   # each a fuzz target
MAX_DOCUMENTS = 3          # invoices of one input validated and written (a CSV or interchange may hold many)

# Defects someone is fixing at the time of a run: (message pattern, what it is), reported apart from
# new crashes. Empty: the ones met so far (BT-150 without a price, huge exponents) are fixed.
KNOWN: tuple[tuple[str, str], ...] = ()

_GATEWAY = str(Path(__file__).resolve().parents[2] / "gateway")


@dataclass
class Crash:
    """An unexpected exception: where, what, and whether it is a known defect."""
    phase: str                 # "read", "validate", "write:cii" ...
    type: str
    message: str
    where: str                 # innermost frame in gateway/: "gateway/x.py:12 in f"
    traceback: str
    known: Optional[str] = None

    @property
    def signature(self) -> str:
        """What makes two crashes the same bug: phase kind, exception type and place."""
        return f"{self.phase}|{self.type}|{self.where}"


@dataclass
class Outcome:
    """What became of one input."""
    syntax: str
    documents: int = 0                     # invoices read
    validated: int = 0                     # invoices validated
    written: int = 0                       # invoices written to every target
    refusal: Optional[str] = None          # the InputError that refused it at reading
    render_refusals: list[str] = field(default_factory=list)   # RenderError limits met while writing
    write_refusals: int = 0                # other InputErrors of writers
    crash: Optional[Crash] = None
    memory: bool = False                   # the crash is a MemoryError
    seconds: dict[str, float] = field(default_factory=dict)    # per phase kind

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def _crash(phase: str, exc: BaseException) -> Crash:
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename.startswith(_GATEWAY)]
    frame = (mine or frames or [None])[-1]
    where = (f"{Path(frame.filename).relative_to(Path(_GATEWAY).parent) if frame.filename.startswith(_GATEWAY) else frame.filename}:"
             f"{frame.lineno} in {frame.name}") if frame else "?"
    message = str(exc)[:500]
    known = next((what for pattern, what in KNOWN if re.search(pattern, message)), None)
    return Crash(phase, type(exc).__name__, message, where,
                 "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-6000:], known)


@lru_cache(maxsize=1)
def _fixed_page() -> bytes:
    from gateway.syntaxes import render
    from tests.support.invoice_builder import build_invoice
    return render.render_pdf(build_invoice(), lang="en")


@contextmanager
def fixed_layout() -> Iterator[None]:
    """WeasyPrint's layout replaced by one fixed page, everything else of the Factur-X writer kept:
    the CII and its profile XSDs, ``render_html`` with its bounds, the embedding, the metadata.

    The layout runs in a separate process within time and memory caps (``render.html_to_pdf``),
    whose every failure is a ``RenderError`` by construction; a long run lays out a sample."""
    from gateway.syntaxes import render
    page = _fixed_page()
    real = render.html_to_pdf
    render.html_to_pdf = lambda html, **kwargs: page
    try:
        yield
    finally:
        render.html_to_pdf = real


def check(data: bytes, syntax: str, *, phase: Optional[Callable[[str], None]] = None,
          targets: Optional[tuple[str, ...]] = None, layout: bool = True,
          write_filter: Optional[Callable[[Any], bool]] = None) -> Outcome:
    """Read, validate and write ``data`` (a mutant of a ``syntax`` seed); never raises but for
    KeyboardInterrupt/SystemExit. ``phase(name)`` is called as each phase starts (watchdogs);
    ``targets``: the syntaxes to write (default all); ``layout=False``: Factur-X written with
    ``fixed_layout()``; else a document is laid out once, for its first Factur-X flavour (every
    profile lays out the same rendering of the invoice; the others get the fixed page, the rest of
    their writer runs); ``write_filter(document)``: whether to write that one (default: all)."""
    from gateway.syntaxes import read_documents, syntax_of, validate_document, writable, write_document

    out = Outcome(syntax)
    targets = writable() if targets is None else targets
    current = "read"
    message = MESSAGE_CHECKS.get(syntax)

    def start(name: str) -> float:
        nonlocal current
        current = name
        if phase is not None:
            phase(name)
        return time.monotonic()

    def stop(kind: str, t0: float) -> None:
        out.seconds[kind] = out.seconds.get(kind, 0.0) + time.monotonic() - t0

    try:
        if message is not None:
            message(data, out, start, stop)
            return out
        t0 = start("read")
        try:
            docs = read_documents(data)
        except InputError as exc:
            out.refusal = f"{type(exc).__name__}: {str(exc)[:200]}"
            return out
        finally:
            stop("read", t0)
        out.documents = len(docs)
        for doc in docs[:MAX_DOCUMENTS]:
            t0 = start("validate")
            validate_document(doc)
            stop("validate", t0)
            out.validated += 1
            if write_filter is not None and not write_filter(doc):
                continue
            out.written += 1
            laid_out = not layout
            for target in targets:
                t0 = start(f"write:{target}")
                try:
                    fixed = syntax_of(target) == "facturx" and laid_out
                    laid_out = laid_out or syntax_of(target) == "facturx"
                    with (fixed_layout() if fixed else nullcontext()):
                        write_document(doc.invoice, target, validate=True)
                except RenderError as exc:
                    out.render_refusals.append(exc.limit)
                except InputError:
                    out.write_refusals += 1
                finally:
                    stop("write", t0)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:       # noqa: BLE001 - this is what the fuzzer looks for
        out.crash = _crash(current, exc)
        out.memory = isinstance(exc, MemoryError)
    return out


def _read(reader: Callable[[bytes], Any], data: bytes, out: Outcome, start: Callable[[str], float],
          stop: Callable[[str, float], None]) -> Any:
    t0 = start("read")
    try:
        return reader(data)
    except InputError as exc:
        out.refusal = f"{type(exc).__name__}: {str(exc)[:200]}"
        return None
    finally:
        stop("read", t0)


def _write(writer: Callable[[], Any], name: str, out: Outcome, start: Callable[[str], float],
           stop: Callable[[str, float], None]) -> None:
    t0 = start(f"write:{name}")
    try:
        writer()
    except (InputError, ValueError):
        out.write_refusals += 1
    finally:
        stop("write", t0)
    out.written += 1


def _check_invoice_response(data: bytes, out: Outcome, start: Callable[[str], float],
                            stop: Callable[[str, float], None]) -> None:
    """A Peppol Invoice Response: read, judged by the T111 rules, written back."""
    from gateway.rules import peppol_t111
    from gateway.syntaxes import invoice_response
    response = _read(invoice_response.read_invoice_response, data, out, start, stop)
    if response is None:
        return
    out.documents = 1
    t0 = start("validate")
    peppol_t111.validate(data)
    stop("validate", t0)
    out.validated += 1
    _write(lambda: invoice_response.build_invoice_response(response), "invoice-response", out, start, stop)


def _check_sbdh(data: bytes, out: Outcome, start: Callable[[str], float],
                stop: Callable[[str, float], None]) -> None:
    """An SBDH envelope: read, written again around its payload, the payload read as a document.
    The payload given back stands alone (the envelope's namespace declarations it uses added) and
    is the business document the header names: anything else is a crash."""
    from lxml import etree

    from gateway.syntaxes import read_documents, sbdh
    from gateway.xml import safe
    envelope = _read(sbdh.read_sbdh, data, out, start, stop)
    if envelope is None:
        return
    out.documents = 1
    t0 = start("read:payload")
    try:
        alone = etree.QName(safe.parse(envelope.payload_document()))
        if (alone.namespace, alone.localname) != (envelope.standard, envelope.type):
            raise AssertionError(f"the payload given back is {alone}, not the {envelope.type} the header names")
    finally:
        stop("read", t0)
    t0 = start("validate")
    try:
        read_documents(envelope.payload)
        out.validated += 1
    except InputError:
        pass
    finally:
        stop("validate", t0)
    _write(lambda: sbdh.build_sbdh(envelope, envelope.payload), "sbdh", out, start, stop)


def _check_status(data: bytes, out: Outcome, start: Callable[[str], float],
                  stop: Callable[[str, float], None]) -> None:
    """A CDAR message: read, judged by FNFE's CDAR rules, each status written back."""
    from gateway.rules import cdar as cdar_rules
    from gateway.syntaxes import cdar
    t0 = start("read")
    try:
        message = cdar.read_cdar(data)
    except InputError as exc:
        out.refusal = f"{type(exc).__name__}: {str(exc)[:200]}"
        return
    finally:
        stop("read", t0)
    out.documents = len(message.statuses)
    t0 = start("validate")
    cdar_rules.validate(data)
    stop("validate", t0)
    out.validated += 1
    for record in message.statuses[:MAX_DOCUMENTS]:
        t0 = start("write:cdar")
        try:
            cdar.build_cdar(status_change(message, record))
        except (InputError, ValueError):
            out.write_refusals += 1
        finally:
            stop("write", t0)
        out.written += 1


MESSAGE_CHECKS: dict[str, Callable[..., None]] = {
    "cdar": _check_status, "invoice-response": _check_invoice_response, "sbdh": _check_sbdh}


def status_change(message: Any, record: Any) -> Any:
    """What a read CDAR status says, as the writer takes it (the message's parties and time)."""
    from datetime import datetime, timezone
    from gateway.syntaxes.cdar import CdarParty, StatusChange
    return StatusChange(status=record.status or record.code or "", at=message.at or datetime.now(timezone.utc),
                        invoice_number=record.invoice_number or "", invoice_date=record.invoice_date,
                        seller=record.seller or CdarParty(), recipients=tuple(message.recipients),
                        issuer=message.issuer, sender=message.sender, invoice_type=record.invoice_type or "380",
                        reason_code=record.reason_code, reason=record.reason,
                        business_process=message.business_process)


def warm_up_input(syntax: str) -> bytes:
    """One valid input of ``syntax`` (what a fuzz run loads its code with before the watchdog)."""
    from gateway.syntaxes import write_document
    from tests.support.invoice_builder import build_invoice
    if syntax == "cdar":
        from datetime import date, datetime, timezone
        from gateway.syntaxes.cdar import CdarParty, StatusChange, build_cdar
        return build_cdar(StatusChange(
            status="refused", at=datetime(2026, 9, 2, 10, 0, tzinfo=timezone.utc), invoice_number="F2026-001",
            invoice_date=date(2026, 9, 1), seller=CdarParty(id="356000000", scheme="0002", name="Vendeur SA",
                                                            role="SE", uri="356000000", uri_scheme="0225"),
            recipients=(CdarParty(id="356000000", scheme="0002", name="Vendeur SA", role="SE", uri="356000000",
                                  uri_scheme="0225"),),
            issuer=CdarParty(id="732829320", scheme="0002", name="Acheteur SA", role="BY", uri="732829320",
                             uri_scheme="0225"),
            reason_code="TX_TVA_ERR", reason="Taux de TVA erroné"))
    if syntax == "invoice-response":
        from datetime import date, datetime, timezone
        from gateway.syntaxes.invoice_response import IrParty, build_invoice_response, for_status
        return build_invoice_response(for_status(
            "refused", at=datetime(2026, 9, 2, 10, 0, tzinfo=timezone.utc), response_id="IR-1",
            invoice_number="F2026-001", invoice_date=date(2026, 9, 1), reason_code="TX_TVA_ERR",
            reason="Taux de TVA erroné",
            buyer=IrParty(endpoint_id="732829320", endpoint_scheme="0002", name="Acheteur SA"),
            seller=IrParty(endpoint_id="356000000", endpoint_scheme="0002", name="Vendeur SA")))
    if syntax == "sbdh":
        from datetime import datetime, timezone
        from gateway.networks.peppol.identifiers import BIS3_INVOICE, BIS3_PROCESS
        from gateway.syntaxes.sbdh import Participant, Sbdh, build_sbdh
        header = Sbdh(sender=Participant("0002:356000000"), receiver=Participant("0002:732829320"),
                      document_type=BIS3_INVOICE, process=BIS3_PROCESS, instance_identifier="sbdh-1",
                      created_at=datetime(2026, 9, 2, 8, 0, tzinfo=timezone.utc), country_c1="FR")
        return build_sbdh(header, write_document(build_invoice(), "ubl").data)
    written_as = {"csv": "csv-lines", "edifact": "edifact-d14b"}.get(syntax, syntax)
    return write_document(build_invoice(), written_as).data
