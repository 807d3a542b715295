"""The strict JSON reader: what it refuses, where it says the problem is, and that its fast
path and its reference path agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attestations import strict_json
from attestations.strict_json import MAX_DEPTH, StrictJSONError, _Parser


@pytest.mark.parametrize(
    ("text", "place", "problem"),
    [
        (
            '{"threshold": 3, "threshold": 1}',
            "line 1 column 29 ($.threshold)",
            "repeated member name 'threshold'",
        ),
        ('{"keys": [{"a": 1}, {"b": 2, "b": 3}]}', "($.keys[1].b)", "repeated member name 'b'"),
        ('{"x": [1, NaN]}', "line 1 column 11 ($.x[1])", "NaN is not a JSON number"),
        ('{"x": -Infinity}', "($.x)", "-Infinity is not a JSON number"),
        ('{"x": 1e400}', "($.x)", "number 1e400 overflows a double"),
        ('{"x":\n  9007199254740992}', "line 2 column 3 ($.x)", "integer 9007199254740992 is outside"),
        ('{"x": -9007199254740992}', "($.x)", "is outside plus or minus 9007199254740991"),
        ('{"a": [1, 2,]}', "($.a[2])", "expected a value"),
        ('{"a": 1} {}', "line 1 column 10 ($)", "extra data after the document"),
        ("", "line 1 column 1 ($)", "empty document"),
        ('{"a": "\\ud800"}', "($.a)", "escaped lone surrogate"),
        ('{"a": "tab\there"}', "($.a)", "Invalid control character"),
        ('{"a" 1}', "($.a)", "expected ':'"),
        ('{"a": 1', "($.a)", "unexpected end of document"),
        ("\ufeff{}", "line 1 column 1", "byte order mark"),
    ],
)
def test_refusals_name_the_file_and_the_place(text: str, place: str, problem: str) -> None:
    with pytest.raises(StrictJSONError) as caught:
        strict_json.loads(text, source="policy.json")
    message = str(caught.value)
    assert message.startswith("policy.json: ") and place in message and problem in message
    assert "\n" not in message


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    for opener in ("[", '{"a":'):
        with pytest.raises(StrictJSONError, match=f"nesting deeper than {MAX_DEPTH}") as caught:
            strict_json.loads(opener * 100_000)
        assert "levels" in str(caught.value) and "\n" not in str(caught.value)
    closed = "[" * 100_000 + "]" * 100_000
    with pytest.raises(StrictJSONError, match="nesting deeper"):
        strict_json.loads(closed)
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert strict_json.loads(at_limit) is not None
    with pytest.raises(StrictJSONError, match="nesting deeper"):
        strict_json.loads("[" + at_limit + "]")


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 500 + '\\"{' * 300})
    assert strict_json.loads(text) == json.loads(text)


def test_bytes_must_be_utf8_and_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(StrictJSONError, match=r"x\.json: byte 6: not UTF-8"):
        strict_json.loads(b'{"a": \xff}', source="x.json")
    path = tmp_path / "rules.json"
    path.write_text('{"rule": 1, "rule": 2}')
    with pytest.raises(StrictJSONError, match=f"^{path}: line 1 column 19"):
        strict_json.load_path(path)
    assert strict_json.loads(b'{"a": [1, -2.5e3, "\\u00e9\\ud83d\\ude00", true, null]}') == {
        "a": [1, -2500.0, "é😀", True, None]
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


def _reference(text: str) -> Any:
    try:
        return ("ok", _Parser(text, "t", MAX_DEPTH, strict_json.MAX_SAFE_INTEGER).document())
    except StrictJSONError as exc:
        return ("refused", exc.problem)


def _either(text: str) -> Any:
    try:
        return ("ok", strict_json.loads(text, source="t"))
    except StrictJSONError as exc:
        return ("refused", exc.problem)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 3))
def test_fast_path_agrees_with_the_reference_parser(value: Any, cut: int) -> None:
    text = json.dumps(value)  # NaN, Infinity, big integers and surrogates all appear
    if cut:
        text = text[: len(text) * cut // 4]  # and broken documents
    assert repr(_either(text)) == repr(_reference(text))
    if _either(text)[0] == "ok":
        assert repr(json.loads(text)) == repr(_either(text)[1])
