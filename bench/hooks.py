"""Shell hook benchmarks: devsecrets' hooks and Debian's direnv, side by side, in one run.

Usage: python bench/hooks.py [--rounds 5] [--shells bash,zsh,fish]

Everything runs in a throwaway HOME (XDG dirs inside it): a devsecrets project with 5
secrets (allowed), a direnv project whose .envrc exports 5 variables (allowed), and two
directories with no config. Each shell sources the hook exactly as a user would, then calls
the hook function in a loop and times the loop from inside (as direnv.md §3 did):

  prompt  the hook at a prompt, directory unchanged, inside the project (steady state);
  enter   the hook right after `cd` into the project: devsecrets' walk-up and Python call,
          which checks trust and asks the session agent to `enter` (a new session each
          time); direnv's cold load of the .envrc (its DIRENV_* state cleared each time);
  plain   `cd` between two directories with no config, plus the hook, per cd;
and counts, with strace, the processes started during 2 x 50 plain cds (goal: none).
Prints medians over the rounds, in ms per call, and devsecrets/direnv ratios.

A session agent runs for the whole benchmark, started here and stopped at the end (the
hook would start one on the first `cd`; its start-up is not what is measured). The fetch
each `enter` starts runs in the agent after the prompt is back; no `op` is on PATH here,
so it fails at once and does not compete with the timed loop for the CPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEVSECRETS = str(Path(sys.executable).parent / "devsecrets")
DIRENV = shutil.which("direnv") or "/usr/bin/direnv"
CONFIG = "version: 1\nproject: bench\nsecrets:\n" + "".join(
    f"  TOKEN_{i}: op://Staging/item-{i}/credential\n" for i in range(5)
)
ENVRC = "".join(f"export TOKEN_{i}=value-{i}\n" for i in range(5))
LOOPS = {"prompt": (3000, 300), "enter": (100, 50), "plain": (1000, 200)}  # devsecrets, direnv

# Per shell: how to load each hook, its function, how to clear its state, and a timed loop.
LOAD = {
    ("bash", "devsecrets"): "source {hook}",
    ("zsh", "devsecrets"): "source {hook}",
    ("fish", "devsecrets"): "source {hook}",
    ("bash", "direnv"): 'eval "$({direnv} hook bash)"',
    ("zsh", "direnv"): 'eval "$({direnv} hook zsh)"',
    ("fish", "direnv"): "{direnv} hook fish | source",
}
FUNCTION = {"bash": "_direnv_hook", "zsh": "_direnv_hook", "fish": "__direnv_export_eval"}
# devsecrets: forget the project, its trust state and the capability, as in a shell that
# comes from outside the project (so no `leave` is sent: the agent drops the shell's older
# session itself when it enters the new one).
RESET = {
    ("devsecrets", "fish"): "for v in pwd config record state cap; set -gu __devsecrets_$v ''; end",
    ("devsecrets", "sh"): "__devsecrets_pwd= __devsecrets_config= __devsecrets_record= "
    "__devsecrets_state= __devsecrets_cap=",
    ("direnv", "fish"): "set -e DIRENV_DIR DIRENV_FILE DIRENV_WATCHES DIRENV_DIFF",
    ("direnv", "sh"): "unset DIRENV_DIR DIRENV_FILE DIRENV_WATCHES DIRENV_DIFF",
}
TIMED = {
    "bash": "s=${{EPOCHREALTIME/./}}\nfor ((i = 0; i < {n}; i++)); do {body}; done 2>/dev/null\n"
    "e=${{EPOCHREALTIME/./}}\necho $(( e - s ))\n",
    "zsh": "zmodload zsh/datetime\ns=$EPOCHREALTIME\n"
    "for ((i = 0; i < {n}; i++)); do {body}; done 2>/dev/null\n"
    "e=$EPOCHREALTIME\nprint $(( (e - s) * 1e6 ))\n",
    "fish": "set s (date +%s%N)\nfor i in (seq {n}); {body}; end 2>/dev/null\n"
    'set e (date +%s%N)\nmath "round(($e - $s) / 1000)"\n',
}


def world(root: Path) -> dict[str, str]:
    """Projects and an environment under root; returns the environment."""
    home = root / "home"
    for sub in ("ds", "de", "a", "b"):
        (root / sub).mkdir(parents=True)
    (root / "ds" / ".devsecrets.yml").write_text(CONFIG)
    (root / "de" / ".envrc").write_text(ENVRC)
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LC_ALL": "C",
        "TERM": "dumb",
        "XDG_RUNTIME_DIR": str(root / "run"),  # this agent's socket; not the user's agent
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "ZDOTDIR": str(home),
    }
    home.mkdir(exist_ok=True)
    (root / "run").mkdir(mode=0o700)
    for shell in ("bash", "zsh", "fish"):
        hook = subprocess.run([DEVSECRETS, "hook", shell], env=env, capture_output=True, check=True)
        (root / f"hook.{shell}").write_bytes(hook.stdout)
    subprocess.run(
        [DEVSECRETS, "allow", str(root / "ds")], env=env, check=True, capture_output=True
    )
    subprocess.run([DIRENV, "allow", str(root / "de")], env=env, check=True, capture_output=True)
    return env


def script(shell: str, tool: str, case: str, root: Path, n: int, trace: bool = False) -> str:
    """A script for `shell` that loads `tool`'s hook, then prints the loop's µs."""
    load = LOAD[(shell, tool)].format(hook=root / f"hook.{shell}", direnv=DIRENV)
    hook = "__devsecrets_hook" if tool == "devsecrets" else FUNCTION[shell]
    project = root / ("ds" if tool == "devsecrets" else "de")
    reset = RESET[(tool, "fish" if shell == "fish" else "sh")]
    sep = "; "
    if case == "prompt":
        setup, body = f"cd {project}\n{hook} 2>/dev/null\n", hook
    elif case == "enter":
        setup, body = f"cd {project}\n{hook} 2>/dev/null\n", f"{reset}{sep}{hook}"
    else:
        setup = f"cd {root / 'a'}\n{hook}\n"
        body = f"cd {root / 'b'}{sep}{hook}{sep}cd {root / 'a'}{sep}{hook}"
    marker = "/bin/true bench-loop-{}\n"
    loop = TIMED[shell].format(n=n, body=body)
    if trace:
        loop = marker.format("start") + loop + marker.format("end")
    return f"{load}\n{setup}{loop}"


def run(shell: str, code: str, env: dict[str, str], root: Path) -> str:
    args = {
        "bash": ["bash", "--norc", "-c"],
        "zsh": ["zsh", "-f", "-c"],
        "fish": ["fish", "-N", "-c"],
    }
    done = subprocess.run([*args[shell], code], env=env, cwd=root, capture_output=True, check=True)
    return done.stdout.decode().strip().splitlines()[-1]


def execs_during_loop(shell: str, tool: str, root: Path, env: dict[str, str]) -> int:
    """Processes started during 50 round trips a -> b -> a (100 cds), counted by strace."""
    code = script(shell, tool, "plain", root, 50, trace=True)
    log = root / "strace.log"
    args = {
        "bash": ["bash", "--norc", "-c"],
        "zsh": ["zsh", "-f", "-c"],
        "fish": ["fish", "-N", "-c"],
    }
    strace = ["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(log)]
    subprocess.run(
        [*strace, *args[shell], code], env=env, cwd=root, capture_output=True, check=True
    )
    lines = log.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "bench-loop-start" in line)
    end = next(i for i, line in enumerate(lines) if "bench-loop-end" in line)
    # fish's loop itself runs `date` twice and `seq` once: not the hook's doing.
    return sum(1 for line in lines[start + 1 : end] if "execve(" in line and "= 0" in line) - (
        3 if shell == "fish" else 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--shells", default="bash,zsh,fish")
    options = parser.parse_args()
    shells = [s for s in options.shells.split(",") if shutil.which(s)]
    with tempfile.TemporaryDirectory(prefix="devsecrets-bench-") as tmp:
        root = Path(tmp)
        env = world(root)
        agent = start_agent(env)
        try:
            measure(shells, options.rounds, root, env)
        finally:
            agent.kill()
            agent.wait()
    return 0


def start_agent(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The world's session agent, answering before this returns."""
    agent = subprocess.Popen(
        [DEVSECRETS, "agent", "--foreground"], env=env, cwd="/", stderr=subprocess.DEVNULL
    )
    socket = Path(env["XDG_RUNTIME_DIR"]) / "devsecrets" / "agent.sock"
    deadline = time.monotonic() + 10
    while not socket.exists():
        if time.monotonic() > deadline or agent.poll() is not None:
            agent.kill()
            raise SystemExit("the session agent did not start")
        time.sleep(0.02)
    return agent


