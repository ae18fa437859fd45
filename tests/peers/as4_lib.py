"""A second, independent AS4 implementation for interop tests: the ``as4`` package (0.2.0) from PyPI.

It was checked before edigate's AS4 was written and not built on (see
``gateway/transports/as4/__init__.py``): it requires cryptography < 47 (edigate
runs a later one), and it accepts signature-wrapped messages (a forged eb:Messaging
beside the signed one). It is still a faithful Peppol AS4 implementation of the
message formats, written by others from the same specifications, so it is run
here as the other access point, in its own virtualenv built once per machine under
``.cache/peers/`` (git-ignored), one operation per process
(``as4_lib_script.py``). phase4, the reference implementation, is Java and its jars
come from Maven Central, which this machine does not reach.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = ["as4==0.2.0"]
CACHE = Path(os.environ.get("EDIGATE_PEER_CACHE", REPO / ".cache" / "peers")) / "as4-0.2.0"
SCRIPT = Path(__file__).with_name("as4_lib_script.py")


class PeerUnavailable(RuntimeError):
    """The peer's virtualenv could not be built (no network to PyPI, no venv module, …)."""


def ensure_venv(cache: Path = CACHE) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / "venv"
    py = venv / "bin" / "python"
    stamp = venv / ".edigate-complete"
    want = "\n".join(REQUIREMENTS) + "\n"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == want and py.exists():
            return py
        shutil.rmtree(venv, ignore_errors=True)
        log = cache / "build.log"
        try:
            with open(log, "w") as out:
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out,
                               stderr=subprocess.STDOUT, timeout=300)
                subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
                               check=True, stdout=out, stderr=subprocess.STDOUT, timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            shutil.rmtree(venv, ignore_errors=True)
            raise PeerUnavailable(f"cannot build the as4 package's virtualenv: {e}\n{tail}") from e
        stamp.write_text(want)
        return py


class As4LibPeer:
    """Runs the ``as4`` package's operations in its own interpreter; files in ``workdir``."""

    def __init__(self, python: Path, workdir: Path):
        self.python, self.workdir = python, workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def _run(self, op: str, job: dict) -> dict:
        out = self.workdir / f"{op}-{len(list(self.workdir.iterdir()))}"
        out.mkdir()
        job = {**job, "out": str(out)}
        path = out / "job.json"
        path.write_text(json.dumps(job))
        p = subprocess.run([str(self.python), str(SCRIPT), op, str(path)], capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"as4 peer {op} failed: {p.stderr[-2000:]}")
        answer = json.loads(p.stdout.strip().splitlines()[-1])
        answer["dir"] = out
        return answer

    def build(self, *, key: Path, cert: Path, party_id: str, remote_cert: Path, remote_id: str, payload: bytes,
              sender: str, recipient: str, doctype: str, process: str, country: str = "FR") -> dict:
        """A Peppol UserMessage built by the package: ``headers``, ``body``, ``sent`` (its references)."""
        p = self.workdir / f"payload-{os.urandom(4).hex()}.xml"
        p.write_bytes(payload)
        a = self._run("build", {"local_id": party_id, "local_cert": str(cert), "local_key": str(key),
                                "remote_id": remote_id, "remote_cert": str(remote_cert), "payload": str(p),
                                "sender": sender, "recipient": recipient, "country": country,
                                "doctype": doctype, "process": process})
        a["headers"] = json.loads((a["dir"] / "headers.json").read_text())
        a["body"] = (a["dir"] / "body").read_bytes()
        a["sent_path"] = a["dir"] / "sent.json"
        return a

    def receive(self, *, key: Path, cert: Path, party_id: str, sender_cert: Path, headers: dict, body: bytes) -> dict:
        """The package receiving a message: ``successful``, ``error_code``, ``signal`` (its answer), ``payload``."""
        d = self.workdir / f"in-{os.urandom(4).hex()}"
        d.mkdir()
        (d / "headers.json").write_text(json.dumps(headers))
        (d / "body").write_bytes(body)
        a = self._run("receive", {"local_id": party_id, "local_cert": str(cert), "local_key": str(key),
                                  "sender_cert": str(sender_cert), "headers": str(d / "headers.json"),
                                  "body": str(d / "body")})
        a["signal"] = (a["dir"] / "signal").read_bytes()
        a["payload"] = (a["dir"] / "payload").read_bytes()
        return a

    def check_receipt(self, *, receiver_cert: Path, signal: bytes, sent_path: Path) -> dict:
        p = self.workdir / f"signal-{os.urandom(4).hex()}"
        p.write_bytes(signal)
        return self._run("receipt", {"receiver_cert": str(receiver_cert), "signal": str(p), "sent": str(sent_path)})
