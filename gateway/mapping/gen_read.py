"""A mapping's reader generated as Python source: one function per group of the mapping.

``compiled.CompiledReader.group`` walks a group's children in a loop and decides
for each, in every document, how its hits are found (a table look-up, a path),
whether it repeats, whether it is a group or a term, how its text is parsed.
Those decisions depend on the mapping alone, so here they are taken once: each
group becomes a function whose body is the straight line of its children, with
the element names as constants, the model field names as keyword keys and a
term's usual reading (an element's text, stripped, recorded in the source map,
decoded, parsed) written out. What is rarer (compound values, placeholders,
attributes, paths with predicates, broadcast copies, a group located by an
absolute path) calls the compiled reader's own methods, so every case reads as
the interpreter does; ``tests/conformance/test_compiled_mapping.py`` holds the
two to the same models, findings, source maps and bytes.

A generated function is only used where its group's context element exists; a
group sought without one (only absolute paths can hit) goes the general way.
"""
from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Optional

from lxml import etree

from gateway.model import invoice as model
from gateway.model.numbers import NumberError
from .engine import _ValueError
from .fastpath import FastPath, children_by_tag
from .source import Source
from .spec import GroupNode, LeafNode

ReaderFn = Callable[[Any, etree._Element, str], Any]


def _down(nodes: list, tags: tuple) -> list:
    """The children named ``tags[0]`` of ``nodes``, then theirs named ``tags[1]``...: in document order."""
    for tag in tags:
        out: list = []
        for n in nodes:
            out.extend(n.iterchildren(tag))
        if not out:
            return out
        nodes = out
    return nodes


_NONE: list = []


def _kept(nodes: list, step: Any, variables: dict, kids: dict) -> list:
    """The children of ``nodes`` a step with predicates keeps, in document order, as
    ``FastPath.select`` walks several nodes (an indexed literal looked up in each parent's index)."""
    out: list = []
    for n in nodes:
        out.extend(step.children(n, variables, kids))
    return out


def chain(plan: Any, node: Any) -> Optional[list]:
    """A node's one place as a chain of relative child steps by name ending at an element, each
    plain (``('down', tags)``) or with predicates (``('keep', step)``), at least one of them with
    predicates; None for any other path."""
    if len(node.places) != 1:
        return None
    fp = plan.fast(node.places[0].path)
    if type(fp) is not FastPath or fp.absolute or fp.attribute or not fp.element_steps:
        return None
    out: list = []
    for s in fp.element_steps:
        if s.kind != "child" or s.tag is None:
            return None
        if s.predicates:
            out.append(("keep", s))
        elif out and out[-1][0] == "down":
            out[-1] = ("down", out[-1][1] + (s.tag,))
        else:
            out.append(("down", (s.tag,)))
    return out if any(kind == "keep" for kind, _ in out) else None


def _kw_empty(kw: dict) -> bool:
    """``model.is_empty`` of the object made of ``kw`` (its other fields at their empty defaults)."""
    for v in kw.values():
        if v is None:
            continue
        t = type(v)
        if t is str:
            if v:
                return False
            continue
        if t is Decimal or t is date:       # never empty (what is_empty says of them, without the call)
            return False
        if t is list:
            for x in v:
                if not model.is_empty(x):
                    return False
            continue
        if not model.is_empty(v):
            return False
    return True


def _empty_defaults(cls: type) -> bool:
    """Whether every term field of ``cls`` starts empty (then ``_kw_empty`` judges its objects)."""
    for f in dataclasses.fields(cls):
        if "term" not in f.metadata:
            continue
        if f.default is not dataclasses.MISSING:
            if not model.is_empty(f.default):
                return False
        elif f.default_factory is not dataclasses.MISSING:
            if not model.is_empty(f.default_factory()):
                return False
    return True


def plain_steps(plan: Any, node: Any) -> Optional[tuple[str, ...]]:
    """The Clark names of a node's one place when it is relative child steps without predicates."""
    if len(node.places) != 1:
        return None
    fp = plan.fast(node.places[0].path)
    if type(fp) is not FastPath or fp.absolute or fp.attribute or not fp.element_steps:
        return None
    tags = []
    for s in fp.element_steps:
        if s.kind != "child" or s.tag is None or s.predicates:
            return None
        tags.append(s.tag)
    return tuple(tags)


def generate(plan: Any) -> dict[int, ReaderFn]:
    """id(group node) -> its generated reading function ``fn(reader, ctx, mpath)``."""
    src = Source(f"<mapping reader {plan.spec.name}>")
    src.names.update(_down=_down, _kept=_kept, _NONE=_NONE, _kw_empty=_kw_empty, children_by_tag=children_by_tag,
                     is_empty=model.is_empty, NumberError=NumberError, _ValueError=_ValueError)
    funcs: dict[int, str] = {}
    _group(src, plan, plan.spec.tree, funcs, top=True)
    namespace = src.build()
    return {key: namespace[name] for key, name in funcs.items()}


