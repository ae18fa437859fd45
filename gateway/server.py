"""``edigate serve``: the gateway on its embedded defaults, ready on a fresh machine.

Prepares what a first start needs — the schema (Alembic), our development AS2
key pair under ``certs/`` (generated, never committed), a demo setup (one
organisation, two partners) when the database is empty, a first operator
account — then runs the job consumers (worker processes of its own on a
machine with more than one core, ``gateway.processes.supervise``; else in-process
threads), the channels' services (SFTP) and the web app (AS2 endpoint, REST
API, operator pages) under waitress on 127.0.0.1, and says what runs where.

Why waitress, configured as in ``web_server()``: it reads every connection
in one event loop (poll(), so past select()'s 1024 descriptors) and hands a
worker thread only a complete request, buffered; so idle and slow clients
cost a socket each, never a thread, and 500 idle connections plus 50 clients
trickling headers leave the health check, the API and AS2 answering at once.
Thread-per-connection servers (cheroot, gunicorn's gthread worker) give a
slow client a thread until their timeout: measured with cheroot and 10
threads, 50 trickling clients (or 500 idle ones) time every request out.
What waitress lacks is a deadline for a request's headers: its
``channel_timeout`` counts silence, and a client sending one byte a second is
never silent; ``_header_deadline_channel`` adds that deadline.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time
from datetime import timedelta
from typing import Any, Optional

import sqlalchemy as sa

from . import i18n
from .i18n import N_
from .config import Settings, load_settings
from .delivery.channel import registry
from .runtime import Gateway

log = logging.getLogger("edigate.server")

DEMO_IDENTITY = "EDIGATE-DEMO"
DEMO_PARTNERS = (
    # name, AS2 id, identifiers, preferred format
    ("Demo Supplier SARL", "DEMO-SUPPLIER", (("0009", "73282932000074"), ("0088", "3012345000010")), "ubl"),
    ("Demo Buyer GmbH", "DEMO-BUYER", (("0088", "4000001000005"), ("9930", "DE123456789")), "cii"),
)
# how each demo partner receives: the buyer reads its invoices on the recipient portal (nothing to run
# on its side) and is told by mail (a local test mail server shows it: README, quick start)
DEMO_RECEIVING = {"DEMO-SUPPLIER": ("as2", None), "DEMO-BUYER": ("portal", "accounts@demo-buyer.example")}
SAMPLE_INVOICE = "samples/demo-invoice.xml"     # from DEMO-SUPPLIER to DEMO-BUYER (its GLN, BT-49)


def ensure_demo(gw: Gateway) -> bool:
    """One organisation with an AS2 identity and two partners (their development certificates
    too, so anyone can play them with an AS2 client) — only into an empty database."""
    from .certs import ensure_dev_keypair
    from .db import AS2Identity, Certificate, Organisation, Partner

    with gw.session() as s:
        if s.scalar(sa.select(sa.func.count()).select_from(Organisation)) or \
                s.scalar(sa.select(sa.func.count()).select_from(Partner)):
            return False
        dev = gw.settings.certs_dir / "dev"
        ours = ensure_dev_keypair(dev, "edigate-demo", common_name=DEMO_IDENTITY)
        org = Organisation(name="edigate demo")
        org.as2_identities.append(AS2Identity(as2_name=DEMO_IDENTITY, signing_key_ref=str(ours.key_path),
                                              encryption_key_ref=str(ours.key_path)))
        s.add(org)
        s.flush()
        s.add(Certificate.from_pem(ours.cert_pem, organisation=org, key_ref=str(ours.key_path)))
        for name, as2_id, idents, fmt in DEMO_PARTNERS:
            kp = ensure_dev_keypair(dev, as2_id.lower(), common_name=as2_id)
            channel, contact = DEMO_RECEIVING[as2_id]
            p = Partner(name=name, as2_id=as2_id, preferred_format=fmt, preferred_channel=channel,
                        contact_email=contact)
            for scheme, value in idents:
                p.add_identifier(scheme, value)
            s.add(p)
            s.flush()
            s.add(Certificate.from_pem(kp.cert_pem, partner=p))
    return True


def ensure_admin(gw: Gateway) -> Optional[str]:
    """A first admin account when there is no user at all; its password is returned once and
    kept in ``<home>/admin-password`` (0600) for the developer who just started the gateway."""
    from .db.access import User

    with gw.session() as s:
        if s.scalar(sa.select(sa.func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(12)
        s.add(User.create("admin", password, "admin"))
    path = gw.settings.home / "admin-password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def _pages(app: Any) -> list[tuple[str, str]]:
    """The people's doors the app has beside the operator pages (an extension's included)."""
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    doors = ((N_("portal"), "/portal/"), (N_("onboarding"), "/onboarding/"))
    return [(label, path) for label, path in doors if path in rules or path.rstrip("/") in rules]


def _mail_server(settings: Settings) -> str:
    """The SMTP server's host and port, never its credentials."""
    from urllib.parse import urlsplit
    url = urlsplit(settings.smtp_url)
    return f"{url.scheme}://{url.hostname}:{url.port or (465 if url.scheme == 'smtps' else 25)}"


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging() -> None:
    """INFO and up to stderr, each line with the process id (several processes share a queue),
    unless logging is configured already. Quieter: huey's per-task start/finish lines (our tasks
    say what they did) and Alembic's plugin list at every start (its upgrades are still said)."""
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    for name in ("huey", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)


