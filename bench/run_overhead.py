"""`devsecrets run -- true` versus bare `true` and `direnv exec . true`, side by side.

Usage: python bench/run_overhead.py [--runs 40]

Each project has 5 secrets: from the file keyring (the keyring provider's real code path
with a fake store), or from the fake `op` with no added latency (one `op inject` plus one
`op item list`). direnv loads an .envrc exporting 5 variables.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess

from sandbox import DEVSECRETS, Sandbox, hyperfine, table

NAMES = [f"TOKEN_{i}" for i in range(5)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    box = Sandbox()
    try:
        keyring_project = box.project(
            "kr", "secrets:\n" + "".join(f"  {n}: keyring\n" for n in NAMES)
        )
        op_project = box.project(
            "op", "secrets:\n" + "".join(f"  {n}: op://Staging/{n}/credential\n" for n in NAMES)
        )
        box.op_items({"Staging": {n: {"credential": f"sandbox-value-{n}"} for n in NAMES}})
        for project in (keyring_project, op_project):
            box.allow(project)
        box.set_secrets(keyring_project, {n: f"sandbox-value-{n}" for n in NAMES})
        envrc = keyring_project / ".envrc"
        envrc.write_text("".join(f"export {n}=sandbox-value-{n}\n" for n in NAMES))
        direnv = shutil.which("direnv")
        if direnv:
            subprocess.run([direnv, "allow", str(keyring_project)], env=dict(box.env), check=True)
        commands = {"true": shutil.which("true") or "true"}
        if direnv:
            commands["direnv exec . true"] = f"{direnv} exec . true"
        commands["devsecrets run -- true (5 keyring)"] = f"{DEVSECRETS} run -- true"
        commands["devsecrets run -- true (5 op)"] = f"{DEVSECRETS} run -- true"
        results = {}
        for name, command in commands.items():
            cwd = op_project if "(5 op)" in name else keyring_project
            results.update(hyperfine({name: command}, cwd=cwd, env=box.env, runs=args.runs))
        anchor = "direnv exec . true" if direnv else "true"
        print(table(results, anchor))
    finally:
        box.cleanup()


if __name__ == "__main__":
    main()
