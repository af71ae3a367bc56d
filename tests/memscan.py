"""Count a needle in another process's whole address space (/proc/PID/maps + mem)."""

from __future__ import annotations

import os
import re

_RANGE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)")
_CHUNK = 1 << 20


def count_in_memory(pid: int, needle: bytes) -> int:
    """Occurrences of needle in every readable mapping of pid (needs ptrace rights)."""
    total = 0
    with open(f"/proc/{pid}/maps") as maps:
        ranges = [_RANGE.match(line) for line in maps]
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for match in ranges:
            if match is None or "r" not in match.group(3):
                continue
            total += _count_range(fd, int(match.group(1), 16), int(match.group(2), 16), needle)
    finally:
        os.close(fd)
    return total


def _count_range(fd: int, start: int, end: int, needle: bytes) -> int:
    count, tail = 0, b""
    for offset in range(start, end, _CHUNK):
        try:
            data = os.pread(fd, min(_CHUNK, end - offset), offset)
        except OSError:
            return count  # unreadable region ([vvar] and friends)
        window = tail + data
        count += window.count(needle)
        tail = data[-(len(needle) - 1) :] if len(needle) > 1 else b""
        count -= tail.count(needle)  # counted again in the next window otherwise
    return count
