"""How the shell hook hands the session capability to devsecrets: on a pipe.

Every process of the user can read another's argv (/proc/PID/cmdline), and its environment
(/proc/PID/environ) until that process makes itself non-dumpable. So the hook writes the
capability into a pipe and names the descriptor in DEVSECRETS_SESSION_FD: 0 for its own
Python call, 9 for `devsecrets run` (which reads it only after entry.py has closed the
process to others). `DEVSECRETS_SESSION=CAP` in the environment still works, for scripts and
for a hook loaded before an upgrade. Only `os` (and `stat`, which os imports): this runs first
on the warm `run` path and in the hook's call.
"""

from __future__ import annotations

import os
import stat

SESSION_ENV = "DEVSECRETS_SESSION"
SESSION_FD_ENV = "DEVSECRETS_SESSION_FD"
_LIMIT = 256  # a capability is 48 characters


def take() -> tuple[str, bool]:
    """The capability ('' for none), taken out of the environment and out of its pipe (read
    to the end, then closed); and True when a pipe was named but held nothing — another
    process may have read it first. Called first thing by every entry point (entry.py,
    hookcall.py): that is what keeps both from everything devsecrets starts."""
    capability = os.environ.pop(SESSION_ENV, "")
    named = os.environ.pop(SESSION_FD_ENV, "")
    if not named.isdigit():
        return capability, False
    fd, data = int(named), b""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return capability, False  # not the hook's pipe: never block on a terminal
        while len(data) <= _LIMIT:
            chunk = os.read(fd, _LIMIT)
            if not chunk:
                break
            data += chunk
    except OSError:
        return capability, True
    finally:
        if fd > 2:
            os.closerange(fd, fd + 1)  # ignores a bad fd; contextlib costs the hook 4.5 ms
    text = data.decode("ascii", "replace").strip()
    return text or capability, not text
