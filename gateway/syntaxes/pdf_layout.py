"""The invoice page laid out and drawn directly from the template's HTML, in milliseconds.

``templates/invoice.html`` stays the one place that says what the page shows
(labels, which terms, in which order, bounded and escaped by ``render_html``).
This module reads that page (lxml) and lays it out with the fixed rules of
``invoice.css``, restated below as ``RULES`` (same selectors, same values,
same order), for the few kinds of boxes the template uses: blocks, text with
inline spans, tables of fixed column widths (``thead`` repeated on each page,
rows kept whole), side-by-side cells (``display: table`` divisions), sections
kept together (``.keep``), headings kept with what follows, and the page
footer of the ``@page`` margin boxes (``counter(page)``/``counter(pages)``).
Text is measured with the fonts' own advances (``pdf_fonts``), broken at
spaces and at the zero-width break opportunities ``printable`` inserts, and a
word wider than its box anywhere. No shaping: ligatures and kerning are left
out, and a character DejaVu lacks shows as its empty box, as WeasyPrint's
would.

It is not a browser: an element or property outside this subset is laid out
as a plain block. WeasyPrint (``render.html_to_pdf``) stays the reference the
tests compare this with, and the engine for any other HTML (cover sheets).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Union

from gateway.model.errors import RenderError
from gateway.syntaxes import pdf_fonts
from gateway.syntaxes.pdf_writer import A4, Document, Metadata

__all__ = ["layout", "RULES", "Laid"]

MM = 72 / 25.4
PAGE_W, PAGE_H = A4
MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_LEFT = 16 * MM, 15 * MM, 20 * MM, 15 * MM
ZWSP = "\u200b"
EPS = 1e-6


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(round(int(h[i:i + 2], 16) / 255, 4) for i in (0, 2, 4))


# --- the stylesheet: invoice.css restated (keep the two in step) -------------------------------------

BLUE, GREY = "#1f3a5f", "#555"
_HEAD_CELL = {"bg": BLUE, "color": "#ffffff", "bold": True, "size": 7.5, "align": "left",
              "pad": (1.2 * MM, 1.5 * MM, 1.2 * MM, 1.5 * MM)}
_BODY_CELL = {"pad": (1.2 * MM, 1.5 * MM, 1.2 * MM, 1.5 * MM), "bb": (0.4, "#c8d0da"), "valign": "top"}
_TOTAL_CELL = {"pad": (0.9 * MM, 1.5 * MM, 0.9 * MM, 1.5 * MM)}
_NUM = {"align": "right", "ws": "nowrap"}

RULES: list[tuple[str, dict]] = [
    # the user agent's defaults the template relies on
    ("h1", {"bold": True}), ("h2", {"bold": True}), ("th", {"bold": True, "align": "center"}),
    ("td", {"valign": "middle"}), ("th", {"valign": "middle"}),
    # invoice.css, in its order
    ("h1", {"size": 18, "mb": 2 * MM, "color": BLUE, "align": "right", "ls": 0.5}),
    ("h2", {"size": 8, "upper": True, "ls": 0.6, "color": BLUE, "mb": 1.5 * MM, "pb": 0.8 * MM, "bb": (0.6, BLUE)}),
    ("section", {"mt": 5 * MM}),
    (".keep", {"keep": True}),
    (".muted", {"color": "#666"}), (".scheme", {"color": "#666"}),
    (".strong", {"bold": True}),
    (".mono", {"family": "mono"}),
    (".pre", {"ws": "pre-line"}),
    (".k", {"color": GREY}),
    ("header", {"display": "table"}),
    ("header .brand", {"display": "cell", "width": 55, "valign": "top"}),
    ("header .seller-name", {"size": 14, "bold": True, "color": BLUE}),
    ("header .doc", {"display": "cell", "width": 45, "valign": "top"}),
    ("table.kv", {"shrink": True}),
    ("table.kv th", {"align": "left", "bold": False, "color": GREY, "pad": (0.4 * MM, 4 * MM, 0.4 * MM, 0)}),
    ("table.kv td", {"align": "right", "pad": (0.4 * MM, 0, 0.4 * MM, 0)}),
    (".parties", {"display": "table"}),
    (".parties .party", {"display": "cell", "valign": "top", "pr": 5 * MM}),
    (".parties .party:last-child", {"pr": 0}),
    (".party .name", {"bold": True, "size": 9.5}),
    (".party .addr", {"mt": 0.8 * MM, "mb": 1.2 * MM}),
    (".party .id", {"size": 7.5}),
    ("table.grid th", {"align": "left", "bold": False, "color": GREY, "width": 35,
                       "pad": (0.5 * MM, 2 * MM, 0.5 * MM, 0), "valign": "top"}),
    ("table.grid td", {"pad": (0.5 * MM, 0, 0.5 * MM, 0), "valign": "top"}),
    ("table.lines thead th", _HEAD_CELL), ("table.data thead th", _HEAD_CELL),
    ("table.lines td", _BODY_CELL), ("table.data td", _BODY_CELL),
    ("table.lines tbody tr:nth-child(even) td", {"bg": "#f3f6f9"}),
    ("table.lines tr", {"avoid": True}),
    ("table.lines .no", {"width": 6}), ("table.lines .qty", {"width": 9}), ("table.lines .unit", {"width": 9}),
    ("table.lines .price", {"width": 14}), ("table.lines .rate", {"width": 8}),
    ("table.lines .amount", {"width": 14}),
    ("table.lines th.num", _NUM), ("table.data th.num", _NUM), ("td.num", _NUM),
    (".item", {"bold": True}),
    (".sub", {"size": 7, "color": GREY, "ws": "normal"}),
    ("td.num .sub", {"align": "right"}),
    (".summary", {"display": "table"}),
    (".summary .vat", {"display": "cell", "width": 55, "valign": "top"}),
    (".summary .vat table.data", {"width": 94}), (".summary .vat h2", {"width": 94}),
    (".summary .totals", {"display": "cell", "width": 45, "valign": "top"}),
    (".totals th", {"width": 58}),
    (".totals th", {"align": "left", "bold": False, **_TOTAL_CELL}),
    (".totals td", {"align": "right", "ws": "nowrap", **_TOTAL_CELL}),
    (".totals tr.sep th", {"bt": (0.5, "#9aa8b8")}), (".totals tr.sep td", {"bt": (0.5, "#9aa8b8")}),
    (".totals tr.strong th", {"bold": True}), (".totals tr.strong td", {"bold": True}),
    (".totals tr.due th", {"bg": BLUE, "color": "#ffffff", "bold": True, "size": 10}),
    (".totals tr.due td", {"bg": BLUE, "color": "#ffffff", "bold": True, "size": 10}),
    (".notes p", {"mt": 0, "mb": 1.5 * MM}),
    (".docs ul", {"mt": 0, "mb": 0, "pl": 4 * MM}),
]

ROOT_STYLE = {"size": 8.5, "bold": False, "family": "sans", "color": "#1a1a1a", "align": "left", "ws": "normal",
              "upper": False, "ls": 0.0, "lh": 1.35}
INHERITED = frozenset(ROOT_STYLE)
BOX_DEFAULTS = {"mt": 0.0, "mb": 0.0, "pt": 0.0, "pr": 0.0, "pb": 0.0, "pl": 0.0, "bg": None, "bt": None,
                "bb": None, "width": None, "display": None, "avoid": False, "keep": False, "valign": "top",
                "shrink": False}
DISPLAY = {"table": "table", "thead": "rows", "tbody": "rows", "tfoot": "rows", "tr": "row", "td": "cell",
           "th": "cell", "span": "inline", "a": "inline", "b": "inline", "strong": "inline", "em": "inline",
           "i": "inline", "small": "inline", "code": "inline", "br": "br", "head": "none", "style": "none",
           "script": "none", "title": "none", "meta": "none"}
_BOLD_TAGS = {"b", "strong"}

_COMPOUND = re.compile(r"([a-z0-9]+)?((?:\.[\w-]+)*)(?::(last-child|nth-child\(even\)))?")


def _compile_rules():
    """RULES as (specificity, order, compound selectors right to left, properties), indexed by the
    rightmost compound's first class or tag."""
    index: dict[str, list] = {}
    for order, (selector, props) in enumerate(RULES):
        parts = []
        for comp in selector.split():
            m = _COMPOUND.fullmatch(comp)
            if not m:
                raise ValueError(f"selector {selector!r}: {comp!r} is outside the subset laid out here")
            parts.append((m.group(1), frozenset(c for c in m.group(2).split(".") if c), m.group(3)))
        parts.reverse()
        spec = (sum(len(c) + (1 if p else 0) for _, c, p in parts), sum(1 for t, _, _ in parts if t))
        values = {k: (_rgb(v) if k in ("color", "bg") else (v[0], _rgb(v[1])) if k in ("bt", "bb") else v)
                  for k, v in props.items()}
        if "pad" in values:
            values.update(zip(("pt", "pr", "pb", "pl"), values.pop("pad")))
        tag, classes, _ = parts[0]
        key = f".{sorted(classes)[0]}" if classes else tag
        index.setdefault(key, []).append((spec, order, parts, values))
    return index


