"""An independent AS2 implementation for interop tests: django-pyas2 1.2.3 (Django 5.2).

django-pyas2 pins pyas2lib 1.4.3 and an old cryptography, so it lives in its own
virtualenv, built once per machine under ``.cache/peers/`` of the checkout
(git-ignored) and reused. Each test session makes a fresh Django project in a
temporary folder, configures it (keys, certificates, organisations, partners) and
runs Django's server on a free loopback port.

In the peer's database:

* organisations ``PEER`` (our partner) and ``STRANGER`` (unknown to us), both with
  the peer key; keys ``peer`` and ``rogue`` (a key we do not know);
* partners (that is: us, under several AS2 names, each a profile of django-pyas2):
  ``EDIGATE`` signed sha256 + AES-256 + compressed, signed sync MDN;
  ``EDIGATE-ASYNC`` the same with an asynchronous MDN; ``EDIGATE-SIGNONLY`` signed,
  not encrypted, not compressed; ``EDIGATE-PLAIN`` encrypted but not signed;
  ``EDIGATE-TAMPER`` as ``EDIGATE`` but posted to our tampering path.

django-pyas2 needs the same oscrypto fix as we do: our
``gateway/transports/as2/compat.py`` is copied into the project and imported
first by its settings.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Optional

import pytest

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = ["django-pyas2==1.2.3", "Django>=5.2,<5.3"]
CACHE = Path(os.environ.get("EDIGATE_PEER_CACHE", REPO / ".cache" / "peers")) / "django-pyas2-1.2.3"
COMPAT = REPO / "gateway" / "transports" / "as2" / "compat.py"

PARTNER_PROFILES = {
    "EDIGATE": {},
    "EDIGATE-ASYNC": {"mdn_mode": "ASYNC"},
    "EDIGATE-SIGNONLY": {"encryption": None, "compress": False},
    "EDIGATE-PLAIN": {"signature": None},
    "EDIGATE-TAMPER": {"target": "tamper"},
}


class PeerUnavailable(RuntimeError):
    """The peer's virtualenv could not be built (no network to PyPI, no venv module, …)."""



def ensure_venv(cache: Path = CACHE) -> Path:
    """The peer's virtualenv (built once, under a lock); returns its python."""
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
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                               stdout=out, stderr=subprocess.STDOUT, timeout=300)
                subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                *REQUIREMENTS], check=True, stdout=out, stderr=subprocess.STDOUT,
                               timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            shutil.rmtree(venv, ignore_errors=True)
            raise PeerUnavailable(f"cannot build django-pyas2's virtualenv: {e}\n{tail}") from e
        stamp.write_text(want)
        return py


_SETTINGS_PATCH = '''
import oscrypto_fix  # noqa: F401  (edigate's compat: oscrypto on OpenSSL 3.0.x)
'''

_SETUP = r'''
import json
from pyas2.models import Organization, Partner, PrivateKey, PublicCertificate
cfg = json.load(open("peer_config.json"))
def key(name, path, password):
    k, _ = PrivateKey.objects.get_or_create(name=name, defaults=dict(key=open(path, "rb").read(), key_pass=password))
    return k
peer = key("peer", cfg["peer_bundle"], cfg["peer_pass"])
key("rogue", cfg["rogue_bundle"], cfg["rogue_pass"])
ours, _ = PublicCertificate.objects.get_or_create(name="edigate", defaults=dict(certificate=open(cfg["our_cert"], "rb").read()))
for org in ("PEER", "STRANGER"):
    Organization.objects.update_or_create(as2_name=org, defaults=dict(name=org, encryption_key=peer, signature_key=peer))
for name, profile in cfg["partners"].items():
    d = dict(name=name, target_url=cfg["urls"][profile.get("target", "as2")], signature="sha256",
             signature_cert=ours, encryption="aes_256_cbc", encryption_cert=ours, compress=True,
             mdn=True, mdn_mode="SYNC", mdn_sign="sha256", content_type="application/EDIFACT",
             subject="from django-pyas2")
    d.update({k: v for k, v in profile.items() if k != "target"})
    Partner.objects.update_or_create(as2_name=name, defaults=d)
print("ok")
'''

