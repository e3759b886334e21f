"""The set-up's Python half on the distribution's own Python, as a new user has it: only
/usr/bin on PATH, PEP 668's marker present. It makes .venv/ in the clone, installs the bridge
there, leaves the system Python as it was, and installs nothing on a second run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.editors.editors import missing

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m;"
    "print(sorted(str(d.metadata['Name']) for d in m.distributions()))"
)


def system_python_or_skip() -> None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        missing(f"no {SYSTEM_PYTHON}: this test is about a distribution's Python")
    stdlib = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
        missing(f"{SYSTEM_PYTHON} is not marked externally managed (PEP 668)")


def fresh_clone(target: Path) -> Path:
    """The tracked files of this checkout, as they are now (a clone would miss uncommitted
    work)."""
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def distribution_env(home: Path) -> dict[str, str]:
    """This machine's environment (its network settings, pip's configuration) less every
    trace of another Python: PATH is /usr/bin:/bin."""
    dropped = ("PYTHON", "PYENV", "VIRTUAL_ENV", "CONDA")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = "/usr/bin:/bin"
    return env


def run_setup(clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", ".ci/setup-venv"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_venv_stage_works_on_the_distribution_python_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    system_python_or_skip()
    clone = fresh_clone(tmp_path / "clone")
    env = distribution_env(tmp_path)
    before = subprocess.run(
        [SYSTEM_PYTHON, "-c", LIST_DISTRIBUTIONS], capture_output=True, text=True, check=True
    ).stdout

    first = run_setup(clone, env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    venv = clone / ".venv"
    config = (venv / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in config, config
    version = subprocess.run(
        [str(venv / "bin" / "opencode-lsp"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert version.returncode == 0 and version.stdout.startswith("opencode-lsp "), version
    # The bridge the venv runs is the clone's (an editable install), and pytest is there.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import bridge, pytest; print(bridge.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert where.stdout.strip() == str(clone / "bridge" / "__init__.py"), where

    after = subprocess.run(
        [SYSTEM_PYTHON, "-c", LIST_DISTRIBUTIONS], capture_output=True, text=True, check=True
    ).stdout
    assert after == before  # nothing installed into the system Python
    outside = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import bridge"], capture_output=True, text=True, cwd=tmp_path
    )
    assert outside.returncode != 0

    [site] = venv.glob("lib/python3*/site-packages")
    listing = sorted(p.name for p in site.iterdir())
    stamp = (venv / ".setup-done").stat().st_mtime_ns
    second = run_setup(clone, env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (second.stdout, second.stderr) == ("", "")
    assert sorted(p.name for p in site.iterdir()) == listing
    assert (venv / ".setup-done").stat().st_mtime_ns == stamp  # pip did not run again
