"""AS2 into edigate vs into django-pyas2, side by side: messages per second and where the time goes.

    .venv/bin/python bench/as2.py [--messages 100] [--size 50000] [--profile 30]

One client (our AS2 transport, single thread) sends the same pre-built messages —
50 KB invoices, signed sha256, AES-256-CBC, compressed, asking a signed
synchronous MDN — over loopback HTTP to:

* edigate: ``edigate serve`` in its own process (waitress, SQLite, payload store
  with fsync, huey; each message is also read, checked and routed afterwards by
  the in-process workers);
* django-pyas2 1.2.3 under Django's runserver (its own virtualenv, as in the tests).

Each message counts when its MDN is verified (signature and MIC). The ratio is
edigate's rate over django-pyas2's. Then the receive path of edigate is profiled
in-process on the same kind of messages and its time split into crypto
(cryptography, oscrypto, asn1crypto), MIME (email, pyas2lib's MIME helpers),
storage (payload store, SQLAlchemy, sqlite3, fsync) and the rest.
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
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from machine import describe  # noqa: E402

from gateway import certs  # noqa: E402
from gateway.syntaxes import write_document  # noqa: E402
from gateway.transports.as2 import As2Identity, As2Partner, build, send  # noqa: E402
from tests.peers.pyas2 import DjangoPyas2Peer, PeerUnavailable, ensure_venv, free_port  # noqa: E402
from tests.support.gateway_process import GatewayProcess, setup_records  # noqa: E402
from tests.support.invoice_builder import build_invoice  # noqa: E402


def invoice_of_size(size: int, n: int) -> bytes:
    """A valid UBL invoice of about ``size`` bytes (lines added until it is), number ``n``."""
    import copy
    from decimal import Decimal
    inv = build_invoice()
    inv.number = f"BENCH-{n:05d}"
    line = inv.lines[0]
    data = write_document(inv, "ubl").data
    per_line = max(1, len(write_document(inv, "ubl").data) // 3)
    count = max(1, size // per_line)
    while True:
        inv.lines = []
        for i in range(count):
            ln = copy.deepcopy(line)
            ln.identifier = str(i + 1)
            ln.item.name = f"Widget model {i:05d} with a description long enough to look real"
            inv.lines.append(ln)
        net = sum((ln.net_amount for ln in inv.lines), Decimal("0"))
        tax = (net * inv.vat_breakdown[0].rate / 100).quantize(Decimal("0.01"))
        inv.vat_breakdown[0].taxable_amount, inv.vat_breakdown[0].tax_amount = net, tax
        t = inv.totals
        t.sum_of_line_net_amounts = t.total_without_vat = net
        t.total_vat, t.total_with_vat, t.amount_due = tax, net + tax, net + tax
        data = write_document(inv, "ubl").data
        if len(data) >= size or count > 10_000:
            return data
        count = int(count * size / len(data)) + 1


def run(messages: list, label: str, send=send) -> SimpleNamespace:
    """Messages sent one after another, each counted once its receipt is verified (``send(out)``:
    a result whose ``delivered`` says so); the first three warm up and are not counted."""
    for out in messages[:3]:                      # warm-up (connections, caches): not counted
        r = send(out, timeout=(5, 60))
        if not r.delivered:
            raise SystemExit(f"{label}: warm-up message not acknowledged: {_why(r)}")
    t0 = time.perf_counter()
    for out in messages[3:]:
        r = send(out, timeout=(5, 60))
        if not r.delivered:
            raise SystemExit(f"{label}: {out.message_id} not acknowledged: {_why(r)}")
    secs = time.perf_counter() - t0
    n = len(messages) - 3
    return SimpleNamespace(n=n, seconds=secs, rate=n / secs)


def _why(result) -> str:
    return getattr(result, "summary", None) or f"{getattr(result, 'status', '')} {getattr(result, 'error', '')}"


CATEGORIES = (
    ("crypto", ("/cryptography/", "/oscrypto/", "/asn1crypto/", "_hashlib", "hmac")),
    ("MIME", ("/email/", "pyas2lib/utils", "pyas2lib/as2", "/base64", "zlib")),
    ("storage", ("/gateway/store/", "/sqlalchemy/", "sqlite3", "fsync", "posix.open", "posix.rename",
                 "/gateway/db/", "/gateway/inbox",
                 "_thread.lock", "concurrent/futures")),     # waiting for the payload writes run side by side
)


def categorise(stats: pstats.Stats, categories=CATEGORIES) -> dict[str, float]:
    out = {name: 0.0 for name, _ in categories}
    out["other"] = 0.0
    for (file, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        where = f"{file}:{func}"
        for name, marks in categories:
            if any(m in where for m in marks):
                out[name] += tottime
                break
        else:
            out["other"] += tottime
    return out


def profile_receive(work: Path, keys, payload_for, count: int) -> dict[str, float]:
    """edigate's receive path in-process (no HTTP): store, MDN, the records; processing excluded."""
    from gateway.config import load_settings
    from gateway.channels.as2 import As2Inbox
    from gateway.runtime import Gateway
    home = work / "profile"
    gw = Gateway(load_settings({"EDIGATE_HOME": str(home), "EDIGATE_CERTS_DIR": str(home / "certs")}))
    setup_records(gw, identity="BENCHGW", our_key=keys.gw.key_path, partners=[
        dict(name="Bench client", as2_id="EDIGATE", cert_pem=keys.client.cert_pem)])
    gw.jobs.process = lambda *a, **k: None          # measure receiving only
    endpoint = As2Inbox(gw).endpoint()
    client = As2Identity("EDIGATE", "bench.test", keys.client)
    target = As2Partner("BENCHGW", [keys.gw.cert_pem], url="http://unused.invalid/as2")
    msgs = [build(payload_for(10_000 + i), f"p{i}.xml", "application/xml", identity=client, partner=target)
            for i in range(count + 2)]
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
    parts = categorise(pstats.Stats(prof))
    total = sum(parts.values())
    gw.close()
    return {k: v / total * wall / count * 1000 for k, v in parts.items()} | {"wall": wall / count * 1000}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--size", type=int, default=50_000)
    ap.add_argument("--profile", type=int, default=30, help="messages for the in-process profile")
    args = ap.parse_args(argv)
    try:
        python = ensure_venv()
    except PeerUnavailable as e:
        print(f"bench skipped: {e}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="edigate-bench-as2-"))
    keys = SimpleNamespace(client=certs.ensure_dev_keypair(work / "keys", "edigate"),
                           gw=certs.ensure_dev_keypair(work / "keys", "benchgw"),
                           peer=certs.ensure_dev_keypair(work / "keys", "peer", password="peer-pass"),
                           rogue=certs.ensure_dev_keypair(work / "keys", "rogue", password="rogue-pass"))
    base = invoice_of_size(args.size, 0)
    payload_for = (lambda n: base.replace(b"BENCH-00000", f"BENCH-{n:05d}".encode()))
    print(f"payload: UBL invoice of {len(base)} bytes; {args.messages} messages per target (+3 warm-up)",
          file=sys.stderr)

    server = GatewayProcess(work / "gateway", processes=None)    # what make serve runs: its own default
    gw = server.gateway()
    setup_records(gw, identity="BENCHGW", our_key=keys.gw.key_path, partners=[
        dict(name="Bench client", as2_id="EDIGATE", cert_pem=keys.client.cert_pem)])
    gw.close()

    def bundle(kp, name):
        p = work / name
        p.write_bytes(kp.bundle_pem)
        os.chmod(p, 0o600)
        return p
    peer = DjangoPyas2Peer(work / "peer", python=python, port=free_port(), our_cert=keys.client.cert_path,
                           peer_bundle=bundle(keys.peer, "peer.pem"), peer_pass="peer-pass",
                           rogue_bundle=bundle(keys.rogue, "rogue.pem"), rogue_pass="rogue-pass",
                           our_url="http://127.0.0.1:1/unused", tamper_url="http://127.0.0.1:1/unused")
    client = As2Identity("EDIGATE", "bench.test", keys.client)
    to_gw = As2Partner("BENCHGW", [keys.gw.cert_pem], url=server.as2_url)
    to_peer = As2Partner("PEER", [keys.peer.cert_pem], url=peer.url)
    n = args.messages + 3
    t0 = time.perf_counter()
    gw_msgs = [build(payload_for(i), f"inv{i}.xml", "application/xml", identity=client, partner=to_gw)
               for i in range(n)]
    build_ms = (time.perf_counter() - t0) / n * 1000
    peer_msgs = [build(payload_for(i), f"inv{i}.xml", "application/xml", identity=client, partner=to_peer)
                 for i in range(n)]
    try:
        server.start()
        peer.setup()
        peer.start()
        print("sending to edigate …", file=sys.stderr)
        ours = run(gw_msgs, "edigate")
        print("sending to django-pyas2 …", file=sys.stderr)
        theirs = run(peer_msgs, "django-pyas2")
    finally:
        server.stop()
        peer.stop()
    print("profiling edigate's receive path in-process …", file=sys.stderr)
    parts = profile_receive(work, keys, payload_for, args.profile)

    print(describe("pyas2lib", "cryptography", "SQLAlchemy", "waitress", "Flask"))
    print(f"\nAS2 end to end over loopback HTTP, {len(base)} bytes, sha256 + aes_256_cbc + compressed, "
          "signed sync MDN verified, one client thread")
    print(f"  {'target':<14}{'messages':>9}{'seconds':>9}{'msg/s':>8}{'ms/msg':>8}")
    for label, r in (("edigate", ours), ("django-pyas2", theirs)):
        print(f"  {label:<14}{r.n:>9}{r.seconds:>9.2f}{r.rate:>8.1f}{1000 / r.rate:>8.1f}")
    print(f"  ratio edigate / django-pyas2: {ours.rate / theirs.rate:.2f}x")
    print(f"  (client build per message, not in the times above: {build_ms:.1f} ms)")
    print(f"\nedigate receive path in-process, {args.profile} messages, ms per message "
          f"(profiled: slower than unprofiled, the shares are what matters)")
    wall = parts.pop("wall")
    for k, v in parts.items():
        print(f"  {k:<8}{v:>7.1f} ms  {v / wall * 100:>4.0f} %")
    print(f"  {'total':<8}{wall:>7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
