"""The floor for benchmark 3: a bare httpx-sse loop that reads the fake's ``/event`` stream and
parses every event, as the bridge must, and nothing more.

``python tests/benchmarks/sse_floor.py URL DIRECTORY [v2]`` prints ``ready`` once connected,
then ``done <time.monotonic()> <deltas>`` when a ``session.status`` idle arrives (V2: reads
``/api/event``, counts ``session.next.text.delta`` and ends at ``session.next.step.ended``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import quote

import httpx
import httpx_sse


async def main(url: str, directory: str, v2: bool) -> None:
    headers = {"x-opencode-directory": quote(directory, safe="/")}
    deltas = 0
    path, delta = (
        ("/api/event", "session.next.text.delta") if v2 else ("/event", "message.part.delta")
    )
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as client:
        async with httpx_sse.aconnect_sse(client, "GET", path) as source:
            async for sse in source.aiter_sse():
                event = json.loads(sse.data)
                kind = event["type"]
                if kind == "server.connected":
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
                elif kind == delta:
                    deltas += 1
                elif (v2 and kind == "session.next.step.ended") or (
                    kind == "session.status" and event["properties"]["status"]["type"] == "idle"
                ):
                    sys.stdout.write(f"done {time.monotonic()} {deltas}\n")
                    sys.stdout.flush()
                    return


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:] == ["v2"]))
