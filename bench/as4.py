"""Peppol AS4 into edigate beside AS2 into edigate, in one run: messages per second end to end.

    .venv/bin/python bench/as4.py [--messages 100] [--size 50000] [--profile 30]

One ``edigate serve`` (its own process: waitress, SQLite, payload store with fsync,
huey workers processing each document afterwards) receives, from one client thread
over loopback HTTP, the same UBL invoices of about 50 KB:

* over AS4 at ``/as4``: an SBDH, gzip'd, signed (RSA-SHA256) and AES-128-GCM encrypted
  by our outbound AS4 code as another access point, whose certificate the gateway has
  on record; a message counts once its Receipt is verified (signature by the
  gateway's AP certificate, our MessageId, our digests);
* over AS2 at ``/as2``, the baseline (``bench/as2.py``'s messages: sha256,
  AES-256-CBC, compressed, a signed synchronous MDN verified with its MIC).

The ratio is AS4's rate over AS2's. Then the AS4 receive path is profiled in-process
and its time split as ``bench/as2.py`` splits AS2's (crypto, MIME, storage, the rest).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from as2 import categorise, invoice_of_size, run  # noqa: E402
from machine import describe  # noqa: E402

from gateway import certs  # noqa: E402
from gateway.transports import as2, as4  # noqa: E402
from tests.support.as4_gateway import Peppol4World  # noqa: E402
from tests.support.gateway_process import setup_records  # noqa: E402


CATEGORIES = (
    ("crypto", ("cryptography", "_hashlib", "hmac", "/as4/wss.py", "/as4/xenc.py")),
    ("XML+MIME", ("lxml", "/transports/mime.py", "/as4/message.py", "/email/", "zlib", "gzip", "/syntaxes/sbdh")),
    ("storage", ("/gateway/store/", "/sqlalchemy/", "sqlite3", "fsync", "posix.open", "posix.rename",
                 "/gateway/db/")),
)


def profile_receive(world: Peppol4World, payload_for, count: int) -> dict[str, float]:
    """edigate's AS4 receive path in-process (no HTTP): checks, decryption, store, the records;
    processing excluded. Uses a copy of the bench gateway's settings in a new home."""
    from gateway.channels.peppol import Inbox
    from gateway.config import load_settings
    from gateway.runtime import Gateway
    env = world.server.env
    for k, v in env.items():
        if k.startswith("EDIGATE_PEPPOL_"):
            os.environ[k] = v
    home = world.server.home.parent / "profile"
    gw = Gateway(load_settings({"EDIGATE_HOME": str(home), "EDIGATE_CERTS_DIR": str(home / "certs")}))
    from cryptography.hazmat.primitives.serialization import Encoding
    from gateway.db import Certificate, Partner
    from gateway.networks.peppol import identifiers as ids
    from tests.support.as4_gateway import MEMBER
    with gw.session() as s:
        member = Partner(name="Member")
        member.add_identifier(*ids.partner_key(ids.ParticipantId.parse(MEMBER)))
        ap = Partner(name="Access point")
        s.add_all([member, ap])
        s.flush()
        s.add(Certificate.from_pem(world.sender.certificate.public_bytes(Encoding.PEM), usage="signing",
                                   partner_id=ap.id))
    gw.jobs.process = lambda *a, **k: None          # measure receiving only
    endpoint = Inbox(gw).endpoint()
    msgs = [world.message(10_000 + i, payload_for(10_000 + i)).outbound for i in range(count + 2)]
    for m in msgs[:2]:
        endpoint.receive(m.headers, m.body)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for m in msgs[2:]:
        r = endpoint.receive(m.headers, m.body)
        assert r.status == "processed", r.error
    prof.disable()
    wall = time.perf_counter() - t0
    parts = categorise(pstats.Stats(prof), CATEGORIES)
    total = sum(parts.values())
    gw.close()
    return {k: v / total * wall / count * 1000 for k, v in parts.items()} | {"wall": wall / count * 1000}