# Descriptors kept for everything but HTTP connections: the database, the payload store, the SFTP
# server and its clients, logs, temporary files of spooled bodies.
FD_RESERVE = 256


def raise_open_files_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE raised to the hard limit (``(soft, hard)`` after; ``(-1, -1)`` where
    there is no such limit): every HTTP connection is a descriptor, and the common soft default
    of 1024 holds too few of them."""
    try:
        import resource
    except ImportError:                 # Windows: no RLIMIT_NOFILE
        return -1, -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still cannot exceed the kernel's nr_open (2**20 by default).
    for target in ((hard,) if hard != resource.RLIM_INFINITY else (2 ** 20, 65536)):
        if soft != resource.RLIM_INFINITY and soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                break
            except (ValueError, OSError):
                continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _header_deadline_channel(seconds: int) -> Optional[type]:
    """waitress's connection class with a deadline for a request's line and headers, counted from
    the request's first byte: a client still not done after ``seconds`` is disconnected, however
    steadily it trickles. None when ``seconds`` is 0 or waitress's parser no longer looks the way
    this relies on (a waitress upgrade: the load test says so)."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser

    if not seconds or not hasattr(HTTPRequestParser, "headers_finished") or \
            not hasattr(HTTPChannel, "request"):
        return None

    class HeaderDeadlineChannel(HTTPChannel):
        header_timeout = seconds
        cut = 0                           # connections cut, and when that was last logged
        reported = 0.0
        _timed_request: Any = None
        _timed_since = 0.0

        def readable(self) -> bool:
            # The event loop asks every connection this at least once a second, data or not: the
            # place to notice a deadline passing. A request being read is in self.request until
            # complete; self.requests holds those handed to worker threads.
            request = self.request
            if request is not None and not request.headers_finished and not self.requests:
                now = time.monotonic()
                if request is not self._timed_request:
                    self._timed_request, self._timed_since = request, now
                elif now - self._timed_since > self.header_timeout:
                    self.will_close = True        # writable() now; handle_write() closes
                    self._count_cut(now)
                    return False
            return super().readable()

        @classmethod
        def _count_cut(cls, now: float) -> None:
            cls.cut += 1
            if now - cls.reported >= 60:          # at most a line a minute, even under attack
                cls.reported = now
                log.warning("HTTP: %d connection(s) closed so far for not sending a request's headers "
                            "within %d s (slow or stalled clients)", cls.cut, cls.header_timeout)

    return HeaderDeadlineChannel