def _group(src: Source, plan: Any, node: GroupNode, funcs: dict[int, str], top: bool = False) -> str:
    info = plan.groups[id(node)]
    fname = f"g{len(funcs)}_{node.term.replace('-', '_')}"
    funcs[id(node)] = fname
    for child in node.children.values():       # the children's functions first (names known below)
        if isinstance(child, GroupNode):
            _group(src, plan, child, funcs)
    src.line(f"def {fname}(r, ctx, mpath, check=False):")
    with src.indent():
        src.line("kw = {}")
        src.line("places = r.smap.places")
        if node.text is not None:
            src.line(f"kw.update(r.template_values({src.name(info.cls)}, {node.text!r}, ctx.text or ''))")
        if any(first is not None for _, _, first in info.children):
            src.line("kids = r.kids")
            src.line("root, variables = r.root, r.variables")
            src.line("table = kids.get(ctx)")
            src.line("if table is None:")
            src.line("    table = kids[ctx] = children_by_tag(ctx)")
        prefixes = _prefixes(src, plan, info)
        for child, tag, first in info.children:
            _child(src, plan, child, tag, first, funcs, top, prefixes)
        src.line(f"obj = {src.name(info.cls)}(**kw)")
        if not top:
            src.line("if mpath:")
            src.line("    places[mpath] = (ctx, None)")
        # check: a group that is not repeated is None when empty, as the reader's group_value says
        empty = "_kw_empty(kw)" if _empty_defaults(info.cls) else "is_empty(obj)"
        src.line(f"return None if check and {empty} else obj")
    src.line()
    return fname


def _prefixes(src: Source, plan: Any, info: Any) -> dict[tuple, str]:
    """The elements along the plain paths a group's terms share (``ram:X/ram:Y`` of
    ``ram:X/ram:Y/ram:A`` and ``ram:X/ram:Y/ram:B``), found once per group read: prefix -> name."""
    wanted: set[tuple] = set()
    for child, tag, first in info.children:
        steps = plain_steps(plan, child) if first is not None and tag is None else None
        if steps is not None:
            wanted.update(steps[:i] for i in range(2, len(steps)))
    names: dict[tuple, str] = {}
    for prefix in sorted(wanted, key=len):
        name = names[prefix] = f"d{len(names)}"
        parent = names.get(prefix[:-1])
        if parent is None:
            src.line(f"{name} = table.get({prefix[0]!r})")
            src.line(f"{name} = _down({name}, {prefix[1:]!r}) if {name} else _NONE")
        else:
            src.line(f"{name} = _down({parent}, {prefix[-1:]!r}) if {parent} else _NONE")
    return names


def _path(top: bool, name: str) -> str:
    """The expression of a child's model path."""
    return repr(name) if top else f"(mpath + {'.' + name!r} if mpath else {name!r})"


def _child(src: Source, plan: Any, child: Any, tag: Optional[str], first: Optional[tuple], funcs: dict,
           top: bool, prefixes: dict[tuple, str]) -> None:
    f = child.field
    name = f.name
    cnode = src.name(child, "n")
    elements = False                  # the hits are elements for sure (found by name)
    if _at_self(plan, child):
        src.line("hits = [ctx]")
        elements = True
    elif first is not None:
        steps = plain_steps(plan, child)
        if tag is not None:
            src.line(f"hits = table.get({tag!r}, _NONE)")
            elements = True
        elif steps is not None:
            shared = prefixes.get(steps[:-1])
            if shared is not None:
                src.line(f"hits = _down({shared}, {steps[-1:]!r}) if {shared} else _NONE")
            else:
                src.line(f"hits = table.get({steps[0]!r})")
                src.line(f"hits = _down(hits, {steps[1:]!r}) if hits else _NONE")
            elements = True
        elif (links := chain(plan, child)) is not None:
            _chain(src, links)
            elements = True
        else:
            test = " or ".join(f"{t!r} in table" for t in first)
            fp = plan.fast(child.places[0].path) if len(child.places) == 1 else None
            if type(fp) is FastPath and not fp.absolute:
                select = f"{src.name(fp, 'P')}.select(ctx, root, variables, kids)"
                step = fp.element_steps[0]
                if step.index_key is not None:     # no child with that qualifier: nothing to walk
                    test = f"{step.literal!r} in {src.name(step, 's')}.index(ctx, kids)"
                src.line(f"hits = {select} if {test} else _NONE")
                elements = fp.attribute is None       # a compiled path gives elements unless it ends at @x
            else:
                src.line(f"hits = r.select({cnode}, ctx) if {test} else _NONE")
    else:
        src.line(f"hits = r.select({cnode}, ctx)")
    group = isinstance(child, GroupNode)
    if f.repeats:
        if not child.repeats:
            src.line("hits = hits[:1]")
        src.line("if hits:")
        with src.indent():
            src.line(f"cpath = {_path(top, name)}")
            src.line("items = []")
            src.line("for i, hit in enumerate(hits):")
            with src.indent():
                src.line("p = f'{cpath}[{i}]'")
                if group and elements:
                    src.line(f"v = {funcs[id(child)]}(r, hit, p)")
                elif group:
                    src.line(f"v = r.group_value({cnode}, {src.name(f.type)}, hit, p)")
                else:
                    _leaf(src, plan, child, "hit", "p", "v", elements)
                src.line("if v is not None:")
                src.line("    items.append(v)")
            src.line(f"kw[{name!r}] = items")
        src.line("else:")
        src.line(f"    kw[{name!r}] = []")
        return
    src.line("if hits:")
    with src.indent():
        src.line(f"cpath = {_path(top, name)}")
        if group and elements:
            src.line(f"kw[{name!r}] = {funcs[id(child)]}(r, hits[0], cpath, True)")
        elif group:
            src.line(f"kw[{name!r}] = r.group_value({cnode}, {src.name(f.type)}, hits[0], cpath)")
        else:
            _leaf(src, plan, child, "hits[0]", "cpath", "v", elements)
            src.line(f"kw[{name!r}] = v")
            if child.broadcast and not child.into_first:
                src.line("if len(hits) > 1:")
                src.line(f"    r.broadcast_rest({cnode}, hits, cpath)")
    if group and not child.repeats and plan.groups[id(child)].has_absolute:
        src.line("else:")
        with src.indent():
            src.line(f"v = r.group({src.name(f.type)}, {cnode}, None, {_path(top, name)})")
            src.line(f"kw[{name!r}] = None if is_empty(v) else v")