_RULE_INDEX = _compile_rules()
_ROOT = {k: (_rgb(v) if k == "color" else v) for k, v in ROOT_STYLE.items()}


@dataclass(frozen=True)
class _Node:
    """What selectors look at: the tag, the classes, the position among the siblings."""
    tag: str
    classes: frozenset
    even: bool
    last: bool


def _compound_matches(node: _Node, comp) -> bool:
    tag, classes, pseudo = comp
    if tag and node.tag != tag:
        return False
    if classes and not classes <= node.classes:
        return False
    if pseudo == "last-child":
        return node.last
    if pseudo:
        return node.even
    return True


def _matches(parts, chain: list[_Node]) -> bool:
    if not _compound_matches(chain[-1], parts[0]):
        return False
    i = len(chain) - 2
    for comp in parts[1:]:
        while i >= 0 and not _compound_matches(chain[i], comp):
            i -= 1
        if i < 0:
            return False
        i -= 1
    return True


_WIDTH_ATTR = re.compile(r"width\s*:\s*([\d.]+)%")


_STYLES: dict[tuple, dict] = {}          # computed styles by (ancestry, inline style): shared, never changed
_STYLES_MAX = 4096


def _style(el, chain: list[_Node], parent: dict) -> dict:
    """The computed style of ``el``: what ``parent`` passes down, then the matching rules in cascade
    order (a chain of ancestors, which also decides what ``parent`` is, is looked up once)."""
    key = (tuple(chain), el.get("style"))
    got = _STYLES.get(key)
    if got is None:
        if len(_STYLES) >= _STYLES_MAX:
            _STYLES.clear()
        got = _STYLES[key] = _cascade(el, chain, parent)
    return got


