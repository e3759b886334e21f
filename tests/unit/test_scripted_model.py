"""The scripted OpenAI-compatible model, on its own (no OpenCode)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.demo.scripted_model import (
    DEFAULT_TITLE,
    Reply,
    ScriptedModel,
    ToolCall,
    isolated_env,
    opencode_config,
)

TITLE_SYSTEM = "You are a title generator. You output ONLY a thread title. Nothing else."


def chat(text: str, system: str = "You are opencode.", **extra: Any) -> dict[str, Any]:
    return {
        "model": "mock-model",
        "stream": True,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ],
        **extra,
    }


def stream(model: ScriptedModel, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a streaming request; the decoded chunks (checks the ``[DONE]`` end)."""
    with httpx.stream("POST", model.base_url + "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)


def test_text_is_streamed_in_several_chunks() -> None:
    with ScriptedModel() as model:
        model.push(Reply.text("Hello from a scripted model, in pieces."))
        chunks = stream(model, chat("hi"))
    assert streamed_text(chunks) == "Hello from a scripted model, in pieces."
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) >= 3
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_tool_calls_stream_name_id_and_json_arguments(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    with ScriptedModel() as model:
        model.push(
            Reply.edit(target, "old", "new"),
            Reply.tools(
                ToolCall("bash", {"command": "ls", "description": "List"}, "call_1"),
                ToolCall("read", {"filePath": str(target)}, "call_2"),
                text="Two tools:",
            ),
        )
        first = stream(model, chat("edit"))
        second = stream(model, chat("more"))

    def calls(chunks: list[dict[str, Any]]) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = {}
        for chunk in chunks:
            for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
                call = found.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.get("id", call["id"])
                call["name"] = delta.get("function", {}).get("name", call["name"])
                call["arguments"] += delta.get("function", {}).get("arguments", "")
        return found

    edit = calls(first)[0]
    assert edit["name"] == "edit" and edit["id"].startswith("call_scripted_")
    assert json.loads(edit["arguments"]) == {
        "filePath": str(target),
        "oldString": "old",
        "newString": "new",
    }
    assert first[-1]["choices"][0]["finish_reason"] == "tool_calls"
    both = calls(second)
    assert [both[0]["id"], both[1]["id"]] == ["call_1", "call_2"]
    assert json.loads(both[0]["arguments"]) == {"command": "ls", "description": "List"}
    assert streamed_text(second) == "Two tools:"


def test_default_reply_echoes_first_typed_line_and_is_configurable() -> None:
    with ScriptedModel() as model:
        body = chat("first line\nsecond")
        body["messages"][1]["content"].append(
            {"type": "text", "text": "Called the Read tool with the following input: {}"}
        )
        assert streamed_text(stream(model, body)) == "Scripted answer: first line"
        model.set_default(Reply.text("fixed"))
        assert streamed_text(stream(model, chat("x"))) == "fixed"
        model.set_default(lambda request: Reply.text(request.last_user_text().upper()))
        assert streamed_text(stream(model, chat("shout"))) == "SHOUT"


def test_title_requests_do_not_consume_the_script() -> None:
    with ScriptedModel(title="A title") as model:
        model.push(Reply.text("the real answer"))
        title = stream(model, chat("Generate a title for this conversation:\n", TITLE_SYSTEM))
        answer = stream(model, chat("question"))
        assert streamed_text(title) == "A title"
        assert streamed_text(answer) == "the real answer"
        assert [r.kind for r in model.requests] == ["title", "chat"]
        assert len(model.chat_requests()) == 1
        assert model.last_request(kind="title").system_text().startswith("You are a title")
    assert DEFAULT_TITLE


def test_non_streaming_and_models_and_errors() -> None:
    with ScriptedModel() as model:
        model.push(Reply.bash("echo hi"), Reply.error("no quota", status=400))
        plain = httpx.post(model.base_url + "/chat/completions", json=chat("x", stream=False))
        message = plain.json()["choices"][0]["message"]
        assert message["tool_calls"][0]["function"]["name"] == "bash"
        assert json.loads(message["tool_calls"][0]["function"]["arguments"])["command"] == "echo hi"
        failed = httpx.post(model.base_url + "/chat/completions", json=chat("y"))
        assert failed.status_code == 400
        assert failed.json()["error"]["message"] == "no quota"
        models = httpx.get(model.base_url + "/models").json()
        assert models["data"][0]["id"] == "mock-model"
        assert ("GET", "/v1/models") in model.http_log


def test_recording_and_prompt_text() -> None:
    with ScriptedModel() as model:
        body = chat("explain")
        body["messages"].append({"role": "tool", "tool_call_id": "c", "content": "def foo(): ..."})
        stream(model, body)
        request = model.wait_for_requests(1, timeout=1)[0]
        assert request.stream
        assert request.user_text() == "explain"
        assert request.tool_results() == ["def foo(): ..."]
        assert "def foo" in model.all_prompt_text()
        assert "You are opencode" not in model.all_prompt_text()
        assert "explain" in model.last_prompt_text()
        with pytest.raises(TimeoutError):
            model.wait_for_requests(2, timeout=0.1)
        model.clear_requests()
        assert model.requests == []
        with pytest.raises(LookupError):
            model.last_request()


def test_wait_for_requests_wakes_up_on_arrival() -> None:
    with ScriptedModel() as model:
        threading.Timer(0.2, lambda: stream(model, chat("later"))).start()
        started = time.monotonic()
        assert len(model.wait_for_requests(1, timeout=5)) == 1
        assert time.monotonic() - started < 4


def test_hold_blocks_the_stream_until_released() -> None:
    hold = threading.Event()
    with ScriptedModel() as model:
        model.push(Reply.text("slow but sure", hold=hold))
        result: list[str] = []
        worker = threading.Thread(
            target=lambda: result.append(streamed_text(stream(model, chat("go"))))
        )
        worker.start()
        model.wait_for_requests(1, timeout=5)
        time.sleep(0.2)
        assert result == [] and worker.is_alive()
        hold.set()
        worker.join(5)
    assert result == ["slow but sure"]


def test_close_releases_held_streams() -> None:
    model = ScriptedModel().start()
    model.push(Reply.text("never finished", hold=threading.Event()))
    worker = threading.Thread(target=lambda: _ignore(lambda: stream(model, chat("go"))))
    worker.start()
    model.wait_for_requests(1, timeout=5)
    model.close()
    worker.join(5)
    assert not worker.is_alive()


def _ignore(action: Any) -> None:
    try:
        action()
    except (httpx.HTTPError, AssertionError):
        pass


def test_opencode_config_and_isolated_env(tmp_path: Path) -> None:
    config = opencode_config("http://127.0.0.1:1234/v1", {"edit": "ask"})
    assert config["model"] == "mock/mock-model"
    provider = config["provider"]["mock"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"]["baseURL"] == "http://127.0.0.1:1234/v1"
    assert provider["models"]["mock-model"]["tool_call"] is True
    assert config["permission"] == {"edit": "ask"}
    assert "permission" not in opencode_config("http://x/v1")

    env = isolated_env(tmp_path / "oc")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert Path(env[name]).is_dir() and Path(env[name]).is_relative_to(tmp_path)
    assert env["OPENCODE_DISABLE_MODELS_FETCH"] == "true"
    assert env["OPENCODE_DISABLE_AUTOUPDATE"] == "true"
    config_dir = Path(env["XDG_CONFIG_HOME"]) / "opencode"
    assert (config_dir / "node_modules").is_dir()
    lock = json.loads((config_dir / "package-lock.json").read_text())
    assert "@opencode-ai/plugin" in lock["packages"][""]["dependencies"]


# OpenCode 1.18.33's tool schemas (parameters as offered to the model), trimmed.
V1_TOOLS = {
    "edit": ["filePath", "oldString", "newString", "replaceAll"],
    "write": ["content", "filePath"],
    "read": ["filePath", "offset", "limit"],
    "glob": ["pattern", "path"],
    "bash": ["command", "timeout", "workdir"],
}
V2_TOOLS = {
    "edit": ["path", "oldString", "newString", "replaceAll"],
    "write": ["path", "content"],
    "read": ["path", "offset", "limit"],
    "glob": ["pattern", "path", "limit"],
    "bash": ["command", "workdir", "timeout"],
}


def offered(tools: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "parameters": {"type": "object", "properties": {p: {} for p in params}},
            },
        }
        for name, params in tools.items()
    ]


