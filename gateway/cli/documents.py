"""``edigate translate``, ``validate``, ``ack`` and ``formats``: documents, no database (the root
group, ``gateway.cli.main``, names these commands and imports this module when one runs).

Exit codes (``translate`` and ``validate``; the highest that applies wins):

    0  everything read; translate: every output written and valid
       (warnings such as dropped business terms allowed);
       validate: no document has a fatal finding
    1  translate: some source breaks EN 16931 (its fatal findings are
       reported first, by rule id, term and place), some output fails the
       XSD or its writer's checks (or, with --schematron, the CEN
       schematron), or an EDIFACT input interchange is rejected by its
       envelope checks (the outputs are still written); validate: some
       document has fatal findings
    2  some input could not be read or translated at all (also click's
       exit code for command-line usage errors)
    3  setup problem: the schematron stylesheet asked for cannot be found

``ack``: 0 the interchange is accepted, 1 it is rejected in part or whole
(the CONTRL is written all the same), 2 the input is not EDIFACT.

A file can hold several invoices (an EDIFACT interchange of several INVOIC
messages, a CSV export): each is translated, validated and reported on its
own, as ``FILE#N (invoice NUMBER)``.

Machine-readable output goes to stdout (the translated document, the
validation report or its JSON, the CONTRL); warnings, errors, progress bars
and summaries go to stderr.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Optional

import click

from gateway import mapping, syntaxes
from gateway.model.errors import EdigateError, InputError, RenderError
from gateway.model.findings import WARNING, Finding
from gateway.rules.profiles import DEFAULT_PROFILE, ProfileError, UnknownProfileError, get_profile, profile_names
from gateway.store.filenames import safe_filename
from gateway.syntaxes import Document, extension, facturx, flavour, flavours, registry, syntax_of, writable
from gateway.syntaxes.detect import sniff
from gateway.syntaxes.edifact import invoic
from gateway.syntaxes.edifact.contrl import build_contrl
from gateway.syntaxes.edifact.syntax import Party, iter_messages
from gateway.syntaxes.registry import SYNTAXES
from gateway.syntaxes.xml_syntax import XML
from gateway.xml import schematron

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
    """``[fatal] BR-CO-10 (BT-106): message @ location (line N)``; ``source`` labels the rule; a rule of
    another rule set than EN 16931 is named with it (``peppol:PEPPOL-EN16931-R001``)."""
    rule = f"{f.rule_set}:{f.rule}" if f.rule_set and f.rule_set != "en16931" else f.rule
    head = f"[{f.severity}] " + (f"{source} " if source else "") + rule
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
    if ctx.find_root().params.get("debug") and not isinstance(exc, (InputError, OSError)):
        raise exc


# --- inputs -------------------------------------------------------------------------------

_DOCUMENT_SUFFIXES = (".xml", ".pdf", ".edi", ".edifact", ".csv")
_MAYBE_EDIFACT = (".txt",)          # collected from folders only when they hold EDIFACT


def _looks_like_edifact(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return sniff(f.read(1024)) == "edifact"
    except (OSError, InputError):
        return False


def _is_document(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(_DOCUMENT_SUFFIXES):
        return True
    return name.endswith(_MAYBE_EDIFACT) and _looks_like_edifact(path)


def _document_files(folder: Path, exclude: Optional[Path] = None) -> list[Path]:
    """Every ``*.xml``, ``*.pdf``, ``*.edi``, ``*.edifact`` and ``*.csv`` file (any case) under
    ``folder``, and ``*.txt`` files that hold EDIFACT, sorted; symlinked folders not followed."""
    excluded = exclude.resolve() if exclude is not None else None
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if excluded is not None:
            dirnames[:] = [d for d in dirnames if (here / d).resolve() != excluded]
        dirnames.sort()
        found.extend(here / n for n in sorted(filenames) if _is_document(here / n))
    return found


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out.extend(_document_files(p) if p.is_dir() else [p])
    return out


# the CEN schematron that checks the XML a syntax writes (Factur-X: its embedded CII)
_CEN_SCHEMATRON = {"ubl": "ubl", "cii": "cii", "facturx": "cii"}


def _schematron(kind: str):
    """The compiled CEN schematron for ``ubl`` or ``cii`` (exit 3 when it cannot be found)."""
    try:
        return schematron.cen_ubl() if kind == "ubl" else schematron.cen_cii()
    except schematron.SchematronNotFoundError as exc:
        raise _SetupError(str(exc)) from None


def _output_schematron(to: str) -> tuple[object, str]:
    """The schematron that judges what ``to`` writes, and its name: a Factur-X profile's own
    (``facturx-minimum``, ``cii-minimum``), else the CEN one (exit 3 when it cannot be found)."""
    level = facturx.of_flavour(to)
    if level is None:
        return _schematron(_schematron_kind(to)), "the CEN schematron"
    try:
        return facturx.profile_schematron(level), f"the {facturx.PROFILES[level].name} profile schematron"
    except schematron.SchematronNotFoundError as exc:
        raise _SetupError(str(exc)) from None


class _SetupError(click.ClickException):
    exit_code = EXIT_SETUP


def _known_profile(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--profile: a profile's name (an unknown one is a usage error, exit 2, naming the known ones)."""
    try:
        return get_profile(value.strip().lower()).name
    except UnknownProfileError as exc:
        raise click.BadParameter(str(exc)) from None


def _usable_profile(name: str) -> None:
    """Load the profile's rule sets now: one that is not available is a setup problem (exit 3)."""
    try:
        get_profile(name).require()
    except ProfileError as exc:
        raise _SetupError(str(exc)) from None