def _at_self(plan: Any, node: Any) -> bool:
    """Whether a node's one place is its context element itself (``at: .``)."""
    if len(node.places) != 1:
        return False
    fp = plan.fast(node.places[0].path)
    return type(fp) is FastPath and not fp.absolute and fp.attribute is None and \
        bool(fp.element_steps) and all(s.kind == "self" for s in fp.element_steps)


def _chain(src: Source, steps: list) -> None:
    """``hits = <the elements of a chain of steps from ctx>`` (see ``chain``), as ``FastPath.select``
    finds them: a step with predicates through its own ``children`` (its index when it has one)."""
    for i, (kind, arg) in enumerate(steps):
        if i == 0:
            if kind == "down":
                src.line(f"hits = table.get({arg[0]!r}, _NONE)")
                if len(arg) > 1:
                    src.line(f"hits = _down(hits, {arg[1:]!r}) if hits else _NONE")
            elif arg.index_key is not None:       # no child with that qualifier: nothing to walk
                s = src.name(arg, "s")
                src.line(f"hits = {s}.children(ctx, variables, kids) if {arg.literal!r} in {s}.index(ctx, kids) "
                         "else _NONE")
            else:
                src.line(f"hits = {src.name(arg, 's')}.children(ctx, variables, kids) "
                         f"if {arg.tag!r} in table else _NONE")
        elif kind == "down":
            src.line(f"hits = _down(hits, {arg!r}) if hits else _NONE")
        else:
            src.line(f"hits = _kept(hits, {src.name(arg, 's')}, variables, kids) if hits else _NONE")


def _leaf(src: Source, plan: Any, node: LeafNode, hit: str, path: str, out: str, elements: bool) -> None:
    """``out = <the value of the term at hit>``: written out for an element's plain text, else the reader's."""
    leaf = plan.leaves[id(node)]
    cnode, cleaf = src.name(node, "n"), src.name(leaf, "l")
    if not elements or leaf.compound or node.absent:
        src.line(f"{out} = r.leaf_value({cnode}, {cleaf}, {hit}, {path})")
        return
    src.line(f"el = {hit}")
    src.line("t = el.text")
    src.line("if t is None:")
    src.line(f"    {out} = None")
    src.line("else:")
    with src.indent():
        if node.strip or leaf.value_type is not str:
            src.line("t = t.strip()")
        src.line("if not t:")
        src.line(f"    {out} = None")
        src.line("else:")
        with src.indent():
            src.line(f"places[{path}] = (el, None)")
            if leaf.decode:
                src.line(f"t = {src.name(leaf.decode, 'd')}.get(t, t)")
            if leaf.parse is None:
                src.line(f"{out} = t")
            else:
                parse = src.name(leaf.parse, "p")
                src.line("try:")
                src.line(f"    {out} = {parse}(t)")
                src.line("except (NumberError, _ValueError):      # worded (or refused) as the reader words it")
                src.line(f"    {out} = r.text_value({cnode}, {parse}, "
                         f"{src.name(leaf.decode, 'd') if leaf.decode else 'None'}, el, {path})")
