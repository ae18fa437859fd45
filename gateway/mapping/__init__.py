"""Declarative mappings between syntaxes and the EN 16931 model.

``load(name)`` gives the compiled mapping ``NAME.yaml`` found on the search path
(``search_path``: the shipped ``mappings/`` folder, then the overlay folders named by
EDIGATE_MAPPINGS, where partner flavours live as small files that ``extends`` a base);
every file is checked against ``mapping.schema.json`` as it is read (``schema``); the
engine (``engine.read``, ``engine.write``) interprets a mapping node by node and is the
reference; ``read`` and ``write`` here run the same mapping compiled once into a specialised
reader and writer (``compiled``), which give the interpreter's results exactly.
"""
from __future__ import annotations

from .compiled import read, write
from .engine import Dropped, ReadResult, SourceMap, WriteResult
from .search_path import available, builtin_dir, files, find, folders, forget, load
from .spec import MappingSpec, compile_mapping

__all__ = ["load", "available", "files", "find", "folders", "forget", "builtin_dir", "read", "write",
           "MappingSpec", "ReadResult", "WriteResult", "SourceMap", "Dropped", "compile_mapping"]
