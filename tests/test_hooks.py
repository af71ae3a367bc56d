"""The shell hooks in real interactive bash, zsh and fish on a pty (tests/shellkit.py):
entering and leaving projects, trust, the shell keeping working, installing.

After every step, `checked` looks for the project's canary secrets, the session capability
and any hook variable in the shell's `env`, in a child's (`sh -c env`) and in
/proc/<shell pid>/environ. The session agent's part: tests/test_hook_agent.py.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agentkit import wait_for
from helpers import cli, main_in_process, trusted_project, write_project
from shellkit import (
    CONFIG,
    ENTERED,
    LEFT,
    READY,
    SHELLS,
    Shell,
    assert_nothing_leaked,
    canaries,
    hook_file,
    require,
    shell,
    world,
)

from devsecrets import hooks, trust
from devsecrets.agent import client

__all__ = ["canaries", "shell", "world"]  # fixtures used here
pytestmark = pytest.mark.shells


# ---------------------------------------------------------------- entering and leaving


def session_states() -> list[str]:
    return [str(s["state"]) for s in client.status()["sessions"]]


def entered(shell: Shell, line: str, said: str = ENTERED, ready: str = READY) -> str:
    """Run `line`, which enters a project, then wait for the agent's report on the fetch,
    which the hook prints once at a later prompt."""
    mark = shell.mark()
    out = shell.checked(line)
    assert said in out
    shell.await_line(ready, mark)
    assert shell.since(mark).count(ready) == 1
    return out


def test_enter_leave_and_reenter(shell: Shell) -> None:
    entered(shell, "cd shop")
    out = shell.checked("cd src")
    assert "devsecrets:" not in out  # same project: nothing to say
    assert LEFT in shell.checked("cd ../../elsewhere")
    assert "devsecrets:" not in shell.checked("cd ..")
    assert ENTERED in shell.checked("cd shop/src")
    assert LEFT in shell.checked("cd -")
    entered(shell, "cd -")
    assert "devsecrets:" not in shell.checked("true")


def test_pushd_and_popd(shell: Shell) -> None:
    assert ENTERED in shell.checked("pushd shop")
    assert LEFT in shell.checked("popd")


def test_first_prompt_inside_a_project(tmp_path: Path, world: Path) -> None:
    for kind in SHELLS:
        session = Shell(kind, tmp_path, world / "shop" / "src", hook_file(tmp_path, kind))
        assert ENTERED in session.first
        assert_nothing_leaked(session)
        session.await_line(READY, 0)
        session.close()


def test_nested_projects_the_nearest_wins(shell: Shell, world: Path) -> None:
    inner = trusted_project(world / "shop", "project: inner\nsecrets:\n  X: keyring\n", "inner")
    assert ENTERED in shell.checked("cd shop")
    assert "devsecrets: inner (staging) — fetching 1 secret…" in shell.checked(f"cd {inner.name}")
    assert ENTERED in shell.checked("cd ..")


def test_symlinked_directory_and_awkward_names(shell: Shell, world: Path) -> None:
    awkward = write_project(world, CONFIG, name="my shop é")
    (world / "link").symlink_to(world / "shop")
    assert ENTERED in shell.checked("cd link")
    assert LEFT in shell.checked("cd ..")
    out = shell.checked("cd 'my shop é'")
    assert f"{awkward / '.devsecrets.yml'} is not trusted — review it" in out
    entered(shell, "devsecrets allow")  # the next prompt already knows
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
    said = "devsecrets: fresh (staging) — fetching 3 secrets…"
    entered(shell, "devsecrets allow", said, "devsecrets: fresh — fetch failed: ")  # not stored
    assert "devsecrets:" not in shell.checked("true")
    assert "is denied" in shell.checked("devsecrets deny")


def test_changed_then_allowed(shell: Shell) -> None:
    shell.checked("cd shop")
    out = shell.checked("echo '  NEW_TOKEN: keyring' >> .devsecrets.yml")
    assert "/shop/.devsecrets.yml changed since you allowed it — review it" in out
    out = shell.checked("devsecrets allow")
    assert "+ NEW_TOKEN  keyring" in out
    assert "devsecrets: shop (staging) — fetching 4 secrets…" in out


def test_expired_and_unreadable_are_asked_again_at_each_prompt(shell: Shell, world: Path) -> None:
    old = write_project(world, CONFIG, name="old")
    trust.allow_at(str(old), now=time.time() - 31 * 86400)
    assert "old/.devsecrets.yml: trust expired — review it" in shell.checked("cd old")
    assert ENTERED in shell.checked("devsecrets allow")
    assert LEFT in shell.checked("cd ..")
    (old / ".devsecrets.yml").chmod(0o646)
    assert "old/.devsecrets.yml: is writable by every user" in shell.checked("cd old")
    assert ENTERED in shell.checked("chmod o-w .devsecrets.yml")  # no mtime change: asked again


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
    assert ENTERED in shell.checked("cd shop")


def test_exit_status_is_kept(shell: Shell) -> None:
    status = "$status" if shell.kind == "fish" else "$?"
    both = "; and" if shell.kind == "fish" else " &&"
    assert ENTERED in shell.step(f"cd shop{both} false")  # the hook ran between the two
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
        wait_for(lambda: session_states() == ["ready"], what="the fetch")
        assert "devsecrets:" not in session.checked("true")  # nor the report on the fetch
        assert "devsecrets:" not in session.checked("cd ..")
        session.close()


def test_nothing_in_the_project_can_stand_in_for_devsecrets(shell: Shell, world: Path) -> None:
    project = trusted_project(world, CONFIG, name="evil")
    fake = project / "devsecrets"
    fake.mkdir()
    marker = world / "evil-ran"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n")
    (fake / "hookcall.py").write_text(f"open({str(marker)!r}, 'w')\n")
    assert ENTERED in shell.checked("cd evil")
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
        assert out.count(ENTERED) == 1
        session.await_line(READY, 0)
        assert session.since(0).count(READY) == 1
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
    assert ENTERED in session.checked("cd shop")
    session.step("false")
    assert "seen=1" in session.step("echo seen=$__seen")
    assert "__devsecrets_hook __mine" in session.step('echo "${PROMPT_COMMAND[*]}"')
    session.close()


@pytest.mark.parametrize("kind", ["bash", "zsh"])
def test_set_u_and_set_e(kind: str, tmp_path: Path, world: Path) -> None:
    strict = "set -eu\n" if kind == "bash" else "setopt ERR_EXIT NO_UNSET\n"
    session = Shell(kind, tmp_path, world, hook_file(tmp_path, kind) + strict)
    entered(session, "cd shop")
    assert "devsecrets:" not in session.checked("! true")  # $? = 1, and the shell lives on
    assert "served" in session.step("devsecrets run -- sh -c 'echo served'")
    assert LEFT in session.checked("cd ..")
    assert "unbound" not in session.checked("cd elsewhere").lower()
    session.close()


def test_zsh_subshells_do_not_run_the_hook(tmp_path: Path, world: Path) -> None:
    session = Shell("zsh", tmp_path, world, hook_file(tmp_path, "zsh"))
    out = session.checked("x=$(cd shop; pwd); echo got=$x")
    assert "got=" in out and "devsecrets:" not in out
    assert ENTERED in session.checked("cd shop")
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
        require(kind)
        line = hooks.rc_line(kind)
        session = Shell(kind, tmp_path, world, line + "\n")
        assert ENTERED in session.checked("cd shop")
        session.close()


def login_shell(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """Pretend the password database names `path` as this user's login shell."""
    entry = pwd.getpwuid(os.getuid())
    fields = (*entry[:6], path)
    monkeypatch.setattr(hooks.pwd, "getpwuid", lambda uid: pwd.struct_passwd(fields))


