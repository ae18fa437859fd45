"""A time-stamping authority of the tests' own: ``openssl ts -reply`` behind a tiny HTTP
server on loopback (RFC 3161 over HTTP: POST application/timestamp-query, answer
application/timestamp-reply), signing with a TSA certificate issued by a test CA made here.

It is a real RFC 3161 implementation (OpenSSL's), not a mock; only the PKI is a test one: a
root CA and, under it, the TSA's certificate with the critical timeStamping extended key usage.
"""
from __future__ import annotations

import subprocess
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_QUERY = 64 * 1024
POLICY = "1.3.6.1.4.1.55555.1.1"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edigate tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, tsa: bool) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if tsa:
        b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True))
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


class LocalTsa:
    """``openssl ts -reply`` on ``url``; ``ca_pem``: the test CA (the trust anchor to configure);
    ``other_ca_pem``: a CA that did not issue the TSA's certificate (for refusals)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _cert("edigate test CA", ca_key, _name("edigate test CA"), ca_key, ca=True, tsa=False)
        tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tsa = _cert("edigate test TSA", tsa_key, ca.subject, ca_key, ca=False, tsa=True)
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other = _cert("another CA", other_key, _name("another CA"), other_key, ca=True, tsa=False)
        pem = serialization.Encoding.PEM
        self.ca_pem = _pem(self.folder / "ca.pem", ca.public_bytes(pem))
        self.other_ca_pem = _pem(self.folder / "other-ca.pem", other.public_bytes(pem))
        self.tsa_pem = _pem(self.folder / "tsa.pem", tsa.public_bytes(pem))
        _pem(self.folder / "tsa.key", tsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                            serialization.NoEncryption()))
        (self.folder / "serial").write_text("01\n")
        self.config = self.folder / "tsa.cnf"
        self.config.write_text(f"""
[ tsa ]
default_tsa = test_tsa
[ test_tsa ]
dir = {self.folder}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {POLICY}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""")
        self.requests = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, query: bytes) -> bytes:
        with self._lock, tempfile.TemporaryDirectory(dir=self.folder) as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            subprocess.run(["openssl", "ts", "-reply", "-config", str(self.config), "-queryfile", str(q),
                            "-out", str(r)], check=True, capture_output=True, timeout=30)
            self.requests += 1
            return r.read_bytes()

    def _handler(self):
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):            # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Content-Type") != "application/timestamp-query" or not 0 < length <= MAX_QUERY:
                    self.send_error(400)
                    return
                try:
                    body = tsa.reply(self.rfile.read(length))
                except subprocess.CalledProcessError:
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self) -> "LocalTsa":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
