"""Review findings in real Neovim 0.11 (editor-configs/neovim): they are Neovim's own
diagnostics (``vim.diagnostic.get``), and their quick fixes run from Neovim's own code-action
key (``gra``). The real ``opencode serve`` runs, with the scripted model as its provider.

src/a.py in the test repository:
    1 import math
    2
    3 def foo(x):
    4     return math.sqrt(x) + 42
    5
    6
    7 def bar():
    8     return foo(4)
"""

from __future__ import annotations

from typing import Any

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.editors.editors import Neovim, wait_until
from tests.editors.test_neovim import LEADER, choose_code_action, nvim, shown

__all__ = ["nvim"]  # the fixture, from the Neovim tests

SQRT = {
    "file": "src/a.py",
    "startLine": 4,
    "endLine": 4,
    "severity": "warning",
    "message": "math.sqrt fails on negative x.",
    "suggestion": "    return math.sqrt(abs(x)) + 42",
}
BAR = {
    "file": "src/a.py",
    "startLine": 8,
    "endLine": 8,
    "severity": "error",
    "message": "foo(4) hides what 4 is.",
}


def diagnostics(editor: Neovim) -> list[list[Any]]:
    """What ``vim.diagnostic.get`` holds for the buffer: [lnum, end_lnum, end_col, severity,
    message, source], sorted by line."""
    return sorted(
        editor.lua(
            """return vim.tbl_map(function(d)
                 return { d.lnum, d.end_lnum, d.end_col, d.severity, d.message, d.source }
               end, vim.diagnostic.get(0))"""
        )
    )


def line(editor: Neovim, number: int) -> str:
    lua = "local n = ... return vim.api.nvim_buf_get_lines(0, n, n + 1, true)[1]"
    return str(editor.lua(lua, number - 1))


def test_findings_are_neovims_diagnostics_and_quick_fixes_run_from_its_code_action_key(
    nvim: Neovim, scripted_model: ScriptedModel
) -> None:
    scripted_model.push(Reply.structured({"findings": [SQRT, BAR]}))
    # Lines 3-4 selected, <leader>oo (OpenCode's code actions), the user picks Review.
    choose_code_action(nvim, "OpenCode: Review")
    nvim.nvim.input(f"3GVj{LEADER}oo")
    wait_until(lambda: len(diagnostics(nvim)) == 2, 120, "the findings as diagnostics")
    assert diagnostics(nvim) == [
        [3, 3, 28, 2, SQRT["message"], "OpenCode"],  # WARN
        [7, 7, 17, 1, BAR["message"], "OpenCode"],  # ERROR
    ]
    wait_until(lambda: any("OpenCode review of" in m for m in shown(nvim)), 30, "the summary")

    # gra on line 4 (Neovim's own code-action key), the user picks Apply the suggestion.
    nvim.nvim.input("<Esc>")
    choose_code_action(nvim, "OpenCode: Apply the suggestion")
    nvim.nvim.input("4Ggra")
    wait_until(lambda: "abs(x)" in line(nvim, 4), 30, "the suggestion in the buffer")
    assert line(nvim, 4) == "    return math.sqrt(abs(x)) + 42"
    assert nvim.lua("return vim.bo.modified") is True  # an edit of the buffer, not the disk
    assert "abs" not in (nvim.nvim.call("readfile", "src/a.py")[3])
    wait_until(lambda: len(diagnostics(nvim)) == 1, 30, "the applied finding to go")

    # The user types a line above the other finding: it moves with its line.
    nvim.nvim.input("6Go# spacer<Esc>")
    wait_until(lambda: diagnostics(nvim)[0][0] == 8, 30, "the finding to move down")

    # gra on it, Dismiss: the diagnostic goes.
    choose_code_action(nvim, "OpenCode: Dismiss")
    nvim.nvim.input("9Ggra")
    wait_until(lambda: diagnostics(nvim) == [], 30, "the dismissed finding to go")
    assert {"OpenCode: Fix this", "OpenCode: Explain this finding", "OpenCode: Dismiss"} <= set(
        nvim.lua("return _G.offered")
    )
