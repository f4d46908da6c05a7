"""Two ``modelpilot control`` processes on one database: a revocation or suspension made through
one replica is enforced by the other on the very next request (no process-local state)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
from click.testing import CliRunner

from modelpilot.cli import main
from tests.control import payloads
from tests.control.conftest import SECRET, csrf_from

ITERATIONS = "200000"  # the lowest policy the CLI accepts
PASSWORD = "replica test password"


def admin(db_url: str, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(
        main,
        ["admin", "--database-url", db_url, "--no-migrate", *args],
        input=stdin,
        env={"MODELPILOT_PASSWORD_ITERATIONS": ITERATIONS},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@contextmanager
def replicas(db_url: str) -> Iterator[tuple[str, str]]:
    """Start two replicas at once (start-up is mostly imports); the first migrates the database,
    the second (``--no-migrate``) touches it only once requests arrive, after both are up."""
    env = {**os.environ, "MODELPILOT_SESSION_SECRETS": SECRET, "MODELPILOT_PASSWORD_ITERATIONS": ITERATIONS}
    command = [sys.executable, "-m", "modelpilot.cli", "control", "--port", "0", "--database-url", db_url]
    processes = [
        subprocess.Popen(command, stderr=subprocess.PIPE, env=env, text=True),
        subprocess.Popen([*command, "--no-migrate"], stderr=subprocess.PIPE, env=env, text=True),
    ]
    try:
        urls = []
        for process in processes:
            assert process.stderr is not None
            # Start-up may log first (the second replica's first status probe can run before
            # the first replica has migrated the database, and reports it down).
            seen, match = [], None
            for line in iter(process.stderr.readline, ""):
                seen.append(line)
                if match := re.search(r"listening on (http://\S+)", line):
                    break
            assert match, f"unexpected start-up output: {''.join(seen)!r}"
            urls.append(match.group(1))
        yield urls[0], urls[1]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                assert process.wait(timeout=15) == 0, "replica did not shut down cleanly on SIGTERM"
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                process.stderr.close()  # type: ignore[union-attr]


def log_in(base_url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url)
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303, response.text
    return client


def route(base_url: str, secret: str) -> int:
    response = httpx.post(
        f"{base_url}/v1/route", json=payloads.route_request(), headers={"x-modelpilot-key": secret}
    )
    return response.status_code


def test_revocation_and_suspension_reach_every_replica(db_url):
    with replicas(db_url) as (a, b):
        admin(
            db_url, "create-account", "root@example.com", "--admin", "--password-stdin", stdin=PASSWORD + "\n"
        )
        customer_id = admin(
            db_url, "create-account", "customer@example.com", "--password-stdin", stdin=PASSWORD + "\n"
        )
        deployment = admin(db_url, "create-deployment", "customer@example.com", "prod")
        first, second = (
            admin(db_url, "create-key", deployment, "one"),
            admin(db_url, "create-key", deployment, "two"),
        )
        assert (route(a, first), route(b, first), route(b, second)) == (200, 200, 200)

        customer_on_a = log_in(a, "customer@example.com")
        csrf = customer_on_a.get("/api/session").json()["csrf_token"]
        keys = customer_on_a.get(f"/api/deployments/{deployment}/keys").json()
        first_id = next(k["id"] for k in keys if k["name"] == "one")
        started = time.monotonic()
        revoked = customer_on_a.delete(
            f"/api/deployments/{deployment}/keys/{first_id}", headers={"x-csrf-token": csrf}
        )
        assert revoked.status_code == 204
        assert route(b, first) == 401  # the very next request, on the other replica
        assert route(b, second) == 200

        root_on_b = log_in(b, "root@example.com")
        root_csrf = root_on_b.get("/api/session").json()["csrf_token"]
        suspended = root_on_b.post(
            f"/api/admin/accounts/{customer_id}/suspend", headers={"x-csrf-token": root_csrf}
        )
        assert suspended.status_code == 200
        assert route(a, second) == 403
        assert customer_on_a.get("/api/session").status_code == 401
        assert time.monotonic() - started < 5  # no cache expiry was waited for

        admin(db_url, "reinstate", "customer@example.com")
        assert (route(a, second), route(b, second)) == (200, 200)
        customer_on_a.close()
        root_on_b.close()
