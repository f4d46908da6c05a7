"""``allowed_hosts`` (``MODELPILOT_ALLOWED_HOSTS``): with it set, the control plane answers only
for its own names, loopback names and its public URL's host; /healthz answers any Host; the
refused Host is never written into the answer. Unset, any Host is answered (the default)."""

from __future__ import annotations

from dataclasses import replace

import click
import pytest

from modelpilot.control.cli import _env_settings, _settings
from modelpilot.control.settings import ControlSettings, SettingsError
from modelpilot.ports import host_name

ATTACKER = "rebound-attacker.example"


@pytest.fixture
def guarded(settings: ControlSettings) -> ControlSettings:
    return replace(
        settings,
        allowed_hosts=("control.example.com", "*.internal.example"),
        public_url="https://console.example.org",
    )


@pytest.mark.parametrize(
    "host",
    [
        "control.example.com",
        "CONTROL.example.com:8700",
        "control.example.com.",
        "api.internal.example",
        "console.example.org",
        "localhost:8700",
        "127.0.0.1",
        "[::1]:8700",
    ],
)
async def test_the_allowed_names_are_answered(make_client, guarded, host):
    client = make_client(guarded)
    response = await client.get("/login", headers={"host": host})
    assert response.status_code == 200, response.text[:200]


@pytest.mark.parametrize(
    "host", [ATTACKER, "internal.example", "control.example.com.evil.example", "10.0.0.7:8700", ""]
)
async def test_any_other_host_is_refused_without_echoing_it(make_client, guarded, host):
    client = make_client(guarded)
    for method, path in (("GET", "/login"), ("POST", "/v1/route"), ("GET", "/api/account")):
        response = await client.request(method, path, headers={"host": host})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["title"] == "Unknown host" and body["status"] == 400
        if host:
            assert host.split(":")[0] not in response.text
        assert response.headers["x-frame-options"] == "DENY"  # the security headers still apply


async def test_the_health_check_answers_any_host(make_client, guarded):
    response = await make_client(guarded).get("/healthz", headers={"host": "10.0.0.7:8700"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_unset_or_a_star_answers_any_host(make_client, settings):
    for configured in (settings, replace(settings, allowed_hosts=("*",))):
        response = await make_client(configured).get("/login", headers={"host": ATTACKER})
        assert response.status_code == 200


def test_settings_refuse_what_is_not_a_host_name(settings):
    for bad in ("https://control.example.com", "control.example.com:8700", "control.example.com/x", "*x"):
        with pytest.raises(SettingsError, match="allowed_hosts"):
            replace(settings, allowed_hosts=(bad,))


def test_the_environment_variable_is_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("MODELPILOT_ALLOWED_HOSTS", " control.example.com, *.internal.example ,")
    assert _env_settings()["allowed_hosts"] == ("control.example.com", "*.internal.example")
    monkeypatch.delenv("MODELPILOT_ALLOWED_HOSTS")
    assert "allowed_hosts" not in _env_settings()


def test_host_name_drops_the_port_and_ipv6_brackets():
    assert host_name("Control.Example.com:8700") == "control.example.com"
    assert host_name("[::1]:8700") == "::1"
    assert host_name("[::1]") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("") == ""


def test_a_bad_name_in_the_environment_is_a_usage_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MODELPILOT_ALLOWED_HOSTS", "https://control.example.com")
    with pytest.raises(click.UsageError, match="MODELPILOT_ALLOWED_HOSTS"):
        _settings("sqlite://", secrets_env="x" * 40, secret_file="/nonexistent", iterations=600_000)
