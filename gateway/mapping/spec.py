"""Loading mapping files: YAML in, a compiled tree of nodes out.

A mapping file mirrors the EN 16931 model: under ``terms`` every key is a
business group (BG-n) or term (BT-n) and says where it lives in the syntax.
Whether a key is a group or a term is known from the model, so the file never
says it. ``extends`` names a base mapping that the file refines: a partner
flavour is a small file of overrides, not new code. Every file is checked
against the JSON Schema (``schema.py``) as it is read, before any merging.
See mappings/README.md.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Any, Callable, Optional

import yaml
from lxml import etree

from gateway.model import invoice as model
from gateway.model.errors import MappingError
from . import schema
from .paths import Path

_TERM_KEY = re.compile(r"^(BT|BG)-\d+(-\d+)?$")
GROUP_KEYS = {"at", "each", "write", "const", "text", "note"}
LEAF_KEYS = {"path", "each", "write", "codes", "format", "attrs", "broadcast", "const", "note",
             "strip", "absent", "default"}


@dataclass
class Alternative:
    """One place a term may live; on writing, the first whose condition holds is used."""
    path: Path
    when: tuple[str, ...] = ()          # terms that must be present (a sub-term BT-29-1, a sibling ...)
    unless_same: tuple[str, ...] = ()   # skip when these terms have equal values (BT-6 = BT-5)
    matches: Optional[re.Pattern] = None  # or a pattern the value must match


@dataclass
class Node:
    term: str
    field: model.TermField
    repeats: bool                       # the mapping repeats it ("each")
    places: list[Alternative]           # where it is (empty: the context itself)
    write_places: Optional[list[Alternative]] = None
    const: list[tuple[Path, str]] = field(default_factory=list)   # (where, value) filled on write
    note: Optional[str] = None
    source: str = ""                    # "file.yaml: BG-4/BT-29" for error messages

    def write_alternatives(self) -> list[Alternative]:
        return self.write_places if self.write_places is not None else self.places


@dataclass
class GroupNode(Node):
    children: dict[str, "Node"] = field(default_factory=dict)   # in file order
    text: Optional[str] = None          # template composing the element text from child terms


@dataclass
class LeafNode(Node):
    subs: dict[str, Path] = field(default_factory=dict)  # compound sub-terms: "-1" -> path
    sub_codes: dict[str, dict[str, str]] = field(default_factory=dict)  # "-1" -> model code -> syntax code
    sub_only_listed: set[str] = field(default_factory=set)   # sub-terms whose unlisted codes cannot be written
    codes: Optional[dict[str, str]] = None   # model code -> syntax code
    format: Optional[str] = None
    attrs: dict[str, str] = field(default_factory=dict)
    broadcast: bool = False
    into_first: bool = False              # broadcast: first: written (after the others) into the first only
    strip: bool = True
    absent: tuple[str, ...] = ()          # syntax placeholders that mean "no value" ("NA", "0")
    default: Optional["Default"] = None   # what to write when the invoice has no value (the syntax needs one)


@dataclass(frozen=True)
class Default:
    """The value a syntax needs when the invoice has none: a constant, or the sum of a term's values
    (``{sum: BT-117}``). Written only on write, and reported there as added."""
    value: Optional[str] = None         # a constant, as the model would hold it
    sum_of: Optional[str] = None        # the sum of every value of this term in the invoice

    def describe(self) -> str:
        return f"the sum of {self.sum_of}" if self.sum_of else "the mapping's default"


@dataclass
class MappingSpec:
    name: str
    syntax: str
    file: str
    description: str
    root: Optional[str]
    root_tag: Optional[str]             # the root element in Clark notation, "{ns}local"
    namespaces: dict[str, str]
    formats: dict[str, str]
    datatype_attrs: dict[str, dict[str, str]]
    codelists: dict[str, dict[str, str]]
    select: dict[str, list[str]]
    skeleton: list[Path]                # containers the syntax requires even when empty
    structural: list[Any]               # XPaths of syntax scaffolding that carries no business term
    tree: GroupNode
    variables: set[str]
    raw: dict[str, Any]


class Structural(list):
    """The ``structural`` XPaths, with their texts: ``SourceMap.unread`` tests its few leftover
    values against them one by one (``structural.compile_patterns``) instead of searching the
    whole tree with each."""

    def __init__(self, xpaths: list, texts: list[str], namespaces: dict[str, str]):
        super().__init__(xpaths)
        self.texts = texts
        self.namespaces = {k: v for k, v in namespaces.items() if k}
        self._patterns: Any = False

    def patterns(self) -> Any:
        """The compiled tests (made once), or None when a pattern needs XPath."""
        if self._patterns is False:
            from .structural import compile_patterns
            self._patterns = compile_patterns(self.texts, self.namespaces)
        return self._patterns


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None and k in out:      # "BT-x: ~" in a flavour removes the term
                del out[k]
            else:
                out[k] = _deep_merge(base.get(k), v) if k in base else v
        return out
    return copy.deepcopy(over)


# What a file says of itself only: a file that extends another does not inherit these.
OWN_KEYS = ("name", "flavour", "description", "summary", "summary_fr")

Finder = Callable[[str, FsPath], FsPath]
"""``find(name, below)``: the file of the mapping ``name`` that the file ``below`` extends."""


def same_folder(name: str, below: FsPath) -> FsPath:
    """The default finder: a base lives beside the file that extends it."""
    return below.parent / f"{name}.yaml"


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)    # libyaml when present: same data, faster


@lru_cache(maxsize=256)
def _parsed(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """One file read, parsed and checked against the schema (cached while it is unchanged)."""
    file = FsPath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{file}: cannot read the mapping file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{file}: not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise MappingError(f"{file.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise MappingError(f"{file.name}: a mapping file is a YAML mapping")
    schema.check(data, file, text)
    return data


def read_file(path: FsPath) -> dict[str, Any]:
    """A mapping file's own content, checked against the schema (``extends`` not applied)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise MappingError(f"{path}: no such mapping file ({exc.strerror or exc})") from None
    return copy.deepcopy(_parsed(str(path), st.st_mtime_ns, st.st_size))


