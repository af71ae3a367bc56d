"""The console script: --version, --help on every command, usage errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import DEVSECRETS, cli

from devsecrets import __version__
from devsecrets.cli import cli as group


def test_version(tmp_path: Path) -> None:
    result = cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"devsecrets, version {__version__}"


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devsecrets", "--version"], capture_output=True, check=False
    )
    assert result.returncode == 0 and __version__ in result.stdout.decode()


@pytest.mark.parametrize("command", sorted(group.commands))
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    result = cli(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = result.stdout.decode()
    assert text.startswith(f"Usage: devsecrets {command}")
    doc = group.commands[command].help or ""
    assert " ".join(doc.split("\n")[0].split()) in " ".join(text.split())


def test_run_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr.decode()


def test_unknown_command(tmp_path: Path) -> None:
    result = cli("rnu", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command 'rnu'" in result.stderr.decode()


def test_console_script_is_the_installed_one() -> None:
    assert Path(DEVSECRETS).exists()


def test_demo_runs_to_completion_without_keyring_or_op(tmp_path: Path) -> None:
    tmp_path = tmp_path / "fresh"
    tmp_path.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON_KEYRING_BACKEND": ""}
    result = subprocess.run(
        [DEVSECRETS, "demo"], cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "charging with <concealed by devsecrets>" in out
    assert "the child got 25 characters" in out
    assert "PAYMENTS_TOKEN: its value looks like a Stripe live secret key" in out
    assert "devsecrets: allowed " in out and "+ LIVE_PAYMENTS  keyring:payments-live" in out
    assert "PAYMENTS_TOKEN: it is 8 days old" in out  # stale: refused, then rotated
    assert "the child got 29 characters" in out
    assert "LIVE_PAYMENTS: its scope 'production' is production" in out
    assert "score card: 2 / none / none" in out  # the planted .env
    assert "its 2 values are in the keyring (read back and compared)" in out
    assert "score card: 0 / 2 / none" in out
    for value in ("sbx_demo_4f1c9a7e2b6d8035", "sbx_demo_rotated", "51DemoShop", "Xu8vR2mQ7sLp"):
        assert value not in out + result.stderr.decode()
    assert list(tmp_path.iterdir()) == []  # nothing written outside its own temp dir


@pytest.mark.parametrize(
    ("args", "session"),
    [
        (["doctor"], ""),
        (["status"], ""),
        (["audit"], ""),
        (["import"], ""),
        (["run", "--", "true"], ""),
        (["run", "--", "true"], "not-a-capability"),  # the warm path hands it to the CLI
    ],
)
def test_a_deleted_working_directory_is_named(
    args: list[str], session: str, tmp_path: Path
) -> None:
    (tmp_path / "gone").mkdir()
    result = subprocess.run(
        ["sh", "-c", 'cd gone && rmdir ../gone && exec "$@"', "sh", DEVSECRETS, *args],
        cwd=tmp_path,
        env=dict(os.environ, DEVSECRETS_SESSION=session) if session else None,
        capture_output=True,
        check=False,
    )
    text = (result.stdout + result.stderr).decode()
    assert "internal error" not in text and "Traceback" not in text, text
    assert "the current directory no longer exists" in text, text
    assert "fix: cd into the project again" in text
    assert result.returncode == (1 if args == ["doctor"] else 125)
