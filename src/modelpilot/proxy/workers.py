"""``modelpilot proxy --workers N``: N processes serving one port, each with its own spool.

Python runs one request at a time per process, so the proxy scales with cores by processes. The
parent binds the port with ``SO_REUSEPORT`` (it holds the port but never accepts), starts N
worker processes that each bind the same port the same way and serve on it, and the kernel
spreads new connections over them. Each worker is a whole proxy (:func:`create_app`) with:

* its own spool: worker 0 keeps the spool file as given (so ``--workers 1`` is the plain proxy),
  worker ``i`` uses ``<stem>-w<i><suffix>`` beside it, and each worker's flusher delivers its own;
* its own local learner file (``learner_file_beside`` its spool, or ``--learner`` with ``-w<i>``),
  so a worker learns from the verdicts of the requests it served;
* its share of the paired checks' daily cap (:class:`CapShare`): what was left of the day's cap
  at start, split evenly, so the workers' spend added up stays within the cap. The rate needs no
  split: each worker samples its own traffic at the rate;
* its own decision cache and conversation pins (a conversation whose turns land on two workers
  may be decided twice; each worker keeps its own pin).

Worker spools left by an earlier run with more workers are delivered by the parent
(:mod:`.orphans`), and their spend today counts against the cap. A worker that exits by itself
stops the others, and the command exits non-zero; SIGINT or SIGTERM stops the workers gracefully
(each drains its spool).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from modelpilot.proxy.calibration.sampling import CapShare
from modelpilot.proxy.settings import ProxySettings

log = logging.getLogger("modelpilot.proxy")

#: How long the parent waits for the workers to start, and then to stop after a signal.
START_TIMEOUT_S = 60.0


def worker_file(path: Path, index: int) -> Path:
    """Worker ``index``'s copy of a per-process file: worker 0 keeps ``path`` itself.

    >>> worker_file(Path("/s/spool-ab.sqlite3"), 0), worker_file(Path("/s/spool-ab.sqlite3"), 2)
    (PosixPath('/s/spool-ab.sqlite3'), PosixPath('/s/spool-ab-w2.sqlite3'))
    """
    return path if index == 0 else path.with_name(f"{path.stem}-w{index}{path.suffix}")


def worker_spools(spool: Path) -> dict[int, Path]:
    """Every worker spool of ``spool`` on disk (index -> file), worker 0's included if it exists."""
    found = {0: spool} if spool.exists() else {}
    pattern = re.compile(rf"{re.escape(spool.stem)}-w([1-9][0-9]*){re.escape(spool.suffix)}")
    if spool.parent.is_dir():
        for candidate in spool.parent.iterdir():
            match = pattern.fullmatch(candidate.name)
            if match is not None:
                found[int(match.group(1))] = candidate
    return found


def left_over_spools(spool: Path, workers: int) -> list[Path]:
    """Worker spools of ``spool`` that no worker of this run opens (a past run had more workers)."""
    return [path for index, path in sorted(worker_spools(spool).items()) if index >= workers]


def spent_today(paths: Sequence[Path], settings: ProxySettings, day: date) -> dict[Path, int]:
    """What paired checks settled on ``day`` in each spool file (each opened, read and closed)."""
    from modelpilot.proxy.spool import LOCAL_DEPLOYMENT, Spool, deployment_fingerprint

    key = settings.control_plane_api_key
    deployment = deployment_fingerprint(key) if key else LOCAL_DEPLOYMENT
    spent: dict[Path, int] = {}
    for path in paths:
        spool = Spool.open(path, max_rows=settings.spool_max_rows, deployment=deployment)
        try:
            spent[path] = spool.calibration_spent(day)
        finally:
            spool.close()
    return spent


def worker_settings(
    settings: ProxySettings, workers: int, *, today: date | None = None
) -> list[ProxySettings]:
    """One ProxySettings per worker: its spool, learner file and share of the daily cap. Reads
    the day's paired-check spend from every spool file of the deployment (so call it before any
    worker has opened its spool)."""
    if settings.spool_path is None:
        return [settings] * workers
    spool = Path(settings.spool_path)
    day = today or datetime.now(UTC).date()
    own = [worker_file(spool, index) for index in range(workers)]
    files = sorted({*own, *worker_spools(spool).values()})
    spent = spent_today([path for path in files if path.exists()], settings, day)
    total = sum(spent.values())
    learner = Path(settings.learner_path) if settings.learner_path is not None else None
    return [
        dataclasses.replace(
            settings,
            spool_path=str(own[index]),
            learner_path=str(worker_file(learner, index)) if learner is not None else None,
            calibration_share=CapShare(
                index=index, count=workers, day=day, elsewhere_micros=total - spent.get(own[index], 0)
            ),
        )
        for index in range(workers)
    ]


WorkerMain = Callable[[ProxySettings, str, int, int, "Queue[tuple[int, str | None]]", int], None]


class WorkerPool:
    """The parent's side: start the workers, say when all listen, stop them on a signal."""

    def __init__(
        self, settings: Sequence[ProxySettings], *, host: str, port: int, target: WorkerMain
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._settings = settings
        self._host = host
        self._port = port
        self._target = target
        self._ready: Queue[tuple[int, str | None]] = self._context.Queue()
        self.processes: list[BaseProcess] = []
        self._stop = threading.Event()

    def request_stop(self, *_: Any) -> None:
        self._stop.set()

    def start(self) -> str | None:
        """Start every worker and wait until each listens: None, or why one could not start."""
        for index, settings in enumerate(self._settings):
            process = self._context.Process(
                target=self._target,
                args=(settings, self._host, self._port, index, self._ready, os.getpid()),
                name=f"modelpilot-proxy-w{index}",
            )
            process.start()
            self.processes.append(process)
        waiting = set(range(len(self._settings)))
        deadline = time.monotonic() + START_TIMEOUT_S
        while waiting:
            if self._stop.is_set():
                return "stopped while starting"
            if time.monotonic() > deadline:
                return "the workers did not start in time"
            with contextlib.suppress(Exception):  # queue.Empty
                index, error = self._ready.get(timeout=0.1)
                if error is not None:
                    return f"worker {index}: {error}"
                waiting.discard(index)
                continue
            for index in waiting:
                if not self.processes[index].is_alive():
                    return f"worker {index} exited with {self.processes[index].exitcode} while starting"
        return None

    def wait(self) -> int:
        """Until a signal (0) or a worker exits by itself (1)."""
        while not self._stop.wait(0.2):
            for index, process in enumerate(self.processes):
                if not process.is_alive():
                    log.error("worker %d exited with %s; stopping the others", index, process.exitcode)
                    return 1
        return 0

    def stop(self, *, timeout_s: float) -> None:
        """SIGTERM to every worker (each drains its spool), then SIGKILL what is left after ``timeout_s``."""
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                log.error("worker %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()


def watch_parent(parent_pid: int) -> None:
    """In a worker: stop gracefully (SIGTERM to itself) if the parent disappears, since a worker
    runs in its own process group and a terminal's Ctrl-C or a SIGKILL of the parent misses it."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="modelpilot-parent-watch").start()


__all__ = [
    "WorkerPool",
    "left_over_spools",
    "spent_today",
    "watch_parent",
    "worker_file",
    "worker_settings",
    "worker_spools",
]
