"""20 secrets over 10 1Password items, the fake `op` at 700 ms per call.

Usage: python bench/op_batching.py [--latency-ms 700] [--runs 3]

Compares, side by side in one run:
- one `op read` (the unit: one round trip),
- the same 20 secrets read one `op read` each (what a naive wrapper does),
- `devsecrets run -- true` (one `op inject` for all values, `op item list` in parallel).
Target: devsecrets ≤ 1.5 × one call.
"""

from __future__ import annotations

import argparse

from sandbox import DEVSECRETS, Sandbox, hyperfine, table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=700)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    box = Sandbox()
    try:
        items = {
            f"item{i}": {"credential": f"sandbox-credential-{i:02d}", "username": f"user-{i:02d}"}
            for i in range(10)
        }
        box.op_items({"Staging": items}, latency_ms=args.latency_ms)
        refs = [
            (f"S{n}", f"op://Staging/item{n % 10}/{'credential' if n < 10 else 'username'}")
            for n in range(20)
        ]
        project = box.project(
            "p", "secrets:\n" + "".join(f"  {name}: {ref}\n" for name, ref in refs)
        )
        box.allow(project)
        reads = " ; ".join(f"op read '{ref}' >/dev/null" for _, ref in refs)
        results = hyperfine(
            {
                "one op read": f"op read '{refs[0][1]}'",
                "20 × op read": f'sh -c "{reads}"',
                "devsecrets run -- true": f"{DEVSECRETS} run -- true",
            },
            cwd=project,
            env=box.env,
            runs=args.runs,
            warmup=0,
        )
        print(table(results, "one op read"))
    finally:
        box.cleanup()


if __name__ == "__main__":
    main()
