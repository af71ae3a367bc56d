"""Shared helpers: projects on disk, the installed console script, canary scans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEVSECRETS = str(Path(sys.executable).parent / "devsecrets")


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
