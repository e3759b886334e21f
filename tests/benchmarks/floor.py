"""The floor for benchmarks 1 and 6: a pygls server that does nothing but answer, on the same
Python and pygls as the bridge. Run as a script: ``python tests/benchmarks/floor.py``."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("floor", "1").start_io()