def drained(server, timeout: float = 300) -> None:
    """Wait until the documents received so far are processed: the next transport's run does not
    share the machine with the previous one's background work."""
    import sqlalchemy as sa
    from gateway.db import Exchange
    gw = server.gateway()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with gw.session() as s:
                left = s.scalar(sa.select(sa.func.count()).select_from(Exchange).where(
                    Exchange.direction == "in", Exchange.refused.is_(False),
                    Exchange.status.not_in(("processed", "failed"))))
            if not left:
                return
            time.sleep(0.2)
    finally:
        gw.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--size", type=int, default=50_000)
    ap.add_argument("--profile", type=int, default=30, help="messages for the in-process profile")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="edigate-bench-as4-"))
    base = invoice_of_size(args.size, 0)
    payload_for = (lambda n: base.replace(b"BENCH-00000", f"BENCH-{n:05d}".encode()))
    print(f"payload: UBL invoice of {len(base)} bytes; {args.messages} messages per transport (+3 warm-up)",
          file=sys.stderr)
    load_before = Path("/proc/loadavg").read_text().split()[:3]

    world = Peppol4World.create(work)
    server = world.server
    client_key = certs.ensure_dev_keypair(work / "keys", "edigate")
    gw_key = certs.ensure_dev_keypair(work / "keys", "benchgw")
    gw = server.gateway()
    setup_records(gw, identity="BENCHGW", our_key=gw_key.key_path, partners=[
        dict(name="Bench AS2 client", as2_id="EDIGATE", cert_pem=client_key.cert_pem)])
    gw.close()
    n = args.messages + 3
    t0 = time.perf_counter()
    as4_msgs = [world.message(i, payload_for(i)).outbound for i in range(n)]
    build4_ms = (time.perf_counter() - t0) / n * 1000
    client = as2.As2Identity("EDIGATE", "bench.test", client_key)
    to_gw = as2.As2Partner("BENCHGW", [gw_key.cert_pem], url=server.as2_url)
    t0 = time.perf_counter()
    as2_msgs = [as2.build(payload_for(n + i), f"inv{i}.xml", "application/xml", identity=client, partner=to_gw)
                for i in range(n)]
    build2_ms = (time.perf_counter() - t0) / n * 1000
    try:
        server.start()
        print("sending over AS4 …", file=sys.stderr)
        over4 = run(as4_msgs, "AS4", send=as4.send)
        drained(server)
        print("sending over AS2 …", file=sys.stderr)
        over2 = run(as2_msgs, "AS2", send=as2.send)
    finally:
        server.stop()
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print("profiling edigate's AS4 receive path in-process …", file=sys.stderr)
    parts = profile_receive(world, payload_for, args.profile)

    print(describe("cryptography", "lxml", "SQLAlchemy", "waitress", "Flask"))
    print(f"load average before / after: {' '.join(load_before)} / {' '.join(load_after)}")
    print(f"\nInto one edigate serve over loopback HTTP, {len(base)} bytes, one client thread, "
          "each message counted once its receipt is verified")
    print(f"  {'transport':<52}{'messages':>9}{'seconds':>9}{'msg/s':>8}{'ms/msg':>8}")
    for label, r in (("AS4 (Peppol, SBDH, gzip, RSA-SHA256, AES-128-GCM)", over4),
                     ("AS2 (sha256, AES-256-CBC, zlib, signed MDN)", over2)):
        print(f"  {label:<52}{r.n:>9}{r.seconds:>9.2f}{r.rate:>8.1f}{1000 / r.rate:>8.1f}")
    print(f"  ratio AS4 / AS2: {over4.rate / over2.rate:.2f}x")
    print(f"  (client build per message, not in the times above: AS4 {build4_ms:.1f} ms, AS2 {build2_ms:.1f} ms)")
    print(f"\nedigate AS4 receive path in-process, {args.profile} messages, ms per message "
          f"(profiled: slower than unprofiled, the shares are what matters)")
    wall = parts.pop("wall")
    for k, v in parts.items():
        print(f"  {k:<8}{v:>7.1f} ms  {v / wall * 100:>4.0f} %")
    print(f"  {'total':<8}{wall:>7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
