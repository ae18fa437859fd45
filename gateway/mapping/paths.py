"""The location language of mapping files: one path, read and written.

A path is a small XPath subset over a tree of elements, e.g.::

    cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID
    cac:TaxTotal[cbc:TaxAmount/@currencyID=$BT-5]/cac:TaxSubtotal
    cac:PaymentMeans+/cac:PayeeFinancialAccount
    /cac:InvoicePeriod/cbc:StartDate          (leading "/": from the root element)
    ../ram:ReferenceTypeCode

Reading compiles the path (with ``+`` removed) to an lxml XPath, so any
XPath predicate can filter (``not(...)``, positions). Writing walks the steps:
each step finds its first matching child or creates it; ``+`` marks the step
that is created anew for every item of a repeating group (default: the last
step); and *constructive* predicates of the form ``[a/b='x']``, ``[@a='x']``
or ``[a=$BT-5]`` are written into a created element, so the element we create
is the element the path will find again. Other predicates only filter.

The same language serves every syntax: XML documents directly, EDIFACT and
CSV through the element trees their adapters build.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping as TMapping, Optional, Sequence

from lxml import etree

from gateway.model.errors import MappingError

class NoPlace(Exception):
    """Writing: a step that finds nothing cannot be created (a wildcard such as ``ram:*[...]``
    names no element); the value has no place in this document and is reported as dropped."""


_CONSTRUCTIVE = re.compile(
    r"""^\s*(?P<lhs>[@\w:.\-/]+?)\s*=\s*(?P<rhs>'[^']*'|"[^"]*"|\$[A-Za-z][\w.\-]*)\s*$""")


def split_steps(path: str) -> list[str]:
    """Split at '/' outside brackets and quotes."""
    steps, buf, depth, quote = [], [], 0, None
    for ch in path:
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
            steps.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote or depth:
        raise MappingError(f"unbalanced brackets or quotes in path {path!r}")
    steps.append("".join(buf))
    return steps


def _split_predicates(step: str) -> tuple[str, list[str]]:
    """'a:b[x][y]' -> ('a:b', ['x', 'y'])."""
    i = step.find("[")
    if i < 0:
        return step, []
    name, rest = step[:i], step[i:]
    preds, depth, quote, buf = [], 0, None, []
    for ch in rest:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "[":
            if depth:
                buf.append(ch)
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth:
                buf.append(ch)
            else:
                preds.append("".join(buf))
                buf = []
        elif depth:
            buf.append(ch)
        elif not ch.isspace():
            raise MappingError(f"unexpected {ch!r} after predicates in step {step!r}")
    return name, preds


@dataclass
class Step:
    name: str                 # ".", "..", "@attr" or "prefix:local"
    new: bool = False         # "+": created anew for each item
    predicates: list[str] = field(default_factory=list)
    builders: list[tuple[list[str], str]] = field(default_factory=list)  # constructive predicates
    find: Any = None          # compiled XPath selecting matching children
    tag: Optional[str] = None  # Clark name, for predicate-free element steps (fast path)

    @property
    def is_attribute(self) -> bool:
        return self.name.startswith("@")

    @property
    def creatable(self) -> bool:
        """Whether writing can create the element this step names (a wildcard names none)."""
        return "*" not in self.name and "::" not in self.name

    @property
    def xpath(self) -> str:
        return self.name + "".join(f"[{p}]" for p in self.predicates)


