"""The shell hooks in real interactive bash, zsh and fish on a pty.

Every shell starts with no user or system rc file but ours, HOME in tmp, and a prompt that
counts (`DSPROMPT[n]> `: the count comes from an event, not the prompt function, because
fish repaints the prompt while a line is typed). After every step, `checked` looks for the
project's canary secrets — and for any hook variable — in the shell's `env`, in a child's
(`sh -c env`) and in /proc/<shell pid>/environ. zsh and fish tests are skipped when the
shell is missing, unless DEVSECRETS_TEST_STRICT=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pexpect
import pytest
from conftest import Sandbox
from fakes.opstate import item, make_state, vault, write_state
from helpers import DEVSECRETS, cli, trusted_project, write_project

from devsecrets import hooks, trust

pytestmark = pytest.mark.shells
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
READY = "devsecrets: shop (staging) — 3 secrets ready"
LEFT = "devsecrets: left shop — session wiped"
SHELLS = ["bash", "zsh", "fish"]


def _require(shell: str) -> None:
    if shutil.which(shell) is None:
        message = f"{shell} is not installed: apt install {shell}"
        if os.environ.get("DEVSECRETS_TEST_STRICT"):
            pytest.fail(message)
        pytest.skip(message)


class Shell:
    """An interactive shell on a pty; `step` types a line and returns what it printed."""

    def __init__(self, kind: str, root: Path, cwd: Path, hook: str, rc: str = "") -> None:
        _require(kind)
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
        self.first = self.child.before

    @property
    def prompt(self) -> str:
        return f"DSPROMPT[{self.count}]> "

    def step(self, line: str) -> str:
        self.child.sendline(line)
        self.count += 1
        self.child.expect_exact(self.prompt)
        return str(self.child.before)

    def checked(self, line: str) -> str:
        """`step`, then the leak checks."""
        output = self.step(line)
        assert_nothing_leaked(self)
        return output

    def close(self) -> None:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)
        self.child.close()


_PASSED = {
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "FAKE_OP_STATE",
    "FAKE_OP_LOG",
    "FAKE_KEYRING_FILE",
    "PYTHON_KEYRING_BACKEND",
    "PYTHONPATH",
}
_PROMPTS = {
    "bash": "__n=0\nPS1='DSPROMPT[$((__n+=1))]> '\n",
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
    inside = shell.step("env").encode()
    child = shell.step("sh -c env").encode()
    environ = Path(f"/proc/{shell.child.pid}/environ").read_bytes()
    for where, blob in (("env", inside), ("sh -c env", child), ("/proc environ", environ)):
        for canary in (CANARY_OP, CANARY_KR):
            assert canary.encode() not in blob, f"{canary} in {where}"
        assert b"__devsecrets" not in blob, f"a hook variable is exported ({where})"


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
    keyring.set_password("devsecrets/shop", "database-url", CANARY_KR)
    keyring.set_password("devsecrets/shop", "GH_TOKEN", CANARY_KR + "-gh")


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


# ---------------------------------------------------------------- entering and leaving


def test_enter_leave_and_reenter(shell: Shell) -> None:
    assert READY in shell.checked("cd shop")
    out = shell.checked("cd src")
    assert "devsecrets:" not in out  # same project: nothing to say
    assert LEFT in shell.checked("cd ../../elsewhere")
    assert "devsecrets:" not in shell.checked("cd ..")
    assert READY in shell.checked("cd shop/src")
    assert LEFT in shell.checked("cd -")
    assert READY in shell.checked("cd -")


def test_pushd_and_popd(shell: Shell) -> None:
    assert READY in shell.checked("pushd shop")
    assert LEFT in shell.checked("popd")


def test_first_prompt_inside_a_project(tmp_path: Path, world: Path) -> None:
    for kind in SHELLS:
        session = Shell(kind, tmp_path, world / "shop" / "src", hook_file(tmp_path, kind))
        assert READY in session.first
        assert_nothing_leaked(session)
        session.close()


def test_nested_projects_the_nearest_wins(shell: Shell, world: Path) -> None:
    inner = trusted_project(world / "shop", "project: inner\nsecrets:\n  X: keyring\n", "inner")
    assert READY in shell.checked("cd shop")
    assert "devsecrets: inner (staging) — 1 secret ready" in shell.checked(f"cd {inner.name}")
    assert READY in shell.checked("cd ..")


def test_symlinked_directory_and_awkward_names(shell: Shell, world: Path) -> None:
    awkward = write_project(world, CONFIG, name="my shop é")
    (world / "link").symlink_to(world / "shop")
    assert READY in shell.checked("cd link")
    assert LEFT in shell.checked("cd ..")
    out = shell.checked("cd 'my shop é'")
    assert f"{awkward / '.devsecrets.yml'} is not trusted — review it" in out
    out = shell.checked("devsecrets allow")
    assert READY in out  # the next prompt already knows
    assert "devsecrets:" not in shell.checked("cd .")


def test_project_deleted_while_inside(shell: Shell, world: Path) -> None:
    shell.checked("cd shop/src")
    assert LEFT in shell.checked(f"rm -rf {hooks.quote('bash', str(world / 'shop'))}")
    assert "devsecrets:" not in shell.checked("true")


# ---------------------------------------------------------------- trust


def test_untrusted_then_allowed(shell: Shell, world: Path) -> None:
    project = write_project(world, CONFIG.replace("shop", "fresh"), name="fresh")
    out = shell.checked("cd fresh")
    assert f"{project / '.devsecrets.yml'} is not trusted — review it, then run devsecrets" in out
    assert "devsecrets: fresh (staging) — 3 secrets ready" in shell.checked("devsecrets allow")
    assert "devsecrets:" not in shell.checked("true")
    assert "is denied" in shell.checked("devsecrets deny")


def test_changed_then_allowed(shell: Shell) -> None:
    shell.checked("cd shop")
    out = shell.checked("echo '  NEW_TOKEN: keyring' >> .devsecrets.yml")
    assert "/shop/.devsecrets.yml changed since you allowed it — review it" in out
    out = shell.checked("devsecrets allow")
    assert "+ NEW_TOKEN  keyring" in out
    assert "devsecrets: shop (staging) — 4 secrets ready" in out


def test_expired_and_unreadable_are_asked_again_at_each_prompt(shell: Shell, world: Path) -> None:
    old = write_project(world, CONFIG, name="old")
    trust.allow_at(str(old), now=time.time() - 31 * 86400)
    assert "old/.devsecrets.yml: trust expired — review it" in shell.checked("cd old")
    assert "devsecrets: shop (staging) — 3 secrets ready" in shell.checked("devsecrets allow")
    assert LEFT in shell.checked("cd ..")
    (old / ".devsecrets.yml").chmod(0o646)
    assert "old/.devsecrets.yml: is writable by every user" in shell.checked("cd old")
    assert READY in shell.checked("chmod o-w .devsecrets.yml")  # no mtime change: asked again


# ---------------------------------------------------------------- the shell keeps working


def test_ctrl_c_during_the_python_call(shell: Shell, tmp_path: Path) -> None:
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\necho slow-hook-call >&2\nexec sleep 30\n")
    slow.chmod(0o755)
    assign = "set -gu __devsecrets_python " if shell.kind == "fish" else "__devsecrets_python="
    shell.step(f"{assign}{slow}")
    shell.child.sendline("cd shop")
    shell.child.expect_exact("slow-hook-call")
    shell.child.sendintr()
    shell.count += 1
    shell.child.expect_exact(shell.prompt, timeout=5)
    out = shell.checked("echo still-here")
    assert "still-here" in out and "slow-hook-call" not in out  # not started again
    shell.step(f"{assign}{sys.executable}")
    shell.checked("cd ..")
    assert READY in shell.checked("cd shop")


def test_exit_status_is_kept(shell: Shell) -> None:
    status = "$status" if shell.kind == "fish" else "$?"
    both = "; and" if shell.kind == "fish" else " &&"
    assert READY in shell.step(f"cd shop{both} false")  # the hook ran between the two
    assert "status=1" in shell.step(f"echo status={status}")
    assert LEFT in shell.step("cd ..")
    assert "status=0" in shell.checked(f"echo status={status}")


def test_python_starts_only_when_the_project_changes(shell: Shell, tmp_path: Path) -> None:
    log = tmp_path / "python-calls"
    counting = tmp_path / "counting-python"
    counting.write_text(f'#!/bin/sh\necho call >> "{log}"\nexec "{sys.executable}" "$@"\n')
    counting.chmod(0o755)
    assign = "set -gu __devsecrets_python " if shell.kind == "fish" else "__devsecrets_python="
    shell.step(f"{assign}{counting}")
    for line in ("cd elsewhere", "cd ..", "cd elsewhere", "true", "cd /", "cd -"):
        shell.step(line)
    assert not log.exists()
    shell.step("cd ../shop")
    for line in ("true", "cd src", "cd ..", "true"):
        shell.step(line)
    assert log.read_text().count("call") == 1


def test_quiet(tmp_path: Path, world: Path) -> None:
    for kind in SHELLS:
        session = Shell(kind, tmp_path, world, hook_file(tmp_path, kind, quiet=True))
        assert "devsecrets:" not in session.checked("cd shop")
        assert "devsecrets:" not in session.checked("cd ..")
        session.close()


def test_nothing_in_the_project_can_stand_in_for_devsecrets(shell: Shell, world: Path) -> None:
    project = trusted_project(world, CONFIG, name="evil")
    fake = project / "devsecrets"
    fake.mkdir()
    marker = world / "evil-ran"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n")
    (fake / "hookcall.py").write_text(f"open({str(marker)!r}, 'w')\n")
    assert READY in shell.checked("cd evil")
    assert not marker.exists()


# ---------------------------------------------------------------- installing, per shell


def test_double_eval_installs_once(tmp_path: Path, world: Path) -> None:
    """Loaded twice through the real console script, next to an existing prompt hook."""
    existing = {
        "bash": "__mine() { __seen=$?; }\nPROMPT_COMMAND=__mine\n",
        "zsh": "__mine() { __seen=$? }\nprecmd_functions+=(__mine)\n",
        "fish": "function __mine --on-event fish_prompt; set -g __seen $status; end\n",
    }
    for kind in SHELLS:
        load = {
            "bash": 'eval "$(devsecrets hook bash)"\n',
            "zsh": 'eval "$(devsecrets hook zsh)"\n',
            "fish": "devsecrets hook fish | source\n",
        }[kind]
        session = Shell(kind, tmp_path, world, existing[kind] + load + load)
        out = session.checked("cd shop")
        assert out.count(READY) == 1
        session.step("false")
        assert "seen=1" in session.step("echo seen=$__seen")  # the other hook still runs
        if kind == "bash":
            assert session.step("echo $PROMPT_COMMAND").count("__devsecrets_hook") == 1
        if kind == "zsh":
            assert session.step("echo $precmd_functions").count("__devsecrets_hook") == 1
        session.close()


def test_bash_array_prompt_command_is_kept(tmp_path: Path, world: Path) -> None:
    version = subprocess.run(
        ["bash", "-c", "echo $((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1]))"],
        capture_output=True,
        check=True,
    )
    if int(version.stdout) < 501:
        pytest.skip("bash 5.1 or newer runs every element of an array PROMPT_COMMAND")
    rc = "__mine() { __seen=$?; }\nPROMPT_COMMAND=(__mine)\n" + hook_file(tmp_path, "bash")
    session = Shell("bash", tmp_path, world, rc)
    assert READY in session.checked("cd shop")
    session.step("false")
    assert "seen=1" in session.step("echo seen=$__seen")
    assert "__devsecrets_hook __mine" in session.step('echo "${PROMPT_COMMAND[*]}"')
    session.close()


@pytest.mark.parametrize("kind", ["bash", "zsh"])
def test_set_u_and_set_e(kind: str, tmp_path: Path, world: Path) -> None:
    strict = "set -eu\n" if kind == "bash" else "setopt ERR_EXIT NO_UNSET\n"
    session = Shell(kind, tmp_path, world, hook_file(tmp_path, kind) + strict)
    assert READY in session.checked("cd shop")
    assert "devsecrets:" not in session.checked("! true")  # $? = 1, and the shell lives on
    assert LEFT in session.checked("cd ..")
    assert "unbound" not in session.checked("cd elsewhere").lower()
    session.close()


def test_zsh_subshells_do_not_run_the_hook(tmp_path: Path, world: Path) -> None:
    session = Shell("zsh", tmp_path, world, hook_file(tmp_path, "zsh"))
    out = session.checked("x=$(cd shop; pwd); echo got=$x")
    assert "got=" in out and "devsecrets:" not in out
    assert READY in session.checked("cd shop")
    session.close()


@pytest.mark.parametrize("kind", SHELLS)
def test_install_and_uninstall_the_rc_line(kind: str, tmp_path: Path) -> None:
    rc = hooks.rc_file(kind)
    rc.parent.mkdir(parents=True, exist_ok=True)
    rc.write_text("# mine\nalias ll='ls -l'\n")
    dry = cli("hook", "--install", "--shell", kind, "--dry-run", cwd=tmp_path)
    assert b"would add" in dry.stdout and rc.read_text() == "# mine\nalias ll='ls -l'\n"
    assert cli("hook", "--install", "--shell", kind, cwd=tmp_path).returncode == 0
    once = rc.read_text()
    assert once.startswith("# mine\nalias ll='ls -l'\n") and once.count(hooks.MARKER) == 1
    again = cli("hook", kind, "--install", cwd=tmp_path)
    assert b"already" in again.stdout and rc.read_text() == once
    assert cli("hook", "--uninstall", "--shell", kind, cwd=tmp_path).returncode == 0
    assert rc.read_text() == "# mine\nalias ll='ls -l'\n"
    assert (
        b"no devsecrets hook line"
        in cli("hook", "--uninstall", "--shell", kind, cwd=tmp_path).stdout
    )


def test_installed_line_loads_the_hook(tmp_path: Path, world: Path) -> None:
    for kind in SHELLS:
        _require(kind)
        line = hooks.rc_line(kind)
        session = Shell(kind, tmp_path, world, line + "\n")
        assert READY in session.checked("cd shop")
        session.close()


def test_hook_usage_errors(tmp_path: Path) -> None:
    assert cli("hook", cwd=tmp_path).returncode == 2
    assert cli("hook", "--install", "--uninstall", "--shell", "bash", cwd=tmp_path).returncode == 2
    unknown = cli("hook", "--install", cwd=tmp_path, env={"SHELL": "/bin/tcsh"})
    assert unknown.returncode == 2 and b"--shell bash" in unknown.stderr


def test_a_line_from_another_installation_is_replaced_in_place(tmp_path: Path) -> None:
    rc = hooks.rc_file("bash")
    rc.write_text(f'# before\neval "$(/old/bin/devsecrets hook bash)"  {hooks.MARKER}\n# after\n')
    assert "added to" in hooks.install("bash")
    assert rc.read_text() == f"# before\n{hooks.rc_line('bash')}\n# after\n"


@pytest.mark.parametrize("kind", SHELLS)
def test_quoting_survives_every_character(kind: str) -> None:
    _require(kind)
    text = 'it\'s a \\ "path" with $HOME `x` é\nand a line break'
    result = subprocess.run(
        [
            kind,
            *(["--no-config"] if kind == "fish" else []),
            "-c",
            f"printf %s {hooks.quote(kind, text)}",
        ],
        capture_output=True,
        check=True,
    )
    assert result.stdout.decode() == text
