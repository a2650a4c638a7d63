"""Where each key of a queue file starts, so an error can name the line: YAML keeps marks,
TOML (tomllib) keeps none and is scanned."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]


class ConfigError(ValueError):
    """A configuration file cannot be used; the message says where and why."""


def read_document(text: str, source: str, top_key: str) -> tuple[Any, dict[FieldPath, int]]:
    """A YAML or TOML document (by ``source``'s suffix) and the line of each key in it.

    Syntax errors and an empty document are a ``ConfigError`` naming file and line; the
    empty one says the ``top_key`` mapping it needs. (The queue file and the IVR file.)"""
    if source.endswith(".toml"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"line (\d+)", str(exc))
            raise ConfigError(
                f"{source}:{line.group(1) if line else 1}: not valid TOML: {exc}"
            ) from None
        return data, toml_lines(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(
            f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if root is None:
        raise ConfigError(f"{source}:1: the file is empty; it needs a '{top_key}:' mapping")
    return yaml.SafeLoader("").construct_document(root), yaml_lines(root)


def line_of(lines: Mapping[FieldPath, int], path: FieldPath) -> int:
    """The line of ``path``, or of its nearest parent the file names."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


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
