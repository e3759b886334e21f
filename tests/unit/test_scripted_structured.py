"""The scripted model answers a structured-output prompt as OpenCode 1.18.33 asks for it: a
call of the ``StructuredOutput`` tool whose arguments fit the schema (no OpenCode here; the
real server's side is in tests/e2e/test_review_findings_real.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bridge.core.findings import FINDINGS_SCHEMA
from bridge.demo.scripted_model import STRUCTURED_TOOL, Reply, ScriptedModel

SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["ok", "bad"]},
        "count": {"type": "integer", "minimum": 1},
        "notes": {"type": "array", "items": {"type": "string"}},
        "optional": {"type": "string"},
    },
    "required": ["verdict", "count", "notes"],
}


def structured_request(schema: dict[str, Any]) -> dict[str, Any]:
    """What OpenCode sends for a prompt with ``format: {type: "json_schema", schema}``."""
    return {
        "model": "mock-model",
        "stream": True,
        "tool_choice": "required",
        "tools": [
            {"type": "function", "function": {"name": "read", "parameters": {}}},
            {"type": "function", "function": {"name": STRUCTURED_TOOL, "parameters": schema}},
        ],
        "messages": [{"role": "user", "content": "review please"}],
    }


def tool_call(model: ScriptedModel, body: dict[str, Any]) -> tuple[str, Any]:
    with httpx.stream("POST", model.base_url + "/chat/completions", json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    calls = [
        call
        for line in lines
        for call in json.loads(line[6:])["choices"][0]["delta"].get("tool_calls") or []
    ]
    name = next(c["function"]["name"] for c in calls if c["function"].get("name"))
    arguments = "".join(c["function"]["arguments"] for c in calls)
    return name, json.loads(arguments)


def test_the_default_answer_is_the_smallest_value_that_fits_the_schema() -> None:
    with ScriptedModel() as model:
        assert tool_call(model, structured_request(SCHEMA)) == (
            STRUCTURED_TOOL,
            {"verdict": "ok", "count": 1, "notes": []},
        )
        assert tool_call(model, structured_request(FINDINGS_SCHEMA)) == (
            STRUCTURED_TOOL,
            {"findings": []},
        )
        assert model.last_request().structured_schema == FINDINGS_SCHEMA


def test_a_scripted_structured_reply_is_that_tool_call() -> None:
    with ScriptedModel() as model:
        model.push(Reply.structured({"verdict": "bad", "count": 3, "notes": ["x"]}))
        assert tool_call(model, structured_request(SCHEMA)) == (
            STRUCTURED_TOOL,
            {"verdict": "bad", "count": 3, "notes": ["x"]},
        )
        plain = structured_request(SCHEMA)
        plain["tools"] = plain["tools"][:1]
        with httpx.stream("POST", model.base_url + "/chat/completions", json=plain) as response:
            chunks = [json.loads(line[6:]) for line in response.iter_lines() if "{" in line]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert "Scripted answer: review please" in text  # no schema asked: the echo
        assert model.last_request().structured_schema is None
