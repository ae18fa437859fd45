"""The ``edigate`` command line: ``translate``, ``validate`` and ``formats``.

Exit codes (``translate`` and ``validate``; the highest that applies wins):

    0  everything read; translate: every output written and XSD-valid
       (warnings such as dropped business terms allowed);
       validate: no document has a fatal finding
    1  translate: some output fails the XSD (or, with --schematron, the CEN
       schematron); validate: some document has fatal findings
    2  some input could not be read or translated at all (also click's
       exit code for command-line usage errors)
    3  setup problem: the schematron stylesheet asked for cannot be found

Machine-readable output goes to stdout (the translated document, the
validation report or its JSON); warnings, errors, progress bars and the
translate summary go to stderr.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

import click

from .errors import EdigateError, InputError
from .findings import Finding
from .formats import EXTENSIONS, WRITABLE

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE, EXIT_SETUP = 0, 1, 2, 3

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# --- output helpers -----------------------------------------------------------------------

class _Console:
    """stdout/stderr writes that do not garble a progress bar drawn on a terminal."""

    def __init__(self) -> None:
        self.bar_active = False

    def _clear_bar(self) -> None:
        if self.bar_active:
            err = sys.stderr
            if err.isatty():
                err.write("\r\x1b[2K")
                err.flush()

    def out(self, message: str) -> None:
        self._clear_bar()
        click.echo(message)

    def err(self, message: str) -> None:
        self._clear_bar()
        click.echo(message, err=True)

    def iterate(self, items: list, label: str, show: bool) -> Iterator:
        """``items``, with a progress bar on stderr when ``show``."""
        if not show:
            yield from items
            return
        with click.progressbar(items, label=label, file=sys.stderr,
                               show_pos=True, show_eta=True) as bar:
            self.bar_active = True
            try:
                yield from bar
            finally:
                self.bar_active = False


def _message(f: Finding) -> str:
    """The finding's message without a leading repetition of its rule id."""
    msg = f.message.strip()
    for prefix in (f"{f.rule}: ", f"[{f.rule}]-", f"[{f.rule}] - ", f"[{f.rule}] "):
        if msg.startswith(prefix):
            return msg[len(prefix):].strip()
    return msg


# an SVRL location step "*:Name[namespace-uri()='urn:...']" shown as "Name"
_SVRL_STEP = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='[^']*'\]")


def format_finding(f: Finding, source: Optional[str] = None) -> str:
    """``[fatal] BR-CO-10 (BT-106): message @ location (line N)``; ``source`` labels the rule."""
    head = f"[{f.severity}] " + (f"{source} " if source else "") + f.rule
    if f.terms:
        head += f" ({','.join(f.terms)})"
    text = f"{head}: {_message(f)}"
    where = _SVRL_STEP.sub(r"\1", f.location) if f.location else f.path
    if where:
        text += f" @ {where}"
    if f.line:
        text += f" (line {f.line})"
    return text


def _input_error(exc: BaseException) -> str:
    """One line saying what is wrong with an input (no traceback)."""
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot read file: {exc.strerror or exc}"
    return f"internal error ({type(exc).__name__}: {exc}); please report it (rerun with --debug for details)"


def _reraise_if_debug(ctx: click.Context, exc: BaseException) -> None:
    if (ctx.obj or {}).get("debug") and not isinstance(exc, (InputError, OSError)):
        raise exc


# --- inputs -------------------------------------------------------------------------------

def _document_files(folder: Path, exclude: Optional[Path] = None) -> list[Path]:
    """Every ``*.xml`` and ``*.pdf`` file (any case) under ``folder``, sorted; symlinked folders not followed."""
    excluded = exclude.resolve() if exclude is not None else None
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if excluded is not None:
            dirnames[:] = [d for d in dirnames if (here / d).resolve() != excluded]
        dirnames.sort()
        found.extend(here / n for n in sorted(filenames) if n.lower().endswith((".xml", ".pdf")))
    return found


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(_document_files(p) if p.is_dir() else [p])
    return out


