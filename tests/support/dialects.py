"""The OpenCode APIs a test can tell the bridge to speak (its ``api`` setting), for tests marked
``dialects(...)`` (tests/e2e/conftest.py runs such a test once per dialect)."""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["BOTH", "v2_fails"]

BOTH = ("v1", "v2")


def v2_fails(reason: str) -> Any:
    """The V2 run of a test that shows a known gap of the bridge's V2 dialect: expected to fail
    (strict: once the gap is closed it passes, which fails the run until the mark goes)."""
    return pytest.param("v2", marks=pytest.mark.xfail(strict=True, reason=reason))
