r"""Streaming masker: replace every secret value in a child's output by a fixed marker.

Matching rule (one-shot and streamed output agree exactly): scan left to right; at each
position the longest value starting there wins; after a replacement, scanning resumes after
the replaced occurrence.

Hold-back: after each feed() everything is emitted except the longest suffix of the not yet
consumed data that is a proper prefix of some value (at most max_len - 1 bytes).  Only the next
feed() or flush() decides whether those bytes were the start of a secret.  There is
deliberately no timer that releases held bytes: a child that writes a secret in two parts with
a pause in between would leak the first part.  The price is that output ending in, say, the
first byte of a secret is shown only once more output or EOF arrives.

Speed: one bytes.find per value per chunk costs 20 passes for 20 values, and a regex
alternation is slower still.  Each value is therefore located through an anchor, its byte that
is rarest in the output seen so far: one memchr pass per distinct anchor byte, then a
startswith check per hit.  When an anchor byte turns out to be common (more hits than a small
budget), its values are re-anchored on the current chunk; values whose bytes are all common
are searched with plain bytes.find and get another chance every _RETRY_AFTER feeds.

Variants: a value also reaches output in forms other than its raw bytes, above all in debug
output: repr() and json.dumps() escape it, and a multi-line value (a PEM key) is printed a line
at a time.  So for each value the masker also masks
  - its escaped forms inside a quoted string, as written by
      JSON.stringify: \\ \" \b \f \n \r \t, other bytes < 0x20 as \u00xx;
      json.dumps: the same, and 0x7f as \u007f;  Jackson: \u00XX in upper case;
      Python's repr() of a str: \\ \t \n \r, other bytes < 0x20 and 0x7f as \xNN;
      Node's util.inspect (console.log): repr's, but with \b \f and \xNN in upper case;
    repr and inspect once with ' escaped as \' and once without (they choose their quotes
    by those in the value: ' is escaped only next to " too, and for inspect also `);
  - each line of a multi-line value, stripped of surrounding whitespace (indentation, CR),
    if still at least MIN_LINE_LENGTH long and not a PEM armour line (`-----BEGIN X-----`,
    the same in every key of its type: printed alone, it says nothing secret);
  - with crlf=True, the value with every LF turned into CRLF (what a terminal's ONLCR makes
    of a raw multi-line value).
Variants are just more values (same matching rule, same hold-back); duplicates and forms equal
to the raw value are dropped.  Values without bytes that need escaping and without a newline
(most tokens) get no variants at all.  Non-ASCII (json.dumps' default \uXXXX for it, repr's
escapes of non-printable characters) is not covered.

Secret hygiene: the caller's values are referenced, never copied (the caller wipes its
bytearrays); variants and held-back data (a possible secret prefix) live in bytearrays that
are zeroed when consumed and in wipe().  Variants are built by bytearray operations only (a
bytearray.replace per escaped byte, split for lines), never through str or bytes, and every
intermediate bytearray is zeroed once the next one is built.  Only single anchor/first bytes
are kept as ints.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from devsecrets.secret import zero

REPLACEMENT = b"<concealed by devsecrets>"
MIN_MASK_LENGTH = 4  # shorter values are not masked (would garble all output); the caller warns
MIN_LINE_LENGTH = 8  # shorter lines of a multi-line value are not masked on their own
_NEAR = 16  # the hold-back check steps through this many last bytes; longer tails: by head

# Bytes roughly from most to least frequent in terminal output, unlisted ones rarest: only
# breaks ties between bytes equally frequent in the (maybe tiny) sample anchors are chosen on.
_COMMON = b" etaoinsrhldcumfpgwyb\n0123456789.-_:/=,\"'()[]{}<>vkxjqz\tETAOINSRHLDCUMFPGWYBVKXJQZ"
_RARITY = {byte: rank for rank, byte in enumerate(_COMMON)}
_RETRY_AFTER = 64  # feeds after which plainly searched values try an anchor again
_SAMPLE = 16 * 1024  # bytes of a chunk counted to find each value's rarest byte

Buffer = bytes | bytearray
Occurrence = tuple[int, int]  # (start, -length): sorts leftmost first, then longest first
Escapes = tuple[tuple[bytes, bytes], ...]  # (byte, what a serialiser writes for it)


_NAMED = {b"\b": b"\\b", b"\t": b"\\t", b"\n": b"\\n", b"\f": b"\\f", b"\r": b"\\r"}


def _escapes(named: bytes, other: str, controls: Iterable[int], quotes: bytes = b"") -> Escapes:
    """What one serialiser writes inside a quoted string for each byte it escapes: named
    escapes for the bytes in `named`, `other % byte` for the other control bytes.  Backslash
    comes first: the escapes after it bring in backslashes of their own."""
    pairs = [(b"\\", b"\\\\")] + [(bytes((q,)), b"\\" + bytes((q,))) for q in quotes]
    for byte in controls:
        key = bytes((byte,))
        pairs.append((key, _NAMED[key] if key in named else (other % byte).encode()))
    return tuple(pairs)


@functools.cache  # not at import: `run` imports this module even when nothing is masked
def _dialects() -> tuple[Escapes, ...]:
    c0, c0_del = range(0x20), (*range(0x20), 0x7F)
    return (
        _escapes(b"\b\t\n\f\r", "\\u%04x", c0_del, b'"'),  # json.dumps (ensure_ascii)
        _escapes(b"\b\t\n\f\r", "\\u%04x", c0, b'"'),  # JSON.stringify
        _escapes(b"\b\t\n\f\r", "\\u%04X", c0, b'"'),  # Jackson
        _escapes(b"\t\n\r", "\\x%02x", c0_del),  # Python repr() of a str ...
        _escapes(b"\t\n\r", "\\x%02x", c0_del, b"'"),  # ... holding both kinds of quote
        _escapes(b"\b\t\n\f\r", "\\x%02X", c0_del),  # Node util.inspect (console.log) ...
        _escapes(b"\b\t\n\f\r", "\\x%02X", c0_del, b"'"),  # ... holding ' " and `
    )


def _needs_variants(value: Buffer) -> bool:
    """Whether value has a byte some serialiser escapes (a newline among them: lines too).
    Most tokens have none; this is the only work they cost."""
    return min(value) < 0x20 or b'"' in value or b"'" in value or b"\\" in value or b"\x7f" in value


class Masker:
    """Mask secret values in a byte stream fed in arbitrary chunks."""

    def __init__(
        self,
        values: Iterable[bytearray | bytes],
        *,
        crlf: bool = False,
        replacement: bytes = REPLACEMENT,
    ) -> None:
        self._replacement = replacement
        self._variants: list[bytearray] = []  # built here, so zeroed in wipe()
        self._values: list[Buffer] = []
        for value in values:
            if len(value) < MIN_MASK_LENGTH:
                continue
            self._add(value)
            if not _needs_variants(value):
                continue  # the common case (tokens): nothing to escape, no lines
            for escapes in _dialects():
                self._add_variant(_escaped(value, escapes))
            if b"\n" in value:
                for line in _lines(value):
                    self._add_variant(line)
                if crlf:
                    scratch = bytearray(value)  # so that replace() builds a bytearray too
                    self._add_variant(scratch.replace(b"\n", b"\r\n"))
                    zero(scratch)
        self._max_len = max((len(v) for v in self._values), default=0)
        self._by_first: dict[int, list[Buffer]] = {}
        for value in self._values:
            self._by_first.setdefault(value[0], []).append(value)
        # A tail longer than _NEAR can only start a longer value: found by its first _NEAR
        # bytes (bytearrays, zeroed in wipe()) rather than a Python step per byte of a PEM.
        self._heads = [
            (bytearray(memoryview(v)[:_NEAR]), v) for v in self._values if len(v) > _NEAR
        ]
        # Values are placed on anchors once real output shows which bytes are rare in it.
        self._unplaced: list[Buffer] = list(self._values)
        self._anchored: dict[int, list[tuple[int, Buffer]]] = {}
        self._plain: list[Buffer] = []  # every byte of these is common: plain bytes.find
        self._feeds = 0
        self._held = bytearray()
        self._wiped = False

    def _add(self, value: Buffer) -> None:
        # Equality, not a set: hashing would need an immutable (unwipeable) copy.
        if not any(value == kept for kept in self._values):
            self._values.append(value)

    def _add_variant(self, variant: bytearray | None) -> None:
        if variant is None:
            return
        if any(variant == kept for kept in self._values):
            zero(variant)  # nothing new to mask
        else:
            self._variants.append(variant)  # zeroed in wipe()
            self._values.append(variant)

    @property
    def held(self) -> int:
        """Bytes currently held back because they may start a secret."""
        return len(self._held)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes | memoryview:
        """Take the next chunk; return what can safely be written now. When nothing needed
        masking that may be a read-only view of `data` itself: write it out before changing
        `data`."""
        if self._wiped:
            raise ValueError("Masker used after wipe()")
        if not self._values:
            return bytes(data)
        self._feeds += 1
        if not self._held:
            buf: Buffer = data if isinstance(data, bytes | bytearray) else bytes(data)
            out, keep = self._mask(buf, final=False)
            self._held = bytearray(memoryview(buf)[keep:])
            return out
        # A fresh bytearray rather than extending _held: growing in place may realloc and
        # free a block holding the secret prefix without zeroing it.
        joined = self._held + data
        zero(self._held)
        out, keep = self._mask(joined, final=False)
        out = bytes(out)  # before joined is zeroed (masked output: no secret in it)
        self._held = joined[keep:]
        zero(joined)
        return out

    def flush(self) -> bytes:
        """At EOF: return everything held back, masked."""
        if self._wiped:
            raise ValueError("Masker used after wipe()")
        if not self._held:
            return b""
        out, _ = self._mask(self._held, final=True)
        out = bytes(out)  # before _held is zeroed
        zero(self._held)
        self._held = bytearray()
        return out

    def wipe(self) -> None:
        """Zero buffers that may hold secret bytes and drop references to the values."""
        zero(self._held)
        for variant in self._variants:
            zero(variant)
        for store in (self._variants, self._values, self._unplaced, self._plain):
            store.clear()
        for head, _ in self._heads:
            zero(head)
        self._heads.clear()
        self._anchored.clear()
        self._by_first.clear()
        self._wiped = True

    def _mask(self, buf: Buffer, *, final: bool) -> tuple[bytes | memoryview, int]:
        """Mask buf up to the hold-back point; return (output, hold-back start)."""
        size = len(buf)
        hold = size if final else self._hold_start(buf, 0)
        view = memoryview(buf)
        parts: list[bytes | memoryview] = []
        cursor = 0
        for start, neg_len in self._occurrences(buf):
            if start < cursor:
                continue  # overlaps an occurrence already replaced
            if start >= hold:
                break  # a longer value may still start at or before `hold`
            parts += (view[cursor:start], self._replacement)
            cursor = start - neg_len
            if cursor > hold:  # the replacement swallowed the old hold-back start
                hold = self._hold_start(buf, cursor)
        if not parts:  # the common case: nothing to mask, nothing to copy
            return view[:hold].toreadonly(), hold
        parts.append(view[cursor:hold])
        return b"".join(parts), hold

    def _hold_start(self, buf: Buffer, low: int) -> int:
        """First position >= low from which buf's tail is a proper prefix of a value."""
        size, view = len(buf), memoryview(buf)
        start = max(low, size - self._max_len + 1)  # longer tails: too long for any value
        near = found = max(start, size - _NEAR)
        for head, value in self._heads:  # tails longer than _NEAR, leftmost first
            pos = buf.find(head, start, found + _NEAR - 1)  # a head starting before `found`
            while pos != -1:
                if len(value) > size - pos and value.startswith(view[pos:]):
                    found = pos
                    break
                pos = buf.find(head, pos + 1, found + _NEAR - 1)
        if found < near:
            return found
        candidates = self._by_first.get
        for pos in range(near, size):  # the last _NEAR bytes: a step per byte
            for value in candidates(buf[pos]) or ():
                if len(value) > size - pos and value.startswith(view[pos:]):
                    return pos
        return size

    def _occurrences(self, buf: Buffer) -> list[Occurrence]:
        """Every (possibly overlapping) occurrence of every value, sorted."""
        if self._unplaced or (self._plain and self._feeds % _RETRY_AFTER == 0):
            retry, self._unplaced, self._plain = self._unplaced + self._plain, [], []
            self._place(retry, buf)
        found = [occ for value in self._plain for occ in _find_every(buf, value)]
        budget = 16 + (len(buf) >> 10)
        demoted: list[Buffer] = []
        for anchor, group in list(self._anchored.items()):
            hits = _anchor_hits(buf, anchor, group, budget)
            if hits is None:  # this byte is common in this stream after all
                del self._anchored[anchor]
                demoted += (value for _, value in group)
                hits = [occ for _, value in group for occ in _find_every(buf, value)]
            found += hits
        if demoted:
            self._place(demoted, buf)
        found.sort()
        return found

    def _place(self, values: list[Buffer], sample: Buffer) -> None:
        """Anchor each value on its byte rarest in sample, or search it plainly."""
        counts: dict[int, int] = {}

        def cost(byte: int) -> tuple[int, int]:
            if byte not in counts:
                counts[byte] = sample.count(byte, 0, _SAMPLE)
            return counts[byte], -_RARITY.get(byte, len(_COMMON))

        limit = 4 + (min(len(sample), _SAMPLE) >> 11)  # half the density _anchor_hits allows
        for value in values:
            offset = min(range(len(value)), key=lambda i: cost(value[i]))
            if counts[value[offset]] > limit:
                self._plain.append(value)
            else:
                self._anchored.setdefault(value[offset], []).append((offset, value))


