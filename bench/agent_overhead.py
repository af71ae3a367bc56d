"""`devsecrets run -- true` with a warm session agent, without one (fake op at 700 ms),
bare `true` and `direnv exec . true`, side by side in one hyperfine run; then the agent's
memory with 50 secrets held, and where the warm path's start-up time goes.

Usage: python bench/agent_overhead.py [--runs 30] [--latency-ms 700]

This script plays the hooked shell: it enters the project itself, so the `devsecrets run`
processes hyperfine starts descend from the shell the session is bound to.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from sandbox import DEVSECRETS, Sandbox, hyperfine, table

from devsecrets.agent import client

NAMES = [f"TOKEN_{i}" for i in range(5)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--latency-ms", type=int, default=700)
    args = parser.parse_args()
    box = Sandbox()
    os.environ.update(box.env)  # the client below talks to the sandbox's agent
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    agent = subprocess.Popen(
        [DEVSECRETS, "agent", "--foreground"],
        env=box.env,
        stderr=subprocess.DEVNULL,
        cwd=box.root,
    )
    try:
        wait(answers)
        vaults = {"Staging": {n: {"credential": f"sandbox-value-{n}"} for n in NAMES}}
        vaults["Many"] = {f"item{i}": {"credential": f"sandbox-many-{i:02d}"} for i in range(50)}
        box.op_items(vaults, latency_ms=args.latency_ms)
        project = box.project(
            "op", "secrets:\n" + "".join(f"  {n}: op://Staging/{n}/credential\n" for n in NAMES)
        )
        box.allow(project)
        capability = enter(project)
        print(timings(box, project, capability, args.runs))
        print()
        print(importtime(box, project, capability))
        print()
        print(memory(box, agent.pid))
    finally:
        agent.kill()
        agent.wait()
        box.cleanup()


def enter(project: Path, shell: int | None = None) -> str:
    """What the hook does, with this script (or its parent) as the shell."""
    config = project / ".devsecrets.yml"
    reply = client.enter(config, client.config_digest(config) or "", shell or os.getpid())
    wait(lambda: all(s["state"] == "ready" for s in client.status()["sessions"]))
    return str(reply["cap"])


def timings(box: Sandbox, project: Path, capability: str, runs: int) -> str:
    (project / ".envrc").write_text("".join(f"export {n}=sandbox-value-{n}\n" for n in NAMES))
    direnv = shutil.which("direnv")
    commands = {"true": shutil.which("true") or "true"}
    if direnv:
        subprocess.run([direnv, "allow", str(project)], env=box.env, check=True)
        commands["direnv exec . true"] = f"{direnv} exec . true"
    env_ = shutil.which("env") or "env"
    commands["devsecrets run -- true (warm agent)"] = f"{DEVSECRETS} run -- true"
    commands["devsecrets run --no-mask -- true (warm agent)"] = (
        f"{DEVSECRETS} run --no-mask -- true"
    )
    commands["devsecrets run -- true (no agent)"] = (
        f"{env_} -u DEVSECRETS_SESSION {DEVSECRETS} run -- true"
    )
    env = dict(box.env, DEVSECRETS_SESSION=capability)
    results = hyperfine(commands, cwd=project, env=env, runs=runs, warmup=3)
    return table(results, "direnv exec . true" if direnv else "true")


def importtime(box: Sandbox, project: Path, capability: str, runs: int = 9) -> str:
    """The warm path's top-level imports by cumulative time, medians over `runs` runs."""
    python = Path(DEVSECRETS).parent / "python"
    samples: dict[str, list[int]] = {}
    totals = []
    for _ in range(runs):
        result = subprocess.run(
            [str(python), "-X", "importtime", DEVSECRETS, "run", "--", "true"],
            env=dict(box.env, DEVSECRETS_SESSION=capability, PWD=str(project)),
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        )
        total = 0
        for line in result.stderr.splitlines():
            parts = line.split("|")
            top_level = len(parts) == 3 and parts[2][:1] == " " and parts[2][1:2] != " "
            if top_level and parts[1].strip().isdigit():
                samples.setdefault(parts[2].strip(), []).append(int(parts[1]))
                total += int(parts[1])
        totals.append(total)
    medians = sorted(((statistics.median(v), k) for k, v in samples.items()), reverse=True)
    top = ", ".join(f"{name} {us / 1000:.1f}" for us, name in medians[:6])
    return (
        f"warm path imports (python -X importtime, median of {runs}): "
        f"{statistics.median(totals) / 1000:.1f} ms; largest (ms): {top}"
    )


def memory(box: Sandbox, pid: int) -> str:
    before = rss(pid)
    project = box.project(
        "many",
        "secrets:\n"
        + "".join(f"  MANY_{i:02d}: op://Many/item{i}/credential\n" for i in range(50)),
    )
    box.allow(project)
    enter(project, shell=os.getppid())  # a second shell: one session per shell
    held = sum(len(s["names"]) for s in client.status()["sessions"] if s["state"] == "ready")
    return (
        f"agent RSS: {before / 1024:.1f} MB holding 5 secrets; {rss(pid) / 1024:.1f} MB "
        f"holding {held} in two sessions (peak {hwm(pid) / 1024:.1f} MB)"
    )


def rss(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def hwm(pid: int) -> int:
    return _status_kb(pid, "VmHWM")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def answers() -> bool:
    try:
        client.status()
    except client.AgentUnavailable:
        return False
    return True


def wait(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
