"""A mapping's writer generated as Python source: one function per group of the mapping.

``compiled.CompiledWriter.group`` decides for every object it writes which of its
fields the mapping cannot carry, in what order its children go, whether each is
a group or a term, where it goes and how its value is worded. Here those
decisions are taken once per mapping: each group becomes a function that reads
its fields by name and, for a child written at one unconditional place of plain
child steps (``cac:PartyName/cbc:Name``), finds or creates the elements with
lxml's C child iteration and ``SubElement`` written out step by step and sets the text and the
datatype's attributes in line. Anything else (write alternatives with
conditions, paths with predicates or absolute ones, broadcast terms, compound
values, defaults, a value of an unexpected type) calls the compiled writer's own
methods, so the output is the interpreter's, byte for byte
(``tests/conformance/test_compiled_mapping.py``).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Callable, Optional

from lxml import etree

from gateway.model import invoice as model
from gateway.model.numbers import NumberError
from .engine import _format_value, _unwritable
from .ensure import ensure
from .fastpath import FastPath
from .paths import NoPlace
from .plain import plain_text
from .source import Source
from .spec import GroupNode, LeafNode

WriterFn = Callable[[Any, Any, etree._Element, str], None]

_VALUE_TYPES = (str, Decimal, date, bytes)


def generate(plan: Any) -> dict[int, WriterFn]:
    """id(group node) -> its generated writing function ``fn(writer, obj, element, mpath)``."""
    src = Source(f"<mapping writer {plan.spec.name}>")
    src.names.update(SubElement=etree.SubElement, ensure=ensure, NoPlace=NoPlace, is_empty=model.is_empty,
                     NumberError=NumberError, _format_value=_format_value, _unwritable=_unwritable, SPEC=plan.spec)
    funcs: dict[int, str] = {}
    _group(src, plan, plan.spec.tree, funcs)
    namespace = src.build()
    return {key: namespace[name] for key, name in funcs.items()}


def _alternative(node: Any) -> Optional[Any]:
    """The one place a node is written at when it has no condition but ``when`` terms, else None."""
    alts = node.write_places if node.write_places is not None else node.places
    if len(alts) != 1:
        return None
    alt = alts[0]
    if alt.unless_same or alt.matches is not None:
        return None
    return alt


def _condition(alt: Any, node: Any, leaf: Any, value: str, parent_cls: type) -> Optional[str]:
    """The test that one of the ``when`` terms of a leaf's one place is empty (the value is then
    dropped: ``choose`` finds no place), each term where ``_term_value`` finds it: the value itself,
    one of its sub-terms, a field of the parent object, a field of the invoice, else nowhere."""
    if not alt.when:
        return None
    own = node.term
    tests = []
    for tid in alt.when:
        expr = None
        if tid == own:
            expr = value
        elif tid.startswith(own) and leaf.compound:
            sub = next((f for f in model.term_fields(leaf.typ) if f.term == tid[len(own):]), None)
            if sub is not None:
                expr = f"{value}.{sub.name}"
        if expr is None:
            for holder, cls in (("obj", parent_cls), ("w.invoice", model.Invoice)):
                field = next((f for f in model.term_fields(cls) if f.term == tid), None)
                if field is not None:
                    expr = f"{holder}.{field.name}"
                    break
            else:
                expr = "None"
        tests.append(f"is_empty({expr})")
    return " or ".join(tests)


def _at_self(plan: Any, alt: Any) -> bool:
    """Whether a place is its context element itself (``.``)."""
    fp = plan.fast(alt.path)
    return type(fp) is FastPath and not fp.absolute and fp.attribute is None and \
        bool(fp.element_steps) and all(s.kind == "self" for s in fp.element_steps)


def _plain(plan: Any, node: Any) -> Optional[tuple[tuple[str, ...], int, Optional[str]]]:
    """(tags, index created anew for a new item, target attribute) of a node written at one
    unconditional relative path of plain child steps; None otherwise."""
    alt = _alternative(node)
    if alt is None:
        return None
    fp = plan.fast(alt.path)
    if type(fp) is not FastPath or fp.absolute or fp.plain_tags is None or not fp.plain_tags:
        return None
    return fp.plain_tags, fp.new_index, alt.path.target_attribute


def _ensure(src: Source, ctx: str, tags: tuple, new_index: int, out: str,
            cache: Optional[dict] = None) -> None:
    """``out = ensure.ensure(path, ctx)`` for plain child steps, step by step. ``cache``: prefix ->
    the local name holding the element it leads to once found or made in this call of the group's
    function (elements are only ever appended while writing, so the first child of a name found
    stays the first; a step made anew for a new item is never taken from it)."""
    start = 0
    if cache:
        usable = len(tags) if new_index < 0 else new_index        # the steps before the new one
        for k in range(usable, 0, -1):
            name = cache.get(tags[:k])
            if name is not None:
                _reach(src, ctx, tags[:k], cache)
                src.line(f"{out} = {name}")
                start = k
                break
    if start == 0:
        src.line(f"{out} = {ctx}")
    for i in range(start, len(tags)):
        tag = tags[i]
        if i == new_index:
            src.line(f"{out} = SubElement({out}, {tag!r})")
        else:
            src.line(f"m = next({out}.iterchildren({tag!r}), None)")      # find(tag) without ElementPath
            src.line(f"{out} = m if m is not None else SubElement({out}, {tag!r})")


def _reach(src: Source, ctx: str, prefix: tuple, cache: dict) -> None:
    """Code filling the cached name of ``prefix`` when it is still None (from the longest cached
    shorter prefix)."""
    name = cache[prefix]
    src.line(f"if {name} is None:")
    with src.indent():
        _ensure(src, ctx, prefix, -1, "t", {k: v for k, v in cache.items() if len(k) < len(prefix)})
        src.line(f"{name} = t")


def _chain_of(plan: Any, node: Any, new_item: bool) -> Optional[tuple[tuple[str, ...], int]]:
    """(tags, index made anew or -1) of the plain chain ``_write`` walks in line for ``node``, or None."""
    plain = _plain(plan, node)
    if plain is None:
        return None
    tags, new_index, attr = plain
    if isinstance(node, GroupNode):
        if attr is not None or _alternative(node).when:
            return None
    else:
        leaf = plan.leaves[id(node)]
        if (node.broadcast and not node.into_first) or \
                (not leaf.compound and leaf.value_type not in _VALUE_TYPES):
            return None
    return tags, (new_index if new_item else -1)


def _shared_prefixes(plan: Any, info: Any) -> dict[tuple, str]:
    """The element chains two or more of a group's children walk through (the elements found or
    made once per call): prefix -> local name."""
    counts: dict[tuple, int] = {}
    for child in info.write_order:
        got = _chain_of(plan, child, child.repeats if child.field.repeats else False)
        if got is None:
            continue
        tags, new_index = got
        usable = len(tags) if new_index < 0 else new_index
        for k in range(1, usable + 1):
            counts[tags[:k]] = counts.get(tags[:k], 0) + 1
    shared = sorted(p for p, n in counts.items() if n > 1)
    return {p: f"e{i}" for i, p in enumerate(shared)}


def _path(name: str) -> str:
    return f"(mpath + {'.' + name!r} if mpath else {name!r})"


def _group(src: Source, plan: Any, node: GroupNode, funcs: dict[int, str]) -> str:
    info = plan.groups[id(node)]
    fname = f"w{len(funcs)}_{node.term.replace('-', '_')}"
    funcs[id(node)] = fname
    for child in node.children.values():
        if isinstance(child, GroupNode):
            _group(src, plan, child, funcs)
    cnode = src.name(node, "n")
    src.line(f"def {fname}(w, obj, el, mpath):")
    with src.indent():
        src.line(f"if type(obj) is not {src.name(info.cls, 'k')}:")
        src.line(f"    return w.walk(obj, {cnode}, el, mpath)")
        if node.text is not None:
            src.line(f"el.text = w.compose(obj, {node.text!r})")
        for f in info.foreign:
            src.line(f"v = obj.{f.name}")
            src.line("if not (v is None or v == '' or v == []):")
            with src.indent():
                src.line(f"cpath = {_path(f.name)}")
                if f.repeats:
                    src.line("for i, item in enumerate(v):")
                    src.line(f"    w.drop(item, {f.term!r}, f'{{cpath}}[{{i}}]')")
                else:
                    src.line(f"w.drop(v, {f.term!r}, cpath)")
        src.line("variables = w.variables")
        cache = _shared_prefixes(plan, info)
        for name in cache.values():
            src.line(f"{name} = None")
        for child in info.write_order:
            _child(src, plan, child, funcs, cache, info.cls)
        if node.const:
            src.line("if mpath and not is_empty(obj):")
            with src.indent():
                _consts(src, plan, node, "el")
        src.line("return None")
    src.line()
    return fname


def _child(src: Source, plan: Any, child: Any, funcs: dict, cache: dict, parent_cls: type) -> None:
    f = child.field
    src.line(f"v = obj.{f.name}")
    if f.repeats:
        src.line("if v:")
        with src.indent():
            src.line(f"cpath = {_path(f.name)}")
            if child.repeats:
                src.line("items = v")
            else:
                src.line("items = v[:1]")
                src.line("for i, item in enumerate(v[1:], start=1):")
                src.line(f"    w.drop(item, {f.term!r}, f'{{cpath}}[{{i}}]')")
            src.line("outer = variables.get('position')")
            src.line("for i, item in enumerate(items):")
            with src.indent():
                src.line("variables['position'] = str(i + 1)")
                _write(src, plan, child, "item", "f'{cpath}[{i}]'", child.repeats, funcs, cache, parent_cls)
            src.line("if outer is None:")
            src.line("    variables.pop('position', None)")
            src.line("else:")
            src.line("    variables['position'] = outer")
        return
    src.line("if v is not None and v != '' and v != []:")
    with src.indent():
        _write(src, plan, child, "v", _path(f.name), False, funcs, cache, parent_cls)
    if isinstance(child, LeafNode) and child.default is not None:
        src.line("else:")
        src.line(f"    w.write_default({src.name(child, 'n')}, el, obj, {_path(f.name)})")


def _write(src: Source, plan: Any, node: Any, value: str, path: str, new_item: bool, funcs: dict,
           cache: dict, parent_cls: type) -> None:
    """``w.write_node(node, value, el, obj, path, new_item=...)``, written out where it is plain."""
    cnode = src.name(node, "n")
    generic = f"w.write_node({cnode}, {value}, el, obj, {path}, new_item={new_item})"
    plain = _plain(plan, node)
    if isinstance(node, GroupNode):
        alt = _alternative(node)
        if alt is not None and not alt.when and _at_self(plan, alt):       # at: . (the element itself)
            src.line(f"{funcs[id(node)]}(w, {value}, el, {path})")
            return
        if plain is None or plain[2] is not None or alt.when:
            src.line(generic)
            return
        tags, new_index, _ = plain
        _ensure(src, "el", tags, new_index if new_item else -1, "t", cache)
        src.line(f"{funcs[id(node)]}(w, {value}, t, {path})")
        return
    leaf = plan.leaves[id(node)]
    alt = _alternative(node)
    if alt is None or (node.broadcast and not node.into_first) or \
            (not leaf.compound and leaf.value_type not in _VALUE_TYPES):
        src.line(generic)
        return
    src.line(f"if type({value}) is {src.name(leaf.typ, 'k')}:")
    with src.indent():
        condition = _condition(alt, node, leaf, value, parent_cls)
        if condition is not None:           # a 'when' term empty: no place, the value is dropped
            src.line(f"if {condition}:")
            src.line(f"    w.drop({value}, {node.term!r}, {path})")
            src.line("else:")
            src.depth += 1
        if plain is not None:
            tags, new_index, attr = plain
            _ensure(src, "el", tags, new_index if new_item else -1, "t", cache)
            _put(src, plan, node, leaf, value, path, attr)
        else:       # one place, through the compiled path: a place it cannot make drops the value
            src.line("try:")
            src.line(f"    t = ensure({src.name(plan.fast(alt.path), 'P')}, el, w.root, variables, "
                     f"new_item={new_item})")
            src.line("except NoPlace:")
            src.line(f"    w.drop({value}, {node.term!r}, {path})")
            src.line("else:")
            with src.indent():
                _put(src, plan, node, leaf, value, path, alt.path.target_attribute)
        if condition is not None:
            src.depth -= 1
    src.line("else:")
    src.line(f"    {generic}")


def _put(src: Source, plan: Any, node: LeafNode, leaf: Any, value: str, path: str, attr: Optional[str]) -> None:
    """The value into element ``t`` as ``put_value`` puts it (a compound value's sub-terms after), then
    the node's consts."""
    cnode = src.name(node, "n")
    if leaf.compound:
        src.line("try:")
        src.line(f"    w.put_value({cnode}, {src.name(leaf, 'l')}, {attr!r}, t, {value}.{leaf.main.name})")
        src.line("except NumberError as exc:")
        src.line(f"    raise _unwritable({node.term!r}, {path}, exc) from None")
        _subterms(src, plan, node, leaf, value, path)
        if node.const:
            _consts(src, plan, node, "t")
        return
    fallback = f"_format_value({value}, SPEC, {src.name(node.codes, 'd') if node.codes else None}, " \
               f"{node.format!r}, {node.term!r})"
    if leaf.value_type is str and not node.codes:
        src.line(f"text = {value}")
    else:
        if leaf.value_type is Decimal:
            src.line(f"text = {src.name(plain_text(node.term), 'f')}({value})")
            src.line("if text is None:")
            src.depth += 1
        src.line("try:")
        src.line(f"    text = {fallback}")
        src.line("except NumberError as exc:")
        src.line(f"    raise _unwritable({node.term!r}, {path}, exc) from None")
        if leaf.value_type is Decimal:
            src.depth -= 1
            sep = plan.spec.formats.get("decimal_separator")
            if (sep and sep != ".") or node.codes:
                src.line("else:")
                with src.indent():
                    if sep and sep != ".":
                        src.line(f"text = text.replace('.', {sep!r})")
                    if node.codes:
                        src.line(f"text = {src.name(node.codes, 'd')}.get(text, text)")
    if attr:
        src.line(f"t.set({attr!r}, text)")
    else:
        src.line("t.text = text")
        for k, var, v in leaf.attrs:
            if var is not None:
                src.line(f"a = variables.get({var!r}, '')")
                src.line("if a:")
                src.line(f"    t.set({k!r}, a)")
            elif v:
                src.line(f"t.set({k!r}, {v!r})")
    if node.const:
        _consts(src, plan, node, "t")


def _subterms(src: Source, plan: Any, node: LeafNode, leaf: Any, value: str, path: str) -> None:
    """``w.put_subterms(node, value, t, path)`` written out: each sub-term of the compound value
    (a scheme, a list id) at its place under ``t``, or dropped when the mapping has none for it."""
    for sf in model.term_fields(leaf.typ):
        if sf.term == "":
            continue
        src.line(f"sv = {value}.{sf.name}")
        src.line("if not (sv is None or sv == '' or sv == []):")
        with src.indent():
            drop = f"w.drop(sv, {node.term + sf.term!r}, {path} + {'.' + sf.name!r})"
            p = node.subs.get(sf.term)
            if p is None:
                src.line(drop)
                continue
            codes = node.sub_codes.get(sf.term)
            if sf.term in node.sub_only_listed:
                src.line(f"if str(sv) not in {src.name(codes or {}, 'd')}:")
                src.line(f"    {drop}")
                src.line("else:")
                src.depth += 1
            fp = plan.fast(p)
            if type(fp) is FastPath and not fp.absolute and fp.plain_tags is not None:
                _ensure(src, "t", fp.plain_tags, -1, "q")
            else:
                src.line(f"q = ensure({src.name(fp, 'P')}, t, w.root, variables)")
            cname = src.name(codes, "d") if codes else None
            src.line(f"text = sv if type(sv) is str else _format_value(sv, SPEC, {cname})")
            if codes:
                src.line("if type(sv) is str:")
                src.line(f"    text = {cname}.get(text, text)")
            if p.target_attribute:
                src.line(f"q.set({p.target_attribute!r}, text)")
            else:
                src.line("q.text = text")
            if sf.term in node.sub_only_listed:
                src.depth -= 1


def _consts(src: Source, plan: Any, node: Any, ctx: str) -> None:
    """``w.consts(node, ctx)`` written out: each constant's element found or made (plain relative
    steps in line, else through its compiled path), its text or attribute set when still empty."""
    for p, value in node.const:
        fp = plan.fast(p)
        if type(fp) is FastPath and not fp.absolute and fp.plain_tags is not None:
            _ensure(src, ctx, fp.plain_tags, -1, "q")
        else:
            src.line(f"q = ensure({src.name(fp, 'P')}, {ctx}, w.root, variables)")
        text = f"variables.get({value[1:]!r}, '')" if value.startswith("$") else repr(value)
        attr = p.target_attribute
        if attr:
            src.line(f"if q.get({attr!r}) is None:")
            src.line(f"    q.set({attr!r}, {text})")
        else:
            src.line("if not (q.text or '').strip():")
            src.line(f"    q.text = {text}")