def _cascade(el, chain: list[_Node], parent: dict) -> dict:
    node = chain[-1]
    style = {k: parent[k] for k in INHERITED}
    style.update(BOX_DEFAULTS)
    if node.tag in _BOLD_TAGS:
        style["bold"] = True
    found = list(_RULE_INDEX.get(node.tag, ()))
    for c in node.classes:
        found.extend(_RULE_INDEX.get(f".{c}", ()))
    if found:
        found.sort(key=lambda r: (r[0], r[1]))
        for _, _, parts, values in found:
            if _matches(parts, chain):
                style.update(values)
    inline = el.get("style")
    if inline:
        m = _WIDTH_ATTR.search(inline)
        if m:
            style["width"] = float(m.group(1))
    if style["display"] is None:
        style["display"] = DISPLAY.get(node.tag, "block")
    style["face"] = pdf_fonts.face(style["family"], style["bold"])
    return style


def _face(style: dict) -> pdf_fonts.Face:
    got = style.get("face")
    return got if got is not None else pdf_fonts.face(style["family"], style["bold"])


# --- boxes -------------------------------------------------------------------------------------------

class Box:
    """A piece of the flow: its height, what it draws (y from its top, x from the page's left edge),
    where it may be cut between pages, and how it wants to be placed."""
    __slots__ = ("h", "ops", "cuts", "avoid", "keep_next", "spacer")

    def __init__(self, h: float, ops: Optional[list] = None, cuts: Optional[list] = None, *, avoid: bool = False,
                 keep_next: bool = False, spacer: bool = False):
        self.h, self.ops, self.cuts = h, ops if ops is not None else [], cuts if cuts is not None else []
        self.avoid, self.keep_next, self.spacer = avoid, keep_next, spacer

    def split(self, at: float) -> tuple["Box", "Box"]:
        top, bottom = [], []
        for op in self.ops:
            if op[0] == "t":
                (top if op[2] < at else bottom).append(op if op[2] < at else op[:2] + (op[2] - at,) + op[3:])
            else:
                _, x, y, w, h, rgb = op
                if y + h <= at + EPS:
                    top.append(op)
                elif y >= at - EPS:
                    bottom.append(("r", x, y - at, w, h, rgb))
                else:
                    top.append(("r", x, y, w, at - y, rgb))
                    bottom.append(("r", x, 0.0, w, y + h - at, rgb))
        return (Box(at, top, [c for c in self.cuts if c < at - EPS]),
                Box(self.h - at, bottom, [c - at for c in self.cuts if c > at + EPS], avoid=self.avoid))

    def first_piece(self) -> float:
        return min((c for c in self.cuts if c > EPS), default=self.h)


