"""The CMS layers of an AS2 message read from a file, a chunk at a time (RFC 5652, 3274).

``cms`` opens a layer held in memory; a message of a gigabyte is spooled to disk,
so here the BER structure is walked from the file: the small parts (recipient
infos, algorithm identifiers) are read whole and handed to asn1crypto, the
large one (the encrypted or compressed content: one OCTET STRING, or a
constructed one of many chunks, definite or indefinite length, as ``openssl cms
-stream`` writes it) is read as a stream of chunks. Decryption (the same keys,
key transports and ciphers as ``cms.decrypt``, every failure the same words)
and inflation (hard cap) write their output to a new file.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Iterator, Optional, Sequence

from asn1crypto import algos, cms as asn1cms

from . import cms
from .files import CHUNK, FileRange, Scratch

_SMALL = 1 << 20               # recipient infos, algorithm identifiers: never this large
_MAX_DEPTH = 8                 # nesting of constructed OCTET STRINGs


class _Reader:
    """BER headers and values read from a file span."""

    def __init__(self, f: BinaryIO, end: int):
        self.f, self.end = f, end

    def pos(self) -> int:
        return self.f.tell()

    def _byte(self) -> int:
        b = self.f.read(1)
        if not b or self.f.tell() > self.end:
            raise cms.CmsError("truncated CMS structure")
        return b[0]

    def header(self) -> tuple[int, int, bool, Optional[int], bytes]:
        """(class and form byte, tag number, constructed, length or None if indefinite, header bytes)."""
        start = self.pos()
        first = self._byte()
        number = first & 0x1F
        if number == 0x1F:
            number = 0
            for _ in range(4):
                b = self._byte()
                number = (number << 7) | (b & 0x7F)
                if not b & 0x80:
                    break
            else:
                raise cms.CmsError("CMS tag number too long")
        b = self._byte()
        if b == 0x80:
            length = None
        elif b & 0x80:
            n = b & 0x7F
            if n > 8:
                raise cms.CmsError("CMS length too long")
            length = 0
            for _ in range(n):
                length = (length << 8) | self._byte()
        else:
            length = b
        constructed = bool(first & 0x20)
        if length is None and not constructed:
            raise cms.CmsError("indefinite length on a primitive CMS value")
        if length is not None and self.pos() + length > self.end:
            raise cms.CmsError("CMS value longer than the message")
        after = self.pos()
        self.f.seek(start)
        raw_head = self.f.read(after - start)
        return first, number, constructed, length, raw_head

    def element(self, limit: int = _SMALL) -> bytes:
        """One whole definite-length element (header and value), at most ``limit`` bytes."""
        first, _num, _c, length, head = self.header()
        if length is None:
            raise cms.CmsError("indefinite length where a small CMS value is expected")
        if length > limit:
            raise cms.CmsError("CMS value over its size limit")
        return head + self.f.read(length)

    def expect(self, first: int, what: str) -> Optional[int]:
        got, _num, _c, length, _h = self.header()
        if got != first:
            raise cms.CmsError(f"unexpected CMS structure where {what} should be")
        return length

    def end_of_contents(self) -> None:
        if self.f.read(2) != b"\x00\x00":
            raise cms.CmsError("CMS end-of-contents missing")

    def octets(self, first: int, depth: int = 0) -> Iterator[bytes]:
        """The content of an OCTET STRING whose header byte is ``first`` (primitive, or constructed
        of chunks: definite or indefinite), a chunk at a time."""
        got, _num, constructed, length, _h = self.header()
        if got & 0xDF != first & 0xDF:
            raise cms.CmsError("unexpected CMS structure where the content should be")
        if not constructed:
            left = length
            while left:
                chunk = self.f.read(min(CHUNK, left))
                if not chunk:
                    raise cms.CmsError("truncated CMS content")
                left -= len(chunk)
                yield chunk
            return
        if depth >= _MAX_DEPTH:
            raise cms.CmsError("CMS content nested too deep")
        stop = None if length is None else self.pos() + length
        while True:
            if stop is not None and self.pos() >= stop:
                return
            if stop is None:
                peek = self.f.read(2)
                if peek == b"\x00\x00":
                    return
                self.f.seek(-len(peek), 1)
            yield from self.octets(0x04, depth + 1)


def _open(rng: FileRange, kind_oid: str, modifier: str) -> tuple[BinaryIO, _Reader, Optional[int]]:
    f = open(rng.path, "rb")
    try:
        f.seek(rng.start)
        r = _Reader(f, rng.end)
        r.expect(0x30, "ContentInfo")
        oid = asn1cms.ContentType.load(r.element(64)).dotted
        if oid != kind_oid:
            raise cms.CmsError(f"not CMS {kind_oid}", modifier)
        r.expect(0xA0, "the content")
        length = r.expect(0x30, "the content")
        return f, r, length
    except cms.CmsError as e:
        f.close()
        raise cms.CmsError(str(e), modifier) from None
    except Exception as e:
        f.close()
        raise cms.CmsError(f"unreadable CMS structure: {type(e).__name__}: {e}", modifier) from None


def kind(rng: FileRange) -> str:
    """``enveloped_data``, ``compressed_data``… from the DER at the start of the span."""
    with open(rng.path, "rb") as f:
        f.seek(rng.start)
        r = _Reader(f, rng.end)
        try:
            r.expect(0x30, "ContentInfo")
            return asn1cms.ContentType.load(r.element(64)).native
        except cms.CmsError:
            raise
        except Exception as e:
            raise cms.CmsError(f"not a CMS structure: {type(e).__name__}: {e}") from None


_ENVELOPED = "1.2.840.113549.1.7.3"
_COMPRESSED = "1.2.840.113549.1.9.16.1.9"


class _Envelope:
    """The head of an enveloped-data structure read, the reader left at its encrypted content."""

    def __init__(self, rng: FileRange):
        self.rng = rng
        f, r, _ = _open(rng, _ENVELOPED, "decryption-failed")
        try:
            r.element(64)                                        # version
            first = f.read(1)
            f.seek(-1, 1)
            if first == b"\xa0":                                 # originatorInfo: skipped
                r.element()
            infos = asn1cms.RecipientInfos.load(r.element())
            r.expect(0x30, "EncryptedContentInfo")
            r.element(64)                                        # content type
            self.algorithm = algos.EncryptionAlgorithm.load(r.element(4096))
            self.content_at = r.pos()
            self.infos = [ri.chosen for ri in infos if ri.name == "ktri"]
        except cms.CmsError as e:
            raise cms.CmsError(str(e), "decryption-failed") from None
        except Exception as e:
            raise cms.CmsError(f"unreadable CMS enveloped data: {type(e).__name__}: {e}",
                               "decryption-failed") from None
        finally:
            f.close()

    def content(self) -> Iterator[bytes]:
        with open(self.rng.path, "rb") as f:
            f.seek(self.content_at)
            yield from _Reader(f, self.rng.end).octets(0x80)


def encryption_algorithm(rng: FileRange) -> str:
    """``cms.encryption_algorithm`` for an enveloped-data structure in a file."""
    name = _Envelope(rng).algorithm["algorithm"].native
    return cms.CIPHER_NAMES.get(name, name)


def decrypt(rng: FileRange, keys: Sequence, scratch: Scratch) -> tuple[FileRange, int, str, str]:
    """``cms.decrypt`` for a structure in a file: the content decrypted into a new file.
    Returns (its span, key index, cipher, key transport)."""
    env = _Envelope(rng)
    failure = cms.CmsError("the message could not be decrypted with our key(s)", "decryption-failed")
    if not env.infos:
        raise cms.CmsError("no key transport recipient (RSA) in the enveloped data", "decryption-failed")
    pairs = sorted(((not cms._rid_matches(ri, kp.certificate), ki, ri)
                    for ki, kp in enumerate(keys) for ri in env.infos), key=lambda t: t[0])
    for _, ki, ri in pairs[:32]:
        try:
            key, transport = cms._unwrap_key(ri, keys[ki].private_key())
            decryptor, unpadder, name = cms.content_decryptor(env.algorithm, key)
        except cms.CmsError as e:
            if "not supported" in str(e):
                raise
            continue
        except Exception:
            continue
        path, out = scratch.new()
        size = 0
        try:
            with out:
                for chunk in env.content():
                    data = decryptor.update(chunk)
                    if unpadder is not None:
                        data = unpadder.update(data)
                    out.write(data)
                    size += len(data)
                data = decryptor.finalize()
                if unpadder is not None:
                    data = unpadder.update(data) + unpadder.finalize()
                out.write(data)
                size += len(data)
        except cms.CmsError:
            raise
        except Exception:
            continue                                 # wrong key: bad padding at the end
        return FileRange(path, 0, size), ki, name, transport
    raise failure


def decompress(rng: FileRange, limit: int, scratch: Scratch, *, head_only: int = 0) -> FileRange:
    """``cms.decompress`` for a structure in a file: inflated into a new file, at most ``limit``
    bytes (``cms.TooLarge`` past it). ``head_only``: only that many bytes, for a look."""
    f, r, _ = _open(rng, _COMPRESSED, "decompression-failed")
    path, out = scratch.new()
    try:
        r.element(64)                                                  # version
        alg = asn1cms.CompressionAlgorithm.load(r.element(4096))["algorithm"].native
        if alg != "zlib":
            raise cms.CmsError(f"compression {alg} is not supported", "decompression-failed")
        r.expect(0x30, "EncapsulatedContentInfo")
        r.element(64)                                                  # content type
        r.expect(0xA0, "the compressed content")
        inflater, size = zlib.decompressobj(), 0
        cap = head_only or limit
        with out:
            for chunk in r.octets(0x04):
                pending = chunk
                while pending and not inflater.eof:
                    data = inflater.decompress(pending, min(CHUNK, cap + 1 - size))
                    pending = inflater.unconsumed_tail
                    if size + len(data) > cap:
                        if head_only:
                            out.write(data[:cap - size])
                            return FileRange(path, 0, cap)
                        raise cms.TooLarge(limit)
                    out.write(data)
                    size += len(data)
                    if not data and not pending:
                        break
                if inflater.eof:
                    break
        if not inflater.eof and not head_only:
            raise cms.CmsError("decompression failed: the compressed stream is truncated", "decompression-failed")
        return FileRange(path, 0, size)
    except zlib.error as e:
        raise cms.CmsError(f"decompression failed: {e}", "decompression-failed") from None
    except cms.CmsError:
        raise
    except Exception as e:
        raise cms.CmsError(f"unreadable compressed data: {type(e).__name__}: {e}", "decompression-failed") from None
    finally:
        f.close()
