"""Mapping paths evaluated without XPath: steps resolved once, predicates compiled to Python.

``paths.Path`` hands each path to lxml's XPath engine every time a term is read or
a step is written, which costs an XPath evaluation (and its result list) per term
per document. Mapping paths are a small subset: child steps by name, ``.``, ``..``,
a final ``@attribute``, and predicates that compare a child's value with a literal
or a variable (``[cac:TaxScheme/cbc:ID='VAT']``, ``[not(cbc:ID/@schemeID='SEPA')]``,
``[normalize-space(cbc:ChargeIndicator)='true' or ...]``, ``[self::ram:X or self::ram:Y]``). Here each step becomes
Clark names and lxml's C-level child iteration, and each predicate a Python closure
with XPath 1.0's meaning (a node-set equals a string when one of its nodes' string
value does; ``normalize-space`` and ``starts-with`` take the first node).

Whatever is outside that subset keeps XPath: a predicate this module does not
parse is evaluated by lxml on the candidate element (``boolean(...)``); a path with
a positional predicate (``position()``, ``last()``, a number) or another axis is
selected by the path's own XPath. The interpreter (``engine``) is the reference:
``tests/conformance/test_compiled_mapping.py`` checks that both read and write the
same on every corpus sample and on the fuzz mutants.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional

from lxml import etree

from .paths import Path, Step

Variables = Mapping[str, str]
Predicate = Callable[[etree._Element, Variables], bool]
Selector = Callable[[etree._Element, etree._Element, Variables], list]

_XPATH_SPACE = " \t\r\n"
_SPACES = re.compile(r"[ \t\r\n]+")
_POSITIONAL = re.compile(r"position\s*\(|last\s*\(|^\s*[\d.]+\s*$")
_STRING = etree.XPath("string()")


class AttributeHit(str):
    """An attribute's value as selected, knowing its element: what lxml's smart strings give
    XPath callers (``getparent()``, ``attrname``), so the engine treats both alike."""

    def __new__(cls, value: str, parent: etree._Element, attrname: str) -> "AttributeHit":
        s = super().__new__(cls, value)
        s._parent = parent
        s.attrname = attrname
        return s

    def getparent(self) -> etree._Element:
        return self._parent


def string_value(node: Any) -> str:
    """XPath's string value of an element (its descendants' text) or an attribute value."""
    if isinstance(node, str):
        return node
    if len(node) == 0:
        return node.text or ""
    return _STRING(node)


def children_by_tag(el: etree._Element) -> dict[str, list[etree._Element]]:
    """An element's child elements by tag, in document order (comments and PIs left out)."""
    table: dict[str, list[etree._Element]] = {}
    for c in el.iterchildren(etree.Element):
        got = table.get(c.tag)
        if got is None:
            table[c.tag] = [c]
        else:
            got.append(c)
    return table


class Unsupported(Exception):
    """The expression is outside the subset compiled here: XPath evaluates it."""


