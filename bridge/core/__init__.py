"""The pure modules: data in, data out. No LSP, no HTTP, no editor."""