def _schematron(syntax: str):
    """The compiled CEN schematron for ``ubl`` or ``cii``/``facturx`` (exit 3 when it cannot be found)."""
    from .xml import schematron
    try:
        return schematron.cen_ubl() if syntax == "ubl" else schematron.cen_cii()
    except schematron.SchematronNotFoundError as exc:
        raise _SetupError(str(exc)) from None


class _SetupError(click.ClickException):
    exit_code = EXIT_SETUP


# --- the group ----------------------------------------------------------------------------

@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="edigate", prog_name="edigate")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of internal errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """edigate: e-invoices through the EN 16931 model.

    Translate between UBL 2.1, UN/CEFACT CII and Factur-X PDF/A-3,
    validate against the EN 16931 business rules, list the mappings.
    Exit codes: 0 ok, 1 invalid document or output, 2 unreadable input,
    3 setup problem (see each command's --help).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# --- translate ----------------------------------------------------------------------------

@dataclass
class _Translated:
    status: int = EXIT_OK
    data: Optional[bytes] = None


def _translate_one(ctx: click.Context, con: _Console, src: Path, label: str, to: str,
                   schematron: bool, quiet: bool) -> _Translated:
    from .formats import read_document, write_document
    try:
        doc = read_document(src.read_bytes())
        rendering = write_document(doc.invoice, to, validate=True)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        con.err(f"error: {label}: {_input_error(exc)}")
        return _Translated(EXIT_UNREADABLE)
    result = _Translated(EXIT_OK, rendering.data)
    if not quiet:
        for f in doc.findings:
            con.err(f"warning: {label}: not carried over: {format_finding(f)}")
        for d in rendering.dropped:
            con.err(f"warning: {label}: {d.term} ({d.path}) cannot be carried by {to} and was dropped")
    for f in rendering.findings:
        con.err(f"error: {label}: output fails the {to} XSD: {format_finding(f)}")
        result.status = EXIT_INVALID
    if schematron:
        checker = _schematron(to)
        try:
            xml = getattr(rendering, "xml", None) or rendering.data   # Factur-X: the embedded XML
            fatal = [f for f in checker.run(xml) if f.fatal]
        except Exception as exc:  # noqa: BLE001
            _reraise_if_debug(ctx, exc)
            con.err(f"error: {label}: schematron check failed: {_input_error(exc)}")
            return _Translated(EXIT_UNREADABLE, result.data)
        for f in fatal:
            con.err(f"error: {label}: output fails the CEN schematron: {format_finding(f, 'schematron')}")
        if fatal:
            result.status = EXIT_INVALID
    return result


def _write(dest: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a document."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        part.write_bytes(data)
        os.replace(part, dest)
    except OSError:
        part.unlink(missing_ok=True)
        raise


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Translate a file or a folder to UBL, CII or Factur-X.")
@click.argument("source", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.option("--to", "to", required=True, type=click.Choice(WRITABLE, case_sensitive=False),
              help="Target syntax: ubl (UBL 2.1 Invoice/CreditNote) or cii (CII D16B, Factur-X XML).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (or folder) for one file; output folder, required, for a folder. "
                   "Without it a single translation goes to stdout.")
@click.option("--schematron", is_flag=True,
              help="Also check every output with the official CEN EN 16931 schematron (slower).")
@click.option("-q", "--quiet", is_flag=True, help="Do not print warnings (dropped terms, unread content).")
@click.pass_context
def translate(ctx: click.Context, source: Path, to: str, output: Optional[Path], schematron: bool,
              quiet: bool) -> None:
    """Translate IN (a file, or a folder of *.xml files, recursively) to another syntax.

    The input syntax is detected. Every output is checked against the target
    XSD. A warning names each business term the target cannot carry. An
    output that fails validation is still written. Unreadable inputs are
    reported on one line each and the batch goes on.

    \b
    Exit codes: 0 all translated (warnings allowed), 1 some output fails the
    XSD (or the schematron with --schematron), 2 some input could not be read
    or translated, 3 schematron not found. The highest that applies wins.

    \b
    Examples:
      edigate translate invoice.xml --to cii > invoice.cii.xml
      edigate translate inbox/ --to ubl -o outbox/
    """
    to = to.lower()
    con = _Console()
    if schematron:
        _schematron(to)  # fail early (exit 3) if the stylesheet is missing; compiles it once
    if source.is_dir():
        if output is None:
            raise click.UsageError("translating a folder needs -o/--output, an output folder")
        if output.exists() and not output.is_dir():
            raise click.UsageError(f"-o {output}: not a folder (IN is a folder)")
        if output.resolve() == source.resolve():
            raise click.UsageError("-o must differ from IN: the outputs would overwrite the inputs")
        jobs = [(f, output / f.relative_to(source).with_suffix(EXTENSIONS[to]))
                for f in _document_files(source, exclude=output)]
        batch = True
    else:
        dest = output
        if dest is not None and dest.is_dir():
            dest = dest / source.with_suffix(EXTENSIONS[to]).name
        jobs = [(source, dest)]
        batch = False

    counts = {EXIT_OK: 0, EXIT_INVALID: 0, EXIT_UNREADABLE: 0}
    written: set[Path] = set()
    label = f"translating {len(jobs)} file{'s' if len(jobs) != 1 else ''} to {to}"
    for src, dest in con.iterate(jobs, label, show=batch):
        name = str(src)
        if dest is not None:
            target = dest.resolve()
            if target == src.resolve() or target in written:
                why = "it is the input itself" if target == src.resolve() else "another input was written there"
                con.err(f"error: {name}: refusing to write {dest}: {why}")
                counts[EXIT_UNREADABLE] += 1
                continue
        result = _translate_one(ctx, con, src, name, to, schematron, quiet)
        if result.data is not None:
            try:
                if dest is None:
                    stdout = sys.stdout.buffer
                    stdout.write(result.data)
                    stdout.flush()
                else:
                    _write(dest, result.data)
                    written.add(dest.resolve())
            except OSError as exc:
                con.err(f"error: {name}: cannot write {dest}: {exc.strerror or exc}")
                result.status = EXIT_UNREADABLE
        counts[result.status] += 1

    if batch:
        con.err(f"{len(jobs)} file{'s' if len(jobs) != 1 else ''}: {counts[EXIT_OK]} translated, {counts[EXIT_INVALID]} with invalid "
                f"output, {counts[EXIT_UNREADABLE]} unreadable")
    ctx.exit(max((s for s, n in counts.items() if n), default=EXIT_OK))


# --- validate -----------------------------------------------------------------------------

@dataclass
class _Report:
    file: str
    syntax: Optional[str] = None
    findings: list[Finding] = field(default_factory=list)
    schematron: Optional[list[Finding]] = None
    error: Optional[str] = None

    @property
    def valid(self) -> bool:
        return (self.error is None and not any(f.fatal for f in self.findings)
                and not any(f.fatal for f in self.schematron or ()))

    @property
    def status(self) -> int:
        return EXIT_UNREADABLE if self.error else EXIT_OK if self.valid else EXIT_INVALID

    def as_dict(self) -> dict:
        d = {"file": self.file, "syntax": self.syntax, "valid": self.valid,
             "findings": [f.as_dict() for f in self.findings]}
        if self.schematron is not None:
            d["schematron"] = [f.as_dict() for f in self.schematron]
        if self.error is not None:
            d["error"] = self.error
        return d


def _validate_one(ctx: click.Context, path: Path, schematron: bool) -> _Report:
    from .formats import read_document, validate_document
    report = _Report(str(path))
    try:
        data = path.read_bytes()
        doc = read_document(data)
        report.syntax = doc.syntax
        report.findings = validate_document(doc)
        if schematron:
            report.schematron = [f for f in _schematron(doc.syntax).run(data) if f.fatal]
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        report.error = _input_error(exc)
    return report


def _print_report(con: _Console, r: _Report, quiet: bool) -> None:
    if r.error is not None:
        con.out(f"ERROR {r.file}: {r.error}")
        return
    shown = [f for f in r.findings if f.fatal or not quiet]
    fatal = sum(f.fatal for f in r.findings) + len(r.schematron or ())
    warnings = sum(not f.fatal for f in r.findings)
    counts = [f"{fatal} fatal"] if fatal else []
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    con.out(f"{'PASS' if r.valid else 'FAIL'}  {r.file} ({', '.join([r.syntax or '?'] + counts)})")
    for f in shown:
        con.out(f"  {format_finding(f)}")
    for f in r.schematron or ():
        con.out(f"  {format_finding(f, 'schematron')}")


@main.command(context_settings=CONTEXT_SETTINGS, short_help="Check documents against the EN 16931 rules.")
@click.argument("paths", metavar="FILE_OR_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (a list of {file, syntax, valid, findings}) on stdout.")
@click.option("--schematron", is_flag=True,
              help="Also run the official CEN EN 16931 schematron; its fatal findings are shown as "
                   "'schematron' and count for the verdict.")
@click.option("-q", "--quiet", is_flag=True, help="Hide warnings; show fatal findings only.")
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, schematron: bool,
             quiet: bool) -> None:
    """Check documents against the EN 16931 business rules.

    Folders are searched recursively for *.xml files. For each file: PASS or
    FAIL, then each finding with its rule, business terms, message and place
    in the file; a summary line ends the report.

    \b
    Exit codes: 0 all valid (no fatal finding), 1 some document has fatal
    findings, 2 some input could not be read at all, 3 schematron not found.
    The highest that applies wins.
    """
    con = _Console()
    files = _expand(paths)
    label = f"validating {len(files)} files"
    reports: list[_Report] = []
    for path in con.iterate(files, label, show=len(files) > 1):
        r = _validate_one(ctx, path, schematron)
        reports.append(r)
        if not as_json:
            _print_report(con, r, quiet)

    valid = sum(r.valid for r in reports)
    unreadable = sum(r.error is not None for r in reports)
    summary = (f"{len(reports)} file{'s' if len(reports) != 1 else ''}: {valid} valid, "
               f"{len(reports) - valid - unreadable} invalid, {unreadable} unreadable")
    if as_json:
        docs = [r.as_dict() for r in reports]
        if quiet:
            for d in docs:
                d["findings"] = [f for f in d["findings"] if f["severity"] == "fatal"]
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        con.err(summary)
    else:
        con.out(summary)
    ctx.exit(max((r.status for r in reports), default=EXIT_OK))


# --- formats ------------------------------------------------------------------------------

@main.command(context_settings=CONTEXT_SETTINGS)
def formats() -> None:
    """List the mappings and what each reads and writes."""
    from . import mapping
    from .formats import XML_SYNTAXES

    click.echo(f"Mappings in {mapping.mappings_dir()}:")
    names = mapping.available()
    width = max((len(n) for n in names), default=0)
    for name in names:
        try:
            spec = mapping.load(name)
        except EdigateError as exc:
            click.echo(f"  {name:<{width}}  error: {exc}")
            continue
        syntax = XML_SYNTAXES.get(spec.syntax)
        wired = syntax is not None and name in syntax.mapping_names
        role = "reads, writes" if wired else "not used by a syntax (flavour)"
        line = f"  {name:<{width}}  {spec.syntax:<4} {role:<14}  {spec.description}"
        if spec.select:
            line += "; written for " + "; ".join(f"{t} in {', '.join(v)}" for t, v in spec.select.items())
        click.echo(line)
    click.echo(f"translate --to: {', '.join(WRITABLE)}. Input syntax is detected "
               "(UBL 2.1 Invoice/CreditNote, CII D16B); PDF and EDIFACT are recognised "
               "but not readable yet.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
