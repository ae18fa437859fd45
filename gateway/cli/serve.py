"""``edigate serve`` and ``edigate worker``: running the gateway (web, AS2, SFTP, jobs) or its workers."""
from __future__ import annotations

import os

import click

from gateway.cli.context import current
from gateway.cli.errors import SetupError
from gateway.cli.words import language
from gateway.config import Settings
from gateway.server import configure_logging, serve, work


def _settings() -> Settings:
    """The settings, a setting that cannot be used being a usage error (exit 2) as it always was here."""
    try:
        return current().settings
    except SetupError as e:
        raise click.UsageError(e.message) from None


@click.command("serve")
@click.option("--workers", default=2, show_default=True, help="Job worker threads (per worker process).")
@click.option("--processes", type=click.IntRange(min=0, max=64), default=None,
              help="Job worker processes beside the server (default: one per core when there is more than "
                   "one; 0: jobs run in the server's process).")
@click.option("--threads", type=int, default=None, help="HTTP threads (default: EDIGATE_HTTP_THREADS, 8).")
@click.option("--no-demo", is_flag=True, help="Do not load the demo setup into an empty database.")
def serve_command(workers: int, processes: int | None, threads: int | None, no_demo: bool) -> None:
    """Run the gateway: AS2 endpoint, REST API and operator pages on EDIGATE_HOST:EDIGATE_HTTP_PORT
    (127.0.0.1:8080), SFTP and the jobs.

    The jobs run in worker processes of its own on a machine with more than one core (they end
    with it), else in-process. Settings come from EDIGATE_* variables (see README)."""
    configure_logging()
    os.environ["EDIGATE_LANG"] = language()     # what the services say in the banner follows --language too
    serve(_settings(), workers=workers, threads=threads, demo=not no_demo, processes=processes,
          language=language())


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
def worker_command(workers: int) -> None:
    """Run background jobs only (scale-out: any number, same database and job queue)."""
    configure_logging()
    work(_settings(), workers=workers)
