"""opencode-lsp: a language server that lets any LSP editor drive an OpenCode server."""

__version__ = "0.1.0"
