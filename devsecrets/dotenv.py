"""Parse dotenv files: the 1Password CLI's dialect plus what people actually write.

`KEY=VALUE` per line, optional `export ` prefix, whitespace around key and value ignored,
`#` comments (whole line, or after an unquoted value), single- or double-quoted values that
may span lines (quotes removed, inner whitespace kept), backslash escapes inside double
quotes, CRLF line ends. Variable references (`$VAR`, `${VAR}`) are not expanded: which
value a program would have seen depends on its loader, so they are reported instead.

Values are parsed from a bytearray into bytearrays, so a caller can wipe them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devsecrets.secret import zero

_KEY = re.compile(rb"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*")
_BLANK_OR_COMMENT = re.compile(rb"[ \t]*(?:#[^\n]*)?(?:\n|$)")
_VARIABLE = re.compile(
    rb"(?<!\\)\$(?:\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)"
)
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}


class DotenvError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Entry:
    key: str
    value: bytearray
    line: int
    uses_variables: bool = False


@dataclass
class Dotenv:
    entries: list[Entry] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def wipe(self) -> None:
        for entry in self.entries:
            zero(entry.value)


def parse_dotenv(data: bytearray) -> Dotenv:
    """Parse a whole file; the last of duplicate keys wins (and is reported)."""
    text = data.replace(b"\r\n", b"\n")
    result = Dotenv()
    by_key: dict[str, int] = {}
    pos = 0
    try:
        while pos < len(text):
            blank = _BLANK_OR_COMMENT.match(text, pos)
            if blank and blank.end() > pos:
                pos = blank.end()
                continue
            entry, pos = _entry(text, pos)
            if entry.key in by_key:
                result.duplicates.append(entry.key)
                old = result.entries.pop(by_key[entry.key])
                zero(old.value)
                by_key = {e.key: i for i, e in enumerate(result.entries)}
            by_key[entry.key] = len(result.entries)
            result.entries.append(entry)
    finally:
        zero(text)
    return result


def _line_at(text: bytearray, pos: int) -> int:
    return text.count(b"\n", 0, pos) + 1


def _entry(text: bytearray, pos: int) -> tuple[Entry, int]:
    line = _line_at(text, pos)
    match = _KEY.match(text, pos)
    if not match:
        raise DotenvError("expected KEY=VALUE (a name, '=', then the value)", line)
    key = match.group(1).decode()
    pos = match.end()
    quote = text[pos] if pos < len(text) else None
    if quote in (ord('"'), ord("'")):
        assert quote is not None
        value, pos = _quoted(text, pos + 1, quote, line)
        rest = _BLANK_OR_COMMENT.match(text, pos)
        if rest is None:
            raise DotenvError(f"unexpected text after the closing quote of {key}", line)
        uses = quote == ord('"') and _VARIABLE.search(value) is not None
        return Entry(key, value, line, uses), rest.end()
    end = text.find(b"\n", pos)
    end = len(text) if end < 0 else end
    raw = text[pos:end]
    comment = re.search(rb"[ \t]#", raw)
    if comment:
        raw[comment.start() :] = b""
    size = len(raw)
    while size and raw[size - 1] in b" \t":
        size -= 1
    value = raw[:size]
    zero(raw)
    return Entry(key, value, line, _VARIABLE.search(value) is not None), end + 1


def _quoted(text: bytearray, pos: int, quote: int, line: int) -> tuple[bytearray, int]:
    """The value up to the closing quote (which may be lines later).

    Written into a scratch buffer allocated once: growing a bytearray byte by byte would
    reallocate it and leave copies of the value in freed memory.
    """
    scratch = bytearray(len(text) - pos)
    size = 0
    try:
        while pos < len(text):
            byte = text[pos]
            if byte == quote:
                return scratch[:size], pos + 1
            if byte == ord("\\") and quote == ord('"') and pos + 1 < len(text):
                decoded = _ESCAPES.get(text[pos + 1], bytes([text[pos + 1]]))
                pos += 2
            else:
                decoded = bytes([byte])
                pos += 1
            scratch[size : size + len(decoded)] = decoded
            size += len(decoded)
        raise DotenvError(f"the {chr(quote)} opened here is never closed", line)
    finally:
        zero(scratch)
