"""Streaming masker: replace every secret value in a child's output by a fixed marker.

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

Secret hygiene: the caller's values are referenced, never copied (the caller wipes its
bytearrays); crlf variants and held-back data (a possible secret prefix) live in bytearrays
that are zeroed when consumed and in wipe().  Only single anchor/first bytes are kept as ints.
"""

from __future__ import annotations

from collections.abc import Iterable

from devsecrets.secret import zero

REPLACEMENT = b"<concealed by devsecrets>"
MIN_MASK_LENGTH = 4  # shorter values are not masked (would garble all output); the caller warns

# Bytes roughly from most to least frequent in terminal output, unlisted ones rarest: only
# breaks ties between bytes equally frequent in the (maybe tiny) sample anchors are chosen on.
_COMMON = b" etaoinsrhldcumfpgwyb\n0123456789.-_:/=,\"'()[]{}<>vkxjqz\tETAOINSRHLDCUMFPGWYBVKXJQZ"
_RARITY = {byte: rank for rank, byte in enumerate(_COMMON)}
_RETRY_AFTER = 64  # feeds after which plainly searched values try an anchor again
_SAMPLE = 16 * 1024  # bytes of a chunk counted to find each value's rarest byte

Buffer = bytes | bytearray
Occurrence = tuple[int, int]  # (start, -length): sorts leftmost first, then longest first


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
            if crlf and b"\n" in value:
                scratch = bytearray(value)  # so that replace() builds a bytearray too
                variant = scratch.replace(b"\n", b"\r\n")
                zero(scratch)
                self._variants.append(variant)  # zeroed in wipe() even if a duplicate
                self._add(variant)
        self._max_len = max((len(v) for v in self._values), default=0)
        self._by_first: dict[int, list[Buffer]] = {}
        for value in self._values:
            self._by_first.setdefault(value[0], []).append(value)
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
        size, view, candidates = len(buf), memoryview(buf), self._by_first.get
        for pos in range(max(low, size - self._max_len + 1), size):  # longer tails: too long
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
