"""The plaintext file `import` migrates: read it without copies, keep it out of git, and
remove it.

Removal overwrites the bytes with zeros and syncs before unlinking. That is best effort:
copy-on-write filesystems, SSD wear levelling, backups and git history keep old copies
no program can reach, which is why `import` tells the user to rotate committed values.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from devsecrets.dotenv import Dotenv, DotenvError, parse_dotenv
from devsecrets.errors import DevsecretsError
from devsecrets.secret import zero

MAX_DOTENV = 1 << 20
GITIGNORE_COMMENT = "# plaintext secrets: moved to the keyring by `devsecrets import`"


def read_plain(path: Path) -> tuple[Dotenv, datetime]:
    """The parsed file and its last change. The bytes go from `readv` into one bytearray,
    which is wiped once parsed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DevsecretsError(
            f"{path} does not exist", "name the dotenv file: devsecrets import path/to/.env"
        ) from None
    except OSError as exc:
        hint = "it is a symlink: import the file it points to" if os.path.islink(path) else ""
        raise DevsecretsError(f"cannot open {path}: {exc.strerror}", hint or "check it") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DevsecretsError(f"{path} is not a regular file", "name a dotenv file")
        if info.st_size > MAX_DOTENV:
            raise DevsecretsError(f"{path} is larger than 1 MiB", "name a dotenv file")
        buf = bytearray(info.st_size)
        length = os.readv(fd, [buf])
    finally:
        os.close(fd)
    del buf[length:]  # only when the file shrank since fstat
    try:
        return parse_dotenv(buf), _mtime(info)
    except DotenvError as exc:
        raise DevsecretsError(
            f"{path}:{exc.line}: {str(exc).split(': ', 1)[1]}; nothing was changed",
            "fix that line (KEY=VALUE, quotes closed), then import again",
        ) from None
    finally:
        zero(buf)


def _mtime(info: os.stat_result) -> datetime:
    return datetime.fromtimestamp(info.st_mtime, UTC)


def remove_plain(path: Path) -> None:
    """Overwrite with zeros, sync, unlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
            os.write(fd, bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    except OSError as exc:
        import shlex  # only for the message

        raise DevsecretsError(
            f"every value is in the keyring, but {path} could not be removed: {exc.strerror}",
            f"delete it yourself: rm {shlex.quote(str(path))}",
        ) from None


def ignore_in_git(path: Path) -> str | None:
    """Add the file's name to the .gitignore beside it, inside a git work tree, unless a
    pattern there already covers it. Returns what was done, or None."""
    if not any((d / ".git").exists() for d in (path.parent, *path.parent.parents)):
        return None
    gitignore = path.parent / ".gitignore"
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError):
        return f"warning: could not read {gitignore}; add {path.name} to it yourself"
    if any(_covers(line.strip(), path.name) for line in text.splitlines()):
        return None
    separator = "" if not text or text.endswith("\n") else "\n"
    try:
        with gitignore.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}{GITIGNORE_COMMENT}\n{path.name}\n")
    except OSError as exc:
        return f"warning: could not write {gitignore} ({exc.strerror}); add {path.name} yourself"
    return f"added {path.name} to {gitignore}"


def _covers(pattern: str, name: str) -> bool:
    if not pattern or pattern.startswith(("#", "!")):
        return False
    pattern = pattern.removeprefix("/").removesuffix("/")
    return "/" not in pattern and fnmatch.fnmatchcase(name, pattern)


def tracked_by_git(path: Path) -> bool:
    """Whether git has the file in its index (so its values are in the history)."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "--", path.name],
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
