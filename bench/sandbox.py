"""An isolated world for benchmarks: tmp HOME, the tests' fake `op`, a file keyring.

Benchmarks run the installed console script against this sandbox, never the real HOME,
keyring or 1Password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.opstate import install_fake_op, item, make_state, vault, write_state  # noqa: E402

DEVSECRETS = str(Path(sys.executable).parent / "devsecrets")


class Sandbox:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="devsecrets-bench-"))
        self.home = self.root / "home"
        self.bin = self.root / "bin"
        self.backends = self.root / "backends"
        for directory in (self.home, self.bin, self.backends):
            directory.mkdir()
        install_fake_op(self.bin)
        self.op_state = self.backends / "op-state.json"
        self.keyring_file = self.backends / "keyring.json"
        write_state(self.op_state, make_state([]))
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "FAKE_OP_STATE": str(self.op_state),
            "FAKE_KEYRING_FILE": str(self.keyring_file),
            "PYTHON_KEYRING_BACKEND": "fakes.filekeyring.FileKeyring",
            "PYTHONPATH": str(ROOT / "tests"),
            "LANG": "C.UTF-8",
        }
        (self.root / "run").mkdir(mode=0o700)

    def project(self, name: str, config: str) -> Path:
        project = self.root / name
        project.mkdir()
        (project / ".devsecrets.yml").write_text(config)
        return project

    def op_items(self, vaults: dict[str, dict[str, dict[str, str]]], latency_ms: int = 0) -> None:
        """vaults: {vault name: {item title: {field label: value}}}."""
        write_state(
            self.op_state,
            make_state(
                [
                    vault(v, items=[item(title, fields) for title, fields in items.items()])
                    for v, items in vaults.items()
                ],
                latency_ms=latency_ms,
            ),
        )

    def set_secrets(self, project: Path, values: dict[str, str]) -> None:
        """Store keyring secrets as a user does (`devsecrets set NAME`, value on stdin), so
        the rotation ledger knows them; the project must be allowed first."""
        for name, value in values.items():
            subprocess.run(
                [DEVSECRETS, "set", name],
                cwd=project,
                env=dict(self.env, PWD=str(project)),
                input=value.encode(),
                capture_output=True,
                check=True,
            )

    def allow(self, project: Path) -> None:
        """Trust the project, when this devsecrets has trust (allow exists from issue 3 on)."""
        subprocess.run(
            [DEVSECRETS, "allow"],
            cwd=project,
            env=dict(self.env, PWD=str(project)),
            capture_output=True,
            check=False,
        )

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def hyperfine(
    commands: dict[str, str],
    *,
    cwd: Path,
    env: dict[str, str],
    runs: int,
    warmup: int = 2,
    ignore_failure: bool = False,
) -> dict[str, dict[str, float]]:
    """Run hyperfine side by side; return {name: {median, mean, stddev, min, max}} in seconds.
    `ignore_failure`: commands that exit non-zero by design (audit with findings, grep)."""
    fd, name = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    out = Path(name)
    argv = [
        "hyperfine",
        "-N",
        "--runs",
        str(runs),
        "--warmup",
        str(warmup),
        "--export-json",
        str(out),
        "--style",
        "basic",
        *(["--ignore-failure"] if ignore_failure else []),
    ]
    for name, command in commands.items():
        argv += ["--command-name", name, command]
    subprocess.run(
        argv, cwd=cwd, env=dict(env, PWD=str(cwd)), check=True, stdout=subprocess.DEVNULL
    )
    results = json.loads(out.read_text())["results"]
    out.unlink()
    return {
        r["command"]: {k: r[k] for k in ("median", "mean", "stddev", "min", "max")} for r in results
    }


def table(results: dict[str, dict[str, float]], anchor: str) -> str:
    base = results[anchor]["median"]
    lines = ["| command | median | mean ± σ | × " + anchor + " |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['median'] * 1000:.1f} ms | {r['mean'] * 1000:.1f} ± "
            f"{r['stddev'] * 1000:.1f} ms | {r['median'] / base:.2f} |"
        )
    return "\n".join(lines)
