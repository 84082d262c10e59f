"""TOON (spec v4) decoder and encoder: every official conformance fixture, plus round trips of
strings and keys that need quoting, and the host-type mapping.

The fixtures live in testdata/toon-spec-v4.0.0/fixtures (encode/*.json, decode/*.json; schema
in fixtures.schema.json). A missing fixture directory fails the suite, it does not skip it.
"""
from __future__ import annotations

import datetime
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from toondb import toon
from toondb.toon import ToonDecodeError

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "testdata" / "toon-spec-v4.0.0" / "fixtures"


def _load_cases() -> List[Tuple[str, str, dict]]:
    cases = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)  # keeps key order, which the encode cases depend on
        category = data["category"]
        assert category == path.parent.name, path
        for test in data["tests"]:
            cases.append((f"{category}/{path.stem}", category, test))
    return cases


CASES = _load_cases()


def _canonical(value: Any) -> Any:
    """A comparable form that tells True from 1, None from absent, and keeps key order."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", value)  # 1000 == 1000.0: the spec's numbers carry no int/float split
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ("arr", [_canonical(v) for v in value])
    if isinstance(value, dict):
        return ("obj", [(k, _canonical(v)) for k, v in value.items()])
    raise TypeError(f"unexpected decoded type {type(value).__name__}")


def test_fixture_directory_has_the_whole_suite() -> None:
    assert FIXTURES.is_dir(), f"TOON fixtures missing: {FIXTURES}"
    assert len(CASES) >= 400, f"only {len(CASES)} fixture cases collected"
    kinds = {category for _, category, _ in CASES}
    assert kinds == {"encode", "decode"}


@pytest.mark.parametrize(
    "source, category, case",
    CASES,
    ids=[f"{source}::{case['name']}" for source, _, case in CASES],
)
def test_conformance_fixture(source: str, category: str, case: dict) -> None:
    options = case.get("options", {})
    if category == "encode":
        kwargs = {}
        if "indentSize" in options:
            kwargs["indent"] = options["indentSize"]
        if "delimiter" in options:
            kwargs["delimiter"] = options["delimiter"]
        if case.get("shouldError"):
            with pytest.raises((TypeError, ValueError)):
                toon.encode(case["input"], **kwargs)
            return
        assert toon.encode(case["input"], **kwargs) == case["expected"]
        return
    kwargs = {}
    if "indentSize" in options:
        kwargs["indent"] = options["indentSize"]
    if "strict" in options:
        kwargs["strict"] = options["strict"]
    if case.get("shouldError"):
        with pytest.raises(ToonDecodeError) as info:
            toon.decode(case["input"], **kwargs)
        assert str(info.value).startswith("line "), str(info.value)
        return
    assert _canonical(toon.decode(case["input"], **kwargs)) == _canonical(case["expected"])


# -- round trips ------------------------------------------------------------------------------

TRICKY = [
    "a,b", "a:b", "x: y", 'say "hi"', "back\\slash", "C:\\path\\", " lead", "trail ", " both ",
    "true", "false", "null", "True", "NULL", "42", "-1.5e3", "1e-6", "05", "0", "-0", "+1", ".5", "1.",
    "", "-", "- x", "-x", "--", "#", "#x", "a#b", "[1]", "[2]: a,b", "{a}", "a|b", "a\tb",
    "line\nbreak", "cr\rlf", "\x01\x1f", "é", "héllo 🚀 wörld", "日本語", "\u00a0nbsp", "tab\t",
    "quote\"", '"', '""', "\\", "\\u0041", "a b", "  ", "Infinity", "NaN", "null,true", "a\u2028b",
]

KEYS = [
    "plain", "with space", "a:b", "a,b", "-lead", "123", "", "[i]", "{k}", 'q"uote', "tab\tk",
    "new\nline", "a.b", "_ok", "é", "back\\", "#hash", "a|b", "true", "__proto__",
]


@pytest.mark.parametrize("delimiter", [",", "|", "\t"], ids=["comma", "pipe", "tab"])
@pytest.mark.parametrize("text", TRICKY, ids=[repr(t) for t in TRICKY])
def test_tricky_string_round_trips_in_every_position(text: str, delimiter: str) -> None:
    documents = [
        text,  # root primitive
        {"k": text},  # object field
        {"arr": [text, "x", text]},  # inline array
        {"rows": [{"a": text, "b": 1}, {"a": "y", "b": text}]},  # tabular cells
        {"items": [text, {"x": text}, [text]]},  # list items
        {"m": {"e1": {"v": text}, "e2": {"v": "z"}}},  # keyed entry rows
        [text, text],  # root array
        {"n": {"g": [{"p": {"q": text}}, {"p": {"q": "w"}}]}},  # nested field groups
    ]
    for document in documents:
        encoded = toon.encode(document, delimiter=delimiter)
        assert toon.decode(encoded) == document, encoded
        assert "\n\n" not in encoded and not encoded.endswith("\n")


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_keys_needing_quotes_round_trip(key: str) -> None:
    for document in ({key: 1}, {key: [1, 2]}, {key: {"x": 1}}, {"t": [{key: 1}, {key: 2}]},
                     {"m": {key: {"v": 1}, "other": {"v": 2}}}, {key: [{"a": 1}, {"b": 2}]}):
        encoded = toon.encode(document)
        assert toon.decode(encoded) == document, encoded


def test_key_quoting_follows_the_identifier_pattern() -> None:
    assert toon.encode({"a.b_c1": 1}) == "a.b_c1: 1"
    assert toon.encode({"with space": 1}) == '"with space": 1'
    assert toon.encode({"1a": 1}) == '"1a": 1'
    assert toon.encode({"new\nline": 1}) == '"new\\nline": 1'
    assert toon.encode({"c\x02": 1}) == '"c\\u0002": 1'


def test_query_shaped_documents() -> None:
    text = 'result[2]{email,name}:\n  alice@example.com,Alice\n  bob@example.com,"Bob, Jr."'
    assert toon.decode(text) == {"result": [
        {"email": "alice@example.com", "name": "Alice"},
        {"email": "bob@example.com", "name": "Bob, Jr."},
    ]}
    assert toon.decode("result[0]:") == {"result": []}
    assert toon.decode('result[1]{a,b}:\n  null,"null"') == {"result": [{"a": None, "b": "null"}]}


def test_numbers() -> None:
    assert toon.decode("v: 42") == {"v": 42} and type(toon.decode("v: 42")["v"]) is int
    assert type(toon.decode("v: 1.5")["v"]) is float
    assert toon.decode("v: 123456789012345678901234567890")["v"] == 123456789012345678901234567890
    assert toon.decode("v: 1e400") == {"v": "1e400"}  # out of float range: kept as text
    assert toon.encode({"v": -0.0}) == "v: 0"
    assert toon.encode({"v": float("nan"), "w": float("inf")}) == "v: null\nw: null"
    assert toon.encode(1e21) == "1000000000000000000000"
    assert toon.encode(1.5e-7) == "0.00000015"
    assert toon.encode(2.0) == "2"
    assert toon.encode(Decimal("1.2500")) == "1.25"
    assert toon.encode(10 ** 30) == str(10 ** 30)
    rng = random.Random(7)
    values = [rng.uniform(-1e6, 1e6) for _ in range(200)] + [rng.random() * 10 ** rng.randint(-20, 20) for _ in range(200)]
    assert toon.decode(toon.encode({"v": values}))["v"] == values


def test_host_types() -> None:
    assert toon.encode({"t": (1, 2)}) == "t[2]: 1,2"
    assert toon.encode({"d": datetime.date(2025, 1, 2)}) == "d: 2025-01-02"
    assert toon.encode({1: "x"}) == '"1": x'
    assert toon.encode({}) == ""
    assert toon.encode([]) == "[]"
    with pytest.raises(TypeError):
        toon.encode({"b": b"bytes"})
    with pytest.raises(ValueError):
        toon.encode({"a": 1}, delimiter=";")
    with pytest.raises(ValueError):
        toon.encode({"a": 1}, indent=0)


def test_decode_errors_are_value_errors_with_line_numbers() -> None:
    with pytest.raises(ValueError) as info:
        toon.decode("a: 1\nb: 2\nitems[3]: x,y")
    assert isinstance(info.value, ToonDecodeError)
    assert info.value.line == 3 and "line 3" in str(info.value)
    with pytest.raises(ToonDecodeError, match="line 2"):
        toon.decode('a: 1\nb: "unterminated')
    with pytest.raises(TypeError):
        toon.decode(b"a: 1")  # type: ignore[arg-type]


def test_non_strict_mode_is_lenient() -> None:
    assert toon.decode("items[3]: a,b", strict=False) == {"items": ["a", "b"]}
    assert toon.decode("a: 1\na: 2", strict=False) == {"a": 2}
    with pytest.raises(ToonDecodeError):
        toon.decode("items[3]: a,b")


def test_custom_indent_round_trip() -> None:
    document = {"a": {"b": [{"x": 1, "y": [1, 2]}, {"z": {"w": "v"}}], "c": [[1], []]}}
    for indent in (1, 2, 4):
        encoded = toon.encode(document, indent=indent)
        assert toon.decode(encoded, indent=indent) == document


def test_large_table_round_trip() -> None:
    rows = [{"id": i, "name": f"user {i}", "note": "a,b" if i % 2 else None, "ok": i % 3 == 0} for i in range(5000)]
    assert toon.decode(toon.encode({"rows": rows})) == {"rows": rows}
