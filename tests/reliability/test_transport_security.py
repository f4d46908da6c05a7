"""Issue 9, item 5 (transport): the deployment key travels only over TLS with a verified
certificate, or over loopback. The proxy refuses a plain-HTTP control plane anywhere else at
start-up, verifies the control plane's certificate against the trust store (test CA from
``trustme``) and its host name, and fails open (never sends the request's routing question
elsewhere) when verification fails.

What exists: the CLI refusing a plain-HTTP control plane off loopback and the accepted/refused URL
shapes (tests/proxy/metering/test_settings.py), an untrusted CA failing open
(tests/proxy/routing/test_fail_open.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic
import pytest
import trustme

from modelpilot.proxy.settings import check_control_plane_url
from modelpilot.sim import SimSettings
from modelpilot.sim import create_app as create_sim
from tests.proxy.routing.conftest import PLAIN, StandInControlPlane, plain_body
from tests.reliability import canaries, processes
from tests.servers import serve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.evil.example:8700",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.example",
        "http://0.0.0.0:8700",
        "http://10.1.2.3",
        "http://[::ffff:10.0.0.1]",
        "http://[fe80::1]",
    ],
)
def test_plain_http_off_loopback_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        check_control_plane_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8700",
        "http://127.8.9.10",
        "http://[::1]:8700",
        "http://localhost",
        "https://10.1.2.3",
    ],
)
def test_loopback_or_https_is_accepted(url: str) -> None:
    check_control_plane_url(url)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve(create_sim(SimSettings(cheap_failure_rate=0.0)), **PLAIN) as url:
        yield url


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A test CA and its certificate file (the proxy's trust store in these tests)."""
    authority = trustme.CA()
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(pem))
    return authority, pem


@contextmanager
def tls_control_plane(
    ca: trustme.CA, directory: Path, *names: str
) -> Iterator[tuple[StandInControlPlane, str]]:
    cert = ca.issue_cert(*names)
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    app = StandInControlPlane()
    with serve(
        app, ssl_keyfile=str(directory / "key.pem"), ssl_certfile=str(directory / "cert.pem"), **PLAIN
    ) as url:
        yield app, url.replace("http://", "https://")


def routed_header(sim_url: str, control_url: str, tmp_path: Path, ca_file: Path) -> str:
    """Start ``modelpilot proxy`` trusting ``ca_file``, send one request: x-modelpilot-routed."""
    port = processes.free_port()
    child = processes.Child(
        "proxy",
        port,
        [
            "proxy",
            "--port",
            str(port),
            "--upstream",
            sim_url,
            "--control-plane",
            control_url,
            "--spool",
            str(tmp_path / "spool.sqlite3"),
            "--routing-budget-ms",
            "2000",
            # A paired check serves its request as asked (unrouted): 2 % of a one-request run would
            # read "false" here. These tests are about TLS, so checks are off.
            "--calibration-rate",
            "0",
        ],  # fmt: skip
        {"MODELPILOT_API_KEY": "mp_live_" + "T" * 43, "SSL_CERT_FILE": str(ca_file)},
    )
    try:
        with anthropic.Anthropic(base_url=child.url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk:
            raw = sdk.messages.with_raw_response.create(**plain_body(1))
        assert raw.status_code == 200
        return raw.headers.get("x-modelpilot-fail-open") or raw.headers["x-modelpilot-routed"]
    finally:
        child.stop_quietly()


def test_a_certificate_from_a_trusted_ca_for_the_right_host_is_used(sim_url, ca, tmp_path) -> None:
    authority, ca_file = ca
    with tls_control_plane(authority, tmp_path, "127.0.0.1", "localhost") as (app, url):
        assert routed_header(sim_url, url, tmp_path, ca_file) == "true"
        assert app.route_calls >= 1


def test_a_certificate_for_another_host_fails_open(sim_url, ca, tmp_path) -> None:
    authority, ca_file = ca
    with tls_control_plane(authority, tmp_path, "control.example") as (app, url):
        assert routed_header(sim_url, url, tmp_path, ca_file) == "tls"
        assert app.route_calls == 0  # the question never reached it


def test_a_certificate_from_an_untrusted_ca_fails_open(sim_url, ca, tmp_path) -> None:
    _, ca_file = ca
    with tls_control_plane(trustme.CA(), tmp_path, "127.0.0.1") as (app, url):
        assert routed_header(sim_url, url, tmp_path, ca_file) == "tls"
        assert app.route_calls == 0
