"""Private state files: a 0700 directory, 0600 files, atomic replacement, an exclusive lock.

Shared by the rotation ledger and the audit log. None of these files ever holds a value,
but they say which secrets exist and when they change, so they are kept private anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from devsecrets.errors import DevsecretsError

TEMP_MARK = ".tmp."


def secure_dir(path: Path) -> Path:
    """Create `path` as 0700, or tighten it; refuse a directory someone else owns."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        import shlex  # only for the message

        raise DevsecretsError(
            f"{path} is owned by uid {info.st_uid}, not by you",
            "check who created it; devsecrets keeps its state there (remove it: "
            f"rm -r {shlex.quote(str(path))})",
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `lock_file` (created 0600) for the block."""
    secure_dir(lock_file.parent)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` by `data`: a reader sees the old file or the new one, never a mix.

    Call under `locked()`. Temp files that a crashed writer left behind are removed first:
    holding the lock means no other writer is using them.
    """
    for stale in path.parent.glob(f"{path.name}{TEMP_MARK}*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    temp = path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def append_private(path: Path, data: bytes) -> None:
    """Append `data` with one write to a 0600 file (O_APPEND keeps concurrent lines whole)."""
    secure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
            os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
