"""``edigate serve``: the gateway on its embedded defaults, ready on a fresh machine.

Prepares what a first start needs — the schema (Alembic), our development AS2
key pair under ``certs/`` (generated, never committed), a demo setup (one
organisation, two partners) when the database is empty, a first operator
account — then runs the job consumer in-process (threads) and the web app
(AS2 endpoint, REST API, operator pages) under waitress on 127.0.0.1, and
says what runs where.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
from typing import Optional

import sqlalchemy as sa

from .config import Settings, load_settings
from .runtime import Gateway

log = logging.getLogger("edigate.server")

DEMO_IDENTITY = "EDIGATE-DEMO"
DEMO_PARTNERS = (
    # name, AS2 id, identifiers, preferred format
    ("Demo Supplier SARL", "DEMO-SUPPLIER", (("0009", "73282932000074"), ("0088", "3012345000010")), "ubl"),
    ("Demo Buyer GmbH", "DEMO-BUYER", (("0088", "4000001000005"), ("9930", "DE123456789")), "cii"),
)


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
            p = Partner(name=name, as2_id=as2_id, preferred_format=fmt, preferred_channel="as2")
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


def serve(settings: Optional[Settings] = None, *, workers: int = 2, threads: int = 8,
          demo: bool = True) -> None:
    import waitress
    from .web import AS2_PATH, create_app

    settings = settings or load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    gw = Gateway(settings)
    made_demo = ensure_demo(gw) if demo else False
    password = ensure_admin(gw)
    app = create_app(gw)
    from .sftp_inbox import SftpInbox
    from .transports.sftp import host_key_fingerprint
    sftp_inbox = SftpInbox(gw)
    sftp = sftp_inbox.server(settings.host, settings.sftp_port)
    sftp.start()
    consumer = gw.jobs.consumer(workers=workers)
    consumer.start()
    from datetime import timedelta
    sftp_inbox.rescan()                   # complete uploads a stopped process had not taken yet
    gw.jobs.sweep(grace=timedelta(0))     # what a stopped process left pending

    base = f"http://{settings.host}:{settings.http_port}"
    lines = [
        "edigate is running",
        f"  operator pages  {base}/",
        f"  REST API        {base}/api/v1/  (OpenAPI: {base}/api/v1/openapi.json)",
        f"  AS2 endpoint    {base}{AS2_PATH}  (MDNs and partners' messages; public URL {settings.public_url})",
        f"  SFTP server     sftp://{settings.host}:{sftp.port}  (partner accounts under "
        f"{settings.home / 'sftp'}; host key {host_key_fingerprint(sftp.host_key)})",
        f"  database        {settings.database_url}",
        f"  payloads        {settings.payload_dir}",
        f"  jobs            {settings.jobs_url}  ({workers} worker threads in this process)",
        f"  certificates    {settings.certs_dir}",
    ]
    if made_demo:
        lines.append(f"  demo setup      identity {DEMO_IDENTITY}; partners "
                     + ", ".join(p[1] for p in DEMO_PARTNERS))
    if password:
        lines.append(f"  first login     admin / {password}  (also in {settings.home / 'admin-password'})")
    print("\n".join(lines), flush=True)

    stopping = threading.Event()

    def stop(signum, frame):
        if stopping.is_set():
            return
        stopping.set()
        print("edigate: stopping", flush=True)
        sftp.stop()
        consumer.stop(graceful=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        waitress.serve(app, host=settings.host, port=settings.http_port, threads=threads,
                       ident="edigate", _quiet=True, max_request_body_size=settings.max_inbound_size)
    finally:
        if not stopping.is_set():
            sftp.stop()
            consumer.stop(graceful=True)


def work(settings: Optional[Settings] = None, *, workers: int = 2) -> None:
    """A job worker on its own (scale-out: as many as wanted, same database and queue)."""
    gw = Gateway(settings or load_settings())
    log.info("edigate worker: %d worker threads", workers)
    gw.jobs.consumer(workers=workers).run()


if __name__ == "__main__":          # python -m gateway.server
    configure_logging()
    serve()
