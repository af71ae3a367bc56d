"""Real interactive bash, zsh and fish on a pty, with the devsecrets hook loaded.

Every shell starts with no user or system rc file but ours, HOME in tmp, and a prompt that
counts (`DSPROMPT[n]> `: the count comes from an event, not the prompt function, because
fish repaints the prompt while a line is typed). `checked` runs a line, then looks for the
project's canary secrets, the session capability and any hook variable in the shell's `env`,
in a child's (`sh -c env`) and in /proc/<shell pid>/environ. zsh and fish tests are skipped
when the shell is missing, unless DEVSECRETS_TEST_STRICT=1.

The world: tmp/world/{shop (trusted, 1 op secret and 2 keyring secrets stored with
`devsecrets set`'s ledger records, so the agent's fetch succeeds), elsewhere}. Entering the
project starts a session agent detached, as for a user: `no_agent_left_behind` (conftest)
stops it after each test.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import BASH_PROMPT, DEVSECRETS, SHELL_PASSED, store_keyring, trusted_project

from devsecrets import hooks

CANARY_OP = "hookcanary-op-71c3e9a05d2b"
CANARY_KR = "hookcanary-kr-0b8f4d6a2e91"
CONFIG = """\
version: 1
project: shop
secrets:
  STRIPE_API_KEY: op://Staging/stripe-sandbox/credential
  DATABASE_URL: keyring:database-url
  GH_TOKEN: keyring
"""
ENTERED = "devsecrets: shop (staging) — fetching 3 secrets…"
READY = "devsecrets: shop — 3 secrets ready for 15 minutes"
LEFT = "devsecrets: left shop — session wiped"
SHELLS = ["bash", "zsh", "fish"]
# Read at import: the sandbox fixture removes DEVSECRETS_* variables from each test's env.
STRICT = bool(os.environ.get("DEVSECRETS_TEST_STRICT"))


def require(shell: str) -> None:
    if shutil.which(shell) is None:
        message = f"{shell} is not installed: apt install {shell}"
        if STRICT:
            pytest.fail(message)
        pytest.skip(message)


class Shell:
    """An interactive shell on a pty; `step` types a line and returns what it printed."""

    def __init__(self, kind: str, root: Path, cwd: Path, hook: str, rc: str = "") -> None:
        require(kind)
        self.kind = kind
        home = Path(os.environ["HOME"])
        path = f"{Path(DEVSECRETS).parent}:{os.environ['PATH']}"
        env = {name: value for name, value in os.environ.items() if name in _PASSED}
        env.update(HOME=str(home), PATH=path, TERM="dumb", LANG="C.UTF-8", PWD=str(cwd))
        rc_file = root / f"rc.{kind}"
        rc_file.write_text(_PROMPTS[kind] + hook + rc)
        if kind == "bash":
            args = ["--noprofile", "--rcfile", str(rc_file), "-i"]
        elif kind == "zsh":
            zdotdir = root / "zdotdir"
            zdotdir.mkdir(exist_ok=True)
            (zdotdir / ".zshenv").write_text("unsetopt GLOBAL_RCS\n")
            (zdotdir / ".zshrc").write_text(f"source {hooks.quote('zsh', str(rc_file))}\n")
            env["ZDOTDIR"] = str(zdotdir)
            args = ["-i", "+Z"]  # +Z: no line editor, so no bracketed-paste noise
        else:
            args = ["--no-config", "-i", "-C", f"source {hooks.quote('fish', str(rc_file))}"]
        self.child = pexpect.spawn(
            kind, args, cwd=str(cwd), env=env, encoding="utf-8", timeout=10, dimensions=(40, 250)
        )
        self.child.delaybeforesend = None
        self.child.ptyproc.delayafterclose = 0
        self.count = 1
        self.child.expect_exact(self.prompt)
        self.first = str(self.child.before)
        self.transcript = [self.first]  # everything printed, one entry per prompt

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    @property
    def prompt(self) -> str:
        return f"DSPROMPT[{self.count}]> "

    def step(self, line: str, timeout: float = 10) -> str:
        self.child.sendline(line)
        self.count += 1
        self.child.expect_exact(self.prompt, timeout=timeout)
        output = str(self.child.before)
        self.transcript.append(output)
        return output

    def checked(self, line: str) -> str:
        """`step`, then the leak checks."""
        output = self.step(line)
        assert_nothing_leaked(self)
        return output

    def mark(self) -> int:
        return len(self.transcript)

    def since(self, mark: int) -> str:
        return "".join(self.transcript[mark:])

    def await_line(self, text: str, mark: int, timeout: float = 15) -> None:
        """Press Enter until `text` was printed since `mark` (the hook prints the agent's
        report on the fetch at the first prompt after it ended)."""
        deadline = time.monotonic() + timeout
        while text not in self.since(mark):
            assert time.monotonic() < deadline, f"{text!r} never printed: {self.since(mark)!r}"
            time.sleep(0.05)
            self.step("true")

    def variable(self, name: str) -> str:
        """A shell variable's value, as the shell itself prints it."""
        out = self.step(f"printf '%s%s%s\\n' '<<' \"${name}\" '>>'")  # the line is echoed too
        return out.rsplit("<<", 1)[1].split(">>", 1)[0]

    def assign(self, name: str, value: str) -> None:
        line = f"set -gu {name} {value}" if self.kind == "fish" else f"{name}={value}"
        self.step(line)

    def close(self) -> None:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)
        self.child.close()


