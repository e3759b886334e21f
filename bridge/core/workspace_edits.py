"""Workspace edits as the editor takes them: versioned ``TextDocumentEdit``s (or plain ``changes``
when the editor has no ``documentChanges``), files created and deleted. Every document edit the
bridge sends is built here (``versioned_edit``, ``document_edit``, ``build_workspace_edit``). Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

from lsprotocol import types as lsp

from bridge.core.line_diff import text_edits
from bridge.core.patch_applying import patch_text_edits
from bridge.core.patch_parsing import FilePatch
from bridge.core.paths import path_from_uri
from bridge.core.text_positions import PositionEncoding
from bridge.errors import EditRefused, PathOutsideWorkspace


class DocumentChange(NamedTuple):
    """One file of a workspace edit: its URI, texts (None: absent) and the editor's version."""

    uri: str
    old: str | None
    new: str | None
    version: int | None
    patch: FilePatch | None = None


def versioned_edit(
    uri: str,
    version: int | None,
    edits: Sequence[lsp.TextEdit | lsp.AnnotatedTextEdit | lsp.SnippetTextEdit],
) -> lsp.TextDocumentEdit:
    """``edits`` of one document, which the editor applies only to that ``version`` of it (an
    edit built on text the user has changed since is refused, not misplaced); None: the file
    as it is, for a document that is not open."""
    return lsp.TextDocumentEdit(
        text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=list(edits),
    )


def document_edit(
    uri: str, version: int | None, edits: Sequence[lsp.TextEdit], *, document_changes: bool
) -> lsp.WorkspaceEdit:
    """One document's edits: versioned when the editor takes ``documentChanges``, else plain
    ``changes`` (applied to whatever the buffer holds)."""
    if document_changes:
        return lsp.WorkspaceEdit(document_changes=[versioned_edit(uri, version, edits)])
    return lsp.WorkspaceEdit(changes={uri: list(edits)})


def build_workspace_edit(
    changes: Iterable[DocumentChange],
    *,
    document_changes: bool,
    resource_operations: Collection[str] = frozenset(),
    encoding: PositionEncoding = "utf-16",
) -> lsp.WorkspaceEdit:
    """One ``WorkspaceEdit`` for all the changes, shaped by what the client supports.

    With ``document_changes``: versioned ``TextDocumentEdit``s, and ``CreateFile``/``DeleteFile``
    when ``resource_operations`` has "create"/"delete" (a new file is created, then its content
    inserted). Without it: plain ``changes``. A new or deleted file the client cannot express is
    refused (the caller writes it itself or tells the user). Unchanged files are left out.
    """
    operations: list[lsp.TextDocumentEdit | lsp.CreateFile | lsp.RenameFile | lsp.DeleteFile] = []
    plain: dict[str, Sequence[lsp.TextEdit]] = {}
    seen: set[str] = set()
    for change in changes:
        if change.uri in seen:
            raise ValueError(f"{change.uri} appears twice in one workspace edit")
        seen.add(change.uri)
        if change.old is None or change.new is None:
            if change.old is None and change.new is None:
                continue
            creating = change.old is None
            operation = "create" if creating else "delete"
            if not document_changes or operation not in resource_operations:
                verb = "create" if creating else "delete"
                raise EditRefused(
                    f"The editor cannot {verb} files through a workspace edit, so "
                    f"{_display_uri(change.uri)} must be {verb}d on disk instead."
                )
            if change.new is None:
                operations.append(lsp.DeleteFile(uri=change.uri))
                continue
            operations.append(lsp.CreateFile(uri=change.uri))
            if change.new:
                start = lsp.Position(line=0, character=0)
                insert = lsp.TextEdit(range=lsp.Range(start, start), new_text=change.new)
                operations.append(versioned_edit(change.uri, None, [insert]))
            continue
        if change.patch is not None:
            edits = patch_text_edits(change.old, change.patch, encoding)
        else:
            edits = text_edits(change.old, change.new, encoding)
        if not edits:
            continue
        if document_changes:
            operations.append(versioned_edit(change.uri, change.version, edits))
        else:
            plain[change.uri] = edits
    if document_changes:
        return lsp.WorkspaceEdit(document_changes=operations)
    return lsp.WorkspaceEdit(changes=plain)


def _display_uri(uri: str) -> str:
    if uri.startswith("file:"):
        try:
            return str(path_from_uri(uri))
        except PathOutsideWorkspace:
            return uri
    return uri
