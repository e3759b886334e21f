"""Markdown pieces of a session, shared by its conversation document and its summary:
times, cost and tokens, one line a tool step, the files a turn changed. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from bridge.opencode.models import MessageInfo, Part, Usage


def timestamp(millis: Any) -> str:
    """Milliseconds since the epoch as ``2026-01-31 14:05:09 UTC`` ("" if unknown)."""
    if not isinstance(millis, (int, float)) or isinstance(millis, bool) or millis <= 0:
        return ""
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def cost_and_tokens(usage: Usage) -> str:
    """``$0.0123 · 1,234 tokens (1,000 in, 200 out, 34 reasoning, 0 cached)``."""
    numbers = {
        "in": usage.input,
        "out": usage.output,
        "reasoning": usage.reasoning,
        "cached": usage.cached,
    }
    detail = ", ".join(f"{int(value):,} {name}" for name, value in numbers.items())
    return f"${usage.cost:.4f} · {int(usage.total):,} tokens ({detail})"


def _relative(path: str, root: str) -> str:
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return path


def inline_code(text: str) -> str:
    """Inline code that survives backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def describe_tool(part: Part, root: str) -> str:
    """One line for a tool step: ``edit `src/a.py` — completed``."""
    tool = part.tool or "tool"
    state = part.state
    args = state.input
    subject = ""
    if isinstance(args.get("command"), str):
        subject = " " + inline_code(" ".join(args["command"].split()))
    else:
        for key in ("filePath", "path", "pattern", "url", "query"):
            if isinstance(args.get(key), str):
                subject = " " + inline_code(_relative(args[key], root))
                break
        else:
            if state.title and state.title.strip():
                subject = ": " + " ".join(state.title.split())
    status = state.status or "pending"
    line = f"- {tool}{subject} — {status}"
    if status == "error" and state.error is not None:
        line += ": " + " ".join(state.error.split())
    return line


def files_changed(user_info: MessageInfo, assistant_parts: Iterable[Part], root: str) -> str:
    """``Files changed: `a.py` (+1 −1), `b.py` (added)`` for one turn ("" if none).

    The user message's ``summary.diffs`` are the server's own count; ``patch`` parts of the
    answers stand in when a server sends none."""
    entries: dict[str, str] = {}
    for diff in user_info.diffs:
        if not diff.file:
            continue
        counts = f"+{diff.additions} −{diff.deletions}"
        entries[_relative(diff.file, root)] = (
            counts if diff.status in (None, "modified") else f"{diff.status}, {counts}"
        )
    if not entries:
        for part in assistant_parts:
            if part.type == "patch":
                for name in part.files:
                    entries.setdefault(_relative(name, root), "")
    if not entries:
        return ""
    listed = [
        inline_code(name) + (f" ({detail})" if detail else "") for name, detail in entries.items()
    ]
    return "Files changed: " + ", ".join(listed)


def file_name(session_id: str) -> str:
    """A file name for the session's conversation (the id, made safe for any file system)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id) or "session"
    return f"{safe}.md"
