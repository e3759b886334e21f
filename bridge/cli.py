"""Command line: flags, logging (never to stdout: it is the LSP channel), and ``doctor``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence

from bridge import __version__
from bridge.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opencode-lsp",
        description="A language server that lets any LSP editor drive an OpenCode server.",
    )
    parser.add_argument("--version", action="version", version=f"opencode-lsp {__version__}")
    parser.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    # vscode-languageclient appends --stdio (TransportKind.stdio), and node-style clients
    # --clientProcessId=N: accepted so such clients start the server; stdio is the default
    # anyway, and the server ends when its stdin closes, so the process id is not needed.
    parser.add_argument(
        "--stdio", action="store_true", help="speak LSP on stdin/stdout (the default)"
    )
    parser.add_argument("--clientProcessId", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument("--log-file", help="write the log here instead of stderr")
    parser.add_argument(
        "--log-level",
        default="WARNING",  # editors show their servers' stderr, some as errors: keep it quiet
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    commands = parser.add_subparsers(dest="command")
    doctor = commands.add_parser(
        "doctor", help="connect the way the server would, and report what is wrong"
    )
    doctor.add_argument("--directory", default=".", help="the workspace folder (default .)")
    doctor.add_argument("--server-url", help="like the serverUrl setting")
    doctor.add_argument(
        "--no-spawn", action="store_true", help="do not start a private opencode serve"
    )
    doctor.add_argument(
        "--api", choices=("auto", "v1", "v2"), default="auto", help="like the api setting"
    )
    demo = commands.add_parser(
        "demo",
        help="run a private OpenCode with an offline scripted model and drive the bridge "
        "as an editor would",
    )
    demo.add_argument("--opencode", help="the opencode binary (default: the pinned one)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.stdio and args.tcp:
        parser.error("--stdio and --tcp exclude each other")
    setup_logging(args.log_level, args.log_file)
    if args.command == "doctor":
        from bridge.doctor import run_doctor

        checked = run_doctor(args.directory, args.server_url, not args.no_spawn, args.api)
        sys.exit(asyncio.run(checked))
    if args.command == "demo":
        from bridge.demo.driver import run_demo

        sys.exit(asyncio.run(run_demo(args.opencode)))
    # lsprotocol's few hundred thousand objects live as long as the server: frozen, the
    # collections the rest of the start runs do not walk them again and again.
    import lsprotocol.types  # noqa: F401

    gc.freeze()
    from bridge.features import build_server
    from bridge.server import run_server

    server = build_server()

    def on_sigterm(signum: int, frame: object) -> None:
        # Exit at once: pygls would wait for its stdin reader thread, which may never return.
        server.shutdown_spawned()
        logging.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    run_server(server, (args.host, args.port) if args.tcp else None)
