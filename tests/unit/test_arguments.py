"""Command arguments: each problem is an InvalidArgument naming the argument, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from bridge.core.arguments import (
    MAX_TEXT,
    optional_list,
    optional_range,
    optional_str,
    optional_uri,
    required_str,
    single_object,
)
from bridge.errors import InvalidArgument


def position(line: Any, character: Any) -> dict[str, Any]:
    return {"line": line, "character": character}


def rng(start: Any, end: Any) -> dict[str, Any]:
    return {"range": {"start": start, "end": end}}


def problem(call: Any) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return caught.value


# --- the one object --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"prompt": "hi"}, {"prompt": "hi"}),  # Helix passes the object itself
        ([{"prompt": "hi"}], {"prompt": "hi"}),  # others pass [object]
        (({"prompt": "hi"},), {"prompt": "hi"}),
    ],
)
def test_single_object(arguments: Any, expected: dict[str, Any]) -> None:
    assert single_object(arguments) == expected


@pytest.mark.parametrize("arguments", [None, [], [None]])
def test_no_arguments_when_none_are_needed(arguments: Any) -> None:
    assert single_object(arguments, required=False) == {}


@pytest.mark.parametrize(
    "arguments",
    [None, [], [None], "prompt", 3, [1], [{"a": 1}, {"b": 2}], ["x"], [[{"a": 1}]], True],
)
def test_single_object_errors_name_arguments(arguments: Any) -> None:
    error = problem(lambda: single_object(arguments))
    assert error.argument == "arguments"
    assert "expected one object" in str(error)


@pytest.mark.parametrize("arguments", ["x", [1], [{"a": 1}, {}]])
def test_single_object_errors_even_when_optional(arguments: Any) -> None:
    assert problem(lambda: single_object(arguments, required=False)).argument == "arguments"


# --- strings ---------------------------------------------------------------------------------


def test_optional_str() -> None:
    assert optional_str({"prompt": "hi"}, "prompt") == "hi"
    assert optional_str({}, "prompt") is None
    assert optional_str({"prompt": None}, "prompt") is None
    assert optional_str({"prompt": ""}, "prompt") == ""


@pytest.mark.parametrize("value", [3, True, ["hi"], {"text": "hi"}, 1.5])
def test_optional_str_wrong_type(value: Any) -> None:
    error = problem(lambda: optional_str({"template": value}, "template"))
    assert error.argument == "template"
    assert str(error) == "Invalid argument 'template': expected a string."


def test_huge_strings_are_refused() -> None:
    assert optional_str({"prompt": "x" * MAX_TEXT}, "prompt") == "x" * MAX_TEXT
    error = problem(lambda: optional_str({"prompt": "x" * (MAX_TEXT + 1)}, "prompt"))
    assert error.argument == "prompt"
    assert str(MAX_TEXT) in str(error)
    assert problem(lambda: optional_str({"t": "abc"}, "t", max_len=2)).argument == "t"


def test_required_str() -> None:
    assert required_str({"prompt": " hi "}, "prompt") == " hi "
    for args in ({}, {"prompt": None}, {"prompt": ""}, {"prompt": " \n\t"}):
        assert problem(lambda args=args: required_str(args, "prompt")).argument == "prompt"
    assert problem(lambda: required_str({"prompt": 3}, "prompt")).argument == "prompt"
    huge = {"prompt": "x" * (MAX_TEXT + 1)}
    assert problem(lambda: required_str(huge, "prompt")).argument == "prompt"


# --- uris and lists --------------------------------------------------------------------------


def test_optional_uri() -> None:
    assert optional_uri({"uri": "file:///work/a.py"}) == "file:///work/a.py"
    assert optional_uri({}) is None
    assert optional_uri({"target": "file:///x"}, "target") == "file:///x"


@pytest.mark.parametrize(
    "uri",
    ["/work/a.py", "untitled:Untitled-1", "https://example.com/a.py", "file:/x", 7, ""],
)
def test_uri_that_is_not_a_file_uri(uri: Any) -> None:
    assert problem(lambda: optional_uri({"uri": uri})).argument == "uri"


def test_huge_uri_is_refused() -> None:
    assert problem(lambda: optional_uri({"uri": "file:///" + "a" * 20_000})).argument == "uri"


def test_optional_list() -> None:
    assert optional_list({"diagnostics": [1, {"a": 2}]}, "diagnostics") == [1, {"a": 2}]
    assert optional_list({}, "diagnostics") == []
    for value in ({"message": "x"}, "x", 3):
        error = problem(lambda value=value: optional_list({"diagnostics": value}, "diagnostics"))
        assert error.argument == "diagnostics"


# --- ranges ----------------------------------------------------------------------------------


def test_optional_range() -> None:
    assert optional_range(rng(position(1, 2), position(3, 0))) == types.Range(
        start=types.Position(line=1, character=2), end=types.Position(line=3, character=0)
    )
    assert optional_range({}) is None
    assert optional_range({"range": None}) is None
    # An empty range (a cursor) is a range.
    assert optional_range(rng(position(4, 4), position(4, 4))) is not None
    assert optional_range({"sel": {"start": position(0, 0), "end": position(0, 1)}}, "sel")


@pytest.mark.parametrize(
    ("args", "argument"),
    [
        ({"range": [0, 1]}, "range"),
        ({"range": "0:1"}, "range"),
        (rng(None, position(0, 0)), "range.start"),
        (rng([0, 0], position(0, 0)), "range.start"),
        (rng(position(0, 0), "end"), "range.end"),
        (rng({"line": 0}, position(0, 0)), "range.start.character"),
        (rng(position(-1, 0), position(0, 0)), "range.start.line"),
        (rng(position(0, -5), position(0, 0)), "range.start.character"),
        (rng(position(0, 0), position(-1, 0)), "range.end.line"),
        (rng(position(True, 0), position(2, 0)), "range.start.line"),
        (rng(position(0, False), position(2, 0)), "range.start.character"),
        (rng(position(1.0, 0), position(2, 0)), "range.start.line"),
        (rng(position("1", 0), position(2, 0)), "range.start.line"),
        (rng(position(0, 0), position(2**31, 0)), "range.end.line"),
        (rng(position(0, 0), position(1, 10**30)), "range.end.character"),
        (rng(position(5, 0), position(4, 9)), "range"),
        (rng(position(5, 3), position(5, 2)), "range"),
    ],
)
def test_bad_ranges_name_the_offending_key(args: dict[str, Any], argument: str) -> None:
    error = problem(lambda: optional_range(args))
    assert error.argument == argument
    assert repr(argument) in str(error)


def test_largest_position_is_accepted() -> None:
    top = 2**31 - 1
    result = optional_range(rng(position(top, top), position(top, top)))
    assert result is not None and result.end.line == top


# --- anything at all -------------------------------------------------------------------------

HUGE = "x" * (MAX_TEXT + 1)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["file:///a.py", HUGE]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=10,
)
POSITION = st.fixed_dictionaries({}, optional={"line": JSON, "character": JSON}) | JSON
KEYED = st.fixed_dictionaries(
    {},
    optional={
        "uri": JSON,
        "range": st.fixed_dictionaries({}, optional={"start": POSITION, "end": POSITION}) | JSON,
        "prompt": JSON,
        "diagnostics": JSON,
    },
)


@settings(max_examples=100, deadline=None, database=None)
@given(arguments=JSON | KEYED | st.lists(KEYED, max_size=2))
def test_arbitrary_json_gives_invalid_argument_or_a_clean_result(arguments: Any) -> None:
    for required in (True, False):
        try:
            args = single_object(arguments, required=required)
        except InvalidArgument:
            continue
        assert isinstance(args, dict)
        checks: list[Callable[[dict[str, Any]], object]] = [
            optional_uri,
            optional_range,
            lambda a: optional_str(a, "prompt"),
            lambda a: required_str(a, "prompt"),
            lambda a: optional_list(a, "diagnostics"),
        ]
        for check in checks:
            try:
                result = check(args)
            except InvalidArgument as error:
                assert error.argument.split(".")[0] in {"uri", "range", "prompt", "diagnostics"}
                continue
            assert result is None or isinstance(result, (str, list, types.Range))
