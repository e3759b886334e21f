"""The bridge answers ``initialize`` before it loads its features, the OpenCode client's
models and events, or the HTTP stack (benchmark 1): a feature imported by the server, or one
that imports the OpenCode client at module level, would quietly slow every editor's start."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'httpx_sse', 'httpcore') "
        "or m.startswith(('bridge.features.', 'bridge.opencode'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # type: ignore[no-any-return]


def test_building_the_server_imports_no_feature_and_no_http_stack() -> None:
    assert (
        loaded_after("import bridge.cli\nfrom bridge.features import build_server\nbuild_server()")
        == []
    )


def test_loading_the_features_does_not_import_the_http_stack() -> None:
    loaded = loaded_after(
        "from bridge.features import build_server\nbuild_server().load_features()"
    )
    assert "bridge.features.permissions" in loaded
    assert "bridge.opencode.events" in loaded  # the typed events, which features dispatch on
    assert [m for m in loaded if not m.startswith("bridge.")] == []