def _profile_option(f):
    return click.option("--profile", default=DEFAULT_PROFILE, show_default=True, callback=_known_profile,
                        metavar="PROFILE",
                        help="The validation profile: which rule sets check the documents ("
                             + ", ".join(profile_names()) + "; gateway/rules/profiles.yaml).")(f)


def _tolerate_option(f):
    return click.option("--tolerate-unz-reference", is_flag=True,
                        help="Read on an EDIFACT interchange whose UNZ reference (0020) is not its UNB's "
                             "(ISO 9735 syntax error 28, which rejects it by default; the CEN EN 16931 "
                             "examples carry the message reference there): reported as a warning "
                             "EDIFACT-28 at the UNZ instead.")(f)


def _unz_reference_hint(con: "_Console", name: str, findings: Iterable[Finding]) -> None:
    """Say how to read on when the one thing wrong with an envelope is its UNZ reference."""
    if any(f.fatal and f.rule == "EDIFACT-28" and "(UNZ)" in (f.location or "") for f in findings):
        con.err(f"hint: {name}: the UNZ reference is not the interchange's (UNB) reference; "
                "--tolerate-unz-reference reads such an interchange on, with a warning")


# --- the invoices of one file -------------------------------------------------------------

@dataclass
class _Item:
    """One invoice of an input file: a Document, or why it could not be read."""
    index: int                                   # 1-based position among the file's invoices
    doc: Optional["Document"] = None
    error: Optional[str] = None
    findings: list[Finding] = field(default_factory=list)   # an EDIFACT message rejected: its syntax issues
    ref: Optional[str] = None                    # EDIFACT message reference

    @property
    def number(self) -> Optional[str]:
        return self.doc.invoice.number if self.doc is not None else None


class _Invoices:
    """The invoices of one input file, read one by one.

    An EDIFACT interchange is streamed message by message (memory stays bounded
    by one message, whatever the file's size); every INVOIC message is an item,
    read into the model, or, when the syntax checks reject it, an item that
    carries its ``EDIFACT-<code>`` findings. What concerns the whole file is
    known only once it has been read: ``trailing`` then holds the interchange
    and group findings (a wrong UNZ count, a cut file) and a warning for each
    message that is not an invoice. Other syntaxes go through
    ``read_documents``: one item per invoice.
    """

    def __init__(self, path: Path, *, tolerate_unz_reference: bool = False):
        self.path = path
        self.tolerate_unz_reference = tolerate_unz_reference
        self.syntax: Optional[str] = None
        self.trailing: list[Finding] = []

    def __iter__(self) -> Iterator[_Item]:
        with open(self.path, "rb") as f:
            head = f.read(1024)
        try:
            edifact = sniff(head) == "edifact"
        except InputError:
            edifact = False
        if edifact:
            yield from self._edifact()
            return
        docs = syntaxes.read_documents(self.path.read_bytes())
        for i, doc in enumerate(docs, 1):
            self.syntax = doc.syntax
            yield _Item(i, doc)

    def _edifact(self) -> Iterator[_Item]:
        self.syntax = "edifact"
        index = 0
        skipped = []
        with open(self.path, "rb") as f:
            reader = iter_messages(f, tolerate_unz_reference=self.tolerate_unz_reference)
            for message in reader:
                where = f"message {message.ref} ({message.type or '?'})"
                if message.type != "INVOIC":
                    skipped.append(f"{where}: not an invoice; not read")
                    continue
                index += 1
                issues = list(message.issues)
                if not message.accepted:
                    yield _Item(index, error=f"{where} rejected by the EDIFACT syntax checks",
                                findings=[i.finding() for i in issues], ref=message.ref)
                    continue
                try:
                    doc = invoic.read_message(message)
                except InputError as exc:
                    yield _Item(index, error=f"{where}: {exc}", ref=message.ref)
                    continue
                doc.findings = [i.finding() for i in issues] + doc.findings
                yield _Item(index, doc, ref=message.ref)
            for ic in reader.interchanges:
                self.trailing += [i.finding() for i in ic.issues]
                for g in ic.groups:
                    self.trailing += [i.finding() for i in g.issues]
            self.trailing += [i.finding() for i in reader.issues]      # data after the last interchange
        self.trailing += [Finding(rule="EDIFACT-SKIPPED", message=text, severity=WARNING) for text in skipped]
        if index == 0:
            fatal = [f"{f.message} ({f.location})" if f.location else f.message for f in self.trailing if f.fatal]
            raise InputError("no INVOIC message in the interchange" +
                             (": " + "; ".join(fatal + skipped) if fatal or skipped else ""))


def _peek(items: Iterator[_Item]) -> tuple[list[_Item], Iterator[_Item]]:
    """The first two items (so a file of one invoice is told from a file of several) and the rest."""
    first = list(itertools.islice(items, 2))
    return first, itertools.chain(first, items)


def _label(path: Path, item: _Item, several: bool) -> str:
    """``FILE`` for a file of one invoice; ``FILE#2 (invoice 4711)`` (or ``(message REF)``) otherwise."""
    if not several:
        return str(path)
    what = f"invoice {item.number}" if item.number else f"message {item.ref}" if item.ref else None
    return f"{path}#{item.index}" + (f" ({what})" if what else "")


def _output_name(stem: str, item: _Item, ext: str, taken: set[str]) -> str:
    """``STEM-<invoice number><ext>``; ``STEM-<index>`` when the number is empty or already taken."""
    number = safe_filename(item.number, max_length=80)
    candidates = itertools.chain([f"{stem}-{number}"] if number else [], [f"{stem}-{item.index}"],
                                 (f"{stem}-{item.index}_{k}" for k in itertools.count(2)))
    for candidate in candidates:
        name = candidate + ext
        if name.lower() not in taken:
            taken.add(name.lower())
            return name
    raise AssertionError("unreachable")


