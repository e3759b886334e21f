"""Logging that never reaches stdout (the LSP channel) and never shows a secret.

pygls logs whole ``initialize`` params (which may carry a password) at INFO; httpx may log
headers at DEBUG. Rather than trusting every logger, each handler redacts every secret the
bridge knows of: passwords, and the base64 ``user:password`` of Basic auth.
"""

from __future__ import annotations

import base64
import logging
import re
import sys

REDACTED = "********"
_secrets: set[str] = set()


def register_secret(password: str | None, username: str = "opencode") -> None:
    """Remember a password (and its Basic-auth form) so no log line can show it."""
    if not password:
        return
    _secrets.add(password)
    _secrets.add(base64.b64encode(f"{username}:{password}".encode()).decode())


# Secrets the bridge has not been told of yet: pygls logs the initialize params (settings
# included) before any handler runs, and an Authorization header is secret whoever sent it.
_PATTERNS = (
    re.compile(r"""(?i)(password['"]?\s*[:=]\s*['"])[^'"]*(['"])"""),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?\s*basic\s+)[A-Za-z0-9+/=]+()"),
    re.compile(r"(?i)(OPENCODE_SERVER_PASSWORD=)\S+()"),
)


def redact(text: str) -> str:
    # Longest first: a password can be part of its own Basic-auth form ("b3Bl" is in
    # base64("opencode:b3Bl")); replacing it first would leave the rest of that form readable.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}\g<2>", text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: str = "INFO", log_file: str | None = None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pygls logs every message at DEBUG and INFO; keep it to problems unless asked for more.
    if level.upper() != "DEBUG":
        logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
