"""Platform: who is on the other end of the agent's socket, and which processes it descends
from. Linux reads SO_PEERCRED and /proc; macOS uses LOCAL_PEERCRED/LOCAL_PEERPID and `ps`
(untested here: only Linux can be tested on this project's machines).

A process is named by its pid plus its start time, so that a pid reused by a new process
after the shell exited is not mistaken for the shell.
"""

from __future__ import annotations

import _socket  # not socket: see client.py
import os
import struct
import sys

MAX_DEPTH = 128  # ancestry deeper than this is not a shell session


class Peer:
    """The process on the other end of a connection: pid (None when unknown) and uid.
    (Plain classes here, not NamedTuples: `run` imports this module, typing costs 2.5 ms.)"""

    __slots__ = ("pid", "uid")

    def __init__(self, pid: int | None, uid: int) -> None:
        self.pid = pid
        self.uid = uid


class Proc:
    """A process identity: pid and start time (None where the platform cannot say)."""

    __slots__ = ("pid", "start")

    def __init__(self, pid: int, start: str | None) -> None:
        self.pid = pid
        self.start = start

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proc) and (self.pid, self.start) == (other.pid, other.start)

    def __hash__(self) -> int:
        return hash((self.pid, self.start))


def peer_of(sock: _socket.socket) -> Peer:
    if sys.platform.startswith("linux"):
        cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        pid, uid, _gid = struct.unpack("3i", cred)
        return Peer(pid or None, uid)
    if sys.platform == "darwin":
        return _darwin_peer(sock)
    raise OSError("peer credentials are not supported on this platform")


def _darwin_peer(sock: _socket.socket) -> Peer:
    # struct xucred { u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]; }
    cred = sock.getsockopt(0, 0x001, 76)  # SOL_LOCAL, LOCAL_PEERCRED
    uid = struct.unpack_from("I", cred, 4)[0]
    pid = struct.unpack("i", sock.getsockopt(0, 0x002, 4))[0]  # LOCAL_PEERPID
    return Peer(pid or None, uid)


def _linux_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) from /proc/PID/stat; None when gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), fields[19].decode()


def _ps_stat(pid: int) -> tuple[int, str] | None:
    import subprocess

    try:
        out = subprocess.run(
            ["ps", "-o", "ppid=,stat=,lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.split(None, 2)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if len(out) < 3 or out[1].startswith("Z"):
        return None
    return int(out[0]), out[2].strip()


_stat = _linux_stat if os.path.isdir("/proc/self") else _ps_stat


def identify(pid: int) -> Proc | None:
    """The process with this pid now, or None when there is none (or only its zombie)."""
    found = _stat(pid)
    return Proc(pid, found[1]) if found else None


def alive(proc: Proc) -> bool:
    found = _stat(proc.pid)
    return found is not None and found[1] == proc.start


def descends_from(pid: int, ancestor: Proc, *, include_self: bool = False) -> bool:
    """Whether `ancestor` (still the same process) is among pid's ancestors."""
    if include_self and pid == ancestor.pid:
        return alive(ancestor)
    current = pid
    for _ in range(MAX_DEPTH):
        found = _stat(current)
        if found is None or found[0] <= 0:
            return False
        current = found[0]
        if current == ancestor.pid:
            return alive(ancestor)
    return False