def _shown_findings(con: _Console, label: str, findings: Iterable[Finding], shown: set[str]) -> None:
    """Reading findings of an input, each once per file."""
    for f in findings:
        if f.rule.startswith("EDIFACT-"):
            text = f"warning: {label}: input: {format_finding(f)}"
        else:
            text = f"warning: {label}: not carried over: {format_finding(f)}"
        if text not in shown:
            shown.add(text)
            con.err(text)


# --- translate ----------------------------------------------------------------------------

def _schematron_kind(to: str) -> Optional[str]:
    """Which CEN schematron checks what the flavour ``to`` writes (None: not XML)."""
    return _CEN_SCHEMATRON.get(flavour(to).syntax)


class _FlavourChoice(click.Choice):
    """The writable flavours, read from the mapping files when the option is used or shown."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=False)

    @property
    def choices(self) -> tuple[str, ...]:
        return writable()

    @choices.setter
    def choices(self, value: Iterable[str]) -> None:
        """Click sets the choices it was given (none): they are the registry's."""


@dataclass
class _Translated:
    status: int = EXIT_OK
    data: Optional[bytes] = None


def _translate_doc(ctx: click.Context, con: _Console, doc, label: str, to: str, schematron: bool,
                   quiet: bool, shown: set[str], profile: str = DEFAULT_PROFILE) -> _Translated:
    try:
        # the source's own fatal findings first: they explain what the output's checks say after
        source_fatal = [f for f in syntaxes.validate_document(doc, profile) if f.fatal]
        breaks = "EN 16931" if profile == DEFAULT_PROFILE else f"the {profile} profile"
        for f in source_fatal:
            con.err(f"error: {label}: the source breaks {breaks}: {format_finding(f)}")
        rendering = syntaxes.write_document(doc.invoice, to, validate=True)
    except RenderError as exc:       # the document is fine; its PDF is beyond the renderer's caps
        con.err(f"error: {label}: cannot write {to}: {exc}")
        return _Translated(EXIT_INVALID)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        con.err(f"error: {label}: {_input_error(exc)}")
        return _Translated(EXIT_UNREADABLE)
    data = rendering.data
    if isinstance(data, str):        # every writer gives bytes; never let text reach a binary sink
        data = data.encode("utf-8")
    result = _Translated(EXIT_INVALID if source_fatal else EXIT_OK, bytes(data))
    if not quiet:
        _shown_findings(con, label, [f for f in doc.findings if not f.fatal], shown)
        for d in rendering.dropped:
            con.err(f"warning: {label}: {d.term} ({d.path}) cannot be carried by {to} and was dropped")
    for f in rendering.findings:
        if not f.fatal:
            if not quiet:
                con.err(f"warning: {label}: {to} output: {format_finding(f)}")
            continue
        what = f"output fails the {to} XSD" if _schematron_kind(to) else f"invalid {to} output"
        con.err(f"error: {label}: {what}: {format_finding(f)}")
        result.status = EXIT_INVALID
    if schematron:
        checker, checker_name = _output_schematron(to)
        try:
            xml = getattr(rendering, "xml", None) or rendering.data   # Factur-X: the embedded XML
            fatal = [f for f in checker.run(xml) if f.fatal]
        except Exception as exc:  # noqa: BLE001
            _reraise_if_debug(ctx, exc)
            con.err(f"error: {label}: schematron check failed: {_input_error(exc)}")
            return _Translated(EXIT_UNREADABLE, result.data)
        for f in fatal:
            con.err(f"error: {label}: output fails {checker_name}: {format_finding(f, 'schematron')}")
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


@dataclass
class _Job:
    src: Path
    dest: Optional[Path]            # None: stdout
    folder: Optional[Path] = None   # where the outputs go when the file holds several invoices
    single_input: bool = False      # IN is this one file (not a folder)


def _translate_file(ctx: click.Context, con: _Console, job: _Job, to: str, schematron: bool, quiet: bool,
                    written: set[Path], profile: str = DEFAULT_PROFILE,
                    tolerate_unz_reference: bool = False) -> list[int]:
    """Translate every invoice of one file; the status of each (an empty file: one status)."""
    name = str(job.src)
    ext = extension(to)
    reader = _Invoices(job.src, tolerate_unz_reference=tolerate_unz_reference)
    statuses: list[int] = []
    shown: set[str] = set()
    taken: set[str] = set()
    try:
        first, items = _peek(iter(reader))
        several = len(first) > 1
        if several and job.single_input:
            if job.folder is None:
                raise click.UsageError(f"{name} holds several invoices: give -o/--output, a folder, "
                                       "to get one output file each (stdout takes a single invoice)")
            if job.folder.exists() and not job.folder.is_dir():
                raise click.UsageError(f"-o {job.folder}: not a folder ({name} holds several invoices, "
                                       "one output file each)")
        for item in items:
            label = _label(job.src, item, several)
            if item.doc is None:
                con.err(f"error: {label}: {item.error}")
                for f in item.findings:
                    if f.fatal or not quiet:
                        con.err(f"  {format_finding(f)}")
                statuses.append(EXIT_UNREADABLE)
                continue
            if several:
                dest = job.folder / _output_name(job.src.stem, item, ext, taken)
            else:
                dest = job.dest
            if dest is not None:
                target = dest.resolve()
                if target == job.src.resolve() or target in written:
                    why = "it is the input itself" if target == job.src.resolve() else \
                        "another input was written there"
                    con.err(f"error: {label}: refusing to write {dest}: {why}")
                    statuses.append(EXIT_UNREADABLE)
                    continue
            result = _translate_doc(ctx, con, item.doc, label, to, schematron, quiet, shown, profile)
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
                    con.err(f"error: {label}: cannot write {dest}: {exc.strerror or exc}")
                    result.status = EXIT_UNREADABLE
            statuses.append(result.status)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        con.err(f"error: {name}: {_input_error(exc)}")
        return statuses + [EXIT_UNREADABLE]
    rejected = [f for f in reader.trailing if f.fatal]
    for f in reader.trailing:
        if f.fatal:
            con.err(f"error: {name}: interchange rejected: {format_finding(f)}")
        elif not quiet:
            con.err(f"warning: {name}: input: {format_finding(f)}")
    _unz_reference_hint(con, name, rejected)
    if rejected:    # the outputs are written, but what they came from must not be taken as sound
        statuses = [max(s, EXIT_INVALID) for s in statuses]
    return statuses