class Group:
    """Items placed together: ``keep`` (on one page when they fit one), ``header`` (a table's
    head, repeated at the top of every page its rows continue on)."""
    __slots__ = ("items", "keep", "header")

    def __init__(self, items: list, *, keep: bool = False, header: Optional[Box] = None):
        self.items, self.keep, self.header = items, keep, header

    @property
    def h(self) -> float:
        return (self.header.h if self.header else 0) + sum(i.h for i in self.items)

    def first_piece(self) -> float:
        first = self.items[0].first_piece() if self.items else 0
        return (self.header.h if self.header else 0) + first


Item = Union[Box, Group]


def _stack(items: list[Item]) -> Box:
    """Items one under the other as one box, cuttable between them and where they are."""
    ops, cuts, y = [], [], 0.0
    for item in _boxes(items):
        for op in item.ops:
            ops.append(op[:2] + (op[2] + y,) + op[3:])
        cuts.extend(c + y for c in item.cuts)
        y += item.h
        cuts.append(y)
    return Box(y, ops, cuts)


def _boxes(items: list[Item]) -> Iterator[Box]:
    for item in items:
        if isinstance(item, Group):
            if item.header:
                yield item.header
            yield from _boxes(item.items)
        else:
            yield item


def _shift(ops: list, dx: float, dy: float) -> list:
    if not dx:
        return [op[:2] + (op[2] + dy,) + op[3:] for op in ops]
    return [(op[0], op[1] + dx, op[2] + dy) + op[3:] for op in ops]


def _side_by_side(cells: list[tuple[float, float, Box, dict, float]], avoid: bool = False) -> Box:
    """Cells (x, width, content, style, padded height) drawn as one row: backgrounds, borders, content;
    the row may be cut where no cell's line is cut."""
    height = max((c[4] for c in cells), default=0.0)
    ops: list = []
    for x, width, content, style, cell_h in cells:
        bt = style["bt"][0] if style["bt"] else 0.0
        if style["bg"]:
            ops.append(("r", x, 0.0, width, height, style["bg"]))
        if style["bt"]:
            ops.append(("r", x, 0.0, width, bt, style["bt"][1]))
        if style["bb"]:
            ops.append(("r", x, height - style["bb"][0], width, style["bb"][0], style["bb"][1]))
    placed = []
    for x, width, content, style, cell_h in cells:
        bt = style["bt"][0] if style["bt"] else 0.0
        dy = style["pt"] + bt + ((height - cell_h) / 2 if style["valign"] == "middle" else 0.0)
        ops.extend(_shift(content.ops, 0.0, dy))
        placed.append((dy, content))
    candidates = sorted({c + dy for dy, content in placed for c in content.cuts} | {dy + b.h for dy, b in placed})
    cuts = [c for c in candidates if 0 < c < height - EPS and all(
        c <= dy + EPS or c >= dy + b.h - EPS or any(abs(c - (dy + k)) < EPS for k in b.cuts) for dy, b in placed)]
    return Box(height, ops, cuts, avoid=avoid)


# --- text ----------------------------------------------------------------------------------------------

_SPACES = re.compile(r"[ \t\n\r\f]+")
_SPACES_KEEP_NL = re.compile(r"[ \t\r\f]*\n[ \t\r\f]*|[ \t\r\f]+")
_TOKENS = re.compile(r"(\n)|( )|(\u200b)|([^ \n\u200b]+)")


class _Line:
    __slots__ = ("segments", "width", "size")

    def __init__(self) -> None:
        self.segments: list[list] = []         # [style, text, width]
        self.width = 0.0
        self.size = 0.0


