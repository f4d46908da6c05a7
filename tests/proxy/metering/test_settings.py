"""Metering settings and CLI options: the control plane must be https (or loopback), the key
comes from the environment, and a spool is required."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from modelpilot.proxy.cli import default_spool_path, proxy_command
from modelpilot.proxy.settings import ProxySettings

CLI_KEY = "mp_live_" + "a" * 43


def metering(url: str, **overrides: object) -> ProxySettings:
    values: dict[str, object] = {
        "control_plane_url": url,
        "control_plane_api_key": "mp_k",
        "spool_path": "/tmp/s",
    }
    values.update(overrides)
    return ProxySettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://control.example",
        "https://control.example/base/",
        "http://127.0.0.1:8000",
        "http://[::1]:80",
        "http://localhost",
    ],
)
def test_https_or_loopback_control_planes_are_accepted(url):
    assert metering(url).control_plane_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://control.example",
        "http://10.0.0.5:8000",
        "ftp://127.0.0.1",
        "https://user:pw@control.example",
        "https://control.example/?k=v",
        "control.example",
    ],
)
def test_other_control_plane_urls_are_refused(url):
    with pytest.raises(ValueError, match="control_plane_url"):
        metering(url)


def test_a_control_plane_needs_its_key_and_a_spool():
    with pytest.raises(ValueError, match="go together"):
        metering("https://c.example", control_plane_api_key=None)
    with pytest.raises(ValueError, match="spool_path"):
        metering("https://c.example", spool_path=None)


def test_the_key_is_not_in_the_repr():
    assert "mp_secret_key" not in repr(metering("https://c.example", control_plane_api_key="mp_secret_key"))


def test_help_lists_the_metering_options():
    result = CliRunner().invoke(proxy_command, ["--help"])
    for option in ("--control-plane", "--spool", "--flush-interval", "--metadata-logs", "MODELPILOT_API_KEY"):
        assert option in result.output
    assert "--api-key" not in result.output  # the deployment key never goes on the command line


def test_the_cli_refuses_a_plain_http_control_plane_off_loopback(monkeypatch):
    monkeypatch.setenv("MODELPILOT_API_KEY", CLI_KEY)
    result = CliRunner().invoke(proxy_command, ["--control-plane", "http://control.example"])
    assert result.exit_code == 2 and "https" in result.output


def test_the_cli_needs_the_deployment_key_in_the_environment():
    result = CliRunner().invoke(proxy_command, ["--control-plane", "https://control.example"])
    assert result.exit_code == 2 and "MODELPILOT_API_KEY" in result.output


def test_the_default_spool_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = default_spool_path(CLI_KEY)
    assert path.parent == tmp_path / "modelpilot" and path.name.startswith("spool-")
    assert CLI_KEY not in str(path)
    # One file per deployment key: two proxies with different keys never share a default spool.
    assert default_spool_path("mp_live_" + "b" * 43) != path


def test_metadata_logs_need_a_control_plane():
    with pytest.raises(ValueError, match="metadata_logs"):
        ProxySettings(metadata_logs=True)
    assert metering("https://c.example", metadata_logs=True).metadata_logs


def test_an_unusable_spool_path_is_a_clean_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELPILOT_API_KEY", CLI_KEY)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(
        proxy_command, ["--control-plane", "http://127.0.0.1:9", "--spool", str(blocker / "spool.sqlite3")]
    )
    assert result.exit_code == 1 and "cannot open the meter spool" in result.output


ANTHROPIC_LOOKING = ["sk-ant-api03-" + "x" * 80, "sk-ant-admin01-abc", "sk-" + "Q" * 48]


@pytest.mark.parametrize("key", ANTHROPIC_LOOKING)
def test_an_anthropic_key_is_never_taken_for_the_deployment_key(key):
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY") as refused:
        metering("https://c.example", control_plane_api_key=key)
    assert key not in str(refused.value)


@pytest.mark.parametrize("key", [*ANTHROPIC_LOOKING, "my-key", "mp_live_short"])
def test_the_cli_refuses_a_control_plane_key_that_is_not_a_modelpilot_key(monkeypatch, tmp_path, key):
    monkeypatch.setenv("MODELPILOT_API_KEY", key)
    result = CliRunner().invoke(
        proxy_command, ["--control-plane", "http://127.0.0.1:9", "--spool", str(tmp_path / "s.sqlite3")]
    )
    assert result.exit_code == 2
    [message] = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert "MODELPILOT_API_KEY" in message and "mp_live_" in message
    assert key not in result.output
