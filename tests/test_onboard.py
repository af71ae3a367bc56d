"""`devsecrets onboard` and examples/web-app/onboard.sh: end to end in a fresh HOME, typed
into a real `bash -i` on a pty; and `--check` as CI runs it (no terminal, nothing changed).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pexpect
import pytest
from conftest import Sandbox
from fakes.opstate import FRESH_TIMESTAMP, item, make_state, vault, write_state
from helpers import BASH_PROMPT as PROMPT
from helpers import DEVSECRETS, EXAMPLE, cli, files_containing, shell_env, trusted_project

CANARY_DB = "onbcanary-db-5e1a9c"
CANARY_SESSION = "onbcanary-session-73d0b2"
CANARY_STRIPE = "sk_test_onbcanary0stripe0000000"


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> Path:
    """A copy of examples/web-app, and a 1Password holding its sandbox Stripe key."""
    copy = tmp_path / "web-app"
    shutil.copytree(EXAMPLE, copy)
    stripe = item("stripe-sandbox", {"credential": CANARY_STRIPE}, updated_at=FRESH_TIMESTAMP)
    write_state(sandbox.op_state, make_state([vault("Staging", items=[stripe])]))
    return copy


def spawn_bash(cwd: Path, env: dict[str, str], log: io.StringIO) -> pexpect.spawn:
    child = pexpect.spawn(
        "bash", ["-i"], cwd=str(cwd), env=env, encoding="utf-8", timeout=30, dimensions=(40, 250)
    )
    child.delaybeforesend = None
    child.ptyproc.delayafterclose = 0
    child.logfile_read = log
    child.expect_exact("DSPROMPT[1]> ")
    return child


def type_secret(child: pexpect.spawn, name: str, value: str) -> None:
    child.expect_exact(f"{name} (input hidden): ")
    child.sendline(value)
    child.expect_exact(f"{name} again: ")
    child.sendline(value)


def test_onboard_sh_in_a_real_shell(project: Path, sandbox: Sandbox) -> None:
    bashrc = sandbox.home / ".bashrc"
    bashrc.write_text(PROMPT)
    env = shell_env(sandbox.bin)
    log = io.StringIO()
    child = spawn_bash(project, env, log)
    child.sendline("./onboard.sh")
    child.expect_exact("Add the devsecrets hook to")
    child.sendline("y")
    child.expect_exact("STRIPE_API_KEY  op://Staging/stripe-sandbox/credential")
    child.expect_exact("Allow this config")
    child.sendline("y")
    type_secret(child, "DATABASE_URL", CANARY_DB)
    type_secret(child, "SESSION_SECRET", CANARY_SESSION)
    child.expect_exact("All set.")
    child.expect_exact("DSPROMPT[2]> ")
    child.sendline('./onboard.sh --check; echo "rc=$?"')
    child.expect_exact("rc=0")
    child.expect_exact("DSPROMPT[3]> ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    text = log.getvalue()
    assert "✓ secrets: 3 of 3 ready for `devsecrets run`" in text
    assert "✓ audit: score 0 / none / none" in text
    # What onboarding left: the hook line, the team policy, the trust record, the values
    # in the keyring — and no value in any file, nor on the terminal.
    assert "# devsecrets shell hook" in bashrc.read_text()
    installed = sandbox.home / ".config" / "devsecrets" / "policy.yml"
    assert installed.read_bytes() == (project / "team-policy.yml").read_bytes()
    keyring_file = sandbox.keyring_file.read_text()
    assert CANARY_DB in keyring_file and CANARY_SESSION in keyring_file
    for canary in (CANARY_DB, CANARY_SESSION, CANARY_STRIPE):
        assert canary not in text
        assert files_containing(sandbox.root, canary.encode(), skip=(sandbox.backends,)) == []
    # A new shell loads the hook from ~/.bashrc, enters the project and has it fetched.
    log = io.StringIO()
    child = spawn_bash(project, env, log)
    assert "devsecrets: web-app (staging) — fetching 3 secrets…" in log.getvalue()
    child.sendline("env | grep -c onbcanary")
    child.expect_exact("DSPROMPT[2]> ")
    assert child.before.strip().endswith("0")
    prompt = 2
    while "devsecrets: web-app — 3 secrets ready for" not in log.getvalue():  # a later prompt
        assert prompt < 100, log.getvalue()
        prompt += 1
        child.sendline("sleep 0.1")
        child.expect_exact(f"DSPROMPT[{prompt}]> ")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def tree(root: Path, skip: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes() if path.is_file() else b""
        for path in sorted(root.rglob("*"))
        if not path.is_relative_to(skip)
    }


def test_check_in_ci_changes_nothing_and_fails(project: Path, sandbox: Sandbox) -> None:
    before = tree(sandbox.root, sandbox.backends)
    result = cli("onboard", "--check", "--team-policy", "team-policy.yml", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "✓ 1Password CLI: op " in out and "signed in" in out
    assert "is not installed from team-policy.yml" in out
    assert "✗ project config: not allowed" in out
    assert "2 steps need attention" in out
    assert tree(sandbox.root, sandbox.backends) == before


def test_yes_without_a_terminal_then_set_then_check(project: Path, sandbox: Sandbox) -> None:
    result = cli("onboard", "--yes", "--team-policy", "team-policy.yml", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "✓ shell hook: added to " in out and "✓ team policy: installed " in out
    assert "✓ project config: allowed" in out
    assert "✗ secret DATABASE_URL: not in this machine's keyring (no terminal" in out
    assert "fix: devsecrets set DATABASE_URL" in out
    # Each secret it could not ask for is one step, with one fix: set, never rotate.
    assert out.count("✗ secret DATABASE_URL:") == 1 and out.count("✗ secret SESSION_SECRET:") == 1
    assert "devsecrets rotate" not in out
    assert "2 steps need attention" in out
    for name, value in (("DATABASE_URL", CANARY_DB), ("SESSION_SECRET", CANARY_SESSION)):
        assert cli("set", name, cwd=project, input=value.encode()).returncode == 0
    result = cli("onboard", "--check", "--team-policy", "team-policy.yml", cwd=project)
    assert result.returncode == 0, result.stdout.decode()
    assert "All set." in result.stdout.decode()


def test_check_names_the_item_1password_does_not_have(tmp_path: Path, sandbox: Sandbox) -> None:
    stripe = item("stripe-sandbox", {"credential": CANARY_STRIPE}, updated_at=FRESH_TIMESTAMP)
    write_state(sandbox.op_state, make_state([vault("Staging", items=[stripe])]))
    config = (
        "project: shop\nsecrets:\n  STRIPE: op://Staging/stripe-sandbox/credential\n"
        "  GONE: op://Staging/gone/credential\n"
    )
    directory = trusted_project(tmp_path, config)
    result = cli("onboard", "--check", cwd=directory)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert (
        "✗ secret GONE: unknown age — refused: its age is unknown: 1Password has no item "
        "'gone' in vault 'Staging'" in out
    )
    assert "secret STRIPE" not in out and "did not say" not in out


def test_a_provider_that_is_down_is_one_step_not_one_per_secret(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """1Password signed out and no keyring: one ✗ each with its fix; their secrets get a
    note, not a ✗ of their own with a `rotate`/`set` fix that cannot work yet."""
    write_state(sandbox.op_state, make_state([vault("Staging")], mode="signed_out"))
    config = (
        "project: shop\nsecrets:\n  STRIPE: op://Staging/stripe/credential\n"
        "  PAYPAL: op://Staging/paypal/credential\n  DB: keyring:db\n"
    )
    directory = trusted_project(tmp_path, config)
    no_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = cli("onboard", "--check", cwd=directory, env=no_keyring)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert [line[2:].split(":")[0] for line in out.splitlines() if line.startswith("✗")] == [
        "1Password CLI",
        "keyring",
    ]
    assert "fix: sign in to 1Password" in out
    assert "· secrets STRIPE, PAYPAL: not checked: 1Password is unavailable (its ✗ above)" in out
    assert "· secret DB: not checked: the keyring is unavailable (its ✗ above)" in out
    assert "devsecrets rotate" not in out and "devsecrets set" not in out
    assert "· provider:" not in out and "2 steps need attention" in out


def test_a_team_policy_others_can_write_is_refused(project: Path) -> None:
    policy = project / "team-policy.yml"
    policy.chmod(0o666)
    result = cli("onboard", "--check", "--team-policy", str(policy), cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "✗ team policy: " in out and "is writable by every user" in out
    assert "fix: chmod o-w" in out


def test_outside_a_project(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [DEVSECRETS, "onboard", "--check"],
        cwd=empty,
        env=dict(os.environ, PWD=str(empty), SHELL="/bin/bash"),
        capture_output=True,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "devsecrets onboard — no project here" in out
    assert "· 1Password CLI: not needed by this project" in out


def test_onboard_sh_installs_devsecrets_when_missing(project: Path, sandbox: Sandbox) -> None:
    """With no devsecrets on PATH the script installs it (here a stand-in pipx, which puts
    the real console script into ~/.local/bin as pipx does), then runs onboarding."""
    fake_bin = sandbox.root / "pipx-bin"
    fake_bin.mkdir()
    pipx = fake_bin / "pipx"
    pipx.write_text(
        "#!/bin/sh\n"
        'echo "pipx $*" >> "$HOME/pipx.log"\n'
        'mkdir -p "$HOME/.local/bin"\n'
        f'ln -sf "{DEVSECRETS}" "$HOME/.local/bin/devsecrets"\n'
    )
    pipx.chmod(0o755)
    env = shell_env(sandbox.bin)
    env["PATH"] = f"{fake_bin}:{sandbox.bin}:/usr/bin:/bin"
    result = subprocess.run(
        [str(project / "onboard.sh"), "--check"],
        cwd=project,
        env=env,
        capture_output=True,
        check=False,
    )
    assert (sandbox.home / "pipx.log").read_text() == "pipx install devsecrets\n"
    assert "devsecrets is not installed; installing devsecrets" in result.stderr.decode()
    assert "devsecrets onboard — web-app" in result.stdout.decode()
    assert result.returncode == 1  # --check on a fresh machine: steps are missing


def test_a_value_stored_outside_devsecrets_is_set_not_rotated(project: Path) -> None:
    """In the keyring but never stored by devsecrets (no ledger record): its age is unknown,
    and the fix is `set` — there is no rotation of it to repeat."""
    import keyring

    from devsecrets.trust import allow_at

    allow_at(str(project))
    keyring.set_password("devsecrets/web-app", "database-url", CANARY_DB)
    keyring.set_password("devsecrets/web-app", "SESSION_SECRET", CANARY_SESSION)
    result = cli("onboard", "--check", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "✗ secret DATABASE_URL: unknown age — refused" in out
    assert "fix: devsecrets set DATABASE_URL" in out
    assert "devsecrets rotate" not in out


def test_an_unreadable_config(project: Path) -> None:
    (project / ".devsecrets.yml").write_text("version: [\n")
    result = cli("onboard", "--check", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "✗ project config: " in out and "YAML syntax error" in out
    assert "· audit: score 0 / none / none; the project config is unreadable" in out
    assert "1 step needs attention" in out


def test_the_team_policy_fix_pastes_as_one_argument(project: Path) -> None:
    import shlex

    (project / "team dir").mkdir()
    shutil.copy(project / "team-policy.yml", project / "team dir" / "policy.yml")
    result = cli("onboard", "--check", "--team-policy", "team dir/policy.yml", cwd=project)
    out = result.stdout.decode()
    command = out.split("is not installed from team dir/policy.yml\n    fix: ")[1].splitlines()[0]
    assert shlex.split(command) == ["devsecrets", "onboard", "--team-policy", "team dir/policy.yml"]
