"""Reading `.devsecrets.yml` safely, without parsing it.

Split from config.py because the shell hook's one Python call (hookcall.py) hashes the file
on every change of project and cannot afford config.py's imports (yaml, dataclasses, re:
≈ 40 ms against a budget of ≈ 24 ms). Only the standard library's cheapest modules here.
"""

from __future__ import annotations

import errno
import os
import stat

from devsecrets.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20
CONFIG_NAME = ".devsecrets.yml"  # = paths.CONFIG_NAME; paths imports pathlib (≈ 10 ms)


def read_config_bytes(path: str | os.PathLike[str], *, follow: bool = False) -> bytes:
    """Read the file once, refusing what ssh would refuse for an authorized_keys file, and a
    symbolic link unless `follow` (a team policy may be a link into the team's repository)."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise ConfigError(
            "is a directory, not a file", f"remove or rename the directory {name}", file=name
        )
    try:
        # O_NONBLOCK: a FIFO planted under the config's name must not hang a prompt.
        # O_NOFOLLOW: trust is recorded for the real path, so a link to another project's
        # allowed config would let this directory borrow that project's secrets.
        flags = os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(name, flags if follow else flags | os.O_NOFOLLOW)
    except PermissionError:
        raise ConfigError(
            "cannot be read: permission denied", f"chmod u+r {_quote(name)}", file=name
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                "is a symbolic link: refused, so that one directory cannot borrow the trust"
                " and secrets of another project's config",
                "replace the link with a copy of the file, review it, then allow it: "
                f"rm {_quote(name)} && cp {_quote(os.path.realpath(name))} {_quote(name)}",
                file=name,
            ) from None
        raise ConfigError(
            f"cannot be opened: {exc.strerror}", "check the path", file=name
        ) from None
    try:
        info = os.fstat(fd)
        _check_file(info, name)
        _check_directory(os.path.dirname(os.path.realpath(name)))
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"is {info.st_size} bytes; a config is at most {MAX_CONFIG_BYTES}",
                "list references only, never values",
                file=name,
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", "check the file", file=name) from None
    finally:
        os.close(fd)


def _check_file(info: os.stat_result, name: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError("is not a regular file", "make it a plain YAML file", file=name)
    if info.st_uid not in (os.getuid(), 0):
        raise ConfigError(
            f"is owned by uid {info.st_uid}, not by you: refused, as ssh refuses such keys",
            f"check who wrote it; if its content is yours: chown {os.getuid()} {_quote(name)}",
            file=name,
        )
    if info.st_mode & stat.S_IWOTH:
        raise ConfigError(
            "is writable by every user: refused, as ssh refuses such keys",
            f"chmod o-w {_quote(name)}",
            file=name,
        )


def _check_directory(directory: str) -> None:
    info = os.stat(directory)
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise ConfigError(
            f"its directory {directory} is writable by every user, so anyone can replace it",
            f"chmod o-w {_quote(directory)}",
            file=os.path.join(directory, CONFIG_NAME),
        )


def _quote(text: str) -> str:
    import shlex  # only on the error path: it imports re

    return shlex.quote(text)