def called(chunks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tool name -> the arguments streamed for it."""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls") or []:
            if "name" in call.get("function", {}):
                names[call["index"]] = call["function"]["name"]
            args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    return {names[i]: json.loads(args[i]) for i in names}


@pytest.mark.parametrize(
    ("tools", "path_name"), [(V1_TOOLS, "filePath"), (V2_TOOLS, "path")], ids=["v1", "v2"]
)
def test_tool_calls_take_the_argument_names_of_the_offered_tools(
    tools: dict[str, list[str]], path_name: str, tmp_path: Path
) -> None:
    target = str(tmp_path / "a.py")
    with ScriptedModel() as model:
        model.push(
            Reply.tools(
                Reply.edit(target, "old", "new").tool_calls[0],
                Reply.write(target, "text").tool_calls[0],
                ToolCall("read", {"path": target, "limit": 2}),  # a script written for V2
                ToolCall("glob", {"pattern": "*.py", "path": "src"}),
                ToolCall("bash", {"command": "ls", "description": "List"}),
            )
        )
        args = called(stream(model, chat("edit", tools=offered(tools))))
    assert args["edit"] == {path_name: target, "oldString": "old", "newString": "new"}
    assert args["write"] == {path_name: target, "content": "text"}
    assert args["read"] == {path_name: target, "limit": 2}
    assert args["glob"] == {"pattern": "*.py", "path": "src"}  # both engines call it path
    assert args["bash"] == {"command": "ls", "description": "List"}  # unknown, not a synonym


def test_without_offered_tools_arguments_go_as_written(tmp_path: Path) -> None:
    target = str(tmp_path / "a.py")
    with ScriptedModel() as model:
        model.push(Reply.edit(target, "old", "new"))
        model.set_default(Reply.tool("read", {"path": target}))
        first = called(stream(model, chat("edit")))
        second = called(stream(model, chat("read", tools=offered(V1_TOOLS))))
    assert first["edit"] == {"filePath": target, "oldString": "old", "newString": "new"}
    assert second["read"] == {"filePath": target}  # default replies are fitted too


def test_a_structured_answer_is_not_renamed() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}}
    tools = [{"type": "function", "function": {"name": "StructuredOutput", "parameters": schema}}]
    with ScriptedModel() as model:
        model.push(Reply.structured({"filePath": "x"}))
        args = called(stream(model, chat("answer", tools=tools)))
    assert args["StructuredOutput"] == {"filePath": "x"}
