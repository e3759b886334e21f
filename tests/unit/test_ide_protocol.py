"""The editor-context protocol's data: lock files, selections, mentions, replies."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bridge.core.ide_protocol import (
    answer,
    is_stale,
    lock_content,
    lock_folders,
    mention_params,
    replaces,
    selected,
    selection_params,
    serves,
)

SOURCE = "import math\n\ndef foo(x):\n    return math.sqrt(x)\n"


def test_a_line_wise_selection_is_shown_on_its_lines_1_based() -> None:
    start = SOURCE.index("def")
    end = len(SOURCE)  # the end of a line-wise selection: after the last line break
    params = selection_params(selected("/p/a.py", SOURCE, start, end))
    assert params == {
        "filePath": "/p/a.py",
        "text": "def foo(x):\n    return math.sqrt(x)\n",
        # the end is after the last character of line 4 (23 characters long)
        "selection": {"start": {"line": 3, "character": 1}, "end": {"line": 4, "character": 24}},
    }


def test_a_cursor_is_an_empty_selection_and_offsets_are_clamped() -> None:
    cursor = selected("/p/a.py", SOURCE, 5, 5)
    assert cursor.empty and cursor.text == ""
    assert cursor.start_position == cursor.end_position == (1, 6)
    past = selected("/p/a.py", SOURCE, 10_000, 20_000)
    assert past.text == "" and past.start == len(SOURCE)


def test_a_selection_of_non_ascii_text_counts_characters() -> None:
    source = "a = '😀é'\n"
    part = selected("/p/a.py", source, 5, 7)
    assert part.text == "😀é"
    assert part.start_position == (1, 6) and part.end_position == (1, 8)


def test_hints_never_replace_a_selection_in_the_same_file() -> None:
    selection = selected("/p/a.py", SOURCE, 0, 6)
    same_file = selected("/p/a.py", SOURCE, 20, 20)
    other_file = selected("/p/b.py", SOURCE, 0, 0)
    assert not replaces(selection, same_file, hint=True)
    assert replaces(selection, other_file, hint=True)
    assert replaces(selection, same_file, hint=False)  # the editor said so: it is the selection
    assert replaces(None, same_file, hint=True)
    assert replaces(selected("/p/a.py", SOURCE, 3, 3), same_file, hint=True)


def test_the_lock_file_says_what_the_tui_reads() -> None:
    content = lock_content(42, ["/p"], "Neovim", "secret")
    assert content == {
        "pid": 42,
        "workspaceFolders": ["/p"],
        "ideName": "opencode-lsp (Neovim)",
        "transport": "ws",
        "authToken": "secret",
    }
    assert serves(content, "/p") and serves(content, "/p/src/deep")
    assert not serves(content, "/other") and not serves(content, "/pp")
    assert not serves({**content, "transport": "sse"}, "/p")


def test_folders_include_their_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    assert lock_folders([str(link), str(real)]) == [str(link), str(real)]


def test_only_our_own_locks_of_dead_bridges_are_stale() -> None:
    ours = lock_content(42, ["/p"], "", "t")
    assert is_stale(ours, lambda pid: False)
    assert not is_stale(ours, lambda pid: True)
    assert not is_stale({**ours, "ideName": "Visual Studio Code"}, lambda pid: False)


def test_mentions_are_1_based_inclusive() -> None:
    assert mention_params("/p/a.py", 3, 4) == {"filePath": "/p/a.py", "lineStart": 3, "lineEnd": 4}


def test_replies_to_the_tui() -> None:
    init = answer(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "initialize"}), "1.0", {})
    assert init.initialized
    assert json.loads(init.reply or "")["result"]["serverInfo"] == {
        "name": "opencode-lsp",
        "version": "1.0",
    }
    initialized = '{"jsonrpc": "2.0", "method": "notifications/initialized"}'
    assert answer(initialized, "1", {}).reply is None
    unknown = json.loads(answer('{"id": 2, "method": "tools/call"}', "1", {}).reply or "")
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 2
    assert json.loads(answer("{not json", "1", {}).reply or "")["error"]["code"] == -32600
    status = answer('{"id": 3, "method": "opencode-lsp/status"}', "1", {"tuis": 2})
    assert json.loads(status.reply or "")["result"] == {"tuis": 2}
    assert not status.initialized
