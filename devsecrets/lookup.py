"""Where the project config and the agent's socket are, as plain strings.

paths.py (pathlib, for everything else) delegates its lookups here. The warm `run` path
calls this module directly: importing pathlib would cost it ≈ 3 ms (pathlib pulls in
urllib.parse and ipaddress), a tenth of what that path is allowed.
"""

from __future__ import annotations

import os

from devsecrets.configfile import CONFIG_NAME

APP = "devsecrets"  # = paths.APP


def runtime_dir() -> str:
    """The agent's socket lives here: $XDG_RUNTIME_DIR, else a per-uid directory in tmp."""
    return runtime_place()[0]


def runtime_place() -> tuple[str, str]:
    """The runtime directory and what chose it: DEVSECRETS_HOME, XDG_RUNTIME_DIR or "tmp".

    A relative XDG_RUNTIME_DIR is ignored, as the XDG Base Directory spec says: it would
    name another directory from every working directory.
    """
    home = os.environ.get("DEVSECRETS_HOME")
    if home:
        return os.path.join(home, "run"), "DEVSECRETS_HOME"
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg.startswith("/"):
        return os.path.join(xdg, APP), "XDG_RUNTIME_DIR"
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"{APP}-{os.getuid()}"), "tmp"


def start_dir() -> str:
    """The logical working directory (as the shell sees it, symlinks kept), like the hook."""
    cwd = _cwd()
    pwd = os.environ.get("PWD", "")
    try:
        if pwd.startswith("/") and os.path.samefile(pwd, cwd):
            return _clean(pwd)
    except OSError:
        pass
    return cwd


def find_config(start: str | None = None) -> str | None:
    """The nearest `.devsecrets.yml` at or above `start` (default: start_dir())."""
    here = _clean(absolute(start)) if start else start_dir()
    while True:
        candidate = os.path.join(here, CONFIG_NAME)
        if os.path.lexists(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def absolute(path: str) -> str:
    """os.path.abspath, asking for the working directory only when `path` is relative."""
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(_cwd(), path))


def _cwd() -> str:
    """os.getcwd(), or a DevsecretsError when the directory was deleted under us."""
    try:
        return os.getcwd()
    except FileNotFoundError:
        from devsecrets.errors import DevsecretsError  # only here: this module stays light

        raise DevsecretsError(
            "the current directory no longer exists",
            "cd into the project again",
        ) from None


def _clean(path: str) -> str:
    """As pathlib spells an absolute path: no empty or '.' parts; '..' kept (symlinks)."""
    return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
