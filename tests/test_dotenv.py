from __future__ import annotations

import pytest

from devsecrets.dotenv import DotenvError, parse_dotenv


def parse(text: str | bytes) -> dict[str, bytes]:
    data = text.encode() if isinstance(text, str) else text
    return {e.key: bytes(e.value) for e in parse_dotenv(bytearray(data)).entries}


def test_the_op_dialect() -> None:
    text = (
        "# comment\n"
        "\n"
        "KEY = VALUE\n"
        "EMPTY=\n"
        "INLINE=abc # a comment\n"
        "HASH=abc#not-a-comment\n"
        'QUOTED="  keep spaces  "\n'
        "SINGLE='no $EXPANSION here'\n"
        'JSON={"foo":"bar"}\n'
        'ESCAPED="\\$SOME_VAR that is not actually replaced."\n'
        "EQUALS=a=b=c\n"
    )
    assert parse(text) == {
        "KEY": b"VALUE",
        "EMPTY": b"",
        "INLINE": b"abc",
        "HASH": b"abc#not-a-comment",
        "QUOTED": b"  keep spaces  ",
        "SINGLE": b"no $EXPANSION here",
        "JSON": b'{"foo":"bar"}',
        "ESCAPED": b"$SOME_VAR that is not actually replaced.",
        "EQUALS": b"a=b=c",
    }


def test_export_prefix_crlf_unicode_and_multiline() -> None:
    text = 'export TOKEN=abc\r\nNAME="zoë ✓"\r\nKEY="-----BEGIN\nline2\n-----END"\r\nafter=1\r\n'
    assert parse(text) == {
        "TOKEN": b"abc",
        "NAME": "zoë ✓".encode(),
        "KEY": b"-----BEGIN\nline2\n-----END",
        "after": b"1",
    }


def test_double_quote_escapes() -> None:
    assert parse('A="l1\\nl2\\t\\"q\\" \\\\"\n') == {"A": b'l1\nl2\t"q" \\'}


def test_duplicates_last_wins_and_are_reported() -> None:
    parsed = parse_dotenv(bytearray(b"A=1\nB=2\nA=3\n"))
    assert {e.key: bytes(e.value) for e in parsed.entries} == {"B": b"2", "A": b"3"}
    assert parsed.duplicates == ["A"]


def test_variables_are_reported_not_expanded() -> None:
    parsed = parse_dotenv(bytearray(b"URL=\"postgres://${DB_USER}:x@h\"\nP=$HOME/x\nS='$LIT'\n"))
    flags = {e.key: e.uses_variables for e in parsed.entries}
    assert flags == {"URL": True, "P": True, "S": False}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("A=1\nnot a line\n", 2, "expected KEY=VALUE"),
        ('A=1\nB="never closed\nC=3\n', 2, "never closed"),
        ("A='x' trailing\n", 1, "unexpected text after the closing quote"),
        ("1BAD=x\n", 1, "expected KEY=VALUE"),
    ],
)
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DotenvError) as info:
        parse_dotenv(bytearray(text.encode()))
    assert info.value.line == line
    assert message in str(info.value)


def test_wipe_zeroes_values() -> None:
    parsed = parse_dotenv(bytearray(b"A=secret-one\n"))
    value = parsed.entries[0].value
    parsed.wipe()
    assert value == bytearray(len(b"secret-one"))
