"""AS2 as an attacker and as other AS2 products would try it.

Each test here failed on the gateway before the layer-by-layer reader: a
compression bomb inflated before the security policy was looked at, error MDNs
posted to whatever URL a stranger named, deep MIME nesting ending in a
``RecursionError``, MDNs with capital letters in their boundary not recognised,
OAEP with SHA-2 not decrypted, ``micalg`` spelled ``sha256`` when ``sha-256`` was
asked. The second peer for the envelope is OpenSSL's own ``openssl cms``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import threading
import tracemalloc
import zlib
from types import SimpleNamespace
from wsgiref.util import setup_testing_defaults

import pytest
from asn1crypto import cms as asn1_cms

from gateway import certs
from gateway.transports.as2 import (As2Endpoint, As2Identity, As2Partner, As2SendError, OutgoingMdn,
                                    build, check_mdn, receive, send_async_mdn, wsgi_app)
from gateway.transports import mime
from gateway.transports.as2._mime import looks_like_mdn
from gateway.transports.safe_http import is_public
from gateway.transports.as2.mdn_writer import MdnRequest, write_mdn

US, THEM = "EDIGATE", "PARTNER"
MB = 1024 * 1024
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("as2-hardening")
    ours, theirs = certs.ensure_dev_keypair(d, "us"), certs.ensure_dev_keypair(d, "them")
    return SimpleNamespace(
        dir=d, ours=ours, theirs=theirs,
        us=As2Identity(US, "edigate.test", ours),
        them=As2Identity(THEM, "partner.test", theirs),                 # the partner, as a sender
        partner=As2Partner(THEM, [theirs.cert_pem]),                    # the partner, as we know it
        us_as_partner=As2Partner(US, [ours.cert_pem]),                  # us, as the partner knows us
    )


class Store:
    def __init__(self):
        self.items = {}

    def __call__(self, payload: bytes, meta: dict) -> None:
        self.items[meta["message_id"]] = (payload, meta)


def _receive(w, headers, body, *, partner=None, max_bytes=64 * MB, store=None):
    return receive(headers, body, identities={US: w.us}, partners={THEM: partner or w.partner},
                   is_duplicate=lambda mid: False, store=store or Store(), max_bytes=max_bytes)


def _as2_headers(content_type: str, **extra) -> dict:
    h = {"AS2-From": THEM, "AS2-To": US, "Message-ID": f"<{os.urandom(6).hex()}@partner.test>",
         "AS2-Version": "1.2", "MIME-Version": "1.0", "Content-Type": content_type,
         "Content-Transfer-Encoding": "binary", "Disposition-Notification-To": "as2@partner.test"}
    h.update(extra)
    return h


def _compressed_der(prefix: bytes, zeros: int) -> bytes:
    """CMS compressed data (RFC 3274) of ``prefix`` + ``zeros`` zero bytes, built in chunks."""
    z = zlib.compressobj(9)
    parts = [z.compress(prefix)]
    chunk = bytes(MB)
    for _ in range(zeros // MB):
        parts.append(z.compress(chunk))
    parts.append(z.flush())
    return asn1_cms.ContentInfo({
        "content_type": "compressed_data",
        "content": asn1_cms.CompressedData({
            "version": "v0",
            "compression_algorithm": {"algorithm": "zlib"},
            "encap_content_info": {"content_type": "data", "content": b"".join(parts)},
        }),
    }).dump()


COMPRESSED = "application/pkcs7-mime; smime-type=compressed-data; name=smime.p7z"
ENVELOPED = "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"
SIGNED_HEADER = (b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
                 b'micalg=sha-256; boundary="b"\r\n\r\n--b\r\nContent-Type: application/edi-x12\r\n\r\n')


def _peak(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- 1. decompression bombs


def test_unencrypted_compression_bomb_is_refused_before_anything_is_inflated(world):
    der = _compressed_der(b"Content-Type: application/edi-x12\r\n\r\n", 200 * MB)
    assert len(der) < 1 * MB
    r, peak = _peak(lambda: _receive(world, _as2_headers(COMPRESSED), der))
    assert r.status == "refused" and r.disposition == "processed/error: insufficient-message-security"
    assert "not encrypted" in r.error
    assert peak < 8 * MB, f"{peak / MB:.0f} MB for a {len(der) / 1024:.0f} KB message"


def test_bomb_inside_an_envelope_stops_at_the_size_limit(world):
    """Anyone can encrypt to our public certificate: what decrypts may still be a bomb."""
    der = _compressed_der(SIGNED_HEADER, 200 * MB)
    from gateway.transports.as2 import cms
    enveloped = cms.encrypt(b"Content-Type: " + COMPRESSED.encode() + b"\r\nContent-Transfer-Encoding: binary"
                            b"\r\n\r\n" + der, world.ours.cert_pem)
    r, peak = _peak(lambda: _receive(world, _as2_headers(ENVELOPED), enveloped, max_bytes=16 * MB))
    assert r.status == "refused" and r.disposition == "processed/error: decompression-failed"
    assert "over the limit of 16777216 bytes" in r.error
    assert peak < 3 * 16 * MB, f"{peak / MB:.0f} MB with a limit of 16 MB"


def test_compression_outside_a_signature_is_inflated_only_when_it_holds_one(world):
    """A partner that need not encrypt may compress after signing (RFC 5402): the compressed
    content is looked at first, and a body that is not a signed entity is refused uninflated."""
    partner = dataclasses.replace(world.partner, require_encrypted=False)
    plain = _compressed_der(b"Content-Type: application/edi-x12\r\n\r\n", 200 * MB)
    r, peak = _peak(lambda: _receive(world, _as2_headers(COMPRESSED), plain, partner=partner))
    assert r.status == "refused" and "not signed" in r.error and peak < 8 * MB
    looks_signed = _compressed_der(SIGNED_HEADER, 200 * MB)
    r, peak = _peak(lambda: _receive(world, _as2_headers(COMPRESSED), looks_signed, partner=partner,
                                     max_bytes=16 * MB))
    assert r.disposition == "processed/error: decompression-failed" and peak < 3 * 16 * MB


def test_a_real_compressed_message_still_arrives(world):
    for before in (True, False):
        partner = dataclasses.replace(world.us_as_partner, compress=True, compress_before_signing=before)
        out = build(b"UNA:+.? '" + b"x" * 300_000, "big.edi", "application/EDIFACT",
                    identity=world.them, partner=partner)
        store = Store()
        r = _receive(world, out.headers, out.body, store=store)
        assert r.status == "processed" and r.compressed and r.signed and r.encrypted, r.error
        assert store.items[r.message_id][0] == b"UNA:+.? '" + b"x" * 300_000
        assert r.mic == out.mic


# ---------------------------------------------------------------- 2. blind SSRF


class Listener:
    """An HTTP server on loopback that only counts what reaches it (an internal service)."""

    def __init__(self):
        self.hits = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def test_garbage_from_a_known_partner_never_gets_an_mdn_posted_to_its_url(world, listener):
    url = f"http://127.0.0.1:{listener.port}/internal"
    endpoint = As2Endpoint(identities={US: world.us}, partners={THEM: world.partner}, store=Store(),
                           is_duplicate=lambda mid: False, async_mdn_sender=lambda mdn: send_async_mdn(mdn))
    for body, ctype in ((b"garbage", "application/octet-stream"), (b"\x30\x80garbage", ENVELOPED)):
        r = endpoint.receive(_as2_headers(ctype, **{"Receipt-Delivery-Option": url}), body)
        endpoint.after_response(r)
        assert r.status == "refused" and r.http_status in (400, 403)
        assert r.pending_mdn is None and r.mdn is None
        assert b"processed/error" in r.response_body
    assert listener.hits == []


def test_a_signed_message_gets_its_async_mdn_only_at_an_address_its_profile_allows(world, listener):
    url = f"http://127.0.0.1:{listener.port}/mdn"
    out = build(b"data", "a.edi", "application/EDIFACT", identity=world.them, partner=world.us_as_partner)
    headers = dict(out.headers, **{"Receipt-Delivery-Option": url,
                                   "Disposition-Notification-Options":
                                       "signed-receipt-protocol=optional, pkcs7-signature; "
                                       "signed-receipt-micalg=optional, sha-256"})
    r = _receive(world, headers, out.body)                          # loopback, not allowed
    assert r.status == "processed" and r.pending_mdn is None
    assert r.mdn.mode == "sync" and looks_like_mdn(r.response_headers, r.response_body)
    allowed = dataclasses.replace(world.partner, mdn_url_private=True)
    r = _receive(world, headers, out.body, partner=allowed)
    assert r.pending_mdn is not None and r.pending_mdn.url == url
    assert send_async_mdn(r.pending_mdn) == 200 and listener.hits == ["/mdn"]
    same_host = dataclasses.replace(world.partner, url=f"http://127.0.0.1:{listener.port}/as2")
    assert _receive(world, headers, out.body, partner=same_host).pending_mdn is not None
    wrong_scheme = dataclasses.replace(world.partner, mdn_url_private=True, mdn_url_schemes=("https",))
    assert _receive(world, headers, out.body, partner=wrong_scheme).pending_mdn is None


def test_a_name_that_resolves_to_a_private_address_is_refused_when_connecting(listener):
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's own name does not resolve")
    if is_public(address):
        pytest.skip(f"{name} resolves to a public address here")
    mdn = OutgoingMdn("m@x", "o@x", {"Content-Type": "text/plain"}, b"x", "async",
                      url=f"http://{name}:{listener.port}/internal")
    with pytest.raises(As2SendError, match="not a public address") as e:
        send_async_mdn(mdn)
    assert not e.value.retryable and listener.hits == []


def test_a_registered_partner_url_is_posted_to_only_on_a_public_address(world, listener):
    """A counterparty that registered itself named its AS2 URL: ``public_url_only``."""
    from gateway.transports.as2 import send
    name = socket.gethostname()
    partner = dataclasses.replace(world.partner, public_url_only=True,
                                  url=f"http://127.0.0.1:{listener.port}/as2")
    out = build(b"x", "x.edi", "application/EDIFACT", identity=world.us, partner=partner)
    with pytest.raises(As2SendError, match="partner URL refused") as e:
        send(out)
    assert not e.value.retryable
    try:
        private = not is_public(socket.gethostbyname(name))
    except OSError:
        private = False
    if private:                                     # a name: refused when the socket connects
        with pytest.raises(As2SendError, match="not a public address"):
            send(out, url=f"http://{name}:{listener.port}/as2")
    assert listener.hits == []


# ---------------------------------------------------------------- 3. deep MIME nesting


def _nested(depth: int) -> tuple[str, bytes]:
    body = b"Content-Type: text/plain\r\n\r\nx"
    for i in range(depth):
        body = (f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n'.encode()
                + body + f"\r\n--n{i}--\r\n".encode())
    head, _, rest = body.partition(b"\r\n\r\n")
    return head.decode().split(": ", 1)[1], rest


def _call(app, headers: dict, body: bytes, path: str = "/as2"):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body))}
    setup_testing_defaults(environ)
    for k, v in headers.items():
        key = k.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = v
    status = []
    out = b"".join(app(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), out


def test_deeply_nested_mime_gets_a_clean_answer_on_both_doors(world):
    ctype, body = _nested(2_000)
    signed_type = 'multipart/signed; protocol="application/pkcs7-signature"; boundary="s"'
    signed = (b"--s\r\nContent-Type: " + ctype.encode() + b"\r\n\r\n" + body
              + b"\r\n--s\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n--s--\r\n")
    app = wsgi_app(As2Endpoint(identities={US: world.us}, partners={THEM: world.partner}, store=Store(),
                               is_duplicate=lambda mid: False, find_outbound=lambda mid: None),
                   mdn_path="/as2/mdn")
    plain = dataclasses.replace(world.partner, require_encrypted=False)
    r = _receive(world, _as2_headers(signed_type), signed, partner=plain)
    assert r.status == "refused" and r.disposition == "processed/error: authentication-failed"
    code, text = _call(app, _as2_headers(ctype), body)
    assert code in (200, 400, 403) and b"processed/error" in text
    # The same on the MDN door (public too): an "MDN" nested 2,000 deep.
    code, text = _call(app, {"Content-Type": ctype.replace("multipart/mixed", "multipart/report")}, body,
                       path="/as2/mdn")
    assert code == 400 and text


# ---------------------------------------------------------------- 4. boundaries keep their case


def _javamail_mdn(world, out) -> tuple[dict, bytes]:
    """A signed MDN as JavaMail-based AS2 products write it: ``----=_Part_12_345.678`` (capitals).
    The outer boundary is outside the signature, so renaming it keeps the MDN valid."""
    mdn = write_mdn(identity=world.them, request=MdnRequest(wanted=True, signed=True, digests=("sha256",)),
                    as2_from=US, as2_to=THEM, original_message_id=out.message_id, disposition="processed",
                    text="ok", mic=out.mic, mic_alg=out.mic_alg)
    old = mime.parse(mdn.raw).param("boundary")
    new = "----=_Part_12_345.ABCdef"
    headers = {k: v.replace(old, new) for k, v in mdn.headers.items()}
    return headers, mdn.body.replace(old.encode(), new.encode())


def test_an_mdn_boundary_with_capital_letters_is_recognised_sync_and_async(world):
    out = build(b"data", "a.edi", "application/EDIFACT", identity=world.us,
                partner=dataclasses.replace(world.partner, url="http://127.0.0.1:9/as2"))
    headers, body = _javamail_mdn(world, out)
    assert "Part_12_345.ABCdef" in headers["Content-Type"]
    assert looks_like_mdn(headers, body)
    result = check_mdn(headers, body, out)
    assert result.delivered and result.signature_valid and result.mic_matches, result.error
    seen = []
    app = wsgi_app(As2Endpoint(identities={US: world.us}, partners={THEM: world.partner}, store=Store(),
                               is_duplicate=lambda mid: False, find_outbound={out.message_id: out}.get,
                               on_mdn=seen.append, on_inbound=lambda r: seen.append(("inbound", r))))
    code, text = _call(app, headers, body)              # posted to the endpoint, not the MDN path
    assert code == 200 and text.startswith(b"MDN received: delivered")
    assert len(seen) == 1 and seen[0].delivered


# ---------------------------------------------------------------- 5. OAEP with SHA-2 (openssl cms)


def _openssl(*args, data: bytes = b"") -> bytes:
    r = subprocess.run([OPENSSL, *args], input=data, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_a_message_openssl_encrypted_with_oaep_is_opened(world, digest):
    signed = build(b"UNB+UNOC:3+X+Y'", "o.edi", "application/EDIFACT", identity=world.them,
                   partner=dataclasses.replace(world.us_as_partner, encrypt=False, compress=False))
    entity = b"".join(f"{k}: {v}\r\n".encode() for k, v in signed.headers.items()
                      if k.lower() in ("content-type", "content-transfer-encoding")) + b"\r\n" + signed.body
    enveloped = _openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-cbc",
                         "-recip", str(world.ours.cert_path), "-keyopt", "rsa_padding_mode:oaep",
                         "-keyopt", f"rsa_oaep_md:{digest}", "-keyopt", f"rsa_mgf1_md:{digest}", data=entity)
    headers = {k: v for k, v in signed.headers.items() if k.lower() not in ("content-type",)}
    headers["Content-Type"] = ENVELOPED
    headers["Content-Transfer-Encoding"] = "binary"
    store = Store()
    r = _receive(world, headers, enveloped, store=store)
    assert r.status == "processed" and r.encrypted and r.signed, r.error
    assert store.items[r.message_id][0] == b"UNB+UNOC:3+X+Y'"
    assert store.items[r.message_id][1]["key_transport"] == f"rsaes_oaep-{digest}"


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_what_we_encrypt_with_oaep_names_its_parameters_and_openssl_opens_it(world, digest):
    partner = dataclasses.replace(world.us_as_partner, key_encryption="rsaes_oaep", oaep_hash=digest,
                                  sign=False, compress=False)
    out = build(b"payload bytes\r\n", "p.txt", "text/plain", identity=world.them, partner=partner)
    der = out.body
    opened = _openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-inkey", str(world.ours.key_path),
                      "-recip", str(world.ours.cert_path), data=der)
    assert opened.endswith(b"payload bytes\r\n")
    dump = _openssl("asn1parse", "-inform", "DER", data=der).decode()
    assert "rsaesOaep" in dump
    if digest == "sha1":
        assert "OBJECT            :sha" not in dump.split("rsaesOaep")[1].split("OCTET STRING")[0]
    else:
        params = dump.split("rsaesOaep")[1].split("OCTET STRING")[0]
        assert params.count(f":{digest}") == 2 and ":mgf1" in params   # hash and MGF1 hash, explicit


# ---------------------------------------------------------------- 6. micalg spelling


def test_our_signed_mdn_spells_micalg_as_rfc_5751_and_keeps_the_partner_switch(world):
    options = ("signed-receipt-protocol=optional, pkcs7-signature; "
               "signed-receipt-micalg=optional, sha-384, sha-256")
    out = build(b"data", "a.edi", "application/EDIFACT", identity=world.them, partner=world.us_as_partner)
    headers = dict(out.headers, **{"Disposition-Notification-Options": options})
    r = _receive(world, headers, out.body)
    ctype = dict(r.response_headers)["Content-Type"]
    assert "micalg=sha-384" in ctype                    # the sender's first choice, its spelling
    assert f"Received-Content-MIC: {out.mic}, sha-256".encode() in r.response_body
    old_style = dataclasses.replace(world.partner, micalg_spelling="rfc3851")
    r = _receive(world, headers, out.body, partner=old_style)
    assert "micalg=sha384" in dict(r.response_headers)["Content-Type"]
    # and the MDN verifies, as the partner would check it
    assert check_mdn(r.response_headers, r.response_body,
                     dataclasses.replace(out, partner=world.us_as_partner)).signature_valid


# ---------------------------------------------------------------- memory of a real server


def _rss(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


def test_the_server_stays_small_for_a_body_that_decompresses_to_100_mb(tmp_path):
    """The issue's measure, on ``edigate serve`` itself: growth under 200 MB."""
    from tests.support.gateway_process import GatewayProcess, setup_records

    keys = certs.ensure_dev_keypair(tmp_path / "keys", "edigate")
    them = certs.ensure_dev_keypair(tmp_path / "keys", "them")
    server = GatewayProcess(tmp_path / "home")
    setup_records(server.gateway(), identity=US, our_key=keys.key_path,
                  partners=[dict(name="Them", as2_id=THEM, cert_pem=them.cert_pem)])
    server.start()
    try:
        import requests
        pid = server.proc.pid
        before = _rss(pid)
        from gateway.transports.as2 import cms
        bomb = _compressed_der(SIGNED_HEADER, 100 * 1000 * 1000)
        body = cms.encrypt(b"Content-Type: " + COMPRESSED.encode() + b"\r\n\r\n" + bomb, keys.cert_pem)
        r = requests.post(server.as2_url, data=body, headers=_as2_headers(ENVELOPED), timeout=120)
        assert r.status_code in (200, 400, 403) and b"processed/error" in r.content
        grown = _rss(pid, "VmHWM") - before
        assert grown < 200 * MB, f"the server grew by {grown / MB:.0f} MB"
        assert requests.get(server.as2_url, timeout=10).status_code == 200      # and it still answers
    finally:
        server.stop()


def test_digests_of_the_payload_are_unchanged(world):
    """The bytes that arrive are the bytes that were sent, whatever layers they crossed."""
    data = os.urandom(50_000)
    out = build(data, "b.bin", "application/octet-stream", identity=world.them, partner=world.us_as_partner)
    store = Store()
    r = _receive(world, out.headers, out.body, store=store)
    assert hashlib.sha256(store.items[r.message_id][0]).digest() == hashlib.sha256(data).digest()
