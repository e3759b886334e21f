"""OpenCode: Ask… for Sublime Text's LSP package: an input panel whose text goes to
opencode-lsp as ``opencode.ask {prompt}``, with the selected lines when there are any.

Put this file (and Default.sublime-keymap) in your Packages/User folder.  Sublime LSP has
no prompt of its own for a command's argument; this plugin is that prompt.
"""

import sublime
import sublime_plugin


class OpencodeAskCommand(sublime_plugin.TextCommand):
    def run(self, edit, prompt=None):
        if prompt is None:
            label = "OpenCode (about the selection):" if self._has_selection() else "OpenCode:"
            self.view.window().show_input_panel(label, "", self._send, None, None)
        else:
            self._send(prompt)

    def _has_selection(self):
        """Whether a non-empty selection is there (Sublime LSP sends it as $range)."""
        regions = self.view.sel()
        return len(regions) > 0 and not regions[0].empty()

    def _send(self, prompt):
        if not prompt.strip():
            return
        argument = {"prompt": prompt}
        if self._has_selection():
            # Sublime LSP replaces these by the view's URI and the selection's LSP range.
            argument["uri"] = "$file_uri"
            argument["range"] = "$range"
        self.view.run_command(
            "lsp_execute",
            {
                "session_name": "opencode",
                "command_name": "opencode.ask",
                "command_args": [argument],
            },
        )
        sublime.status_message("OpenCode: asked; the answer comes as a message")
