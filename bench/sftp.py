"""SFTP uploads into edigate vs into OpenSSH's sshd, side by side: files per second (issue #5).

    .venv/bin/python bench/sftp.py [--files 1000] [--size 50000]

One client, the OpenSSH ``sftp`` program, uploads the same pre-generated files
(valid UBL invoices of about 50 KB, each with its own invoice number, addressed
to nobody we know) with one batch file of ``put`` commands, over one connection
per target (Ed25519 key login, host key pinned in a known_hosts file), to:

* edigate: the SFTP server inside ``edigate serve`` (its own process). Each
  complete upload is fsync'd, stored in the payload store (fsync) and recorded
  as an exchange (SQLite commit) before the client's close returns. The
  server's workers (worker processes of its own on a machine with more than one
  core) then read, validate and route it in the background: nobody is
  addressed, so each document ends ``held`` and the exchange ``processed``.
  The SQL statements each document took are read from the workers' log lines;
* OpenSSH sshd (``tests/peers/sshd.py``: a second sshd on loopback, chrooted
  ``internal-sftp``), which only writes the file (no fsync unless the client
  asks for one; ``--sshd-fsync`` adds a row where ``sftp -f`` asks, per file).

A small warm-up batch goes to each target first (not counted; for edigate it
is also processed before the timed batch starts). A target's time runs from
starting ``sftp`` to its exit (connection, login and all ``put``s); the fixed
cost of a batch (``sftp`` that only logs in, ``pwd`` and leaves: the median of
3) is shown beside it, and the time per file without it. For
edigate the bench then checks in the database that all N exchanges are there
and reports when the last was recorded and when the last reached
``processed``, both from the start of the batch.

Needs the ``sftp`` client and, for the sshd peer, root and ``/usr/sbin/sshd``;
without them it prints ``bench skipped: ...`` and exits 0.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from as2 import invoice_of_size  # noqa: E402
from machine import describe  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from gateway import certs  # noqa: E402
from gateway.db import DocumentRecord, Exchange, SftpAccount  # noqa: E402
from gateway.transports.sftp import HOST_KEY_FILENAME, ensure_host_key, host_key_line  # noqa: E402
from tests.support.gateway_process import GatewayProcess, setup_records  # noqa: E402
from tests.peers.sshd import SSHD, SshdPeer, new_ed25519, skip_reason  # noqa: E402

WARMUP = 5
STATEMENTS = re.compile(r"exchange \d+ processed by pid \d+ \((\d+) SQL statements\)")


def sftp(batch: Path, *, port: int, key: Path, known: Path, user: str, cwd: Path,
         fsync: bool = False) -> float:
    """Run ``sftp -b batch``; the seconds it took. Any failure stops the bench."""
    args = ["sftp", "-F", "/dev/null", "-P", str(port), "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentityAgent=none",
            "-o", "PasswordAuthentication=no", "-o", "BatchMode=yes"]
    if fsync:
        args.append("-f")
    t0 = time.perf_counter()
    r = subprocess.run(args + ["-b", str(batch), f"{user}@127.0.0.1"], cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=3600)
    secs = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"sftp to port {port} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return secs


def write_batch(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"put {n} inbound/{n}\n" for n in names))
    return path


def login_seconds(work: Path, conn: dict, fsync: bool = False) -> float:
    """The median of 3 batches that only connect, log in, ``pwd`` and leave: the fixed cost per batch."""
    batch = work / "login.batch"
    batch.write_text("pwd\n")
    return sorted(sftp(batch, fsync=fsync, **conn) for _ in range(3))[1]


def edigate_counts(gw, prefix: str) -> SimpleNamespace:
    """The inbound SFTP exchanges whose file name starts with ``prefix``: by status, and the
    latest ``created_at`` (recorded) and ``status_at`` of the processed ones."""
    with gw.session() as s:
        mine = sa.and_(Exchange.direction == "in", Exchange.channel == "sftp",
                       Exchange.filename.like(prefix + "%"))
        by_status = dict(s.execute(sa.select(Exchange.status, sa.func.count()).where(mine)
                                   .group_by(Exchange.status)).all())
        last_recorded = s.scalar(sa.select(sa.func.max(Exchange.created_at)).where(mine))
        last_processed = s.scalar(sa.select(sa.func.max(Exchange.status_at))
                                  .where(mine, Exchange.status == "processed"))
        docs = dict(s.execute(sa.select(DocumentRecord.status, sa.func.count())
                              .join(Exchange, DocumentRecord.exchange_id == Exchange.id).where(mine)
                              .group_by(DocumentRecord.status)).all())
    return SimpleNamespace(total=sum(by_status.values()), by_status=by_status, docs=docs,
                           last_recorded=last_recorded, last_processed=last_processed)


def wait_processed(gw, prefix: str, n: int, timeout: float) -> SimpleNamespace:
    deadline = time.monotonic() + timeout
    while True:
        c = edigate_counts(gw, prefix)
        if c.by_status.get("processed", 0) >= n:
            return c
        if sum(v for k, v in c.by_status.items() if k != "acknowledged") >= n:
            raise SystemExit(f"edigate: not every upload was processed: {c.by_status}")
        if time.monotonic() > deadline:
            raise SystemExit(f"edigate: still not processed after {timeout:.0f} s: {c.by_status}")
        time.sleep(0.1)


def since(t0: datetime, t: datetime | None) -> float:
    if t is None:
        return float("nan")
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (t - t0).total_seconds()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="files per target, timed (default 1000)")
    ap.add_argument("--size", type=int, default=50_000, help="about this many bytes per file")
    ap.add_argument("--sshd-fsync", action="store_true",
                    help="also time sshd with `sftp -f` (fsync@openssh.com after each file)")
    args = ap.parse_args(argv)
    if shutil.which("sftp") is None:
        print("bench skipped: OpenSSH sftp client not found (Debian package `openssh-client`)")
        return 0
    reason = skip_reason()
    if reason:
        print(f"bench skipped: {reason}")
        return 0
    if args.files + 2 * WARMUP > 99_999:
        raise SystemExit("--files: at most 99,989 (five-digit invoice numbers)")

    work = Path(tempfile.mkdtemp(prefix="edigate-bench-sftp-"))
    files = work / "files"
    files.mkdir()
    base = invoice_of_size(args.size, 0)
    t = time.perf_counter()
    warm = [f"warm-{i:05d}.xml" for i in range(WARMUP)]
    timed = [f"bench-{i:05d}.xml" for i in range(WARMUP, WARMUP + args.files)]
    for i, name in enumerate(warm + timed):
        (files / name).write_bytes(base.replace(b"BENCH-00000", f"BENCH-{i:05d}".encode()))
    mb = len(base) * args.files / 1e6
    print(f"payload: {args.files} + {WARMUP} warm-up UBL invoices of {len(base)} bytes "
          f"({mb:.1f} MB timed), written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    warm_batch = write_batch(work / "warm.batch", warm)
    timed_batch = write_batch(work / "timed.batch", timed)

    server = GatewayProcess(work / "gateway", processes=None)    # serve's default: worker processes
    peer = SshdPeer(Path(tempfile.mkdtemp(prefix="edigate-sshd-")))   # not under work: sshd's user must reach it
    results = {}
    try:
        # --- edigate --------------------------------------------------------------------
        key = work / "partner_ed25519"
        pub = " ".join(new_ed25519(key, "bench").split()[:2])
        gw = server.gateway()
        ours = certs.ensure_dev_keypair(work / "keys", "edigate")
        rec = setup_records(gw, identity="EDIGATE", our_key=ours.key_path,
                            partners=[dict(name="Bench supplier")])
        with gw.session() as s:
            s.add(SftpAccount(partner_id=rec.partner_ids["Bench supplier"], username="supplier",
                              authorized_keys=pub))
        server.start()
        known = work / "known_hosts_edigate"
        host_key = ensure_host_key(server.settings.certs_dir / HOST_KEY_FILENAME)   # made by the server
        known.write_text(f"[127.0.0.1]:{server.sftp_port} {host_key_line(host_key)}\n")
        conn = dict(port=server.sftp_port, key=key, known=known, user="supplier", cwd=files)
        print("edigate: warm-up …", file=sys.stderr)
        sftp(warm_batch, **conn)
        login = login_seconds(work, conn)
        wait_processed(gw, "warm-", WARMUP, 120)
        print(f"edigate: {args.files} files …", file=sys.stderr)
        t0 = datetime.now(timezone.utc)
        secs = sftp(timed_batch, **conn)
        at_return = edigate_counts(gw, "bench-")
        print(f"edigate: sftp done in {secs:.1f} s; {at_return.total} exchanges recorded then, "
              f"{at_return.by_status.get('processed', 0)} processed; waiting for processing …", file=sys.stderr)
        done = wait_processed(gw, "bench-", args.files, max(300.0, args.files * 1.0))
        gw.close()
        server.stop()
        sql = [int(n) for n in STATEMENTS.findall(server.log_tail(10 ** 9))]
        results["edigate"] = SimpleNamespace(n=args.files, seconds=secs, login=login, at_return=at_return,
                                             done=done, recorded=since(t0, done.last_recorded),
                                             processed=since(t0, done.last_processed), sql=sql)

        # --- OpenSSH sshd ---------------------------------------------------------------
        print("sshd: starting …", file=sys.stderr)
        peer.start()
        known = work / "known_hosts_sshd"
        known.write_text(f"[127.0.0.1]:{peer.port} {peer.host_key_line}\n")
        conn = dict(port=peer.port, key=peer.client_key_path, known=known, user=peer.username, cwd=files)
        inbound = peer.chroot / "inbound"
        runs = [("sshd", False)] + ([("sshd, sftp -f", True)] if args.sshd_fsync else [])
        for label, fsync in runs:
            for p in inbound.iterdir():
                p.unlink()
            print(f"{label}: warm-up, then {args.files} files …", file=sys.stderr)
            sftp(warm_batch, fsync=fsync, **conn)
            login = login_seconds(work, conn, fsync)
            secs = sftp(timed_batch, fsync=fsync, **conn)
            got = sum(1 for n in timed if (inbound / n).is_file() and (inbound / n).stat().st_size == len(base))
            if got != args.files:
                raise SystemExit(f"{label}: {got} of {args.files} files arrived whole")
            results[label] = SimpleNamespace(n=args.files, seconds=secs, login=login)
    finally:
        server.stop()
        peer.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(describe("paramiko", "SQLAlchemy", "huey"))
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True)
    print(f"{(ssh.stderr or ssh.stdout).strip()} (sftp client; sshd: {SSHD})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes skew the numbers)")
    print(f"\nSFTP uploads over loopback: OpenSSH sftp -b, one connection, {args.files} files of {len(base)} "
          f"bytes (valid UBL, addressed to nobody) per target, after {WARMUP} warm-up files")
    print(f"  {'target':<15}{'files':>7}{'seconds':>9}{'files/s':>9}{'MB/s':>7}{'ms/file':>9}"
          f"{'login s':>9}{'ms/file w/o login':>19}")
    for label, r in results.items():
        rate = r.n / r.seconds
        print(f"  {label:<15}{r.n:>7}{r.seconds:>9.2f}{rate:>9.1f}{rate * len(base) / 1e6:>7.2f}"
              f"{1000 / rate:>9.2f}{r.login:>9.2f}{(r.seconds - r.login) / r.n * 1000:>19.2f}")
    ours, theirs = results["edigate"], results["sshd"]
    print(f"  ratio edigate / sshd (files/s): {theirs.seconds / ours.seconds:.3f}x "
          f"(sshd is {ours.seconds / theirs.seconds:.1f}x faster)")
    if "sshd, sftp -f" in results:
        print(f"  ratio edigate / sshd with sftp -f: {results['sshd, sftp -f'].seconds / ours.seconds:.3f}x")
    a, d = ours.at_return, ours.done
    print("  (seconds: from starting sftp to its exit, login included; login s: the median of 3 sftp runs that "
          "only log in and leave)")
    print(f"\nedigate, from the start of the timed batch ({ours.seconds:.2f} s until sftp exited):")
    print(f"  exchanges recorded when sftp returned: {a.total} of {ours.n}"
          f" ({'all' if a.total == ours.n else 'NOT all'}; {a.by_status.get('processed', 0)} already processed)")
    print(f"  last exchange recorded at:  {ours.recorded:7.2f} s")
    print(f"  last exchange processed at: {ours.processed:7.2f} s"
          f"  ({ours.n / ours.processed:.1f} files/s end to end)")
    print(f"  exchanges by status: {d.by_status}; documents by status: {d.docs}")
    if ours.sql:
        print(f"  SQL statements per processed document (workers' logs): {sum(ours.sql) / len(ours.sql):.1f} "
              f"(min {min(ours.sql)}, max {max(ours.sql)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
