"""The agent's wire format, version 1.

A message is one header frame, then zero or more value frames. A frame is a 4-byte
big-endian length followed by that many bytes. The header is a JSON object (UTF-8, at most
MAX_HEADER bytes) carrying `"v": 1`; a header that announces values lists their names under
`"names"`, and exactly that many value frames follow, in that order.

Values never travel inside JSON: `json.loads` would leave `str` copies nobody can wipe. A
value frame is written with one `sendmsg` straight from the bytearray that holds it, and read
with `recv_into` into a bytearray allocated at the announced length, so neither side makes a
copy it cannot wipe. Every length is checked against a limit before anything is allocated.
Requests are headers only; a connection carries one request and its reply.
"""

from __future__ import annotations

from devsecrets.agent import wirejson
from devsecrets.secret import zero

VERSION = 1
MAX_HEADER = 64 * 1024
MAX_VALUE = 1 << 20
MAX_VALUES = 256
MAX_TOTAL = 16 << 20
MAX_TEXT = 4096

TYPE_CHECKING = False  # typing costs the warm `run` path ≈ 2.5 ms to import; mypy sees True
if TYPE_CHECKING:  # collections.abc too: ≈ 1.5 ms for the hook's call
    from _socket import socket as Socket  # socket.socket too: it subclasses this one
    from collections.abc import Sequence
    from typing import Any, TypeAlias

    Header: TypeAlias = dict[str, Any]


class ProtocolError(Exception):
    """A malformed, oversized or unexpected message; `code` names the kind for the reply."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def send_message(sock: Socket, header: Header, values: Sequence[bytearray] = ()) -> None:
    """Send a header and, when it announces them, the value frames."""
    try:
        body = wirejson.dumps({"v": VERSION, **header}).encode()
    except ValueError as exc:
        raise ProtocolError(f"the header cannot be sent: {exc}") from None
    if len(body) > MAX_HEADER:
        raise ProtocolError("header too large", "too_large")
    _send_parts(sock, [len(body).to_bytes(4, "big"), body])
    for value in values:
        _send_parts(sock, [len(value).to_bytes(4, "big"), memoryview(value)])


def read_header(sock: Socket) -> Header:
    """One header frame, checked: size, JSON object, protocol version."""
    length = _read_length(sock, MAX_HEADER, "header")
    body = bytearray(length)
    _recv_exact(sock, body)
    try:
        header = wirejson.loads(body.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ProtocolError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header is not a JSON object")
    if header.get("v") != VERSION:
        raise ProtocolError(
            f"protocol version {header.get('v')!r} is not {VERSION}: devsecrets and its agent "
            "differ (restart the agent: devsecrets lock, then kill it)",
            "version",
        )
    return header


def read_values(sock: Socket, count: int) -> list[bytearray]:
    """`count` value frames, each in a bytearray of exactly its length; wiped on any error."""
    if not 0 <= count <= MAX_VALUES:
        raise ProtocolError(f"{count} values announced; at most {MAX_VALUES}", "too_large")
    values: list[bytearray] = []
    total = 0
    try:
        for _ in range(count):
            length = _read_length(sock, MAX_VALUE, "value")
            total += length
            if total > MAX_TOTAL:
                raise ProtocolError("values too large in total", "too_large")
            value = bytearray(length)
            values.append(value)
            _recv_exact(sock, value)
    except BaseException:
        wipe(values)
        raise
    return values


def wipe(values: Sequence[bytearray]) -> None:
    for value in values:
        zero(value)


def _read_length(sock: Socket, limit: int, what: str) -> int:
    prefix = bytearray(4)
    _recv_exact(sock, prefix)
    length = int.from_bytes(prefix, "big")
    if length > limit:
        raise ProtocolError(f"{what} of {length} bytes; at most {limit}", "too_large")
    return length


def _recv_exact(sock: Socket, buf: bytearray) -> None:
    view = memoryview(buf)
    while view:
        n = sock.recv_into(view)
        if n == 0:
            raise ProtocolError("the connection closed in the middle of a frame", "truncated")
        view = view[n:]


def _send_parts(sock: Socket, parts: list[bytes | memoryview]) -> None:
    """sendmsg may send less than asked (a signal, a full buffer): send the rest."""
    views = [memoryview(part) for part in parts]
    while views:
        sent = sock.sendmsg(views)
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


# ---------------------------------------------------------------- reading request fields


def text(header: Header, key: str, *, limit: int = MAX_TEXT) -> str:
    value = header.get(key)
    if not isinstance(value, str) or not value or len(value) > limit or "\0" in value:
        raise ProtocolError(f"{key!r} must be a non-empty string of at most {limit} characters")
    return value


def texts(header: Header, key: str) -> list[str]:
    value = header.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_VALUES:
        raise ProtocolError(f"{key!r} must be a list of at most {MAX_VALUES} strings")
    return [text({key: item}, key) for item in value]


def integer(header: Header, key: str) -> int:
    value = header.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 31:
        raise ProtocolError(f"{key!r} must be a positive integer")
    return value
