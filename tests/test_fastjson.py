"""center.fastjson: orjson's speed without its refusals -- what json accepted still works,
and means the same, for socket.io packets and JSON columns alike."""

from __future__ import annotations

import json

import pytest

from center import fastjson


@pytest.mark.parametrize(
    "value",
    [
        {"text": "plain", "n": 3, "f": 1.5, "none": None, "list": [1, "é", True]},
        {"huge": 2**70},  # past orjson's 64-bit integers
        {"lone": "\ud800"},  # a lone surrogate: orjson will not encode it
        {1: "non-string key"},
    ],
)
def test_dumps_reads_back_as_json_would(value: object) -> None:
    out = fastjson.dumps(value)
    assert isinstance(out, str)
    assert json.loads(out) == json.loads(json.dumps(value))


def test_compact_separators_are_honoured() -> None:
    assert fastjson.dumps([1, {"a": 2}], separators=(",", ":")) == '[1,{"a":2}]'


def test_loads_accepts_what_json_accepts() -> None:
    assert fastjson.loads('"\\ud800"') == "\ud800"  # orjson refuses lone surrogates
    assert fastjson.loads(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(json.JSONDecodeError):
        fastjson.loads("{not json")
