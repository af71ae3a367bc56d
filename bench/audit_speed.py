"""`devsecrets audit` on a project of 10,000 files, against `grep -r` reading the same tree.

Usage: python bench/audit_speed.py [--files 10000] [--runs 10]

The tree is generated (seeded): source files of 0.5–8 KB of code-like text, a few `.env`
files holding planted secrets, plus what a real checkout has and audit must skip — a `.git`
directory, `node_modules` and a virtualenv, 3,000 files each, which are not counted in the
10,000. The project has an allowed `.devsecrets.yml` with keyring secrets, so the whole
command runs: config, trust, policy, survey, environment, home files, tree. Files are in
the page cache after hyperfine's warm-up runs: this measures devsecrets, not the disk.
"""

from __future__ import annotations

import argparse
import random
import shutil
import string
import time
from pathlib import Path

from sandbox import DEVSECRETS, Sandbox, hyperfine, table

# Words of code-like text; a string split on purpose (ruff's SIM905 would make it 30 lines).
WORDS = tuple(
    "def return import self value config token request response user id for in if else "  # noqa: SIM905
    "class async await const let function export default module error data path name".split()
)
CONFIG = """\
version: 1
project: big
secrets:
  DATABASE_URL:
    from: keyring:database-url
    commands: [make]
  API_TOKEN:
    from: keyring
    commands: [make]
"""


def text(rng: random.Random, size: int) -> str:
    lines = []
    total = 0
    while total < size:
        indent = " " * rng.choice((0, 4, 8))
        line = indent + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def build(root: Path, files: int, rng: random.Random) -> None:
    (root / ".devsecrets.yml").write_text(CONFIG)
    for i in range(files - 1):
        directory = root / f"pkg{i % 50}" / f"mod{i % 7}"
        directory.mkdir(parents=True, exist_ok=True)
        suffix = rng.choice((".py", ".js", ".ts", ".md", ".json"))
        (directory / f"file{i}{suffix}").write_text(text(rng, rng.randint(500, 8000)))
    token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    for i in range(5):  # planted findings, replacing five of the source files
        (root / f"pkg{i}" / f"file{i}.py").unlink(missing_ok=True)
        (root / f"pkg{i}" / ".env").write_text(f"API_TOKEN={token}\nDEBUG=true\n")
    for skipped in (".git/objects", "node_modules/lib", ".venv/lib"):
        directory = root / skipped
        directory.mkdir(parents=True)
        for i in range(3000):
            (directory / f"f{i}").write_text(text(rng, 1000))
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    box = Sandbox()
    try:
        project = box.root / "big"
        project.mkdir()
        started = time.perf_counter()
        build(project, args.files, random.Random(7))
        print(f"built {args.files} files in {time.perf_counter() - started:.1f} s")
        box.allow(project)
        box.set_secrets(project, {"DATABASE_URL": "postgres://x", "API_TOKEN": "sbx-token"})
        grep = shutil.which("grep") or "grep"
        excluded = " ".join(f"--exclude-dir={d}" for d in (".git", "node_modules", ".venv"))
        commands = {
            "devsecrets --version": f"{DEVSECRETS} --version",
            "grep -rIl (same tree, same skips)": f"{grep} -rIlE {excluded} 'AKIA|ghp_|sk_live_' .",
            "devsecrets audit": f"{DEVSECRETS} audit --json",
        }
        results = {}
        for name, command in commands.items():
            results.update(
                hyperfine(
                    {name: command},
                    cwd=project,
                    env=box.env,
                    runs=args.runs,
                    ignore_failure=True,
                )
            )
        print(table(results, "devsecrets audit"))
    finally:
        box.cleanup()


if __name__ == "__main__":
    main()