def _text_box(runs: list[tuple[str, dict]], block: dict, x: float, width: float) -> Optional[Box]:
    """Inline runs (text, style) broken into lines of ``width`` at ``x``: one box, cuttable between lines."""
    ws = block["ws"]
    tokens: list[tuple[str, str, dict]] = []
    last_space = True
    for text, style in runs:
        if style["upper"]:
            text = text.upper()
        if style["ws"] == "pre-line":
            text = _SPACES_KEEP_NL.sub(lambda m: "\n" if "\n" in m.group(0) else " ", text)
        else:
            text = _SPACES.sub(" ", text)
        for m in _TOKENS.finditer(text):
            nl, space, zw, word = m.groups()
            if nl:
                tokens.append(("nl", "", style))
                last_space = True
            elif space:
                if not last_space:
                    tokens.append(("sp", " ", style))
                last_space = True
            elif zw:
                tokens.append(("zw", "", style))
            else:
                tokens.append(("w", word, style))
                last_space = False
    if not any(kind == "w" for kind, _, _ in tokens):
        return None
    wrap = ws != "nowrap"
    lines: list[_Line] = []
    line = _Line()
    pending: Optional[tuple[str, dict]] = None          # a space waiting for the next word

    def push(text: str, style: dict, w: float) -> None:
        seg = line.segments[-1] if line.segments else None
        if seg is not None and seg[0] is style:
            seg[1] += text
            seg[2] += w
        else:
            line.segments.append([style, text, w])
        line.width += w
        line.size = max(line.size, style["size"])

    def measure(text: str, style: dict) -> float:
        return _face(style).width(text, style["size"], style["ls"])

    def new_line() -> None:
        nonlocal line, pending
        lines.append(line)
        line, pending = _Line(), None

    for kind, text, style in tokens:
        if kind == "nl":
            new_line()
            continue
        if kind == "sp":
            if line.segments:
                pending = (text, style)
            continue
        if kind == "zw":
            continue
        w = measure(text, style)
        gap = measure(*pending) if pending else 0.0
        if wrap and line.segments and line.width + gap + w > width + EPS:
            new_line()
            gap = 0.0
        if pending and line.segments:
            push(pending[0], pending[1], gap)
        pending = None
        if wrap and w > width + EPS and not line.segments:        # a word wider than the box: anywhere
            face, size, ls = _face(style), style["size"], style["ls"]
            piece, piece_w = "", 0.0
            for ch in text:
                cw = face.width(ch, size, ls)
                if piece and piece_w + cw > width + EPS:
                    push(piece, style, piece_w)
                    new_line()
                    piece, piece_w = "", 0.0
                piece += ch
                piece_w += cw
            if piece:
                push(piece, style, piece_w)
            continue
        push(text, style, w)
    if line.segments:
        lines.append(line)
    ops, cuts, y = [], [], 0.0
    for ln in lines:
        size = max(ln.size, block["size"])
        height = size * block["lh"]
        if ln.segments:
            f = _face(ln.segments[0][0])
            ascent, descent = f.ascent / 1000 * size, -f.descent / 1000 * size
            baseline = y + (height - ascent - descent) / 2 + ascent
            if block["align"] == "right":
                cx = x + width - ln.width
            elif block["align"] == "center":
                cx = x + (width - ln.width) / 2
            else:
                cx = x
            for style, text, w in ln.segments:
                if text.strip():
                    ops.append(("t", cx, baseline, _face(style), style["size"], style["color"], text, style["ls"]))
                cx += w
        y += height
        cuts.append(y)
    return Box(y, ops, cuts)


# --- the flow --------------------------------------------------------------------------------------