def test_hook_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("hook", cwd=tmp_path).returncode == 2
    assert cli("hook", "--install", "--uninstall", "--shell", "bash", cwd=tmp_path).returncode == 2
    monkeypatch.setenv("SHELL", "/bin/tcsh")
    login_shell(monkeypatch, "/bin/sh")
    code, _out, err = main_in_process(monkeypatch, capsys, "hook", "--install", cwd=tmp_path)
    assert code == 2 and "--shell bash" in err and "'/bin/tcsh', '/bin/sh'" in err
    assert not hooks.rc_file("bash").exists()


def test_the_shell_comes_from_shell_then_from_the_login_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_shell(monkeypatch, "/usr/bin/fish")
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    assert hooks.detect_shell() == "zsh"
    monkeypatch.delenv("SHELL")  # as under cron, CI runners and `env -i`
    assert hooks.detect_shell() == "fish"
    monkeypatch.setenv("SHELL", "/bin/dash")
    assert hooks.detect_shell() == "fish"


def test_a_line_from_another_installation_is_replaced_in_place(tmp_path: Path) -> None:
    rc = hooks.rc_file("bash")
    rc.write_text(f'# before\neval "$(/old/bin/devsecrets hook bash)"  {hooks.MARKER}\n# after\n')
    assert "added to" in hooks.install("bash")
    assert rc.read_text() == f"# before\n{hooks.rc_line('bash')}\n# after\n"


@pytest.mark.parametrize("kind", SHELLS)
def test_quoting_survives_every_character(kind: str) -> None:
    require(kind)
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
