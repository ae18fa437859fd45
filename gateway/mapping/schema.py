"""The shape of a mapping file, checked against the JSON Schema that ships with the engine.

``jsonschema`` does the checking (the reference implementation for Python, kept up with
the drafts); the schema is written without ``anyOf`` (a term's value is a path, a list or
a mapping through one ``type`` list), so each error is one plain statement.

``mapping.schema.json`` (beside this module) says which keys a mapping file may hold and
what each holds; the compiler (``spec.py``) then checks meaning against the EN 16931 model.
Each file is checked on its own, as written, before ``extends`` merges it with its base, so
an error names the file that has it: the file, the line, the place (``terms/BG-4/BT-27``)
and the problem, in the words of the mapping language rather than of JSON Schema.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

from gateway.model.errors import MappingError

SCHEMA_FILE = Path(__file__).with_name("mapping.schema.json")
_MAX_REPORTED = 5
_TYPE_WORDS = {"string": "a string", "number": "a number", "integer": "an integer", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "~ (nothing)"}


def schema() -> dict[str, Any]:
    """The JSON Schema every mapping file satisfies, as shipped (for tools and editors)."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    shipped = schema()
    return jsonschema.validators.validator_for(shipped)(_inline(shipped))


def _inline(shipped: dict[str, Any]) -> dict[str, Any]:
    """The schema with each ``$ref`` replaced by the definition itself (a recursive one by the
    same object), so validating resolves no reference: four times faster, the same verdicts."""
    definitions = shipped.get("$defs", {})
    done: dict[str, dict] = {}

    def definition(ref: str) -> dict:
        name = ref.rsplit("/", 1)[-1]
        if name not in done:
            done[name] = {}
            done[name].update(walk(definitions[name]))
        return done[name]

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items() if k not in ("$ref", "$defs")}
        if "$ref" in node:
            target = definition(node["$ref"])
            if not out:
                return target
            out["allOf"] = [target]          # a $ref beside other keywords: both apply
        return out

    return walk(shipped)


def as_json(value: Any) -> Any:
    """YAML's data as JSON sees it: mapping keys are text (``~`` is the default namespace's "")."""
    if isinstance(value, dict):
        return {("" if k is None else str(k)): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def check(data: Any, file: Path, text: str) -> None:
    """Raise MappingError naming ``file``, the line and the place of each problem (the first few)."""
    errors = list(_validator().iter_errors(as_json(data)))
    if not errors:
        return
    root = _compose(text)
    found = sorted((_describe(e, file, root) for e in errors), key=lambda d: (d[0] or 0, d[1]))
    lines = [message for _, message in found[:_MAX_REPORTED]]
    if len(found) > _MAX_REPORTED:
        lines.append(f"... and {len(found) - _MAX_REPORTED} more")
    raise MappingError("\n".join(lines))


def _describe(error: ValidationError, file: Path, root: Optional[yaml.Node]) -> tuple[Optional[int], str]:
    """(line, "FILE: PLACE: PROBLEM (line N)") of one error."""
    place = list(error.absolute_path)
    problem = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        unknown = sorted(k for k in error.instance
                         if k not in allowed and not any(re.search(p, k) for p in patterns))
        if unknown:
            place.append(unknown[0])
        terms = " and business terms (BT-n/BG-n)" if patterns else ""
        problem = f"unknown keys {unknown} (allowed: {allowed}{terms})"
    elif "propertyNames" in error.relative_schema_path:
        place.append(error.instance)
        problem = ("expected a business term or group id (BT-n / BG-n)" if "BT" in error.schema.get("pattern", "")
                   else _short(error.message))
    elif error.validator == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        problem = f"expected {' or '.join(_TYPE_WORDS.get(t, t) for t in wanted)}, not {_shown(error.instance)}"
    elif error.validator == "enum":
        choices = ", ".join(_yaml_word(v) for v in error.validator_value)
        problem = f"expected one of {choices}, not {_shown(error.instance)}"
    elif error.validator == "pattern" and error.validator_value == "^[a-z0-9][a-z0-9._-]*$":
        problem = (f"{_shown(error.instance)} is not a name: lower-case letters, digits, '.', '_' and '-', "
                   "starting with a letter or digit")
    where = "/".join(str(p) for p in place) or "(the file)"
    line = _line(root, place)
    return line, f"{file}: {where}: {problem}" + (f" (line {line})" if line else "")


def _yaml_word(value: Any) -> str:
    """A value as the file would say it: true, false, ~ (nothing), or the quoted text."""
    if value is None:
        return "~ (nothing)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _short(message: str) -> str:
    """A jsonschema message, cut where it would quote a whole list."""
    return message if len(message) <= 80 else message[:77] + "..."


def _compose(text: str) -> Optional[yaml.Node]:
    """The YAML node tree of ``text``: where each value was written."""
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _line(node: Optional[yaml.Node], place: list) -> Optional[int]:
    """The 1-based line of ``place`` in the file (of the nearest enclosing node found)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for step in place:
        child = _child(node, step)
        if child is None:
            break
        key_node, node = child
        line = (key_node or node).start_mark.line + 1
    return line


def _child(node: yaml.Node, step: Any) -> Optional[tuple[Optional[yaml.Node], yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            text = key.value if isinstance(key, yaml.ScalarNode) else None
            if text == str(step) or (step == "" and text in ("~", "null", "")):
                return key, value
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return None, node.value[step]
    return None
