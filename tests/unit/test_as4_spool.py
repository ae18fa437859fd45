"""AS4 inbound off memory: the spooled body's MIME parts, the one-pass decryption and inflation.

``spool.part_ranges`` must find exactly the parts ``mime.split_multipart`` finds in the whole
body, whatever window it reads with (delimiters cut by a window's edge, CRLF or bare LF,
padding, preamble and epilogue, a missing close delimiter); the streaming decryption must judge
a message as the in-memory one did: a flipped bit of ciphertext is a tag mismatch (EBMS:0102)
even though the bytes it let through are not gzip, and a payload past the limit is refused.
"""
from __future__ import annotations

import gzip
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.transports import mime
from gateway.transports.as4 import As4Refusal, inflate, xenc
from gateway.transports.as4.inbound import Inflater
from gateway.transports.as4.message import unpack, unpack_spooled
from gateway.transports.as4.spool import MEMORY, Spooled, part_ranges

B = "----=_Part_x"


def _bodies() -> list[bytes]:
    soap = b"<S12:Envelope xmlns:S12='http://www.w3.org/2003/05/soap-envelope'/>"
    att = (b"not at the start of a line--" + B.encode() + b"\r\n" + os.urandom(3000)
           + b"\r\n--" + B.encode() + b"x not a delimiter\r\n" + os.urandom(500))
    crlf = (f"--{B}\r\nContent-Type: application/soap+xml\r\n\r\n".encode() + soap
            + f"\r\n--{B}\r\nContent-ID: <a@x>\r\n\r\n".encode() + att + f"\r\n--{B}--\r\n".encode())
    return [
        crlf,
        b"preamble text\r\n" + crlf + b"epilogue\r\n--" + B.encode() + b"\r\nignored",
        crlf.replace(b"\r\n", b"\n"),
        crlf.replace(f"--{B}\r\nContent-ID".encode(), f"--{B} \t \r\nContent-ID".encode()),
        crlf[:-len(f"\r\n--{B}--\r\n")],                       # no close delimiter
        crlf.replace(b"\r\n--" + B.encode() + b"x", b"--" + B.encode() + b"x"),
        b"no boundary here at all",
    ]


def test_part_ranges_agree_with_the_whole_body_splitter():
    for body in _bodies():
        try:
            want = [bytes(p) for p in mime.split_multipart(body, B, 8)]
        except mime.MimeError:
            want = None
        spooled = Spooled.of(body)
        at_delimiters = [i for i in range(1, len(body)) if body.startswith(b"--" + B.encode(), i)]
        for window in [5, 17, 64, 1000, 1 << 20] + at_delimiters:     # a window starting on each
            try:
                got = [spooled.read(a, b) for a, b in part_ranges(spooled, B, 8, window=window)]
            except ValueError:
                got = None
            assert got == want, window


def test_too_many_parts_refused():
    body = b"".join(f"--{B}\r\nContent-ID: <{i}>\r\n\r\nx\r\n".encode() for i in range(20)) + f"--{B}--".encode()
    with pytest.raises(ValueError, match="more than 8 parts"):
        part_ranges(Spooled.of(body), B, 8, window=32)


def test_unpack_spooled_reads_what_unpack_reads_from_a_file():
    from gateway.transports.as4.message import package
    soap = b"<S12:Envelope xmlns:S12='http://www.w3.org/2003/05/soap-envelope'/>"
    data = os.urandom(MEMORY + 12345)
    ctype, body = package(soap, {"payload@x": data})
    spooled = Spooled()
    for i in range(0, len(body), 100_000):
        spooled.write(body[i:i + 100_000])
    assert spooled._f._rolled                      # past MEMORY: a temporary file, not memory
    soap2, atts = unpack_spooled(ctype, spooled)
    soap1, ref = unpack(ctype, body)
    assert soap2 == soap1 == soap
    assert atts["payload@x"].read() == bytes(ref["payload@x"]) == data
    spooled.close()


def _encrypted(plain: bytes, key: bytes) -> bytes:
    iv = os.urandom(12)
    return iv + AESGCM(key).encrypt(iv, plain, None)


def _open(blob: bytes, key: bytes, limit: int) -> bytes:
    out = []
    inflater = Inflater(limit, out.append)
    s = Spooled.of(blob)
    xenc.decrypt_stream(key, s.read_at, s.size, inflater.feed, step=1000)
    inflater.finish()
    return b"".join(out)


def test_streaming_decryption_and_inflation():
    key = AESGCM.generate_key(bit_length=128)
    plain = os.urandom(20_000) * 5
    assert _open(_encrypted(gzip.compress(plain), key), key, len(plain)) == plain
    with pytest.raises(As4Refusal) as e:
        _open(_encrypted(gzip.compress(plain), key), key, len(plain) - 1)
    assert e.value.code == "EBMS:0303" and "limit" in e.value.detail
    tampered = bytearray(_encrypted(gzip.compress(plain), key))
    tampered[40] ^= 1                               # the inflater sees garbage first; the tag is the verdict
    with pytest.raises(As4Refusal) as e:
        _open(bytes(tampered), key, len(plain))
    assert e.value.code == "EBMS:0102"
    with pytest.raises(As4Refusal) as e:
        _open(_encrypted(b"not gzip at all", key), key, 1000)
    assert e.value.code == "EBMS:0303"
    with pytest.raises(As4Refusal) as e:
        _open(_encrypted(gzip.compress(plain)[:-20], key), key, len(plain))
    assert e.value.code == "EBMS:0303" and "truncated" in e.value.detail
    assert inflate(gzip.compress(plain), len(plain)) == plain
