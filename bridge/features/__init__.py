"""LSP glue for each feature beyond asking: importing this package registers their commands,
event hooks, connect hooks and code actions on the one server (``bridge.server.server``)."""

import bridge.features.buffers  # noqa: F401  (open buffers follow the agent's edits)
import bridge.features.control  # noqa: F401  (model, agent, slash commands, shell, status)
import bridge.features.diffs  # noqa: F401  (opencode.diff.*, revert, unrevert)
import bridge.features.editor_context  # noqa: F401  (the selection as the TUI's context)
import bridge.features.hunk_review  # noqa: F401  (edit requests reviewed hunk by hunk)
import bridge.features.review_findings  # noqa: F401  (the agent's review as diagnostics)
import bridge.features.sessions  # noqa: F401  (opencode.session.*, transcript)
import bridge.features.tui  # noqa: F401  (opencode.tui.*)
from bridge.features import permissions  # noqa: F401  (permission requests, questions)
