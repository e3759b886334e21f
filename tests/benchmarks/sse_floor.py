"""The floor for benchmark 3: a bare httpx-sse loop that reads the fake's ``/event`` stream and
parses every event, as the bridge must, and nothing more.

``python tests/benchmarks/sse_floor.py URL DIRECTORY`` prints ``ready`` once connected, then
``done <time.monotonic()> <deltas>`` when a ``session.status`` idle arrives.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import quote

import httpx
import httpx_sse


async def main(url: str, directory: str) -> None:
    headers = {"x-opencode-directory": quote(directory, safe="/")}
    deltas = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as client:
        async with httpx_sse.aconnect_sse(client, "GET", "/event") as source:
            async for sse in source.aiter_sse():
                event = json.loads(sse.data)
                kind = event["type"]
                if kind == "server.connected":
                    sys.stdout.write("ready\n")
                    sys.stdout.flush()
                elif kind == "message.part.delta":
                    deltas += 1
                elif kind == "session.status" and event["properties"]["status"]["type"] == "idle":
                    sys.stdout.write(f"done {time.monotonic()} {deltas}\n")
                    sys.stdout.flush()
                    return


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
