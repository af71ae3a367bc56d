"""The agent's private runtime directory: the socket and the lock that keeps one agent.

Under $XDG_RUNTIME_DIR (itself private) or, without one, in the shared temp directory, where
anybody could have created the name first: a directory that is not ours, is a symlink, or is
open to others is refused with the fix, never used, so nobody else can put a socket there
that `run` would trust. Plain strings, no pathlib: the warm `run` path imports this.
"""

from __future__ import annotations

import os
import stat

from devsecrets.errors import DevsecretsError
from devsecrets.lookup import runtime_dir

SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"


class RuntimeDirError(DevsecretsError):
    pass


def socket_path() -> str:
    return os.path.join(runtime_dir(), SOCKET_NAME)


def private_runtime_dir(*, create: bool) -> str:
    """The runtime directory, checked (and created 0700 when `create`); RuntimeDirError."""
    path = runtime_dir()
    if create:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:  # noqa: SIM105 - contextlib costs the hook's call ≈ 1.5 ms to import
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    check_private(path)
    return path


def check_private(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RuntimeDirError(
            f"{path} does not exist", "start the agent: devsecrets agent"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeDirError(
            f"{path} is not a directory (a symlink or a file): refused",
            f"remove it (rm {_quote(path)}) and start again",
        )
    if info.st_uid != os.getuid():
        raise RuntimeDirError(
            f"{path} belongs to uid {info.st_uid}, not to you: refused, someone else could "
            "read or replace the agent's socket",
            f"ask an administrator to remove it (rm -r {_quote(path)}), or set "
            "XDG_RUNTIME_DIR to a private directory of yours",
        )
    if info.st_mode & 0o077:
        raise RuntimeDirError(
            f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}): refused",
            f"chmod 700 {_quote(path)}",
        )


def _quote(path: str) -> str:
    import shlex  # only for messages; not imported on the warm `run` path

    return shlex.quote(path)
