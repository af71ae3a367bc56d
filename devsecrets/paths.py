"""Every file location devsecrets uses, from one overridable source.

`DEVSECRETS_HOME` (tests, demo, portable installs) puts everything under one directory;
otherwise platformdirs' per-user directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path

from devsecrets import lookup

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


def team_policy_file() -> tuple[Path, bool]:
    """The team policy file, and whether it was named explicitly ($DEVSECRETS_POLICY) —
    an explicit file must exist, the default one is optional."""
    named = os.environ.get("DEVSECRETS_POLICY")
    if named:
        return Path(named).expanduser(), True
    return config_dir() / "policy.yml", False


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
    """The agent's socket lives here: $XDG_RUNTIME_DIR, else a per-uid directory in tmp
    (lookup.py: the one rule, also for the warm `run` path, which avoids pathlib)."""
    return Path(lookup.runtime_dir())


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 for the last component; return it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
