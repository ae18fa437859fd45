"""The two ways in for an AS2 message give the same answer: read in memory, or spooled to disk.

A body over the endpoint's ``spool_over`` is written to a file as it arrives and
opened layer by layer from files (``files``, ``cms_stream``); a smaller one is
read in memory. Each message here goes through both (``spool_over`` huge, then
tiny) and must give the same status, disposition, payload bytes, MIC, digest and
flags, with no temporary file left. The messages are our own builder's in every
layer order and encoding, and OpenSSL's (``openssl cms -sign`` detached, and
``openssl cms -encrypt -stream``: BER of indefinite length, content in chunks),
the second peer; and refusals: a tampered payload, a key we do not have.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import certs
from gateway.transports.as2 import As2Endpoint, As2Identity, As2Partner, build, check_mdn, wsgi_app

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("as2-spool")
    spool = d / "spool"
    spool.mkdir()
    them, us = certs.ensure_dev_keypair(d, "them"), certs.ensure_dev_keypair(d, "us")
    return SimpleNamespace(dir=d, spool=spool, them_keys=them, us_keys=us,
                           them=As2Identity("THEM", "them.test", them), us=As2Identity("US", "us.test", us),
                           other=certs.ensure_dev_keypair(d, "other"))


def _environ(headers: dict, body: bytes) -> dict:
    env = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    for k, v in headers.items():
        key = k.upper().replace("-", "_")
        env["CONTENT_TYPE" if key == "CONTENT_TYPE" else "HTTP_" + key] = v
    return env


def _receive(world, headers: dict, body: bytes, spool_over: int, **policy) -> SimpleNamespace:
    kept = {}

    def store(payload, meta):
        kept["payload"] = Path(payload).read_bytes() if isinstance(payload, os.PathLike) else bytes(payload)
        kept["raw"] = (Path(meta["raw_message"]).read_bytes() if isinstance(meta["raw_message"], os.PathLike)
                       else bytes(meta["raw_message"]))
        kept["meta"] = {k: meta[k] for k in ("mic", "mic_alg", "signed", "encrypted", "compressed", "size",
                                              "sha256", "filename", "content_type", "encryption")}
    results = []
    endpoint = As2Endpoint(identities=[world.us], partners=[As2Partner("THEM", [world.them_keys.cert_pem], **policy)],
                           store=store, is_duplicate=lambda _m: False, on_inbound=results.append,
                           async_mdn_sender=lambda _m: None, spool_dir=world.spool, spool_over=spool_over)
    status = {}
    answer = b"".join(wsgi_app(endpoint)(_environ(headers, body), lambda s, h: status.update(s=s, h=h)))
    r = results[0]
    return SimpleNamespace(http=status["s"], headers=dict(status["h"]), body=answer, status=r.status,
                           disposition=r.disposition, error=r.error, kept=kept)


def _both(world, headers, body, **policy):
    small = _receive(world, headers, body, spool_over=1 << 30, **policy)
    large = _receive(world, headers, body, spool_over=64, **policy)
    assert not list(world.spool.iterdir()), "temporary files left behind"
    for name in ("http", "status", "disposition", "kept"):
        assert getattr(small, name) == getattr(large, name), name
    return large


PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+SENDER+US+260101:1200+1'" + b"LIN+1++4012345678901:SRV'QTY+47:10'\r\n" * 4000


@pytest.mark.parametrize("options", [
    {},
    {"compress_before_signing": False},
    {"compress": False},
    {"content_transfer_encoding": "base64"},
    {"encrypt": False},
    {"sign": False},
    {"key_encryption": "rsaes_oaep", "signature_scheme": "rsassa_pss"},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_our_messages_give_the_same_results_both_ways(world, options):
    out = build(PAYLOAD, "big.edi", "application/edifact", identity=world.them,
                partner=As2Partner("US", [world.us_keys.cert_pem], url="http://unused.invalid/as2", **options))
    policy = {"require_encrypted": options.get("encrypt", True), "require_signed": options.get("sign", True)}
    r = _both(world, out.headers, out.body, **policy)
    assert r.status == "processed" and r.kept["payload"] == PAYLOAD
    mdn = check_mdn(r.headers, r.body, out)
    assert mdn.delivered and (mdn.mic_matches or not options.get("sign", True)), mdn.error


def test_a_tampered_message_is_refused_the_same_both_ways(world):
    out = build(PAYLOAD, "big.edi", "application/edifact", identity=world.them,
                partner=As2Partner("US", [world.us_keys.cert_pem], url="http://unused.invalid/as2",
                                   encrypt=False, compress=False))
    body = out.body.replace(b"LIN+1++", b"LIN+2++", 1)
    r = _both(world, out.headers, body, require_encrypted=False)
    assert r.status == "refused" and r.disposition == "processed/error: authentication-failed"


def test_a_message_for_a_key_we_do_not_have_is_refused_the_same_both_ways(world):
    out = build(PAYLOAD, "big.edi", "application/edifact", identity=world.them,
                partner=As2Partner("US", [world.other.cert_pem], url="http://unused.invalid/as2"))
    r = _both(world, out.headers, out.body)
    assert r.status == "refused" and r.disposition == "processed/error: decryption-failed"


@pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
@pytest.mark.parametrize("stream", [True, False], ids=["indefinite-BER", "DER"])
def test_messages_written_by_openssl_give_the_same_results_both_ways(world, tmp_path, stream):
    part = (b"Content-Type: application/edifact\r\nContent-Disposition: attachment; filename=o.edi\r\n\r\n"
            + PAYLOAD)
    (tmp_path / "part").write_bytes(part)
    subprocess.run([OPENSSL, "cms", "-sign", "-binary", "-in", str(tmp_path / "part"), "-md", "sha256",
                    "-signer", str(world.them_keys.cert_path), "-inkey", str(world.them_keys.key_path),
                    "-outform", "DER", "-out", str(tmp_path / "sig")], check=True, capture_output=True)
    b = "openssl-boundary"
    signed = (f'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
              f'boundary="{b}"\r\n\r\n--{b}\r\n').encode() + part + (
        f"\r\n--{b}\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes((tmp_path / "sig").read_bytes()) + f"\r\n--{b}--\r\n".encode()
    (tmp_path / "signed").write_bytes(signed)
    subprocess.run([OPENSSL, "cms", "-encrypt", "-binary", "-aes256", *(["-stream"] if stream else []),
                    "-in", str(tmp_path / "signed"), "-outform", "DER", "-out", str(tmp_path / "enc"),
                    str(world.us_keys.cert_path)], check=True, capture_output=True)
    headers = {"AS2-Version": "1.2", "AS2-From": "THEM", "AS2-To": "US", "Message-ID": "<o-1@them.test>",
               "Content-Type": "application/pkcs7-mime; smime-type=enveloped-data",
               "Disposition-Notification-To": "x@them.test",
               "Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; "
                                                   "signed-receipt-micalg=optional, sha-256"}
    r = _both(world, headers, (tmp_path / "enc").read_bytes())
    assert r.status == "processed" and r.kept["payload"] == PAYLOAD
    assert r.kept["meta"]["filename"] == "o.edi"
    assert r.kept["meta"]["mic"] == base64.b64encode(hashlib.sha256(part).digest()).decode()