def _escaped(value: Buffer, escapes: Escapes) -> bytearray | None:
    """value as a serialiser writes it inside a quoted string; None if that is value itself."""
    out: bytearray | None = None
    for byte, escape in escapes:
        # No escape brings in a byte escaped after it (backslash goes first), so value holds
        # the byte exactly when `out` does.
        if byte in value:
            scratch = out if out is not None else bytearray(value)  # replace() keeps the type
            out = scratch.replace(byte, escape)
            zero(scratch)
    return out


def _lines(value: Buffer) -> list[bytearray]:
    """The lines of value, stripped of surrounding whitespace (indentation, CR), that are
    long enough to mask on their own: a line of blanks or a closing brace is not."""
    scratch = bytearray(value)
    lines = scratch.split(b"\n")
    zero(scratch)
    kept = []
    for line in lines:
        stripped = line.strip()  # a new bytearray even when nothing is stripped
        zero(line)
        if len(stripped) >= MIN_LINE_LENGTH and not _armour(stripped):
            kept.append(stripped)
        else:
            zero(stripped)
    return kept


def _armour(line: bytearray) -> bool:
    """A PEM armour line: `-----BEGIN …-----` or `-----END …-----`."""
    return line.startswith((b"-----BEGIN ", b"-----END ")) and line.endswith(b"-----")


def _anchor_hits(
    buf: Buffer, anchor: int, group: list[tuple[int, Buffer]], budget: int
) -> list[Occurrence] | None:
    """Occurrences of the group's values via their anchor byte; None if it is too common."""
    hits: list[Occurrence] = []
    pos = buf.find(anchor)  # memchr: far faster than a multi-byte find
    while pos != -1:
        budget -= 1
        if budget < 0:
            return None
        for offset, value in group:
            start = pos - offset
            if start >= 0 and buf.startswith(value, start):
                hits.append((start, -len(value)))
        pos = buf.find(anchor, pos + 1)
    return hits


def _find_every(buf: Buffer, value: Buffer) -> list[Occurrence]:
    found: list[Occurrence] = []
    start = buf.find(value)
    while start != -1:
        found.append((start, -len(value)))
        # Overlapping ones too: once an earlier replacement ends inside one occurrence,
        # the next, overlapping one may be the leftmost match.
        start = buf.find(value, start + 1)
    return found