# --- predicates ---------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<lit>'[^']*'|"[^"]*")|(?P<var>\$[A-Za-z][\w.\-]*)"""
                    r"""|(?P<self>self::[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?(?![\w.\-:/\[]))"""
                    r"""|(?P<op>!=|<=|>=|[=()\[\],<>|*+])"""
                    r"""|(?P<name>@?[A-Za-z_][\w.\-]*(?::[A-Za-z_*][\w.\-]*)?(?:/@?[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)*)"""
                    r"""|(?P<dot>\.(?:/@?[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)*))""")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported(text)
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """or / and / not() / ( ) over comparisons of relative child paths, literals and variables."""

    FUNCTIONS = ("not", "normalize-space", "starts-with")

    def __init__(self, text: str, qname: Callable[[str], str]):
        self.toks = _tokens(text)
        self.i = 0
        self.qname = qname

    def peek(self) -> Optional[tuple[str, str]]:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: Optional[str] = None) -> str:
        t = self.peek()
        if t is None or t[0] != kind or (value is not None and t[1] != value):
            raise Unsupported(f"expected {value or kind}")
        self.i += 1
        return t[1]

    def parse(self) -> Predicate:
        expr = self.or_expr()
        if self.peek() is not None:
            raise Unsupported("trailing tokens")
        return expr

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("name", "or"):
            self.i += 1
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda el, v: any(p(el, v) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == ("name", "and"):
            self.i += 1
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda el, v: all(p(el, v) for p in parts)

    def unary(self) -> Predicate:
        t = self.peek()
        if t == ("name", "not") and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ("op", "("):
            self.i += 2
            inner = self.or_expr()
            self.take("op", ")")
            return lambda el, v: not inner(el, v)
        if t == ("op", "("):
            self.i += 1
            inner = self.or_expr()
            self.take("op", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        left = self.operand()
        if self.peek() == ("op", "="):
            self.i += 1
            right = self.operand()
            return _equals(left, right)
        kind, fn = left
        if kind == "nodes":
            return lambda el, v: bool(fn(el, v))
        raise Unsupported("a value alone as a predicate")

    def operand(self) -> tuple[str, Callable]:
        """('nodes', el, vars -> nodes) or ('string', el, vars -> str)."""
        t = self.peek()
        if t is None:
            raise Unsupported("missing operand")
        kind, value = t
        if kind == "lit":
            self.i += 1
            text = value[1:-1]
            return "string", lambda el, v: text
        if kind == "var":
            self.i += 1
            name = value[1:]
            return "string", lambda el, v: v[name]
        if kind == "name" and value in self.FUNCTIONS and self.i + 1 < len(self.toks) \
                and self.toks[self.i + 1] == ("op", "("):
            self.i += 2
            if value == "normalize-space":
                nodes = self.relative_path()
                self.take("op", ")")
                return "string", lambda el, v: _normalize(_first_string(nodes(el, v)))
            if value == "starts-with":
                nodes = self.relative_path()
                self.take("op", ",")
                prefix = self.take("lit")[1:-1]
                self.take("op", ")")
                return "boolean", lambda el, v: _first_string(nodes(el, v)).startswith(prefix)
            raise Unsupported(value)
        if kind in ("name", "dot"):
            return "nodes", self.relative_path()
        if kind == "self":          # self::ram:X, a test of the candidate's own name
            self.i += 1
            tag = self.qname(value[6:])
            return "nodes", lambda el, v: [el] if el.tag == tag else []
        raise Unsupported(value)

    def relative_path(self) -> Callable[[etree._Element, Variables], list]:
        kind, text = self.peek() or ("", "")
        if kind not in ("name", "dot"):
            raise Unsupported(text)
        self.i += 1
        if self.peek() == ("op", "["):
            raise Unsupported("nested predicate")
        return _child_path(text, self.qname)


def _normalize(text: str) -> str:
    return _SPACES.sub(" ", text.strip(_XPATH_SPACE))


def _first_string(nodes: list) -> str:
    return string_value(nodes[0]) if nodes else ""


def _equals(left: tuple[str, Callable], right: tuple[str, Callable]) -> Predicate:
    (lk, lf), (rk, rf) = left, right
    if "boolean" in (lk, rk):
        raise Unsupported("a boolean compared")
    if lk == "nodes" and rk == "nodes":
        raise Unsupported("two node-sets compared")
    if lk == "string" and rk == "string":
        return lambda el, v: lf(el, v) == rf(el, v)
    nodes, other = (lf, rf) if lk == "nodes" else (rf, lf)

    def equals(el: etree._Element, v: Variables) -> bool:
        want = other(el, v)
        for n in nodes(el, v):
            if (n if isinstance(n, str) else (n.text or "" if len(n) == 0 else _STRING(n))) == want:
                return True
        return False
    return equals


def _child_path(text: str, qname: Callable[[str], str]) -> Callable[[etree._Element, Variables], list]:
    """``a/b/@c`` (or ``.``) from an element: the nodes, in document order (attributes as values)."""
    names = [s for s in text.split("/")]
    steps: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        if name == ".":
            continue
        if name.startswith("@"):
            if i != len(names) - 1 or "*" in name:
                raise Unsupported(text)
            steps.append(("@", qname(name[1:])))
        elif "*" in name or name in ("..", "") or "::" in name:
            raise Unsupported(text)
        else:
            steps.append(("el", qname(name)))
    if not steps:
        return lambda el, v: [el]
    if len(steps) == 1:
        kind, tag = steps[0]
        if kind == "@":
            def attr(el: etree._Element, v: Variables) -> list:
                got = el.get(tag)
                return [] if got is None else [got]
            return attr
        return lambda el, v: list(el.iterchildren(tag))

    def walk(el: etree._Element, v: Variables) -> list:
        nodes = [el]
        for kind, tag in steps:
            if kind == "@":
                return [g for g in (n.get(tag) for n in nodes) if g is not None]
            nodes = [c for n in nodes for c in n.iterchildren(tag)]
            if not nodes:
                return nodes
        return nodes
    return walk


def _xpath_predicate(text: str, namespaces: dict[str, str]) -> Predicate:
    """A predicate outside the subset: lxml evaluates it with the candidate as context node."""
    xp = etree.XPath(f"boolean({text})", namespaces=namespaces)
    return lambda el, v: bool(xp(el, **v))


def compile_predicate(text: str, path: Path) -> Predicate:
    try:
        return _Parser(text, path.qname).parse()
    except Unsupported:
        return _xpath_predicate(text, path.namespaces)


# --- steps and paths -------------------------------------------------------------------------

_INDEXABLE = re.compile(r"""^\s*(?P<path>\.|[@\w.:\-]+(?:/[@\w.:\-]+)*)\s*=\s*(?:'(?P<q1>[^']*)'|"(?P<q2>[^"]*)")\s*$""")


def _value_index(children: list, values: Callable[[etree._Element, Variables], list]) -> dict[str, list]:
    """Children by the string values of one relative path: ``[S_NAD/D_3035='SE']`` for every
    qualifier at once (a child is listed under each distinct value it has, in document order)."""
    index: dict[str, list] = {}
    for c in children:
        seen = None
        for n in values(c, _NO_VARIABLES):
            v = n if isinstance(n, str) else (n.text or "" if len(n) == 0 else _STRING(n))
            if seen is None:
                seen = {v}
            elif v in seen:
                continue
            else:
                seen.add(v)
            got = index.get(v)
            if got is None:
                index[v] = [c]
            else:
                got.append(c)
    return index


_NO_VARIABLES: dict = {}


class FastStep:
    """A step with its Clark name (or namespace wildcard) and compiled predicates.

    A predicate comparing a relative path with a literal (``G_SG2[S_NAD/D_3035='SE']``,
    ``cac:TaxScheme[cbc:ID='VAT']``) is also kept as an index key: reading looks the
    literal up in a table of the children by that path's values, made once per parent
    and path for the whole read, instead of testing every child for every term."""

    __slots__ = ("kind", "tag", "namespace", "predicates", "step", "index_key", "index_values", "literal", "rest")

    def __init__(self, step: Step, path: Path):
        self.step = step
        name = step.name
        self.predicates: tuple[Predicate, ...] = ()
        self.namespace: Optional[str] = None
        self.tag: Optional[str] = None
        if name == ".":
            self.kind = "self"
        elif name == "..":
            self.kind = "parent"
        elif step.is_attribute:
            self.kind = "attribute"
            self.tag = path.qname(name[1:])
        else:
            self.kind = "child"
            if "::" in name or any(_POSITIONAL.search(p) for p in step.predicates):
                raise Unsupported(step.xpath)
            if name == "*":
                self.tag = None
            elif name.endswith(":*"):
                prefix = name[:-2]
                if prefix not in path.namespaces:
                    raise Unsupported(name)
                self.namespace = "{" + path.namespaces[prefix] + "}"
            elif "*" in name:
                raise Unsupported(name)
            else:
                self.tag = path.qname(name)
            self.predicates = tuple(compile_predicate(p, path) for p in step.predicates)
        self.index_key = self.index_values = self.literal = None
        self.rest: tuple[Predicate, ...] = ()
        if self.kind == "child" and self.tag is not None:
            for i, text in enumerate(step.predicates):
                m = _INDEXABLE.match(text)
                if m is None:
                    continue
                try:
                    self.index_values = _child_path(m.group("path"), path.qname)
                except Unsupported:
                    continue
                self.index_key = ("index", self.tag, tuple(path.qname(n) if n not in (".",) and not n.startswith("@")
                                                           else n for n in m.group("path").split("/")))
                self.literal = m.group("q1") if m.group("q1") is not None else m.group("q2")
                self.rest = self.predicates[:i] + self.predicates[i + 1:]
                break

    def children(self, node: etree._Element, variables: Variables, kids: Optional[dict] = None) -> list:
        """The children of ``node`` this step matches, in document order. ``kids``: a cache of each
        element's children by tag (``children_by_tag``), shared by every path read from one tree."""
        if self.tag is not None:
            if kids is not None:
                if self.index_key is not None:
                    found = self.index(node, kids).get(self.literal)
                    if found is None:
                        return []
                    rest = self.rest
                    if not rest:
                        return list(found)
                    return [c for c in found if all(p(c, variables) for p in rest)]
                table = kids.get(node)
                if table is None:
                    table = kids[node] = children_by_tag(node)
                found = table.get(self.tag)
                if found is None:
                    return []
            else:
                found = node.iterchildren(self.tag)
        else:
            found = node.iterchildren(etree.Element)
            if self.namespace is not None:
                ns = self.namespace
                found = (c for c in found if c.tag.startswith(ns))
        preds = self.predicates
        if not preds:
            return list(found)
        if len(preds) == 1:
            p = preds[0]
            return [c for c in found if p(c, variables)]
        return [c for c in found if all(p(c, variables) for p in preds)]

    def index(self, node: etree._Element, kids: dict) -> dict[str, list]:
        """The children of ``node`` this step names, by the values of its indexed predicate's path
        (made once per parent and read, kept in ``kids``)."""
        key = (node, self.index_key)
        index = kids.get(key)
        if index is None:
            table = kids.get(node)
            if table is None:
                table = kids[node] = children_by_tag(node)
            index = kids[key] = _value_index(table.get(self.tag, ()), self.index_values)
        return index

    def first(self, node: etree._Element, variables: Variables) -> Optional[etree._Element]:
        """The first child of ``node`` this step matches, or None."""
        preds = self.predicates
        if self.tag is not None:
            if not preds:
                return next(node.iterchildren(self.tag), None)      # find(tag) without ElementPath
            found = node.iterchildren(self.tag)
        else:
            found = node.iterchildren(etree.Element)
        ns = self.namespace
        for c in found:
            if ns is not None and not c.tag.startswith(ns):
                continue
            if all(p(c, variables) for p in preds):
                return c
        return None


class FastPath:
    """A mapping path compiled for reading (``select``) and for writing (``steps``)."""

    def __init__(self, path: Path):
        self.path = path
        self.absolute = path.absolute
        self.steps = [FastStep(s, path) for s in path.steps]
        kinds = [s.kind for s in self.steps]
        self.attribute = self.steps[-1].tag if kinds and kinds[-1] == "attribute" else None
        self.element_steps = self.steps[:-1] if self.attribute else self.steps
        # the common shapes, selected without the general loop
        self.single = len(self.element_steps) == 1 and self.element_steps[0].kind == "child"
        # writing: the tags of a path of plain child steps (found by lxml's find, else appended),
        # and the step created anew for each item of a repeating group ("+", else the last)
        plain = all(s.kind == "child" and s.tag is not None and not s.predicates and not s.step.builders
                    for s in self.element_steps)
        self.plain_tags = tuple(s.tag for s in self.element_steps) if plain else None
        marked = [i for i, s in enumerate(self.element_steps) if s.step.new]
        self.new_index = marked[0] if marked else len(self.element_steps) - 1

    def select(self, ctx: Optional[etree._Element], root: etree._Element, variables: Variables,
               kids: Optional[dict] = None) -> list:
        """What ``Path.select`` gives: elements, or attribute values that know their element."""
        nodes = [root if self.absolute else ctx]
        if self.single:
            nodes = self.element_steps[0].children(nodes[0], variables, kids)
        else:
            for step in self.element_steps:
                kind = step.kind
                if kind == "child":
                    if len(nodes) == 1:
                        nodes = step.children(nodes[0], variables, kids)
                    else:
                        nodes = [c for n in nodes for c in step.children(n, variables, kids)]
                elif kind == "parent":
                    if len(nodes) > 1:        # parents of several nodes: XPath orders and merges them
                        return self.path.select(ctx, root, variables)
                    parent = nodes[0].getparent() if nodes else None
                    nodes = [parent] if parent is not None else []
                if not nodes:
                    return nodes
        tag = self.attribute
        if tag is None:
            return nodes
        out = []
        for n in nodes:
            got = n.get(tag)
            if got is not None:
                out.append(AttributeHit(got, n, tag))
        return out


def compile_path(path: Path) -> Any:
    """A ``FastPath`` for ``path``, or the path itself when XPath must evaluate it."""
    try:
        return FastPath(path)
    except Unsupported:
        return path
    except etree.XPathError:
        return path

