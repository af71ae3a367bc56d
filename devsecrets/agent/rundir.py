"""The agent's private runtime directory: the socket and the lock that keeps one agent.

Under $XDG_RUNTIME_DIR (private, and the login session's: never created here; a relative
one is ignored) or, without one, in the shared temp directory, where anybody could have
created the name first: a directory that is not ours, is a symlink, or is open to others is
refused with the fix, never used, so nobody else can put a socket there that `run` would
trust. Plain strings, no pathlib: the warm `run` path imports this.
"""

from __future__ import annotations

import os
import stat

from devsecrets.errors import DevsecretsError
from devsecrets.lookup import runtime_dir, runtime_place

SOCKET_NAME = "agent.sock"
LOCK_NAME = "agent.lock"


class RuntimeDirError(DevsecretsError):
    pass


def socket_path() -> str:
    return os.path.join(runtime_dir(), SOCKET_NAME)


def private_runtime_dir(*, create: bool) -> str:
    """The runtime directory, checked (and created 0700 when `create`); RuntimeDirError."""
    path, chosen_by = runtime_place()
    if create:
        _create(path, chosen_by)
    check_private(path)
    return path


def _create(path: str, chosen_by: str) -> None:
    """Our directory, inside a base that exists: XDG_RUNTIME_DIR is the login session's to
    create (with its owner and mode), never ours; only DEVSECRETS_HOME's tree is ours."""
    try:
        if chosen_by == "DEVSECRETS_HOME":
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass  # checked next, whoever made it
    except OSError as exc:
        base = os.path.dirname(path)
        why = exc.strerror or type(exc).__name__
        if chosen_by == "XDG_RUNTIME_DIR":
            import tempfile

            raise RuntimeDirError(
                f"XDG_RUNTIME_DIR={base} cannot hold the agent's directory: {why}",
                "set XDG_RUNTIME_DIR to your login session's runtime directory (usually "
                f"/run/user/{os.getuid()}), or unset it to use a private directory in "
                f"{tempfile.gettempdir()}",
            ) from None
        raise RuntimeDirError(
            f"cannot create {path}: {why}", f"check that {base} exists and is writable by you"
        ) from None


def check_private(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise RuntimeDirError(
            f"{path} does not exist", "start the agent: devsecrets agent"
        ) from None
    except OSError as exc:  # a file where a directory should be, no search permission
        raise RuntimeDirError(
            f"{path} cannot be used: {exc.strerror or type(exc).__name__}",
            "set XDG_RUNTIME_DIR to a private directory of yours, or unset it",
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
