"""The agent's private runtime directory: the socket and the lock that keeps one agent.

Under $XDG_RUNTIME_DIR (itself private) or, without one, in the shared temp directory, where
anybody could have created the name first: a directory that is not ours, is a symlink, or is
open to others is refused with the fix, never used, so nobody else can put a socket there
that `run` would trust.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
from pathlib import Path

from devsecrets.errors import DevsecretsError
from devsecrets.paths import runtime_dir

SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"


class RuntimeDirError(DevsecretsError):
    pass


def socket_path() -> Path:
    return runtime_dir() / SOCKET_NAME


def private_runtime_dir(*, create: bool) -> Path:
    """The runtime directory, checked (and created 0700 when `create`); RuntimeDirError."""
    path = runtime_dir()
    if create:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
    check_private(path)
    return path


def check_private(path: Path) -> None:
    quoted = shlex.quote(str(path))
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RuntimeDirError(
            f"{path} does not exist", "start the agent: devsecrets agent"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeDirError(
            f"{path} is not a directory (a symlink or a file): refused",
            f"remove it (rm {quoted}) and start again",
        )
    if info.st_uid != os.getuid():
        raise RuntimeDirError(
            f"{path} belongs to uid {info.st_uid}, not to you: refused, someone else could "
            "read or replace the agent's socket",
            f"ask an administrator to remove it (rm -r {quoted}), or set XDG_RUNTIME_DIR to a "
            "private directory of yours",
        )
    if info.st_mode & 0o077:
        raise RuntimeDirError(
            f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}): refused",
            f"chmod 700 {quoted}",
        )
