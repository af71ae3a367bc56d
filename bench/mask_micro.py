"""Micro-benchmark for devsecrets.mask.Masker.

Usage: python bench/mask_micro.py [--mb 64] [--relay-mb 200]

Prints MB/s of Masker.feed() over text-like log data (with occasional real occurrences, some
split across chunk boundaries) for 0, 1 and 20 configured values, in 64 KiB and 1 MiB chunks.
With --relay-mb > 0 it also times a real pipe relay (child `cat` -> os.read -> mask ->
os.write to /dev/null) with and without masking, which is what the throughput target is about.
"""

from __future__ import annotations

import argparse
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devsecrets.mask import REPLACEMENT, Masker

CHUNKS = (64 * 1024, 1024 * 1024)
WORDS = ["the", "request", "for", "user", "session", "completed", "in", "ms", "retry"]
WORDS += ["connection", "to", "server", "failed", "cache", "hit", "miss", "loading", "config"]
WORDS += ["GET", "POST", "HTTP/1.1", "status", "json", "error", "timeout", "ok", "build", "test"]
LEVELS = ("INFO", "DEBUG", "WARN", "ERROR")


def log_line(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
    return (
        f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z {rng.choice(LEVELS)} "
        f"[{rng.choice(('api', 'db', 'worker'))}] {words} id={rng.getrandbits(48):012x} "
        f"path=/srv/app/{rng.choice(WORDS)}.py:{rng.randint(1, 999)}\n"
    )


def make_values(rng: random.Random, count: int) -> list[bytearray]:
    alnum = string.ascii_letters + string.digits
    makers = (
        lambda: "".join(rng.choices(alnum, k=rng.randint(20, 60))),
        lambda: "ghp_" + "".join(rng.choices(alnum, k=36)),
        lambda: "sk-" + "".join(rng.choices(alnum, k=48)),
        lambda: "AKIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16)),
        lambda: "".join(rng.choices("0123456789abcdef", k=40)),
        lambda: "correct-Horse!battery" + str(rng.randint(10, 99)),
    )
    return [bytearray(makers[i % len(makers)]().encode()) for i in range(count)]


def make_data(rng: random.Random, size: int, values: list[bytearray]) -> tuple[bytes, int]:
    """Text of `size` bytes with values injected; returns (data, occurrences injected)."""
    block = "".join(log_line(rng) for _ in range(40_000)).encode()  # ~4 MiB, then repeated
    data = bytearray((block * (size // len(block) + 1))[:size])
    spots = [rng.randrange(0, size - 100) for _ in range(size // (256 * 1024))]
    # Straddle chunk boundaries (every 1 MiB boundary is also a 64 KiB one).
    spots += [b - 10 for b in range(CHUNKS[0], size - 100, 5 * CHUNKS[0] + 1024 * 1024)]
    spots.sort()
    injected, last_end = 0, -1
    for spot in spots:
        value = rng.choice(values)
        if spot > last_end:
            data[spot : spot + len(value)] = value
            injected, last_end = injected + 1, spot + len(value)
    return bytes(data), injected


def time_feed(data: bytes, values: list[bytearray], chunk: int) -> tuple[float, bytes]:
    masker = Masker(values)
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    t0 = time.perf_counter()
    out = [masker.feed(c) for c in chunks]
    out.append(masker.flush())
    elapsed = time.perf_counter() - t0
    return len(data) / elapsed / 1e6, b"".join(out)


def relay(path: str, values: list[bytearray] | None) -> float:
    """MB/s of a pipe relay from `cat path`, optionally masking."""
    masker = Masker(values) if values is not None else None
    sink = os.open(os.devnull, os.O_WRONLY)
    child = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
    assert child.stdout is not None
    fd, total, t0 = child.stdout.fileno(), 0, time.perf_counter()
    while chunk := os.read(fd, 1 << 16):
        total += len(chunk)
        os.write(sink, masker.feed(chunk) if masker else chunk)
    if masker:
        os.write(sink, masker.flush())
    child.wait()
    os.close(sink)
    return total / (time.perf_counter() - t0) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--relay-mb", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(42)
    values = make_values(rng, 20)
    data, injected = make_data(rng, args.mb << 20, values)
    for name, vals in (("no values", []), ("1 value", values[:1]), ("20 values", values)):
        for chunk in CHUNKS:
            mbps, out = time_feed(data, vals, chunk)
            assert not any(bytes(v) in out for v in vals), "a value leaked"
            hits = out.count(REPLACEMENT)
            note = "  (returns the chunk itself)" if not vals else ""
            print(
                f"{name:>10} {chunk >> 10:>5} KiB chunks: {mbps:8.0f} MB/s  ({hits} masked){note}"
            )
    print(f"(injected {injected} occurrences of the 20 values)")
    if args.relay_mb:
        with tempfile.NamedTemporaryFile(suffix=".log") as tmp:
            tmp.write(make_data(rng, args.relay_mb << 20, values)[0])
            tmp.flush()
            plain, masked = relay(tmp.name, None), relay(tmp.name, values)
        print(f"pipe relay {args.relay_mb} MiB: unmasked {plain:.0f} MB/s, ", end="")
        print(f"20 values {masked:.0f} MB/s ({100 * masked / plain:.0f} %)")


if __name__ == "__main__":
    main()
