"""A mapping's ``structural`` patterns matched per candidate instead of searched for in the whole tree.

``SourceMap.unread`` reports every leaf value and attribute no term read, except the
scaffolding the mapping lists as ``structural`` (``//cac:TaxScheme/cbc:ID``,
``//@currencyID``, ``//S_NAD/D_3035``). Evaluating each pattern as an XPath scans
the whole document once per pattern (ten ``//`` searches for UBL, twenty-six for
EDIFACT), although almost every value was read and only the few left over need
judging. Here each pattern becomes a test of one node, looking upwards: its own
name and predicates, then its parent's (``/``) or some ancestor's (``//``), so a
candidate is judged in a few steps. A pattern outside this form (not starting
with ``//``, another axis, a positional predicate) makes ``compile_patterns`` give
None and the XPaths are used as before.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

from lxml import etree

from .fastpath import Unsupported, _POSITIONAL, compile_predicate
from .paths import Path, _split_predicates

Test = Callable[[etree._Element, Optional[str]], bool]
_NAME = re.compile(r"^(?:\*|[A-Za-z_][\w.\-]*(?::(?:\*|[A-Za-z_][\w.\-]*))?)$")


class _Step:
    __slots__ = ("tag", "namespace", "any", "predicates", "descendant")

    def __init__(self, text: str, descendant: bool, path: Path):
        name, preds = _split_predicates(text)
        if not _NAME.match(name) or any(_POSITIONAL.search(p) for p in preds):
            raise Unsupported(text)
        self.descendant = descendant          # reached by "//" from the step before
        self.any = name == "*"
        self.namespace = None
        self.tag = None
        if name.endswith(":*"):
            prefix = name[:-2]
            if prefix not in path.namespaces:
                raise Unsupported(text)
            self.namespace = "{" + path.namespaces[prefix] + "}"
        elif not self.any:
            self.tag = path.qname(name)
        self.predicates = tuple(compile_predicate(p, path) for p in preds)

    def matches(self, el: etree._Element) -> bool:
        tag = el.tag
        if not isinstance(tag, str):
            return False
        if self.tag is not None and tag != self.tag:
            return False
        if self.namespace is not None and not tag.startswith(self.namespace):
            return False
        for p in self.predicates:
            if not p(el, _NO_VARIABLES):
                return False
        return True


_NO_VARIABLES: dict = {}


class _Pattern:
    """``//a/b[p]//c`` or ``//a/@x``: element steps, and the attribute the pattern ends at, if any."""

    def __init__(self, text: str, path: Path):
        self.xpath = etree.XPath(text, namespaces=path.namespaces)
        body = text.strip()
        if not body.startswith("//") or "|" in body or "::" in body:
            raise Unsupported(text)
        tokens = _split(body[2:])
        self.attribute: Optional[str] = None
        if tokens and tokens[-1][0].startswith("@"):
            name, descendant = tokens.pop()
            if descendant or "[" in name or "*" in name:
                raise Unsupported(text)
            self.attribute = path.qname(name[1:]) if ":" in name else name[1:]
        self.steps = [_Step(t, d, path) for t, d in tokens]
        if not self.steps and self.attribute is None:
            raise Unsupported(text)

    def element(self, el: etree._Element) -> bool:
        """Whether ``//…`` selects this element."""
        if self.attribute is not None or not self.steps:
            return False
        return _up(self.steps, len(self.steps) - 1, el)

    def owner(self, el: etree._Element, attribute: str) -> bool:
        """Whether ``//…/@x`` selects this attribute of ``el``."""
        if self.attribute is None or attribute != self.attribute:
            return False
        return not self.steps or _up(self.steps, len(self.steps) - 1, el)


def _up(steps: list[_Step], i: int, el: etree._Element) -> bool:
    """Whether ``el`` matches step ``i`` with steps ``0..i-1`` met going upwards."""
    step = steps[i]
    if not step.matches(el):
        return False
    if i == 0:
        return True                          # the pattern starts with "//": anywhere below the root
    parent = el.getparent()
    if not step.descendant:
        return parent is not None and _up(steps, i - 1, parent)
    while parent is not None:                # "//": some ancestor
        if _up(steps, i - 1, parent):
            return True
        parent = parent.getparent()
    return False


def _split(body: str) -> list[tuple[str, bool]]:
    """``a/b[x/y]//c`` -> [("a", False), ("b[x/y]", False), ("c", True)] (True: reached by ``//``)."""
    out: list[tuple[str, bool]] = []
    buf: list[str] = []
    depth, quote, descendant, i = 0, None, False, 0
    while i < len(body):
        ch = body[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "[":
            depth += 1
            buf.append(ch)
        elif ch == "]":
            depth -= 1
            buf.append(ch)
        elif ch == "/" and depth == 0:
            if not buf:
                raise Unsupported(body)
            out.append(("".join(buf), descendant))
            buf = []
            descendant = body[i + 1:i + 2] == "/"
            if descendant:
                i += 1
        else:
            buf.append(ch)
        i += 1
    if quote or depth or not buf:
        raise Unsupported(body)
    out.append(("".join(buf), descendant))
    return out


class Patterns:
    """Every structural pattern of a mapping, as tests of one element or one attribute."""

    def __init__(self, patterns: list[_Pattern]):
        # by the name their last step needs (a candidate meets only its own), and those of any name
        self.by_tag: dict[str, list[_Pattern]] = {}
        self.any_tag: list[_Pattern] = []
        self.by_attribute: dict[str, list[_Pattern]] = {}
        for p in patterns:
            if p.attribute is not None:
                self.by_attribute.setdefault(p.attribute, []).append(p)
            elif p.steps[-1].tag is not None:
                self.by_tag.setdefault(p.steps[-1].tag, []).append(p)
            else:
                self.any_tag.append(p)
        # a pattern of any name (``//S_UNH//*``) would climb from every candidate: libxml2 searches
        # for it once per document instead
        self.searched = [p.xpath for p in self.any_tag]

    def checker(self, root: etree._Element) -> Callable[[etree._Element], bool]:
        """Whether an element of the document ``root`` is one the patterns select."""
        by_tag = self.by_tag
        found: Optional[set] = None
        if self.searched:
            found = set()
            for xp in self.searched:
                found.update(xp(root))

        def element(el: etree._Element) -> bool:
            for p in by_tag.get(el.tag, ()):
                if p.element(el):
                    return True
            return found is not None and el in found
        return element

    def attribute(self, el: etree._Element, name: str) -> bool:
        for p in self.by_attribute.get(name, ()):
            if p.owner(el, name):
                return True
        return False


def compile_patterns(texts: list[str], namespaces: dict[str, str]) -> Optional[Patterns]:
    """The patterns as tests, or None when one of them is outside the form handled here."""
    path = Path(".", namespaces)
    try:
        return Patterns([_Pattern(t, path) for t in texts])
    except Unsupported:
        return None
    except etree.XPathError:
        return None
