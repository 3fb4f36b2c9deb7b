"""Follow the stub's event stream and print every event, through restarts.

    python examples/cpython/follow.py http://127.0.0.1:8000 alice demo [--count N]

Signs in, then prints one line per event: `<id> <type> <data>`. The
stream is resumed by `Last-Event-ID` after every drop, so a restart of the
stub (even `kill -9`) loses nothing and repeats nothing. With `--count N`
it stops after N events. Needs only `sse_client[httpx]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx

from sse_client import AsyncEventSource, ClientConfig, SSEError

API = {"X-Version": "1"}


async def follow(base: str, username: str, password: str, count: int | None) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        answer = await client.post("/login", json={"username": username, "password": password}, headers=API)
        answer.raise_for_status()
        token = answer.json()["token"]
        config = ClientConfig(max_delay=5.0, max_attempts=1000)  # a restart takes seconds: keep trying
        source = AsyncEventSource(client, "/sse", headers={**API, "Authorization": f"Bearer {token}"}, config=config)
        seen = 0
        async with source:
            try:
                async for event in source:
                    print(event.id, event.event, event.data, flush=True)
                    seen += 1
                    if count is not None and seen >= count:
                        return 0
            except SSEError as error:
                print(f"stopped: {error}", file=sys.stderr)
                return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the stub's URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("--count", type=int, default=None, help="stop after this many events")
    args = parser.parse_args()
    return asyncio.run(follow(args.base, args.username, args.password, args.count))


if __name__ == "__main__":
    raise SystemExit(main())
