"""Every file location devsecrets uses, from one overridable source.

`DEVSECRETS_HOME` (tests, demo, portable installs) puts everything under one directory;
otherwise platformdirs' per-user directories are used. Standard library only, and nothing
slow at import: the warm `run` path (agent/fastpath.py) finds the config through here.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_NAME = ".devsecrets.yml"
APP = "devsecrets"


def _home_override() -> Path | None:
    value = os.environ.get("DEVSECRETS_HOME")
    return Path(value) if value else None


def config_dir() -> Path:
    """Team policy lives here."""
    home = _home_override()
    if home:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    """Trust records live here."""
    home = _home_override()
    if home:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def state_dir() -> Path:
    """Rotation ledger and audit log live here."""
    home = _home_override()
    if home:
        return home / "state"
    import platformdirs

    return Path(platformdirs.user_state_dir(APP))


def runtime_dir() -> Path:
    """The agent's socket lives here: $XDG_RUNTIME_DIR, else a per-uid directory in tmp."""
    home = _home_override()
    if home:
        return home / "run"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / APP
    import tempfile

    return Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"


def start_dir() -> Path:
    """The logical working directory (as the shell sees it, symlinks kept), like the hook."""
    cwd = os.getcwd()
    pwd = os.environ.get("PWD", "")
    try:
        if pwd.startswith("/") and os.path.samefile(pwd, cwd):
            return Path(pwd)
    except OSError:
        pass
    return Path(cwd)


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `.devsecrets.yml` at or above `start`."""
    here = start or start_dir()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if os.path.lexists(candidate):
            return candidate
    return None


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 for the last component; return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
