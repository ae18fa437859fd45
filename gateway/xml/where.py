"""Where an element is, as a rule set names it: an XPath with the rule set's own prefixes.

A finding of a rule checked on a parsed document points at its context element the way the
official schematron reports name it (``/rsm:CrossDomainAcknowledgementAndResponse/ram:...[2]``):
with the prefixes the rule set declares, whatever prefixes the document itself used, and a
position only where an element has siblings of its name.
"""
from __future__ import annotations

from typing import Mapping, Optional

from lxml import etree


def path_of(el: etree._Element, prefixes: Mapping[str, str]) -> str:
    """``el``'s XPath from the root; namespaces named by ``prefixes`` ({namespace: prefix}), any
    other namespace URI spelled out."""
    steps = []
    node: Optional[etree._Element] = el
    while node is not None:
        q = etree.QName(node)
        name = f"{prefixes.get(q.namespace, q.namespace or '')}:{q.localname}" if q.namespace else q.localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            name += f"[{same.index(node) + 1}]" if len(same) > 1 else ""
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps))