@click.command(context_settings=CONTEXT_SETTINGS,
              short_help="Translate a file or a folder to UBL, CII, Factur-X, EDIFACT or CSV.")
@click.argument("source", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.option("--to", "to", required=True, type=_FlavourChoice(),
              help="Target flavour: one of the mapping files' flavours (edigate --help and edigate formats "
                   "say what each is), a partner's own ones included.")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (or folder) for a file of one invoice; output folder, required, for a folder "
                   "or a file of several invoices. Without it a single translation goes to stdout.")
@click.option("--schematron", is_flag=True,
              help="Also check every output with the official CEN EN 16931 schematron, or a Factur-X profile's own for its flavours (slower; XML targets).")
@click.option("-q", "--quiet", is_flag=True, help="Do not print warnings (dropped terms, unread content).")
@_profile_option
@_tolerate_option
@click.pass_context
def translate(ctx: click.Context, source: Path, to: str, output: Optional[Path], schematron: bool,
              quiet: bool, profile: str, tolerate_unz_reference: bool) -> None:
    """Translate IN (a file, or a folder searched recursively) to another syntax.

    The input syntax is detected. Folders are searched for *.xml, *.pdf,
    *.edi, *.edifact, *.csv files and *.txt files holding EDIFACT. A file
    holding several invoices (an EDIFACT interchange, a CSV export) gives
    one output per invoice, named NAME-<invoice number>.<ext> (NAME-<n>,
    the invoice's position, when the number is empty or taken), in the -o
    folder. Every source is checked against the rules of the validation
    profile, EN 16931 by default (its fatal findings are reported first) and every output too (XSD, or the
    EDIFACT/CSV writer's own checks). A warning names each business term
    the target cannot carry. An output that fails validation is still
    written. Unreadable inputs are reported on one line each and the batch
    goes on.

    \b
    Exit codes: 0 all translated (warnings allowed), 1 some source breaks
    the profile's rules, some output fails the XSD or its writer's checks (or the
    schematron with --schematron), or an EDIFACT input interchange is
    rejected by its envelope checks (outputs still written), 2 some input
    could not be read or translated (or an unknown --profile), 3 schematron
    not found or a profile whose rule sets are not installed. The highest
    that applies wins. With --tolerate-unz-reference, a UNZ reference that
    is not the UNB's is a warning (EDIFACT-28), not a rejection.

    \b
    Examples:
      edigate translate invoice.xml --to cii > invoice.cii.xml
      edigate translate invoice.xml --to ubl --profile peppol -o peppol.xml
      edigate translate inbox/ --to ubl -o outbox/
      edigate translate interchange.edi --to ubl -o outbox/
      edigate translate invoice.xml --to edifact-d14b -o invoice.edi
    """
    to = to.lower()
    con = _Console()
    _usable_profile(profile)
    if schematron:
        if _schematron_kind(to) is None:
            xml = [f.name for f in flavours() if f.syntax in _CEN_SCHEMATRON]
            raise click.UsageError(f"--schematron checks XML outputs ({', '.join(xml)}), not {to}")
        _output_schematron(to)  # fail early (exit 3) if the stylesheet is missing; compiles it once
    if source.is_dir():
        if output is None:
            raise click.UsageError("translating a folder needs -o/--output, an output folder")
        if output.exists() and not output.is_dir():
            raise click.UsageError(f"-o {output}: not a folder (IN is a folder)")
        if output.resolve() == source.resolve():
            raise click.UsageError("-o must differ from IN: the outputs would overwrite the inputs")
        jobs = [_Job(f, output / f.relative_to(source).with_suffix(extension(to)),
                     folder=output / f.relative_to(source).parent)
                for f in _document_files(source, exclude=output)]
        batch = True
    else:
        dest = output
        if dest is not None and dest.is_dir():
            dest = dest / source.with_suffix(extension(to)).name
        jobs = [_Job(source, dest, folder=output, single_input=True)]
        batch = False

    statuses: list[int] = []
    written: set[Path] = set()
    label = f"translating {len(jobs)} file{'s' if len(jobs) != 1 else ''} to {to}"
    for job in con.iterate(jobs, label, show=batch):
        statuses += _translate_file(ctx, con, job, to, schematron, quiet, written, profile, tolerate_unz_reference)

    counts = {s: statuses.count(s) for s in (EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE)}
    if batch or len(statuses) > 1:
        files = f"{len(jobs)} file{'s' if len(jobs) != 1 else ''}"
        if len(statuses) != len(jobs):
            files += f" ({len(statuses)} invoice{'s' if len(statuses) != 1 else ''})"
        con.err(f"{files}: {counts[EXIT_OK]} translated, {counts[EXIT_INVALID]} with findings or invalid "
                f"output, {counts[EXIT_UNREADABLE]} unreadable")
    ctx.exit(max(statuses, default=EXIT_OK))