def web_server(app: Any, settings: Settings, *, threads: Optional[int] = None) -> tuple[Any, str]:
    """The waitress server for ``app`` on ``settings.host:http_port``, bound and listening but not
    yet serving (``.run()``), and a line saying its limits. Connections past the limit wait in the
    kernel's backlog; the limit is lowered to fit the open-files limit when that is too low."""
    import waitress.server

    threads = threads or settings.http_threads
    soft, _hard = raise_open_files_limit()
    limit = settings.http_connection_limit
    if soft > 0 and limit > soft - FD_RESERVE:
        limit = max(16, soft - FD_RESERVE)
        log.warning("EDIGATE_HTTP_CONNECTION_LIMIT=%d does not fit in %d open files: %d connections "
                    "(raise the hard limit: ulimit -Hn, LimitNOFILE= in systemd)",
                    settings.http_connection_limit, soft, limit)
    sockets: dict = {}
    server = waitress.server.create_server(
        app, map=sockets, host=settings.host, port=settings.http_port, ident="edigate",
        threads=threads,
        connection_limit=limit,
        channel_timeout=settings.http_idle_timeout,
        cleanup_interval=max(1, min(30, settings.http_idle_timeout // 4)),   # idle ones cut ≤ 25% late
        asyncore_use_poll=True,            # select() fails past descriptor 1024
        max_request_header_size=settings.http_max_header_size,
        max_request_body_size=settings.max_inbound_size,
    )
    channel = _header_deadline_channel(settings.http_header_timeout)
    if channel is not None:
        for listener in sockets.values():
            if isinstance(listener, waitress.server.BaseWSGIServer):
                listener.channel_class = channel
    elif settings.http_header_timeout:
        log.warning("HTTP: this waitress version cannot be given a header deadline; "
                    "slow clients are cut only after %d s of silence", settings.http_idle_timeout)
    headers = f"request headers within {settings.http_header_timeout} s and " if channel is not None \
        else "request headers (no time limit) within "
    limits = (f"waitress, {threads} threads, up to {limit} connections (open files {soft}), "
              f"idle timeout {settings.http_idle_timeout} s, {headers}{settings.http_max_header_size} bytes, "
              f"bodies up to {settings.max_inbound_size} bytes")
    return server, limits


def serve(settings: Optional[Settings] = None, *, workers: int = 2, threads: Optional[int] = None,
          demo: bool = True, processes: Optional[int] = None, language: Optional[str] = None) -> None:
    """``processes``: job worker processes beside this one (``gateway.processes.supervise``; default one per
    core when there is more than one), each with ``workers`` threads; 0: the consumer runs here,
    on ``workers`` threads."""
    from .processes.supervise import Workers, default_processes
    from .web import create_app

    settings = settings or load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    gw = Gateway(settings)
    made_demo = ensure_demo(gw) if demo else False
    password = ensure_admin(gw)
    app = create_app(gw)
    http, http_limits = web_server(app, settings, threads=threads)     # bound now: a busy port fails here
    services = [service for channel in registry for service in channel.services(gw)]
    processes = default_processes() if processes is None else processes
    pool = Workers(processes, workers) if processes > 0 else None
    if pool is not None:
        pool.start()                      # before the services: nothing of theirs is inherited
    for service in services:
        service.start()
    consumer = gw.jobs.consumer(workers=workers) if pool is None else None
    if consumer is not None:
        consumer.start()
    gw.jobs.sweep(grace=timedelta(0))     # what a stopped process left pending

    base = f"http://{settings.host}:{settings.http_port}"
    lang = i18n.cli_language(language)    # the command line's language (--language, EDIGATE_LANG…, the locale)

    def say(msgid: str, **values: Any) -> str:
        return i18n.gettext(lang, msgid, **values)

    rows = [
        (say(N_("operator pages")), f"{base}/  " + say(N_("(health check: %(url)s)"), url=f"{base}/health")),
        (say(N_("REST API")), f"{base}/api/v1/  " + say(N_("(OpenAPI: %(url)s)"), url=f"{base}/api/v1/openapi.json")),
    ]
    rows += [(say(label), f"{base}{path}") for label, path in _pages(app)]
    endpoints = {say(N_("%(channel)s endpoint"), channel=channel.label) for channel in registry}
    for channel in registry:
        for path in channel.public_paths:
            rows.append((say(N_("%(channel)s endpoint"), channel=channel.label),
                         f"{base}{path}  " + say(N_("(public URL %(url)s)"), url=settings.public_url)))
    rows += [(say(label), text) for label, text in (service.describe() for service in services)]
    rows += [
        (say(N_("database")), settings.database_url),
        (say(N_("payloads")), str(settings.payload_dir)),
        (say(N_("jobs")), f"{settings.jobs_url}  ("
         + (say(N_("%(processes)s worker processes of %(threads)s threads, pids %(pids)s"), processes=processes,
                threads=workers, pids=" ".join(map(str, pool.pids)))
            if pool is not None else say(N_("%(threads)s worker threads in this process"), threads=workers)) + ")"),
        (say(N_("certificates")), str(settings.certs_dir)),
        (say(N_("web server")), str(http_limits)),
    ]
    if made_demo:
        rows.append((say(N_("demo setup")), say(N_(
            "identity %(identity)s; partners %(partners)s; DEMO-BUYER reads its invoices on the portal (mail to "
            "%(mail)s through %(server)s); a sample invoice for it: %(sample)s"), identity=DEMO_IDENTITY,
            partners=", ".join(p[1] for p in DEMO_PARTNERS), mail=DEMO_RECEIVING["DEMO-BUYER"][1],
            server=_mail_server(settings), sample=SAMPLE_INVOICE)))
    if password:
        rows.append((say(N_("first login")), f"admin / {password}  "
                     + say(N_("(also in %(file)s)"), file=settings.home / "admin-password")))
    # one column for the gateway's own labels (English keeps the one it always had); an endpoint's, named
    # after its channel, may overflow it
    width = max([15] + [len(label) + 1 for label, _ in rows if label not in endpoints])
    lines = [say(N_("edigate is running"))] + [f"  {label:<{width}} {text}" for label, text in rows]
    print("\n".join(lines), flush=True)

    stopping = threading.Event()

    def stop_all() -> None:
        for service in services:
            service.stop()
        if consumer is not None:
            consumer.stop(graceful=True)
        if pool is not None:
            pool.stop()

    def stop(signum, frame):
        if stopping.is_set():
            return
        stopping.set()
        print(i18n.gettext(lang, N_("edigate: stopping")), flush=True)
        stop_all()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        http.run()
    finally:
        if not stopping.is_set():
            stop_all()


def work(settings: Optional[Settings] = None, *, workers: int = 2) -> None:
    """A job worker on its own (scale-out: as many as wanted, same database and queue), or one of
    a server's (it then ends with that server: ``gateway.processes.supervise.watch_parent``)."""
    from .processes.supervise import watch_parent
    watch_parent()
    gw = Gateway(settings or load_settings())
    log.info("edigate worker: %d worker threads", workers)
    gw.jobs.consumer(workers=workers).run()


if __name__ == "__main__":          # python -m gateway.server
    configure_logging()
    serve()
