"""Settings as the editor sends them: what the bridge ends up using, and what it tells the user."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.settings import (
    DEFAULT_ATTACH_URL,
    DEFAULT_PROMPTS,
    WIRE_KEYS,
    Settings,
    parse_settings,
)

NO_ENV: dict[str, str] = {}


def parse(options: Any, environ: dict[str, str] | None = None) -> tuple[Settings, list[str]]:
    return parse_settings(options, NO_ENV if environ is None else environ)


def test_nothing_sent_gives_the_documented_defaults() -> None:
    settings, warnings = parse(None)
    assert warnings == []
    assert settings.server_url is None
    assert settings.attach_url == DEFAULT_ATTACH_URL == "http://127.0.0.1:4096"
    assert settings.username == "opencode"
    assert settings.password is None
    assert settings.spawn is True
    assert settings.command == ("opencode",)
    assert settings.model is None and settings.model_ref is None
    assert settings.agent is None
    assert dict(settings.prompts) == DEFAULT_PROMPTS
    assert settings.request_timeout == 30.0
    assert settings.sync_buffers == "auto"
    assert settings.edit_approval == "config"
    assert settings.open_transcript is False
    assert parse({}) == (settings, [])


EVERY_KEY = {
    "serverUrl": "http://127.0.0.1:5000/",
    "attachUrl": "https://opencode.example:4096",
    "username": "me",
    "password": "s3cret",
    "spawn": False,
    "command": ["npx", "opencode-ai", "serve"],
    "model": "anthropic/claude-sonnet-4",
    "agent": "build",
    "prompts": {"explain": "Say what {file} does."},
    "requestTimeout": 5,
    "syncBuffers": "off",
    "editApproval": "ask",
    "openTranscript": True,
}


def test_every_camel_case_key_is_read() -> None:
    settings, warnings = parse(EVERY_KEY)
    assert warnings == []
    assert settings.server_url == "http://127.0.0.1:5000"  # trailing slash dropped
    assert settings.attach_url == "https://opencode.example:4096"
    assert settings.username == "me"
    assert settings.password == "s3cret"
    assert settings.spawn is False
    assert settings.command == ("npx", "opencode-ai", "serve")
    assert settings.model == "anthropic/claude-sonnet-4"
    assert settings.agent == "build"
    assert settings.prompts["explain"] == "Say what {file} does."
    assert settings.request_timeout == 5.0
    assert settings.sync_buffers == "off"
    assert settings.edit_approval == "ask"
    assert settings.open_transcript is True


def test_nested_opencode_section_is_the_same_as_the_object_itself() -> None:
    assert parse({"opencode": EVERY_KEY}) == parse(EVERY_KEY)


def test_snake_case_keys_are_unknown() -> None:
    settings, warnings = parse({"server_url": "http://127.0.0.1:5000"})
    assert settings.server_url is None
    assert warnings == ["Unknown OpenCode setting 'server_url' is ignored."]


def test_command_as_one_string() -> None:
    settings, warnings = parse({"command": "/opt/bin/opencode"})
    assert (settings.command, warnings) == (("/opt/bin/opencode",), [])


def test_float_timeout() -> None:
    assert parse({"requestTimeout": 0.5})[0].request_timeout == 0.5


# --- the environment -------------------------------------------------------------------------

ENV = {"OPENCODE_SERVER_PASSWORD": "from-env", "OPENCODE_SERVER_USERNAME": "env-user"}


def test_environment_fills_in_absent_credentials() -> None:
    settings, warnings = parse({}, ENV)
    assert (settings.username, settings.password, warnings) == ("env-user", "from-env", [])


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_password_setting_leaves_the_environment_password(empty: str | None) -> None:
    settings, warnings = parse({"password": empty}, ENV)
    assert settings.password == "from-env"
    assert warnings == []


def test_password_setting_wins_over_the_environment() -> None:
    settings, _ = parse({"password": "typed", "username": "typed-user"}, ENV)
    assert (settings.username, settings.password) == ("typed-user", "typed")


def test_empty_environment_variables_are_not_credentials() -> None:
    settings, _ = parse({}, {"OPENCODE_SERVER_PASSWORD": "", "OPENCODE_SERVER_USERNAME": ""})
    assert (settings.username, settings.password) == ("opencode", None)


def test_reads_os_environ_when_no_environment_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCODE_SERVER_PASSWORD", "from-os")
    assert parse_settings({})[0].password == "from-os"


def test_repr_never_shows_the_password() -> None:
    settings, _ = parse({"password": "hunter2-secret"}, ENV)
    assert "hunter2-secret" not in repr(settings)
    assert "from-env" not in repr(parse({}, ENV)[0])


# --- bad values: keep the default, say so once, name the key --------------------------------

BAD_VALUES = [
    ("attachUrl", ["http://127.0.0.1:4096"]),
    ("attachUrl", "ftp://127.0.0.1:4096"),
    ("username", ""),
    ("username", 7),
    ("password", 1234),
    ("password", False),
    ("password", ["x"]),
    ("spawn", "yes"),
    ("spawn", 1),
    ("command", []),
    ("command", ""),
    ("command", ["opencode", 3]),
    ("command", ["opencode", ""]),
    ("command", {"bin": "opencode"}),
    ("model", "claude-sonnet-4"),
    ("model", "anthropic/"),
    ("model", "/claude"),
    ("model", 3),
    ("agent", 3),
    ("prompts", ["explain"]),
    ("prompts", "explain"),
    ("requestTimeout", 0),
    ("requestTimeout", -5),
    ("requestTimeout", "30"),
    ("requestTimeout", True),
    ("requestTimeout", float("nan")),
    ("requestTimeout", float("inf")),
    ("requestTimeout", 10**400),
    ("syncBuffers", "sometimes"),
    ("syncBuffers", True),
    ("syncBuffers", ["auto"]),
    ("editApproval", "never"),
    ("openTranscript", "true"),
]


@pytest.mark.parametrize(
    ("key", "value"), BAD_VALUES, ids=[f"{k}={v!r:.20}" for k, v in BAD_VALUES]
)
def test_bad_value_keeps_the_default_with_one_warning_naming_the_key(key: str, value: Any) -> None:
    default, _ = parse({})
    settings, warnings = parse({key: value, "agent": "plan"} if key != "agent" else {key: value})
    assert len(warnings) == 1, warnings
    assert key in warnings[0]
    assert "keeping the default" in warnings[0]
    expected = default if key == "agent" else Settings(**{**default.__dict__, "agent": "plan"})
    assert settings == expected  # the bad key kept its default; the good one still applied


@pytest.mark.parametrize("key", sorted(k for k in WIRE_KEYS if k != "attachUrl"))
def test_null_means_unset_and_keeps_the_default_quietly(key: str) -> None:
    # VS Code and others send null for every setting the user left alone.
    assert parse({key: None}) == parse({})


@pytest.mark.parametrize("off", [None, False, ""])
def test_attach_url_can_be_turned_off(off: object) -> None:
    settings, warnings = parse({"attachUrl": off})
    assert settings.attach_url is None and warnings == []


def test_bad_value_keeps_the_environment_value_as_well() -> None:
    settings, warnings = parse({"username": 5}, ENV)
    assert settings.username == "env-user"
    assert len(warnings) == 1


def test_bad_prompt_warning_names_the_template() -> None:
    _, warnings = parse({"prompts": {"explain": "ok {file}", "mine": 3}})
    assert len(warnings) == 1
    assert "prompts.mine" in warnings[0]


def test_one_bad_prompt_keeps_every_valid_entry_and_removal() -> None:
    settings, warnings = parse(
        {
            "prompts": {
                "perf": "Make {file} faster.",
                "document": None,
                "mine": ["not", "a", "template"],
                "explain": "   ",
            }
        }
    )
    assert settings.prompts["perf"] == "Make {file} faster."  # the user's own template
    assert "document" not in settings.prompts  # and the removal
    assert "mine" not in settings.prompts
    assert settings.prompts["explain"] == DEFAULT_PROMPTS["explain"]  # a bad override: default
    assert settings.prompts["review"] == DEFAULT_PROMPTS["review"]
    assert len(warnings) == 2
    [mine] = [w for w in warnings if "prompts.mine" in w]
    assert "left out" in mine
    [explain] = [w for w in warnings if "prompts.explain" in w]
    assert "keeping the default" in explain


def test_prompts_that_are_not_an_object_keep_the_defaults() -> None:
    settings, warnings = parse({"prompts": ["explain"]})
    assert dict(settings.prompts) == DEFAULT_PROMPTS
    assert len(warnings) == 1 and "prompts" in warnings[0] and "keeping the default" in warnings[0]


def test_an_unknown_placeholder_is_named_once() -> None:
    settings, warnings = parse(
        {"prompts": {"odd": "Explain {nonsense} in {file}, {nonsense} and {other}."}}
    )
    assert settings.prompts["odd"] == "Explain {nonsense} in {file}, {nonsense} and {other}."
    [warning] = warnings
    assert "'odd'" in warning and "{nonsense}" in warning and "{other}" in warning
    assert warning.count("{nonsense}") == 1
    assert "{file}" in warning  # the placeholders that exist


def test_braces_that_are_no_placeholder_name_are_not_warned_about() -> None:
    _, warnings = parse({"prompts": {"json": 'Answer as {"lines": [...]} for {file}.'}})
    assert warnings == []


# --- serverUrl -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("localhost:4096", "http://localhost:4096"),
        ("127.0.0.1:4096/", "http://127.0.0.1:4096"),
        ("https://example.com:8443", "https://example.com:8443"),
    ],
)
def test_server_url_without_a_scheme_is_taken_as_http(given: str, url: str) -> None:
    settings, warnings = parse({"serverUrl": given})
    assert (settings.server_url, settings.server_url_refused, warnings) == (url, False, [])


@pytest.mark.parametrize(
    "bad", [42, "ftp://example.com", "http://", "http://host:notaport", "localhost:abc"]
)
def test_a_server_url_that_is_not_a_url_is_refused_not_replaced(bad: Any) -> None:
    settings, warnings = parse({"serverUrl": bad, "agent": "plan"})
    assert settings.server_url is None and settings.server_url_refused is True
    assert settings.agent == "plan"  # the other settings still apply
    [warning] = warnings
    assert "serverUrl" in warning and "connects to no OpenCode server" in warning
    assert "keeping the default" not in warning


def test_server_url_refused_is_not_a_setting() -> None:
    assert "serverUrlRefused" not in WIRE_KEYS
    settings, warnings = parse({"serverUrlRefused": True})
    assert settings.server_url_refused is False and len(warnings) == 1


def test_unknown_key_warns_once_and_others_still_apply() -> None:
    settings, warnings = parse({"colour": "blue", "spawn": False})
    assert warnings == ["Unknown OpenCode setting 'colour' is ignored."]
    assert settings.spawn is False


def test_several_bad_keys_give_one_warning_each() -> None:
    _, warnings = parse({"spawn": "no", "model": "x", "syncBuffers": 1, "what": 0})
    assert len(warnings) == 4
    for key in ("spawn", "model", "syncBuffers", "what"):
        assert sum(key in warning for warning in warnings) == 1


@pytest.mark.parametrize("options", ["opencode", 3, True, [{"spawn": False}]])
def test_options_that_are_not_an_object(options: Any) -> None:
    settings, warnings = parse(options, ENV)
    assert warnings == ["OpenCode settings must be an object; using the defaults."]
    assert settings.spawn is True
    assert settings.password == "from-env"  # the environment still counts


@pytest.mark.parametrize(
    "options",
    [None, {}, [], {"opencode": {}}, {"opencode": []}, {"opencode": None}],
    ids=["null", "{}", "[]", "opencode={}", "opencode=[]", "opencode=null"],
)
def test_empty_settings_mean_no_settings_silently(options: Any) -> None:
    # Neovim sends the shipped config's init_options (every option commented out), and the
    # README's { model = nil, agent = nil }, as [].
    settings, warnings = parse(options, ENV)
    assert warnings == []
    assert settings == parse({}, ENV)[0]


def test_nested_section_that_is_not_an_object_is_read_as_a_key() -> None:
    _, warnings = parse({"opencode": "yes"})
    assert warnings == ["Unknown OpenCode setting 'opencode' is ignored."]


# --- prompts ---------------------------------------------------------------------------------


def test_user_prompts_merge_over_the_defaults() -> None:
    settings, warnings = parse(
        {"prompts": {"explain": "Explain {file} simply.", "optimize": "Make {file} faster."}}
    )
    assert warnings == []
    assert settings.prompts["explain"] == "Explain {file} simply."
    assert settings.prompts["optimize"] == "Make {file} faster."
    assert settings.prompts["review"] == DEFAULT_PROMPTS["review"]
    assert set(settings.prompts) == set(DEFAULT_PROMPTS) | {"optimize"}


def test_null_removes_one_default_prompt() -> None:
    settings, warnings = parse({"prompts": {"document": None, "missing": None}})
    assert warnings == []
    assert set(settings.prompts) == set(DEFAULT_PROMPTS) - {"document"}


def test_parsing_never_changes_the_shared_defaults() -> None:
    parse({"prompts": {"explain": None, "extra": "x"}})
    assert "explain" in DEFAULT_PROMPTS and "extra" not in DEFAULT_PROMPTS
    assert dict(parse({})[0].prompts) == DEFAULT_PROMPTS


# --- model_ref -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "ref"),
    [
        ("anthropic/claude-sonnet-4", {"providerID": "anthropic", "modelID": "claude-sonnet-4"}),
        # OpenRouter model ids contain a slash themselves: only the first one splits.
        ("openrouter/meta/llama-3", {"providerID": "openrouter", "modelID": "meta/llama-3"}),
    ],
)
def test_model_ref(model: str, ref: dict[str, str]) -> None:
    settings, warnings = parse({"model": model})
    assert warnings == []
    assert settings.model_ref == ref


def test_empty_model_means_the_servers_default() -> None:
    settings, warnings = parse({"model": ""})
    assert (settings.model_ref, warnings) == (None, [])
