"""A large AS2 message into a running ``edigate serve``: received, stored before the MDN, in bounded memory.

The message (256 MB by default; ``EDIGATE_AS2_LARGE_MB=1024`` for the gigabyte run)
is written by OpenSSL's own CMS tools, the second peer here: the payload streamed
from a generator to a file, signed (``openssl cms -sign``, detached, SHA-256), the
multipart/signed entity encrypted (``openssl cms -encrypt -stream``: BER of
indefinite length, content in chunks), then posted from the file. The bound is on
the receiving process's peak resident memory (``VmHWM`` of ``/proc/<pid>/status``),
not on time. Job workers are processes of their own, so the figure is the
receiving side's; the server is stopped once the MDN is checked.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from types import SimpleNamespace

import pytest
import requests

from gateway import certs
from gateway.transports.as2 import As2Partner, check_mdn
from gateway.transports.as2.outbound import OutboundMessage
from tests.support.gateway_process import GatewayProcess, setup_records

OPENSSL = shutil.which("openssl")
SIZE_MB = int(os.environ.get("EDIGATE_AS2_LARGE_MB", "256"))
RSS_BOUND_MB = 300

# Tens of seconds on a loaded machine (the message is written, signed and encrypted first): the long run.
pytestmark = [pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed"), pytest.mark.slow]


def _vm_hwm_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _payload_chunks(size: int):
    """An EDIFACT-like interchange of ``size`` bytes, made a megabyte at a time."""
    line = b"LIN+%07d++4012345678901:SRV'QTY+47:10'PRI+AAA:12.50'MOA+203:125.00'\r\n"
    block = b"".join(line % i for i in range(13000))[: 1 << 20]
    left = size
    while left > 0:
        yield block[:left]
        left -= len(block[:left])


def _openssl(*args):
    subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=300)


def test_a_large_message_is_received_in_bounded_memory(tmp_path):
    keys = SimpleNamespace(client=certs.ensure_dev_keypair(tmp_path / "keys", "sender"),
                           gw=certs.ensure_dev_keypair(tmp_path / "keys", "gw"))
    size = SIZE_MB * 1024 * 1024
    # The signed entity: MIME headers, then the payload.
    part = tmp_path / "part.mime"
    digest = hashlib.sha256()
    with open(part, "wb") as f:
        f.write(b"Content-Type: application/edifact\r\nContent-Transfer-Encoding: binary\r\n"
                b"Content-Disposition: attachment; filename=big.edi\r\n\r\n")
        for chunk in _payload_chunks(size):
            digest.update(chunk)
            f.write(chunk)
    payload_sha256 = digest.hexdigest()
    sig = tmp_path / "sig.der"
    _openssl("cms", "-sign", "-binary", "-in", str(part), "-signer", str(keys.client.cert_path),
             "-inkey", str(keys.client.key_path), "-md", "sha256", "-outform", "DER", "-out", str(sig))
    mic = hashlib.sha256()
    with open(part, "rb") as f:
        while chunk := f.read(1 << 20):
            mic.update(chunk)
    boundary = "----=_openssl_large_test"
    signed = tmp_path / "signed.mime"
    with open(signed, "wb") as out:
        out.write(f'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
                  f'boundary="{boundary}"\r\n\r\n--{boundary}\r\n'.encode())
        with open(part, "rb") as f:
            shutil.copyfileobj(f, out, 1 << 20)
        out.write(f"\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
                  "Content-Transfer-Encoding: base64\r\n\r\n".encode())
        out.write(base64.encodebytes(sig.read_bytes()).replace(b"\n", b"\r\n"))
        out.write(f"\r\n--{boundary}--\r\n".encode())
    part.unlink()
    body = tmp_path / "body.der"
    _openssl("cms", "-encrypt", "-binary", "-stream", "-aes256", "-in", str(signed), "-outform", "DER",
             "-out", str(body), str(keys.gw.cert_path))
    signed.unlink()

    server = GatewayProcess(tmp_path / "gateway", extra_env={
        "EDIGATE_MAX_INBOUND_SIZE": str(size + 64 * 1024 * 1024)})
    gw = server.gateway()
    setup_records(gw, identity="LARGEGW", our_key=keys.gw.key_path, partners=[
        dict(name="Large sender", as2_id="SENDER", cert_pem=keys.client.cert_pem)])
    gw.close()
    message_id = "large-1@sender.test"
    headers = {"AS2-Version": "1.2", "AS2-From": "SENDER", "AS2-To": "LARGEGW",
               "Message-ID": f"<{message_id}>", "Subject": "large",
               "Content-Type": 'application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m',
               "Disposition-Notification-To": "as2@sender.test",
               "Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; "
                                                   "signed-receipt-micalg=optional, sha-256"}
    server.start()
    try:
        before = _vm_hwm_kb(server.proc.pid)
        with open(body, "rb") as f:
            resp = requests.post(server.as2_url, data=f, headers=headers, timeout=(5, 600))
        peak_mb = _vm_hwm_kb(server.proc.pid) / 1024
        print(f"edigate serve peak RSS: {before / 1024:.0f} MB before, {peak_mb:.0f} MB after a {SIZE_MB} MB message")
    finally:
        server.stop()
    assert resp.status_code == 200, resp.text[:500]
    outbound = OutboundMessage(message_id=message_id, headers=headers, body=b"",
                               mic=base64.b64encode(mic.digest()).decode(), mic_alg="sha256",
                               partner=As2Partner("LARGEGW", [keys.gw.cert_pem]))
    result = check_mdn(resp.headers, resp.content, outbound)
    assert result.delivered and result.mic_matches, result.error
    assert str(result.disposition) == "processed"
    gw = server.gateway()
    try:
        from gateway.db import Exchange
        with gw.session() as s:
            ex = s.query(Exchange).filter_by(message_id=message_id).one()
            assert ex.content_sha256 == payload_sha256 and ex.content_size == size
            assert ex.mdn_at is not None
            assert gw.payloads.size(ex.payload_key) == ex.payload_size
        assert os.stat(gw.payloads.path(payload_sha256)).st_size == size
        assert not [p for p in gw.payloads.tmp.iterdir()], "temporary files left behind"
    finally:
        gw.close()
    assert peak_mb < RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MB (before the message: {before / 1024:.0f} MB)"
