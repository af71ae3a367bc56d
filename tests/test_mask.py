"""Tests for devsecrets.mask: streamed masking must equal a tiny one-shot reference."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devsecrets.mask import MIN_LINE_LENGTH, MIN_MASK_LENGTH, REPLACEMENT, Masker

R = REPLACEMENT

# How serialisers write a byte inside a quoted string, one byte at a time (the masker builds
# these forms differently): named escapes, the format of other escaped control bytes, which
# control bytes those are, and the bytes that just get a backslash in front.
C0 = range(0x20)
ESCAPES = {
    "json.dumps": (b"\b\t\n\f\r", "\\u%04x", [*C0, 0x7F], b'\\"'),
    "JSON.stringify": (b"\b\t\n\f\r", "\\u%04x", C0, b'\\"'),
    "Jackson": (b"\b\t\n\f\r", "\\u%04X", C0, b'\\"'),
    "repr": (b"\t\n\r", "\\x%02x", [*C0, 0x7F], b"\\"),
    "repr, both quotes": (b"\t\n\r", "\\x%02x", [*C0, 0x7F], b"\\'"),
    "util.inspect": (b"\b\t\n\f\r", "\\x%02X", [*C0, 0x7F], b"\\"),
    "util.inspect, all quotes": (b"\b\t\n\f\r", "\\x%02X", [*C0, 0x7F], b"\\'"),
}
LETTERS = {0x08: b"b", 0x09: b"t", 0x0A: b"n", 0x0C: b"f", 0x0D: b"r"}


def escaped(value: bytes, dialect: str) -> bytes:
    named, other, controls, backslashed = ESCAPES[dialect]
    out = bytearray()
    for byte in value:
        if byte in backslashed:
            out += b"\\" + bytes((byte,))
        elif byte in named:
            out += b"\\" + LETTERS[byte]
        elif byte in controls:
            out += (other % byte).encode()
        else:
            out.append(byte)
    return bytes(out)


def forms(value: bytes, crlf: bool = False) -> set[bytes]:
    """value and every variant the masker should mask with it."""
    found = {value} | {escaped(value, dialect) for dialect in ESCAPES}
    if b"\n" in value:
        lines = (line.strip(b" \t\r\x0b\x0c") for line in value.split(b"\n"))
        found |= {line for line in lines if len(line) >= MIN_LINE_LENGTH}
        if crlf:
            found.add(value.replace(b"\n", b"\r\n"))
    return found


def usable(values: Iterable[bytes | bytearray], crlf: bool = False) -> list[bytes]:
    kept = {form for v in values if len(v) >= MIN_MASK_LENGTH for form in forms(bytes(v), crlf)}
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


PEM = (
    "-----BEGIN TEST KEY-----\n"
    "MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8\n"
    "k4ZGa6QRc5XfzYQ4KvYy1RKgOjZ\n"
    "-----END TEST KEY-----\n"
)
ESCAPABLE = [
    PEM,
    'pa"ss\\word',  # quote and backslash
    "both ' and \" quotes",
    "it's-a-secret",  # repr writes it in "" without escaping, or as it\'s next to a "
    "ctl\x00\x1b\x1f\x7f\tx\rx\x08x\x0c",
    "crlf-line-one\r\nline-two",
]


@pytest.mark.parametrize("secret", ESCAPABLE)
def test_json_forms_are_masked(secret: str) -> None:
    value = bytearray(secret.encode())
    assert streamed([value], [json.dumps({"PW": secret}).encode()]) == b'{"PW": "' + R + b'"}'
    assert streamed([value], [json.dumps([secret], indent=2).encode()]) == b'[\n  "' + R + b'"\n]'
    like_js = json.dumps(secret, ensure_ascii=False)  # JSON.stringify's escapes: DEL as is
    jackson = like_js.replace("\\u001b", "\\u001B").replace("\\u001f", "\\u001F")
    for shown in (like_js, jackson):
        assert streamed([value], [shown.encode()]) == b'"' + R + b'"'


@pytest.mark.parametrize("secret", ESCAPABLE)
def test_repr_forms_are_masked(secret: str) -> None:
    value = bytearray(secret.encode())
    for shown in (repr(secret), repr({"PW": secret}), repr(f"\"{secret}'"), repr([secret])):
        masked = shown.encode().replace(repr(secret)[1:-1].encode(), R)
        masked = masked.replace(repr(f"\"{secret}'")[2:-3].encode(), R)  # with \' escaped
        assert masked != shown.encode()
        assert streamed([value], [shown.encode()]) == masked, shown


@pytest.mark.parametrize(
    ("secret", "shown"),
    [  # what Node 20's console.log / util.inspect prints for {PW: secret}
        ("a\x7fb\x08\x0c\x1b\x0b\\x\n'q\"q`", b"{ PW: 'a\\x7Fb\\b\\f\\x1B\\x0B\\\\x\\n\\'q\"q`' }"),
        ('it\'s "x" `y`', b"{ PW: 'it\\'s \"x\" `y`' }"),
        ('a\\b"c\td', b"{ PW: 'a\\\\b\"c\\td' }"),
    ],
)
def test_node_inspect_forms_are_masked(secret: str, shown: bytes) -> None:
    assert streamed([secret.encode()], [shown]) == b"{ PW: '" + R + b"' }"


def test_node_inspect_of_a_multi_line_value_is_masked_line_by_line() -> None:
    shown = (  # Node 20: a long multi-line string in an object is split after each newline
        b"{\n  PW: '-----BEGIN TEST KEY-----\\n' +\n"
        b"    'MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8\\n' +\n"
        b"    'k4ZGa6QRc5XfzYQ4KvYy1RKgOjZ\\n' +\n"
        b"    '-----END TEST KEY-----\\n'\n}"
    )
    masked = b"{\n  PW: '-----BEGIN TEST KEY-----\\n' +\n" + (b"    '" + R + b"\\n' +\n") * 2
    masked += b"    '-----END TEST KEY-----\\n'\n}"  # the armour lines say nothing secret
    assert streamed([PEM.encode()], [shown]) == masked


def test_lines_of_a_multi_line_value_are_masked_on_their_own() -> None:
    value = bytearray(
        b"first-line-of-it\nab\r\n1234567\n12345678\r\r\n  \t  last-line\n" + b" " * 12 + b"}\n"
    )
    data = b"1: first-line-of-it\n2: ab\n3: 1234567\n4: 12345678\r\n5: last-line\n6:" + b" " * 12
    assert streamed([value], [data + b"}"]) == (
        b"1: %b\n2: ab\n3: 1234567\n4: %b\r\n5: %b\n6:" % (R, R, R) + b" " * 12 + b"}"
    )  # indentation and CRs are not part of a line; a line of blanks, or "}", is too short
    pem = PEM.encode()
    assert streamed([pem], [b"".join(b"> " + line + b"\r\n" for line in pem.split(b"\n"))]) == (
        b"> -----BEGIN TEST KEY-----\r\n> %b\r\n> %b\r\n> -----END TEST KEY-----\r\n> \r\n"
    ) % (R, R)  # the armour lines, the same in every key of the kind, are left alone
    assert streamed([pem], [pem]) == R  # the whole key, armour and all, is one value
    assert MIN_LINE_LENGTH == 8


@pytest.mark.parametrize(
    "value",
    [b"ghp_abcdEFGH1234", b"correct-Horse!battery99", b"\xc3\xa9t\xc3\xa9-secret", b"abcd"],
)
def test_values_with_nothing_to_escape_get_no_variants(value: bytes) -> None:
    masker = Masker([value], crlf=True)
    assert masker._values == [value]
    assert masker._variants == []


@pytest.mark.parametrize(
    ("value", "variants"),
    [
        (b'say "hi"', [b'say \\"hi\\"']),  # JSON only: repr and inspect leave " alone
        (b"it's-me", [b"it\\'s-me"]),  # JSON leaves ' alone, and repr mostly does
        (b"a\\b\\c", [b"a\\\\b\\\\c"]),  # the same in every dialect: one variant
        (b"esc\x1bape", [b"esc\\u001bape", b"esc\\u001Bape", b"esc\\x1bape", b"esc\\x1Bape"]),
        (b"tab\there", [b"tab\\there"]),
        (b"del\x7fete", [b"del\\u007fete", b"del\\x7fete", b"del\\x7Fete"]),
        (b"line-one\nline-two", [b"line-one\\nline-two", b"line-one", b"line-two"]),
    ],
)
def test_only_forms_that_differ_are_added(value: bytes, variants: list[bytes]) -> None:
    masker = Masker([value, bytearray(value)])  # a duplicate value adds no variants either
    assert masker._values == [value, *variants]
    assert masker._variants == variants


def test_every_variant_is_a_bytearray_that_wipe_zeroes() -> None:
    value = bytearray(b'-----BEGIN-----\nit\'s "q" \\ \x1b\tx\r\nlast-line-of-it\n')
    token = bytearray(b"plain-token-1234")
    masker = Masker([value, token], crlf=True)
    variants = list(masker._variants)
    assert len(variants) >= 8
    for kept in masker._values:
        assert kept is value or kept is token or any(kept is v for v in variants)
    assert all(isinstance(v, bytearray) and any(v) for v in variants)
    masker.wipe()
    assert all(v == bytearray(len(v)) for v in variants)
    assert value.startswith(b"-----BEGIN-----\nit's") and token == b"plain-token-1234"


@pytest.mark.parametrize("secret", ['pa"ss\nword-1', "tab\tand'quote"])
def test_escaped_forms_split_anywhere(secret: str) -> None:
    value = secret.encode()
    message = (repr(secret) + json.dumps(secret) + repr(f"\"{secret}'")).encode()
    want = reference(message, [value])
    assert R in want and value not in want
    for i in range(len(message) + 1):
        for j in range(i, len(message) + 1):
            assert streamed([value], split(message, (i, j))) == want, (i, j)


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


alphabet = st.sampled_from(
    [
        b"a",
        b"b",
        b"c",
        b"\n",
        b"\r",
        b"\xff",
        b"\x00",
        b"\\",
        b'"',
        b"'",
        b"\t",
        b"\x1f",
        b"\x7f",
        b"\x08",
    ]
)
small_values = st.lists(
    st.lists(alphabet, min_size=0, max_size=12).map(b"".join), min_size=1, max_size=5
)


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[bytes], bytes, list[int], bool]:
    values = draw(small_values)
    # The data holds values in every form the masker should know, and pieces of those forms.
    known = sorted(form for value in values for form in forms(value, crlf=True))
    pieces = draw(
        st.lists(
            st.one_of(
                st.sampled_from(known),
                st.sampled_from(known).map(lambda form: form[: len(form) // 2]),
                st.binary(max_size=6),
                alphabet,
            ),
            max_size=30,
        )
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


def test_hold_back_matches_a_byte_by_byte_search() -> None:
    """Tails longer than the byte-by-byte window are found through the values' heads: the
    same hold-back point as checking every position, for long and short values alike."""
    rng = random.Random(7)

    def every_position(values: list[bytearray], buf: bytearray) -> int:
        longest = max(len(v) for v in values)
        for pos in range(max(0, len(buf) - longest + 1), len(buf)):
            if any(len(v) > len(buf) - pos and v.startswith(buf[pos:]) for v in values):
                return pos
        return len(buf)

    for _ in range(600):
        values = [
            bytearray(rng.choices(b"ab-", k=rng.randint(4, 60))) for _ in range(rng.randint(1, 4))
        ]
        masker = Masker(values)
        buf = bytearray(rng.choices(b"ab-\n", k=rng.randint(0, 150)))
        if rng.random() < 0.7:
            value = rng.choice(values)
            buf += value[: rng.randint(1, len(value) - 1)]
        assert masker._hold_start(buf, 0) == every_position(values, buf), (values, buf)
