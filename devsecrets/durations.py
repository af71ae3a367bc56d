"""Durations as people write them in YAML: `30m`, `12h`, `3d`, `1w`, `1d12h`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
FIX = "write a number and a unit: 30m, 12h, 3d or 1w (units: w d h m s)"


def parse_duration(text: str) -> timedelta:
    """Parse a duration; ValueError (with a readable message) when it is not one."""
    compact = text.strip()
    if not _WHOLE.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration")
    seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling: 7d, 1d12h, 90s; negative durations get a '-'."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    sign, total = ("-", -total) if total < 0 else ("", total)
    parts = []
    for unit in "dhms":
        amount, total = divmod(total, _UNIT[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return sign + "".join(parts)


def humanize(delta: timedelta) -> str:
    """Rounded for people: '2 days', '5 hours', '3 minutes'."""
    seconds = abs(int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
