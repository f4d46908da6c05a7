"""Periodic jobs of the control plane (purge, invoicing, status probes), run as asyncio tasks
for as long as the app's lifespan lasts.

Every replica runs every job, so each job must be idempotent (the built-in ones are). A job that
fails (a database error, say) is logged and runs again at its next tick; it never stops the app
or the other jobs. On shutdown the tasks are cancelled and awaited.

Other parts of the control plane add their own job before the app starts::

    app.state.jobs.register_job("status-probe", settings.status_probe_interval_s, probe_once)

where ``probe_once`` is a plain function (run in a worker thread) or a coroutine function,
called without arguments.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from modelpilot.control import billing, retention
from modelpilot.control.settings import ControlSettings

logger = logging.getLogger(__name__)

JobFunction = Callable[[], Awaitable[None] | None]
#: How often each replica checks for invoices to issue (they are issued once, whoever is first).
INVOICE_INTERVAL_S = 3600


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_s: float
    fn: JobFunction


class JobRunner:
    """The app's periodic jobs; started and stopped by :meth:`lifespan`."""

    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._services: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(self._jobs)

    def register_job(self, name: str, interval_s: float, fn: JobFunction) -> None:
        """Run ``fn`` now and then every ``interval_s`` seconds while the app runs. Register
        before the app starts; a job registered later starts with the next start."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if any(job.name == name for job in self._jobs):
            raise ValueError(f"a job named {name!r} is already registered")
        self._jobs.append(Job(name=name, interval_s=interval_s, fn=fn))

    def register_service(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``run()`` (a coroutine that loops until cancelled) while the app runs."""
        if name in self._services:
            raise ValueError(f"a service named {name!r} is already registered")
        self._services[name] = run

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(_run_forever(job), name=f"job:{job.name}") for job in self._jobs]
        self._tasks += [
            asyncio.create_task(run(), name=f"service:{name}") for name, run in self._services.items()
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """A FastAPI ``lifespan``: the jobs run between start-up and shutdown."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()


async def run_once(job: Job) -> bool:
    """Run one tick of ``job``; False (logged, not raised) when it failed."""
    try:
        if inspect.iscoroutinefunction(job.fn):
            await job.fn()
        else:
            await asyncio.to_thread(job.fn)
    except Exception:
        logger.exception("job %s failed; it runs again in %ss", job.name, job.interval_s)
        return False
    return True


async def _run_forever(job: Job) -> None:
    while True:
        await run_once(job)
        await asyncio.sleep(job.interval_s)


def default_jobs(
    settings: ControlSettings, *, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> JobRunner:
    """The built-in jobs: the retention purge and invoicing of closed months."""
    runner = JobRunner()

    def purge() -> None:
        with sessions() as db:
            result = retention.purge(db, settings, now=clock())
        logger.info("purge: %s", result)

    def issue_invoices() -> None:
        with sessions() as db:
            issued = billing.issue_due_invoices(db, settings, now=clock())
        if issued:
            logger.info("issued %d invoices", issued)

    runner.register_job("purge", settings.purge_interval_s, purge)
    runner.register_job("invoices", INVOICE_INTERVAL_S, issue_invoices)
    return runner
