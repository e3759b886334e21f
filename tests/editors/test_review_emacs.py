"""Review findings in real Emacs with Eglot (editor-configs/emacs/opencode-eglot.el): they are
Flymake's diagnostics, and their quick fixes run from Eglot's own ``eglot-code-actions``. The
real ``opencode serve`` runs, with the scripted model as its provider.

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

from pathlib import Path
from typing import Any

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.editors.test_emacs import CLIENTS, run_emacs
from tests.editors.test_review_neovim import BAR, SQRT

DRIVER = Path(__file__).parent / "review_eglot_driver.el"


def test_findings_are_flymake_diagnostics_and_quick_fixes_run_from_eglot_code_actions(
    project: Path,
    editor_env: dict[str, str],
    bridge_options: dict[str, Any],
    scripted_model: ScriptedModel,
    monkeypatch: Any,
) -> None:
    scripted_model.push(Reply.structured({"findings": [SQRT, BAR]}))
    monkeypatch.setitem(CLIENTS, "eglot", (CLIENTS["eglot"][0], DRIVER))
    typed = "OpenCode: Review\nOpenCode: Apply the suggestion\nOpenCode: Dismiss\n"

    output = run_emacs(project, editor_env, bridge_options, "review", typed)

    # Eglot shows a diagnostic's source and code before its message.
    assert (
        f'TEST: findings: ((4 eglot-warning "OpenCode [f1]: {SQRT["message"]}") '
        f'(8 eglot-error "OpenCode [f2]: {BAR["message"]}"))' in output
    )
    assert "TEST: line 4:     return math.sqrt(abs(x)) + 42" in output
    assert "TEST: modified: t" in output  # the buffer changed, unsaved
    assert "abs" not in (project / "src/a.py").read_text()
    assert f'TEST: after apply: ((8 eglot-error "OpenCode [f2]: {BAR["message"]}"))' in output
    assert "TEST: after dismiss: nil" in output