# --- validate -----------------------------------------------------------------------------

@dataclass
class _Report:
    file: str
    syntax: Optional[str] = None
    findings: list[Finding] = field(default_factory=list)
    schematron: Optional[list[Finding]] = None
    error: Optional[str] = None
    label: Optional[str] = None          # FILE#N (invoice NUMBER) for a file of several invoices
    invoice: Optional[str] = None        # the invoice number (BT-1)
    index: Optional[int] = None          # position in a file of several invoices
    profile: str = DEFAULT_PROFILE       # the validation profile the findings come from
    facturx_profile: Optional[str] = None  # the Factur-X profile a CII or Factur-X document declares

    @property
    def valid(self) -> bool:
        return (self.error is None and not any(f.fatal for f in self.findings)
                and not any(f.fatal for f in self.schematron or ()))

    @property
    def status(self) -> int:
        return EXIT_UNREADABLE if self.error else EXIT_OK if self.valid else EXIT_INVALID

    def as_dict(self) -> dict:
        d = {"file": self.file, "syntax": self.syntax, "profile": self.profile, "valid": self.valid,
             "findings": [f.as_dict() for f in self.findings]}
        if self.index is not None:
            d["index"] = self.index
        if self.invoice is not None:
            d["invoice"] = self.invoice
        if self.facturx_profile is not None:
            d["facturx_profile"] = self.facturx_profile
        if self.schematron is not None:
            d["schematron"] = [f.as_dict() for f in self.schematron]
        if self.error is not None:
            d["error"] = self.error
        return d


def _is_xml(doc: "Document") -> bool:
    """Whether the file ``doc`` was read from is the UBL or CII XML itself."""
    return syntax_of(doc.syntax) in XML


def _schematron_findings(doc, data: bytes, profile: str = DEFAULT_PROFILE) -> list[Finding]:
    """The CEN schematron's fatal findings: on the file for UBL/CII, else on the model written as CII;
    with a profile that applies the Peppol rules, OpenPeppol's schematron's too (on a UBL file, else
    on the model written as UBL)."""
    if _is_xml(doc):
        found = [f for f in _schematron(_CEN_SCHEMATRON[syntax_of(doc.syntax)]).run(data) if f.fatal]
    else:
        rendering = syntaxes.write_document(doc.invoice, "cii")
        found = [f for f in _schematron("cii").run(rendering.data) if f.fatal]
    if "peppol" in get_profile(profile).set_names():
        ubl = data if _is_xml(doc) and syntax_of(doc.syntax) == "ubl" else \
            syntaxes.write_document(doc.invoice, "ubl").data
        try:
            checker = schematron.peppol_ubl()
        except schematron.SchematronNotFoundError as exc:
            raise _SetupError(str(exc)) from None
        found += [f for f in checker.run(ubl) if f.fatal]
    return found


CDAR_PROFILE = "fr-cdar"
CDAR_STYLESHEET = Path("fr") / "fnfe-rfe-1.4.0.03" / "CDAR" / "BR-FR-CDV-Schematron-CDAR.xslt"


def _is_cdar_file(path: Path) -> bool:
    """Whether a file looks like a CDAR life-cycle message (its root element named in its first KB)."""
    if path.suffix.lower() != ".xml":
        return False
    with open(path, "rb") as f:
        head = f.read(2048)
    return b"CrossDomainAcknowledgementAndResponse" in head


def _validate_cdar(ctx: click.Context, path: Path, schematron_too: bool) -> _Report:
    """A CDAR message judged by FNFE-MPE's CDAR rules (rule set fr-cdar); with --schematron, by the
    official stylesheet too, when it is found beside the other schematrons."""
    from gateway.rules import cdar as cdar_rules
    from gateway.syntaxes import cdar
    r = _Report(str(path), syntax="cdar", profile=CDAR_PROFILE)
    try:
        data = path.read_bytes()
        message = cdar.read_cdar(data)
        r.invoice = ", ".join(s.invoice_number or "?" for s in message.statuses[:5])
        r.findings = cdar_rules.validate(data)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        r.error = _input_error(exc)
        return r
    if schematron_too:
        sheet = schematron.CORPUS_SCHEMATRON_DIR / CDAR_STYLESHEET
        env = os.environ.get(schematron.ENV_DIR)
        if env and (Path(env) / CDAR_STYLESHEET.name).is_file():
            sheet = Path(env) / CDAR_STYLESHEET.name
        if not sheet.is_file():
            raise _SetupError(f"FNFE-MPE's CDAR stylesheet not found: set ${schematron.ENV_DIR} to a folder holding "
                              f"{CDAR_STYLESHEET.name} (tried {sheet})")
        checker = schematron.load_schematron(sheet, ruleset="FNFE-MPE CDAR")
        r.schematron = [f for f in checker.run(data) if f.fatal]
    return r


T111_PROFILE = "peppol-t111"
T111_STYLESHEET = Path("peppol") / "invoice-response" / "PEPPOLBIS-T111.xslt"


def _is_invoice_response_file(path: Path) -> bool:
    """Whether a file looks like a Peppol Invoice Response (root and CustomizationID in its first KB)."""
    if path.suffix.lower() != ".xml":
        return False
    from gateway.syntaxes.invoice_response import is_invoice_response_bytes
    with open(path, "rb") as f:
        return is_invoice_response_bytes(f.read(4096))


