"""The features, in the order the server hands them each event, and the one function that
builds the server from them.

Each entry names a :class:`bridge.feature.Feature` subclass and the commands and LSP methods it
answers: the editor learns them from the ``initialize`` result, which is sent before the
feature modules are imported (a test checks each entry against what its feature offers).
"""

from __future__ import annotations

from lsprotocol import types

from bridge.server import FeatureEntry, OpenCodeLanguageServer

FEATURES = (
    # First: a run's state as the others see it is the tracker's after the event.
    FeatureEntry(
        "bridge.features.progress",
        "Progress",
        lsp_methods=(types.WINDOW_WORK_DONE_PROGRESS_CANCEL,),
    ),
    # Its actions come first after the quick fixes ("Explain" is eglot's default action).
    FeatureEntry("bridge.features.ask", "Ask", commands=("opencode.ask",)),
    FeatureEntry("bridge.features.buffers", "BufferSync"),  # open buffers follow the agent
    FeatureEntry(  # the selection as the TUI's context
        "bridge.features.editor_context",
        "EditorContext",
        lsp_methods=("opencode/selection", types.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT),
    ),
    FeatureEntry(  # model, agent, slash commands, shell, status, opencode: comments
        "bridge.features.control",
        "Control",
        commands=(
            "opencode.model.select",
            "opencode.agent.select",
            "opencode.command.run",
            "opencode.shell",
            "opencode.status",
            "opencode.comment.do",
        ),
    ),
    FeatureEntry("bridge.features.hunk_review", "Reviews", commands=("opencode.edit.review",)),
    FeatureEntry(  # the agent's review as diagnostics
        "bridge.features.review_findings",
        "ReviewFindings",
        commands=(
            "opencode.review",
            "opencode.review.clear",
            "opencode.review.dismiss",
            "opencode.review.apply",
            "opencode.review.fix",
            "opencode.review.explain",
        ),
    ),
    FeatureEntry(
        "bridge.features.sessions",
        "Sessions",
        commands=(
            "opencode.session.new",
            "opencode.session.list",
            "opencode.session.select",
            "opencode.session.abort",
            "opencode.session.fork",
            "opencode.session.share",
            "opencode.session.unshare",
            "opencode.session.summarize",
            "opencode.session.delete",
            "opencode.session.init",
        ),
    ),
    FeatureEntry(  # the live conversation document of each session
        "bridge.features.conversation",
        "Conversation",
        commands=(
            "opencode.session.open",
            "opencode.session.send",
            "opencode.session.transcript",
        ),
    ),
    FeatureEntry(
        "bridge.features.tui",
        "Tui",
        commands=(
            "opencode.tui.appendPrompt",
            "opencode.tui.showToast",
            "opencode.tui.executeCommand",
            "opencode.tui.selectSession",
            "opencode.tui.submitPrompt",
            "opencode.tui.clearPrompt",
            "opencode.tui.openHelp",
            "opencode.tui.openSessions",
            "opencode.tui.openThemes",
            "opencode.tui.openModels",
        ),
    ),
    FeatureEntry(  # opencode.diff.*, revert, unrevert
        "bridge.features.diffs",
        "Diffs",
        commands=(
            "opencode.diff.apply",
            "opencode.diff.show",
            "opencode.session.revert",
            "opencode.session.unrevert",
        ),
    ),
    FeatureEntry(  # permission requests and questions
        "bridge.features.permissions",
        "Approvals",
        commands=(
            "opencode.permission.reply",
            "opencode.permission.list",
            "opencode.permission.showDiff",
            "opencode.question.reply",
            "opencode.question.reject",
            "opencode.question.list",
        ),
    ),
)


def build_server(entries: tuple[FeatureEntry, ...] = FEATURES) -> OpenCodeLanguageServer:
    return OpenCodeLanguageServer(entries)
