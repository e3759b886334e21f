"""The prompt parts the bridge sends: the TUI's file part, unsaved text, diagnostics."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from bridge.core.prompts import (
    Problem,
    Selection,
    against_disk,
    file_part,
    format_problems,
    prompt_parts,
    reference_parts,
    render_template,
    uses_diagnostics,
)
from bridge.core.settings import DEFAULT_PROMPTS

ROOT = Path("/work/project")


def selection(
    rel: str = "src/a.py",
    start: int = 10,
    end: int = 20,
    text: str = "x = 1\n",
    *,
    unsaved: bool = False,
    on_disk: bool = True,
    language: str = "python",
    root: Path = ROOT,
    disk_range: tuple[int, int] | None = None,
) -> Selection:
    return Selection(
        path=root / rel,
        root=root,
        start_line=start,
        end_line=end,
        text=text,
        unsaved=unsaved,
        language=language,
        on_disk=on_disk,
        disk_range=disk_range,
    )


PROBLEMS = [
    Problem(12, "error", "undefined name 'y'", "pyflakes"),
    Problem(15, "warning", "unused import", None),
]


def text_of(parts: list[dict[str, Any]]) -> str:
    assert parts[0]["type"] == "text"
    return str(parts[0]["text"])


# --- the file part ---------------------------------------------------------------------------


def test_file_part_is_exactly_what_the_tui_sends() -> None:
    assert file_part(selection()) == {
        "type": "file",
        "mime": "text/plain",
        "filename": "src/a.py#10-20",
        "url": "file:///work/project/src/a.py?start=10&end=20",
        "source": {
            "type": "file",
            "path": "src/a.py",
            "text": {"value": "@src/a.py#10-20", "start": 0, "end": 0},
        },
    }


def test_single_line_selection() -> None:
    part = file_part(selection(start=7, end=7))
    assert part["filename"] == "src/a.py#7"
    assert part["source"]["text"]["value"] == "@src/a.py#7"
    assert part["url"].endswith("/src/a.py?start=7&end=7")


@pytest.mark.parametrize(
    "rel",
    ["my dir/some file.py", "src/données/café.py", "a#b/c?d.py", "100%/x.py"],
)
def test_awkward_paths_are_quoted_in_the_url_only(rel: str) -> None:
    part = file_part(selection(rel))
    url = part["url"]
    assert url.isascii() and " " not in url
    parsed = urlsplit(url)
    assert parsed.scheme == "file"
    assert unquote(parsed.path) == f"{ROOT}/{rel}"  # the path survives the round trip
    assert parsed.query == "start=10&end=20"
    # The names a person reads stay as written.
    assert part["filename"] == f"{rel}#10-20"
    assert part["source"]["path"] == rel
    assert part["source"]["text"]["value"] == f"@{rel}#10-20"


def test_file_outside_the_root_uses_its_absolute_path() -> None:
    sel = Selection(Path("/elsewhere/b.py"), ROOT, 1, 2, "", unsaved=False)
    part = file_part(sel)
    assert part["filename"] == "/elsewhere/b.py#1-2"
    assert part["url"] == "file:///elsewhere/b.py?start=1&end=2"


# --- the parts -------------------------------------------------------------------------------


def test_saved_selection_sends_the_instruction_and_the_file_part() -> None:
    parts = prompt_parts("  Explain this.  \n", selection(), [])
    assert parts == [{"type": "text", "text": "Explain this."}, file_part(selection())]


def test_no_selection_sends_text_only() -> None:
    assert prompt_parts("What is this repo?", None, []) == [
        {"type": "text", "text": "What is this repo?"}
    ]


def test_unsaved_buffer_includes_the_selected_lines_as_text() -> None:
    sel = selection(text="def f():\n    return 2\n", unsaved=True, disk_range=(10, 20))
    parts = prompt_parts("Explain.", sel, [])
    assert parts[1] == file_part(sel)  # the file part still goes
    text = text_of(parts)
    assert "src/a.py has unsaved changes" in text
    assert "lines 10-20" in text
    assert text.endswith("```python\ndef f():\n    return 2\n```")


DISK = "import math\n\ndef foo(x):\n    return math.sqrt(x)\n"
# Two lines typed above ``def foo`` and not saved: the disk's lines 3-4 are the buffer's 5-6.
SHIFTED = "import math\n\n# note\n# more\ndef foo(x):\n    return math.sqrt(x)\n"


def buffer_selection(buffer: str, start: int, end: int) -> Selection:
    lines = buffer.splitlines(keepends=True)[start - 1 : end]
    return selection("src/a.py", start, end, "".join(lines))


def test_lines_shifted_by_unsaved_lines_are_named_by_their_disk_lines() -> None:
    sel = against_disk(buffer_selection(SHIFTED, 5, 6), SHIFTED, DISK)
    assert (sel.unsaved, sel.disk_range) == (True, (3, 4))
    parts = prompt_parts("Explain.", sel, [])
    assert parts[1]["url"].endswith("/src/a.py?start=3&end=4")  # what OpenCode reads: disk
    assert parts[1]["filename"] == "src/a.py#3-4"
    assert parts[1]["source"]["text"]["value"] == "@src/a.py#3-4"
    text = text_of(parts)
    assert "lines 5-6 as the user sees them (lines 3-4 of the file on disk):" in text
    assert text.endswith("```python\ndef foo(x):\n    return math.sqrt(x)\n```")


def test_lines_only_in_the_buffer_send_no_disk_range_only_their_text() -> None:
    sel = against_disk(buffer_selection(SHIFTED, 3, 4), SHIFTED, DISK)
    assert (sel.unsaved, sel.disk_range) == (True, None)
    parts = prompt_parts("Explain.", sel, [])
    assert [part["type"] for part in parts] == ["text"]
    text = text_of(parts)
    assert "lines 3-4 as the user sees them (not in the file on disk yet):" in text
    assert "# note\n# more\n```" in text


def test_a_selection_partly_new_names_the_disk_lines_of_its_unchanged_lines() -> None:
    sel = against_disk(buffer_selection(SHIFTED, 4, 6), SHIFTED, DISK)
    assert sel.disk_range == (3, 4)
    changed = DISK.replace("sqrt(x)", "sqrt(x) + 1")  # line 4 edited, line 3 unchanged
    sel = against_disk(buffer_selection(changed, 3, 4), changed, DISK)
    assert sel.disk_range == (3, 3)


def test_a_buffer_equal_to_the_disk_sends_its_own_lines() -> None:
    sel = against_disk(buffer_selection(DISK, 3, 4), DISK, DISK)
    assert (sel.unsaved, sel.file_lines) == (False, (3, 4))
    parts = prompt_parts("Explain.", sel, [])
    assert parts == [{"type": "text", "text": "Explain."}, file_part(sel)]
    assert parts[1]["filename"] == "src/a.py#3-4"


def test_an_unreadable_file_sends_the_text_without_a_disk_range() -> None:
    sel = against_disk(buffer_selection(DISK, 3, 4), DISK, None)
    assert (sel.unsaved, sel.file_lines) == (True, None)
    assert [part["type"] for part in prompt_parts("Explain.", sel, [])] == ["text"]


def test_file_not_on_disk_sends_text_only() -> None:
    sel = selection("new.py", 1, 3, "print('hi')\n", unsaved=True, on_disk=False)
    parts = prompt_parts("Explain.", sel, [])
    assert len(parts) == 1
    text = text_of(parts)
    assert "new.py is not saved to disk" in text
    assert "```python\nprint('hi')\n```" in text


@pytest.mark.parametrize("run", [3, 4, 7])
def test_fence_survives_backticks_in_the_code(run: int) -> None:
    code = f'doc = """\n{"`" * run}sh\nls\n{"`" * run}\n"""\n'
    sel = selection(text=code, unsaved=True, disk_range=(10, 20))
    text = text_of(prompt_parts("Explain.", sel, []))
    block = text[text.index("as the user sees them:\n") + len("as the user sees them:\n") :]
    opening = re.match(r"`+", block)
    assert opening is not None
    fence = opening.group(0)
    assert len(fence) > run
    # The block is closed only by the fence itself, at the end, and holds the code intact.
    assert block == f"{fence}python\n{code.rstrip()}\n{fence}"
    inner = block[len(fence) + len("python") : -len(fence)]
    assert fence not in inner


def test_diagnostics_are_listed_in_the_text() -> None:
    text = text_of(prompt_parts("Explain.", selection(), PROBLEMS))
    assert "Diagnostics the editor reports in the selection:" in text
    assert "- line 12: error: undefined name 'y' (pyflakes)" in text
    assert "- line 15: warning: unused import" in text
    assert "unused import (" not in text  # no empty source


def test_diagnostics_template_lists_them_once() -> None:
    # The server renders the template first, then builds the parts from the result.
    rendered = render_template(DEFAULT_PROMPTS["fix"], selection(), PROBLEMS)
    text = text_of(prompt_parts(rendered, selection(), PROBLEMS))
    assert text.count("undefined name 'y'") == 1
    assert text.count("unused import") == 1
    assert "Diagnostics the editor reports" not in text


def test_unrendered_diagnostics_placeholder_is_not_doubled_either() -> None:
    text = text_of(prompt_parts("Fix:\n{diagnostics}", selection(), PROBLEMS))
    assert "Diagnostics the editor reports" not in text


# --- templates -------------------------------------------------------------------------------


def test_render_template_fills_the_known_placeholders() -> None:
    out = render_template(
        "{file} {lines} {language}:\n{diagnostics}", selection(start=3, end=3), PROBLEMS
    )
    assert out == "src/a.py 3 python:\n" + format_problems(PROBLEMS)


def test_render_template_without_selection_or_problems() -> None:
    out = render_template("{file} {lines} [{language}] {diagnostics}", None, [])
    assert out == "the current file ? [] (none reported)"


@pytest.mark.parametrize(
    "template",
    ["{x}", "{", "}", "{}", "{ file }", "{File}", "{file", "dict(a={1: 2})", "{0}", "%(file)s"],
)
def test_render_template_leaves_other_braces_alone(template: str) -> None:
    assert render_template(template, selection(), PROBLEMS) == template


def test_render_template_keeps_braces_around_a_placeholder() -> None:
    assert render_template("{{file}} {x}{lines}", selection(), []) == "{src/a.py} {x}10-20"


def test_values_are_not_rendered_again() -> None:
    # A file named like a placeholder must not pull in another value.
    sel = selection("{lines}.py")
    assert render_template("{file}", sel, []) == "{lines}.py"


def test_uses_diagnostics() -> None:
    assert uses_diagnostics(DEFAULT_PROMPTS["fix"])
    assert not uses_diagnostics(DEFAULT_PROMPTS["explain"])


def test_referenced_files_are_file_parts_or_on_v2_their_lines_in_the_text() -> None:
    """A conversation's ``@src/b.py#L3-4``: V1 reads the file part; V2 takes none, so the lines
    go in the text (they would otherwise be dropped without a word)."""
    named = selection("src/b.py", 3, 4, "y = 2\nz = 3\n", language="")
    assert reference_parts([named], inline=False) == [file_part(named)]
    assert reference_parts([named], inline=True) == [
        {"type": "text", "text": "Lines 3-4 of src/b.py:\n```\ny = 2\nz = 3\n```"}
    ]
    assert reference_parts([], inline=True) == []
