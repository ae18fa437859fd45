"""``edigate-connector``: the command an ERP host runs to pull its received invoices from edigate.

    edigate-connector pull --url https://edigate.example --token-file /etc/erp/edigate.token \\
        --to /srv/erp/inbox --format csv --every 60s

Each invoice is written to the folder atomically (``connectors.pull``) and
acknowledged to the gateway only after that; anything interrupted is fetched
again next time and lands under the same name with the same bytes.

The token comes from ``--token-file`` (first line), else from the
``EDIGATE_CONNECTOR_TOKEN`` environment variable, never from the command line
(which other users of the host can read in the process list).

Exit codes:

    0    every available invoice written and acknowledged (--once), or stopped
    1    some invoices could not be fetched or acknowledged: they stay on the gateway
         for the next pull (the others were written and acknowledged)
    2    usage: bad options, no token, a format the gateway does not offer
    3    the gateway refused the token (401) or its role (403)
    4    the gateway is unreachable or failing (--once; --every retries with backoff)
    5    the folder cannot be written, or another connector is pulling into it
    6    the gateway answered something unexpected (not an edigate ERP pull API?)
    130  interrupted (Ctrl-C)
"""
from __future__ import annotations

import logging
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Optional

import click

from .pull import FORMAT_NAME, AuthRefused, Client, GatewayUnavailable, PullError, PullResult, pull, save_state

log = logging.getLogger("edigate.connector")

TOKEN_ENV = "EDIGATE_CONNECTOR_TOKEN"
STATE_NAME = ".edigate-connector-state.json"
EXIT_OK, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 130
MAX_BACKOFF = 300.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def parse_duration(text: str) -> float:
    """``60``, ``60s``, ``5m``, ``1h``, ``500ms`` → seconds."""
    m = _DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration (e.g. 60s, 5m, 1h)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def read_token(token_file: Optional[Path]) -> str:
    if token_file is not None:
        try:
            mode = token_file.stat().st_mode
            token = token_file.read_text(encoding="utf-8").strip().splitlines()
        except OSError as e:
            raise click.UsageError(f"cannot read the token file {token_file}: {e.strerror or e}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s can be read by other users of this host: chmod 600 it", token_file)
        if not token or not token[0].strip():
            raise click.UsageError(f"the token file {token_file} is empty")
        return token[0].strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise click.UsageError(f"no token: give --token-file, or set {TOKEN_ENV}")
    return token


def _format_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A format's name has the shape of one; whether the gateway offers it, the gateway says."""
    value = value.strip().lower()
    if not FORMAT_NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a format name (see `edigate formats`, or json)")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def main() -> None:
    """edigate's ERP connector: fetches received invoices for an ERP to import."""


@main.command("pull", epilog="Exit codes: 0 done, 1 some invoices left for the next pull, 2 usage, "
                             "3 token refused, 4 gateway unreachable, 5 folder not writable, "
                             "6 unexpected answer, 130 interrupted.")
@click.option("--url", required=True, metavar="URL", help="The gateway, e.g. https://edigate.example")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"File holding the API token (else ${TOKEN_ENV}).")
@click.option("--to", "directory", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder the ERP imports from (must exist).")
@click.option("--format", "fmt", required=True, callback=_format_name, metavar="FORMAT",
              help="A format as `edigate formats` lists it (ubl, cii, facturx, edifact-d96a, ...); "
                   "csv: the recipient's CSV dialect (else csv-lines); json: the EN 16931 model.")
@click.option("--once", is_flag=True, help="Pull what is available now, then exit (the default).")
@click.option("--every", metavar="DURATION", help="Pull again after DURATION (60s, 5m, 1h), until stopped.")
@click.option("--partner", type=int, help="For an operator's token: the partner to pull for.")
@click.option("--page-size", type=click.IntRange(1, 100), help="Invoices per page (the gateway's default: 20).")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Where to note what the last pull did (default: FOLDER/{STATE_NAME}).")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def pull_command(url: str, token_file: Optional[Path], directory: Path, fmt: str, once: bool,
                 every: Optional[str], partner: Optional[int], page_size: Optional[int],
                 state_file: Optional[Path], timeout: float, quiet: bool) -> None:
    """Write each available invoice to FOLDER, then acknowledge it."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    if once and every:
        raise click.UsageError("--once and --every exclude each other")
    interval = None
    if every:
        try:
            interval = parse_duration(every)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--every") from None
    token = read_token(token_file)
    try:
        client = Client(url, token, partner=partner, timeout=timeout)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--url") from None
    state = state_file or directory / STATE_NAME
    try:
        code = _run(client, directory, fmt, page_size, state, interval)
    except KeyboardInterrupt:
        log.warning("interrupted: whatever was not acknowledged comes again next pull")
        code = EXIT_INTERRUPTED
    sys.exit(code)


def _once(client: Client, directory: Path, fmt: str, page_size: Optional[int], state: Path) -> PullResult:
    try:
        result = pull(client, directory, fmt, page_size=page_size)
    except PullError as e:
        _note(state, None, str(e))
        raise
    _note(state, result, None)
    log.info("%s", result.summary())
    return result


def _note(state: Path, result: Optional[PullResult], error: Optional[str]) -> None:
    try:
        save_state(state, result, error)
    except OSError as e:                # the state is for people: never a reason to stop
        log.warning("cannot write the state file %s: %s", state, e.strerror or e)


def _run(client: Client, directory: Path, fmt: str, page_size: Optional[int], state: Path,
         interval: Optional[float]) -> int:
    if interval is None:
        try:
            result = _once(client, directory, fmt, page_size, state)
        except PullError as e:
            log.error("%s", e)
            return e.exit_code
        return EXIT_OK if result.ok else EXIT_PARTIAL
    backoff = 1.0
    while True:
        try:
            _once(client, directory, fmt, page_size, state)
            backoff = 1.0
            time.sleep(interval)
        except GatewayUnavailable as e:
            log.warning("%s; trying again in %gs", e, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, max(interval, 1.0), MAX_BACKOFF)
        except AuthRefused as e:
            log.error("%s: stopping (a new token is needed)", e)
            return e.exit_code
        except PullError as e:
            log.error("%s: stopping", e)
            return e.exit_code


if __name__ == "__main__":
    main()
