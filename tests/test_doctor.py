"""`devsecrets doctor`: one line per thing that can explain a failure; exit 1 when a check
that matters here failed; never a value."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import keyring.core
import pytest
from conftest import Sandbox
from fakes.opstate import make_state, write_state
from helpers import main_in_process, trusted_project, write_project

from devsecrets import hooks

InProcess = Callable[..., tuple[int, str, str]]
CONFIG = """\
project: shop
secrets:
  STRIPE_KEY: op://Staging/stripe/credential
  DATABASE_URL: keyring:database-url
"""
KEYRING_ONLY = "project: shop\nsecrets:\n  DATABASE_URL: keyring:database-url\n"


@pytest.fixture
def inproc(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    return functools.partial(main_in_process, monkeypatch, capsys)


def test_a_healthy_project(inproc: InProcess, tmp_path: Path) -> None:
    project = trusted_project(tmp_path, CONFIG)
    code, out, _ = inproc("doctor", cwd=project)
    assert code == 0, out
    assert "✓ provider onepassword: op " in out and "signed in" in out
    assert "✓ provider keyring: keyring backend fakes.filekeyring.FileKeyring" in out
    assert "✓ project: shop (" in out and "1 from keyring, 1 from onepassword" in out
    assert "✓ trust: allowed until " in out
    assert "· session agent: not running (started on entering a project)" in out
    assert "· shell hook: not installed in any rc file\n    fix: devsecrets hook --install" in out
    assert "· hook in this shell: cannot be seen from here" in out
    assert "· team policy: none at " in out
    for directory in ("config dir", "data dir", "state dir", "runtime dir"):
        assert f"· {directory}: " in out


def test_signed_out_fails_only_where_1password_is_needed(
    inproc: InProcess, tmp_path: Path, sandbox: Sandbox
) -> None:
    write_state(sandbox.op_state, make_state(mode="signed_out"))
    needs_op = trusted_project(tmp_path, CONFIG, "a")
    code, out, _ = inproc("doctor", cwd=needs_op)
    assert code == 1
    assert "✗ provider onepassword: the 1Password CLI is not signed in" in out
    assert "fix: sign in to 1Password" in out
    keyring_only = trusted_project(tmp_path, KEYRING_ONLY, "b")
    code, out, _ = inproc("doctor", cwd=keyring_only)
    assert code == 0
    assert "· provider onepassword: the 1Password CLI is not signed in — not needed" in out


def test_no_accounts_is_told_apart_from_signed_out(
    inproc: InProcess, tmp_path: Path, sandbox: Sandbox
) -> None:
    write_state(sandbox.op_state, make_state(mode="no_accounts"))
    code, out, _ = inproc("doctor", cwd=trusted_project(tmp_path, CONFIG))
    assert code == 1
    assert "✗ provider onepassword: the 1Password CLI has no account configured" in out
    assert "op said: No accounts configured for use with 1Password CLI." in out
    assert "op account add" in out and "op signin" not in out
    assert "op said: error initializing client:\n" not in out


def test_untrusted_and_broken_configs(inproc: InProcess, tmp_path: Path) -> None:
    code, out, _ = inproc("doctor", cwd=write_project(tmp_path, KEYRING_ONLY, "new"))
    assert code == 1
    assert "✗ trust: not allowed — review it, then run `devsecrets allow`" in out
    code, out, _ = inproc("doctor", cwd=write_project(tmp_path, "secrets: [\n", "broken"))
    assert code == 1 and "✗ project config: " in out and "YAML syntax error" in out


def test_hook_lines_and_team_policy(
    inproc: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks.install("bash")
    policy = tmp_path / "team.yml"
    policy.write_text("max_age: 3d\n")
    monkeypatch.setenv("DEVSECRETS_POLICY", str(policy))
    code, out, _ = inproc("doctor", cwd=trusted_project(tmp_path, KEYRING_ONLY))
    assert code == 0, out
    assert f"✓ bash hook: installed in {Path.home() / '.bashrc'}" in out
    assert f"✓ team policy: {policy} (named by DEVSECRETS_POLICY)" in out
    policy.write_text("max_age: 30d\n")
    code, out, _ = inproc("doctor", cwd=tmp_path)
    assert code == 1 and "✗ team policy: " in out and "looser than max_age" in out


def test_json(inproc: InProcess, tmp_path: Path) -> None:
    code, out, _ = inproc("doctor", "--json", cwd=trusted_project(tmp_path, KEYRING_ONLY))
    lines = json.loads(out)
    assert code == 0
    topics = {line["topic"]: line["status"] for line in lines}
    assert topics["trust"] == "ok" and topics["session agent"] == "info"


def test_a_keyring_backend_that_does_not_load(
    inproc: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named by the user, it fails even outside a project (it is their setting, broken)."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "nonexistent.Backend")
    code, out, err = inproc("doctor", cwd=tmp_path)
    assert code == 1, out + err
    assert "✗ provider keyring: PYTHON_KEYRING_BACKEND=nonexistent.Backend names a keyring " in out
    assert "fix: unset PYTHON_KEYRING_BACKEND" in out


def test_a_locked_keyring_fails_where_it_is_needed(
    inproc: InProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox
) -> None:
    monkeypatch.setenv("FAKE_KEYRING_LOCKED", "1")
    code, out, _ = inproc("doctor", cwd=trusted_project(tmp_path, KEYRING_ONLY))
    assert code == 1, out
    assert "✗ provider keyring: the keyring is locked\n    fix: unlock it" in out
    assert not sandbox.keyring_file.exists()  # doctor never writes