class _Flow:
    """Lays the body's elements out into items; checks the deadline as it goes."""

    def __init__(self, deadline: float, timeout: float):
        self.deadline, self.timeout = deadline, timeout

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderError(f"laying out the human-readable PDF took more than {self.timeout:g} s "
                              "(EDIGATE_RENDER_TIMEOUT); it was stopped", limit="time")

    @staticmethod
    def children(el, chain: list[_Node]) -> list[tuple[object, list[_Node]]]:
        kids = [c for c in el if isinstance(c.tag, str)]
        out = []
        for i, c in enumerate(kids):
            node = _Node(c.tag, frozenset((c.get("class") or "").split()), i % 2 == 1, i == len(kids) - 1)
            out.append((c, chain + [node]))
        return out

    def runs(self, el, chain, style) -> list[tuple[str, dict]]:
        """The inline text of ``el`` (its text, inline children, their tails), with their styles."""
        out = []
        if el.text:
            out.append((el.text, style))
        for child, cchain in self.children(el, chain):
            cstyle = _style(child, cchain, style)
            if cstyle["display"] == "br":
                out.append(("\n", cstyle))
            elif cstyle["display"] != "none":
                out.extend(self.runs(child, cchain, cstyle))
            if child.tail:
                out.append((child.tail, style))
        return out

    def content(self, el, chain, style, x: float, width: float) -> list[Item]:
        """``el``'s content: anonymous text boxes and its block-level children, in order."""
        items: list[Item] = []
        runs = [(el.text, style)] if el.text else []

        def flush() -> None:
            if runs:
                box = _text_box(runs, style, x, width)
                if box:
                    items.append(box)
                runs.clear()

        for child, cchain in self.children(el, chain):
            cstyle = _style(child, cchain, style)
            display = cstyle["display"]
            if display == "none":
                pass
            elif display in ("inline", "br"):
                runs.extend(self.runs(child, cchain, cstyle) if display == "inline" else [("\n", cstyle)])
            else:
                flush()
                items.extend(self.block(child, cchain, cstyle, x, width))
            if child.tail:
                runs.append((child.tail, style))
        flush()
        return items

    def block(self, el, chain, style, x: float, width: float) -> list[Item]:
        self.tick()
        display = style["display"]
        if style["width"] is not None:
            width = width * style["width"] / 100
        if display == "table" and chain[-1].tag == "table":
            inner: list[Item] = [self.table(el, chain, style, x, width)]
        elif display == "table":
            inner = [self.cells(el, chain, style, x, width)]
        else:
            x_in, w_in = x + style["pl"], width - style["pl"] - style["pr"]
            inner = self.content(el, chain, style, x_in, w_in)
            if chain[-1].tag == "li" and inner:
                first = next(_boxes(inner))
                text = next((op for op in first.ops if op[0] == "t"), None)
                if text:
                    f = _face(style)
                    bullet = "\u2022"
                    first.ops.append(("t", x_in - f.width(bullet + " ", style["size"]), text[2], f, style["size"],
                                      style["color"], bullet, 0.0))
        pad_top, pad_bottom, border = style["pt"], style["pb"], style["bb"]
        if pad_top or pad_bottom or border:
            box = _stack(inner) if inner else Box(0.0)
            ops = _shift(box.ops, 0.0, pad_top)
            h = pad_top + box.h + pad_bottom
            if border:
                ops.append(("r", x, h, width, border[0], border[1]))
                h += border[0]
            inner = [Box(h, ops, [c + pad_top for c in box.cuts if c < box.h - EPS])]
        if chain[-1].tag in ("h1", "h2") and inner:
            for b in inner:
                if isinstance(b, Box):
                    b.keep_next = True
        out: list[Item] = []
        if style["mt"]:
            out.append(Box(style["mt"], spacer=True))
        if style["keep"] and inner:
            out.append(Group(inner, keep=True))
        else:
            out.extend(inner)
        if style["mb"]:
            out.append(Box(style["mb"], spacer=True))
        return out

    def cells(self, el, chain, style, x: float, width: float) -> Box:
        """A ``display: table`` division: its children side by side."""
        kids = [(c, cc, _style(c, cc, style)) for c, cc in self.children(el, chain)]
        kids = [k for k in kids if k[2]["display"] != "none"]
        def given(s: dict) -> float:
            return width * s["width"] / 100 + s["pl"] + s["pr"]

        fixed = sum(given(k[2]) for k in kids if k[2]["width"] is not None)
        free = [k for k in kids if k[2]["width"] is None]
        share = max(width - fixed, 0.0) / len(free) if free else 0.0
        placed, cx = [], x
        for child, cchain, cstyle in kids:
            w = given(cstyle) if cstyle["width"] is not None else share
            cstyle = dict(cstyle, width=None)
            content = _stack(self.content(child, cchain, cstyle, cx + cstyle["pl"], w - cstyle["pl"] - cstyle["pr"]))
            placed.append((cx, w, content, cstyle, content.h + cstyle["pt"] + cstyle["pb"]))
            cx += w
        return _side_by_side(placed)

    def table(self, el, chain, style, x: float, width: float) -> Group:
        head_rows, body_rows = [], []
        for child, cchain in self.children(el, chain):
            cstyle = _style(child, cchain, style)
            if cstyle["display"] == "rows":
                for row, rchain in self.children(child, cchain):
                    (head_rows if child.tag == "thead" else body_rows).append((row, rchain, _style(row, rchain, cstyle)))
            elif cstyle["display"] == "row":
                body_rows.append((child, cchain, cstyle))
        rows = [(row, rchain, rstyle, [(c, cc, _style(c, cc, rstyle)) for c, cc in self.children(row, rchain)])
                for row, rchain, rstyle in head_rows + body_rows]
        count = max((len(cells) for *_, cells in rows), default=0)
        if not count:
            return Group([])
        widths = self.columns(rows, count, width, style)
        table_w = sum(widths)
        x0 = x + width - table_w if style["shrink"] else x
        boxes = []
        for row, rchain, rstyle, cells in rows:
            self.tick()
            placed, cx = [], x0
            for i, (cell, cchain, cstyle) in enumerate(cells):
                w = widths[i] if i < len(widths) else 0.0
                inner_w = max(w - cstyle["pl"] - cstyle["pr"], 1.0)
                content = _stack(self.content(cell, cchain, cstyle, cx + cstyle["pl"], inner_w))
                border = (cstyle["bt"][0] if cstyle["bt"] else 0.0) + (cstyle["bb"][0] if cstyle["bb"] else 0.0)
                placed.append((cx, w, content, cstyle, content.h + cstyle["pt"] + cstyle["pb"] + border))
                cx += w
            boxes.append(_side_by_side(placed, avoid=rstyle["avoid"]))
        header = _stack(boxes[:len(head_rows)]) if head_rows else None
        if header is not None:
            header.avoid = True
        return Group(boxes[len(head_rows):], header=header)

    def columns(self, rows, count: int, width: float, style) -> list[float]:
        if style["shrink"]:                    # margin-left: auto, width: auto: as wide as the content
            widths = [0.0] * count
            for *_, cells in rows:
                for i, (cell, cchain, cstyle) in enumerate(cells):
                    text = "".join(t for t, _ in self.runs(cell, cchain, cstyle)).replace(ZWSP, "")
                    natural = _face(cstyle).width(" ".join(text.split()), cstyle["size"], cstyle["ls"])
                    widths[i] = max(widths[i], natural + cstyle["pl"] + cstyle["pr"] + 0.01)
            total = sum(widths)
            return [w * width / total for w in widths] if total > width else widths
        first = rows[0][3]
        widths: list[Optional[float]] = [None] * count
        for i, (_, _, cstyle) in enumerate(first):
            if cstyle["width"] is not None:          # a cell's width is its content's: padding comes on top
                widths[i] = width * cstyle["width"] / 100 + cstyle["pl"] + cstyle["pr"]
        fixed = sum(w for w in widths if w is not None)
        free = widths.count(None)
        share = max(width - fixed, 0.0) / free if free else 0.0
        return [w if w is not None else share for w in widths]


