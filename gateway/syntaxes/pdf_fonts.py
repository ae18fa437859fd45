"""The fonts of the drawn invoice: DejaVu metrics read once per process, a subset per document.

A PDF/A file embeds every font it uses. A face (``face("sans", bold=True)``)
is read once with fontTools (its cmap and advance widths, ~50 ms) and kept;
text is then measured by dictionary look-ups. ``subset(face, gids)`` cuts the
TrueType program down to the glyphs one document uses (composite glyphs'
components followed), numbered afresh from 1 in the order given: plain byte
work on the ``glyf``/``loca``/``hmtx`` tables, well under a millisecond,
where a fontTools subset costs 150-350 ms. The fonts are Debian's
``fonts-dejavu-core`` (packaging/debian-packages.txt), the ones the HTML
template names.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import threading
from array import array
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

__all__ = ["Face", "face", "subset", "FONT_DIRS", "FILES"]

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
FILES = {("sans", False): "DejaVuSans.ttf", ("sans", True): "DejaVuSans-Bold.ttf",
         ("mono", False): "DejaVuSansMono.ttf", ("mono", True): "DejaVuSansMono-Bold.ttf"}
FAMILY = {"sans": "DejaVu Sans", "mono": "DejaVu Sans Mono"}

# tables a TrueType program embedded in a PDF needs (ISO 32000-1, 9.9), and OS/2 for its metrics
KEEP_TABLES = (b"OS/2", b"cvt ", b"fpgm", b"glyf", b"head", b"hhea", b"hmtx", b"loca", b"maxp", b"prep")


@dataclass(eq=False)
class Face:
    """One TrueType face: its program, metrics in 1/1000 em, and a char -> (glyph, width) cache."""
    key: tuple[str, bool]
    path: Path
    data: bytes = field(repr=False)
    postscript_name: str
    cmap: dict[int, int] = field(repr=False)
    widths: list[int] = field(repr=False)          # advance width per glyph id, 1/1000 em
    ascent: int
    descent: int                                    # negative
    cap_height: int
    bbox: tuple[int, int, int, int]
    italic_angle: float = 0.0
    _chars: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    def glyph(self, ch: str) -> tuple[int, int]:
        """(glyph id, advance in 1/1000 em) of one character; .notdef (0) for what the face lacks."""
        got = self._chars.get(ch)
        if got is None:
            gid = self.cmap.get(ord(ch), 0)
            got = self._chars[ch] = (gid, self.widths[gid] if gid < len(self.widths) else 0)
        return got

    def width(self, text: str, size: float, letter_spacing: float = 0.0) -> float:
        """The advance of ``text`` at ``size`` points (``letter_spacing`` after every character)."""
        chars = self._chars
        total = 0
        for ch in text:
            got = chars.get(ch)
            total += (got if got is not None else self.glyph(ch))[1]
        return total * size / 1000.0 + letter_spacing * len(text)


def _find(name: str) -> Path:
    for d in FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return p
    if shutil.which("fc-match"):          # a distribution that puts the fonts elsewhere
        out = subprocess.run(["fc-match", "-f", "%{file}", name.rsplit(".", 1)[0]], capture_output=True,
                             text=True, timeout=10)
        p = Path(out.stdout.strip())
        if p.name == name and p.is_file():
            return p
    raise RuntimeError(f"the font {name} is not installed: apt-get install fonts-dejavu-core "
                       "(packaging/debian-packages.txt)")


_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _load(family: str, bold: bool) -> Face:
    from fontTools.ttLib import TTFont
    path = _find(FILES[(family, bold)])
    data = path.read_bytes()
    import io
    tt = TTFont(io.BytesIO(data), lazy=True)
    upem = tt["head"].unitsPerEm
    order = {name: i for i, name in enumerate(tt.getGlyphOrder())}
    cmap = {cp: order[name] for cp, name in tt.getBestCmap().items()}
    hmtx = tt["hmtx"].metrics
    widths = [round(hmtx[name][0] * 1000 / upem) for name in tt.getGlyphOrder()]
    os2 = tt["OS/2"]
    head = tt["head"]
    scale = 1000 / upem
    ps_name = tt["name"].getDebugName(6) or path.stem
    return Face(key=(family, bold), path=path, data=data, postscript_name=ps_name.replace(" ", ""),
                cmap=cmap, widths=widths, ascent=round(tt["hhea"].ascent * scale),
                descent=round(tt["hhea"].descent * scale),
                cap_height=round(getattr(os2, "sCapHeight", 0) * scale) or 729,
                bbox=tuple(round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
                italic_angle=float(tt["post"].italicAngle))


def face(family: str = "sans", bold: bool = False) -> Face:
    """The face of ``family`` ("sans" or "mono"), loaded on first use and kept for the process."""
    with _LOCK:
        return _load(family, bold)


# --- subsetting --------------------------------------------------------------------------------

def _tables(data: bytes) -> dict[bytes, bytes]:
    count = struct.unpack_from(">H", data, 4)[0]
    out = {}
    for i in range(count):
        tag, _, offset, length = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        out[tag] = data[offset:offset + length]
    return out


def _checksum(data: bytes) -> int:
    if len(data) % 4:
        data += b"\0" * (4 - len(data) % 4)
    words = array("I", data)
    if sys.byteorder == "little":
        words.byteswap()
    return sum(words) & 0xFFFFFFFF


def _components(glyph: bytes) -> Iterable[tuple[int, int]]:
    """(offset of the glyph index, glyph index) of each component of a composite glyph."""
    if len(glyph) < 10 or struct.unpack_from(">h", glyph, 0)[0] >= 0:
        return
    pos = 10
    while pos + 4 <= len(glyph):
        flags, gid = struct.unpack_from(">HH", glyph, pos)
        yield pos + 2, gid
        pos += 4 + (4 if flags & 0x0001 else 2)
        if flags & 0x0008:
            pos += 2
        elif flags & 0x0040:
            pos += 4
        elif flags & 0x0080:
            pos += 8
        if not flags & 0x0020:
            return


def subset(f: Face, gids: Iterable[int]) -> tuple[bytes, dict[int, int]]:
    """The face's TrueType program with only ``gids`` (and .notdef, and the components they use),
    renumbered 1, 2, ... in order; returns the program and the map old glyph id -> new one."""
    t = _tables(f.data)
    head, hhea, maxp = bytearray(t[b"head"]), bytearray(t[b"hhea"]), bytearray(t[b"maxp"])
    n = struct.unpack_from(">H", maxp, 4)[0]
    long_loca = struct.unpack_from(">h", head, 50)[0] == 1
    loca = array("I" if long_loca else "H", t[b"loca"][:(n + 1) * (4 if long_loca else 2)])
    if sys.byteorder == "little":
        loca.byteswap()
    scale = 1 if long_loca else 2
    glyf = t[b"glyf"]

    def data_of(g: int) -> bytes:
        return glyf[loca[g] * scale:loca[g + 1] * scale] if g < n else b""

    order = [0]
    new: dict[int, int] = {0: 0}
    todo = [g for g in gids if 0 <= g < n]
    todo.reverse()
    while todo:
        g = todo.pop()
        if g in new:
            continue
        new[g] = len(order)
        order.append(g)
        comps = [c for _, c in _components(data_of(g)) if c not in new and c < n]
        todo.extend(reversed(comps))
    # glyf + loca (long offsets), component references renumbered
    chunks, offsets, pos = [], array("I"), 0
    for g in order:
        d = data_of(g)
        refs = list(_components(d))
        if refs:
            d = bytearray(d)
            for at, old in refs:
                struct.pack_into(">H", d, at, new.get(old, 0))
            d = bytes(d)
        if len(d) % 4:
            d += b"\0" * (4 - len(d) % 4)
        offsets.append(pos)
        chunks.append(d)
        pos += len(d)
    offsets.append(pos)
    if sys.byteorder == "little":
        offsets.byteswap()
    # hmtx: a full metric per glyph
    hm_count = struct.unpack_from(">H", hhea, 34)[0]
    hmtx = t[b"hmtx"]
    last_advance = struct.unpack_from(">H", hmtx, (hm_count - 1) * 4)[0]
    metrics = bytearray()
    for g in order:
        if g < hm_count:
            metrics += hmtx[g * 4:g * 4 + 4]
        else:
            metrics += struct.pack(">H", last_advance) + hmtx[hm_count * 4 + (g - hm_count) * 2:][:2]
    struct.pack_into(">H", hhea, 34, len(order))
    struct.pack_into(">H", maxp, 4, len(order))
    struct.pack_into(">h", head, 50, 1)
    struct.pack_into(">I", head, 8, 0)
    tables = {b"head": bytes(head), b"hhea": bytes(hhea), b"maxp": bytes(maxp), b"hmtx": bytes(metrics),
              b"loca": offsets.tobytes(), b"glyf": b"".join(chunks)}
    for tag in (b"OS/2", b"cvt ", b"fpgm", b"prep"):
        if tag in t:
            tables[tag] = t[tag]
    program = _assemble(tables)
    adjust = (0xB1B0AFBA - _checksum(program)) & 0xFFFFFFFF
    out = bytearray(program)
    struct.pack_into(">I", out, _directory_offsets(out)[b"head"] + 8, adjust)
    return bytes(out), new


def _assemble(tables: dict[bytes, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    power = 1
    while power * 2 <= count:
        power *= 2
    header = struct.pack(">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = 12 + 16 * count
    directory, body = bytearray(), bytearray()
    for tag in tags:
        data = tables[tag]
        directory += struct.pack(">4sIII", tag, _checksum(data), offset + len(body), len(data))
        body += data
        if len(data) % 4:
            body += b"\0" * (4 - len(data) % 4)
    return header + bytes(directory) + bytes(body)


def _directory_offsets(font: bytes | bytearray) -> dict[bytes, int]:
    count = struct.unpack_from(">H", font, 4)[0]
    return {struct.unpack_from(">4s", font, 12 + 16 * i)[0]: struct.unpack_from(">I", font, 12 + 16 * i + 8)[0]
            for i in range(count)}
