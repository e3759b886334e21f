"""The V2-only filter (tests/support/v2_only.py) in front of the real server is what a server
that speaks only V2 looks like: V1 routes are not found, ``/doc`` lists only ``/api/*``, and
the V2 routes, event stream included, work through it as on the real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.support.real_opencode import RealOpenCode
from tests.support.v2_only import V2OnlyProxy


async def test_v1_routes_are_not_found_and_v2_routes_answer(
    v2_only: V2OnlyProxy, server: RealOpenCode
) -> None:
    async with httpx.AsyncClient(base_url=v2_only.url, timeout=30) as http:
        for method, path in [("GET", "/global/health"), ("GET", "/session"), ("POST", "/tui/x")]:
            response = await http.request(method, path)
            assert response.status_code == 404, path
            assert response.json()["data"]["message"] == "Route not found"
        health = await http.get("/api/health")
        created = await http.post("/api/session", json={})
        listed = await http.get("/api/session")
        missing = await http.get("/api/session/ses_missing/message")
        document = (await http.get("/doc")).json()
        real = (await http.get(f"{server.url}/doc")).json()

    assert (health.status_code, health.json()) == (200, {"healthy": True})
    session = created.json()["data"]
    assert session["id"] in [s["id"] for s in listed.json()["data"]]
    assert missing.status_code == 404  # the real server's own 404 comes through
    assert missing.json()["_tag"] == "SessionNotFoundError"
    assert "/global/health" in real["paths"]  # the real server does serve V1...
    assert sorted(document["paths"]) == sorted(p for p in real["paths"] if p.startswith("/api/"))
    assert len(document["paths"]) == 51  # ...the filtered document only V2
    assert document["components"] == real["components"]
    assert [(r.method, r.path) for r in v2_only.refused()] == [
        ("GET", "/global/health"),
        ("GET", "/session"),
        ("POST", "/tui/x"),
    ]


async def test_the_v2_event_stream_comes_through_as_it_happens(v2_only: V2OnlyProxy) -> None:
    frames: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def follow() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(None)) as http,
            http.stream("GET", f"{v2_only.url}/api/event") as response,
        ):
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    frames.append(json.loads(line[5:]))
                    arrived.set()

    reader = asyncio.create_task(follow())

    async def seen(kind: str) -> dict[str, Any]:
        while not (found := [f for f in frames if f.get("type") == kind]):
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 30)
        return found[0]

    await seen("server.connected")
    async with httpx.AsyncClient(base_url=v2_only.url, timeout=30) as http:
        session = (await http.post("/api/session", json={})).json()["data"]
    # The frame arrives while the stream is still open: nothing holds it back.
    created = await seen("session.created")
    assert created["data"]["sessionID"] == session["id"]
    assert created["durable"]["aggregateID"] == session["id"]
    assert not reader.done()

    assert v2_only.drop_event_streams() == 1
    await asyncio.wait_for(asyncio.gather(reader, return_exceptions=True), 10)
    assert v2_only.open_streams == 0
