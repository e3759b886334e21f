"""7. An agent's edit reaching the open buffer: the figure users feel most.

(a, b) Through the fake server: the file is written on disk, then ``file.edited`` published; the
figure is publish → the versioned ``workspace/applyEdit`` at the editor. Two buffers, edits
alternating between them: one clean (the buffer equals the disk: it follows the disk), one with
an unsaved line of the user's far from the agent's (three-way merge). The editor applies each
edit as editors do (``tests/support/editor_buffers.py``: the version checked, ``didChange``
sent back) and the next edit waits until the buffer holds the expected text.

(c, d) Through a real ``opencode serve`` and the scripted model: the agent's ``edit`` tool
writes the file (one prompt, one edit per model turn, alternating between the two buffers);
the figure is the file's last write before the edit arrives (its ``st_mtime``, read when the
edit arrives: the kernel stamps it to the microsecond here) → the ``workspace/applyEdit`` at the
editor, both on the wall clock. It includes OpenCode's own time from the write to its
``file.edited`` event, which a second subscriber of the event stream times.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from lsprotocol import types
from pygls.uris import to_fs_path

from bridge.demo.scripted_model import Reply, ScriptedModel
from tests.benchmarks.common import (
    BRIDGE,
    Row,
    Sizes,
    TimedEditor,
    connected_bridge,
    percentile,
    scratch,
    wait_until,
)
from tests.support.editor_buffers import Buffers
from tests.support.fake_opencode import FakeOpenCode, event
from tests.support.lsp import execute
from tests.support.real_opencode import (
    EventStream,
    RealOpenCode,
    make_git_repo,
    opencode_binary,
)

P99_MS = 20.0
LINES = 200  # each file: 200 lines of code
MINE = "# an unsaved line of the user's\n"  # typed at the top of the merged buffer


def source(tag: str) -> str:
    return "".join(f"def {tag}{i}(x):\n    return x * {i}\n\n" for i in range(LINES // 3))


def changed_line(text: str, i: int) -> int:
    """Where the agent's i-th change goes: a ``return`` line in the lower two thirds of the
    file (the user's unsaved line is at the top, so the two never touch)."""
    count = len(text.splitlines())
    at = count // 3 + (i * 7) % (count // 2)
    return at - (at % 3 - 1)  # lines go def, return, blank


def agent_change(text: str, i: int) -> str:
    lines = text.splitlines(keepends=True)
    lines[changed_line(text, i)] = f"    return x * {i} + 1\n"
    return "".join(lines)


class Arrival(NamedTuple):
    at: float  # time.monotonic()
    uri: str
    wall_ns: int  # time.time_ns(), on the clock of the file's mtime
    written_ns: int  # the file's st_mtime_ns then: its last write


class TimedBuffers(Buffers):
    """The test editor's buffers, noting when each workspace/applyEdit arrived."""

    def __init__(self, editor: TimedEditor) -> None:
        super().__init__(editor.client)
        self.arrivals: list[Arrival] = []

    def apply(self, params: types.ApplyWorkspaceEditParams) -> bool:
        at, wall_ns = time.monotonic(), time.time_ns()
        for change in params.edit.document_changes or []:
            if isinstance(change, types.TextDocumentEdit):
                assert change.text_document.version is not None, "an unversioned edit"
                uri = change.text_document.uri
                written_ns = os.stat(to_fs_path(uri) or uri).st_mtime_ns
                self.arrivals.append(Arrival(at, uri, wall_ns, written_ns))
        return super().apply(params)


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    rows = await through_the_fake(sizes)
    rows += await through_real_opencode(sizes)
    return rows


# --- (a, b) the fake server ---------------------------------------------------------------------


async def through_the_fake(sizes: Sizes) -> list[Row]:
    with scratch("buffer-sync") as tmp, FakeOpenCode(tmp) as fake:
        root = Path(tmp)
        clean, merged = root / "clean.py", root / "merged.py"
        clean.write_text(source("c"))
        merged.write_text(source("m"))
        editor = await connected_bridge(root, fake)
        try:
            await fake.wait_for_request_async("GET", "/path", timeout=10)
            buffers = TimedBuffers(editor)
            clean_uri = await buffers.opened(clean)
            merged_uri = await buffers.opened(merged)
            await buffers.typed(merged_uri, MINE + merged.read_text())
            latencies: dict[str, list[float]] = {clean_uri: [], merged_uri: []}
            for i in range(2 * sizes.buffer_edits + 4):  # the first two of each warm up
                path, uri = (clean, clean_uri) if i % 2 == 0 else (merged, merged_uri)
                disk = agent_change(path.read_text(), i)
                path.write_text(disk)
                seen = len(buffers.arrivals)
                published = time.monotonic()
                fake.publish(event("file.edited", file=str(path)))
                expected = disk if uri == clean_uri else MINE + disk
                await wait_until(lambda u=uri, e=expected: buffers.texts[u] == e, 10, "the edit")
                arrival = buffers.arrivals[seen]
                assert arrival.uri == uri and len(buffers.arrivals) == seen + 1, "one edit each"
                if i >= 4:
                    latencies[uri].append((arrival.at - published) * 1000)
                await asyncio.sleep(random.uniform(0.005, 0.02))
        finally:
            await editor.close()
    return [
        row(
            "7a",
            "file.edited → versioned applyEdit, clean buffer (fake server)",
            latencies[clean_uri],
        ),
        row(
            "7b",
            "file.edited → versioned applyEdit, merged buffer (fake server)",
            latencies[merged_uri],
        ),
    ]


def row(key: str, figure: str, latencies: list[float], more: str = "") -> Row:
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return Row(
        key,
        f"{figure}, {len(latencies)} edits",
        "ms",
        latencies,
        f"p99 ≤ {P99_MS:g} ms",
        p99 <= P99_MS,
        detail=f"p50 {p50:.3g} ms, p99 {p99:.3g} ms{more}",
    )


# --- (c, d) a real opencode serve ---------------------------------------------------------------


class TimedEvents(list[dict[str, Any]]):
    """EventStream's list of events, noting when each arrived (``time.time_ns()``)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__(events)
        self.times = [0] * len(events)

    def append(self, event: dict[str, Any]) -> None:
        self.times.append(time.time_ns())
        super().append(event)

    def first_after(self, kind: str, file: str, since: int) -> int | None:
        for item, arrived in zip(self, self.times, strict=True):
            properties = item.get("properties") or {}
            if arrived >= since and item.get("type") == kind and properties.get("file") == file:
                return arrived
        return None


async def through_real_opencode(sizes: Sizes) -> list[Row]:
    binary = opencode_binary()
    if binary is None:
        return not_measurable("no opencode binary: run bash .ci/setup")
    with (
        tempfile.TemporaryDirectory(prefix="opencode-lsp-bench-real-") as tmp,
        ScriptedModel() as model,
    ):
        repo = make_git_repo(
            Path(tmp) / "repo", {"src/clean.py": source("c"), "src/merged.py": source("m")}
        )
        paths = {"clean": repo / "src/clean.py", "merged": repo / "src/merged.py"}
        server = RealOpenCode(
            repo, model_base_url=model.base_url, permission={"edit": "allow"}, binary=binary
        )
        await asyncio.to_thread(server.start)
        try:
            editor = TimedEditor()
            await editor.start(BRIDGE, Path(tmp) / "bridge.log")
            try:
                await editor.initialize(repo, {"serverUrl": server.url})
                editor.initialized()
                buffers = TimedBuffers(editor)
                uris = {kind: await buffers.opened(path) for kind, path in paths.items()}
                await buffers.typed(uris["merged"], MINE + paths["merged"].read_text())
                await wait_until(lambda: editor.client.statuses, 30, "the bridge to connect")
                async with EventStream(server) as events:
                    events.events = TimedEvents(events.events)
                    return await real_edits(sizes, model, editor, buffers, paths, uris, events)
            finally:
                await editor.close()
        finally:
            await asyncio.to_thread(server.stop)


async def real_edits(
    sizes: Sizes,
    model: ScriptedModel,
    editor: TimedEditor,
    buffers: TimedBuffers,
    paths: dict[str, Path],
    uris: dict[str, str],
    events: EventStream,
) -> list[Row]:
    count = 2 * sizes.real_edits + 2  # the first of each warms up
    disks = {kind: path.read_text() for kind, path in paths.items()}
    plan: list[tuple[str, str]] = []  # (kind, the disk's text after the edit)
    replies = []
    for i in range(count):
        kind = "clean" if i % 2 == 0 else "merged"
        new = agent_change(disks[kind], i)
        at, old_lines, new_lines = changed_line(new, i), disks[kind].splitlines(), new.splitlines()
        # With the `def` line before it, so that the old string is unique in the file.
        replies.append(
            Reply.edit(
                paths[kind],
                f"{old_lines[at - 1]}\n{old_lines[at]}",
                f"{new_lines[at - 1]}\n{new_lines[at]}",
            )
        )
        disks[kind] = new
        plan.append((kind, new))
    model.push(*replies, Reply.text("Done."))
    latencies: dict[str, list[float]] = {"clean": [], "merged": []}
    # Where the time goes, per edit: write → file.edited at another subscriber of the event
    # stream (OpenCode's share), and that → applyEdit at the editor (about the bridge's).
    announced: list[float] = []
    relayed: dict[str, list[float]] = {"clean": [], "merged": []}
    await execute(editor.client, "opencode.ask", {"prompt": "change the code"})
    for i, (kind, disk) in enumerate(plan):
        expected = disk if kind == "clean" else MINE + disk
        uri = uris[kind]
        await wait_until(lambda u=uri, e=expected: buffers.texts[u] == e, 60, f"edit {i}")
        arrival = [a for a in buffers.arrivals if a.uri == uri][-1]
        if i >= 2:
            latencies[kind].append((arrival.wall_ns - arrival.written_ns) / 1e6)
            told = events.events.first_after("file.edited", str(paths[kind]), arrival.written_ns)
            if told is not None:
                announced.append((told - arrival.written_ns) / 1e6)
                relayed[kind].append((arrival.wall_ns - told) / 1e6)

    def shares(kind: str) -> str:
        return (
            f"; write → file.edited at another subscriber p50 {percentile(announced, 0.5):.3g}"
            f" ms, p99 {percentile(announced, 0.99):.3g} ms; that → applyEdit p50 "
            f"{percentile(relayed[kind], 0.5):.3g} ms, p99 {percentile(relayed[kind], 0.99):.3g} ms"
        )

    return [
        row(
            "7c",
            "file written → versioned applyEdit, clean buffer (real opencode serve)",
            latencies["clean"],
            shares("clean"),
        ),
        row(
            "7d",
            "file written → versioned applyEdit, merged buffer (real opencode serve)",
            latencies["merged"],
            shares("merged"),
        ),
    ]


def not_measurable(why: str) -> list[Row]:
    return [
        Row(
            key,
            f"file written → versioned applyEdit, {kind} buffer (real opencode serve)",
            "ms",
            [],
            f"p99 ≤ {P99_MS:g} ms",
            None,
            detail=why,
        )
        for key, kind in (("7c", "clean"), ("7d", "merged"))
    ]
