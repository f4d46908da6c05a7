from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest

from tests.reliability import scenarios

_CLEARED_PREFIXES = ("MODELPILOT_", "ANTHROPIC_")
_CLEARED_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)
# Settings the test run itself needs (which database to use) survive the clean-up.
_KEPT = {"MODELPILOT_TEST_POSTGRES_URL", "MODELPILOT_REQUIRE_POSTGRES"}


class _CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's bytecode cache in memory, shared by every control-plane app a test process builds.

    Each app has its own Environment (``modelpilot.control.app.create_app``), which compiled
    every template it rendered anew, about 17 ms each: most of the cost of a test that builds an
    app and renders a few pages. Jinja keys a cached template by its name and its source's
    checksum, so an app still renders exactly what its templates say."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


@pytest.fixture(scope="session", autouse=True)
def compiled_templates() -> Iterator[None]:
    """Control-plane apps built in this process share compiled templates (``_CompiledTemplates``)."""
    try:
        from modelpilot.control import app
    except ImportError:  # without the control extra there is no control plane to build
        yield
        return
    cache = _CompiledTemplates()

    def environment(*args: Any, **kwargs: Any) -> jinja2.Environment:
        return jinja2.Environment(*args, **{"bytecode_cache": cache, **kwargs})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "Environment", environment)
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_route_state() -> Iterator[None]:
    """Control-plane apps built in this process share FastAPI's per-route request state.

    FastAPI (0.16x) analyses an included router's endpoints (signatures, parameter and response
    models) for each app that includes it, on the app's first request that walks that router:
    80-190 ms for an app's first request, 100-140 ms more for its first API request, most of the
    cost of a test that builds an app and sends it a few requests. The control plane's routers
    are built once per process (``create_app``'s ``_routers``), and the analysis depends only on
    the route and how it is included, so it is
    kept here and reused for an equal route and inclusion. Only the dependency-overrides
    provider (the app) differs from app to app: the state is shared only while an app has no
    ``dependency_overrides`` (no test sets any), so every request is served as it would be. The
    routes seen are the cached routers' (80 here, however many apps a process builds); the
    first app that needed each stays referenced by its state."""
    try:
        from fastapi import routing

        build = routing._EffectiveRouteContext.from_api_route
    except (ImportError, AttributeError):  # another FastAPI: every app analyses its own routes
        yield
        return
    built: dict[int, list[tuple[Any, Any, Any]]] = {}
    lock = threading.Lock()

    def from_api_route(*, original_route: Any, include_context: Any) -> Any:
        if getattr(include_context.dependency_overrides_provider, "dependency_overrides", None):
            return build(original_route=original_route, include_context=include_context)
        inclusion = dataclasses.replace(include_context, dependency_overrides_provider=None)
        with lock:
            for route, seen, context in built.get(id(original_route), ()):
                if route is original_route and seen == inclusion:
                    return context
        context = build(original_route=original_route, include_context=include_context)
        with lock:  # the entry holds the route, so its id is not reused while it is here
            built.setdefault(id(original_route), []).append((original_route, inclusion, context))
        return context

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routing._EffectiveRouteContext, "from_api_route", staticmethod(from_api_route))
        yield


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's Anthropic key, ModelPilot settings or HTTP proxies."""
    for name in list(os.environ):
        if (name.startswith(_CLEARED_PREFIXES) and name not in _KEPT) or name in _CLEARED_NAMES:
            monkeypatch.delenv(name, raising=False)


#: Tests whose node ids start with this run on one xdist worker, in file order (see below).
RELIABILITY = "tests/reliability/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup`` (``make test``) or ``--dist load`` (plain ``-n 2``): every test of
    tests/reliability goes to one worker as one unit, in file order, so the last one
    (test_zz_logs_hold_no_secrets) reads the log book of the whole reliability suite however the
    suite is invoked. Other tests are spread one by one, as before.

    The ``xdist_group("reliability")`` mark that tests/reliability/conftest.py sets is not
    enough: pytest-xdist 3.8 groups by an ``@group`` suffix it appends to ``item._nodeid``, and
    pytest 9.2 builds node ids from ``item._id`` instead, so the suffix is lost and every test
    was its own unit (spread over both workers, also in the full suite). This hook runs in the
    controller, which sees only node ids, so the group is chosen by path."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ReliabilityInOneWorker(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(RELIABILITY):
                return "reliability"
            return super()._split_scope(nodeid)

    return ReliabilityInOneWorker(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist)
        scenarios.forget()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The reliability suite's scenario table (sent, succeeded, lost, added latency), if it ran."""
    ran = scenarios.recorded()
    if ran:
        terminalreporter.section("reliability scenarios")
        for line in scenarios.render_table(ran):
            terminalreporter.write_line(line)
