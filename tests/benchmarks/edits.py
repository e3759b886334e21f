"""5. A unified patch → a workspace edit, against ``git apply --check`` on the same patch.

Two patches, in git's form: 16 MB over 500 files, and one 100k-line file with 5k hunks. The
bridge's side is what it does with a session diff: parse the patch, read each file, apply the
hunks (all or nothing), and build the versioned ``WorkspaceEdit`` (``bridge.core.patch_parsing``,
``file_changes``, ``workspace_edits``). git checks that the same patch applies to the same files
on disk. Runs alternate.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pygls.uris import from_fs_path

from bridge import workspace_files
from bridge.core.file_changes import changes_from_patch
from bridge.core.patch_parsing import parse_patch
from bridge.core.paths import resolve_in_workspace
from bridge.core.workspace_edits import DocumentChange, build_workspace_edit
from tests.benchmarks.common import Row, Sizes, median, scratch

MAX_RATIO = 1.0
SPACING = 20  # a hunk every 20 lines: 3 context, 5 changed, 3 context
CONTEXT = 3
CHANGED = 5


def file_and_patch(name: str, hunks: int, lines: int) -> tuple[str, str]:
    """A file of ``lines`` lines and a git patch with ``hunks`` hunks spread over it."""
    old = [
        f"{name} line {n:07d}: the quick brown fox jumps over the lazy dog\n" for n in range(lines)
    ]
    out = [f"diff --git a/{name} b/{name}\n", f"--- a/{name}\n", f"+++ b/{name}\n"]
    span = 2 * CONTEXT + CHANGED
    for k in range(hunks):
        start = k * SPACING
        out.append(f"@@ -{start + 1},{span} +{start + 1},{span} @@\n")
        block = old[start : start + span]
        out.extend(" " + line for line in block[:CONTEXT])
        out.extend("-" + line for line in block[CONTEXT : CONTEXT + CHANGED])
        out.extend("+" + line.replace("lazy dog", "sleepy cat") for line in block[CONTEXT:-CONTEXT])
        out.extend(" " + line for line in block[-CONTEXT:])
    return "".join(old), "".join(out)


def write_case(root: Path, files: int, total_bytes: int) -> tuple[Path, int]:
    """``files`` files under ``root/src`` and one patch of about ``total_bytes`` over them."""
    (root / "src").mkdir(parents=True)
    _, sample = file_and_patch("src/f0000.txt", 1, SPACING)
    hunk_bytes = len(sample) - len(sample.split("@@", 1)[0])
    hunks = max(1, total_bytes // files // hunk_bytes)
    patch: list[str] = []
    for i in range(files):
        name = f"src/f{i:04d}.txt"
        text, diff = file_and_patch(name, hunks, hunks * SPACING + 7)
        (root / name).write_text(text)
        patch.append(diff)
    patch_file = root / "change.patch"
    patch_file.write_text("".join(patch))
    return patch_file, hunks


def bridge_edit(root: Path, patch_file: Path) -> float:
    """Seconds from the patch text to the workspace edit, reading the files as the bridge does."""
    started = time.perf_counter()
    folders = [root]
    paths: dict[str, Path] = {}

    def read_text(name: str) -> str | None:
        path = paths[name] = resolve_in_workspace(name, folders)
        return workspace_files.read_text(path)

    changes = changes_from_patch(parse_patch(patch_file.read_text()), read_text)
    documents = [
        DocumentChange(from_fs_path(str(paths[c.path])) or "", c.old, c.new, None, c.patch)
        for c in changes
    ]
    edit = build_workspace_edit(
        documents, document_changes=True, resource_operations=("create", "delete")
    )
    elapsed = time.perf_counter() - started
    assert edit.document_changes and len(edit.document_changes) == len(changes)
    return elapsed


def git_check(root: Path, patch_file: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["git", "apply", "--check", str(patch_file)], cwd=root, check=True)
    return time.perf_counter() - started


def compare(key: str, figure: str, root: Path, patch_file: Path, runs: int) -> Row:
    bridge: list[float] = []
    git: list[float] = []
    for i in range(runs):
        steps = [(bridge_edit, bridge), (git_check, git)]
        for measure, samples in steps if i % 2 == 0 else steps[::-1]:
            samples.append(measure(root, patch_file) * 1000)
    ratio = median(bridge) / median(git)
    return Row(
        key,
        figure,
        "ms",
        bridge,
        f"≤ {MAX_RATIO:g} × git",
        ratio <= MAX_RATIO,
        baseline=git,
        ratio=ratio,
    )


async def run(sizes: Sizes, shared: dict[str, object]) -> list[Row]:
    rows = []
    with scratch("edits") as tmp:
        root = Path(tmp) / "many"
        patch_file, _ = write_case(root, sizes.patch_files, sizes.patch_bytes)
        mib = patch_file.stat().st_size / 1024 / 1024
        rows.append(
            compare(
                "5a",
                f"{mib:.0f} MB patch over {sizes.patch_files} files → workspace edit",
                root,
                patch_file,
                sizes.edit_runs,
            )
        )
        root = Path(tmp) / "one"
        (root / "src").mkdir(parents=True)
        text, diff = file_and_patch("src/big.txt", sizes.big_file_hunks, sizes.big_file_lines)
        (root / "src" / "big.txt").write_text(text)
        patch_file = root / "change.patch"
        patch_file.write_text(diff)
        rows.append(
            compare(
                "5b",
                f"{sizes.big_file_lines // 1000}k-line file, {sizes.big_file_hunks:,} hunks "
                "→ workspace edit",
                root,
                patch_file,
                sizes.edit_runs,
            )
        )
    return rows
