"""`make test` works as the README says on a fresh machine: scripts/ensure-chromium installs the
browser the browser tests drive when it can, skips them loudly (naming the install command) when
it cannot, and never lets CI skip them. apt-get is played by a small script in tmp_path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "ensure-chromium"


def _run(tmp_path: Path, apt_get: str, **env: str) -> subprocess.CompletedProcess[str]:
    fake_apt = tmp_path / "apt-get"
    fake_apt.write_text(f"#!/bin/sh\n{apt_get}\n")
    fake_apt.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "MODELPILOT_REQUIRE_POSTGRES")}
    environ.update(CHROMIUM=str(tmp_path / "chromium"), APT_GET=str(fake_apt), **env)
    return subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=environ, timeout=30)


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.getuid() != 0:
        pytest.skip("the install path runs apt-get as root; this machine's tests run as root")


def test_an_existing_chromium_is_used(tmp_path: Path) -> None:
    (tmp_path / "chromium").write_text("")
    (tmp_path / "chromium").chmod(0o755)
    result = _run(tmp_path, "exit 99")
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stdout


def test_a_missing_chromium_is_installed_with_apt_get(tmp_path: Path) -> None:
    chromium = tmp_path / "chromium"
    result = _run(tmp_path, f'[ "$1" = install ] && printf "" > {chromium} && chmod +x {chromium}')
    assert result.returncode == 0, result.stderr
    assert "install -y chromium" in result.stdout
    assert chromium.exists()


def test_when_it_cannot_be_installed_the_browser_tests_are_skipped_loudly(tmp_path: Path) -> None:
    result = _run(tmp_path, "exit 100")
    assert result.returncode == 3
    assert "SKIPPING THE BROWSER TESTS" in result.stderr
    assert "sudo apt-get install -y chromium" in result.stderr


@pytest.mark.parametrize("ci", [{"CI": "true"}, {"MODELPILOT_REQUIRE_POSTGRES": "1"}])
def test_ci_never_skips_them(tmp_path: Path, ci: dict[str, str]) -> None:
    result = _run(tmp_path, "exit 100", **ci)
    assert result.returncode == 1
    assert "CI runs the browser tests" in result.stderr


def test_make_test_runs_the_script_and_honours_its_answer() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert "sh scripts/ensure-chromium" in recipe
    assert '-m "not browser"' in recipe and "SKIPPED" in recipe