def _validate_invoice_response(ctx: click.Context, path: Path, schematron_too: bool) -> _Report:
    """A Peppol Invoice Response judged by OpenPeppol's T111 rules (rule set peppol-t111); with
    --schematron, by the official stylesheet too, when it is found beside the other schematrons."""
    from gateway.rules import peppol_t111
    from gateway.syntaxes import invoice_response
    r = _Report(str(path), syntax="invoice-response", profile=T111_PROFILE)
    try:
        data = path.read_bytes()
        r.invoice = invoice_response.read_invoice_response(data).invoice_number
        r.findings = peppol_t111.validate(data)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        r.error = _input_error(exc)
        return r
    if schematron_too:
        sheet = schematron.CORPUS_SCHEMATRON_DIR.parent / T111_STYLESHEET
        env = os.environ.get(schematron.ENV_DIR)
        if env and (Path(env) / T111_STYLESHEET.name).is_file():
            sheet = Path(env) / T111_STYLESHEET.name
        if not sheet.is_file():
            raise _SetupError(f"OpenPeppol's Invoice Response stylesheet not found: set ${schematron.ENV_DIR} to a "
                              f"folder holding {T111_STYLESHEET.name} (tried {sheet})")
        checker = schematron.load_schematron(sheet, ruleset="OpenPeppol PEPPOLBIS-T111")
        r.schematron = [f for f in checker.run(data) if f.fatal]
    return r


def _validate_file(ctx: click.Context, path: Path, schematron: bool, profile: str = DEFAULT_PROFILE,
                   tolerate_unz_reference: bool = False) -> list[_Report]:
    """One report per invoice of the file (one report for a file that cannot be read); a CDAR
    life-cycle message is one report, judged by the CDAR rules whatever the profile."""
    if _is_cdar_file(path):
        return [_validate_cdar(ctx, path, schematron)]
    if _is_invoice_response_file(path):
        return [_validate_invoice_response(ctx, path, schematron)]
    reader = _Invoices(path, tolerate_unz_reference=tolerate_unz_reference)
    reports: list[_Report] = []
    try:
        first, items = _peek(iter(reader))
        several = len(first) > 1
        data = None
        for item in items:
            r = _Report(str(path), label=_label(path, item, several) if several else None,
                        index=item.index if several else None, profile=profile)
            if item.doc is None:            # an EDIFACT message the syntax checks reject: its findings
                r.syntax = reader.syntax
                r.invoice = None
                if item.findings:
                    r.findings = item.findings
                else:
                    r.error = item.error
                reports.append(r)
                continue
            doc = item.doc
            r.syntax, r.invoice, r.facturx_profile = doc.syntax, doc.invoice.number, doc.profile
            r.findings = syntaxes.validate_document(doc, profile)
            if schematron:
                if data is None and _is_xml(doc):
                    data = path.read_bytes()
                r.schematron = _schematron_findings(doc, data, profile)
            reports.append(r)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        _reraise_if_debug(ctx, exc)
        return [_Report(str(path), syntax=reader.syntax, error=_input_error(exc), profile=profile)]
    for r in reports:              # the interchange's verdict concerns every invoice in it
        r.findings = r.findings + reader.trailing
    return reports


def _print_report(con: _Console, r: _Report, quiet: bool) -> None:
    name = r.label or r.file
    if r.error is not None:
        con.out(f"ERROR {name}: {r.error}")
        return
    shown = [f for f in r.findings if f.fatal or not quiet]
    fatal = sum(f.fatal for f in r.findings) + len(r.schematron or ())
    warnings = sum(not f.fatal for f in r.findings)
    counts = [f"{fatal} fatal"] if fatal else []
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    kind = [r.syntax or "?"]
    if r.facturx_profile and r.facturx_profile in facturx.PROFILES and syntax_of(r.syntax or "") == facturx.NAME:
        kind.append(f"{facturx.PROFILES[r.facturx_profile].name} profile")
    con.out(f"{'PASS' if r.valid else 'FAIL'}  {name} ({', '.join(kind + counts)})")
    for f in shown:
        con.out(f"  {format_finding(f)}")
    for f in r.schematron or ():
        con.out(f"  {format_finding(f, 'schematron')}")


@click.command(context_settings=CONTEXT_SETTINGS, short_help="Check documents against the EN 16931 rules.")
@click.argument("paths", metavar="FILE_OR_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (a list of {file, syntax, valid, findings}; index and invoice "
                   "for the invoices of a file holding several) on stdout.")
@click.option("--schematron", is_flag=True,
              help="Also run the official CEN EN 16931 schematron (on the model written as CII for "
                   "EDIFACT, CSV and PDF inputs), and with --profile peppol OpenPeppol's (on UBL); their "
                   "fatal findings are shown as 'schematron' and count for the verdict.")
