"""Shared pieces of the benchmarks: start our servers as real processes, measure, print tables."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BENCH_KEY = "sk-ant-bench-0000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A server process started by a benchmark and stopped by it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    stop_timeout_s: float = 10  # a profiled process writes its report after the signal

    def rss_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def processes(self) -> list[int]:
        """The process and all its descendants (servers that fork workers), by pid."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, pending = [], [self.process.pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending.extend(children.get(pid, []))
        return found

    def cpu_s(self) -> float:
        """CPU time (user + system) the process and its descendants have used so far, in seconds.
        Unlike wall-clock figures it hardly moves when other work shares the cores."""
        total = 0.0
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def tree_rss_mb(self) -> float:
        """Current RSS in MB of the process and all its descendants (servers that fork workers)."""
        total = 0.0
        for pid in self.processes():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                continue
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_modelpilot(
    name: str, args: Sequence[str], *, env: dict[str, str] | None = None, profile_to: Path | None = None
) -> Service:
    """Start ``modelpilot <args> --host 127.0.0.1 --port <free>`` and wait until it answers; with
    ``profile_to``, under pyinstrument, whose text report is written there when it stops."""
    port = free_port()
    profiler = ["-m", "pyinstrument", "-r", "text", "-o", str(profile_to)] if profile_to else []
    cmd = [
        sys.executable,
        *profiler,
        "-m",
        "modelpilot.cli",
        *args,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    service = start_process(name, cmd, port, env=env)
    if profile_to is not None:
        service.stop_timeout_s = 120
    return service


def start_process(
    name: str,
    cmd: Sequence[str],
    port: int,
    *,
    env: Mapping[str, str | None] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 60,
) -> Service:
    """Start ``cmd`` (which must listen on 127.0.0.1:``port``) and wait until it accepts connections.
    ``env`` adds to this process's environment (``None`` removes a variable). Its stderr goes to a
    temporary file, quoted if it dies before listening."""
    environ = {**os.environ, **(env or {})}
    log = (cwd or Path("/tmp")) / f"bench-{name.replace(' ', '_')}-{uuid.uuid4().hex[:8]}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            list(cmd),
            env={k: v for k, v in environ.items() if v is not None},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_until_listening(port, process, name, timeout_s, log=log)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    finally:
        log.unlink(missing_ok=True)  # the child keeps its descriptor; the name goes
    return Service(name, f"http://127.0.0.1:{port}", process)


def wait_until_listening(
    port: int, process: subprocess.Popen[bytes], name: str, timeout_s: float = 20, *, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if log is not None:
                err = log.read_text(errors="replace")[-4000:]
            else:
                err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{name} exited with {process.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not start listening on port {port}")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


async def closed_loop(requests: int, concurrency: int, call: Callable[[], Awaitable[object]]) -> float:
    """Run ``call`` ``requests`` times from ``concurrency`` workers, each starting its next call
    when its last one ends; returns the seconds taken."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


def new_session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the benchmark's module docstring, as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def round_options(
    parser: argparse.ArgumentParser, *, rounds: int, requests: int, throughput_requests: int
) -> None:
    """The options of the benchmarks that run interleaved latency and throughput rounds."""
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds")
    parser.add_argument("--requests", type=int, default=requests, help="requests per round at concurrency 1")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="callers in the throughput rounds (20 ms upstream)"
    )
    parser.add_argument("--throughput-requests", type=int, default=throughput_requests)


def json_flag(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` option every benchmark has."""
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON object (to compare runs)"
    )


def emit(result: Mapping[str, Any], *, as_json: bool, report: Callable[[Mapping[str, Any]], None]) -> None:
    """Print ``result`` as one JSON object (``--json``) or as the benchmark's table."""
    if as_json:
        print(json.dumps(result, sort_keys=True, default=str))
    else:
        report(result)


@dataclass
class ControlPlane:
    """A ``modelpilot control`` process on its own database, with one deployment key."""

    service: Service
    api_key: str


def _admin(database_url: str, *args: str, stdin: str = "") -> str:
    """``modelpilot admin --database-url URL ARGS`` in this process (one import, not one per step);
    returns what it printed on stdout."""
    from click.testing import CliRunner

    from modelpilot.control.cli import admin_group

    done = CliRunner().invoke(admin_group, ["--database-url", database_url, *args], input=stdin)
    if done.exit_code != 0:
        raise RuntimeError(f"modelpilot admin {' '.join(args)} failed: {done.output}") from done.exception
    return done.stdout.strip()


@contextmanager
def control_plane(
    database_url: str,
    workdir: Path,
    *,
    profile_to: Path | None = None,
    env: dict[str, str] | None = None,
    routing_mode: str = "on",
) -> Iterator[ControlPlane]:
    """Provision an account, a deployment and a key with ``modelpilot admin``, then serve
    ``modelpilot control`` (one worker) on ``database_url`` (under pyinstrument with ``profile_to``;
    ``env`` adds settings such as ``MODELPILOT_ROUTE_TTL_S``).

    ``routing_mode="shadow"`` makes the proxy ask for and meter every decision but serve the
    requested model: the upstream work is then the same as a direct request's, so a comparison
    measures the proxy's own cost (with ``"on"``, a cheaper model's faster answer hides it)."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    _admin(
        database_url,
        "create-account",
        email,
        "--password-stdin",
        "--password-iterations",
        "200000",
        stdin="bench-password-0000\n",
    )
    deployment = _admin(database_url, "--no-migrate", "create-deployment", email, "bench").splitlines()[-1]
    key = _admin(database_url, "--no-migrate", "create-key", deployment, "bench").splitlines()[-1]
    if routing_mode != "on":
        _set_routing_mode(database_url, deployment, routing_mode)
    service = start_modelpilot(
        "control plane",
        [
            "control",
            "--database-url",
            database_url,
            "--no-migrate",
            "--secret-file",
            str(workdir / "session-secret"),
        ],
        profile_to=profile_to,
        env=env,
    )
    try:
        yield ControlPlane(service, key)
    finally:
        service.stop()


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (``/proc/net/tcp*``): one per worker of ``--workers``."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def wait_for_workers(service: Service, workers: int, timeout_s: float = 120) -> None:
    """Wait until all ``workers`` of a ``--workers`` proxy listen (the first answers before the last)."""
    port = int(service.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout_s
    while listening_sockets(port) < workers:
        if service.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{service.name}: {workers} workers did not all listen")
        time.sleep(0.05)


def workers_args(workers: int) -> list[str]:
    return ["--workers", str(workers)] if workers > 1 else []


def start_routed_proxy(upstream_url: str, plane: ControlPlane, workdir: Path, *, workers: int = 1) -> Service:
    """``modelpilot proxy`` with routing on: decisions from ``plane``, metering spooled in ``workdir``."""
    service = start_modelpilot(
        "modelpilot proxy" + (f" x{workers}" if workers > 1 else ""),
        [
            "proxy",
            "--upstream",
            upstream_url,
            "--control-plane",
            plane.service.url,
            "--spool",
            str(workdir / f"spool-{uuid.uuid4().hex[:8]}.sqlite3"),
            *workers_args(workers),
        ],
        env={"MODELPILOT_API_KEY": plane.api_key},
    )
    wait_for_workers(service, workers)
    service.stop_timeout_s = 60  # each worker drains its spool
    return service


@contextmanager
def proxy_under_test(
    upstream_url: str,
    workdir: Path,
    *,
    routing: bool,
    cold: bool = False,
    control_database: str | None = None,
    workers: Sequence[int] = (1,),
) -> Iterator[list[Service]]:
    """``modelpilot proxy`` toward ``upstream_url``; with ``routing``, behind a local control plane
    on ``control_database`` (default: SQLite in ``workdir``). ``cold`` makes the control plane
    answer with a zero TTL, so the proxy's decision cache never holds and every routed request
    asks the control plane. Routing runs in shadow mode (see :func:`control_plane`). One proxy
    per entry of ``workers`` (``--workers N``), all behind the same control plane."""
    with ExitStack() as stack:
        proxies = []
        plane = None
        if routing or cold:
            database = control_database or f"sqlite:///{workdir / 'control.sqlite3'}"
            env = {"MODELPILOT_ROUTE_TTL_S": "0"} if cold else None
            plane = stack.enter_context(control_plane(database, workdir, env=env, routing_mode="shadow"))
        for count in workers:
            if plane is not None:
                proxy = start_routed_proxy(upstream_url, plane, workdir, workers=count)
            else:
                proxy = start_modelpilot("proxy", ["proxy", "--upstream", upstream_url, *workers_args(count)])
                wait_for_workers(proxy, count)
            stack.callback(proxy.stop)
            proxies.append(proxy)
        yield proxies


def fresh_postgres(url: str) -> None:
    """Drop and create the database named in ``url`` (connecting to ``postgres`` to do it)."""
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        name = target.database
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def _set_routing_mode(database_url: str, deployment_id: str, mode: str) -> None:
    from sqlalchemy import update

    from modelpilot.control.store.engine import create_db_engine
    from modelpilot.control.store.tables import Deployment

    engine = create_db_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Deployment).where(Deployment.id == uuid.UUID(deployment_id)).values(routing_mode=mode)
            )
    finally:
        engine.dispose()
