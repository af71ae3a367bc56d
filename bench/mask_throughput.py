"""Masked versus `--no-mask` throughput: a child writing 200 MB, 20 secrets configured.

Usage: python bench/mask_throughput.py [--mb 200] [--runs 5]

Two producers: `cat` of a 200 MB log file (the fastest a child can write: the worst case for
the relay) and a Python program formatting log lines (a child that does some work per
line). Output goes to /dev/null, so `--no-mask` (the child execs and writes there directly)
costs only the producer, and the masked run adds the pipe relay and the masker.
Target: masked ≥ 50 % of unmasked throughput.
"""

from __future__ import annotations

import argparse
import random
import sys

from sandbox import DEVSECRETS, Sandbox, hyperfine, table

WORDS = [
    *("the", "request", "for", "user", "session", "completed", "in"),
    *("ms", "retry", "connection", "cache", "hit", "miss"),
]
WRITER = (
    "import sys\n"
    "w = sys.stdout.write\n"
    "for i in range({lines}):\n"
    "    w(f'2026-12-04T10:00:{{i % 60:02d}}Z INFO [api] request {{i}} completed in "
    "{{i % 997}} ms for user session id={{i * 7919:012x}}\\n')\n"
)


def make_log(path: str, megabytes: int) -> None:
    rng = random.Random(1)
    block = "".join(
        f"2026-12-04T10:00:{i % 60:02d}Z INFO [api] {' '.join(rng.choices(WORDS, k=8))} "
        f"id={rng.getrandbits(48):012x}\n"
        for i in range(20000)
    ).encode()
    with open(path, "wb") as out:
        written = 0
        while written < megabytes << 20:
            out.write(block)
            written += len(block)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    box = Sandbox()
    try:
        names = [f"SECRET_{i:02d}" for i in range(20)]
        rng = random.Random(2)
        values = {n: f"sbx_{rng.getrandbits(128):032x}"[: 20 + 2 * i] for i, n in enumerate(names)}
        project = box.project("p", "secrets:\n" + "".join(f"  {n}: keyring\n" for n in names))
        box.allow(project)
        box.set_secrets(project, values)
        log = str(box.root / "big.log")
        make_log(log, args.mb)
        writer = box.root / "writer.py"
        lines = args.mb * (1 << 20) // 96
        writer.write_text(WRITER.format(lines=lines))
        for label, child in (
            ("cat", f"cat {log}"),
            ("python writer", f"{sys.executable} {writer}"),
        ):
            results = hyperfine(
                {
                    f"{label} alone": child,
                    f"run --no-mask -- {label}": f"{DEVSECRETS} run --no-mask -- {child}",
                    f"run -- {label} (masked)": f"{DEVSECRETS} run -- {child}",
                },
                cwd=project,
                env=box.env,
                runs=args.runs,
                warmup=1,
            )
            print(table(results, f"run --no-mask -- {label}"))
            masked = results[f"run -- {label} (masked)"]["median"]
            plain = results[f"run --no-mask -- {label}"]["median"]
            print(f"\n{label}: masked throughput = {plain / masked:.0%} of unmasked\n")
    finally:
        box.cleanup()


if __name__ == "__main__":
    main()
