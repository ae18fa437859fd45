"""A mapping compiled once into a specialised reader and writer.

The interpreter (``engine.Reader`` / ``engine.Writer``) looks at each node of a
mapping afresh for every document: it evaluates each path with XPath, asks the
model which fields a class has, sorts a group's children, merges a term's
attributes, decodes a code by scanning its list. Here that work is done once
per mapping (the plan is kept on the ``MappingSpec``, itself cached per file):

* paths become ``fastpath.FastPath`` (Clark names, Python predicates, lxml's
  C-level child iteration) for reading and for finding or creating elements;
* each group node knows its children in writing order, the model fields it
  cannot carry, its template; each leaf its parser, its code lists both ways,
  its attributes, its compound sub-terms;
* locations stay lazy: the source map records elements, and a place is worded
  only when a finding asks for it (as the interpreter does);
* each group is then written out as Python source, one reading and one writing
  function per group (``gen_read``, ``gen_write``); ``CompiledReader.group`` and
  ``CompiledWriter.group`` run those, and their own methods (``walk``,
  ``write_node``...) serve the cases the generated code hands back.

The result is the interpreter's, bit for bit: the same ``Invoice``, findings,
source map and written tree (``tests/conformance/test_compiled_mapping.py``
runs both on every corpus sample and on the fuzz mutants). The interpreter
stays the reference; ``gateway.mapping.read``/``write`` use this form.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from lxml import etree

from gateway.model import invoice as model
from gateway.model.errors import InputError, MappingError
from gateway.model.findings import Finding
from gateway.model.numbers import NumberError, checked
from . import engine, gen_read, gen_write
from .engine import (_TEMPLATE_TERM, ReadResult, WriteResult, _absent, _compile_template, _format_value,
                     _parse_value, _unwritable, _ValueError)
from .fastpath import FastPath, children_by_tag, compile_path
from .ensure import ensure, ensure_all
from .paths import NoPlace, Path
from .plain import plain_number
from .spec import GroupNode, LeafNode, MappingSpec, Node

_NONE: list = []           # an empty hit list, never changed
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")


class _Leaf:
    """What reading and writing one leaf node needs, worked out once."""

    __slots__ = ("typ", "value_type", "compound", "main", "subs", "decode", "parse", "attrs", "places",
                 "absolute_places")

    def __init__(self, plan: "Plan", node: LeafNode):
        spec = plan.spec
        typ = node.field.type
        self.typ = typ
        self.compound = model.is_compound(typ)
        self.main = None
        self.subs: list[tuple[Any, str, Any, Optional[dict]]] = []
        if self.compound:
            fields = {sf.term: sf for sf in model.term_fields(typ)}
            self.main = fields[""]
            for suffix, p in node.subs.items():
                sf = fields[suffix]
                self.subs.append((plan.fast(p), sf.name, sf.type, _reverse(node.sub_codes.get(suffix) or None)))
        self.value_type = self.main.type if self.compound else typ     # the main value's type
        self.decode = _reverse(node.codes)
        self.parse = plan.parser(self.value_type, node.format, node.term)
        attrs = dict(spec.datatype_attrs.get(model.datatype(node.term) or "", {}))
        attrs.update(node.attrs)
        self.attrs = [(k, v[1:] if v.startswith("$") else None, v) for k, v in attrs.items()]
        self.places = [plan.fast(a.path) for a in node.places]
        self.absolute_places = [plan.fast(a.path) for a in node.places if a.path.absolute]


def _reverse(codes: Optional[dict]) -> Optional[dict]:
    """model -> syntax codes, turned around; the first model code of a syntax code wins (as ``_decode``)."""
    if not codes:
        return None
    out: dict[str, str] = {}
    for k, v in codes.items():
        out.setdefault(v, k)
    return out


def _plain_tag(plan: "Plan", node: Node) -> Optional[str]:
    """The Clark name when a node's one place is one child step without predicates (read by a look-up)."""
    if len(node.places) != 1:
        return None
    fp = plan.fast(node.places[0].path)
    if not isinstance(fp, FastPath) or fp.absolute or fp.attribute or not fp.single:
        return None
    step = fp.element_steps[0]
    return step.tag if step.tag is not None and not step.predicates else None


