"""Tests for devsecrets.mask: streamed masking must equal a tiny one-shot reference."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsecrets.mask import MIN_MASK_LENGTH, REPLACEMENT, Masker

R = REPLACEMENT


def usable(values: Iterable[bytes | bytearray], crlf: bool = False) -> list[bytes]:
    kept = {bytes(v) for v in values if len(v) >= MIN_MASK_LENGTH}
    if crlf:
        kept |= {v.replace(b"\n", b"\r\n") for v in kept}
    return sorted(kept, key=len, reverse=True)  # longest first: longest match wins


def reference(data: bytes, values: Iterable[bytes | bytearray], crlf: bool = False) -> bytes:
    """Leftmost match wins, then the longest; resume after the replaced occurrence."""
    candidates = usable(values, crlf)
    out, pos = bytearray(), 0
    while pos < len(data):
        match = next((v for v in candidates if data.startswith(v, pos)), None)
        if match is None:
            out.append(data[pos])
            pos += 1
        else:
            out += R
            pos += len(match)
    return bytes(out)


def expected_held(data: bytes, values: Iterable[bytes | bytearray], crlf: bool) -> int:
    """Length of the tail the reference scan cannot decide yet (it may become a value)."""
    candidates = usable(values, crlf)
    pos = 0
    while pos < len(data):
        tail = data[pos:]
        if any(len(v) > len(tail) and v.startswith(tail) for v in candidates):
            return len(tail)
        match = next((v for v in candidates if data.startswith(v, pos)), None)
        pos += len(match) if match else 1
    return 0


def streamed(
    values: Sequence[bytes | bytearray], chunks: Iterable[bytes], crlf: bool = False
) -> bytes:
    masker = Masker(values, crlf=crlf)
    return b"".join([masker.feed(c) for c in chunks] + [masker.flush()])


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_exact_replacement() -> None:
    out = streamed([bytearray(b"hunter22")], [b"password=hunter22\n"])
    assert out == b"password=" + R + b"\n"


def test_custom_replacement_and_input_types() -> None:
    masker = Masker([b"hunter22"], replacement=b"***")
    out = masker.feed(memoryview(b"a hunter22 b")) + masker.feed(bytearray(b" hunter2"))
    assert out + masker.flush() == b"a *** b hunter2"


@pytest.mark.parametrize(
    "message",
    [
        b"token=s3cr3t-value and again s3cr3t-value!",
        b"abcdefg abcdxyz abcd-s3cr3t-valu",
        b"s3cr3t-values3cr3t-value\r\nabcd",
    ],
)
def test_every_two_way_split(message: bytes) -> None:
    values = [b"s3cr3t-value", b"abcd", b"abcdefg", b"cdxy"]
    want = reference(message, values)
    for i in range(len(message) + 1):
        for j in range(i, len(message) + 1):
            assert streamed(values, split(message, (i, j))) == want, (i, j)


def test_one_byte_at_a_time() -> None:
    message = b"xx hunter22hunter22 hunte hunter2 hunter22"
    assert streamed([b"hunter22"], [bytes([b]) for b in message]) == reference(
        message, [b"hunter22"]
    )


def test_overlapping_values_leftmost_wins() -> None:
    assert streamed([b"abcdef", b"cdefgh"], [b"abcdefgh"]) == R + b"gh"
    assert streamed([b"abcdef", b"cdefgh"], [b"abcd", b"efgh"]) == R + b"gh"


def test_overlapping_occurrences_of_one_value() -> None:
    assert streamed([b"aaaa"], [b"a" * 9]) == R + R + b"a"


def test_occurrence_overlapping_a_replaced_one_is_found_after_it() -> None:
    # "QRSTa" covers 0-5; "aaaa" at 4 overlaps it, the one at 5 must still be masked.
    assert streamed([b"QRSTa", b"aaaa"], [b"QRSTaaaaa"]) == R + R


def test_value_that_is_prefix_of_another_longest_wins() -> None:
    values = [b"abcd", b"abcdef"]
    assert streamed(values, [b"abcdefg"]) == R + b"g"
    assert streamed(values, [b"abcdeX"]) == R + b"eX"
    masker = Masker(values)
    assert masker.feed(b"abcd") == b""  # complete short value, but the long one may follow
    assert masker.feed(b"ef") == R  # nothing longer can follow: decided at once
    assert masker.flush() == b""


def test_crlf_variant() -> None:
    value = bytearray(b"line1\nline2")
    data = b"a line1\r\nline2 b line1\nline2"
    assert streamed([value], [data], crlf=True) == b"a " + R + b" b " + R
    assert streamed([value], [data]) == b"a line1\r\nline2 b " + R
    masker = Masker([value], crlf=True)
    variant = masker._variants[0]
    assert isinstance(variant, bytearray)
    masker.wipe()
    assert variant == bytearray(len(variant))
    assert value == b"line1\nline2"  # the caller's value is the caller's to wipe


def test_short_empty_and_duplicate_values() -> None:
    masker = Masker([b"", b"abc", b"ab", b"toke", bytearray(b"toke")])
    assert masker._values == [b"toke"]
    assert masker.feed(b"abc ab to") == b"abc ab "
    assert masker.held == 2
    assert Masker([b"abc"]).feed(b"abc") == b"abc"


def test_held_bounds_and_release() -> None:
    masker = Masker([b"secret"])
    assert masker.feed(b"hello") == b"hello"
    assert masker.held == 0
    assert masker.feed(b"xxx sec") == b"xxx "
    assert masker.held == 3
    assert masker.feed(b"x") == b"secx"  # cannot become a secret any more: released at once
    assert masker.held == 0
    assert masker.feed(b"secre") == b""
    assert masker.held == len(b"secret") - 1


def test_held_prefix_is_zeroed_when_consumed_and_on_wipe() -> None:
    masker = Masker([b"secret-value"])
    masker.feed(b"a secret-")
    first = masker._held
    assert isinstance(first, bytearray)
    assert first == b"secret-"
    masker.feed(b"val")
    assert first == bytearray(7)  # the old buffer is zeroed, not just dropped
    second = masker._held
    assert second == b"secret-val"
    masker.wipe()
    assert second == bytearray(10)
    assert masker._values == []
    with pytest.raises(ValueError, match="wipe"):
        masker.feed(b"x")


def test_non_utf8_bytes_pass_through() -> None:
    data = bytes(range(256)) * 3
    assert streamed([b"\xff\xfe\xfd\xfc-not-there"], split(data, [100, 300])) == data
    value = b"\xc3\x28\xa0\xa1"  # invalid UTF-8 as a value
    assert streamed([value], [b"\x00\xff" + value + b"\x80"]) == b"\x00\xff" + R + b"\x80"


def test_anchor_byte_common_in_stream() -> None:
    # Values built from bytes that dominate the output: anchors get demoted, plain find is
    # used, and re-anchoring is retried; the output must not change.
    rng = random.Random(7)
    values = [bytes(rng.choices(b"abcdQ", k=rng.randint(5, 12))) for _ in range(6)]
    pieces = []
    for _ in range(4000):
        pieces.append(rng.choice(values) if rng.random() < 0.05 else bytes(rng.choices(b"abcd ")))
    data = b"Q" * 3000 + b"".join(pieces) + b"xyz" * 20000 + b"".join(pieces[:500])
    cuts = [rng.randrange(len(data)) for _ in range(150)]
    masker = Masker(values)
    out = b"".join([masker.feed(c) for c in split(data, cuts)] + [masker.flush()])
    assert out == reference(data, values)


alphabet = st.sampled_from([b"a", b"b", b"c", b"\n", b"\r", b"\xff", b"\x00"])
small_values = st.lists(
    st.lists(alphabet, min_size=0, max_size=9).map(b"".join), min_size=1, max_size=5
)


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[bytes], bytes, list[int], bool]:
    values = draw(small_values)
    pieces = draw(
        st.lists(st.one_of(st.sampled_from(values), st.binary(max_size=6), alphabet), max_size=30)
    )
    data = b"".join(pieces)
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return values, data, cuts, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(stream())
def test_random_chunking_equals_reference(case: tuple[list[bytes], bytes, list[int], bool]) -> None:
    values, data, cuts, crlf = case
    masker = Masker([bytearray(v) for v in values], crlf=crlf)
    want = reference(data, values, crlf)
    max_len = max((len(v) for v in usable(values, crlf)), default=1)
    out, seen = b"", b""
    for chunk in split(data, cuts):
        out += masker.feed(chunk)
        seen += chunk
        assert want.startswith(out)
        assert masker.held <= max_len - 1
        assert masker.held == expected_held(seen, values, crlf)
    assert out + masker.flush() == want
    assert masker.held == 0