# --- pages -------------------------------------------------------------------------------------------

class _Pager:
    def __init__(self, height: float, flow: _Flow):
        self.height, self.flow = height, flow
        self.pages: list[list[tuple[float, Box]]] = [[]]
        self.y, self.fresh = 0.0, True

    @property
    def room(self) -> float:
        return self.height - self.y

    def put(self, box: Box, *, header: bool = False) -> None:
        if box.ops:
            self.pages[-1].append((self.y, box))
        self.y += box.h
        if not header and not box.spacer:
            self.fresh = False

    def new_page(self, header: Optional[Box]) -> None:
        self.flow.tick()
        self.pages.append([])
        self.y, self.fresh = 0.0, True
        if header is not None and header.h < self.height / 2:
            self.put(header, header=True)

    def place(self, box: Box, header: Optional[Box]) -> None:
        while True:
            if box.spacer and self.fresh:
                return                                   # a margin at the top of a page is dropped
            if box.h <= self.room + EPS:
                self.put(box)
                return
            if box.spacer:
                self.new_page(header)
                return
            top = self.height - (header.h if header is not None and header.h < self.height / 2 else 0.0)
            if not self.fresh and box.avoid and box.h <= top + EPS:
                self.new_page(header)
                continue
            cut = max((c for c in box.cuts if EPS < c <= self.room + EPS), default=None)
            if cut is None:
                if not self.fresh:
                    self.new_page(header)
                    continue
                cut = max(self.room, 1.0)                # nowhere to cut and a page of its own: cut anyway
            first, box = box.split(cut)
            self.put(first)
            self.new_page(header)

    def flow_items(self, items: list[Item], header: Optional[Box] = None) -> None:
        for i, item in enumerate(items):
            if isinstance(item, Group):
                if item.keep and not self.fresh and self.room + EPS < item.h <= self.height:
                    self.new_page(header)
                if item.header is not None:
                    need = item.header.h + (item.items[0].first_piece() if item.items else 0.0)
                    if not self.fresh and need > self.room + EPS:
                        self.new_page(header)
                    self.place(item.header, header)
                self.flow_items(item.items, item.header or header)
                continue
            if item.keep_next and not self.fresh:
                following = next((n for n in items[i + 1:] if not (isinstance(n, Box) and n.spacer)), None)
                need = item.h + (following.first_piece() if following is not None else 0.0)
                if need > self.room + EPS and need <= self.height:
                    self.new_page(header)
            self.place(item, header)


