"""The floor for benchmark 2: a plain httpx script that POSTs a prompt each time a line arrives
on stdin, over one kept-alive connection, and says ``sent`` when the answer came.

``python tests/benchmarks/post_floor.py URL PATH BODY_FILE`` (the body is sent as it is).
"""

from __future__ import annotations

import asyncio
import sys

import httpx


async def main(url: str, path: str, body: bytes) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url) as client:
        await client.get("/global/health")  # connect first, as the bridge has by then
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while await reader.readline():
            await client.post(path, content=body, headers=headers)
            sys.stdout.write("sent\n")
            sys.stdout.flush()


if __name__ == "__main__":
    with open(sys.argv[3], "rb") as file:
        asyncio.run(main(sys.argv[1], sys.argv[2], file.read()))
