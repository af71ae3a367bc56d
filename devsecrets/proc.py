"""The one subprocess wrapper for helper tools (the `op` CLI, `rotate:` commands).

Every call has a hard timeout (op can wait forever on a biometric prompt), runs in its own
process group so the whole group is killed on timeout, gets stdin from /dev/null unless we
mean to feed it, and reads stdout straight into bytearrays that the caller can wipe: stdout
may carry secret values, so it never appears in an error or a log.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_CHUNK = 65536
_STDERR_LIMIT = 64 * 1024


class Timeout(Exception):
    """The command did not finish in time; its process group was killed."""


@dataclass
class Completed:
    returncode: int
    stdout: bytearray
    stderr: str

    def wipe(self) -> None:
        self.stdout[:] = bytes(len(self.stdout))


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Completed:
    """Run argv; return its status, stdout (wipeable) and stderr (text, capped).

    Raises FileNotFoundError / PermissionError when argv[0] cannot be run, and Timeout.
    """
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    try:
        out, err = _communicate(proc, stdin, time.monotonic() + timeout)
    except BaseException:
        _kill_group(proc)
        raise
    return Completed(proc.wait(), out, err.decode("utf-8", "replace"))


def _communicate(
    proc: subprocess.Popen[bytes], stdin: bytes | None, deadline: float
) -> tuple[bytearray, bytearray]:
    assert proc.stdout is not None and proc.stderr is not None
    chunks: list[bytearray] = []
    err = bytearray()
    pending = memoryview(stdin) if stdin is not None else None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        if proc.stdin is not None:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                sel.register(proc.stdin, selectors.EVENT_WRITE, "in")
            else:
                proc.stdin.close()
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout
            for key, _ in sel.select(left):
                if key.data == "in":
                    pending = _feed(proc, sel, pending)
                    continue
                buf = bytearray(_CHUNK)
                n = os.readv(key.fd, [buf])
                if n == 0:
                    sel.unregister(key.fileobj)
                    _wipe(buf)
                elif key.data == "out":
                    chunks.append(buf[:n])
                    _wipe(buf)
                elif len(err) < _STDERR_LIMIT:
                    err += buf[:n]
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                raise Timeout
            time.sleep(0.005)
    return _join(chunks), err


def _feed(
    proc: subprocess.Popen[bytes], sel: selectors.BaseSelector, pending: memoryview | None
) -> memoryview | None:
    assert proc.stdin is not None
    try:
        n = os.write(proc.stdin.fileno(), pending) if pending else 0
    except BrokenPipeError:
        n = len(pending) if pending else 0
    rest = pending[n:] if pending else None
    if not rest:
        sel.unregister(proc.stdin)
        proc.stdin.close()
        return None
    return rest


def _join(chunks: list[bytearray]) -> bytearray:
    out = bytearray(sum(len(c) for c in chunks))
    pos = 0
    for chunk in chunks:
        out[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
        _wipe(chunk)
    return out


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
