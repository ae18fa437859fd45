"""Finding or creating the elements a compiled path names, for writing.

``Path.ensure`` walks a path step by step with XPath; a ``fastpath.FastPath``
has the steps' Clark names and compiled predicates, so the elements are found
with lxml's ``find`` (or the step's predicates) and created with
``SubElement``, with a constructive predicate's children built as
``Path._build`` builds them. A path that kept XPath is handed back to its own
``ensure``.
"""
from __future__ import annotations

from typing import Any

from lxml import etree

from gateway.model.errors import MappingError
from .fastpath import FastPath
from .paths import NoPlace


def ensure(fp: Any, ctx: etree._Element, root: etree._Element, variables: dict, *,
           new_item: bool = False) -> etree._Element:
    """``Path.ensure`` through a compiled path (or the path itself when it kept XPath)."""
    if type(fp) is not FastPath:
        return fp.ensure(ctx, root, variables, new_item=new_item)
    node = root if fp.absolute else ctx
    new_index = fp.new_index if new_item else -1
    tags = fp.plain_tags
    if tags is not None:            # plain child steps: found or appended without the general walk
        i = 0
        for tag in tags:
            if i != new_index:
                hit = next(node.iterchildren(tag), None)      # as find(tag), without ElementPath
                if hit is not None:
                    node = hit
                    i += 1
                    continue
            node = etree.SubElement(node, tag)
            i += 1
        return node
    steps = fp.element_steps
    for i, step in enumerate(steps):
        node = _walk(fp, node, step, variables, i == new_index)
    return node


def ensure_all(fp: Any, ctx: etree._Element, root: etree._Element, variables: dict) -> list[etree._Element]:
    if not isinstance(fp, FastPath):
        return fp.ensure_all(ctx, root, variables)
    steps = fp.element_steps
    start = root if fp.absolute else ctx
    if not steps:
        return [start]
    first, rest = steps[0], steps[1:]
    if first.kind != "child":
        heads = [_walk(fp, start, first, variables, False)]
    else:
        heads = first.children(start, variables) or [_walk(fp, start, first, variables, False)]
    out = []
    for node in heads:
        for step in rest:
            node = _walk(fp, node, step, variables, False)
        out.append(node)
    return out


def _walk(fp: FastPath, node: etree._Element, step: Any, variables: dict, create_new: bool) -> etree._Element:
    kind = step.kind
    if kind == "self":
        return node
    if kind == "parent":
        parent = node.getparent()
        if parent is None:
            raise MappingError(f"path {fp.path.text!r} climbs above the root")
        return parent
    if not create_new:
        hit = step.first(node, variables)
        if hit is not None:
            return hit
    s = step.step
    if not s.creatable:
        raise NoPlace(f"nothing matches {s.xpath!r} of path {fp.path.text!r}, and it names no element to create")
    child = etree.SubElement(node, step.tag)
    for lhs, rhs in s.builders:
        value = rhs[1:-1] if rhs[0] in "'\"" else variables.get(rhs[1:], "")
        fp.path._build(child, lhs, value)
    return child
