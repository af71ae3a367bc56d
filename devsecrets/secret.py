"""`Secret`: a value held in a bytearray that can be zeroed, and that never prints itself.

CPython cannot wipe `str` or `bytes`, so values stay in one `bytearray` from the moment they
are read until `wipe()`. Anything that needs the value (the child's environment, the masker)
reads it through `view()` or compares in constant time; nothing converts it to `str`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the warm `run` path ≈ 2.5 ms to import; mypy sees True
if TYPE_CHECKING:
    import re
    from typing import NoReturn

# Well-formed UTF-8 (RFC 3629), matched on the bytes themselves: decoding to check would
# leave an unwipeable `str` copy behind. Compiled on first use: `re` would cost the hook's
# call on `cd` (agent/protocol.py imports this module for zero()) ≈ 5 ms.
_UTF8_PATTERN = (
    rb"(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*"
)
_utf8: re.Pattern[bytes] | None = None


class Secret:
    """A secret value. `repr`, `str` and formatting are redacted; pickling is refused."""

    __slots__ = ("_buf", "name")

    def __init__(self, value: bytearray, name: str = "") -> None:
        if not isinstance(value, bytearray):
            raise TypeError("Secret takes a bytearray, so that it can be wiped")
        self._buf = value
        self.name = name

    def view(self) -> memoryview:
        """A read-only view of the value: no copy is made."""
        return memoryview(self._buf).toreadonly()

    @property
    def buffer(self) -> bytearray:
        """The underlying buffer, for code that must hand the value on (env, masker)."""
        return self._buf

    def __len__(self) -> int:
        return len(self._buf)

    def equals(self, other: Secret) -> bool:
        """Constant-time comparison of two values."""
        import hmac  # here, not at the top: loading OpenSSL costs the warm `run` path ≈ 3 ms

        return hmac.compare_digest(self._buf, other._buf)

    def is_utf8(self) -> bool:
        global _utf8
        if _utf8 is None:
            import re

            _utf8 = re.compile(_UTF8_PATTERN)
        return _utf8.fullmatch(self._buf) is not None

    def has_nul(self) -> bool:
        return b"\x00" in self._buf

    def wipe(self) -> None:
        """Zero the value in place."""
        zero(self._buf)

    @property
    def wiped(self) -> bool:
        return not any(self._buf)

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Secret{label}: concealed, {len(self._buf)} bytes>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("a Secret cannot be copied; hand the same object on")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("a Secret cannot be copied; hand the same object on")

    def __eq__(self, other: object) -> bool:
        # Identity only: equality on values would invite `==` timing leaks; use equals().
        return self is other

    __hash__ = object.__hash__


_ZEROS = bytes(1 << 16)


def zero(buf: bytearray) -> None:
    """Overwrite buf with zeros in place: same length, so never reallocated (which could
    leave the old block unzeroed), and without allocating a zero-filled copy of its size
    (fresh pages for every call would make the masker's hot path several times slower)."""
    with memoryview(buf) as view:
        for start in range(0, len(buf), len(_ZEROS)):
            part = view[start : start + len(_ZEROS)]
            part[:] = memoryview(_ZEROS)[: len(part)]


def wipe_all(secrets: object) -> None:
    """Wipe every Secret found in a mapping or iterable of Secrets."""
    values = secrets.values() if isinstance(secrets, dict) else secrets
    for secret in values:  # type: ignore[attr-defined]
        if isinstance(secret, Secret):
            secret.wipe()
