"""Every Python the package claims: the unit tests on the oldest and the newest CPython
installed on this machine (pyenv's, the distribution's, any ``python3.X`` on PATH), each in a
virtual environment of its own. The run you are in covers its own interpreter.

The environments hold the dependencies only (the tests import ``bridge`` from this tree), so
they are kept between runs and between clones (CI tests a fresh clone each time) in the user's
cache, ``~/.cache/opencode-lsp-test-pythons/<version>``, and rebuilt only when pyproject.toml's
dependencies change.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.editors.editors import missing

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the pyproject floor: the same parser from PyPI (a test dependency there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / (
    "opencode-lsp-test-pythons"
)
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

Version = tuple[int, int, int]


def claimed_floor() -> tuple[int, int]:
    """The oldest Python ``requires-python`` claims (">=3.10" → (3, 10))."""
    match = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"].strip())
    assert match, "requires-python is not of the form >=X.Y"
    return int(match[1]), int(match[2])


def candidates() -> list[str]:
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = glob.glob(str(pyenv / "versions" / "*" / "bin" / "python3"))
    for folder in ("/usr/bin", "/usr/local/bin"):
        found += glob.glob(f"{folder}/python3.[0-9]*")
    found += [
        path for minor in range(8, 20) if (path := shutil.which(f"python3.{minor}")) is not None
    ]
    # pyenv's shims are scripts that pick a version by the folder they run in: skip them.
    return [p for p in found if re.search(r"python3(\.\d+)?$", p) and "/shims/" not in p]


def cpython_version(binary: str) -> Version | None:
    code = "import platform,sys;print(platform.python_implementation(),*sys.version_info[:3])"
    try:
        out = subprocess.run(
            [binary, "-c", code], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 4 or out[0] != "CPython":
        return None
    return int(out[1]), int(out[2]), int(out[3])


def interpreters() -> dict[Version, str]:
    """Every CPython at or above the floor, one binary per version."""
    found: dict[Version, str] = {}
    for binary in sorted(candidates()):
        version = cpython_version(binary)
        if version is not None and version[:2] >= claimed_floor():
            found.setdefault(version, os.path.realpath(binary))
    return found


def dependencies() -> list[str]:
    project = PYPROJECT["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One builder at a time (the cache may be shared by several checkouts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def venv_for(binary: str, version: Version) -> Path:
    """A venv of ``binary`` with the dependencies installed, made or refreshed when needed."""
    folder = CACHE / ".".join(map(str, version))
    python = folder / "bin" / "python"
    stamp = folder / ".dependencies.json"
    wanted = json.dumps({"python": binary, "dependencies": dependencies()})
    with locked(CACHE / f"{folder.name}.lock"):
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([binary, "-m", "venv", str(folder)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *dependencies()],
            check=True,
            timeout=900,
        )
        stamp.write_text(wanted)
    return python


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_the_unit_tests_pass_on_the_oldest_and_newest_installed_python(which: str) -> None:
    found = interpreters()
    if len(found) < 2:
        missing(f"only {sorted(found)} found: install more CPython versions (pyenv)")
    version = min(found) if which == "oldest" else max(found)
    if version == tuple(sys.version_info[:3]):
        return  # this very run is on it
    python = venv_for(found[version], version)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        # The benchmark smoke test is left to the main run: it starts a real OpenCode server
        # (about a minute) and checks the benchmark harness, not the package, on this Python.
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"]
        + ["--ignore=tests/unit/test_benchmarks_smoke.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert result.returncode == 0, (
        f"tests/unit on Python {'.'.join(map(str, version))}: {summary[0]}\n"
        + result.stdout[-6000:]
        + result.stderr[-2000:]
    )
    assert re.search(r"\d+ passed", summary[0]), summary
