"""The TUI reference form, ``opencode:`` comments and the code they are about."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.tui_text import (
    MAX_BLOCK_LINES,
    Instruction,
    enclosing_block,
    find_instruction,
    reference,
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((None, None), "@src/a.py"),
        ((10, None), "@src/a.py#L10"),
        ((10, 10), "@src/a.py#L10"),
        ((10, 20), "@src/a.py#L10-20"),
    ],
)
def test_reference_is_the_form_the_tui_takes(
    lines: tuple[int | None, int | None], expected: str
) -> None:
    assert reference("src/a.py", *lines) == expected


@pytest.mark.parametrize(
    ("line", "text", "own_line"),
    [
        ("# opencode: make this faster", "make this faster", True),
        ("    # opencode: make this faster\n", "make this faster", True),
        ("## OpenCode: shout is fine", "shout is fine", True),
        ("// opencode: rename x", "rename x", True),
        ("x = 1  // opencode: rename x", "rename x", False),
        ("total = a + b  # opencode: check for overflow", "check for overflow", False),
        ("-- opencode: add an index", "add an index", True),
        ("SELECT 1; -- opencode: explain", "explain", False),
        ("/* opencode: split this */", "split this", True),
        ("int x; /* opencode: use size_t */", "use size_t", False),
        ("<!-- opencode: add alt text -->", "add alt text", True),
        (";; opencode: use a macro", "use a macro", True),
        ("% opencode: fix the citation", "fix the citation", True),
        ("{- opencode: use foldr -}", "use foldr", True),
        ("(* opencode: tail recursion *)", "tail recursion", True),
        ('" opencode: vim mapping', "vim mapping", True),
        ("' opencode: basic", "basic", True),
        ("REM opencode: batch file", "batch file", True),
        ("#opencode:no space", "no space", True),
        ("\t# opencode: tabs\r\n", "tabs", True),
    ],
)
def test_instructions_in_any_comment_syntax(line: str, text: str, own_line: bool) -> None:
    found = find_instruction(line)
    assert found is not None
    assert (found.text, found.own_line) == (text, own_line)


@pytest.mark.parametrize(
    "line",
    [
        "# a plain comment",
        "# opencode:",
        "# opencode:    ",
        "x = 'opencode: in a string'",
        's = "# opencode: in a string"',
        'url = "http://example.org/opencode: not a comment"',
        "a--b opencode: no",
        "x = y # opencodes: typo",
        "opencode: not a comment",
        "",
    ],
)
def test_not_instructions(line: str) -> None:
    assert find_instruction(line) is None


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("x = 1  # opencode: rename x\n", "x = 1\n"),
        ("int x; /* opencode: size_t */", "int x;"),
        ("a = 2 -- opencode: why", "a = 2"),
    ],
)
def test_removal_keeps_the_code(line: str, kept: str) -> None:
    found = find_instruction(line)
    assert isinstance(found, Instruction)
    start, end = found.removal(line)
    assert line[:start] + line[end:] == kept


SOURCE = """\
import math


def foo(x):
    # opencode: cache the square root
    y = math.sqrt(x)
    if y > 1:
        return y + 42

    return 0


# opencode: make bar faster
def bar():
    return foo(4)


VALUE = 3  # opencode: read it from the environment
OTHER = 4
""".splitlines(keepends=True)


def test_a_comment_in_a_body_is_about_the_enclosing_block() -> None:
    assert enclosing_block(SOURCE, 4) == (3, 9)  # def foo ... return 0


def test_a_comment_at_the_top_level_is_about_the_block_below() -> None:
    assert enclosing_block(SOURCE, 12) == (12, 14)  # the comment, def bar, its body


def test_a_trailing_comment_at_the_top_level_is_about_its_line() -> None:
    assert enclosing_block(SOURCE, 17) == (17, 17)


def test_a_closing_brace_belongs_to_the_block() -> None:
    lines = [
        "function f() {\n",
        "  // opencode: handle errors\n",
        "  g();\n",
        "}\n",
        "f();\n",
    ]
    assert enclosing_block(lines, 1) == (0, 3)


def test_lua_end_belongs_to_the_block() -> None:
    lines = ["-- opencode: memoize\n", "function f(x)\n", "  return x\n", "end\n", "print(1)\n"]
    assert enclosing_block(lines, 0) == (0, 3)


def test_a_huge_block_is_cut_around_the_comment() -> None:
    lines = ["class Big:\n"] + ["    x = 1\n"] * 1000
    lines[600] = "    # opencode: split this class\n"
    start, end = enclosing_block(lines, 600)
    assert end - start + 1 == MAX_BLOCK_LINES
    assert start <= 600 <= end


def test_empty_and_out_of_range() -> None:
    assert enclosing_block([], 3) == (0, 0)
    assert enclosing_block(["# opencode: x\n"], 9) == (0, 0)


@given(st.lists(st.text(alphabet=" \tab#:{}\n-", max_size=12), max_size=30), st.integers(0, 40))
def test_the_block_always_holds_the_line(lines: list[str], line: int) -> None:
    start, end = enclosing_block(lines, line)
    if lines:
        assert 0 <= start <= min(line, len(lines) - 1) <= end < len(lines)
