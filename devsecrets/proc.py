"""The one subprocess wrapper for helper tools (the `op` CLI, `rotate:` commands).

Every call has a hard timeout (op can wait forever on a biometric prompt), runs in its own
process group so the whole group is killed on timeout, gets stdin from /dev/null unless we
mean to feed it, and reads stdout straight into bytearrays that the caller can wipe: stdout
may carry secret values, so it never appears in an error or a log.

Because each command runs in its own session, the terminal's Ctrl-C never reaches it, and a
call made from a worker thread is not interrupted with the main thread: every live command
is registered, and `stop_all()` (on Ctrl-C or any other way out, see `worker_pool`) kills
their groups and refuses to start more, so nothing is left running and no worker waits out
its timeout.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devsecrets.secret import zero

_CHUNK = 65536
_STDERR_LIMIT = 64 * 1024
_START_WAIT = 2.0  # seconds stop_all() waits for a Popen in progress
_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Condition()
_starting = 0  # Popen calls in progress: their processes are not in `_live` yet
_stopping = False


class Timeout(Exception):
    """The command did not finish in time; its process group was killed."""


class Stopped(Exception):
    """`stop_all()` was called: devsecrets is leaving, the command was killed or not run."""


@dataclass
class Completed:
    returncode: int
    stdout: bytearray
    stderr: str

    def wipe(self) -> None:
        zero(self.stdout)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Completed:
    """Run argv; return its status, stdout (wipeable) and stderr (text, capped).

    Raises FileNotFoundError / PermissionError when argv[0] cannot be run, Timeout, and
    Stopped once `stop_all()` was called.
    """
    proc = _start(
        lambda: subprocess.Popen(
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
    )
    try:
        if _stopping:  # stop_all() ran while it was starting, and killed it
            raise Stopped
        out, err = _communicate(proc, stdin, time.monotonic() + timeout)
        code = proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        with _live_lock:
            _live.discard(proc)
    if _stopping and code < 0:  # killed by stop_all(): its output is not an answer
        zero(out)
        raise Stopped
    return Completed(code, out, err.decode("utf-8", "replace"))


def _start(popen: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """popen(), its process registered in `_live` so that `stop_all()` cannot miss it: a
    command being started when stop_all() runs is waited for, then killed with the others."""
    global _starting
    with _live_lock:
        if _stopping:
            raise Stopped
        _starting += 1
    proc = None
    try:
        proc = popen()
        return proc
    finally:
        with _live_lock:
            _starting -= 1
            if proc is not None:
                _live.add(proc)
            _live_lock.notify_all()


def stop_all() -> None:
    """Kill every command still running and refuse new ones: devsecrets is leaving."""
    global _stopping
    with _live_lock:
        _stopping = True
        _live_lock.wait_for(lambda: _starting == 0, timeout=_START_WAIT)
        for proc in _live:
            if proc.returncode is None:  # not reaped yet, so its pid is still its own
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def worker_pool(max_workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that waits for its jobs only when nothing went wrong. On Ctrl-C (or
    SystemExit) it kills every running command first (`stop_all`); on any exception it
    drops the jobs not yet started and returns without waiting for the others."""
    pool = ThreadPoolExecutor(max_workers=max_workers)
    try:
        yield pool
        pool.shutdown(wait=True)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise


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
                    zero(buf)
                elif key.data == "out":
                    chunks.append(buf[:n])
                    zero(buf)
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
        zero(chunk)
    return out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