@click.option("-q", "--quiet", is_flag=True, help="Hide warnings; show fatal findings only.")
@_profile_option
@_tolerate_option
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], as_json: bool, schematron: bool,
             quiet: bool, profile: str, tolerate_unz_reference: bool) -> None:
    """Check documents against the EN 16931 business rules, or the rule sets of --profile.

    Folders are searched recursively for *.xml, *.pdf, *.edi, *.edifact,
    *.csv files and *.txt files holding EDIFACT. For each invoice: PASS or
    FAIL, then each finding with its rule, business terms, message and place
    in the file; a summary line ends the report. A file holding several
    invoices reports each as FILE#N (invoice NUMBER). EDIFACT syntax and
    envelope problems are findings too (rule EDIFACT-<code>, the UN/ECE
    syntax error code); a message they reject is a FAIL, and an interchange
    they reject fails every invoice in it. --tolerate-unz-reference accepts
    an interchange whose UNZ reference is not its UNB's (a warning
    EDIFACT-28 then, which ISO 9735 would reject).

    \b
    --profile peppol adds the Peppol BIS Billing 3.0 rules (see
    gateway/rules/profiles.yaml for the profiles); every finding of a
    business rule names its rule set, and the report its profile.
    A CDAR life-cycle message (French e-invoicing statuses) is judged by
    FNFE-MPE's CDAR rules (rule set fr-cdar), a Peppol Invoice Response
    (BIS 3 T111) by OpenPeppol's (rule set peppol-t111), whatever the
    profile.

    \b
    Exit codes: 0 all valid (no fatal finding), 1 some document has fatal
    findings, 2 some input could not be read at all (or an unknown
    --profile), 3 schematron not found or a profile whose rule sets are not
    installed. The highest that applies wins.
    """
    con = _Console()
    _usable_profile(profile)
    files = _expand(paths)
    label = f"validating {len(files)} files"
    reports: list[_Report] = []
    for path in con.iterate(files, label, show=len(files) > 1):
        found = _validate_file(ctx, path, schematron, profile, tolerate_unz_reference)
        for r in found:
            reports.append(r)
            if not as_json:
                _print_report(con, r, quiet)
        _unz_reference_hint(con, str(path), found[0].findings if found else ())

    valid = sum(r.valid for r in reports)
    unreadable = sum(r.error is not None for r in reports)
    head = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    if len(reports) != len(files):
        head += f" ({len(reports)} invoice{'s' if len(reports) != 1 else ''})"
    summary = f"{head}: {valid} valid, {len(reports) - valid - unreadable} invalid, {unreadable} unreadable"
    if profile != DEFAULT_PROFILE:          # the default's report reads as it always has
        summary += f" (profile {profile})"
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


# --- ack ----------------------------------------------------------------------------------

def _control_ref(index: int) -> str:
    """A CONTRL interchange reference (0020, an..14): the time to the second and a counter."""
    return datetime.now().strftime("%y%m%d%H%M%S") + f"{index % 100:02d}"


def _ack_summary(ic, index: int, several: bool) -> tuple[bool, str]:
    """(accepted, one line) for a received interchange."""
    who = f"interchange {ic.control_ref or '?'} from {ic.sender}" + (f" (#{index})" if several else "")
    rejected = {}
    if ic.contents:
        receipts = [m.receipt() for m in ic.messages]
    else:
        receipts = list(ic.rejected)
    for r in receipts:
        if not r.accepted:
            rejected[r.ref] = sorted({i.code for i in r.issues if i.fatal})
    ic_codes = sorted({i.code for i in ic.issues if i.fatal})
    group_codes = sorted({i.code for g in ic.groups for i in g.issues if i.fatal})
    count = ic.message_count or len(receipts)
    accepted = not ic_codes and not group_codes and not rejected
    if accepted:
        tolerated = sorted({i.code for i in ic.issues if i.tolerated})
        return True, f"accepted: {who}, {count} message{'s' if count != 1 else ''}" + (
            f" (tolerated, reported in the CONTRL: code {', '.join(tolerated)})" if tolerated else "")
    parts = []
    if ic_codes:
        parts.append("interchange rejected (code " + ", ".join(ic_codes) + ")")
    if group_codes:
        parts.append("group(s) rejected (code " + ", ".join(group_codes) + ")")
    if rejected:
        parts.append(f"{len(rejected)} of {count} message{'s' if count != 1 else ''} rejected: " +
                     ", ".join(f"{ref} ({', '.join(codes) or '?'})" for ref, codes in rejected.items()))
    return False, f"rejected: {who}: " + "; ".join(parts)