_MESSAGE_JSON = r'''
import hashlib, json
from pyas2.models import Message, Mdn
def as_dict(m):
    d = dict(message_id=m.message_id, direction=m.direction, status=m.status,
             detailed_status=m.detailed_status, organization=m.organization_id,
             partner=m.partner_id, signed=m.signed, encrypted=m.encrypted,
             compressed=m.compressed, mdn=None, payload_sha256=None)
    try:
        if m.payload:
            m.payload.open("rb"); d["payload_sha256"] = hashlib.sha256(m.payload.read()).hexdigest(); m.payload.close()
    except Exception as e:
        d["payload_error"] = str(e)
    try:
        mdn = m.mdn
        d["mdn"] = dict(mdn_id=mdn.mdn_id, status=mdn.status, signed=mdn.signed, return_url=mdn.return_url)
    except Mdn.DoesNotExist:
        pass
    return d
'''


class DjangoPyas2Peer:
    """A running django-pyas2 server and the means to drive and inspect it."""

    def __init__(self, workdir: Path, *, python: Path, our_cert: Path, peer_bundle: Path, peer_pass: str,
                 rogue_bundle: Path, rogue_pass: str, our_url: str, tamper_url: str,
                 port: Optional[int] = None):
        self.dir = Path(workdir)
        self.python = Path(python)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/pyas2/as2receive"
        self.cfg = dict(our_cert=str(our_cert), peer_bundle=str(peer_bundle), peer_pass=peer_pass,
                        rogue_bundle=str(rogue_bundle), rogue_pass=rogue_pass,
                        urls={"as2": our_url, "tamper": tamper_url}, partners=PARTNER_PROFILES)
        self.proc: Optional[subprocess.Popen] = None
        self.calls = 0

    # -- set up, start, stop ------------------------------------------------
    def _env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON"))}
        env["DJANGO_SETTINGS_MODULE"] = "asproj.settings"
        return env

    def setup(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        bindir = self.python.parent
        if not (self.dir / "manage.py").exists():
            subprocess.run([str(bindir / "django-admin"), "startproject", "asproj", str(self.dir)],
                           check=True, capture_output=True, env=self._env(), timeout=120)
        shutil.copy(COMPAT, self.dir / "oscrypto_fix.py")
        settings = self.dir / "asproj" / "settings.py"
        s = settings.read_text()
        if "oscrypto_fix" not in s:
            s = _SETTINGS_PATCH + s
            s = s.replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']")
            s = s.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'pyas2',")
            # MEDIA_ROOT, not PYAS2['DATA_DIR'] (with it every inbound message fails: SuspiciousFileOperation).
            # SQLite: IMMEDIATE transactions, so the shell sending while the server receives waits for the
            # lock instead of failing at once with "database is locked" (a read lock upgraded to write).
            s += (f"\nMEDIA_ROOT = BASE_DIR / 'data'\nPYAS2 = {{'MDN_URL': '{self.url}'}}\n"
                  "DATABASES['default']['OPTIONS'] = {'timeout': 30, 'transaction_mode': 'IMMEDIATE'}\n"
                  "LOGGING = {'version': 1, 'disable_existing_loggers': False,"
                  " 'handlers': {'f': {'class': 'logging.FileHandler', 'filename': str(BASE_DIR / 'pyas2.log')}},"
                  " 'loggers': {'pyas2': {'handlers': ['f'], 'level': 'INFO'},"
                  " 'pyas2lib': {'handlers': ['f'], 'level': 'WARNING'}}}\n")
            settings.write_text(s)
        urls = self.dir / "asproj" / "urls.py"
        u = urls.read_text()
        if "pyas2.urls" not in u:
            u = u.replace("from django.urls import path", "from django.urls import include, path")
            u = u.replace("path('admin/', admin.site.urls),",
                          "path('admin/', admin.site.urls),\n    path('pyas2/', include('pyas2.urls')),")
            urls.write_text(u)
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "peer_config.json").write_text(json.dumps(self.cfg))
        (self.dir / "setup_peer.py").write_text(_SETUP)
        self.manage("migrate", "-v0")
        out = self.shell_file("setup_peer.py")
        if "ok" not in out:
            raise RuntimeError(f"peer setup failed: {out}")

    def start(self, timeout: float = 30) -> None:
        log = open(self.dir / "runserver.log", "wb")
        self.proc = subprocess.Popen(
            [str(self.python), "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=self.dir, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("django-pyas2 exited: " + self.log_tail())
            try:
                with urllib.request.urlopen(self.url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("django-pyas2 did not start: " + self.log_tail())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, n: int = 3000) -> str:
        out = []
        for name in ("runserver.log", "pyas2.log"):
            p = self.dir / name
            if p.exists():
                out.append(f"--- {name}\n" + p.read_text(errors="replace")[-n:])
        return "\n".join(out)

    # -- driving it -----------------------------------------------------------
    def manage(self, *args: str, timeout: float = 120) -> str:
        self.calls += 1
        r = subprocess.run([str(self.python), "manage.py", *args], cwd=self.dir, env=self._env(),
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def shell(self, code: str) -> str:
        name = f"shell_{uuid.uuid4().hex}.py"
        (self.dir / name).write_text(code)
        try:
            return self.shell_file(name)
        finally:
            (self.dir / name).unlink(missing_ok=True)

    def shell_file(self, name: str) -> str:
        return self.manage("shell", "-c", f"exec(open({name!r}).read())")

    def _put(self, payload: bytes, filename: str) -> str:
        rel = f"outbox/{uuid.uuid4().hex}/{filename}"
        p = self.dir / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload)
        return rel

    def send(self, org: str, partner: str, payload: bytes, filename: str = "message.edi", *,
             cli: bool = False, signing_key: Optional[str] = None) -> dict:
        """django-pyas2's ``sendas2message ORG PARTNER FILE``; returns the peer's record of the message.

        ``cli=True`` runs ``manage.py sendas2message`` as its own process, then queries; otherwise
        the same command runs through ``call_command`` in one ``manage.py shell`` with the query
        (one Django start instead of two). ``signing_key`` signs with another of the peer's keys
        (the organisation's key is switched for this send, then switched back).
        """
        rel = self._put(payload, filename)
        if cli:
            assert signing_key is None
            self.manage("sendas2message", org, partner, rel)
            return self.newest_outbound(partner)
        code = ("from django.core.management import call_command\n"
                "from pyas2.models import Organization, PrivateKey\n")
        send = f"call_command('sendas2message', {org!r}, {partner!r}, {rel!r})\n"
        if signing_key:
            code += (f"org = Organization.objects.get(as2_name={org!r}); keep = org.signature_key\n"
                     f"org.signature_key = PrivateKey.objects.get(name={signing_key!r}); org.save()\n"
                     f"try:\n    {send}finally:\n    org.signature_key = keep; org.save()\n")
        else:
            code += send
        code += _MESSAGE_JSON + self._newest_code(partner)
        return self._last_json(self.shell(code), partner)

    @staticmethod
    def _newest_code(partner: str) -> str:
        return (f"m = Message.objects.filter(direction='OUT', partner_id={partner!r})"
                ".order_by('-timestamp', '-id').first()\n"
                "print(json.dumps(as_dict(m) if m else None))\n")

    @staticmethod
    def _last_json(out: str, partner: str) -> dict:
        rec = json.loads(out.strip().splitlines()[-1])
        if rec is None:
            raise AssertionError(f"the peer has no outbound message to {partner}")
        return rec

    def newest_outbound(self, partner: str) -> dict:
        """The peer's newest outbound message to ``partner``."""
        return self._last_json(self.shell(_MESSAGE_JSON + self._newest_code(partner)), partner)

    def message(self, message_id: str, direction: Optional[str] = None) -> Optional[dict]:
        code = _MESSAGE_JSON + (
            f"qs = Message.objects.filter(message_id={message_id!r})\n"
            + (f"qs = qs.filter(direction={direction!r})\n" if direction else "")
            + "m = qs.first()\nprint(json.dumps(as_dict(m) if m else None))\n")
        return json.loads(self.shell(code).strip().splitlines()[-1])

    def messages(self, message_ids: list[str]) -> dict:
        code = _MESSAGE_JSON + (
            f"print(json.dumps({{m.message_id: as_dict(m) for m in Message.objects.filter(message_id__in={list(message_ids)!r})}}))\n")
        return json.loads(self.shell(code).strip().splitlines()[-1])

    def send_pending_async_mdns(self) -> str:
        return self.manage("manageas2server", "--async-mdns")


@pytest.fixture(scope="session")
def pyas2_python() -> Path:
    """The python of django-pyas2's virtualenv (built once per machine), or the test is skipped
    saying why. Each module runs its own ``DjangoPyas2Peer`` with it: the peer's partners point
    at that module's endpoints (an in-process server, or a running gateway)."""
    try:
        return ensure_venv()
    except PeerUnavailable as e:
        pytest.skip(str(e))
