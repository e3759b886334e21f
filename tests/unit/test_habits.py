"""The house habits, enforced where CI looks (it runs only pytest): the tree is formatted by
``ruff format``, passes ``ruff check``, and passes mypy strict on what pyproject's [tool.mypy]
``files`` names (bridge/ and the tests' shared support). The tools are pinned in the test extra.

On every Python the unit tests run on (tests/setup/test_pythons.py), mypy checks as that Python,
so a 3.11+ feature used without a guard fails here on 3.10.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m <tool> ...`` with this interpreter's tools."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-8000:]


def test_the_tree_is_formatted_by_ruff() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, "run `ruff format` on these:\n" + output(result)


def test_the_tree_passes_ruff_check() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, output(result)


def test_mypy_strict_passes_on_bridge_and_the_test_support() -> None:
    result = run("mypy")
    assert result.returncode == 0, output(result)
    assert "Success" in result.stdout


def test_each_check_fails_on_a_file_that_breaks_it(tmp_path: Path) -> None:
    # The same tools and settings, shown a misformatted, unsorted, untyped file: each refuses it
    # and names it, so the three tests above can fail.
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\ndef f(x):\n  return [x,os ,sys]\n")
    config = ("--config", str(PYPROJECT))
    checks = [
        run("ruff", "format", "--check", *config, str(bad), cwd=tmp_path),
        run("ruff", "check", "--no-cache", *config, str(bad), cwd=tmp_path),
        run("mypy", "--strict", "--no-incremental", str(bad), cwd=tmp_path),
    ]
    for result in checks:
        assert result.returncode == 1, output(result)
        assert "bad.py" in output(result)