def measure(shells: list[str], rounds: int, root: Path, env: dict[str, str]) -> None:
    print(f"# {rounds} rounds; ms per call, median over rounds\n")
    print("| shell | case | devsecrets | direnv | ratio |")
    print("|---|---|---|---|---|")
    for shell in shells:
        for case, counts in LOOPS.items():
            ms = {}
            for tool, n in zip(("devsecrets", "direnv"), counts, strict=True):
                code = script(shell, tool, case, root, n)
                per_round = [float(run(shell, code, env, root)) / n / 1000 for _ in range(rounds)]
                ms[tool] = statistics.median(per_round)
                if case == "plain":
                    ms[tool] /= 2  # two cds per iteration
            ratio = ms["devsecrets"] / ms["direnv"]
            row = f"| {shell} | {case} | {ms['devsecrets']:.4f} | {ms['direnv']:.3f} |"
            print(f"{row} {ratio:.3f} |")
    if shutil.which("strace"):
        print("\nprocesses started during 100 cds between directories with no config:\n")
        for shell in shells:
            counts = {
                tool: execs_during_loop(shell, tool, root, env) for tool in ("devsecrets", "direnv")
            }
            print(f"- {shell}: devsecrets {counts['devsecrets']}, direnv {counts['direnv']}")


if __name__ == "__main__":
    os.environ.pop("DEVSECRETS_HOME", None)
    sys.exit(main())