# HOME is the shell's own (set above), everything else the sandbox's.
_PASSED = set(SHELL_PASSED) - {"HOME"}
_PROMPTS = {
    "bash": BASH_PROMPT,
    "zsh": (
        "unsetopt PROMPT_SP\nsetopt PROMPT_SUBST\n__n=0\n__count() { __n=$((__n + 1)) }\n"
        "precmd_functions=(__count)\nPROMPT='DSPROMPT[$__n]> '\n"
    ),
    "fish": (
        "function fish_greeting; end\nset -g __n 0\n"
        "function __count --on-event fish_prompt; set -g __n (math $__n + 1); end\n"
        "function fish_prompt; printf 'DSPROMPT[%s]> ' $__n; end\n"
    ),
}


def assert_nothing_leaked(shell: Shell) -> None:
    """No canary, no capability, no hook variable in what the shell exports."""
    inside = shell.step("env").encode()
    child = shell.step("sh -c env").encode()
    environ = Path(f"/proc/{shell.pid}/environ").read_bytes()
    for where, blob in (("env", inside), ("sh -c env", child), ("/proc environ", environ)):
        for canary in (CANARY_OP, CANARY_KR):
            assert canary.encode() not in blob, f"{canary} in {where}"
        assert b"__devsecrets" not in blob, f"a hook variable is exported ({where})"
        assert b"dsc1_" not in blob, f"the session capability is exported ({where})"
        assert b"DEVSECRETS_SESSION" not in blob, f"DEVSECRETS_SESSION is exported ({where})"


def hook_file(root: Path, kind: str, **options: bool) -> str:
    path = root / f"hook.{kind}"
    path.write_text(hooks.render(kind, **options))
    return f"source {hooks.quote(kind, str(path))}\n"


@pytest.fixture
def canaries(sandbox: Sandbox) -> None:
    write_state(
        sandbox.op_state,
        make_state([vault("Staging", items=[item("stripe-sandbox", {"credential": CANARY_OP})])]),
    )
    store_keyring("shop", "DATABASE_URL", CANARY_KR, ref="keyring:database-url")
    store_keyring("shop", "GH_TOKEN", CANARY_KR + "-gh", ref="keyring")


@pytest.fixture
def world(tmp_path: Path, canaries: None) -> Path:
    """tmp/world/{shop (trusted), elsewhere}; the shells start in tmp/world."""
    root = tmp_path / "world"
    trusted_project(root, CONFIG, name="shop")
    (root / "shop" / "src").mkdir()
    (root / "elsewhere").mkdir()
    return root


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest, tmp_path: Path, world: Path) -> Iterator[Shell]:
    session = Shell(request.param, tmp_path, world, hook_file(tmp_path, request.param))
    yield session
    session.close()
