"""Shared helpers: projects on disk, the installed console script, canary scans."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

DEVSECRETS = str(Path(sys.executable).parent / "devsecrets")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "web-app"
# A bash prompt that counts, for pexpect to wait on (see test_hooks.py).
BASH_PROMPT = "__n=0\nPS1='DSPROMPT[$((__n+=1))]> '\n"
# What a test shell needs from the test's environment (its sandbox), and nothing else.
SHELL_PASSED = (
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "FAKE_OP_STATE",
    "FAKE_OP_LOG",
    "FAKE_KEYRING_FILE",
    "PYTHON_KEYRING_BACKEND",
    "PYTHONPATH",
    "HOME",
)


def shell_env(fake_op_bin: Path) -> dict[str, str]:
    """The environment of a shell started by a test: its sandbox, devsecrets and the fake
    `op` on PATH, bash as the login shell."""
    env = {name: os.environ[name] for name in SHELL_PASSED if name in os.environ}
    env.update(
        PATH=f"{Path(DEVSECRETS).parent}:{fake_op_bin}:/usr/bin:/bin",
        SHELL=shutil.which("bash") or "/bin/bash",
        TERM="dumb",
        LANG="C.UTF-8",
    )
    return env


def write_project(root: Path, text: str, name: str = "proj") -> Path:
    """A project directory holding `.devsecrets.yml` with `text`; returns the directory."""
    project = root / name
    project.mkdir(parents=True, exist_ok=True)
    config = project / ".devsecrets.yml"
    config.write_text(text)
    config.chmod(0o644)
    return project


def trusted_project(
    root: Path, text: str, name: str = "proj", *, env: dict[str, str] | None = None
) -> Path:
    """write_project, then `devsecrets allow` it, as its reviewer would. In-process (fast)
    for the test's own environment; through the console script for another `env`."""
    project = write_project(root, text, name)
    if env is None:
        from devsecrets.trust import allow_at

        allow_at(str(project))
    else:
        subprocess.run([DEVSECRETS, "allow"], cwd=project, env=env, capture_output=True, check=True)
    return project


def cli(
    *args: str,
    cwd: Path,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `devsecrets` console script as a user would."""
    full_env = dict(os.environ, PWD=str(cwd))
    full_env.update(env or {})
    return subprocess.run(
        [DEVSECRETS, *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def files_containing(root: Path, needle: bytes, *, skip: tuple[Path, ...] = ()) -> list[Path]:
    """Every regular file under root (not following symlinks) whose bytes contain needle."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if any(path.is_relative_to(s) for s in skip) or path.is_symlink():
                continue
            try:
                if needle in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def record_rotation(
    project: str,
    name: str,
    ref: str,
    *,
    scope: str = "staging",
    rotated_at: datetime | None = None,
    via: str = "set",
    fingerprint: str | None = None,
) -> None:
    """A ledger record, as `devsecrets set` would leave it (no fingerprint unless given)."""
    from devsecrets.ledger import Record, write_record

    when = rotated_at or datetime.now(UTC)
    write_record(project, name, Record(ref, when, scope, via, fingerprint))


def store_keyring(
    project: str, name: str, value: str, *, ref: str | None = None, **record: object
) -> None:
    """A keyring entry plus its ledger record: what `devsecrets set NAME` leaves behind.

    `ref` is the secret's reference as written in the config (default `keyring:<name>`),
    whose username is the keyring entry.
    """
    import keyring

    ref = ref or f"keyring:{name}"
    username = name if ref == "keyring" else ref.split(":", 1)[1]
    keyring.set_password(f"devsecrets/{project}", username, value)
    record_rotation(project, name, ref, **record)  # type: ignore[arg-type]


def main_in_process(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    cwd: Path,
    input: bytes = b"",
) -> tuple[int, str, str]:
    """`devsecrets ARGS` in this process, for commands that do not exec (a console-script
    start costs ~0.2 s); stdin is a pipe holding `input`. Returns exit code, stdout, stderr."""
    from devsecrets.cli import main

    read_fd, write_fd = os.pipe()
    os.write(write_fd, input)
    os.close(write_fd)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("PWD", str(cwd))
    code = 0
    with open(read_fd, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err