@click.command(context_settings=CONTEXT_SETTINGS, short_help="Acknowledge an EDIFACT interchange with CONTRL.")
@click.argument("source", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the CONTRL here (default: stdout).")
@click.option("--our-id", metavar="ID",
              help="Our interchange identification, the CONTRL's sender, as ID or ID:QUALIFIER "
                   "(default: the received interchange's recipient).")
@click.option("--control-ref", metavar="REF",
              help="The CONTRL interchange's control reference (default: from the date and time).")
@_tolerate_option
@click.pass_context
def ack(ctx: click.Context, source: Path, output: Optional[Path], our_id: Optional[str],
        control_ref: Optional[str], tolerate_unz_reference: bool) -> None:
    """Check the syntax of the EDIFACT interchange in FILE and write its CONTRL.

    The CONTRL (syntax and service report message) answers in the received
    interchange's syntax version, addressed back to its sender; it says
    whether the interchange is accepted (action 7) or rejected (4), and for
    each rejected message (UCM) and segment (UCS/UCD) the UN/ECE syntax
    error code. The file is read as a stream, so a large interchange costs
    little memory; an accepted interchange is then acknowledged by its UCI
    alone. A file holding several interchanges gets one CONTRL each. A
    one-line summary per interchange goes to stderr. With
    --tolerate-unz-reference an interchange whose UNZ reference is not its
    UNB's is acknowledged (7), its UCI naming the error all the same
    (code 28, UNZ element 2).

    \b
    Exit codes: 0 accepted, 1 rejected in part or whole (the CONTRL is
    written all the same), 2 FILE is not EDIFACT (or no CONTRL can answer
    it: its UNB cannot be read).

    \b
    Examples:
      edigate ack inbox/interchange.edi -o outbox/contrl.edi --our-id 4000001000012:14
    """
    con = _Console()
    try:
        with open(source, "rb") as f:
            kind = sniff(f.read(1024))
        if kind != "edifact":
            raise InputError(f"not an EDIFACT interchange (the file holds {kind.upper()})")
        with open(source, "rb") as f:
            reader = iter_messages(f, tolerate_unz_reference=tolerate_unz_reference)
            for _ in reader:
                pass
        interchanges = reader.interchanges
        if not interchanges:
            raise InputError("no interchange in the file")
        me = None
        if our_id:
            me = Party.from_components(our_id.split(":"))
        out, lines, accepted = [], [], True
        for i, ic in enumerate(interchanges, 1):
            ref = control_ref if control_ref and len(interchanges) == 1 else \
                (f"{control_ref}{i}" if control_ref else _control_ref(i))
            out.append(build_contrl(ic, control_ref=ref, our_id=me))
            ok, line = _ack_summary(ic, i, len(interchanges) > 1)
            accepted &= ok
            lines.append(line)
        if reader.issues:       # data after the last interchange: nothing can acknowledge it
            accepted = False
            lines.append("rejected: data after the last interchange: " + "; ".join(i.text for i in reader.issues))
    except Exception as exc:  # noqa: BLE001
        _reraise_if_debug(ctx, exc)
        con.err(f"error: {source}: {_input_error(exc)}")
        ctx.exit(EXIT_UNREADABLE)
        return
    data = b"".join(out)
    try:
        if output is None:
            stdout = sys.stdout.buffer
            stdout.write(data)
            stdout.flush()
        else:
            _write(output, data)
    except OSError as exc:
        con.err(f"error: cannot write {output}: {exc.strerror or exc}")
        ctx.exit(EXIT_UNREADABLE)
        return
    for line in lines:
        con.err(f"{source}: {line}")
    _unz_reference_hint(con, str(source), [i.finding() for ic in interchanges for i in ic.issues])
    ctx.exit(EXIT_OK if accepted else EXIT_INVALID)


# --- formats ------------------------------------------------------------------------------

FLAVOURS_HEADING = "Syntaxes, read (detected) and written (translate --to):"


def flavours_help() -> str:
    """The root group's list of flavours, from the mapping files (a ``\\b`` paragraph for click);
    its heading and notes in the run's language (help texts: ``tools/translations.py`` lists them),
    the flavours' summaries as their mapping files word them in that language (``summary_fr``)."""
    from gateway.cli.helptext import tr
    from gateway.cli.words import language
    lang = language()
    found = flavours()
    width = max((len(f.name) for f in found), default=0) + 2
    lines = ["\b", tr(FLAVOURS_HEADING)]
    for i, f in enumerate(found):
        lines.append(f"  {f.name:<{width}}{f.summary_in(lang)}")
        several = SYNTAXES[f.syntax].several
        if several and (i + 1 == len(found) or found[i + 1].syntax != f.syntax):
            lines.append(f"  {'':<{width}}({tr(several)})")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.pass_context
def formats(ctx: click.Context) -> None:
    """List the mappings and what each reads and writes.

    The mappings are the shipped ones and those of the folders EDIGATE_MAPPINGS names (a
    later folder adds mappings, or replaces one by its name); a mapping file with a syntax
    is a flavour that translate --to, a partner's preferred format and a network's
    formats can name. Exit code 1 when a mapping file cannot be used (it says why).
    """
    reg = registry.registry()
    serves: dict[str, list[str]] = {}        # mapping name -> the flavours it serves
    for f in reg.flavours.values():
        for name in f.mappings:
            serves.setdefault(name, []).append(f.name)
    folders = [str(f) for f in reg.folders]
    click.echo(f"Mappings in {folders[0]}" + (f", then {', '.join(folders[1:])} (each adds mappings, or replaces "
                                             "one of the same name)" if len(folders) > 1 else "") + ":")
    specs: dict[str, object] = {}
    for file in reg.files:
        try:
            if file.error is not None:
                raise file.error
            specs[file.name] = mapping.load(file.name)
        except EdigateError as exc:
            specs[file.name] = exc
    width = max((len(n) for n in specs), default=0)
    syntax_width = max([4] + [len(s.syntax) for s in specs.values() if not isinstance(s, EdigateError)])
    roles: dict[str, str] = {}
    for file in reg.files:
        if file.name in serves:
            roles[file.name] = f"reads, writes ({', '.join(serves[file.name])})"
        elif file.syntax:
            roles[file.name] = f"not usable: flavour {file.flavour}"
        else:
            roles[file.name] = "base of other mappings"
    role_width = max((len(r) for n, r in roles.items() if not isinstance(specs[n], EdigateError)), default=0)
    failed = False
    for file in reg.files:
        spec = specs[file.name]
        if isinstance(spec, EdigateError):
            click.echo(f"  {file.name:<{width}}  error: {spec}")
            failed = True
            continue
        line = f"  {file.name:<{width}}  {spec.syntax:<{syntax_width}}  {roles[file.name]:<{role_width}}  {spec.description}"
        if spec.select:
            line += "; written for " + "; ".join(f"{t} in {', '.join(v)}" for t, v in spec.select.items())
        if file.path.parent != reg.folders[0]:
            line += f"; from {file.path.parent}" + (" (replaces the one before it)" if file.replaces else "")
        click.echo(line)
    for name, error in reg.broken.items():
        if name not in specs:                # a flavour, not a file: its files disagree
            click.echo(f"  {name:<{width}}  error: {error}")
            failed = True
    edifact = ", ".join(f.name for f in registry.of_syntax("edifact"))
    csv = ", ".join(f.name for f in registry.of_syntax("csv"))
    click.echo(f"translate --to: {', '.join(reg.flavours)}. Input syntax is detected: "
               f"{SYNTAXES['ubl'].reads}, {SYNTAXES['cii'].reads}, {SYNTAXES['facturx'].reads}, "
               f"{SYNTAXES['edifact'].reads} ({edifact}; several invoices each), {SYNTAXES['csv'].reads} "
               f"({csv}; several invoices each). ack: CONTRL for EDIFACT interchanges.")
    ctx.exit(EXIT_INVALID if failed else EXIT_OK)
