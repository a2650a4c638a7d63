"""Where each key of a queue file starts, so an error can name the line: YAML keeps marks,
TOML (tomllib) keeps none and is scanned."""

from __future__ import annotations

import re

import yaml

FieldPath = tuple[str | int, ...]


def yaml_lines(root: yaml.Node) -> dict[FieldPath, int]:
    out: dict[FieldPath, int] = {}
    _lines(root, (), out)
    return out


def _lines(node: yaml.Node, path: FieldPath, out: dict[FieldPath, int]) -> None:
    """Map every key/index path in the document to the 1-based line it starts on."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = (*path, str(key_node.value))
            _lines(value_node, sub, out)
            out[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _toml_key_parts(raw: str) -> list[str]:
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_:\-]+)', raw)
    return [a or b or c for a, b, c in parts]


def toml_lines(text: str) -> dict[FieldPath, int]:
    """Map key paths to lines in a TOML document. tomllib keeps no positions, so this scans
    table headers and ``key =`` lines (enough to point at the line of a wrong value)."""
    out: dict[FieldPath, int] = {}
    table: FieldPath = ()
    arrays: dict[FieldPath, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if m := re.match(r"^\[\[\s*(.+?)\s*\]\]", stripped):
            base = tuple(_toml_key_parts(m.group(1)))
            arrays[base] = arrays.get(base, -1) + 1
            table = (*base, arrays[base])
            out.setdefault(base, n)
            out[table] = n
        elif m := re.match(r"^\[\s*(.+?)\s*\]", stripped):
            table = tuple(_toml_key_parts(m.group(1)))
            out[table] = n
        elif m := re.match(r'^((?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_:.\- ])+?)\s*=', stripped):
            out[(*table, *_toml_key_parts(m.group(1)))] = n
    return out
