"""The README's first command: ``opencode-lsp demo`` plays the whole job against the real
``opencode serve`` and says what an editor shows at each step; it exits 0 only when every
step was seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.demo.driver import AGENT_NEW, STEPS
from tests.editors.editors import missing
from tests.support.real_opencode import require_opencode

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_every_step_of_the_job_and_exits_0(tmp_path: Path) -> None:
    require_opencode()
    # The script the set-up installed beside this Python (.venv/bin), as the README runs it.
    script = Path(sys.executable).parent / "opencode-lsp"
    if not script.exists():
        missing(f"{script} is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env["HOME"] = str(tmp_path)
    result = subprocess.run(
        [str(script), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    ticks = [line.strip()[2:] for line in out.splitlines() if line.strip().startswith("✓ ")]
    assert ticks == list(STEPS)
    assert out.rstrip().endswith(f"demo: all {len(STEPS)} steps seen")
    assert "buttons  Allow once | Allow always | Reject" in out
    assert "editor: the user clicks Allow once" in out
    before, after, reverted = (
        out.split(f"editor: src/stats.py {title}")[1].split("\neditor:")[0]
        for title in ("before", "after the agent's edit", "after the revert")
    )
    typed = '1 | """Small statistics helpers."""'
    assert typed in before and typed in after and typed in reverted
    assert AGENT_NEW not in before and AGENT_NEW in after and AGENT_NEW not in reverted
    assert "merged the agent's change to src/stats.py into your unsaved buffer" in out
