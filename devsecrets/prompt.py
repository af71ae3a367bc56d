"""Reading a new secret value: from a hidden prompt on a terminal, or from a pipe.

Never from argv (it would sit in shell history and in `ps` for everyone). The bytes go
straight from `readv` into a preallocated bytearray — no `str`, as `getpass` would make —
and every intermediate buffer is zeroed, so the only copy left is the returned `Secret`.
"""

from __future__ import annotations

import os
import sys
import termios

from devsecrets.errors import DevsecretsError
from devsecrets.secret import Secret, zero

MAX_VALUE = 64 * 1024
_LINE_MAX = 4096  # a terminal in canonical mode delivers at most this many bytes per line


def read_value(name: str, *, fd: int | None = None) -> Secret:
    """The new value of `name`: asked twice on a terminal, else read from stdin to EOF."""
    fd = sys.stdin.fileno() if fd is None else fd
    if os.isatty(fd):
        return _from_terminal(fd, name)
    return _from_pipe(fd, name)


def _from_terminal(fd: int, name: str) -> Secret:
    first = _hidden_line(fd, f"{name} (input hidden): ")
    if not len(first):
        first.wipe()
        raise DevsecretsError(f"no value entered for {name}; nothing was stored", None)
    second = _hidden_line(fd, f"{name} again: ")
    try:
        same = first.equals(second)
    finally:
        second.wipe()
    if not same:
        first.wipe()
        raise DevsecretsError("the two entries differ; nothing was stored", "run the command again")
    return first


def _hidden_line(fd: int, prompt: str) -> Secret:
    """One line from the terminal with echo off (the newline is still echoed)."""
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    new[3] = (new[3] & ~termios.ECHO) | termios.ECHONL | termios.ICANON
    buf = bytearray(_LINE_MAX + 1)
    try:
        # Echo off first, then the prompt (as getpass does): what is typed once the prompt
        # shows is neither echoed nor discarded by the switch.
        termios.tcsetattr(fd, termios.TCSAFLUSH, new)
        sys.stderr.write(prompt)
        sys.stderr.flush()
        length = _read_line(fd, buf)
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, old)
    try:
        end = length - 1 if length and buf[length - 1] == 0x0A else length
        end = end - 1 if end and buf[end - 1] == 0x0D else end
        return Secret(bytearray(memoryview(buf)[:end]))
    finally:
        zero(buf)


def _read_line(fd: int, buf: bytearray) -> int:
    view = memoryview(buf)
    length = 0
    while length < len(buf):
        count = os.readv(fd, [view[length:]])
        if count == 0:  # Ctrl-D
            break
        length += count
        if buf[length - 1] == 0x0A:
            break
    return length


def _from_pipe(fd: int, name: str) -> Secret:
    buf = bytearray(MAX_VALUE + 1)
    view = memoryview(buf)
    length = 0
    try:
        while length < len(buf):
            count = os.readv(fd, [view[length:]])
            if count == 0:
                break
            length += count
        if length > MAX_VALUE:
            raise DevsecretsError(
                f"the value on stdin is longer than {MAX_VALUE // 1024} KiB; nothing was stored",
                "store a credential, not a file (a file belongs in the provider's vault)",
            )
        # `echo "$X" | devsecrets set NAME` adds one newline that is not part of the value.
        end = length - 1 if length and buf[length - 1] == 0x0A else length
        end = end - 1 if end and buf[end - 1] == 0x0D else end
        if end == 0:
            raise DevsecretsError(
                f"no value on stdin for {name}; nothing was stored",
                f"pipe the value in (e.g. `pass show x | devsecrets set {name}`), or run the "
                "command in a terminal to type it at a hidden prompt",
            )
        return Secret(bytearray(view[:end]))
    finally:
        view.release()
        zero(buf)


def confirm(question: str, *, default: bool, fd: int | None = None) -> bool:
    """Ask a yes/no question on the terminal (stderr, then one line of stdin). Not for
    values: the answer is echoed. An empty answer takes `default`; end of input says no."""
    fd = sys.stdin.fileno() if fd is None else fd
    hint = "[Y/n]" if default else "[y/N]"
    while True:
        sys.stderr.write(f"{question} {hint} ")
        sys.stderr.flush()
        buf = bytearray(256)
        length = _read_line(fd, buf)
        if length == 0:
            sys.stderr.write("\n")
            return False
        answer = bytes(buf[:length]).decode(errors="replace").strip().lower()
        if not answer:
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False


def interactive(fd: int | None = None) -> bool:
    """Whether questions can be asked: stdin is a terminal."""
    return os.isatty(sys.stdin.fileno() if fd is None else fd)
