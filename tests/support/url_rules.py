"""Werkzeug's URL builders compiled once per test process, not once per app.

Werkzeug turns every URL rule of an app into two small Python functions (``url_for``'s builders)
by generating and compiling source code as the rule is added; the web app has some 150 rules,
and the suite creates an app for most integration tests: about half of ``create_app`` was this
compiling. A builder is a plain function of its rule (no closure: the rule comes in as its
first argument), so the same rule text, with the same parts, defaults and mode, gives the same
function; here it is made once and reused by later apps. A rule whose default fills a part of
its own path (the only case where a value, not only a name, goes into the code) is compiled
as before.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from werkzeug.routing.rules import Rule


def _key(rule: Rule, append_unknown: bool) -> Any:
    trace = tuple(rule._trace)
    defaults = tuple(rule.defaults or ())
    if any(dynamic and name in defaults for dynamic, name in trace):
        return None
    return rule.rule, trace, defaults, bool(append_unknown)


@contextmanager
def builders_compiled_once() -> Iterator[None]:
    """While inside: ``Rule._compile_builder`` is memoised (see the module's docstring)."""
    compile_builder: Callable[..., Any] = Rule.__dict__.get("_compile_builder")     # type: ignore[assignment]
    if compile_builder is None or not hasattr(Rule, "compile"):
        yield                   # another werkzeug than this was written for: leave it alone
        return
    made: dict[Any, Callable[..., Any]] = {}

    def memoised(self: Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = _key(self, append_unknown)
        if key is None:
            return compile_builder(self, append_unknown)
        function = made.get(key)
        if function is None:
            function = made[key] = compile_builder(self, append_unknown)
        return function

    Rule._compile_builder = memoised          # type: ignore[method-assign]
    try:
        yield
    finally:
        Rule._compile_builder = compile_builder     # type: ignore[method-assign]