class Path:
    """A compiled mapping path."""

    def __init__(self, text: str, namespaces: TMapping[str, str]):
        self.text = text
        self.namespaces = {k: v for k, v in namespaces.items() if k}
        body = text.strip()
        self.absolute = body.startswith("/")
        if self.absolute:
            body = body[1:]
        self.steps: list[Step] = []
        for raw in split_steps(body):
            name, preds = _split_predicates(raw.strip())
            new = name.endswith("+")
            if new:
                name = name[:-1]
            if not name:
                raise MappingError(f"empty step in path {text!r}")
            step = Step(name=name, new=new, predicates=preds)
            for p in preds:
                m = _CONSTRUCTIVE.match(p)
                if m:
                    step.builders.append((split_steps(m.group("lhs")), m.group("rhs")))
            if not step.is_attribute and name not in (".", ".."):
                step.find = self._compile(step.xpath)
                if not preds and "*" not in name:
                    step.tag = self.qname(name)
            self.steps.append(step)
        for s in self.steps[:-1]:
            if s.is_attribute:
                raise MappingError(f"attribute step {s.name!r} must be last in path {text!r}")
        self.variables = set(re.findall(r"\$([A-Za-z][\w.\-]*)", text))
        unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
        for prefix in re.findall(r"(?<![\w:$.-])([A-Za-z_][\w.-]*):(?!:)[A-Za-z_*]", unquoted):
            if prefix not in self.namespaces:
                raise MappingError(f"unknown namespace prefix {prefix!r} in path {text!r}")
        self.read_xpath = "/".join(s.xpath for s in self.steps) or "."
        self._select = self._compile(self.read_xpath)


    def _compile(self, xp: str) -> etree.XPath:
        try:
            return etree.XPath(xp, namespaces=self.namespaces)
        except etree.XPathSyntaxError as exc:
            raise MappingError(f"invalid path {self.text!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    # -- reading --------------------------------------------------------------------
    def select(self, ctx: etree._Element, root: etree._Element, variables: TMapping[str, str]) -> list:
        """Elements (or attribute values, as lxml smart strings) the path points at."""
        start = root if self.absolute else ctx
        return self._select(start, **variables) if self.variables else self._select(start)

    # -- writing --------------------------------------------------------------------
    @property
    def target_attribute(self) -> Optional[str]:
        last = self.steps[-1]
        return last.name[1:] if last.is_attribute else None

    def element_steps(self) -> list[Step]:
        return self.steps[:-1] if self.target_attribute else self.steps

    def ensure(self, ctx: etree._Element, root: etree._Element, variables: TMapping[str, str],
               *, new_item: bool = False) -> etree._Element:
        """Find or create the element the path ends at (its owner, for an attribute)."""
        node = root if self.absolute else ctx
        steps = self.element_steps()
        new_index = -1
        if new_item:
            marked = [i for i, s in enumerate(steps) if s.new]
            new_index = marked[0] if marked else len(steps) - 1
        for i, step in enumerate(steps):
            node = self._walk(node, step, variables, create_new=(i == new_index))
        return node

    def ensure_all(self, ctx: etree._Element, root: etree._Element,
                   variables: TMapping[str, str]) -> list[etree._Element]:
        """For broadcast terms: the path's end under *every* match of its first step.

        ``cac:PaymentMeans/cbc:PaymentMeansCode`` gives a code element in each
        payment means (one is created if there is none; ``NoPlace`` when the
        first step is a wildcard that matches nothing)."""
        steps = self.element_steps()
        start = root if self.absolute else ctx
        if not steps:
            return [start]
        first, rest = steps[0], steps[1:]
        if first.find is None:
            heads = [self._walk(start, first, variables, create_new=False)]
        else:
            heads = first.find(start, **variables) if self.variables else first.find(start)
            heads = list(heads) or [self._walk(start, first, variables, create_new=False)]
        out = []
        for node in heads:
            for step in rest:
                node = self._walk(node, step, variables, create_new=False)
            out.append(node)
        return out

    def _walk(self, node: etree._Element, step: Step, variables: TMapping[str, str],
              *, create_new: bool) -> etree._Element:
        if step.name == ".":
            return node
        if step.name == "..":
            parent = node.getparent()
            if parent is None:
                raise MappingError(f"path {self.text!r} climbs above the root")
            return parent
        if not create_new:
            if step.tag is not None:        # no predicate: lxml's C-level find is enough
                hit = node.find(step.tag)
                if hit is not None:
                    return hit
            else:
                found = step.find(node, **variables) if self.variables else step.find(node)
                if found:
                    return found[0]
        if not step.creatable:
            raise NoPlace(f"nothing matches {step.xpath!r} of path {self.text!r}, and it names no element to create")
        child = etree.SubElement(node, self.qname(step.name))
        for lhs, rhs in step.builders:
            value = rhs[1:-1] if rhs[0] in "'\"" else variables.get(rhs[1:], "")
            self._build(child, lhs, value)
        return child

    def _build(self, node: etree._Element, steps: Sequence[str], value: str) -> None:
        for i, name in enumerate(steps):
            if name.startswith("@"):
                node.set(name[1:], value)
                return
            if name == ".":
                continue
            q = self.qname(name)
            found = node.find(q)
            node = found if found is not None else etree.SubElement(node, q)
        node.text = value

    def qname(self, name: str) -> str:
        if ":" in name:
            prefix, local = name.split(":", 1)
            try:
                return f"{{{self.namespaces[prefix]}}}{local}"
            except KeyError:
                raise MappingError(f"unknown namespace prefix {prefix!r} in path {self.text!r}") from None
        return name
