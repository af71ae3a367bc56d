"""Every file location devsecrets uses, from one overridable source.

`DEVSECRETS_HOME` (tests, demo, portable installs) puts everything under one directory;
otherwise platformdirs' per-user directories are used. The config and the agent's socket
are looked up in lookup.py, which the warm `run` path uses without pathlib.
"""

from __future__ import annotations

import os
from pathlib import Path

from devsecrets import lookup

CONFIG_NAME = lookup.CONFIG_NAME
APP = lookup.APP


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
    return Path(lookup.runtime_dir())


def start_dir() -> Path:
    """The logical working directory (as the shell sees it, symlinks kept), like the hook."""
    return Path(lookup.start_dir())


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `.devsecrets.yml` at or above `start`."""
    found = lookup.find_config(str(start) if start else None)
    return Path(found) if found else None


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 for the last component; return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
