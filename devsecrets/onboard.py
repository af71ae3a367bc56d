"""`devsecrets onboard`: what a team's onboarding script runs on a new developer's machine.

Each step is checked, then fixed where the user agrees, and reported as ✓ (done), ✗ (still
missing, with the fix) or · (worth knowing, not required): Python and devsecrets; the
1Password CLI, signed in, when the project uses it; a keyring that can store secrets, when
the project uses it; the shell hook in the rc file (asked: it is comfort, not security);
the team policy; the project config, shown and allowed; each missing keyring secret, asked
for at a hidden prompt; finally the audit's score card.

`--check` changes nothing: it reports, and exits 1 when anything is missing (CI, a
pre-commit hook). `--yes` answers the yes/no questions for scripts — it cannot type secret
values, which are only ever read from the terminal. Re-running is safe: finished steps
are only checked again. The project steps are in onboardproject.py.
"""

from __future__ import annotations

import os
import platform
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from devsecrets import __version__, paths
from devsecrets.config import Config, find_config, load_config
from devsecrets.errors import EXIT_FINDINGS, DevsecretsError
from devsecrets.refs import KeyringRef, OpRef

DONE, MISSING, NOTE = "done", "missing", "note"
MARK = {DONE: "✓", MISSING: "✗", NOTE: "·"}


@dataclass
class Onboarding:
    """One run: its options and what it found."""

    team_policy: str | None
    yes: bool
    check_only: bool
    config: Config | None = None
    missing: int = 0
    changed: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)  # providers whose ✗ is already reported

    def report(self, status: str, topic: str, detail: str, fix: str = "") -> None:
        if status == MISSING:
            self.missing += 1
        print(f"{MARK[status]} {topic}: {tilde(detail)}", flush=True)
        if fix:
            print(f"    fix: {fix}", flush=True)

    def ask(self, question: str, *, default: bool) -> bool | None:
        """True/False from --yes or the user; None when nobody can be asked (no terminal)."""
        from devsecrets.prompt import confirm, interactive

        if self.yes:
            return True
        if not interactive():
            return None
        return confirm(question, default=default)


def onboard(team_policy: str | None, *, yes: bool, check_only: bool) -> int:
    """The `onboard` command; exit 0 when nothing is missing, else 1."""
    from devsecrets.onboardproject import audit_step, project_step, secrets_step

    run = Onboarding(team_policy, yes=yes and not check_only, check_only=check_only)
    run.config = _project(run)
    where = f"{run.config.project} ({run.config.path})" if run.config else "no project here"
    mode = " --check: nothing will be changed" if check_only else ""
    print(f"devsecrets onboard — {where}{mode}", flush=True)
    run.report(DONE, "versions", f"devsecrets {__version__}, Python {platform.python_version()}")
    _one_password(run)
    _keyring(run)
    _hook(run)
    _team_policy(run)
    if run.config is not None and project_step(run, run.config):
        secrets_step(run, run.config)
    audit_step(run)
    if run.missing:
        noun = "step needs" if run.missing == 1 else "steps need"
        print(f"\n{run.missing} {noun} attention (✗ above); run this again when done.")
        return EXIT_FINDINGS
    print("\nAll set." + (f" Changed: {', '.join(run.changed)}." if run.changed else ""))
    return 0


def tilde(text: str) -> str:
    """Paths under the home directory as ~/…, for shorter lines."""
    home = str(Path.home()).rstrip("/")
    return text.replace(home + "/", "~/") if len(home) > 1 else text


def _project(run: Onboarding) -> Config | None:
    if find_config() is None:
        return None
    try:
        return load_config()
    except DevsecretsError as exc:
        run.report(MISSING, "project config", exc.message, exc.fix or "")
        return None


def _uses(run: Onboarding, kind: type) -> bool:
    return run.config is not None and any(isinstance(s.ref, kind) for s in run.config.secrets)


def _one_password(run: Onboarding) -> None:
    if not _uses(run, OpRef):
        run.report(NOTE, "1Password CLI", "not needed by this project")
        return
    from devsecrets.providers.base import Context
    from devsecrets.providers.onepassword import OnePasswordProvider

    check = OnePasswordProvider(Context(project="onboard")).check()
    if not check.ok:
        run.down.add(OnePasswordProvider.name)
    status = DONE if check.ok else MISSING
    run.report(status, "1Password CLI", check.detail.splitlines()[0], check.fix)


