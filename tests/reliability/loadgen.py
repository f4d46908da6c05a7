"""A bounded closed-loop load generator on loopback: ``concurrency`` aiohttp workers send back to
back for ``seconds`` and stop by themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

# One request: given the session and a request number, return None when it succeeded in full or
# a short description of what went wrong.
Request = Callable[[aiohttp.ClientSession, int], Awaitable[str | None]]


@dataclass
class LoadResult:
    sent: int = 0
    succeeded: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def per_second(self) -> float:
        return self.succeeded / self.elapsed_s if self.elapsed_s else 0.0


async def _closed_loop(request: Request, concurrency: int, seconds: float) -> LoadResult:
    result = LoadResult()
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                number = next(counter)
                result.sent += 1
                begun = time.perf_counter()
                try:
                    error = await request(session, number)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                if error is None:
                    result.succeeded += 1
                    result.latencies_ms.append((time.perf_counter() - begun) * 1000)
                else:
                    result.errors.append(error)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


def run_load(request: Request, *, concurrency: int, seconds: float) -> LoadResult:
    """Run the load to its end (``seconds`` plus the last requests in flight)."""
    return asyncio.run(_closed_loop(request, concurrency, seconds))
