"""What every benchmark shares: sizes, rows of the table, statistics, and editors that time
what they receive (built on the test editor of ``tests/support/lsp.py``)."""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from tests.support.fake_opencode import FakeOpenCode
from tests.support.lsp import EditorClient, capabilities, make_editor

HERE = Path(__file__).resolve().parent
BRIDGE = [sys.executable, "-m", "bridge"]  # as an editor starts it: default log level
FLOOR = [sys.executable, str(HERE / "floor.py")]  # a minimal pygls server, same Python


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; ``smoke`` only checks that the runner works."""

    starts: int = 25  # 1: processes of each kind, interleaved
    asks: int = 200  # 2: asks, each followed by one baseline POST
    deltas: int = 100_000  # 3: deltas per run
    stream_runs: int = 5  # 3: runs of each kind, interleaved
    permissions: int = 200  # 4: permission requests while deltas stream
    delta_rate: float = 1_000.0  # 4: deltas a second meanwhile
    patch_files: int = 500  # 5: files in the big patch (16 MB)
    patch_bytes: int = 16 * 1024 * 1024
    big_file_lines: int = 100_000  # 5: the one large file...
    big_file_hunks: int = 5_000  # ...and its hunks
    edit_runs: int = 5  # 5: runs of each kind, interleaved
    idle_runs: int = 5  # 6: idle processes of each kind, interleaved
    sessions: int = 1_000  # 6: sessions whose events go through one bridge
    first_reply_timeout: float = 10.0  # 4: how long to wait for the first prompt
    buffer_edits: int = 200  # 7: edits of each buffer (clean, merged) through the fake
    real_edits: int = 100  # 7: edits of each buffer through a real opencode serve
    conversation_messages: int = 1_000  # 8: messages of each session opened
    conversation_runs: int = 5  # 8: sessions opened, and long streams into an open one

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(
            starts=2,
            asks=5,
            deltas=2_000,
            stream_runs=1,
            permissions=3,
            patch_files=20,
            patch_bytes=256 * 1024,
            big_file_lines=2_000,
            big_file_hunks=100,
            edit_runs=1,
            idle_runs=1,
            sessions=20,
            first_reply_timeout=3.0,
            buffer_edits=3,
            real_edits=2,
            conversation_messages=50,
            conversation_runs=1,
        )


# --- the table ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table. ``samples`` and ``baseline`` are in ``unit``; ``met`` None means
    the figure could not be measured (``detail`` says why)."""

    key: str
    figure: str
    unit: str
    samples: list[float]
    target: str
    met: bool | None
    detail: str = ""
    baseline: list[float] = field(default_factory=list)
    ratio: float | None = None


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: p99 of 200 samples is the second largest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "ms":
        return f"{value:.3g} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "ev/s":
        return f"{value / 1000:.0f}k ev/s" if value >= 10_000 else f"{value:.0f} ev/s"
    if unit == "/s":
        return f"{value:.1f}/s"
    return f"{value:.3g} {unit}".strip()


def render(rows: Sequence[Row]) -> str:
    """The table, as Markdown (it reads as plain text too)."""
    header = ["#", "figure", "median", "min–max", "baseline (median)", "ratio", "target", "met"]
    lines = [header]
    for row in rows:
        if row.samples:
            spread = f"{number(min(row.samples), row.unit)} – {number(max(row.samples), row.unit)}"
            mid = number(median(row.samples), row.unit)
        else:
            spread = mid = "—"
        base = number(median(row.baseline), row.unit) if row.baseline else "—"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        verdict = {True: "yes", False: "**no**", None: "not measurable yet"}[row.met]
        if row.detail:
            verdict += f" ({row.detail})"
        lines.append([row.key, row.figure, mid, spread, base, ratio, row.target, verdict])
    out = ["| " + " | ".join(cells) + " |" for cells in lines]
    out.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(out)


def machine() -> str:
    """The machine the numbers come from: cores, memory, Python, load."""
    try:
        with open("/proc/meminfo") as file:
            total_kib = int(file.readline().split()[1])
        memory = f"{total_kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = "memory unknown"
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    version = sys.version.split()[0]
    return f"{os.cpu_count()} cores, {memory}, Python {version}, load average {load}"


# --- processes --------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from ``/proc/<pid>/status``."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