def _keyring(run: Onboarding) -> None:
    from devsecrets.providers.base import Context
    from devsecrets.providers.keyring import KeyringProvider

    check = KeyringProvider(Context(project="onboard")).check()
    if check.ok:
        run.report(DONE, "keyring", check.detail)
    elif _uses(run, KeyringRef):
        run.down.add(KeyringProvider.name)
        run.report(MISSING, "keyring", check.detail, check.fix)
    else:
        run.report(NOTE, "keyring", f"{check.detail} — not needed by this project", check.fix)


def _hook(run: Onboarding) -> None:
    from devsecrets import hooks

    try:
        shell = hooks.detect_shell()
        ours = {hooks.rc_line(shell), hooks.rc_line(shell, quiet=True)}
    except DevsecretsError as exc:
        run.report(NOTE, "shell hook", exc.message, exc.fix or "")
        return
    rc = hooks.rc_file(shell)
    if ours & set(_read_lines(rc)):
        run.report(DONE, "shell hook", f"in {rc}")
        return
    fix = f"devsecrets hook --install --shell {shell}"
    if run.check_only:
        run.report(NOTE, "shell hook", f"not in {rc} (it shows the project's state on cd)", fix)
        return
    question = f"Add the devsecrets hook to {tilde(str(rc))}? It shows the state on cd."
    answer = run.ask(question, default=True)
    if not answer:
        why = "you said no" if answer is False else "no terminal to ask"
        run.report(NOTE, "shell hook", f"not installed ({why})", fix)
        return
    try:
        hooks.install(shell)
    except DevsecretsError as exc:
        run.report(NOTE, "shell hook", exc.message, exc.fix or fix)
        return
    run.changed.append(f"hook in {tilde(str(rc))}")
    run.report(DONE, "shell hook", f"added to {rc} (new shells load it)")


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _team_policy(run: Onboarding) -> None:
    installed = paths.config_dir() / "policy.yml"
    if os.environ.get("DEVSECRETS_POLICY"):
        run.report(NOTE, "team policy", "DEVSECRETS_POLICY is set: it wins over the installed file")
    if run.team_policy is None:
        if installed.exists():
            run.report(DONE, "team policy", f"installed at {installed}")
        else:
            run.report(NOTE, "team policy", "none installed: built-in defaults apply")
        return
    try:
        data = _checked_policy(Path(run.team_policy))
    except DevsecretsError as exc:
        run.report(MISSING, "team policy", exc.message, exc.fix or "")
        return
    current = installed.read_bytes() if installed.exists() else None
    if current == data:
        run.report(DONE, "team policy", f"installed at {installed} (same as {run.team_policy})")
        return
    state = "differs from" if current is not None else "is not installed from"
    fix = f"devsecrets onboard --team-policy {shlex.quote(run.team_policy)}"
    if run.check_only:
        run.report(MISSING, "team policy", f"{installed} {state} {run.team_policy}", fix)
        return
    if current is not None and not run.ask(f"Replace {installed}?", default=True):
        run.report(MISSING, "team policy", f"{installed} {state} {run.team_policy}", fix)
        return
    try:
        _install_policy(installed, data)
    except OSError as exc:
        run.report(MISSING, "team policy", f"cannot write {installed}: {exc.strerror}", fix)
        return
    run.changed.append("team policy")
    run.report(DONE, "team policy", f"installed {run.team_policy} at {installed}")


def _checked_policy(path: Path) -> bytes:
    """The team policy's bytes, refused like a project config when others could have
    written it (world-writable file or directory, another owner), and checked to parse
    and not to loosen the built-in defaults."""
    from devsecrets.configfile import read_config_bytes
    from devsecrets.layering import effective_policy
    from devsecrets.teampolicy import parse_team_policy

    data = read_config_bytes(path)
    effective_policy(None, parse_team_policy(data, path))
    return data


def _install_policy(target: Path, data: bytes) -> None:
    paths.private_dir(target.parent)
    temp = target.with_name(f".{target.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, target)
