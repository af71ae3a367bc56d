"""The line a hooked shell prints at its next prompt once its session's fetch has ended.

`enter` returns at once with the fetch still running, so the hook's status line can only say
"fetching…". The outcome ("3 secrets ready for 15 minutes", or why the fetch failed) is
written by the agent to a small file in its private runtime directory, named in the `enter`
reply. While the hook waits for it, each prompt tests whether the file exists and reads its
one line with shell builtins: no process is started, and once the line is shown the hook
stops looking. The file holds names and counts only — never a value nor the capability —
and is removed when its session is wiped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta

from devsecrets.config import Config
from devsecrets.durations import humanize
from devsecrets.errors import DevsecretsError

PREFIX = "notice-"


def new_path(directory: str) -> str:
    """A fresh name: random, so a hook never reads another session's line."""
    return os.path.join(directory, PREFIX + secrets.token_hex(8))


def rotation_words(config: Config) -> str | None:
    """For the `enter` reply: the hook's status line names the most urgent rotation at once,
    from the ledger alone (no provider is asked: that is the fetch's job, and it may be slow).
    """
    from devsecrets.status import rotation_note

    try:
        return rotation_note(config, metadata=False)
    except DevsecretsError:
        return None


def ready_text(project: str, count: int, ttl: float) -> str:
    plural = "" if count == 1 else "s"
    held = humanize(timedelta(seconds=ttl))
    return f"devsecrets: {project} — {count} secret{plural} ready for {held}"


def failed_text(project: str, message: str, fix: str | None) -> str:
    lines = message.strip().splitlines() or ["?"]
    first = lines[0].rstrip(":") + (" …" if len(lines) > 1 else "")
    hint = f" ({fix})" if fix else ""
    return f"devsecrets: {project} — fetch failed: {first}{hint}"


def write(path: str, text: str) -> None:
    """Write-and-rename, so the shell never reads half a line. Best effort: a hook that finds
    no line just keeps quiet."""
    line = "".join(c if c.isprintable() else "?" for c in text) + "\n"
    temporary = f"{path}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError:
        remove(temporary)


def remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def sweep(directory: str) -> None:
    """Lines left by an agent that was killed: nobody will wait for them."""
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(PREFIX):
                remove(os.path.join(directory, name))
