"""Mapping files are checked against the JSON Schema that ships with the engine, as they are read.

Every shipped file satisfies it; a file that does not is refused with its path, the place in
it, the line and the problem, before anything is compiled or merged.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from gateway import mapping
from gateway.mapping import schema
from gateway.mapping.spec import compile_mapping, read_file
from gateway.model.errors import MappingError
from gateway.syntaxes.registry import SYNTAXES

SHIPPED = sorted(mapping.builtin_dir().glob("*.yaml"))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(MappingError) as err:
        compile_mapping(path)
    return str(err.value)


def test_the_schema_is_a_json_schema_and_ships_as_package_data():
    shipped = schema.schema()
    jsonschema.validators.validator_for(shipped).check_schema(shipped)
    assert schema.SCHEMA_FILE.parent == Path(mapping.__file__).parent
    pyproject = (Path(mapping.__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"mapping/*.json"' in pyproject


def test_the_schema_names_the_syntaxes_that_read_mapping_files():
    assert schema.schema()["properties"]["syntax"]["enum"] == [s.name for s in SYNTAXES.values() if not s.carries]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_mapping_satisfies_the_schema(path: Path):
    assert len(SHIPPED) >= 9
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(jsonschema.validators.validator_for(schema.schema())(schema.schema()).iter_errors(
        schema.as_json(data))) == []
    assert read_file(path) == data


def test_the_inlined_validator_judges_like_the_shipped_schema(tmp_path: Path):
    """The checker resolves every $ref ahead of time; it must agree with the schema as written."""
    reference = jsonschema.validators.validator_for(schema.schema())(schema.schema())
    samples = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in SHIPPED] + [
        {"name": "x", "terms": {"BT-1": 3}},
        {"name": "x", "terms": {"BT-1": {"path": "a", "colour": "red"}}},
        {"name": "x", "terms": {"BG-4": {"at": "s", "BT-29": {"each": [{"path": "a", "whenn": "BT-1"}]}}}},
        {"name": "x", "csv": {"delimiter": ";;", "limits": {"rows": 0}}},
        {"name": "X", "syntax": "csvv", "unh": {"association": 8}},
        {"name": "x", "terms": {"foo": "a", "BT-2": [], "BT-3": ""}},
        {"name": "x", "terms": {"BT-29": {"path": "a", "BT-29-1": {"codes": {"0088": "EN"}}}}},
    ]
    for sample in samples:
        data = schema.as_json(sample)
        expected = sorted((list(e.absolute_path), e.validator) for e in reference.iter_errors(data))
        assert sorted((list(e.absolute_path), e.validator) for e in schema._validator().iter_errors(data)) \
            == expected


def test_an_unknown_key_is_refused_with_file_place_and_line(tmp_path: Path):
    path = write(tmp_path, "acme", """
        name: acme
        extends: csv-lines
        csv:
          delimiter: "\\t"
          delimitter: ","
        """)
    message = refusal(path)
    assert message == (f"{path}: csv/delimitter: unknown keys ['delimitter'] (allowed: ['columns', 'delimiter', "
                       "'encoding', 'formula_escape', 'invoice_column', 'invoice_record', 'layout', 'limits', "
                       "'line_terminator', 'quote', 'read_encodings', 'record_type_column', 'records', "
                       "'required']) (line 5)")


def test_each_problem_is_named_in_the_words_of_the_mapping_language(tmp_path: Path):
    path = write(tmp_path, "broken", """
        name: Broken
        syntax: csvv
        root: doc
        terms:
          BT-1: 3
          BT-2: {path: "t:x", colour: red}
          foo: "t:y"
        """)
    lines = refusal(path).splitlines()
    assert lines == [
        f"{path}: name: 'Broken' is not a name: lower-case letters, digits, '.', '_' and '-', starting with a "
        "letter or digit (line 1)",
        f"{path}: syntax: expected one of 'ubl', 'cii', 'edifact', 'csv', not 'csvv' (line 2)",
        f"{path}: terms/BT-1: expected a string or a list or a mapping or ~ (nothing), not 3 (line 5)",
        f"{path}: terms/BT-2/colour: unknown keys ['colour'] (allowed: ['absent', 'at', 'attrs', 'broadcast', "
        "'codes', 'const', 'default', 'each', 'format', 'note', 'path', 'strip', 'text', 'write'] and business "
        "terms (BT-n/BG-n)) (line 6)",
        f"{path}: terms/foo: expected a business term or group id (BT-n / BG-n) (line 7)",
    ]


def test_a_broken_base_is_named_not_the_file_that_extends_it(tmp_path: Path):
    write(tmp_path, "base", """
        name: base
        root: doc
        terms:
          BT-1: {path: "x", each: "y", broadcast: yes please}
        """)
    flavour = write(tmp_path, "flavour", """
        name: flavour
        extends: base
        """)
    message = refusal(flavour)
    assert message.startswith(f"{tmp_path / 'base.yaml'}: terms/BT-1/broadcast: expected one of true, false, "
                              "'first', ~ (nothing), not 'yes please' (line 4)")


def test_only_the_first_problems_are_listed(tmp_path: Path):
    terms = "".join(f"  BT-{n}: {n}\n" for n in range(1, 9))
    path = write(tmp_path, "many", "name: many\nterms:\n" + terms)
    lines = refusal(path).splitlines()
    assert len(lines) == 6 and lines[-1] == "... and 3 more"
    assert [line.rsplit("(line ", 1)[1] for line in lines[:5]] == ["3)", "4)", "5)", "6)", "7)"]


def test_tilde_removes_what_a_base_says_anywhere(tmp_path: Path):
    write(tmp_path, "base", """
        name: base
        root: doc
        namespaces: {"": "urn:test", t: "urn:test"}
        terms:
          BT-1: {path: "t:number", format: "%Y"}
          BG-4:
            at: "t:seller"
            BT-29: {each: "t:id", BT-29-1: "@scheme"}
        """)
    flavour = write(tmp_path, "flavour", """
        name: flavour
        extends: base
        terms:
          BT-1: {format: ~}
          BG-4:
            BT-29: {BT-29-1: ~}
        """)
    spec = compile_mapping(flavour)
    assert spec.tree.children["BT-1"].format is None
    assert spec.tree.children["BG-4"].children["BT-29"].subs == {}