def _first_tags(plan: "Plan", node: Node) -> Optional[tuple[str, ...]]:
    """The Clark names of the first steps of a node's places, when every place is a relative path
    starting with a named child step: a context with none of those children holds none of it."""
    if not node.places:
        return None
    out = []
    for alt in node.places:
        fp = plan.fast(alt.path)
        if type(fp) is not FastPath or fp.absolute or not fp.element_steps:
            return None
        step = fp.element_steps[0]
        if step.kind != "child" or step.tag is None:
            return None
        out.append(step.tag)
    return tuple(out)


class _Group:
    __slots__ = ("cls", "children", "write_order", "foreign", "template_terms", "places", "absolute_places",
                 "has_absolute")

    def __init__(self, plan: "Plan", node: GroupNode, cls: type):
        self.cls = cls
        self.children = [(c, _plain_tag(plan, c), _first_tags(plan, c)) for c in node.children.values()]
        self.write_order = sorted(node.children.values(), key=lambda n: isinstance(n, LeafNode) and n.broadcast)
        self.template_terms = set(_TEMPLATE_TERM.findall(node.text)) if node.text else set()
        # fields of the class this node has no entry for: what writing reports as dropped
        self.foreign = [f for f in model.term_fields(cls)
                        if f.term not in node.children and f.term not in self.template_terms]
        self.places = [plan.fast(a.path) for a in node.places]
        self.absolute_places = [plan.fast(a.path) for a in node.places if a.path.absolute]
        self.has_absolute = engine.Reader._has_absolute(node)


class Plan:
    """A mapping's nodes and paths, compiled once."""

    def __init__(self, spec: MappingSpec):
        self.spec = spec
        self._paths: dict[int, Any] = {}
        self._keep: list[Path] = []
        self.leaves: dict[int, _Leaf] = {}
        self.groups: dict[int, _Group] = {}
        sep = spec.formats.get("decimal_separator")
        self.sep = sep if sep and sep != "." else None
        self.date_format = spec.formats.get("date", "%Y-%m-%d")
        self._compile(spec.tree, model.Invoice)
        self.skeleton = [self.fast(p) for p in spec.skeleton]
        self._readers: Optional[dict] = None
        self._writers: Optional[dict] = None

    def readers(self) -> dict:
        """id(group node) -> its generated reading function (``gen_read``), made on first use."""
        if self._readers is None:
            self._readers = gen_read.generate(self)
        return self._readers

    def writers(self) -> dict:
        """id(group node) -> its generated writing function (``gen_write``), made on first use."""
        if self._writers is None:
            self._writers = gen_write.generate(self)
        return self._writers

    def fast(self, path: Path) -> Any:
        got = self._paths.get(id(path))
        if got is None:
            got = compile_path(path)
            self._paths[id(path)] = got
            self._keep.append(path)          # ids stay unique while the plan lives
        return got

    def _compile(self, node: Node, cls: type) -> None:
        for p, _ in node.const:
            self.fast(p)
        for alt in node.places + (node.write_places or []):
            self.fast(alt.path)
        if isinstance(node, GroupNode):
            self.groups[id(node)] = _Group(self, node, cls)
            for child in node.children.values():
                self._compile(child, child.field.type)
        else:
            assert isinstance(node, LeafNode)
            self.leaves[id(node)] = _Leaf(self, node)

    def parser(self, typ: Any, fmt: Optional[str], term: Optional[str]) -> Any:
        """text -> value, as ``engine._parse_value`` with the node's own format (codes decoded before)."""
        spec = self.spec
        if typ is Decimal:
            sep = self.sep

            plain = plain_number(term)

            def decimal(text: str) -> Decimal:
                if sep:
                    text = text.replace(sep, ".")
                if plain(text):                  # within the bounds as written: nothing to check
                    return Decimal(text)
                try:
                    d = Decimal(text)
                except InvalidOperation:
                    raise _ValueError(f"{text!r} is not a decimal number") from None
                if not d.is_finite():
                    raise _ValueError(f"{text!r} is not a finite number")
                return checked(d, term, text)
            return decimal
        if typ is date:
            fmt = fmt or self.date_format
            iso = fmt == "%Y-%m-%d"

            def a_date(text: str) -> date:
                if iso:
                    m = _ISO_DATE.match(text)
                    if m:
                        try:
                            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                        except ValueError:
                            raise _ValueError(f"{text!r} is not a date in the format {fmt}") from None
                try:
                    return datetime.strptime(text, fmt).date()
                except ValueError:
                    raise _ValueError(f"{text!r} is not a date in the format {fmt}") from None
            return a_date
        if typ is str:
            return None
        return lambda text: _parse_value(text, typ, spec)


