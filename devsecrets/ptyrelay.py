"""pty mode of the masking relay (relay.py): used when `run`'s stdout is a terminal.

The child is a session leader on a fresh pty whose termios and size copy ours; our terminal
is raw, so Ctrl-C travels as a byte and the pty's line discipline turns it into the child's
SIGINT. Ctrl-Z is the exception: the kernel discards terminal stop signals for a session
with no job-control shell, so we stop the child and ourselves. We keep the pty's slave open
until the child is reaped: a child whose stdin is not a terminal holds the slave only as
stdout and stderr, and when it closes them the master would read EIO; closing the master
then would hang up the child while it still runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
import time
import tty
from collections.abc import Iterator

from devsecrets.mask import Masker
from devsecrets.relay import CHUNK, Session, Stream, stopped

TYPE_CHECKING = False  # typing costs `run` ≈ 2.5 ms to import; mypy sees True
if TYPE_CHECKING:
    from typing import Any


class PtySession(Session):
    def __init__(self, values: list[bytearray]) -> None:
        super().__init__()
        self.master, self.slave = pty.openpty()
        # On Linux the master has termios of its own: the child's settings (is ISIG on,
        # which byte is VSUSP) are read from the slave, reopened by name when needed.
        self.slave_name = os.ttyname(self.slave)
        # Relay our terminal only when we own it: a background job must not touch it.
        self.stdin_tty = os.isatty(0) and _foreground_group(0) == os.getpgrp()
        self.saved: list[Any] | None = None
        self.pending_input = bytearray()
        self.stdin_open = self.stdin_tty
        stderr_tty = os.isatty(2)
        self.err_pipe = None if stderr_tty else os.pipe()
        self.streams = [Stream(self.master, 1, Masker(values, crlf=True))]
        if self.err_pipe:
            self.streams.append(Stream(self.err_pipe[0], 2, Masker(values)))
        _copy_terminal(1, self.slave)

    def child_setup(self) -> None:
        os.setsid()
        fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
        if self.stdin_tty:
            os.dup2(self.slave, 0)
        os.dup2(self.slave, 1)
        os.dup2(self.err_pipe[1] if self.err_pipe else self.slave, 2)

    def after_spawn(self) -> None:
        if self.err_pipe:
            os.close(self.err_pipe[1])
        os.set_blocking(self.master, False)

    def on_exit(self) -> None:
        # The child is gone: the master now reads EIO once no grandchild holds the slave.
        self._close_slave()

    def _close_slave(self) -> None:
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    @contextlib.contextmanager
    def prepared(self) -> Iterator[None]:
        try:
            self._raw()
            yield
        finally:
            self._close_slave()
            self._restore()

    def _raw(self) -> None:
        if self.stdin_tty:
            self.saved = termios.tcgetattr(0)
            tty.setraw(0, termios.TCSANOW)

    def _restore(self) -> None:
        if self.saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(0, termios.TCSAFLUSH, self.saved)
            self.saved = None

    def extra_readers(self) -> list[int]:
        return [0] if self.stdin_open and not self.pending_input else []

    def writers(self) -> list[int]:
        return [self.master] if self.pending_input and self.streams[0].open else []

    def on_readable(self, fd: int) -> None:
        data = os.read(fd, CHUNK)
        if not data:
            self.stdin_open = False
            return
        suspend = _suspend_char(self.slave_name)
        if suspend is not None and suspend in data:
            before = data[: data.index(suspend)]
            self.pending_input += before
            self.on_writable(self.master)
            self._suspend_child()
            return
        self.pending_input += data

    def on_writable(self, fd: int) -> None:
        try:
            n = os.write(self.master, self.pending_input)
        except BlockingIOError:
            return
        except OSError:
            n = len(self.pending_input)
        del self.pending_input[:n]

    def on_wakeup(self) -> None:
        _copy_size(1, self.master)

    def _suspend_child(self) -> None:
        """Ctrl-Z: what the kernel would do if a job-control shell owned this pty."""
        group = _foreground_group(self.master) or self.child.pid
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGTSTP)
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline and not stopped(self.child.pid):
            time.sleep(0.005)
        if not stopped(self.child.pid):
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGSTOP)

    def on_stopped(self) -> None:
        self._restore()
        os.killpg(os.getpgrp(), signal.SIGTSTP)
        self._raw()
        _copy_size(1, self.master)
        self.child.signal_group(signal.SIGCONT)
        group = _foreground_group(self.master)
        if group and group != self.child.pid:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGCONT)


def _copy_terminal(src: int, dst: int) -> None:
    with contextlib.suppress(termios.error, OSError):
        termios.tcsetattr(dst, termios.TCSANOW, termios.tcgetattr(src))
    _copy_size(src, dst)


def _copy_size(src: int, dst: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)


def _suspend_char(slave_name: str) -> bytes | None:
    """The child's suspend byte (Ctrl-Z) when its terminal turns it into a signal."""
    try:
        fd = os.open(slave_name, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return None
    finally:
        os.close(fd)
    if not attrs[3] & termios.ISIG:
        return None
    char = attrs[6][termios.VSUSP]
    return char if isinstance(char, bytes) and char != b"\x00" else None


def _foreground_group(master: int) -> int | None:
    try:
        return os.tcgetpgrp(master)
    except OSError:
        return None
