"""Run the child behind a masking relay, on a pty when stdout is a terminal.

Job control follows what a shell does for its own jobs, so that Ctrl-C, Ctrl-Z and `fg`
feel the same with and without devsecrets:
- pipe mode (here): the child gets its own process group and, when we are the terminal's
  foreground job, the terminal; Ctrl-C reaches only the child. When it stops, we take the
  terminal back and stop ourselves; on SIGCONT we hand it back and continue the child.
- pty mode (ptyrelay.py): the child is a session leader on a fresh pty whose termios and
  size copy ours; our terminal is raw, so Ctrl-C travels as a byte to the child.
Signals sent to devsecrets itself (INT, TERM, HUP, QUIT, CONT) are forwarded to the child's
process group. `Session` holds what both modes share: spawning, signal plumbing, the relay
loop (`Stream`: read, mask, write), reaping.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import time
from collections.abc import Iterator, Mapping, Sequence

from devsecrets.mask import Masker
from devsecrets.run import ExecFailed, Outcome, exec_environment, prepare_child
from devsecrets.secret import Secret, zero

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
CHUNK = 1 << 16
_DRAIN_AFTER_EXIT = 0.1  # output a grandchild keeps writing after the child exited
_F_SETPIPE_SZ = 1031


class Stream:
    """One output stream: read from the child, masked, written to our fd."""

    def __init__(self, src: int, dst: int, masker: Masker) -> None:
        self.src, self.dst, self.masker = src, dst, masker
        self.open = True
        self.broken = False

    def pump(self, buf: bytearray) -> bool:
        """Move one chunk; False at EOF (EIO is how a pty master says EOF)."""
        try:
            n = os.readv(self.src, [buf])
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.EBADF):
                raise
            n = 0
        if n == 0:
            self.finish()
            return False
        if n == len(buf):  # the common case in bulk output: no copy at all
            self._write(self.masker.feed(buf))  # buf is zeroed when the relay ends
        else:
            chunk = buf[:n]  # a bytearray the masker can work on without an unwipeable copy
            try:
                self._write(self.masker.feed(chunk))
            finally:
                zero(chunk)
        if self.broken:
            # Our reader went away: close our end, so the child gets SIGPIPE as it would
            # writing to that reader directly.
            self.finish()
            return False
        return True

    def finish(self) -> None:
        if self.open:
            self.open = False
            self._write(self.masker.flush())
            os.close(self.src)

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view and not self.broken:
            try:
                view = view[os.write(self.dst, view) :]
            except BlockingIOError:
                select.select([], [self.dst], [])
            except BrokenPipeError:
                self.broken = True


class _Child:
    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        self.status: int | None = None

    def signal_group(self, sig: int) -> None:
        if not self.pid:
            self.pending.append(sig)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def relay_child(
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    secrets: Mapping[str, Secret],
    *,
    pty_mode: bool,
) -> Outcome:
    values = [s.buffer for s in secrets.values()]
    if pty_mode:
        from devsecrets.ptyrelay import PtySession  # it builds on Session below

        return PtySession(values).run(argv, env, secrets)
    return _PipeSession(values).run(argv, env, secrets)


class Session:
    """What both modes share: spawning, signal plumbing, the relay loop, reaping."""

    def __init__(self) -> None:
        self.child = _Child()
        self.streams: list[Stream] = []
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    # --- hooks for the two modes
    def child_setup(self) -> None: ...
    def after_spawn(self) -> None: ...
    def on_stopped(self) -> None: ...
    def on_exit(self) -> None: ...
    def extra_readers(self) -> list[int]:
        return []

    def on_readable(self, fd: int) -> None: ...
    def writers(self) -> list[int]:
        return []

    def on_writable(self, fd: int) -> None: ...

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        yield

    # --- shared
    def run(
        self, argv: Sequence[str], env: Mapping[bytes, bytes], secrets: Mapping[str, Secret]
    ) -> Outcome:
        with self._signals(), self.prepared():
            self.child.pid = self._spawn(argv, env, secrets)
            for sig in self.child.pending:
                self.child.signal_group(sig)
            self.after_spawn()
            self._loop()
        assert self.child.status is not None
        return Outcome.from_wait_status(self.child.status)

    def _spawn(
        self, argv: Sequence[str], env: Mapping[bytes, bytes], secrets: Mapping[str, Secret]
    ) -> int:
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: nothing here may return
            try:
                os.close(err_r)
                self.child_setup()
                prepare_child()
                os.execvpe(argv[0], list(argv), exec_environment(env, secrets))
            except OSError as exc:
                os.write(err_w, str(exc.errno or errno.ENOEXEC).encode())
            except BaseException:
                os.write(err_w, str(errno.ENOEXEC).encode())
            finally:
                os._exit(127)
        os.close(err_w)
        with os.fdopen(err_r, "rb") as pipe:
            failure = pipe.read()
        if failure:
            os.waitpid(pid, 0)
            self._close_streams()
            raise ExecFailed(argv[0], int(failure))
        return pid

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        previous = {
            sig: signal.getsignal(sig)
            for sig in (*FORWARDED, signal.SIGCHLD, signal.SIGCONT, signal.SIGWINCH, signal.SIGTTOU)
        }
        old_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in FORWARDED:
            signal.signal(sig, lambda s, _f: self.child.signal_group(s))
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
        signal.signal(signal.SIGWINCH, lambda _s, _f: None)
        signal.signal(signal.SIGCONT, lambda s, _f: self.child.signal_group(s))
        # Taking the terminal back from a background process group must not stop us.
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self.wake_r)
            os.close(self.wake_w)

    def _loop(self) -> None:
        buf = bytearray(CHUNK)
        exited_at: float | None = None
        try:
            while True:
                self._reap()
                if self.child.status is not None:
                    exited_at = exited_at or time.monotonic()
                    if not any(s.open for s in self.streams):
                        break
                    if time.monotonic() - exited_at > _DRAIN_AFTER_EXIT:
                        break
                readers = [s.src for s in self.streams if s.open] + self.extra_readers()
                timeout = _DRAIN_AFTER_EXIT if exited_at else None
                ready_r, ready_w, _ = select.select(
                    [self.wake_r, *readers], self.writers(), [], timeout
                )
                if self.wake_r in ready_r:
                    self._drain_wakeups()
                for stream in self.streams:
                    if stream.open and stream.src in ready_r and stream.pump(buf):
                        exited_at = None if exited_at is None else time.monotonic()
                for fd in ready_r:
                    if fd in self.extra_readers():
                        self.on_readable(fd)
                for fd in ready_w:
                    self.on_writable(fd)
        finally:
            zero(buf)
            self._close_streams()
            if self.child.status is None:
                self.child.signal_group(signal.SIGHUP)
                _, self.child.status = os.waitpid(self.child.pid, 0)

    def _reap(self) -> None:
        if self.child.status is not None:
            return
        pid, status = os.waitpid(self.child.pid, os.WNOHANG | os.WUNTRACED)
        if pid == 0:
            return
        if os.WIFSTOPPED(status):
            self.on_stopped()
        else:
            self.child.status = status
            self.on_exit()

    def _drain_wakeups(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_r, 512):
                pass
        self.on_wakeup()

    def on_wakeup(self) -> None: ...

    def _close_streams(self) -> None:
        for stream in self.streams:
            stream.finish()
            stream.masker.wipe()


class _PipeSession(Session):
    def __init__(self, values: list[bytearray]) -> None:
        super().__init__()
        self.values = values
        self.tty = _foreground_tty()
        self.pipes = [os.pipe(), os.pipe()]
        for _, w in self.pipes:
            with contextlib.suppress(OSError):
                fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        self.streams = [
            Stream(r, fd, Masker(values)) for (r, _), fd in zip(self.pipes, (1, 2), strict=True)
        ]

    def child_setup(self) -> None:
        os.setpgid(0, 0)
        if self.tty is not None:
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            os.tcsetpgrp(self.tty, os.getpgrp())
        for (_, w), fd in zip(self.pipes, (1, 2), strict=True):
            os.dup2(w, fd)

    def after_spawn(self) -> None:
        for _, w in self.pipes:
            os.close(w)
        with contextlib.suppress(OSError):
            os.setpgid(self.child.pid, self.child.pid)
        self._give_terminal()

    def _give_terminal(self) -> None:
        if self.tty is not None and os.tcgetpgrp(self.tty) == os.getpgrp():
            with contextlib.suppress(OSError):
                os.tcsetpgrp(self.tty, self.child.pid)

    def _take_terminal(self) -> None:
        if self.tty is not None:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(self.tty, os.getpgrp())

    def on_stopped(self) -> None:
        if self.tty is None:
            return  # no job control here: leave the child stopped until someone continues it
        self._take_terminal()
        # Stop our whole job, as Ctrl-Z would have: the shell reports a pipeline stopped
        # only when every process in it is.
        os.killpg(os.getpgrp(), signal.SIGTSTP)
        self._give_terminal()
        self.child.signal_group(signal.SIGCONT)

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        try:
            yield
        finally:
            self._take_terminal()


def _foreground_tty() -> int | None:
    """Our controlling terminal's fd when we are its foreground job, else None."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
    return None


def stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"T", b"t")
    except OSError:
        return False