def plan_of(spec: MappingSpec) -> Plan:
    """The compiled plan of a mapping, made on first use and kept with it."""
    plan = spec.__dict__.get("_compiled_plan")
    if plan is None:
        plan = Plan(spec)
        spec.__dict__["_compiled_plan"] = plan
    return plan


# --- reading ------------------------------------------------------------------------------

class CompiledReader(engine.Reader):
    """The interpreter's reading, node for node, with the plan's paths and parsers."""

    def __init__(self, spec: MappingSpec, root: etree._Element, describe: Any = None):
        super().__init__(spec, root, describe)
        self.plan = plan_of(spec)
        self.kids: dict = {}         # element -> its children by tag, made once per element read
        self.generated = self.plan.readers()

    def select(self, node: Node, ctx: Optional[etree._Element]) -> list:
        if not node.places:
            return [ctx] if ctx is not None else []
        info = self.plan.leaves.get(id(node)) or self.plan.groups[id(node)]
        places = info.places if ctx is not None else info.absolute_places
        root, variables, kids = self.root, self.variables, self.kids
        if node.repeats and len(places) > 1:
            hits = []
            found = 0                   # places that hit: one place's hits are in document order already
            for p in places:
                got = p.select(ctx, root, variables, kids) if type(p) is FastPath else p.select(ctx, root, variables)
                if got:
                    hits.extend(got)
                    found += 1
            return sorted(hits, key=self._doc_order) if found > 1 else hits
        for p in places:
            hits = p.select(ctx, root, variables, kids) if type(p) is FastPath else p.select(ctx, root, variables)
            if hits:
                return hits
        return []

    def group(self, cls: type, node: GroupNode, ctx: Optional[etree._Element], mpath: str) -> Any:
        if ctx is not None:
            return self.generated[id(node)](self, ctx, mpath)
        return self.walk(cls, node, ctx, mpath)

    def walk(self, cls: type, node: GroupNode, ctx: Optional[etree._Element], mpath: str) -> Any:
        """A group read child by child (what the generated functions do, written out)."""
        plan = self.plan
        kwargs: dict[str, Any] = {}
        if node.text is not None:
            kwargs.update(self.template_values(cls, node.text, ctx.text or ""))
        groups, leaves = plan.groups, plan.leaves
        table = None
        for child, tag, first in groups[id(node)].children:
            f = child.field
            name = f.name
            cpath = f"{mpath}.{name}" if mpath else name
            if first is not None and ctx is not None:
                if table is None:
                    kids = self.kids
                    table = kids.get(ctx)
                    if table is None:
                        table = kids[ctx] = children_by_tag(ctx)
                if tag is not None:
                    hits = table.get(tag, _NONE)
                else:
                    for t in first:
                        if t in table:
                            hits = self.select(child, ctx)
                            break
                    else:           # none of the children its paths start with: nothing to select
                        hits = _NONE
            else:
                hits = self.select(child, ctx)
            if f.repeats:
                if not child.repeats:
                    hits = hits[:1]
                items = []
                if isinstance(child, GroupNode):
                    ccls = f.type
                    for i, hit in enumerate(hits):
                        v = self.group_value(child, ccls, hit, f"{cpath}[{i}]")
                        if v is not None:
                            items.append(v)
                else:
                    leaf = leaves[id(child)]
                    for i, hit in enumerate(hits):
                        v = self.leaf_value(child, leaf, hit, f"{cpath}[{i}]")
                        if v is not None:
                            items.append(v)
                kwargs[name] = items
            elif hits:
                if isinstance(child, GroupNode):
                    kwargs[name] = self.group_value(child, f.type, hits[0], cpath)
                else:
                    kwargs[name] = self.leaf_value(child, leaves[id(child)], hits[0], cpath)
                    if child.broadcast and not child.into_first and len(hits) > 1:
                        self.broadcast_rest(child, hits, cpath)
            elif isinstance(child, GroupNode) and not child.repeats and groups[id(child)].has_absolute:
                obj = self.group(f.type, child, None, cpath)
                kwargs[name] = None if model.is_empty(obj) else obj
        obj = cls(**kwargs)
        if mpath and ctx is not None:
            self.smap.places[mpath] = (ctx, None)
        return obj

    def group_value(self, node: GroupNode, cls: type, hit: Any, mpath: str) -> Any:
        if not isinstance(hit, etree._Element):
            raise MappingError(f"{node.source}: a group must be located at an element")
        obj = self.group(cls, node, hit, mpath)
        if node.field.repeats:
            return obj
        return None if model.is_empty(obj) else obj

    def value(self, node: Node, hit: Any, mpath: str) -> Any:
        if isinstance(node, GroupNode):
            return self.group_value(node, node.field.type, hit, mpath)
        return self.leaf_value(node, self.plan.leaves[id(node)], hit, mpath)

    def leaf_value(self, node: LeafNode, leaf: _Leaf, hit: Any, mpath: str) -> Any:
        if not leaf.compound:
            return self.text_value(node, leaf.parse, leaf.decode, hit, mpath)
        values = {leaf.main.name: self.text_value(node, leaf.parse, leaf.decode, hit, mpath)}
        owner = hit.getparent() if isinstance(hit, str) else hit
        for p, name, typ, decode in leaf.subs:
            got = p.select(owner, self.root, self.variables, self.kids) if type(p) is FastPath \
                else p.select(owner, self.root, self.variables)
            if got:
                values[name] = self.text_value(node, None, decode, got[0], f"{mpath}.{name}", typ)
        obj = leaf.typ(**values)
        return None if model.is_empty(obj) else obj

    def text_value(self, node: LeafNode, parse: Any, decode: Optional[dict], hit: Any, mpath: str,
                   typ: Any = None) -> Any:
        """``engine.Reader.scalar``: the node's own parser, or (a sub-term) the generic one for ``typ``."""
        if isinstance(hit, str):
            text = str(hit)
            el, attr = hit.getparent(), getattr(hit, "attrname", None)
        else:
            text = hit.text
            if text is None:
                return None
            el, attr = hit, None
        own = typ is None
        if own:
            typ = self.plan.leaves[id(node)].value_type
        if node.strip or typ is not str:
            text = text.strip()
        if text == "" or (node.absent and self._is_placeholder(text, typ, node)):
            return None
        if el is not None:
            self.smap.places[mpath] = (el, attr)
        if decode:
            text = decode.get(text, text)
        try:
            if own:
                return text if parse is None else parse(text)
            return _parse_value(text, typ, self.spec, None)
        except NumberError as exc:
            raise InputError(f"{node.term}: {exc}", location=self.smap.where(el, attr),
                             line=el.sourceline if el is not None else None) from None
        except _ValueError as exc:
            where = self.smap.where(el, attr)
            self.findings.append(Finding(
                rule="READ-VALUE", message=f"{node.term}: {exc}", terms=(node.term,), path=mpath,
                location=where, line=el.sourceline if el is not None else None))
            return None

    def scalar(self, node: LeafNode, hit: Any, typ: Any, mpath: str, codes: Any = True) -> Any:
        raise AssertionError("the compiled reader does not call scalar")


