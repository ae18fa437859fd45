"""The shape of the code, checked: no import cycles, the model imports nothing of ours,
transports know bytes and partners only, and few modules at the top of ``gateway/``.

Imports are read from the source (``ast``), at module level and inside functions
alike (an import inside a function is still a dependency, it only runs later);
only those under ``if TYPE_CHECKING:`` are left out (they never run).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "onboarding", "connectors")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" not in path.parts:
                out[_module_name(path)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    skipped.add(id(sub))
    return skipped


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that ``name`` imports (explicitly named; a package means its ``__init__``)."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


@lru_cache(maxsize=1)
def graph() -> dict[str, frozenset[str]]:
    """Our modules and what each imports, read once per process (three checks walk it)."""
    modules = _modules()
    return {name: frozenset(imports_of(name, path, modules)) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    import sys
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_cycle():
    assert cycles(graph()) == []


def test_the_walker_sees_a_cycle_and_ignores_type_checking_imports(tmp_path):
    """The check itself can fail: a made-up cycle is found, a TYPE_CHECKING one is not."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gateway.db import Exchange\n"
                      "def f():\n    from gateway.flow import process\n")
    found = imports_of("gateway.zz", source, _modules())
    assert found == {"gateway.flow.process"}


def test_the_model_imports_nothing_of_ours():
    edges = graph()
    for name, targets in edges.items():
        if name == "gateway.model" or name.startswith("gateway.model."):
            outside = {t for t in targets if not (t == "gateway.model" or t.startswith("gateway.model."))}
            assert not outside, f"{name} imports {sorted(outside)}"


def test_transports_know_bytes_and_partners_only():
    """No invoice fields, no records, no flow in a transport: only other transports, keys, the
    base error class and durable writes."""
    allowed = ("gateway.transports", "gateway.certs", "gateway.model.errors", "gateway.store.fsync")
    for name, targets in graph().items():
        if name.startswith("gateway.transports"):
            bad = {t for t in targets if not t.startswith(allowed)}
            assert not bad, f"{name} imports {sorted(bad)}"


def test_few_modules_at_the_top_of_the_gateway():
    top = sorted(p.name for p in (REPO / "gateway").glob("*.py"))
    assert len(top) <= 8, top
