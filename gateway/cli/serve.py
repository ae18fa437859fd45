"""``edigate serve`` and ``edigate worker``: running the gateway (web, AS2, SFTP, jobs) or its workers."""
from __future__ import annotations

import click

from gateway.cli.context import current
from gateway.cli.errors import SetupError
from gateway.config import Settings
from gateway.server import configure_logging, serve, work


def _settings() -> Settings:
    """The settings, a setting that cannot be used being a usage error (exit 2) as it always was here."""
    try:
        return current().settings
    except SetupError as e:
        raise click.UsageError(e.message) from None


@click.command("serve")
@click.option("--workers", default=2, show_default=True, help="Job worker threads in this process.")
@click.option("--threads", type=int, default=None, help="HTTP threads (default: EDIGATE_HTTP_THREADS, 8).")
@click.option("--no-demo", is_flag=True, help="Do not load the demo setup into an empty database.")
def serve_command(workers: int, threads: int | None, no_demo: bool) -> None:
    """Run the gateway: AS2 endpoint, REST API and operator pages on EDIGATE_HOST:EDIGATE_HTTP_PORT
    (127.0.0.1:8080), jobs in-process. Settings come from EDIGATE_* variables (see README)."""
    configure_logging()
    serve(_settings(), workers=workers, threads=threads, demo=not no_demo)


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Worker threads.")
def worker_command(workers: int) -> None:
    """Run background jobs only (scale-out: any number, same database and job queue)."""
    configure_logging()
    work(_settings(), workers=workers)
