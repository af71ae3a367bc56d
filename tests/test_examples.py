"""examples/: the sample project's config and team policy are valid together, its scripts
parse, and the prompt snippet shows a project's state in a real bash."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pexpect
import pytest
from conftest import Sandbox
from helpers import BASH_PROMPT, EXAMPLE, ROOT, shell_env, trusted_project

from devsecrets import hooks
from devsecrets.config import parse_config
from devsecrets.layering import effective_policy
from devsecrets.teampolicy import parse_team_policy

PROMPTS = ROOT / "examples" / "prompt"


def test_config_and_team_policy_hold_together() -> None:
    config_path = EXAMPLE / ".devsecrets.yml"
    config = parse_config(config_path.read_bytes(), config_path)
    policy_path = EXAMPLE / "team-policy.yml"
    policy = effective_policy(config, parse_team_policy(policy_path.read_bytes(), policy_path))
    assert {s.ref.provider for s in config.secrets} == {"onepassword", "keyring"}
    assert all(s.commands == ("node",) for s in config.secrets)
    assert policy.max_age.days == 5 and policy.trust_ttl.days == 14


def test_scripts_parse_and_run_through_devsecrets() -> None:
    assert subprocess.run(["sh", "-n", str(EXAMPLE / "onboard.sh")], check=False).returncode == 0
    assert os.access(EXAMPLE / "onboard.sh", os.X_OK)
    snippet = PROMPTS / "devsecrets-prompt.bash"
    assert subprocess.run(["bash", "-n", str(snippet)], check=False).returncode == 0
    scripts = json.loads((EXAMPLE / "package.json").read_text())["scripts"]
    assert scripts["start"] == "devsecrets run -- node server.js"
    assert "\tdevsecrets run -- node server.js\n" in (EXAMPLE / "Makefile").read_text()
    starship = tomllib.loads((PROMPTS / "starship.toml").read_text())
    assert starship["custom"]["devsecrets"]["detect_files"] == [".devsecrets.yml"]


def test_fish_snippet_parses() -> None:
    if shutil.which("fish") is None:
        if os.environ.get("DEVSECRETS_TEST_STRICT"):
            pytest.fail("fish is not installed: apt install fish")
        pytest.skip("fish is not installed")
    result = subprocess.run(["fish", "-n", str(PROMPTS / "devsecrets-prompt.fish")], check=False)
    assert result.returncode == 0


def test_bash_prompt_shows_the_project_state(tmp_path: Path, sandbox: Sandbox) -> None:
    trusted = trusted_project(tmp_path, "project: web-app\nsecrets:\n  A: keyring\n", "web")
    untrusted = tmp_path / "other"
    untrusted.mkdir()
    (untrusted / ".devsecrets.yml").write_text("secrets:\n  A: keyring\n")
    rc = tmp_path / "rc.bash"
    hook = tmp_path / "hook.bash"
    hook.write_text(hooks.render("bash", quiet=True))
    rc.write_text(f"{BASH_PROMPT}source {hook}\nsource {PROMPTS / 'devsecrets-prompt.bash'}\n")
    child = pexpect.spawn(
        "bash",
        ["--noprofile", "--rcfile", str(rc), "-i"],
        cwd=str(tmp_path),
        env=shell_env(sandbox.bin),
        encoding="utf-8",
        timeout=15,
    )
    child.delaybeforesend = None
    child.logfile_read = io.StringIO()
    child.expect_exact("DSPROMPT[1]> ")
    child.sendline(f"cd {trusted}")
    child.expect_exact("[web-app] DSPROMPT[2]> ")
    child.sendline(f"cd {untrusted}")
    child.expect_exact("[untrusted] DSPROMPT[3]> ")
    child.sendline("cd /")
    child.expect_exact("\nDSPROMPT[4]> ")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_zsh_prompt_snippet(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        if os.environ.get("DEVSECRETS_TEST_STRICT"):
            pytest.fail("zsh is not installed: apt install zsh")
        pytest.skip("zsh is not installed")
    script = tmp_path / "t.zsh"
    script.write_text(
        f"PROMPT='X> '\nsource {PROMPTS / 'devsecrets-prompt.bash'}\n"
        "__devsecrets_state=allowed __devsecrets_project=web-app\n"
        'for f in $precmd_functions; do $f; done\nprint -r -- "${(e)PROMPT}"\n'
    )
    result = subprocess.run(["zsh", "-f", str(script)], capture_output=True, check=False)
    assert result.stdout.decode() == "[web-app] X> \n", result.stderr