# --- the page footer (the @page margin boxes) ----------------------------------------------------------

_MARGIN_BOX = re.compile(r"@(bottom-left|bottom-right)\s*\{\s*content\s*:\s*((?:\"(?:[^\"\\]|\\.)*\"|[^;}\"])*)")
_CONTENT_PART = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|counter\(\s*(pages?)\s*\)")
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\n]?|\\(.)", re.S)


def _margin_boxes(css: str) -> dict[str, list[str]]:
    """The ``content`` of the page's bottom margin boxes: strings and "\0page" / "\0pages"."""
    out: dict[str, list[str]] = {}
    for m in _MARGIN_BOX.finditer(css):
        parts = []
        for p in _CONTENT_PART.finditer(m.group(2)):
            if p.group(2):
                parts.append("\0" + p.group(2))
            else:
                parts.append(_CSS_ESCAPE.sub(lambda e: chr(int(e.group(1), 16)) if e.group(1) else e.group(2),
                                             p.group(1)))
        out[m.group(1)] = parts
    return out


def _footer_text(parts: list[str], page: int, pages: int) -> str:
    return "".join(str(page) if p == "\0page" else str(pages) if p == "\0pages" else p for p in parts)


# --- the whole page -------------------------------------------------------------------------------------

@dataclass
class Laid:
    document: Document
    metadata: Metadata
    pages: int


def layout(html: str, *, max_pages: int = 0, timeout: float = 30.0) -> Laid:
    """The page of ``html`` (as ``render_html`` writes it) laid out on A4 pages, ready to write.

    ``RenderError`` beyond ``max_pages`` pages (0: no cap) or ``timeout`` seconds."""
    from lxml import html as lxml_html
    started = time.monotonic()
    flow = _Flow(started + timeout, timeout)
    root = lxml_html.document_fromstring(html)
    head, body = root.find("head"), root.find("body")
    css = "\n".join(s.text or "" for s in root.iter("style"))
    root_node = _Node("html", frozenset(), False, True)
    root_style = dict(_ROOT)
    root_style.update(BOX_DEFAULTS)
    body_chain = [root_node, _Node("body", frozenset(), True, True)]
    width = PAGE_W - MARGIN_LEFT - MARGIN_RIGHT
    items = flow.content(body, body_chain, _style(body, body_chain, root_style), MARGIN_LEFT, width) \
        if body is not None else []
    pager = _Pager(PAGE_H - MARGIN_TOP - MARGIN_BOTTOM, flow)
    pager.flow_items(items)
    while len(pager.pages) > 1 and not pager.pages[-1]:
        pager.pages.pop()
    count = len(pager.pages)
    if max_pages and count > max_pages:
        raise RenderError(f"the human-readable PDF would have {count:,} pages, more than the {max_pages:,} "
                          "accepted (EDIGATE_RENDER_MAX_PAGES)", limit="pages")
    doc = Document()
    boxes = _margin_boxes(css)
    footer_style = dict(_ROOT, size=7.0, color=_rgb(GREY))
    footer_style.update(BOX_DEFAULTS)
    for number, placed in enumerate(pager.pages, 1):
        page = doc.new_page()
        for y, box in placed:
            for op in box.ops:
                if op[0] == "t":
                    page.text(op[1], op[2] + y + MARGIN_TOP, op[3], op[4], op[5], op[6], op[7])
                else:
                    page.rect(op[1], op[2] + y + MARGIN_TOP, op[3], op[4], op[5])
        for name, share, align in (("bottom-left", 0.75, "left"), ("bottom-right", 1.0, "right")):
            if name not in boxes:
                continue
            text = _footer_text(boxes[name], number, count)
            fbox = _text_box([(text, footer_style)], dict(footer_style, align=align), MARGIN_LEFT, width * share)
            if fbox is None:
                continue
            top = PAGE_H - MARGIN_BOTTOM + max((MARGIN_BOTTOM - fbox.h) / 2, 0.0)
            for op in fbox.ops:
                page.text(op[1], op[2] + top, op[3], op[4], op[5], op[6], op[7])
    title = " ".join((head.findtext("title") or "").split()) if head is not None else ""
    meta = {m.get("name"): m.get("content") or "" for m in root.iter("meta") if m.get("name")}
    metadata = Metadata(title=title, author=meta.get("author", ""), subject=meta.get("description", ""),
                        lang=root.get("lang") or "")
    return Laid(doc, metadata, count)
