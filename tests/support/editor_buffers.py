"""Buffers as an editor holds them, for tests of edits the bridge sends.

``Buffers(editor)`` answers ``workspace/applyEdit`` the way editors do: a ``TextDocumentEdit``
for a version the buffer is no longer at is refused ("outdated workspace edit", as Helix says),
an edit to a file that is not open loads it from disk into an unsaved buffer, ``CreateFile`` and
``DeleteFile`` act on the disk, change annotations that need confirmation are kept or dropped as
``keep(annotation_id)`` says (VS Code's refactor preview), and every buffer that changed is
reported with ``textDocument/didChange`` (full text, version + 1) before the answer. The user
types with ``type``; ``before_answer`` runs before an edit is looked at (the user typing while
the edit is on its way).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from tests.support.lsp import EditorClient

_BREAK = re.compile(r"\r\n|\r|\n")


def offset_of(text: str, position: types.Position) -> int:
    """The character offset of an LSP position (UTF-16 units; \\r\\n, \\r and \\n end lines)."""
    starts = [0] + [match.end() for match in _BREAK.finditer(text)]
    if position.line >= len(starts):
        raise ValueError(f"line {position.line} is past the end")
    at = starts[position.line]
    units = 0
    while units < position.character:
        if at >= len(text) or text[at] in "\r\n":
            raise ValueError(f"character {position.character} is past the end of the line")
        units += 2 if ord(text[at]) > 0xFFFF else 1
        at += 1
    return at


def read_exactly(path: Path) -> str:
    """The file's text with its line endings as they are."""
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def apply_text_edits(text: str, edits: Sequence[types.TextEdit | types.AnnotatedTextEdit]) -> str:
    spans = sorted(
        (offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text) for e in edits
    )
    out, done = [], 0
    for start, end, new_text in spans:
        assert start >= done, "overlapping edits"
        out += [text[done:start], new_text]
        done = end
    return "".join(out) + text[done:]


class Buffers:
    def __init__(self, editor: EditorClient) -> None:
        self.editor = editor
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self.open_uris: set[str] = set()  # told to the server with didOpen
        self.refused: list[str] = []  # why each refused edit was refused
        self.loaded: dict[str, str] = {}  # files an edit made the editor open, as on disk
        self.keep: Callable[[str], bool] = lambda annotation: True
        self.before_answer: Callable[[types.ApplyWorkspaceEditParams], None] | None = None
        editor.apply_edit = self.apply

    # --- the user ------------------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        uri = from_fs_path(str(path)) or ""
        text = read_exactly(path) if text is None else text
        self.texts[uri], self.versions[uri] = text, 1
        self.open_uris.add(uri)
        self.editor.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )
        return uri

    async def opened(self, path: Path, text: str | None = None) -> str:
        """Open, and wait until the bridge has read the didOpen (a request is answered after
        the notifications sent before it)."""
        uri = self.open(path, text)
        await self.roundtrip(uri)
        return uri

    async def roundtrip(self, uri: str) -> None:
        """Wait until the bridge has read everything sent so far."""
        here = types.Position(line=0, character=0)
        await self.editor.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=here, end=here),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )

    def type(self, uri: str, text: str) -> None:
        """The user changes the buffer to ``text`` (unsaved)."""
        self.texts[uri] = text
        self._changed(uri)

    async def typed(self, uri: str, text: str) -> None:
        """``type``, and wait until the bridge has read the change."""
        self.type(uri, text)
        await self.roundtrip(uri)

    def save(self, uri: str) -> None:
        path = to_fs_path(uri)
        assert path
        Path(path).write_text(self.texts[uri], encoding="utf-8", newline="")
        self.editor.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def text(self, path: Path) -> str:
        return self.texts[from_fs_path(str(path)) or ""]

    def _changed(self, uri: str) -> None:
        self.versions[uri] += 1
        if uri in self.open_uris:
            self.editor.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=uri, version=self.versions[uri]
                    ),
                    content_changes=[
                        types.TextDocumentContentChangeWholeDocument(text=self.texts[uri])
                    ],
                )
            )

    # --- the editor ------------------------------------------------------------------------------

    def apply(self, params: types.ApplyWorkspaceEditParams) -> bool:
        if self.before_answer is not None:
            hook, self.before_answer = self.before_answer, None
            hook(params)
        edit = params.edit
        texts, changed = dict(self.texts), set()
        needs = edit.change_annotations or {}
        for operation in edit.document_changes or []:
            if isinstance(operation, types.CreateFile):
                path = to_fs_path(operation.uri)
                assert path
                if os.path.exists(path):
                    return self._refuse(f"{path} exists")
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_text("")
                texts[operation.uri] = self.loaded[operation.uri] = ""
            elif isinstance(operation, types.DeleteFile):
                path = to_fs_path(operation.uri)
                assert path
                os.unlink(path)
                texts.pop(operation.uri, None)
            elif isinstance(operation, types.TextDocumentEdit):
                uri = operation.text_document.uri
                version = operation.text_document.version
                if uri in self.open_uris and version is not None and version != self.versions[uri]:
                    return self._refuse("outdated workspace edit")
                kept: list[types.TextEdit | types.AnnotatedTextEdit] = []
                for text_edit in operation.edits:
                    # The editor these tests play does not announce snippet support.
                    assert not isinstance(text_edit, types.SnippetTextEdit), text_edit
                    annotation = getattr(text_edit, "annotation_id", None)
                    confirm = (
                        isinstance(annotation, str)
                        and annotation in needs
                        and bool(needs[annotation].needs_confirmation)
                    )
                    if not confirm or self.keep(str(annotation)):
                        kept.append(text_edit)
                if not self._edit(texts, uri, kept):
                    return False
                if kept:
                    changed.add(uri)
            else:
                return self._refuse(f"unsupported {type(operation).__name__}")
        for uri, text_edits in (edit.changes or {}).items():
            if not self._edit(texts, uri, list(text_edits)):
                return False
            changed.add(uri)
        loaded = {uri: self.loaded.pop(uri) for uri in list(self.loaded)}
        self.texts = texts
        for uri, original in loaded.items():  # the editor opened it to edit it
            self.versions[uri] = 1
            self.open_uris.add(uri)
            self.editor.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uri, language_id="python", version=1, text=original
                    )
                )
            )
        for uri in changed:
            self._changed(uri)
        return True

    def _edit(
        self, texts: dict[str, str], uri: str, edits: list[types.TextEdit | types.AnnotatedTextEdit]
    ) -> bool:
        if uri not in texts:  # a file that is not open: the editor loads it
            path = to_fs_path(uri)
            assert path
            texts[uri] = self.loaded[uri] = read_exactly(Path(path))
        try:
            texts[uri] = apply_text_edits(texts[uri], edits)
        except ValueError as error:
            return self._refuse(str(error))
        return True

    def _refuse(self, why: str) -> bool:
        self.loaded.clear()
        self.refused.append(why)
        return False