# --- writing ------------------------------------------------------------------------------

class CompiledWriter(engine.Writer):
    """The interpreter's writing, node for node, with the plan's paths and precomputed node facts."""

    def __init__(self, spec: MappingSpec, invoice: model.Invoice, root: Optional[etree._Element] = None):
        super().__init__(spec, invoice, root)
        self.plan = plan_of(spec)
        self.generated = self.plan.writers()

    def run(self) -> WriteResult:
        self.group(self.invoice, self.spec.tree, self.root, "")
        prune_empty(self.root)
        for p in self.plan.skeleton:
            ensure(p, self.root, self.root, self.variables)
        return WriteResult(self.root, self.dropped, self.findings)

    def group(self, obj: Any, node: GroupNode, el: etree._Element, mpath: str) -> None:
        self.generated[id(node)](self, obj, el, mpath)

    def walk(self, obj: Any, node: GroupNode, el: etree._Element, mpath: str) -> None:
        """A group written child by child (what the generated functions do, written out)."""
        info = self.plan.groups[id(node)]
        if node.text is not None:
            el.text = self.compose(obj, node.text)
        if type(obj) is info.cls:
            foreign = info.foreign
        else:
            foreign = [f for f in model.term_fields(type(obj))
                       if f.term not in node.children and f.term not in info.template_terms]
        for f in foreign:
            value = getattr(obj, f.name)
            if _absent(value):
                continue
            cpath = f"{mpath}.{f.name}" if mpath else f.name
            if f.repeats:
                for i, item in enumerate(value):
                    self.drop(item, f.term, f"{cpath}[{i}]")
            else:
                self.drop(value, f.term, cpath)
        variables = self.variables
        for child in info.write_order:
            f = child.field
            value = getattr(obj, f.name)
            if f.repeats:
                if not value:
                    continue
                cpath = f"{mpath}.{f.name}" if mpath else f.name
                items = value if child.repeats else value[:1]
                for i, item in enumerate(value[len(items):], start=len(items)):
                    self.drop(item, f.term, f"{cpath}[{i}]")
                outer = variables.get("position")
                for i, item in enumerate(items):
                    variables["position"] = str(i + 1)
                    self.write_node(child, item, el, obj, f"{cpath}[{i}]", new_item=child.repeats)
                if outer is None:
                    variables.pop("position", None)
                else:
                    variables["position"] = outer
            elif value is not None and value != "" and value != []:
                self.write_node(child, value, el, obj, f"{mpath}.{f.name}" if mpath else f.name, new_item=False)
            elif isinstance(child, LeafNode) and child.default is not None:
                self.write_default(child, el, obj, f"{mpath}.{f.name}" if mpath else f.name)
        if node.const and mpath and not model.is_empty(obj):
            self.consts(node, el)

    def consts(self, node: Node, el: etree._Element) -> None:
        fast = self.plan.fast
        for p, value in node.const:
            if value.startswith("$"):
                value = self.variables.get(value[1:], "")
            target = ensure(fast(p), el, self.root, self.variables)
            if p.target_attribute:
                if target.get(p.target_attribute) is None:
                    target.set(p.target_attribute, value)
            elif not (target.text or "").strip():
                target.text = value

    def write_node(self, node: Node, value: Any, ctx: etree._Element, parent_obj: Any, mpath: str,
                   *, new_item: bool) -> None:
        alts = node.write_places if node.write_places is not None else node.places
        if not alts:
            if new_item:
                raise MappingError(f"{node.source}: a repeating term needs an 'each' path")
            target = ctx
            alt = None
        else:
            alt = alts[0] if len(alts) == 1 and _unconditional(alts[0]) else self.choose(node, value, parent_obj)
            if alt is None:
                self.drop(value, node.term, mpath)
                return
            target = None
        fast = self.plan.fast
        try:
            if isinstance(node, GroupNode):
                if alt is not None:
                    target = ensure(fast(alt.path), ctx, self.root, self.variables, new_item=new_item)
                self.group(value, node, target, mpath)
                return
            if alt is None:
                targets = [target]
            elif node.broadcast and not node.into_first:
                targets = ensure_all(fast(alt.path), ctx, self.root, self.variables)
            else:
                targets = [ensure(fast(alt.path), ctx, self.root, self.variables, new_item=new_item)]
        except NoPlace:
            self.drop(value, node.term, mpath)
            return
        leaf = self.plan.leaves[id(node)]
        compound = model.is_compound(type(value))
        if compound:
            main = next(sf for sf in model.term_fields(type(value)) if sf.term == "")
            main_value = getattr(value, main.name)
        else:
            main_value = value
        attr = alt.path.target_attribute if alt else None
        for target in targets:
            try:
                self.put_value(node, leaf, attr, target, main_value)
            except NumberError as exc:
                raise _unwritable(node.term, mpath, exc) from None
            if compound:
                self.put_subterms(node, value, target, mpath)
            if node.const:
                self.consts(node, target)

    def put_subterms(self, node: LeafNode, value: Any, target: etree._Element, mpath: str) -> None:
        fast = self.plan.fast
        for sf in model.term_fields(type(value)):
            sv = getattr(value, sf.name)
            if sf.term == "" or _absent(sv):
                continue
            p = node.subs.get(sf.term)
            listed = node.sub_codes.get(sf.term, {})
            if p is None or (sf.term in node.sub_only_listed and str(sv) not in listed):
                self.drop(sv, node.term + sf.term, f"{mpath}.{sf.name}")
                continue
            owner = ensure(fast(p), target, self.root, self.variables)
            text = _format_value(sv, self.spec, node.sub_codes.get(sf.term))
            if p.target_attribute:
                owner.set(p.target_attribute, text)
            else:
                owner.text = text

    def put_value(self, node: LeafNode, leaf: _Leaf, attr: Optional[str], target: etree._Element,
                  value: Any) -> None:
        if value is None:
            return
        if type(value) is str and not node.codes:
            text = value
        else:
            text = _format_value(value, self.spec, node.codes, node.format, node.term)
        if attr:
            target.set(attr, text)
            return
        target.text = text
        variables = self.variables
        for k, var, v in leaf.attrs:
            if var is not None:
                v = variables.get(var, "")
            if v:
                target.set(k, v)


def _unconditional(alt: Any) -> bool:
    return not alt.when and not alt.unless_same and alt.matches is None


def prune_empty(root: etree._Element) -> None:
    """``engine._prune_empty`` without recursion: children come before their parent in reverse
    document order, so each element is judged with its own emptied descendants gone."""
    for el in reversed(list(root.iter())):
        if el is root:
            continue
        if len(el) == 0 and not (el.text or "").strip() and not el.attrib:
            el.getparent().remove(el)


def read(spec: MappingSpec, root: etree._Element, describe: Any = None) -> ReadResult:
    """``engine.read`` through the compiled mapping."""
    return CompiledReader(spec, root, describe).run()


def write(spec: MappingSpec, invoice: model.Invoice, root: Optional[etree._Element] = None) -> WriteResult:
    """``engine.write`` through the compiled mapping."""
    return CompiledWriter(spec, invoice, root).run()
