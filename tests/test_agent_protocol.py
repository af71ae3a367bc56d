"""The agent's wire format on a socketpair: framing, limits, and refusal of bad input."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsecrets.agent import protocol, wirejson
from devsecrets.agent.protocol import ProtocolError, read_header, read_values, send_message


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def test_header_and_values_round_trip(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    values = [bytearray(b"first\x00value"), bytearray(), bytearray(b"x" * 70000)]
    sender = threading.Thread(
        target=send_message, args=(a, {"ok": True, "names": ["A", "B", "C"]}, values)
    )
    sender.start()
    header = read_header(b)
    received = read_values(b, len(header["names"]))
    sender.join()
    assert header == {"v": protocol.VERSION, "ok": True, "names": ["A", "B", "C"]}
    assert received == values
    assert all(type(value) is bytearray for value in received)


def test_values_never_travel_inside_the_header(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    send_message(a, {"names": ["A"]}, [bytearray(b"s3cret-value")])
    header_frame = b.recv(4)
    body = b.recv(int.from_bytes(header_frame, "big"))
    assert b"s3cret" not in body
    assert json.loads(body) == {"v": 1, "names": ["A"]}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (frame(b"not json"), "bad_request"),
        (frame(b"[1, 2]"), "bad_request"),
        (frame(b'{"op": "status"}'), "version"),
        (frame(b'{"v": 2, "op": "status"}'), "version"),
        ((protocol.MAX_HEADER + 1).to_bytes(4, "big"), "too_large"),
        ((2**32 - 1).to_bytes(4, "big"), "too_large"),
        (frame(b'{"v": 1, "op"'), "bad_request"),
        (b"\x00\x00\x01", "truncated"),
        (b"\x00\x00\x00\x10{}", "truncated"),
    ],
)
def test_bad_headers_are_protocol_errors(
    pair: tuple[socket.socket, socket.socket], raw: bytes, code: str
) -> None:
    a, b = pair
    a.sendall(raw)
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(ProtocolError) as caught:
        read_header(b)
    assert caught.value.code == code


def test_value_limits(pair: tuple[socket.socket, socket.socket]) -> None:
    a, b = pair
    with pytest.raises(ProtocolError, match="at most"):
        read_values(b, protocol.MAX_VALUES + 1)
    a.sendall((protocol.MAX_VALUE + 1).to_bytes(4, "big"))
    with pytest.raises(ProtocolError) as caught:
        read_values(b, 1)
    assert caught.value.code == "too_large"


def test_a_truncated_value_wipes_what_was_read(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    a.sendall(frame(b"complete-value") + (100).to_bytes(4, "big") + b"partial")
    a.shutdown(socket.SHUT_WR)
    seen: list[bytearray] = []
    real_wipe = protocol.wipe

    def spy(values: list[bytearray]) -> None:
        seen.extend(values)
        real_wipe(values)

    monkeypatch.setattr(protocol, "wipe", spy)
    with pytest.raises(ProtocolError):
        read_values(b, 2)
    assert seen and all(not any(value) for value in seen)


def test_oversized_header_is_refused_before_sending(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    with pytest.raises(ProtocolError):
        send_message(pair[0], {"junk": "x" * protocol.MAX_HEADER})


@pytest.mark.parametrize(
    ("request_", "reader"),
    [
        ({"cap": 5}, lambda h: protocol.text(h, "cap")),
        ({"cap": ""}, lambda h: protocol.text(h, "cap")),
        ({"cap": "a\0b"}, lambda h: protocol.text(h, "cap")),
        ({"cap": "x" * 5000}, lambda h: protocol.text(h, "cap")),
        ({"only": "NAME"}, lambda h: protocol.texts(h, "only")),
        ({"only": [1]}, lambda h: protocol.texts(h, "only")),
        ({"shell": "12"}, lambda h: protocol.integer(h, "shell")),
        ({"shell": True}, lambda h: protocol.integer(h, "shell")),
        ({"shell": -1}, lambda h: protocol.integer(h, "shell")),
    ],
)
def test_request_fields_are_checked(request_: dict[str, object], reader: object) -> None:
    with pytest.raises(ProtocolError):
        reader(request_)  # type: ignore[operator]


# ---------------------------------------------------------------- the JSON codec (wirejson)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_wirejson_writes_and_reads_what_json_does(value: object) -> None:
    text = wirejson.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert wirejson.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"a" 1}', '{"a": 1', "[1,]", '"abc', '{"a":"\x01"}', "{} x", "", "nul", "[" * 100000],
)
def test_wirejson_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises((ValueError, RecursionError)):
        json.loads(text)
    with pytest.raises((ValueError, RecursionError)):
        wirejson.loads(text)


def test_wirejson_accepts_what_json_accepts_beyond_its_own_output() -> None:
    for text in [' {"a": [1, 2.5e3, "\\u00e9"]} \n', "NaN", "[Infinity]", '"\\ud83d\\ude00"']:
        assert repr(wirejson.loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: "x"}, b"bytes", {"a": set()}])
def test_wirejson_refuses_what_json_cannot_hold(value: object) -> None:
    with pytest.raises(ValueError):
        wirejson.dumps(value)
