"""Against a real Secret Service: Debian's gnome-keyring-daemon on a private session bus.

Skipped when gnome-keyring or dbus is not installed, unless DEVSECRETS_TEST_STRICT=1 (set by
.ci/run), where a missing daemon is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DEVSECRETS, record_rotation, trusted_project

pytestmark = pytest.mark.secretservice
CANARY = "sscanary-8d2b4f6e0a1c"
TOOLS = ("dbus-daemon", "gnome-keyring-daemon", "dbus-send")


def _require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"missing {', '.join(missing)}: apt install dbus gnome-keyring"
        if os.environ.get("DEVSECRETS_TEST_STRICT"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    _require_tools()
    root = tmp_path_factory.mktemp("secret-service")
    (root / "home").mkdir()
    (root / "run").mkdir(mode=0o700)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / "home"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
    }
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert bus.stdout is not None
    env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().decode().strip()
    daemon = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert daemon.stdin is not None
    daemon.stdin.write(b"throwaway-test-password")
    daemon.stdin.close()
    try:
        _wait_for_name(env)
        yield env
    finally:
        for process in (daemon, bus):
            process.terminate()
            process.wait(timeout=10)


def _wait_for_name(env: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(
            [
                "dbus-send",
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ],
            capture_output=True,
            env=env,
            check=False,
        )
        if b"boolean true" in probe.stdout:
            return
        time.sleep(0.05)
    raise AssertionError("gnome-keyring-daemon did not take org.freedesktop.secrets")


def _env(secret_service: dict[str, str], project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_KEYRING_BACKEND", "PYTHONPATH")}
    env.update(secret_service, PWD=str(project))
    return env


def test_set_then_run_with_the_real_keyring(secret_service: dict[str, str], tmp_path: Path) -> None:
    text = "project: shop\nsecrets:\n  DB: keyring:database-url\n"
    project = trusted_project(tmp_path, text, env=_env(secret_service, tmp_path / "proj"))
    env = _env(secret_service, project)
    stored = subprocess.run(
        [DEVSECRETS, "set", "DB"],
        input=CANARY.encode(),
        cwd=project,
        env=env,
        capture_output=True,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    assert b"stored DB in the keyring" in stored.stderr
    masked = subprocess.run(
        [DEVSECRETS, "run", "--", "sh", "-c", 'echo "db=$DB"'],
        cwd=project,
        env=env,
        capture_output=True,
        check=False,
    )
    assert masked.returncode == 0, masked.stderr
    assert masked.stdout == b"db=<concealed by devsecrets>\n"
    plain = subprocess.run(
        [DEVSECRETS, "run", "--no-mask", "--", "sh", "-c", 'echo "db=$DB"'],
        cwd=project,
        env=env,
        capture_output=True,
        check=False,
    )
    assert plain.stdout == f"db={CANARY}\n".encode()


def test_missing_entry_in_the_real_keyring(secret_service: dict[str, str], tmp_path: Path) -> None:
    text = "project: empty\nsecrets:\n  DB: keyring:nothing-here\n"
    project = trusted_project(tmp_path, text, env=_env(secret_service, tmp_path / "proj"))
    record_rotation("empty", "DB", "keyring:nothing-here")  # stored once, deleted since
    result = subprocess.run(
        [DEVSECRETS, "run", "--", "true"],
        cwd=project,
        env=_env(secret_service, project),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 125
    assert "no entry 'nothing-here' in service 'devsecrets/empty'" in result.stderr.decode()
    assert "fix: store it: `devsecrets set DB`" in result.stderr.decode()


def test_headless_without_a_secret_service_says_what_to_install(tmp_path: Path) -> None:
    project = trusted_project(tmp_path, "secrets:\n  DB: keyring\n")
    record_rotation("proj", "DB", "keyring")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_KEYRING_BACKEND", "PYTHONPATH")}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["PWD"] = str(project)
    for argv in (["run", "--", "true"], ["set", "DB"]):
        result = subprocess.run(
            [DEVSECRETS, *argv], cwd=project, env=env, capture_output=True, check=False
        )
        err = result.stderr.decode()
        assert result.returncode == 125
        assert "no keyring that can store secrets safely" in err
        assert "apt install gnome-keyring" in err