_NAME = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]*)(?![\w.-])")


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every element name of ``names`` replaced, in every string and key (paths,
    predicates, structural XPaths): all at once, so ``G_SG25 -> G_SG22`` and ``G_SG22 -> G_SG21``
    do not meet. Only whole names change (``G_SG4`` leaves ``G_SG48`` alone)."""
    if isinstance(value, str):
        return _NAME.sub(lambda m: names.get(m.group(1), m.group(1)), value)
    if isinstance(value, dict):
        return {_renamed(k, names) if isinstance(k, str) else k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return value


def load_raw(path: FsPath, find: Finder = same_folder, _seen: tuple = ()) -> dict[str, Any]:
    """Read a mapping file, with its ``extends`` chain merged in (each file checked on its own).

    ``rename`` (with ``extends``) renames elements in everything the base says before this file's
    keys are merged in: the same binding over a segment table whose groups are numbered otherwise
    (``G_SG48: G_SG49``) or whose segment took another tag (``S_PAT: S_PYT``)."""
    if path in _seen:
        raise MappingError(f"{path.name}: circular 'extends'")
    data = read_file(path)
    base_name = data.pop("extends", None)
    names = data.pop("rename", None) or {}
    if names and not base_name:
        raise MappingError(f"{path.name}: 'rename' renames what a base mapping says: it needs 'extends'")
    if base_name:
        base = load_raw(find(str(base_name), path), find, _seen + (path,))
        for key in OWN_KEYS:
            base.pop(key, None)
        if names:
            base = _renamed(base, {str(k): str(v) for k, v in names.items()})
        data = _deep_merge(base, data)
    return data


def compile_mapping(path: FsPath, find: Finder = same_folder) -> MappingSpec:
    """The compiled mapping of the file ``path``; ``find`` locates the files it extends."""
    raw = load_raw(path, find)
    name = raw.get("name") or path.stem
    ns = {("" if k in (None, "") else k): v for k, v in (raw.get("namespaces") or {}).items()}
    compiler = _Compiler(path.name, ns, raw.get("codelists") or {})
    terms = raw.get("terms")
    if not isinstance(terms, dict):
        raise MappingError(f"{path.name}: 'terms' is missing")
    root_field = model.TermField("", "invoice", model.Invoice, False)
    tree = GroupNode(term="", field=root_field, repeats=False, places=[], source=path.name)
    tree.children = compiler.children(model.Invoice, terms, "")
    select = {k: [str(v) for v in vs] for k, vs in (raw.get("select") or {}).items()}
    root = raw.get("root")
    if root and ":" in root:
        root_tag = Path(root, ns).qname(root)
    elif root:
        root_tag = f"{{{ns['']}}}{root}" if ns.get("") else root
    else:
        root_tag = None
    return MappingSpec(
        name=name, syntax=raw.get("syntax", ""), file=str(path), description=raw.get("description", ""),
        root=root, root_tag=root_tag, namespaces=ns, formats=raw.get("formats") or {},
        datatype_attrs=raw.get("datatype_attributes") or {}, codelists=raw.get("codelists") or {},
        select=select, skeleton=[compiler.path(p, "skeleton") for p in raw.get("skeleton") or []],
        structural=Structural([compiler.xpath(p, "structural") for p in raw.get("structural") or []],
                              [str(p) for p in raw.get("structural") or []], ns),
        tree=tree, variables=compiler.variables, raw=raw)


class _Compiler:
    def __init__(self, filename: str, namespaces: dict[str, str], codelists: dict[str, Any]):
        self.filename = filename
        self.ns = namespaces
        self.codelists = codelists
        self.variables: set[str] = set()

    def error(self, where: str, msg: str) -> MappingError:
        return MappingError(f"{self.filename}: {where}: {msg}")

    def path(self, text: Any, where: str) -> Path:
        if not isinstance(text, str):
            raise self.error(where, f"a path is a string, not {text!r}")
        try:
            p = Path(text, self.ns)
        except MappingError as exc:
            raise self.error(where, str(exc)) from None
        self.variables |= p.variables
        return p

    def xpath(self, text: str, where: str) -> Any:
        """A read-only XPath (any XPath 1.0), for lists such as ``structural``."""
        try:
            return etree.XPath(text, namespaces={k: v for k, v in self.ns.items() if k})
        except etree.XPathSyntaxError as exc:
            raise self.error(where, f"invalid XPath {text!r}: {exc}") from None

    def places(self, spec: Any, where: str) -> list[Alternative]:
        items = spec if isinstance(spec, list) else [spec]
        out = []
        for item in items:
            if isinstance(item, dict):
                when = item.get("when") or ()
                alt = Alternative(self.path(item.get("path"), where),
                                  when=(when,) if isinstance(when, str) else tuple(when),
                                  unless_same=tuple(item.get("unless_same", ())))
                if "matches" in item:
                    alt.matches = re.compile(item["matches"])
                out.append(alt)
            else:
                out.append(Alternative(self.path(item, where)))
        return out

    def default(self, f: model.TermField, spec: Any, where: str) -> Default:
        """``default: VALUE`` or ``default: {sum: BT-n}`` (a term of the same data type)."""
        if f.repeats:
            raise self.error(where, f"{f.term} repeats: a default is for a term that occurs once")
        if isinstance(spec, dict):
            term = str(spec.get("sum", ""))
            if set(spec) != {"sum"} or not _TERM_KEY.match(term) or term.startswith("BG"):
                raise self.error(where, "a computed default is {sum: BT-n}")
            if model.datatype(term) != model.datatype(f.term) or model.datatype(term) is None:
                raise self.error(where, f"default: {term} is not of the data type of {f.term}")
            return Default(sum_of=term)
        return Default(value=str(spec))

    def children(self, cls: type, spec: dict[str, Any], where: str) -> dict[str, Node]:
        by_term = {f.term: f for f in model.term_fields(cls)}
        out: dict[str, Node] = {}
        for key, value in spec.items():
            key = str(key)
            here = f"{where}/{key}" if where else key
            if not _TERM_KEY.match(key):
                raise self.error(here, "expected a business term or group id (BT-n / BG-n)")
            f = by_term.get(key)
            if f is None:
                raise self.error(here, f"{key} is not a term of {cls.__name__} in the EN 16931 model")
            out[key] = self.node(f, value, here)
        return out

    def node(self, f: model.TermField, spec: Any, where: str) -> Node:
        if not isinstance(spec, dict):
            spec = {"path": spec}
        is_group = dataclasses.is_dataclass(f.type) and not model.is_compound(f.type)
        allowed = GROUP_KEYS if is_group else LEAF_KEYS
        sub_terms = {k for k in spec if _TERM_KEY.match(str(k))}
        unknown = set(spec) - allowed - sub_terms
        if unknown:
            raise self.error(where, f"unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
        repeats = "each" in spec
        if repeats and not f.repeats:
            raise self.error(where, f"{f.term} occurs at most once in the model: use 'path'/'at', not 'each'")
        loc = spec.get("each", spec.get("at", spec.get("path")))
        places = self.places(loc, where) if loc is not None else []
        const = [(self.path(str(k), where), str(v)) for k, v in (spec.get("const") or {}).items()]
        self.variables |= {v[1:] for _, v in const if v.startswith("$")}
        common = dict(term=f.term, field=f, repeats=repeats, places=places, const=const,
                      note=spec.get("note"), source=f"{self.filename}: {where}")
        if "write" in spec:
            common["write_places"] = self.places(spec["write"], where)
        if is_group:
            g = GroupNode(**common, text=spec.get("text"))
            g.children = self.children(f.type, {k: v for k, v in spec.items() if k in sub_terms}, where)
            return g
        absent = spec.get("absent", [])        # none: no placeholder (not the text "()")
        broadcast = spec.get("broadcast")
        leaf = LeafNode(**common, format=spec.get("format"), broadcast=bool(broadcast),
                        into_first=broadcast == "first", strip=spec.get("strip", True),
                        absent=tuple(str(a) for a in (absent if isinstance(absent, list) else [absent])))
        if spec.get("default") is not None:
            leaf.default = self.default(f, spec["default"], where)
        if "attrs" in spec:
            leaf.attrs = {str(k): str(v) for k, v in spec["attrs"].items()}
            for v in leaf.attrs.values():
                if v.startswith("$"):
                    self.variables.add(v[1:])
        codes = spec.get("codes")
        if isinstance(codes, str):
            if codes not in self.codelists:
                raise self.error(where, f"unknown code list {codes!r}")
            codes = self.codelists[codes]
        if codes is not None:
            leaf.codes = {str(k): str(v) for k, v in codes.items()}
        if sub_terms:
            if not model.is_compound(f.type):
                raise self.error(where, f"{f.term} has no sub-terms")
            suffixes = {sf.term for sf in model.term_fields(f.type)}
            for k in sub_terms:
                k = str(k)
                suffix = k[len(f.term):]
                if not k.startswith(f.term) or suffix not in suffixes:
                    raise self.error(where, f"{k} is not a sub-term of {f.term}")
                sub = spec[k]
                if isinstance(sub, dict):          # {path: ..., codes: NAME or {model: syntax}}
                    codes = sub.get("codes")
                    if isinstance(codes, str):
                        if codes not in self.codelists:
                            raise self.error(f"{where}/{k}", f"unknown code list {codes!r}")
                        codes = self.codelists[codes]
                    if codes is not None:
                        leaf.sub_codes[suffix] = {str(a): str(b) for a, b in codes.items()}
                    if sub.get("only_listed"):
                        leaf.sub_only_listed.add(suffix)
                    sub = sub.get("path")
                leaf.subs[suffix] = self.path(sub, f"{where}/{k}")
        return leaf