_BYTECODE = tempfile.TemporaryDirectory(prefix="opencode-lsp-bench-pyc-")


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from ``/proc/<pid>/stat``: less
    sensitive than wall time to what else the machine runs, though only to 10 ms or so."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def server_env() -> dict[str, str]:
    """The editor's environment, without OPENCODE_* settings that would steer the bridge.

    Bytecode is cached (in a folder of this run), as it is for an installed package: with
    PYTHONDONTWRITEBYTECODE, as on some development machines, every start of the bridge would
    compile its modules again (about 100 ms) while the floor's libraries have theirs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _BYTECODE.name
    return env


def scratch(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"opencode-lsp-bench-{prefix}-")


def initialize_params(root: Path, options: dict[str, Any] | None) -> types.InitializeParams:
    uri = from_fs_path(str(root)) or ""
    return types.InitializeParams(
        capabilities=capabilities(),
        process_id=os.getpid(),
        client_info=types.ClientInfo(name="benchmark-editor", version="1"),
        root_uri=uri,
        workspace_folders=[types.WorkspaceFolder(uri=uri, name=root.name)],
        initialization_options=options or {},
    )


class TimedEditor:
    """The test editor, plus when each ``$/progress`` and showMessageRequest arrived
    (``time.monotonic()``, the clock the fake stamps requests with)."""

    def __init__(self) -> None:
        self.client: EditorClient = make_editor()
        self.progress: list[tuple[float, str, str]] = []  # (arrived, token, kind)
        self.prompts: list[tuple[float, types.ShowMessageRequestParams]] = []
        self.answer: Callable[[types.ShowMessageRequestParams], Any] = lambda params: None
        features = self.client.protocol.fm._features
        on_progress = features[types.PROGRESS]

        def timed_progress(params: types.ProgressParams) -> None:
            arrived = time.monotonic()
            on_progress(params)
            value = params.value
            kind = value.get("kind") if isinstance(value, dict) else None
            self.progress.append((arrived, str(params.token), str(kind)))

        features[types.PROGRESS] = timed_progress

        def timed_prompt(params: types.ShowMessageRequestParams) -> Any:
            self.prompts.append((time.monotonic(), params))
            return self.answer(params)

        self.client.answer_request = timed_prompt
        self.pid = 0

    async def start(
        self,
        command: Sequence[str],
        log_file: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        args = list(command)
        if log_file is not None and command is BRIDGE:
            args += ["--log-file", str(log_file)]
        await self.client.start_io(args[0], *args[1:], env={**server_env(), **(env or {})})
        assert self.client._server is not None
        self.pid = self.client._server.pid

    async def initialize(self, root: Path, options: dict[str, Any] | None = None) -> None:
        params = initialize_params(root, options)
        self.client.capabilities = params.capabilities
        await self.client.initialize_async(params)

    def initialized(self) -> None:
        self.client.initialized(types.InitializedParams())

    async def close(self) -> None:
        try:
            await self.client.shutdown_session()
        finally:
            await self.client.stop()

    def ends(self) -> list[float]:
        return [t for t, _, kind in self.progress if kind == "end"]

    def reports(self) -> list[float]:
        return [t for t, _, kind in self.progress if kind == "report"]


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll every millisecond: the arrival times come from the handlers, not from here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.001)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def max_per_second(times: Sequence[float]) -> float:
    """The most events inside any one-second window (for runs shorter than a second: all)."""
    ordered = sorted(times)
    best = 0
    first = 0
    for last, t in enumerate(ordered):
        while t - ordered[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return float(best)


async def connected_bridge(root: Path, fake: FakeOpenCode) -> TimedEditor:
    """A bridge on ``fake`` (initialized, its event stream open and its state refetched)."""
    editor = TimedEditor()
    await editor.start(BRIDGE, root / f"bridge-{time.monotonic_ns()}.log")
    try:
        await editor.initialize(root, {"serverUrl": fake.url})
        editor.initialized()
        await wait_until(lambda: fake.subscriber_count, 10, "the bridge's event stream")
        await fake.wait_for_request_async("GET", "/session/status", timeout=10)
    except BaseException:
        await editor.close()
        raise
    return editor


async def no_subscribers(fake: FakeOpenCode) -> None:
    """Wait until the fake saw every event stream close: a stream it still feeds would hold
    its publisher back once its buffer is full."""
    await wait_until(lambda: fake.subscriber_count == 0, 10, "the event streams to close")


async def warm_up() -> None:
    """Start each kind of server once, so that every measured start finds its bytecode cached
    (see ``server_env``) and its files in the page cache."""
    with scratch("warm-up") as tmp:
        for command in (BRIDGE, FLOOR):
            editor = TimedEditor()
            await editor.start(command, Path(tmp) / "bridge.log")
            await editor.initialize(Path(tmp), {"serverUrl": "http://127.0.0.1:9"})
            await editor.close()
