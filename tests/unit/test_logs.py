"""Logging: never on stdout (the LSP channel), never a password."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import logs
from bridge.logs import REDACTED, RedactingFormatter, redact, register_secret, setup_logging

PASSWORD = "s3cret-Passw0rd"
BASIC = base64.b64encode(f"opencode:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no known secrets, and leaves the loggers as it found them."""
    monkeypatch.setattr(logs, "_secrets", set())
    root = logging.getLogger()
    names = ["pygls", "httpx", "httpcore", "bridge"]
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in names})
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def format_line(message: str, *args: object) -> str:
    record = logging.LogRecord("bridge.test", logging.INFO, __file__, 1, message, args, None)
    return RedactingFormatter("%(levelname)s %(message)s").format(record)


def test_password_and_its_basic_auth_form_are_redacted() -> None:
    register_secret(PASSWORD)
    line = format_line(
        "initialize %s; headers %s", {"password": PASSWORD}, {"authorization": f"Basic {BASIC}"}
    )
    assert PASSWORD not in line and BASIC not in line
    assert line.count(REDACTED) == 2
    assert line.startswith("INFO initialize {'password': '********'}")


def test_basic_auth_form_uses_the_username() -> None:
    register_secret(PASSWORD, "alice")
    alice = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert redact(f"Authorization: Basic {alice}") == f"Authorization: Basic {REDACTED}"


def test_nothing_is_redacted_before_a_secret_is_known() -> None:
    register_secret(None)
    register_secret("")
    assert redact(f"password {PASSWORD}") == f"password {PASSWORD}"


class ShortestFirst(set[str]):
    """A set that iterates in the worst order for redaction."""

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set.__iter__(self), key=len))


def test_a_password_inside_its_own_basic_auth_form(monkeypatch: pytest.MonkeyPatch) -> None:
    # base64("opencode:b3Bl") starts with "b3Bl": the longer secret must go first, whatever
    # the order of the set.
    monkeypatch.setattr(logs, "_secrets", ShortestFirst())
    register_secret("b3Bl")
    encoded = base64.b64encode(b"opencode:b3Bl").decode()
    assert encoded.startswith("b3Bl")
    assert redact(f"Basic {encoded}") == f"Basic {REDACTED}"


def test_tracebacks_are_redacted(tmp_path: Path) -> None:
    log_file = tmp_path / "bridge.log"
    setup_logging("INFO", str(log_file))
    register_secret(PASSWORD)
    try:
        raise ValueError(f"bad password {PASSWORD}")
    except ValueError:
        logging.getLogger("bridge.test").exception("while connecting with %s", BASIC)
    logging.getLogger().handlers[0].flush()
    written = log_file.read_text(encoding="utf-8")
    assert "while connecting with ********" in written
    assert "ValueError: bad password ********" in written
    assert PASSWORD not in written and BASIC not in written


def test_nothing_reaches_stdout_at_any_level(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG")
    register_secret(PASSWORD)
    for name in ("", "bridge", "bridge.server", "pygls", "httpx", "httpcore"):
        logger = logging.getLogger(name)
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logger.log(level, "line from %r at %s with %s", name, level, PASSWORD)
        logger.critical("critical from %r", name)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("bridge").exception("failed")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "line from 'bridge' at 10" in captured.err  # DEBUG goes to stderr when asked for
    assert "critical from 'httpx'" in captured.err
    assert "RuntimeError: boom" in captured.err
    assert PASSWORD not in captured.err


def test_default_level_keeps_chatty_libraries_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info")
    logging.getLogger("pygls.protocol").info("every message")
    logging.getLogger("httpx").info("HTTP Request: GET /event")
    logging.getLogger("bridge").debug("detail")
    logging.getLogger("bridge").info("connected")
    logging.getLogger("pygls").warning("a problem")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "every message" not in captured.err and "HTTP Request" not in captured.err
    assert "detail" not in captured.err
    assert "INFO bridge: connected" in captured.err
    assert "WARNING pygls: a problem" in captured.err


def test_setup_replaces_earlier_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO")
    setup_logging("INFO")
    logging.getLogger("bridge").warning("once")
    assert capsys.readouterr().err.count("once") == 1
