"""``edigate``: the command line, one module per noun under a lazy root group.

``main`` lists its commands from ``COMMANDS`` (and from the extensions' ``commands``, see
``gateway.extensions``) without importing them; a command's module is imported when the
command runs. The settings and the gateway live on the click context (``gateway.cli.context``),
built on first use and closed when the run ends.

Exit codes shared by the commands: 0 done, 1 problems found, 2 bad input or refused (nothing
written), 3 setup problem; each command's ``--help`` says what they mean for it.
"""
from __future__ import annotations

import inspect

import click

from gateway import extensions
from gateway.cli.context import CONTEXT_SETTINGS, CliContext
from gateway.cli.helptext import Localised
from gateway.cli.lazy import LazyGroup
from gateway.extensions import CommandRef

__all__ = ["main", "COMMANDS"]

COMMANDS: dict[str, CommandRef] = {
    # documents (no database): gateway.cli.documents
    "translate": CommandRef("gateway.cli.documents:translate",
                            "Translate a file or a folder to UBL, CII, Factur-X, EDIFACT or CSV.", whole=True),
    "validate": CommandRef("gateway.cli.documents:validate", "Check documents against the EN 16931 rules.",
                           whole=True),
    "ack": CommandRef("gateway.cli.documents:ack", "Acknowledge an EDIFACT interchange with CONTRL.", whole=True),
    "formats": CommandRef("gateway.cli.documents:formats", "List the mappings and what each reads and writes."),
    # running the gateway and sending through it
    "serve": CommandRef("gateway.cli.serve:serve_command",
                        "Run the gateway: AS2 endpoint, REST API and operator pages on "
                        "EDIGATE_HOST:EDIGATE_HTTP_PORT (127.0.0.1:8080), SFTP and the jobs."),
    "worker": CommandRef("gateway.cli.serve:worker_command",
                         "Run background jobs only (scale-out: any number, same database and job queue)."),
    "send": CommandRef("gateway.cli.send:send_command",
                       "Send FILE to a partner over AS2 as a durable job; prints the exchange and its outcome."),
    "exchange": CommandRef("gateway.cli.exchange:exchange_group",
                           "Exchanges: what came in and went out, their history, and retries."),
    # the records: who we exchange with, how, and the keys
    "partner": CommandRef("gateway.cli.partner:partner_group",
                          "Trading partners: identifiers, format and channel, AS2 settings, certificates."),
    "cert": CommandRef("gateway.cli.cert:cert_group",
                       "Certificates of partners and of our organisations: import, list, retire, expiry watch."),
    "org": CommandRef("gateway.cli.org:org_group",
                      "Our own organisations: the gateway sends and receives in their name (AS2 identities, keys)."),
    "network": CommandRef("gateway.cli.network:network_group",
                          "Interconnected networks: their access point, formats and participant directory."),
    "annuaire": CommandRef("gateway.cli.annuaire:annuaire_group",
                           "The PPF directory (annuaire): its local mirror, lookups, our members' lines."),
    "sftp": CommandRef("gateway.cli.sftp:sftp_group",
                       "SFTP: partners' accounts on our server, our login on theirs, polling."),
    "paper": CommandRef("gateway.cli.paper:paper_group",
                        "Print batches: invoices that go by post, each behind a cover sheet with its address."),
    "controls": CommandRef("gateway.cli.controls:controls_group",
                           "Anomaly and fraud controls: held invoices and their evidence, confirmations, settings."),
    "approval": CommandRef("gateway.cli.approval:approval_group",
                           "Approval of received invoices: each organisation's rules, what waits, who decided."),
    "user": CommandRef("gateway.cli.user:user_group", "Users of the operator pages (and owners of API tokens)."),
    "token": CommandRef("gateway.cli.token:token_group",
                        "Bearer tokens for the REST API (each acts with its user's role)."),
    "archive": CommandRef("gateway.cli.archive:archive_group",
                          "The archive: payloads in a sealed hash chain, retention, verify, export."),
}


def commands() -> dict[str, CommandRef]:
    """The gateway's commands and every extension's (an extension cannot replace one of ours)."""
    found: dict[str, CommandRef] = {}
    for ext in extensions.load():
        found.update(ext.commands)
    return {**found, **COMMANDS}


LANGUAGE_OPTIONS = ("--language", "--lang")


def asked_language(args: list[str]) -> str | None:
    """The ``--language`` given before the command's name (``--language fr``, ``--lang=fr``), if any:
    read before click parses, so that ``--help`` and click's usage errors are in that language too."""
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in LANGUAGE_OPTIONS:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            return value.lower() if value.lower() in ("fr", "en") else None
        if not arg.startswith("-") or arg == "--":
            return None                 # the command's name: what follows is its own
    return None


class _Root(Localised, LazyGroup):
    """The root group: its help lists the flavours the mapping files declare; the run's language
    is known before anything is parsed (``asked_language``), and click's own words follow it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from gateway.cli.click_words import install
        from gateway.cli.words import ask
        install()
        ask(asked_language(args))
        return super().parse_args(ctx, args)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from gateway.cli.documents import flavours_help     # reads the mapping files: for --help only
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(inspect.cleandoc(self.help or "").replace("{flavours}", flavours_help()))


@click.group(cls=_Root, refs=commands, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="edigate", prog_name="edigate")
@click.option("--debug", is_flag=True, hidden=True, help="Show tracebacks of internal errors.")
@click.option("--language", "--lang", "language", type=click.Choice(["fr", "en"], case_sensitive=False),
              default=None, help="The messages' language (default: EDIGATE_LANG, EDIGATE_LANGUAGE, else "
                                 "the locale's, else English).")
@click.pass_context
def main(ctx: click.Context, debug: bool, language: str | None) -> None:
    """edigate: e-invoices through the EN 16931 model.

    {flavours}

    Translate between them, validate against the EN 16931 business rules,
    acknowledge EDIFACT interchanges with CONTRL, list the mappings.
    Exit codes: 0 ok, 1 invalid document or output (ack: rejected), 2
    unreadable input, 3 setup problem (see each command's --help).
    """
    from gateway.cli.words import ask
    ask(language)
    ctx.obj = CliContext(debug=debug)
    ctx.call_on_close(ctx.obj.close)
